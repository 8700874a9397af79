//! A notifier whose manifest asks for `127.0.0.1:9` only, but which posts
//! the event to whatever URL its `address` secret holds: the host's gate
//! must refuse every other target, whatever the host config grants.

use weir_sdk::http::Request;

/// The plugin.
pub struct Plugin;

impl weir_sdk::Notifier for Plugin {
    fn notify(request: weir_sdk::NotifyRequest) -> Result<(), weir_sdk::Error> {
        let address = request.secrets.get("address").ok_or_else(|| {
            weir_sdk::Error::new(weir_sdk::ErrorKind::InvalidInput, "no address secret")
        })?;
        Request::post(address)
            .json(&format!("{{\"reason\":{:?}}}", request.event.reason))
            .send()?
            .error_for_status()?;
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_notifier!(Plugin, name: "http-probe", http_hosts: ["127.0.0.1:9"]);
