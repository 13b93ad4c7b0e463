//! The real triage dump's decoded KDBG copy, found by its OwnerTag (no dump-header parsing here:
//! the end-to-end test with the header, 16 processors and the 151-module driver list belongs to the
//! adapter over `dumpfile`). Facts checked come from shared/data/dumps/README.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pooldbg_ntkernel::kdbg::Kdbg;
use pooldbg_ntkernel::memory::SparseMemory;
use pooldbg_ntkernel::symbols::Source;
use pooldbg_ntkernel::{Arch, DumpFacts, Kernel, SymbolOptions, profile};

/// KdDebuggerDataBlock of the dump (README).
const KDBG_VA: u64 = 0xfffff804_7c600b20;

#[test]
fn the_real_triage_kdbg_copy_parses_and_points_where_the_readme_says() {
    let Some(path) = testdata::require("data/dumps/triage_x64.dmp") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    // The block: "KDBG" at +0x10 followed by Size 0x380.
    let at = bytes
        .windows(8)
        .position(|w| w == b"KDBG\x80\x03\x00\x00")
        .expect("KDBG copy")
        - 0x10;
    let copy = &bytes[at..at + 0x380];
    let k = Kdbg::from_bytes(KDBG_VA, copy, true).unwrap();
    assert_eq!(k.size, 0x380);
    assert_eq!(k.kernel_base(), Some(0xfffff804_7ba00000));
    assert_eq!(k.field("PoolTrackTable"), Some(0xfffff804_7c6168a8));
    assert_eq!(k.field("PteBase"), Some(0xfffffd80_00000000));
    assert_eq!(k.field("PsLoadedModuleList"), Some(0xfffff804_7c62a390));
    // Every embedded 19041 profile puts KdDebuggerDataBlock at KDBG - KernBase.
    let rva = KDBG_VA - k.kernel_base().unwrap();
    let builds: Vec<_> = profile::embedded()
        .iter()
        .filter(|p| p.build == 19041 && p.pdb.is_some())
        .collect();
    assert_eq!(builds.len(), 4);
    assert!(
        builds
            .iter()
            .all(|p| p.table.globals.get("KdDebuggerDataBlock") == Some(&rva))
    );

    // Through Kernel::open, with the copy as the dump's KDBG and the block's page as memory: the
    // build is given as the header would, the guess from 19041 validates its KDBG RVA.
    let mut mem = SparseMemory::new();
    mem.write(KDBG_VA, copy);
    let facts = DumpFacts {
        arch: Some(Arch::X64),
        build: Some(19041),
        kdbg_va: Some(KDBG_VA),
        kdbg_copy: Some((KDBG_VA, copy.to_vec())),
        dump_type: Some("triage".into()),
        ..Default::default()
    };
    let kn = Kernel::open(&mem, &facts, &SymbolOptions::default()).unwrap();
    assert_eq!(kn.identity.pdb, None);
    assert_eq!(kn.identity.kernel_base, Some(0xfffff804_7ba00000));
    let notes = kn.symbol_notes.join("\n");
    assert!(
        notes.contains("symbols: guessed from 10.0.19041."),
        "{notes}"
    );
    assert!(
        !notes.contains("rejected guess KdDebuggerDataBlock"),
        "{notes}"
    );
    let g = kn.global_va("PoolTrackTable").unwrap();
    assert_eq!((g.value, g.source), (0xfffff804_7c6168a8, Source::Kdbg));
    let g = kn.global_va("KdDebuggerDataBlock").unwrap();
    assert_eq!(g.value, KDBG_VA);
    assert!(g.source.is_guess());
}
