//! Sprig's crypto functions: key and certificate generation (`genPrivateKey`,
//! `genCA`, `genSelfSignedCert`, `genSignedCert` and their `WithKey`
//! forms, `buildCustomCert`), `derivePassword`, `bcrypt`/`htpasswd` and
//! `encryptAES`/`decryptAES`.
//!
//! Certificates are written as Go's `crypto/x509` writes them for Sprig's
//! templates (same fields and extensions, SHA-256 signatures, a truncated
//! SHA-256 subject key id on CAs); keys are RSA (PKCS #1), ECDSA P-256
//! (SEC 1) or Ed25519 (PKCS #8), PEM-encoded as Sprig does. DSA keys and
//! other curves are not supported.

use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::der::{self, Elem};
use super::gotime::Time;
use super::random;
use crate::funcs::{R, arity, base64_decode, base64_encode, i, s, type_err};
use crate::template::exec::FuncError;
use crate::template::value::{Obj, Value};

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_SHA256: &str = "1.2.840.113549.1.1.11";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ED25519: &str = "1.3.101.112";

/// The DigestInfo prefix of a SHA-256 hash in a PKCS #1 v1.5 signature.
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn err(msg: impl Into<String>) -> FuncError {
    FuncError::Msg(msg.into())
}

/// The system random source as the RustCrypto key generators want it.
struct SysRng;

impl rand_core::RngCore for SysRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // `sys_rng` probed the source before any generator runs; losing it
        // in between leaves nothing safe to return.
        if getrandom::fill(dest).is_err() {
            panic!("the random source failed during key generation");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        getrandom::fill(dest).map_err(|e| {
            rand_core::Error::from(
                std::num::NonZeroU32::new(e.raw_os_error().unwrap_or(1).unsigned_abs().max(1))
                    .unwrap_or(std::num::NonZeroU32::MIN),
            )
        })
    }
}

impl rand_core::CryptoRng for SysRng {}

/// The random source, once it is known to work.
fn sys_rng() -> Result<SysRng, FuncError> {
    random::fill(&mut [0u8; 8])?;
    Ok(SysRng)
}

/// A private key of a type Sprig generates or accepts.
pub enum Key {
    /// RSA.
    Rsa(Box<rsa::RsaPrivateKey>),
    /// ECDSA on P-256.
    Ec(Box<p256::SecretKey>),
    /// Ed25519.
    Ed(Box<ed25519_dalek::SigningKey>),
}

fn big(b: &rsa::BigUint) -> Vec<u8> {
    der::uint(&b.to_bytes_be())
}

impl Key {
    fn rsa(bits: usize) -> Result<Key, FuncError> {
        let k = rsa::RsaPrivateKey::new(&mut sys_rng()?, bits)
            .map_err(|e| err(format!("failed to generate private key: {e}")))?;
        Ok(Key::Rsa(Box::new(k)))
    }

    fn ec() -> Result<Key, FuncError> {
        Ok(Key::Ec(Box::new(p256::SecretKey::random(&mut sys_rng()?))))
    }

    fn ed() -> Result<Key, FuncError> {
        let mut seed = [0u8; 32];
        random::fill(&mut seed)?;
        Ok(Key::Ed(Box::new(ed25519_dalek::SigningKey::from_bytes(
            &seed,
        ))))
    }

    /// PKCS #1 `RSAPrivateKey`.
    fn pkcs1(k: &rsa::RsaPrivateKey) -> Vec<u8> {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let primes = k.primes();
        let mut parts = vec![der::small(0), big(k.n()), big(k.e()), big(k.d())];
        parts.extend(primes.iter().take(2).map(big));
        if let (Some(dp), Some(dq), Some(qinv)) = (k.dp(), k.dq(), k.crt_coefficient()) {
            parts.extend([big(dp), big(dq), big(&qinv)]);
        }
        der::seq(&parts)
    }

