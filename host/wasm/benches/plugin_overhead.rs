//! What running a renderer as a sandboxed WebAssembly component costs,
//! measured side by side with its references in one run:
//!
//! 1. cold compile: a host with an empty wasmtime cache, first lookup;
//! 2. cached load: a new host on the now warm cache, first lookup (vs 1);
//! 3. instantiate, and instantiate + a trivial call (rendering an empty
//!    directory) through the public API (vs the 1 ms target and vs the same
//!    render run natively);
//! 4. rendering 1,000 small ConfigMaps through the `plain` plugin vs the very
//!    same `render_dir` source compiled natively, in two layouts (1,000 files
//!    of one document; 10 files of 100 documents) (vs the 2x target).
//!
//! Run with `cargo bench -p weir-wasm --bench plugin_overhead` (or
//! `bench/plugins.sh`, which builds the plugins first). It needs
//! `plain.wasm` in `$WEIR_TEST_PLUGINS_DIR` (default
//! `$WEIR_CACHE/plugins`, `/var/cache/weir/plugins`), like the tests.
//! `WEIR_BENCH_QUICK=1` runs fewer iterations.
//!
//! The native side is `plugins/plain/src/lib.rs` itself, included below with
//! `#[path]` (that crate is cdylib-only, so it cannot be linked as a
//! library), compiled against the real `weir-sdk`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir_config::EffectiveLimits;
use weir_core::plugin::{RenderRequest as HostRequest, RendererRegistry};
use weir_wasm::PluginHost;

#[allow(dead_code)] // the wasm export wrapper and helpers the bench does not call
#[path = "../../../plugins/plain/src/lib.rs"]
mod plain;

/// What the public API cannot show on its own, with wasmtime directly: the
/// host's engine settings, linker and per-call store setup
/// (`host/wasm/src/lib.rs`, `PluginHost::new` and `WasmRenderer::render`)
/// reproduced, to time instantiation without a call.
mod replica {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
    use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
    use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
    use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

    struct State {
        ctx: WasiCtx,
        table: ResourceTable,
        limits: StoreLimits,
    }

    impl WasiView for State {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView {
                ctx: &mut self.ctx,
                table: &mut self.table,
            }
        }
    }

    pub struct Replica {
        engine: Engine,
        pre: InstancePre<State>,
    }

    impl Replica {
        pub fn new(wasm: &Path, cache_dir: &Path) -> anyhow::Result<Self> {
            let mut config = Config::new();
            config.wasm_component_model(true);
            config.epoch_interruption(true);
            let mut cc = wasmtime::CacheConfig::new();
            cc.with_directory(cache_dir);
            config.cache(Some(wasmtime::Cache::new(cc)?));
            let engine = Engine::new(&config)?;
            let mut linker = Linker::<State>::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
            let component = Component::from_file(&engine, wasm)?;
            // weir's own import (`weir:plugin/artifact`) is the host's;
            // instantiation alone never calls it.
            linker
                .instance(&format!("weir:plugin/artifact@{}", weir_sdk::API_VERSION))?
                .func_new("read-tree", |_, _, _, _| {
                    wasmtime::bail!("read-tree is not in the replica")
                })?;
            let pre = linker.instantiate_pre(&component)?;
            Ok(Replica { engine, pre })
        }

        /// A fresh WASI context with the artifact preopened read-only and a
        /// fresh limited store, as the host makes for every call.
        fn store(&self, artifact: &Path) -> anyhow::Result<Store<State>> {
            let mut wasi = WasiCtxBuilder::new();
            wasi.allow_blocking_current_thread(true);
            wasi.stderr(MemoryOutputPipe::new(64 * 1024));
            wasi.preopened_dir(artifact, "/artifact", FsPerms::ReadOnly)?;
            let state = State {
                ctx: wasi.build(),
                table: ResourceTable::new(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(512 << 20)
                    .trap_on_grow_failure(true)
                    .build(),
            };
            let mut store = Store::new(&self.engine, state);
            store.limiter(|s| &mut s.limits);
            store.set_epoch_deadline(6000);
            Ok(store)
        }

        /// Store setup and instantiation, no call; returns the time of the
        /// whole and of `instantiate` alone.
        pub fn instantiate(&self, artifact: &Path) -> anyhow::Result<(Duration, Duration)> {
            let start = Instant::now();
            let mut store = self.store(artifact)?;
            let inst_start = Instant::now();
            self.pre.instantiate(&mut store)?;
            let inst = inst_start.elapsed();
            drop(store);
            Ok((start.elapsed(), inst))
        }
    }
}

