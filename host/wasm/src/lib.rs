//! weir's WebAssembly plugin host.
//!
//! Plugins are components (`name.wasm`) in the plugins directory, built
//! against the WIT packages in `wit/`. This crate is the only one that knows
//! wasmtime: it implements the core's plugin traits ([`Renderer`],
//! [`Decryptor`], [`Notifier`], [`SourcePlugin`]) and their registries.
//! Start at [`PluginHost`].
//!
//! API versions: one host module per WIT package version. `0.1.0`
//! (released, frozen: renderers only) is served by the `v0_1` module's bindings and
//! converted to the core's types; `0.2.0` adds the decryptor, notifier and
//! source worlds; `0.2.1` (the `bindings` module, which serves 0.2.0
//! plugins too) adds the renderer's `artifact` import, the artifact's
//! files in one call (the `artifact` module).
//!
//! Sandbox: deny by default. A renderer's only filesystem is the artifact,
//! preopened read-only at `/artifact`; a source's is an empty directory at
//! `/out`; decryptors and notifiers have none. No environment, no
//! arguments, no sockets, no inherited stdio (stderr is captured, capped,
//! and logged). Outbound HTTP (`wasi:http`) reaches only hosts that the
//! manifest asks for and the host config grants (the `gate` module), and never waits
//! past the call's deadline.
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
//! changed, so a new or replaced file takes effect without a restart.
//! Compiled code is also cached on disk by wasmtime (keyed by the
//! component's bytes and the engine's settings), so restarts do not pay the
//! compile again.
//!
//! Built-in plugins ([`Builtin`]) ship inside the weir binary; a file of
//! the same name in the plugins directory overrides one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use weir_config::EffectiveLimits;
use weir_core::plugin::{
    DecryptFormat, DecryptRequest, Decryptor, DecryptorRegistry, FetchOutcome, FetchRequest,
    Notifier, NotifierRegistry, NotifyRequest, PluginError, PluginErrorKind, RenderRequest,
    RenderedObject, Renderer, RendererRegistry, Severity, SourcePlugin,
};

mod artifact;
mod bindings;
mod gate;
pub mod manifest;
mod v0_1;

pub use manifest::{Manifest, PluginKind};

use bindings::convert;

/// How often the epoch ticks; deadlines are rounded up to it.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Most bytes of a plugin's stderr kept for the log.
const STDERR_CAP: usize = 64 * 1024;

/// Setting up the plugin host failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly engine: {0}")]
pub struct HostError(String);

/// A plugin that ships inside the weir binary. A file of the same name in
/// the plugins directory overrides it.
#[derive(Clone)]
pub struct Builtin {
    /// The plugin's name (its manifest's).
    pub name: String,
    /// The component.
    pub bytes: Arc<[u8]>,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin")
            .field("name", &self.name)
            .field("size", &self.bytes.len())
            .finish()
    }
}

impl Builtin {
    /// The path messages and `weir plugin list` show for it.
    pub fn pseudo_path(&self) -> PathBuf {
        PathBuf::from(format!("<built-in>/{}.wasm", self.name))
    }
}

/// Per-store state: WASI, `wasi:http` behind the gate, and the limits.
struct State {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    http: WasiHttpCtx,
    gate: gate::Gate,
    /// A renderer call's artifact, for the `artifact` import.
    artifact: Option<artifact::Artifact>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

impl bindings::renderer::weir::plugin::types::Host for State {}

impl bindings::renderer::weir::plugin::artifact::Host for State {
    fn read_tree(
        &mut self,
        path: String,
        suffixes: Vec<String>,
    ) -> Result<
        Vec<bindings::renderer::weir::plugin::artifact::ArtifactFile>,
        bindings::renderer::weir::plugin::types::Error,
    > {
        use bindings::renderer::weir::plugin::artifact::ArtifactFile;
        use bindings::renderer::weir::plugin::types as wit;
        let error = |kind, message: String, file: Option<String>| wit::Error {
            kind,
            message,
            location: file.map(|file| wit::Location {
                file,
                line: None,
                column: None,
            }),
        };
        let Some(artifact) = &self.artifact else {
            return Err(error(
                wit::ErrorKind::Unsupported,
                "this call has no artifact (only renderers do)".into(),
                None,
            ));
        };
        match artifact.read_tree(&path, &suffixes) {
            Ok(files) => Ok(files
                .into_iter()
                .map(|(path, contents)| ArtifactFile { path, contents })
                .collect()),
            Err(artifact::TreeError::NotFound(m)) => Err(error(wit::ErrorKind::NotFound, m, None)),
            Err(artifact::TreeError::Invalid(m, file)) => {
                Err(error(wit::ErrorKind::InvalidInput, m, file))
            }
        }
    }
}

/// What identifies a version of a plugin file and its sidecar manifests:
/// size, modification time, and the inode's change time and number. A
/// change to any reloads the plugin — also a same-size replacement that
/// kept the old modification time (`cp -p`, `touch -r`, an unpacked
/// archive): writing or renaming a file over it always sets a new change
/// time, which no user-level tool can set back. Built-ins never change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stamp {
    File(Vec<Option<FileStamp>>),
    Builtin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    changed: (i64, i64),
    inode: (u64, u64),
}

