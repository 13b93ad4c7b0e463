//! `!pool` and `!poolfind` on every testkit profile: every block of a page checked against the
//! manifest, the corrupted-pool fixture, big allocations, the paged-pool bitmap, golden files.

mod common;

use common::{classic_profiles as profiles, golden, json_doc, open, run, text};
use poolcmds::{pool, poolfind};
use testkit::Fault;

fn hexs(v: u64) -> String {
    format!("{v:#x}")
}

/// Every block of the page holding the first `Leak` block, field by field.
#[test]
fn pool_page_matches_the_manifest_on_every_profile() {
    for name in profiles() {
        let (k, s) = open(name, &[]);
        let m = &k.manifest;
        let victim = m
            .blocks
            .iter()
            .find(|b| b.tag == "Leak")
            .expect("a Leak block");
        let inside = victim.address.0 + 0x20;
        let page = victim.address.0 & !0xfff;
        let args = format!("{inside:x}");
        let out = run(pool::run, &s, &args).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Vec<_> = m
            .blocks
            .iter()
            .filter(|b| b.address.0 & !0xfff == page)
            .collect();
        assert_eq!(
            out.rows().len(),
            want.len(),
            "{name}: blocks on page {page:#x}"
        );
        for (r, b) in out.rows().iter().zip(&want) {
            assert_eq!(r["address"], hexs(b.address.0), "{name}");
            assert_eq!(r["size"], b.size, "{name} {:#x}", b.address.0);
            assert_eq!(
                r["previous_size"], b.previous_size,
                "{name} {:#x}",
                b.address.0
            );
            assert_eq!(r["state"], b.state.as_str(), "{name} {:#x}", b.address.0);
            if b.state == "allocated" {
                assert_eq!(r["tag"], b.tag.as_str(), "{name} {:#x}", b.address.0);
                assert_eq!(
                    r["pool_type"],
                    b.pool_type.as_str(),
                    "{name} {:#x}",
                    b.address.0
                );
            }
            assert_eq!(
                r["contains_address"],
                b.address.0 == victim.address.0,
                "{name}"
            );
            assert!(r["error"].is_null(), "{name}");
        }
        assert_eq!(out.summary().unwrap()["region"], "page");
        let t = text(&out);
        let star = t.lines().filter(|l| l.starts_with('*')).count();
        assert_eq!(star, 1, "{name}: one marked block\n{t}");
        assert!(t.contains(" *Leak"), "{name}\n{t}");
        golden(&format!("{name}-pool.txt"), &t);
        golden(
            &format!("{name}-pool.json"),
            &json_doc("!pool", &args, &out),
        );
        // Flag 2: only the containing block; 0x80000000: no description line.
        let only = run(pool::run, &s, &format!("{inside:x} 80000002")).unwrap();
        let t = text(&only);
        let lines: Vec<&str> = t.lines().filter(|l| !l.starts_with("warning")).collect();
        assert_eq!(lines.len(), 2, "{name}: header + the block\n{t}");
        assert!(lines[1].starts_with('*'), "{name}\n{t}");
    }
}

#[test]
fn big_allocations_are_found_in_the_big_page_table() {
    for name in profiles() {
        if name == "win2000-x86" || name.starts_with("xp") || name.starts_with("win2003") {
            // No PoolBigPageTable symbol (Windows 2000 has no table; the KDBG of XP/2003 does not
            // name it) — checked below as a plain error/warning.
            continue;
        }
        let (k, s) = open(name, &[]);
        let big = k
            .manifest
            .big_allocations
            .iter()
            .find(|b| b.tag == "CM31" && b.state == "allocated")
            .expect("CM31 big allocation");
        let out = run(pool::run, &s, &format!("{:x}", big.address.0 + 0x1234)).unwrap();
        assert_eq!(out.rows().len(), 1, "{name}");
        let r = &out.rows()[0];
        assert_eq!(r["address"], hexs(big.address.0));
        assert_eq!(r["size"], big.size);
        assert_eq!(r["tag"], "CM31");
        assert_eq!(r["pool_type"], big.pool_type.as_str());
        assert_eq!(out.summary().unwrap()["region"], "big");
        assert!(text(&out).contains("large page allocation, tag is CM31"));
    }
}

