//! Strict base64url without padding (RFC 7515 §2, RFC 4648 §5) for the verification hot
//! path: SIMD decoding, with padding, characters outside the alphabet and non-canonical
//! trailing bits all refused, exactly as the `base64` crate's `URL_SAFE_NO_PAD` engine refuses
//! them (a test below holds the two to the same answers).

use base64_simd::{Base64, Out};

const ENGINE: Base64 = base64_simd::URL_SAFE_NO_PAD;

/// Decodes `segment` into the front of `out`; `None` if it is not strict base64url or does
/// not fit.
pub(crate) fn decode_into<'o>(segment: &str, out: &'o mut [u8]) -> Option<&'o [u8]> {
    let len = ENGINE.decoded_length(segment.as_bytes()).ok()?;
    let out = out.get_mut(..len)?;
    ENGINE.decode(segment.as_bytes(), Out::from_slice(out)).ok().map(|decoded| &*decoded)
}

/// Decodes `segment` into a new vector; `None` if it is not strict base64url.
pub(crate) fn decode_to_vec(segment: &str) -> Option<Vec<u8>> {
    ENGINE.decode_to_vec(segment.as_bytes()).ok()
}

/// Decodes a base64url segment into `stack` when it fits, else into `heap`.
pub(crate) fn decode_buffered<'b, const N: usize>(
    segment: &str,
    stack: &'b mut [u8; N],
    heap: &'b mut Vec<u8>,
) -> Option<&'b [u8]> {
    if segment.len() / 4 * 3 + 3 <= N {
        decode_into(segment, stack)
    } else {
        *heap = decode_to_vec(segment)?;
        Some(heap)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn reference(segment: &str) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(segment).ok()
    }

    #[test]
    fn trailing_bits_padding_and_foreign_characters_are_refused() {
        assert_eq!(decode_to_vec("QQ"), Some(b"A".to_vec()));
        for bad in ["QR", "QUF", "QUFC=", "QQ==", "Q", "QU+C", "QU/C", "QU C", "QU.C", "é"] {
            assert_eq!(decode_to_vec(bad), None, "{bad:?}");
            assert_eq!(reference(bad), None, "{bad:?}");
        }
        assert_eq!(decode_to_vec(""), Some(Vec::new()));
    }

    #[test]
    fn a_buffer_too_small_is_a_refusal_not_a_panic() {
        assert_eq!(decode_into("QUJD", &mut [0u8; 2]), None);
        assert_eq!(decode_into("QUJD", &mut [0u8; 3]), Some(&b"ABC"[..]));
    }

    proptest::proptest! {
        /// The same answer as the `base64` crate's strict engine on every input.
        #[test]
        fn agrees_with_the_base64_crate(
            text in "[A-Za-z0-9_\\-+/=. ]{0,80}",
            size in 0usize..70,
        ) {
            let expected = reference(&text);
            proptest::prop_assert_eq!(decode_to_vec(&text), expected.clone());
            let mut out = vec![0u8; size];
            let fits = expected.filter(|bytes| bytes.len() <= size);
            proptest::prop_assert_eq!(decode_into(&text, &mut out).map(<[u8]>::to_vec), fits);
        }
    }
}
