//! Pool ranges on every version: the regions the Session reports (ntkernel::poolva) and those the
//! plugin reads through its Target equal the manifest's on every testkit profile, and `!poolfind`
//! finds every manifest block of the classic-pool Windows 7 / 8.1 / 10 profiles by scanning them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{open, profiles, run};
use ntkernel::poolva::PoolKind;
use poolcmds::{poolfind, scan};

#[test]
fn regions_equal_the_manifest_on_every_profile() {
    for name in profiles() {
        let (k, s) = open(name, &[]);
        let m = &k.manifest;
        let got = s.pool_regions();
        let want: Vec<(&str, u64, u64)> = m
            .pool_regions
            .iter()
            .map(|r| (r.pool, r.start.0, r.end.0))
            .collect();
        let have: Vec<(&str, u64, u64)> = got
            .regions
            .iter()
            .map(|r| {
                let pool = match r.kind {
                    PoolKind::NonPaged => "nonpaged",
                    PoolKind::Paged => "paged",
                };
                (pool, r.start, r.end)
            })
            .collect();
        assert_eq!(have, want, "{name}: {:?}", got.warnings);
        for (r, w) in got.regions.iter().zip(&m.pool_regions) {
            for part in w.source.split("..") {
                assert!(
                    r.source.contains(part),
                    "{name}: {} vs {}",
                    r.source,
                    w.source
                );
            }
        }
        // A pool the manifest has no range for is said to be unknown, and only then.
        assert_eq!(
            got.warnings.len(),
            2 - want.len(),
            "{name}: {:?}",
            got.warnings
        );
        // The plugin's path (through the Target) gives the same.
        let layout = poollayout::Layout::for_build(
            if k.profile.arch.ptr_size() == 8 {
                poollayout::Arch::X64
            } else {
                poollayout::Arch::X86
            },
            k.profile.build,
        )
        .unwrap();
        let (regions, warnings) = scan::regions(&s, &layout);
        let plugin: Vec<(&str, u64, u64)> = regions
            .iter()
            .map(|r| (if r.paged { "paged" } else { "nonpaged" }, r.start, r.end))
            .collect();
        assert_eq!(plugin, want, "{name}: {warnings:?}");
    }
    // Every version has both ranges except Windows 8.1's nonpaged pool.
    let (k, _) = open("win81-x64", &[]);
    assert_eq!(k.manifest.pool_regions.len(), 1);
    for name in [
        "win7sp1-x64",
        "win10-1607-x64",
        "win10-1809-x64",
        "win11-21h2-x64",
        "xpsp3-x86",
    ] {
        assert_eq!(open(name, &[]).0.manifest.pool_regions.len(), 2, "{name}");
    }
}

#[test]
fn poolfind_scans_every_manifest_block_on_classic_windows_7_to_10() {
    for name in [
        "win7sp1-x64",
        "win81-x64",
        "win10-1607-x64",
        "win10-1809-x64",
    ] {
        let (k, s) = open(name, &[]);
        let m = &k.manifest;
        for region in &m.pool_regions {
            let paged = region.pool == "paged";
            let args = if paged { "* 1" } else { "*" };
            let out = run(poolfind::run, &s, args).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut got: Vec<(String, String)> = out
                .rows()
                .iter()
                .filter(|r| r["source"] == "scan")
                .map(|r| {
                    (
                        r["address"].as_str().unwrap().to_string(),
                        // A free block's zero tag: the manifest writes it empty.
                        r["tag"].as_str().unwrap().replace("\\x00", ""),
                    )
                })
                .collect();
            let mut want: Vec<(String, String)> = m
                .blocks
                .iter()
                .filter(|b| b.address.0 >= region.start.0 && b.address.0 < region.end.0)
                .map(|b| (format!("{:#x}", b.address.0), b.tag.clone()))
                .collect();
            got.sort();
            want.sort();
            assert!(!want.is_empty(), "{name} {}", region.pool);
            assert_eq!(got, want, "{name} {} pool", region.pool);
            assert!(
                out.warnings()
                    .iter()
                    .all(|w| !w.contains(&format!("the {} pool range", region.pool))),
                "{name}: {:?}",
                out.warnings()
            );
        }
        if m.pool_regions.len() < 2 {
            // Windows 8.1: the nonpaged range is not established; the output says how its pages
            // were found instead (`win81_nonpaged_pool_is_found_by_its_headers`).
            let out = run(poolfind::run, &s, "*").unwrap();
            assert!(
                out.warnings()
                    .iter()
                    .any(|w| w.contains("nonpaged pool range not established for build 9600")),
                "{name}: {:?}",
                out.warnings()
            );
        }
    }
}

