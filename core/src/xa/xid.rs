//! XA transaction ids. A global id (gtrid) is `dq` + a tag of the decision log (so a recovery
//! touches only the transactions its log decides, though XA RECOVER lists a whole server's) +
//! the start time in hex milliseconds + 64 random bits (so recovery can tell a transaction's age
//! from its id alone); a branch's qualifier (bqual) is its database's name. XA commands cannot be prepared statements, so ids go into
//! their SQL text, always as hex literals: nothing a caller chose is ever spliced in as text.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// dq's XA format id ("dq" in ASCII): branches with any other are not dq's and are left alone.
pub const FORMAT_ID: i64 = 0x6471;

/// A global transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtrid(String);

impl Gtrid {
    pub(crate) fn generate(log: LogTag) -> Gtrid {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        Gtrid(format!(
            "dq{:08x}{ms:012x}{:016x}",
            log.0,
            fastrand::u64(..)
        ))
    }

    /// The tag of the log that decides this transaction.
    pub(crate) fn log(&self) -> LogTag {
        LogTag(u32::from_str_radix(&self.0[2..10], 16).unwrap_or(0))
    }

    /// Reads an id dq generated; `None` for anything else.
    pub fn parse(text: &str) -> Option<Gtrid> {
        let hex = text.strip_prefix("dq")?;
        (hex.len() == 36
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Gtrid(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the transaction started.
    pub fn started(&self) -> SystemTime {
        let ms = u64::from_str_radix(&self.0[10..22], 16).unwrap_or(0);
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    /// How long ago it started (zero if the clock went back).
    pub fn age(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.started())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Gtrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which decision log a transaction belongs to: FNV-1a of the log's server and database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogTag(u32);

impl LogTag {
    pub(crate) fn of(server: &str, database: &str) -> LogTag {
        let mut hash: u32 = 0x811c_9dc5;
        for byte in server.bytes().chain([b'/']).chain(database.bytes()) {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        LogTag(hash)
    }
}

/// One branch's full XA id: `X'<gtrid>',X'<bqual>',<format>` for XA commands.
pub(crate) fn xid_sql(gtrid: &Gtrid, bqual: &[u8]) -> String {
    format!(
        "X'{}',X'{}',{FORMAT_ID}",
        hex(gtrid.as_str().as_bytes()),
        hex(bqual)
    )
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// One row of `XA RECOVER`: a prepared branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prepared {
    pub gtrid: Gtrid,
    pub bqual: Vec<u8>,
}

/// dq's branches among `XA RECOVER`'s rows (formatID, gtrid_length, bqual_length, data).
pub(crate) fn parse_recover(rows: Vec<mysql_async::Row>) -> Vec<Prepared> {
    rows.into_iter()
        .filter_map(|row| {
            let format: i64 = row.get::<Option<i64>, _>(0).flatten()?;
            let gtrid_length: usize = row.get::<Option<usize>, _>(1).flatten()?;
            let data: Vec<u8> = row.get::<Option<Vec<u8>>, _>(3).flatten()?;
            if format != FORMAT_ID || gtrid_length > data.len() {
                return None;
            }
            let gtrid = Gtrid::parse(std::str::from_utf8(&data[..gtrid_length]).ok()?)?;
            Some(Prepared {
                gtrid,
                bqual: data[gtrid_length..].to_vec(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_start_and_read_back() {
        let tag = LogTag::of("127.0.0.1:3306", "dq");
        let id = Gtrid::generate(tag);
        assert_eq!(id.as_str().len(), 38);
        assert_eq!(id.log(), tag);
        assert_ne!(tag, LogTag::of("127.0.0.1:3306", "dq2"));
        assert_eq!(Gtrid::parse(id.as_str()), Some(id.clone()));
        assert!(id.age() < Duration::from_secs(5));
        assert_eq!(Gtrid::parse("dqXYZ"), None);
        assert_eq!(Gtrid::parse("xa000000000000000000000000000000000000"), None);
    }

    #[test]
    fn xids_are_hex_literals() {
        let id = Gtrid::parse(&format!("dq{}1", "0".repeat(35))).unwrap();
        let sql = xid_sql(&id, b"o'r");
        assert!(sql.starts_with("X'6471"), "{sql}");
        assert!(sql.ends_with("',X'6f2772',25713"), "{sql}");
    }
}
