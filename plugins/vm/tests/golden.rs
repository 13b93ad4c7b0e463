//! `!vm` on every testkit profile through the host's Session: every figure equal to the manifest,
//! the text equal to the committed golden file (`tests/golden/<name>.txt`; regenerate with
//! `POOLDBG_BLESS=1 cargo test -p pooldbg-vm --test golden` and review the diff by reading it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{CONTRACT, VERSIONED};
use dumpfile::Dump;
use plugin_sdk::{Command, Output};
use pooldbg::session::{Session, SessionOptions};
use pooldbg_vm::{Vm, render_text};
use serde_json::Value;
use testkit::{Container, KernelBuilder, PROFILES, PoolKind, VmCounters, WriteOptions, write_vec};

/// WinDbg's process order for testkit's list (vm_procs.rs, in creation order System, smss,
/// csrss, wininit, svchost, MsMpEng, userinit): largest commit first, the three 0x12-page ties
/// newest first, as in the published Windows 10 sample.
const WINDBG_ORDER: &[&str] = &[
    "MsMpEng.exe",
    "svchost.exe",
    "csrss.exe",
    "System",
    "userinit.exe",
    "wininit.exe",
    "smss.exe",
];

/// The summary's process table equals the manifest's processes, in WinDbg's order.
fn check_processes(what: &str, out: &Output, kernel: &testkit::Kernel) {
    let summary = out.summary().unwrap();
    let Some(want) = &kernel.manifest.vm.processes else {
        assert!(
            summary.get("processes").is_none(),
            "{what}: processes without a manifest list"
        );
        return;
    };
    let got = summary["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no processes; {:?}", out.warnings()));
    let names: Vec<&str> = got
        .iter()
        .map(|p| p["image_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, WINDBG_ORDER, "{what}");
    for p in want {
        let g = got
            .iter()
            .find(|g| g["pid"] == p.pid)
            .unwrap_or_else(|| panic!("{what}: pid {:#x}", p.pid));
        assert_eq!(g["image_name"], p.image_name.as_str(), "{what}");
        assert_eq!(g["commit_pages"], p.commit_pages, "{what}");
        assert_eq!(
            g.get("shared_commit_pages").and_then(Value::as_u64),
            p.shared_commit_pages,
            "{what}"
        );
    }
    assert_eq!(got.len(), want.len(), "{what}");
}

/// Issue #21: without -v the text has no `sources:` line and no warnings, but one short note per
/// kind of gap, naming each figure left out by its WinDbg label; -v has them all.
fn check_short_text(what: &str, out: &Output) {
    let text = render_text(out);
    assert!(!text.contains("sources:"), "{what}: {text}");
    assert!(!text.contains("warning:"), "{what}: {text}");
    let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("note: ")).collect();
    assert!(notes.len() <= 4, "{what}: {notes:?}");
    // Every warning's figure is in a note (by label), and every note is short enough to read.
    let gaps = notes
        .iter()
        .filter(|n| n.starts_with("note: not shown"))
        .count();
    if gaps > 0 {
        assert!(!out.warnings().is_empty(), "{what}: {notes:?}");
    }
    for n in &notes {
        assert!(n.len() <= 400, "{what}: {} chars: {n}", n.len());
    }
    let verbose = out.render_text_verbose();
    assert!(
        verbose.lines().any(|l| l.starts_with("sources: ")),
        "{what}"
    );
    for w in out.warnings() {
        assert!(verbose.contains(&format!("warning: {w}")), "{what}: {w}");
    }
}

/// Figures testkit writes where poollayout has no source: testkit lays out Windows 2000's
/// `_MM_PAGED_POOL_INFO` like XP's (an assumption), poollayout has no Windows 2000 layout and
fn golden(name: &str, text: &str) {
    testkit::golden::check(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        &format!("{name}.txt"),
        text,
    );
}

fn session(kernel: &testkit::Kernel, container: Container) -> Session {
    let (bytes, _) = write_vec(kernel, container, &WriteOptions::default()).unwrap();
    Session::from_dump(Dump::from_vec(bytes).unwrap(), &SessionOptions::default()).unwrap()
}

fn run(s: &Session, args: &str) -> Output {
    let mut out = Output::new();
    Vm.run(s, args, &mut out).unwrap();
    out
}

