//! Values bound as statement parameters and read back from rows, with their types: integers as
//! integers, DECIMAL as exact text, NULL as null, dates and times as MySQL prints them, binary
//! columns as bytes. Statements always run as prepared statements (the binary protocol), so a
//! row's values come typed from the server rather than as text.

use std::sync::Arc;

use mysql_async::consts::ColumnType;
use mysql_async::{Column, Value};

/// Largest single parameter dq sends: MariaDB's default `max_allowed_packet` (16 MiB).
pub const MAX_PARAM_BYTES: usize = 16 * 1024 * 1024;

/// Largest SQL text accepted for one statement.
pub const MAX_SQL_BYTES: usize = 1024 * 1024;

/// The character set number MySQL gives binary columns (BLOB, BINARY, VARBINARY).
const BINARY_CHARSET: u16 = 63;

/// One parameter or one value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Float(f64),
    /// Text in the connection's character set (utf8mb4).
    Text(String),
    /// Bytes as they are: a binary column, or a parameter that is not UTF-8.
    Bytes(Vec<u8>),
}

impl SqlValue {
    pub(crate) fn len(&self) -> usize {
        match self {
            SqlValue::Text(text) => text.len(),
            SqlValue::Bytes(bytes) => bytes.len(),
            _ => 8,
        }
    }

    pub(crate) fn to_mysql(&self) -> Value {
        match self {
            SqlValue::Null => Value::NULL,
            SqlValue::Int(n) => Value::Int(*n),
            SqlValue::Float(f) => Value::Double(*f),
            SqlValue::Text(text) => Value::Bytes(text.as_bytes().to_vec()),
            SqlValue::Bytes(bytes) => Value::Bytes(bytes.clone()),
        }
    }

    /// A row's value, typed by its column.
    pub(crate) fn from_mysql(value: Value, column: &Column) -> SqlValue {
        match value {
            Value::NULL => SqlValue::Null,
            Value::Int(n) => SqlValue::Int(n),
            Value::UInt(n) => {
                i64::try_from(n).map_or_else(|_| SqlValue::Text(n.to_string()), SqlValue::Int)
            }
            // The shortest text that reads back as the same f32, so FLOAT 0.1 is 0.1.
            Value::Float(f) => SqlValue::Float(f.to_string().parse().unwrap_or(f64::from(f))),
            Value::Double(f) => SqlValue::Float(f),
            Value::Date(y, m, d, h, i, s, us) => {
                let date = format!("{y:04}-{m:02}-{d:02}");
                if column.column_type() == ColumnType::MYSQL_TYPE_DATE {
                    return SqlValue::Text(date);
                }
                SqlValue::Text(format!(
                    "{date} {h:02}:{i:02}:{s:02}{}",
                    fraction(us, column)
                ))
            }
            Value::Time(negative, days, h, i, s, us) => {
                let hours = u64::from(days) * 24 + u64::from(h);
                let sign = if negative { "-" } else { "" };
                SqlValue::Text(format!(
                    "{sign}{hours:02}:{i:02}:{s:02}{}",
                    fraction(us, column)
                ))
            }
            Value::Bytes(bytes) => {
                let binary = column.character_set() == BINARY_CHARSET
                    && !matches!(
                        column.column_type(),
                        ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL
                    );
                if binary {
                    return SqlValue::Bytes(bytes);
                }
                match String::from_utf8(bytes) {
                    Ok(text) => SqlValue::Text(text),
                    Err(e) => SqlValue::Bytes(e.into_bytes()),
                }
            }
        }
    }
}

/// `.ffffff` cut to the column's declared fractional digits; nothing for whole seconds.
fn fraction(micros: u32, column: &Column) -> String {
    let digits = usize::from(column.decimals().min(6));
    if digits == 0 {
        return String::new();
    }
    let all = format!("{micros:06}");
    format!(".{}", &all[..digits])
}

/// Rows of a result: the column names once, then each row's values in column order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Arc<[String]>,
    pub rows: Vec<Vec<SqlValue>>,
}

impl Rows {
    /// Each row as (column, value) pairs, for facades that build associative arrays.
    pub fn iter_assoc(&self) -> impl Iterator<Item = impl Iterator<Item = (&str, &SqlValue)>> {
        self.rows
            .iter()
            .map(|row| self.columns.iter().map(String::as_str).zip(row.iter()))
    }

    /// The rows as a JSON list of objects (binary values that are not UTF-8 as
    /// `{"base64": "..."}`).
    pub fn to_json(&self) -> serde_json::Value {
        let rows = self.iter_assoc().map(|row| {
            serde_json::Value::Object(
                row.map(|(name, value)| (name.to_string(), value.to_json()))
                    .collect(),
            )
        });
        serde_json::Value::Array(rows.collect())
    }
}

impl SqlValue {
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            SqlValue::Null => J::Null,
            SqlValue::Int(n) => J::from(*n),
            SqlValue::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            SqlValue::Text(text) => J::String(text.clone()),
            SqlValue::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => J::String(text.to_string()),
                Err(_) => serde_json::json!({ "base64": crate::json::base64(bytes) }),
            },
        }
    }
}
