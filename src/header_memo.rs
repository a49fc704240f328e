//! The last JOSE header parsed on each thread, remembered.
//!
//! Tokens from one issuer and key repeat their header segment byte for byte, so a repeat skips
//! base64url decoding and the strict JSON parse. Parsing is a pure function of the segment, so
//! the memo never needs invalidating, and it allocates nothing: the decoded JSON sits in a
//! fixed buffer and `kid`/`typ` are ranges into it. Headers too long for the buffer, and those
//! whose `kid` or `typ` hold escapes, are parsed every time.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;

use crate::algorithm::Algorithm;
use crate::base64url;
use crate::error::AuthError;
use crate::header::TokenHeader;

/// The longest header JSON remembered, and its base64url length.
const MAX_JSON: usize = 256;
const MAX_SEGMENT: usize = MAX_JSON.div_ceil(3) * 4;

struct Recent {
    /// The encoded segment; empty when nothing is remembered.
    segment: [u8; MAX_SEGMENT],
    segment_len: usize,
    json: [u8; MAX_JSON],
    alg: Algorithm,
    kid: Option<Range<usize>>,
    typ: Option<Range<usize>>,
}

thread_local! {
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent {
            segment: [0; MAX_SEGMENT],
            segment_len: 0,
            json: [0; MAX_JSON],
            alg: Algorithm::HS256,
            kid: None,
            typ: None,
        })
    };
}

impl Recent {
    fn header_for(&self, segment: &str) -> Option<TokenHeader<'_>> {
        if self.segment_len == 0 || self.segment[..self.segment_len] != *segment.as_bytes() {
            return None;
        }
        let text = |range: &Option<Range<usize>>| match range {
            None => Some(None),
            Some(range) => std::str::from_utf8(self.json.get(range.clone())?).ok().map(Some),
        };
        Some(TokenHeader::from_parts(self.alg, text(&self.kid)?, text(&self.typ)?))
    }

    fn remember(&mut self, segment: &str, json: &[u8], header: &TokenHeader<'_>) {
        self.segment_len = 0;
        if segment.is_empty() || segment.len() > MAX_SEGMENT || json.len() > MAX_JSON {
            return;
        }
        let (Some(kid), Some(typ)) =
            (range_within(json, header.kid_text()), range_within(json, header.typ_text()))
        else {
            return;
        };
        self.json[..json.len()].copy_from_slice(json);
        self.alg = header.alg();
        self.kid = kid;
        self.typ = typ;
        self.segment[..segment.len()].copy_from_slice(segment.as_bytes());
        self.segment_len = segment.len();
    }
}

/// Where `text` lies inside `json`: `Some(None)` for no text, `None` when it is not a slice of
/// `json` (an unescaped copy).
fn range_within(json: &[u8], text: Option<&Cow<'_, str>>) -> Option<Option<Range<usize>>> {
    match text {
        None => Some(None),
        Some(Cow::Owned(_)) => None,
        Some(Cow::Borrowed(text)) => {
            let start = (text.as_ptr() as usize).checked_sub(json.as_ptr() as usize)?;
            let end = start.checked_add(text.len())?;
            (end <= json.len()).then_some(Some(start..end))
        }
    }
}

/// Header segments decoded on the stack; longer ones (long `x5c` chains) go to the heap.
const STACK_JSON: usize = 512;

/// Runs `f` with the parsed header of `segment`: remembered from the last call on this thread
/// when the segment is the same, else decoded, parsed strictly and remembered.
pub(crate) fn with_header<R>(
    segment: &str,
    f: impl FnOnce(Result<&TokenHeader<'_>, AuthError>) -> R,
) -> R {
    RECENT.with(|recent| {
        // `try_borrow`: a key provider that verifies another token from inside a lookup
        // finds the memo in use and simply parses.
        if let Ok(recent) = recent.try_borrow()
            && let Some(header) = recent.header_for(segment)
        {
            return f(Ok(&header));
        }
        let mut stack = [0u8; STACK_JSON];
        let mut heap = Vec::new();
        let Some(json) = base64url::decode_buffered(segment, &mut stack, &mut heap) else {
            return f(Err(AuthError::Malformed("header is not base64url")));
        };
        match TokenHeader::parse(json) {
            Ok(header) => {
                if let Ok(mut recent) = recent.try_borrow_mut() {
                    recent.remember(segment, json, &header);
                }
                f(Ok(&header))
            }
            Err(err) => f(Err(err)),
        }
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn owned(header: Result<&TokenHeader<'_>, AuthError>) -> Result<String, AuthError> {
        header.map(|h| format!("{h:?}"))
    }

    fn parsed(json: &str) -> Result<String, AuthError> {
        TokenHeader::parse(json.as_bytes()).map(|h| format!("{h:?}"))
    }

    #[test]
    fn a_repeat_gives_what_a_fresh_parse_gives() {
        for json in [
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"alg":"ES256"}"#,
            r#"{"alg":"HS256","kid":"a\"b\u00e9"}"#,
            r#"{"typ":"at+jwt","alg":"PS256","x5t":"abc","kid":""}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
        ] {
            let segment = URL_SAFE_NO_PAD.encode(json);
            for round in 0..3 {
                assert_eq!(with_header(&segment, owned), parsed(json), "{json}, round {round}");
            }
        }
    }

    #[test]
    fn segments_that_differ_are_never_confused() {
        let a = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"a"}"#);
        let b = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"b"}"#);
        for segment in [&a, &b, &a, &a, &b] {
            let kid = with_header(segment, |h| h.unwrap().kid().map(str::to_owned));
            assert_eq!(kid.as_deref(), Some(if segment == &a { "a" } else { "b" }));
        }
        let bad = format!("{a}!");
        assert!(with_header(&bad, |h| h.is_err()));
    }

    #[test]
    fn long_headers_are_parsed_every_time() {
        let json = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(400));
        let segment = URL_SAFE_NO_PAD.encode(&json);
        for _ in 0..2 {
            assert_eq!(with_header(&segment, owned), parsed(&json));
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_parser(
            kid in proptest::option::of("[a-z0-9\\\\\"é-]{0,12}"),
            typ in proptest::option::of("[A-Za-z+/]{0,8}"),
            repeat in 1usize..3,
        ) {
            let mut json = String::from(r#"{"alg":"ES256""#);
            if let Some(kid) = &kid {
                json.push_str(&format!(r#","kid":{}"#, serde_json::to_string(kid).unwrap()));
            }
            if let Some(typ) = &typ {
                json.push_str(&format!(r#","typ":"{typ}""#));
            }
            json.push('}');
            let segment = URL_SAFE_NO_PAD.encode(&json);
            for _ in 0..repeat {
                proptest::prop_assert_eq!(with_header(&segment, owned), parsed(&json));
            }
        }
    }
}
