//! `!poolused` on every testkit profile: every tag's counters checked against the manifest, the
//! text and JSON against reviewed golden files; the scan fallback; the real triage dump.

mod common;

use std::collections::BTreeMap;

use common::{golden, json_doc, open, profiles, run, text};
use poolcmds::poolused;

#[test]
fn every_profile_matches_the_manifest_and_the_golden_files() {
    for name in profiles() {
        let (k, s) = open(name, &[]);
        let out = run(poolused::run, &s, "").unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = &k.manifest;
        if name == "win2000-x86" {
            // No tracker table: rebuilt by scanning; checked against the manifest's blocks below.
            assert_eq!(out.summary().unwrap()["source"], "scan", "{name}");
            assert!(
                out.warnings()
                    .iter()
                    .any(|w| w.contains("rebuilt by scanning"))
            );
            assert!(text(&out).contains("No pool tracker table is readable"));
            let mut want: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
            for b in m.blocks.iter().filter(|b| b.state == "allocated") {
                let e = want.entry(b.tag.clone()).or_default();
                if b.pool_type == "PagedPool" {
                    e.2 += 1;
                    e.3 += b.size;
                } else {
                    e.0 += 1;
                    e.1 += b.size;
                }
            }
            // Pages the dump does not hold (testkit's absent page) hide their blocks: at most one
            // page's worth of blocks may be missing, never an invented one.
            let rows = out.rows();
            for r in rows {
                let tag = r["tag"].as_str().unwrap();
                let w = want
                    .get(tag)
                    .unwrap_or_else(|| panic!("{name}: invented tag {tag}"));
                assert!(
                    r["nonpaged_allocs"].as_u64().unwrap() <= w.0,
                    "{name} {tag}"
                );
                assert!(r["paged_allocs"].as_u64().unwrap() <= w.2, "{name} {tag}");
                assert_eq!(r["nonpaged_frees"], 0);
                assert_eq!(r["paged_frees"], 0);
            }
            let found: u64 = rows
                .iter()
                .map(|r| {
                    r["nonpaged_allocs"].as_u64().unwrap() + r["paged_allocs"].as_u64().unwrap()
                })
                .sum();
            let all: u64 = want.values().map(|w| w.0 + w.2).sum();
            assert!(found * 10 >= all * 9, "{name}: scan found {found} of {all}");
        } else {
            assert_eq!(out.summary().unwrap()["source"], "tracker tables", "{name}");
            assert_eq!(out.rows().len(), m.poolused.len(), "{name}: tag count");
            for want in &m.poolused {
                let row = out
                    .rows()
                    .iter()
                    .find(|r| r["tag"] == want.tag.as_str())
                    .unwrap_or_else(|| panic!("{name}: tag {:?} missing", want.tag));
                for (field, v) in [
                    ("nonpaged_allocs", want.nonpaged_allocs),
                    ("nonpaged_frees", want.nonpaged_frees),
                    ("nonpaged_bytes", want.nonpaged_bytes),
                    ("paged_allocs", want.paged_allocs),
                    ("paged_frees", want.paged_frees),
                    ("paged_bytes", want.paged_bytes),
                ] {
                    assert_eq!(row[field], v, "{name}: {} {field}", want.tag);
                }
            }
            // Every table the manifest lists was read (global + per-processor).
            let tables = out.summary().unwrap()["tables"].as_array().unwrap().clone();
            assert_eq!(tables.len(), m.tracker_tables.len(), "{name}: tables read");
            let total = &out.summary().unwrap()["total"];
            let sum =
                |f: fn(&testkit::manifest::PoolUsed) -> u64| m.poolused.iter().map(f).sum::<u64>();
            assert_eq!(total["nonpaged_bytes"], sum(|p| p.nonpaged_bytes), "{name}");
            assert_eq!(total["paged_allocs"], sum(|p| p.paged_allocs), "{name}");
        }
        // Tags come sorted, each with its owner or the UNKNOWN line.
        let tags: Vec<&str> = out
            .rows()
            .iter()
            .map(|r| r["tag"].as_str().unwrap())
            .collect();
        let mut sorted = tags.clone();
        sorted.sort_by_key(|t| t.as_bytes().to_vec());
        assert_eq!(tags, sorted, "{name}");
        let t = text(&out);
        assert!(
            t.contains("UNKNOWN pooltag 'Leak', please update pooltag.txt"),
            "{name}"
        );
        assert!(t.lines().any(|l| l.starts_with("TOTAL")), "{name}");
        golden(&format!("{name}.txt"), &t);
        golden(&format!("{name}.json"), &json_doc("!poolused", "", &out));
    }
}

#[test]
fn sorting_filters_and_verbose() {
    let (k, s) = open("win7sp1-x64", &[]);
    let out = run(poolused::run, &s, "2").unwrap();
    let np: Vec<u64> = out
        .rows()
        .iter()
        .map(|r| r["nonpaged_bytes"].as_u64().unwrap())
        .collect();
    assert!(
        np.windows(2).all(|w| w[0] >= w[1]),
        "sorted by nonpaged bytes: {np:?}"
    );
    assert!(text(&out).contains("Sorting by  NonPaged Pool Consumed"));
    let out = run(poolused::run, &s, "4").unwrap();
    let p: Vec<u64> = out
        .rows()
        .iter()
        .map(|r| r["paged_bytes"].as_u64().unwrap())
        .collect();
    assert!(
        p.windows(2).all(|w| w[0] >= w[1]),
        "sorted by paged bytes: {p:?}"
    );
    let out = run(poolused::run, &s, "0 T*").unwrap();
    let tags: Vec<&str> = out
        .rows()
        .iter()
        .map(|r| r["tag"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = k
        .manifest
        .poolused
        .iter()
        .map(|p| p.tag.as_str())
        .filter(|t| t.starts_with('T'))
        .collect();
    let mut want = want;
    want.sort_by_key(|t| t.as_bytes().to_vec());
    assert_eq!(tags, want);
    let out = run(poolused::run, &s, "1 Leak").unwrap();
    assert_eq!(out.rows().len(), 1);
    let t = text(&out);
    assert!(t.contains("Frees"), "{t}");
    golden("win7sp1-x64-verbose-Leak.txt", &t);
    assert!(
        run(poolused::run, &s, "6").is_err(),
        "2 and 4 exclude each other"
    );
    assert!(run(poolused::run, &s, "zz").is_err());
    // Session pool is not modelled by testkit: a clear error, not invented figures.
    let e = run(poolused::run, &s, "8").unwrap_err().to_string();
    assert!(e.contains("session pool"), "{e}");
}

#[test]
fn the_real_triage_dump_holds_no_pool() {
    let Some(path) = testdata::require("data/dumps/triage_x64.dmp") else {
        return;
    };
    let s = pooldbg::session::Session::open(&path, &Default::default()).expect("open");
    let e = run(poolused::run, &s, "").unwrap_err().to_string();
    assert!(e.contains("holds no pool"), "{e}");
}
