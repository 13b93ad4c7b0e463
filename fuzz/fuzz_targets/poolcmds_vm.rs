//! Any bytes as the memory behind `!vm`'s sources: `MiSystemPartition`, `MiState` and a process
//! list on `PsActiveProcessHead` whose `_EPROCESS` blocks (19041 x64 offsets) are the input. The
//! figures, the paging files and the process walk (bounded, cycle-checked) may fail, never panic
//! or hang. The same bytes then stand behind a Server 2003 x86 target without symbols, whose process
//! list is read with the fallback `_EPROCESS` offsets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_sdk::{Arch, MemoryTarget, Source, TargetInfo};

/// Where each quarter of the input is mapped; the input's own pointers may point anywhere in them.
const BASES: [u64; 4] = [
    0xffff_f800_1000_0000,
    0xffff_f800_2000_0000,
    0xffff_9000_0000_0000,
    0xffff_9000_0001_0000,
];

fuzz_target!(|data: &[u8]| {
    let e = Source::EmbeddedProfile;
    let info = TargetInfo {
        arch: Arch::X64,
        build: 19041,
        pointer_size: 8,
        ..Default::default()
    };
    let mut t = MemoryTarget::new(info)
        .with_symbol("MiSystemPartition", BASES[0], e)
        .with_symbol("MiState", BASES[1], e)
        .with_symbol("PsActiveProcessHead", BASES[2], e)
        .with_field("_MI_PARTITION", "Vp", 0x100, None, e)
        .with_field("_MI_SYSTEM_INFORMATION", "Vs", 0x100, None, e)
        .with_field("_MI_SYSTEM_INFORMATION", "Pools", 0, None, e)
        .with_field("_MMPFNLIST", "Total", 0, None, e)
        .with_field("_MMPAGING_FILE", "Size", 0, None, e)
        .with_field("_MMPAGING_FILE", "MaximumSize", 8, None, e)
        .with_field("_MMPAGING_FILE", "MinimumSize", 0x10, None, e)
        .with_field("_MMPAGING_FILE", "FreeSpace", 0x18, None, e)
        .with_field("_MMPAGING_FILE", "PageFileName", 0x60, None, e)
        .with_field("_EPROCESS", "UniqueProcessId", 0x440, None, e)
        .with_field("_EPROCESS", "ActiveProcessLinks", 0x448, None, e)
        .with_field("_EPROCESS", "ImageFileName", 0x5a8, None, e)
        .with_field("_EPROCESS", "CommitCharge", 0x648, None, e)
        .with_field("_EPROCESS", "SharedCommitCharge", 0x928, None, e);
    for (f, o) in [
        ("NumberOfPhysicalPages", 0x10),
        ("NumberOfPagingFiles", 0x18),
        ("PagingFile", 0x20),
        ("AvailablePages", 0xc0),
        ("TotalCommittedPages", 0x228),
        ("ModifiedPageListHead", 0x240),
        ("TotalCommitLimit", 0x2a8),
        ("SharedCommit", 0x2c8),
    ] {
        t = t.with_field("_MI_VISIBLE_PARTITION", f, o, None, e);
    }
    for (f, o) in [
        ("SystemPteInfo", 0x40),
        ("NonPagedPoolCommit", 0xa0),
        ("DriverCommit", 0xd0),
        ("PagedPoolInfo", 0x18),
    ] {
        t = t.with_field("_MI_VISIBLE_STATE", f, o, None, e);
    }
    t = t
        .with_field("_MI_SYSTEM_PTE_TYPE", "TotalFreeSystemPtes", 0x58, None, e)
        .with_field("_MM_PAGED_POOL_INFO", "AllocatedPagedPool", 0x10, None, e)
        .with_field("_MI_POOL_STATE", "AllocatedNonPagedPool", 8, None, e);
    let quarter = data.len().div_ceil(4).max(1);
    for (base, chunk) in BASES.iter().zip(data.chunks(quarter)) {
        t = t.with_virtual(*base, chunk);
    }
    for flags in [0, 1] {
        if let Ok(rep) = poolcmds::vm::vm(&t, flags) {
            let _ = (rep.text().len(), rep.summary(), rep.row());
        }
    }
    // The same bytes behind a Server 2003 x86 target without symbols: the process list is read
    // with `EPROCESS_FALLBACK`'s offsets and checked as it goes (names, back links).
    let info = TargetInfo {
        arch: Arch::X86,
        build: 3790,
        pointer_size: 4,
        ..Default::default()
    };
    let k = Source::Kdbg;
    let mut t = MemoryTarget::new(info)
        .with_symbol("MmAvailablePages", 0x8050_0000, k)
        .with_symbol("PsActiveProcessHead", 0x8055_0000, k);
    for (base, chunk) in [0x8050_0000u64, 0x8055_0000, 0x8200_0000, 0x8201_0000]
        .iter()
        .zip(data.chunks(quarter))
    {
        t = t.with_virtual(*base, chunk);
    }
    if let Ok(rep) = poolcmds::vm::vm(&t, 0) {
        let _ = (rep.text(), rep.text_verbose(), rep.summary());
    }
});