impl FileStamp {
    fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
            changed: (m.ctime(), m.ctime_nsec()),
            inode: (m.dev(), m.ino()),
        }
    }
}

impl Stamp {
    fn of(wasm: &std::fs::Metadata, path: &Path) -> Self {
        let mut v = vec![Some(FileStamp::of(wasm))];
        for p in manifest::sidecar_names(path) {
            v.push(std::fs::metadata(p).ok().map(|m| FileStamp::of(&m)));
        }
        Stamp::File(v)
    }
}

struct Loaded {
    stamp: Stamp,
    plugin: Arc<WasmPlugin>,
}

/// Loads plugins from a directory (and the built-ins) and runs them
/// sandboxed.
pub struct PluginHost {
    engine: Engine,
    linker: Arc<Linker<State>>,
    dir: PathBuf,
    builtins: Vec<Builtin>,
    limits: Box<dyn Fn(&str) -> EffectiveLimits + Send + Sync>,
    loaded: Mutex<HashMap<(PluginKind, String), Loaded>>,
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
        // For plugin authors profiling with `perf`: /tmp/perf-PID.map names
        // the compiled plugin functions (docs/plugins.md, Performance).
        if std::env::var_os("WEIR_WASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
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
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(|e| HostError(format!("{e:#}")))?;
        bindings::renderer::weir::plugin::artifact::add_to_linker::<State, HasSelf<State>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError(format!("{e:#}")))?;
        start_epoch_ticker(&engine);
        Ok(PluginHost {
            engine,
            linker: Arc::new(linker),
            dir: dir.to_owned(),
            builtins: Vec::new(),
            limits: Box::new(limits),
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The same host with these built-in plugins, used when the plugins
    /// directory has no file of their name.
    #[must_use]
    pub fn with_builtins(mut self, builtins: Vec<Builtin>) -> Self {
        self.builtins = builtins;
        self
    }

    /// The plugins directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plugin `name` as a `kind` plugin: from the plugins directory, or
    /// built in; compiled once and reused until its file changes.
    ///
    /// # Errors
    /// A [`PluginError`] of kind [`PluginErrorKind::Load`] saying why it
    /// cannot be used.
    pub fn load(&self, name: &str, kind: PluginKind) -> Result<Arc<WasmPlugin>, PluginError> {
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
        let builtin = self.builtins.iter().find(|b| b.name == name);
        let (stamp, path) = match std::fs::metadata(&path) {
            Ok(meta) => (Stamp::of(&meta, &path), path),
            Err(_) if builtin.is_some() => (
                Stamp::Builtin,
                builtin.map(Builtin::pseudo_path).unwrap_or_default(),
            ),
            Err(e) => {
                return Err(load_err(format!(
                    "no plugin file {} ({e}) and no built-in plugin of that name; put the component there",
                    path.display()
                )));
            }
        };
        let key = (kind, name.to_owned());
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = loaded.get(&key)
            && l.stamp == stamp
        {
            return Ok(Arc::clone(&l.plugin));
        }
        let bytes: Arc<[u8]> = match (&stamp, builtin) {
            (Stamp::Builtin, Some(b)) => Arc::clone(&b.bytes),
            _ => std::fs::read(&path)
                .map_err(|e| load_err(format!("cannot read {}: {e}", path.display())))?
                .into(),
        };
        // The manifest first: nothing is compiled for a plugin we refuse.
        let found = manifest::read(&path, &bytes).map_err(|e| load_err(e.to_string()))?;
        let version = Some(found.manifest.version.clone()).filter(|v| !v.is_empty());
        let limits = (self.limits)(name);
        let granted =
            manifest::check(&found.manifest, name, Some(kind), &limits).map_err(|refusal| {
                PluginError {
                    version: version.clone(),
                    ..load_err(refusal.to_string())
                }
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
        let api = found.manifest.api.clone();
        let not_world = |e: wasmtime::Error| {
            load_err(format!(
                "{} is not a {kind} plugin for weir:plugin@{api}: {e:#}",
                path.display()
            ))
        };
        let pre = match (kind, api.as_str()) {
            (PluginKind::Renderer, "0.1.0") => {
                Pre::RendererV0_1(v0_1::RendererPluginPre::new(pre).map_err(not_world)?)
            }
            (PluginKind::Renderer, _) => {
                Pre::Renderer(bindings::renderer::RendererPluginPre::new(pre).map_err(not_world)?)
            }
            (PluginKind::Decryptor, _) => Pre::Decryptor(
                bindings::decryptor::DecryptorPluginPre::new(pre).map_err(not_world)?,
            ),
            (PluginKind::Notifier, _) => {
                Pre::Notifier(bindings::notifier::NotifierPluginPre::new(pre).map_err(not_world)?)
            }
            (PluginKind::Source, _) => {
                Pre::Source(bindings::source::SourcePluginPre::new(pre).map_err(not_world)?)
            }
        };
        let plugin = Arc::new(WasmPlugin {
            name: name.to_owned(),
            version: version.clone(),
            api: api.clone(),
            memory_asked: found.manifest.capabilities.max_memory.is_some(),
            engine: self.engine.clone(),
            pre,
            asked_hosts: found.manifest.capabilities.http_hosts.clone().into(),
            granted_hosts: limits.allowed_hosts.clone().into(),
            limits: EffectiveLimits {
                max_memory: granted.max_memory,
                ..limits
            },
        });
        tracing::info!(
            plugin = name,
            kind = %kind,
            version = version.as_deref().unwrap_or(""),
            api = %api,
            path = %path.display(),
            manifest = %found.origin,
            max_memory = %manifest::size(granted.max_memory),
            "loaded plugin"
        );
        loaded.insert(
            key,
            Loaded {
                stamp,
                plugin: Arc::clone(&plugin),
            },
        );
        Ok(plugin)
    }
}

impl RendererRegistry for PluginHost {
    fn renderer(&self, name: &str) -> Result<Arc<dyn Renderer>, PluginError> {
        self.load(name, PluginKind::Renderer)
            .map(|r| r as Arc<dyn Renderer>)
    }
}

impl DecryptorRegistry for PluginHost {
    fn decryptor(&self, name: &str) -> Result<Arc<dyn Decryptor>, PluginError> {
        self.load(name, PluginKind::Decryptor)
            .map(|r| r as Arc<dyn Decryptor>)
    }
}

impl weir_core::plugin_source::SourceRegistry for PluginHost {
    fn source(&self, name: &str) -> Result<Arc<dyn SourcePlugin>, PluginError> {
        self.load(name, PluginKind::Source)
            .map(|r| r as Arc<dyn SourcePlugin>)
    }
}

impl NotifierRegistry for PluginHost {
    fn notifier(&self, name: &str) -> Result<Arc<dyn Notifier>, PluginError> {
        self.load(name, PluginKind::Notifier)
            .map(|r| r as Arc<dyn Notifier>)
    }
}

/// A component pre-linked for its world.
enum Pre {
    RendererV0_1(v0_1::RendererPluginPre<State>),
    Renderer(bindings::renderer::RendererPluginPre<State>),
    Decryptor(bindings::decryptor::DecryptorPluginPre<State>),
    Notifier(bindings::notifier::NotifierPluginPre<State>),
    Source(bindings::source::SourcePluginPre<State>),
}

/// A plugin component, compiled and pre-linked; each call instantiates it
/// in a fresh, limited store.
pub struct WasmPlugin {
    name: String,
    version: Option<String>,
    api: String,
    /// Whether the memory cap is the manifest's own ask (below the grant).
    memory_asked: bool,
    engine: Engine,
    pre: Pre,
    asked_hosts: Arc<[String]>,
    granted_hosts: Arc<[String]>,
    limits: EffectiveLimits,
}

/// A plugin's own error, converted: kind, message, file, line.
type OwnError = (PluginErrorKind, String, Option<String>, Option<u32>);

impl WasmPlugin {
    /// The plugin API version it was built against.
    pub fn api(&self) -> &str {
        &self.api
    }

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

    fn wrong_world(&self, wanted: PluginKind) -> PluginError {
        self.error(PluginErrorKind::Load, format!("is not a {wanted} plugin"))
    }

    /// Turns a wasmtime error from instantiate or call into a plugin error
    /// saying which limit was hit, if any.
    fn classify(
        &self,
        e: &wasmtime::Error,
        stderr: &MemoryOutputPipe,
        timeout: std::time::Duration,
    ) -> PluginError {
        let trap = e.downcast_ref::<wasmtime::Trap>().copied();
        let text = format!("{e:#}");
        let tail = stderr_tail(stderr);
        match trap {
            Some(wasmtime::Trap::Interrupt) if timeout < self.limits.timeout.get() => self.error(
                PluginErrorKind::Timeout,
                format!(
                    "call exceeded its {}s deadline and was stopped",
                    timeout.as_secs_f64()
                ),
            ),
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

    /// Runs one call in a fresh store: `setup` adds preopens to the WASI
    /// context and gives a renderer its artifact, `call` instantiates and
    /// calls. Limits, deadline and the
    /// HTTP gate apply; a plugin's own error comes back converted, with the
    /// gate's refusals added to its message.
    fn run<T>(
        &self,
        setup: impl FnOnce(&mut WasiCtxBuilder) -> Result<Option<artifact::Artifact>, PluginError>,
        call: impl FnOnce(&mut Store<State>) -> wasmtime::Result<Result<T, OwnError>>,
    ) -> Result<T, PluginError> {
        self.run_within(self.limits.timeout.get(), setup, call)
    }

    /// [`WasmPlugin::run`] with a deadline of at most `timeout`.
    fn run_within<T>(
        &self,
        timeout: std::time::Duration,
        setup: impl FnOnce(&mut WasiCtxBuilder) -> Result<Option<artifact::Artifact>, PluginError>,
        call: impl FnOnce(&mut Store<State>) -> wasmtime::Result<Result<T, OwnError>>,
    ) -> Result<T, PluginError> {
        let timeout = timeout.min(self.limits.timeout.get());
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        // Calls already run on a blocking thread (the core calls plugins via
        // spawn_blocking), so file operations may block it directly instead
        // of each being handed to another thread and awaited: that hand-off
        // cost ~0.13 ms per file (see the Performance section of
        // docs/plugins.md). It must be set before preopens are added.
        wasi.allow_blocking_current_thread(true);
        let artifact = setup(&mut wasi)?;
        let max_memory = usize::try_from(self.limits.max_memory.0).unwrap_or(usize::MAX);
        let denials = Arc::new(Mutex::new(Vec::new()));
        let state = State {
            ctx: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory)
                .trap_on_grow_failure(true)
                .build(),
            http: WasiHttpCtx::new(),
            gate: gate::Gate {
                plugin: self.name.clone(),
                asked: Arc::clone(&self.asked_hosts),
                granted: Arc::clone(&self.granted_hosts),
                cap: timeout,
                denials: Arc::clone(&denials),
            },
            artifact,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        let result = call(&mut store).map_err(|e| self.classify(&e, &stderr, timeout))?;
        result.map_err(|(kind, message, file, line)| {
            let denied = denials
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let (kind, message) = if denied.is_empty() {
                (kind, message)
            } else {
                (
                    PluginErrorKind::Denied,
                    format!("{message} ({})", denied.join("; ")),
                )
            };
            PluginError {
                plugin: self.name.clone(),
                version: self.version.clone(),
                kind,
                message,
                file,
                line,
            }
        })
    }
}

impl Renderer for WasmPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn render(
        &self,
        artifact_dir: &Path,
        request: &RenderRequest,
    ) -> Result<Vec<RenderedObject>, PluginError> {
        let setup = |wasi: &mut WasiCtxBuilder| {
            wasi.preopened_dir(artifact_dir, "/artifact", FsPerms::ReadOnly)
                .map_err(|e| {
                    self.error(
                        PluginErrorKind::Load,
                        format!("cannot open artifact {}: {e:#}", artifact_dir.display()),
                    )
                })?;
            Ok(Some(artifact::Artifact::new(
                artifact_dir,
                self.limits.max_memory.0,
                &self.name,
            )))
        };
        match &self.pre {
            Pre::Renderer(pre) => self.run(setup, |store| {
                use bindings::renderer::exports::weir::plugin::renderer as wit;
                let instance = pre.instantiate(&mut *store)?;
                let req = wit::RenderRequest {
                    path: request.path.clone(),
                    options: convert::renderer::options(&request.options),
                };
                let out = instance.weir_plugin_renderer().call_render(store, &req)?;
                Ok(out
                    .map(|objects| {
                        objects
                            .into_iter()
                            .map(|o| RenderedObject {
                                json: o.json,
                                origin: o.origin,
                            })
                            .collect()
                    })
                    .map_err(convert::renderer::error))
            }),
            Pre::RendererV0_1(pre) => self.run(setup, |store| {
                use v0_1::exports::weir::plugin::renderer as wit;
                let instance = pre.instantiate(&mut *store)?;
                let req = wit::RenderRequest {
                    path: request.path.clone(),
                    options: v0_1::options(&request.options),
                };
                let out = instance.weir_plugin_renderer().call_render(store, &req)?;
                Ok(out
                    .map(|objects| {
                        objects
                            .into_iter()
                            .map(|o| RenderedObject {
                                json: o.json,
                                origin: o.origin,
                            })
                            .collect()
                    })
                    .map_err(v0_1::error))
            }),
            _ => Err(self.wrong_world(PluginKind::Renderer)),
        }
    }
}

impl Decryptor for WasmPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn decrypt(&self, request: &DecryptRequest<'_>) -> Result<Vec<u8>, PluginError> {
        let Pre::Decryptor(pre) = &self.pre else {
            return Err(self.wrong_world(PluginKind::Decryptor));
        };
        self.run(
            |_| Ok(None),
            |store| {
                use bindings::decryptor::exports::weir::plugin::decryptor as wit;
                let instance = pre.instantiate(&mut *store)?;
                let req = wit::DecryptRequest {
                    name: request.name.to_owned(),
                    format: match request.format {
                        DecryptFormat::Yaml => wit::Format::Yaml,
                        DecryptFormat::Json => wit::Format::Json,
                        DecryptFormat::Dotenv => wit::Format::Dotenv,
                        DecryptFormat::Ini => wit::Format::Ini,
                        DecryptFormat::Binary => wit::Format::Binary,
                    },
                    data: request.data.to_vec(),
                    keys: request
                        .keys
                        .iter()
                        .map(|k| wit::Key {
                            kind: k.kind.clone(),
                            name: k.name.clone(),
                            material: k.material.clone(),
                        })
                        .collect(),
                };
                let out = instance.weir_plugin_decryptor().call_decrypt(store, &req)?;
                Ok(out.map_err(convert::decryptor::error))
            },
        )
    }
}

impl Notifier for WasmPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn notify(&self, request: &NotifyRequest) -> Result<(), PluginError> {
        self.notify_within(request, self.limits.timeout.get())
    }

    fn notify_within(
        &self,
        request: &NotifyRequest,
        timeout: std::time::Duration,
    ) -> Result<(), PluginError> {
        let Pre::Notifier(pre) = &self.pre else {
            return Err(self.wrong_world(PluginKind::Notifier));
        };
        self.run_within(
            timeout,
            |_| Ok(None),
            |store| {
                use bindings::notifier::exports::weir::plugin::notifier as wit;
                use bindings::notifier::weir::plugin::types as wit_types;
                let instance = pre.instantiate(&mut *store)?;
                let e = &request.event;
                let req = wit::NotifyRequest {
                    event: wit_types::Event {
                        severity: match e.severity {
                            Severity::Info => wit_types::Severity::Info,
                            Severity::Error => wit_types::Severity::Error,
                        },
                        reason: e.reason.clone(),
                        message: e.message.clone(),
                        revision: e.revision.clone(),
                        involved_object: wit_types::ObjectRef {
                            api_version: e.involved_object.api_version.clone(),
                            kind: e.involved_object.kind.clone(),
                            namespace: e.involved_object.namespace.clone(),
                            name: e.involved_object.name.clone(),
                        },
                        cluster: e.cluster.clone(),
                        timestamp: e.timestamp.clone(),
                        metadata: convert::notifier::pairs(&e.metadata),
                    },
                    message: request.message.clone(),
                    settings: convert::notifier::options(&request.settings),
                    secrets: convert::notifier::pairs(&request.secrets),
                };
                let out = instance.weir_plugin_notifier().call_notify(store, &req)?;
                Ok(out.map_err(convert::notifier::error))
            },
        )
    }
}

impl SourcePlugin for WasmPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch(&self, out_dir: &Path, request: &FetchRequest) -> Result<FetchOutcome, PluginError> {
        let Pre::Source(pre) = &self.pre else {
            return Err(self.wrong_world(PluginKind::Source));
        };
        let setup = |wasi: &mut WasiCtxBuilder| {
            wasi.preopened_dir(out_dir, "/out", FsPerms::ReadWrite)
                .map_err(|e| {
                    self.error(
                        PluginErrorKind::Load,
                        format!("cannot open output directory {}: {e:#}", out_dir.display()),
                    )
                })?;
            Ok(None)
        };
        self.run(setup, |store| {
            use bindings::source::exports::weir::plugin::source as wit;
            let instance = pre.instantiate(&mut *store)?;
            let req = wit::FetchRequest {
                url: request.url.clone(),
                settings: convert::source::options(&request.settings),
                secrets: convert::source::pairs(&request.secrets),
                last_revision: request.last_revision.clone(),
            };
            let out = instance.weir_plugin_source().call_fetch(store, &req)?;
            Ok(out
                .map(|r| match r {
                    wit::FetchResult::Unchanged => FetchOutcome::Unchanged,
                    wit::FetchResult::Fetched(rev) => FetchOutcome::Fetched(rev),
                })
                .map_err(convert::source::error))
        })
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
    /// The component file (`<built-in>/NAME.wasm` for a built-in).
    pub file: PathBuf,
    /// Whether it ships inside weir.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub builtin: bool,
    /// Whether this file overrides a built-in plugin of the same name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overrides_builtin: bool,
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
    match std::fs::read(path) {
        Ok(bytes) => inspect_bytes(path, &bytes, limits),
        Err(e) => {
            let mut info = inspect_bytes(path, &[], limits);
            info.refused = Some(Refused {
                by: manifest::Side::Plugin,
                message: format!("cannot read {}: {e}", path.display()),
            });
            info
        }
    }
}

/// [`inspect`] for a built-in plugin.
pub fn inspect_builtin(builtin: &Builtin, limits: &EffectiveLimits) -> PluginInfo {
    let mut info = inspect_bytes(&builtin.pseudo_path(), &builtin.bytes, limits);
    info.builtin = true;
    info
}

fn inspect_bytes(path: &Path, bytes: &[u8], limits: &EffectiveLimits) -> PluginInfo {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let name = name.strip_suffix(".wasm").unwrap_or(&name).to_owned();
    let mut info = PluginInfo {
        file: path.to_owned(),
        builtin: false,
        overrides_builtin: false,
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
    info.size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    info.sha256 = sha256_hex(bytes);
    let found = match manifest::read(path, bytes) {
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
    list_with_builtins(Some(dir), &[], limits)
}

/// [`list`] plus the built-in plugins: every `*.wasm` in `dir` (when
/// given; a missing directory lists none), and each built-in that no file
/// overrides, in name order.
///
/// # Errors
/// When `dir` exists but cannot be listed.
pub fn list_with_builtins(
    dir: Option<&Path>,
    builtins: &[Builtin],
    limits: impl Fn(&str) -> EffectiveLimits,
) -> std::io::Result<Vec<PluginInfo>> {
    let mut files = Vec::new();
    if let Some(dir) = dir {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    let path = entry?.path();
                    if path.extension().is_some_and(|e| e == "wasm") {
                        files.push(path);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !builtins.is_empty() => {}
            Err(e) => return Err(e),
        }
    }
    let mut out: Vec<PluginInfo> = files
        .iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut info = inspect(path, &limits(&name));
            info.overrides_builtin = builtins.iter().any(|b| b.name == name);
            info
        })
        .collect();
    for b in builtins {
        if !out.iter().any(|i| i.name == b.name) {
            out.push(inspect_builtin(b, &limits(&b.name)));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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