#[test]
fn corrupted_header_is_reported_and_the_walk_goes_on() {
    for name in ["xpsp3-x86", "win7sp1-x64", "win10-1809-x64", "win2000-x86"] {
        let (k, s) = open(name, &[Fault::CorruptPoolHeader { tag: *b"Leak" }]);
        let m = &k.manifest;
        let bad = m
            .blocks
            .iter()
            .find(|b| b.error.is_some())
            .expect("faulted block");
        let page = bad.address.0 & !0xfff;
        let args = format!("{:x}", bad.address.0);
        let out = run(pool::run, &s, &args).unwrap();
        // Blocks before the corrupt one are exact.
        let before: Vec<_> = m
            .blocks
            .iter()
            .filter(|b| b.address.0 & !0xfff == page && b.address.0 < bad.address.0)
            .collect();
        for (r, b) in out.rows().iter().zip(&before) {
            assert_eq!(r["address"], hexs(b.address.0), "{name}");
            assert_eq!(r["size"], b.size, "{name}");
        }
        // The corrupt header is listed with the size it claims, and an error is reported at or
        // after it.
        let row = &out.rows()[before.len()];
        assert_eq!(row["address"], hexs(bad.address.0), "{name}");
        assert_ne!(
            row["size"], bad.size,
            "{name}: the header lies about its size"
        );
        assert!(
            out.rows().iter().any(|r| !r["error"].is_null()),
            "{name}: an error row"
        );
        assert!(
            out.warnings().iter().any(|w| w.contains("is corrupt")),
            "{name}"
        );
        // The walk continued: a block the manifest lists after the corruption is found again.
        let after: Vec<_> = m
            .blocks
            .iter()
            .filter(|b| b.address.0 & !0xfff == page && b.address.0 > bad.address.0)
            .collect();
        if let Some(last) = after.last() {
            assert!(
                out.rows()
                    .iter()
                    .any(|r| r["address"] == hexs(last.address.0) && r["size"] == last.size),
                "{name}: resynchronised to the page's last block {:#x}\n{}",
                last.address.0,
                text(&out)
            );
        }
        let t = text(&out);
        assert!(t.contains("Bad "), "{name}\n{t}");
        golden(&format!("{name}-corrupt.txt"), &t);
        golden(
            &format!("{name}-corrupt.json"),
            &json_doc("!pool", &args, &out),
        );
    }
}

#[test]
fn paged_pool_bitmap_listing() {
    for name in ["xpsp3-x86", "win2003sp2-x64"] {
        let (k, s) = open(name, &[]);
        let out = run(pool::run, &s, "").unwrap();
        let bm = k.manifest.paged_pool_bitmap.as_ref().expect("bitmap");
        let start = k.manifest.profile.paged_pool_start.0;
        let busy: Vec<(u64, u64)> = out
            .rows()
            .iter()
            .filter(|r| r["state"] == "busy")
            .map(|r| {
                let a = u64::from_str_radix(
                    r["address"].as_str().unwrap().trim_start_matches("0x"),
                    16,
                )
                .unwrap();
                ((a - start) / 0x1000, r["size"].as_u64().unwrap() / 0x1000)
            })
            .collect();
        let mut want = bm.busy_runs.clone();
        want.sort();
        assert_eq!(
            busy, want,
            "{name}: busy runs (split at EndOfPagedPoolBitmap)"
        );
        let total: u64 = out.rows().iter().map(|r| r["size"].as_u64().unwrap()).sum();
        assert_eq!(total, bm.bits * 0x1000, "{name}: runs cover the bitmap");
        golden(&format!("{name}-regions.txt"), &text(&out));
    }
}

