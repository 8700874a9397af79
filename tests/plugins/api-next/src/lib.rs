//! Declares plugin API 0.99.0: the host must refuse it before compiling.

/// The plugin.
pub struct Plugin;

impl weir_sdk::Renderer for Plugin {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Plugin, name: "api-next", api: "0.99.0");