/// Every contract figure of the row equals the manifest's (both absent, or equal); a figure the
/// manifest lacks is named in the warnings.
fn check_against_manifest(what: &str, out: &Output, kernel: &testkit::Kernel) -> Vec<String> {
    let row = &out.rows()[0];
    let want = serde_json::to_value(&kernel.manifest.vm).unwrap();
    let mut gaps = Vec::new();
    for key in CONTRACT {
        let named = out
            .warnings()
            .iter()
            .find(|w| w.starts_with(&format!("not shown: {key}:")));
        if row.get(*key).is_none() && want.get(*key).is_some() {
            // The manifest has the figure but the target gives no way to locate it (a synthetic
            // build's global outside the KDBG with no user symbols, a layout poollayout has no
            // source for): it must be left out and named with that reason, never guessed.
            let why = named.unwrap_or_else(|| panic!("{what}: {key} absent but not named"));
            assert!(
                why.contains("no symbol") || why.contains("does not exist in the"),
                "{what}: {key} absent for a reason other than an unknown source: {why}"
            );
            gaps.push(format!("{what}: {why}"));
            continue;
        }
        assert_eq!(
            row.get(*key),
            want.get(*key),
            "{what}: {key}; warnings {:?}",
            out.warnings()
        );
        if want.get(*key).is_none() {
            assert!(named.is_some(), "{what}: {key} absent but not named");
        }
    }
    for key in VERSIONED {
        assert_eq!(
            row.get(*key),
            want.get(*key),
            "{what}: {key}; warnings {:?}",
            out.warnings()
        );
    }
    // Per paged pool lines: the descriptors' pages + big pages.
    let paged: Vec<u64> = kernel
        .manifest
        .descriptors
        .iter()
        .filter(|d| d.pool_type == "PagedPool")
        .map(|d| d.total_pages + d.total_big_pages)
        .collect();
    // Segment-heap builds have no paged pool descriptors: no per-pool lines to compare.
    if kernel.profile.name != "win2000-x86" && !paged.is_empty() {
        assert!(
            row.get("paged_pools_pages").is_some(),
            "{what}: paged pools"
        );
    }
    if let Some(p) = row.get("paged_pools_pages") {
        assert_eq!(p, &serde_json::json!(paged), "{what}: paged pools");
    }
    // Each figure found names its source.
    let sources = &out.summary().unwrap()["sources"];
    for k in row.as_object().unwrap().keys() {
        assert!(
            sources.get(k).and_then(Value::as_str).is_some(),
            "{what}: source of {k}"
        );
    }
    gaps
}

#[test]
fn every_profile_matches_its_manifest_and_golden_text() {
    let mut gaps = Vec::new();
    for profile in PROFILES {
        let kernel = KernelBuilder::standard(profile)
            .seed(7)
            .memory_mib(16)
            .build()
            .unwrap();
        let s = session(&kernel, Container::Full);
        let out = run(&s, "");
        gaps.extend(check_against_manifest(profile.name, &out, &kernel));
        check_processes(profile.name, &out, &kernel);
        golden(profile.name, &render_text(&out));
        check_short_text(profile.name, &out);
        // -v: the sources line and every warning, reviewed on one profile per layout.
        if profile.name == "win2003sp2-x86" || profile.name == "win11-21h2-x64" {
            golden(
                &format!("verbose-{}", profile.name),
                &out.render_text_verbose(),
            );
        }
        // Flag 4 adds the sessions, equal to the manifest's.
        let four = run(&s, "4");
        assert_eq!(four.rows(), out.rows(), "{}", profile.name);
        let got = four.summary().unwrap().get("sessions").cloned();
        match &kernel.manifest.vm.sessions {
            Some(want) => {
                let got = got.unwrap_or_else(|| panic!("{}: no sessions", profile.name));
                let got = got.as_array().unwrap();
                assert_eq!(got.len(), want.len(), "{}", profile.name);
                for (g, w) in got.iter().zip(want) {
                    assert_eq!(g["session_id"], w.session_id, "{}", profile.name);
                    assert_eq!(
                        g["paged_pool_pages"], w.paged_pool_pages,
                        "{}",
                        profile.name
                    );
                    assert_eq!(g["nonpaged_pages"], w.nonpaged_pages, "{}", profile.name);
                    assert_eq!(g["commit_pages"], w.commit_pages, "{}", profile.name);
                }
                assert!(
                    render_text(&four).contains("Terminal Server Memory Usage By Session:"),
                    "{}",
                    profile.name
                );
                assert!(out.summary().unwrap().get("sessions").is_none());
            }
            None => assert!(got.is_none(), "{}", profile.name),
        }
        if profile.name == "win11-21h2-x64" || profile.name == "win7sp1-x64" {
            golden(&format!("flag4-{}", profile.name), &render_text(&four));
        }
        // Flag 1 omits the list and nothing else.
        let one = run(&s, "1");
        assert_eq!(one.rows(), out.rows(), "{}", profile.name);
        assert!(one.summary().unwrap().get("processes").is_none());
    }
    // The figures the manifest has that the target cannot locate, reviewed in the golden file.
    golden("gaps", &(gaps.join("\n") + "\n"));
}

