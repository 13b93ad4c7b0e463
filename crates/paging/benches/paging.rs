//! Sequential virtual reads against a memcpy of the same bytes, in the same run.
//!
//! The fixture, written here under `target/bench-data/`: a 1 GiB-machine bitmap dump (sparse file)
//! whose page tables map 64 MiB at `0xfffff80000000000` onto physical pages in a scattered order
//! (so a naive contiguous copy would not match), with those 64 MiB written.
//!
//! - `sequential_virtual_64mib`: `read_virtual` of the 64 MiB in 64 KiB chunks.
//! - `memcpy_64mib`: a plain memcpy of the same 64 MiB of page data, as one contiguous copy of
//!   the file region that holds it.

// Test and benchmark scaffolding: a failed fixture step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::LazyLock;

use dumpfile::Dump;
use pooldbg_paging::{AddressSpace, Mode, PagingConfig};

const BITS: u64 = 1 << 18; // 1 GiB of pages, all present
const MAPPED: u64 = 16384; // 64 MiB
const DATA_PFN: u64 = 0x10000;
const VA: u64 = 0xfffff80000000000;
const CHUNK: usize = 0x10000;

fn data_pfn(i: u64) -> u64 {
    // A permutation of 0..MAPPED (7919 is prime, coprime with 2^14).
    DATA_PFN + (i * 7919) % MAPPED
}

fn fixture() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench-data dir");
    let path = dir.join("paging-1gib.dmp");
    let nbytes = (BITS / 8) as usize;
    let first_page = (0x2000 + 0x38 + nbytes).next_multiple_of(0x1000) as u64;
    let len = first_page + BITS * 0x1000;
    if std::fs::metadata(&path).map(|m| m.len()).ok() == Some(len) {
        return path;
    }
    // DUMP_HEADER64 (mindumpdef.h offsets): "PAGE" filler, signature, DumpType 5 at 0xf98.
    let mut h: Vec<u8> = b"PAGE".iter().copied().cycle().take(0x2000).collect();
    h[4..8].copy_from_slice(b"DU64");
    h[0x10..0x18].copy_from_slice(&0x1000u64.to_le_bytes());
    h[0x30..0x34].copy_from_slice(&0x8664u32.to_le_bytes());
    h[0xf98..0xf9c].copy_from_slice(&5u32.to_le_bytes());
    h[0xfa0..0xfa8].copy_from_slice(&len.to_le_bytes());
    let mut sub = vec![0u8; 0x38];
    sub[0..4].copy_from_slice(b"FDMP");
    sub[4..8].copy_from_slice(b"DUMP");
    sub[0x20..0x28].copy_from_slice(&first_page.to_le_bytes());
    sub[0x28..0x30].copy_from_slice(&BITS.to_le_bytes());
    sub[0x30..0x38].copy_from_slice(&BITS.to_le_bytes());
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(&h)
        .and_then(|_| f.write_all(&sub))
        .and_then(|_| f.write_all(&vec![0xff; nbytes]))
        .expect("write");
    // Tables: PML4 @1, PDPT @2, PD @3, PTs @4.. (MAPPED / 512 of them).
    let page_at = |pfn: u64| first_page + pfn * 0x1000;
    let put = |f: &mut std::fs::File, pa: u64, v: u64| {
        f.seek(SeekFrom::Start(page_at(pa >> 12) + (pa & 0xfff)))
            .expect("seek");
        f.write_all(&v.to_le_bytes()).expect("write");
    };
    put(&mut f, 0x1000 + ((VA >> 39) & 0x1ff) * 8, 0x2003);
    put(&mut f, 0x2000 + ((VA >> 30) & 0x1ff) * 8, 0x3003);
    let pts = MAPPED / 512;
    for t in 0..pts {
        put(&mut f, 0x3000 + t * 8, (4 + t) << 12 | 3);
        let mut pt = Vec::with_capacity(0x1000);
        for i in 0..512 {
            pt.extend_from_slice(&(data_pfn(t * 512 + i) << 12 | 3).to_le_bytes());
        }
        f.seek(SeekFrom::Start(page_at(4 + t))).expect("seek");
        f.write_all(&pt).expect("write");
    }
    // The data pages, each filled with its index.
    f.seek(SeekFrom::Start(page_at(DATA_PFN))).expect("seek");
    let mut block = vec![0u8; 0x1000];
    for p in 0..MAPPED {
        block.fill(p as u8);
        f.write_all(&block).expect("write");
    }
    f.set_len(len).expect("sparse length");
    path
}

static DUMP: LazyLock<Dump> = LazyLock::new(|| Dump::open(fixture()).expect("open fixture"));

fn main() {
    LazyLock::force(&DUMP);
    // Guard: the virtual view is the permuted data.
    let space = AddressSpace::new(&*DUMP, PagingConfig::new(Mode::X64, 0x1000));
    let mut b = [0u8; 1];
    for i in [0u64, 1, 5000, MAPPED - 1] {
        assert!(space.read_virtual(VA + i * 0x1000, &mut b).is_ok());
        assert_eq!(b[0], ((i * 7919) % MAPPED) as u8);
    }
    divan::main();
}

#[divan::bench]
fn sequential_virtual_64mib(bencher: divan::Bencher) {
    let space = AddressSpace::new(&*DUMP, PagingConfig::new(Mode::X64, 0x1000));
    let mut buf = vec![0u8; CHUNK];
    bencher.bench_local(|| {
        let mut va = VA;
        while va < VA + MAPPED * 0x1000 {
            let o = space.read_virtual(black_box(va), &mut buf);
            black_box((&buf, o.bytes_read));
            va += CHUNK as u64;
        }
    });
}

#[divan::bench]
fn memcpy_64mib(bencher: divan::Bencher) {
    let data = DUMP.bytes();
    let first_page = (0x2000 + 0x38 + (BITS / 8) as usize).next_multiple_of(0x1000);
    let src = &data[first_page + DATA_PFN as usize * 0x1000..][..MAPPED as usize * 0x1000];
    let mut buf = vec![0u8; CHUNK];
    bencher.bench_local(|| {
        for chunk in src.chunks_exact(CHUNK) {
            buf.copy_from_slice(black_box(chunk));
            black_box(&buf);
        }
    });
}
