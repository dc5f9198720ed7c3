//! §6.4, row by row, plus the edge cases of §6.1–§6.3.

use super::*;
use crate::event::vars::Vars;

fn table_vars() -> Vars<'static> {
    let mut vars = Vars::new();
    vars.set("HCRON_EVENT_NAME", "/cleanup/room/mach1.xyz.com");
    vars.set("L", "a:b:c:d:e");
    vars.set("C", "x,y,z");
    vars.set("I", "2");
    vars.set("J", "-1");
    vars.set("E", "");
    vars
}

#[track_caller]
fn check(expression: &str, want: &str) {
    let got = substitute(expression, &table_vars());
    assert_eq!(got, want, "{expression}");
}

#[track_caller]
fn unchanged(expression: &str) {
    check(expression, expression);
}

#[test]
fn event_name_rows() {
    check("$HCRON_EVENT_NAME[-1]", "mach1.xyz.com");
    check("$HCRON_EVENT_NAME[0]", "");
    check("$HCRON_EVENT_NAME[1]", "cleanup");
    check("$HCRON_EVENT_NAME[1:3]", "cleanup/room");
    check("#HCRON_EVENT_NAME", "1");
    check("#HCRON_EVENT_NAME[:]", "4");
    check("$HCRON_EVENT_NAME{mach*}", "mach1.xyz.com");
}

#[test]
fn plain_and_count() {
    check("$L", "a:b:c:d:e");
    check("#L", "5");
}

#[test]
fn indexing() {
    check("$L[0]", "a");
    check("$L[-1]", "e");
    check("$L[-2]", "d");
    check("$L[1:3]", "b:c");
    check("$L[1:]", "b:c:d:e");
    check("$L[:2]", "a:b");
    check("$L[::-1]", "e:d:c:b:a");
    check("$L[::2]", "a:c:e");
    check("$L[5]", "");
    check("$L[-9]", "");
    check("$L[0,2,4]", "a:c:e");
    check("$L[0,1:3]", "a:b:c");
}

#[test]
fn separators() {
    check("$L[:?,!1:3]", "b,c");
    check("$L[?-!:]", "a-:-b-:-c-:-d-:-e");
    check("$L[!0]", "a");
    check("#L[!:]", "11");
    check("#L[1:3]", "2");
    check("#L[0]", "1");
    check("#L[9]", "1");
    check("$C[,!0]", "x");
    check("$C[,!-1]", "z");
    check("$C[,?+!:]", "x+y+z");
    check("#C[,!:]", "3");
    check("#C", "1");
    check("#C[,?;!:]", "1");
}

#[test]
fn nesting() {
    check("$L[$I]", "c");
    check("$L[$J]", "e");
    check("$L[$I:4]", "c");
    check("$L[1:$I]", "b:c:d:e");
    check("$L[0,$I]", "a:c");
    unchanged("$L[$UNDEF]");
    unchanged("$UNDEF");
    unchanged("$UNDEF[0]");
    unchanged("#UNDEF");
}

#[test]
fn scanning() {
    check("pre$L[0]post", "preapost");
    unchanged("$L[0");
    check("$L[0] $L[1", "a $L[1");
    check("$$L", "$a:b:c:d:e");
    check("$L$L[0]", "a:b:c:d:ea");
    unchanged("$1");
    unchanged("x$");
    unchanged("#");
    unchanged("$X-Y");
    check("$L[0][1]", "a[1]");
}

#[test]
fn matching() {
    check("$L{a}", "a");
    check("$L{[a-c]}", "a:b:c");
    check("$L{?}", "a:b:c:d:e");
    check("$L{d,a}", "d:a");
    check("$L{z}", "");
    check("#L{[a-c]}", "3");
    check("$L{{a}}", "");
    check("$L{[!a]*}", "");
    check("$L{:![!a]*}", "b:c:d:e");
}

#[test]
fn empty_value() {
    check("$E", "");
    check("#E", "1");
    check("$E[0]", "");
}

#[test]
fn malformed_selectors_leave_the_reference() {
    unchanged("$L[abc]");
    unchanged("$L[::0]");
    unchanged("$L[]");
    unchanged("$L[[0]]");
    check("$L[1x]", "b");
}