#[test]
fn bitmap_dumps_agree_with_full_dumps() {
    for profile in PROFILES.iter().filter(|p| p.name.ends_with("x64")) {
        let kernel = KernelBuilder::standard(profile)
            .seed(7)
            .memory_mib(16)
            .build()
            .unwrap();
        let full = run(&session(&kernel, Container::Full), "");
        let bitmap = run(
            &session(
                &kernel,
                Container::Bitmap {
                    full: false,
                    dump_type: 5,
                },
            ),
            "",
        );
        assert_eq!(full.rows(), bitmap.rows(), "{}", profile.name);
    }
}

/// A machine out of paged pool: usage near the maximum, failures recorded, little available.
#[test]
fn pool_near_its_maximum_with_failures() {
    for name in ["win7sp1-x64", "win81-x64", "win10-1809-x64"] {
        let profile = testkit::profile(name).unwrap();
        let kernel = KernelBuilder::standard(profile)
            .seed(3)
            .memory_mib(128)
            // 0x3c00 of the 0x4000-page paged pool maximum in one leak.
            .big(b"Leak", 0x3bd0 * 4096, PoolKind::Paged)
            .counters(VmCounters {
                available_pages: Some(0x180),
                pool_allocation_failures: Some(4270),
                ..VmCounters::default()
            })
            .build()
            .unwrap();
        let out = run(&session(&kernel, Container::Full), "1");
        let gaps = check_against_manifest(name, &out, &kernel);
        assert!(
            !gaps.iter().any(|g| g.contains("pool_allocation_failures")),
            "{gaps:?}"
        );
        let row = &out.rows()[0];
        assert_eq!(row["pool_allocation_failures"], 4270, "{name}");
        let text = render_text(&out);
        assert!(
            text.contains("********** 4270 pool allocations have failed **********"),
            "{name}: {text}"
        );
        // Paged usage (descriptor lines) within 7% of the maximum.
        let used: u64 = row["paged_pools_pages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        let max = row["paged_pool_max_pages"].as_u64().unwrap();
        assert!(used * 100 >= max * 93, "{name}: {used} of {max}");
        golden(&format!("near-max-{name}"), &text);
    }
}

/// The real triage dump holds a KDBG copy and one data block: no global's value is in it, so `!vm`
/// fails with an error that names, per figure, what is missing.
#[test]
fn triage_dump_says_what_it_cannot_answer() {
    let Some(path) = testdata::require("data/dumps/triage_x64.dmp") else {
        return;
    };
    let s = Session::open(&path, &SessionOptions::default()).unwrap();
    let mut out = Output::new();
    match Vm.run(&s, "", &mut out) {
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("no figure could be read"), "{e}");
            assert!(e.contains("physical_pages:"), "{e}");
            assert!(e.contains("commit_limit:"), "{e}");
            // Issue #21: the first line (what the text prints without -v) is short and says
            // why; the per-figure lines follow (-v, JSON).
            let first = e.lines().next().unwrap();
            assert!(first.len() < 160, "{} chars: {first}", first.len());
            assert!(first.contains("triage"), "{first}");
            golden("triage_x64", &format!("error: {e}\n"));
        }
        Ok(()) => {
            // Whatever it could read must come with warnings for the rest.
            assert!(!out.warnings().is_empty());
            golden("triage_x64", &render_text(&out));
        }
    }
}

