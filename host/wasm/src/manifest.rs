//! Plugin manifests: who a plugin is and what it asks the host for, read and
//! checked before anything is compiled.
//!
//! A manifest is JSON in the component's `weir:manifest` custom section
//! (`weir-sdk` puts it in the core module; the host walks nested modules to
//! find it) or a sidecar file beside `NAME.wasm`: `NAME.toml` or
//! `NAME.manifest.json`, for components built without the SDK. When both are
//! present they must agree.
//!
//! ```json
//! {"name": "plain", "kind": "renderer", "version": "0.1.0", "api": "0.1.0",
//!  "capabilities": {"maxMemory": "64MiB", "httpHosts": ["charts.example.com"]}}
//! ```
//!
//! Capabilities are two-sided: the manifest asks, the host config
//! (`[host.plugins.NAME]`) grants. [`check`] refuses an unsupported API
//! version, an unknown or unexpected kind, a name that is not the file's,
//! and capabilities the config does not grant, each with its own message
//! ([`Refusal`]) that says which side refused.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weir_config::{ByteSize, EffectiveLimits};

/// The custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "weir:manifest";

/// The plugin API versions (WIT packages `weir:plugin@…`) this host runs.
/// `0.1.0` (renderers only) is served by converting to the latest types.
pub const SUPPORTED_APIS: &[&str] = &["0.1.0", "0.2.0", "0.2.1"];

/// The newest plugin API version.
pub const LATEST_API: &str = "0.2.1";

/// The plugin kinds this host can run.
pub const RUNNABLE_KINDS: &[PluginKind] = &[
    PluginKind::Renderer,
    PluginKind::Decryptor,
    PluginKind::Notifier,
    PluginKind::Source,
];

/// The kinds each API version has a world for.
fn kinds_of(api: &str) -> &'static [PluginKind] {
    match api {
        "0.1.0" => &[PluginKind::Renderer],
        _ => RUNNABLE_KINDS,
    }
}

/// A plugin's kind: which world it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Turns an artifact directory into objects.
    Renderer,
    /// Fetches artifacts.
    Source,
    /// Decrypts secrets in rendered objects.
    Decryptor,
    /// Sends notifications.
    Notifier,
}

impl PluginKind {
    /// Every kind, in the manifest's spelling.
    pub const ALL: &[PluginKind] = &[
        PluginKind::Renderer,
        PluginKind::Source,
        PluginKind::Decryptor,
        PluginKind::Notifier,
    ];

    /// The kind as a manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Renderer => "renderer",
            PluginKind::Source => "source",
            PluginKind::Decryptor => "decryptor",
            PluginKind::Notifier => "notifier",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin's manifest, as written (the kind is checked by [`check`], so
/// that an unknown kind gets its own message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest {
    /// The plugin's name; must match the file name (`NAME.wasm`).
    pub name: String,
    /// `renderer`, `source`, `decryptor` or `notifier`.
    pub kind: String,
    /// The plugin's own version.
    pub version: String,
    /// The plugin API version it targets (`0.1.0`).
    pub api: String,
    /// What it asks the host for.
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// What a plugin asks the host for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Capabilities {
    /// Most linear memory one call needs; the host's grant when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_size"
    )]
    pub max_memory: Option<ByteSize>,
    /// Hosts it wants to reach over HTTP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_hosts: Vec<String>,
}

fn ser_size<S: serde::Serializer>(v: &Option<ByteSize>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_str(&size(*b)),
        None => s.serialize_none(),
    }
}

/// `1GiB`, `64MiB`, `512KiB` or `1000B`.
pub fn size(b: ByteSize) -> String {
    let b = b.0;
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if b >= 1 << shift && b.is_multiple_of(1 << shift) {
            return format!("{}{unit}", b >> shift);
        }
    }
    format!("{b}B")
}

/// Where a manifest came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestOrigin {
    /// Found in the component's `weir:manifest` section.
    pub embedded: bool,
    /// The sidecar file it was read from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<PathBuf>,
}

