//! The classic pool page scan (`pooldbg_commands::scan::scan_pages`, what `!poolfind` and `!poolused` by
//! scan run) on one and on two threads, over the pool ranges of a 4 GiB synthetic Server 2003 x64
//! full dump opened from a (sparse) file, against a memcpy of the same bytes in the same run. The
//! kernel's pool is filled with [`ALLOCS`] allocations of mixed sizes, so that most of testkit's
//! pool ranges (128 MiB nonpaged, 64 MiB paged) are pool pages to walk.
//!
//! Throughput is counted in the bytes the scan actually reads (the mapped pages of the pool
//! ranges; unmapped pages cost a page-table walk and no copy), and the memcpy baseline copies that
//! many bytes. `cargo bench -p pooldbg-commands --bench scan`; the dump is written once to
//! `$TMPDIR/pooldbg-bench-scan/` (4 GiB apparent, sparse).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::BytesCount;
use plugin_sdk::{Read, Target};
use pooldbg::session::{Session, SessionOptions};
use pooldbg_commands::scan::{Region, regions, scan_pages};
use poollayout::Layout;
use testkit::{Container, KernelBuilder, PoolKind, WriteOptions};

fn main() {
    divan::main();
}

const PROFILE: &str = "win2003sp2-x64";
const MIB: u64 = 4096;
/// Nonpaged and paged allocations added to the standard kernel.
const ALLOCS: (u64, u64) = (150_000, 70_000);

struct Fixture {
    session: Session,
    layout: Layout,
    regions: Vec<Region>,
    /// Bytes of the pool ranges that are mapped (what the scan copies out of the dump).
    read_bytes: u64,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join("pooldbg-bench-scan");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{PROFILE}-{MIB}m-{}-{}.dmp", ALLOCS.0, ALLOCS.1));
    if !path.exists() {
        let mut b = KernelBuilder::standard(testkit::profile(PROFILE).unwrap()).memory_mib(MIB);
        const SIZES: [u64; 6] = [0x40, 0x90, 0x120, 0x200, 0x3f0, 0x600];
        const TAGS: [&[u8; 4]; 8] = [
            b"Irp ", b"File", b"Thre", b"Even", b"TcpE", b"Ntfs", b"MmSt", b"Toke",
        ];
        for i in 0..ALLOCS.0 + ALLOCS.1 {
            let pool = if i < ALLOCS.0 {
                PoolKind::NonPaged
            } else {
                PoolKind::Paged
            };
            b = b.alloc(TAGS[(i % 8) as usize], SIZES[(i % 6) as usize], pool);
        }
        let k = b.build().unwrap();
        let tmp = path.with_extension("part");
        testkit::write_file(&k, Container::Full, &tmp, &WriteOptions::default()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    let session = Session::open(&path, &SessionOptions::default()).unwrap();
    let layout = pooldbg_commands::common::layout_of(&session).unwrap();
    let (regions, _) = regions(&session, &layout);
    let mut read_bytes = 0;
    let mut page = vec![0u8; 0x1000];
    for r in &regions {
        for va in (r.start..r.end).step_by(0x1000) {
            let mut reads = [Read::new(va, &mut page)];
            session.read_virtual(&mut reads);
            if reads[0].is_ok() {
                read_bytes += 0x1000;
            }
        }
    }
    let span: u64 = regions.iter().map(|r| r.end - r.start).sum();
    eprintln!(
        "{PROFILE} {MIB} MiB: pool ranges {span:#x} bytes, {read_bytes:#x} of them mapped and read"
    );
    Fixture {
        session,
        layout,
        regions,
        read_bytes,
    }
});

fn scan_on(b: Bencher, threads: usize) {
    let f = &*FIXTURE;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    b.counter(BytesCount::new(f.read_bytes)).bench(|| {
        pool.install(|| scan_pages(&f.session, &f.layout, &f.regions, &[], &|_| true).unwrap())
    });
}

#[divan::bench(sample_count = 5)]
fn scan_pages_1_thread(b: Bencher) {
    scan_on(b, 1);
}

#[divan::bench(sample_count = 5)]
fn scan_pages_2_threads(b: Bencher) {
    scan_on(b, 2);
}

/// The ceiling: one memcpy of as many bytes as the scan reads.
#[divan::bench(sample_count = 5)]
fn baseline_memcpy_same_bytes(b: Bencher) {
    let n = FIXTURE.read_bytes as usize;
    let src = vec![7u8; n];
    let mut dst = vec![0u8; n];
    b.counter(BytesCount::new(n))
        .bench_local(|| dst.copy_from_slice(divan::black_box(&src)));
}
