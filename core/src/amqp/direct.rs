//! Publishing on the calling thread.
//!
//! lapin keeps its connection on threads of its own, so a confirmed publish from PHP crosses
//! threads three times (PHP to lapin's I/O thread, the reactor to that thread, and back to
//! PHP): a third of its time on this kind of machine. A process that only publishes and
//! declares (the PHP-FPM case, and most CLI producers) uses this connection instead: one
//! blocking socket written and read by the caller, as php-amqplib and pecl amqp do, with the
//! same channels, confirms and errors as the lapin path. It asks for no heartbeats (nothing
//! runs between calls to send them), like php-amqplib's default.
//!
//! `BlockingProducer` decides which connection an operation uses; a process keeps one
//! connection per broker either way.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use lapin::BasicProperties;
use lapin::protocol::{
    AMQPClass, AMQPError, AMQPHardError, basic, channel, confirm, connection, exchange, gen_class,
    parse_class, queue,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::{AMQPScheme, AMQPUri};

use super::{
    AmqpConfig, OutgoingMessage, amqp_error, connect_error, nacked, timed_out, unroutable,
};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::process;

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;
/// The frame size asked for (RabbitMQ's default).
const FRAME_MAX: u32 = 131_072;
/// Channel numbers: one with confirms, one without.
const CONFIRMING: u16 = 1;
const PLAIN: u16 = 2;
/// A batch is written in pieces of about this size, reading acks in between.
const WRITE_CHUNK: usize = 256 * 1024;

/// One blocking connection, opened on first use, to the first of the nodes (of one cluster)
/// that answers; unusable when a URL needs TLS (lapin's).
pub(crate) struct Direct {
    config: AmqpConfig,
    /// Every node's URI; empty when one needs TLS.
    uris: Vec<AMQPUri>,
    /// The node tried first: the last that took a connection.
    node: usize,
    conn: Option<Conn>,
}

/// A message of a publish, as its confirm needs it.
pub(crate) struct Sent<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub message: &'a OutgoingMessage,
}

impl Direct {
    pub fn new(config: AmqpConfig) -> Direct {
        let uris: Option<Vec<AMQPUri>> = config
            .urls
            .iter()
            .map(|url| {
                url.parse::<AMQPUri>()
                    .ok()
                    .filter(|u| u.scheme == AMQPScheme::AMQP)
            })
            .collect();
        Direct {
            config,
            uris: uris.unwrap_or_default(),
            node: 0,
            conn: None,
        }
    }

    /// Whether this connection can serve the broker's URL (plain TCP; TLS is lapin's).
    pub fn usable(&self) -> bool {
        !self.uris.is_empty()
    }

