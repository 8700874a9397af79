//! The differential test: every case under `testdata/` is built with the
//! library and with `kubectl kustomize`, and the two outputs must be equal
//! byte for byte (after trailing-newline normalisation).
//!
//! A case is a directory `testdata/<case>/`, the build root. It builds `.`
//! unless a `build-path` file names another directory inside it (for
//! base/overlay layouts). A case with an `expected-error` file (a regular
//! expression) must fail in both: kubectl with any error, the library with a
//! message matching the expression.
//!
//! The reference: kubectl, run live when it is on the PATH; its output is
//! cached in `<case>/expected.yaml` for machines without it, and a stale
//! cache fails the test. `BLESS=1` rewrites the caches from kubectl.
//!
//! Known gaps: `testdata/known-gaps.txt` lists the cases that do not match
//! yet, each with its diff. An unlisted mismatch fails, and so does a listed
//! case that now matches (so the list stays true). `BLESS_GAPS=1` rewrites
//! the list from the current mismatches (review it before committing).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// kubectl's output (Ok) or its error (Err).
fn kubectl(dir: &Path) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The directory a case builds, relative to the case (`build-path`, or `.`).
fn build_path(case: &Path) -> String {
    std::fs::read_to_string(case.join("build-path"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| ".".into())
}

fn case_dir(case: &Path) -> PathBuf {
    case.join(build_path(case))
}

fn norm(s: &str) -> String {
    let mut t = s.trim_end_matches('\n').to_string();
    t.push('\n');
    t
}

/// A minimal line diff (the first lines that differ, with context).
fn diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = String::new();
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let start = first.saturating_sub(2);
    for i in start..(first + 8).min(w.len().max(g.len())) {
        match (w.get(i), g.get(i)) {
            (Some(a), Some(b)) if a == b => {
                let _ = writeln!(out, "  {a}");
            }
            (a, b) => {
                if let Some(a) = a {
                    let _ = writeln!(out, "- {a}");
                }
                if let Some(b) = b {
                    let _ = writeln!(out, "+ {b}");
                }
            }
        }
    }
    out
}

fn read_gaps(path: &Path) -> BTreeMap<String, String> {
    let mut gaps = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return gaps;
    };
    let mut cur: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            if let Some((n, d)) = cur.take() {
                gaps.insert(n, d);
            }
            cur = Some((name.trim().to_string(), String::new()));
        } else if let Some((_, d)) = cur.as_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    if let Some((n, d)) = cur {
        gaps.insert(n, d);
    }
    gaps
}

#[test]
fn every_case_matches_kubectl_kustomize() {
    let root = testdata();
    let bless = std::env::var_os("BLESS").is_some();
    let bless_gaps = std::env::var_os("BLESS_GAPS").is_some();
    let live = kubectl_available();
    if bless && !live {
        panic!("BLESS=1 needs kubectl on the PATH");
    }
    let gaps_file = root.join("known-gaps.txt");
    let gaps = read_gaps(&gaps_file);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("testdata")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the corpus is missing");

    // kubectl takes a few hundred milliseconds per case: run it for all
    // cases up front, on a few threads.
    let reference: Vec<Option<Result<String, String>>> = if live {
        let build_dirs: Vec<PathBuf> = cases.iter().map(|c| case_dir(c)).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<Result<String, String>>>> = build_dirs
            .iter()
            .map(|_| std::sync::Mutex::new(None))
            .collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(dir) = build_dirs.get(i) else { break };
                        let out = kubectl(dir);
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(out);
                        }
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|m| m.into_inner().ok().flatten())
            .collect()
    } else {
        cases.iter().map(|_| None).collect()
    };

    let mut failures = Vec::new();
    let mut mismatches: BTreeMap<String, String> = BTreeMap::new();
    let mut matched = 0;
    for (case, reference) in cases.iter().zip(reference) {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let build_path = build_path(case);
        let ours = weir_plugin_kustomize::build(case, &build_path, &Default::default())
            .map(|r| weir_plugin_kustomize::to_yaml(&r));
        let expected_error = std::fs::read_to_string(case.join("expected-error"))
            .ok()
            .map(|s| s.trim().to_string());
        let cache = case.join("expected.yaml");

        if let Some(pattern) = expected_error {
            if live && let Some(Ok(out)) = &reference {
                failures.push(format!(
                    "{name}: has expected-error but kubectl succeeds:\n{}",
                    out.lines().take(5).collect::<Vec<_>>().join("\n")
                ));
                continue;
            }
            let re = regex::Regex::new(&pattern).expect("expected-error is a regex");
            match ours {
                Err(e) if re.is_match(&e.to_string()) => matched += 1,
                Err(e) => {
                    mismatches.insert(name, format!("error {e:?} does not match /{pattern}/\n"));
                }
                Ok(_) => {
                    mismatches.insert(name, format!("built, but kubectl fails (/{pattern}/)\n"));
                }
            }
            continue;
        }

        let want = if live {
            match reference.unwrap_or_else(|| Err("kubectl did not run".into())) {
                Ok(out) => {
                    let out = norm(&out);
                    let cached = std::fs::read_to_string(&cache).ok().map(|c| norm(&c));
                    if bless {
                        std::fs::write(&cache, &out).expect("write expected.yaml");
                    } else if cached.as_deref() != Some(out.as_str()) {
                        failures.push(format!(
                            "{name}: expected.yaml is stale or missing: run BLESS=1 cargo test"
                        ));
                    }
                    out
                }
                Err(e) => {
                    failures.push(format!(
                        "{name}: kubectl fails but the case has no expected-error: {e}"
                    ));
                    continue;
                }
            }
        } else {
            match std::fs::read_to_string(&cache) {
                Ok(c) => norm(&c),
                Err(_) => {
                    failures.push(format!("{name}: no expected.yaml and no kubectl"));
                    continue;
                }
            }
        };
        match ours {
            Ok(got) if norm(&got) == want => matched += 1,
            Ok(got) => {
                mismatches.insert(name, diff(&want, &norm(&got)));
            }
            Err(e) => {
                mismatches.insert(name, format!("+ error: {e}\n{}", diff(&want, "")));
            }
        }
    }

    if bless_gaps {
        let mut text = String::from(
            "# Cases that do not match kubectl kustomize yet, each with its diff\n\
             # (- kubectl, + weir). Read by tests/differential.rs; regenerate with\n\
             # BLESS_GAPS=1 cargo test --test differential, and review.\n",
        );
        for (n, d) in &mismatches {
            let _ = write!(text, "\n## {n}\n{d}");
        }
        std::fs::write(&gaps_file, text).expect("write known-gaps.txt");
    } else {
        for (n, d) in &mismatches {
            if !gaps.contains_key(n) {
                failures.push(format!("{n}: differs from kubectl (not a known gap):\n{d}"));
            }
        }
        for n in gaps.keys() {
            if !mismatches.contains_key(n) {
                failures.push(format!(
                    "{n}: listed in known-gaps.txt but matches now: remove it from the list"
                ));
            }
        }
    }
    eprintln!(
        "{} cases: {matched} match, {} known gaps, reference: {}",
        cases.len(),
        mismatches.len(),
        if live {
            "kubectl (live)"
        } else {
            "cached expected.yaml"
        }
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
