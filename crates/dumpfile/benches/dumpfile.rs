//! Benchmarks of `dumpfile`, each against a memcpy of the same bytes in the same run.
//!
//! The fixture is generated here, under `target/bench-data/`: a bitmap dump of a 16 GiB machine
//! (4 Mi bits, three pages in four present, so 12 GiB of pages) written as a sparse file, only
//! its header and bitmap on disk.
//!
//! - `open_16gib_bitmap`: `Dump::open` (mmap + rank index over the 512 KiB bitmap); baseline
//!   `memcpy_bitmap`: copying those 512 KiB.
//! - `random_4k_reads`: 1024 physical reads of 4 KiB at random present PFNs; baseline
//!   `memcpy_random_4k`: copying the same 1024 pages straight from the mapping.

// Test and benchmark scaffolding: a failed fixture step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::LazyLock;

use pooldbg_dumpfile::{Dump, PhysicalMemory};

#[path = "../tests/support/mod.rs"]
mod support;

const BITS: u64 = 4 << 20; // 16 GiB of 4 KiB pages
const READS: usize = 1024;

fn present(pfn: u64) -> bool {
    pfn % 4 != 3
}

/// Writes the sparse 16 GiB-machine bitmap dump once; returns its path and first-page offset.
fn fixture() -> (PathBuf, u64) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench-data dir");
    let path = dir.join("bitmap-16gib.dmp");
    let nbytes = (BITS / 8) as usize;
    let first_page = (0x2000 + 0x38 + nbytes).next_multiple_of(0x1000) as u64;
    let count = (0..BITS).filter(|&p| present(p)).count() as u64;
    let len = first_page + count * 0x1000;
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(len) {
        let mut h = support::header64(5);
        support::set_required(&mut h, len);
        let mut sub = vec![0u8; 0x38];
        sub[0..4].copy_from_slice(b"SDMP");
        sub[4..8].copy_from_slice(b"DUMP");
        sub[0x20..0x28].copy_from_slice(&first_page.to_le_bytes());
        sub[0x28..0x30].copy_from_slice(&count.to_le_bytes());
        sub[0x30..0x38].copy_from_slice(&BITS.to_le_bytes());
        let mut bm = vec![0u8; nbytes];
        for p in (0..BITS).filter(|&p| present(p)) {
            bm[(p / 8) as usize] |= 1 << (p % 8);
        }
        let mut f = std::fs::File::create(&path).expect("create fixture");
        f.write_all(&h)
            .and_then(|_| f.write_all(&sub))
            .and_then(|_| f.write_all(&bm))
            .expect("write");
        // A few real pages so that reads touch written data too.
        f.seek(SeekFrom::Start(first_page)).expect("seek");
        f.write_all(&vec![0x5a; 0x10000]).expect("write pages");
        f.set_len(len).expect("sparse length");
    }
    (path, first_page)
}

static FIXTURE: LazyLock<(PathBuf, u64)> = LazyLock::new(fixture);
static DUMP: LazyLock<Dump> = LazyLock::new(|| Dump::open(&FIXTURE.0).expect("open fixture"));

/// Random present PFNs (xorshift) and their file offsets (rank computed independently).
static TARGETS: LazyLock<Vec<(u64, usize)>> = LazyLock::new(|| {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(READS);
    while out.len() < READS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let pfn = x % BITS;
        if present(pfn) {
            // three present per four: rank = 3 * (pfn / 4) + pfn % 4
            let rank = 3 * (pfn / 4) + pfn % 4;
            out.push((pfn, (FIXTURE.1 + rank * 0x1000) as usize));
        }
    }
    out
});

fn main() {
    LazyLock::force(&DUMP);
    LazyLock::force(&TARGETS);
    divan::main();
}

#[divan::bench]
fn open_16gib_bitmap() -> Dump {
    Dump::open(&FIXTURE.0).expect("open")
}

#[divan::bench]
fn memcpy_bitmap(bencher: divan::Bencher) {
    let src = &DUMP.bytes()[0x2038..0x2038 + (BITS / 8) as usize];
    let mut dst = vec![0u8; src.len()];
    bencher.bench_local(|| {
        dst.copy_from_slice(black_box(src));
        black_box(&dst);
    });
}

#[divan::bench]
fn random_4k_reads(bencher: divan::Bencher) {
    let mut buf = vec![0u8; 0x1000];
    bencher.bench_local(|| {
        for &(pfn, _) in TARGETS.iter() {
            let o = DUMP.read_physical(black_box(pfn << 12), &mut buf);
            black_box((&buf, o));
        }
    });
}

#[divan::bench]
fn memcpy_random_4k(bencher: divan::Bencher) {
    let data = DUMP.bytes();
    let mut buf = vec![0u8; 0x1000];
    bencher.bench_local(|| {
        for &(_, off) in TARGETS.iter() {
            buf.copy_from_slice(&data[black_box(off)..off + 0x1000]);
            black_box(&buf);
        }
    });
}

#[divan::bench]
fn check_reads_agree() {
    // Not a timing: guards that the two loops above read the same bytes.
    let mut a = vec![0u8; 0x1000];
    for &(pfn, off) in TARGETS.iter().take(64) {
        assert!(DUMP.read_physical(pfn << 12, &mut a).is_ok());
        assert_eq!(&a[..], &DUMP.bytes()[off..off + 0x1000]);
    }
}
