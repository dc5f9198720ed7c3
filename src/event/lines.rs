//! Line processing of one file (§3.1): comments, `\` continuations,
//! stripping; then each logical line classified as an assignment (§3.3), an
//! `include` directive (§3.2) or a bad definition.
//!
//! A [`SourceFile`] keeps every logical line in one buffer with byte ranges
//! into it, so a parsed file costs one allocation of text plus a small table;
//! symlinked events share it through an `Arc`.

use super::text::{py_lstrip, py_split_whitespace, py_strip};

/// One file after line processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    text: String,
    lines: Vec<Line>,
}

/// A logical line: where it starts in the file and where it is in the buffer.
/// Its kind is worked out again on each look (a split and two strips):
/// cheaper than storing it, since trees hold hundreds of thousands of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// 1-based number of the physical line the logical line starts on.
    pub lineno: u32,
    start: u32,
    end: u32,
}

/// What a logical line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind<'a> {
    /// `name=value`, both stripped; split at the first `=`.
    Assign { name: &'a str, value: &'a str },
    /// `include NAME`: exactly two whitespace-separated tokens.
    Include { name: &'a str },
    /// Neither: rejects the event with `bad definition`.
    Bad,
}

impl SourceFile {
    /// Processes a file's content; never fails.
    pub fn parse(content: &str) -> SourceFile {
        let mut text = String::with_capacity(content.len());
        let raw: Vec<&str> = content.split('\n').collect();
        let mut lines = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let lineno = i + 1;
            let mut line = raw[i];
            i += 1;
            if py_lstrip(line).starts_with('#') {
                continue;
            }
            // Continuations: only build a new string when there is one.
            let joined;
            if line.ends_with('\\') && i < raw.len() {
                let mut buf = String::from(line);
                loop {
                    buf.pop();
                    buf.push_str(raw[i]);
                    i += 1;
                    if !buf.ends_with('\\') || i == raw.len() {
                        break;
                    }
                }
                joined = buf;
                line = &joined;
            }
            let logical = py_strip(line);
            if logical.is_empty() {
                continue;
            }
            let start = to_u32(text.len());
            text.push_str(logical);
            lines.push(Line { lineno: to_u32(lineno), start, end: to_u32(text.len()) });
        }
        text.shrink_to_fit();
        SourceFile { text, lines }
    }

    /// The logical lines in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The full text of a logical line.
    pub fn text(&self, line: &Line) -> &str {
        &self.text[line.start as usize..line.end as usize]
    }

    /// What a logical line says.
    pub fn kind(&self, line: &Line) -> LineKind<'_> {
        let logical = self.text(line);
        if logical.starts_with("include") {
            let mut tokens = py_split_whitespace(logical);
            if let (Some("include"), Some(name), None) = (tokens.next(), tokens.next(), tokens.next()) {
                return LineKind::Include { name };
            }
        }
        match logical.split_once('=') {
            Some((name, value)) => LineKind::Assign { name: py_strip(name), value: py_strip(value) },
            None => LineKind::Bad,
        }
    }
}

/// Event files are capped far below 4 GiB by `max_event_file_size`; a
/// larger one is never parsed, so offsets always fit.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("event file larger than 4 GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(content: &str, want: &[(u32, &str)]) {
        let file = SourceFile::parse(content);
        let got: Vec<(u32, &str)> = file.lines().iter().map(|l| (l.lineno, file.text(l))).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn continuation_keeps_leading_blanks_of_the_next_line() {
        // §3.1 example and §19 scenario 19.
        check("command=echo a \\\n   b\\\n\n", &[(1, "command=echo a    b")]);
    }

    #[test]
    fn comment_test_comes_before_continuation() {
        check("# comment \\\nx=1\ncmd2=x\\\n# not a comment\n", &[(2, "x=1"), (3, "cmd2=x# not a comment")]);
    }

    #[test]
    fn backslash_on_last_line_without_newline_stays() {
        check("a=b\\", &[(1, "a=b\\")]);
        check("a=b\\\n", &[(1, "a=b")]);
    }

    #[test]
    fn blank_and_cr_lines_are_dropped_and_stripped() {
        check("\r\n  \n a = b \r\n", &[(3, "a = b")]);
    }

    #[test]
    fn classification() {
        let file = SourceFile::parse("  command = a=b=c \ninclude\t/inc/common\ninclude a b\nnoequals\n=\n");
        let kinds: Vec<LineKind> = file.lines().iter().map(|l| file.kind(l)).collect();
        assert_eq!(
            kinds,
            [
                LineKind::Assign { name: "command", value: "a=b=c" },
                LineKind::Include { name: "/inc/common" },
                LineKind::Bad,
                LineKind::Bad,
                LineKind::Assign { name: "", value: "" },
            ]
        );
    }

    #[test]
    fn include_with_equals_is_still_an_include() {
        let file = SourceFile::parse("include a=b\n");
        assert_eq!(file.kind(&file.lines()[0]), LineKind::Include { name: "a=b" });
    }
}
