//! A release's user values (`valuesFiles` ← `valuesFrom` ← `values`) and
//! the chart as Helm stores it in a release record.

use std::io::Read;
use std::path::Path;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::{Map, Value};
use weir_config::helm::{HelmRelease, Values, ValuesKind, ValuesReference};

use crate::decrypt::{DecryptContext, load_keys};
use crate::plugin::{DecryptFormat, DecryptRequest};
use crate::reconcile::StepError;
use crate::source::Artifact;
use crate::status::Reason;

fn failed(hr: &HelmRelease, message: String, transient: bool) -> StepError {
    StepError {
        reason: Reason::BuildFailed,
        message: format!("release {:?}: values: {message}", hr.name.as_str()),
        transient,
    }
}

/// Merges `over` into `base` as Helm merges user values files: maps merge
/// key by key, anything else replaces.
pub fn merge(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A YAML document of values as a map (an empty document is an empty map).
fn parse_values(text: &str) -> Result<Map<String, Value>, String> {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err("is not a map of values".into()),
        Err(e) => Err(format!("is not valid YAML: {e}")),
    }
}

/// Sets `value` at `path` (`a.b.c`, `a.b[0]`, with `\.` for a literal
/// dot), as Flux's `targetPath` does.
fn set_path(values: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                cur.push('.');
                chars.next();
            }
            '.' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    if parts.iter().any(String::is_empty) {
        return Err(format!("targetPath {path:?} has an empty segment"));
    }
    let mut node = values;
    let last = parts.len() - 1;
    for (i, p) in parts.iter().enumerate() {
        if p.contains('[') {
            return Err(format!(
                "targetPath {path:?}: list indexes are not supported; use a map path"
            ));
        }
        if i == last {
            node.insert(p.clone(), value);
            return Ok(());
        }
        let entry = node
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        node = match entry {
            Value::Object(m) => m,
            _ => return Err(format!("targetPath {path:?}: {p:?} is not a map")),
        };
    }
    Ok(())
}

/// The user values of `hr`: its `valuesFiles` (decrypted when
/// SOPS-encrypted), then `valuesFrom`, then `values`, merged in that order.
///
/// # Errors
/// [`Reason::BuildFailed`] naming the file, object or key and the cause.
pub async fn compose(
    hr: &HelmRelease,
    artifact: &Artifact,
    decryption: &DecryptContext,
    cluster: &crate::apply::Cluster,
) -> Result<Map<String, Value>, StepError> {
    let mut values = Map::new();
    for f in &hr.values_files {
        let path = artifact.dir.join(f);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| failed(hr, format!("valuesFiles {f:?}: cannot read it: {e}"), false))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| failed(hr, format!("valuesFiles {f:?} is not UTF-8 text"), false))?;
        let mut map =
            parse_values(&text).map_err(|m| failed(hr, format!("valuesFiles {f:?} {m}"), false))?;
        if map.get("sops").is_some_and(Value::is_object) {
            map = decrypt_file(hr, f, &text, decryption).await?;
        }
        merge(&mut values, map);
    }
    for r in &hr.values_from {
        if let Some(text) = read_reference(hr, r, cluster).await? {
            match &r.target_path {
                Some(p) => set_path(&mut values, p, Value::String(text)).map_err(|m| {
                    failed(hr, format!("valuesFrom {}: {m}", describe(hr, r)), false)
                })?,
                None => {
                    let map = parse_values(&text).map_err(|m| {
                        failed(
                            hr,
                            format!("valuesFrom {} key {:?} {m}", describe(hr, r), r.key()),
                            true,
                        )
                    })?;
                    merge(&mut values, map);
                }
            }
        }
    }
    match &hr.values {
        Some(Values::Table(t)) => {
            let v = serde_json::to_value(t)
                .map_err(|e| failed(hr, format!("values cannot be converted: {e}"), false))?;
            if let Value::Object(m) = v {
                merge(&mut values, m);
            }
        }
        Some(Values::Yaml(text)) => {
            let m = parse_values(text).map_err(|m| failed(hr, format!("values {m}"), false))?;
            merge(&mut values, m);
        }
        None => {}
    }
    Ok(values)
}

