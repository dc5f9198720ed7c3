//! Names of the machine hcron runs on.

use std::ffi::{CStr, CString};

/// The host's fully qualified name (`HCRON_HOST_NAME`, and the default
/// server name): the canonical name the resolver gives for the host name,
/// or the plain host name when the resolver knows no better.
pub fn fqdn() -> String {
    let short = short_name();
    canonical_name(&short).unwrap_or(short)
}

/// The host name as the kernel has it.
pub fn short_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success (the last byte stays 0 on truncation).
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) } == 0;
    let name = if ok { CStr::from_bytes_until_nul(&buf).ok() } else { None };
    name.map_or_else(|| "localhost".into(), |n| n.to_string_lossy().into_owned())
}

fn canonical_name(host: &str) -> Option<String> {
    let host = CString::new(host).ok()?;
    // SAFETY: zeroed addrinfo is a valid "no hints" value, then flags set.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    let mut result: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C string and hints; result is freed below.
    if unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut result) } != 0 || result.is_null() {
        return None;
    }
    // SAFETY: getaddrinfo succeeded, so result points to a list whose first
    // entry carries ai_canonname (NULL or a C string) when AI_CANONNAME is set.
    let name = unsafe {
        let canon = (*result).ai_canonname;
        let name = (!canon.is_null()).then(|| CStr::from_ptr(canon).to_string_lossy().into_owned());
        libc::freeaddrinfo(result);
        name
    };
    name.filter(|n| !n.is_empty())
}
