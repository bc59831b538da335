//! Checks of everything a caller hands to the delay queue, shared by PHP, C and HTTP so that each
//! gets the same rules and the same messages. Every message names the field and the value.

use std::time::Duration;

use chrono::{LocalResult, NaiveDateTime, TimeZone as _};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::error::{Error, Result, shown};

/// Longest accepted delay, and how far ahead a `fix_time` may lie: 366 days.
pub const MAX_DELAY_MS: i64 = 366 * 24 * 3600 * 1000;
/// [`MAX_DELAY_MS`] as a duration: the bound to give [`delay_from_seconds`] for `add`.
pub const MAX_ADD_DELAY: Duration = Duration::from_millis(MAX_DELAY_MS as u64);
const FIX_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// The fields a message may have.
pub const FIELDS: [&str; 4] = ["id", "body", "delay", "fix_time"];
/// Keys that are not typos of a field but that people still reach for, and what they meant.
const CONFUSIONS: [(&str, &str); 7] = [
    ("delay_ms", "delay"),
    ("delayms", "delay"),
    ("due_at", "fix_time"),
    ("dueat", "fix_time"),
    ("run_at", "fix_time"),
    ("data", "body"),
    ("message_id", "id"),
];

/// A topic name: `[A-Za-z0-9_.:-]{1,128}`.
pub fn check_topic(topic: &str) -> Result<()> {
    check_name("topic", topic, 128)
}

/// A name made of `[A-Za-z0-9_.:-]`, 1 to `max` characters: topics and key prefixes, which end
/// up in Redis keys and AMQP names.
pub(crate) fn check_name(what: &str, name: &str, max: usize) -> Result<()> {
    let ok = (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{what} {} is invalid: expected 1 to {max} characters of A-Z a-z 0-9 _ . : -",
        shown(name)
    )))
}

/// A message id: 1 to 128 bytes of UTF-8 without control characters.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("id is empty: expected 1 to 128 bytes"));
    }
    if id.len() > 128 {
        return Err(Error::invalid(format!(
            "id {} is {} bytes long: expected at most 128",
            shown(id),
            id.len()
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "id {} contains a control character",
            shown(id)
        )));
    }
    Ok(())
}

/// When a new message falls due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Neither `delay` nor `fix_time`: the topic's default delay.
    TopicDefault,
    /// Due at this unix time in milliseconds (already bounded; may lie in the past).
    At(i64),
}

/// A message as accepted by `add`: checked, body serialised once.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: String,
    /// The body as JSON text, at most the configured body limit.
    pub body: String,
    pub schedule: Schedule,
}

/// A message's fields as a caller read them, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct MessageFields {
    pub id: Option<Value>,
    /// The body as JSON text (valid JSON, not checked again); `None` for no body.
    pub body: Option<String>,
    pub delay: Option<Value>,
    pub fix_time: Option<Value>,
    /// Keys other than the four fields: each one is refused (with a hint when it looks like a
    /// typo of a field).
    pub other_keys: Vec<String>,
}

/// What parsing a message needs besides the message: the clock, the time zone for `fix_time`
/// strings and the body size limit.
#[derive(Debug, Clone, Copy)]
pub struct InputRules {
    pub now_ms: i64,
    pub time_zone: Tz,
    pub body_limit: usize,
}

impl NewMessage {
    /// Reads `{"id", "body", "delay" | "fix_time"}`. Any other key is refused, so that a
    /// misspelt or misplaced field is never dropped silently.
    pub fn from_json(data: &Map<String, Value>, rules: &InputRules) -> Result<NewMessage> {
        let fields = MessageFields {
            id: data.get("id").cloned(),
            body: data.get("body").map(encode_body).transpose()?,
            delay: data.get("delay").cloned(),
            fix_time: data.get("fix_time").cloned(),
            other_keys: data
                .keys()
                .filter(|k| !FIELDS.contains(&k.as_str()))
                .cloned()
                .collect(),
        };
        NewMessage::from_fields(fields, rules)
    }

