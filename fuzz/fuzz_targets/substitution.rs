//! Any text substituted against variables taken from the same input: never
//! panics, and text without `$` or `#` comes back unchanged.
#![no_main]

use hcron::event::Vars;
use hcron::event::subst::substitute;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // "value\0expression": the first part is $L (and $HCRON_EVENT_NAME).
    let (value, expression) = text.split_once('\0').unwrap_or(("a:b:c", text));
    let mut vars = Vars::new();
    vars.set("L", value);
    vars.set("HCRON_EVENT_NAME", value);
    vars.set("I", "1");
    let result = substitute(expression, &vars);
    if !expression.contains(['$', '#']) {
        assert_eq!(result, expression);
    }
});
