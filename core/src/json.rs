//! A strict JSON reader for what callers send (HTTP request bodies, the C ABI's JSON
//! arguments): serde_json's own reader, except that an object giving a key twice is refused,
//! at any depth, naming the key and where it is. serde_json keeps the last of the two, so a
//! `{"delay": 5, ..., "delay": 3600}` would be read silently as one of them.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result, shown};

/// Reads `text` as one JSON value. `what` names it in errors ("request body", "options_json").
/// Bad JSON and duplicate keys are `InvalidArgument`.
pub fn from_slice(text: &[u8], what: &str) -> Result<Value> {
    // The first reading only notices a duplicate (at no cost to a body without one); a second
    // one, only then, finds which key it is, where, and its line and column.
    let fast = Reading::default();
    let e = match read(text, &fast) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if !fast.noticed.get() {
        return Err(Error::invalid(format!("{what} is not valid JSON: {e}")));
    }
    let precise = Reading {
        precise: true,
        ..Reading::default()
    };
    let e = read(text, &precise).err().unwrap_or(e);
    match precise.found.into_inner() {
        Some(found) => Err(Error::invalid(format!(
            "{what} gives the key {} twice (at {}, line {} column {}): each key may appear once \
             in an object",
            shown(&found.key),
            found.at,
            e.line(),
            e.column()
        ))),
        None => Err(Error::invalid(format!(
            "{what} gives a key twice in an object: {e}"
        ))),
    }
}

fn read(text: &[u8], reading: &Reading) -> serde_json::Result<Value> {
    let mut reader = serde_json::Deserializer::from_slice(text);
    let value = Strict {
        path: &Path::Root,
        reading,
    }
    .deserialize(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// What a JSON value is, for messages that say what was sent instead ("params is an object").
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// As [`from_slice`], for text.
pub fn from_str(text: &str, what: &str) -> Result<Value> {
    from_slice(text.as_bytes(), what)
}

/// One reading of a document: whether to find a duplicate's key and place, and what was found.
#[derive(Default)]
struct Reading {
    precise: bool,
    noticed: Cell<bool>,
    found: RefCell<Option<Duplicate>>,
}

/// The key given twice, and its place (`body.a`, `[3].headers.x`).
struct Duplicate {
    key: String,
    at: String,
}

/// Where a value sits in the document, as a chain up to the root; shown only on error.
enum Path<'a> {
    Root,
    Key(&'a str, &'a Path<'a>),
    Index(usize, &'a Path<'a>),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Index(i, parent) => write!(f, "{parent}[{i}]"),
            Path::Key(key, parent) => {
                let plain = !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                match (plain, parent) {
                    (true, Path::Root) => f.write_str(key),
                    (true, _) => write!(f, "{parent}.{key}"),
                    (false, _) => {
                        write!(f, "{parent}[")?;
                        f.write_str(&shown(key))?;
                        f.write_char(']')
                    }
                }
            }
        }
    }
}

/// Reads one value as `serde_json::Value` does, refusing duplicate keys.
struct Strict<'a> {
    path: &'a Path<'a>,
    reading: &'a Reading,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    #[inline]
    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    #[inline]
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    #[inline]
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    #[inline]
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    #[inline]
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    #[inline]
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    #[inline]
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    #[inline]
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(items.size_hint().unwrap_or(0));
        loop {
            let path = Path::Index(out.len(), self.path);
            let item = Strict {
                path: &path,
                reading: self.reading,
            };
            match items.next_element_seed(item)? {
                Some(value) => out.push(value),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if self.reading.precise {
                self.precise_entry(&mut out, key, &mut entries)?;
                continue;
            }
            let path = Path::Key(&key, self.path);
            let value = entries.next_value_seed(Strict {
                path: &path,
                reading: self.reading,
            })?;
            if out.insert(key, value).is_some() {
                self.reading.noticed.set(true);
                return Err(A::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(out))
    }
}

impl Strict<'_> {
    /// One entry, refused before its value is read if its key is there already: the error's
    /// position is then the duplicate key's.
    fn precise_entry<'de, A: MapAccess<'de>>(
        &self,
        out: &mut Map<String, Value>,
        key: String,
        entries: &mut A,
    ) -> Result<(), A::Error> {
        match out.entry(key) {
            Entry::Vacant(slot) => {
                let path = Path::Key(slot.key(), self.path);
                let value = entries.next_value_seed(Strict {
                    path: &path,
                    reading: self.reading,
                })?;
                slot.insert(value);
                Ok(())
            }
            Entry::Occupied(slot) => {
                *self.reading.found.borrow_mut() = Some(Duplicate {
                    at: Path::Key(slot.key(), self.path).to_string(),
                    key: slot.key().clone(),
                });
                Err(A::Error::custom("duplicate key"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }
    use serde_json::json;

    fn err(text: &str) -> String {
        from_str(text, "request body")
            .unwrap_err()
            .message()
            .to_string()
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"id":"order-42","body":{"amount":99.5,"items":[1,2,{"x":null}]},"delay":60}"#,
            r#"[1, -2, 3.5, 1e300, 18446744073709551615, "é\u00e9", true, false, null, [], {}]"#,
            r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#,
            r#""just a string""#,
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(from_str(text, "x").unwrap(), expected, "{text}");
        }
        // Key order is kept, as serde_json (preserve_order) keeps it.
        let v = from_str(r#"{"z":1,"a":2}"#, "x").unwrap();
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["z", "a"]
        );
        assert_eq!(from_str(r#"{"a":1}"#, "x").unwrap(), json!({"a": 1}));
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth_naming_key_and_place() {
        assert_eq!(
            err(r#"{"id":"a","delay":5,"delay":3600}"#),
            "request body gives the key \"delay\" twice (at delay, line 1 column 27): each key \
             may appear once in an object"
        );
        assert!(
            err(r#"{"id":"a","body":{"a":1,"b":{},"a":2}}"#).contains("\"a\" twice (at body.a,")
        );
        assert!(
            err(r#"{"body":{"list":[{"x":1},{"y":1,"y":2}]}}"#).contains("(at body.list[1].y,")
        );
        assert!(err(r#"[{}, {"k":1,"k":1}]"#).contains("(at [1].k,"));
        assert!(
            err(r#"{"properties":{"headers":{"x-a b":1,"x-a b":2}}}"#)
                .contains("(at properties.headers[\"x-a b\"],")
        );
        // The same key in different objects is fine.
        assert!(from_str(r#"{"a":{"a":1},"b":{"a":1}}"#, "x").is_ok());
    }

    #[test]
    fn bad_json_is_named() {
        assert!(err("{").starts_with("request body is not valid JSON: EOF while parsing"));
        assert!(err(r#"{"a":1} x"#).contains("trailing characters"));
        assert!(err("").contains("not valid JSON"));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(err(&deep).contains("recursion limit"));
    }
}
