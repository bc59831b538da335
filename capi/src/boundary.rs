//! What every export shares: the result codes, the calling thread's last error, the panic
//! boundary, and the checks of pointer arguments. Nobody writes `catch_unwind` or a NULL check
//! by hand.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};

use dq_core::{Error, ErrorKind};

/// The result of every call. The numbers are dq's error codes, the same as PHP's `getCode()`
/// and the gateway's errors; they never change. A call that fails leaves its out-parameters
/// NULL, 0 or false, and its message in `dq_last_error`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum dq_result {
    /// Success.
    DQ_OK = 0,
    /// A bug or an unexpected state inside dq (a panic is reported as this).
    DQ_INTERNAL = 1,
    /// A bad argument: NULL where a value is needed, invalid UTF-8 or JSON, a bad field.
    DQ_INVALID_ARGUMENT = 2,
    /// The topic is not registered (or is disabled).
    DQ_UNKNOWN_TOPIC = 3,
    /// Redis or RabbitMQ could not be reached, or the connection broke.
    DQ_CONNECTION = 4,
    /// No answer within the configured timeout.
    DQ_TIMEOUT = 5,
    /// What was asked for does not exist (an exchange, a queue).
    DQ_NOT_FOUND = 6,
    /// The backend answered with an error.
    DQ_BACKEND = 7,
    /// Credentials were refused.
    DQ_UNAUTHORIZED = 8,
    /// A request over the configured size.
    DQ_PAYLOAD_TOO_LARGE = 9,
    /// The broker refused a message: a nack, or a mandatory message no queue takes.
    DQ_REJECTED = 10,
    /// A reserved job's lease is no longer held: it expired (the job is reserved again), or the
    /// job was deleted or replaced.
    DQ_LEASE_LOST = 11,
    /// An XA transaction did not do what was asked: a statement failed, a branch failed to
    /// prepare (it rolled back), or it was already committed or rolled back.
    DQ_TRANSACTION = 12,
}

impl From<ErrorKind> for dq_result {
    fn from(kind: ErrorKind) -> dq_result {
        match kind {
            ErrorKind::Internal => dq_result::DQ_INTERNAL,
            ErrorKind::InvalidArgument => dq_result::DQ_INVALID_ARGUMENT,
            ErrorKind::UnknownTopic => dq_result::DQ_UNKNOWN_TOPIC,
            ErrorKind::Connection => dq_result::DQ_CONNECTION,
            ErrorKind::Timeout => dq_result::DQ_TIMEOUT,
            ErrorKind::NotFound => dq_result::DQ_NOT_FOUND,
            ErrorKind::Backend => dq_result::DQ_BACKEND,
            ErrorKind::Unauthorized => dq_result::DQ_UNAUTHORIZED,
            ErrorKind::PayloadTooLarge => dq_result::DQ_PAYLOAD_TOO_LARGE,
            ErrorKind::Rejected => dq_result::DQ_REJECTED,
            ErrorKind::LeaseLost => dq_result::DQ_LEASE_LOST,
            ErrorKind::Transaction => dq_result::DQ_TRANSACTION,
        }
    }
}

impl dq_result {
    /// What the code means, in a line.
    pub fn describe(self) -> &'static str {
        match self {
            dq_result::DQ_OK => "success",
            dq_result::DQ_INTERNAL => "internal error in dq",
            dq_result::DQ_INVALID_ARGUMENT => "invalid argument",
            dq_result::DQ_UNKNOWN_TOPIC => "unknown topic",
            dq_result::DQ_CONNECTION => "cannot reach the backend",
            dq_result::DQ_TIMEOUT => "timed out",
            dq_result::DQ_NOT_FOUND => "not found",
            dq_result::DQ_BACKEND => "backend error",
            dq_result::DQ_UNAUTHORIZED => "unauthorized",
            dq_result::DQ_PAYLOAD_TOO_LARGE => "payload too large",
            dq_result::DQ_REJECTED => "rejected by the broker",
            dq_result::DQ_LEASE_LOST => "the job's lease is no longer held",
            dq_result::DQ_TRANSACTION => "the XA transaction failed or has ended",
        }
    }

    pub fn from_code(code: u32) -> Option<dq_result> {
        if code == 0 {
            return Some(dq_result::DQ_OK);
        }
        ErrorKind::from_code(code).map(dq_result::from)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn remember(message: &str) {
    LAST_ERROR.with(|last| {
        let mut last = last.borrow_mut();
        last.clear();
        last.push_str(message);
    });
}

/// The calling thread's last error message ("" after a success).
pub fn last_error() -> String {
    LAST_ERROR.with(|last| last.borrow().clone())
}

/// Runs an export's body: a panic becomes `DQ_INTERNAL`, an error its code; either way the
/// message is kept for `dq_last_error`.
pub fn boundary(body: impl FnOnce() -> Result<(), Error>) -> dq_result {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            remember("");
            dq_result::DQ_OK
        }
        Ok(Err(error)) => {
            remember(error.message());
            dq_result::from(error.kind())
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            remember(&format!("dq panicked: {what}"));
            dq_result::DQ_INTERNAL
        }
    }
}