/// A block row of `!poolfind` and a manifest block, field by field: address, size, tag, state,
/// and the pool type of an allocated block.
type BlockKey = (String, u64, String, String, Option<String>);

fn found_scan(out: &plugin_sdk::Output) -> Vec<BlockKey> {
    let mut v: Vec<BlockKey> = out
        .rows()
        .iter()
        .filter(|r| r["source"] == "scan")
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["size"].as_u64().unwrap(),
                r["tag"].as_str().unwrap().replace("\\x00", ""),
                r["state"].as_str().unwrap().to_string(),
                r["pool_type"].as_str().map(str::to_string),
            )
        })
        .collect();
    v.sort();
    v
}

fn manifest_blocks(m: &testkit::Manifest, pool_type: &str) -> Vec<BlockKey> {
    let mut v: Vec<BlockKey> = m
        .blocks
        .iter()
        .filter(|b| b.pool_type == pool_type)
        .map(|b| {
            (
                format!("{:#x}", b.address.0),
                b.size,
                b.tag.clone(),
                b.state.clone(),
                (b.state == "allocated").then(|| b.pool_type.clone()),
            )
        })
        .collect();
    v.sort();
    v
}

/// Issue #18: Windows 8.1 x64 keeps no public nonpaged pool bound. From the page tables the
/// kernel's system VA is searched and a page counts by its validated headers: `!poolfind *`
/// finds every nonpaged manifest block, field by field, nothing else, and says how (text once,
/// JSON `summary.by_headers`).
#[test]
fn win81_nonpaged_pool_is_found_by_its_headers() {
    let (k, s) = open("win81-x64", &[]);
    let m = &k.manifest;
    let out = run(poolfind::run, &s, "*").unwrap();
    let want = manifest_blocks(m, "NonPagedPool");
    assert!(want.len() > 10, "{}", want.len());
    assert_eq!(found_scan(&out), want);
    let note = "nonpaged pool range not established for build 9600";
    let text = common::text(&out);
    assert_eq!(text.matches(note).count(), 1, "{text}");
    assert!(text.contains("validated pool headers"), "{text}");
    let summary = out.summary().unwrap();
    let bh = summary["classified"].as_array().unwrap();
    assert_eq!(bh.len(), 1, "{summary}");
    assert_eq!(bh[0]["pool"], "nonpaged");
    assert_eq!(bh[0]["by"], "pool headers");
    assert_eq!(bh[0]["start"], "0xffff800000000000");
    assert!(bh[0]["note"].as_str().unwrap().starts_with(note));
    assert!(summary["page_tables"]["present"].as_u64().unwrap() > 0);
    // The paged pool keeps its established range and no note.
    let out = run(poolfind::run, &s, "* 1").unwrap();
    assert_eq!(found_scan(&out), manifest_blocks(m, "PagedPool"));
    assert!(out.summary().unwrap().get("classified").is_none());
    assert!(
        out.warnings()
            .iter()
            .all(|w| !w.contains("not established"))
    );
}

