//! Calls itself `plain`: dropped into a plugins directory as `plain.wasm`
//! it must take the place of the built-in `plain` renderer. It returns one
//! ConfigMap that says so.

/// The plugin.
pub struct Plugin;

impl weir_sdk::Renderer for Plugin {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        Ok(vec![weir_sdk::Object {
            json:
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-the-override"}}"#
                    .into(),
            origin: "override".into(),
        }])
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Plugin, name: "plain");
