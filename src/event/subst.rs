//! The substitution language (§6): `$NAME`, `#NAME`, `$NAME[SEL]`,
//! `$NAME{SEL}` with the original's quirks kept (single pass, literal text
//! for anything unknown or malformed, `#` counting with the split separator).
//!
//! Substitution never fails: a reference that cannot be expanded stays as
//! written, and an unclosed bracket stops the scan (§6.1).

use std::borrow::Cow;

use nom::{
    IResult, Parser,
    bytes::complete::take_while1,
    character::complete::{char, digit1, one_of},
    combinator::{opt, recognize},
};

use super::glob::fnmatch;
use super::text::{is_word_char, py_count};

/// Variables visible to a substitution.
pub trait Lookup {
    /// The current value of `name`, or `None` when it was never assigned.
    fn lookup(&self, name: &str) -> Option<&str>;
}

/// How deeply selectors may nest references (`$X[$Y[$Z[0]]]`) before the
/// outer reference is left as written. Real trees nest one or two levels;
/// the bound keeps hostile input from exhausting the stack.
const MAX_NESTING: usize = 16;

/// Expands every reference in `text` against `vars`, left to right, once.
pub fn substitute<'t>(text: &'t str, vars: &dyn Lookup) -> Cow<'t, str> {
    if !text.contains(['$', '#']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = next_candidate(rest) {
        out.push_str(&rest[..at]);
        match scan_reference(&rest[at..]) {
            Scan::Reference(reference, after) => {
                match expand(&reference, vars, 0) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(reference.text),
                }
                rest = after;
            }
            Scan::Unclosed => {
                rest = &rest[at..];
                break;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The names a text refers to (`$NAME`/`#NAME`, outermost references only).
pub fn referenced_names(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let at = next_candidate(rest)?;
        match scan_reference(&rest[at..]) {
            Scan::Reference(reference, after) => {
                rest = after;
                Some(reference.name)
            }
            Scan::Unclosed => None,
        }
    })
}

/// One reference as written.
struct Reference<'t> {
    /// The whole reference, kept to be copied when it cannot be expanded.
    text: &'t str,
    count: bool,
    name: &'t str,
    selector: Option<Selector<'t>>,
}

struct Selector<'t> {
    matching: bool,
    body: &'t str,
}

enum Scan<'t> {
    Reference(Reference<'t>, &'t str),
    Unclosed,
}

/// Byte offset of the next `$` or `#` followed by a word character.
fn next_candidate(text: &str) -> Option<usize> {
    text.match_indices(['$', '#']).find(|(at, _)| text[at + 1..].chars().next().is_some_and(is_word_char)).map(|(at, _)| at)
}

fn op_and_name(input: &str) -> IResult<&str, (char, &str)> {
    (one_of("$#"), take_while1(is_word_char)).parse(input)
}

/// Scans the reference that starts `input` (which starts with a candidate).
fn scan_reference(input: &str) -> Scan<'_> {
    let Ok((after_name, (op, name))) = op_and_name(input) else { unreachable!("scan_reference is only called at a candidate") };
    let (selector, after) = match after_name.chars().next() {
        Some(open @ ('[' | '{')) => {
            let close = if open == '[' { ']' } else { '}' };
            let Some(len) = matching_close(after_name, open, close) else {
                return Scan::Unclosed;
            };
            let selector = Selector { matching: open == '{', body: &after_name[1..len] };
            (Some(selector), &after_name[len + 1..])
        }
        _ => (None, after_name),
    };
    let text = &input[..input.len() - after.len()];
    Scan::Reference(Reference { text, count: op == '#', name, selector }, after)
}

/// Offset of the bracket closing the one that opens `text`, counting nesting
/// of that bracket kind only.
fn matching_close(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(at);
            }
        }
    }
    None
}

