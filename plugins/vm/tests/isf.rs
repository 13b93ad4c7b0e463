//! Every real ISF (shared/data/isf) has the fields `!vm` reads for its version: the paging files
//! on every build; the Windows 10/11 counters of `_MI_VISIBLE_PARTITION` / `_MI_VISIBLE_STATE`
//! that the embedded profiles now carry; and the `_EPROCESS` fields of the process table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use testdata::isf::{Isf, index};

#[test]
fn every_isf_has_the_fields_vm_reads() {
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
        for f in [
            "UniqueProcessId",
            "ActiveProcessLinks",
            "ImageFileName",
            "CommitCharge",
        ] {
            assert!(off("_EPROCESS", f).is_some(), "{build}: _EPROCESS.{f}");
        }
        assert!(isf.symbol_rva("PsActiveProcessHead").is_some(), "{build}");
        if build < 10240 {
            // Windows 7 / 8.1: the old globals.
            for g in [
                "MmNumberOfPagingFiles",
                "MmPagingFile",
                "MiSystemPteInfo",
                "MmSpecialPagesInUse",
                "MmTotalPagesForPagingFile",
                "MmProcessCommit",
            ] {
                assert!(isf.symbol_rva(g).is_some(), "{build}: {g}");
            }
            continue;
        }
        assert!(off("_EPROCESS", "SharedCommitCharge").is_some(), "{build}");
        for f in [
            "NumberOfPagingFiles",
            "PagingFile",
            "TotalPagesForPagingFile",
            "ModifiedNoWritePageListHead",
            "ProcessLockedFilePages",
        ] {
            assert!(off("_MI_VISIBLE_PARTITION", f).is_some(), "{build}: Vp.{f}");
        }
        for f in [
            "SystemPteInfo",
            "MaximumNonPagedPoolInPages",
            "SizeOfPagedPoolInPages",
            "PagedPoolInfo",
            "NonPagedPoolCommit",
            "BootCommit",
            "MdlPagesAllocated",
            "SystemPageTableCommit",
            "DriverCommit",
            "PagefileHashPages",
        ] {
            assert!(off("_MI_VISIBLE_STATE", f).is_some(), "{build}: Vs.{f}");
        }
        // The counters with no established source stay so: no global of these names exists.
        assert!(
            isf.symbol_rva("MmSystemLockPagesCount").is_none(),
            "{build}"
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}
