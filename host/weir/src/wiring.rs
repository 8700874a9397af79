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
use weir_core::notify::{Notifications, SecretReader};
use weir_core::object::Object;
use weir_core::plugin::RenderRequest;
use weir_core::plugin::{DecryptorRegistry, NotifierRegistry, RendererRegistry};
use weir_core::plugin_source::{PluginSource, SourceRegistry};
use weir_core::reconcile::{render, render_request};
use weir_core::source::Source;
use weir_core::status::service_account_user;
use weir_core::substitute::{Undefined, Variables, substitute_objects};
use weir_core::transform::customize;
use weir_git::GitSource;
use weir_wasm::PluginHost;

/// Command-line overrides of host settings.
pub struct Overrides {
    /// Replaces `host.kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// Replaces `host.pluginsDir`.
    pub plugins_dir: Option<PathBuf>,
    /// The config was filtered to some syncs: the others did not leave it,
    /// so they must not be cleaned up as removed.
    pub filtered: bool,
}

fn plugin_host(config: &Arc<Config>, o: &Overrides) -> anyhow::Result<Arc<PluginHost>> {
    let dir = o
        .plugins_dir
        .clone()
        .unwrap_or_else(|| config.plugins_dir());
    let cache = config.state_dir().join("wasm-cache");
    let limits_config = Arc::clone(config);
    let host = PluginHost::new(&dir, Some(&cache), move |name| {
        limits_config.plugin_limits(name)
    })?
    .with_builtins(crate::builtins::all());
    Ok(Arc::new(host))
}

fn sources(
    config: &Config,
    plugins: &Arc<PluginHost>,
    cluster: &Cluster,
) -> anyhow::Result<BTreeMap<Name, Arc<dyn Source>>> {
    let mut out: BTreeMap<Name, Arc<dyn Source>> = BTreeMap::new();
    // Built together, so a source included by others is one object.
    for (name, s) in weir_git::sources(config)? {
        out.insert(name, s as Arc<dyn Source>);
    }
    for p in &config.source {
        let s = PluginSource::new(
            p,
            Arc::clone(plugins) as Arc<dyn SourceRegistry>,
            &config.base_dir,
            &config.state_dir().join("artifacts"),
            Some((cluster.client().clone(), tokio::runtime::Handle::current())),
        );
        out.insert(p.name.clone(), Arc::new(s));
    }
    Ok(out)
}