impl fmt::Display for ManifestOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.embedded, &self.sidecar) {
            (true, None) => write!(f, "embedded ({MANIFEST_SECTION} section)"),
            (true, Some(p)) => write!(f, "embedded, and {} (they agree)", p.display()),
            (false, Some(p)) => write!(f, "sidecar {}", p.display()),
            (false, None) => f.write_str("none"),
        }
    }
}

/// What reading a component found, before compiling it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The manifest.
    pub manifest: Manifest,
    /// Where it came from.
    pub origin: ManifestOrigin,
    /// The component's imports (`wasi:filesystem/types@0.2.6`, …).
    pub imports: Vec<String>,
    /// The component's exports (`weir:plugin/renderer@0.1.0`, …).
    pub exports: Vec<String>,
}

/// A component could not be read or has no usable manifest. The messages do
/// not name the plugin: the caller's error does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not a component at all.
    #[error("{} is not a valid WebAssembly component: {reason}", path.display())]
    NotComponent {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Neither an embedded nor a sidecar manifest.
    #[error(
        "no weir manifest: {} has no {MANIFEST_SECTION} section and there is no {} or {} beside it (build it with weir-sdk's export_renderer!, or write a sidecar manifest)",
        path.display(), sidecar_names(path)[0].display(), sidecar_names(path)[1].display()
    )]
    Missing {
        /// The component.
        path: PathBuf,
    },
    /// A manifest that does not parse.
    #[error("invalid weir manifest in {where_}: {reason}")]
    Invalid {
        /// The section or file.
        where_: String,
        /// Why.
        reason: String,
    },
    /// Embedded and sidecar manifests differ, or there are two of one.
    #[error("conflicting weir manifests: {0}")]
    Conflict(String),
}

/// The sidecar manifests `NAME.toml` and `NAME.manifest.json` of
/// `NAME.wasm`.
pub fn sidecar_names(wasm: &Path) -> [PathBuf; 2] {
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    [
        wasm.with_file_name(format!("{stem}.toml")),
        wasm.with_file_name(format!("{stem}.manifest.json")),
    ]
}

/// The component's structure as far as the host needs it before compiling.
struct Walk<'a> {
    sections: Vec<&'a [u8]>,
    imports: Vec<String>,
    exports: Vec<String>,
}

