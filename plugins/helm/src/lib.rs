//! weir's `helm` renderer plugin: renders Helm charts (directories or
//! `.tgz` archives) as `helm template` does, without Helm.
//!
//! Where to start reading: [`render_path`] loads a chart ([`chart`]),
//! processes its values and renders it ([`render`]) with a Go
//! `text/template` engine ([`template`]) and Helm's function map
//! ([`funcs`]); [`encode`] has Go-exact `toYaml`/`toJson`. The WebAssembly
//! export is a thin wrapper at the bottom.
//!
//! Output contract (see `README.md`): objects in Helm's install order —
//! CRDs from `crds/` first, then ordinary manifests sorted by kind, then
//! hooks (documents annotated `helm.sh/hook`, which the host reads to run
//! them apart), `NOTES.txt` excluded.

pub mod chart;
pub mod encode;
pub mod funcs;
pub mod render;
pub mod schema;
pub mod template;
pub mod yaml;

use std::path::Path;

use serde_json::{Map as JMap, Value as J};
use weir_sdk::{Error, ErrorKind, Object, OptionValue, RenderRequest};

pub use render::{Options, Rendered};

/// Builds render options from the request's options:
///
/// - `releaseName` (string, default `release-name`)
/// - `namespace` (string, default `default`)
/// - `values` (string: one JSON or YAML document, the user values already
///   merged by the host)
/// - `kubeVersion` (string, default [`render::DEFAULT_KUBE_VERSION`])
/// - `apiVersions` (list of strings, or one comma-separated string): added
///   to the default `.Capabilities.APIVersions`
/// - `revision` (int, default 1), `isUpgrade` (bool, default false)
///
/// # Errors
/// An option of the wrong type or unparsable values; unknown options.
pub fn options(opts: &[(String, OptionValue)]) -> Result<Options, Error> {
    let mut o = Options::default();
    let bad = |k: &str, want: &str| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("option {k}: expected {want}"),
        )
    };
    for (k, v) in opts {
        match (k.as_str(), v) {
            ("releaseName", OptionValue::Str(s)) => o.release_name = s.clone(),
            ("namespace", OptionValue::Str(s)) => o.namespace = s.clone(),
            ("kubeVersion", OptionValue::Str(s)) => o.kube_version = s.clone(),
            ("values", OptionValue::Str(s)) => {
                o.values = match yaml::parse_json_or_yaml(s) {
                    Ok(J::Object(m)) => m,
                    Ok(J::Null) => JMap::new(),
                    Ok(_) => return Err(bad(k, "a map of values")),
                    Err(e) => {
                        return Err(Error::new(
                            ErrorKind::InvalidInput,
                            format!("option values: {e}"),
                        ));
                    }
                }
            }
            ("apiVersions", OptionValue::Strings(l)) => o.api_versions = l.clone(),
            ("apiVersions", OptionValue::Str(s)) => {
                o.api_versions = s
                    .split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            }
            ("revision", OptionValue::Int(i)) => o.revision = *i,
            ("isUpgrade", OptionValue::Bool(b)) => o.is_upgrade = *b,
            ("releaseName" | "namespace" | "kubeVersion" | "values", _) => {
                return Err(bad(k, "a string"));
            }
            ("apiVersions", _) => return Err(bad(k, "a list of strings")),
            ("revision", _) => return Err(bad(k, "an integer")),
            ("isUpgrade", _) => return Err(bad(k, "a boolean")),
            (other, _) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "unknown option {other:?} (known: releaseName, namespace, values, kubeVersion, apiVersions, revision, isUpgrade)"
                    ),
                ));
            }
        }
    }
    Ok(o)
}

/// Loads and renders the chart at `chart_path` (a directory or `.tgz`).
///
/// # Errors
/// See [`render::RenderError`].
pub fn render_chart(chart_path: &Path, opts: &Options) -> Result<Rendered, render::RenderError> {
    let c = chart::load(chart_path)?;
    render::render(c, opts)
}

/// Renders `rel` (relative to `root`) into objects for the host.
///
/// # Errors
/// Render errors, located at the template file and line when known.
pub fn render_path(root: &Path, rel: &str, opts: &Options) -> Result<Vec<Object>, Error> {
    let rel = rel.trim_matches('/');
    let dir = if rel.is_empty() || rel == "." {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    if !dir.exists() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("chart {rel:?} not found in the artifact"),
        ));
    }
    // Template names start with the chart's name; the artifact path
    // replaces it in locations.
    let locate = |name: &str| -> String {
        let tail = name.split_once('/').map(|x| x.1).unwrap_or(name);
        if rel.is_empty() {
            tail.to_string()
        } else {
            format!("{rel}/{tail}")
        }
    };
    let rendered = render_chart(&dir, opts).map_err(|e| {
        let kind = match &e {
            render::RenderError::Chart(chart::ChartError::Read { .. }) => ErrorKind::NotFound,
            _ => ErrorKind::InvalidInput,
        };
        let err = Error::new(kind, e.to_string());
        match &e {
            render::RenderError::Template(t) => {
                let (file, line) = t.location();
                err.at(locate(file), Some(line), None)
            }
            render::RenderError::Manifest { file, .. } => err.at(locate(file), None, None),
            _ => err,
        }
    })?;
    let mut out = Vec::new();
    for m in rendered.crds.iter() {
        for (i, doc) in yaml::split_manifests(&m.content).into_iter().enumerate() {
            let obj = yaml::parse_json(&doc)
                .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{}: {e}", m.source)))?;
            push(
                &mut out,
                obj,
                format!("{}#{i}", locate(&m.source)),
                &m.source,
            )?;
        }
    }
    for m in rendered.manifests.into_iter().chain(rendered.hooks) {
        if let Some(obj) = m.object {
            push(&mut out, obj, locate(&m.source), &m.source)?;
        }
    }
    Ok(out)
}

fn push(out: &mut Vec<Object>, obj: J, origin: String, source: &str) -> Result<(), Error> {
    match obj {
        J::Null => Ok(()),
        J::Object(ref o) if o.contains_key("apiVersion") && o.contains_key("kind") => {
            out.push(Object {
                json: obj.to_string(),
                origin,
            });
            Ok(())
        }
        _ => Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{source}: rendered document is not a Kubernetes object (no apiVersion and kind)"
            ),
        )),
    }
}

/// The plugin.
pub struct Helm;

impl weir_sdk::Renderer for Helm {
    fn render(request: RenderRequest) -> Result<Vec<Object>, Error> {
        let opts = options(&request.options)?;
        render_path(Path::new(weir_sdk::ARTIFACT_ROOT), &request.path, &opts)
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Helm, name: "helm", max_memory: "512MiB");
