//! Helm releases: `[[release]]`, following Flux's `HelmRelease`
//! (helm.toolkit.fluxcd.io/v2) field names.
//!
//! A release is reconciled by the same engine as a sync — it shares
//! `dependsOn` (in both directions), scheduling, status, events and
//! alerts — so [`HelmRelease::to_sync`] turns each one into a [`Sync`]
//! that carries the release in [`Sync::helm`]; the core's Helm step reads
//! it from there.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::{
    CommonMetadata, Decryption, DeletionPolicy, Duration, KubeConfigReference, Name, Sync,
};

/// Helm's limit on release names.
pub const MAX_RELEASE_NAME: usize = 53;

/// A Helm release: a chart in a source, rendered with values by the `helm`
/// renderer plugin and installed, upgraded, tested, remediated and
/// uninstalled as Helm does, with its history stored in Helm's own format
/// (Flux's `HelmRelease`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmRelease {
    /// The release's name in weir (unique among syncs and releases).
    pub name: Name,
    /// The git source holding the chart.
    pub source: Name,
    /// Path of the chart in the source: a chart directory or a packaged
    /// `.tgz` (Flux's `chart.spec.chart` for a GitRepository source).
    pub chart: String,
    /// The Helm release name. Default: `<targetNamespace>-<name>` when
    /// `targetNamespace` is set, else `<name>` (as Flux).
    pub release_name: Option<String>,
    /// The namespace the release installs into. Default: `default`.
    pub target_namespace: Option<String>,
    /// Where Helm's release records (Secrets) are kept. Default: the
    /// target namespace.
    pub storage_namespace: Option<String>,
    /// How often to reconcile. Default: 5m.
    pub interval: Option<Duration>,
    /// Timeout of each Helm action (hooks, waiting for readiness). Default:
    /// 5m, as Flux.
    pub timeout: Option<Duration>,
    /// After a transient failure, retry with backoff up to this. Default:
    /// the interval.
    pub retry_interval: Option<Duration>,
    /// Stop reconciling. Default: false.
    #[serde(default)]
    pub suspend: bool,
    /// Syncs or releases that must be ready first. Default: none.
    #[serde(default)]
    pub depends_on: Vec<Name>,
    /// Release records kept (0: unlimited). Default: 5, as Flux.
    pub max_history: Option<u32>,
    /// Act as this service account (`namespace/name`, or `name` in the
    /// target namespace). Default: weir's own identity.
    pub service_account_name: Option<String>,
    /// Install into another cluster than the host's.
    pub kube_config: Option<KubeConfigReference>,
    /// Labels of the release itself, for alerts' `matchLabels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Values, merged last (over `valuesFiles` and `valuesFrom`): a TOML
    /// table, or a string holding a YAML document (paste Flux's
    /// `spec.values` as is). Default: none.
    pub values: Option<Values>,
    /// Values files in the source, relative to its root, merged in order
    /// before `valuesFrom` (Flux's `chart.spec.valuesFiles`). SOPS-encrypted
    /// files are decrypted with `decryption`. Default: none.
    #[serde(default)]
    pub values_files: Vec<String>,
    /// ConfigMap and Secret keys holding values, merged in order before
    /// `values` (Flux's `spec.valuesFrom`). Default: none.
    #[serde(default)]
    pub values_from: Vec<ValuesReference>,
    /// How SOPS-encrypted values files are decrypted (as a sync's
    /// `decryption`). Default: none, and an encrypted values file fails the
    /// reconcile.
    pub decryption: Option<Decryption>,
    /// Labels and annotations set on every object of the release.
    pub common_metadata: Option<CommonMetadata>,
    /// Install settings.
    #[serde(default)]
    pub install: Install,
    /// Upgrade settings.
    #[serde(default)]
    pub upgrade: Upgrade,
    /// Helm tests after install and upgrade.
    #[serde(default)]
    pub test: Test,
    /// Uninstall settings (when the release leaves the config).
    #[serde(default)]
    pub uninstall: Uninstall,
    /// Whether objects changed in the cluster are put back between
    /// upgrades.
    #[serde(default)]
    pub drift_detection: DriftDetection,
}

/// Values written in weir.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Values {
    /// A TOML table.
    Table(toml::Table),
    /// A YAML document.
    Yaml(String),
}

/// Where `valuesFrom` reads values.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum ValuesKind {
    /// A ConfigMap's `data`.
    ConfigMap,
    /// A Secret's `data`.
    Secret,
}