/// Walks the component (and the modules and components nested in it)
/// without validating or compiling it.
fn walk<'a>(path: &Path, bytes: &'a [u8]) -> Result<Walk<'a>, ManifestError> {
    use wasmparser::{Encoding, Parser, Payload};
    let bad = |reason: String| ManifestError::NotComponent {
        path: path.to_owned(),
        reason,
    };
    let mut w = Walk {
        sections: Vec::new(),
        imports: Vec::new(),
        exports: Vec::new(),
    };
    if !bytes.starts_with(b"\0asm") {
        return Err(bad("it is not WebAssembly (no \\0asm header)".into()));
    }
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| bad(one_line(&e.to_string())))?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(bad(
                        "it is a core module; weir runs components (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)".into(),
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(c) if c.name() == MANIFEST_SECTION => {
                w.sections.push(c.data());
            }
            Payload::ComponentImportSection(r) if depth == 1 => {
                for i in r {
                    w.imports.push(
                        i.map_err(|e| bad(one_line(&e.to_string())))?
                            .name
                            .name
                            .to_owned(),
                    );
                }
            }
            Payload::ComponentExportSection(r) if depth == 1 => {
                for e in r {
                    w.exports.push(
                        e.map_err(|e| bad(one_line(&e.to_string())))?
                            .name
                            .name
                            .to_owned(),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(w)
}

/// `text` with runs of whitespace (newlines too) as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads the manifest of the component `path` (whose bytes are `bytes`):
/// the embedded one, a sidecar one, or both when they agree.
///
/// # Errors
/// [`ManifestError`] when the file is not a component, has no manifest, or
/// its manifests do not parse or disagree.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Found, ManifestError> {
    let w = walk(path, bytes)?;
    let embedded = match w.sections.as_slice() {
        [] => None,
        [one] => {
            let where_ = format!("{} ({MANIFEST_SECTION} section)", path.display());
            let value: serde_json::Value =
                serde_json::from_slice(one).map_err(|e| ManifestError::Invalid {
                    where_: where_.clone(),
                    reason: e.to_string(),
                })?;
            Some((value, where_))
        }
        more => {
            return Err(ManifestError::Conflict(format!(
                "{} has {} {MANIFEST_SECTION} sections; a component has one",
                path.display(),
                more.len()
            )));
        }
    };
    let sidecars: Vec<PathBuf> = sidecar_names(path)
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    let sidecar = match sidecars.as_slice() {
        [] => None,
        [one] => Some((read_sidecar(one)?, one.clone())),
        [a, b, ..] => {
            return Err(ManifestError::Conflict(format!(
                "both {} and {} exist; keep one",
                a.display(),
                b.display()
            )));
        }
    };
    let (manifest, origin) = match (embedded, sidecar) {
        (None, None) => {
            return Err(ManifestError::Missing {
                path: path.to_owned(),
            });
        }
        (Some((v, where_)), None) => (
            parse(v, &where_)?,
            ManifestOrigin {
                embedded: true,
                sidecar: None,
            },
        ),
        (None, Some((v, file))) => (
            parse(v, &file.display().to_string())?,
            ManifestOrigin {
                embedded: false,
                sidecar: Some(file),
            },
        ),
        (Some((ev, where_)), Some((sv, file))) => {
            let e = parse(ev, &where_)?;
            let s = parse(sv, &file.display().to_string())?;
            if e != s {
                return Err(ManifestError::Conflict(format!(
                    "the manifest embedded in {} and {} differ ({} vs {}); remove the sidecar or make them agree",
                    path.display(),
                    file.display(),
                    serde_json::to_string(&e).unwrap_or_default(),
                    serde_json::to_string(&s).unwrap_or_default(),
                )));
            }
            (
                e,
                ManifestOrigin {
                    embedded: true,
                    sidecar: Some(file),
                },
            )
        }
    };
    Ok(Found {
        manifest,
        origin,
        imports: w.imports,
        exports: w.exports,
    })
}

fn read_sidecar(path: &Path) -> Result<serde_json::Value, ManifestError> {
    let invalid = |reason: String| ManifestError::Invalid {
        where_: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    if path.extension().is_some_and(|e| e == "toml") {
        let v: toml::Value = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        serde_json::to_value(v).map_err(|e| invalid(e.to_string()))
    } else {
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))
    }
}

/// Parses a manifest leniently enough that a newer API version is reported
/// as such rather than as unknown fields: when `api` is unsupported, the
/// rest is not checked (only `name`, `kind` and `version` are kept).
fn parse(v: serde_json::Value, where_: &str) -> Result<Manifest, ManifestError> {
    let invalid = |reason: String| ManifestError::Invalid {
        where_: where_.to_owned(),
        reason,
    };
    let api = v.get("api").and_then(serde_json::Value::as_str);
    if let Some(api) = api
        && !SUPPORTED_APIS.contains(&api)
    {
        let field = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        return Ok(Manifest {
            name: field("name"),
            kind: field("kind"),
            version: field("version"),
            api: api.to_owned(),
            capabilities: Capabilities::default(),
        });
    }
    serde_json::from_value(v).map_err(|e| invalid(e.to_string()))
}

/// Which side refused a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The plugin's manifest is not acceptable to this weir (API version,
    /// kind, name).
    Plugin,
    /// The host config does not grant what the plugin asks for.
    Host,
}

/// Why a plugin with a readable manifest is refused. The messages follow
/// `plugin "NAME": ` in errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The manifest targets an API version this weir does not run.
    #[error("targets weir plugin API {api}; this weir supports {} (rebuild it against weir-sdk for that API, or upgrade weir)", SUPPORTED_APIS.join(", "))]
    Api {
        /// What the manifest says.
        api: String,
    },
    /// The manifest's kind is not a plugin kind.
    #[error(
        "its manifest declares kind {kind:?}, which is not a weir plugin kind (renderer, source, decryptor, notifier)"
    )]
    UnknownKind {
        /// What the manifest says.
        kind: String,
    },
    /// The plugin is of another kind than the use asks for.
    #[error("is a {found} plugin, not a {wanted}: it cannot be used as one")]
    WrongKind {
        /// The manifest's kind.
        found: PluginKind,
        /// The kind the host needs.
        wanted: PluginKind,
    },
    /// A kind this weir cannot run yet.
    #[error("is a {kind} plugin; this weir cannot run that kind")]
    UnsupportedKind {
        /// The manifest's kind.
        kind: PluginKind,
    },
    /// The API version the manifest targets has no world for its kind.
    #[error(
        "is a {kind} plugin for weir plugin API {api}, which has no {kind} world (build it against API {LATEST_API})"
    )]
    KindNotInApi {
        /// The manifest's kind.
        kind: PluginKind,
        /// The manifest's API version.
        api: String,
    },
    /// The manifest names another plugin than the file.
    #[error(
        "its manifest names it {manifest:?}, but the file is {file}.wasm; rename the file to {manifest}.wasm or fix the manifest"
    )]
    NameMismatch {
        /// The manifest's name.
        manifest: String,
        /// The file's stem.
        file: String,
    },
    /// More memory than the host config grants.
    #[error("asks for {} of memory; the host grants {} (raise host.plugins.{plugin}.maxMemory)", size(*asked), size(*granted))]
    Memory {
        /// The plugin's name.
        plugin: String,
        /// The manifest's `maxMemory`.
        asked: ByteSize,
        /// `host.plugins.NAME.maxMemory` or the default.
        granted: ByteSize,
    },
    /// HTTP hosts the host config does not grant.
    #[error("asks for outbound HTTP to {}, which the host config does not grant (add {} to host.plugins.{plugin}.allowedHosts)", hosts.join(", "), if hosts.iter().any(|h| h == "*") { "the hosts it may reach" } else { "them" })]
    Hosts {
        /// The plugin's name.
        plugin: String,
        /// The hosts asked for and not granted.
        hosts: Vec<String>,
    },
}