/// [`compose`] without a cluster or keys: encrypted files and `valuesFrom`
/// are skipped, each with a note.
pub fn offline(
    hr: &HelmRelease,
    artifact_dir: &Path,
) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut values = Map::new();
    let mut notes = Vec::new();
    for f in &hr.values_files {
        let text = std::fs::read_to_string(artifact_dir.join(f))
            .map_err(|e| format!("valuesFiles {f:?}: cannot read it: {e}"))?;
        let map = parse_values(&text).map_err(|m| format!("valuesFiles {f:?} {m}"))?;
        if map.get("sops").is_some_and(Value::is_object) {
            notes.push(format!(
                "valuesFiles {f:?} is SOPS-encrypted and was left out"
            ));
            continue;
        }
        merge(&mut values, map);
    }
    for r in &hr.values_from {
        notes.push(format!(
            "valuesFrom {} was left out (it lives in the cluster)",
            describe(hr, r)
        ));
    }
    match &hr.values {
        Some(Values::Table(t)) => {
            if let Ok(Value::Object(m)) = serde_json::to_value(t) {
                merge(&mut values, m);
            }
        }
        Some(Values::Yaml(text)) => merge(
            &mut values,
            parse_values(text).map_err(|m| format!("values {m}"))?,
        ),
        None => {}
    }
    Ok((values, notes))
}

fn describe(hr: &HelmRelease, r: &ValuesReference) -> String {
    format!(
        "{}/{}/{}",
        r.kind,
        r.namespace
            .as_ref()
            .map_or_else(|| hr.namespace(), |n| n.as_str()),
        r.name
    )
}

/// The text of a `valuesFrom` key; `None` when it is missing and optional.
async fn read_reference(
    hr: &HelmRelease,
    r: &ValuesReference,
    cluster: &crate::apply::Cluster,
) -> Result<Option<String>, StepError> {
    let ns = r
        .namespace
        .as_ref()
        .map_or_else(|| hr.namespace(), |n| n.as_str());
    let what = describe(hr, r);
    let client = cluster.client().clone();
    let data: Option<Option<String>> =
        match r.kind {
            ValuesKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(client, ns);
                let cm = api.get_opt(&r.name).await.map_err(|e| {
                    failed(hr, format!("valuesFrom {what}: cannot read it: {e}"), true)
                })?;
                cm.map(|cm| cm.data.unwrap_or_default().get(r.key()).cloned())
            }
            ValuesKind::Secret => {
                let api: Api<Secret> = Api::namespaced(client, ns);
                let s = api.get_opt(&r.name).await.map_err(|e| {
                    failed(hr, format!("valuesFrom {what}: cannot read it: {e}"), true)
                })?;
                match s {
                    None => None,
                    Some(s) => match s.data.unwrap_or_default().get(r.key()) {
                        None => Some(None),
                        Some(b) => Some(Some(String::from_utf8(b.0.clone()).map_err(|_| {
                            failed(
                                hr,
                                format!("valuesFrom {what} key {:?} is not UTF-8 text", r.key()),
                                false,
                            )
                        })?)),
                    },
                }
            }
        };
    match data {
        Some(Some(text)) => Ok(Some(text)),
        _ if r.optional => Ok(None),
        None => Err(failed(
            hr,
            format!("valuesFrom {what} does not exist (set optional = true to go on without it)"),
            true,
        )),
        Some(None) => Err(failed(
            hr,
            format!("valuesFrom {what} has no key {:?}", r.key()),
            true,
        )),
    }
}