/// A required C string argument as UTF-8: NULL and invalid UTF-8 are `DQ_INVALID_ARGUMENT`
/// naming the argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that lives through the call.
pub unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    // SAFETY: the caller promises a NUL-terminated string.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|e| Error::invalid(format!("{name} is not valid UTF-8 ({e})")))
}

/// An optional C string argument: NULL is `None`.
///
/// # Safety
/// As for [`text`].
pub unsafe fn optional_text<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: as promised by the caller.
    unsafe { text(ptr, name) }.map(Some)
}

/// A byte buffer argument (`const char *` and a length, so that any language's strings pass,
/// NUL bytes included): NULL is allowed only with length 0.
///
/// # Safety
/// `ptr` points to `len` readable bytes (or is NULL with `len` 0).
pub unsafe fn bytes<'a>(ptr: *const c_char, len: usize, name: &str) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::invalid(format!(
                "{name} is NULL but its length is {len}"
            )))
        };
    }
    // SAFETY: the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// A JSON object argument (NULL is an empty object). A key given twice in any object of it is
/// refused.
///
/// # Safety
/// As for [`text`].
pub unsafe fn json_object(
    ptr: *const c_char,
    name: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    // SAFETY: as promised by the caller.
    let Some(text) = (unsafe { optional_text(ptr, name) })? else {
        return Ok(serde_json::Map::new());
    };
    match dq_core::json::from_str(text, name)? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(Error::invalid(format!("{name} is JSON but not an object"))),
    }
}

/// A JSON array argument, checked as [`json_object`] checks an object.
///
/// # Safety
/// As for [`text`].
pub unsafe fn json_array(ptr: *const c_char, name: &str) -> Result<Vec<serde_json::Value>, Error> {
    // SAFETY: as promised by the caller.
    let text = unsafe { text(ptr, name) }?;
    match dq_core::json::from_str(text, name)? {
        serde_json::Value::Array(items) => Ok(items),
        _ => Err(Error::invalid(format!("{name} is JSON but not an array"))),
    }
}

/// Checks that an out-pointer is not NULL before any work is done, and stores `empty` there
/// (NULL, 0, false), so that after a failure the caller never holds a stale value.
///
/// # Safety
/// `ptr` is NULL or points to writable storage for a `T`.
pub unsafe fn out<T>(ptr: *mut T, name: &str, empty: T) -> Result<(), Error> {
    if ptr.is_null() {
        return Err(Error::invalid(format!(
            "{name} is NULL: it must point to where the result goes"
        )));
    }
    // SAFETY: not NULL; the caller promises it is writable.
    unsafe { ptr.write(empty) };
    Ok(())
}

/// Writes `text` into a caller's buffer of `len` bytes, NUL-terminated and cut to fit; stores
/// the full length (without the NUL) in `out_len` if it is not NULL.
///
/// # Safety
/// `buf` is NULL or has `len` writable bytes; `out_len` is NULL or writable.
pub unsafe fn write_text(text: &str, buf: *mut c_char, len: usize, out_len: *mut usize) {
    if !out_len.is_null() {
        // SAFETY: checked not NULL; the caller promises it is writable.
        unsafe { *out_len = text.len() };
    }
    if buf.is_null() || len == 0 {
        return;
    }
    let n = text.len().min(len - 1);
    // SAFETY: `n + 1 <= len` bytes are written into the caller's buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
}

/// Frees a handle that `Box::into_raw` gave C (NULL is ignored); a panic while dropping it
/// stays inside.
///
/// # Safety
/// `handle` is NULL or came from `Box::into_raw` and is not used afterwards.
pub unsafe fn free_handle<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: the caller hands back what Box::into_raw gave it, once.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(handle) })
        }));
    }
}

/// A Rust string handed to C: freed with `dq_string_free`.
pub fn into_c_string(text: String) -> Result<*mut c_char, Error> {
    std::ffi::CString::new(text)
        .map(std::ffi::CString::into_raw)
        .map_err(|_| Error::internal("a result contained a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dq_error_codes() {
        for kind in ErrorKind::ALL {
            assert_eq!(dq_result::from(kind) as u32, kind.code(), "{kind:?}");
            assert_eq!(
                dq_result::from_code(kind.code()),
                Some(dq_result::from(kind))
            );
        }
        assert_eq!(dq_result::from_code(0), Some(dq_result::DQ_OK));
        assert_eq!(dq_result::from_code(999), None);
    }

    #[test]
    fn panics_and_errors_are_results() {
        assert_eq!(boundary(|| panic!("boom")), dq_result::DQ_INTERNAL);
        assert!(last_error().contains("boom"));
        assert_eq!(
            boundary(|| Err(Error::invalid("bad x"))),
            dq_result::DQ_INVALID_ARGUMENT
        );
        assert_eq!(last_error(), "bad x");
        assert_eq!(boundary(|| Ok(())), dq_result::DQ_OK);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn text_is_cut_to_fit() {
        let mut buf = [1 as c_char; 4];
        let mut len = 0usize;
        unsafe { write_text("hello", buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(len, 5);
        assert_eq!(
            unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap(),
            "hel"
        );
    }
}
