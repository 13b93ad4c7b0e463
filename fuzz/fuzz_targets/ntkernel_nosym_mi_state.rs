//! The `MiState`, `MiSystemPartition` and `ExPoolState` searches of `ntkernel::nosym` on arbitrary
//! memory (near misses of each: decoy regions, page counts, heap signatures): the
//! first 0x30 bytes are six big-page `Va`s (0: none), then the pages of the dump's runs (0: not
//! exact) and its end page, then a kernel data section. They end, never panic, and a place they
//! return lies in the section and passes the checks again (for `MiState`: its pool regions hold
//! the big allocations; for the partition: its page count equals the dump's). The kernel's
//! `MmPhysicalMemoryBlock` decoder reads the section's first word as the global.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::memory::{KernelMemory, SparseMemory};
use ntkernel::nosym::{
    MAX_PHYSICAL_RUNS, MiStateLayout, PartitionLayout, PhysicalFacts, PoolStateLayout,
    SEGMENT_HEAP_SIGNATURE, find_mi_state, find_pool_state, find_system_partition,
    physical_from_memory_block,
};

const DATA: u64 = 0xfffff804_7be00000;

fn u64_at(d: &[u8], o: usize) -> u64 {
    d.get(o..o + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 0x40 + 8 {
        return;
    }
    let section = &data[0x40..data.len().min(0x40 + 0x8000)];
    let mut m = SparseMemory::new();
    m.write(DATA, section);
    let ranges = [(DATA, DATA + section.len() as u64)];
    let vas: Vec<u64> = (0..6).map(|i| u64_at(data, 8 * i)).filter(|&v| v != 0).collect();
    // The 1607..19041 indexes (0, 1) and the 20348+ ones (1, 2).
    for (nonpaged, paged) in [(0, 1), (1, 2)] {
        let l = MiStateLayout {
            regions: 0x1c0,
            entry: 0x10,
            base: 0,
            bytes: 8,
            nonpaged,
            paged,
        };
        if let Ok(found) = find_mi_state(&m, &ranges, l, &vas) {
            assert!(found.va >= DATA && found.va < ranges[0].1);
            let mut b = [0u8; 16];
            let e = found.va + 0x1c0 + 0x10 * nonpaged;
            assert!(m.read_virtual(e, &mut b).is_ok());
        }
    }
    // ExPoolState: the section's own words may point at heaps inside it.
    let image = (DATA - 0x40_0000, 0x80_0000);
    let pl = PoolStateLayout {
        number_of_pools: 0x8,
        pool_node: 0xc0,
        node_heaps: 0x20,
        heap_signature: 0x10,
    };
    if let Ok(found) = find_pool_state(&m, &ranges, image.0, image.1, pl) {
        // What it returns holds at least two heaps with the signature.
        let signed = (0..4u64)
            .filter(|k| {
                let mut b = [0u8; 8];
                let mut s = [0u8; 4];
                m.read_virtual(found.va + 0xc0 + 0x20 + 8 * k, &mut b).is_ok()
                    && m.read_virtual(u64::from_le_bytes(b).wrapping_add(0x10), &mut s).is_ok()
                    && u32::from_le_bytes(s) == SEGMENT_HEAP_SIGNATURE
            })
            .count();
        assert!(signed >= 2);
    }
    let pages = u64_at(data, 0x30);
    let phys = PhysicalFacts {
        pages: (pages != 0).then_some(pages),
        end_pfn: u64_at(data, 0x38),
    };
    let l = PartitionLayout {
        vp: 0x1b00,
        lowest: 0,
        highest: 8,
        number: 0x10,
        paging_files: 0x18,
        paging_file: 0x20,
        available: 0xc0,
        resident: 0x100,
        modified: 0x240,
        committed: 0x228,
        commit_limit: 0x2a8,
    };
    if let Ok(found) = find_system_partition(&m, &ranges, l, phys) {
        assert!(found.va >= DATA && found.va < ranges[0].1);
        let mut b = [0u8; 8];
        assert!(m.read_virtual(found.va + 0x1b00 + 0x10, &mut b).is_ok());
        let n = u64::from_le_bytes(b);
        if let Some(p) = phys.pages {
            assert_eq!(n, p);
        }
        assert!(n > 0);
    }
    // The kernel's MmPhysicalMemoryBlock: the section's first word as the global, pointing
    // anywhere (into the section: a descriptor made of its bytes). What validates is bounded by
    // the dump's end page and sums exactly.
    if let Ok(b) = physical_from_memory_block(&m, DATA, u64_at(data, 0x38)) {
        assert!(b.runs >= 1 && b.runs <= MAX_PHYSICAL_RUNS);
        assert!(b.facts.end_pfn <= u64_at(data, 0x38));
        let pages = b.facts.pages.unwrap_or(0);
        assert!(pages > 0 && pages <= b.facts.end_pfn);
    }
});
