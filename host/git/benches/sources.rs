//! Drives many `GitSource`s for `bench/git.sh`, which compares the figures
//! with `git clone --depth 1` and `git ls-remote` run side by side.
//!
//! ```text
//! sources STATE_DIR URL...
//! ```
//!
//! Makes one source per URL (a URL may repeat: sources on one repository),
//! all in STATE_DIR, fetches each once in order, and prints one line:
//! `seconds=<wall> peak_kib=<VmHWM> fetches=<packs received> connections=<ref listings>`.
//! Run it twice on the same STATE_DIR for a no-change re-check.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use weir_core::source::Source as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let state = args.next().ok_or("usage: sources STATE_DIR URL...")?;
    let urls: Vec<String> = args.collect();
    if urls.is_empty() {
        return Err("usage: sources STATE_DIR URL...".into());
    }
    let mut toml = format!("version = 1\n[host]\nstateDir = \"{state}\"\n");
    for (i, url) in urls.iter().enumerate() {
        toml.push_str(&format!(
            "[[git]]\nname = \"s{i}\"\nurl = \"{url}\"\nref = {{ branch = \"main\" }}\n"
        ));
    }
    let config =
        weir_config::Config::parse(&toml, &std::path::Path::new(&state).join("weir.toml"))?;
    let sources = config
        .git
        .iter()
        .map(|g| weir_git::GitSource::new(&config, g))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    for s in &sources {
        s.fetch(&AtomicBool::new(false))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let fetches: u64 = sources.iter().map(|s| s.pack_fetches()).sum();
    let connections: u64 = sources.iter().map(|s| s.connections()).sum();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!("seconds={seconds:.3} peak_kib={peak} fetches={fetches} connections={connections}");
    Ok(())
}
