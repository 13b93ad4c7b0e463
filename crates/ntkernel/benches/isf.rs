//! Loading one real ISF file (`.json.xz`) and answering 50 lookups, against a baseline measured in
//! the same run: the same file's plain xz decompression plus `serde_json::from_slice` into a
//! `serde_json::Value` (what any ISF reader has to do at least). Also: parsing every embedded
//! profile. Run: `nice cargo bench -p pooldbg-ntkernel --bench isf`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;

use pooldbg_ntkernel::isf::IsfFile;
use pooldbg_ntkernel::profile::{Profile, embedded_files};

fn main() {
    divan::main();
}

fn isf_path() -> Option<PathBuf> {
    testdata::require("data/isf/windows/ntkrnlmp.pdb/BBED7C2955FBE4522AAA23F4B8677AD9-1.json.xz")
}

const GLOBALS: &[&str] = &[
    "PoolTrackTable",
    "PoolTrackTableSize",
    "PoolBigPageTable",
    "PoolBigPageTableSize",
    "ExPoolTagTables",
    "KdDebuggerDataBlock",
    "KiWaitNever",
    "KiWaitAlways",
    "KdpDataBlockEncoded",
    "MiSystemPartition",
    "MiState",
    "PsLoadedModuleList",
    "ExPoolState",
    "RtlpHpHeapGlobals",
    "MmPfnDatabase",
    "PoolHitTag",
    "ExpPoolQuotaCookie",
];

const FIELDS: &[(&str, &str)] = &[
    ("_POOL_HEADER", "BlockSize"),
    ("_POOL_HEADER", "PoolType"),
    ("_POOL_HEADER", "PoolTag"),
    ("_POOL_HEADER", "PreviousSize"),
    ("_POOL_TRACKER_TABLE", "Key"),
    ("_POOL_TRACKER_TABLE", "NonPagedBytes"),
    ("_POOL_TRACKER_TABLE", "PagedBytes"),
    ("_POOL_TRACKER_BIG_PAGES", "Va"),
    ("_POOL_TRACKER_BIG_PAGES", "NumberOfBytes"),
    ("_POOL_TRACKER_BIG_PAGES", "PoolType"),
    ("_EPROCESS", "Pcb.DirectoryTableBase"),
    ("_EPROCESS", "ActiveProcessLinks"),
    ("_MI_PARTITION", "Vp.AvailablePages"),
    ("_MI_PARTITION", "Vp.ResidentAvailablePages"),
    ("_MI_PARTITION", "Vp.TotalCommittedPages"),
    ("_MI_PARTITION", "Vp.TotalCommitLimit"),
    ("_MI_PARTITION", "Commit.PeakCommitment"),
    ("_MI_SYSTEM_INFORMATION", "Pools"),
    ("_KLDR_DATA_TABLE_ENTRY", "DllBase"),
    ("_KLDR_DATA_TABLE_ENTRY", "SizeOfImage"),
    ("_KLDR_DATA_TABLE_ENTRY", "BaseDllName"),
    ("_HEAP_VS_CHUNK_HEADER", "Sizes"),
    ("_SEGMENT_HEAP", "LfhContext"),
    ("_SEGMENT_HEAP", "VsContext"),
];

const TYPES: &[&str] = &[
    "_POOL_HEADER",
    "_POOL_TRACKER_TABLE",
    "_POOL_TRACKER_BIG_PAGES",
    "_EPROCESS",
    "_MMPFN",
    "_SEGMENT_HEAP",
    "_HEAP_LFH_SUBSEGMENT",
    "_KLDR_DATA_TABLE_ENTRY",
    "_MI_PARTITION",
];

/// 17 globals + 24 fields + 9 sizes = 50 lookups.
fn lookups(isf: &IsfFile) -> usize {
    let t = &isf.table;
    let mut found = 0;
    for g in GLOBALS {
        found += usize::from(t.globals.contains_key(*g));
    }
    for (ty, f) in FIELDS {
        found += usize::from(t.field(ty, f).is_some());
    }
    for ty in TYPES {
        found += usize::from(t.type_size(ty).is_some());
    }
    found
}

#[divan::bench(sample_count = 10)]
fn isf_load_and_50_lookups(b: divan::Bencher) {
    let Some(path) = isf_path() else { return };
    assert_eq!(GLOBALS.len() + FIELDS.len() + TYPES.len(), 50);
    b.bench(|| {
        let isf = IsfFile::load(&path).unwrap();
        divan::black_box(lookups(&isf))
    });
}

#[divan::bench(sample_count = 10)]
fn baseline_xz_then_serde_value(b: divan::Bencher) {
    let Some(path) = isf_path() else { return };
    b.bench(|| {
        let raw = std::fs::read(&path).unwrap();
        let mut json = Vec::new();
        liblzma::read::XzDecoder::new(&raw[..])
            .read_to_end(&mut json)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        divan::black_box(v)
    });
}

#[divan::bench(sample_count = 10)]
fn baseline_xz_only(b: divan::Bencher) {
    let Some(path) = isf_path() else { return };
    b.bench(|| {
        let raw = std::fs::read(&path).unwrap();
        let mut json = Vec::new();
        liblzma::read::XzDecoder::new(&raw[..])
            .read_to_end(&mut json)
            .unwrap();
        divan::black_box(json)
    });
}

#[divan::bench(sample_count = 10)]
fn parse_every_embedded_profile() -> usize {
    embedded_files()
        .iter()
        .filter_map(|(_, t)| Profile::parse(t).ok())
        .count()
}
