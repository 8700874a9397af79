//! Asks for outbound HTTP to two hosts: refused unless the host config grants both.

/// The plugin.
pub struct Plugin;

impl weir_sdk::Renderer for Plugin {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Plugin, name: "wants-net", http_hosts: ["api.example.com", "hooks.example.com"]);
