//! libdq.so: dq's C ABI, for C programs and for PHP's FFI where installing an extension is not
//! an option. Conventions (those of rustls-ffi):
//!
//! - every function returns a `dq_result`, whose numbers are dq's error codes (PHP's
//!   `getCode()`, the gateway's errors); `dq_last_error` gives the calling thread's message;
//! - outputs go through out-pointers, written only on success;
//! - handles are opaque, made by `_new` and freed by `_free`; strings and bytes dq returns are
//!   freed with `dq_string_free` / `dq_bytes_free`;
//! - NULL or invalid UTF-8 arguments are `DQ_INVALID_ARGUMENT`, never a crash; a panic inside dq
//!   is `DQ_INTERNAL`.
//!
//! - `boundary`: result codes, last error, panic boundary, argument checks.
//! - `client`: the delay queue (`dq_client_*`).
//! - `producer`: RabbitMQ (`dq_producer_*`).
//! - `outbox`: the rows of the transactional outbox and the inbox, written through the
//!   caller's own database connection (`dq_outbox_*`).
//! - `xa`: XA transactions across MySQL / MariaDB databases (`dq_xa_*`).

#![allow(non_camel_case_types)]

mod boundary;
mod client;
mod outbox;
mod producer;
mod xa;

use std::ffi::c_char;

pub use boundary::dq_result;
pub use client::dq_client;
pub use producer::dq_producer;
pub use xa::dq_xa;

/// Writes what `code` means into `buf` (`len` bytes, NUL-terminated, cut to fit) and its full
/// length into `*out_len` (if not NULL). `DQ_INVALID_ARGUMENT` for an unknown code.
///
/// # Safety
/// `buf` is NULL or has `len` writable bytes; `out_len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_error_message(
    code: u32,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> dq_result {
    let Some(result) = dq_result::from_code(code) else {
        // SAFETY: as the caller promises.
        unsafe { boundary::write_text("unknown dq result code", buf, len, out_len) };
        return dq_result::DQ_INVALID_ARGUMENT;
    };
    // SAFETY: as the caller promises.
    unsafe { boundary::write_text(result.describe(), buf, len, out_len) };
    dq_result::DQ_OK
}

/// Writes the calling thread's last error message (what failed and with which value; "" after
/// a success) into `buf` as `dq_error_message` does.
///
/// # Safety
/// As for `dq_error_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_last_error(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> dq_result {
    // SAFETY: as the caller promises.
    unsafe { boundary::write_text(&boundary::last_error(), buf, len, out_len) };
    dq_result::DQ_OK
}

/// Frees a string that dq returned (NULL is ignored).
///
/// # Safety
/// `text` is NULL or came from dq and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: the caller hands back a string dq made with CString::into_raw, once.
        drop(unsafe { std::ffi::CString::from_raw(text) });
    }
}

/// Frees `len` bytes that dq returned (NULL is ignored).
///
/// # Safety
/// `data` is NULL or came from dq with this `len`, and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_bytes_free(data: *mut c_char, len: usize) {
    if !data.is_null() {
        // SAFETY: the caller hands back a boxed slice dq made with this length, once.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data.cast::<u8>(), len)) });
    }
}

/// dq's version, a static string (do not free).
#[unsafe(no_mangle)]
pub extern "C" fn dq_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
