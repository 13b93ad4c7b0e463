//! KDBG parsing and decoding on arbitrary bytes: the first 24 bytes are decoding keys, the rest is
//! the block as it sits in memory (straddling a page boundary).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::kdbg::{Kdbg, KdbgKeys};
use ntkernel::memory::SparseMemory;

fuzz_target!(|data: &[u8]| {
    if data.len() < 24 {
        return;
    }
    let q = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().unwrap_or([0; 8]));
    let keys = KdbgKeys {
        wait_never: q(0),
        wait_always: q(8),
        data_block_encoded: q(16),
    };
    let block = &data[24..];
    let va = 0xfffff804_7c600f00u64;
    let mut m = SparseMemory::new();
    m.write(va, block);
    for is64 in [true, false] {
        if let Ok(k) = Kdbg::read(&m, va, Some(keys), is64) {
            for (name, _, _) in ntkernel::kdbg::FIELDS {
                let _ = k.field(name);
            }
        }
        let _ = Kdbg::read(&m, va, None, is64);
        if let Ok(k) = Kdbg::from_bytes(va, block, is64) {
            let _ = k.kernel_base();
            let _ = k.at(usize::MAX - 3, 8);
        }
    }
});
