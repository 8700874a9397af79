//! Notifiers: deliver one event to one provider over HTTP.

use crate::bindings::convert::notifier as convert;
use crate::bindings::notifier::exports::weir::plugin::notifier as wit;
use crate::bindings::notifier::weir::plugin::types as wit_types;
use crate::{Error, ErrorKind, OptionValue};

/// How serious an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something happened as it should.
    Info,
    /// Something failed.
    Error,
}

impl Severity {
    /// `info` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Error => "error",
        }
    }
}

/// A reference to the object an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// `group/version`.
    pub api_version: String,
    /// `Sync`, `GitRepository`, `HelmRelease`, ….
    pub kind: String,
    /// The namespace, if any.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

/// Something that happened to one of weir's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Info or error.
    pub severity: Severity,
    /// CamelCase reason (`ReconciliationSucceeded`, `HealthCheckFailed`, …).
    pub reason: String,
    /// What happened.
    pub message: String,
    /// The revision involved, if any (`main@sha1:…`).
    pub revision: Option<String>,
    /// What it is about.
    pub involved_object: ObjectRef,
    /// The cluster's name from the host config.
    pub cluster: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// Extra key/values (the alert's and the event's).
    pub metadata: Vec<(String, String)>,
}

impl Event {
    /// The metadata value for `key`, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The full commit SHA in [`Event::revision`]: `main@sha1:<40 hex>`,
    /// `v1.2@sha1:…` and `sha1:…` (Flux 2), or Flux 1's `<branch>/<40 hex>`;
    /// `None` for other revisions (an OCI digest, a chart version) or none.
    pub fn commit_sha(&self) -> Option<&str> {
        self.git_commit().ok()
    }

    /// [`Event::commit_sha`], or an [`ErrorKind::InvalidInput`] error saying
    /// why there is none — for notifiers that act on a commit (commit
    /// statuses).
    ///
    /// # Errors
    /// No revision, or one that names no git commit.
    pub fn git_commit(&self) -> Result<&str, Error> {
        let invalid = |m: String| Error::new(ErrorKind::InvalidInput, m);
        let rev = self.revision.as_deref().ok_or_else(|| {
            invalid("the event has no revision, so no commit to set a status on".into())
        })?;
        let hex = rev
            .rsplit_once("sha1:")
            .or_else(|| rev.rsplit_once('/'))
            .map(|(_, h)| h)
            .unwrap_or_default();
        if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(hex)
        } else {
            Err(invalid(format!(
                "revision {rev:?} does not name a git commit (want …sha1:<40 hex digits>)"
            )))
        }
    }

    /// `<kind>/<name>`, with `/<cluster>` unless the cluster is `default`
    /// (or empty): a name for what reported, distinct per cluster — a
    /// commit status' context.
    pub fn source_name(&self) -> String {
        let o = &self.involved_object;
        if self.cluster.is_empty() || self.cluster == "default" {
            format!("{}/{}", o.kind, o.name)
        } else {
            format!("{}/{}/{}", o.kind, o.name, self.cluster)
        }
    }
}

/// A provider's secrets. Its [`Debug`] output shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<(String, String)>);

impl Secrets {
    /// The secret named `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}=<redacted>")))
            .finish()
    }
}

/// One event to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyRequest {
    /// The event.
    pub event: Event,
    /// The alert's rendered message template, when it has one.
    pub message: Option<String>,
    /// The provider's settings (`channel`, `username`, …).
    pub settings: Vec<(String, OptionValue)>,
    /// The provider's secrets (`address`, `token`, …).
    pub secrets: Secrets,
}

impl NotifyRequest {
    /// The setting `key` when it is a string.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.iter().find_map(|(k, v)| match v {
            OptionValue::Str(s) if k == key => Some(s.as_str()),
            _ => None,
        })
    }

    /// The text to send: the alert's template output when there is one,
    /// otherwise `default`.
    pub fn text_or(&self, default: impl FnOnce(&Event) -> String) -> String {
        self.message.clone().unwrap_or_else(|| default(&self.event))
    }
}

