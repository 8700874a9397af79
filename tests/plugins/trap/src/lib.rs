//! Panics on every call: the host must report a crash of this call only.

/// The plugin.
pub struct Trap;

impl weir_sdk::Renderer for Trap {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        panic!("the trap plugin panics on purpose")
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Trap, name: "trap");
