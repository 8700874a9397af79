//! Signature verification of commits and tags (Flux's `spec.verify`), in
//! the host: OpenPGP signatures with rpgp, SSH signatures (`gpg.format
//! ssh`, the `sshsig` format with namespace `git`) with ssh-key. Neither
//! gpg nor ssh-keygen is run.
//!
//! What is signed is what git signs: a commit without its `gpgsig` header,
//! a tag object up to the signature appended to its message.

use std::path::{Path, PathBuf};

use pgp::composed::{Deserializable as _, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails as _;

const PGP_KEY_BLOCK: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const PGP_SIGNATURE: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const SSH_SIGNATURE: &[u8] = b"-----BEGIN SSH SIGNATURE-----";

/// The trusted keys, read from `verify.keyFiles`.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    pgp: Vec<SignedPublicKey>,
    ssh: Vec<ssh_key::PublicKey>,
}

impl Keys {
    /// Reads every file: armored OpenPGP public keys, or SSH public keys one
    /// per line (`<type> <base64> [comment]`, optionally after an
    /// `allowed_signers` principal and options).
    ///
    /// # Errors
    /// A message naming the file that cannot be read or holds no key.
    pub(crate) fn load(files: &[PathBuf]) -> Result<Self, String> {
        let mut keys = Keys::default();
        for file in files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read verify.keyFiles {}: {e}", file.display()))?;
            let before = keys.pgp.len() + keys.ssh.len();
            keys.read(&text)
                .map_err(|e| format!("verify.keyFiles {}: {e}", file.display()))?;
            if keys.pgp.len() + keys.ssh.len() == before {
                return Err(format!(
                    "verify.keyFiles {} holds no OpenPGP or SSH public key",
                    file.display()
                ));
            }
        }
        Ok(keys)
    }

    fn read(&mut self, text: &str) -> Result<(), String> {
        if text.contains(PGP_KEY_BLOCK) {
            // One armor block per key as gpg exports them; several blocks
            // may follow each other in one file.
            for block in text.split(PGP_KEY_BLOCK).skip(1) {
                let armored = format!("{PGP_KEY_BLOCK}{block}");
                let (parsed, _) = SignedPublicKey::from_string_many(&armored)
                    .map_err(|e| format!("cannot read OpenPGP key: {e}"))?;
                for key in parsed {
                    self.pgp
                        .push(key.map_err(|e| format!("cannot read OpenPGP key: {e}"))?);
                }
            }
            return Ok(());
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| is_ssh_key_type(w)) else {
                return Err(format!("line {}: not an SSH public key", n + 1));
            };
            let Some(data) = words.get(at + 1) else {
                return Err(format!("line {}: SSH public key without its data", n + 1));
            };
            let key = ssh_key::PublicKey::from_openssh(&format!("{} {data}", words[at]))
                .map_err(|e| format!("line {}: cannot read SSH public key: {e}", n + 1))?;
            self.ssh.push(key);
        }
        Ok(())
    }

    /// Checks `signature` over `signed` and names the key that made it
    /// (`OpenPGP key <fingerprint>` or `SSH key SHA256:…`).
    ///
    /// # Errors
    /// A message saying why not: an unknown signature format, or no trusted
    /// key verifies it.
    pub(crate) fn verify(&self, signature: &[u8], signed: &[u8]) -> Result<String, String> {
        let text = std::str::from_utf8(signature)
            .map_err(|_| "the signature is not text".to_owned())?
            .trim();
        if text.as_bytes().starts_with(PGP_SIGNATURE) {
            let (sig, _) = DetachedSignature::from_string(text)
                .map_err(|e| format!("cannot read the OpenPGP signature: {e}"))?;
            for key in &self.pgp {
                if sig.verify(&key.primary_key, signed).is_ok() {
                    return Ok(format!("OpenPGP key {}", key.primary_key.fingerprint()));
                }
                for sub in &key.public_subkeys {
                    if sig.verify(&sub.key, signed).is_ok() {
                        return Ok(format!(
                            "OpenPGP key {} (subkey {})",
                            key.primary_key.fingerprint(),
                            sub.key.fingerprint()
                        ));
                    }
                }
            }
            return Err(format!(
                "its OpenPGP signature does not verify with any of the {} trusted OpenPGP key(s)",
                self.pgp.len()
            ));
        }
        if text.as_bytes().starts_with(SSH_SIGNATURE) {
            let sig = ssh_key::SshSig::from_pem(text)
                .map_err(|e| format!("cannot read the SSH signature: {e}"))?;
            for key in &self.ssh {
                if key.verify("git", signed, &sig).is_ok() {
                    return Ok(format!(
                        "SSH key {}",
                        key.fingerprint(ssh_key::HashAlg::Sha256)
                    ));
                }
            }
            return Err(format!(
                "its SSH signature does not verify with any of the {} trusted SSH key(s)",
                self.ssh.len()
            ));
        }
        Err("its signature is neither OpenPGP nor SSH (X.509 signatures are not supported)".into())
    }
}

fn is_ssh_key_type(word: &str) -> bool {
    word.starts_with("ssh-")
        || word.starts_with("ecdsa-sha2-")
        || word.starts_with("sk-ssh-")
        || word.starts_with("sk-ecdsa-")
}

/// A tag object's signature and the bytes it signs: git appends the
/// signature to the message, and signs everything before it (the last
/// signature block, as git's `parse_signed_buffer` takes it).
pub(crate) fn split_tag(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut start = None;
    let mut pos = 0;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(PGP_SIGNATURE) || line.starts_with(SSH_SIGNATURE) {
            start = Some(pos);
        }
        pos += line.len();
    }
    start.map(|s| (&data[s..], &data[..s]))
}

/// The key files, resolved, for messages.
pub(crate) fn describe_files(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `path` can be read, for the check when the source is made.
pub(crate) fn check_readable(path: &Path) -> Result<(), String> {
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|e| format!("cannot read verify.keyFiles {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_signature_is_the_last_block_after_the_message() {
        let tag = b"object 0123\ntype commit\ntag v1\ntagger t <t@t> 1 +0000\n\nrelease\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
        let (sig, signed) = split_tag(tag).expect("signed");
        assert!(sig.starts_with(PGP_SIGNATURE));
        assert!(signed.ends_with(b"release\n"));
        assert_eq!(signed.len() + sig.len(), tag.len());
        assert!(split_tag(b"object 0\ntype commit\n\nunsigned\n").is_none());
    }

    #[test]
    fn ssh_keys_are_read_from_pub_authorized_keys_and_allowed_signers_lines() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
        let mut keys = Keys::default();
        keys.read(&format!(
            "# trusted\n{key} ci@example\n\nci@example namespaces=\"git\" {key}\n"
        ))
        .expect("read");
        assert_eq!(keys.ssh.len(), 2);
        let err = Keys::default().read("not a key\n").expect_err("junk");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn an_unknown_signature_format_is_refused() {
        let err = Keys::default()
            .verify(b"-----BEGIN SIGNED MESSAGE-----\n", b"data")
            .expect_err("x509");
        assert!(err.contains("neither OpenPGP nor SSH"), "{err}");
    }
}
