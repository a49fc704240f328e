//! A deserializer wrapper that refuses duplicate member names while a value is being built.
//!
//! serde_json keeps the last copy of a duplicated member silently (see `strict_json`).
//! Wrapping the deserializer checks every object as the application's type reads it, so the
//! payload is walked once instead of once for the checks and once for the type. Values the
//! type ignores are walked too: serde_json skips them without looking inside, which would let
//! a duplicate hide there.
//!
//! At the payload's own object ([`Level`] is `Some`) registered members are handed to
//! `claims_pass`, which reads and checks them before the type gets them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde_json::value::RawValue;

use crate::claims_pass::TopLevel;
use crate::registered::Member;
use crate::strict_json::{NoDuplicates, SeenKeys};

/// The payload's own object, where registered members are intercepted; `None` below it.
pub(crate) type Level<'t, 'de> = Option<&'t TopLevel<'t, 'de>>;

/// The name serde_json gives the newtype through which it hands out a `RawValue`.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Wraps a deserializer so that every object inside is checked for duplicate member names.
pub(crate) struct Strict<'t, 'de, D> {
    de: D,
    top: Level<'t, 'de>,
}

impl<'t, 'de, D> Strict<'t, 'de, D> {
    /// The payload itself, with registered members intercepted by `top`.
    pub(crate) fn top(de: D, top: &'t TopLevel<'t, 'de>) -> Self {
        Strict { de, top: Some(top) }
    }

    /// A value inside the payload.
    pub(crate) fn nested(de: D) -> Self {
        Strict { de, top: None }
    }
}

/// The `deserialize_*` methods of a wrapper around a deserializer in its field `de`, each
/// handing that deserializer `$wrap` as the visitor. `deserialize_newtype_struct` and
/// `deserialize_ignored_any` are left to each wrapper.
macro_rules! forward_deserialize {
    (|$self:ident, $visitor:ident| $wrap:expr) => {
        forward_deserialize!(@each |$self, $visitor| $wrap;
            deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
            deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
            deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
            deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
            deserialize_option deserialize_unit deserialize_seq deserialize_map
            deserialize_identifier
        );

        fn deserialize_unit_struct<V: Visitor<'de>>(
            $self,
            name: &'static str,
            $visitor: V,
        ) -> Result<V::Value, Self::Error> {
            $self.de.deserialize_unit_struct(name, $wrap)
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            $self,
            len: usize,
            $visitor: V,
        ) -> Result<V::Value, Self::Error> {
            $self.de.deserialize_tuple(len, $wrap)
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            $self,
            name: &'static str,
            len: usize,
            $visitor: V,
        ) -> Result<V::Value, Self::Error> {
            $self.de.deserialize_tuple_struct(name, len, $wrap)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            $self,
            name: &'static str,
            fields: &'static [&'static str],
            $visitor: V,
        ) -> Result<V::Value, Self::Error> {
            $self.de.deserialize_struct(name, fields, $wrap)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            $self,
            name: &'static str,
            variants: &'static [&'static str],
            $visitor: V,
        ) -> Result<V::Value, Self::Error> {
            $self.de.deserialize_enum(name, variants, $wrap)
        }

        fn is_human_readable(&self) -> bool {
            self.de.is_human_readable()
        }
    };
    (@each |$self:ident, $visitor:ident| $wrap:expr; $($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>($self, $visitor: V) -> Result<V::Value, Self::Error> {
            $self.de.$method($wrap)
        }
    )*};
}
pub(crate) use forward_deserialize;

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<'_, 'de, D> {
    type Error = D::Error;

    forward_deserialize!(|self, visitor| Wrap { visitor, top: self.top });

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        match (name, self.top) {
            // The whole payload as raw text: the type never sees it as an object, so the
            // claims pass falls back to the strict pass, which checks it for duplicates at
            // every depth. Checking here as well would walk the payload twice more.
            (RAW_VALUE_TOKEN, Some(_)) => self.de.deserialize_newtype_struct(name, visitor),
            (RAW_VALUE_TOKEN, None) => raw_value(self.de, visitor),
            _ => self.de.deserialize_newtype_struct(name, Wrap { visitor, top: self.top }),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        if self.top.is_some() {
            // The payload itself: walked as any value so registered members are still read.
            return self.de.deserialize_any(Wrap { visitor, top: self.top });
        }
        NoDuplicates.deserialize(self.de)?;
        visitor.visit_unit()
    }
}

/// serde_json hands out a `RawValue` through a private protocol a wrapped visitor cannot
/// follow: the text is checked on its own, then serde_json delivers it as usual.
fn raw_value<'de, D: Deserializer<'de>, V: Visitor<'de>>(
    de: D,
    visitor: V,
) -> Result<V::Value, D::Error> {
    let raw = <&'de RawValue>::deserialize(de)?;
    NoDuplicates
        .deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
        .map_err(de::Error::custom)?;
    serde_json::Deserializer::from_str(raw.get())
        .deserialize_newtype_struct(RAW_VALUE_TOKEN, visitor)
        .map_err(de::Error::custom)
}

/// A seed whose deserializer is wrapped.
struct StrictSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict::nested(de))
    }
}

/// `visit_*` methods that pass the value on unchanged to the field `visitor`.
macro_rules! forward_visit {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.visitor.$method(v)
        }
    )*};
}
pub(crate) use forward_visit;

