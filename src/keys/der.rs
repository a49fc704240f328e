//! The one DER structure this crate writes: an RSA public key from its JWK `n` and `e`.

/// Encodes PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
/// (RFC 8017 §A.1.1) so JWK keys and PEM keys share one parsing path in aws-lc.
pub(crate) fn rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let n = unsigned_integer(n);
    let e = unsigned_integer(e);
    let mut body = Vec::with_capacity(n.len() + e.len());
    body.extend_from_slice(&n);
    body.extend_from_slice(&e);
    tagged(0x30, &body)
}

fn unsigned_integer(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = &bytes[first..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    // A set high bit would read as negative: DER needs a leading zero byte then.
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tagged(0x02, &content)
}

fn tagged(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let len_bytes = len.to_be_bytes();
        let skip = len_bytes.iter().position(|&b| b != 0).unwrap_or(len_bytes.len() - 1);
        out.push(0x80 | (len_bytes.len() - skip) as u8);
        out.extend_from_slice(&len_bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_integers_encode_canonically() {
        assert_eq!(unsigned_integer(&[0x01, 0x00, 0x01]), [0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(unsigned_integer(&[0x00, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[]), [0x02, 0x01, 0x00]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let der = tagged(0x30, &[0u8; 300]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x2c]);
    }
}
