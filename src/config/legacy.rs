//! The original's `hcron.conf`: a Python literal (a dict) with `#` comments,
//! read into a JSON value so that the same serde definitions check it.
//!
//! Supported: strings (single, double or triple quoted, `r`/`u` prefixes,
//! adjacent literals joined), integers, floats, `True`, `False`, `None`,
//! lists, tuples and dicts.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_while},
    character::complete::{char, digit1, one_of},
    combinator::{all_consuming, map, opt, recognize, value},
    multi::{many0, many1, separated_list0},
    sequence::{delimited, terminated},
};
use serde_json::Value;

/// Whether `text` is in the original's format: a `.conf` file, or any file
/// whose first character past blanks and `#` comments opens a dict (TOML
/// cannot start with `{`).
pub fn looks_legacy(path: &std::path::Path, text: &str) -> bool {
    if path.extension().is_some_and(|e| e == "toml") {
        return false;
    }
    let first = text.lines().map(str::trim_start).find(|l| !l.is_empty() && !l.starts_with('#'));
    path.extension().is_some_and(|e| e == "conf") || first.is_some_and(|l| l.starts_with('{'))
}

/// Parses a whole file; the error names the line where parsing stopped.
pub fn parse(text: &str) -> Result<Value, String> {
    match all_consuming(delimited(blank, literal, blank)).parse(text) {
        Ok((_, value)) => Ok(value),
        Err(error) => {
            let rest = match &error {
                nom::Err::Error(e) | nom::Err::Failure(e) => e.input,
                nom::Err::Incomplete(_) => "",
            };
            let line = text[..text.len() - rest.len()].matches('\n').count() + 1;
            Err(format!("line {line}: not a Python literal the configuration can hold"))
        }
    }
}

/// Whitespace and `#` comments.
fn blank(input: &str) -> IResult<&str, ()> {
    value((), many0(alt((value((), one_of(" \t\r\n")), value((), (char('#'), take_while(|c| c != '\n'))))))).parse(input)
}

fn token<'a, O>(
    parser: impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
) -> impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>> {
    terminated(parser, blank)
}

fn literal(input: &str) -> IResult<&str, Value> {
    alt((
        map(many1(token(string)), |parts| Value::String(parts.concat())),
        token(number),
        value(Value::Bool(true), token(tag("True"))),
        value(Value::Bool(false), token(tag("False"))),
        value(Value::Null, token(tag("None"))),
        map(sequence('[', ']'), Value::Array),
        map(sequence('(', ')'), Value::Array),
        dict,
    ))
    .parse(input)
}

fn sequence<'a>(open: char, close: char) -> impl Parser<&'a str, Output = Vec<Value>, Error = nom::error::Error<&'a str>> {
    let items = terminated(separated_list0(token(char(',')), literal), opt(token(char(','))));
    delimited(token(char(open)), items, token(char(close)))
}

fn dict(input: &str) -> IResult<&str, Value> {
    let entry = (token(many1(token(string))), token(char(':')), literal);
    let entries = terminated(separated_list0(token(char(',')), entry), opt(token(char(','))));
    map(delimited(token(char('{')), entries, token(char('}'))), |entries| {
        Value::Object(entries.into_iter().map(|(key, _, value)| (key.concat(), value)).collect())
    })
    .parse(input)
}

fn number(input: &str) -> IResult<&str, Value> {
    let (rest, text) = recognize((opt(one_of("+-")), digit1, opt((char('.'), digit1)))).parse(input)?;
    let value = match text.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::from(text.parse::<f64>().unwrap_or(f64::NAN)),
    };
    Ok((rest, value))
}

/// One string literal, escapes decoded (unknown escapes keep their backslash, as Python does).
fn string(input: &str) -> IResult<&str, String> {
    let (input, raw) = map(opt(one_of("rRuU")), |p| p.is_some_and(|p| p == 'r' || p == 'R')).parse(input)?;
    for quote in ["'''", "\"\"\"", "'", "\""] {
        let Some(body) = input.strip_prefix(quote) else { continue };
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((at, c)) = chars.next() {
            if body[at..].starts_with(quote) {
                return Ok((&body[at + quote.len()..], out));
            }
            match c {
                '\n' if quote.len() == 1 => break,
                '\\' => match chars.next() {
                    Some((_, e)) if raw => {
                        out.push('\\');
                        out.push(e);
                    }
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e @ ('\\' | '\'' | '"'))) => out.push(e),
                    Some((_, '\n')) => {}
                    Some((_, e)) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        break;
    }
    Err(nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Char)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals() {
        let text = r#"
# comment
{ 'a': 'x' "y",  # joined
  "b": -5, 'c': 1.5, 'd': True, 'e': None, 'f': [1, (2, 3),],
  'g': r'\.\n', 'h': '\.\n\'', 'i': """multi
line""", }
"#;
        assert_eq!(
            parse(text).unwrap(),
            json!({"a": "xy", "b": -5, "c": 1.5, "d": true, "e": null, "f": [1, [2, 3]], "g": "\\.\\n", "h": "\\.\n'", "i": "multi\nline"})
        );
    }

    #[test]
    fn prefixes_and_line_ends_inside_strings_as_python_reads_them() {
        // Python reads {'g': R'\.\n', 'u': u'a\tb', 'U': U'\'', 'cont': 'a\<newline>b'} so.
        let text = "{'g': R'\\.\\n', 'u': u'a\\tb', 'U': U'\\'', 'cont': 'a\\\nb'}";
        assert_eq!(parse(text).unwrap(), json!({"g": "\\.\\n", "u": "a\tb", "U": "'", "cont": "ab"}));
        assert!(parse("{'a': 'one\nline'}").is_err(), "a short string ends at its line's end");
        assert_eq!(parse("{'a': '''one\nline'''}").unwrap(), json!({"a": "one\nline"}));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("{\n'a': 1,\n'b': oops\n}"), Err("line 3: not a Python literal the configuration can hold".into()));
        assert!(parse("{'a': 'unterminated}").is_err());
    }
}
