//! `weir`: the command-line entry point.
//!
//! Parses the CLI, loads `weir.toml`, wires the core to its implementations
//! (git source, WebAssembly plugin host, cluster) in [`wiring`], and runs
//! one of the commands. Exit codes: 0 success, 1 a reconcile failed, 2 bad
//! usage or configuration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

mod builtins;
mod get;
mod plugin;
mod wiring;

/// A GitOps engine for Kubernetes with sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    /// The config file.
    #[arg(
        short,
        long,
        global = true,
        env = "WEIR_CONFIG",
        default_value = "weir.toml"
    )]
    config: PathBuf,
    /// Kubeconfig to use instead of `host.kubeconfig`.
    #[arg(long, global = true, env = "WEIR_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Plugins directory to use instead of `host.pluginsDir`.
    #[arg(long, global = true, env = "WEIR_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Output format of commands that print objects or status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable (tables; YAML for `build`).
    Human,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run continuously: fetch sources and reconcile syncs at their intervals.
    Run,
    /// Reconcile every sync (or one, now) once; exit 1 if any failed.
    Reconcile {
        /// Only this sync (its dependencies are not reconciled; their
        /// recorded status decides).
        #[arg(value_name = "NAME", conflicts_with = "sync")]
        name: Option<String>,
        /// Only this sync (same as NAME).
        #[arg(long)]
        sync: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Human)]
        output: Output,
    },
    /// Render a sync's objects exactly as they would be applied, without
    /// touching the cluster, and print them.
    Build {
        /// The sync to render (its source is fetched). Default: the only one.
        #[arg(long, conflicts_with = "dir")]
        sync: Option<String>,
        /// Render this local directory instead of a sync's source.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Renderer for `--dir`. Default: as for a sync, `kustomize` when
        /// the path holds a kustomization file, else `plain`.
        #[arg(long, requires = "dir")]
        renderer: Option<String>,
        /// The path inside `--dir` to render (it may refer to files
        /// elsewhere in `--dir`, as a kustomize overlay does to its base).
        #[arg(long, default_value = "", requires = "dir")]
        path: String,
        /// Output format (human = YAML).
        #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
        output: Output,
    },
    /// Show the status of syncs and sources.
    Get {
        /// What to show.
        #[arg(value_enum, default_value_t = get::What::Syncs)]
        what: get::What,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Human)]
        output: Output,
    },
    /// Inspect plugins: their manifests and what the host config grants.
    /// Works without a config file (default grants).
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon reports progress; one-shot commands only what went wrong.
    let default_level = if matches!(cli.command, Command::Run) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.log_format, default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // `weir build | head` closes the pipe early: not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// An error with its causes, each cause left out when the message before
/// it already says it (most of weir's errors name their cause in their
/// own message, and `{:#}` would print it twice).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Resolves on Ctrl-C or SIGTERM (how Kubernetes stops a pod).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        // kube's client logs every failed request at error level; weir
        // reports them itself, with the object they concern.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!("{default_level},kube_client=off"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// How long `weir reconcile` and a stopping `weir run` wait for queued
/// notifications (their retries included) before exiting.
const NOTIFY_FLUSH_ON_EXIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // A plugin author inspecting a component may have no weir.toml: the
    // default grants apply then.
    let config = if matches!(cli.command, Command::Plugin { .. }) && !cli.config.exists() {
        weir_config::Config::parse("version = 1\n", &cli.config)?
    } else {
        weir_config::Config::load(&cli.config)?
    };
    let config = Arc::new(config);
    let filtered = matches!(
        &cli.command,
        Command::Reconcile { name, sync, .. } if name.is_some() || sync.is_some()
    );
    let overrides = wiring::Overrides {
        kubeconfig: cli.kubeconfig,
        plugins_dir: cli.plugins_dir,
        filtered,
    };
    match cli.command {
        Command::Run => {
            let engine = wiring::engine(&config, &overrides).await?;
            let receiver = match config.host.receiver_address {
                Some(addr) if !config.receiver.is_empty() => {
                    let receivers = Arc::new(weir_core::receiver::Receivers::load(&config)?);
                    let e = Arc::clone(&engine);
                    let trigger: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |source: &str| {
                        e.trigger(source);
                    });
                    // Bound before the engine starts, so a bad address
                    // fails the start instead of a background task.
                    let listener = weir_core::receiver::Receivers::bind(addr).await?;
                    Some(tokio::spawn(receivers.serve(listener, trigger)))
                }
                _ => None,
            };
            tracing::info!(
                syncs = config.sync.len(),
                sources = config.git.len() + config.source.len(),
                cluster = config.cluster_name(),
                "weir running"
            );
            Arc::clone(&engine).run(shutdown_signal()).await;
            if let Some(r) = receiver {
                r.abort();
            }
            if let Some(n) = engine.notifications()
                && !n.flush(NOTIFY_FLUSH_ON_EXIT).await
            {
                tracing::warn!("notifications still pending at exit were dropped");
            }
            let (requests, writes) = weir_core::apply::api_request_counts();
            tracing::info!(requests, writes, "kubernetes api requests");
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile { name, sync, output } => {
            let config = match name.as_ref().or(sync.as_ref()) {
                Some(name) => Arc::new(wiring::only_sync(&config, name)?),
                None => config,
            };
            let engine = wiring::engine(&config, &overrides).await?;
            let statuses = engine.reconcile_once().await;
            let (requests, writes) = weir_core::apply::api_request_counts();
            tracing::info!(requests, writes, "kubernetes api requests");
            get::print_syncs(&statuses, output)?;
            // The notifications this pass produced go out before the
            // process ends (retries included, within limits).
            if let Some(n) = engine.notifications()
                && !n.flush(NOTIFY_FLUSH_ON_EXIT).await
            {
                tracing::warn!("notifications still pending at exit were dropped");
            }
            // A source that failed this pass fails the command too, even
            // when its syncs applied its last good artifact.
            let mut sources_ok = true;
            for (name, message) in get::failing_sources(&config) {
                eprintln!(
                    "source {name:?} failed: {message} (its syncs used its last good artifact, if it has one)"
                );
                sources_ok = false;
            }
            let ok = sources_ok && statuses.iter().all(|s| s.ready);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Build {
            sync,
            dir,
            renderer,
            path,
            output,
        } => {
            let objects = wiring::build(
                &config,
                &overrides,
                sync.as_deref(),
                dir.as_deref().map(|d| (d, path.as_str())),
                renderer.as_deref(),
            )
            .await?;
            get::print_objects(&objects, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Get { what, output } => {
            get::print_status(&config, what, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin { command } => {
            let dir = overrides
                .plugins_dir
                .clone()
                .unwrap_or_else(|| config.plugins_dir());
            plugin::run(&config, &dir, command)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(weir_config::ConfigError::Read {
            path: "weir.toml".into(),
            source: io,
        });
        assert_eq!(
            describe(&e),
            "cannot read config file weir.toml: no such file"
        );
        let e = anyhow::anyhow!("inner cause").context("outer step");
        assert_eq!(describe(&e), "outer step: inner cause");
    }
}
