//! Dead letters: messages given up after their last attempt or a 410. Listed newest first
//! across shards (a page at any depth, filtered by text and last status), put back to be
//! delivered again (with a fresh retry ladder), or removed.
//!
//! Listing never runs a script over the dead letters: a filter reads them in chunks of plain
//! commands (ZREVRANGE, HMGET), so Redis keeps serving the workers and adds in between.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::{DelayQueue, LuaScript, Meta, Request, Shard, keys, now_ms, shard_index};
use crate::error::{Error, Result};
use crate::input::{check_id, check_topic};

/// Dead letters per chunk while a filter looks through them.
const SCAN_CHUNK: isize = 5000;
/// Chunks asked for at once.
const SCAN_AHEAD: usize = 3;

/// A dead letter, as the dead-letter routes show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: String,
    /// JSON text.
    pub body: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// When it was last due (unix ms).
    pub due_at_ms: i64,
    /// When it was given up (unix ms).
    pub died_at_ms: i64,
}

/// Which dead letters a listing shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeadQuery {
    pub offset: usize,
    pub limit: usize,
    /// Text found (case-insensitive) in the id, the body or the last error.
    pub text: Option<String>,
    /// The last answer: a status (`503`), a class (`4xx`, `5xx`) or `none` (no HTTP answer: a
    /// timeout, a refused connection).
    pub status: Option<StatusFilter>,
}

/// The last-answer filter of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Code(u16),
    /// 1 to 5: any status of that hundred.
    Class(u16),
    None,
}

impl StatusFilter {
    /// `503`, `4xx`, `5xx`, `none`; the error names the value.
    pub fn parse(text: &str) -> Result<StatusFilter> {
        let t = text.to_ascii_lowercase();
        if t == "none" {
            return Ok(StatusFilter::None);
        }
        if let Some(class) = t.strip_suffix("xx")
            && let Ok(c @ 1..=5) = class.parse::<u16>()
        {
            return Ok(StatusFilter::Class(c));
        }
        match t.parse::<u16>() {
            Ok(code @ 100..=599) => Ok(StatusFilter::Code(code)),
            _ => Err(Error::invalid(format!(
                "status {text:?} is not a filter: expected an HTTP status (e.g. 503), a class \
                 (4xx, 5xx) or none (no answer: timeouts, refused connections)"
            ))),
        }
    }

    /// Whether a letter whose last answer was `status` passes.
    pub fn matches(self, status: Option<u16>) -> bool {
        match (self, status) {
            (StatusFilter::None, None) => true,
            (StatusFilter::Code(c), Some(s)) => c == s,
            (StatusFilter::Class(c), Some(s)) => s / 100 == c,
            _ => false,
        }
    }
}

/// What [`DelayQueue::deliver_now`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverNow {
    /// It is due now (it was waiting, or due already).
    Due,
    /// A worker is delivering it.
    InFlight,
    /// It is a dead letter (requeue it instead).
    Dead,
    /// No such message.
    Missing,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadPage {
    pub letters: Vec<DeadLetter>,
    /// Dead letters that match (all of them without a filter).
    pub total: u64,
}

impl DeadQuery {
    fn filtered(&self) -> bool {
        self.text.as_deref().is_some_and(|t| !t.is_empty()) || self.status.is_some()
    }
}

