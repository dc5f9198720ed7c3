//! Python's `textwrap.TextWrapper`, for the settings `hcron run` displays
//! with (§16.1): tabs expanded to 8 columns, optional replacement of each
//! whitespace character by a space, lines broken at whitespace and after
//! hyphens inside words, over-long words broken, whitespace dropped at the
//! edges of lines (but kept at the very start of the text).

use crate::event::py_strip;

/// Whitespace for textwrap: `\t\n\x0b\x0c\r` and space (not Unicode's).
fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ')
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `[^\d\W]`: a word character that is not a digit.
fn is_letter(c: char) -> bool {
    is_word(c) && !c.is_numeric()
}

/// `[\w!"'&.,?]`.
fn is_word_punct(c: char) -> bool {
    is_word(c) || "!\"'&.,?".contains(c)
}

/// Wraps `text` to `width` columns, every line starting with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str, replace_whitespace: bool) -> Vec<String> {
    let mut text = expand_tabs(text);
    if replace_whitespace {
        text = text.chars().map(|c| if is_ws(c) { ' ' } else { c }).collect();
    }
    let mut chunks = split_chunks(&text);
    chunks.reverse();
    let width = width.saturating_sub(indent.chars().count());
    let mut lines: Vec<String> = Vec::new();
    while !chunks.is_empty() {
        let mut line: Vec<String> = Vec::new();
        let mut len = 0;
        if !lines.is_empty() && chunks.last().is_some_and(|c| py_strip(c).is_empty()) {
            chunks.pop();
        }
        while let Some(chunk) = chunks.last() {
            let l = chunk.chars().count();
            if len + l > width {
                break;
            }
            len += l;
            line.push(chunks.pop().expect("just seen"));
        }
        if chunks.last().is_some_and(|c| c.chars().count() > width) {
            break_long_word(&mut chunks, &mut line, len, width);
        }
        if line.last().is_some_and(|c| py_strip(c).is_empty()) {
            line.pop();
        }
        if !line.is_empty() {
            lines.push(format!("{indent}{}", line.concat()));
        }
    }
    lines
}

/// `str.expandtabs(8)`: columns restart after `\n` and `\r`.
fn expand_tabs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// `_handle_long_word`: puts as much of the next chunk on the line as fits,
/// preferring to break after a hyphen.
fn break_long_word(chunks: &mut [String], line: &mut Vec<String>, len: usize, width: usize) {
    let space_left = if width < 1 { 1 } else { width - len };
    let chunk: Vec<char> = chunks.last().expect("called with a chunk").chars().collect();
    let mut end = space_left;
    if chunk.len() > space_left {
        let hyphen = chunk[..space_left].iter().rposition(|&c| c == '-');
        // Python's `hyphen > 0 and any(...)`: a hyphen at 0 has nothing before it.
        if let Some(hyphen) = hyphen.filter(|&h| chunk[..h].iter().any(|&c| c != '-')) {
            end = hyphen + 1;
        }
    }
    let end = end.min(chunk.len());
    line.push(chunk[..end].iter().collect());
    *chunks.last_mut().expect("called with a chunk") = chunk[end..].iter().collect();
}

