//! `weir-sdk`: write weir plugins in Rust.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` from a
//! `cdylib` crate that depends on this crate only. Implement the trait of
//! your plugin's kind and export it with the matching macro:
//!
//! ```no_run
//! struct Hello;
//!
//! impl weir_sdk::Renderer for Hello {
//!     fn render(request: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
//!         let dir = weir_sdk::artifact_path(&request.path);
//!         // read manifests under `dir`, build objects …
//!         Ok(Vec::new())
//!     }
//! }
//!
//! weir_sdk::export_renderer!(Hello, name: "hello");
//! ```
//!
//! One trait and one export macro per plugin kind:
//!
//! | kind | trait | macro | the plugin sees |
//! |---|---|---|---|
//! | renderer | [`Renderer`] | [`export_renderer!`] | the artifact, read-only, at [`ARTIFACT_ROOT`] |
//! | decryptor | [`Decryptor`] | [`export_decryptor!`] | nothing but the call (keys come with it) |
//! | notifier | [`Notifier`] | [`export_notifier!`] | outbound HTTP ([`http`]) to granted hosts |
//! | source | [`Source`] | [`export_source!`] | an empty writable [`OUT_ROOT`], HTTP to granted hosts |
//!
//! The types mirror `wit/weir-plugin@0.2.1` (the ABI this SDK version
//! targets, [`API_VERSION`]); the raw generated bindings are in a hidden
//! `bindings` module. See `docs/plugins.md` for a tutorial.

pub mod artifact;
#[doc(hidden)]
pub mod bindings;

pub mod decryptor;
pub mod goyaml;
pub mod http;
#[cfg(feature = "manifests")]
pub mod manifests;
pub mod notifier;
pub mod renderer;
#[cfg(feature = "semver")]
pub mod semver;
pub mod source;
#[cfg(feature = "yaml")]
pub mod yaml;

pub use decryptor::{DecryptRequest, Decryptor, Format, Key};
pub use notifier::{Event, Notifier, NotifyRequest, ObjectRef, Secrets, Severity};
pub use renderer::{ARTIFACT_ROOT, Object, RenderRequest, Renderer, artifact_path};
pub use source::{FetchRequest, FetchResult, OUT_ROOT, Source};

/// The WIT package version this SDK targets.
pub const API_VERSION: &str = "0.2.1";

/// The custom section a plugin's manifest lives in, as JSON.
pub const MANIFEST_SECTION: &str = "weir:manifest";

/// The kind of a plugin: which world it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The kind as the manifest spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PluginKind::Renderer => "renderer",
            PluginKind::Source => "source",
            PluginKind::Decryptor => "decryptor",
            PluginKind::Notifier => "notifier",
        }
    }
}

/// A plugin's manifest: who it is and what it asks the host for. The
/// [`manifest!`] macro (and [`export_renderer!`], which calls it) embeds it
/// in the component as the `weir:manifest` custom section, JSON-encoded at
/// compile time, where the host reads it before compiling anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest<'a> {
    /// The plugin's name; the host loads it from `<name>.wasm`.
    pub name: &'a str,
    /// The plugin's kind.
    pub kind: PluginKind,
    /// The plugin's own version (`x.y.z`).
    pub version: &'a str,
    /// The WIT API version it targets: [`API_VERSION`] unless overridden.
    pub api: &'a str,
    /// Most linear memory it asks for (`64MiB`); the host's grant applies
    /// when absent.
    pub max_memory: Option<&'a str>,
    /// Hosts it asks to reach over HTTP (`api.example.com`).
    pub http_hosts: &'a [&'a str],
}

impl Manifest<'_> {
    /// Length of [`Manifest::encode`]'s JSON.
    pub const fn encoded_len(&self) -> usize {
        self.write(&mut [])
    }

    /// The manifest as JSON bytes; `N` must be [`Manifest::encoded_len`].
    ///
    /// # Panics
    /// At compile time (it is meant for a `static`) when `N` is wrong.
    pub const fn encode<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        let len = self.write(&mut out);
        assert!(len == N, "weir manifest: wrong buffer length");
        out
    }

    /// Writes the JSON into `out` (as far as it fits) and returns its full
    /// length.
    const fn write(&self, out: &mut [u8]) -> usize {
        let mut at = raw(out, 0, "{\"name\":");
        at = string(out, at, self.name);
        at = raw(out, at, ",\"kind\":");
        at = string(out, at, self.kind.as_str());
        at = raw(out, at, ",\"version\":");
        at = string(out, at, self.version);
        at = raw(out, at, ",\"api\":");
        at = string(out, at, self.api);
        at = raw(out, at, ",\"capabilities\":{");
        let mut first = true;
        if let Some(m) = self.max_memory {
            at = raw(out, at, "\"maxMemory\":");
            at = string(out, at, m);
            first = false;
        }
        if !self.http_hosts.is_empty() {
            if !first {
                at = raw(out, at, ",");
            }
            at = raw(out, at, "\"httpHosts\":[");
            let mut i = 0;
            while i < self.http_hosts.len() {
                if i > 0 {
                    at = raw(out, at, ",");
                }
                at = string(out, at, self.http_hosts[i]);
                i += 1;
            }
            at = raw(out, at, "]");
        }
        raw(out, at, "}}")
    }
}

/// Writes `b` at `at` when it fits; returns the next position.
const fn byte(out: &mut [u8], at: usize, b: u8) -> usize {
    if at < out.len() {
        out[at] = b;
    }
    at + 1
}

