//! Tries to see more than its artifact: host files, paths climbing out of
//! the preopen, symlinks, writes, environment variables. Reports what it
//! managed as an error message the sandbox tests inspect; a successful
//! escape is returned as an object, which the tests treat as a failure.

/// The plugin.
pub struct Escape;

impl weir_sdk::Renderer for Escape {
    fn render(_: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        let mut escaped = Vec::new();
        let mut denied = Vec::new();
        for path in [
            "/etc/passwd",
            "/artifact/../etc/passwd",
            "/artifact/../../../../etc/passwd",
            "/artifact/link-out/passwd",
            "/artifact/file-link",
        ] {
            match std::fs::read(path) {
                Ok(_) => escaped.push(format!("read {path}")),
                Err(e) => denied.push(format!("read {path}: {e}")),
            }
        }
        match std::fs::write("/artifact/written-by-plugin", b"x") {
            Ok(()) => escaped.push("wrote into the artifact".to_owned()),
            Err(e) => denied.push(format!("write: {e}")),
        }
        let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        if env.is_empty() {
            denied.push("environment: empty".to_owned());
        } else {
            escaped.push(format!("environment: {}", env.join(",")));
        }
        if escaped.is_empty() {
            Err(weir_sdk::Error::new(
                weir_sdk::ErrorKind::NotFound,
                format!("sandbox held: {}", denied.join("; ")),
            ))
        } else {
            Ok(vec![weir_sdk::Object {
                json: format!("{{\"escaped\":{:?}}}", escaped.join("; ")),
                origin: "escape".into(),
            }])
        }
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Escape, name: "escape");
