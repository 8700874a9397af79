//! weir's WebAssembly plugin host.
//!
//! Plugins are components (`name.wasm`) in the plugins directory, built
//! against the WIT packages in `wit/`. This crate is the only one that knows
//! wasmtime: it implements the core's [`RendererRegistry`] and [`Renderer`]
//! traits. Start at [`PluginHost`].
//!
//! Sandbox: deny by default. A renderer's only filesystem is the artifact,
//! preopened read-only at `/artifact`; no environment, no arguments, no
//! sockets, no inherited stdio (stderr is captured, capped, and logged).
//! Every call runs in a fresh store with a memory cap ([`StoreLimits`]) and
//! a wall-clock deadline enforced by epoch interruption; a trap, timeout or
//! out-of-memory fails that call only.
//!
//! Manifest first: before compiling a component the host reads its
//! [`manifest`] (embedded `weir:manifest` section or a sidecar file) and
//! refuses an unsupported API version, a plugin of another kind, a name
//! that is not the file's, and capabilities the host config does not grant
//! ([`manifest::check`]). [`inspect`] and [`list`] report the same without
//! compiling, for `weir plugin list|inspect`.
//!
//! Hot drop-in: a plugin is looked up by name on every use and recompiled
//! when its file's (or its sidecar manifest's) size or modification time
//! changed, so a new or replaced file takes effect without a restart. Compiled code is also cached on disk
//! by wasmtime (keyed by the component's bytes and the engine's settings),
//! so restarts do not pay the compile again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use weir_config::EffectiveLimits;
use weir_core::plugin::{
    OptionValue, PluginError, PluginErrorKind, RenderRequest, RenderedObject, Renderer,
    RendererRegistry,
};

pub mod manifest;

pub use manifest::{Manifest, PluginKind};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/weir-plugin@0.1.0",
        world: "renderer-plugin",
    });
}

use bindings::exports::weir::plugin::renderer as wit_renderer;
use bindings::weir::plugin::types as wit_types;

/// How often the epoch ticks; deadlines are rounded up to it.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Most bytes of a plugin's stderr kept for the log.
const STDERR_CAP: usize = 64 * 1024;

/// Setting up the plugin host failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly engine: {0}")]
pub struct HostError(String);

/// Per-store state: WASI plus the limits.
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

/// Size and modification time of a plugin file and its sidecar manifests:
/// a change to any reloads the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<(u64, Option<SystemTime>)>>);

impl Stamp {
    fn of(wasm: &std::fs::Metadata, path: &Path) -> Self {
        let mut v = vec![Some((wasm.len(), wasm.modified().ok()))];
        for p in manifest::sidecar_names(path) {
            v.push(
                std::fs::metadata(p)
                    .ok()
                    .map(|m| (m.len(), m.modified().ok())),
            );
        }
        Stamp(v)
    }
}

struct Loaded {
    stamp: Stamp,
    renderer: Arc<WasmRenderer>,
}

/// Loads plugins from a directory and runs them sandboxed.
pub struct PluginHost {
    engine: Engine,
    linker: Arc<Linker<State>>,
    dir: PathBuf,
    limits: Box<dyn Fn(&str) -> EffectiveLimits + Send + Sync>,
    loaded: Mutex<HashMap<String, Loaded>>,
}

