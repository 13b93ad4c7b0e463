//! The pooltag.txt parser and the index over arbitrary bytes: no panic, no hang, and the invariants
//! below hold (line numbers in range, tag columns round-trip through their display form, lookups
//! return only matching entries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pooltag::{Source, Tag, TagDb, TagPattern};

fuzz_target!(|data: &[u8]| {
    let db = TagDb::from_bytes(Source::Embedded, data);
    let lines = u32::try_from(data.split(|&b| b == b'\n').count()).unwrap_or(u32::MAX);
    for e in db.entries() {
        assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
        let shown = e.pattern.to_string();
        let back = TagPattern::from_field(shown.as_bytes());
        // Wildcards after a `*` are not kept; everything else reads back to the same column.
        if !shown.ends_with('*') {
            assert_eq!(back, Some(e.pattern), "{shown:?}");
        }
    }
    for w in db.warnings() {
        assert!(w.line >= 1 && w.line <= lines.saturating_add(1));
    }
    // Look up tags made from the input itself.
    for chunk in data.chunks_exact(4).take(64) {
        let tag = Tag::from_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        assert_eq!(tag.to_string().parse::<Tag>(), Ok(tag));
        for e in db.lookup(tag) {
            assert!(e.pattern.matches(tag));
        }
        let _ = pooltag::find_tag_in_images(tag, [("input", data)]);
    }
});
