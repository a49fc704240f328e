//! The JOSE header: parsed strictly, and only the members that choose a key.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use crate::algorithm::Algorithm;
use crate::base64url;
use crate::error::AuthError;
use crate::reason::MalformedReason;
use crate::strict_json::{BorrowedStr, MemberName, NoDuplicates, SeenKeys};

/// Header JSON decoded on the stack; longer headers (long `x5c` chains) go to the heap.
const HEADER_STACK_BYTES: usize = 256;

/// Where a decoded header lives while its parsed view borrows it.
pub(crate) struct DecodeBuffer {
    stack: [u8; HEADER_STACK_BYTES],
    heap: Vec<u8>,
}

impl Default for DecodeBuffer {
    fn default() -> Self {
        DecodeBuffer { stack: [0; HEADER_STACK_BYTES], heap: Vec::new() }
    }
}

/// Step 2 of verification: the JOSE header, decoded and parsed strictly ([`TokenHeader::parse`]).
pub(crate) fn parse_header<'b>(
    segment: &str,
    buffer: &'b mut DecodeBuffer,
) -> Result<TokenHeader<'b>, AuthError> {
    let json = base64url::decode_buffered(segment, &mut buffer.stack, &mut buffer.heap)
        .ok_or(AuthError::Malformed(MalformedReason::HeaderNotBase64Url))?;
    TokenHeader::parse(json)
}

/// The JOSE header of a token, reduced to what selects and pins a key.
///
/// A [`crate::keys::KeyProvider`] receives it to choose keys. It is parsed before the
/// signature is checked, so nothing in it is trusted yet: `kid` is only ever a lookup key into
/// the loaded set, and `jwk`, `jku`, `x5u` and `x5c` are never read (CVE-2018-0114; `jku` and
/// `x5u` would be server-side request forgery).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHeader<'a> {
    alg: Algorithm,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
}

impl<'a> TokenHeader<'a> {
    /// A header for `alg` with an optional `kid`; useful to test a custom key provider.
    pub fn new(alg: Algorithm, kid: Option<&'a str>) -> Self {
        TokenHeader { alg, kid: kid.map(Cow::Borrowed), typ: None }
    }

    /// The `alg` member.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` member, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `typ` member, if any.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// Parses the decoded header JSON.
    ///
    /// Refuses duplicate members, a missing or non-string `alg`, algorithms that are not
    /// supported (`none` in any casing), `crit` (RFC 7515 §4.1.11: no extension is understood
    /// here), `b64` other than `true` (RFC 7797), and `kid`/`typ` that are not strings.
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, AuthError> {
        let problem = Cell::new(None);
        // JSON is UTF-8 (RFC 8259 §8.1): checked once here, so serde_json need not check
        // every string again.
        let json = std::str::from_utf8(json)
            .map_err(|_| AuthError::Malformed(MalformedReason::HeaderNotJsonObject))?;
        let mut de = serde_json::Deserializer::from_str(json);
        let parsed = HeaderSeed { problem: &problem }
            .deserialize(&mut de)
            .and_then(|header| de.end().map(|()| header));
        match parsed {
            Ok(header) => Ok(header),
            Err(err) => {
                let problem = problem
                    .take()
                    .unwrap_or(AuthError::Malformed(MalformedReason::HeaderNotJsonObject));
                tracing::debug!(error = %err, "refused JOSE header");
                Err(problem)
            }
        }
    }
}

impl fmt::Debug for TokenHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenHeader")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish()
    }
}

/// The header visitor reports the precise reason here, since serde errors are only text.
struct HeaderSeed<'p> {
    problem: &'p Cell<Option<AuthError>>,
}

