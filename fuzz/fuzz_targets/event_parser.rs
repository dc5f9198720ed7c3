//! Any bytes as an event file (and as the file it includes): loading never
//! panics and always yields a type and a reason.
#![no_main]

use std::sync::Arc;

use hcron::event::{Event, IncludeSource, LoadContext, Part, SourceFile};
use libfuzzer_sys::fuzz_target;

/// Every include resolves to the same fuzzed file, so nesting is exercised.
struct Itself(Arc<SourceFile>);

impl IncludeSource for Itself {
    fn include(&self, _: &str) -> Option<Arc<SourceFile>> {
        Some(self.0.clone())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = Arc::new(SourceFile::parse(text));
    let context = LoadContext { host_name: "h.example.com".into(), server_name: "s".into() };
    let own = Part { path: "/a/b".into(), file: file.clone() };
    let event = Event::load("/a/b".into(), Ok(own), &Itself(file), &context);
    let _ = (event.kind().to_string(), event.reason().to_string());
});
