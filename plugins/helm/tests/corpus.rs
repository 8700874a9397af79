//! Differential test: every chart under `testdata/corpus/` rendered by this
//! crate and by the real Helm SDK (the oracle, `scripts/oracles/helm.sh`),
//! compared byte for byte (`helm template --include-crds` text), or both
//! failing.
//!
//! Cases that do not match yet are listed, with their diff, in
//! `testdata/known-gaps.md` (one `## case` heading each). The test fails on
//! a mismatch that is not listed and on a listed case that now matches, so
//! the list stays true. Rewrite the list from the current mismatches with
//!
//!     WEIR_HELM_BLESS_GAPS=1 cargo test --test corpus
//!
//! (never to hide a regression: review its diff).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as J;

fn oracle_python() -> PathBuf {
    if let Ok(p) = std::env::var("WEIR_HELM_ORACLE_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("WEIR_CACHE").unwrap_or_else(|_| "/var/cache/weir".into());
    Path::new(&cache).join("oracles/helm/bin/python")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn cases() -> Vec<PathBuf> {
    let dir = root().join("testdata/corpus");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn ours(case: &Path) -> Result<String, String> {
    let mut opts = weir_plugin_helm::Options::default();
    if let Ok(text) = std::fs::read_to_string(case.join("case.json")) {
        let j: J = serde_json::from_str(&text).map_err(|e| format!("case.json: {e}"))?;
        if let Some(s) = j.get("releaseName").and_then(J::as_str) {
            opts.release_name = s.into();
        }
        if let Some(s) = j.get("namespace").and_then(J::as_str) {
            opts.namespace = s.into();
        }
    }
    if let Ok(text) = std::fs::read_to_string(case.join("values.yaml")) {
        match weir_plugin_helm::yaml::parse_json(&text) {
            Ok(J::Object(m)) => opts.values = m,
            Ok(_) => {}
            Err(e) => return Err(format!("values.yaml: {e}")),
        }
    }
    let chart = if case.join("chart").exists() {
        case.join("chart")
    } else {
        case.join("chart.tgz")
    };
    weir_plugin_helm::render_chart(&chart, &opts)
        .map(|r| r.text())
        .map_err(|e| e.to_string())
}

/// A line diff (`-` oracle, `+` ours), from the longest common subsequence.
fn diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut l = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || l[i][j + 1] >= l[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// `file:line` from a Helm error (`template: x/templates/a.yaml:7:15: …`,
/// `parse error at (x/templates/a.yaml:7): …`).
fn error_location(e: &str) -> Option<String> {
    let idx = e.find("/templates/")?;
    let start = e[..idx].rfind([' ', '(', '\n']).map(|i| i + 1).unwrap_or(0);
    let rest = &e[start..];
    let colon = rest.find(':')?;
    let line: String = rest[colon + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if line.is_empty() {
        return None;
    }
    Some(format!("{}:{line}", &rest[..colon]))
}

fn known_gaps(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn corpus_matches_helm() {
    let python = oracle_python();
    assert!(
        python.exists(),
        "the Helm oracle is not installed at {}: run `eval \"$(bash scripts/oracles/helm.sh)\"` (or set WEIR_HELM_ORACLE_PYTHON)",
        python.display()
    );
    let mut cases = cases();
    // WEIR_HELM_CASES=a,b narrows the run while working on those cases.
    let only = std::env::var("WEIR_HELM_CASES").ok();
    if let Some(only) = &only {
        let names: Vec<&str> = only.split(',').collect();
        cases.retain(|c| {
            c.file_name()
                .is_some_and(|n| names.contains(&&*n.to_string_lossy()))
        });
    } else {
        assert!(
            cases.len() >= 40,
            "the corpus should have at least 40 charts, has {}",
            cases.len()
        );
    }
    let out = Command::new(&python)
        .arg(root().join("tests/oracle.py"))
        .args(&cases)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the oracle {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "the oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oracle: BTreeMap<String, J> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("oracle output is not JSON: {e}"));

    let gaps_file = root().join("testdata/known-gaps.md");
    let gaps = known_gaps(&gaps_file);
    let mut mismatches: BTreeMap<String, String> = BTreeMap::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let want = &oracle[&name];
        let got = ours(case);
        let problem = match (
            want.get("text").and_then(J::as_str),
            want.get("error").and_then(J::as_str),
            &got,
        ) {
            (Some(w), _, Ok(g)) if w == g => None,
            (Some(w), _, Ok(g)) => Some(diff(w, g)),
            (Some(_), _, Err(e)) => Some(format!("helm rendered it; weir failed: {e}\n")),
            (None, Some(e), Err(ours)) => match error_location(e) {
                // Both fail; where Helm names a file and line, so must we.
                Some(at) if !ours.contains(&at) => Some(format!(
                    "both fail, but weir's error does not name {at}:\n  helm: {e}\n  weir: {ours}\n"
                )),
                _ => {
                    println!("{name}: both fail as expected ({e})");
                    None
                }
            },
            (None, Some(e), Ok(_)) => Some(format!("helm failed ({e}); weir rendered it\n")),
            _ => Some(format!("unexpected oracle answer: {want}\n")),
        };
        if let Some(p) = problem {
            mismatches.insert(name, p);
        }
    }

    if std::env::var("WEIR_HELM_BLESS_GAPS").is_ok() && only.is_none() {
        let mut text = String::from(
            "# Known gaps of the helm renderer\n\nCorpus cases whose output differs from Helm's (`-` Helm, `+` weir).\nRead by tests/corpus.rs; regenerate with `WEIR_HELM_BLESS_GAPS=1 cargo test --test corpus`.\n",
        );
        for (name, d) in &mismatches {
            text.push_str(&format!("\n## {name}\n\n```diff\n{d}```\n"));
        }
        std::fs::write(&gaps_file, text).unwrap_or_else(|e| panic!("{}: {e}", gaps_file.display()));
        return;
    }

    let mut report = String::new();
    for (name, d) in &mismatches {
        if !gaps.contains(name) {
            report.push_str(&format!(
                "\n=== {name}: differs from helm (not a known gap)\n{d}"
            ));
        }
    }
    for g in &gaps {
        let ran = cases.iter().any(|c| {
            c.file_name()
                .is_some_and(|n| n.to_string_lossy() == g.as_str())
        });
        if ran && !mismatches.contains_key(g) {
            report.push_str(&format!(
                "\n=== {g}: listed in testdata/known-gaps.md but now matches helm: remove it from the list\n"
            ));
        }
    }
    assert!(report.is_empty(), "{report}");
    println!(
        "{} cases: {} match helm, {} known gaps",
        cases.len(),
        cases.len() - mismatches.len(),
        mismatches.len()
    );
}