impl DelayQueue {
    /// A topic's dead letters, newest first: `limit` of them after skipping `offset`.
    pub async fn dead_letters(
        &self,
        topic: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<DeadLetter>> {
        let query = DeadQuery {
            offset,
            limit,
            ..DeadQuery::default()
        };
        Ok(self.dead_page(topic, &query).await?.letters)
    }

    /// A page of a topic's dead letters, newest first, as `query` asks; at any depth (one
    /// shard reads only the page; several read the ids above it), the total of those that
    /// match beside it.
    pub async fn dead_page(&self, topic: &str, query: &DeadQuery) -> Result<DeadPage> {
        check_topic(topic)?;
        let (ids, total) = if query.filtered() {
            self.dead_matching(topic, query).await?
        } else {
            self.dead_ids(topic, query).await?
        };
        let letters = self.dead_details(topic, ids).await?;
        Ok(DeadPage { letters, total })
    }

    /// The page's ids (with their time of death) without a filter, and the total.
    async fn dead_ids(&self, topic: &str, query: &DeadQuery) -> Result<(Vec<(String, i64)>, u64)> {
        let one = self.shards.len() == 1;
        // One shard: the page itself. Several: every id above the page's end, merged.
        let (from, to) = if one {
            (query.offset, query.offset.saturating_add(query.limit))
        } else {
            (0, query.offset.saturating_add(query.limit))
        };
        let from = isize::try_from(from).unwrap_or(isize::MAX);
        let to = isize::try_from(to).unwrap_or(isize::MAX).saturating_sub(1);
        let reads = self.shards.iter().map(|shard| async move {
            let dead = shard.keys().topic(topic).dead;
            let mut pipe = redis::pipe();
            pipe.cmd("ZCARD").arg(&dead);
            pipe.cmd("ZREVRANGE")
                .arg(&dead)
                .arg(from)
                .arg(to)
                .arg("WITHSCORES");
            shard
                .query::<(u64, Vec<(String, f64)>)>(Request::Pipe(&pipe))
                .await
        });
        let mut total = 0;
        let mut ids = Vec::new();
        for read in futures_util::future::join_all(reads).await {
            let (count, page) = read?;
            total += count;
            ids.extend(page.into_iter().map(|(id, at)| (id, at as i64)));
        }
        newest_first(&mut ids);
        let skip = if one { 0 } else { query.offset };
        Ok((
            ids.into_iter().skip(skip).take(query.limit).collect(),
            total,
        ))
    }

    /// The page's ids among those that match the filter, and how many match: every shard's
    /// dead letters are read in chunks, bodies only where the text must be looked for.
    async fn dead_matching(
        &self,
        topic: &str,
        query: &DeadQuery,
    ) -> Result<(Vec<(String, i64)>, u64)> {
        let text = query
            .text
            .as_deref()
            .map(str::to_lowercase)
            .filter(|t| !t.is_empty());
        let scans = self.shards.iter().map(|shard| {
            let keys = shard.keys();
            let base = keys.topic_base(topic);
            let (meta_key, body_key) = (format!("{base}:meta"), format!("{base}:body"));
            let dead = keys.topic(topic).dead;
            let text = text.as_deref();
            async move { scan_shard(shard, &dead, &meta_key, &body_key, text, query.status).await }
        });
        let mut ids = Vec::new();
        for scan in futures_util::future::join_all(scans).await {
            ids.extend(scan?);
        }
        newest_first(&mut ids);
        let total = ids.len() as u64;
        Ok((
            ids.into_iter()
                .skip(query.offset)
                .take(query.limit)
                .collect(),
            total,
        ))
    }

    /// Bodies and meta of the page's dead letters, in the page's order (one that went away in
    /// between is left out).
    async fn dead_details(&self, topic: &str, ids: Vec<(String, i64)>) -> Result<Vec<DeadLetter>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let count = self.shards.len();
        let mut per_shard: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (n, (id, _)) in ids.iter().enumerate() {
            per_shard[shard_index(topic, id, count)].push(n);
        }
        let reads = per_shard.iter().enumerate().map(|(s, rows)| {
            let ids = &ids;
            async move {
                if rows.is_empty() {
                    return Ok((Vec::new(), Vec::new()));
                }
                let base = self.shards[s].keys().topic_base(topic);
                let (meta_key, body_key) = (format!("{base}:meta"), format!("{base}:body"));
                let mut pipe = redis::pipe();
                let hmget = |pipe: &mut redis::Pipeline, key: &str| {
                    let cmd = pipe.cmd("HMGET").arg(key);
                    for &n in rows {
                        cmd.arg(&ids[n].0);
                    }
                };
                hmget(&mut pipe, &body_key);
                hmget(&mut pipe, &meta_key);
                self.shards[s]
                    .query::<(Vec<Option<String>>, Vec<Option<String>>)>(Request::Pipe(&pipe))
                    .await
            }
        });
        let mut found: Vec<Option<(String, Meta)>> = ids.iter().map(|_| None).collect();
        for (rows, read) in per_shard
            .iter()
            .zip(futures_util::future::join_all(reads).await)
        {
            let (bodies, metas) = read?;
            for ((&n, body), meta) in rows.iter().zip(bodies).zip(metas) {
                let Some(body) = body else { continue };
                let meta: Meta = meta
                    .and_then(|m| serde_json::from_str(&m).ok())
                    .unwrap_or_default();
                found[n] = Some((body, meta));
            }
        }
        Ok(ids
            .into_iter()
            .zip(found)
            .filter_map(|((id, died_at_ms), found)| {
                let (body, meta) = found?;
                Some(DeadLetter {
                    id,
                    body,
                    attempts: meta.attempts,
                    last_status: meta.last_status,
                    last_error: meta.last_error,
                    due_at_ms: meta.due_at.unwrap_or(died_at_ms),
                    died_at_ms,
                })
            })
            .collect())
    }