/// Writes `s` as is.
const fn raw(out: &mut [u8], mut at: usize, s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        at = byte(out, at, b[i]);
        i += 1;
    }
    at
}

/// Writes `s` as a JSON string, quoted and escaped.
const fn string(out: &mut [u8], mut at: usize, s: &str) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    at = byte(out, at, b'"');
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\\' {
            at = byte(out, at, b'\\');
            at = byte(out, at, c);
        } else if c < 0x20 {
            at = raw(out, at, "\\u00");
            at = byte(out, at, HEX[(c >> 4) as usize]);
            at = byte(out, at, HEX[(c & 0xf) as usize]);
        } else {
            at = byte(out, at, c);
        }
        i += 1;
    }
    byte(out, at, b'"')
}

/// Embeds a plugin's [`Manifest`] in the component as the `weir:manifest`
/// custom section. [`export_renderer!`] calls it for you; use it directly
/// only with [`export_renderer_bare!`]. Fields come in this order; those
/// after `kind` are optional:
///
/// ```no_run
/// weir_sdk::manifest! {
///     name: "jsonnet",
///     kind: renderer,                       // renderer | source | decryptor | notifier
///     version: env!("CARGO_PKG_VERSION"),   // the default
///     api: weir_sdk::API_VERSION,           // the default
///     max_memory: "128MiB",                 // default: what the host grants
///     http_hosts: ["charts.example.com"],   // default: none
/// }
/// ```
#[macro_export]
macro_rules! manifest {
    (
        name: $name:expr,
        kind: $kind:ident
        $(, version: $version:expr)?
        $(, api: $api:expr)?
        $(, max_memory: $mem:expr)?
        $(, http_hosts: [$($host:expr),* $(,)?])?
        $(,)?
    ) => {
        const _: () = {
            const MANIFEST: $crate::Manifest<'static> = $crate::Manifest {
                name: $name,
                kind: $crate::__kind!($kind),
                version: $crate::__or!($($version)?; ::core::env!("CARGO_PKG_VERSION")),
                api: $crate::__or!($($api)?; $crate::API_VERSION),
                max_memory: $crate::__or!($(::core::option::Option::Some($mem))?; ::core::option::Option::None),
                http_hosts: $crate::__or!($(&[$($host),*])?; &[]),
            };
            #[used]
            #[unsafe(link_section = "weir:manifest")]
            static WEIR_MANIFEST: [u8; MANIFEST.encoded_len()] = MANIFEST.encode();
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kind {
    (renderer) => {
        $crate::PluginKind::Renderer
    };
    (source) => {
        $crate::PluginKind::Source
    };
    (decryptor) => {
        $crate::PluginKind::Decryptor
    };
    (notifier) => {
        $crate::PluginKind::Notifier
    };
    ($other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown plugin kind `",
            ::core::stringify!($other),
            "`: use renderer, source, decryptor or notifier"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __or {
    ($given:expr; $default:expr) => {
        $given
    };
    (; $default:expr) => {
        $default
    };
}

/// A typed option value from the sync's configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list of strings.
    Strings(Vec<String>),
}

/// What kind of failure a plugin reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is wrong; retrying the same input fails the same way.
    InvalidInput,
    /// Something the request names does not exist.
    NotFound,
    /// The input asks for something this plugin does not do.
    Unsupported,
    /// May work on retry.
    Transient,
    /// A bug in the plugin.
    Internal,
    /// The plugin was not allowed to do what the request needed (an HTTP
    /// host it was not granted, a key it was not given).
    Denied,
}

/// A plugin's error. The host adds the plugin's name; say what went wrong
/// and, for input errors, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// What went wrong, lowercase.
    pub message: String,
    /// The input file, relative to the artifact root.
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<u32>,
    /// 1-based column in `file`.
    pub column: Option<u32>,
}

impl Error {
    /// An error of `kind` without a location.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            file: None,
            line: None,
            column: None,
        }
    }

    /// The same error, located in `file` (and `line`, when known).
    pub fn at(mut self, file: impl Into<String>, line: Option<u32>, column: Option<u32>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self.column = column;
        self
    }
}

impl std::fmt::Display for Error {
    /// `file:line: message`, or the message alone when it has no location.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            f.write_str(file)?;
            if let Some(l) = self.line {
                write!(f, ":{l}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_encode_as_json_at_compile_time() {
        const M: Manifest<'static> = Manifest {
            name: "x\"y",
            kind: PluginKind::Notifier,
            version: "1.2.3",
            api: API_VERSION,
            max_memory: Some("64MiB"),
            http_hosts: &["a.example", "b.example"],
        };
        static BYTES: [u8; M.encoded_len()] = M.encode();
        assert_eq!(
            std::str::from_utf8(&BYTES).expect("utf-8"),
            r#"{"name":"x\"y","kind":"notifier","version":"1.2.3","api":"0.2.1","capabilities":{"maxMemory":"64MiB","httpHosts":["a.example","b.example"]}}"#
        );
        let bare = Manifest {
            max_memory: None,
            http_hosts: &[],
            ..M
        };
        let mut out = [0u8; 128];
        let n = bare.write(&mut out);
        assert!(
            std::str::from_utf8(&out[..n])
                .expect("utf-8")
                .ends_with(r#""capabilities":{}}"#)
        );
        let ctl = Manifest {
            name: "a\nb",
            ..bare
        };
        let mut out = [0u8; 128];
        let n = ctl.write(&mut out);
        assert!(
            std::str::from_utf8(&out[..n])
                .expect("utf-8")
                .starts_with(r#"{"name":"a\u000ab""#)
        );
    }
}