    /// Publishes messages (one, or a batch) and, with `confirm`, waits for their confirms: one
    /// outcome per message, in order. An error before anything was sent is the outer error;
    /// once something was, a failure is the outcome of each message not yet confirmed.
    pub fn publish(&mut self, confirm: bool, sent: &[Sent<'_>]) -> Result<Vec<Result<()>>> {
        if sent.len() > 1 {
            // Every name checked before the first message goes out.
            for s in sent {
                super::short("exchange", s.exchange)?;
                super::short("routing key", s.routing_key)?;
            }
        }
        let deadline = Instant::now() + self.config.timeout;
        self.run(deadline, |conn, display| {
            let channel = if confirm { CONFIRMING } else { PLAIN };
            conn.open(channel, deadline, display)?;
            let mut batch = Batch {
                first: conn.next_tag,
                written: 0,
                outcomes: (0..sent.len()).map(|_| None).collect(),
                returned: vec![None; sent.len()],
            };
            let failure = batch
                .send(conn, channel, confirm, sent, deadline, display)
                .err();
            if let Some(e) = failure.as_ref()
                && batch.written == 0
            {
                return Err(e.clone());
            }
            if !confirm && failure.is_none() {
                return Ok(sent.iter().map(|_| Ok(())).collect());
            }
            let refused = failure.or_else(|| conn.closed_error.take());
            Ok(batch
                .outcomes
                .into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| {
                        Err(refused
                            .clone()
                            .unwrap_or_else(|| Error::internal("message not sent")))
                    })
                })
                .collect())
        })
    }

    /// Declares an exchange (the method checked by the caller).
    pub fn declare_exchange(&mut self, confirm: bool, method: exchange::Declare) -> Result<()> {
        self.call(
            confirm,
            AMQPClass::Exchange(exchange::AMQPMethod::Declare(method)),
            |c| matches!(c, AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(_))).then_some(()),
        )
    }

    /// Declares a queue; returns its name.
    pub fn declare_queue(&mut self, confirm: bool, method: queue::Declare) -> Result<String> {
        self.call(
            confirm,
            AMQPClass::Queue(queue::AMQPMethod::Declare(method)),
            |c| match c {
                AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => {
                    Some(ok.queue.as_str().to_string())
                }
                _ => None,
            },
        )
    }

    pub fn bind_queue(&mut self, confirm: bool, method: queue::Bind) -> Result<()> {
        self.call(
            confirm,
            AMQPClass::Queue(queue::AMQPMethod::Bind(method)),
            |c| matches!(c, AMQPClass::Queue(queue::AMQPMethod::BindOk(_))).then_some(()),
        )
    }

    /// Closes the connection politely (the process moves to lapin's, or exits).
    pub fn close(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if conn.process != process() {
            return;
        }
        let deadline = Instant::now() + self.config.timeout.min(Duration::from_secs(1));
        let close = AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: 200,
            reply_text: "dq closing".into(),
            class_id: 0,
            method_id: 0,
        }));
        let _ = conn.request(0, &close, deadline, &self.config.display, |c| {
            matches!(c, AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))).then_some(())
        });
    }

    /// Sends a method on the producer's channel and waits for its answer (`answer` picks it).
    fn call<T>(
        &mut self,
        confirm: bool,
        method: AMQPClass,
        answer: impl Fn(&AMQPClass) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + self.config.timeout;
        let channel = if confirm { CONFIRMING } else { PLAIN };
        self.run(deadline, |conn, display| {
            conn.open(channel, deadline, display)?;
            conn.request(channel, &method, deadline, display, answer)
        })
    }

    /// Runs `work` on the connection (opened if needed); a connection that broke or timed out
    /// is dropped, so the next operation opens a new one.
    fn run<T>(
        &mut self,
        deadline: Instant,
        work: impl FnOnce(&mut Conn, &str) -> Result<T>,
    ) -> Result<T> {
        let Direct {
            config,
            uris,
            node,
            conn,
        } = self;
        let display = config.display.as_str();
        if conn.as_ref().is_some_and(|c| c.process != process()) {
            // A forked child's copy of its parent's socket: closing our descriptor leaves the
            // parent's connection alone.
            *conn = None;
        }
        if let Some(open) = conn.as_mut() {
            // What arrived since the last operation: a broker that closed the connection (a
            // restart while this process was idle) means a new one before anything is sent;
            // a channel closed after an unconfirmed publish is opened again.
            if open.settle_pending(display).is_err() || open.broken {
                *conn = None;
            }
        }
        let late = |e: Error| match e.kind() {
            ErrorKind::Timeout => timed_out(display, config.timeout),
            _ => e,
        };
        let open = match conn {
            Some(open) => open,
            None => {
                if uris.is_empty() {
                    return Err(Error::internal("TLS connections are lapin's"));
                }
                // The node that took the last connection first, then the others in turn.
                let mut failures = Vec::new();
                let mut opened = None;
                for i in (0..uris.len()).map(|n| (*node + n) % uris.len()) {
                    let one = crate::config::mask_password(&config.urls[i]);
                    match Conn::connect(&uris[i], deadline, &one) {
                        Ok(c) => {
                            *node = i;
                            opened = Some(c);
                            break;
                        }
                        Err(e) => {
                            let stop = e.kind() == ErrorKind::Timeout;
                            failures.push(e);
                            if stop {
                                break;
                            }
                        }
                    }
                }
                match opened {
                    Some(c) => conn.insert(c),
                    None => {
                        let kind = failures.last().map_or(ErrorKind::Connection, |e| e.kind());
                        return Err(late(super::no_node(failures, kind)));
                    }
                }
            }
        };
        let outcome = work(open, display);
        if outcome
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Timeout)
        {
            // An answer may still come: a connection that starts clean is simpler.
            open.broken = true;
        }
        if open.broken {
            *conn = None;
        }
        outcome.map_err(late)
    }
}

