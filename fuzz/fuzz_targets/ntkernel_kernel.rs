//! Whole-target identification on arbitrary memory: the input is laid over the kernel image, the
//! KDBG, KUSER_SHARED_DATA and a module list head; nothing may panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::memory::SparseMemory;
use ntkernel::{Arch, DumpFacts, Kernel, SymbolOptions};

fuzz_target!(|data: &[u8]| {
    let base = 0xfffff804_7ba00000u64;
    let kdbg = base + 0xc00b20;
    let list = base + 0xc2a390;
    let mut m = SparseMemory::new();
    let quarter = data.len() / 4;
    m.write(base, &data[..quarter]);
    m.write(kdbg, &data[quarter..2 * quarter]);
    m.write(0xFFFF_F780_0000_0000, &data[2 * quarter..3 * quarter]);
    m.write(list, &data[3 * quarter..]);
    for arch in [Arch::X64, Arch::X86] {
        let facts = DumpFacts {
            arch: Some(arch),
            build: Some(19041),
            kdbg_va: Some(kdbg),
            ps_loaded_module_list: Some(list),
            ..Default::default()
        };
        if let Ok(k) = Kernel::open(&m, &facts, &SymbolOptions::default()) {
            let _ = k.modules(&m);
            let _ = k.global_va("PoolTrackTable");
            let _ = k.symbol_source();
        }
    }
});
