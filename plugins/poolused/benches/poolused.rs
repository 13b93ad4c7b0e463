//! `!poolused` from the tracker tables after open (Windows 10 1809 x64), and by scan (Windows 2000,
//! no tracker), and `!poolfind` scanning (Server 2003 x64), on synthetic full dumps of 4 GiB (x64) and 3 GiB (x86,
//! testkit's 32-bit maximum) opened from a
//! sparse file. Baseline: a memcpy of the bytes the command reads (the tracker tables; the pool
//! range scanned), measured in the same run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::LazyLock;

use divan::Bencher;
use plugin_sdk::Output;
use pooldbg::session::{Session, SessionOptions};
use testkit::{Container, KernelBuilder, WriteOptions};

fn main() {
    divan::main();
}

fn open(profile: &str, mib: u64) -> Session {
    let dir = std::env::temp_dir().join("pooldbg-bench-poolcmds");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{profile}-{mib}m.dmp"));
    if !path.exists() {
        let k = KernelBuilder::standard(testkit::profile(profile).unwrap())
            .memory_mib(mib)
            .build()
            .unwrap();
        testkit::write_file(&k, Container::Full, &path, &WriteOptions::default()).unwrap();
    }
    Session::open(&path, &SessionOptions::default()).unwrap()
}

static WIN10: LazyLock<Session> = LazyLock::new(|| open("win10-1809-x64", 4096));
static WIN2000: LazyLock<Session> = LazyLock::new(|| open("win2000-x86", 3072));
static W2003X64: LazyLock<Session> = LazyLock::new(|| open("win2003sp2-x64", 4096));

#[divan::bench]
fn poolused_trackers_win10(b: Bencher) {
    let s = &*WIN10;
    b.bench(|| {
        let mut out = Output::new();
        poolcmds::poolused::run(s, "", &mut out).unwrap();
        out
    });
}

/// The tracker tables' bytes (3 tables of 0x38-byte entries, as the manifest lists), copied.
#[divan::bench]
fn baseline_memcpy_tracker_bytes(b: Bencher) {
    let src = vec![7u8; 3 * 0x38 * 2048];
    let mut dst = vec![0u8; src.len()];
    b.bench_local(|| dst.copy_from_slice(divan::black_box(&src)));
}

#[divan::bench(sample_count = 5)]
fn poolused_by_scan_win2000(b: Bencher) {
    let s = &*WIN2000;
    b.bench(|| {
        let mut out = Output::new();
        poolcmds::poolused::run(s, "", &mut out).unwrap();
        out
    });
}

#[divan::bench(sample_count = 5)]
fn poolfind_scan_2003_x64(b: Bencher) {
    let s = &*W2003X64;
    b.bench(|| {
        let mut out = Output::new();
        poolcmds::poolfind::run(s, "Leak", &mut out).unwrap();
        out
    });
}

/// 128 MiB copied (the x86 nonpaged pool range the Windows 2000 scan covers).
#[divan::bench(sample_count = 5)]
fn baseline_memcpy_128mib(b: Bencher) {
    let src = vec![7u8; 128 << 20];
    let mut dst = vec![0u8; src.len()];
    b.bench_local(|| dst.copy_from_slice(divan::black_box(&src)));
}
