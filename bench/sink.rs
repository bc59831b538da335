//! The callback receiver of the delivery benchmarks (bench/workers.sh, bench/subscriptions.sh):
//! a std-only HTTP/1.1 server that answers every delivery `200` with an empty body, on
//! keep-alive connections (a thread per connection), and records when each delivery arrived
//! (realtime clock) against a time its body carries:
//! - a topic's delivery (an `X-Dq-Topic` header): counted under the topic, against the `due_at`
//!   the gateway put in its body, ids from `X-Dq-Id`;
//! - a request to `/s/NAME` (a subscription's message, pushed by the gateway or by a PHP consumer
//!   daemon, which sends no header of dq's): counted under NAME, against the `"published_at":`
//!   unix time and with the id `"seq":` of the message's own body.
//!
//! Build: `rustc -O --edition 2021 bench/sink.rs -o dq-sink`. Run: `dq-sink [ADDR]` (default
//! 127.0.0.1:0); it prints the port it listens on, then serves until killed.
//!
//! Control routes (GET), for the scripts; NAME is a topic or a subscription:
//! - `/_count/NAME`: deliveries of NAME so far, as a number;
//! - `/_stats/NAME`: one line of JSON: count, unique ids, attempts > 1, first and last arrival
//!   (unix seconds), lateness (arrival - due_at, or - published_at) in ms: min, p50, p90, p99,
//!   max;
//! - `/_dump/NAME`: `arrival due_at` (or `published_at`) per delivery, one per line (unix
//!   seconds).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// What arrived for one topic or subscription.
#[derive(Default)]
struct Received {
    /// (arrival, due_at or published_at), unix seconds.
    times: Vec<(f64, f64)>,
    ids: HashSet<String>,
    /// Deliveries with `X-Dq-Attempt` above 1 (retries).
    retries: u64,
    /// Deliveries whose body carried no readable due_at (published_at).
    no_due: u64,
}

type State = Arc<Mutex<HashMap<String, Received>>>;

/// The prefix of a subscription's path: `/s/NAME`.
const SUBSCRIPTION_PATH: &str = "/s/";

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("dq-sink: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("{port}");
    let _ = std::io::stdout().flush();
    let state: State = Arc::default();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let state = state.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = serve(stream, &state);
            });
        if let Err(e) = spawned {
            eprintln!("dq-sink: cannot start a thread: {e}");
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One connection: requests one after the other until the peer closes it.
fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
    let mut writer = stream;
    let mut line = Vec::with_capacity(256);
    let mut body = Vec::with_capacity(1024);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let request_line = String::from_utf8_lossy(&line).trim().to_string();
        if request_line.is_empty() {
            continue;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut close = parts.next() == Some("HTTP/1.0");
        let mut length = 0usize;
        let mut chunked = false;
        let mut id = None;
        let mut topic_header = None;
        let mut attempt = 1u32;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            let header = String::from_utf8_lossy(&line);
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "x-dq-id" => id = Some(value.to_string()),
                "x-dq-topic" => topic_header = Some(value.to_string()),
                "x-dq-attempt" => attempt = value.parse().unwrap_or(1),
                _ => {}
            }
        }
        body.clear();
        if chunked {
            read_chunked(&mut reader, &mut body, &mut line)?;
        } else if length > 0 {
            body.resize(length, 0);
            reader.read_exact(&mut body)?;
        }
        let arrival = now();
        if method == "GET" && path.starts_with("/_") {
            let answer = control(&path, state);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                answer.len()
            );
            writer.write_all(head.as_bytes())?;
            writer.write_all(answer.as_bytes())?;
        } else {
            let delivery = match path.strip_prefix(SUBSCRIPTION_PATH) {
                Some(name) if topic_header.is_none() => Delivery {
                    name: name.to_string(),
                    id: number_after(&body, b"\"seq\":", false).map(str::to_string),
                    attempt,
                    time: number_after(&body, b"\"published_at\":", false)
                        .and_then(|t| t.parse().ok()),
                },
                _ => Delivery {
                    name: topic_header.unwrap_or_default(),
                    id,
                    attempt,
                    time: due_at(&body),
                },
            };
            record(state, delivery, arrival);
            writer.write_all(OK)?;
        }
        if close {
            return Ok(());
        }
    }
}

