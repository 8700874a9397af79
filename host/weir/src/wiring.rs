//! Wires the reconcile core to its implementations: git sources from
//! `weir-git`, renderers from the WebAssembly plugin host, and the cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use weir_config::{Config, Name};
use weir_core::apply::{Cluster, offline_namespaced, settle};
use weir_core::engine::Engine;
use weir_core::object::Object;
use weir_core::plugin::RendererRegistry;
use weir_core::reconcile::render;
use weir_core::source::Source;
use weir_git::GitSource;
use weir_wasm::PluginHost;

/// Command-line overrides of host settings.
pub struct Overrides {
    /// Replaces `host.kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// Replaces `host.pluginsDir`.
    pub plugins_dir: Option<PathBuf>,
}

fn plugin_host(config: &Arc<Config>, o: &Overrides) -> anyhow::Result<Arc<dyn RendererRegistry>> {
    let dir = o
        .plugins_dir
        .clone()
        .unwrap_or_else(|| config.plugins_dir());
    let cache = config.state_dir().join("wasm-cache");
    let limits_config = Arc::clone(config);
    let host = PluginHost::new(&dir, Some(&cache), move |name| {
        limits_config.plugin_limits(name)
    })?;
    Ok(Arc::new(host))
}

fn sources(config: &Config) -> anyhow::Result<BTreeMap<Name, Arc<dyn Source>>> {
    let mut out: BTreeMap<Name, Arc<dyn Source>> = BTreeMap::new();
    for g in &config.git {
        let s = GitSource::new(config, g)
            .with_context(|| format!("git source {:?}", g.name.as_str()))?;
        out.insert(g.name.clone(), Arc::new(s));
    }
    Ok(out)
}

/// An engine for `config`.
pub async fn engine(config: &Arc<Config>, o: &Overrides) -> anyhow::Result<Arc<Engine>> {
    let kubeconfig = o
        .kubeconfig
        .clone()
        .or_else(|| config.host.kubeconfig.as_deref().map(|p| config.resolve(p)));
    let cluster = Cluster::connect(kubeconfig.as_deref()).await?;
    Ok(Arc::new(Engine::new(
        Arc::clone(config),
        sources(config)?,
        plugin_host(config, o)?,
        Arc::new(cluster),
    )))
}

/// `config` with only the sync `name` (and all sources).
pub fn only_sync(config: &Config, name: &str) -> anyhow::Result<Config> {
    let mut c = config.clone();
    c.sync.retain(|s| s.name.as_str() == name);
    if c.sync.is_empty() {
        bail!(
            "{}: no sync named {name:?} (declared: {})",
            config.file.display(),
            names(config)
        );
    }
    Ok(c)
}

fn names(config: &Config) -> String {
    let n: Vec<&str> = config.sync.iter().map(|s| s.name.as_str()).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

/// Renders a sync (fetching its source) or a local directory, without a
/// cluster. A sync's objects are settled exactly as apply settles them
/// (namespace, owner label); a local directory's are printed as rendered.
pub async fn build(
    config: &Arc<Config>,
    o: &Overrides,
    sync: Option<&str>,
    dir: Option<&Path>,
    renderer: &str,
) -> anyhow::Result<Vec<Object>> {
    let plugins = plugin_host(config, o)?;
    if let Some(dir) = dir {
        return render(renderer, "", dir, &plugins)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()));
    }
    let sync = match sync {
        Some(name) => config
            .sync
            .iter()
            .find(|s| s.name.as_str() == name)
            .with_context(|| format!("no sync named {name:?} (declared: {})", names(config)))?,
        None => match config.sync.as_slice() {
            [only] => only,
            _ => bail!(
                "{} declares {} syncs; choose one with --sync (declared: {})",
                config.file.display(),
                config.sync.len(),
                names(config)
            ),
        },
    };
    let repo = config
        .git_source(&sync.source)
        .with_context(|| format!("sync {:?}: source not declared", sync.name.as_str()))?;
    let source = GitSource::new(config, repo)?;
    let artifact = tokio::task::spawn_blocking(move || source.fetch(&AtomicBool::new(false)))
        .await
        .context("fetch task failed")??;
    let mut objects = render(sync.renderer(), &sync.path, &artifact.dir, &plugins).await?;
    let snapshot = objects.clone();
    for obj in &mut objects {
        let namespaced = offline_namespaced(&snapshot, obj);
        settle(
            obj,
            namespaced,
            sync.name.as_str(),
            sync.target_namespace.as_deref(),
        );
    }
    Ok(objects)
}
