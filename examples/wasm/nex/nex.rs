//! nex: host services for nex WebAssembly functions (Rust, wasm32-wasi).
//!
//! Safe wrappers over the `nex` import module; docs/wasm.md documents the ABI. Use it with
//! `#[path = "../../nex/nex.rs"] mod nex;` and call, for example, `nex::kv_get("iot", "dev1")`.
#![allow(dead_code)]

use std::fmt;

/// The KV key or object does not exist.
pub const NOT_FOUND: i32 = -1;
/// An argument is invalid (bad pointer, UTF-8, bucket, subject, URL or method).
pub const INVALID: i32 = -2;
/// A request found no responders.
pub const NO_RESPONDERS: i32 = -3;
/// The service did not answer in time.
pub const TIMEOUT: i32 = -4;
/// Any other failure of the service.
pub const FAILED: i32 = -5;
pub const DENIED: i32 = -6;
pub const LIMIT: i32 = -7;

mod raw {
    #[link(wasm_import_module = "nex")]
    extern "C" {
        pub fn kv_get(b: *const u8, bl: u32, k: *const u8, kl: u32) -> i32;
        pub fn kv_set(b: *const u8, bl: u32, k: *const u8, kl: u32, v: *const u8, vl: u32) -> i32;
        pub fn kv_delete(b: *const u8, bl: u32, k: *const u8, kl: u32) -> i32;
        pub fn kv_keys(b: *const u8, bl: u32, f: *const u8, fl: u32) -> i32;
        pub fn obj_get(b: *const u8, bl: u32, n: *const u8, nl: u32) -> i32;
        pub fn obj_put(b: *const u8, bl: u32, n: *const u8, nl: u32, d: *const u8, dl: u32) -> i32;
        pub fn publish(s: *const u8, sl: u32, d: *const u8, dl: u32) -> i32;
        pub fn request(s: *const u8, sl: u32, d: *const u8, dl: u32, timeout_ms: u32) -> i32;
        pub fn http(m: *const u8, ml: u32, u: *const u8, ul: u32, h: *const u8, hl: u32, b: *const u8, bl: u32, status: *mut u32) -> i32;
        pub fn result_len() -> i32;
        pub fn result_read(buf: *mut u8, len: u32) -> i32;
    }
}

/// A failed host call: the status code and the host's message.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "nex error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// What every call returns.
pub type Result<T> = std::result::Result<T, Error>;

/// Copies the pending result out of the host.
fn take() -> Vec<u8> {
    let n = unsafe { raw::result_len() }.max(0) as usize;
    let mut buf = vec![0u8; n];
    let got = unsafe { raw::result_read(buf.as_mut_ptr(), n as u32) }.max(0) as usize;
    buf.truncate(got);
    buf
}

/// Turns a status into data (or an error carrying the host's message).
fn check(status: i32) -> Result<Vec<u8>> {
    let data = take();
    if status < 0 {
        Err(Error { code: status, message: String::from_utf8_lossy(&data).into_owned() })
    } else {
        Ok(data)
    }
}

/// The value of `key`, or `None` when it does not exist.
pub fn kv_get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
    match check(unsafe { raw::kv_get(bucket.as_ptr(), bucket.len() as u32, key.as_ptr(), key.len() as u32) }) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code == NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets `key` to `value`.
pub fn kv_set(bucket: &str, key: &str, value: &[u8]) -> Result<()> {
    check(unsafe { raw::kv_set(bucket.as_ptr(), bucket.len() as u32, key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32) }).map(|_| ())
}

/// Deletes `key` (a missing key is not an error).
pub fn kv_delete(bucket: &str, key: &str) -> Result<()> {
    check(unsafe { raw::kv_delete(bucket.as_ptr(), bucket.len() as u32, key.as_ptr(), key.len() as u32) }).map(|_| ())
}

/// The keys of a bucket, optionally filtered (`""` for all).
pub fn kv_keys(bucket: &str, filter: &str) -> Result<Vec<String>> {
    let data = check(unsafe { raw::kv_keys(bucket.as_ptr(), bucket.len() as u32, filter.as_ptr(), filter.len() as u32) })?;
    let text = String::from_utf8_lossy(&data);
    Ok(text.split('\n').filter(|k| !k.is_empty()).map(String::from).collect())
}

/// An object's bytes, or `None` when it does not exist.
pub fn obj_get(bucket: &str, name: &str) -> Result<Option<Vec<u8>>> {
    match check(unsafe { raw::obj_get(bucket.as_ptr(), bucket.len() as u32, name.as_ptr(), name.len() as u32) }) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code == NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores an object.
pub fn obj_put(bucket: &str, name: &str, data: &[u8]) -> Result<()> {
    check(unsafe { raw::obj_put(bucket.as_ptr(), bucket.len() as u32, name.as_ptr(), name.len() as u32, data.as_ptr(), data.len() as u32) }).map(|_| ())
}

/// Publishes a message.
pub fn publish(subject: &str, data: &[u8]) -> Result<()> {
    check(unsafe { raw::publish(subject.as_ptr(), subject.len() as u32, data.as_ptr(), data.len() as u32) }).map(|_| ())
}

/// Sends a request and returns the reply (`timeout_ms` 0: the host's default).
pub fn request(subject: &str, data: &[u8], timeout_ms: u32) -> Result<Vec<u8>> {
    check(unsafe { raw::request(subject.as_ptr(), subject.len() as u32, data.as_ptr(), data.len() as u32, timeout_ms) })
}

/// Makes an HTTP request; `headers` are "Name: value" lines. Returns the status and the body.
pub fn http(method: &str, url: &str, headers: &str, body: &[u8]) -> Result<(u32, Vec<u8>)> {
    let mut status: u32 = 0;
    let data = check(unsafe {
        raw::http(
            method.as_ptr(), method.len() as u32, url.as_ptr(), url.len() as u32,
            headers.as_ptr(), headers.len() as u32, body.as_ptr(), body.len() as u32, &mut status,
        )
    })?;
    Ok((status, data))
}