/// A publish of one or more messages on a channel, and what the broker said of each.
struct Batch {
    /// The delivery tag of the first message.
    first: u64,
    /// How many messages were written.
    written: usize,
    outcomes: Vec<Option<Result<()>>>,
    /// A mandatory message the broker returned: its reply code and text.
    returned: Vec<Option<(u16, String)>>,
}

impl Batch {
    /// Writes the messages (in pieces of about `WRITE_CHUNK`, reading the acks that came in
    /// between) and, with `confirm`, reads until each is settled or the channel closed.
    fn send(
        &mut self,
        conn: &mut Conn,
        channel: u16,
        confirm: bool,
        sent: &[Sent<'_>],
        deadline: Instant,
        display: &str,
    ) -> Result<()> {
        let mut out = std::mem::take(&mut conn.out);
        out.clear();
        let mut closed = false;
        for (i, s) in sent.iter().enumerate() {
            put_publish(&mut out, channel, s, conn.frame_max)?;
            if out.len() < WRITE_CHUNK && i + 1 < sent.len() {
                continue;
            }
            let result = conn.write(&out, display);
            out.clear();
            result?;
            if confirm {
                conn.next_tag += (i + 1 - self.written) as u64;
            }
            self.written = i + 1;
            if confirm && self.written < sent.len() {
                // Acks so far, so neither side's buffers fill while the other waits.
                conn.drain(display)?;
                closed = self.settle(conn, channel, sent, display, None)?;
                if closed {
                    break;
                }
            }
        }
        // A message of megabytes leaves no buffer of that size behind.
        if out.capacity() <= 2 * WRITE_CHUNK {
            conn.out = out;
        }
        while confirm && !closed && self.outcomes[..self.written].iter().any(Option::is_none) {
            closed = self.settle(conn, channel, sent, display, Some(deadline))?;
        }
        Ok(())
    }

    /// Reads confirms: one frame, waiting up to `deadline`, or with no deadline every frame
    /// already received. True when the broker closed the channel.
    fn settle(
        &mut self,
        conn: &mut Conn,
        channel: u16,
        sent: &[Sent<'_>],
        display: &str,
        deadline: Option<Instant>,
    ) -> Result<bool> {
        let mut step = |_: &mut Conn, frame: Frame| -> Option<Result<bool>> {
            match frame {
                Frame::Method(c, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) if c == channel => {
                    self.mark(sent, a.delivery_tag, a.multiple, true);
                    Some(Ok(false))
                }
                Frame::Method(c, AMQPClass::Basic(basic::AMQPMethod::Nack(n))) if c == channel => {
                    self.mark(sent, n.delivery_tag, n.multiple, false);
                    Some(Ok(false))
                }
                Frame::Method(c, AMQPClass::Basic(basic::AMQPMethod::Return(r)))
                    if c == channel =>
                {
                    // The first unsettled mandatory message to that exchange and key, not yet
                    // returned: returns come before their message's ack, in order.
                    if let Some(i) = (0..sent.len()).find(|&i| {
                        self.outcomes[i].is_none()
                            && self.returned[i].is_none()
                            && sent[i].message.mandatory
                            && sent[i].exchange == r.exchange.as_str()
                            && sent[i].routing_key == r.routing_key.as_str()
                    }) {
                        self.returned[i] = Some((r.reply_code, r.reply_text.as_str().to_string()));
                    }
                    Some(Ok(false))
                }
                Frame::Closed(c) if c == channel => Some(Ok(true)),
                _ => None,
            }
        };
        match deadline {
            Some(deadline) => conn.until(deadline, display, &mut step),
            None => {
                while let Some(frame) = conn.buffered_frame(display)? {
                    if let Some(Ok(true)) = step(conn, frame) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    /// An ack or a nack of `tag` (and, with `multiple`, of every tag before it).
    fn mark(&mut self, sent: &[Sent<'_>], tag: u64, multiple: bool, ack: bool) {
        let Some(last) = tag.checked_sub(self.first).map(|t| t as usize) else {
            return;
        };
        if self.outcomes.is_empty() {
            return;
        }
        let from = if multiple { 0 } else { last };
        let upto = last.min(self.outcomes.len() - 1);
        for ((outcome, returned), s) in self.outcomes[..=upto]
            .iter_mut()
            .zip(&self.returned)
            .zip(sent)
            .skip(from)
        {
            if outcome.is_none() {
                *outcome = Some(match (returned, ack) {
                    (Some((code, text)), _) => {
                        Err(unroutable(s.exchange, s.routing_key, *code, text))
                    }
                    (None, true) => Ok(()),
                    (None, false) => Err(nacked(s.exchange, s.routing_key)),
                });
            }
        }
    }
}

/// A frame as the connection reports it.
enum Frame {
    Method(u16, AMQPClass),
    /// The broker closed this channel (answered already; the reason in `closed_error`).
    Closed(u16),
}

struct Conn {
    process: u64,
    stream: TcpStream,
    /// Received bytes not yet parsed: `input[start..]`.
    input: Vec<u8>,
    start: usize,
    out: Vec<u8>,
    frame_max: usize,
    /// Which of the two channels are open.
    open: [bool; 2],
    /// The next publish's delivery tag on the confirming channel.
    next_tag: u64,
    /// Why the broker closed a channel, for the operation that sees it.
    closed_error: Option<Error>,
    read_timeout: Option<Duration>,
    broken: bool,
}

impl Conn {
    fn connect(uri: &AMQPUri, deadline: Instant, display: &str) -> Result<Conn> {
        let failed = |e: io::Error| connect_error(display, lapin::Error::from(e));
        let addresses = (uri.authority.host.as_str(), uri.authority.port)
            .to_socket_addrs()
            .map_err(failed)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        let mut stream = None;
        for address in addresses {
            let left = remaining(deadline).ok_or_else(|| timed_out(display, Duration::ZERO))?;
            match TcpStream::connect_timeout(&address, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| failed(last))?;
        stream.set_nodelay(true).map_err(failed)?;
        keep_alive(&stream);
        let mut conn = Conn {
            process: process(),
            stream,
            input: Vec::with_capacity(16 * 1024),
            start: 0,
            out: Vec::new(),
            frame_max: FRAME_MAX as usize,
            open: [false; 2],
            next_tag: 1,
            closed_error: None,
            read_timeout: None,
            broken: false,
        };
        conn.handshake(uri, deadline, display).map_err(|e| {
            if e.kind() == ErrorKind::Timeout {
                e
            } else {
                Error::new(
                    ErrorKind::Connection,
                    format!("cannot connect: {}", e.message()),
                )
            }
        })?;
        Ok(conn)
    }

    fn handshake(&mut self, uri: &AMQPUri, deadline: Instant, display: &str) -> Result<()> {
        self.write(b"AMQP\x00\x00\x09\x01", display)?;
        self.until(deadline, display, |_, frame| match frame {
            Frame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Start(start))) => {
                Some(Ok(start))
            }
            _ => None,
        })
        .and_then(|start| {
            let mechanisms = String::from_utf8_lossy(start.mechanisms.as_bytes()).into_owned();
            if !mechanisms.split(' ').any(|m| m == "PLAIN") {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!("RabbitMQ at {display} offers no PLAIN login (it offers {mechanisms})"),
                ));
            }
            Ok(())
        })?;
        let user = &uri.authority.userinfo;
        let response = format!("\0{}\0{}", user.username, user.password);
        let start_ok = connection::StartOk {
            client_properties: client_properties(),
            mechanism: "PLAIN".into(),
            response: LongString::from(response.into_bytes()),
            locale: "en_US".into(),
        };
        let start_ok = AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok));
        let tune = self.request(0, &start_ok, deadline, display, |c| match c {
            AMQPClass::Connection(connection::AMQPMethod::Tune(tune)) => Some(tune.clone()),
            _ => None,
        })?;
        let wanted = uri.query.frame_max.unwrap_or(FRAME_MAX);
        let frame_max = match tune.frame_max {
            0 => wanted,
            server => server.min(wanted),
        };
        self.frame_max = frame_max as usize;
        let tune_ok = connection::TuneOk {
            channel_max: match tune.channel_max {
                0 => 2047,
                n => n,
            },
            frame_max,
            heartbeat: 0,
        };
        self.send(
            0,
            &AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
            display,
        )?;
        let open = connection::Open {
            virtual_host: super::short("vhost", &uri.vhost)?,
        };
        let open = AMQPClass::Connection(connection::AMQPMethod::Open(open));
        self.request(0, &open, deadline, display, |c| {
            matches!(c, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))).then_some(())
        })
    }

