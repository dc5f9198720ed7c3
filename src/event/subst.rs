//! The substitution language (§6): `$NAME`, `#NAME`, `$NAME[SEL]`,
//! `$NAME{SEL}` with the original's quirks kept (single pass, literal text
//! for anything unknown or malformed, `#` counting with the split separator).
//!
//! Substitution never fails: a reference that cannot be expanded stays as
//! written, and an unclosed bracket stops the scan (§6.1).

use std::borrow::Cow;
use std::cell::Cell;

use nom::{IResult, Parser, bytes::complete::take_while1, character::complete::one_of};

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

/// Expansions one top-level reference may cost, nested ones included: the
/// original substitutes selector positions several times over, so work can
/// grow exponentially with nesting; past this the reference is left as written.
const MAX_EXPANSIONS: usize = 4096;

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
                let budget = Cell::new(MAX_EXPANSIONS);
                match expand(&reference, vars, 0, &budget) {
                    Some(value) if budget.get() > 0 => out.push_str(&value),
                    _ => out.push_str(reference.text),
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

/// Expands one reference; `None` leaves it as written. Inside a selector the
/// original substitutes again, in this order, every position that starts
/// with a reference ([`position`]): the whole selector, the split and join
/// separators, the list, and each comma item of the list.
fn expand<'v>(reference: &Reference<'_>, vars: &'v dyn Lookup, depth: usize, budget: &Cell<usize>) -> Option<Cow<'v, str>> {
    budget.set(budget.get().checked_sub(1)?);
    let value = vars.lookup(reference.name)?;
    let Some(selector) = &reference.selector else {
        return Some(if reference.count { Cow::Owned((py_count(value, ":") + 1).to_string()) } else { Cow::Borrowed(value) });
    };
    if depth >= MAX_NESTING {
        return None;
    }
    let position = |text| position(text, vars, depth, budget);
    let body = position(selector.body);
    let (split, join, list) = match body.split_once('!') {
        Some((separators, list)) => {
            let (split, join) = match separators.split_once('?') {
                Some((split, join)) => (split, Some(join)),
                None => (separators, None),
            };
            let split = if split.is_empty() { Cow::Borrowed("") } else { position(split) };
            let join = match join {
                Some(join) => position(join),
                None => split.clone(),
            };
            (split, join, list)
        }
        None => {
            let split = Cow::Borrowed(if reference.name == "HCRON_EVENT_NAME" { "/" } else { ":" });
            (split.clone(), split, &*body)
        }
    };
    let list = position(list);
    let items: Vec<&str> = if split.is_empty() {
        value.char_indices().map(|(at, c)| &value[at..at + c.len_utf8()]).collect()
    } else {
        value.split(&*split).collect()
    };
    let mut pieces: Vec<Cow<'_, str>> = Vec::new();
    for choice in list.split(',') {
        let choice = position(choice);
        if selector.matching {
            pieces.extend(items.iter().filter(|item| fnmatch(&choice, item)).map(|item| Cow::Borrowed(*item)));
        } else {
            // Each indexing choice is one piece, empty when it selects nothing (§6.2 step 4).
            pieces.push(Cow::Owned(select_by_index(&items, &choice)?.join(&*join)));
        }
    }
    let result = pieces.join(&*join);
    Some(Cow::Owned(match reference.count {
        true => (py_count(&result, &split) + 1).to_string(),
        false => result,
    }))
}

/// A selector position, substituted as the original does it (§6.3): when it
/// starts with a reference, the whole position becomes that reference's
/// expansion, or stays as written when the reference cannot be expanded.
/// The reference is read by the original's regular expression, not by
/// bracket matching: `[#$]NAME`, then `[...]` up to the position's last `]`
/// (or `{...}` up to its last `}`) when there is one; the rest is dropped.
fn position<'p>(text: &'p str, vars: &dyn Lookup, depth: usize, budget: &Cell<usize>) -> Cow<'p, str> {
    let Ok((after_name, (op, name))) = op_and_name(text) else { return Cow::Borrowed(text) };
    let line = after_name.split('\n').next().unwrap_or_default();
    let selector = match after_name.chars().next() {
        Some(open @ ('[' | '{')) => {
            let close = if open == '[' { ']' } else { '}' };
            line.rfind(close).map(|at| Selector { matching: open == '{', body: &after_name[1..at] })
        }
        _ => None,
    };
    let reference = Reference { text, count: op == '#', name, selector };
    match expand(&reference, vars, depth + 1, budget) {
        Some(value) => Cow::Owned(value.into_owned()),
        None => Cow::Borrowed(text),
    }
}

/// Python indexing and slicing of `items` by one comma item, read as the
/// original reads it: a prefix `START[:END[:STEP]]` of optional `-?digits`
/// (trailing text ignored), a lone `START` meaning one item. `None` when the
/// item is not an index (no start, a lone `-`, step 0).
fn select_by_index<'i>(items: &[&'i str], choice: &str) -> Option<Vec<&'i str>> {
    let (start, rest) = signed_digits(choice);
    let (end, step) = match rest.strip_prefix(':') {
        None => (None, None),
        Some(rest) => {
            let (end, rest) = signed_digits(rest);
            (Some(end), rest.strip_prefix(':').map(|rest| signed_digits(rest).0))
        }
    };
    let start = optional_int(start)?;
    let (start, end, step) = match end {
        None => match start? {
            i if i < 0 => (Some(i), Some(i - 1), -1),
            i => (Some(i), Some(i + 1), 1),
        },
        Some(end) => (start, optional_int(end)?, step.map(optional_int).unwrap_or(Some(None))?.unwrap_or(1)),
    };
    if step == 0 {
        return None;
    }
    let (mut at, stop) = slice_bounds(items.len() as i64, start, end, step);
    let mut selected = Vec::new();
    while (step > 0 && at < stop) || (step < 0 && at > stop) {
        selected.push(items[at as usize]);
        at += step;
    }
    Some(selected)
}

/// A slice bound: `Some(None)` when empty (absent), `None` when not a number.
fn optional_int(text: &str) -> Option<Option<i64>> {
    if text.is_empty() { Some(None) } else { python_int(text).map(Some) }
}

/// The longest prefix matching `-?\d*`, and the rest.
fn signed_digits(text: &str) -> (&str, &str) {
    let sign = usize::from(text.starts_with('-'));
    let digits = text[sign..].bytes().take_while(u8::is_ascii_digit).count();
    text.split_at(sign + digits)
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

/// Python's `int()` of `-?digits` (a lone `-` is no number); integers this
/// large are past either end, as Python's unbounded ones are.
fn python_int(text: &str) -> Option<i64> {
    if text.len() == usize::from(text.starts_with('-')) {
        return None;
    }
    Some(text.parse().unwrap_or(if text.starts_with('-') { i64::MIN / 4 } else { i64::MAX / 4 }))
}

#[cfg(test)]
mod tests;
