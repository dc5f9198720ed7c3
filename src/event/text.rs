//! Python string semantics the original's formats depend on: what counts as
//! whitespace for `strip()`/`split()`, and `str.count` with an empty needle.

/// Whether `c` is whitespace for Python's `str.isspace` (Rust's set plus the
/// four ASCII information separators U+001C..U+001F).
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    // Most lines start and end with a printable ASCII character, which is
    // never whitespace: no character need be decoded.
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        _ => s.trim_matches(is_py_space),
    }
}

/// Python's `str.lstrip()`.
pub fn py_lstrip(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}

/// Python's `str.split()` without arguments: runs of whitespace separate, no empty items.
pub fn py_split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|w| !w.is_empty())
}

/// Python's `haystack.count(needle)`: non-overlapping occurrences; an empty
/// needle occurs once per character plus once.
pub fn py_count(haystack: &str, needle: &str) -> usize {
    if needle.is_empty() { haystack.chars().count() + 1 } else { haystack.matches(needle).count() }
}

/// Whether `c` is a word character of Python's `\w` (letters, digits, `_`).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Python's `int()` on a string, as the `when_*` parser uses it: surrounding
/// whitespace, an optional sign, decimal digits with single `_` between them.
pub fn py_int(s: &str) -> Option<i64> {
    let s = py_strip(s);
    let (negative, digits) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let mut value: i64 = 0;
    for b in digits.bytes().filter(|&b| b != b'_') {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_and_split_follow_python() {
        assert_eq!(py_strip("\u{1c} a b\r\n"), "a b");
        assert_eq!(py_lstrip("  # x "), "# x ");
        assert_eq!(py_split_whitespace("include\t/a  ").collect::<Vec<_>>(), ["include", "/a"]);
    }

    #[test]
    fn count_matches_python() {
        assert_eq!(py_count("a:b:c", ":"), 2);
        assert_eq!(py_count("a:b:c:d:e", ""), 10);
        assert_eq!(py_count("", ":"), 0);
        assert_eq!(py_count("aaaa", "aa"), 2);
    }

    #[test]
    fn int_is_lenient_like_python() {
        for (text, want) in [
            (" 5 ", Some(5)),
            ("+5", Some(5)),
            ("00", Some(0)),
            ("1_0", Some(10)),
            ("-5", Some(-5)),
            ("_1", None),
            ("1__0", None),
            ("", None),
            ("abc", None),
            ("5x", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(py_int(text), want, "{text:?}");
        }
    }
}
