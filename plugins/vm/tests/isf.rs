//! pooldbg-vm's fallback offsets (`MI_VISIBLE_STATE_X64`) equal the real ISF facts of every build
//! in the index, and every Windows 10/11 ISF has the `_MMPAGING_FILE` / `_MI_VISIBLE_PARTITION`
//! fields the page-file lines read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pooldbg_vm::MI_VISIBLE_STATE_X64;
use testdata::isf::{Isf, index};

#[test]
fn fallback_table_matches_every_isf() {
    let Some(index) = index() else { return };
    let mut checked = 0;
    for e in &index {
        let isf = Isf::load(&e.path).unwrap();
        let build = e.build();
        let off = |t: &str, f: &str| isf.field(t, f).map(|x| x.offset);
        for f in [
            "Size",
            "MaximumSize",
            "MinimumSize",
            "FreeSpace",
            "PageFileName",
        ] {
            assert!(off("_MMPAGING_FILE", f).is_some(), "{build}: {f}");
        }
        assert!(off("_MI_SYSTEM_PTE_TYPE", "TotalFreeSystemPtes").is_some());
        if build < 10240 {
            // Windows 7 / 8.1: the old globals.
            for g in [
                "MmNumberOfPagingFiles",
                "MmPagingFile",
                "MiSystemPteInfo",
                "MmSpecialPagesInUse",
            ] {
                assert!(isf.symbol_rva(g).is_some(), "{build}: {g}");
            }
            continue;
        }
        let row = MI_VISIBLE_STATE_X64
            .iter()
            .find(|r| r.0 == build)
            .unwrap_or_else(|| panic!("build {build} is not in MI_VISIBLE_STATE_X64"));
        assert_eq!(
            off("_MI_VISIBLE_STATE", "SystemPteInfo"),
            Some(row.1),
            "{build}"
        );
        assert_eq!(
            off("_MI_SYSTEM_PTE_TYPE", "TotalFreeSystemPtes"),
            Some(row.2),
            "{build}"
        );
        assert_eq!(
            off("_MI_VISIBLE_STATE", "SpecialPagesInUse"),
            row.3,
            "{build}"
        );
        assert!(off("_MI_VISIBLE_PARTITION", "NumberOfPagingFiles").is_some());
        assert!(off("_MI_VISIBLE_PARTITION", "PagingFile").is_some());
        assert!(
            isf.symbol_rva("MmSystemLockPagesCount").is_none(),
            "{build}"
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}