/// Issue #18 and #19 ("8.1 paged pool range without symbols"): the same kernel with its
/// profile withheld and no symbols establishes neither range; both pools are found by their
/// headers, every manifest block of each, in a crash dump.
#[test]
fn win81_without_symbols_finds_both_pools_by_their_headers() {
    let k = testkit::KernelBuilder::standard(testkit::profile("win81-x64").unwrap())
        .withhold_profile()
        .build()
        .unwrap();
    let (bytes, _) = testkit::write_vec(
        &k,
        testkit::Container::Full,
        &testkit::WriteOptions::default(),
    )
    .unwrap();
    let s = pooldbg::session::Session::from_dump(
        dumpfile::Dump::from_vec(bytes).unwrap(),
        &pooldbg::session::SessionOptions::default(),
    )
    .unwrap();
    let m = &k.manifest;
    for (args, pool_type, pool) in [
        ("*", "NonPagedPool", "nonpaged"),
        ("* 1", "PagedPool", "paged"),
    ] {
        let out = run(poolfind::run, &s, args).unwrap();
        assert_eq!(found_scan(&out), manifest_blocks(m, pool_type), "{pool}");
        let summary = out.summary().unwrap();
        assert_eq!(summary["classified"][0]["pool"], pool, "{summary}");
        let w: Vec<&String> = out
            .warnings()
            .iter()
            .filter(|w| w.contains("not established"))
            .collect();
        assert_eq!(w.len(), 1, "{pool}: {:?}", out.warnings());
        assert!(w[0].starts_with(&format!("{pool} pool range not established")));
    }
}

/// Without page tables (no `present_pages`) a pool whose range is not established is not
/// searched: the 8.1 nonpaged pool stays unscanned and the warning says so, as before.
#[test]
fn without_page_tables_the_unestablished_pool_is_not_searched() {
    let (_, s) = open("win81-x64", &[]);
    struct NoTables<'a>(&'a pooldbg::session::Session);
    let t = NoTables(&s);
    impl plugin_sdk::Target for NoTables<'_> {
        fn read_virtual(&self, r: &mut [plugin_sdk::Read<'_>]) {
            self.0.read_virtual(r)
        }
        fn read_physical(&self, r: &mut [plugin_sdk::Read<'_>]) {
            self.0.read_physical(r)
        }
        fn symbol_address(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
            self.0.symbol_address(n)
        }
        fn type_size(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
            self.0.type_size(n)
        }
        fn field_offset(&self, t: &str, f: &str) -> Option<plugin_sdk::FieldOffset> {
            self.0.field_offset(t, f)
        }
        fn info(&self) -> plugin_sdk::TargetInfo {
            self.0.info()
        }
        fn pool_tag(&self, t: [u8; 4]) -> Option<plugin_sdk::TagInfo> {
            self.0.pool_tag(t)
        }
        fn log(&self, l: plugin_sdk::LogLevel, m: &str) {
            self.0.log(l, m)
        }
        fn is_cancelled(&self) -> bool {
            false
        }
    }
    let out = run_on(&t, "*");
    assert!(found_scan(&out).is_empty());
    assert!(
        out.warnings()
            .iter()
            .any(|w| w.contains("nonpaged pool range is unknown") && w.contains("not scanned")),
        "{:?}",
        out.warnings()
    );
}

fn run_on(t: &dyn plugin_sdk::Target, args: &str) -> plugin_sdk::Output {
    let mut out = plugin_sdk::Output::new();
    poolfind::run(t, args, &mut out).unwrap();
    out
}

#[test]
fn big_page_table_is_read_on_xp_and_2003() {
    for name in [
        "xpsp3-x86",
        "win2003sp2-x86",
        "win2003sp2-x86pae",
        "win2003sp2-x64",
    ] {
        let (k, s) = open(name, &[]);
        let m = &k.manifest;
        let layout = poollayout::Layout::for_build(
            if k.profile.arch.ptr_size() == 8 {
                poollayout::Arch::X64
            } else {
                poollayout::Arch::X86
            },
            k.profile.build,
        )
        .unwrap();
        let bt = scan::big_table(&s, &layout)
            .unwrap_or_else(|e| panic!("{name}: {e}; notes {:?}", s.notes()));
        assert_eq!(bt.address, m.big_page_table.address.0, "{name}");
        assert_eq!(bt.entries, m.big_page_table.entries, "{name}");
        let mut got: Vec<u64> = bt.live.iter().map(|e| e.va).collect();
        let mut want: Vec<u64> = m
            .big_allocations
            .iter()
            .filter(|b| b.state == "allocated")
            .map(|b| b.address.0)
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{name}");
        // The answer is a guess, and says so.
        assert!(
            s.notes()
                .iter()
                .any(|n| n.contains("PoolBigPageTable") && n.contains("Volatility 2")),
            "{name}: {:?}",
            s.notes()
        );
    }
    // Windows 2000: no distance is known and the output says why.
    let (_, s) = open("win2000-x86", &[]);
    let out = run(poolfind::run, &s, "Leak").unwrap();
    assert!(
        out.warnings()
            .iter()
            .any(|w| w.contains("big page table not read")),
        "{:?}",
        out.warnings()
    );
}

