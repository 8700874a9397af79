//! What can go wrong decrypting a document. Every message names the
//! document (the `name` the host passed) and never shows key material or a
//! decrypted value.

/// A decryption failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The document does not parse in its format (truncated, malformed).
    #[error("{name}: malformed {format} document: {reason}")]
    Malformed {
        /// The document.
        name: String,
        /// Its format (`yaml`, `json`, …).
        format: &'static str,
        /// What the parser found.
        reason: String,
    },
    /// The document parses but carries no `sops` metadata.
    #[error("{name}: not a SOPS document: it has no sops metadata (was it encrypted with sops?)")]
    NotSops {
        /// The document.
        name: String,
    },
    /// The `sops` metadata is incomplete or invalid.
    #[error("{name}: invalid sops metadata: {field}: {reason}")]
    Metadata {
        /// The document.
        name: String,
        /// The metadata field (`sops.mac`, `sops.age[0].enc`, …).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The call brought no keys at all.
    #[error(
        "{name}: no decryption keys supplied; the document is encrypted for {}: supply a matching private key (a Secret entry ending in .agekey or .asc)",
        recipients.join(", ")
    )]
    NoKeys {
        /// The document.
        name: String,
        /// Its recipients, by public id.
        recipients: Vec<String>,
    },
    /// A supplied key is not usable (not an age identity, not an OpenPGP
    /// private key, unknown kind).
    #[error("{name}: key {key:?} ({kind}) is not usable: {reason}")]
    BadKey {
        /// The document.
        name: String,
        /// The key's name (`identity.agekey`), never its material.
        key: String,
        /// Its kind.
        kind: String,
        /// Why (without the material).
        reason: String,
    },
    /// No supplied key unwraps the data key (of enough key groups).
    #[error(
        "{name}: none of the supplied keys ({}) can decrypt the data key{}; the document is encrypted for {}",
        keys.join(", "), groups_note, recipients.join(", ")
    )]
    WrongKey {
        /// The document.
        name: String,
        /// The supplied keys, by name.
        keys: Vec<String>,
        /// Its recipients, by public id.
        recipients: Vec<String>,
        /// For Shamir key groups: how many groups were needed and opened.
        groups_note: String,
    },
    /// A value fails GCM authentication: tampered, or moved to another key
    /// path.
    #[error("{name}: value at {path} fails authentication (tampered, or moved from another key)")]
    TamperedValue {
        /// The document.
        name: String,
        /// The value's key path (`data:password`).
        path: String,
    },
    /// A value that should be encrypted is not a SOPS `ENC[…]` value.
    #[error(
        "{name}: value at {path} is not encrypted although the document's rules say it must be: {reason}"
    )]
    NotEncrypted {
        /// The document.
        name: String,
        /// The value's key path.
        path: String,
        /// What was found instead.
        reason: String,
    },
    /// The MAC does not match the document's values (something was added,
    /// removed, reordered or changed), or cannot be decrypted.
    ///
    /// Keep the message's start, `<name>: MAC mismatch:`, and its kind
    /// (`InvalidInput`) stable: the host recognises this error by them
    /// (`host/core/src/decrypt.rs`) to verify the document in Git instead
    /// of the object as the renderer changed it.
    #[error("{name}: MAC mismatch: the document was modified after it was encrypted ({reason})")]
    MacMismatch {
        /// The document.
        name: String,
        /// Which check failed.
        reason: String,
    },
    /// The decrypted document cannot be written in its format.
    #[error("{name}: cannot write the decrypted {format} document: {reason}")]
    Emit {
        /// The document.
        name: String,
        /// The format.
        format: &'static str,
        /// Why.
        reason: String,
    },
}

impl From<Error> for weir_sdk::Error {
    fn from(e: Error) -> Self {
        use weir_sdk::ErrorKind;
        let kind = match e {
            Error::NoKeys { .. } | Error::WrongKey { .. } => ErrorKind::Denied,
            Error::Emit { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidInput,
        };
        weir_sdk::Error::new(kind, e.to_string())
    }
}