/// Decrypts a SOPS-encrypted values file with the release's decryptor.
async fn decrypt_file(
    hr: &HelmRelease,
    file: &str,
    text: &str,
    ctx: &DecryptContext,
) -> Result<Map<String, Value>, StepError> {
    let fail = |message: String, transient: bool| StepError {
        reason: Reason::DecryptionFailed,
        message: format!(
            "release {:?}: valuesFiles {file:?}: {message}",
            hr.name.as_str()
        ),
        transient,
    };
    let Some(config) = &hr.decryption else {
        return Err(fail(
            "the file is SOPS-encrypted but the release has no `decryption`".into(),
            false,
        ));
    };
    let Some(registry) = &ctx.decryptors else {
        return Err(fail("no decryptor plugins are available".into(), false));
    };
    let decryptor = registry
        .decryptor(config.provider.as_str())
        .map_err(|e| fail(e.to_string(), false))?;
    let keys = load_keys(config, ctx).await?;
    let name = file.to_owned();
    let data = text.as_bytes().to_vec();
    let plain = tokio::task::spawn_blocking(move || {
        decryptor.decrypt(&DecryptRequest {
            name: &name,
            format: DecryptFormat::Yaml,
            data: &data,
            keys: &keys,
        })
    })
    .await
    .map_err(|e| fail(format!("decryptor task failed: {e}"), true))?
    .map_err(|e| fail(e.to_string(), e.kind.is_transient()))?;
    let plain =
        String::from_utf8(plain).map_err(|_| fail("decrypted text is not UTF-8".into(), false))?;
    parse_values(&plain).map_err(|m| fail(format!("decrypted file {m}"), false))
}

/// Every file under `dir` as (path relative to `root`, bytes); a file
/// given as `dir` is itself.
pub fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    if dir.is_file() {
        if let Ok(b) = std::fs::read(dir) {
            let rel = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((rel, b));
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            let rel = p
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            out.push((rel, b));
        }
    }
}

/// The chart's files as (path inside the chart, bytes), from a directory
/// or a `.tgz` (whose entries start with the chart's directory).
fn chart_files(chart: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    if chart.is_dir() {
        let mut files = Vec::new();
        walk(chart, chart, &mut files);
        files.sort();
        return Ok(files);
    }
    let file = std::fs::File::open(chart).map_err(|e| format!("cannot read it: {e}"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("not a chart archive: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("not a chart archive: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("not a chart archive: {e}"))?
            .to_string_lossy()
            .into_owned();
        let inside = path
            .split_once('/')
            .map_or(path.as_str(), |x| x.1)
            .to_owned();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("not a chart archive: {e}"))?;
        files.push((inside, bytes));
    }
    files.sort();
    Ok(files)
}

