//! Printing status and objects: tables for people, JSON/YAML for scripts.

use std::io::Write;

use anyhow::Context;
use clap::ValueEnum;
use weir_config::Config;
use weir_core::engine::SourceStatus;
use weir_core::notify::ProviderStatus;
use weir_core::object::Object;
use weir_core::status::{StatusStore, SyncStatus, now_unix};

use crate::Output;

/// What `weir get` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Syncs: revision, readiness, message.
    Syncs,
    /// Sources: URL, revision, readiness.
    Sources,
    /// Per-object actions of each sync's last apply.
    Objects,
    /// Notification providers: deliveries made, failed and dropped.
    Providers,
}

/// Prints the stored status of syncs or sources.
pub fn print_status(config: &Config, what: What, output: Output) -> anyhow::Result<()> {
    let state = config.state_dir();
    match what {
        What::Providers => print_providers(config, output),
        What::Syncs | What::Objects => {
            let store = StatusStore::new(&state);
            let mut statuses = Vec::new();
            for s in &config.sync {
                let st = store
                    .load(s.name.as_str())?
                    .unwrap_or_else(|| SyncStatus::new(s.name.as_str()));
                statuses.push(st);
            }
            if what == What::Objects && output == Output::Human {
                print_objects_table(&statuses)
            } else {
                print_syncs(&statuses, output)
            }
        }
        What::Sources => {
            let mut statuses = Vec::new();
            for g in config.sources() {
                let path = state.join("sources").join(format!("{}.json", g.name));
                let st = match std::fs::read(&path) {
                    Ok(b) => serde_json::from_slice(&b)
                        .with_context(|| format!("{} is corrupt", path.display()))?,
                    Err(_) => SourceStatus {
                        name: g.name.to_string(),
                        url: g.url.to_owned(),
                        ready: false,
                        message: "not fetched yet".into(),
                        artifact: None,
                        last_fetch_at: None,
                    },
                };
                statuses.push(st);
            }
            match output {
                Output::Json => print_json(&statuses),
                Output::Yaml => print_yaml(&statuses),
                Output::Human => {
                    let rows: Vec<Vec<String>> = statuses
                        .iter()
                        .map(|s| {
                            vec![
                                s.name.clone(),
                                s.url.clone(),
                                s.artifact
                                    .as_ref()
                                    .map(|a| a.revision.clone())
                                    .unwrap_or_default(),
                                ready(s.ready),
                                age(s.last_fetch_at),
                                s.message.clone(),
                            ]
                        })
                        .collect();
                    table(
                        &["NAME", "URL", "REVISION", "READY", "FETCHED", "MESSAGE"],
                        &rows,
                    )
                }
            }
        }
    }
}

/// The sources that `config`'s syncs use whose last fetch failed, with the
/// error, from their stored status.
pub fn failing_sources(config: &Config) -> Vec<(String, String)> {
    let dir = config.state_dir().join("sources");
    let mut used: Vec<&str> = config.sync.iter().map(|s| s.source.as_str()).collect();
    used.sort_unstable();
    used.dedup();
    used.into_iter()
        .filter_map(|name| {
            let st: SourceStatus =
                serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).ok()?)
                    .ok()?;
            (!st.ready).then(|| (name.to_owned(), st.message))
        })
        .collect()
}

/// Prints what each provider's deliveries did (`<state>/providers/`).
fn print_providers(config: &Config, output: Output) -> anyhow::Result<()> {
    let dir = config.state_dir().join("providers");
    let mut statuses = Vec::new();
    for p in &config.provider {
        let path = dir.join(format!("{}.json", p.name));
        let st: ProviderStatus = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("{} is corrupt", path.display()))?,
            Err(_) => ProviderStatus {
                name: p.name.to_string(),
                plugin: p.plugin().to_owned(),
                ready: true,
                message: "nothing delivered yet".into(),
                ..ProviderStatus::default()
            },
        };
        statuses.push(st);
    }
    match output {
        Output::Json => print_json(&statuses),
        Output::Yaml => print_yaml(&statuses),
        Output::Human => {
            let rows: Vec<Vec<String>> = statuses
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.plugin.clone(),
                        s.delivered.to_string(),
                        s.failed.to_string(),
                        s.dropped.to_string(),
                        ready(s.ready),
                        age(s.last_delivery_at),
                        s.message.clone(),
                    ]
                })
                .collect();
            table(
                &[
                    "NAME",
                    "PLUGIN",
                    "DELIVERED",
                    "FAILED",
                    "DROPPED",
                    "READY",
                    "LAST",
                    "MESSAGE",
                ],
                &rows,
            )
        }
    }
}

