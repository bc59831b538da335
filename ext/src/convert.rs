//! PHP values to JSON and back, the way `json_encode` / `json_decode($s, true)` would: lists
//! (keys 0..n-1 in order) become arrays, other arrays objects; key order is kept.
//!
//! Message bodies are written straight to JSON text while walking the PHP array in place, as
//! `json_encode` does, without building an intermediate tree: `addMany` spends most of its
//! time here.

use std::io::Write as _;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::ffi::{Bucket, zval};
use ext_php_rs::flags::DataType;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};
use serde_json::{Number, Value};

const MAX_DEPTH: usize = 512;
/// `HASH_FLAG_PACKED` of zend_hash.h: the array stores bare zvals, keyed 0..n.
const HASH_FLAG_PACKED: u32 = 1 << 2;

/// Where in a value something could not be converted, and why.
pub struct Unconvertible {
    path: Vec<String>,
    what: String,
}

impl Unconvertible {
    /// `data["body"]["x"]: ...`, with `root` naming the argument.
    pub fn describe(&self, root: &str) -> String {
        let mut out = root.to_string();
        for step in self.path.iter().rev() {
            out.push_str(step);
        }
        format!("{out}: {}", self.what)
    }

    fn at(mut self, key: &Key<'_>) -> Self {
        self.path.push(match key {
            Key::Index(i) => format!("[{i}]"),
            Key::Name(name) => format!("[\"{}\"]", String::from_utf8_lossy(name)),
        });
        self
    }
}

fn fail(what: impl Into<String>) -> Unconvertible {
    Unconvertible {
        path: Vec::new(),
        what: what.into(),
    }
}

/// An array key as PHP stores it.
pub enum Key<'a> {
    Index(i64),
    Name(&'a [u8]),
}

impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Index(i) => write!(f, "{i}"),
            Key::Name(name) => f.write_str(&String::from_utf8_lossy(name)),
        }
    }
}

/// A value and its PHP type for a message, worded like dq-core's: `"x" is a string`,
/// `42 is an int`, `is an array`, `is null`.
pub fn described(zval: &Zval) -> String {
    let zval = zval.dereference();
    match zval.get_type() {
        DataType::Null | DataType::Undef => "is null".to_string(),
        DataType::False => "false is a bool".to_string(),
        DataType::True => "true is a bool".to_string(),
        DataType::Bool => format!("{} is a bool", zval.is_true()),
        DataType::Long => format!("{} is an int", zval.long().unwrap_or_default()),
        DataType::Double => format!("{} is a float", zval.double().unwrap_or_default()),
        DataType::String => {
            let text = zval
                .zend_str()
                .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
                .unwrap_or_default();
            let mut shown: String = text.chars().take(80).flat_map(char::escape_debug).collect();
            if text.chars().count() > 80 {
                shown.push_str("...");
            }
            format!("\"{shown}\" is a string")
        }
        DataType::Array => "is an array".to_string(),
        DataType::Object(_) => match zval.object().and_then(|o| o.get_class_name().ok()) {
            Some(class) => format!("is an object of class {class}"),
            None => "is an object".to_string(),
        },
        other => format!("is a {}", other.to_string().to_lowercase()),
    }
}

/// The entries of a PHP array in order, read in place (no key copies, no engine calls).
/// The items of a list argument that must each be an array, named for messages
/// (`items[3]`, `items["a"]`); the first item that is not an array is an error saying what was
/// `expected`.
pub fn arrays_in<'a>(
    list: &'a ZendHashTable,
    list_name: &str,
    expected: &str,
) -> PhpResult<Vec<(String, &'a ZendHashTable)>> {
    entries(list)
        .map(|(key, item)| {
            let name = match key {
                Key::Index(i) => format!("{list_name}[{i}]"),
                Key::Name(_) => format!("{list_name}[\"{key}\"]"),
            };
            match item.dereference().array() {
                Some(array) => Ok((name, array)),
                None => Err(crate::errors::invalid(format!(
                    "{name} {}: expected {expected}",
                    described(item)
                ))),
            }
        })
        .collect()
}

pub fn entries(ht: &ZendHashTable) -> impl Iterator<Item = (Key<'_>, &Zval)> {
    // SAFETY: reads the array's own storage within `nNumUsed`, skipping deleted (UNDEF) slots,
    // exactly as ZEND_HASH_FOREACH does; the borrow of `ht` keeps it alive and unchanged.
    let packed = unsafe { ht.u.flags } & HASH_FLAG_PACKED != 0;
    let used = ht.nNumUsed as usize;
    let (zvals, buckets) = unsafe {
        if packed {
            (
                ht.__bindgen_anon_1.arPacked as *const zval,
                std::ptr::null(),
            )
        } else {
            (
                std::ptr::null(),
                ht.__bindgen_anon_1.arData as *const Bucket,
            )
        }
    };
    (0..used).filter_map(move |i| {
        let (key, value): (Key<'_>, &Zval) = unsafe {
            if packed {
                (Key::Index(i as i64), &*zvals.add(i))
            } else {
                let bucket = &*buckets.add(i);
                let key = match bucket.key.as_ref() {
                    Some(name) => Key::Name(ZendStr::as_bytes(name)),
                    None => Key::Index(bucket.h as i64),
                };
                (key, &bucket.val)
            }
        };
        (value.get_type() != DataType::Undef).then_some((key, value))
    })
}