impl fmt::Display for ValuesKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One `valuesFrom` entry (Flux's `ValuesReference`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// The object's name.
    pub name: String,
    /// The object's namespace. Default: the release's target namespace.
    pub namespace: Option<Name>,
    /// The data key. Default: `values.yaml`.
    pub values_key: Option<String>,
    /// Put the key's text at this path of the values (`a.b[0].c`) instead
    /// of merging it as a YAML document.
    pub target_path: Option<String>,
    /// A missing object or key is not an error. Default: false.
    #[serde(default)]
    pub optional: bool,
}

impl ValuesReference {
    /// The data key with its default.
    pub fn key(&self) -> &str {
        self.values_key.as_deref().unwrap_or("values.yaml")
    }
}

/// How CRDs in a chart's `crds/` directory are handled (Flux's
/// `install.crds`/`upgrade.crds`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum CrdPolicy {
    /// Leave them alone.
    Skip,
    /// Create the missing ones; never update existing ones.
    Create,
    /// Create the missing ones and update existing ones.
    CreateReplace,
}

/// Remediation of a failed install or upgrade.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Remediation {
    /// How many times a failed action is remediated and retried before the
    /// release stalls until its chart or values change. Default: 0 (no
    /// remediation: the failed release is left for a person to look at).
    #[serde(default)]
    pub retries: u32,
    /// What remediates a failed upgrade: `rollback` (default) or
    /// `uninstall`. Installs are always remediated by uninstalling.
    #[serde(default)]
    pub strategy: RemediationStrategy,
}

/// What remediates a failed upgrade.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RemediationStrategy {
    /// Roll back to the last deployed revision.
    #[default]
    Rollback,
    /// Uninstall the release (the next attempt installs it).
    Uninstall,
}

/// Install settings (Flux's `spec.install`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Install {
    /// Create the target namespace when missing. Default: false.
    #[serde(default)]
    pub create_namespace: bool,
    /// CRDs of `crds/`. Default: `Create`.
    pub crds: Option<CrdPolicy>,
    /// Do not wait for the objects to be ready. Default: false.
    #[serde(default)]
    pub disable_wait: bool,
    /// Do not run hooks. Default: false.
    #[serde(default)]
    pub disable_hooks: bool,
    /// Remediation of a failed install.
    #[serde(default)]
    pub remediation: Remediation,
}

/// Upgrade settings (Flux's `spec.upgrade`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Upgrade {
    /// CRDs of `crds/`. Default: `Skip`, as Helm and Flux.
    pub crds: Option<CrdPolicy>,
    /// Do not wait for the objects to be ready. Default: false.
    #[serde(default)]
    pub disable_wait: bool,
    /// Do not run hooks. Default: false.
    #[serde(default)]
    pub disable_hooks: bool,
    /// Recreate objects whose update an immutable field refuses. Default:
    /// false.
    #[serde(default)]
    pub force: bool,
    /// Remediation of a failed upgrade.
    #[serde(default)]
    pub remediation: Remediation,
}

/// Helm tests (Flux's `spec.test`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Test {
    /// Run the chart's `test` hooks after each install and upgrade.
    /// Default: false.
    #[serde(default)]
    pub enable: bool,
    /// A failed test does not fail the release. Default: false.
    #[serde(default)]
    pub ignore_failures: bool,
}

/// Uninstall settings (Flux's `spec.uninstall`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Uninstall {
    /// Keep the release records, marked `uninstalled`. Default: false.
    #[serde(default)]
    pub keep_history: bool,
    /// Do not run `pre-delete`/`post-delete` hooks. Default: false.
    #[serde(default)]
    pub disable_hooks: bool,
}

/// Drift detection (Flux's `spec.driftDetection`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DriftDetection {
    /// `disabled` (default, as Flux): between upgrades the objects are not
    /// looked at; `warn`: every reconcile reports objects changed or
    /// deleted in the cluster; `enabled`: it also puts them back, without
    /// a new release revision.
    #[serde(default)]
    pub mode: DriftMode,
    /// Fields whose changes are not drift (e.g. `/spec/replicas` under an
    /// autoscaler). Default: none.
    #[serde(default)]
    pub ignore: Vec<DriftIgnore>,
}

/// Drift detection modes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Only upgrades write.
    #[default]
    Disabled,
    /// Drifted objects are reported, not corrected.
    Warn,
    /// Drifted objects are corrected at every reconcile.
    Enabled,
}

/// Fields drift detection ignores (Flux's `driftDetection.ignore` entry).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DriftIgnore {
    /// JSON pointers (RFC 6901) of the ignored fields, e.g.
    /// `/spec/replicas`.
    pub paths: Vec<String>,
    /// The objects it applies to. Default: all of the release's.
    pub target: Option<DriftTarget>,
}

/// Which objects a [`DriftIgnore`] applies to; every field set must match.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DriftTarget {
    /// API group (`apps`; empty for the core group).
    pub group: Option<String>,
    /// API version (`v1`).
    pub version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
}

