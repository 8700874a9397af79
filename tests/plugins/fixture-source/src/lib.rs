//! A source for the source world's tests: writes one ConfigMap whose data
//! is the `value` setting into `/out`, under revision `<value>@fixture`,
//! and answers `unchanged` when that is the last revision. It also checks
//! that nothing outside `/out` is visible.

use weir_sdk::{Error, ErrorKind, FetchRequest, FetchResult, OptionValue};

/// The plugin.
pub struct Plugin;

impl weir_sdk::Source for Plugin {
    fn fetch(request: FetchRequest) -> Result<FetchResult, Error> {
        if std::fs::read_dir("/").is_ok() || std::fs::read_dir("/artifact").is_ok() {
            return Err(Error::new(
                ErrorKind::Internal,
                "a source must see only /out",
            ));
        }
        let value = request
            .settings
            .iter()
            .find_map(|(k, v)| match v {
                OptionValue::Str(s) if k == "value" => Some(s.clone()),
                _ => None,
            })
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "no value setting"))?;
        let revision = format!("{value}@fixture");
        if request.last_revision.as_deref() == Some(revision.as_str()) {
            return Ok(FetchResult::Unchanged);
        }
        let dir = std::path::Path::new(weir_sdk::OUT_ROOT).join("deploy");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("mkdir: {e}")))?;
        std::fs::write(
            dir.join("cm.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fixture\ndata:\n  value: {value:?}\n  url: {:?}\n",
                request.url
            ),
        )
        .map_err(|e| Error::new(ErrorKind::Internal, format!("write: {e}")))?;
        Ok(FetchResult::Fetched(revision))
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_source!(Plugin, name: "fixture-source");