fn read_chunked(
    reader: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    line: &mut Vec<u8>,
) -> std::io::Result<()> {
    loop {
        line.clear();
        reader.read_until(b'\n', line)?;
        let text = String::from_utf8_lossy(line);
        let size = usize::from_str_radix(text.trim().split(';').next().unwrap_or("0"), 16)
            .unwrap_or(0);
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if reader.read_until(b'\n', line)? == 0 || line.trim_ascii().is_empty() {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// The `due_at` of a topic's delivery body: its last `"due_at":` (the gateway writes it after
/// the message's own body, which may have a key of that name too).
fn due_at(body: &[u8]) -> Option<f64> {
    number_after(body, b"\"due_at\":", true)?.parse().ok()
}

/// The number that follows the first (or the `last`) `key` in `body`, as written there.
fn number_after<'a>(body: &'a [u8], key: &[u8], last: bool) -> Option<&'a str> {
    let mut found = body.windows(key.len());
    let at = if last {
        found.rposition(|w| w == key)?
    } else {
        found.position(|w| w == key)?
    };
    let rest = &body[at + key.len()..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || b"+-.eE".contains(b)))
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()
}

/// One delivery as the receiver saw it.
struct Delivery {
    /// The topic or subscription it is counted under.
    name: String,
    id: Option<String>,
    attempt: u32,
    /// due_at or published_at, unix seconds.
    time: Option<f64>,
}

fn record(state: &State, delivery: Delivery, arrival: f64) {
    let Ok(mut received) = state.lock() else { return };
    let received = received.entry(delivery.name).or_default();
    match delivery.time {
        Some(time) => received.times.push((arrival, time)),
        None => received.no_due += 1,
    }
    if let Some(id) = delivery.id {
        received.ids.insert(id);
    }
    if delivery.attempt > 1 {
        received.retries += 1;
    }
}

fn control(path: &str, state: &State) -> String {
    let (route, name) = path[1..].split_once('/').unwrap_or((&path[1..], ""));
    let Ok(received) = state.lock() else {
        return "poisoned\n".into();
    };
    let empty = Received::default();
    let tally = received.get(name).unwrap_or(&empty);
    match route {
        "_count" => format!("{}\n", tally.times.len() as u64 + tally.no_due),
        "_dump" => tally
            .times
            .iter()
            .map(|(arrival, due)| format!("{arrival:.6} {due:.6}\n"))
            .collect(),
        "_stats" => {
            let mut late: Vec<f64> = tally
                .times
                .iter()
                .map(|(arrival, due)| (arrival - due) * 1000.0)
                .collect();
            late.sort_by(|a, b| a.total_cmp(b));
            let first = tally.times.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
            let last = tally.times.iter().map(|t| t.0).fold(0.0, f64::max);
            let pick = |q: f64| -> f64 {
                if late.is_empty() {
                    return 0.0;
                }
                // Nearest rank.
                let rank = ((q * late.len() as f64).ceil() as usize).clamp(1, late.len());
                late[rank - 1]
            };
            format!(
                concat!(
                    "{{\"count\":{},\"unique\":{},\"retries\":{},\"no_due_at\":{},",
                    "\"first\":{:.6},\"last\":{:.6},\"lateness_ms\":{{\"min\":{:.3},",
                    "\"p50\":{:.3},\"p90\":{:.3},\"p99\":{:.3},\"max\":{:.3}}}}}\n"
                ),
                tally.times.len() as u64 + tally.no_due,
                tally.ids.len(),
                tally.retries,
                tally.no_due,
                if first.is_finite() { first } else { 0.0 },
                last,
                late.first().copied().unwrap_or(0.0),
                pick(0.50),
                pick(0.90),
                pick(0.99),
                late.last().copied().unwrap_or(0.0),
            )
        }
        _ => "unknown control route\n".into(),
    }
}
