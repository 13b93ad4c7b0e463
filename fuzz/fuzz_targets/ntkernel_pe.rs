//! The kernel PE reader (headers, debug directory, RSDS, export name) on an arbitrary image, and
//! the RSDS scanner over it as physical memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::memory::SparseMemory;

fuzz_target!(|data: &[u8]| {
    let base = 0xfffff804_7ba00000u64;
    let mut m = SparseMemory::new();
    m.write(base, data);
    if let Ok(info) = ntkernel::pe::read_image(&m, base) {
        let _ = info.pdb.as_ref().map(|p| p.store_key());
    }
    let _ = ntkernel::pe::parse_rsds(data);
    let mut p = SparseMemory::new();
    p.write(0x1000, data);
    let _ = ntkernel::scan::find_kernel_rsds(&p);
    let _ = ntkernel::scan::find_dtb_x64(&p, 1);
    let _ = ntkernel::scan::find_dtb_x86(&p);
    let _ = ntkernel::scan::find_kernel(&m, base, base + 0x10000, 0x1000, 16);
});
