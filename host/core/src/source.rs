//! The source interface: something that produces immutable artifacts.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

/// An immutable snapshot of a source at one revision. Renders read it and
/// never a mutable checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// The revision, as Flux writes it: `main@sha1:<40 hex>`.
    pub revision: String,
    /// The directory holding the files.
    pub dir: PathBuf,
    /// `sha256:<hex>` of the artifact's content (paths, modes and bytes).
    pub digest: String,
}

/// Why a fetch failed. The message names the URL and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What went wrong, naming the URL.
    pub message: String,
    /// Whether a retry may help (network, server errors) or not (bad
    /// credentials, missing ref, bad config).
    pub transient: bool,
}

/// Produces artifacts.
pub trait Source: Send + Sync {
    /// The source's name.
    fn name(&self) -> &str;

    /// Fetches the wanted revision, or reuses it when it has not moved, and
    /// returns its artifact. Blocking: the core calls it off the async
    /// runtime. Setting `interrupt` asks the fetch to stop early.
    ///
    /// # Errors
    /// [`SourceError`] naming the URL and the cause.
    fn fetch(&self, interrupt: &AtomicBool) -> Result<Artifact, SourceError>;

    /// How long one fetch may take in all, when more than the source's
    /// configured `timeout` (a git source fetches its includes first).
    /// Callers' outer deadlines must not be shorter.
    fn total_timeout(&self) -> Option<std::time::Duration> {
        None
    }
}