/// The chart's name from `Chart.yaml`, else the directory's or file's name.
pub fn chart_name(chart: &Path) -> String {
    chart_files(chart)
        .ok()
        .and_then(|files| {
            files
                .into_iter()
                .find(|(p, _)| p == "Chart.yaml")
                .and_then(|(_, b)| serde_yaml_ng::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_owned))
        })
        .unwrap_or_else(|| {
            chart
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

/// The chart as Helm stores it in a release: `metadata` (Chart.yaml),
/// `templates` and `files` (base64), `values` (values.yaml), `schema`.
/// Subcharts are not stored, as in Helm.
///
/// # Errors
/// The chart cannot be read or has no valid `Chart.yaml`.
pub fn chart_record(chart: &Path) -> Result<Value, String> {
    let files = chart_files(chart)?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut metadata = None;
    let mut values = Value::Null;
    let mut schema = Value::Null;
    let mut templates = Vec::new();
    let mut other = Vec::new();
    for (p, b) in &files {
        match p.as_str() {
            "Chart.yaml" => {
                metadata = Some(
                    serde_yaml_ng::from_slice::<Value>(b)
                        .map_err(|e| format!("Chart.yaml is not valid YAML: {e}"))?,
                );
            }
            "values.yaml" => {
                values = serde_yaml_ng::from_slice::<Value>(b)
                    .map_err(|e| format!("values.yaml is not valid YAML: {e}"))?;
            }
            "values.schema.json" => schema = Value::from(b64(b)),
            p if p.starts_with("charts/") || p == "Chart.lock" || p == "requirements.yaml" => {}
            p if p.starts_with("templates/") => {
                templates.push(serde_json::json!({"name": p, "data": b64(b)}));
            }
            p => other.push(serde_json::json!({"name": p, "data": b64(b)})),
        }
    }
    let metadata = metadata.ok_or("no Chart.yaml")?;
    Ok(serde_json::json!({
        "metadata": metadata,
        "lock": null,
        "templates": templates,
        "values": values,
        "schema": schema,
        "files": if other.is_empty() { Value::Null } else { Value::Array(other) },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn later_values_merge_over_earlier_ones_key_by_key() {
        let mut base = map(json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "x": 1}));
        merge(
            &mut base,
            map(json!({"a": {"c": 3, "d": 4}, "l": [3], "x": null})),
        );
        assert_eq!(
            Value::Object(base),
            json!({"a": {"b": 1, "c": 3, "d": 4}, "l": [3], "x": null})
        );
    }

    #[test]
    fn target_paths_set_nested_keys_and_escaped_dots() {
        let mut v = map(json!({"a": {"keep": 1}}));
        set_path(&mut v, "a.b.c", json!("s")).expect("sets");
        set_path(&mut v, r"ann.example\.com/x", json!("t")).expect("sets");
        assert_eq!(
            Value::Object(v.clone()),
            json!({"a": {"keep": 1, "b": {"c": "s"}}, "ann": {"example.com/x": "t"}})
        );
        assert!(set_path(&mut v, "a..b", json!(1)).is_err());
        assert!(set_path(&mut v, "a[0]", json!(1)).is_err());
    }

    #[test]
    fn chart_records_hold_metadata_templates_and_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = dir.path();
        std::fs::create_dir_all(c.join("templates")).expect("mkdir");
        std::fs::create_dir_all(c.join("charts/sub")).expect("mkdir");
        std::fs::write(
            c.join("Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 1.2.3\n",
        )
        .expect("write");
        std::fs::write(c.join("values.yaml"), "replicas: 2\n").expect("write");
        std::fs::write(c.join("templates/cm.yaml"), "kind: ConfigMap\n").expect("write");
        std::fs::write(c.join("charts/sub/Chart.yaml"), "name: sub\n").expect("write");
        std::fs::write(c.join("README.md"), "hi\n").expect("write");
        let r = chart_record(c).expect("record");
        assert_eq!(r["metadata"]["version"], "1.2.3");
        assert_eq!(r["values"], json!({"replicas": 2}));
        assert_eq!(r["templates"][0]["name"], "templates/cm.yaml");
        assert_eq!(r["files"][0]["name"], "README.md");
        assert_eq!(r["files"].as_array().map(Vec::len), Some(1));
        assert_eq!(chart_name(c), "web");
        std::fs::remove_file(c.join("Chart.yaml")).expect("rm");
        assert_eq!(chart_record(c).expect_err("fails"), "no Chart.yaml");
    }

    #[test]
    fn packaged_charts_are_read_from_their_archive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tgz = dir.path().join("web-1.2.3.tgz");
        let file = std::fs::File::create(&tgz).expect("create");
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ));
        for (p, c) in [
            (
                "web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.2.3\n",
            ),
            ("web/templates/cm.yaml", "kind: ConfigMap\n"),
            ("web/charts/sub/Chart.yaml", "name: sub\n"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, p, c.as_bytes()).expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gzip");
        let r = chart_record(&tgz).expect("record");
        assert_eq!(r["metadata"]["name"], "web");
        assert_eq!(r["templates"][0]["name"], "templates/cm.yaml");
        assert_eq!(r["templates"].as_array().map(Vec::len), Some(1));
        assert_eq!(chart_name(&tgz), "web");
        std::fs::write(&tgz, b"not gzip").expect("write");
        assert!(
            chart_record(&tgz)
                .expect_err("fails")
                .starts_with("not a chart archive")
        );
    }
}