    /// SEC 1 `ECPrivateKey`, as Go's `MarshalECPrivateKey`.
    fn sec1(k: &p256::SecretKey) -> Vec<u8> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = k.public_key().to_encoded_point(false);
        der::seq(&[
            der::small(1),
            der::tlv(der::OCTET_STRING, &k.to_bytes()),
            der::explicit(0, &der::oid(OID_P256)),
            der::explicit(1, &der::bits(point.as_bytes())),
        ])
    }

    /// The key as Sprig's `pemBlockForKey` writes it.
    pub fn pem(&self) -> String {
        match self {
            Key::Rsa(k) => der::pem("RSA PRIVATE KEY", &Key::pkcs1(k)),
            Key::Ec(k) => der::pem("EC PRIVATE KEY", &Key::sec1(k)),
            Key::Ed(k) => der::pem(
                "PRIVATE KEY",
                &der::seq(&[
                    der::small(0),
                    der::seq(&[der::oid(OID_ED25519)]),
                    der::tlv(
                        der::OCTET_STRING,
                        &der::tlv(der::OCTET_STRING, &k.to_bytes()),
                    ),
                ]),
            ),
        }
    }

    /// `SubjectPublicKeyInfo` and the raw public key bits (for key ids).
    fn spki(&self) -> (Vec<u8>, Vec<u8>) {
        let (alg, key) = match self {
            Key::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                (
                    der::seq(&[der::oid(OID_RSA), der::tlv(der::NULL, &[])]),
                    der::seq(&[big(k.n()), big(k.e())]),
                )
            }
            Key::Ec(k) => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                (
                    der::seq(&[der::oid(OID_EC), der::oid(OID_P256)]),
                    k.public_key().to_encoded_point(false).as_bytes().to_vec(),
                )
            }
            Key::Ed(k) => (
                der::seq(&[der::oid(OID_ED25519)]),
                k.verifying_key().to_bytes().to_vec(),
            ),
        };
        (der::seq(&[alg, der::bits(&key)]), key)
    }

    /// The signature `AlgorithmIdentifier` this key signs with.
    fn sig_alg(&self) -> Vec<u8> {
        match self {
            Key::Rsa(_) => der::seq(&[der::oid(OID_RSA_SHA256), der::tlv(der::NULL, &[])]),
            Key::Ec(_) => der::seq(&[der::oid(OID_ECDSA_SHA256)]),
            Key::Ed(_) => der::seq(&[der::oid(OID_ED25519)]),
        }
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, FuncError> {
        match self {
            Key::Rsa(k) => {
                let mut info = SHA256_DIGEST_INFO.to_vec();
                info.extend_from_slice(&Sha256::digest(msg));
                k.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info)
                    .map_err(|e| err(format!("x509: signing failed: {e}")))
            }
            Key::Ec(k) => {
                use p256::ecdsa::signature::Signer;
                let sk = p256::ecdsa::SigningKey::from(&**k);
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                let (r, s) = sig.split_bytes();
                Ok(der::seq(&[der::uint(&r), der::uint(&s)]))
            }
            Key::Ed(k) => {
                use ed25519_dalek::Signer;
                Ok(k.sign(msg).to_bytes().to_vec())
            }
        }
    }

    /// Sprig's `parsePrivateKeyPEM`.
    ///
    /// # Errors
    /// Sprig's messages for missing PEM, unknown block types and bad keys.
    pub fn parse_pem(text: &str) -> Result<Key, String> {
        let (label, bytes) = der::pem_decode(text).ok_or("no PEM data in input")?;
        if label == "PRIVATE KEY" {
            return parse_pkcs8(&bytes).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
        }
        match label.strip_suffix(" PRIVATE KEY") {
            Some("RSA") => {
                parse_pkcs1(&bytes).map_err(|e| format!("parsing RSA private key from PEM: {e}"))
            }
            Some("EC") => parse_sec1(&bytes, None)
                .map_err(|e| format!("parsing EC private key from PEM: {e}")),
            Some("DSA") => Err("DSA keys are not supported by weir's helm renderer".into()),
            Some(_) => Err(format!("invalid private key type {label}")),
            None => Err(format!("no private key data in PEM block of type {label}")),
        }
    }
}

fn seq_items(b: &[u8]) -> Option<Vec<Elem<'_>>> {
    let (e, _) = der::read(b)?;
    (e.tag == der::SEQUENCE).then_some(())?;
    der::children(e.content)
}

fn parse_pkcs1(b: &[u8]) -> Result<Key, String> {
    let f = seq_items(b).ok_or("x509: failed to parse private key")?;
    if f.len() < 6 || f.iter().take(6).any(|e| e.tag != der::INTEGER) {
        return Err("x509: failed to parse private key".into());
    }
    let n = |ix: usize| rsa::BigUint::from_bytes_be(f[ix].content);
    let k = rsa::RsaPrivateKey::from_components(n(1), n(2), n(3), vec![n(4), n(5)])
        .map_err(|e| format!("x509: invalid RSA key: {e}"))?;
    Ok(Key::Rsa(Box::new(k)))
}

fn parse_sec1(b: &[u8], curve: Option<&[u8]>) -> Result<Key, String> {
    let f = seq_items(b).ok_or("x509: failed to parse EC private key")?;
    let key = f
        .iter()
        .find(|e| e.tag == der::OCTET_STRING)
        .ok_or("x509: failed to parse EC private key")?;
    let named = f
        .iter()
        .find(|e| e.tag == 0xa0)
        .and_then(|e| der::read(e.content))
        .map(|(o, _)| o.content);
    let p256 = der::oid(OID_P256);
    let want = &p256[2..];
    if let Some(c) = named.or(curve)
        && c != want
    {
        return Err("x509: unsupported elliptic curve (weir supports P-256 only)".into());
    }
    let sk = p256::SecretKey::from_slice(key.content)
        .map_err(|_| "x509: invalid elliptic curve private key value".to_string())?;
    Ok(Key::Ec(Box::new(sk)))
}

