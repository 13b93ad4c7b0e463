//! testkit's per-build tables checked against the real ISF files (shared/data/isf): every global RVA,
//! the PDB identity, and every structure offset the builder writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use pooldbg_testkit::profile::{
    BigKind, BitmapRef, DescCounters, Globals, PROFILES, PoolHeaderKind, Profile, SegHeapLayout,
    VmSource,
};
use testdata::isf::{Isf, index};

fn load(p: &Profile) -> Option<Isf> {
    let idx = index()?;
    let e = idx
        .iter()
        .find(|e| e.version == p.file_version)
        .unwrap_or_else(|| panic!("{}: {} not in INDEX.txt", p.name, p.file_version));
    Some(Isf::load(&e.path).unwrap())
}

fn off(isf: &Isf, ty: &str, field: &str) -> u64 {
    isf.field(ty, field)
        .unwrap_or_else(|| panic!("{ty}.{field} missing from the ISF"))
        .offset
}

fn size(isf: &Isf, ty: &str) -> u64 {
    isf.type_size(ty).unwrap_or_else(|| panic!("{ty} missing"))
}

#[test]
fn x64_profiles_match_their_isf() {
    let mut checked = 0;
    for p in PROFILES.iter().filter(|p| p.real_symbols) {
        let Some(isf) = load(p) else { return };
        checked += 1;
        let n = p.name;
        assert_eq!(isf.pdb(), Some((p.pdb_guid.to_string(), p.pdb_age)), "{n}");

        let Globals::Real(globals) = p.globals else {
            panic!("{n}: real profile with synthetic globals")
        };
        for (name, rva) in globals {
            assert_eq!(isf.symbol_rva(name), Some(*rva), "{n}: RVA of {name}");
        }
        assert!(
            p.image_size > globals.iter().map(|g| g.1).max().unwrap() + 0x1000,
            "{n}: image covers its globals"
        );

        // _POOL_HEADER: x64 byte layout.
        assert_eq!(size(&isf, "_POOL_HEADER"), 16);
        assert_eq!(p.header, PoolHeaderKind::X64);
        for (field, byte) in [
            ("PreviousSize", 0),
            ("PoolIndex", 1),
            ("BlockSize", 2),
            ("PoolType", 3),
        ] {
            let f = isf.field("_POOL_HEADER", field).unwrap();
            let bits = f.bits.unwrap();
            assert_eq!(
                f.offset + u64::from(bits.position / 8),
                byte,
                "{n}: {field}"
            );
            assert_eq!(bits.length, 8);
        }
        assert_eq!(off(&isf, "_POOL_HEADER", "PoolTag"), 4);

        // _POOL_TRACKER_TABLE.
        let t = p.tracker;
        assert_eq!(size(&isf, "_POOL_TRACKER_TABLE"), t.size, "{n}");
        for (field, f) in [
            ("Key", t.key),
            ("NonPagedAllocs", t.np_allocs),
            ("NonPagedFrees", t.np_frees),
            ("NonPagedBytes", t.np_bytes),
            ("PagedAllocs", t.p_allocs),
            ("PagedFrees", t.p_frees),
            ("PagedBytes", t.p_bytes),
        ] {
            assert_eq!(
                off(&isf, "_POOL_TRACKER_TABLE", field),
                f.off,
                "{n}: {field}"
            );
        }

        // _POOL_TRACKER_BIG_PAGES.
        let b = p.big;
        assert_eq!(size(&isf, "_POOL_TRACKER_BIG_PAGES"), b.size, "{n}");
        assert_eq!(off(&isf, "_POOL_TRACKER_BIG_PAGES", "Va"), b.va.off);
        assert_eq!(off(&isf, "_POOL_TRACKER_BIG_PAGES", "Key"), b.key.off);
        match b.kind {
            BigKind::TypeBytes(ty, nb) => {
                let f = isf.field("_POOL_TRACKER_BIG_PAGES", "PoolType").unwrap();
                assert_eq!((f.offset, f.bits), (ty.off, None), "{n}");
                assert_eq!(
                    off(&isf, "_POOL_TRACKER_BIG_PAGES", "NumberOfBytes"),
                    nb.off
                );
            }
            BigKind::Win10(ty, nb) => {
                let f = isf.field("_POOL_TRACKER_BIG_PAGES", "PoolType").unwrap();
                let bits = f.bits.unwrap();
                assert_eq!(
                    (f.offset, bits.position, bits.length),
                    (ty.off, 8, 12),
                    "{n}"
                );
                assert_eq!(
                    off(&isf, "_POOL_TRACKER_BIG_PAGES", "NumberOfBytes"),
                    nb.off
                );
            }
            BigKind::Pages(_) => panic!("{n}: no NumberOfPages in x64 Vista+"),
        }

        // _POOL_DESCRIPTOR.
        if let Some(l) = p.pool.segment_heap() {
            check_segment_heap(&isf, n, l);
            assert!(p.descriptor.is_none(), "{n}");
        }
        if b.size == 0x20 {
            assert_eq!(off(&isf, "_POOL_TRACKER_BIG_PAGES", "ProcessBilled"), 0x18);
        }
        let Some(d) = p.descriptor else {
            assert!(isf.type_size("_POOL_DESCRIPTOR").is_none(), "{n}");
            assert!(isf.symbol_rva("ExPoolState").is_some(), "{n}");
            check_tail(&isf, p);
            continue;
        };
        assert_eq!(size(&isf, "_POOL_DESCRIPTOR"), d.size, "{n}");
        assert_eq!(off(&isf, "_POOL_DESCRIPTOR", "PoolType"), d.pool_type.off);
        assert_eq!(off(&isf, "_POOL_DESCRIPTOR", "PoolIndex"), d.pool_index.off);
        assert_eq!(off(&isf, "_POOL_DESCRIPTOR", "ListHeads"), d.list_heads);
        let counters: Vec<(&str, u64)> = match d.counters {
            DescCounters::Classic {
                running_allocs,
                running_deallocs,
                total_pages,
                total_big_pages,
                total_bytes,
            } => vec![
                ("RunningAllocs", running_allocs.off),
                ("RunningDeAllocs", running_deallocs.off),
                ("TotalPages", total_pages.off),
                ("TotalBigPages", total_big_pages.off),
                ("TotalBytes", total_bytes.unwrap().off),
            ],
            DescCounters::Win10 {
                running_allocs,
                pages_allocated,
                big_pages_allocated,
                bytes_allocated,
                running_deallocs,
                pages_deallocated,
                big_pages_deallocated,
                bytes_deallocated,
            } => vec![
                ("RunningAllocs", running_allocs.off),
                ("PagesAllocated", pages_allocated.off),
                ("BigPagesAllocated", big_pages_allocated.off),
                ("BytesAllocated", bytes_allocated.off),
                ("RunningDeallocs", running_deallocs.off),
                ("PagesDeallocated", pages_deallocated.off),
                ("BigPagesDeallocated", big_pages_deallocated.off),
                ("BytesDeallocated", bytes_deallocated.off),
            ],
        };
        for (field, o) in counters {
            assert_eq!(off(&isf, "_POOL_DESCRIPTOR", field), o, "{n}: {field}");
        }
        let lh =
            isf.json()["user_types"]["_POOL_DESCRIPTOR"]["fields"]["ListHeads"]["type"]["count"]
                .as_u64();
        assert_eq!(lh, Some(d.list_count));

        check_tail(&isf, p);
    }
    assert!(checked == 0 || checked == 7, "seven real x64 profiles");
}