/// A notifier: delivers an event, usually with [`crate::http`].
pub trait Notifier {
    /// Delivers `request.event`.
    ///
    /// # Errors
    /// [`ErrorKind::Transient`](crate::ErrorKind::Transient) when a retry
    /// may work (5xx, timeouts — [`crate::http::Response::error_for_status`]
    /// classifies them), another kind otherwise. Never put a secret in the
    /// message.
    fn notify(request: NotifyRequest) -> Result<(), Error>;
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    fn object(o: wit_types::ObjectRef) -> ObjectRef {
        ObjectRef {
            api_version: o.api_version,
            kind: o.kind,
            namespace: o.namespace,
            name: o.name,
        }
    }

    /// Converts the WIT request, calls `N`, converts the result back.
    pub fn notify<N: Notifier>(req: wit::NotifyRequest) -> Result<(), wit_types::Error> {
        let e = req.event;
        let request = NotifyRequest {
            event: Event {
                severity: match e.severity {
                    wit_types::Severity::Info => Severity::Info,
                    wit_types::Severity::Error => Severity::Error,
                },
                reason: e.reason,
                message: e.message,
                revision: e.revision,
                involved_object: object(e.involved_object),
                cluster: e.cluster,
                timestamp: e.timestamp,
                metadata: convert::pairs(e.metadata),
            },
            message: req.message,
            settings: convert::options(req.settings),
            secrets: Secrets(convert::pairs(req.secrets)),
        };
        N::notify(request).map_err(convert::error)
    }
}

/// Exports a [`Notifier`] as the plugin's `weir:plugin/notifier` interface
/// and embeds its [`Manifest`](crate::Manifest) (kind `notifier`). List
/// the hosts it needs to reach; the host config must grant them too:
///
/// ```ignore
/// weir_sdk::export_notifier!(Discord, name: "discord", http_hosts: ["discord.com"]);
/// ```
#[macro_export]
macro_rules! export_notifier {
    ($notifier:ty, name: $name:expr $(, $($rest:tt)*)?) => {
        $crate::manifest! { name: $name, kind: notifier $(, $($rest)*)? }
        $crate::export_notifier_bare!($notifier);
    };
    ($notifier:ty $(,)?) => {
        ::core::compile_error!(
            "export_notifier! needs the plugin's name for its manifest: export_notifier!(MyNotifier, name: \"my-notifier\")"
        );
    };
}

/// Exports a [`Notifier`] without embedding a manifest.
#[macro_export]
macro_rules! export_notifier_bare {
    ($notifier:ty) => {
        #[doc(hidden)]
        pub struct __WeirNotifierExport;

        impl $crate::bindings::notifier::exports::weir::plugin::notifier::Guest
            for __WeirNotifierExport
        {
            fn notify(
                request: $crate::bindings::notifier::exports::weir::plugin::notifier::NotifyRequest,
            ) -> ::core::result::Result<(), $crate::bindings::notifier::weir::plugin::types::Error>
            {
                $crate::notifier::__private::notify::<$notifier>(request)
            }
        }

        $crate::bindings::notifier::__export_notifier_world!(
            __WeirNotifierExport with_types_in $crate::bindings::notifier
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(revision: Option<&str>) -> Event {
        Event {
            severity: Severity::Info,
            reason: "ReconciliationSucceeded".into(),
            message: "applied".into(),
            revision: revision.map(str::to_owned),
            involved_object: ObjectRef {
                api_version: "weir.dev/v1".into(),
                kind: "Sync".into(),
                namespace: None,
                name: "apps".into(),
            },
            cluster: "prod".into(),
            timestamp: "2026-11-26T00:00:00Z".into(),
            metadata: vec![("env".into(), "prod".into())],
        }
    }

    #[test]
    fn commit_shas_come_out_of_flux_revisions() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            event(Some(&format!("main@sha1:{sha}"))).commit_sha(),
            Some(sha)
        );
        assert_eq!(event(Some(&format!("sha1:{sha}"))).commit_sha(), Some(sha));
        assert_eq!(event(Some(&format!("main/{sha}"))).commit_sha(), Some(sha));
        assert_eq!(event(Some("main@sha1:0123abc")).commit_sha(), None, "short");
        assert_eq!(event(Some("v1.2.3@sha256:zz")).commit_sha(), None);
        let e = event(None).git_commit().expect_err("no revision");
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert_eq!(event(None).commit_sha(), None);
        assert_eq!(event(None).meta("env"), Some("prod"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Secrets(vec![("address".into(), "https://hooks/secret".into())]);
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("secret\"") && !shown.contains("hooks"),
            "{shown}"
        );
        assert_eq!(s.get("address"), Some("https://hooks/secret"));
    }
}