/// `TextWrapper.wordsep_re` split: whitespace runs, em-dashes between
/// words, and words broken after their hyphens.
fn split_chunks(text: &str) -> Vec<String> {
    let t: Vec<char> = text.chars().collect();
    let n = t.len();
    let at = |i: usize| t.get(i).copied();
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < n {
        if is_ws(t[i]) {
            let j = (i..n).find(|&j| !is_ws(t[j])).unwrap_or(n);
            chunks.push(t[i..j].iter().collect());
            i = j;
            continue;
        }
        let dashes = |from: usize| (from..n).take_while(|&j| t[j] == '-').count();
        // A word: as few non-blank characters as let one of the endings match.
        let mut j = i + 1;
        let end = loop {
            let hyphenated = at(j) == Some('-')
                && ((j >= 2 && is_letter(t[j - 2]) && is_letter(t[j - 1]))
                    || (j >= 3 && is_letter(t[j - 3]) && t[j - 2] == '-' && is_letter(t[j - 1])))
                && at(j + 1).is_some_and(is_letter)
                && (at(j + 2).is_some_and(is_letter) || (at(j + 2) == Some('-') && at(j + 3).is_some_and(is_letter)));
            if hyphenated {
                break j + 1;
            }
            if j == n || is_ws(t[j]) {
                break j;
            }
            if is_word_punct(t[j - 1]) && dashes(j) >= 2 && at(j + dashes(j)).is_some_and(is_word) {
                break j;
            }
            j += 1;
        };
        chunks.push(t[i..end].iter().collect());
        i = end;
        // A word ends at a hyphen only before an em-dash (two or more
        // hyphens after word punctuation, before a word character), which
        // is a chunk of its own.
        if at(i) == Some('-') {
            let d = dashes(i);
            chunks.push(t[i..i + d].iter().collect());
            i += d;
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, width: usize, want: &[&str]) {
        assert_eq!(wrap(text, width, "    ", true), want, "{text:?}");
    }

    #[test]
    fn chunks_like_python() {
        assert_eq!(split_chunks("Hello there, how are you?"), ["Hello", " ", "there,", " ", "how", " ", "are", " ", "you?"]);
        assert_eq!(split_chunks("this-is-a-hyphenated-word"), ["this-", "is-", "a-", "hyphenated-", "word"]);
        assert_eq!(split_chunks("over--under"), ["over", "--", "under"]);
        assert_eq!(split_chunks("--x a-1"), ["--x", " ", "a-1"]);
        assert_eq!(split_chunks("e-mail"), ["e-mail"]);
        assert_eq!(split_chunks("ab-cd"), ["ab-", "cd"]);
        // CPython's TextWrapper()._split of each.
        assert_eq!(split_chunks("so a-b-cd"), ["so", " ", "a-b-", "cd"]);
        assert_eq!(split_chunks("xyz ab-c-de"), ["xyz", " ", "ab-", "c-", "de"]);
        assert_eq!(split_chunks("a-b-c-d-ef"), ["a-b-", "c-", "d-", "ef"]);
        assert_eq!(split_chunks("word a.--b"), ["word", " ", "a.", "--", "b"]);
        assert_eq!(split_chunks("x, --y"), ["x,", " ", "--y"]);
        assert_eq!(split_chunks("ab-c.d ab-c- ab-c1"), ["ab-c.d", " ", "ab-c-", " ", "ab-c1"]);
    }

    #[test]
    fn short_text_is_one_indented_line() {
        check("command=echo hi", 128, &["    command=echo hi"]);
    }

    #[test]
    fn breaks_at_spaces_and_hyphens() {
        check("aaa bbb ccc", 11, &["    aaa bbb", "    ccc"]);
        check("well-known words", 13, &["    well-", "    known", "    words"]);
    }

    #[test]
    fn long_words_are_broken() {
        check("abcdefghij", 8, &["    abcd", "    efgh", "    ij"]);
        check("ab-cdefghij", 9, &["    ab-cd", "    efghi", "    j"]);
    }

    #[test]
    fn whitespace_handling() {
        // Each whitespace character becomes one space; runs are kept inside a line.
        check("a\nb\t c", 128, &["    a b        c"]);
        // Whitespace at line edges is dropped, but the text's own leading blanks are kept.
        assert_eq!(wrap("   indented", 1024, "    ", false), ["       indented"]);
        assert_eq!(wrap("Subject: x\r", 1024, "    ", false), ["    Subject: x"]);
        assert_eq!(wrap("", 1024, "    ", false), Vec::<String>::new());
        assert_eq!(wrap("   ", 1024, "    ", false), Vec::<String>::new());
    }

    #[test]
    fn tabs_expand_from_the_start_of_each_line() {
        assert_eq!(expand_tabs("ab\tc\nd\te"), "ab      c\nd       e");
    }
}
