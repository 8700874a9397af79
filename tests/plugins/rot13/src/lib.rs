//! A toy decryptor for the decryptor world's tests: "decrypts" with rot13
//! when it is given a key of kind `rot13`, and refuses otherwise. It also
//! checks it cannot see the host's filesystem.

/// The plugin.
pub struct Plugin;

fn rot13(b: u8) -> u8 {
    match b {
        b'a'..=b'z' => (b - b'a' + 13) % 26 + b'a',
        b'A'..=b'Z' => (b - b'A' + 13) % 26 + b'A',
        _ => b,
    }
}

impl weir_sdk::Decryptor for Plugin {
    fn decrypt(request: weir_sdk::DecryptRequest) -> Result<Vec<u8>, weir_sdk::Error> {
        if std::fs::read_dir("/").is_ok() {
            return Err(weir_sdk::Error::new(
                weir_sdk::ErrorKind::Internal,
                "a decryptor must not see a filesystem",
            ));
        }
        if !request.keys.iter().any(|k| k.kind == "rot13") {
            return Err(weir_sdk::Error::new(
                weir_sdk::ErrorKind::NotFound,
                format!("{}: no rot13 key given", request.name),
            ));
        }
        Ok(request.data.iter().copied().map(rot13).collect())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_decryptor!(Plugin, name: "rot13");
