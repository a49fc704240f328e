//! A strict reader of one JSON text (RFC 8259): the JOSE header (`header`), the payload's
//! registered claims (`registered`) and DPoP proofs (`dpop`) are read with it.
//!
//! It walks every value once, refuses duplicate member names in every object at any depth
//! (RFC 7515 §4, RFC 7519 §4: a verifier may refuse them, and must not let two parsers pick
//! different copies), and hands out what the caller asks for: member names and strings
//! borrowed from the input when they hold no escape, numbers as `f64`. It has no types and no
//! visitors: it decides whether a payload is acceptable JSON, and the application's claims
//! type is then built from the same text by `serde_json` alone.
//!
//! Why not serde_json for this pass too: the pass only needs names, a few strings and three
//! numbers, and through serde's visitors it cost as much as building the claims type itself.
//! Escaped strings are the one intricate part of JSON, so they are decoded by `serde_json`
//! (the same decoder the claims type sees); this reader only finds where they end. Everything
//! it accepts, `serde_json::from_str` accepts too: the tests compare the two.
//!
//! Nesting is bounded by [`MAX_DEPTH`] (serde_json's own limit), so a deep document is refused,
//! never a stack overflow.

use std::borrow::Cow;

use crate::jose::member_names::SeenKeys;

/// The deepest nesting of arrays and objects accepted: what `serde_json` accepts when it
/// builds a value (its recursion limit of 128 refuses the 128th level).
pub(crate) const MAX_DEPTH: usize = 127;

/// Why a JSON text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON (RFC 8259), a number out of `f64`'s range, or nested past [`MAX_DEPTH`].
    Syntax,
    /// One object names the same member twice (after unescaping).
    DuplicateMember,
}

/// What the next value is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    Object,
    Array,
    String,
    Number,
    /// `true`, `false` or `null`.
    Literal,
}

