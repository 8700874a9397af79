//! The plugins built into this weir binary (see `build.rs`): found by name
//! when the plugins directory has no file of that name.

use std::sync::Arc;

use weir_wasm::Builtin;

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// Every built-in plugin.
pub fn all() -> Vec<Builtin> {
    BUILTIN
        .iter()
        .map(|(name, bytes)| Builtin {
            name: (*name).to_owned(),
            bytes: Arc::from(*bytes),
        })
        .collect()
}
