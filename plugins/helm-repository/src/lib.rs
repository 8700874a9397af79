//! weir's `helm-repository` source plugin: one chart from a Helm HTTP
//! repository, as Flux's `HelmRepository` + `HelmChart` provide it.
//!
//! The source's `url` is the repository (where `index.yaml` is); settings:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `chart` | required | the chart's name in the index |
//! | `version` | `*` | a semver range in Masterminds syntax (`6.x`, `>=1.2 <2`, `~1.4`); `*` picks the newest release (prereleases only when the range names one) |
//!
//! Secrets: `username` and `password` (basic auth), or `token` (bearer),
//! sent to the repository's host only.
//!
//! The chart (its `.tgz`, checked against the index's `digest`) is
//! unpacked into `/out/<chart>/`, so a release names `chart = "<chart>"`.
//! The revision is `<version>@sha256:<digest>`; when it equals the last
//! one, nothing is downloaded.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use weir_sdk::http::Request;
use weir_sdk::{Error, ErrorKind, FetchRequest, FetchResult, OptionValue};

/// A repository's `index.yaml`, the parts used here.
#[derive(Debug, Deserialize)]
pub struct Index {
    /// Chart versions by chart name.
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<Entry>>,
}

/// One chart version of an index.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// The chart's version.
    pub version: String,
    /// Where the `.tgz` is (absolute, or relative to the repository URL).
    #[serde(default)]
    pub urls: Vec<String>,
    /// `sha256` hex of the `.tgz`, when the index has it.
    #[serde(default)]
    pub digest: Option<String>,
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// Parses an index.
///
/// # Errors
/// Not YAML, or not an index.
pub fn parse_index(text: &str) -> Result<Index, Error> {
    serde_saphyr::from_str(text)
        .map_err(|e| invalid(format!("index.yaml is not a Helm repository index: {e}")))
}

/// The newest entry of `chart` that satisfies `range`.
///
/// # Errors
/// No such chart, a malformed range, or no version in the range (the
/// message lists the newest versions there are).
pub fn pick<'a>(index: &'a Index, chart: &str, range: &str) -> Result<&'a Entry, Error> {
    let entries = index.entries.get(chart).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("chart {chart:?} is not in the repository index"),
        )
    })?;
    let mut best: Option<(&Entry, weir_sdk::semver::Version)> = None;
    for e in entries {
        let Ok(v) = weir_sdk::semver::parse(&e.version) else {
            continue; // Helm ignores versions it cannot parse
        };
        if !weir_sdk::semver::compare(range, &e.version)
            .map_err(|m| invalid(format!("version {range:?}: {m}")))?
        {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|(_, b)| weir_sdk::semver::precedence(&v, b) == std::cmp::Ordering::Greater)
        {
            best = Some((e, v));
        }
    }
    best.map(|(e, _)| e).ok_or_else(|| {
        let mut all: Vec<&str> = entries.iter().map(|e| e.version.as_str()).collect();
        all.truncate(5);
        Error::new(
            ErrorKind::NotFound,
            format!(
                "no version of chart {chart:?} matches {range:?} (the index has {})",
                all.join(", ")
            ),
        )
    })
}

/// `url` resolved against the repository URL `base` (Helm's rule: an
/// absolute URL as is, else relative to the repository).
pub fn resolve(base: &str, url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            url.trim_start_matches('/')
        )
    }
}

fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |x| x.1);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(c.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(c.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(T[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Unpacks a chart archive into `out/<chart>/`, refusing entries that
/// would land outside it.
///
/// # Errors
/// Not a gzipped tar, or an entry with `..` or an absolute path.
pub fn unpack(tgz: &[u8], chart: &str, out: &Path) -> Result<(), Error> {
    let bad = |m: String| invalid(format!("chart archive: {m}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let dest = out.join(chart);
    std::fs::create_dir_all(&dest)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("mkdir: {e}")))?;
    let mut files = 0;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(bad(format!("entry {} leaves the chart", path.display())));
        }
        // Entries start with the chart's directory (`podinfo/Chart.yaml`).
        let inside: std::path::PathBuf = path.components().skip(1).collect();
        if inside.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&inside);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::new(ErrorKind::Internal, format!("mkdir: {e}")))?;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        std::fs::write(&target, bytes)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("write: {e}")))?;
        files += 1;
    }
    if files == 0 {
        return Err(bad("it holds no files".into()));
    }
    Ok(())
}

fn setting<'a>(request: &'a FetchRequest, key: &str) -> Result<Option<&'a str>, Error> {
    match request.settings.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, OptionValue::Str(s))) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("setting {key:?} must be a string"))),
    }
}

fn get(url: &str, request: &FetchRequest, repo: &str) -> Result<Vec<u8>, Error> {
    let mut req = Request::get(url);
    // Credentials go to the repository's host only (Flux's
    // `passCredentials: false`).
    if authority(url) == authority(repo) {
        if let Some(t) = request.secrets.get("token") {
            req = req.header("authorization", &format!("Bearer {t}"));
        } else if let (Some(u), Some(p)) = (
            request.secrets.get("username"),
            request.secrets.get("password"),
        ) {
            req = req.header(
                "authorization",
                &format!("Basic {}", base64(format!("{u}:{p}").as_bytes())),
            );
        }
    }
    let response = req.send()?.error_for_status()?;
    Ok(response.body)
}

