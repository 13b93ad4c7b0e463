//! `pooldbg diff` of two 4 GiB dumps against two `!poolused` runs, in the same run: a diff is
//! `!poolused` on each dump plus [`poolreport::diff`] over the two results, so its cost should be
//! about that of the two runs. The dumps are a `testkit::pairs::growth_pair` of one Windows 7 x64
//! machine with 4 GiB and [`EXTRA`] more allocations of mixed tags, written once (sparse, full) to
//! `$TMPDIR/pooldbg-bench-diff/`. `cargo bench -p poolcmds --bench diff`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::LazyLock;

use divan::Bencher;
use plugin_sdk::Output;
use pooldbg::session::{Session, SessionOptions};
use poolreport::{By, PoolUsage};
use serde_json::json;
use testkit::{Container, PoolKind, WriteOptions, pairs};

fn main() {
    divan::main();
}

const PROFILE: &str = "win7sp1-x64";
const MIB: u64 = 4096;
/// Allocations added to each dump (tags cycling over [`TAGS`]).
const EXTRA: u64 = 40_000;
const TAGS: [&[u8; 4]; 8] = [
    b"Irp ", b"File", b"Thre", b"Even", b"TcpE", b"Ntfs", b"MmSt", b"Toke",
];

static SESSIONS: LazyLock<[Session; 2]> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join("pooldbg-bench-diff");
    std::fs::create_dir_all(&dir).unwrap();
    let (old, new) = pairs::growth_pair(testkit::profile(PROFILE).unwrap());
    let open = |b: testkit::KernelBuilder, name: &str| {
        let path = dir.join(format!("{PROFILE}-{MIB}m-{EXTRA}-{name}.dmp"));
        if !path.exists() {
            let mut b = b.memory_mib(MIB);
            for i in 0..EXTRA {
                let pool = if i % 3 == 0 {
                    PoolKind::Paged
                } else {
                    PoolKind::NonPaged
                };
                b = b.alloc(TAGS[(i % 8) as usize], 0x40 + (i % 7) * 0x60, pool);
            }
            let k = b.build().unwrap();
            let tmp = path.with_extension("part");
            testkit::write_file(&k, Container::Full, &tmp, &WriteOptions::default()).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
        Session::open(&path, &SessionOptions::default()).unwrap()
    };
    [open(old, "old"), open(new, "new")]
});

fn poolused(s: &Session, args: &str) -> serde_json::Value {
    let mut out = Output::new();
    pooldbg_commands::poolused::run(s, args, &mut out).unwrap();
    json!({"command": "!poolused", "rows": out.rows(), "summary": out.summary()})
}

/// The baseline: `!poolused` on each of the two dumps.
#[divan::bench(sample_count = 10)]
fn poolused_twice(b: Bencher) {
    let s = &*SESSIONS;
    b.bench(|| [poolused(&s[0], ""), poolused(&s[1], "")]);
}

/// `diff` by tag: the two runs, the typed input and the diff.
#[divan::bench(sample_count = 10)]
fn diff_by_tag(b: Bencher) {
    let s = &*SESSIONS;
    b.bench(|| {
        let u = [
            PoolUsage::from_json("old", &poolused(&s[0], "")).unwrap(),
            PoolUsage::from_json("new", &poolused(&s[1], "")).unwrap(),
        ];
        poolreport::diff(&u, By::Tag).unwrap()
    });
}

/// `diff --by driver` runs `!poolused 100` (the image search for unknown tags) on each dump.
#[divan::bench(sample_count = 10)]
fn diff_by_driver(b: Bencher) {
    let s = &*SESSIONS;
    b.bench(|| {
        let u = [
            PoolUsage::from_json("old", &poolused(&s[0], "100")).unwrap(),
            PoolUsage::from_json("new", &poolused(&s[1], "100")).unwrap(),
        ];
        poolreport::diff(&u, By::Driver).unwrap()
    });
}

/// The diff alone, over results already held (what a library caller with saved JSON pays).
#[divan::bench(sample_count = 10)]
fn diff_of_results_only(b: Bencher) {
    let s = &*SESSIONS;
    let r = [poolused(&s[0], ""), poolused(&s[1], "")];
    b.bench(|| {
        let u = [
            PoolUsage::from_json("old", &r[0]).unwrap(),
            PoolUsage::from_json("new", &r[1]).unwrap(),
        ];
        poolreport::diff(&u, By::Tag).unwrap()
    });
}