fn parse_pkcs8(b: &[u8]) -> Result<Key, String> {
    let f = seq_items(b).ok_or("x509: failed to parse private key")?;
    if f.len() < 3 || f[1].tag != der::SEQUENCE || f[2].tag != der::OCTET_STRING {
        return Err("x509: failed to parse private key".into());
    }
    let alg = der::children(f[1].content).ok_or("x509: failed to parse private key")?;
    let oid = alg.first().map(|e| e.raw).unwrap_or_default();
    if oid == der::oid(OID_RSA) {
        parse_pkcs1(f[2].content)
    } else if oid == der::oid(OID_EC) {
        parse_sec1(f[2].content, alg.get(1).map(|e| e.content))
    } else if oid == der::oid(OID_ED25519) {
        let (inner, _) = der::read(f[2].content).ok_or("x509: invalid Ed25519 private key")?;
        let seed: [u8; 32] = inner
            .content
            .try_into()
            .map_err(|_| "ed25519: invalid private key length")?;
        Ok(Key::Ed(Box::new(ed25519_dalek::SigningKey::from_bytes(
            &seed,
        ))))
    } else {
        Err("x509: PKCS#8 wrapping contained private key with unknown algorithm".into())
    }
}

/// What a certificate says about itself (Sprig's templates).
struct Template {
    cn: String,
    ips: Vec<std::net::IpAddr>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

/// A `Name` with just a common name (empty when there is none).
fn name(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return der::seq(&[]);
    }
    let printable = cn
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b" '()+,-./:=?*".contains(&c));
    let value = der::tlv(if printable { 0x13 } else { 0x0c }, cn.as_bytes());
    der::seq(&[der::tlv(der::SET, &der::seq(&[der::oid("2.5.4.3"), value]))])
}

/// UTCTime for 1950–2049, GeneralizedTime otherwise, as Go writes them.
fn asn1_time(t: &Time) -> Vec<u8> {
    let year: i64 = t.format("2006").parse().unwrap_or(0);
    if (1950..2050).contains(&year) {
        der::tlv(0x17, t.format("060102150405Z").as_bytes())
    } else {
        der::tlv(0x18, t.format("20060102150405Z").as_bytes())
    }
}

fn extension(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut parts = vec![der::oid(id)];
    if critical {
        parts.push(der::tlv(0x01, &[0xff]));
    }
    parts.push(der::tlv(der::OCTET_STRING, value));
    der::seq(&parts)
}

/// The issuer a certificate is signed by: its subject and key id (none
/// for a self-signed one).
struct Issuer<'a> {
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
    key: &'a Key,
}

/// Go's `x509.CreateCertificate` for Sprig's templates, PEM-encoded.
fn create_cert(t: &Template, key: &Key, issuer: Option<&Issuer<'_>>) -> Result<String, FuncError> {
    let mut serial = [0u8; 16];
    random::fill(&mut serial)?;
    let (spki, pub_bits) = key.spki();
    let subject = name(&t.cn);
    let signer = issuer.map_or(key, |i| i.key);
    let issuer_name = issuer.map_or_else(|| subject.clone(), |i| i.subject.clone());
    let now = Time::now();
    let mut not_before = Time::utc(now.unix, 0);
    not_before.mono = None;
    let not_after = not_before.add(t.days.saturating_mul(86_400_000_000_000));

    // Key usage bits, DER order: digitalSignature (0), keyEncipherment (2),
    // keyCertSign (5).
    let (usage, unused) = if t.is_ca {
        (0b1010_0100u8, 2u8)
    } else {
        (0b1010_0000u8, 5u8)
    };
    let mut exts = vec![
        extension(
            "2.5.29.15",
            true,
            &der::tlv(der::BIT_STRING, &[unused, usage]),
        ),
        extension(
            "2.5.29.37",
            false,
            &der::seq(&[der::oid("1.3.6.1.5.5.7.3.1"), der::oid("1.3.6.1.5.5.7.3.2")]),
        ),
        extension(
            "2.5.29.19",
            true,
            &der::seq(&if t.is_ca {
                vec![der::tlv(0x01, &[0xff])]
            } else {
                vec![]
            }),
        ),
    ];
    if t.is_ca {
        // Go (1.25) fills a CA's subject key id: SHA-256 of the key, cut to
        // 160 bits.
        let id = &Sha256::digest(&pub_bits)[..20];
        exts.push(extension(
            "2.5.29.14",
            false,
            &der::tlv(der::OCTET_STRING, id),
        ));
    }
    if let Some(id) = issuer.and_then(|i| i.key_id.as_ref())
        && issuer_name != subject
    {
        exts.push(extension(
            "2.5.29.35",
            false,
            &der::seq(&[der::tlv(0x80, id)]),
        ));
    }
    if !t.dns.is_empty() || !t.ips.is_empty() {
        let mut names: Vec<Vec<u8>> = t.dns.iter().map(|d| der::tlv(0x82, d.as_bytes())).collect();
        for ip in &t.ips {
            names.push(match ip {
                std::net::IpAddr::V4(v4) => der::tlv(0x87, &v4.octets()),
                std::net::IpAddr::V6(v6) => der::tlv(0x87, &v6.octets()),
            });
        }
        exts.push(extension("2.5.29.17", false, &der::seq(&names)));
    }
    let alg = signer.sig_alg();
    let tbs = der::seq(&[
        der::explicit(0, &der::small(2)),
        der::uint(&serial),
        alg.clone(),
        issuer_name,
        der::seq(&[asn1_time(&not_before), asn1_time(&not_after)]),
        subject,
        spki,
        der::explicit(3, &der::seq(&exts)),
    ]);
    let sig = signer.sign(&tbs)?;
    Ok(der::pem(
        "CERTIFICATE",
        &der::seq(&[tbs, alg, der::bits(&sig)]),
    ))
}

