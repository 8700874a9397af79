//! API 0.1.0 (released, frozen): renderers only. Served by converting its
//! types to the core's, exactly as the latest renderer world is.

use weir_core::plugin::{OptionValue, PluginErrorKind};

wasmtime::component::bindgen!({
    path: "../../wit/weir-plugin@0.1.0",
    world: "renderer-plugin",
});

use weir::plugin::types as wit;

/// A 0.1.0 plugin's error: kind, message, file, line.
pub(crate) fn error(e: wit::Error) -> (PluginErrorKind, String, Option<String>, Option<u32>) {
    let kind = match e.kind {
        wit::ErrorKind::InvalidInput => PluginErrorKind::InvalidInput,
        wit::ErrorKind::NotFound => PluginErrorKind::NotFound,
        wit::ErrorKind::Unsupported => PluginErrorKind::Unsupported,
        wit::ErrorKind::Transient => PluginErrorKind::Transient,
        wit::ErrorKind::Internal => PluginErrorKind::Internal,
    };
    let line = e.location.as_ref().and_then(|l| l.line);
    (kind, e.message, e.location.map(|l| l.file), line)
}

/// Options in 0.1.0's types.
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