#[test]
fn pool_without_address_lists_regions_and_the_paged_bitmap_on_7_and_81() {
    for name in ["win7sp1-x64", "win81-x64"] {
        let (k, s) = open(name, &[]);
        let m = &k.manifest;
        let out = run(poolcmds::pool::run, &s, "").unwrap_or_else(|e| panic!("{name}: {e}"));
        let summary = out.summary().unwrap();
        let regions: Vec<(String, String, String)> = summary["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["pool"].as_str().unwrap().to_string(),
                    r["start"].as_str().unwrap().to_string(),
                    r["source"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(regions.len(), m.pool_regions.len(), "{name}");
        for (got, want) in regions.iter().zip(&m.pool_regions) {
            assert_eq!(got.0, want.pool, "{name}");
            assert_eq!(got.1, format!("{:#x}", want.start.0), "{name}");
            assert!(!got.2.is_empty(), "{name}");
        }
        // The paged pool bitmap's busy runs are counted from the paged region's start.
        let bm = m.paged_pool_bitmap.as_ref().expect("bitmap");
        let start = m.profile.paged_pool_start.0;
        let mut busy: Vec<(u64, u64)> = out
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
        // Without EndOfPagedPoolBitmap (7, 8.1) adjacent allocations merge: compare page sets.
        let pages = |runs: &[(u64, u64)]| {
            let mut v: Vec<u64> = runs.iter().flat_map(|&(f, n)| f..f + n).collect();
            v.sort();
            v
        };
        busy.sort();
        assert!(!busy.is_empty(), "{name}");
        assert_eq!(
            pages(&busy),
            pages(&bm.busy_runs),
            "{name}: {:?}",
            out.warnings()
        );
    }
}

/// Windows 10 1607 and 1809 with their nonpaged pool pages scattered over 1 TiB of
/// `MiState.Vs.SystemVaRegions` (testkit `scatter_nonpaged_pool`): the scan walks the region's
/// page tables, finds every manifest block however far out, and says how it classified the pages.
#[test]
fn poolfind_finds_pool_scattered_over_a_terabyte_from_the_page_tables() {
    for name in ["win10-1607-x64", "win10-1809-x64"] {
        let p = testkit::profile(name).unwrap();
        let k = testkit::KernelBuilder::standard(p)
            .scatter_nonpaged_pool(1 << 40)
            .build()
            .unwrap();
        let (bytes, _) = testkit::write_vec(
            &k,
            testkit::Container::Full,
            &testkit::WriteOptions::default(),
        )
        .unwrap();
        let s = pooldbg::session::Session::from_dump(
            dumpfile::Dump::from_vec(bytes).unwrap(),
            &pooldbg::session::SessionOptions::default(),
        )
        .unwrap();
        let m = &k.manifest;
        let region = m
            .pool_regions
            .iter()
            .find(|r| r.pool == "nonpaged")
            .unwrap();
        assert!(region.end.0 - region.start.0 >= 1 << 40, "{name}");
        let out = run(poolfind::run, &s, "*").unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got: Vec<String> = out
            .rows()
            .iter()
            .filter(|r| r["source"] == "scan")
            .map(|r| r["address"].as_str().unwrap().to_string())
            .collect();
        let mut want: Vec<String> = m
            .blocks
            .iter()
            .filter(|b| b.address.0 >= region.start.0 && b.address.0 < region.end.0)
            .map(|b| format!("{:#x}", b.address.0))
            .collect();
        got.sort();
        want.sort();
        let far = want
            .iter()
            .filter(|a| u64::from_str_radix(&a[2..], 16).unwrap() - region.start.0 > 64 << 30)
            .count();
        assert!(far > 0, "{name}: blocks beyond the old 64 GiB cut");
        assert_eq!(got, want, "{name}");
        let pt = &out.summary().unwrap()["page_tables"];
        assert_eq!(pt["present"], pt["valid"], "{name}: {pt}");
        assert!(
            pt["not_mapped"].as_u64().unwrap() > (1u64 << 40) / 0x1000 / 2,
            "{name}: {pt}"
        );
        assert!(
            out.warnings().iter().all(|w| !w.contains("64 GiB")),
            "{name}: {:?}",
            out.warnings()
        );
    }
}

/// A Session whose tracker tables are hidden, so `!poolused` rebuilds its counters by scan.
struct NoTrackers<'a>(&'a pooldbg::session::Session);

impl plugin_sdk::Target for NoTrackers<'_> {
    fn read_virtual(&self, r: &mut [plugin_sdk::Read<'_>]) {
        self.0.read_virtual(r)
    }
    fn read_physical(&self, r: &mut [plugin_sdk::Read<'_>]) {
        self.0.read_physical(r)
    }
    fn symbol_address(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
        let bare = n.trim_start_matches("nt!");
        if bare.starts_with("PoolTrackTable") || bare == "ExPoolTagTables" {
            return None;
        }
        self.0.symbol_address(n)
    }
    fn type_size(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
        self.0.type_size(n)
    }
    fn field_offset(&self, t: &str, f: &str) -> Option<plugin_sdk::FieldOffset> {
        self.0.field_offset(t, f)
    }
    fn info(&self) -> plugin_sdk::TargetInfo {
        self.0.info()
    }
    fn pool_tag(&self, t: [u8; 4]) -> Option<plugin_sdk::TagInfo> {
        self.0.pool_tag(t)
    }
    fn log(&self, l: plugin_sdk::LogLevel, m: &str) {
        self.0.log(l, m)
    }
    fn is_cancelled(&self) -> bool {
        false
    }
    fn present_pages(&self, s: u64, e: u64, n: usize) -> Option<plugin_sdk::PresentPages> {
        self.0.present_pages(s, e, n)
    }
}

/// `!poolused` by scan on 8.1: the nonpaged pool's blocks, found by their headers, are counted
/// per tag exactly as the manifest has them (small blocks and big allocations), and the JSON
/// summary says how they were classified.
#[test]
fn win81_poolused_by_scan_counts_the_nonpaged_pool_found_by_headers() {
    let (k, s) = open("win81-x64", &[]);
    let m = &k.manifest;
    let t = NoTrackers(&s);
    let mut out = plugin_sdk::Output::new();
    poolcmds::poolused::run(&t, "", &mut out).unwrap();
    let summary = out.summary().unwrap();
    assert_eq!(summary["source"], "scan", "{:?}", out.warnings());
    assert_eq!(summary["classified"][0]["pool"], "nonpaged", "{summary}");
    assert_eq!(summary["classified"][0]["by"], "pool headers");
    let mut want: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for b in m
        .blocks
        .iter()
        .filter(|b| b.state == "allocated" && b.pool_type == "NonPagedPool")
    {
        let e = want.entry(b.tag.clone()).or_default();
        e.0 += 1;
        e.1 += b.size;
    }
    for b in m
        .big_allocations
        .iter()
        .filter(|b| b.state == "allocated" && b.pool_type == "NonPagedPool")
    {
        let e = want.entry(b.tag.clone()).or_default();
        e.0 += 1;
        e.1 += b.size;
    }
    let got: std::collections::BTreeMap<String, (u64, u64)> = out
        .rows()
        .iter()
        .filter(|r| r["nonpaged_allocs"].as_u64().unwrap() > 0)
        .map(|r| {
            (
                r["tag"].as_str().unwrap().to_string(),
                (
                    r["nonpaged_allocs"].as_u64().unwrap(),
                    r["nonpaged_bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert!(want.len() > 3);
    assert_eq!(got, want);
}
