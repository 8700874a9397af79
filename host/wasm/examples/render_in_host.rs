//! Times renders through the WebAssembly host the way a running `weir`
//! renders for a sync: the component is loaded (compiled, or read from the
//! compile cache) once, then each render is a fresh instance and a call.
//!
//!     render_in_host PLUGINS_DIR RENDERER ARTIFACT_DIR PATH [RUNS]
//!
//! Prints the median render time in milliseconds and the object count, as
//! `<ms> <objects>`; used by bench/kustomize.sh beside `kubectl kustomize`.

use std::path::Path;
use std::time::{Duration, Instant};

use weir_config::EffectiveLimits;
use weir_core::plugin::{RenderRequest, RendererRegistry};
use weir_wasm::PluginHost;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plugins, renderer, dir, path, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: render_in_host PLUGINS_DIR RENDERER ARTIFACT_DIR PATH [RUNS]");
    };
    let runs: usize = rest.first().map_or(Ok(5), |r| r.parse())?;
    let cache = tempfile::tempdir()?;
    let host = PluginHost::new(Path::new(plugins), Some(cache.path()), |_: &str| {
        EffectiveLimits {
            max_memory: weir_config::ByteSize(4 << 30),
            timeout: weir_config::Duration::from_secs(600),
            allowed_hosts: Vec::new(),
        }
    })?;
    let plugin = host.renderer(renderer)?;
    let request = RenderRequest {
        path: path.clone(),
        options: Vec::new(),
    };
    // The first render compiles and caches the component, as a running weir
    // does once.
    let objects = plugin.render(Path::new(dir), &request)?.len();
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        plugin.render(Path::new(dir), &request)?;
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!("{:.1} {objects}", median.as_secs_f64() * 1e3);
    Ok(())
}
