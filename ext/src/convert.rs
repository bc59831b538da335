//! PHP values to JSON and back, the way `json_encode` / `json_decode($s, true)` would: lists
//! (keys 0..n-1 in order) become arrays, other arrays objects; key order is kept.

use ext_php_rs::boxed::ZBox;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::flags::DataType;
use ext_php_rs::types::array::Iter;
use ext_php_rs::types::{ZendHashTable, Zval};
use serde_json::{Map, Number, Value};

const MAX_DEPTH: usize = 512;

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

    fn at(mut self, key: &Zval) -> Self {
        self.path.push(match key.long() {
            Some(i) => format!("[{i}]"),
            None => format!("[\"{}\"]", key_string(key).unwrap_or_default()),
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

/// A PHP array that must be an object-like map (`['id' => ..]`), as a JSON object. A list is
/// read with its indexes as keys, which the caller's checks then report.
pub fn array_to_map(ht: &ZendHashTable) -> Result<Map<String, Value>, Unconvertible> {
    let mut out = Map::with_capacity(ht.len());
    let mut entries = Iter::new(ht);
    while let Some((key, item)) = entries.next_zval() {
        let name = key_string(&key)?;
        let converted = value(item, 1).map_err(|e| e.at(&key))?;
        out.insert(name, converted);
    }
    Ok(out)
}

fn value(zval: &Zval, depth: usize) -> Result<Value, Unconvertible> {
    if depth > MAX_DEPTH {
        return Err(fail(format!("nested deeper than {MAX_DEPTH} levels")));
    }
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
        DataType::String => {
            let s = zval.zend_str().ok_or_else(|| fail("unreadable string"))?;
            Value::String(
                s.as_str()
                    .map_err(|_| fail("string is not valid UTF-8"))?
                    .to_owned(),
            )
        }
        DataType::Array => array(
            zval.array().ok_or_else(|| fail("unreadable array"))?,
            depth + 1,
        )?,
        other => {
            return Err(fail(format!(
                "a value of type {other} cannot be encoded as JSON"
            )));
        }
    })
}

fn array(ht: &ZendHashTable, depth: usize) -> Result<Value, Unconvertible> {
    // Raw-key iteration: `ht.iter()` panics on non-UTF-8 keys.
    let mut keys = Iter::new(ht);
    let mut expected = 0i64;
    let mut is_list = true;
    while let Some((key, _)) = keys.next_zval() {
        if key.long() != Some(expected) {
            is_list = false;
            break;
        }
        expected += 1;
    }
    let mut entries = Iter::new(ht);
    if is_list {
        let mut out = Vec::with_capacity(ht.len());
        while let Some((key, item)) = entries.next_zval() {
            out.push(value(item, depth).map_err(|e| e.at(&key))?);
        }
        return Ok(Value::Array(out));
    }
    let mut out = Map::with_capacity(ht.len());
    while let Some((key, item)) = entries.next_zval() {
        let name = key_string(&key)?;
        let converted = value(item, depth).map_err(|e| e.at(&key))?;
        out.insert(name, converted);
    }
    Ok(Value::Object(out))
}

fn key_string(key: &Zval) -> Result<String, Unconvertible> {
    if let Some(i) = key.long() {
        return Ok(i.to_string());
    }
    key.zend_str()
        .and_then(|s| s.as_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| fail("array key is not valid UTF-8"))
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
