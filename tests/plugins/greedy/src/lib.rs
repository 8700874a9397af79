//! Asks for 1GiB of memory: refused unless the host config grants that much.

/// The plugin.
pub struct Plugin;

impl weir_sdk::Renderer for Plugin {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Plugin, name: "greedy", max_memory: "1GiB");
