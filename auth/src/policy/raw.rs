//! The JSON shape of a policy document, as serde reads it, before any
//! meaning is checked.
//!
//! Every object refuses unknown and duplicate fields (serde's derive refuses
//! duplicate struct fields; the map-shaped `Condition` and `Principal` check
//! their own), because a policy whose meaning depends on which of two
//! `"Effect"`s or `"StringLike"`s a parser keeps must not be guessed at.
//! Grammar: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A whole policy document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    #[serde(rename = "Version")]
    pub version: Option<String>,
    #[serde(rename = "Id")]
    pub _id: Option<String>,
    #[serde(rename = "Statement")]
    pub statement: Option<OneOrMany<RawStatement>>,
}

/// One statement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatement {
    #[serde(rename = "Sid")]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: Option<String>,
    #[serde(rename = "Principal")]
    pub principal: Option<RawPrincipal>,
    #[serde(rename = "NotPrincipal")]
    pub not_principal: Option<de::IgnoredAny>,
    #[serde(rename = "Action")]
    pub action: Option<Strings>,
    #[serde(rename = "NotAction")]
    pub not_action: Option<Strings>,
    #[serde(rename = "Resource")]
    pub resource: Option<Strings>,
    #[serde(rename = "NotResource")]
    pub not_resource: Option<Strings>,
    #[serde(rename = "Condition")]
    pub condition: Option<Entries<Entries<Strings>>>,
}

/// A JSON object read by `T`'s derived impl, which on its own would also
/// accept an array of the fields in order (serde's "sequence form" of a
/// struct); a policy or users file written that way is refused.
#[derive(Debug)]
pub(crate) struct MapOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = MapOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(MapOnly)
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A single object or an array of objects (`"Statement"`).
#[derive(Debug)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object or an array of objects")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|one| OneOrMany(vec![one]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(MapOnly(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A string or an array of strings (`Action`, `Resource`, principals,
/// condition values). Numbers and booleans count as their JSON text, since
/// policies commonly write `"Bool": {"aws:SecureTransport": false}` or
/// `"NumericLessThanEquals": {"s3:max-keys": 100}`.
#[derive(Debug)]
pub(crate) struct Strings(pub Vec<String>);

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StringsVisitor { nested: false })
    }
}

struct StringsVisitor {
    nested: bool,
}

impl<'de> Visitor<'de> for StringsVisitor {
    type Value = Strings;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nested {
            f.write_str("a string")
        } else {
            f.write_str("a string or an array of strings")
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Strings(vec![v.to_owned()]))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Strings(vec![v.to_string()]))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Strings(vec![v.to_string()]))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Strings(vec![v.to_string()]))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Strings(vec![v.to_string()]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if self.nested {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let mut out = Vec::new();
        while let Some(one) = seq.next_element_seed(StringsSeed)? {
            out.extend(one.0);
        }
        Ok(Strings(out))
    }
}

/// One element of an array of strings (no nested arrays).
struct StringsSeed;

impl<'de> de::DeserializeSeed<'de> for StringsSeed {
    type Value = Strings;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(StringsVisitor { nested: true })
    }
}

/// A JSON object kept as ordered (name, value) pairs; a repeated name is an
/// error rather than "the last one wins".
#[derive(Debug)]
pub(crate) struct Entries<T>(pub Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Entries<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, T)> = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, T>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format_args!("duplicate field `{name}`")));
                    }
                    out.push((name, value));
                }
                Ok(Entries(out))
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `"Principal"`: `"*"` or an object such as `{"AWS": [...]}`.
#[derive(Debug)]
pub(crate) enum RawPrincipal {
    Text(String),
    Map(Entries<Strings>),
}

impl<'de> Deserialize<'de> for RawPrincipal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPrincipal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"*\" or an object such as {\"AWS\": [...]}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawPrincipal::Text(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Entries::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPrincipal::Map)
            }
        }
        deserializer.deserialize_any(V)
    }
}