    /// Checks fields that a caller read itself (the PHP extension reads PHP arrays directly).
    pub fn from_fields(fields: MessageFields, rules: &InputRules) -> Result<NewMessage> {
        check_other_keys(&fields.other_keys)?;
        let id = read_id(fields.id.as_ref())?;
        let body = fields.body.unwrap_or_else(|| "null".to_string());
        check_body_size(body.len(), rules.body_limit)?;
        let delay = fields.delay.as_ref().filter(|v| !v.is_null());
        let fix_time = fields.fix_time.as_ref().filter(|v| !v.is_null());
        let schedule = match (delay, fix_time) {
            (Some(d), Some(f)) => {
                return Err(Error::invalid(format!(
                    "delay {} and fix_time {} are both given: give one of them",
                    value_shown(d),
                    value_shown(f)
                )));
            }
            (Some(delay), None) => Schedule::At(rules.now_ms + read_delay_ms(delay)?),
            (None, Some(fix_time)) => Schedule::At(read_fix_time(fix_time, rules)?),
            (None, None) => Schedule::TopicDefault,
        };
        Ok(NewMessage { id, body, schedule })
    }

    /// The due time, given the topic's default delay for messages that named none.
    pub fn due_ms(&self, now_ms: i64, topic_delay_ms: i64) -> i64 {
        match self.schedule {
            Schedule::TopicDefault => now_ms + topic_delay_ms,
            Schedule::At(ms) => ms,
        }
    }
}

