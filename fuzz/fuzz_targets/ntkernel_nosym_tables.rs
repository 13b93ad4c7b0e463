//! The pool-table searches of `ntkernel::nosym` (tracker size, per-processor tables, big page
//! table) on arbitrary memory: the first 0x1000 bytes are a kernel data section, the rest the
//! memory its pointers may lead to. They end, never panic, and what they return holds its value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::memory::{KernelMemory, SparseMemory};
use ntkernel::nosym::{DataWords, PoolTableLayout, find_big_page_table, find_tag_tables, find_tracker_size};

const DATA: u64 = 0xfffff804_7be00000;
const HEAP: u64 = 0xffffa000_00000000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 0x1000 {
        return;
    }
    let mut m = SparseMemory::new();
    m.write(DATA, &data[..0x1000]);
    m.write(HEAP, &data[0x1000..]);
    let words = DataWords::collect(&m, &[(DATA, DATA + 0x1000)]);
    let var = DATA + 0x100;
    let mut b = [0u8; 8];
    let table = m.read_virtual(var, &mut b).map(|_| u64::from_le_bytes(b)).unwrap_or(HEAP);
    if let Ok(l) = find_tracker_size(&m, &words, var, table, 0x28) {
        assert!(l.value.is_power_of_two());
        let _ = find_tag_tables(&m, &words, var, table, l.value, 0x28);
    }
    for big_hash in [false, true] {
        let layout = PoolTableLayout {
            tracker_entry: 0x28,
            big_entry: 0x18,
            big_hash,
        };
        if let Ok((t, n)) = find_big_page_table(&m, &words, layout, &[table]) {
            assert!(n.value.is_power_of_two());
            assert_ne!(t.value, table);
        }
    }
});
