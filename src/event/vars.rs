//! The variables of one evaluation pass: built-ins first, then each
//! assignment in order, a later assignment replacing an earlier one.

use std::borrow::Cow;

use super::subst::Lookup;

/// An ordered set of variables. Events define a dozen or two, so a vector
/// searched linearly beats hashing here.
#[derive(Debug, Default, Clone)]
pub struct Vars<'a> {
    entries: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Vars<'a> {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing any earlier value.
    pub fn set(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        let name = name.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The value of `name`, if it was ever set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| &**v)
    }
}

impl Lookup for Vars<'_> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

impl Vars<'_> {
    /// Every variable, in the order each was first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (&**n, &**v))
    }
}
