//! The JOSE header: parsed strictly, and only the members that choose a key.

use std::borrow::Cow;
use std::fmt;

use crate::error::AuthError;
use crate::jose::algorithm::Algorithm;
use crate::jose::base64url;
use crate::jose::json_reader::{JsonError, JsonReader, Literal, ValueKind};
use crate::jose::member_names::SeenKeys;
use crate::reason::MalformedReason;

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
        // JSON is UTF-8 (RFC 8259 §8.1): checked once here, for every string of the header.
        let json = std::str::from_utf8(json).map_err(|_| refusal(JsonError::Syntax))?;
        let mut reader = JsonReader::new(json);
        let header = read_header(&mut reader).and_then(|header| {
            reader.end().map_err(refusal)?;
            Ok(header)
        });
        if let Err(err) = &header {
            tracing::debug!(error = %err, offset = reader.offset(), "refused JOSE header");
        }
        header
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

/// A refusal of the header's JSON itself.
fn refusal(err: JsonError) -> AuthError {
    AuthError::Malformed(match err {
        JsonError::Syntax => MalformedReason::HeaderNotJsonObject,
        JsonError::DuplicateMember => MalformedReason::DuplicateHeaderMember,
    })
}

/// The header object: every member name checked, `alg`, `kid`, `typ` and `b64` read, `crit`
/// refused.
fn read_header<'a>(json: &mut JsonReader<'a>) -> Result<TokenHeader<'a>, AuthError> {
    if json.peek().map_err(refusal)? != ValueKind::Object {
        return Err(refusal(JsonError::Syntax));
    }
    let mut members = json.begin_object().map_err(refusal)?;
    // The members read here are told apart by one bit each, the others by name.
    let mut members_seen = 0u8;
    let mut seen = SeenKeys::default();
    let (mut alg, mut kid, mut typ) = (None, None, None);
    while let Some(name) = json.next_member(&mut members).map_err(refusal)? {
        // Matched byte by byte once (a decision tree, not a chain of string comparisons);
        // the bit then chooses how the value is read.
        let bit = match *name.as_bytes() {
            [b'a', b'l', b'g'] => 1,
            [b'k', b'i', b'd'] => 2,
            [b't', b'y', b'p'] => 4,
            [b'b', b'6', b'4'] => 8,
            _ => 0,
        };
        let crit = bit == 0 && name == "crit";
        let fresh = match bit {
            0 => seen.insert(name),
            bit => {
                let fresh = members_seen & bit == 0;
                members_seen |= bit;
                fresh
            }
        };
        if !fresh {
            return Err(refusal(JsonError::DuplicateMember));
        }
        let kind = json.peek().map_err(refusal)?;
        let string = |json: &mut JsonReader<'a>, wrong_type: MalformedReason| match kind {
            ValueKind::String => json.string().map_err(refusal),
            _ => Err(AuthError::Malformed(wrong_type)),
        };
        match bit {
            1 => {
                let name = string(json, MalformedReason::AlgNotString)?;
                alg = Some(Algorithm::from_name(&name).ok_or(AuthError::UnsupportedAlgorithm)?);
            }
            2 => kid = Some(string(json, MalformedReason::KidNotString)?),
            4 => typ = Some(string(json, MalformedReason::TypNotString)?),
            // RFC 7797: only `b64: true` means the ordinary JWS encoding.
            8 if kind == ValueKind::Literal
                && json.literal().map_err(refusal)? == Literal::True => {}
            8 => return Err(AuthError::CriticalHeader),
            _ if crit => return Err(AuthError::CriticalHeader),
            _ => json.skip_value().map_err(refusal)?,
        }
    }
    let alg = alg.ok_or(AuthError::Malformed(MalformedReason::NoAlg))?;
    Ok(TokenHeader { alg, kid, typ })
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