impl HeaderSeed<'_> {
    fn fail<E: de::Error>(&self, problem: AuthError) -> E {
        let text = problem.to_string();
        self.problem.set(Some(problem));
        E::custom(text)
    }
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = TokenHeader<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = TokenHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // The members read here are told apart by one bit each, the others by name.
        let mut members_seen = 0u8;
        let mut seen = SeenKeys::default();
        let (mut alg, mut kid, mut typ) = (None, None, None);
        while let Some(key) = map.next_key_seed(MemberName)? {
            // Matched byte by byte once (a decision tree, not a chain of string comparisons);
            // the bit then chooses how the value is read.
            let bit = match *key.as_bytes() {
                [b'a', b'l', b'g'] => 1,
                [b'k', b'i', b'd'] => 2,
                [b't', b'y', b'p'] => 4,
                [b'b', b'6', b'4'] => 8,
                _ => 0,
            };
            let fresh = match bit {
                0 => seen.insert(key.clone()),
                bit => {
                    let fresh = members_seen & bit == 0;
                    members_seen |= bit;
                    fresh
                }
            };
            if !fresh {
                return Err(self.fail(AuthError::Malformed(MalformedReason::DuplicateHeaderMember)));
            }
            match bit {
                1 => {
                    let name = map.next_value_seed(BorrowedStr)?.ok_or_else(|| {
                        self.fail(AuthError::Malformed(MalformedReason::AlgNotString))
                    })?;
                    alg = Some(
                        Algorithm::from_name(&name)
                            .ok_or_else(|| self.fail(AuthError::UnsupportedAlgorithm))?,
                    );
                }
                2 => {
                    kid = Some(map.next_value_seed(BorrowedStr)?.ok_or_else(|| {
                        self.fail(AuthError::Malformed(MalformedReason::KidNotString))
                    })?);
                }
                4 => {
                    typ = Some(map.next_value_seed(BorrowedStr)?.ok_or_else(|| {
                        self.fail(AuthError::Malformed(MalformedReason::TypNotString))
                    })?);
                }
                8 => {
                    // RFC 7797: only `b64: true` means the ordinary JWS encoding.
                    if map.next_value::<serde_json::Value>()? != serde_json::Value::Bool(true) {
                        return Err(self.fail(AuthError::CriticalHeader));
                    }
                }
                _ if key == "crit" => return Err(self.fail(AuthError::CriticalHeader)),
                _ => map.next_value_seed(NoDuplicates)?,
            }
        }
        let alg = alg.ok_or_else(|| self.fail(AuthError::Malformed(MalformedReason::NoAlg)))?;
        Ok(TokenHeader { alg, kid, typ })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TokenHeader<'_>, AuthError> {
        TokenHeader::parse(json.as_bytes())
    }

    #[test]
    fn reads_alg_kid_typ() {
        let header = parse(r#"{"alg":"RS256","kid":"k1","typ":"JWT","x5t":"abc"}"#).unwrap();
        assert_eq!(header.alg(), Algorithm::RS256);
        assert_eq!(header.kid(), Some("k1"));
        assert_eq!(header.typ(), Some("JWT"));
    }

    #[test]
    fn refuses_what_rfc_8725_says_to_refuse() {
        let cases = [
            (r#"{"alg":"none"}"#, AuthError::UnsupportedAlgorithm),
            (r#"{"alg":"nOnE"}"#, AuthError::UnsupportedAlgorithm),
            (r#"{"alg":"HS256","crit":["exp"]}"#, AuthError::CriticalHeader),
            (r#"{"alg":"HS256","b64":false}"#, AuthError::CriticalHeader),
            (
                r#"{"alg":"HS256","alg":"HS256"}"#,
                AuthError::Malformed(MalformedReason::DuplicateHeaderMember),
            ),
            (
                r#"{"alg":"HS256","typ":"JWT","t\u0079p":"JWT"}"#,
                AuthError::Malformed(MalformedReason::DuplicateHeaderMember),
            ),
            (
                r#"{"alg":"HS256","x5t":"a","x5t":"a"}"#,
                AuthError::Malformed(MalformedReason::DuplicateHeaderMember),
            ),
            (r#"{"alg":"HS256","kid":7}"#, AuthError::Malformed(MalformedReason::KidNotString)),
            (r#"{"alg":256}"#, AuthError::Malformed(MalformedReason::AlgNotString)),
            (r#"{"kid":"a"}"#, AuthError::Malformed(MalformedReason::NoAlg)),
            (r#"["HS256"]"#, AuthError::Malformed(MalformedReason::HeaderNotJsonObject)),
            (r#"{"alg":"HS256"} x"#, AuthError::Malformed(MalformedReason::HeaderNotJsonObject)),
        ];
        for (json, expected) in cases {
            assert_eq!(parse(json).unwrap_err(), expected, "{json}");
        }
        assert!(parse(r#"{"alg":"HS256","b64":true}"#).is_ok());
    }

    #[test]
    fn escaped_kid_is_read_exactly() {
        let header = parse(r#"{"alg":"ES256","kid":"a\"b\u00e9"}"#).unwrap();
        assert_eq!(header.kid(), Some("a\"bé"));
    }
}
