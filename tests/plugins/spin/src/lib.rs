//! Loops forever: the host's deadline must stop it.

/// The plugin.
pub struct Spin;

impl weir_sdk::Renderer for Spin {
    fn render(request: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        let mut n: u64 = 0;
        loop {
            n = n.wrapping_add(request.path.len() as u64 + 1);
            if n == u64::MAX {
                break;
            }
            std::hint::black_box(n);
        }
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Spin, name: "spin");