    /// Puts a dead letter back to be delivered now, its attempts counted from zero again.
    /// `false` if there is no such dead letter.
    pub async fn requeue(&self, topic: &str, id: &str) -> Result<bool> {
        self.dead_script(&REQUEUE, topic, id, &now_ms().to_string())
            .await
    }

    /// Makes a waiting message due now (its attempts and body as they are), in one step: no
    /// moment when it is in neither set, nor a second copy. What it found: see [`DeliverNow`].
    pub async fn deliver_now(&self, topic: &str, id: &str) -> Result<DeliverNow> {
        check_topic(topic)?;
        check_id(id)?;
        let shard = &self.shards[shard_index(topic, id, self.shards.len())];
        let now = now_ms().to_string();
        let found: i64 = shard
            .eval(
                &DELIVER_NOW,
                &[&shard.keys().topic_base(topic), shard.keys().base()],
                &[id.as_bytes(), topic.as_bytes(), now.as_bytes()],
            )
            .await?;
        Ok(match found {
            1 => DeliverNow::Due,
            2 => DeliverNow::InFlight,
            3 => DeliverNow::Dead,
            _ => DeliverNow::Missing,
        })
    }

    /// Removes a dead letter. `false` if there is no such dead letter.
    pub async fn delete_dead(&self, topic: &str, id: &str) -> Result<bool> {
        self.dead_script(&DELETE, topic, id, "").await
    }

    async fn dead_script(
        &self,
        script: &LuaScript,
        topic: &str,
        id: &str,
        extra: &str,
    ) -> Result<bool> {
        check_topic(topic)?;
        check_id(id)?;
        let shard = &self.shards[shard_index(topic, id, self.shards.len())];
        let done: i64 = shard
            .eval(
                script,
                &[&shard.keys().topic_base(topic), shard.keys().base()],
                &[id.as_bytes(), topic.as_bytes(), extra.as_bytes()],
            )
            .await?;
        Ok(done == 1)
    }
}

/// Moves a dead letter to ready, due ARGV[3], with its attempts and lease cleared.
/// KEYS: topic base, prefix. ARGV: id, topic, now ms. Returns 1 if it was a dead letter.
static REQUEUE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id, topic = ARGV[1], ARGV[2]
if not redis.call('ZSCORE', @dead, id) then return 0 end
redis.call('ZREM', @dead, id)
redis.call('HDEL', @meta, id)
redis.call('ZADD', @ready, ARGV[3], id)
mark_ready(topic)
return 1
",
    ))
});

/// Moves a delayed message to ready, due ARGV[3]; a ready one stays as it is.
/// KEYS: topic base, prefix. ARGV: id, topic, now ms. Returns 1 due now (or already), 2 being
/// delivered, 3 a dead letter, 0 not there.
static DELIVER_NOW: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id, topic = ARGV[1], ARGV[2]
if redis.call('ZREM', @delayed, id) == 1 then
  redis.call('ZADD', @ready, ARGV[3], id)
  mark_ready(topic)
  return 1
end
if redis.call('ZSCORE', @ready, id) then return 1 end
if redis.call('ZSCORE', @inflight, id) then return 2 end
if redis.call('ZSCORE', @dead, id) then return 3 end
return 0
",
    ))
});

/// Removes a dead letter (and only a dead letter).
/// KEYS: topic base, prefix. ARGV: id. Returns 1 if it was a dead letter.
static DELETE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id = ARGV[1]
if redis.call('ZREM', @dead, id) == 0 then return 0 end
redis.call('HDEL', @body, id)
redis.call('HDEL', @meta, id)
return 1
",
    ))
});

/// The `last_status` of a dead letter's meta (JSON written by dq's scripts), read without
/// parsing the rest: the filters read it for every letter.
fn last_status(meta: &str) -> Option<u16> {
    let at = meta.find("\"last_status\":")? + "\"last_status\":".len();
    let digits: &str = &meta[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Whether `haystack` holds `needle` (already lower case), ignoring case; ASCII is compared
/// without allocating.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}

/// Newest first; the same time of death by id, descending, as ZREVRANGE orders them: each
/// shard's top of the page then holds exactly the letters the merged page needs.
fn newest_first(ids: &mut [(String, i64)]) {
    ids.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
    });
}