impl PluginHost {
    /// A host for the plugins in `dir`. `limits` gives each plugin's limits
    /// by name; `cache_dir`, when given, holds wasmtime's compiled-code cache.
    ///
    /// # Errors
    /// [`HostError`] when the engine cannot be configured.
    pub fn new(
        dir: &Path,
        cache_dir: Option<&Path>,
        limits: impl Fn(&str) -> EffectiveLimits + Send + Sync + 'static,
    ) -> Result<Self, HostError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if let Some(cache_dir) = cache_dir {
            let mut cc = wasmtime::CacheConfig::new();
            cc.with_directory(cache_dir);
            let cache = wasmtime::Cache::new(cc).map_err(|e| HostError(format!("{e:#}")))?;
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config).map_err(|e| HostError(format!("{e:#}")))?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| HostError(format!("{e:#}")))?;
        start_epoch_ticker(&engine);
        Ok(PluginHost {
            engine,
            linker: Arc::new(linker),
            dir: dir.to_owned(),
            limits: Box::new(limits),
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The plugins directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn load(&self, name: &str) -> Result<Arc<WasmRenderer>, PluginError> {
        let load_err = |message: String| PluginError {
            plugin: name.to_owned(),
            version: None,
            kind: PluginErrorKind::Load,
            message,
            file: None,
            line: None,
        };
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(load_err("invalid plugin name".into()));
        }
        let path = self.dir.join(format!("{name}.wasm"));
        let meta = std::fs::metadata(&path).map_err(|e| {
            load_err(format!(
                "no plugin file {} ({e}); put the component there or choose another renderer",
                path.display()
            ))
        })?;
        let stamp = Stamp::of(&meta, &path);
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = loaded.get(name)
            && l.stamp == stamp
        {
            return Ok(Arc::clone(&l.renderer));
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| load_err(format!("cannot read {}: {e}", path.display())))?;
        // The manifest first: nothing is compiled for a plugin we refuse.
        let found = manifest::read(&path, &bytes).map_err(|e| load_err(e.to_string()))?;
        let version = Some(found.manifest.version.clone()).filter(|v| !v.is_empty());
        let limits = (self.limits)(name);
        let granted = manifest::check(&found.manifest, name, Some(PluginKind::Renderer), &limits)
            .map_err(|refusal| PluginError {
            version: version.clone(),
            ..load_err(refusal.to_string())
        })?;
        let load_err = |message: String| PluginError {
            version: version.clone(),
            ..load_err(message)
        };
        let component = Component::new(&self.engine, &bytes).map_err(|e| {
            load_err(format!(
                "{} is not a valid WebAssembly component: {e:#}",
                path.display()
            ))
        })?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            load_err(format!(
                "{} cannot be linked (it imports something weir does not provide): {e:#}",
                path.display()
            ))
        })?;
        let pre = bindings::RendererPluginPre::new(pre).map_err(|e| {
            load_err(format!(
                "{} is not a renderer plugin for weir:plugin@0.1.0: {e:#}",
                path.display()
            ))
        })?;
        let renderer = Arc::new(WasmRenderer {
            name: name.to_owned(),
            version: version.clone(),
            memory_asked: found.manifest.capabilities.max_memory.is_some(),
            engine: self.engine.clone(),
            pre,
            limits: EffectiveLimits {
                max_memory: granted.max_memory,
                ..limits
            },
        });
        tracing::info!(
            plugin = name,
            version = version.as_deref().unwrap_or(""),
            path = %path.display(),
            manifest = %found.origin,
            max_memory = %manifest::size(granted.max_memory),
            "loaded plugin"
        );
        loaded.insert(
            name.to_owned(),
            Loaded {
                stamp,
                renderer: Arc::clone(&renderer),
            },
        );
        Ok(renderer)
    }
}

impl RendererRegistry for PluginHost {
    fn renderer(&self, name: &str) -> Result<Arc<dyn Renderer>, PluginError> {
        self.load(name).map(|r| r as Arc<dyn Renderer>)
    }
}

/// A renderer component, compiled and pre-linked; each call instantiates it
/// in a fresh, limited store.
pub struct WasmRenderer {
    name: String,
    version: Option<String>,
    /// Whether the memory cap is the manifest's own ask (below the grant).
    memory_asked: bool,
    engine: Engine,
    pre: bindings::RendererPluginPre<State>,
    limits: EffectiveLimits,
}

impl WasmRenderer {
    fn error(&self, kind: PluginErrorKind, message: String) -> PluginError {
        PluginError {
            plugin: self.name.clone(),
            version: self.version.clone(),
            kind,
            message,
            file: None,
            line: None,
        }
    }

