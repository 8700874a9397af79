//! Sources implemented by plugins: `[[source]]`.
//!
//! A source plugin (a WebAssembly component of the `source` world, dropped
//! into the plugins directory) fetches anything — a Helm repository's
//! chart, an HTTP archive, a bucket — into a directory weir turns into an
//! immutable artifact, exactly like a git source's. Syncs and releases name
//! it in `source` as they name a `[[git]]`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::{Duration, Name, SecretReference};

/// A source fetched by a source plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginSource {
    /// The source's name, unique among `[[git]]` and `[[source]]`.
    pub name: Name,
    /// The source plugin's name (e.g. `helm-repository`).
    pub plugin: String,
    /// What to fetch; the plugin decides what URLs it understands. Its host
    /// is granted to the plugin (as a notifier's `address` is).
    pub url: String,
    /// How often to fetch. Default: 1m, as git sources.
    pub interval: Option<Duration>,
    /// Deadline of one fetch. Default: 60s.
    pub timeout: Option<Duration>,
    /// Stop fetching (the last artifact stays in use). Default: false.
    #[serde(default)]
    pub suspend: bool,
    /// Plugin settings: strings, integers, floats, booleans or lists of
    /// strings (e.g. `{ chart = "podinfo", version = "6.x" }`).
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
    /// Secrets handed to the plugin as key/value pairs: every key of this
    /// Kubernetes Secret, read at each fetch with weir's own identity.
    pub secret_ref: Option<SecretReference>,
    /// Secrets from files, by key (e.g. `{ password = "/etc/weir/pw" }`),
    /// read at each fetch; relative paths are relative to this file. They
    /// win over `secretRef` keys of the same name.
    #[serde(default)]
    pub secret_files: BTreeMap<String, PathBuf>,
    /// Labels of the source itself, for alerts' `matchLabels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A plugin setting's value.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum SettingValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list of strings.
    Strings(Vec<String>),
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::Int(i) => write!(f, "{i}"),
            SettingValue::Float(x) => write!(f, "{x}"),
            SettingValue::Str(s) => write!(f, "{s:?}"),
            SettingValue::Strings(l) => write!(f, "{l:?}"),
        }
    }
}

impl PluginSource {
    /// Fetch interval with its default.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(Duration::from_secs(60))
    }

    /// Fetch timeout with its default.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(60))
    }

    /// Checks what serde cannot, naming the source.
    ///
    /// # Errors
    /// A message naming the source and the field.
    pub fn check(&self) -> Result<(), String> {
        let name = self.name.as_str();
        if self.plugin.is_empty()
            || !self
                .plugin
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "source {name:?}: plugin {:?} is not a plugin name (lowercase letters, digits and '-')",
                self.plugin
            ));
        }
        if crate::url_authority(&self.url).is_none() {
            return Err(format!(
                "source {name:?}: url {:?} has no host (write scheme://host/…)",
                self.url
            ));
        }
        if let Some(k) = self.secret_files.keys().find(|k| k.is_empty()) {
            return Err(format!(
                "source {name:?}: secretFiles has an empty key {k:?}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{Config, ConfigError};

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "version = 1\n[host]\nreceiverAddress = \"127.0.0.1:9292\"\n[[git]]\nname = \"apps\"\nurl = \"https://127.0.0.1/apps.git\"\nref = {{ branch = \"main\" }}\n{extra}"
        );
        Config::parse(&text, Path::new("/etc/weir/weir.toml"))
    }

    #[test]
    fn plugin_sources_parse_and_feed_syncs_releases_and_grants() {
        let c = parse(
            r#"
[[source]]
name = "charts"
plugin = "helm-repository"
url = "https://charts.example.com/stable"
settings = { chart = "web", version = "1.x", retries = 2, verify = true, tags = ["a"] }
secretFiles = { password = "pw" }

[[sync]]
name = "web"
source = "charts"
prune = true

[[receiver]]
name = "hook"
type = "generic-hmac"
secretFile = "token"
sources = ["charts"]
"#,
        )
        .expect("valid config");
        let s = &c.source[0];
        assert_eq!(s.interval(), Duration::from_secs(60));
        assert_eq!(s.settings["retries"], SettingValue::Int(2));
        assert_eq!(s.settings["verify"], SettingValue::Bool(true));
        assert_eq!(s.settings["tags"], SettingValue::Strings(vec!["a".into()]));
        let names: Vec<&str> = c.sources().iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["apps", "charts"]);
        assert_eq!(c.source_settings(&s.name).map(|x| x.kind), Some("Source"));
        assert!(
            c.plugin_limits("helm-repository")
                .allowed_hosts
                .contains(&"charts.example.com".to_owned())
        );
        assert!(c.plugin_limits("other").allowed_hosts.is_empty());
    }

    #[test]
    fn bad_plugin_sources_are_refused_naming_them() {
        for (extra, want) in [
            (
                "[[source]]\nname = \"apps\"\nplugin = \"x\"\nurl = \"https://h/\"\n",
                "source \"apps\" is declared twice",
            ),
            (
                "[[source]]\nname = \"s\"\nplugin = \"Bad_Name\"\nurl = \"https://h/\"\n",
                "is not a plugin name",
            ),
            (
                "[[source]]\nname = \"s\"\nplugin = \"x\"\nurl = \"charts\"\n",
                "has no host",
            ),
            (
                "[[source]]\nname = \"s\"\nplugin = \"x\"\nurl = \"https://h/\"\nsettings = { a = { b = 1 } }\n",
                "settings",
            ),
            (
                "[[sync]]\nname = \"w\"\nsource = \"nope\"\nprune = true\n",
                "add a [[git]] or [[source]] with that name",
            ),
        ] {
            let err = parse(extra).expect_err(extra).to_string();
            assert!(err.contains(want), "{extra}: {err}");
        }
    }
}