    /// Opens `channel` if it is not (with confirms on the confirming one).
    fn open(&mut self, channel: u16, deadline: Instant, display: &str) -> Result<()> {
        let slot = usize::from(channel - 1);
        if self.open[slot] {
            return Ok(());
        }
        let open = AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}));
        self.request(channel, &open, deadline, display, |c| {
            matches!(c, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))).then_some(())
        })?;
        if channel == CONFIRMING {
            let select = AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
                nowait: false,
            }));
            self.request(channel, &select, deadline, display, |c| {
                matches!(c, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))).then_some(())
            })?;
            self.next_tag = 1;
        }
        self.open[slot] = true;
        Ok(())
    }

    /// Sends `method` on `channel` and reads until `answer` takes a method of that channel; the
    /// broker closing the channel instead is the error.
    fn request<T>(
        &mut self,
        channel: u16,
        method: &AMQPClass,
        deadline: Instant,
        display: &str,
        answer: impl Fn(&AMQPClass) -> Option<T>,
    ) -> Result<T> {
        self.send(channel, method, display)?;
        self.until(deadline, display, |conn, frame| match frame {
            Frame::Method(c, class) if c == channel => answer(&class).map(Ok),
            Frame::Closed(c) if c == channel => Some(Err(conn
                .closed_error
                .take()
                .unwrap_or_else(|| Error::internal("channel closed")))),
            _ => None,
        })
    }

    /// Reads frames until `done` takes one; frames for the connection itself (close,
    /// blocked, heartbeats) and message content are handled here.
    fn until<T>(
        &mut self,
        deadline: Instant,
        display: &str,
        mut done: impl FnMut(&mut Conn, Frame) -> Option<Result<T>>,
    ) -> Result<T> {
        loop {
            let frame = loop {
                if let Some(frame) = self.buffered_frame(display)? {
                    break frame;
                }
                self.fill(deadline, display)?;
            };
            if let Some(result) = done(self, frame) {
                return result;
            }
        }
    }

    /// The next whole frame already received, after handling what is the connection's own.
    fn buffered_frame(&mut self, display: &str) -> Result<Option<Frame>> {
        loop {
            let available = &self.input[self.start..];
            if available.len() < 7 {
                return Ok(None);
            }
            let kind = available[0];
            let channel = u16::from_be_bytes([available[1], available[2]]);
            let size = u32::from_be_bytes([available[3], available[4], available[5], available[6]])
                as usize;
            if size > self.frame_max.max(FRAME_MAX as usize) {
                return Err(self.violation(display, format!("a frame of {size} bytes")));
            }
            if available.len() < size + 8 {
                return Ok(None);
            }
            if available[size + 7] != FRAME_END {
                return Err(self.violation(display, "a frame without its end byte".into()));
            }
            let payload_at = self.start + 7;
            self.start += size + 8;
            match kind {
                FRAME_METHOD => {
                    let payload = &self.input[payload_at..payload_at + size];
                    let class = match parse_class(payload) {
                        Ok((_, class)) => class,
                        Err(e) => {
                            return Err(
                                self.violation(display, format!("a method it cannot read ({e})"))
                            );
                        }
                    };
                    if let Some(frame) = self.handle(channel, class, display)? {
                        return Ok(Some(frame));
                    }
                }
                // Content comes only with returned messages, whose method is all a publish
                // needs; heartbeats were not asked for.
                FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT => {}
                other => {
                    return Err(self.violation(display, format!("a frame of unknown type {other}")));
                }
            }
        }
    }

    /// The connection's own methods; others are the caller's.
    fn handle(&mut self, channel: u16, class: AMQPClass, display: &str) -> Result<Option<Frame>> {
        match class {
            AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
                let ok =
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {}));
                let _ = self.send(0, &ok, display);
                self.broken = true;
                Err(refusal(display, close.reply_code, close.reply_text))
            }
            AMQPClass::Connection(
                connection::AMQPMethod::Blocked(_) | connection::AMQPMethod::Unblocked(_),
            ) => Ok(None),
            AMQPClass::Channel(channel::AMQPMethod::Close(close)) => {
                let ok = AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {}));
                self.send(channel, &ok, display)?;
                if let Some(slot) = self.open.get_mut(usize::from(channel.wrapping_sub(1))) {
                    *slot = false;
                }
                self.closed_error = Some(refusal(display, close.reply_code, close.reply_text));
                Ok(Some(Frame::Closed(channel)))
            }
            class => Ok(Some(Frame::Method(channel, class))),
        }
    }

    /// Reads and handles what has arrived without waiting: a channel the broker closed after
    /// an unconfirmed publish is seen closed (and opened again by the next operation).
    fn settle_pending(&mut self, display: &str) -> Result<()> {
        self.drain(display)?;
        while self.buffered_frame(display)?.is_some() {}
        self.closed_error = None;
        Ok(())
    }

    /// Reads what has arrived without waiting, for `buffered_frame` to see.
    fn drain(&mut self, display: &str) -> Result<()> {
        self.compact();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            // SAFETY: recv into a buffer we own, of its length.
            let n = unsafe {
                libc::recv(
                    self.stream.as_raw_fd(),
                    chunk.as_mut_ptr().cast(),
                    chunk.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                self.input.extend_from_slice(&chunk[..n as usize]);
                continue;
            }
            if n == 0 {
                return Err(self.io_failed(display, io::ErrorKind::UnexpectedEof.into()));
            }
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(()),
                io::ErrorKind::Interrupted => continue,
                _ => Err(self.io_failed(display, e)),
            };
        }
    }

    /// Waits for more bytes, up to `deadline`.
    fn fill(&mut self, deadline: Instant, display: &str) -> Result<()> {
        self.compact();
        let left = remaining(deadline).ok_or_else(|| timed_out(display, Duration::ZERO))?;
        // The socket's timeout is set again only when it is too long for what is left of
        // this operation, or is a short one left from an earlier operation.
        let set = self
            .read_timeout
            .is_none_or(|t| t > left || t < left.mul_f64(0.5));
        if set {
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| self.io_failed(display, e))?;
            self.read_timeout = Some(left);
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(self.io_failed(display, io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => {
                    self.input.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if remaining(deadline).is_none() {
                        return Err(timed_out(display, Duration::ZERO));
                    }
                    return Ok(());
                }
                Err(e) => return Err(self.io_failed(display, e)),
            }
        }
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        if self.input.is_empty() && self.input.capacity() > 2 * WRITE_CHUNK {
            self.input = Vec::with_capacity(16 * 1024);
        }
    }

    fn send(&mut self, channel: u16, class: &AMQPClass, display: &str) -> Result<()> {
        let mut out = Vec::new();
        put_method(&mut out, channel, class)?;
        self.write(&out, display)
    }

    fn write(&mut self, bytes: &[u8], display: &str) -> Result<()> {
        self.stream
            .write_all(bytes)
            .map_err(|e| self.io_failed(display, e))
    }

    fn io_failed(&mut self, display: &str, e: io::Error) -> Error {
        self.broken = true;
        if e.kind() == io::ErrorKind::UnexpectedEof {
            let e = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "RabbitMQ closed the connection",
            );
            return amqp_error(display, lapin::Error::from(e));
        }
        amqp_error(display, lapin::Error::from(e))
    }

    fn violation(&mut self, display: &str, what: String) -> Error {
        self.broken = true;
        Error::new(
            ErrorKind::Connection,
            format!("RabbitMQ at {display} sent {what}: the connection is dropped"),
        )
    }
}