/// Every dead letter of one shard's set that matches, with its time of death: read a chunk at
/// a time (ids, then their meta, and their bodies when there is text to look for), a few
/// chunks at once so that Redis reads the next while the gateway looks at one.
async fn scan_shard(
    shard: &Shard,
    dead: &str,
    meta_key: &str,
    body_key: &str,
    text: Option<&str>,
    status: Option<StatusFilter>,
) -> Result<Vec<(String, i64)>> {
    use futures_util::StreamExt;
    let count: isize = shard
        .query(Request::Cmd(redis::cmd("ZCARD").arg(dead)))
        .await?;
    // One chunk more than there are: letters that died meanwhile push the others down.
    let starts = (0..=count / SCAN_CHUNK).map(|n| n * SCAN_CHUNK);
    let mut chunks = futures_util::stream::iter(starts)
        .map(|start| scan_chunk(shard, dead, meta_key, body_key, start, text, status))
        .buffered(SCAN_AHEAD);
    let mut matched = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(chunk) = chunks.next().await {
        for (id, at) in chunk? {
            // A letter pushed across a chunk's edge is read twice.
            if seen.insert(id.clone()) {
                matched.push((id, at));
            }
        }
    }
    Ok(matched)
}

/// The letters `start..start + SCAN_CHUNK` of a shard's set that match.
async fn scan_chunk(
    shard: &Shard,
    dead: &str,
    meta_key: &str,
    body_key: &str,
    start: isize,
    text: Option<&str>,
    status: Option<StatusFilter>,
) -> Result<Vec<(String, i64)>> {
    let chunk: Vec<(String, f64)> = shard
        .query(Request::Cmd(
            redis::cmd("ZREVRANGE")
                .arg(dead)
                .arg(start)
                .arg(start + SCAN_CHUNK - 1)
                .arg("WITHSCORES"),
        ))
        .await?;
    if chunk.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    pipe.cmd("HMGET").arg(meta_key);
    for (id, _) in &chunk {
        pipe.arg(id);
    }
    if text.is_some() {
        pipe.cmd("HMGET").arg(body_key);
        for (id, _) in &chunk {
            pipe.arg(id);
        }
    }
    let mut columns: Vec<Vec<Option<String>>> = shard.query(Request::Pipe(&pipe)).await?;
    let bodies = if text.is_some() { columns.pop() } else { None };
    let metas = columns.pop().unwrap_or_default();
    let mut matched = Vec::new();
    for (n, (id, at)) in chunk.into_iter().enumerate() {
        let raw_meta = metas.get(n).and_then(|m| m.as_deref()).unwrap_or("");
        if let Some(status) = status
            && !status.matches(last_status(raw_meta))
        {
            continue;
        }
        if let Some(text) = text {
            let body = bodies
                .as_ref()
                .and_then(|b| b.get(n))
                .and_then(|b| b.as_deref())
                .unwrap_or("");
            let found = contains_folded(&id, text)
                || contains_folded(body, text)
                || (contains_folded(raw_meta, text)
                    && serde_json::from_str::<Meta>(raw_meta).is_ok_and(|m| {
                        m.last_error
                            .as_deref()
                            .is_some_and(|e| contains_folded(e, text))
                    }));
            if !found {
                continue;
            }
        }
        matched.push((id, at as i64));
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_status_and_text_are_found_without_parsing_everything() {
        assert_eq!(
            last_status(r#"{"attempts":6,"last_status":503,"last_error":"HTTP 503"}"#),
            Some(503)
        );
        assert_eq!(last_status(r#"{"attempts":1,"last_status":null}"#), None);
        assert_eq!(last_status(""), None);
        assert!(contains_folded("Order-42 FAILED", "failed"));
        assert!(contains_folded("Überweisung", "überweisung"));
        assert!(!contains_folded("abc", "abd"));
    }

    #[test]
    fn status_filters_read_and_match() {
        let f = |t: &str| StatusFilter::parse(t).unwrap();
        assert!(f("503").matches(Some(503)));
        assert!(!f("503").matches(Some(500)));
        assert!(f("5xx").matches(Some(502)));
        assert!(f("4XX").matches(Some(410)));
        assert!(!f("4xx").matches(None));
        assert!(f("none").matches(None));
        assert!(!f("none").matches(Some(200)));
        for bad in ["99", "6xx", "abc", "600", "", " 503"] {
            let e = StatusFilter::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("status {bad:?}")), "{e}");
        }
    }
}