/// The subject and subject key id of a PEM certificate.
fn cert_subject(pem_text: &str) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let bad = || "x509: malformed certificate".to_string();
    let (label, bytes) = der::pem_decode(pem_text).ok_or("unable to decode certificate")?;
    if label != "CERTIFICATE" {
        return Err("unable to decode certificate".into());
    }
    let cert = seq_items(&bytes).ok_or_else(bad)?;
    let tbs = cert
        .first()
        .filter(|e| e.tag == der::SEQUENCE)
        .ok_or_else(bad)?;
    let f = der::children(tbs.content).ok_or_else(bad)?;
    // Skip the explicit version when present.
    let f: Vec<Elem<'_>> = f.into_iter().skip_while(|e| e.tag == 0xa0).collect();
    // serial, signature, issuer, validity, subject, spki, then [1] [2] [3].
    let subject = f
        .get(4)
        .filter(|e| e.tag == der::SEQUENCE)
        .ok_or_else(bad)?;
    let mut key_id = None;
    if let Some(exts) = f.iter().find(|e| e.tag == 0xa3) {
        let list = der::read(exts.content)
            .and_then(|(l, _)| der::children(l.content))
            .ok_or_else(bad)?;
        let ski = der::oid("2.5.29.14");
        for ext in list {
            let parts = der::children(ext.content).ok_or_else(bad)?;
            if parts.first().is_some_and(|p| p.raw == ski.as_slice())
                && let Some(v) = parts.last()
            {
                key_id = der::read(v.content).map(|(id, _)| id.content.to_vec());
            }
        }
    }
    Ok((subject.raw.to_vec(), key_id))
}

fn cert_value(cert: String, key: String) -> Value {
    Value::Obj(Rc::new(Obj::Cert { cert, key }))
}

/// A `[]interface{}` parameter (nil allowed).
fn list_param(v: &Value) -> Result<Vec<Value>, FuncError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::List(l) => Ok(l.to_vec()),
        other => Err(type_err("[]interface {}", other)),
    }
}

/// Sprig's `getNetIPs`.
fn ips(v: &Value) -> Result<Vec<std::net::IpAddr>, FuncError> {
    list_param(v)?
        .iter()
        .map(|x| match x {
            Value::Str(s) => s.parse().map_err(|_| err(format!("error parsing ip: {s}"))),
            other => Err(err(format!(
                "error parsing ip: {} is not a string",
                other.to_go_string()
            ))),
        })
        .collect()
}

/// Sprig's `getAlternateDNSStrs`.
fn dns_names(v: &Value) -> Result<Vec<String>, FuncError> {
    list_param(v)?
        .iter()
        .map(|x| match x {
            Value::Str(s) => Ok(s.to_string()),
            other => Err(err(format!(
                "error processing alternate dns name: {} is not a string",
                other.to_go_string()
            ))),
        })
        .collect()
}

/// A `certificate` parameter (what `genCA` returned).
fn cert_param(v: &Value) -> Result<(String, String), FuncError> {
    match v {
        Value::Obj(o) => match &**o {
            Obj::Cert { cert, key } => Ok((cert.clone(), key.clone())),
            _ => Err(type_err("sprig.certificate", v)),
        },
        other => Err(type_err("sprig.certificate", other)),
    }
}

fn with_key(pem_text: &str) -> Result<Key, FuncError> {
    Key::parse_pem(pem_text).map_err(|e| err(format!("parsing private key: {e}")))
}

const NAMES: &[&str] = &[
    "genPrivateKey",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "buildCustomCert",
    "derivePassword",
    "htpasswd",
    "bcrypt",
    "encryptAES",
    "decryptAES",
];

/// Sprig's crypto functions; `None` when `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<R> {
    NAMES.contains(&name).then(|| run(name, a))
}