impl Refusal {
    /// The side that refused.
    pub fn side(&self) -> Side {
        match self {
            Refusal::Memory { .. } | Refusal::Hosts { .. } => Side::Host,
            _ => Side::Plugin,
        }
    }
}

/// What a plugin gets: its asks, granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Granted {
    /// The kind it runs as.
    pub kind: PluginKind,
    /// The memory cap of its calls: what it asks for, or the host's grant.
    #[serde(serialize_with = "ser_size_plain")]
    pub max_memory: ByteSize,
    /// The hosts it may reach (asked for and granted).
    pub http_hosts: Vec<String>,
}

fn ser_size_plain<S: serde::Serializer>(v: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&size(*v))
}

/// Checks a manifest read from `file_name.wasm` against this host: its API
/// version, its kind (`wanted`, or any kind this weir runs), its name, and
/// its capabilities against `limits` (the host config's grants). The first
/// problem is returned.
///
/// # Errors
/// The [`Refusal`] saying what is refused and by which side.
pub fn check(
    m: &Manifest,
    file_name: &str,
    wanted: Option<PluginKind>,
    limits: &EffectiveLimits,
) -> Result<Granted, Refusal> {
    if !SUPPORTED_APIS.contains(&m.api.as_str()) {
        return Err(Refusal::Api { api: m.api.clone() });
    }
    let Some(kind) = PluginKind::parse(&m.kind) else {
        return Err(Refusal::UnknownKind {
            kind: m.kind.clone(),
        });
    };
    match wanted {
        Some(wanted) if wanted != kind => {
            return Err(Refusal::WrongKind {
                found: kind,
                wanted,
            });
        }
        None if !RUNNABLE_KINDS.contains(&kind) => return Err(Refusal::UnsupportedKind { kind }),
        _ => {}
    }
    if !kinds_of(&m.api).contains(&kind) {
        return Err(Refusal::KindNotInApi {
            kind,
            api: m.api.clone(),
        });
    }
    if m.name != file_name {
        return Err(Refusal::NameMismatch {
            manifest: m.name.clone(),
            file: file_name.to_owned(),
        });
    }
    let max_memory = match m.capabilities.max_memory {
        Some(asked) if asked.0 > limits.max_memory.0 => {
            return Err(Refusal::Memory {
                plugin: file_name.to_owned(),
                asked,
                granted: limits.max_memory,
            });
        }
        Some(asked) => asked,
        None => limits.max_memory,
    };
    let asked = &m.capabilities.http_hosts;
    let granted_hosts = &limits.allowed_hosts;
    let missing: Vec<String> = asked
        .iter()
        .filter(|h| {
            if h.as_str() == ANY_HOST {
                granted_hosts.is_empty()
            } else {
                !granted_hosts.iter().any(|g| pattern_covers(g, h))
            }
        })
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Refusal::Hosts {
            plugin: file_name.to_owned(),
            hosts: missing,
        });
    }
    Ok(Granted {
        kind,
        max_memory,
        http_hosts: if asked.iter().any(|h| h == ANY_HOST) {
            granted_hosts.clone()
        } else {
            asked.clone()
        },
    })
}

