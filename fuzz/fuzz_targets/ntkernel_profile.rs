//! The profile text parser on arbitrary text; what parses must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::profile::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Profile::parse(text) {
        let again = Profile::parse(&p.to_text());
        // Names with whitespace cannot round-trip through a whitespace-separated format; the
        // parser never produces them (it splits on whitespace), so a parsed profile must.
        assert_eq!(again.as_ref().map(|q| &q.table), Ok(&p.table));
    }
});
