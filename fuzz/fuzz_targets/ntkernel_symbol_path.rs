//! The symbol-path parser (`--symbols`, `_NT_SYMBOL_PATH`) on arbitrary text: never panics, every
//! server element has a store and an http(s) URL, and nothing is fetched (parsing only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::symsrv::{self, PathElement};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = symsrv::is_symbol_path(&text);
    for default in [None, Some(std::path::Path::new("/cache"))] {
        for e in symsrv::parse(&text, default) {
            if let PathElement::Server { stores, url, .. } = e {
                assert!(!stores.is_empty());
                let l = url.to_ascii_lowercase();
                assert!(l.starts_with("http://") || l.starts_with("https://"));
            }
        }
    }
});
