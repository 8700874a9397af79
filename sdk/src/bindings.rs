//! The raw bindings generated from `wit/weir-plugin@0.2.1`, one module per
//! world, and the conversions between their types and the SDK's. Plugin
//! authors use the typed layer; this is what the export macros expand to.

/// The `renderer-plugin` world.
pub mod renderer {
    wit_bindgen::generate!({
        path: "../wit/weir-plugin@0.2.1",
        world: "renderer-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_renderer_world",
        default_bindings_module: "weir_sdk::bindings::renderer",
    });
}

/// The `decryptor-plugin` world.
pub mod decryptor {
    wit_bindgen::generate!({
        path: "../wit/weir-plugin@0.2.1",
        world: "decryptor-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_decryptor_world",
        default_bindings_module: "weir_sdk::bindings::decryptor",
    });
}

/// The `notifier-plugin` world.
pub mod notifier {
    wit_bindgen::generate!({
        path: "../wit/weir-plugin@0.2.1",
        world: "notifier-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_notifier_world",
        default_bindings_module: "weir_sdk::bindings::notifier",
    });
}

/// The `source-plugin` world.
pub mod source {
    wit_bindgen::generate!({
        path: "../wit/weir-plugin@0.2.1",
        world: "source-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_source_world",
        default_bindings_module: "weir_sdk::bindings::source",
    });
}

/// Each world has its own copy of the shared `types` interface; these
/// conversions are the same for all four.
macro_rules! conversions {
    ($world:ident) => {
        pub(crate) mod $world {
            use crate::bindings::$world::weir::plugin::types as wit;
            use crate::{Error, ErrorKind, OptionValue};

            pub(crate) fn error(e: Error) -> wit::Error {
                wit::Error {
                    kind: match e.kind {
                        ErrorKind::InvalidInput => wit::ErrorKind::InvalidInput,
                        ErrorKind::NotFound => wit::ErrorKind::NotFound,
                        ErrorKind::Unsupported => wit::ErrorKind::Unsupported,
                        ErrorKind::Transient => wit::ErrorKind::Transient,
                        ErrorKind::Internal => wit::ErrorKind::Internal,
                        ErrorKind::Denied => wit::ErrorKind::Denied,
                    },
                    message: e.message,
                    location: e.file.map(|file| wit::Location {
                        file,
                        line: e.line,
                        column: e.column,
                    }),
                }
            }

            /// An error the host returned (from an import).
            #[allow(dead_code)]
            pub(crate) fn from_wit(e: wit::Error) -> Error {
                let kind = match e.kind {
                    wit::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                    wit::ErrorKind::NotFound => ErrorKind::NotFound,
                    wit::ErrorKind::Unsupported => ErrorKind::Unsupported,
                    wit::ErrorKind::Transient => ErrorKind::Transient,
                    wit::ErrorKind::Internal => ErrorKind::Internal,
                    wit::ErrorKind::Denied => ErrorKind::Denied,
                };
                let err = Error::new(kind, e.message);
                match e.location {
                    Some(l) => err.at(&l.file, l.line, l.column),
                    None => err,
                }
            }

            #[allow(dead_code)]
            pub(crate) fn options(options: Vec<wit::NamedOption>) -> Vec<(String, OptionValue)> {
                options
                    .into_iter()
                    .map(|o| {
                        let v = match o.value {
                            wit::OptionValue::Str(s) => OptionValue::Str(s),
                            wit::OptionValue::Int(i) => OptionValue::Int(i),
                            wit::OptionValue::Float(f) => OptionValue::Float(f),
                            wit::OptionValue::Boolean(b) => OptionValue::Bool(b),
                            wit::OptionValue::Strings(l) => OptionValue::Strings(l),
                        };
                        (o.key, v)
                    })
                    .collect()
            }

            #[allow(dead_code)]
            pub(crate) fn pairs(entries: Vec<wit::MetadataEntry>) -> Vec<(String, String)> {
                entries.into_iter().map(|e| (e.key, e.value)).collect()
            }
        }
    };
}

/// Conversions per world.
pub(crate) mod convert {
    conversions!(renderer);
    conversions!(decryptor);
    conversions!(notifier);
    conversions!(source);
}
