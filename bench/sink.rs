//! The callback receiver of the delivery benchmarks (bench/workers.sh): a std-only HTTP/1.1
//! server that answers every delivery `200` with an empty body, on keep-alive connections (a
//! thread per connection), and records per topic when each delivery arrived (realtime clock)
//! against the `due_at` the gateway put in its body.
//!
//! Build: `rustc -O --edition 2021 bench/sink.rs -o dq-sink`. Run: `dq-sink [ADDR]` (default
//! 127.0.0.1:0); it prints the port it listens on, then serves until killed.
//!
//! Control routes (GET), for the script:
//! - `/_count/TOPIC`: deliveries of TOPIC so far, as a number;
//! - `/_stats/TOPIC`: one line of JSON: count, unique ids, attempts > 1, first and last arrival
//!   (unix seconds), lateness (arrival - due_at) in ms: min, p50, p90, p99, max;
//! - `/_dump/TOPIC`: `arrival due_at` per delivery, one per line (unix seconds).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct Topic {
    /// (arrival, due_at), unix seconds.
    times: Vec<(f64, f64)>,
    ids: HashSet<String>,
    /// Deliveries with `X-Dq-Attempt` above 1 (retries).
    retries: u64,
    /// Deliveries whose body carried no readable due_at.
    no_due: u64,
}

type State = Arc<Mutex<HashMap<String, Topic>>>;

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
            record(state, topic_header, id, attempt, arrival, &body);
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

/// The `due_at` of a delivery body: its last `"due_at":` (the gateway writes it after the
/// message's own body, which may have a key of that name too).
fn due_at(body: &[u8]) -> Option<f64> {
    const KEY: &[u8] = b"\"due_at\":";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let rest = &body[at..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || b"+-.eE".contains(b)))
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

fn record(
    state: &State,
    topic: Option<String>,
    id: Option<String>,
    attempt: u32,
    arrival: f64,
    body: &[u8],
) {
    let due = due_at(body);
    let Ok(mut topics) = state.lock() else { return };
    let topic = topics.entry(topic.unwrap_or_default()).or_default();
    match due {
        Some(due) => topic.times.push((arrival, due)),
        None => topic.no_due += 1,
    }
    if let Some(id) = id {
        topic.ids.insert(id);
    }
    if attempt > 1 {
        topic.retries += 1;
    }
}

fn control(path: &str, state: &State) -> String {
    let (route, name) = path[1..].split_once('/').unwrap_or((&path[1..], ""));
    let Ok(topics) = state.lock() else {
        return "poisoned\n".into();
    };
    let empty = Topic::default();
    let topic = topics.get(name).unwrap_or(&empty);
    match route {
        "_count" => format!("{}\n", topic.times.len() as u64 + topic.no_due),
        "_dump" => topic
            .times
            .iter()
            .map(|(arrival, due)| format!("{arrival:.6} {due:.3}\n"))
            .collect(),
        "_stats" => {
            let mut late: Vec<f64> = topic
                .times
                .iter()
                .map(|(arrival, due)| (arrival - due) * 1000.0)
                .collect();
            late.sort_by(|a, b| a.total_cmp(b));
            let first = topic.times.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
            let last = topic.times.iter().map(|t| t.0).fold(0.0, f64::max);
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
                topic.times.len() as u64 + topic.no_due,
                topic.ids.len(),
                topic.retries,
                topic.no_due,
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