/// A cursor over one JSON text.
pub(crate) struct JsonReader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> JsonReader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        JsonReader { text, pos: 0, depth: 0 }
    }

    /// The byte offset reached, for a log line.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// The kind of the next value, without consuming it.
    #[inline]
    pub(crate) fn peek(&mut self) -> Result<ValueKind, JsonError> {
        self.skip_whitespace();
        Ok(match self.byte() {
            Some(b'{') => ValueKind::Object,
            Some(b'[') => ValueKind::Array,
            Some(b'"') => ValueKind::String,
            Some(b'-' | b'0'..=b'9') => ValueKind::Number,
            Some(b't' | b'f' | b'n') => ValueKind::Literal,
            _ => return Err(JsonError::Syntax),
        })
    }

    /// Only whitespace may follow the one value of the text.
    pub(crate) fn end(&mut self) -> Result<(), JsonError> {
        self.skip_whitespace();
        match self.pos == self.text.len() {
            true => Ok(()),
            false => Err(JsonError::Syntax),
        }
    }

    /// Enters an object (the next value must be one).
    pub(crate) fn begin_object(&mut self) -> Result<Members, JsonError> {
        self.open(b'{')?;
        Ok(Members { first: true })
    }

    /// The next member name of the object `members` belongs to, its `:` consumed, or `None`
    /// past the last member (the `}` consumed). The caller reads or skips the value, and
    /// records the name in a [`SeenKeys`] (see [`JsonReader::skip_value`] for one that does).
    #[inline]
    pub(crate) fn next_member(
        &mut self,
        members: &mut Members,
    ) -> Result<Option<Cow<'a, str>>, JsonError> {
        if !self.next_item(members, b'}')? {
            return Ok(None);
        }
        if self.byte() != Some(b'"') {
            return Err(JsonError::Syntax);
        }
        let name = self.string()?;
        self.skip_whitespace();
        self.expect(b':')?;
        Ok(Some(name))
    }

    /// Enters an array (the next value must be one).
    pub(crate) fn begin_array(&mut self) -> Result<Members, JsonError> {
        self.open(b'[')?;
        Ok(Members { first: true })
    }

    /// Whether the array has another element to read; past the last, the `]` is consumed.
    #[inline]
    pub(crate) fn next_element(&mut self, elements: &mut Members) -> Result<bool, JsonError> {
        self.next_item(elements, b']')
    }

    /// A string value (the next value must be one): borrowed when it holds no escape.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.skip_whitespace();
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut at = start;
        let mut escaped = false;
        loop {
            at = special_byte(bytes, at);
            match bytes.get(at) {
                Some(b'"') => break,
                // Which escapes are valid is the decoder's business; here only the escaped
                // byte is stepped over, so `\"` does not end the string.
                Some(b'\\') => {
                    escaped = true;
                    at += 2;
                }
                _ => return Err(JsonError::Syntax),
            }
        }
        self.pos = at + 1;
        // `start - 1` and `at` are the quotes: ASCII, so both slices are on char boundaries.
        if !escaped {
            return Ok(Cow::Borrowed(&self.text[start..at]));
        }
        serde_json::from_str::<String>(&self.text[start - 1..=at])
            .map(Cow::Owned)
            .map_err(|_| JsonError::Syntax)
    }

    /// A number value (the next value must be one) as `f64`, read as `serde_json` reads it: an
    /// integer whose digits fit `u64` (`exp`, `nbf`, `iat`) is converted here as serde_json
    /// converts it, anything else is parsed by `serde_json` itself; out of `f64`'s range is
    /// refused.
    #[inline]
    pub(crate) fn number(&mut self) -> Result<f64, JsonError> {
        self.skip_whitespace();
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut at = start;
        let negative = bytes.get(at) == Some(&b'-');
        if negative {
            at += 1;
        }
        // RFC 8259 §6: int = zero / ( digit1-9 *DIGIT ); frac = "." 1*DIGIT;
        // exp = ("e" / "E") [ "-" / "+" ] 1*DIGIT.
        let mut whole = Some(0u64);
        match bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => {
                while let Some(digit @ b'0'..=b'9') = bytes.get(at) {
                    whole = whole
                        .and_then(|n| n.checked_mul(10))
                        .and_then(|n| n.checked_add(u64::from(digit - b'0')));
                    at += 1;
                }
            }
            _ => return Err(JsonError::Syntax),
        }
        let integer = at;
        if bytes.get(at) == Some(&b'.') {
            at = some_digits_end(bytes, at + 1)?;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'-' | b'+')) {
                at += 1;
            }
            at = some_digits_end(bytes, at)?;
        }
        self.pos = at;
        if let (true, Some(value)) = (at == integer, whole) {
            // serde_json's own conversion (`-0` is -0.0 to both).
            let value = value as f64;
            return Ok(if negative { -value } else { value });
        }
        // Out of range ("1e400") is an error to serde_json, as here.
        serde_json::from_str::<f64>(&self.text[start..at]).map_err(|_| JsonError::Syntax)
    }

    /// `true`, `false` or `null` (the next value must be one).
    pub(crate) fn literal(&mut self) -> Result<Literal, JsonError> {
        self.skip_whitespace();
        let rest = &self.text.as_bytes()[self.pos..];
        let (literal, len) = match rest {
            [b't', b'r', b'u', b'e', ..] => (Literal::True, 4),
            [b'f', b'a', b'l', b's', b'e', ..] => (Literal::False, 5),
            [b'n', b'u', b'l', b'l', ..] => (Literal::Null, 4),
            _ => return Err(JsonError::Syntax),
        };
        self.pos += len;
        Ok(literal)
    }

    /// Reads past the next value of any kind, refusing duplicate member names in every object
    /// inside it.
    pub(crate) fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.peek()? {
            ValueKind::Object => {
                let mut members = self.begin_object()?;
                let mut seen = SeenKeys::default();
                while let Some(name) = self.next_member(&mut members)? {
                    if !seen.insert(name) {
                        return Err(JsonError::DuplicateMember);
                    }
                    self.skip_value()?;
                }
            }
            ValueKind::Array => {
                let mut elements = self.begin_array()?;
                while self.next_element(&mut elements)? {
                    self.skip_value()?;
                }
            }
            ValueKind::String => {
                self.string()?;
            }
            ValueKind::Number => {
                self.number()?;
            }
            ValueKind::Literal => {
                self.literal()?;
            }
        }
        Ok(())
    }

    #[inline]
    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        while matches!(self.byte(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        match self.byte() == Some(byte) {
            true => {
                self.pos += 1;
                Ok(())
            }
            false => Err(JsonError::Syntax),
        }
    }

    fn open(&mut self, bracket: u8) -> Result<(), JsonError> {
        self.skip_whitespace();
        self.expect(bracket)?;
        self.depth += 1;
        match self.depth > MAX_DEPTH {
            true => Err(JsonError::Syntax),
            false => Ok(()),
        }
    }

    /// Steps to the next member or element: a `,` between items, none before the first. After
    /// a `,` an item must follow (the caller's read refuses a close there: `[1,]` is not JSON).
    #[inline]
    fn next_item(&mut self, items: &mut Members, close: u8) -> Result<bool, JsonError> {
        self.skip_whitespace();
        let first = std::mem::replace(&mut items.first, false);
        match self.byte() {
            Some(byte) if byte == close => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ if first => Ok(true),
            Some(b',') => {
                self.pos += 1;
                self.skip_whitespace();
                Ok(true)
            }
            _ => Err(JsonError::Syntax),
        }
    }
}