impl HelmRelease {
    /// The namespace the release installs into.
    pub fn namespace(&self) -> &str {
        self.target_namespace.as_deref().unwrap_or("default")
    }

    /// The namespace of the release records.
    pub fn storage_namespace(&self) -> &str {
        self.storage_namespace
            .as_deref()
            .unwrap_or_else(|| self.namespace())
    }

    /// The Helm release name, with Flux's default.
    pub fn release_name(&self) -> String {
        match (&self.release_name, &self.target_namespace) {
            (Some(n), _) => n.clone(),
            (None, Some(ns)) => format!("{ns}-{}", self.name.as_str()),
            (None, None) => self.name.as_str().to_owned(),
        }
    }

    /// Release records kept, 0 for all.
    pub fn max_history(&self) -> u32 {
        self.max_history.unwrap_or(5)
    }

    /// Action timeout with its default.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
            .map(|d| d.get())
            .unwrap_or(std::time::Duration::from_secs(300))
    }

    /// CRD policy of installs.
    pub fn install_crds(&self) -> CrdPolicy {
        self.install.crds.unwrap_or(CrdPolicy::Create)
    }

    /// CRD policy of upgrades.
    pub fn upgrade_crds(&self) -> CrdPolicy {
        self.upgrade.crds.unwrap_or(CrdPolicy::Skip)
    }

    /// Checks what serde cannot, naming the release.
    ///
    /// # Errors
    /// A message naming the release and the field.
    pub fn check(&self) -> Result<(), String> {
        let name = self.name.as_str();
        let rn = self.release_name();
        let valid = !rn.is_empty()
            && rn.len() <= MAX_RELEASE_NAME
            && rn
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && rn.as_bytes()[0].is_ascii_alphanumeric()
            && rn.as_bytes()[rn.len() - 1].is_ascii_alphanumeric();
        if !valid {
            return Err(format!(
                "release {name:?}: Helm release name {rn:?} is invalid: at most {MAX_RELEASE_NAME} lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (set releaseName)"
            ));
        }
        if self.chart.trim().is_empty() {
            return Err(format!(
                "release {name:?}: chart is empty: name the chart's directory or .tgz in the source"
            ));
        }
        for p in std::iter::once(&self.chart).chain(&self.values_files) {
            if p.starts_with('/') || p.split('/').any(|c| c == "..") {
                return Err(format!(
                    "release {name:?}: path {p:?} must be relative to the source's root, without '..'"
                ));
            }
        }
        for (ns, field) in [
            (self.target_namespace.as_deref(), "targetNamespace"),
            (self.storage_namespace.as_deref(), "storageNamespace"),
        ] {
            if let Some(ns) = ns
                && ns.parse::<Name>().is_err()
            {
                return Err(format!(
                    "release {name:?}: {field} {ns:?} is not a valid namespace name"
                ));
            }
        }
        for i in &self.drift_detection.ignore {
            if i.paths.is_empty() {
                return Err(format!(
                    "release {name:?}: driftDetection.ignore entry has no paths"
                ));
            }
            if let Some(p) = i.paths.iter().find(|p| !p.starts_with('/')) {
                return Err(format!(
                    "release {name:?}: driftDetection.ignore path {p:?} is not a JSON pointer (e.g. \"/spec/replicas\")"
                ));
            }
        }
        for v in &self.values_from {
            if v.name.is_empty() {
                return Err(format!(
                    "release {name:?}: valuesFrom {} has an empty name",
                    v.kind
                ));
            }
        }
        Ok(())
    }

    /// The sync the engine reconciles for this release.
    pub fn to_sync(&self) -> Sync {
        Sync {
            name: self.name.clone(),
            source: self.source.clone(),
            path: self.chart.clone(),
            interval: self.interval,
            prune: true,
            renderer: Some("helm".into()),
            target_namespace: Some(self.namespace().to_owned()),
            suspend: self.suspend,
            post_build: None,
            wait: false,
            health_checks: Vec::new(),
            timeout: Some(Duration::from_std(self.timeout())),
            force: self.upgrade.force,
            depends_on: self.depends_on.clone(),
            retry_interval: self.retry_interval,
            name_prefix: None,
            name_suffix: None,
            common_metadata: self.common_metadata.clone(),
            deletion_policy: DeletionPolicy::Delete,
            service_account_name: self.service_account_name.clone(),
            kube_config: self.kube_config.clone(),
            labels: self.labels.clone(),
            decryption: self.decryption.clone(),
            helm: Some(Arc::new(self.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{Config, ConfigError};

    fn parse(release: &str) -> Result<Config, ConfigError> {
        let text = format!(
            r#"version = 1
[[git]]
name = "charts"
url = "https://127.0.0.1/charts.git"
ref = {{ branch = "main" }}

[[sync]]
name = "infra"
source = "charts"
prune = true
{release}"#
        );
        Config::parse(&text, Path::new("/etc/weir/weir.toml"))
    }

    #[test]
    fn releases_parse_with_flux_names_and_defaults_and_become_syncs() {
        let c = parse(
            r#"
[[release]]
name = "web"
source = "charts"
chart = "charts/web"
targetNamespace = "apps"
dependsOn = ["infra"]
valuesFiles = ["values/prod.yaml"]
valuesFrom = [{ kind = "Secret", name = "web-values", targetPath = "auth.token", valuesKey = "token" }]
[release.values]
replicas = 2
image = { tag = "1.2.3" }
[release.upgrade.remediation]
retries = 3
strategy = "uninstall"
[release.driftDetection]
mode = "enabled"
"#,
        )
        .expect("valid config");
        let r = &c.release[0];
        assert_eq!(r.release_name(), "apps-web", "Flux's default name");
        assert_eq!(r.namespace(), "apps");
        assert_eq!(r.storage_namespace(), "apps");
        assert_eq!(r.max_history(), 5);
        assert_eq!(r.timeout(), std::time::Duration::from_secs(300));
        assert_eq!(r.install_crds(), CrdPolicy::Create);
        assert_eq!(r.upgrade_crds(), CrdPolicy::Skip);
        assert_eq!(r.upgrade.remediation.retries, 3);
        assert_eq!(
            r.upgrade.remediation.strategy,
            RemediationStrategy::Uninstall
        );
        assert_eq!(r.install.remediation.retries, 0);
        assert_eq!(r.drift_detection.mode, DriftMode::Enabled);
        assert_eq!(r.values_from[0].key(), "token");
        assert!(matches!(&r.values, Some(Values::Table(t)) if t.contains_key("image")));
        // The release is a sync too, after the [[sync]] entries, so
        // dependsOn works across both.
        let s = &c.sync[1];
        assert_eq!(s.name.as_str(), "web");
        assert_eq!(s.path, "charts/web");
        assert_eq!(s.renderer.as_deref(), Some("helm"));
        assert!(s.helm.is_some());
        assert_eq!(c.sync_order(), vec![0, 1]);
        assert!(c.sync[0].helm.is_none());
    }

    #[test]
    fn yaml_values_and_name_defaults_without_a_target_namespace() {
        let c = parse(
            "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"web-1.0.0.tgz\"\nvalues = \"\"\"\nreplicas: 2\n\"\"\"\n",
        )
        .expect("valid config");
        assert_eq!(c.release[0].release_name(), "web");
        assert_eq!(c.release[0].namespace(), "default");
        assert!(matches!(&c.release[0].values, Some(Values::Yaml(y)) if y.contains("replicas")));
    }

    #[test]
    fn bad_releases_are_refused_naming_the_release_and_field() {
        let cases = [
            (
                "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"c\"\nreleaseName = \"Web_App\"\n",
                "release \"web\": Helm release name \"Web_App\" is invalid",
            ),
            (
                &format!(
                    "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"c\"\nreleaseName = \"{}\"\n",
                    "a".repeat(54)
                ),
                "at most 53",
            ),
            (
                "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"../c\"\n",
                "path \"../c\" must be relative",
            ),
            (
                "[[release]]\nname = \"infra\"\nsource = \"charts\"\nchart = \"c\"\n",
                "release \"infra\": a sync or release of that name is already declared",
            ),
            (
                "[[release]]\nname = \"web\"\nsource = \"nope\"\nchart = \"c\"\n",
                "nope",
            ),
            (
                "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"c\"\n[release.upgrade.remediation]\nstrategy = \"retry\"\n",
                "unknown variant `retry`",
            ),
            (
                "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"c\"\n[release.driftDetection]\nmode = \"fix\"\n",
                "unknown variant `fix`",
            ),
            (
                "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"c\"\n[release.driftDetection]\nignore = [{ paths = [\"spec.replicas\"] }]\n",
                "is not a JSON pointer",
            ),
            (
                "[[release]]\nname = \"web\"\nsource = \"charts\"\nchart = \"c\"\npostRenderers = []\n",
                "unknown field `postRenderers`",
            ),
            (
                "[[release]]\nname = \"a\"\nsource = \"charts\"\nchart = \"c\"\nreleaseName = \"x\"\n[[release]]\nname = \"b\"\nsource = \"charts\"\nchart = \"d\"\nreleaseName = \"x\"\n",
                "releases \"a\" and \"b\" are both Helm release \"x\" in namespace \"default\"",
            ),
        ];
        for (release, want) in cases {
            let err = parse(release).expect_err(release).to_string();
            assert!(err.contains(want), "{release}: {err}");
        }
    }
}
