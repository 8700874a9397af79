//! `weir plugin list|inspect`: what is in the plugins directory, what each
//! plugin's manifest asks for, and whether this host config grants it. Read
//! without compiling anything, and without a cluster.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use weir_config::Config;
use weir_wasm::PluginInfo;
use weir_wasm::manifest::{Side, size};

use crate::Output;
use crate::get::{print_json, print_yaml, table};

/// `weir plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List every `*.wasm` in the plugins directory and every built-in
    /// plugin: name, origin, kind, versions, capabilities, and whether the
    /// host config grants them (broken files are listed with their problem).
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Human)]
        output: Output,
    },
    /// Show one plugin file in detail: size, digest, manifest, imports and
    /// exports, grants. Exit 1 when this host would refuse it.
    Inspect {
        /// The component (`NAME.wasm`).
        file: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Human)]
        output: Output,
    },
}

/// Runs a `weir plugin` command with `config`'s grants.
pub fn run(config: &Config, dir: &Path, command: PluginCommand) -> anyhow::Result<ExitCode> {
    let limits = |name: &str| config.plugin_limits(name);
    match command {
        PluginCommand::List { output } => {
            let builtins = crate::builtins::all();
            let infos =
                weir_wasm::list_with_builtins(Some(dir), &builtins, limits).map_err(|e| {
                    anyhow::anyhow!("cannot list the plugins directory {}: {e}", dir.display())
                })?;
            match output {
                Output::Json => print_json(&infos)?,
                Output::Yaml => print_yaml(&infos)?,
                Output::Human => print_table(&infos)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Inspect { file, output } => {
            if !file.is_file() {
                anyhow::bail!("no plugin file {}", file.display());
            }
            let name = file
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut info = weir_wasm::inspect(&file, &limits(&name));
            // Dropped into the plugins directory, it would replace the
            // built-in plugin of the same name.
            info.overrides_builtin = crate::builtins::all().iter().any(|b| b.name == name);
            match output {
                Output::Json => print_json(&info)?,
                Output::Yaml => print_yaml(&info)?,
                Output::Human => print_detail(&info)?,
            }
            Ok(if info.granted {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// `memory 64MiB, http a.example b.example`, or `-`.
fn capabilities(info: &PluginInfo) -> String {
    let Some(m) = &info.manifest else {
        return "-".into();
    };
    let mut parts = Vec::new();
    if let Some(mem) = m.capabilities.max_memory {
        parts.push(format!("memory {}", size(mem)));
    }
    if !m.capabilities.http_hosts.is_empty() {
        parts.push(format!("http {}", m.capabilities.http_hosts.join(" ")));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// `yes`, or `no (host): why`.
fn granted(info: &PluginInfo) -> String {
    match &info.refused {
        None => "yes".into(),
        Some(r) => format!("no ({}): {}", side(r.by), r.message),
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Plugin => "plugin",
        Side::Host => "host config",
    }
}

fn print_table(infos: &[PluginInfo]) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = infos
        .iter()
        .map(|i| {
            let field = |f: fn(&weir_wasm::Manifest) -> &str| {
                i.manifest
                    .as_ref()
                    .map(|m| f(m).to_owned())
                    .unwrap_or_else(|| "-".into())
            };
            let origin = if i.builtin {
                "built-in"
            } else if i.overrides_builtin {
                "file (overrides built-in)"
            } else {
                "file"
            };
            vec![
                i.name.clone(),
                origin.to_owned(),
                field(|m| &m.kind),
                field(|m| &m.version),
                field(|m| &m.api),
                capabilities(i),
                granted(i),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "ORIGIN",
            "KIND",
            "VERSION",
            "API",
            "CAPABILITIES",
            "GRANTED",
        ],
        &rows,
    )
}

fn print_detail(i: &PluginInfo) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "file:          {}", i.file.display())?;
    writeln!(out, "name:          {}", i.name)?;
    if i.overrides_builtin {
        writeln!(out, "overrides:     the built-in plugin of that name")?;
    }
    writeln!(out, "size:          {} bytes", i.size)?;
    if !i.sha256.is_empty() {
        writeln!(out, "sha256:        {}", i.sha256)?;
    }
    if let (Some(m), Some(origin)) = (&i.manifest, &i.manifest_origin) {
        writeln!(out, "manifest:      {origin}")?;
        writeln!(out, "  name:        {}", m.name)?;
        writeln!(out, "  kind:        {}", m.kind)?;
        writeln!(out, "  version:     {}", m.version)?;
        writeln!(out, "  api:         {}", m.api)?;
        writeln!(out, "  asks for:    {}", capabilities(i))?;
    }
    match &i.grants {
        Some(g) => {
            writeln!(out, "granted:       yes")?;
            writeln!(out, "  memory cap:  {}", size(g.max_memory))?;
            if !g.http_hosts.is_empty() {
                writeln!(out, "  http hosts:  {}", g.http_hosts.join(", "))?;
            }
        }
        None => writeln!(out, "granted:       {}", granted(i))?,
    }
    for (label, list) in [("imports", &i.imports), ("exports", &i.exports)] {
        if !list.is_empty() {
            writeln!(out, "{label}:")?;
            for item in list {
                writeln!(out, "  {item}")?;
            }
        }
    }
    Ok(())
}