#[test]
fn self_map_rule_follows_the_release() {
    for p in PROFILES
        .iter()
        .filter(|p| p.arch == pooldbg_testkit::Arch::X64)
    {
        let randomised = p.self_map == pooldbg_testkit::profile::SelfMap::Randomised;
        assert_eq!(randomised, p.build >= 14393, "{}", p.name);
    }
}

#[test]
fn pool_globals_keep_the_distances_readers_rely_on() {
    // Volatility 2: PoolTrackTableSize is the pointer right before PoolTrackTable (pooltracker.py),
    // PoolBigPageTable / PoolBigPageTableSize sit at per-version distances below it
    // (bigpagepools.py distance_map: (5,1,32) [8,12], (5,2,32) [24,28], (5,2,64) [48,56],
    // (6,1,64) [40,48]).
    for p in PROFILES {
        let ptt = p.global_rva("PoolTrackTable").unwrap();
        let ptr = p.arch.ptr_size();
        let d = |n: &str| ptt as i64 - p.global_rva(n).unwrap() as i64;
        if p.build < 9600 {
            assert_eq!(d("PoolTrackTableSize"), ptr as i64, "{}", p.name);
        }
        let want = match (p.major, p.minor, ptr) {
            (5, 0 | 1, 4) => Some((8, 12)),
            (5, 2, 4) => Some((24, 28)),
            (5, 2, 8) => Some((48, 56)),
            (6, 1, 8) => Some((40, 48)),
            _ => None,
        };
        if let Some(w) = want {
            assert_eq!(
                (d("PoolBigPageTable"), d("PoolBigPageTableSize")),
                w,
                "{}",
                p.name
            );
        }
    }
}