fn run(name: &str, a: &[Value]) -> R {
    match name {
        "genPrivateKey" => {
            arity(name, a, 1)?;
            let key = match &*s(&a[0])? {
                "rsa" => Key::rsa(4096)?,
                "ecdsa" => Key::ec()?,
                "ed25519" => Key::ed()?,
                "dsa" => {
                    return Err(err(
                        "genPrivateKey \"dsa\" is not supported by weir's helm renderer (DSA keys are deprecated; use rsa, ecdsa or ed25519)",
                    ));
                }
                other => return Ok(Value::str(format!("Unknown type {other}"))),
            };
            Ok(Value::str(key.pem()))
        }
        "genCA" | "genCAWithKey" => {
            arity(name, a, if name == "genCA" { 2 } else { 3 })?;
            let (cn, days) = (s(&a[0])?, i(&a[1])?);
            let key = if name == "genCA" {
                Key::rsa(2048)?
            } else {
                with_key(&s(&a[2])?)?
            };
            let t = Template {
                cn: cn.to_string(),
                ips: Vec::new(),
                dns: Vec::new(),
                days,
                is_ca: true,
            };
            let cert = create_cert(&t, &key, None)?;
            Ok(cert_value(cert, key.pem()))
        }
        "genSelfSignedCert" | "genSelfSignedCertWithKey" => {
            let with = name.ends_with("WithKey");
            arity(name, a, if with { 5 } else { 4 })?;
            let t = Template {
                cn: s(&a[0])?.to_string(),
                ips: ips(&a[1])?,
                dns: dns_names(&a[2])?,
                days: i(&a[3])?,
                is_ca: false,
            };
            let key = if with {
                with_key(&s(&a[4])?)?
            } else {
                Key::rsa(2048)?
            };
            let cert = create_cert(&t, &key, None)?;
            Ok(cert_value(cert, key.pem()))
        }
        "genSignedCert" | "genSignedCertWithKey" => {
            let with = name.ends_with("WithKey");
            arity(name, a, if with { 6 } else { 5 })?;
            let t = Template {
                cn: s(&a[0])?.to_string(),
                ips: ips(&a[1])?,
                dns: dns_names(&a[2])?,
                days: i(&a[3])?,
                is_ca: false,
            };
            let (ca_cert, ca_key) = cert_param(&a[4])?;
            let key = if with {
                with_key(&s(&a[5])?)?
            } else {
                Key::rsa(2048)?
            };
            let (subject, key_id) = cert_subject(&ca_cert)
                .map_err(|e| err(format!("error parsing ca certificate: {e}")))?;
            let signer = Key::parse_pem(&ca_key)
                .map_err(|e| err(format!("error parsing ca private key: {e}")))?;
            let issuer = Issuer {
                subject,
                key_id,
                key: &signer,
            };
            let cert = create_cert(&t, &key, Some(&issuer))?;
            Ok(cert_value(cert, key.pem()))
        }
        "buildCustomCert" => {
            arity(name, a, 2)?;
            let cert = base64_decode(&s(&a[0])?)
                .ok_or_else(|| err("unable to decode base64 certificate"))?;
            let key = base64_decode(&s(&a[1])?)
                .ok_or_else(|| err("unable to decode base64 private key"))?;
            let cert = String::from_utf8_lossy(&cert).into_owned();
            let key = String::from_utf8_lossy(&key).into_owned();
            match der::pem_decode(&cert) {
                None => return Err(err("unable to decode certificate")),
                Some(_) => {
                    cert_subject(&cert).map_err(|e| {
                        err(format!("error parsing certificate: decodedCert.Bytes: {e}"))
                    })?;
                }
            }
            Key::parse_pem(&key).map_err(|e| err(format!("error parsing private key: {e}")))?;
            Ok(cert_value(cert, key))
        }
        "derivePassword" => {
            arity(name, a, 5)?;
            let counter = u32::try_from(i(&a[0])?).map_err(|_| type_err("uint32", &a[0]))?;
            Ok(Value::str(derive_password(
                counter,
                &s(&a[1])?,
                &s(&a[2])?,
                &s(&a[3])?,
                &s(&a[4])?,
            )))
        }
        "bcrypt" => {
            arity(name, a, 1)?;
            Ok(Value::str(bcrypt_or_message(&s(&a[0])?)?))
        }
        "htpasswd" => {
            arity(name, a, 2)?;
            let (user, pass) = (s(&a[0])?, s(&a[1])?);
            if user.contains(':') {
                return Ok(Value::str(format!("invalid username: {user}")));
            }
            Ok(Value::str(format!("{user}:{}", bcrypt_or_message(&pass)?)))
        }
        "encryptAES" => {
            arity(name, a, 2)?;
            Ok(Value::str(encrypt_aes(&s(&a[0])?, &s(&a[1])?)?))
        }
        "decryptAES" => {
            arity(name, a, 2)?;
            Ok(Value::str(decrypt_aes(&s(&a[0])?, &s(&a[1])?)?))
        }
        other => Err(err(format!("{other} is not a crypto function"))),
    }
}

