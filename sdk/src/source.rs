//! Sources: fetch something and write it as a directory tree that the host
//! turns into an immutable artifact.

use crate::bindings::convert::source as convert;
use crate::bindings::source::exports::weir::plugin::source as wit;
use crate::notifier::Secrets;
use crate::{Error, OptionValue};

/// Where the host mounts the (empty, writable) output directory.
pub const OUT_ROOT: &str = "/out";

/// What to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    /// The source's URL.
    pub url: String,
    /// Its settings.
    pub settings: Vec<(String, OptionValue)>,
    /// Credentials.
    pub secrets: Secrets,
    /// The revision the last successful fetch returned.
    pub last_revision: Option<String>,
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchResult {
    /// Nothing moved since [`FetchRequest::last_revision`].
    Unchanged,
    /// A new revision, written under [`OUT_ROOT`].
    Fetched(String),
}

/// A source.
pub trait Source {
    /// Fetches into [`OUT_ROOT`].
    ///
    /// # Errors
    /// An [`Error`]; never put a credential in it.
    fn fetch(request: FetchRequest) -> Result<FetchResult, Error>;
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    /// Converts the WIT request, calls `S`, converts the result back.
    pub fn fetch<S: Source>(
        req: wit::FetchRequest,
    ) -> Result<wit::FetchResult, crate::bindings::source::weir::plugin::types::Error> {
        let request = FetchRequest {
            url: req.url,
            settings: convert::options(req.settings),
            secrets: Secrets(convert::pairs(req.secrets)),
            last_revision: req.last_revision,
        };
        match S::fetch(request) {
            Ok(FetchResult::Unchanged) => Ok(wit::FetchResult::Unchanged),
            Ok(FetchResult::Fetched(rev)) => Ok(wit::FetchResult::Fetched(rev)),
            Err(e) => Err(convert::error(e)),
        }
    }
}

/// Exports a [`Source`] as the plugin's `weir:plugin/source` interface and
/// embeds its [`Manifest`](crate::Manifest) (kind `source`).
#[macro_export]
macro_rules! export_source {
    ($source:ty, name: $name:expr $(, $($rest:tt)*)?) => {
        $crate::manifest! { name: $name, kind: source $(, $($rest)*)? }
        $crate::export_source_bare!($source);
    };
    ($source:ty $(,)?) => {
        ::core::compile_error!(
            "export_source! needs the plugin's name for its manifest: export_source!(MySource, name: \"my-source\")"
        );
    };
}

/// Exports a [`Source`] without embedding a manifest.
#[macro_export]
macro_rules! export_source_bare {
    ($source:ty) => {
        #[doc(hidden)]
        pub struct __WeirSourceExport;

        impl $crate::bindings::source::exports::weir::plugin::source::Guest for __WeirSourceExport {
            fn fetch(
                request: $crate::bindings::source::exports::weir::plugin::source::FetchRequest,
            ) -> ::core::result::Result<
                $crate::bindings::source::exports::weir::plugin::source::FetchResult,
                $crate::bindings::source::weir::plugin::types::Error,
            > {
                $crate::source::__private::fetch::<$source>(request)
            }
        }

        $crate::bindings::source::__export_source_world!(
            __WeirSourceExport with_types_in $crate::bindings::source
        );
    };
}