/// An engine for `config`.
pub async fn engine(config: &Arc<Config>, o: &Overrides) -> anyhow::Result<Arc<Engine>> {
    let kubeconfig = o
        .kubeconfig
        .clone()
        .or_else(|| config.host.kubeconfig.as_deref().map(|p| config.resolve(p)));
    let cluster = Arc::new(Cluster::connect(kubeconfig.as_deref()).await?);
    // A sync with its own cluster or identity gets its own connection;
    // syncs sharing both share one.
    let mut by_target: BTreeMap<(Option<PathBuf>, Option<String>), Arc<Cluster>> = BTreeMap::new();
    let mut targets = BTreeMap::new();
    for s in &config.sync {
        let path = s.kube_config.as_ref().map(|k| config.resolve(&k.path));
        let user = s
            .service_account()
            .map(|(ns, name)| service_account_user(ns, name));
        if path.is_none() && user.is_none() {
            continue;
        }
        let key = (path.clone(), user.clone());
        let c = match by_target.get(&key) {
            Some(c) => Arc::clone(c),
            None => {
                // Without its own kubeconfig, a sync impersonates on the
                // host's cluster, through the host's credentials.
                let path = path.or_else(|| kubeconfig.clone());
                let c = Arc::new(
                    Cluster::connect_as(path.as_deref(), user.as_deref())
                        .await
                        .with_context(|| format!("sync {:?}", s.name.as_str()))?,
                );
                by_target.insert(key, Arc::clone(&c));
                c
            }
        };
        targets.insert(s.name.clone(), c);
    }
    let plugins = plugin_host(config, o)?;
    let mut engine = Engine::new(
        Arc::clone(config),
        sources(config, &plugins, &cluster)?,
        Arc::clone(&plugins) as Arc<dyn RendererRegistry>,
        Arc::clone(&cluster),
    )
    .with_decryptors(Arc::clone(&plugins) as Arc<dyn DecryptorRegistry>)
    .with_targets(targets)
    .collecting_removed(!o.filtered);
    if !config.alert.is_empty() {
        let notifications = Notifications::new(
            config,
            plugins as Arc<dyn NotifierRegistry>,
            SecretReader::new(Some(cluster.client().clone())),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.file.display()))?;
        engine = engine.with_notifications(Arc::new(notifications));
    }
    Ok(Arc::new(engine))
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
/// cluster. A sync's objects are substituted (`postBuild.substitute`; see
/// [`offline_post_build`]) and settled exactly as apply settles them
/// (namespace, owner label); a local directory's are printed as rendered.
/// Encrypted objects are not decrypted: they are printed as rendered,
/// ciphertext and `sops` map included, so `weir build` never prints a
/// secret and needs no keys.
pub async fn build(
    config: &Arc<Config>,
    o: &Overrides,
    sync: Option<&str>,
    dir: Option<(&Path, &str)>,
    renderer: Option<&str>,
) -> anyhow::Result<Vec<Object>> {
    let host = plugin_host(config, o)?;
    let plugins: Arc<dyn RendererRegistry> = Arc::clone(&host) as Arc<dyn RendererRegistry>;
    if let Some((dir, path)) = dir {
        let renderer = renderer.unwrap_or_else(|| {
            weir_config::default_renderer(&dir.join(path.trim_start_matches("./")))
        });
        return render(renderer, path, dir, &plugins)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(path).display()));
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
    let source: Arc<dyn Source> = match (
        config.git_source(&sync.source),
        config.source.iter().find(|p| p.name == sync.source),
    ) {
        (Some(repo), _) => Arc::new(GitSource::new(config, repo)?),
        // Without a cluster connection: a `secretRef` cannot be read here.
        (None, Some(p)) => Arc::new(PluginSource::new(
            p,
            host as Arc<dyn SourceRegistry>,
            &config.base_dir,
            &config.state_dir().join("artifacts"),
            None,
        )),
        (None, None) => bail!("sync {:?}: source not declared", sync.name.as_str()),
    };
    let artifact = tokio::task::spawn_blocking(move || source.fetch(&AtomicBool::new(false)))
        .await
        .context("fetch task failed")??;
    if let Some(hr) = &sync.helm {
        // A release renders with its values, as revision 1 of an install;
        // its hooks and CRDs are printed too.
        let (values, notes) = weir_core::helm::offline_values(hr, &artifact.dir)
            .map_err(|m| anyhow::anyhow!("release {:?}: {m}", sync.name.as_str()))?;
        for n in notes {
            eprintln!(
                "note: release {:?}: {n}: weir build does not read the cluster",
                sync.name.as_str()
            );
        }
        let request = RenderRequest {
            path: hr.chart.clone(),
            options: weir_core::helm::render_options(hr, &values, 1, false),
        };
        let mut objects: Vec<Object> = render_request("helm", request, &artifact.dir, &plugins)
            .await?
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        weir_core::helm::offline_namespace(&mut objects, hr);
        let snapshot = objects.clone();
        for obj in &mut objects {
            let namespaced = offline_namespaced(&snapshot, obj);
            settle(obj, namespaced, sync.name.as_str(), None);
        }
        return Ok(objects);
    }
    let objects = render(
        sync.renderer_in(&artifact.dir),
        &sync.path,
        &artifact.dir,
        &plugins,
    )
    .await?;
    let objects = customize(sync, objects);
    let mut objects = offline_post_build(sync, objects)?;
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

/// `postBuild` without a cluster: inline `substitute` values are applied as
/// a reconcile applies them, but `substituteFrom` objects live in the
/// cluster and are not read. When there are some, a note on stderr says so
/// and references to variables defined nowhere else are printed as written
/// (`${var}`), rather than as the empty strings or strict-mode errors a
/// reconcile would give them.
fn offline_post_build(
    sync: &weir_config::Sync,
    objects: Vec<Object>,
) -> anyhow::Result<Vec<Object>> {
    let Some(pb) = &sync.post_build else {
        return Ok(objects);
    };
    let undefined = if !pb.substitute_from.is_empty() {
        let skipped: Vec<String> = pb.substitute_from.iter().map(ToString::to_string).collect();
        eprintln!(
            "note: sync {:?}: postBuild.substituteFrom was not applied ({}): weir build does not read the cluster; references to variables defined only there are left as written",
            sync.name.as_str(),
            skipped.join(", ")
        );
        Undefined::Keep
    } else if pb.strict {
        Undefined::Error
    } else {
        Undefined::Empty
    };
    let mut vars = Variables::new();
    vars.add_inline(&pb.substitute);
    substitute_objects(objects, &vars, undefined).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("postBuild substitution: {}", all.join("; "))
    })
}