    /// Turns a wasmtime error from instantiate or call into a plugin error
    /// saying which limit was hit, if any.
    fn classify(&self, e: &wasmtime::Error, stderr: &MemoryOutputPipe) -> PluginError {
        let trap = e.downcast_ref::<wasmtime::Trap>().copied();
        let text = format!("{e:#}");
        let tail = stderr_tail(stderr);
        match trap {
            Some(wasmtime::Trap::Interrupt) => self.error(
                PluginErrorKind::Timeout,
                format!(
                    "call exceeded its {}s deadline and was stopped (raise host.plugins.{}.timeout if the input is really that large)",
                    self.limits.timeout.get().as_secs_f64(),
                    self.name
                ),
            ),
            _ if text.contains("forcing trap when growing memory") => self.error(
                PluginErrorKind::OutOfMemory,
                if self.memory_asked {
                    format!(
                        "call tried to use more than its {} memory limit and was stopped (the limit its manifest asks for: raise capabilities.maxMemory there)",
                        manifest::size(self.limits.max_memory)
                    )
                } else {
                    format!(
                        "call tried to use more than its {} memory limit and was stopped (raise host.plugins.{}.maxMemory if needed)",
                        manifest::size(self.limits.max_memory),
                        self.name
                    )
                },
            ),
            Some(t) => self.error(
                PluginErrorKind::Trap,
                format!("plugin crashed ({t}){tail}"),
            ),
            None => self.error(PluginErrorKind::Trap, format!("plugin failed: {text}{tail}")),
        }
    }
}

impl Renderer for WasmRenderer {
    fn name(&self) -> &str {
        &self.name
    }

    fn render(
        &self,
        artifact_dir: &Path,
        request: &RenderRequest,
    ) -> Result<Vec<RenderedObject>, PluginError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        // Renders already run on a blocking thread (the core calls them via
        // spawn_blocking), so file operations may block it directly instead
        // of each being handed to another thread and awaited: that hand-off
        // cost ~0.13 ms per file (see the Performance section of
        // docs/plugins.md). It must be set before the preopen is added.
        wasi.allow_blocking_current_thread(true);
        wasi.preopened_dir(artifact_dir, "/artifact", FsPerms::ReadOnly)
            .map_err(|e| {
                self.error(
                    PluginErrorKind::Load,
                    format!("cannot open artifact {}: {e:#}", artifact_dir.display()),
                )
            })?;
        let max_memory = usize::try_from(self.limits.max_memory.0).unwrap_or(usize::MAX);
        let state = State {
            ctx: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = self
            .limits
            .timeout
            .get()
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.classify(&e, &stderr))?;
        let req = wit_renderer::RenderRequest {
            path: request.path.clone(),
            options: request
                .options
                .iter()
                .map(|(k, v)| wit_types::NamedOption {
                    key: k.clone(),
                    value: match v {
                        OptionValue::Str(s) => wit_types::OptionValue::Str(s.clone()),
                        OptionValue::Int(i) => wit_types::OptionValue::Int(*i),
                        OptionValue::Float(f) => wit_types::OptionValue::Float(*f),
                        OptionValue::Bool(b) => wit_types::OptionValue::Boolean(*b),
                        OptionValue::Strings(l) => wit_types::OptionValue::Strings(l.clone()),
                    },
                })
                .collect(),
        };
        let result = instance
            .weir_plugin_renderer()
            .call_render(&mut store, &req)
            .map_err(|e| self.classify(&e, &stderr))?;
        match result {
            Ok(objects) => Ok(objects
                .into_iter()
                .map(|o| RenderedObject {
                    json: o.json,
                    origin: o.origin,
                })
                .collect()),
            Err(e) => Err(PluginError {
                plugin: self.name.clone(),
                version: self.version.clone(),
                kind: match e.kind {
                    wit_types::ErrorKind::InvalidInput => PluginErrorKind::InvalidInput,
                    wit_types::ErrorKind::NotFound => PluginErrorKind::NotFound,
                    wit_types::ErrorKind::Unsupported => PluginErrorKind::Unsupported,
                    wit_types::ErrorKind::Transient => PluginErrorKind::Transient,
                    wit_types::ErrorKind::Internal => PluginErrorKind::Internal,
                },
                message: e.message,
                line: e.location.as_ref().and_then(|l| l.line),
                file: e.location.map(|l| l.file),
            }),
        }
    }
}

