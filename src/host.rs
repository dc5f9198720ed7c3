//! Names of the machine hcron runs on.

use std::ffi::{CStr, CString};

/// The host's fully qualified name (`HCRON_HOST_NAME`, the `start` line's
/// `fqdn`, the sender of notifications, and the default server name),
/// found as hcron 1.5 found it (Python's `socket.getfqdn()`): the host
/// name's first address is looked up by address, and the first of the
/// official name and its aliases that contains a dot wins, else the
/// official name; the plain host name when the lookup fails.
pub fn fqdn() -> String {
    let short = short_name();
    match names_by_address(&short) {
        Some(names) => names.iter().find(|n| n.contains('.')).unwrap_or(&names[0]).clone(),
        None => short,
    }
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

unsafe extern "C" {
    /// glibc's reentrant reverse lookup (not in the libc crate).
    fn gethostbyaddr_r(
        addr: *const libc::c_void,
        len: libc::socklen_t,
        family: libc::c_int,
        ret: *mut libc::hostent,
        buf: *mut libc::c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut libc::c_int,
    ) -> libc::c_int;
}

/// The official name and the aliases of `host`'s first address (Python's
/// `socket.gethostbyaddr(host)`), the official name first.
fn names_by_address(host: &str) -> Option<Vec<String>> {
    let host = CString::new(host).ok()?;
    let mut result: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C string, no hints; result is freed below.
    if unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), std::ptr::null(), &mut result) } != 0 || result.is_null() {
        return None;
    }
    // SAFETY: getaddrinfo succeeded: result points to an entry whose ai_addr
    // is a sockaddr of ai_family, valid until freeaddrinfo.
    let (family, address): (libc::c_int, Vec<u8>) = unsafe {
        let info = &*result;
        let bytes = match info.ai_family {
            libc::AF_INET => {
                let addr = &(*(info.ai_addr as *const libc::sockaddr_in)).sin_addr;
                Some(std::slice::from_raw_parts((addr as *const libc::in_addr).cast::<u8>(), 4).to_vec())
            }
            libc::AF_INET6 => {
                let addr = &(*(info.ai_addr as *const libc::sockaddr_in6)).sin6_addr;
                Some(std::slice::from_raw_parts((addr as *const libc::in6_addr).cast::<u8>(), 16).to_vec())
            }
            _ => None,
        };
        let family = info.ai_family;
        libc::freeaddrinfo(result);
        (family, bytes?)
    };
    let mut entry: libc::hostent = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut found: *mut libc::hostent = std::ptr::null_mut();
    let mut herr = 0;
    // SAFETY: the address bytes and the buffer are valid for their lengths;
    // on success `found` points to `entry`, whose strings live in `buf`.
    let rc = unsafe {
        gethostbyaddr_r(
            address.as_ptr().cast(),
            address.len() as libc::socklen_t,
            family,
            &mut entry,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
            &mut herr,
        )
    };
    if rc != 0 || found.is_null() || entry.h_name.is_null() {
        return None;
    }
    // SAFETY: h_name is a C string and h_aliases a NULL-terminated array of
    // C strings, all inside `buf`, which outlives this block.
    let names = unsafe {
        let mut names = vec![CStr::from_ptr(entry.h_name).to_string_lossy().into_owned()];
        let mut alias = entry.h_aliases;
        while !alias.is_null() && !(*alias).is_null() {
            names.push(CStr::from_ptr(*alias).to_string_lossy().into_owned());
            alias = alias.add(1);
        }
        names
    };
    Some(names)
}