/// The checks every real profile shares: paged pool info, loader entry, KUSER_SHARED_DATA,
/// DBGKD_GET_VERSION64, software PTEs, `!vm` sources.
fn check_tail(isf: &Isf, p: &Profile) {
    let n = p.name;
    // _MM_PAGED_POOL_INFO.
    match p.paged_info {
        Some(info) => {
            assert_eq!(size(isf, "_MM_PAGED_POOL_INFO"), info.size, "{n}");
            let (o, ty) = match info.bitmap {
                BitmapRef::Embedded(o) => (o, "_RTL_BITMAP"),
                BitmapRef::EmbeddedEx(o) => (o, "_RTL_BITMAP_EX"),
                BitmapRef::Pointer(_) => panic!("{n}"),
            };
            assert_eq!(off(isf, "_MM_PAGED_POOL_INFO", "PagedPoolAllocationMap"), o);
            let fty = &isf.json()["user_types"]["_MM_PAGED_POOL_INFO"]["fields"]["PagedPoolAllocationMap"]
                ["type"]["name"];
            assert_eq!(fty.as_str(), Some(ty), "{n}");
            assert_eq!(
                off(isf, "_MM_PAGED_POOL_INFO", "AllocatedPagedPool"),
                info.allocated.off
            );
            if let Some(c) = info.commit {
                assert_eq!(off(isf, "_MM_PAGED_POOL_INFO", "PagedPoolCommit"), c.off);
            }
            if let Some(m) = info.maximum_size {
                assert_eq!(off(isf, "_MM_PAGED_POOL_INFO", "MaximumSize"), m.off);
            }
            assert!(isf.symbol_rva("MmPagedPoolInfo").is_some());
        }
        None => assert!(isf.symbol_rva("MmPagedPoolInfo").is_none(), "{n}"),
    }

    // _LDR_DATA_TABLE_ENTRY.
    let l = p.ldr;
    assert_eq!(size(isf, "_LDR_DATA_TABLE_ENTRY"), l.size, "{n}");
    for (field, o) in [
        ("DllBase", l.dll_base),
        ("EntryPoint", l.entry_point),
        ("SizeOfImage", l.size_of_image),
        ("FullDllName", l.full_name),
        ("BaseDllName", l.base_name),
    ] {
        assert_eq!(off(isf, "_LDR_DATA_TABLE_ENTRY", field), o, "{n}: {field}");
    }
    assert_eq!(off(isf, "_UNICODE_STRING", "Buffer"), 8);

    // KUSER_SHARED_DATA fields the builder writes.
    for (field, o) in [
        ("SystemTime", 0x14),
        ("NtSystemRoot", 0x30),
        ("NtProductType", 0x264),
        ("NtMajorVersion", 0x26c),
        ("NtMinorVersion", 0x270),
    ] {
        assert_eq!(off(isf, "_KUSER_SHARED_DATA", field), o, "{n}: {field}");
    }
    if let Some(f) = isf.field("_KUSER_SHARED_DATA", "NtBuildNumber") {
        assert_eq!(f.offset, 0x260);
    }

    // _DBGKD_GET_VERSION64.
    for (field, o) in [
        ("MajorVersion", 0),
        ("MinorVersion", 2),
        ("Flags", 6),
        ("MachineType", 8),
        ("KernBase", 0x10),
        ("PsLoadedModuleList", 0x18),
        ("DebuggerDataList", 0x20),
    ] {
        assert_eq!(off(isf, "_DBGKD_GET_VERSION64", field), o, "{n}: {field}");
    }

    // Software PTEs.
    let bit = |ty: &str, f: &str| isf.field(ty, f).unwrap().bits.unwrap().position;
    assert_eq!(
        bit("_MMPTE_SOFTWARE", "PageFileLow"),
        p.page_file_low_bit,
        "{n}"
    );
    assert_eq!(bit("_MMPTE_SOFTWARE", "Protection"), 5);
    assert_eq!(bit("_MMPTE_SOFTWARE", "Prototype"), 10);
    assert_eq!(bit("_MMPTE_SOFTWARE", "Transition"), 11);
    assert_eq!(bit("_MMPTE_SOFTWARE", "PageFileHigh"), 32);
    assert_eq!(bit("_MMPTE_TRANSITION", "PageFrameNumber"), 12);
    assert_eq!(bit("_MMPTE_TRANSITION", "Transition"), 11);

    // !vm sources.
    match p.vm {
        VmSource::Globals => {
            for g in [
                "MmNumberOfPhysicalPages",
                "MmAvailablePages",
                "MmAllocatedNonPagedPool",
            ] {
                assert!(isf.symbol_rva(g).is_some(), "{n}: {g}");
            }
            assert_eq!(off(isf, "_MMPFNLIST", "Total"), 0);
        }
        VmSource::Partition {
            vp,
            physical,
            available,
            resident,
            modified,
            shared_commit,
            committed,
            commit_limit,
            allocated_nonpaged,
        } => {
            assert!(isf.symbol_rva("MmAvailablePages").is_none(), "{n}");
            assert_eq!(off(isf, "_MI_PARTITION", "Vp"), vp, "{n}");
            let v = "_MI_VISIBLE_PARTITION";
            assert_eq!(off(isf, v, "NumberOfPhysicalPages"), physical);
            assert_eq!(off(isf, v, "AvailablePages"), available);
            assert_eq!(off(isf, v, "ResidentAvailablePages"), resident);
            assert_eq!(
                off(isf, v, "ModifiedPageListHead") + off(isf, "_MMPFNLIST", "Total"),
                modified
            );
            assert_eq!(
                isf.field(v, "SharedCommit").map(|f| f.offset),
                shared_commit,
                "{n}"
            );
            assert_eq!(off(isf, v, "TotalCommittedPages"), committed);
            assert_eq!(off(isf, v, "TotalCommitLimit"), commit_limit);
            assert_eq!(
                off(isf, "_MI_SYSTEM_INFORMATION", "Pools")
                    + off(isf, "_MI_POOL_STATE", "AllocatedNonPagedPool"),
                allocated_nonpaged,
                "{n}"
            );
        }
    }
}