/// In a manifest's `httpHosts`: any host the host config grants (for
/// webhook-style plugins whose targets only the operator knows).
pub const ANY_HOST: &str = "*";

/// Splits `host:port` (or `[v6]:port`) into host and port.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (s, None),
    }
}

/// Whether the host pattern `pattern` lets a request reach `host` on
/// `port`. Patterns: `*` (any host), `*.example.com` (any subdomain),
/// `example.com` (that host, any port), `127.0.0.1:8080` (that host and
/// port). Case-insensitive.
pub fn host_matches(pattern: &str, host: &str, port: u16) -> bool {
    let (p_host, p_port) = split_host_port(pattern.trim());
    if let Some(p_port) = p_port
        && p_port.parse::<u16>().ok() != Some(port)
    {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if p_host == ANY_HOST || p_host.eq_ignore_ascii_case(host) {
        return true;
    }
    match p_host.strip_prefix("*.") {
        Some(suffix) => {
            let host = host.to_ascii_lowercase();
            let suffix = suffix.to_ascii_lowercase();
            host.len() > suffix.len() + 1
                && host.ends_with(&suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => false,
    }
}

/// Whether a host config grant `grant` covers everything the manifest
/// pattern `asked` could reach.
fn pattern_covers(grant: &str, asked: &str) -> bool {
    let (g_host, g_port) = split_host_port(grant.trim());
    let (a_host, a_port) = split_host_port(asked.trim());
    if g_port.is_some() && g_port != a_port {
        return false;
    }
    if g_host == ANY_HOST || g_host.eq_ignore_ascii_case(a_host) {
        return true;
    }
    // `*.example.com` covers `api.example.com` and `*.api.example.com`.
    match g_host.strip_prefix("*.") {
        Some(suffix) => {
            let a = a_host.trim_start_matches("*.");
            host_matches(&format!("*.{suffix}"), a, 0)
                || (a.eq_ignore_ascii_case(suffix) && a_host.starts_with("*."))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Manifest {
        parse(serde_json::from_str(json).expect("json"), "test").expect("manifest")
    }

    #[test]
    fn a_newer_api_is_reported_as_such_even_with_unknown_fields() {
        let m = manifest(
            r#"{"name":"x","kind":"renderer","version":"1.0.0","api":"0.99.0","future":1}"#,
        );
        let err = check(&m, "x", None, &EffectiveLimits::default()).expect_err("api");
        assert_eq!(
            err.to_string(),
            "targets weir plugin API 0.99.0; this weir supports 0.1.0, 0.2.0, 0.2.1 (rebuild it against weir-sdk for that API, or upgrade weir)"
        );
        assert_eq!(err.side(), Side::Plugin);
    }

    #[test]
    fn asks_within_the_grants_are_granted_and_cap_memory() {
        let m = manifest(
            r#"{"name":"x","kind":"renderer","version":"1.0.0","api":"0.1.0","capabilities":{"maxMemory":"64MiB","httpHosts":["A.example"]}}"#,
        );
        let limits = EffectiveLimits {
            allowed_hosts: vec!["a.example".into()],
            ..EffectiveLimits::default()
        };
        let g = check(&m, "x", Some(PluginKind::Renderer), &limits).expect("granted");
        assert_eq!(g.max_memory, ByteSize(64 << 20));
        let err = check(&m, "x", None, &EffectiveLimits::default()).expect_err("hosts");
        assert_eq!(err.side(), Side::Host);
        assert!(err.to_string().contains("A.example"), "{err}");
        assert_eq!(size(ByteSize(1 << 30)), "1GiB");
        assert_eq!(size(ByteSize(1000)), "1000B");
    }

    #[test]
    fn unknown_capabilities_and_kinds_are_refused() {
        let v = serde_json::json!({"name":"x","kind":"renderer","version":"1","api":"0.1.0","capabilities":{"disk":"1GiB"}});
        let err = parse(v, "x.toml").expect_err("unknown capability");
        assert!(err.to_string().contains("unknown field `disk`"), "{err}");
        let m = manifest(r#"{"name":"x","kind":"frobnicator","version":"1","api":"0.1.0"}"#);
        let err = check(&m, "x", None, &EffectiveLimits::default()).expect_err("kind");
        assert!(matches!(err, Refusal::UnknownKind { .. }), "{err}");
    }

    #[test]
    fn host_patterns_match_hosts_subdomains_and_ports() {
        assert!(host_matches("hooks.slack.com", "HOOKS.slack.com", 443));
        assert!(!host_matches("hooks.slack.com", "slack.com", 443));
        assert!(host_matches("*.office.com", "x.webhook.office.com", 443));
        assert!(!host_matches("*.office.com", "office.com", 443));
        assert!(!host_matches("*.office.com", "evil-office.com", 443));
        assert!(host_matches("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!host_matches("127.0.0.1:8080", "127.0.0.1", 8081));
        assert!(host_matches("*", "anything", 1));
        assert!(host_matches("[::1]:80", "[::1]", 80));
    }

    #[test]
    fn any_host_in_a_manifest_takes_the_host_configs_grants() {
        let m = manifest(
            r#"{"name":"hook","kind":"notifier","version":"1","api":"0.2.0","capabilities":{"httpHosts":["*"]}}"#,
        );
        let err =
            check(&m, "hook", None, &EffectiveLimits::default()).expect_err("nothing granted");
        assert_eq!(err.side(), Side::Host);
        assert!(err.to_string().contains("the hosts it may reach"), "{err}");
        let limits = EffectiveLimits {
            allowed_hosts: vec!["chat.example.com".into()],
            ..EffectiveLimits::default()
        };
        let g = check(&m, "hook", None, &limits).expect("granted");
        assert_eq!(g.http_hosts, ["chat.example.com"]);
    }

    #[test]
    fn wildcard_grants_cover_the_hosts_they_contain() {
        assert!(pattern_covers("*.example.com", "api.example.com"));
        assert!(pattern_covers("*.example.com", "*.example.com"));
        assert!(!pattern_covers("*.example.com", "example.com"));
        assert!(!pattern_covers("api.example.com", "*.example.com"));
        assert!(pattern_covers("127.0.0.1:80", "127.0.0.1:80"));
        assert!(!pattern_covers("127.0.0.1:80", "127.0.0.1"));
    }

    #[test]
    fn api_0_1_0_has_only_renderers() {
        let m = manifest(r#"{"name":"n","kind":"notifier","version":"1","api":"0.1.0"}"#);
        let err = check(&m, "n", None, &EffectiveLimits::default()).expect_err("no world");
        assert!(matches!(err, Refusal::KindNotInApi { .. }), "{err}");
    }
}
