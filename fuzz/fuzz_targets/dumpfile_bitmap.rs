//! Bitmap indexing: a valid 64-bit header (DumpType 5) followed by fuzzed bytes as the
//! SDMP/FDMP sub-header, bitmap and pages; then page lookups at PFNs taken from the input.
#![no_main]

use dumpfile::{Dump, PhysicalMemory};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file: Vec<u8> = b"PAGE".iter().copied().cycle().take(0x2000).collect();
    file[4..8].copy_from_slice(b"DU64");
    file[0xf98..0xf9c].copy_from_slice(&5u32.to_le_bytes());
    file.extend_from_slice(b"SDMPDUMP");
    file.extend_from_slice(data);
    if let Ok(d) = Dump::from_vec(file) {
        let _ = d.physical_ranges();
        let mut buf = [0u8; 0x1000];
        for chunk in data.chunks_exact(8).take(16) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            let pfn = u64::from_le_bytes(a) % (1 << 24);
            let _ = d.page(pfn);
            let _ = d.read_physical(pfn << 12 | 0x800, &mut buf);
        }
    }
});
