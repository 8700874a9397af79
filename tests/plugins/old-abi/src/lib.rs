//! A renderer for the released plugin API 0.1.0, written against the WIT
//! package itself (as a plugin built before 0.2.0 was): it answers with one
//! ConfigMap whose data echoes the request, so the test can see that the
//! host's conversions reached it.

wit_bindgen::generate!({
    path: "../../../wit/weir-plugin@0.1.0",
    world: "renderer-plugin",
});

use exports::weir::plugin::renderer::{Guest, RenderRequest, RenderedObject};
use weir::plugin::types::{Error, OptionValue};

struct Plugin;

impl Guest for Plugin {
    fn render(request: RenderRequest) -> Result<Vec<RenderedObject>, Error> {
        let mut greeting = String::from("none");
        for o in &request.options {
            if let (true, OptionValue::Str(s)) = (o.key == "greeting", &o.value) {
                greeting = s.clone();
            }
        }
        Ok(vec![RenderedObject {
            json: format!(
                r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"old-abi"}},"data":{{"path":{:?},"greeting":{:?}}}}}"#,
                request.path, greeting
            ),
            origin: "old-abi".into(),
        }])
    }
}

export!(Plugin);

/// The manifest, as weir's host reads it before compiling.
#[cfg(target_arch = "wasm32")]
#[used]
#[unsafe(link_section = "weir:manifest")]
static MANIFEST: [u8; MANIFEST_JSON.len()] = *MANIFEST_JSON;

#[cfg(target_arch = "wasm32")]
const MANIFEST_JSON: &[u8; 68] =
    br#"{"name":"old-abi","kind":"renderer","version":"0.1.0","api":"0.1.0"}"#;
