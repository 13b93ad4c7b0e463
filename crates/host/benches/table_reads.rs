//! What the C function table costs a plugin's reads: 64 pages of 4 KiB read through the host's
//! table (`bridge::loopback`, the exact path of a loaded plugin minus the `dlopen`), against the same
//! reads straight from the in-memory target and against a plain memcpy of the same bytes.
//!
//! Run: `nice cargo bench -p pooldbg --bench table_reads`.

use plugin_sdk::{MemoryTarget, Read, Target, TargetInfo};
use pooldbg::bridge::loopback;

const PAGES: usize = 64;
const PAGE: usize = 4096;
const BASE: u64 = 0xfffff800_00000000;

fn main() {
    divan::main();
}

fn target() -> MemoryTarget {
    let bytes: Vec<u8> = (0..PAGES * PAGE).map(|i| (i * 7) as u8).collect();
    MemoryTarget::new(TargetInfo::default()).with_virtual(BASE, &bytes)
}

fn batch(t: &dyn Target, bufs: &mut [Vec<u8>]) {
    let mut reads: Vec<Read<'_>> = bufs
        .iter_mut()
        .enumerate()
        .map(|(i, b)| Read::new(BASE + (i * PAGE) as u64, b))
        .collect();
    t.read_virtual(&mut reads);
    assert!(reads.iter().all(Read::is_ok));
}

fn one_by_one(t: &dyn Target, bufs: &mut [Vec<u8>]) {
    for (i, b) in bufs.iter_mut().enumerate() {
        let mut r = [Read::new(BASE + (i * PAGE) as u64, b)];
        t.read_virtual(&mut r);
        assert!(r[0].is_ok());
    }
}

#[divan::bench]
fn memcpy_baseline(bencher: divan::Bencher) {
    let src: Vec<u8> = (0..PAGES * PAGE).map(|i| (i * 7) as u8).collect();
    let mut bufs = vec![vec![0u8; PAGE]; PAGES];
    bencher.bench_local(|| {
        for (i, b) in bufs.iter_mut().enumerate() {
            b.copy_from_slice(&src[i * PAGE..(i + 1) * PAGE]);
        }
        divan::black_box(&bufs);
    });
}

#[divan::bench]
fn direct_batch(bencher: divan::Bencher) {
    let t = target();
    let mut bufs = vec![vec![0u8; PAGE]; PAGES];
    bencher.bench_local(|| batch(&t, &mut bufs));
}

#[divan::bench]
fn table_batch(bencher: divan::Bencher) {
    let t = target();
    let mut bufs = vec![vec![0u8; PAGE]; PAGES];
    bencher.bench_local(|| loopback(&t, None, |ht| batch(ht, &mut bufs)));
}

#[divan::bench]
fn table_one_by_one(bencher: divan::Bencher) {
    let t = target();
    let mut bufs = vec![vec![0u8; PAGE]; PAGES];
    bencher.bench_local(|| loopback(&t, None, |ht| one_by_one(ht, &mut bufs)));
}
