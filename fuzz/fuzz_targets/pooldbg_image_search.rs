//! Any bytes as a dump: open a Session and ask which loaded driver images hold a tag (the
//! loaded-module list walked, the images read through the page tables with bounded sizes). Nothing
//! may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_sdk::Target;
use pooldbg::session::{Session, SessionOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(dump) = dumpfile::Dump::from_vec(data.to_vec()) else {
        return;
    };
    let Ok(session) = Session::from_dump(dump, &SessionOptions::default()) else {
        return;
    };
    for tag in [*b"MZ\x90\x00", *b"Ntfs", *b"Leak"] {
        if let Ok(hits) = session.find_tag_in_images(tag) {
            let _ = hits.iter().map(|h| h.hits).sum::<u64>();
        }
    }
});