/// `true`, `false` or `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Literal {
    True,
    False,
    Null,
}

/// Where the reader is inside one object or array.
pub(crate) struct Members {
    first: bool,
}

/// The index of the first byte at or after `at` that a string's scan must stop at: `"`, `\\`
/// or a control character (RFC 8259 §7), or `bytes.len()`. Eight bytes are tested at a time
/// (every string of a token is scanned, most are a few dozen bytes long).
#[inline(always)]
fn special_byte(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set here when it is zero (in `quote`, `backslash`) or below
        // 0x20 (in `word`); bits above the first such byte may be wrong, the first is exact.
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let found = found & HIGH;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while bytes.get(at).is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20) {
        at += 1;
    }
    at
}

/// The end of a run of ASCII digits starting at `at`.
fn digits_end(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

/// The end of a run of at least one ASCII digit starting at `at`.
fn some_digits_end(bytes: &[u8], at: usize) -> Result<usize, JsonError> {
    match digits_end(bytes, at) {
        end if end > at => Ok(end),
        _ => Err(JsonError::Syntax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(json: &str) -> Result<(), JsonError> {
        let mut reader = JsonReader::new(json);
        reader.skip_value()?;
        reader.end()
    }

    #[test]
    fn accepts_what_rfc_8259_calls_json() {
        for json in [
            r#"{}"#,
            r#" { "a" : [ 1 , -2.5e+3 , 0 , -0 , 1E2 , true , false , null , "x" , { } , [ ] ] } "#,
            r#"{"s\u0075b":"\ud83d\ude00","e":"\"\\\/\b\f\n\r\t","d":{"c":[{"d":1,"e":2}]}}"#,
            r#"["é", "\u00e9", 123456789012345678901234567890, 1e-400]"#,
            "\t\r\n\"a\"\n",
        ] {
            assert_eq!(walk(json), Ok(()), "{json}");
            assert!(serde_json::from_str::<serde_json::Value>(json).is_ok(), "{json}");
        }
    }

    #[test]
    fn refuses_what_is_not_json() {
        for json in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            r#"{"a":1,}"#,
            "[,1]",
            "{,}",
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            r#"{a:1}"#,
            "[1 2]",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "-",
            "--1",
            "tru",
            "nul",
            "True",
            "\"a",
            "\"\\\"",
            "\"a\u{1}\"",
            r#""\x""#,
            r#""\ud800""#,
            r#""\u12""#,
            "1e400",
            "-1e400",
            "[1]]",
            "{}{}",
            "[1] x",
            "NaN",
            "Infinity",
        ] {
            assert_eq!(walk(json), Err(JsonError::Syntax), "{json:?}");
            assert!(serde_json::from_str::<serde_json::Value>(json).is_err(), "{json:?}");
        }
    }

    #[test]
    fn refuses_duplicate_members_at_any_depth_after_unescaping() {
        assert_eq!(walk(r#"{"a":1,"b":{"c":[{"d":1,"e":2}]}}"#), Ok(()));
        for json in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"x":1,"x":1}}"#,
            r#"[{"y":1,"y":1}]"#,
            r#"{"sub":1,"s\u0075b":2}"#,
            r#"{"s\u0075b":1,"sub":2}"#,
        ] {
            assert_eq!(walk(json), Err(JsonError::DuplicateMember), "{json}");
        }
        assert_eq!(walk(r#"{"s\u0075b":1,"sup":2,"x":{"sub":3}}"#), Ok(()));
        let members: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        assert_eq!(walk(&format!("{{{}}}", members.join(","))), Ok(()));
        assert_eq!(
            walk(&format!("{{{},\"k7\":0}}", members.join(","))),
            Err(JsonError::DuplicateMember)
        );
    }

    #[test]
    fn nesting_is_bounded_like_serde_json() {
        let nested = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
        assert_eq!(walk(&nested(MAX_DEPTH)), Ok(()));
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(walk(&nested(MAX_DEPTH + 1)), Err(JsonError::Syntax));
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_DEPTH + 1)).is_err());
        assert_eq!(walk(&nested(100_000)), Err(JsonError::Syntax));
    }

    #[test]
    fn numbers_are_read_as_serde_json_reads_them() {
        for text in [
            "0",
            "-0",
            "1700000000",
            "-1700000000",
            "999999999999999",
            "9999999999999999",
            "18446744073709551616",
            "18446744073709551615",
            "-18446744073709551615",
            "-9223372036854775809",
            "-0.0",
            "1.5",
            "1700000000.25",
            "-2.5e3",
            "1E-2",
            "1e308",
        ] {
            let ours = JsonReader::new(text).number().unwrap();
            let theirs: f64 = serde_json::from_str(text).unwrap();
            // Bit for bit, so `-0` is -0.0 on both sides.
            assert_eq!(ours.to_bits(), theirs.to_bits(), "{text}");
        }
    }

    #[test]
    fn the_eight_byte_scan_stops_where_a_byte_by_byte_scan_does() {
        let naive = |bytes: &[u8], at: usize| {
            (at..bytes.len())
                .find(|&i| matches!(bytes[i], b'"' | b'\\' | 0x00..=0x1F))
                .unwrap_or(bytes.len())
        };
        for len in 0..20 {
            for position in 0..len {
                for byte in 0..=255u8 {
                    // Every other byte value around it, so borrows between lanes are exercised.
                    let mut bytes: Vec<u8> =
                        (0..len).map(|i| [b'a', 0xFF, 0x20, 0x80][i % 4]).collect();
                    bytes[position] = byte;
                    for at in 0..=position {
                        assert_eq!(
                            special_byte(&bytes, at),
                            naive(&bytes, at),
                            "{bytes:?} from {at}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let mut reader = JsonReader::new(r#""plain""#);
        assert!(matches!(reader.string(), Ok(Cow::Borrowed("plain"))));
        let mut reader = JsonReader::new(r#""a\"b\u00e9""#);
        assert_eq!(reader.string().unwrap(), "a\"bé");
        assert_eq!(reader.end(), Ok(()));
    }
}
