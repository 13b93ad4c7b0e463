//! `!bigpools` end to end over a synthetic kernel, without pooldbg's host: pooldbg-testkit builds
//! the kernel and its ground truth, `KernelTarget` serves it as a `Target`, and the rows are compared
//! with the manifest's big-page-table entries.

use pooldbg_bigpools::BigPools;
use pooldbg_plugin_sdk::{Command, CommandError, Output};
use pooldbg_testkit::target::KernelTarget;
use pooldbg_testkit::{Kernel, KernelBuilder, PoolKind, profile};

fn kernel(name: &str) -> Kernel {
    KernelBuilder::new(profile(name).expect("a known profile"))
        .memory_mib(32)
        .big(b"BgNp", 0x3000, PoolKind::NonPaged)
        .big(b"BgNp", 0x5000, PoolKind::NonPaged)
        .big(b"BgPg", 0x2000, PoolKind::Paged)
        .big_freed(b"BgFr", 0x4000, PoolKind::Paged)
        .alloc(b"Smal", 0x100, PoolKind::NonPaged)
        .build()
        .expect("the kernel builds")
}

/// The manifest's live entries as (address, size, tag, pool type), in address order.
fn expected(k: &Kernel, tag: Option<&str>) -> Vec<(String, u64, String, String)> {
    let mut v: Vec<_> = k
        .manifest
        .big_allocations
        .iter()
        .filter(|b| b.state == "allocated" && tag.is_none_or(|t| b.tag == t))
        .map(|b| {
            (
                format!("{:#x}", b.address.0),
                b.size,
                b.tag.clone(),
                b.pool_type.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

fn rows(out: &Output) -> Vec<(String, u64, String, String)> {
    let mut v: Vec<_> = out
        .rows()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap_or_default().to_string(),
                r["size"].as_u64().unwrap_or_default(),
                r["tag"].as_str().unwrap_or_default().to_string(),
                r["pool_type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn lists_what_the_manifest_says_on_x64_and_x86() {
    // Windows 7 SP1 x64 (PoolType recorded in the table) and XP SP3 x86 (no PoolType: the pool
    // regions decide).
    for name in ["win7sp1-x64", "xpsp3-x86"] {
        let k = kernel(name);
        let want = expected(&k, None);
        assert!(
            want.iter().any(|w| w.2 == "BgNp") && want.iter().any(|w| w.2 == "BgPg"),
            "{name}: the kernel holds the requested allocations: {want:?}"
        );
        assert!(
            !want.iter().any(|w| w.2 == "BgFr"),
            "{name}: freed is not live"
        );
        let t = KernelTarget::new(&k);
        let mut out = Output::new();
        BigPools.run(&t, "", &mut out).expect("runs");
        assert_eq!(rows(&out), want, "{name}");
        let summary = out.summary().expect("a summary");
        assert_eq!(summary["allocations"], want.len(), "{name}");
        let bytes: u64 = want.iter().map(|w| w.1).sum();
        assert_eq!(summary["bytes"], bytes, "{name}");
    }
}

#[test]
fn a_tag_pattern_filters() {
    let k = kernel("win7sp1-x64");
    let t = KernelTarget::new(&k);
    let mut out = Output::new();
    BigPools.run(&t, "BgP*", &mut out).expect("runs");
    assert_eq!(rows(&out), expected(&k, Some("BgPg")));
    assert_eq!(out.rows().len(), 1);
}

#[test]
fn bad_arguments_are_usage_errors() {
    let k = kernel("win7sp1-x64");
    let t = KernelTarget::new(&k);
    let mut out = Output::new();
    let e = BigPools.run(&t, "BgNp extra", &mut out).unwrap_err();
    assert!(matches!(e, CommandError::Usage(_)), "{e}");
    let e = BigPools.run(&t, "TooLongTag", &mut out).unwrap_err();
    assert!(matches!(e, CommandError::Usage(_)), "{e}");
}