fn plugins_dir() -> PathBuf {
    std::env::var_os("WEIR_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("WEIR_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
                .join("plugins")
        })
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn host(plugins: &Path, cache: &Path) -> PluginHost {
    PluginHost::new(plugins, Some(cache), |_: &str| EffectiveLimits::default()).expect("host")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// A small ConfigMap, about 300 bytes of YAML.
fn config_map(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04}\n  namespace: bench\n  labels:\n    app.kubernetes.io/name: bench\n    app.kubernetes.io/part-of: weir\n  annotations:\n    weir.dev/index: \"{i}\"\ndata:\n  greeting: hello {i}\n  enabled: \"true\"\n  list: |\n    a\n    b\n    c\n"
    )
}

/// 1,000 ConfigMaps in `files` files under `root/dir`.
fn write_manifests(root: &Path, dir: &str, files: usize) {
    const TOTAL: usize = 1000;
    let per = TOTAL / files;
    let d = root.join(dir);
    std::fs::create_dir_all(&d).expect("mkdir");
    for f in 0..files {
        let docs: Vec<String> = (f * per..(f + 1) * per).map(config_map).collect();
        std::fs::write(d.join(format!("part-{f:04}.yaml")), docs.join("---\n")).expect("write");
    }
}

struct Row {
    figure: String,
    value: Duration,
    reference: Option<(String, Duration)>,
    /// Ratio to stay under, and how to show it.
    target: Option<(f64, &'static str)>,
}

fn main() {
    let quick = std::env::var_os("WEIR_BENCH_QUICK").is_some();
    let (cold_runs, load_runs, trivial_calls, render_runs) = if quick {
        (1, 3, 30, 3)
    } else {
        (3, 10, 300, 11)
    };
    let mut rows = Vec::new();

    let built = plugins_dir().join("plain.wasm");
    if !built.exists() {
        eprintln!(
            "{} is missing: run `bash scripts/plugins.sh build` (or bench/plugins.sh) first",
            built.display()
        );
        std::process::exit(2);
    }
    // A private copy, so a rebuild during the run does not reload it.
    let plugins = tmp();
    std::fs::copy(&built, plugins.path().join("plain.wasm")).expect("copy plain.wasm");
    let wasm_size = std::fs::metadata(&built).map(|m| m.len()).unwrap_or(0);
    println!(
        "plugin_overhead: {} ({} KiB), {} cores, {} iterations",
        built.display(),
        wasm_size / 1024,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        if quick { "quick" } else { "full" },
    );

    // 1. Cold compile: a fresh, empty cache each time.
    let mut cold = Vec::new();
    let mut caches = Vec::new();
    for _ in 0..cold_runs {
        let cache = tmp();
        let h = host(plugins.path(), cache.path());
        let t = Instant::now();
        h.renderer("plain").expect("cold load");
        cold.push(t.elapsed());
        caches.push(cache);
    }
    let cold = median(cold);
    let cache = caches.pop().expect("a cache");
    let entries = walk_files(cache.path());
    println!(
        "wasmtime cache after a cold compile: {} file(s), {} KiB",
        entries.len(),
        entries.iter().map(|(_, n)| n).sum::<u64>() / 1024
    );
    rows.push(Row {
        figure: "cold compile (empty cache, first lookup)".into(),
        value: cold,
        reference: None,
        target: None,
    });

    // 2. Cached load: a new host (so an empty in-memory table) on the warm
    //    disk cache, first lookup.
    let mut load = Vec::new();
    for _ in 0..load_runs {
        let h = host(plugins.path(), cache.path());
        let t = Instant::now();
        h.renderer("plain").expect("cached load");
        load.push(t.elapsed());
    }
    rows.push(Row {
        figure: "cached load (new host, warm cache)".into(),
        value: median(load),
        reference: Some(("cold compile".into(), cold)),
        target: None,
    });

    // 3. Instantiate, and instantiate + a trivial call.
    let h = host(plugins.path(), cache.path());
    let r = h.renderer("plain").expect("load");
    let empty = tmp();
    let root_request = HostRequest {
        path: String::new(),
        options: Vec::new(),
    };
    assert!(
        r.render(empty.path(), &root_request)
            .expect("empty render")
            .is_empty()
    );
    let replica =
        replica::Replica::new(&plugins.path().join("plain.wasm"), cache.path()).expect("replica");
    let mut setup_inst = Vec::new();
    let mut inst = Vec::new();
    let mut call = Vec::new();
    let mut native_empty = Vec::new();
    for _ in 0..trivial_calls {
        let (whole, alone) = replica.instantiate(empty.path()).expect("instantiate");
        setup_inst.push(whole);
        inst.push(alone);
        let t = Instant::now();
        let out = r.render(empty.path(), &root_request).expect("render");
        call.push(t.elapsed());
        assert!(out.is_empty());
        let t = Instant::now();
        let out = plain::render_dir(empty.path(), "").expect("native render");
        native_empty.push(t.elapsed());
        assert!(out.is_empty());
    }
    let one_ms = Duration::from_millis(1);
    rows.push(Row {
        figure: "instantiate alone (replica of the host's setup)".into(),
        value: median(inst),
        reference: Some(("target".into(), one_ms)),
        target: Some((1.0, "< 1 ms")),
    });
    rows.push(Row {
        figure: "store + WASI ctx + instantiate (replica)".into(),
        value: median(setup_inst),
        reference: Some(("target".into(), one_ms)),
        target: Some((1.0, "< 1 ms")),
    });
    let call = median(call);
    rows.push(Row {
        figure: "instantiate + trivial call (render empty dir)".into(),
        value: call,
        reference: Some(("target".into(), one_ms)),
        target: Some((1.0, "< 1 ms")),
    });
    let native_empty = median(native_empty);
    rows.push(Row {
        figure: "trivial call, plugin vs native".into(),
        value: call,
        reference: Some(("native render_dir, empty".into(), native_empty)),
        target: None,
    });

    // 4. 1,000 small ConfigMaps, plugin vs native, interleaved.
    let artifact = tmp();
    for (dir, files, label) in [
        ("files", 1000, "1,000 files x 1 doc"),
        ("docs", 10, "10 files x 100 docs"),
    ] {
        write_manifests(artifact.path(), dir, files);
        let request = HostRequest {
            path: dir.into(),
            options: Vec::new(),
        };
        // Warm-up, and the check that both sides render the same objects.
        let wasm_out = r.render(artifact.path(), &request).expect("plugin render");
        let native_out = plain::render_dir(artifact.path(), dir).expect("native render");
        assert_eq!(wasm_out.len(), 1000, "{label}");
        assert_eq!(native_out.len(), 1000, "{label}");
        for (w, n) in wasm_out.iter().zip(&native_out) {
            assert_eq!((&w.json, &w.origin), (&n.json, &n.origin), "{label}");
        }
        let mut wasm = Vec::new();
        let mut native = Vec::new();
        for _ in 0..render_runs {
            let t = Instant::now();
            let out = r.render(artifact.path(), &request).expect("plugin render");
            wasm.push(t.elapsed());
            assert_eq!(out.len(), 1000);
            let t = Instant::now();
            let out = plain::render_dir(artifact.path(), dir).expect("native render");
            native.push(t.elapsed());
            assert_eq!(out.len(), 1000);
        }
        let native = median(native);
        rows.push(Row {
            figure: format!("render 1,000 ConfigMaps, {label}"),
            value: median(wasm),
            reference: Some(("native render_dir".into(), native)),
            target: Some((2.0, "< 2x native")),
        });
    }

    print_table(&rows);
    println!(
        "medians: cold compile of {cold_runs}, cached load of {load_runs}, trivial calls of {trivial_calls}, renders of {render_runs} (each side, interleaved)"
    );
}

fn walk_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk_files(&p)),
            Ok(t) if t.is_file() => {
                let n = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((p, n));
            }
            _ => {}
        }
    }
    out
}

