//! The secret values apply handles (docs/rotation.md, "What apply does, per user"):
//! the key pair AWSCURRENT holds, read for the possession proof, and the value staged
//! for the new key, which is AWSCURRENT's JSON with `AccessKeyId` and
//! `SecretAccessKey` replaced and every other field's value kept exactly as it was
//! written (a number is never rewritten; names are written again, escapes decoded). Every buffer a secret access key passes through here is
//! wiped when dropped (`Zeroizing`); the JSON parser's own scratch space is beyond
//! reach, so this is best effort, as the design says. Pure.

use std::fmt::Write as _;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

const ACCESS_KEY_ID: &str = "AccessKeyId";
const SECRET_ACCESS_KEY: &str = "SecretAccessKey";

/// An access key pair. The secret is never shown: `Debug` leaves it out.
pub(crate) struct KeyPair {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .finish()
    }
}

/// Why a value is not one keytrim can hand a key off into. Never quotes the value.
const NOT_AN_OBJECT: &str = "its value is not a JSON object";
/// The same, for an object without the two key fields as strings, once each (a name
/// differing only in case counts: Go's encoding/json matches names so).
const NOT_AN_ACCESS_KEY: &str =
    "its value lacks the string fields AccessKeyId and SecretAccessKey, or holds one twice";

/// A JSON object's fields in order, each value as written. Field names are not
/// secret and are owned; values borrow from the (wiped) text.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields<'de>, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'de>, M::Error> {
                let mut fields = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, &'de RawValue>()? {
                    fields.push((name, value));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

impl<'a> Fields<'a> {
    /// The fields of `text`, when it is an object holding each of the two key fields
    /// once, as strings.
    fn of(text: &'a str) -> Result<Fields<'a>, &'static str> {
        let fields: Fields<'a> = serde_json::from_str(text).map_err(|_| NOT_AN_OBJECT)?;
        for name in [ACCESS_KEY_ID, SECRET_ACCESS_KEY] {
            // Some parsers (Go's encoding/json) match names ignoring case: a second
            // `accessKeyId` could be the one an application reads.
            let mut given = fields
                .0
                .iter()
                .filter(|(field, _)| field.eq_ignore_ascii_case(name));
            match (given.next(), given.next()) {
                (Some((field, value)), None) if field == name && value.get().starts_with('"') => {}
                _ => return Err(NOT_AN_ACCESS_KEY),
            }
        }
        Ok(fields)
    }

    /// The raw value of `name`, which `of` checked is there once.
    fn raw(&self, name: &str) -> &'a RawValue {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| *value)
            .expect("Fields::of checked both key fields are there")
    }
}

/// The access key id a secret's value holds, read as `key_pair` reads it; the secret
/// access key is neither decoded nor copied (the audit keeps only the id).
pub(crate) fn access_key_id(text: &str) -> Result<String, &'static str> {
    let fields = Fields::of(text)?;
    serde_json::from_str::<String>(fields.raw(ACCESS_KEY_ID).get()).map_err(|_| NOT_AN_ACCESS_KEY)
}

/// The key pair a secret's value holds.
pub(crate) fn key_pair(text: &str) -> Result<KeyPair, &'static str> {
    let fields = Fields::of(text)?;
    let string = |name| {
        serde_json::from_str::<String>(fields.raw(name).get())
            .map(Zeroizing::new)
            .map_err(|_| NOT_AN_ACCESS_KEY)
    };
    let access_key_id = string(ACCESS_KEY_ID)?;
    let secret_access_key = string(SECRET_ACCESS_KEY)?;
    Ok(KeyPair {
        access_key_id: access_key_id.to_string(),
        secret_access_key,
    })
}

/// `current` with its key pair replaced by `new`, every other field as written.
pub(crate) fn with_key(current: &str, new: &KeyPair) -> Result<Zeroizing<String>, &'static str> {
    let fields = Fields::of(current)?;
    // Room for the whole result up front, so that the buffer never moves and leaves an
    // unwiped copy behind: the two new values are plain ASCII and need no escaping.
    let room = current.len() + new.access_key_id.len() + new.secret_access_key.len() + 8;
    let mut out = Zeroizing::new(String::with_capacity(room));
    out.push('{');
    for (index, (name, value)) in fields.0.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let name_json = serde_json::to_string(name).map_err(|_| NOT_AN_ACCESS_KEY)?;
        out.push_str(&name_json);
        out.push(':');
        match name.as_str() {
            ACCESS_KEY_ID => quoted(&mut out, &new.access_key_id)?,
            SECRET_ACCESS_KEY => quoted(&mut out, &new.secret_access_key)?,
            _ => out.push_str(value.get()),
        }
    }
    out.push('}');
    Ok(out)
}

/// True when `staged` is `current` with only the two key fields changed, every other
/// field as written and in the same order: the value keytrim itself stages.
pub(crate) fn only_the_key_differs(current: &str, staged: &str) -> bool {
    let (Ok(current), Ok(staged)) = (Fields::of(current), Fields::of(staged)) else {
        return false;
    };
    current.0.len() == staged.0.len()
        && current
            .0
            .iter()
            .zip(&staged.0)
            .all(|((name, value), (other, staged_value))| {
                name == other
                    && (name == ACCESS_KEY_ID
                        || name == SECRET_ACCESS_KEY
                        || value.get() == staged_value.get())
            })
}

/// `value` as a JSON string, for the two key fields: AWS makes them of letters, digits,
/// `/` and `+`, which JSON writes as they are. Anything else is refused, never
/// escaped into a growing buffer.
fn quoted(out: &mut String, value: &str) -> Result<(), &'static str> {
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
    {
        return Err("the new key holds characters AWS does not make keys of");
    }
    write!(out, "\"{value}\"").map_err(|_| NOT_AN_ACCESS_KEY)
}

#[cfg(test)]
mod tests;
