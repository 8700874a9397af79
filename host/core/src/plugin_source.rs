//! Sources implemented by source plugins (`[[source]]`): the plugin
//! writes what it fetched into an empty directory; weir turns that into an
//! immutable artifact with a `sha256:` digest of its content, keeps the
//! current one (and the one before, for renders still reading it) and
//! hands the plugin the last revision so it can answer "unchanged" without
//! downloading again.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sha2::{Digest, Sha256};
use weir_config::source::{PluginSource as Config, SettingValue};

use crate::plugin::{FetchOutcome, FetchRequest, OptionValue, SourcePlugin};
use crate::source::{Artifact, Source, SourceError};

/// Finds source plugins by name.
pub trait SourceRegistry: Send + Sync {
    /// The source plugin called `name`.
    ///
    /// # Errors
    /// A [`crate::plugin::PluginError`] of kind `Load` naming the plugin.
    fn source(&self, name: &str) -> Result<Arc<dyn SourcePlugin>, crate::plugin::PluginError>;
}

/// A `[[source]]`: its plugin, settings and secrets, and its artifacts
/// under `<state>/artifacts/<name>/`.
pub struct PluginSource {
    config: Config,
    registry: Arc<dyn SourceRegistry>,
    /// Relative `secretFiles` resolve against this (the config file's
    /// directory).
    base_dir: PathBuf,
    dir: PathBuf,
    /// Reads `secretRef`; `None` without a cluster (tests).
    secrets: Option<(kube::Client, tokio::runtime::Handle)>,
    current: Mutex<Option<Artifact>>,
}

const CURRENT: &str = "current.json";

impl PluginSource {
    /// The source `config` declares, its artifacts under `artifacts_dir`.
    pub fn new(
        config: &Config,
        registry: Arc<dyn SourceRegistry>,
        base_dir: &Path,
        artifacts_dir: &Path,
        secrets: Option<(kube::Client, tokio::runtime::Handle)>,
    ) -> Self {
        let dir = artifacts_dir.join(config.name.as_str());
        // The artifact of the last run, if still on disk: the plugin is
        // told its revision, and may answer "unchanged".
        let current = std::fs::read(dir.join(CURRENT))
            .ok()
            .and_then(|b| serde_json::from_slice::<Artifact>(&b).ok())
            .filter(|a| a.dir.is_dir());
        PluginSource {
            config: config.clone(),
            registry,
            base_dir: base_dir.to_path_buf(),
            dir,
            secrets,
            current: Mutex::new(current),
        }
    }

    fn error(&self, message: String, transient: bool) -> SourceError {
        SourceError {
            message: format!(
                "source {:?} ({}): {message}",
                self.config.name.as_str(),
                self.config.url
            ),
            transient,
        }
    }

    /// The secrets handed to the plugin: the `secretRef` Secret's keys,
    /// then `secretFiles` (which win).
    fn secrets(&self) -> Result<Vec<(String, String)>, SourceError> {
        let mut out: Vec<(String, String)> = Vec::new();
        if let Some(r) = &self.config.secret_ref {
            let Some((client, handle)) = &self.secrets else {
                return Err(self.error(
                    format!("secretRef {r}: no cluster connection to read it"),
                    false,
                ));
            };
            let api: Api<Secret> = Api::namespaced(client.clone(), r.namespace.as_str());
            let secret = handle
                .block_on(api.get_opt(r.name.as_str()))
                .map_err(|e| self.error(format!("secretRef {r}: cannot read it: {e}"), true))?
                .ok_or_else(|| self.error(format!("secretRef {r} does not exist"), true))?;
            for (k, v) in secret.data.unwrap_or_default() {
                let text = String::from_utf8(v.0).map_err(|_| {
                    self.error(format!("secretRef {r}: key {k:?} is not UTF-8 text"), false)
                })?;
                out.push((k, text));
            }
        }
        for (k, p) in &self.config.secret_files {
            let path = if p.is_absolute() {
                p.clone()
            } else {
                self.base_dir.join(p)
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                self.error(
                    format!("secretFiles.{k}: cannot read {}: {e}", path.display()),
                    true,
                )
            })?;
            out.retain(|(key, _)| key != k);
            out.push((k.clone(), text.trim_end_matches(['\n', '\r']).to_owned()));
        }
        Ok(out)
    }
}

