//! Allocates without end: the host's memory cap must stop it.

/// The plugin.
pub struct Hog;

impl weir_sdk::Renderer for Hog {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Hog, name: "hog", max_memory: "32MiB");
