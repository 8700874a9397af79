//! Exports a renderer but embeds no manifest: refused unless a sidecar manifest is beside it.

/// The plugin.
pub struct Plugin;

impl weir_sdk::Renderer for Plugin {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer_bare!(Plugin);
