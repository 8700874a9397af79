//! Host bindings for the worlds of `wit/weir-plugin@0.2.1` (the latest API).
//! They serve 0.2.0 plugins too: 0.2.1 only adds the renderer's `artifact`
//! import, and wasmtime matches a 0.2.0 component's exports to 0.2.1 names
//! as semver-compatible.

/// `renderer-plugin`.
pub(crate) mod renderer {
    wasmtime::component::bindgen!({
        path: "../../wit/weir-plugin@0.2.1",
        world: "renderer-plugin",
    });
}

/// `decryptor-plugin`.
pub(crate) mod decryptor {
    wasmtime::component::bindgen!({
        path: "../../wit/weir-plugin@0.2.1",
        world: "decryptor-plugin",
    });
}

/// `notifier-plugin`.
pub(crate) mod notifier {
    wasmtime::component::bindgen!({
        path: "../../wit/weir-plugin@0.2.1",
        world: "notifier-plugin",
    });
}

/// `source-plugin`.
pub(crate) mod source {
    wasmtime::component::bindgen!({
        path: "../../wit/weir-plugin@0.2.1",
        world: "source-plugin",
    });
}

/// The same conversions for each world's copy of the shared `types`.
macro_rules! conversions {
    ($world:ident) => {
        pub(crate) mod $world {
            use crate::bindings::$world::weir::plugin::types as wit;
            use weir_core::plugin::{OptionValue, PluginErrorKind};

            /// A plugin's own error: kind, message, file, line.
            pub(crate) fn error(
                e: wit::Error,
            ) -> (PluginErrorKind, String, Option<String>, Option<u32>) {
                let kind = match e.kind {
                    wit::ErrorKind::InvalidInput => PluginErrorKind::InvalidInput,
                    wit::ErrorKind::NotFound => PluginErrorKind::NotFound,
                    wit::ErrorKind::Unsupported => PluginErrorKind::Unsupported,
                    wit::ErrorKind::Transient => PluginErrorKind::Transient,
                    wit::ErrorKind::Internal => PluginErrorKind::Internal,
                    wit::ErrorKind::Denied => PluginErrorKind::Denied,
                };
                let line = e.location.as_ref().and_then(|l| l.line);
                (kind, e.message, e.location.map(|l| l.file), line)
            }

            #[allow(dead_code)]
            pub(crate) fn options(options: &[(String, OptionValue)]) -> Vec<wit::NamedOption> {
                options
                    .iter()
                    .map(|(k, v)| wit::NamedOption {
                        key: k.clone(),
                        value: match v {
                            OptionValue::Str(s) => wit::OptionValue::Str(s.clone()),
                            OptionValue::Int(i) => wit::OptionValue::Int(*i),
                            OptionValue::Float(f) => wit::OptionValue::Float(*f),
                            OptionValue::Bool(b) => wit::OptionValue::Boolean(*b),
                            OptionValue::Strings(l) => wit::OptionValue::Strings(l.clone()),
                        },
                    })
                    .collect()
            }

            #[allow(dead_code)]
            pub(crate) fn pairs(pairs: &[(String, String)]) -> Vec<wit::MetadataEntry> {
                pairs
                    .iter()
                    .map(|(k, v)| wit::MetadataEntry {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect()
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
