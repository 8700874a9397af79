//! SOPS's value format: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`,
//! AES-256-GCM with a 32-byte nonce, the key path (`a:b:`) as additional
//! data, and the type deciding how the plaintext is read back (see the
//! SOPS `aes` package and docs, "Encrypted file format").

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::tree::Value;

type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// Why a value could not be decrypted.
#[derive(Debug, PartialEq, Eq)]
pub enum ValueError {
    /// Not an `ENC[…]` value (or a malformed one).
    NotEnc(String),
    /// GCM authentication failed.
    Authentication,
    /// The plaintext does not read as its declared type.
    BadPlaintext(String),
}

/// The parts of an `ENC[…]` value.
struct Encrypted {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: String,
}

fn parse(value: &str) -> Result<Encrypted, ValueError> {
    let rest = value
        .strip_prefix("ENC[AES256_GCM,data:")
        .ok_or_else(|| ValueError::NotEnc("does not start with ENC[AES256_GCM,".into()))?;
    // Go's regexp is greedy and unanchored at the end: `(.+),iv:(.+),tag:(.+),type:(.+)\]`.
    let close = rest
        .rfind(']')
        .ok_or_else(|| ValueError::NotEnc("no closing ]".into()))?;
    let body = &rest[..close];
    let (rest, kind) = body
        .rsplit_once(",type:")
        .ok_or_else(|| ValueError::NotEnc("no type".into()))?;
    let (rest, tag) = rest
        .rsplit_once(",tag:")
        .ok_or_else(|| ValueError::NotEnc("no tag".into()))?;
    let (data, iv) = rest
        .rsplit_once(",iv:")
        .ok_or_else(|| ValueError::NotEnc("no iv".into()))?;
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return Err(ValueError::NotEnc("an empty field".into()));
    }
    let b64 = |what: &str, s: &str| {
        STANDARD
            .decode(s)
            .map_err(|e| ValueError::NotEnc(format!("{what} is not base64: {e}")))
    };
    Ok(Encrypted {
        data: b64("data", data)?,
        iv: b64("iv", iv)?,
        tag: b64("tag", tag)?,
        kind: kind.to_string(),
    })
}

/// Decrypts one `ENC[…]` value (or returns `""` for `""`, which SOPS never
/// encrypts) with the data key, `aad` being the key path.
pub fn decrypt_value(value: &str, key: &[u8; 32], aad: &str) -> Result<Value, ValueError> {
    if value.is_empty() {
        return Ok(Value::Str(String::new()));
    }
    let enc = parse(value)?;
    let plain = open(&enc, key, aad)?;
    match enc.kind.as_str() {
        // Binary files are strings of any bytes to SOPS.
        "str" => {
            return Ok(match String::from_utf8(plain) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            });
        }
        "bytes" => return Ok(Value::Bytes(plain)),
        _ => {}
    }
    let text = || {
        String::from_utf8(plain.clone())
            .map_err(|_| ValueError::BadPlaintext(format!("{} value is not UTF-8", enc.kind)))
    };
    Ok(match enc.kind.as_str() {
        "int" => Value::Int(
            go_atoi(&text()?).ok_or_else(|| ValueError::BadPlaintext("int value".into()))?,
        ),
        "float" => Value::Float(
            go_parse_float(&text()?)
                .ok_or_else(|| ValueError::BadPlaintext("float value".into()))?,
        ),
        "bool" => Value::Bool(
            go_parse_bool(&text()?).ok_or_else(|| ValueError::BadPlaintext("bool value".into()))?,
        ),
        "time" => Value::Time(
            crate::yaml::normalize_time(&text()?)
                .ok_or_else(|| ValueError::BadPlaintext("time value".into()))?,
        ),
        "comment" => Value::Comment(text()?),
        other => return Err(ValueError::NotEnc(format!("unknown type {other:?}"))),
    })
}

fn open(enc: &Encrypted, key: &[u8; 32], aad: &str) -> Result<Vec<u8>, ValueError> {
    // SOPS always writes 32-byte nonces; anything else was not written by it.
    if enc.iv.len() != 32 || enc.tag.len() != 16 {
        return Err(ValueError::NotEnc(format!(
            "iv of {} bytes and tag of {} bytes (want 32 and 16)",
            enc.iv.len(),
            enc.tag.len()
        )));
    }
    let cipher = Aes256Gcm32::new(key.into());
    let mut sealed = enc.data.clone();
    sealed.extend_from_slice(&enc.tag);
    cipher
        .decrypt(
            Nonce::<U32>::from_slice(&enc.iv),
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| ValueError::Authentication)
}

/// Go's `strconv.Atoi` on 64-bit: optional sign, decimal digits.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms SOPS writes (decimal,
/// exponent, `NaN`, `±Inf`).
pub fn go_parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        return lower.parse().ok();
    }
    if s.contains('_') {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Encrypts `plain` as SOPS would (used by tests to build documents).
#[cfg(test)]
pub fn encrypt_for_test(
    plain: &[u8],
    kind: &str,
    key: &[u8; 32],
    aad: &str,
    iv: [u8; 32],
) -> String {
    let cipher = Aes256Gcm32::new(key.into());
    let sealed = cipher
        .encrypt(
            Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .expect("encrypt");
    let (data, tag) = sealed.split_at(sealed.len() - 16);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(data),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn values_decrypt_to_their_types() {
        let v = encrypt_for_test(b"42", "int", &KEY, "a:", [1; 32]);
        assert_eq!(decrypt_value(&v, &KEY, "a:"), Ok(Value::Int(42)));
        let v = encrypt_for_test(b"True", "bool", &KEY, "a:", [1; 32]);
        assert_eq!(decrypt_value(&v, &KEY, "a:"), Ok(Value::Bool(true)));
        let v = encrypt_for_test(b"1.5", "float", &KEY, "a:", [1; 32]);
        assert_eq!(decrypt_value(&v, &KEY, "a:"), Ok(Value::Float(1.5)));
        let v = encrypt_for_test(b" c", "comment", &KEY, "", [1; 32]);
        assert_eq!(decrypt_value(&v, &KEY, ""), Ok(Value::Comment(" c".into())));
        assert_eq!(decrypt_value("", &KEY, "x:"), Ok(Value::Str(String::new())));
    }

    #[test]
    fn a_value_moved_to_another_path_fails_authentication() {
        let v = encrypt_for_test(b"secret", "str", &KEY, "a:", [1; 32]);
        assert_eq!(
            decrypt_value(&v, &KEY, "b:"),
            Err(ValueError::Authentication)
        );
        let mut tampered = v.clone();
        tampered.replace_range(20..21, if &v[20..21] == "A" { "B" } else { "A" });
        assert!(decrypt_value(&tampered, &KEY, "a:").is_err());
    }

    #[test]
    fn non_enc_strings_are_refused() {
        assert!(matches!(
            decrypt_value("hello", &KEY, "a:"),
            Err(ValueError::NotEnc(_))
        ));
        assert!(matches!(
            decrypt_value("ENC[AES256_GCM,data:,iv:,tag:,type:str]", &KEY, "a:"),
            Err(ValueError::NotEnc(_))
        ));
    }
}