/// Sprig's `derivePassword`: the Master Password algorithm (scrypt, then
/// HMAC-SHA256 over the site, then a character template).
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    const SEED: &[u8] = b"com.lyndir.masterpassword";
    let templates: &[&str] = match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return format!("cannot find password template {kind}"),
    };
    let mut salt = SEED.to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let mut key = [0u8; 64];
    let params = match scrypt::Params::new(15, 8, 2, 64) {
        Ok(p) => p,
        Err(e) => return format!("failed to derive password: {e}"),
    };
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut msg = SEED.to_vec();
    msg.extend((site.len() as u32).to_be_bytes());
    msg.extend(site.as_bytes());
    msg.extend(counter.to_be_bytes());
    let seed = hmac_sha256(&key, &msg);
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(ix, c)| {
            let chars: &[u8] = match c {
                b'V' => b"AEIOU",
                b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
                b'v' => b"aeiou",
                b'c' => b"bcdfghjklmnpqrstvwxyz",
                b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
                b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
                b'n' => b"0123456789",
                b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
                _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
            };
            chars[usize::from(seed[ix + 1]) % chars.len()] as char
        })
        .collect()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

const BCRYPT_B64: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// bcrypt's base64 (its own alphabet, no padding).
fn bcrypt_b64(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (ix, &x)| acc | u32::from(x) << (16 - 8 * ix));
        let chars = chunk.len() + 1;
        for ix in 0..chars {
            out.push(BCRYPT_B64[(n >> (18 - 6 * ix)) as usize & 63] as char);
        }
    }
    out
}

/// bcrypt of `password` with `salt` (16 bytes) at `cost`: `$2a$…`, as Go's
/// `x/crypto/bcrypt` writes it.
fn bcrypt_hash(password: &[u8], salt: &[u8; 16], cost: u32) -> String {
    let mut key = password.to_vec();
    key.push(0);
    let mut state: blowfish::Blowfish = blowfish::Blowfish::bc_init_state();
    state.salted_expand_key(salt, &key);
    for _ in 0..(1u64 << cost) {
        state.bc_expand_key(&key);
        state.bc_expand_key(salt);
    }
    let magic = b"OrpheanBeholderScryDoubt";
    let mut words: Vec<u32> = magic
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    for pair in words.chunks_mut(2) {
        let mut lr = [pair[0], pair[1]];
        for _ in 0..64 {
            lr = state.bc_encrypt(lr);
        }
        pair.copy_from_slice(&lr);
    }
    let out: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    format!(
        "$2a${cost:02}${}{}",
        bcrypt_b64(salt),
        bcrypt_b64(&out[..23])
    )
}

/// Sprig's `getBcryptPassword` at Go's default cost (10); a password over
/// 72 bytes gives Sprig's message instead of a hash.
fn bcrypt_or_message(password: &str) -> Result<String, FuncError> {
    if password.len() > 72 {
        return Ok(
            "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes".into(),
        );
    }
    let mut salt = [0u8; 16];
    random::fill(&mut salt)?;
    Ok(bcrypt_hash(password.as_bytes(), &salt, 10))
}

fn aes_key(password: &str) -> aes::Aes256 {
    use aes::cipher::KeyInit;
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    aes::Aes256::new(&key.into())
}

/// Sprig's `encryptAES`: AES-256-CBC, the password zero-padded to the key,
/// PKCS #7 padding, a random IV in front, base64.
fn encrypt_aes(password: &str, plain: &str) -> Result<String, FuncError> {
    use aes::cipher::BlockEncrypt;
    if plain.is_empty() {
        return Ok(String::new());
    }
    let cipher = aes_key(password);
    let mut content = plain.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut out = vec![0u8; 16];
    random::fill(&mut out)?;
    let mut prev: [u8; 16] = [0; 16];
    prev.copy_from_slice(&out);
    for chunk in content.chunks(16) {
        let mut block = [0u8; 16];
        for (ix, b) in block.iter_mut().enumerate() {
            *b = chunk[ix] ^ prev[ix];
        }
        let mut ga = block.into();
        cipher.encrypt_block(&mut ga);
        prev = ga.into();
        out.extend_from_slice(&prev);
    }
    Ok(base64_encode(&out))
}

