//! The kd argument vocabulary (`plugin_sdk::args`) over arbitrary text: numbers, ranges, tag
//! patterns and expressions (with `poi()` reads through a small in-memory target) never panic and
//! never recurse without bound. The first byte picks the pointer size; the rest is the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_sdk::args::{TagPattern, eval, eval_range, parse_number, parse_range};
use plugin_sdk::{MemoryTarget, Source, TargetInfo};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let t = MemoryTarget::new(TargetInfo {
        pointer_size: if sel & 1 == 0 { 8 } else { 4 },
        ..Default::default()
    })
    .with_symbol("PoolTrackTable", 0x1000, Source::EmbeddedProfile)
    .with_virtual(0x1000, &0x2000u64.to_le_bytes())
    .with_virtual(0x2000, &0x1000u64.to_le_bytes());
    let _ = parse_number(text);
    let _ = parse_range(text);
    let _ = eval(&t, text);
    if let Ok((_, Some(n))) = eval_range(&t, text) {
        assert!(n > 0);
    }
    if let Ok(p) = TagPattern::parse(text) {
        let _ = p.matches(*b"Proc");
    }
});
