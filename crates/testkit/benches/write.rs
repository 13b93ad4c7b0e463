//! Building + writing a 1 GiB machine as a full dump and as a bitmap (FDMP) dump, against writing the
//! same number of bytes with `std::fs::write` in the same run (the baseline).
//!
//! `cargo bench -p pooldbg-testkit` (run it under `nice`). Quote results as ratios to the baseline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use divan::Bencher;
use pooldbg_testkit::{Container, KernelBuilder, WriteOptions, write_file};

fn main() {
    divan::main();
}

const MIB: u64 = 1024;

fn out(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("testkit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    dir.join(name)
}

fn build_and_write(container: Container, name: &str) -> u64 {
    let p = pooldbg_testkit::profile("win10-1809-x64").expect("profile");
    let k = KernelBuilder::standard(p)
        .memory_mib(MIB)
        .build()
        .expect("build");
    let info = write_file(&k, container, &out(name), &WriteOptions::default()).expect("write");
    info.file_size
}

/// Size of the full dump of the 1 GiB machine (header + every page of the runs).
fn full_size() -> u64 {
    let p = pooldbg_testkit::profile("win10-1809-x64").expect("profile");
    let k = KernelBuilder::new(p)
        .memory_mib(MIB)
        .build()
        .expect("build");
    0x2000 + k.memory.total_pages() * 0x1000
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn build_and_write_full_1gib() -> u64 {
    build_and_write(Container::Full, "full.dmp")
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn build_and_write_bitmap_1gib() -> u64 {
    build_and_write(
        Container::Bitmap {
            full: true,
            dump_type: 5,
        },
        "bitmap.dmp",
    )
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn baseline_std_fs_write_same_bytes(b: Bencher) {
    let buf = vec![0x5au8; full_size() as usize];
    let path = out("baseline.bin");
    b.bench(|| std::fs::write(&path, &buf).expect("write"));
}