/// Sprig's `decryptAES` (the inverse; Go panics on malformed input, which
/// is an error here).
fn decrypt_aes(password: &str, crypt64: &str) -> Result<String, FuncError> {
    use aes::cipher::BlockDecrypt;
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let data =
        base64_decode(crypt64).ok_or_else(|| err("illegal base64 data in decryptAES input"))?;
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return Err(err(
            "decryptAES: crypto/cipher: input not full blocks or shorter than IV and one block",
        ));
    }
    let cipher = aes_key(password);
    let mut out = Vec::with_capacity(data.len() - 16);
    for ix in (16..data.len()).step_by(16) {
        let mut ga: aes::Block = [0u8; 16].into();
        ga.copy_from_slice(&data[ix..ix + 16]);
        cipher.decrypt_block(&mut ga);
        for (j, b) in ga.iter().enumerate() {
            out.push(b ^ data[ix - 16 + j]);
        }
    }
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad > out.len() {
        return Err(err(
            "decryptAES: slice bounds out of range (bad padding: wrong password?)",
        ));
    }
    out.truncate(out.len() - pad);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_matches_reference_vectors() {
        // Computed with libxcrypt's crypt(3).
        let salt = |s: &str| -> [u8; 16] {
            // Decode bcrypt base64 (22 chars → 16 bytes).
            let mut bits = 0u32;
            let mut n = 0;
            let mut out = Vec::new();
            for c in s.bytes() {
                let v = BCRYPT_B64.iter().position(|&b| b == c).unwrap_or(0) as u32;
                bits = bits << 6 | v;
                n += 6;
                if n >= 8 {
                    n -= 8;
                    out.push((bits >> n) as u8);
                }
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&out[..16]);
            a
        };
        assert_eq!(
            bcrypt_hash(b"U*U", &salt("CCCCCCCCCCCCCCCCCCCCC."), 5),
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        );
        assert_eq!(
            bcrypt_hash(b"password", &salt("abcdefghijklmnopqrstuu"), 10),
            "$2a$10$abcdefghijklmnopqrstuu5Lo0g67CiD3M4RpN1BmBb4Crp5w7dbK"
        );
    }

    #[test]
    fn aes_round_trips_and_pads() {
        let c = encrypt_aes("secret", "plaintext").unwrap_or_default();
        assert_eq!(base64_decode(&c).map(|b| b.len()), Some(32));
        assert_eq!(decrypt_aes("secret", &c).unwrap_or_default(), "plaintext");
        let c16 = encrypt_aes("k", "0123456789abcdef").unwrap_or_default();
        assert_eq!(base64_decode(&c16).map(|b| b.len()), Some(48));
        assert_ne!(
            c,
            encrypt_aes("secret", "plaintext").unwrap_or_default(),
            "random IV"
        );
        assert!(decrypt_aes("k", "AAAA").is_err());
    }

    #[test]
    fn keys_round_trip_through_pem() {
        for key in [Key::ec(), Key::ed()] {
            let key = key.unwrap_or_else(|e| panic!("{e:?}"));
            let pem = key.pem();
            let again = Key::parse_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(again.pem(), pem);
        }
        assert_eq!(
            Key::parse_pem("nothing").err().unwrap_or_default(),
            "no PEM data in input"
        );
    }

    /// Checks `cert`'s signature with `issuer`'s public key (any of the
    /// three key types) and that its issuer name is `issuer`'s subject.
    fn verify(cert: &str, issuer: &str) -> Result<(), String> {
        let (_, cder) = der::pem_decode(cert).ok_or("cert pem")?;
        let c = seq_items(&cder).ok_or("cert der")?;
        let (tbs, sig) = (c[0], c[2]);
        let sig = &sig.content[1..];
        let (_, ider) = der::pem_decode(issuer).ok_or("issuer pem")?;
        let ic = seq_items(&ider).ok_or("issuer der")?;
        let fields: Vec<Elem<'_>> = der::children(ic[0].content)
            .ok_or("issuer tbs")?
            .into_iter()
            .skip_while(|e| e.tag == 0xa0)
            .collect();
        let spki = der::children(fields[5].content).ok_or("spki")?;
        let alg = der::children(spki[0].content).ok_or("alg")?;
        let key = &spki[1].content[1..];
        let cfields: Vec<Elem<'_>> = der::children(tbs.content)
            .ok_or("tbs")?
            .into_iter()
            .skip_while(|e| e.tag == 0xa0)
            .collect();
        if cfields[2].raw != fields[4].raw {
            return Err("issuer name is not the issuer's subject".into());
        }
        let oid = alg[0].raw;
        if oid == der::oid(OID_RSA) {
            let parts = seq_items(key).ok_or("rsa key")?;
            let n = rsa::BigUint::from_bytes_be(parts[0].content);
            let e = rsa::BigUint::from_bytes_be(parts[1].content);
            let pk = rsa::RsaPublicKey::new(n, e).map_err(|e| e.to_string())?;
            let mut info = SHA256_DIGEST_INFO.to_vec();
            info.extend_from_slice(&Sha256::digest(tbs.raw));
            pk.verify(rsa::Pkcs1v15Sign::new_unprefixed(), &info, sig)
                .map_err(|e| e.to_string())
        } else if oid == der::oid(OID_EC) {
            use p256::ecdsa::signature::Verifier;
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|e| e.to_string())?;
            let rs = seq_items(sig).ok_or("ecdsa sig")?;
            let fixed = |b: &[u8]| -> [u8; 32] {
                let b = if b.len() > 32 { &b[b.len() - 32..] } else { b };
                let mut a = [0u8; 32];
                a[32 - b.len()..].copy_from_slice(b);
                a
            };
            let s =
                p256::ecdsa::Signature::from_scalars(fixed(rs[0].content), fixed(rs[1].content))
                    .map_err(|e| e.to_string())?;
            vk.verify(tbs.raw, &s).map_err(|e| e.to_string())
        } else {
            use ed25519_dalek::Verifier;
            let k: [u8; 32] = key.try_into().map_err(|_| "ed25519 key")?;
            let s: [u8; 64] = sig.try_into().map_err(|_| "ed25519 sig")?;
            ed25519_dalek::VerifyingKey::from_bytes(&k)
                .map_err(|e| e.to_string())?
                .verify(tbs.raw, &ed25519_dalek::Signature::from_bytes(&s))
                .map_err(|e| e.to_string())
        }
    }

    fn cert(name: &str, args: Vec<Value>) -> (String, String) {
        match call(name, &args) {
            Some(Ok(v)) => cert_param(&v).unwrap_or_else(|e| panic!("{e:?}")),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn certificate_chains_verify() {
        let (ca, ca_key) = cert("genCA", vec![Value::str("my-ca"), Value::Int(365)]);
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(ca_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        verify(&ca, &ca).unwrap_or_else(|e| panic!("CA: {e}"));
        let ca_value = cert_value(ca.clone(), ca_key);
        let ips = Value::list(vec![Value::str("10.0.0.1"), Value::str("::1")]);
        let dns = Value::list(vec![Value::str("a.example")]);
        let (leaf, _) = cert(
            "genSignedCert",
            vec![
                Value::str("leaf"),
                ips.clone(),
                dns.clone(),
                Value::Int(30),
                ca_value.clone(),
            ],
        );
        verify(&leaf, &ca).unwrap_or_else(|e| panic!("leaf: {e}"));
        // The leaf names its issuer's key.
        let (_, ca_id) = cert_subject(&ca).unwrap_or_else(|e| panic!("{e}"));
        let (_, leaf_der) = der::pem_decode(&leaf).unwrap_or_default();
        let id = ca_id.unwrap_or_default();
        assert_eq!(id.len(), 20);
        assert!(leaf_der.windows(20).any(|w| w == id.as_slice()));
        // Other key types, given as PEM, sign too.
        for typ in ["ecdsa", "ed25519"] {
            let key = match call("genPrivateKey", &[Value::str(typ)]) {
                Some(Ok(v)) => v,
                other => panic!("{other:?}"),
            };
            let (own_ca, own_key) = cert(
                "genCAWithKey",
                vec![Value::str(typ), Value::Int(1), key.clone()],
            );
            verify(&own_ca, &own_ca).unwrap_or_else(|e| panic!("{typ} CA: {e}"));
            assert_eq!(Some(own_key.as_str()), key.as_str());
            let (l, _) = cert(
                "genSignedCertWithKey",
                vec![
                    Value::str("l"),
                    Value::Nil,
                    Value::Nil,
                    Value::Int(1),
                    cert_value(own_ca.clone(), own_key.clone()),
                    key.clone(),
                ],
            );
            verify(&l, &own_ca).unwrap_or_else(|e| panic!("{typ} leaf: {e}"));
            let (ss, _) = cert(
                "genSelfSignedCertWithKey",
                vec![
                    Value::str("s"),
                    ips.clone(),
                    dns.clone(),
                    Value::Int(1),
                    key,
                ],
            );
            verify(&ss, &ss).unwrap_or_else(|e| panic!("{typ} self-signed: {e}"));
        }
        // A leaf signed by an ECDSA CA verifies against it, and not against
        // another CA.
        let (other, _) = cert(
            "genSelfSignedCert",
            vec![Value::str("other"), Value::Nil, Value::Nil, Value::Int(1)],
        );
        assert!(verify(&leaf, &other).is_err());
    }

    #[test]
    fn bad_inputs_fail_as_sprig() {
        let e = |name: &str, args: Vec<Value>| match call(name, &args) {
            Some(Err(FuncError::Msg(m))) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            e(
                "genCAWithKey",
                vec![Value::str("x"), Value::Int(1), Value::str("junk")]
            ),
            "parsing private key: no PEM data in input"
        );
        assert_eq!(
            e(
                "genSelfSignedCert",
                vec![
                    Value::str("x"),
                    Value::list(vec![Value::str("nope")]),
                    Value::Nil,
                    Value::Int(1)
                ]
            ),
            "error parsing ip: nope"
        );
        assert_eq!(
            e("buildCustomCert", vec![Value::str("!!"), Value::str("")]),
            "unable to decode base64 certificate"
        );
        assert!(matches!(
            call("genPrivateKey", &[Value::str("dsa")]),
            Some(Err(_))
        ));
    }
}
