//! A renderer for plugin API 0.2.0, written against the WIT package itself
//! (as a renderer built before 0.2.1 was): it reads `<path>/name.txt`
//! through WASI's `/artifact` preopen and answers with one ConfigMap of
//! that name, so the test sees both the preopen and the host's conversions.

wit_bindgen::generate!({
    path: "../../../wit/weir-plugin@0.2.0",
    world: "renderer-plugin",
});

use exports::weir::plugin::renderer::{Guest, RenderRequest, RenderedObject};
use weir::plugin::types::{Error, ErrorKind, Location};

struct Plugin;

impl Guest for Plugin {
    fn render(request: RenderRequest) -> Result<Vec<RenderedObject>, Error> {
        let file = format!("{}/name.txt", request.path.trim_matches('/'));
        let name = std::fs::read_to_string(format!("/artifact/{file}")).map_err(|e| Error {
            kind: ErrorKind::NotFound,
            message: format!("cannot read: {e}"),
            location: Some(Location {
                file: file.clone(),
                line: None,
                column: None,
            }),
        })?;
        Ok(vec![RenderedObject {
            json: format!(
                r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":{:?}}}}}"#,
                name.trim()
            ),
            origin: file,
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
const MANIFEST_JSON: &[u8; 70] =
    br#"{"name":"api-0-2-0","kind":"renderer","version":"0.1.0","api":"0.2.0"}"#;
