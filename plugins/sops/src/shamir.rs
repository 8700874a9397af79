//! Shamir secret sharing recombination, as SOPS uses it for several key
//! groups (HashiCorp Vault's `shamir` format): each share is the secret's
//! length in polynomial values followed by one byte, the share's x
//! coordinate; the secret is every byte's polynomial evaluated at x = 0 by
//! Lagrange interpolation in GF(2^8) with the AES polynomial
//! x^8 + x^4 + x^3 + x + 1.

/// Why shares do not combine.
#[derive(Debug, PartialEq, Eq)]
pub enum ShamirError {
    /// Fewer than two shares.
    TooFew,
    /// Shares of different lengths, or too short.
    BadLength,
    /// Two shares with the same x coordinate.
    Duplicate,
}

impl std::fmt::Display for ShamirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ShamirError::TooFew => "fewer than two shares",
            ShamirError::BadLength => "shares of different or too short lengths",
            ShamirError::Duplicate => "two shares with the same x coordinate",
        })
    }
}

/// Multiplication in GF(2^8) modulo 0x11b.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut out = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            out ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    out
}

/// The multiplicative inverse (a^254); 0 for 0.
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e != 0 {
        if e & 1 != 0 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

/// Recombines shares into the secret.
///
/// # Errors
/// When the shares cannot be combined (see [`ShamirError`]).
pub fn combine<S: AsRef<[u8]>>(shares: &[S]) -> Result<Vec<u8>, ShamirError> {
    let shares: Vec<&[u8]> = shares.iter().map(AsRef::as_ref).collect();
    if shares.len() < 2 {
        return Err(ShamirError::TooFew);
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::BadLength);
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(ShamirError::Duplicate);
        }
    }
    let mut secret = vec![0u8; len - 1];
    for (idx, byte) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, share) in shares.iter().enumerate() {
            // Lagrange basis polynomial i at x = 0: prod x_j / (x_i - x_j);
            // subtraction is XOR in GF(2^8).
            let mut basis = 1u8;
            for (j, xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mul(basis, mul(*xj, inv(xs[i] ^ xj)));
                }
            }
            acc ^= mul(share[idx], basis);
        }
        *byte = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `secret` with the polynomial coefficients given (test only).
    fn split(secret: &[u8], coeffs: &[u8], xs: &[u8]) -> Vec<Vec<u8>> {
        xs.iter()
            .map(|&x| {
                let mut share: Vec<u8> = secret
                    .iter()
                    .map(|&s| {
                        // s + c1 x + c2 x^2 …, Horner's rule.
                        let mut y = 0u8;
                        for &c in coeffs.iter().rev() {
                            y = mul(y, x) ^ c;
                        }
                        mul(y, x) ^ s
                    })
                    .collect();
                share.push(x);
                share
            })
            .collect()
    }

    #[test]
    fn field_arithmetic_matches_the_aes_field() {
        assert_eq!(mul(0x57, 0x83), 0xc1); // FIPS-197 4.2
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "{a}");
        }
    }

    #[test]
    fn any_threshold_of_shares_rebuilds_the_secret() {
        let secret = b"0123456789abcdef0123456789abcdef".to_vec();
        let shares = split(&secret, &[0x42, 0x99], &[1, 7, 200, 33]);
        assert_eq!(combine(&shares[..3]), Ok(secret.clone()));
        assert_eq!(combine(&shares[1..]), Ok(secret.clone()));
        assert_ne!(combine(&shares[..2]), Ok(secret));
    }

    #[test]
    fn malformed_shares_are_refused() {
        assert_eq!(combine(&[vec![1, 2]]), Err(ShamirError::TooFew));
        assert_eq!(combine(&[vec![1, 2], vec![1]]), Err(ShamirError::BadLength));
        assert_eq!(
            combine(&[vec![1, 2], vec![3, 2]]),
            Err(ShamirError::Duplicate)
        );
    }
}