fn stderr_tail(stderr: &MemoryOutputPipe) -> String {
    let bytes = stderr.contents();
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let start = text
        .char_indices()
        .rev()
        .nth(2000)
        .map(|(i, _)| i)
        .unwrap_or(0);
    format!("; plugin stderr: {}", &text[start..])
}

/// One thread per engine advances the epoch; stores set their deadline in
/// ticks. The thread ends when the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("weir-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the epoch thread: plugin deadlines will not fire"));
}

/// What `weir plugin list|inspect` shows about one plugin file: its
/// manifest and whether this host would run it, found without compiling.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// The component file.
    pub file: PathBuf,
    /// The name the host looks it up by: the file name without `.wasm`.
    pub name: String,
    /// The file's size in bytes.
    pub size: u64,
    /// SHA-256 of the file, hex.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// The manifest, when one could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    /// Where the manifest came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_origin: Option<manifest::ManifestOrigin>,
    /// The component's imports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
    /// The component's exports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<String>,
    /// Whether this host would run it.
    pub granted: bool,
    /// What the host config grants it, when it would run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<manifest::Granted>,
    /// Why it would not run: the file, its manifest, or a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refused>,
}

/// Why a plugin would not run.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refused {
    /// `plugin` (the file or its manifest is not acceptable) or `host` (the
    /// host config does not grant what it asks for).
    pub by: manifest::Side,
    /// What is wrong.
    pub message: String,
}

/// Reads and checks one plugin file against `limits` (the host config's
/// grants for its name), without compiling it. Problems are reported in
/// the result, never as an error.
pub fn inspect(path: &Path, limits: &EffectiveLimits) -> PluginInfo {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let name = name.strip_suffix(".wasm").unwrap_or(&name).to_owned();
    let mut info = PluginInfo {
        file: path.to_owned(),
        name,
        size: 0,
        sha256: String::new(),
        manifest: None,
        manifest_origin: None,
        imports: Vec::new(),
        exports: Vec::new(),
        granted: false,
        grants: None,
        refused: None,
    };
    let refuse = |message: String| {
        Some(Refused {
            by: manifest::Side::Plugin,
            message,
        })
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            info.refused = refuse(format!("cannot read {}: {e}", path.display()));
            return info;
        }
    };
    info.size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    info.sha256 = sha256_hex(&bytes);
    let found = match manifest::read(path, &bytes) {
        Ok(f) => f,
        Err(e) => {
            info.refused = refuse(e.to_string());
            return info;
        }
    };
    match manifest::check(&found.manifest, &info.name, None, limits) {
        Ok(g) => {
            info.granted = true;
            info.grants = Some(g);
        }
        Err(r) => {
            info.refused = Some(Refused {
                by: r.side(),
                message: r.to_string(),
            });
        }
    }
    info.manifest = Some(found.manifest);
    info.manifest_origin = Some(found.origin);
    info.imports = found.imports;
    info.exports = found.exports;
    info
}

/// [`inspect`]s every `*.wasm` in `dir`, in name order, with the grants
/// `limits` gives each name. A broken file is listed with its problem.
///
/// # Errors
/// When `dir` cannot be listed.
pub fn list(
    dir: &Path,
    limits: impl Fn(&str) -> EffectiveLimits,
) -> std::io::Result<Vec<PluginInfo>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files
        .iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            inspect(path, &limits(&name))
        })
        .collect())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let digest = sha2::Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}
