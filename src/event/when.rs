//! `when_*` fields (§5): parsing a field into a bit set, and matching a
//! minute against the six sets (a logical AND, Sunday = 0, years 2000–2050).
//!
//! The original's quirks are kept for loading — a reversed range or a
//! negative step selects nothing, and elements after one that completes the
//! set are never read — and reported as [`Quirk`]s for `hcron check`.

use std::fmt;

use super::text::{py_int, py_strip};

/// One of the six schedule fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `when_year`, 2000–2050, default `*`.
    Year,
    /// `when_month`, 1–12.
    Month,
    /// `when_day`, 1–31.
    Day,
    /// `when_hour`, 0–23.
    Hour,
    /// `when_minute`, 0–59.
    Minute,
    /// `when_dow`, 0–6, Sunday = 0.
    Dow,
}

impl Field {
    /// Every field, in the order the original checks required ones (year first, which is always present).
    pub const ALL: [Field; 6] = [Field::Year, Field::Month, Field::Day, Field::Hour, Field::Minute, Field::Dow];

    /// The variable name, e.g. `when_minute`.
    pub fn name(self) -> &'static str {
        match self {
            Field::Year => "when_year",
            Field::Month => "when_month",
            Field::Day => "when_day",
            Field::Hour => "when_hour",
            Field::Minute => "when_minute",
            Field::Dow => "when_dow",
        }
    }

    /// The field a variable name stands for.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Smallest and largest valid value.
    pub fn range(self) -> (i64, i64) {
        match self {
            Field::Year => (2000, 2050),
            Field::Month => (1, 12),
            Field::Day => (1, 31),
            Field::Hour => (0, 23),
            Field::Minute => (0, 59),
            Field::Dow => (0, 6),
        }
    }

    fn full(self) -> u64 {
        let (min, max) = self.range();
        (u64::MAX) >> (63 - (max - min)) as u32
    }
}

/// Why a `when_*` value is rejected (the event gets `bad when_* setting`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhenError {
    /// An element is not a number, range or `*` (e.g. `jan`, `abc`, an empty element).
    NotANumber(String),
    /// A value lies outside the field's range.
    OutOfRange { element: String, min: i64, max: i64 },
    /// `*/0` or `a-b/0`.
    ZeroStep(String),
    /// A `when_` name that is not one of the six fields (nor `when_expire`).
    UnknownField,
}

impl fmt::Display for WhenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhenError::NotANumber(element) => write!(f, "{element:?} is not a number, range or '*'"),
            WhenError::OutOfRange { element, min, max } => write!(f, "{element:?} is outside {min}-{max}"),
            WhenError::ZeroStep(element) => write!(f, "{element:?} has a step of 0"),
            WhenError::UnknownField => {
                f.write_str("not a schedule field (when_year, when_month, when_day, when_hour, when_minute, when_dow, when_expire)")
            }
        }
    }
}

/// A value the original accepts that does not do what it seems to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quirk {
    /// `50-10`: accepted, selects nothing.
    ReversedRange(String),
    /// `0-59/-5`: accepted, selects nothing.
    NegativeStep(String),
    /// `*,junk`: everything after the element that completed the set is never read.
    IgnoredAfterFullSet(String),
}

impl fmt::Display for Quirk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quirk::ReversedRange(element) => write!(f, "range {element:?} is reversed and selects nothing"),
            Quirk::NegativeStep(element) => write!(f, "{element:?} has a negative step and selects nothing"),
            Quirk::IgnoredAfterFullSet(rest) => write!(f, "{rest:?} is ignored: the elements before it already select everything"),
        }
    }
}

/// Parses one field's (early-substituted) value into a bit set, bit `i`
/// standing for the value `min + i`.
pub fn parse_field(field: Field, value: &str) -> Result<(u64, Vec<Quirk>), WhenError> {
    let (min, max) = field.range();
    let mut bits = 0u64;
    let mut quirks = Vec::new();
    let mut elements = value.split(',');
    while let Some(element) = elements.next() {
        let (range, step) = match element.split_once('/') {
            Some((range, step)) => {
                let step = py_int(step).ok_or_else(|| WhenError::NotANumber(element.into()))?;
                (range, step)
            }
            None => (element, 1),
        };
        let (low, high) = if py_strip(range) == "*" {
            (min, max)
        } else {
            let number = |s: &str| py_int(s).ok_or_else(|| WhenError::NotANumber(element.into()));
            match range.split_once('-') {
                Some((low, high)) => (number(low)?, number(high)?),
                None => {
                    let n = number(range)?;
                    (n, n)
                }
            }
        };
        if low < min || high > max {
            return Err(WhenError::OutOfRange { element: element.into(), min, max });
        }
        match step {
            0 => return Err(WhenError::ZeroStep(element.into())),
            ..0 => quirks.push(Quirk::NegativeStep(element.into())),
            _ if low > high => quirks.push(Quirk::ReversedRange(element.into())),
            _ => {
                let mut at = low;
                while at <= high {
                    bits |= 1 << (at - min);
                    at += step;
                }
            }
        }
        if bits == field.full() {
            let rest: Vec<&str> = elements.collect();
            if !rest.is_empty() {
                quirks.push(Quirk::IgnoredAfterFullSet(rest.join(",")));
            }
            break;
        }
    }
    Ok((bits, quirks))
}