/// The segment-heap offsets testkit writes, against the build's ISF.
fn check_segment_heap(isf: &Isf, n: &str, l: &SegHeapLayout) {
    let st = "_EX_POOL_HEAP_MANAGER_STATE";
    assert_eq!(size(isf, st), l.state_size, "{n}");
    assert_eq!(off(isf, st, "HeapManager"), 0);
    assert_eq!(off(isf, "_RTLP_HP_HEAP_MANAGER", "Globals"), 0);
    assert_eq!(
        isf.json()["user_types"]["_RTLP_HP_HEAP_MANAGER"]["fields"]["Globals"]["type"]["kind"]
            .as_str(),
        Some("pointer"),
        "{n}: Globals is a pointer to RtlpHpHeapGlobals"
    );
    assert_eq!(off(isf, st, "NumberOfPools"), l.number_of_pools, "{n}");
    assert_eq!(off(isf, st, "PoolNode"), l.pool_node, "{n}");
    assert_eq!(off(isf, st, "SpecialHeaps"), l.special_heaps, "{n}");
    assert_eq!(size(isf, "_EX_HEAP_POOL_NODE"), l.pool_node_size, "{n}");
    assert_eq!(off(isf, "_EX_HEAP_POOL_NODE", "Heaps"), 0);
    assert_eq!(off(isf, "_RTLP_HP_HEAP_GLOBALS", "HeapKey"), 0);
    assert_eq!(off(isf, "_RTLP_HP_HEAP_GLOBALS", "LfhKey"), l.lfh_key);
    assert!(isf.symbol_rva("RtlpHpHeapGlobals").is_some(), "{n}");
    let h = "_SEGMENT_HEAP";
    assert_eq!(size(isf, h), l.heap_size, "{n}");
    for (f, o) in [
        ("Signature", l.heap_signature),
        ("MemStats", l.heap_mem_stats),
        ("SegContexts", l.seg_contexts),
        ("VsContext", l.vs_context),
        ("LfhContext", l.lfh_context),
    ] {
        assert_eq!(off(isf, h, f), o, "{n}: {h}.{f}");
    }
    for (f, o) in [("TotalReservedPages", 0), ("TotalCommittedPages", 8)] {
        assert_eq!(off(isf, "_HEAP_RUNTIME_MEMORY_STATS", f), o, "{n}: {f}");
    }
    let c = "_HEAP_SEG_CONTEXT";
    assert_eq!(size(isf, c), l.seg_context_size, "{n}");
    for (f, o) in [
        ("SegmentMask", 0),
        ("UnitShift", l.seg_unit_shift),
        ("PagesPerUnitShift", l.seg_pages_per_unit_shift),
        ("FirstDescriptorIndex", l.seg_first_descriptor_index),
        ("LfhContext", l.seg_lfh_context),
        ("VsContext", l.seg_vs_context),
        ("Heap", l.seg_heap),
        ("SegmentListHead", l.seg_segment_list_head),
        ("SegmentCount", l.seg_segment_count),
    ] {
        assert_eq!(off(isf, c, f), o, "{n}: {c}.{f}");
    }
    assert_eq!(
        off(isf, "_HEAP_VS_CONTEXT", "SubsegmentList"),
        l.vs_subsegment_list
    );
    assert_eq!(
        off(isf, "_HEAP_VS_CONTEXT", "TotalCommittedUnits"),
        l.vs_total_committed_units
    );
    let ps = "_HEAP_PAGE_SEGMENT";
    assert_eq!(size(isf, ps), l.page_segment_size, "{n}");
    assert_eq!(off(isf, ps, "ListEntry"), 0);
    assert_eq!(off(isf, ps, "Signature"), l.page_segment_signature);
    assert_eq!(off(isf, ps, "DescArray"), 0);
    let r = "_HEAP_PAGE_RANGE_DESCRIPTOR";
    assert_eq!(size(isf, r), l.range_size, "{n}");
    assert_eq!(
        size(isf, ps) / size(isf, r),
        256,
        "{n}: DescArray[256] covers the header"
    );
    assert_eq!(off(isf, r, "RangeFlags"), l.range_flags);
    assert_eq!(off(isf, r, "CommittedPageCount"), l.range_committed_pages);
    assert_eq!(off(isf, r, "UnitSize"), l.range_unit_size);
    assert_eq!(off(isf, r, "UnitOffset"), l.range_unit_size);
    let v = "_HEAP_VS_SUBSEGMENT";
    assert_eq!(size(isf, v), l.vs_subsegment_size, "{n}");
    assert_eq!(off(isf, v, "CommitBitmap"), 0x10);
    assert_eq!(off(isf, v, "Size"), l.vs_sub_size);
    let sig = isf.field(v, "Signature").unwrap();
    assert_eq!(sig.offset, l.vs_sub_signature);
    let bits = sig.bits.unwrap();
    assert_eq!((bits.position, bits.length), (0, 15), "{n}");
    let ch = "_HEAP_VS_CHUNK_HEADER";
    assert_eq!(size(isf, ch), l.vs_chunk_header_size, "{n}");
    assert_eq!(off(isf, ch, "EncodedSegmentPageOffset"), 8);
    let hs = "_HEAP_VS_CHUNK_HEADER_SIZE";
    for (f, byte_off, pos, len) in [
        ("MemoryCost", 0, 0, 16),
        ("UnsafeSize", 0, 16, 16),
        ("UnsafePrevSize", 4, 0, 16),
        ("Allocated", 4, 16, 8),
    ] {
        let fl = isf.field(hs, f).unwrap();
        let b = fl.bits.unwrap();
        assert_eq!(
            (fl.offset, u64::from(b.position), u64::from(b.length)),
            (byte_off, pos, len),
            "{n}: {hs}.{f}"
        );
    }
    let lf = "_HEAP_LFH_SUBSEGMENT";
    for (f, o) in [
        ("ListEntry", 0),
        ("Owner", l.lfh_owner),
        ("FreeCount", l.lfh_free_count),
        ("BlockCount", l.lfh_block_count),
        ("BlockOffsets", l.lfh_block_offsets),
        ("BlockBitmap", l.lfh_block_bitmap),
    ] {
        assert_eq!(off(isf, lf, f), o, "{n}: {lf}.{f}");
    }
    let eo = "_HEAP_LFH_SUBSEGMENT_ENCODED_OFFSETS";
    assert_eq!(off(isf, eo, "BlockSize"), 0);
    assert_eq!(off(isf, eo, "FirstBlockOffset"), 2);
}