#[test]
fn poolfind_finds_every_block_and_big_allocation() {
    for name in profiles() {
        let (k, s) = open(name, &[]);
        let m = &k.manifest;
        for (args, paged) in [("Leak", false), ("MmSt 1", true)] {
            let tag = &args[..4];
            let out = run(poolfind::run, &s, args).unwrap_or_else(|e| panic!("{name}: {e}"));
            let scanned = out.summary().unwrap()["pool_pages_scanned"]
                .as_u64()
                .unwrap();
            let ptype = if paged { "PagedPool" } else { "NonPagedPool" };
            // Each row is checked against the manifest part its `source` names: the scan's rows
            // against the blocks, the big page table's against the big allocations. (The text
            // lines are streamed, so whether the big table was read is in the summary's count
            // and the first line, not in a `summary.text` that no longer exists.)
            let want_blocks: Vec<String> = if scanned > 0 {
                m.blocks
                    .iter()
                    .filter(|b| b.tag == tag && b.pool_type == ptype)
                    .map(|b| hexs(b.address.0))
                    .collect()
            } else {
                Vec::new()
            };
            let big_known = out
                .lines()
                .first()
                .is_some_and(|l| l.starts_with("Scanning large pool"));
            let mut want_big: Vec<String> = m
                .big_allocations
                .iter()
                .filter(|b| b.tag == tag && b.state == "allocated" && b.pool_type == ptype)
                .map(|b| hexs(b.address.0))
                .collect();
            want_big.sort();
            let mut got_big = Vec::new();
            let mut got_scan = Vec::new();
            for r in out.rows() {
                let a = r["address"].as_str().unwrap().to_string();
                match r["source"].as_str() {
                    Some("big page table") => got_big.push(a),
                    Some("scan") => got_scan.push(a),
                    other => panic!("{name} {args}: row {a} has source {other:?}"),
                }
            }
            got_big.sort();
            got_scan.sort();
            // No block listed twice (a page returned twice by the page-table walk would be).
            let mut all: Vec<&String> = got_big.iter().chain(&got_scan).collect();
            all.sort();
            let n = all.len();
            all.dedup();
            assert_eq!(all.len(), n, "{name} {args}: an address listed twice");
            if big_known {
                assert_eq!(got_big, want_big, "{name} {args}: big page table rows");
            } else {
                assert!(got_big.is_empty(), "{name} {args}: {got_big:?}");
            }
            assert_eq!(
                out.summary().unwrap()["big_page_table_matches"],
                got_big.len(),
                "{name} {args}"
            );
            // The testkit's absent page may hide blocks from the scan: never an invented one.
            for g in &got_scan {
                assert!(
                    want_blocks.contains(g),
                    "{name} {args}: scan row {g} not among the manifest's blocks"
                );
            }
            assert!(
                got_scan.len() + 3 >= want_blocks.len(),
                "{name} {args}: {} of {}",
                got_scan.len(),
                want_blocks.len()
            );
            let got = all;
            assert!(!got.is_empty(), "{name} {args}");
            golden(&format!("{name}-poolfind-{tag}.txt"), &text(&out));
            golden(
                &format!("{name}-poolfind-{tag}.json"),
                &json_doc("!poolfind", args, &out),
            );
        }
    }
}

#[test]
fn the_real_triage_dump_holds_no_pool() {
    let Some(path) = testdata::require("data/dumps/triage_x64.dmp") else {
        return;
    };
    let s = pooldbg::session::Session::open(&path, &Default::default()).expect("open");
    for (f, args) in [
        (pool::run as common::CmdFn, "fffff80000001000"),
        (pool::run, ""),
        (poolfind::run, "Leak"),
    ] {
        let e = run(f, &s, args).unwrap_err().to_string();
        assert!(e.contains("holds no pool"), "{e}");
    }
}