/// Prints sync statuses.
pub fn print_syncs(statuses: &[SyncStatus], output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => print_json(statuses),
        Output::Yaml => print_yaml(statuses),
        Output::Human => {
            let rows: Vec<Vec<String>> = statuses
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.last_applied_revision.clone().unwrap_or_default(),
                        sync_ready(s),
                        s.reason.to_string(),
                        age(s.last_attempt_at),
                        s.message.clone(),
                    ]
                })
                .collect();
            table(
                &["NAME", "REVISION", "READY", "REASON", "AGE", "MESSAGE"],
                &rows,
            )
        }
    }
}

fn print_objects_table(statuses: &[SyncStatus]) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .flat_map(|s| {
            s.changes
                .iter()
                .map(|c| vec![s.name.clone(), c.object.clone(), c.action.to_string()])
        })
        .collect();
    table(&["SYNC", "OBJECT", "ACTION"], &rows)
}

/// Prints rendered objects: YAML documents (`human`/`yaml`) or a JSON list.
pub fn print_objects(objects: &[Object], output: Output) -> anyhow::Result<()> {
    let values: Vec<&serde_json::Map<String, serde_json::Value>> =
        objects.iter().map(|o| &o.data).collect();
    match output {
        Output::Json => print_json(&values),
        Output::Human | Output::Yaml => {
            let mut out = std::io::stdout().lock();
            for v in values {
                writeln!(out, "---")?;
                out.write_all(serde_yaml_ng::to_string(v)?.as_bytes())?;
            }
            Ok(())
        }
    }
}

/// Prints `v` as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Prints `v` as YAML on stdout.
pub(crate) fn print_yaml<T: serde::Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(serde_yaml_ng::to_string(v)?.as_bytes())?;
    Ok(())
}

/// `True`, `False`, `False (stalled)` or `False (retrying)`, or `Unknown`
/// while a reconcile runs, from the sync's conditions.
fn sync_ready(s: &SyncStatus) -> String {
    use weir_core::status::{READY, RECONCILING};
    // Statuses written before conditions existed have only `ready`.
    let Some(ready) = s.condition(READY).map(|c| c.status.as_str()) else {
        return self::ready(s.ready);
    };
    if ready == "False" {
        if s.stalled() {
            return "False (stalled)".into();
        }
        if s.condition(RECONCILING).is_some() {
            return "False (retrying)".into();
        }
    }
    ready.to_owned()
}

fn ready(r: bool) -> String {
    if r { "True" } else { "False" }.to_owned()
}

/// `5s`, `3m`, `2h`, `4d` since a Unix time; `-` when unknown.
fn age(t: Option<u64>) -> String {
    let Some(t) = t else { return "-".into() };
    let d = now_unix().saturating_sub(t);
    match d {
        0..60 => format!("{d}s"),
        60..3600 => format!("{}m", d / 60),
        3600..86400 => format!("{}h", d / 3600),
        _ => format!("{}d", d / 86400),
    }
}

/// Prints a table with columns padded to their widest cell; the last
/// column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: Vec<&str>, out: &mut std::io::StdoutLock<'_>| -> std::io::Result<()> {
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                writeln!(out, "{c}")?;
            } else {
                write!(out, "{c:<w$}   ", w = widths[i])?;
            }
        }
        Ok(())
    };
    line(header.to_vec(), &mut out)?;
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out)?;
    }
    Ok(())
}