/// The pool-range sources the builder writes: the globals each build really has, and on 1607+
/// `MiState.Vs.SystemVaRegions[]` with the `_MI_ASSIGNED_REGION_TYPES` indexes of that build.
#[test]
fn pool_range_sources_match_the_isf() {
    let mut checked = 0;
    for p in PROFILES.iter().filter(|p| p.real_symbols) {
        let Some(isf) = load(p) else { return };
        checked += 1;
        let n = p.name;
        let has = |g: &str| isf.symbol_rva(g).is_some();
        match p.system_va_regions() {
            Some(sv) => {
                assert_eq!(off(&isf, "_MI_SYSTEM_INFORMATION", "Vs"), sv.vs, "{n}");
                assert_eq!(
                    off(&isf, "_MI_VISIBLE_STATE", "SystemVaRegions"),
                    sv.regions,
                    "{n}"
                );
                assert_eq!(size(&isf, "_MI_SYSTEM_VA_ASSIGNMENT"), 16, "{n}");
                assert_eq!(
                    off(&isf, "_MI_SYSTEM_VA_ASSIGNMENT", "NumberOfBytes"),
                    8,
                    "{n}"
                );
                let en = &isf.json()["enums"]["_MI_ASSIGNED_REGION_TYPES"]["constants"];
                assert_eq!(
                    en["AssignedRegionNonPagedPool"].as_u64(),
                    Some(sv.nonpaged),
                    "{n}"
                );
                assert_eq!(
                    en["AssignedRegionPagedPool"].as_u64(),
                    Some(sv.paged),
                    "{n}"
                );
                assert!(p.global_rva("MiState").is_some(), "{n}");
            }
            None => {
                // 7 / 8.1: every range global the build has is written, and no other.
                for g in [
                    "MmNonPagedPoolStart",
                    "MmNonPagedPoolEnd",
                    "MiNonPagedPoolEnd",
                    "MmPagedPoolStart",
                    "MiPagedPoolStart",
                    "MmPagedPoolEnd",
                ] {
                    assert_eq!(p.global_rva(g).is_some(), has(g), "{n}: {g}");
                }
            }
        }
    }
    assert!(checked == 0 || checked >= 7);
}