/// The synthetic triage container (header + KDBG copy): the same answer.
#[test]
fn synthetic_triage_is_a_clear_error() {
    let profile = testkit::profile("win7sp1-x64").unwrap();
    let kernel = KernelBuilder::standard(profile)
        .seed(7)
        .memory_mib(16)
        .build()
        .unwrap();
    let s = session(&kernel, Container::Triage);
    let mut out = Output::new();
    let e = Vm.run(&s, "", &mut out).unwrap_err().to_string();
    assert!(e.contains("!vm: no figure could be read"), "{e}");
}

/// With the real symbol files (`--symbols` over shared/data/isf), Windows 7 and 8.1 give the
/// figures the embedded profiles cannot locate: Free System PTEs (`MiSystemPteInfo`) and Special
/// Pool (`MmSpecialPagesInUse`), equal to the manifest; and Windows 10 reads the same figures
/// through the ISF's `_MI_VISIBLE_STATE` instead of pooldbg's fallback table.
#[test]
fn real_symbols_give_what_the_embedded_profiles_lack() {
    let Some(isf) = testdata::require("data/isf") else {
        return;
    };
    for name in [
        "win7sp1-x64",
        "win81-x64",
        "win10-1809-x64",
        "win11-21h2-x64",
    ] {
        let kernel = KernelBuilder::standard(testkit::profile(name).unwrap())
            .seed(7)
            .memory_mib(16)
            .build()
            .unwrap();
        let (bytes, _) = write_vec(&kernel, Container::Full, &WriteOptions::default()).unwrap();
        let opts = SessionOptions {
            symbols: vec![isf.clone()],
            ..SessionOptions::default()
        };
        let s = Session::from_dump(Dump::from_vec(bytes).unwrap(), &opts).unwrap();
        let out = run(&s, "");
        let row = &out.rows()[0];
        let vm = &kernel.manifest.vm;
        assert_eq!(
            row["free_system_ptes"].as_u64(),
            vm.free_system_ptes,
            "{name}: {:?}",
            out.warnings()
        );
        assert!(vm.free_system_ptes.is_some(), "{name}");
        assert_eq!(
            row["special_pool_pages"].as_u64(),
            vm.special_pool_pages,
            "{name}"
        );
        let src = &out.summary().unwrap()["sources"]["free_system_ptes"];
        assert!(
            src.as_str().unwrap().contains("(user symbols)"),
            "{name}: {src}"
        );
    }
}

/// The same pressure on the segment-heap builds: failures recorded (`ExPoolFailures`), little
/// available, every figure equal to the manifest. No paged-pool usage or maximum has a known
/// source there, so they are named, not invented.
#[test]
fn segment_heap_pool_under_pressure_with_failures() {
    for name in ["win10-2004-x64", "win2022-x64", "win11-21h2-x64"] {
        let profile = testkit::profile(name).unwrap();
        let mut b = KernelBuilder::standard(profile).seed(3).memory_mib(64);
        for _ in 0..64 {
            b = b.alloc(b"Leak", 0xf00, PoolKind::NonPagedNx);
        }
        let kernel = b
            .counters(VmCounters {
                available_pages: Some(0x180),
                pool_allocation_failures: Some(4270),
                free_system_ptes: Some(12),
                ..VmCounters::default()
            })
            .build()
            .unwrap();
        let out = run(&session(&kernel, Container::Full), "");
        check_against_manifest(name, &out, &kernel);
        let row = &out.rows()[0];
        assert_eq!(row["pool_allocation_failures"], 4270, "{name}");
        assert_eq!(row["free_system_ptes"], 12, "{name}");
        assert_eq!(row["available_pages"], 0x180, "{name}");
        let text = render_text(&out);
        assert!(
            text.contains("********** 4270 pool allocations have failed **********"),
            "{name}: {text}"
        );
        // Paged pool usage from `MiState.Vs.PagedPoolInfo` (the segment heap keeps no
        // descriptors), equal to the manifest (checked above).
        let src = out.summary().unwrap()["sources"]["paged_pool_pages"].clone();
        assert_eq!(
            src, "MiState.Vs.PagedPoolInfo.AllocatedPagedPool (embedded profile)",
            "{name}"
        );
        golden(&format!("near-max-{name}"), &text);
    }
}