/// Wraps a visitor so the maps, sequences and enums it is given are wrapped in turn.
pub(crate) struct Wrap<'t, 'de, V> {
    pub(crate) visitor: V,
    pub(crate) top: Level<'t, 'de>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit!(
        visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64,
        visit_i128: i128, visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64,
        visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char, visit_str: &str,
        visit_borrowed_str: &'de str, visit_string: String, visit_bytes: &[u8],
        visit_borrowed_bytes: &'de [u8], visit_byte_buf: Vec<u8>
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    // `Some` and newtypes wrap the same value: still the payload itself when it was.
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Strict { de, top: self.top })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Strict { de, top: self.top })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(StrictSeq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(StrictMap {
            map,
            top: self.top,
            seen: SeenKeys::default(),
            member: None,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(StrictEnum(data))
    }
}

struct StrictSeq<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.0.next_element_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// An object: member names compared as they are read, values wrapped.
struct StrictMap<'t, 'de, A> {
    map: A,
    top: Level<'t, 'de>,
    seen: SeenKeys<'de>,
    /// The registered member whose value comes next (payload level only).
    member: Option<Member>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut name = None;
        let Some(key) = self.map.next_key_seed(KeySeed { seed, name: &mut name })? else {
            if let Some(top) = self.top {
                top.finish();
            }
            return Ok(None);
        };
        // A key the type never looked at leaves nothing to compare: refuse rather than let a
        // duplicate through.
        let name = name.ok_or_else(|| de::Error::custom("member name not read"))?;
        if let Some(top) = self.top {
            self.member = top.name(&name);
        }
        if !self.seen.insert(name) {
            return Err(de::Error::custom("duplicate member name"));
        }
        Ok(Some(key))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match (self.top, self.member.take()) {
            (Some(top), Some(member)) => top.member_value(member, &mut self.map, seed),
            _ => self.map.next_value_seed(StrictSeed(seed)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

struct StrictEnum<A>(A);

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for StrictEnum<A> {
    type Error = A::Error;
    type Variant = StrictVariant<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(StrictSeed(seed))?;
        Ok((value, StrictVariant(variant)))
    }
}

struct StrictVariant<A>(A);

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for StrictVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.0.newtype_variant_seed(StrictSeed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap { visitor, top: None })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap { visitor, top: None })
    }
}

/// The type's own key seed, given serde_json's key deserializer (so numeric and enum keys
/// still parse) with the key's text noted on the way.
struct KeySeed<'k, 'de, S> {
    seed: S,
    name: &'k mut Option<Cow<'de, str>>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, 'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(KeyDeserializer { de, name: self.name })
    }
}

struct KeyDeserializer<'k, 'de, D> {
    de: D,
    name: &'k mut Option<Cow<'de, str>>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDeserializer<'_, 'de, D> {
    type Error = D::Error;

    forward_deserialize!(|self, visitor| KeyVisitor { visitor, name: self.name });

    // An ignored key is still read, so that it can be compared.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(KeyVisitor { visitor, name: self.name })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_newtype_struct(name, KeyVisitor { visitor, name: self.name })
    }
}

/// Notes the key as text: borrowed when it has no escapes, else owned. Numeric and boolean
/// keys are noted in a canonical form, so `"1"` and `"1.0"` read as one number are the
/// same name.
struct KeyVisitor<'k, 'de, V> {
    visitor: V,
    name: &'k mut Option<Cow<'de, str>>,
}

macro_rules! note_key {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            *self.name = Some(Cow::Owned(v.to_string()));
            self.visitor.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        *self.name = Some(Cow::Borrowed(v));
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        *self.name = Some(Cow::Owned(v.to_owned()));
        self.visitor.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        *self.name = Some(Cow::Owned(v.clone()));
        self.visitor.visit_string(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        *self.name = Some(Cow::Borrowed(if v { "true" } else { "false" }));
        self.visitor.visit_bool(v)
    }

    note_key!(
        visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64, visit_i128: i128,
        visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64, visit_u128: u128,
        visit_f32: f32, visit_f64: f64, visit_char: char
    );

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        *self.name = Some(match std::str::from_utf8(v) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(String::from_utf8_lossy(v).into_owned()),
        });
        self.visitor.visit_borrowed_bytes(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        *self.name = Some(Cow::Owned(String::from_utf8_lossy(v).into_owned()));
        self.visitor.visit_bytes(v)
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<V::Value, E> {
        *self.name = Some(Cow::Owned(String::from_utf8_lossy(&v).into_owned()));
        self.visitor.visit_byte_buf(v)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(KeyDeserializer { de, name: self.name })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(KeyDeserializer { de, name: self.name })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(KeyEnum { data, name: self.name })
    }

    // A JSON member name is never one of these; nothing is noted, so the key is refused.
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(map)
    }
}

/// An enum key: its variant name is the key.
struct KeyEnum<'k, 'de, A> {
    data: A,
    name: &'k mut Option<Cow<'de, str>>,
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for KeyEnum<'_, 'de, A> {
    type Error = A::Error;
    type Variant = A::Variant;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, A::Variant), A::Error> {
        self.data.variant_seed(KeySeed { seed, name: self.name })
    }
}
