//! The backup servers' file (`HCRON_HOSTFILE`), in the format of ecFlow's
//! `ECF_HOSTFILE`: `#` starts a comment, blank lines are skipped, and each
//! other line is one `host` or `host:port` (an IPv6 address in brackets,
//! `[::1]:2222`).

use std::fmt;

/// A scheduler host reached over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The name given to ssh: a host name, an address or a `~/.ssh/config` alias.
    pub host: String,
    /// The SSH port; `None` leaves it to ssh (the user's `Port`, else 22).
    pub port: Option<u16>,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.port, self.host.contains(':')) {
            (None, _) => write!(f, "{}", self.host),
            (Some(port), false) => write!(f, "{}:{port}", self.host),
            (Some(port), true) => write!(f, "[{}]:{port}", self.host),
        }
    }
}

/// The servers of a hostfile's text, in file order; the first bad line's
/// number (from 1) and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<Server>, (usize, String)> {
    let mut servers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let entry = line.split_once('#').map_or(line, |(before, _)| before).trim();
        if entry.is_empty() {
            continue;
        }
        servers.push(server(entry).map_err(|why| (n + 1, why))?);
    }
    Ok(servers)
}

/// One entry: `host`, `host:port` or `[address]:port`.
pub fn server(entry: &str) -> Result<Server, String> {
    if entry.contains(char::is_whitespace) {
        return Err(format!("one server per line, not \"{entry}\""));
    }
    let (host, port) = match entry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((address, "")) => (address, None),
            Some((address, port)) => match port.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return Err(format!("\"{entry}\": only \":port\" may follow \"]\"")),
            },
            None => return Err(format!("\"{entry}\": no \"]\" after \"[\"")),
        },
        None => match entry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        },
    };
    if host.is_empty() || host.starts_with('-') {
        return Err(format!("\"{entry}\": not a host name"));
    }
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Some(port),
            _ => return Err(format!("\"{entry}\": the port must be a number from 1 to 65535")),
        },
    };
    Ok(Server { host: host.to_owned(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: Option<u16>) -> Server {
        Server { host: host.into(), port }
    }

    #[test]
    fn the_seeds_example_with_comments_blanks_and_ports() {
        let text = "# This is a comment\nhost1 # port 22 is used by default, when not specified\n\n  host2:2222\n\thost3:3141  \n[::1]:2200\n[fe80::1]\n";
        let want = [
            server("host1", None),
            server("host2", Some(2222)),
            server("host3", Some(3141)),
            server("::1", Some(2200)),
            server("fe80::1", None),
        ];
        assert_eq!(parse(text).unwrap(), want);
        assert_eq!(
            want.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["host1", "host2:2222", "host3:3141", "[::1]:2200", "fe80::1"]
        );
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse("# only\n   \n").unwrap(), []);
    }

    #[test]
    fn a_bad_line_is_named_with_its_number_and_reason() {
        let cases = [
            ("a\nb c\n", 2, "one server per line, not \"b c\""),
            ("a:0", 1, "\"a:0\": the port must be a number from 1 to 65535"),
            ("a:65536", 1, "the port must be"),
            ("a:+22", 1, "the port must be"),
            ("a:", 1, "the port must be"),
            ("a:b:c", 1, "the port must be"),
            ("#\n\n:22", 3, "\":22\": not a host name"),
            ("-oProxyCommand=x", 1, "not a host name"),
            ("[::1", 1, "no \"]\" after \"[\""),
            ("[::1]22", 1, "only \":port\" may follow"),
            ("[]:22", 1, "not a host name"),
        ];
        for (text, line, why) in cases {
            let (n, message) = parse(text).unwrap_err();
            assert_eq!(n, line, "{text:?}");
            assert!(message.contains(why), "{text:?}: {message}");
        }
        assert_eq!(parse("a:65535\nb:1").unwrap(), [server("a", Some(65535)), server("b", Some(1))]);
    }
}