fn option(v: &SettingValue) -> OptionValue {
    match v {
        SettingValue::Bool(b) => OptionValue::Bool(*b),
        SettingValue::Int(i) => OptionValue::Int(*i),
        SettingValue::Float(x) => OptionValue::Float(*x),
        SettingValue::Str(s) => OptionValue::Str(s.clone()),
        SettingValue::Strings(l) => OptionValue::Strings(l.clone()),
    }
}

/// `sha256:` over every file under `dir` (relative path, executable bit,
/// bytes), in path order.
///
/// # Errors
/// A file cannot be read.
pub fn digest_dir(dir: &Path) -> std::io::Result<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), out)?;
            } else if t.is_file() {
                out.push(e.path());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        let rel = f
            .strip_prefix(dir)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        #[cfg(unix)]
        let exec = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&f)?.permissions().mode() & 0o111 != 0
        };
        #[cfg(not(unix))]
        let exec = false;
        let bytes = std::fs::read(&f)?;
        h.update(rel.as_bytes());
        h.update([0, u8::from(exec)]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(format!("sha256:{:x}", h.finalize()))
}

impl Source for PluginSource {
    fn name(&self) -> &str {
        self.config.name.as_str()
    }

    fn fetch(&self, _interrupt: &AtomicBool) -> Result<Artifact, SourceError> {
        let plugin = self
            .registry
            .source(&self.config.plugin)
            .map_err(|e| self.error(e.to_string(), e.kind.is_transient()))?;
        let current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .filter(|a| a.dir.is_dir());
        let request = FetchRequest {
            url: self.config.url.clone(),
            settings: self
                .config
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), option(v)))
                .collect(),
            secrets: self.secrets()?,
            last_revision: current.as_ref().map(|a| a.revision.clone()),
        };
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| self.error(format!("cannot create {}: {e}", self.dir.display()), true))?;
        let tmp = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&self.dir)
            .map_err(|e| self.error(format!("cannot create a work directory: {e}"), true))?;
        let outcome = plugin
            .fetch(tmp.path(), &request)
            .map_err(|e| self.error(e.to_string(), e.kind.is_transient()))?;
        let revision = match outcome {
            FetchOutcome::Unchanged => {
                return current.ok_or_else(|| {
                    self.error(
                        "the plugin answered \"unchanged\" but weir has no artifact of it".into(),
                        true,
                    )
                });
            }
            FetchOutcome::Fetched(r) if r.trim().is_empty() => {
                return Err(self.error("the plugin fetched without a revision".into(), false));
            }
            FetchOutcome::Fetched(r) => r,
        };
        let digest = digest_dir(tmp.path())
            .map_err(|e| self.error(format!("cannot read what the plugin wrote: {e}"), true))?;
        let hex = digest.trim_start_matches("sha256:");
        let final_dir = self.dir.join(&hex[..16.min(hex.len())]);
        if !final_dir.is_dir() {
            let keep = tmp.keep();
            std::fs::rename(&keep, &final_dir)
                .map_err(|e| self.error(format!("cannot store the artifact: {e}"), true))?;
        }
        let artifact = Artifact {
            revision,
            dir: final_dir,
            digest,
        };
        if let Ok(json) = serde_json::to_vec(&artifact) {
            let _ = std::fs::write(self.dir.join(CURRENT), json);
        }
        // Retention: the current artifact and the one before it (a render
        // may still read it).
        let previous = current.map(|a| a.dir);
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let p = e.path();
                let keep = p == artifact.dir
                    || previous.as_deref() == Some(p.as_path())
                    || !p.is_dir()
                    || p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(".fetch-"));
                if !keep {
                    let _ = std::fs::remove_dir_all(&p);
                }
            }
        }
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(artifact.clone());
        Ok(artifact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{PluginError, PluginErrorKind};

    /// Writes `value` into `/out/file` under revision `value`, or answers
    /// unchanged when that is the last revision.
    struct Fake(Mutex<String>);

    impl SourcePlugin for Fake {
        fn name(&self) -> &str {
            "fake"
        }

        fn fetch(&self, out: &Path, r: &FetchRequest) -> Result<FetchOutcome, PluginError> {
            let v = self.0.lock().expect("lock").clone();
            if v == "fail" {
                return Err(PluginError {
                    plugin: "fake".into(),
                    version: None,
                    kind: PluginErrorKind::Transient,
                    message: "server down".into(),
                    file: None,
                    line: None,
                });
            }
            if r.last_revision.as_deref() == Some(v.as_str()) {
                return Ok(FetchOutcome::Unchanged);
            }
            std::fs::write(out.join("file"), &v).expect("write");
            Ok(FetchOutcome::Fetched(v))
        }
    }

    struct Registry(Arc<Fake>);

    impl SourceRegistry for Registry {
        fn source(&self, _: &str) -> Result<Arc<dyn SourcePlugin>, PluginError> {
            Ok(Arc::clone(&self.0) as Arc<dyn SourcePlugin>)
        }
    }

    fn config() -> Config {
        let text = "version = 1\n[[source]]\nname = \"charts\"\nplugin = \"fake\"\nurl = \"https://example.com/charts\"\nsecretFiles = { token = \"token\" }\n";
        let dir = tempfile::tempdir().expect("tmp");
        let c = weir_config::Config::parse(text, &dir.path().join("weir.toml")).expect("config");
        c.source[0].clone()
    }

    #[test]
    fn fetched_directories_become_immutable_artifacts_and_unchanged_reuses_them() {
        let state = tempfile::tempdir().expect("tmp");
        std::fs::write(state.path().join("token"), "t0k\n").expect("write");
        let fake = Arc::new(Fake(Mutex::new("v1".into())));
        let reg: Arc<dyn SourceRegistry> = Arc::new(Registry(Arc::clone(&fake)));
        let src = PluginSource::new(
            &config(),
            Arc::clone(&reg),
            state.path(),
            state.path(),
            None,
        );
        assert_eq!(
            src.secrets().expect("secrets"),
            vec![("token".into(), "t0k".into())]
        );
        let stop = AtomicBool::new(false);
        let a1 = src.fetch(&stop).expect("fetch");
        assert_eq!(a1.revision, "v1");
        assert_eq!(
            std::fs::read_to_string(a1.dir.join("file")).expect("read"),
            "v1"
        );
        assert!(a1.digest.starts_with("sha256:"));
        // Unchanged: the same artifact, also for a new process.
        assert_eq!(src.fetch(&stop).expect("again"), a1);
        let again = PluginSource::new(
            &config(),
            Arc::clone(&reg),
            state.path(),
            state.path(),
            None,
        );
        assert_eq!(again.fetch(&stop).expect("new process"), a1);
        // New revisions: the previous artifact is kept, older ones go.
        *fake.0.lock().expect("lock") = "v2".into();
        let a2 = src.fetch(&stop).expect("v2");
        *fake.0.lock().expect("lock") = "v3".into();
        let a3 = src.fetch(&stop).expect("v3");
        assert!(a3.dir.is_dir() && a2.dir.is_dir() && !a1.dir.is_dir());
        // A failure names the source and URL, and is transient.
        *fake.0.lock().expect("lock") = "fail".into();
        let e = src.fetch(&stop).expect_err("fails");
        assert!(
            e.message
                .contains("source \"charts\" (https://example.com/charts)"),
            "{e}"
        );
        assert!(e.message.contains("server down") && e.transient, "{e}");
    }

    #[test]
    fn missing_secret_files_are_errors_naming_the_key_and_file() {
        let state = tempfile::tempdir().expect("tmp");
        let fake = Arc::new(Fake(Mutex::new("v1".into())));
        let src = PluginSource::new(
            &config(),
            Arc::new(Registry(fake)),
            state.path(),
            state.path(),
            None,
        );
        let e = src
            .fetch(&AtomicBool::new(false))
            .expect_err("no token file");
        assert!(e.message.contains("secretFiles.token: cannot read"), "{e}");
    }
}
