//! One error type for every facade. `ErrorKind` numbers are part of the public contract: PHP's
//! `getCode()`, the C ABI's result codes and the gateway's JSON errors all use them.

use std::fmt;

/// What went wrong, with a stable number. Numbers are never reused or renumbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorKind {
    /// A bug or an unexpected state inside dq.
    Internal = 1,
    /// The caller passed a bad value: the message names the field and the value.
    InvalidArgument = 2,
    /// The topic is not in the registry (or is disabled).
    UnknownTopic = 3,
    /// A backend could not be reached or the connection broke.
    Connection = 4,
    /// A backend did not answer within the configured timeout.
    Timeout = 5,
    /// The thing asked for does not exist.
    NotFound = 6,
    /// A backend answered with an error (out of memory, wrong type, script error).
    Backend = 7,
    /// Missing or wrong credentials (gateway bearer token).
    Unauthorized = 8,
    /// A request body over the configured limit.
    PayloadTooLarge = 9,
    /// The broker refused a message: a nack, or a mandatory message no queue takes.
    Rejected = 10,
    /// A pulled job's lease is no longer held: it expired (the job is reserved again), or the
    /// job was deleted or replaced meanwhile.
    LeaseLost = 11,
    /// An XA transaction did not do what was asked: a statement failed, a branch failed to
    /// prepare (so it rolled back), or it was already committed or rolled back.
    Transaction = 12,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Internal,
        ErrorKind::InvalidArgument,
        ErrorKind::UnknownTopic,
        ErrorKind::Connection,
        ErrorKind::Timeout,
        ErrorKind::NotFound,
        ErrorKind::Backend,
        ErrorKind::Unauthorized,
        ErrorKind::PayloadTooLarge,
        ErrorKind::Rejected,
        ErrorKind::LeaseLost,
        ErrorKind::Transaction,
    ];

    /// The stable numeric code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The stable symbolic name used in HTTP error bodies.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::UnknownTopic => "UNKNOWN_TOPIC",
            ErrorKind::Connection => "CONNECTION",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Backend => "BACKEND",
            ErrorKind::Unauthorized => "UNAUTHORIZED",
            ErrorKind::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorKind::Rejected => "REJECTED",
            ErrorKind::LeaseLost => "LEASE_LOST",
            ErrorKind::Transaction => "TRANSACTION",
        }
    }

    /// The kind with this code, if any.
    pub fn from_code(code: u32) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// An error with its kind and a message that names the bad value or the failing backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn code(&self) -> u32 {
        self.kind.code()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context: ` put in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Shows a user-supplied value in an error message: quoted, control characters escaped, cut at
/// 80 characters so that a 1 MiB mistake does not become a 1 MiB exception message.
pub fn shown(value: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::with_capacity(value.len().min(MAX) + 2);
    out.push('"');
    for (n, c) in value.chars().enumerate() {
        if n == MAX {
            out.push_str("\"...");
            return out;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(ErrorKind::from_code(0), None);
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(200);
        assert!(shown(&long).ends_with("\"..."));
        assert_eq!(shown(&long).len(), 80 + 5);
    }
}
