//! The keyless KDBG search (`ntkernel::nosym`) on arbitrary memory: the first 8 bytes choose the
//! kernel base's low bits, the rest is a kernel image's first pages (headers and data). Whatever it
//! holds, the search ends, never panics, and anything it returns decodes to `KDBG` + that base.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::memory::SparseMemory;
use ntkernel::nosym::{data_ranges, find_kdbg_without_keys, sections};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let base = 0xfffff804_7ba00000u64 | (u64::from_le_bytes(data[..8].try_into().unwrap_or([0; 8])) & 0x1f_f000);
    let image = &data[8..];
    let mut m = SparseMemory::new();
    m.write(base, image);
    let size = (image.len() as u64 + 0xfff) & !0xfff;
    let _ = sections(&m, base);
    let ranges = data_ranges(&m, base, size.max(0x2000));
    if let Ok(found) = find_kdbg_without_keys(&m, base, size, &ranges) {
        assert_eq!(found.kdbg.kernel_base(), Some(base));
    }
});
