//! weir's `webhook-hmac` notifier (Flux's `generic-hmac` provider): the
//! `webhook` plugin's JSON body and headers, signed: `X-Signature:
//! sha256=<lowercase hex HMAC-SHA256 of the body>` with the provider's
//! `token` secret as the key, so the receiver can check who sent it.
//!
//! Secrets: `address` (required), `token` (required, the HMAC key),
//! `headers` (optional, as for `webhook`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

// The webhook plugin's body and POST, the same source (see its header).
#[path = "../../webhook/src/payload.rs"]
mod payload;
use payload::{body, post};
use weir_sdk::{Error, ErrorKind, NotifyRequest};

/// The plugin.
pub struct WebhookHmac;

/// `sha256=<hex>`: the HMAC-SHA256 of `body` with `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

impl weir_sdk::Notifier for WebhookHmac {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let key = request.secrets.get("token").ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "the provider has no `token` (the HMAC key): set token, tokenFile or a `token` key in its secretRef",
            )
        })?;
        let body = body(&request).to_string();
        let sig = signature(key.as_bytes(), body.as_bytes());
        post(&request, body.as_bytes(), &[("x-signature".into(), sig)])
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_notifier!(WebhookHmac, name: "webhook-hmac", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_rfc_4231() {
        // RFC 4231, test case 2 (HMAC-SHA-256).
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block size.
        assert_eq!(
            signature(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