/// Expands one reference; `None` leaves it as written.
fn expand<'v>(reference: &Reference<'_>, vars: &'v dyn Lookup, depth: usize) -> Option<Cow<'v, str>> {
    let value = vars.lookup(reference.name)?;
    let Some(selector) = &reference.selector else {
        return Some(if reference.count { Cow::Owned((py_count(value, ":") + 1).to_string()) } else { Cow::Borrowed(value) });
    };
    if depth >= MAX_NESTING {
        return None;
    }
    let (body, body_was_reference) = match nested(selector.body, vars, depth)? {
        Some(expanded) => (expanded, true),
        None => (Cow::Borrowed(selector.body), false),
    };
    let (split, join, list) = match body.split_once('!') {
        Some((separators, list)) => {
            let (split, join) = separators.split_once('?').unwrap_or((separators, separators));
            let join = match body_was_reference {
                true => None,
                false => nested(join, vars, depth)?,
            }
            .unwrap_or(Cow::Borrowed(join));
            (split, join, list)
        }
        None => {
            let split = if reference.name == "HCRON_EVENT_NAME" { "/" } else { ":" };
            (split, Cow::Borrowed(split), &*body)
        }
    };
    let items: Vec<&str> = if split.is_empty() {
        value.char_indices().map(|(at, c)| &value[at..at + c.len_utf8()]).collect()
    } else {
        value.split(split).collect()
    };
    let mut selected: Vec<&str> = Vec::new();
    for choice in list.split(',') {
        let choice = nested(choice, vars, depth)?.unwrap_or(Cow::Borrowed(choice));
        if selector.matching {
            selected.extend(items.iter().filter(|item| fnmatch(&choice, item)));
        } else {
            select_by_index(&items, &choice, &mut selected)?;
        }
    }
    let result = selected.join(&join);
    Some(Cow::Owned(match reference.count {
        true => (py_count(&result, split) + 1).to_string(),
        false => result,
    }))
}

/// §6.3: a selector position that starts with a reference is replaced, as a
/// whole, by that reference's expansion. `Ok`-like `Some(None)`: no
/// reference there; `None`: the reference failed, so the outer one does.
fn nested<'v>(position: &str, vars: &'v dyn Lookup, depth: usize) -> Option<Option<Cow<'v, str>>> {
    if op_and_name(position).is_err() {
        return Some(None);
    }
    match scan_reference(position) {
        Scan::Reference(reference, _) => expand(&reference, vars, depth + 1).map(Some),
        Scan::Unclosed => Some(None),
    }
}

/// Python indexing and slicing of `items` by one comma item; `None` when the
/// item is not an index (no digits, step 0, too many parts).
fn select_by_index<'i>(items: &[&'i str], choice: &str, selected: &mut Vec<&'i str>) -> Option<()> {
    let parts: Vec<&str> = choice.split(':').collect();
    let len = items.len() as i64;
    match parts[..] {
        [index] => {
            let index = leading_int(index)?;
            let index = if index < 0 { index + len } else { index };
            if (0..len).contains(&index) {
                selected.push(items[index as usize]);
            }
        }
        [start, stop] | [start, stop, _] => {
            let step = parts.get(2).and_then(|s| leading_int(s)).unwrap_or(1);
            if step == 0 {
                return None;
            }
            let (mut at, stop) = slice_bounds(len, leading_int(start), leading_int(stop), step);
            while (step > 0 && at < stop) || (step < 0 && at > stop) {
                selected.push(items[at as usize]);
                at += step;
            }
        }
        _ => return None,
    }
    Some(())
}

/// Python's `slice.indices`: clamped start and stop for a non-zero step.
fn slice_bounds(len: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> (i64, i64) {
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let clamp = |bound: i64| {
        if bound < 0 { (bound + len).max(lower) } else { bound.min(upper) }
    };
    let start = start.map_or(if step < 0 { upper } else { lower }, clamp);
    let stop = stop.map_or(if step < 0 { lower } else { upper }, clamp);
    (start, stop)
}

/// The `-?digits` a selector part starts with; trailing text is ignored.
fn leading_int(part: &str) -> Option<i64> {
    let parsed: IResult<&str, &str> = recognize((opt(char('-')), digit1)).parse(part);
    let (_, digits) = parsed.ok()?;
    // Python integers do not overflow; an index this large is past either end.
    Some(digits.parse().unwrap_or(if digits.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 }))
}

#[cfg(test)]
mod tests;