/// TCP keepalive on an idle connection (a PHP-FPM worker between requests): a broker or a
/// NAT that went away silently is noticed before the next publish is sent into the void.
fn keep_alive(stream: &TcpStream) {
    let fd = stream.as_raw_fd();
    for (level, name, value) in [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 60),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 10),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ] {
        let value: libc::c_int = value;
        // SAFETY: sets an integer option on a socket we own; a failure only loses keepalive.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// A broker's close (of a channel or the connection) as the error lapin would give.
fn refusal(display: &str, code: u16, text: ShortString) -> Error {
    let error = AMQPError::from_id(code, text.clone())
        .unwrap_or_else(|| AMQPError::new(AMQPHardError::INTERNALERROR.into(), text));
    amqp_error(
        display,
        lapin::Error::from(lapin::ErrorKind::ProtocolError(error)),
    )
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn client_properties() -> FieldTable {
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    let mut capabilities = FieldTable::default();
    for name in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "connection.blocked",
        "authentication_failure_close",
        "consumer_cancel_notify",
    ] {
        capabilities.insert(name.into(), AMQPValue::Boolean(true));
    }
    let mut properties = FieldTable::default();
    properties.insert("product".into(), text("dq"));
    properties.insert("version".into(), text(env!("CARGO_PKG_VERSION")));
    properties.insert("platform".into(), text("Rust"));
    properties.insert(
        "connection_name".into(),
        text(&format!("dq:{}", std::process::id())),
    );
    properties.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
    properties
}

/// Appends a method frame.
fn put_method(out: &mut Vec<u8>, channel: u16, class: &AMQPClass) -> Result<()> {
    let at = begin(out, FRAME_METHOD, channel);
    let written = gen_class::<Vec<u8>>(class)(std::mem::take(out).into())
        .map_err(|e| Error::internal(format!("cannot encode an AMQP method: {e}")))?;
    *out = written.write;
    finish(out, at);
    Ok(())
}

/// Appends a publish: its method, content header and body frames.
fn put_publish(out: &mut Vec<u8>, channel: u16, sent: &Sent<'_>, frame_max: usize) -> Result<()> {
    let publish = basic::Publish {
        exchange: super::short("exchange", sent.exchange)?,
        routing_key: super::short("routing key", sent.routing_key)?,
        mandatory: sent.message.mandatory,
        immediate: false,
    };
    put_method(
        out,
        channel,
        &AMQPClass::Basic(basic::AMQPMethod::Publish(publish)),
    )?;
    let body = &sent.message.body;
    put_header(out, channel, body.len() as u64, &sent.message.properties)?;
    for piece in body.chunks(frame_max.saturating_sub(8).max(1)) {
        let at = begin(out, FRAME_BODY, channel);
        out.extend_from_slice(piece);
        finish(out, at);
    }
    Ok(())
}

fn put_header(
    out: &mut Vec<u8>,
    channel: u16,
    size: u64,
    properties: &BasicProperties,
) -> Result<()> {
    let at = begin(out, FRAME_HEADER, channel);
    out.extend_from_slice(&60u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    let written = basic::gen_properties::<Vec<u8>>(properties)(std::mem::take(out).into())
        .map_err(|e| Error::internal(format!("cannot encode message properties: {e}")))?;
    *out = written.write;
    finish(out, at);
    Ok(())
}

/// Starts a frame: type, channel and a size filled in by `finish`.
fn begin(out: &mut Vec<u8>, kind: u8, channel: u16) -> usize {
    let at = out.len();
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    at
}

fn finish(out: &mut Vec<u8>, at: usize) {
    let size = (out.len() - at - 7) as u32;
    out[at + 3..at + 7].copy_from_slice(&size.to_be_bytes());
    out.push(FRAME_END);
}
