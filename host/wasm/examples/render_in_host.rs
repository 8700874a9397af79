//! Times renders through the WebAssembly host the way a running `weir`
//! renders for a sync or a release: the component is loaded (compiled, or
//! read from the compile cache) once, then each render is a fresh instance
//! and a call.
//!
//!     render_in_host PLUGINS_DIR RENDERER ARTIFACT_DIR PATH [RUNS] [OPTION...]
//!
//! Each OPTION is a render option: `KEY=TEXT` passes a string, `KEY:=JSON`
//! a typed value (an integer, a float, a boolean or a list of strings), as
//! a release passes `revision:=1`. Prints the median render time in
//! milliseconds and the object count, as `<ms> <objects>`; used by
//! bench/kustomize.sh beside `kubectl kustomize` and by bench/helm.sh
//! beside the Helm SDK.
//!
//! The compile cache is a temporary directory, or `WEIR_RENDER_CACHE` when
//! set (so that a second run loads the compiled component, as a restarted
//! weir does, and its peak memory is the host's, not the compiler's).

use std::path::Path;
use std::time::{Duration, Instant};

use weir_config::EffectiveLimits;
use weir_core::plugin::{OptionValue, RenderRequest, RendererRegistry};
use weir_wasm::PluginHost;

/// `KEY=TEXT` or `KEY:=JSON` as a render option.
fn option(arg: &str) -> anyhow::Result<(String, OptionValue)> {
    if let Some((key, json)) = arg.split_once(":=") {
        let value = match serde_json::from_str(json)? {
            serde_json::Value::Bool(b) => OptionValue::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => OptionValue::Int(i),
                None => OptionValue::Float(n.as_f64().unwrap_or_default()),
            },
            serde_json::Value::Array(a) => OptionValue::Strings(
                a.into_iter()
                    .map(|s| match s {
                        serde_json::Value::String(s) => Ok(s),
                        other => anyhow::bail!("option {key}: {other} is not a string"),
                    })
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => anyhow::bail!("option {key}: {other} is not an int, float, bool or list"),
        };
        return Ok((key.to_string(), value));
    }
    let Some((key, text)) = arg.split_once('=') else {
        anyhow::bail!("option {arg:?}: expected KEY=TEXT or KEY:=JSON");
    };
    Ok((key.to_string(), OptionValue::Str(text.to_string())))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plugins, renderer, dir, path, rest @ ..] = args.as_slice() else {
        anyhow::bail!(
            "usage: render_in_host PLUGINS_DIR RENDERER ARTIFACT_DIR PATH [RUNS] [KEY=TEXT|KEY:=JSON...]"
        );
    };
    let runs: usize = rest.first().map_or(Ok(5), |r| r.parse())?;
    let options = rest
        .iter()
        .skip(1)
        .map(|a| option(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let temp = tempfile::tempdir()?;
    let cache = std::env::var_os("WEIR_RENDER_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let host = PluginHost::new(Path::new(plugins), Some(&cache), |_: &str| {
        EffectiveLimits {
            max_memory: weir_config::ByteSize(4 << 30),
            timeout: weir_config::Duration::from_secs(600),
            allowed_hosts: Vec::new(),
        }
    })?;
    let plugin = host.renderer(renderer)?;
    let request = RenderRequest {
        path: path.clone(),
        options,
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
