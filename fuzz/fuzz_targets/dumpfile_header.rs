//! Any file: container detection, header parsing, run tables, triage lists; then reads.
#![no_main]

use dumpfile::{Dump, PhysicalMemory};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Dump::from_vec(data.to_vec()) {
        let _ = d.header();
        let _ = d.kdbg_copy();
        let _ = d.missing_bytes();
        let mut buf = vec![0u8; 0x1800];
        for (pa, len) in d.physical_ranges().into_iter().take(4) {
            let _ = d.read_physical(pa.wrapping_add(len / 2).wrapping_sub(0x800), &mut buf);
        }
        let _ = d.read_physical(0, &mut buf);
        let _ = d.page(1);
        if let Some(t) = d.triage() {
            if let Some(b) = t.data_blocks.first() {
                let _ = d.read_triage_virtual(b.address.wrapping_sub(8), &mut buf);
            }
        }
    }
});