/// Whether `json_encode` would write this array as a JSON list.
fn is_list(ht: &ZendHashTable) -> bool {
    let mut expected = 0i64;
    entries(ht).all(|(key, _)| {
        let next = matches!(key, Key::Index(i) if i == expected);
        expected += 1;
        next
    })
}

/// A PHP value as JSON text.
pub fn to_json_text(zval: &Zval) -> Result<String, Unconvertible> {
    let mut out = Vec::with_capacity(128);
    write_json(&mut out, zval, 0)?;
    // SAFETY: `write_json` writes ASCII and strings it checked to be UTF-8.
    Ok(unsafe { String::from_utf8_unchecked(out) })
}

fn write_json(out: &mut Vec<u8>, zval: &Zval, depth: usize) -> Result<(), Unconvertible> {
    if depth > MAX_DEPTH {
        return Err(fail(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let zval = zval.dereference();
    match zval.get_type() {
        DataType::Null | DataType::Undef => out.extend_from_slice(b"null"),
        DataType::False => out.extend_from_slice(b"false"),
        DataType::True => out.extend_from_slice(b"true"),
        DataType::Bool => out.extend_from_slice(if zval.is_true() { b"true" } else { b"false" }),
        DataType::Long => {
            let _ = write!(out, "{}", zval.long().unwrap_or_default());
        }
        DataType::Double => {
            let d = zval.double().unwrap_or_default();
            let number = Number::from_f64(d)
                .ok_or_else(|| fail(format!("float {d} cannot be encoded as JSON")))?;
            let _ = write!(out, "{number}");
        }
        DataType::String => write_string(out, zval)?,
        DataType::Array => write_array(
            out,
            zval.array().ok_or_else(|| fail("unreadable array"))?,
            depth,
        )?,
        DataType::Object(_) => write_object(out, zval, depth)?,
        other => {
            return Err(fail(format!(
                "a value of type {other} cannot be encoded as JSON"
            )));
        }
    }
    Ok(())
}

/// A PHP array as a JSON value.
pub fn array_to_json(ht: &ZendHashTable) -> Result<Value, Unconvertible> {
    let mut out = Vec::with_capacity(64);
    write_array(&mut out, ht, 0)?;
    serde_json::from_slice(&out).map_err(|e| fail(e.to_string()))
}

fn write_array(out: &mut Vec<u8>, ht: &ZendHashTable, depth: usize) -> Result<(), Unconvertible> {
    if depth > MAX_DEPTH {
        return Err(fail(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    if is_list(ht) {
        out.push(b'[');
        for (n, (key, item)) in entries(ht).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_json(out, item, depth + 1).map_err(|e| e.at(&key))?;
        }
        out.push(b']');
    } else {
        out.push(b'{');
        for (n, (key, item)) in entries(ht).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_key(out, &key)?;
            out.push(b':');
            write_json(out, item, depth + 1).map_err(|e| e.at(&key))?;
        }
        out.push(b'}');
    }
    Ok(())
}

/// An object as `json_encode` writes it: `JsonSerializable` objects as what `jsonSerialize()`
/// returns, others as their public properties as the engine gives them for JSON (an
/// `ArrayObject`'s are its elements).
fn write_object(out: &mut Vec<u8>, zval: &Zval, depth: usize) -> Result<(), Unconvertible> {
    let object = zval.object().ok_or_else(|| fail("unreadable object"))?;
    let json_serializable = ext_php_rs::zend::ClassEntry::try_find("JsonSerializable");
    if json_serializable.is_some_and(|interface| object.instance_of(interface)) {
        let serialized = object
            .try_call_method("jsonSerialize", vec![])
            .map_err(|e| fail(format!("jsonSerialize() failed: {e}")))?;
        return write_json(out, &serialized, depth + 1);
    }
    let held = JsonProperties::of(zval);
    let properties = match held.as_ref().and_then(|h| h.table()) {
        Some(table) => table,
        None => object
            .get_properties()
            .map_err(|e| fail(format!("cannot read the object's properties: {e}")))?,
    };
    out.push(b'{');
    let mut first = true;
    for (key, value) in entries(properties) {
        // Protected and private properties have names that start with a NUL byte.
        if matches!(key, Key::Name(name) if name.first() == Some(&0)) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_key(out, &key)?;
        out.push(b':');
        write_json(out, value, depth + 1).map_err(|e| e.at(&key))?;
    }
    out.push(b'}');
    Ok(())
}

/// `zend_get_properties_for(obj, ZEND_PROP_PURPOSE_JSON)`, released on drop as
/// `zend_release_properties` does.
struct JsonProperties(*mut ZendHashTable);

impl JsonProperties {
    fn of(zval: &Zval) -> Option<JsonProperties> {
        let symbols = crate::php_sys::get()?;
        // SAFETY: `zval` is an object; the engine only reads it.
        let table = unsafe {
            (symbols.zend_get_properties_for)(
                std::ptr::from_ref(zval).cast_mut(),
                crate::php_sys::PROP_PURPOSE_JSON,
            )
        };
        (!table.is_null()).then_some(JsonProperties(table))
    }

    fn table(&self) -> Option<&ZendHashTable> {
        // SAFETY: not NULL, and alive until `self` is dropped.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for JsonProperties {
    fn drop(&mut self) {
        const GC_IMMUTABLE: u32 = 1 << 6;
        // SAFETY: the table came from zend_get_properties_for with a reference for us.
        unsafe {
            let gc = &mut (*self.0).gc;
            if gc.u.type_info & GC_IMMUTABLE == 0 {
                gc.refcount -= 1;
                if gc.refcount == 0 {
                    ext_php_rs::ffi::zend_array_destroy(self.0);
                }
            }
        }
    }
}

fn write_string(out: &mut Vec<u8>, zval: &Zval) -> Result<(), Unconvertible> {
    let text = zval
        .zend_str()
        .ok_or_else(|| fail("unreadable string"))?
        .as_str()
        .map_err(|_| fail("string is not valid UTF-8"))?;
    serde_json::to_writer(&mut *out, text).map_err(|e| fail(e.to_string()))
}

fn write_key(out: &mut Vec<u8>, key: &Key<'_>) -> Result<(), Unconvertible> {
    match key {
        Key::Index(i) => {
            let _ = write!(out, "\"{i}\"");
            Ok(())
        }
        Key::Name(name) => {
            let name =
                std::str::from_utf8(name).map_err(|_| fail("array key is not valid UTF-8"))?;
            serde_json::to_writer(&mut *out, name).map_err(|e| fail(e.to_string()))
        }
    }
}

/// A PHP value as a JSON value (for the small fields: id, delay, fix_time).
pub fn to_json(zval: &Zval) -> Result<Value, Unconvertible> {
    let zval = zval.dereference();
    Ok(match zval.get_type() {
        DataType::Null | DataType::Undef => Value::Null,
        DataType::False => Value::Bool(false),
        DataType::True => Value::Bool(true),
        DataType::Bool => Value::Bool(zval.is_true()),
        DataType::Long => Value::from(zval.long().unwrap_or_default()),
        DataType::Double => {
            let d = zval.double().unwrap_or_default();
            Value::Number(
                Number::from_f64(d)
                    .ok_or_else(|| fail(format!("float {d} cannot be encoded as JSON")))?,
            )
        }
        DataType::String => Value::String(
            zval.zend_str()
                .ok_or_else(|| fail("unreadable string"))?
                .as_str()
                .map_err(|_| fail("string is not valid UTF-8"))?
                .to_owned(),
        ),
        _ => serde_json::from_str(&to_json_text(zval)?).map_err(|e| fail(e.to_string()))?,
    })
}

/// JSON as a PHP value, as `json_decode($text, true)` would give it.
pub fn to_zval(json: &Value) -> PhpResult<Zval> {
    let mut zval = Zval::new();
    match json {
        Value::Null => zval.set_null(),
        Value::Bool(b) => zval.set_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => zval.set_long(i),
            None => zval.set_double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => zval.set_string(s, false)?,
        Value::Array(_) | Value::Object(_) => zval.set_hashtable(to_array(json)?),
    }
    Ok(zval)
}

/// A JSON array or object as a PHP array.
pub fn to_array(json: &Value) -> PhpResult<ZBox<ZendHashTable>> {
    match json {
        Value::Array(items) => {
            let mut ht =
                ZendHashTable::with_capacity(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for item in items {
                ht.push(to_zval(item)?)?;
            }
            Ok(ht)
        }
        Value::Object(map) => {
            let mut ht = ZendHashTable::with_capacity(u32::try_from(map.len()).unwrap_or(u32::MAX));
            for (key, item) in map {
                ht.insert(key.as_str(), to_zval(item)?)?;
            }
            Ok(ht)
        }
        _ => Err("expected a JSON array or object".into()),
    }
}