/// The plugin.
pub struct HelmRepository;

impl weir_sdk::Source for HelmRepository {
    fn fetch(request: FetchRequest) -> Result<FetchResult, Error> {
        for (k, _) in &request.settings {
            if k != "chart" && k != "version" {
                return Err(invalid(format!(
                    "unknown setting {k:?} (known: chart, version)"
                )));
            }
        }
        let chart = setting(&request, "chart")?
            .ok_or_else(|| invalid("setting \"chart\" is required: the chart's name".into()))?;
        let range = setting(&request, "version")?.unwrap_or("*");
        let repo = request.url.trim_end_matches('/').to_owned();
        let index = get(&format!("{repo}/index.yaml"), &request, &repo)?;
        let index = parse_index(&String::from_utf8_lossy(&index))?;
        let entry = pick(&index, chart, range)?;
        let url = entry.urls.first().ok_or_else(|| {
            invalid(format!(
                "chart {chart:?} {} has no download URL in the index",
                entry.version
            ))
        })?;
        let url = resolve(&repo, url);
        if let Some(d) = &entry.digest {
            let revision = format!("{}@sha256:{d}", entry.version);
            if request.last_revision.as_deref() == Some(revision.as_str()) {
                return Ok(FetchResult::Unchanged);
            }
        }
        let tgz = get(&url, &request, &repo)?;
        let actual = format!("{:x}", Sha256::digest(&tgz));
        if let Some(d) = &entry.digest
            && !d.eq_ignore_ascii_case(&actual)
        {
            return Err(invalid(format!(
                "chart {chart:?} {}: the downloaded archive's sha256 {actual} is not the index's digest {d}",
                entry.version
            )));
        }
        let revision = format!("{}@sha256:{actual}", entry.version);
        if request.last_revision.as_deref() == Some(revision.as_str()) {
            return Ok(FetchResult::Unchanged);
        }
        unpack(&tgz, chart, Path::new(weir_sdk::OUT_ROOT))?;
        Ok(FetchResult::Fetched(revision))
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_source!(HelmRepository, name: "helm-repository", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  web:
    - version: 1.2.0
      urls: [web-1.2.0.tgz]
      digest: aa
    - version: 2.0.0-rc.1
      urls: [https://cdn.example.com/web-2.0.0-rc.1.tgz]
    - version: 1.10.1
      urls: [charts/web-1.10.1.tgz]
    - version: not-a-version
      urls: [x.tgz]
generated: "2026-01-01T00:00:00Z"
"#;

    #[test]
    fn the_newest_version_in_range_wins_and_prereleases_need_asking() {
        let index = parse_index(INDEX).expect("index");
        assert_eq!(pick(&index, "web", "*").expect("pick").version, "1.10.1");
        assert_eq!(pick(&index, "web", "~1.2").expect("pick").version, "1.2.0");
        assert_eq!(
            pick(&index, "web", ">=2.0.0-0").expect("pick").version,
            "2.0.0-rc.1"
        );
        let e = pick(&index, "web", ">=3").expect_err("none");
        assert!(
            e.message
                .contains("no version of chart \"web\" matches \">=3\""),
            "{}",
            e.message
        );
        let e = pick(&index, "api", "*").expect_err("no chart");
        assert!(
            e.message
                .contains("chart \"api\" is not in the repository index"),
            "{}",
            e.message
        );
        assert!(parse_index("entries: [1, 2]").is_err());
    }

    #[test]
    fn urls_resolve_against_the_repository() {
        assert_eq!(
            resolve("http://h/repo/", "charts/a.tgz"),
            "http://h/repo/charts/a.tgz"
        );
        assert_eq!(
            resolve("http://h/repo", "https://cdn/a.tgz"),
            "https://cdn/a.tgz"
        );
        assert_eq!(authority("https://u@h:8/x"), "u@h:8");
        assert_eq!(base64(b"weir:pw"), "d2Vpcjpwdw==");
    }

    fn tgz(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        for (p, c) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, p, c.as_bytes()).expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz")
    }

    #[test]
    fn archives_unpack_under_the_chart_name_and_escapes_are_refused() {
        let out = tempfile::tempdir().expect("tmp");
        let t = tgz(&[
            ("web/Chart.yaml", "name: web\n"),
            ("web/templates/a.yaml", "kind: X\n"),
        ]);
        unpack(&t, "web", out.path()).expect("unpack");
        assert_eq!(
            std::fs::read_to_string(out.path().join("web/templates/a.yaml")).expect("read"),
            "kind: X\n"
        );
        let mut raw = tgz(&[("web/Chart.yaml", "x")]);
        raw.truncate(10);
        assert!(unpack(&raw, "web", out.path()).is_err());
        assert!(unpack(&tgz(&[]), "web", out.path()).is_err());
    }
}