/// Refuses keys other than the four fields: a typo of one with a hint, else all of them named.
fn check_other_keys(keys: &[String]) -> Result<()> {
    const LISTED: &str = "(fields: id, body, delay, fix_time)";
    if let Some((key, meant)) = keys.iter().find_map(|k| typo_of(k).map(|meant| (k, meant))) {
        return Err(Error::invalid(format!(
            "unknown field {}: did you mean \"{meant}\"? {LISTED}",
            shown(key)
        )));
    }
    match keys {
        [] => Ok(()),
        [key] => Err(Error::invalid(format!(
            "unknown field {} {LISTED}",
            shown(key)
        ))),
        keys => Err(Error::invalid(format!(
            "unknown fields {} {LISTED}",
            keys.iter().map(|k| shown(k)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn typo_of(key: &str) -> Option<&'static str> {
    if FIELDS.contains(&key) {
        return None;
    }
    let folded = folded(key);
    if let Some((_, meant)) = CONFUSIONS
        .iter()
        .find(|(wrong, _)| *wrong == key || wrong.replace('_', "") == folded)
    {
        return Some(meant);
    }
    likely_meant(key, &FIELDS)
}

/// The name among `known` that `key` is most likely a typo of, for a "did you mean": the same
/// letters but for case and punctuation, or (for names of three characters or more) the nearest
/// within two edits.
pub fn likely_meant<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let folded = folded(key);
    known
        .iter()
        .filter_map(|name| {
            let name_folded = name.replace('_', "");
            let allowed = if name.len() <= 2 { 0 } else { 2 };
            let distance = edit_distance(&folded, &name_folded);
            (distance <= allowed).then_some((distance, *name))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// A key's letters and digits, lower case: how it compares with names in `likely_meant`.
fn folded(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Damerau-Levenshtein distance (optimal string alignment) on characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

fn read_id(id: Option<&Value>) -> Result<String> {
    let id = match id {
        None | Some(Value::Null) => {
            return Err(Error::invalid(
                "id is missing: every message needs an \"id\" (a string of 1 to 128 bytes)",
            ));
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(other) => {
            return Err(Error::invalid(format!(
                "id {} is {}: expected a string of 1 to 128 bytes",
                value_shown(other),
                type_name(other)
            )));
        }
    };
    check_id(&id)?;
    Ok(id)
}

fn encode_body(body: &Value) -> Result<String> {
    serde_json::to_string(body)
        .map_err(|e| Error::invalid(format!("body cannot be encoded as JSON: {e}")))
}

/// A body of `len` bytes of JSON against the configured limit.
pub fn check_body_size(len: usize, limit: usize) -> Result<()> {
    if len > limit {
        return Err(Error::invalid(format!(
            "body is {len} bytes of JSON: the limit is {limit} bytes"
        )));
    }
    Ok(())
}

fn read_delay_ms(delay: &Value) -> Result<i64> {
    let delay = delay_from_json("delay", delay, MAX_ADD_DELAY)?;
    Ok(i64::try_from(delay.as_millis()).unwrap_or(MAX_DELAY_MS))
}

/// A delay given in seconds (int or float), the one unit of every facade: finite, from 0 to
/// `max`, rounded to the millisecond. The error names `field` and the value.
pub fn delay_from_seconds(field: &str, seconds: f64, max: Duration) -> Result<Duration> {
    let ms = (seconds * 1000.0).round();
    // NaN fails both comparisons.
    if seconds >= 0.0 && ms <= max.as_millis() as f64 {
        return Ok(Duration::from_millis(ms as u64));
    }
    Err(delay_out_of_range(field, seconds, max))
}

/// As [`delay_from_seconds`], for a JSON value: anything but a number is refused by its type.
pub fn delay_from_json(field: &str, value: &Value, max: Duration) -> Result<Duration> {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(seconds) => delay_from_seconds(field, seconds, max),
            None => Err(delay_out_of_range(field, f64::NAN, max)),
        },
        other => Err(Error::invalid(format!(
            "{field} {} is {}: expected a number of seconds from 0 to {}",
            value_shown(other),
            type_name(other),
            max.as_secs()
        ))),
    }
}

/// The message for a delay that is negative, not finite or longer than `max`.
pub(crate) fn delay_out_of_range(field: &str, seconds: f64, max: Duration) -> Error {
    let what = if seconds.is_nan() {
        "is not a number"
    } else {
        "is out of range"
    };
    let days = match max.as_secs() / 86_400 {
        0 => String::new(),
        days => format!(" ({days} days)"),
    };
    Error::invalid(format!(
        "{field} {} {what}: expected seconds from 0 to {}{days}",
        seconds_shown(seconds),
        max.as_secs(),
    ))
}

/// Seconds as a person wrote them: `30`, `1.5`, `1e99`, `NaN`, `inf` (not `30.0` or a hundred digits).
fn seconds_shown(seconds: f64) -> String {
    if seconds.fract() == 0.0 && seconds.abs() < 1e16 {
        format!("{seconds:.0}")
    } else {
        format!("{seconds:?}")
    }
}

fn read_fix_time(fix_time: &Value, rules: &InputRules) -> Result<i64> {
    let due_ms = match fix_time {
        Value::String(s) => parse_local_time(s, rules.time_zone)?,
        Value::Number(n) => match n.as_f64() {
            Some(secs) if secs >= 0.0 && secs.is_finite() => (secs * 1000.0).round() as i64,
            _ => {
                return Err(Error::invalid(format!(
                    "fix_time {n} is negative: expected a unix time in seconds or 'Y-m-d H:i:s'"
                )));
            }
        },
        other => {
            return Err(Error::invalid(format!(
                "fix_time {} is {}: expected 'Y-m-d H:i:s' or a unix time in seconds",
                value_shown(other),
                type_name(other)
            )));
        }
    };
    if due_ms > rules.now_ms + MAX_DELAY_MS {
        return Err(Error::invalid(format!(
            "fix_time {} is more than 366 days ahead",
            value_shown(fix_time)
        )));
    }
    // A time in the past is due now.
    Ok(due_ms.max(rules.now_ms))
}

/// `Y-m-d H:i:s` in `tz` to unix milliseconds. A time that a daylight-saving change skips is
/// read with the offset before the change, as PHP's `strtotime` does; a repeated one, at its
/// first occurrence.
pub fn parse_local_time(text: &str, tz: Tz) -> Result<i64> {
    let naive = NaiveDateTime::parse_from_str(text, FIX_TIME_FORMAT).map_err(|e| {
        Error::invalid(format!(
            "fix_time {} is not a valid 'Y-m-d H:i:s' time ({e}): expected e.g. \"2026-01-31 23:59:00\"",
            shown(text)
        ))
    })?;
    let instant = match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        LocalResult::None => {
            let before = naive - chrono::Duration::hours(3);
            let offset = tz
                .from_local_datetime(&before)
                .earliest()
                .map(|t| t.naive_local() - t.naive_utc())
                .unwrap_or_default();
            (naive - offset).and_utc().timestamp_millis()
        }
    };
    Ok(instant)
}

/// The time zone with this IANA name (`Asia/Shanghai`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::invalid(format!(
            "time zone {} is unknown: expected an IANA name such as \"Asia/Shanghai\" or \"UTC\"",
            shown(name)
        ))
    })
}

/// The machine's time zone: `TZ` (an IANA name, optionally after a `:`), then
/// /etc/localtime; UTC when neither can be told.
pub fn system_time_zone() -> Tz {
    let from_env = std::env::var("TZ")
        .ok()
        .and_then(|tz| tz.trim_start_matches(':').parse().ok());
    from_env
        .or_else(|| {
            iana_time_zone::get_timezone()
                .ok()
                .and_then(|name| name.parse().ok())
        })
        .unwrap_or(Tz::UTC)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn value_shown(v: &Value) -> String {
    match v {
        Value::String(s) => shown(s),
        other => {
            let text = other.to_string();
            if text.len() > 80 {
                format!("{}...", &text[..text.floor_char_boundary(80)])
            } else {
                text
            }
        }
    }
}

/// A random id (a message published without one, a dead letter): 32 random hex digits, as a
/// UUID (version 4) is written.
pub(crate) fn new_uuid() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x4000;
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    fn rules() -> InputRules {
        InputRules {
            now_ms: NOW,
            time_zone: Tz::Asia__Shanghai,
            body_limit: 64,
        }
    }

    fn parse(v: Value) -> Result<NewMessage> {
        NewMessage::from_json(v.as_object().unwrap(), &rules())
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().message().to_string()
    }

    #[test]
    fn delay_and_fix_time() {
        let m = parse(json!({"id": "a", "body": {"x": 1}, "delay": 1.5})).unwrap();
        assert_eq!(m.schedule, Schedule::At(NOW + 1500));
        assert_eq!(m.body, r#"{"x":1}"#);
        // NOW is 2027-01-15 08:00:00 UTC, which is 16:00 in Shanghai.
        let m = parse(json!({"id": 42, "fix_time": "2027-01-15 16:01:00"})).unwrap();
        assert_eq!(m.id, "42");
        assert_eq!(m.body, "null");
        assert_eq!(m.schedule, Schedule::At(NOW + 60_000));
        let m = parse(json!({"id": "a", "fix_time": 1_800_000_060})).unwrap();
        assert_eq!(m.schedule, Schedule::At(NOW + 60_000));
        let m = parse(json!({"id": "a", "fix_time": "2001-01-01 00:00:00"})).unwrap();
        assert_eq!(m.schedule, Schedule::At(NOW), "past is due now");
        let m = parse(json!({"id": "a"})).unwrap();
        assert_eq!(m.schedule, Schedule::TopicDefault);
        assert_eq!(m.due_ms(NOW, 5000), NOW + 5000);
    }

    #[test]
    fn fix_time_is_read_in_the_zone() {
        let ms = parse_local_time("2026-01-15 08:00:00", Tz::Asia__Shanghai).unwrap();
        assert_eq!(
            ms,
            parse_local_time("2026-01-15 00:00:00", Tz::UTC).unwrap()
        );
        // 02:30 does not exist on 2026-03-08 in New York: read as 03:30 EDT, like PHP.
        let gap = parse_local_time("2026-03-08 02:30:00", Tz::America__New_York).unwrap();
        let after = parse_local_time("2026-03-08 03:30:00", Tz::America__New_York).unwrap();
        assert_eq!(gap, after);
    }

    #[test]
    fn bad_input_names_field_and_value() {
        assert!(err(json!({"body": 1})).contains("id is missing"));
        assert!(err(json!({"id": ""})).contains("id is empty"));
        assert!(err(json!({"id": "a\u{1}b"})).contains("control character"));
        assert!(err(json!({"id": "x".repeat(129)})).contains("129 bytes"));
        assert!(err(json!({"id": 1.5})).contains("id 1.5 is a float"));
        assert!(err(json!({"id": "a", "delay": "5"})).contains("delay \"5\" is a string"));
        assert!(err(json!({"id": "a", "delay": -1})).contains("delay -1 is out of range"));
        assert!(err(json!({"id": "a", "delay": 31_622_401})).contains("out of range"));
        assert!(err(json!({"id": "a", "delay": 1, "fix_time": 2})).contains("both given"));
        assert!(err(json!({"id": "a", "fix_time": "2026-02-30 00:00:00"})).contains("not a valid"));
        assert!(err(json!({"id": "a", "fix_time": "tomorrow"})).contains("\"tomorrow\""));
        assert!(err(json!({"id": "a", "fix_time": true})).contains("a boolean"));
        assert!(err(json!({"id": "a", "fix_time": "2099-01-01 00:00:00"})).contains("366 days"));
        assert!(err(json!({"id": "a", "body": "x".repeat(100)})).contains("limit is 64"));
    }

    #[test]
    fn delays_are_seconds_rounded_to_the_millisecond() {
        let month = Duration::from_secs(30 * 86_400);
        let read = |seconds: f64| delay_from_seconds("delay", seconds, month);
        assert_eq!(read(1.5).unwrap(), Duration::from_millis(1500));
        assert_eq!(read(0.25).unwrap(), Duration::from_millis(250));
        assert_eq!(read(30.0).unwrap(), Duration::from_secs(30));
        assert_eq!(read(0.0).unwrap(), Duration::ZERO);
        assert_eq!(read(0.0014).unwrap(), Duration::from_millis(1));
        assert_eq!(read(0.0004).unwrap(), Duration::ZERO);
        assert_eq!(read(2_592_000.0).unwrap(), month);
        let refused = |seconds: f64| read(seconds).unwrap_err().message().to_string();
        assert_eq!(
            refused(1e99),
            "delay 1e99 is out of range: expected seconds from 0 to 2592000 (30 days)"
        );
        assert_eq!(
            refused(-1.0),
            "delay -1 is out of range: expected seconds from 0 to 2592000 (30 days)"
        );
        assert!(refused(-0.0001).starts_with("delay -0.0001 is out of range"));
        assert!(refused(2_592_000.001).starts_with("delay 2592000.001 is out of range"));
        assert!(refused(1e12).starts_with("delay 1000000000000 is out of range"));
        assert!(refused(f64::INFINITY).starts_with("delay inf is out of range"));
        assert!(refused(f64::NEG_INFINITY).starts_with("delay -inf is out of range"));
        assert!(refused(f64::NAN).starts_with("delay NaN is not a number: expected seconds"));
        let json = |v: Value| delay_from_json("delay", &v, month);
        assert_eq!(json(json!(1.5)).unwrap(), Duration::from_millis(1500));
        assert_eq!(json(json!(30)).unwrap(), Duration::from_secs(30));
        assert_eq!(
            json(json!("30")).unwrap_err().message(),
            "delay \"30\" is a string: expected a number of seconds from 0 to 2592000"
        );
        assert!(json(json!(null)).unwrap_err().message().contains("is null"));
        assert!(
            json(json!(-5))
                .unwrap_err()
                .message()
                .starts_with("delay -5 is out of range")
        );
    }

    #[test]
    fn typos_are_refused_with_a_hint() {
        for (key, meant) in [
            ("dealy", "delay"),
            ("Delay", "delay"),
            ("fixtime", "fix_time"),
            ("fix-time", "fix_time"),
            ("fixTime", "fix_time"),
            ("fix_tme", "fix_time"),
            ("bdy", "body"),
            ("ID", "id"),
            ("delay_ms", "delay"),
        ] {
            let message = err(json!({"id": "a", key: 1}));
            assert!(
                message.contains(&format!("did you mean \"{meant}\"")),
                "{key}: {message}"
            );
        }
    }

    #[test]
    fn the_nearest_known_name_is_meant() {
        let options = ["timeout", "max_messages", "max_seconds", "max_memory_mb"];
        assert_eq!(likely_meant("max_mesages", &options), Some("max_messages"));
        assert_eq!(likely_meant("maxSeconds", &options), Some("max_seconds"));
        assert_eq!(likely_meant("max_memory", &options), Some("max_memory_mb"));
        assert_eq!(
            likely_meant("max_memory_bm", &options),
            Some("max_memory_mb")
        );
        assert_eq!(likely_meant("TIMEOUT", &options), Some("timeout"));
        assert_eq!(likely_meant("prefetch", &options), None);
    }

    #[test]
    fn every_other_key_is_refused() {
        assert_eq!(
            err(json!({"id": "a", "priority": 3})),
            "unknown field \"priority\" (fields: id, body, delay, fix_time)"
        );
        assert_eq!(
            err(json!({"id": "a", "topic": "t", "priority": 3, "delay": 5})),
            "unknown fields \"topic\", \"priority\" (fields: id, body, delay, fix_time)"
        );
        // A typo among them gets its hint first.
        assert!(
            err(json!({"id": "a", "priority": 3, "dealy": 5})).contains("did you mean \"delay\"")
        );
        // Through from_fields too (the PHP extension reads its arrays itself).
        let fields = MessageFields {
            id: Some(json!("a")),
            other_keys: vec!["0".to_string()],
            ..MessageFields::default()
        };
        let e = NewMessage::from_fields(fields, &rules()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(e.message().starts_with("unknown field \"0\""), "{e}");
    }

    #[test]
    fn topic_names() {
        assert!(check_topic("order.timeout:v2-x_y").is_ok());
        assert!(check_topic("").is_err());
        assert!(
            check_topic("a b")
                .unwrap_err()
                .message()
                .contains("\"a b\"")
        );
        assert!(check_topic(&"t".repeat(129)).is_err());
    }
}