#[test]
fn separator_from_a_variable() {
    let mut vars = table_vars();
    vars.set("S", "/");
    assert_eq!(substitute("$HCRON_EVENT_NAME[$S!-1]", &vars), "$HCRON_EVENT_NAME[$S!-1]");
    vars.set("I", "/!-1");
    assert_eq!(substitute("$HCRON_EVENT_NAME[$I]", &vars), "mach1.xyz.com");
}

#[test]
fn join_from_a_variable() {
    let mut vars = table_vars();
    vars.set("J", "+");
    assert_eq!(substitute("$C[,?$J!0:]", &vars), "x+y+z");
}

#[test]
fn nested_brackets() {
    let mut vars = table_vars();
    vars.set("Y", "3:1");
    assert_eq!(substitute("$L[$Y[0]]", &vars), "d");
}

#[test]
fn replacement_is_not_rescanned() {
    let mut vars = Vars::new();
    vars.set("A", "$B");
    vars.set("B", "b");
    assert_eq!(substitute("$A", &vars), "$B");
}

#[test]
fn unicode_names_and_values() {
    let mut vars = Vars::new();
    vars.set("été", "ä:ö");
    assert_eq!(substitute("$été[-1] $été[!0]", &vars), "ö ä");
}

#[test]
fn deep_nesting_is_bounded() {
    let mut vars = Vars::new();
    vars.set("a", "0");
    let deep = "$a[".repeat(10_000) + "0" + &"]".repeat(10_000);
    assert_eq!(substitute(&deep, &vars), deep);
}

#[test]
fn referenced_names_lists_outer_references() {
    let names: Vec<&str> = referenced_names("x $A[$B] #C y $D[").collect();
    assert_eq!(names, ["A", "C"]);
}

/// Cases where the spec was silent or wrong, as the original's substitution
/// module answers them (run on hcron 1.5's `assign.py`).
#[test]
fn oracle_rows() {
    let mut vars = table_vars();
    vars.set("U", "heidi:grace");
    vars.set("R", "$I");
    for (expression, want) in [
        // every indexing choice is one piece of the join, empty ones included
        ("$U[:?_!1,2]", "grace_"),
        ("$U[5,0]", ":heidi"),
        ("$L[0,5,1]", "a::b"),
        ("#L[0,5]", "2"),
        ("$E[a?_!3]", ""),
        // a matching choice adds only what it matches
        ("$L{z,a}", "a"),
        // the slice is a prefix START[:END[:STEP]]; what follows is ignored
        ("$L[1:2:1:9]", "b"),
        ("$L[1x:3]", "b"),
        ("$L[1:2:]", "b"),
        // after the separators, the list as a whole is replaced by a leading reference
        ("$L[:!$I,0]", "c"),
        // and the selector is substituted again after its own substitution
        ("$L[$R]", "c"),
        // Python's integers have no bounds: a huge index is past either end
        ("$L[99999999999999999999]", ""),
        ("$L[-99999999999999999999]", ""),
        ("$L[1:99999999999999999999]", "b:c:d:e"),
        ("$L[-99999999999999999999:2]", "a:b"),
        // a lone sign is no number
        ("$L[-]", "$L[-]"),
        ("$L[1:-]", "$L[1:-]"),
    ] {
        assert_eq!(substitute(expression, &vars), want, "{expression}");
    }
}

#[test]
fn repeated_substitution_of_positions_is_bounded() {
    // Each level's selector is substituted several times over (as the
    // original does); without a budget this takes 3^16 expansions.
    let mut vars = Vars::new();
    vars.set("a", "x:y");
    let deep = "$a[".repeat(40) + "$a" + &"]".repeat(40);
    let started = std::time::Instant::now();
    assert_eq!(substitute(&deep, &vars), deep);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    // Past the budget the whole reference stays as written, even where its
    // exhausted positions would have left something that expands: here a
    // glob that matches nothing, which would give "".
    vars.set("L", "a:b");
    let costly = format!("$L{{{}0{}}}", "$a[".repeat(12), "]".repeat(12));
    assert_eq!(substitute(&costly, &vars), costly);
    let cheap = format!("$L{{{}0{}}}", "$a[".repeat(2), "]".repeat(2));
    assert_eq!(substitute(&cheap, &vars), "", "within the budget the same shape expands");
}
