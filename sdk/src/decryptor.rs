//! Decryptors: turn an encrypted document into plaintext, with keys that
//! travel with the call.

use crate::Error;
use crate::bindings::convert::decryptor as convert;
use crate::bindings::decryptor::exports::weir::plugin::decryptor as wit;

/// The format of a document (and of the decrypted answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML.
    Yaml,
    /// JSON, key order as given.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// INI sections.
    Ini,
    /// Opaque bytes.
    Binary,
}

/// A private key handed to the plugin for one call. Its [`Debug`] output
/// never shows the material.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// `age`, `pgp`, or a kind a KMS-backed plugin defines.
    pub kind: String,
    /// Where it came from (`identity.agekey`), for messages.
    pub name: String,
    /// The key material.
    pub material: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field(
                "material",
                &format_args!("<{} bytes, redacted>", self.material.len()),
            )
            .finish()
    }
}

/// What to decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptRequest {
    /// The document's name for messages: a file relative to the artifact
    /// or `kind/namespace/name`.
    pub name: String,
    /// Its format.
    pub format: Format,
    /// The encrypted document.
    pub data: Vec<u8>,
    /// The keys to try.
    pub keys: Vec<Key>,
}

/// A decryptor: returns the whole document, decrypted, in the same format.
pub trait Decryptor {
    /// Decrypts `request.data`. Refuse (with an error, returning nothing)
    /// a document that fails authentication.
    ///
    /// # Errors
    /// An [`Error`] naming the document and the cause, never a key.
    fn decrypt(request: DecryptRequest) -> Result<Vec<u8>, Error>;
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    /// Converts the WIT request, calls `D`, converts the result back.
    pub fn decrypt<D: Decryptor>(
        req: wit::DecryptRequest,
    ) -> Result<Vec<u8>, crate::bindings::decryptor::weir::plugin::types::Error> {
        let request = DecryptRequest {
            name: req.name,
            format: match req.format {
                wit::Format::Yaml => Format::Yaml,
                wit::Format::Json => Format::Json,
                wit::Format::Dotenv => Format::Dotenv,
                wit::Format::Ini => Format::Ini,
                wit::Format::Binary => Format::Binary,
            },
            data: req.data,
            keys: req
                .keys
                .into_iter()
                .map(|k| Key {
                    kind: k.kind,
                    name: k.name,
                    material: k.material,
                })
                .collect(),
        };
        D::decrypt(request).map_err(convert::error)
    }
}

/// Exports a [`Decryptor`] as the plugin's `weir:plugin/decryptor`
/// interface and embeds its [`Manifest`](crate::Manifest) (kind
/// `decryptor`; the fields after `name` as for [`manifest!`](crate::manifest!)):
///
/// ```ignore
/// weir_sdk::export_decryptor!(Sops, name: "sops");
/// ```
#[macro_export]
macro_rules! export_decryptor {
    ($decryptor:ty, name: $name:expr $(, $($rest:tt)*)?) => {
        $crate::manifest! { name: $name, kind: decryptor $(, $($rest)*)? }
        $crate::export_decryptor_bare!($decryptor);
    };
    ($decryptor:ty $(,)?) => {
        ::core::compile_error!(
            "export_decryptor! needs the plugin's name for its manifest: export_decryptor!(MyDecryptor, name: \"my-decryptor\")"
        );
    };
}

/// Exports a [`Decryptor`] without embedding a manifest (see
/// [`export_renderer_bare!`](crate::export_renderer_bare!)).
#[macro_export]
macro_rules! export_decryptor_bare {
    ($decryptor:ty) => {
        #[doc(hidden)]
        pub struct __WeirDecryptorExport;

        impl $crate::bindings::decryptor::exports::weir::plugin::decryptor::Guest
            for __WeirDecryptorExport
        {
            fn decrypt(
                request: $crate::bindings::decryptor::exports::weir::plugin::decryptor::DecryptRequest,
            ) -> ::core::result::Result<
                ::std::vec::Vec<u8>,
                $crate::bindings::decryptor::weir::plugin::types::Error,
            > {
                $crate::decryptor::__private::decrypt::<$decryptor>(request)
            }
        }

        $crate::bindings::decryptor::__export_decryptor_world!(
            __WeirDecryptorExport with_types_in $crate::bindings::decryptor
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_never_shows_in_debug_output() {
        let key = Key {
            kind: "age".into(),
            name: "identity.agekey".into(),
            material: b"AGE-SECRET-KEY-1SECRET".to_vec(),
        };
        let shown = format!("{key:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("identity.agekey") && shown.contains("22 bytes"));
    }

    #[test]
    fn requests_convert_with_their_keys() {
        struct Echo;
        impl Decryptor for Echo {
            fn decrypt(r: DecryptRequest) -> Result<Vec<u8>, Error> {
                assert_eq!(r.format, Format::Dotenv);
                assert_eq!(r.keys[0].kind, "pgp");
                Ok(r.data)
            }
        }
        let out = __private::decrypt::<Echo>(wit::DecryptRequest {
            name: "a.env".into(),
            format: wit::Format::Dotenv,
            data: b"A=1".to_vec(),
            keys: vec![wit::Key {
                kind: "pgp".into(),
                name: "k.asc".into(),
                material: vec![1],
            }],
        })
        .expect("ok");
        assert_eq!(out, b"A=1");
    }
}
