//! weir's reconcile core.
//!
//! A sync runs as an explicit sequence of steps — fetch the source's
//! artifact, render it with a renderer plugin, validate every object,
//! decrypt SOPS-encrypted ones with a decryptor plugin ([`decrypt`]), apply
//! in stages with server-side apply, prune what disappeared, wait for the
//! objects to be ready ([`health`]), record status — and each step fails
//! with exactly one [`status::Reason`]. Nothing is written to the cluster
//! until the whole revision has rendered, decrypted and validated, so a
//! broken commit never half-applies.
//!
//! The core knows sources, renderers and decryptors only through the
//! [`source::Source`], [`plugin::Renderer`] and [`plugin::Decryptor`]
//! traits; the WebAssembly host (`weir-wasm`) and
//! the git source (`weir-git`) implement them. Start reading at
//! [`reconcile::reconcile`], then [`apply::Cluster`]; [`engine::Engine`]
//! schedules reconciles for `weir run`.

pub mod apply;
pub mod decrypt;
pub mod engine;
pub mod events;
pub mod health;
pub mod helm;
pub mod inventory;
pub mod notify;
pub mod object;
pub mod plugin;
pub mod plugin_source;
pub mod receiver;
pub mod reconcile;
pub mod removal;
pub mod source;
pub mod status;
pub mod substitute;
pub mod transform;

/// The field manager weir applies with, and the prefix of its labels.
pub const FIELD_MANAGER: &str = "weir";

/// Label set on every applied object: the name of the sync that owns it.
/// Prune deletes only objects that carry it with the pruning sync's name.
pub const OWNER_LABEL: &str = "sync.weir.dev/name";

/// Annotation that keeps an object from being pruned when set to
/// `disabled`. Flux's `kustomize.toolkit.fluxcd.io/prune` is honoured too, so
/// Flux repositories keep their meaning.
pub const PRUNE_ANNOTATION: &str = "sync.weir.dev/prune";

/// Flux's spelling of [`PRUNE_ANNOTATION`].
pub const FLUX_PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
