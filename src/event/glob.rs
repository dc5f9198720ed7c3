//! Shell-style patterns with Python's `fnmatch.fnmatchcase` semantics: `*`,
//! `?`, `[abc]`, `[a-z]`, `[!a]`; an unclosed `[` is a literal; `*` also
//! matches `/`; no escapes and no `{a,b}` alternation.

/// Whether `text` matches `pattern` as a whole (case-sensitive).
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative matcher with backtracking to the last `*`: linear in practice,
    // O(len(p) * len(t)) at worst, never exponential.
    let (mut p, mut t) = (0, 0);
    // The pattern position after the last `*`, and where its match ends.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                '*' => {
                    p += 1;
                    star = Some((p, t));
                    continue;
                }
                '?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = match_class(&pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == '[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Back to the last `*`, which now swallows one more character.
        match star {
            Some((resume, swallowed)) => {
                p = resume;
                t = swallowed + 1;
                star = Some((resume, t));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class opening at `pattern[open]`; `None` when the
/// class is not closed (then `[` is literal), else whether it matched and
/// where the pattern goes on.
fn match_class(pattern: &[char], open: usize, c: char) -> Option<(bool, usize)> {
    let mut i = open + 1;
    let negated = matches!(pattern.get(i), Some('!'));
    if negated {
        i += 1;
    }
    // A `]` right after `[` or `[!` is a member, not the end.
    let first = i;
    let mut matched = false;
    loop {
        let member = *pattern.get(i)?;
        if member == ']' && i > first {
            return Some((matched != negated, i + 1));
        }
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = pattern[i + 2];
            matched |= member <= c && c <= hi;
            i += 3;
        } else {
            matched |= member == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[track_caller]
    fn check(pattern: &str, text: &str, want: bool) {
        assert_eq!(fnmatch(pattern, text), want, "{pattern:?} ~ {text:?}");
    }

    #[test]
    fn cases() {
        check("*", "", true);
        check("*", "/a/b", true);
        check("/a/*", "/a/b/c", true);
        check("mach*", "mach1.xyz.com", true);
        check("?", "a", true);
        check("?", "ab", false);
        check("[a-c]", "b", true);
        check("[a-c]", "d", false);
        check("[!a]*", "bcd", true);
        check("[!a]*", "abc", false);
        check("[]]", "]", true);
        check("[!]]", "a", true);
        check("[!a]", "!", true);
        check("[!!]", "!", false);
        check("[a-]", "-", true);
        check("[abc", "[abc", true);
        check("{a}", "a", false);
        check("{a}", "{a}", true);
        check("a*b*c", "axxbyyc", true);
        check("a*b*c", "axxbyy", false);
        check("*a", "ba", true);
        // Members after a range (Python's fnmatchcase agrees with each).
        check("[!a-cx]", "x", false);
        check("[!a-cx]", "y", true);
        check("[a-cx-z]", "y", true);
        check("[a-cx-z]", "b", true);
        check("[a-cx-z]", "d", false);
    }
}