fn print_table(rows: &[Row]) {
    let header = ["figure", "value", "reference", "ratio", "target", "met?"];
    let mut cells: Vec<[String; 6]> = vec![header.map(String::from)];
    for row in rows {
        let (reference, ratio) = match &row.reference {
            Some((name, d)) => (
                format!("{name} {}", fmt(*d)),
                row.value.as_secs_f64() / d.as_secs_f64(),
            ),
            None => ("-".into(), f64::NAN),
        };
        let ratio_s = if ratio.is_nan() {
            "-".into()
        } else {
            format!("{ratio:.2}x")
        };
        let (target, met) = match row.target {
            Some((t, label)) => (
                label.to_owned(),
                if ratio < t { "yes" } else { "NO" }.to_owned(),
            ),
            None => ("-".into(), "-".into()),
        };
        cells.push([
            row.figure.clone(),
            fmt(row.value),
            reference,
            ratio_s,
            target,
            met,
        ]);
    }
    let mut widths = [0usize; 6];
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    println!();
    for (i, c) in cells.iter().enumerate() {
        let line: Vec<String> = c
            .iter()
            .zip(widths)
            .map(|(s, w)| format!("{s}{}", " ".repeat(w - s.chars().count())))
            .collect();
        println!("| {} |", line.join(" | "));
        if i == 0 {
            let sep: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", sep.join("-|-"));
        }
    }
    println!();
}