/// A minute of local wall-clock time, as the schedule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Minute {
    /// Full year, e.g. 2026.
    pub year: i32,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–6, Sunday = 0.
    pub dow: u8,
}

/// The six parsed fields of an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    sets: [u64; 6],
}

impl Schedule {
    /// A schedule from the bit sets of [`Field::ALL`], in that order.
    pub fn new(sets: [u64; 6]) -> Schedule {
        Schedule { sets }
    }

    /// The bit set of one field (bit `i` = value `min + i`).
    pub fn set(&self, field: Field) -> u64 {
        self.sets[field as usize]
    }

    /// Whether `field` selects `value` (false outside the field's range).
    pub fn selects(&self, field: Field, value: i64) -> bool {
        let (min, max) = field.range();
        (min..=max).contains(&value) && self.set(field) & (1 << (value - min)) != 0
    }

    /// Whether the event fires at `t`: all six fields select it.
    pub fn matches(&self, t: &Minute) -> bool {
        let values = [i64::from(t.year), i64::from(t.month), i64::from(t.day), i64::from(t.hour), i64::from(t.minute), i64::from(t.dow)];
        Field::ALL.iter().zip(values).all(|(&field, value)| self.selects(field, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(field: Field, value: &str) -> Result<Vec<i64>, WhenError> {
        let (bits, _) = parse_field(field, value)?;
        let (min, max) = field.range();
        Ok((min..=max).filter(|v| bits & (1 << (v - min)) != 0).collect())
    }

    #[track_caller]
    fn check(field: Field, value: &str, want: &[i64]) {
        assert_eq!(values(field, value).as_deref(), Ok(want), "{value:?}");
    }

    #[track_caller]
    fn rejected(field: Field, value: &str) {
        assert!(parse_field(field, value).is_err(), "{value:?} should be rejected");
    }

    #[test]
    fn grammar() {
        check(Field::Minute, "0,30", &[0, 30]);
        check(Field::Minute, "10-12", &[10, 11, 12]);
        check(Field::Minute, "0-20/10", &[0, 10, 20]);
        check(Field::Day, "*/10", &[1, 11, 21, 31]);
        check(Field::Year, "*/25", &[2000, 2025, 2050]);
        assert_eq!(values(Field::Day, "*/2").unwrap()[..3], [1, 3, 5]);
        assert_eq!(values(Field::Year, "*/2").unwrap()[..2], [2000, 2002]);
        check(Field::Dow, "0", &[0]);
        check(Field::Hour, "5/10", &[5]);
    }

    #[test]
    fn lenient_numbers() {
        check(Field::Minute, " 5 , 10", &[5, 10]);
        check(Field::Minute, "+5", &[5]);
        check(Field::Minute, "00", &[0]);
        check(Field::Minute, "1_0", &[10]);
    }

    #[test]
    fn rejections() {
        rejected(Field::Month, "jan");
        rejected(Field::Dow, "7");
        rejected(Field::Dow, "mon");
        rejected(Field::Minute, "");
        rejected(Field::Minute, "1,,2");
        rejected(Field::Minute, "abc,*");
        rejected(Field::Minute, "*/0");
        rejected(Field::Minute, "60");
        rejected(Field::Year, "1999");
        rejected(Field::Year, "2051");
        rejected(Field::Minute, "-5");
        rejected(Field::Minute, "1-2-3");
        rejected(Field::Minute, "*/x");
        rejected(Field::Minute, "L");
        check(Field::Year, "2050", &[2050]);
    }

    #[test]
    fn quirks_are_accepted_and_reported() {
        assert_eq!(parse_field(Field::Minute, "50-10"), Ok((0, vec![Quirk::ReversedRange("50-10".into())])));
        assert_eq!(parse_field(Field::Minute, "0-59/-5"), Ok((0, vec![Quirk::NegativeStep("0-59/-5".into())])));
        let (bits, quirks) = parse_field(Field::Minute, "*,abc").unwrap();
        assert_eq!(bits, Field::Minute.full());
        assert_eq!(quirks, [Quirk::IgnoredAfterFullSet("abc".into())]);
        assert_eq!(parse_field(Field::Minute, "*").unwrap().1, []);
    }

    #[test]
    fn matching_is_an_and_of_all_fields() {
        let sets =
            [("*", Field::Year), ("*", Field::Month), ("13", Field::Day), ("0", Field::Hour), ("0", Field::Minute), ("5", Field::Dow)]
                .map(|(v, f)| parse_field(f, v).unwrap().0);
        let schedule = Schedule::new(sets);
        let friday_13 = Minute { year: 2020, month: 3, day: 13, hour: 0, minute: 0, dow: 5 };
        assert!(schedule.matches(&friday_13));
        assert!(!schedule.matches(&Minute { dow: 4, ..friday_13 }));
        assert!(!schedule.matches(&Minute { year: 2051, ..friday_13 }));
        assert!(!schedule.matches(&Minute { year: 1999, ..friday_13 }));
    }
}
