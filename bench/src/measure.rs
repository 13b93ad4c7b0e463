//! The in-process measurements: pooldbg's library against memcpy of the same bytes and against the
//! `kdmp-parser` crate on the same pages, each pattern timed several times (median kept, minimum
//! beside it).

use std::hint::black_box;
use std::io::SeekFrom;
use std::path::Path;
use std::time::Instant;

use dumpfile::{Dump, PhysicalMemory};
use kdmp_parser::gxa::{Gpa, Gva};
use kdmp_parser::map::MappedFileReader;
use kdmp_parser::parse::KernelDumpParser;
use plugin_sdk::Output;
use pooldbg::session::{Session, SessionOptions};
use serde_json::{Value, json};

use crate::alloc;
use crate::dumps::{self, MAIN_PROFILE, SCAN_PROFILE, Spec};

const PAGE: usize = 0x1000;

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Pages per physical-read pattern.
    pages: usize,
    /// Samples per measurement.
    reps: usize,
}

fn sizes(quick: bool) -> Sizes {
    if quick {
        Sizes {
            pages: 4096,
            reps: 3,
        }
    } else {
        Sizes {
            pages: 65536,
            reps: 5,
        }
    }
}

/// Times `f` `reps` times (after one untimed warm-up run); returns the seconds of each run.
fn time(reps: usize, mut f: impl FnMut()) -> Vec<f64> {
    f();
    (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// A timing as JSON: median and minimum seconds, and throughput in MB/s (10^6) when `bytes` is
/// given.
fn timing(samples: &[f64], bytes: Option<u64>) -> Value {
    let med = median(samples);
    let mut v = json!({ "median_s": med, "min_s": min(samples), "samples": samples.len() });
    if let Some(b) = bytes {
        v["bytes"] = json!(b);
        v["mb_per_s"] = json!(b as f64 / med / 1e6);
        v["best_mb_per_s"] = json!(b as f64 / min(samples) / 1e6);
    }
    v
}

/// A cheap checksum of a buffer (wrapping sum of 64-bit words), to check two readers agree.
fn checksum(acc: u64, buf: &[u8]) -> u64 {
    buf.chunks_exact(8).fold(acc, |a, w| {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        a.wrapping_add(u64::from_le_bytes(b)).rotate_left(1)
    })
}

/// A xorshift generator (deterministic page samples).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The present page frame numbers of a dump, in order.
fn present_pfns(dump: &Dump) -> Vec<u64> {
    let mut out = Vec::new();
    for (start, len) in dump.physical_ranges() {
        let first = start / PAGE as u64;
        let n = len / PAGE as u64;
        out.extend(first..first + n);
    }
    out
}

/// Opens a dump with kdmp-parser, memory-mapped (its fastest reader) whatever the file size.
fn kdmp_open(path: &Path) -> Result<KernelDumpParser, String> {
    let reader = MappedFileReader::new(path).map_err(|e| format!("kdmp-parser: mmap: {e}"))?;
    KernelDumpParser::with_reader(reader).map_err(|e| format!("kdmp-parser: {e}"))
}

/// The file offsets of `pfns` as kdmp-parser maps them (for the memcpy baseline).
fn file_offsets(parser: &KernelDumpParser, pfns: &[u64]) -> Result<Vec<usize>, String> {
    let phys = kdmp_parser::phys::Reader::new(parser);
    pfns.iter()
        .map(|&pfn| match phys.translate(Gpa::new(pfn << 12)) {
            Ok(SeekFrom::Start(o)) => Ok(o as usize),
            Ok(other) => Err(format!("kdmp-parser: page {pfn:#x} at {other:?}")),
            Err(e) => Err(format!("kdmp-parser: page {pfn:#x}: {e}")),
        })
        .collect()
}

/// Times several contenders in turn, sample by sample (so a change in the machine's load falls on
/// all of them alike), after one untimed warm-up run each; returns each one's samples.
fn time_interleaved(reps: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    for f in fs.iter_mut() {
        f();
    }
    let mut out = vec![Vec::new(); fs.len()];
    for _ in 0..reps.max(1) {
        for (i, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            f();
            out[i].push(t.elapsed().as_secs_f64());
        }
    }
    out
}

/// Copies the pages at `offsets` of `file` into `buf` (the memcpy baseline).
fn copy_pages(file: &[u8], offsets: &[usize], buf: &mut [u8]) {
    for &o in offsets {
        if let Some(src) = file.get(o..o + PAGE) {
            buf.copy_from_slice(black_box(src));
        }
        black_box(&*buf);
    }
}

/// A peer's read of item `i` into a buffer.
type PeerRead<'a> = dyn Fn(&KernelDumpParser, usize, &mut [u8]) -> Result<(), String> + 'a;

/// Reads 4 KiB pages with pooldbg, kdmp-parser and memcpy (of the same physical pages, from the
/// mapping), checks that pooldbg and kdmp-parser read the same bytes, and times them interleaved.
/// `ours(i, buf)` and `peer(i, buf)` read item `i`; `pfns[i]` is its physical page.
fn three_way(
    items: usize,
    pfns: &[u64],
    file: &[u8],
    kdmp: Option<&KernelDumpParser>,
    reps: usize,
    ours: &dyn Fn(usize, &mut [u8]),
    peer: &PeerRead<'_>,
) -> Value {
    let bytes = (items * PAGE) as u64;
    let (mut b1, mut b2, mut b3) = (vec![0u8; PAGE], vec![0u8; PAGE], vec![0u8; PAGE]);
    let mut ours_sum = 0u64;
    for i in 0..items {
        ours(i, &mut b1);
        ours_sum = checksum(ours_sum, &b1);
    }
    let mut run_ours = || {
        for i in 0..items {
            ours(i, &mut b1);
            black_box(&b1);
        }
    };
    let Some(parser) = kdmp else {
        let t = time_interleaved(reps, &mut [&mut run_ours]);
        return json!({ "pooldbg": timing(&t[0], Some(bytes)) });
    };
    let mut peer_sum = 0u64;
    let mut peer_err = None;
    for i in 0..items {
        b2.fill(0);
        if let Err(e) = peer(parser, i, &mut b2) {
            peer_err.get_or_insert(e);
        }
        peer_sum = checksum(peer_sum, &b2);
    }
    let mut run_peer = || {
        for i in 0..items {
            let r = peer(parser, i, &mut b2);
            black_box((&r, &b2));
        }
    };
    let offsets = file_offsets(parser, pfns);
    let mut v = match &offsets {
        Ok(offsets) => {
            let mut run_copy = || copy_pages(file, offsets, &mut b3);
            let t = time_interleaved(reps, &mut [&mut run_ours, &mut run_peer, &mut run_copy]);
            json!({
                "pooldbg": timing(&t[0], Some(bytes)),
                "kdmp_parser": timing(&t[1], Some(bytes)),
                "memcpy": timing(&t[2], Some(bytes)),
            })
        }
        Err(e) => {
            let t = time_interleaved(reps, &mut [&mut run_ours, &mut run_peer]);
            json!({
                "pooldbg": timing(&t[0], Some(bytes)),
                "kdmp_parser": timing(&t[1], Some(bytes)),
                "memcpy_error": e,
            })
        }
    };
    v["same_bytes"] = json!(peer_sum == ours_sum && peer_err.is_none());
    if let Some(e) = peer_err {
        v["kdmp_parser_error"] = json!(e);
    }
    v
}

/// One physical read pattern over `pfns`: pooldbg, kdmp-parser and memcpy of the same pages.
fn physical_pattern(
    name: &str,
    dump: &Dump,
    kdmp: Option<&KernelDumpParser>,
    pfns: &[u64],
    reps: usize,
) -> Value {
    let ours = |i: usize, buf: &mut [u8]| {
        let o = dump.read_physical(pfns[i] << 12, buf);
        black_box(&o);
    };
    let peer = |p: &KernelDumpParser, i: usize, buf: &mut [u8]| {
        kdmp_parser::phys::Reader::new(p)
            .read_exact(Gpa::new(pfns[i] << 12), buf)
            .map_err(|e| format!("page {:#x}: {e}", pfns[i]))
    };
    let mut v = three_way(pfns.len(), pfns, dump.bytes(), kdmp, reps, &ours, &peer);
    v["pattern"] = json!(name);
    v["pages"] = json!(pfns.len());
    v
}

/// Virtual reads of kernel pages, 4 KiB each: the pool pages the manifest lists (cycled to
/// `pages`), through pooldbg's paging and kdmp-parser's, and memcpy of the same physical pages.
fn virtual_pattern(
    session: &Session,
    kdmp: Option<&KernelDumpParser>,
    vas: &[u64],
    pages: usize,
    reps: usize,
) -> Value {
    let Some(space) = session.address_space() else {
        return json!({ "pattern": "virtual", "error": "no address space" });
    };
    let mapped: Vec<(u64, u64)> = vas
        .iter()
        .filter_map(|&va| space.translate(va).ok().map(|t| (va, t.pa >> 12)))
        .filter(|&(_, pfn)| session.dump().page(pfn).is_ok())
        .collect();
    let (Some(first), Some(last)) = (mapped.first(), mapped.last()) else {
        return json!({ "pattern": "virtual", "error": "no mapped pool page" });
    };
    let range = format!(
        "{:#x}..{:#x}: {} pool pages",
        first.0,
        last.0 + PAGE as u64,
        mapped.len()
    );
    let list: Vec<(u64, u64)> = mapped.iter().copied().cycle().take(pages).collect();
    let pfns: Vec<u64> = list.iter().map(|&(_, pfn)| pfn).collect();
    let mut failed = 0usize;
    let mut probe = vec![0u8; PAGE];
    for &(va, _) in &list {
        failed += space.read_virtual(va, &mut probe).failed.len();
    }
    let ours = |i: usize, buf: &mut [u8]| {
        let o = space.read_virtual(list[i].0, buf);
        black_box(&o);
    };
    let peer = |p: &KernelDumpParser, i: usize, buf: &mut [u8]| {
        kdmp_parser::virt::Reader::new(p)
            .read_exact(Gva::new(list[i].0), buf)
            .map_err(|e| format!("{:#x}: {e}", list[i].0))
    };
    let mut v = three_way(
        list.len(),
        &pfns,
        session.dump().bytes(),
        kdmp,
        reps,
        &ours,
        &peer,
    );
    v["pattern"] = json!("virtual");
    v["pages"] = json!(list.len());
    v["range"] = json!(range);
    v["failed_spans"] = json!(failed);
    v
}

fn manifest(spec: &Spec, dir: &Path) -> Result<Value, String> {
    let path = spec.manifest(dir);
    let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn hex_field(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// The live big page table entries pooldbg reads (the `windows.bigpools` answer).
fn big_live(session: &Session) -> Result<usize, String> {
    let layout = poolcmds::common::layout_of(session).map_err(|e| e.to_string())?;
    Ok(poolcmds::scan::big_table(session, &layout)
        .map_err(|e| e.to_string())?
        .live
        .len())
}

/// Live big page table entries of the dump at `path` (for `pooldbg-bench bigpools`).
pub fn bigpools(path: &Path) -> Result<usize, String> {
    let session = Session::open(path, &SessionOptions::default()).map_err(|e| e.to_string())?;
    big_live(&session)
}

/// Everything measured on one main-profile dump.
fn one_dump(spec: &Spec, dir: &Path, sz: Sizes) -> Result<Value, String> {
    let path = spec.path(dir);
    let man = manifest(spec, dir)?;
    let file_bytes = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    eprintln!("  {}: open", spec.name);

    // Open + info, and the heap that takes (the mapped file is not heap).
    let open_dump = time(sz.reps, || {
        black_box(Dump::open(&path).ok());
    });
    let mut info_err = None;
    let open_session = time(sz.reps, || {
        match Session::open(&path, &SessionOptions::default()) {
            Ok(s) => {
                black_box(s.kernel().map(|k| k.identity.build));
            }
            Err(e) => {
                info_err.get_or_insert(e.to_string());
            }
        }
    });
    let kdmp_open_t = time(sz.reps, || {
        black_box(kdmp_open(&path).ok());
    });
    let heap_base = alloc::live();
    alloc::reset_peak();
    let session = Session::open(&path, &SessionOptions::default()).map_err(|e| e.to_string())?;
    let session_heap = alloc::peak().saturating_sub(heap_base);
    let heap_base = alloc::live();
    alloc::reset_peak();
    let kdmp = kdmp_open(&path);
    let kdmp_heap = alloc::peak().saturating_sub(heap_base);
    let (kdmp, kdmp_error) = match kdmp {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e)),
    };
    let mut v = json!({
        "name": spec.name,
        "profile": spec.profile,
        "memory_mib": spec.mib,
        "container": if spec.bitmap { "bitmap (type 5)" } else { "full (type 1)" },
        "file_bytes": file_bytes,
        "open": {
            "pooldbg_dump": timing(&open_dump, None),
            "pooldbg_session": timing(&open_session, None),
            "kdmp_parser": timing(&kdmp_open_t, None),
        },
        "heap": { "pooldbg_open_peak": session_heap, "kdmp_parser_open_peak": kdmp_heap },
    });
    if let Some(e) = info_err {
        v["open"]["pooldbg_session_error"] = json!(e);
    }
    if let Some(e) = &kdmp_error {
        v["kdmp_parser_error"] = json!(e);
    }

    // Physical reads.
    eprintln!("  {}: physical reads", spec.name);
    let dump = session.dump();
    let present = present_pfns(dump);
    v["present_pages"] = json!(present.len());
    if present.is_empty() {
        return Err(format!("{}: no present page", spec.name));
    }
    let seq: Vec<u64> = present.iter().copied().cycle().take(sz.pages).collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let random: Vec<u64> = (0..sz.pages)
        .map(|_| present[(rng.next() % present.len() as u64) as usize])
        .collect();
    // The page lists, for the Volatility 3 raw-layer reads that `cargo xtask bench` runs, with a
    // checksum of their first 64 pages as pooldbg reads them (the same answer, checked there).
    let mut lists = serde_json::Map::new();
    for (pattern, pfns) in [("sequential", &seq), ("random", &random)] {
        let file = dir.join(format!("{}.{pattern}.pfns", spec.name));
        let text: String = pfns.iter().map(|p| format!("{p}\n")).collect();
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut buf = vec![0u8; PAGE];
        let mut sum = 0u64;
        for &pfn in pfns.iter().take(64) {
            dump.read_physical(pfn << 12, &mut buf);
            sum = checksum(sum, &buf);
        }
        lists.insert(
            pattern.into(),
            json!({ "file": file, "checksum64": format!("{sum:#x}") }),
        );
    }
    v["page_lists"] = Value::Object(lists);
    let mut reads = vec![
        physical_pattern("sequential", dump, kdmp.as_ref(), &seq, sz.reps),
        physical_pattern("random", dump, kdmp.as_ref(), &random, sz.reps),
    ];

    // Virtual reads over the pool: every page holding a block or a big allocation.
    eprintln!("  {}: virtual reads", spec.name);
    let mut vas: Vec<u64> = ["blocks", "big_allocations"]
        .iter()
        .flat_map(|k| man[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|b| hex_field(&b["address"]))
        .map(|a| a & !(PAGE as u64 - 1))
        .collect();
    vas.sort_unstable();
    vas.dedup();
    reads.push(virtual_pattern(
        &session,
        kdmp.as_ref(),
        &vas,
        sz.pages,
        sz.reps,
    ));
    v["reads"] = json!(reads);

    // !poolused from the tracker tables.
    eprintln!("  {}: !poolused", spec.name);
    alloc::reset_peak();
    let heap_base = alloc::live();
    let mut rows = 0;
    let mut poolused_err = None;
    let poolused = time(sz.reps.max(10), || {
        let mut out = Output::new();
        match poolcmds::poolused::run(&session, "", &mut out) {
            Ok(()) => rows = out.rows().len(),
            Err(e) => {
                poolused_err.get_or_insert(e.to_string());
            }
        }
        black_box(&out);
    });
    v["poolused"] = timing(&poolused, None);
    v["poolused"]["tags"] = json!(rows);
    v["poolused"]["manifest_tags"] = json!(man["poolused"].as_array().map_or(0, Vec::len));
    v["poolused"]["heap_peak"] = json!(alloc::peak().saturating_sub(heap_base));
    if let Some(e) = poolused_err {
        v["poolused"]["error"] = json!(e);
    }

    // The big page table (the answer compared with Volatility's windows.bigpools).
    let manifest_big = man["big_allocations"].as_array().map_or(0, |a| {
        a.iter().filter(|b| b["state"] == "allocated").count()
    });
    let big = time(sz.reps, || {
        black_box(big_live(&session).ok());
    });
    v["bigpools"] = timing(&big, None);
    v["bigpools"]["count"] = json!(big_live(&session).ok());
    v["bigpools"]["manifest_count"] = json!(manifest_big);

    // Peak heap of pooldbg's whole workload on this dump, alone: open, every read pattern,
    // !poolused, the big page table (kdmp-parser's allocations released first).
    drop(kdmp);
    drop(session);
    let heap_base = alloc::live();
    alloc::reset_peak();
    let session = Session::open(&path, &SessionOptions::default()).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; PAGE];
    for &pfn in seq.iter().chain(&random) {
        session.dump().read_physical(pfn << 12, &mut buf);
    }
    if let Some(space) = session.address_space() {
        for &va in &vas {
            space.read_virtual(va, &mut buf);
        }
    }
    let mut out = Output::new();
    let _ = poolcmds::poolused::run(&session, "", &mut out);
    let _ = big_live(&session);
    v["heap"]["pooldbg_workload_peak"] = json!(alloc::peak().saturating_sub(heap_base));
    Ok(v)
}

/// The full pool scan (the `!poolfind` path) with 1 and 2 rayon threads, against memcpy of the
/// bytes of the pages it reads, timed interleaved sample by sample.
fn scan(spec: &Spec, dir: &Path, sz: Sizes) -> Result<Value, String> {
    let path = spec.path(dir);
    eprintln!("  {}: pool scan", spec.name);
    let heap_base = alloc::live();
    alloc::reset_peak();
    let session = Session::open(&path, &SessionOptions::default()).map_err(|e| e.to_string())?;
    let layout = poolcmds::common::layout_of(&session).map_err(|e| e.to_string())?;
    let (regions, warnings) = poolcmds::scan::regions(&session, &layout);
    let skip: Vec<(u64, u64)> = poolcmds::scan::big_table(&session, &layout)
        .map(|bt| bt.live.iter().map(|e| (e.va, e.bytes)).collect())
        .unwrap_or_default();
    // The pages the scan reads: every mapped page of the regions (counted outside the timing).
    let space = session
        .address_space()
        .ok_or("no address space for the scan dump")?;
    let mut mapped = Vec::new();
    for r in &regions {
        // The present pages, from the page tables (a region's span may be terabytes).
        let mut at = r.start;
        while at < r.end {
            let w = space.present_runs(at, r.end, 4096);
            for run in &w.runs {
                let mut a = run.va;
                while a < run.end() {
                    // Pages that translate to a page the dump holds: what the scan reads.
                    if let Ok(t) = space.translate(a)
                        && session.dump().page(t.pa >> 12).is_ok()
                    {
                        mapped.push(t.pa >> 12);
                    }
                    a += PAGE as u64;
                }
            }
            if w.next <= at {
                break;
            }
            at = w.next;
        }
    }
    let region_bytes: u64 = regions.iter().map(|r| r.end - r.start).sum();
    let mapped_bytes = (mapped.len() * PAGE) as u64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1usize, 2, cores];
    counts.sort_unstable();
    counts.dedup();
    let pools = counts
        .iter()
        .map(|&threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    // One scan per pool before kdmp-parser opens the dump (for the baseline's file offsets):
    // the heap peak is pooldbg's alone, open and scans.
    for pool in &pools {
        let _ = pool.install(|| {
            poolcmds::scan::scan_pages(&session, &layout, &regions, &skip, &|_| true)
                .map(|s| s.blocks.len())
        });
    }
    let heap_peak = alloc::peak().saturating_sub(heap_base);
    let offsets = kdmp_open(&path).and_then(|p| file_offsets(&p, &mapped));
    let file = session.dump().bytes();
    let mut page = vec![0u8; PAGE];
    let mut errs: Vec<Option<String>> = vec![None; pools.len()];
    let mut founds = vec![(0u64, 0usize); pools.len()];
    // The scans and memcpy timed in turn, sample by sample (a change in load falls on all).
    let samples = {
        let mut scans: Vec<Box<dyn FnMut() + '_>> = pools
            .iter()
            .zip(errs.iter_mut().zip(founds.iter_mut()))
            .map(|(pool, (err, found))| {
                let (session, layout, regions, skip) = (&session, &layout, &regions, &skip);
                Box::new(move || {
                    let r = pool.install(|| {
                        poolcmds::scan::scan_pages(session, layout, regions, skip, &|_| true)
                            .map(|s| (s.pool_pages, s.blocks.len()))
                            .map_err(|e| e.to_string())
                    });
                    match r {
                        Ok(f) => *found = f,
                        Err(e) => {
                            err.get_or_insert(e);
                        }
                    }
                }) as Box<dyn FnMut() + '_>
            })
            .collect();
        let mut copy = || {
            if let Ok(offsets) = &offsets {
                copy_pages(file, offsets, &mut page);
            }
        };
        let mut fs: Vec<&mut dyn FnMut()> = scans
            .iter_mut()
            .map(|f| &mut **f as &mut dyn FnMut())
            .collect();
        if offsets.is_ok() {
            fs.push(&mut copy);
        }
        time_interleaved(sz.reps, &mut fs)
    };
    let copy_median = offsets
        .as_ref()
        .ok()
        .and_then(|_| samples.last())
        .map(|t| median(t));
    let found = founds.first().copied().unwrap_or_default();
    let mut runs = Vec::new();
    for ((threads, t), err) in counts.iter().zip(&samples).zip(errs) {
        let mut run = json!({ "threads": threads, "pooldbg": timing(t, Some(mapped_bytes)) });
        run["pooldbg"]["region_bytes_per_s"] = json!(region_bytes as f64 / median(t));
        run["pooldbg"]["best_region_bytes_per_s"] = json!(region_bytes as f64 / min(t));
        if let Some(c) = copy_median {
            // The scan's median throughput over memcpy's, timed interleaved in the same run.
            run["ratio_to_memcpy"] = json!(c / median(t));
        }
        if let Some(e) = err {
            run["error"] = json!(e);
        }
        runs.push(run);
    }
    let mut v = json!({
        "name": spec.name,
        "profile": spec.profile,
        "memory_mib": spec.mib,
        "regions": regions.iter().map(|r| json!({"pool": r.name(), "start": format!("{:#x}", r.start), "bytes": r.end - r.start})).collect::<Vec<_>>(),
        "region_warnings": warnings,
        "mapped_pages": mapped.len(),
        "pool_pages": found.0,
        "blocks": found.1,
        "runs": runs,
        "heap_peak": heap_peak,
    });
    match (&offsets, samples.last()) {
        (Ok(_), Some(copy)) => v["memcpy"] = timing(copy, Some(mapped_bytes)),
        (Err(e), _) => v["memcpy_error"] = json!(format!("no file offsets for the baseline: {e}")),
        (Ok(_), None) => {}
    }
    Ok(v)
}

/// Region spans of the sparse scan: 1 GiB to 1 TiB (the full run adds the steps between).
fn sparse_spans(quick: bool) -> Vec<u64> {
    if quick {
        vec![1 << 30, 1 << 40]
    } else {
        vec![1 << 30, 16 << 30, 256 << 30, 1 << 40]
    }
}

/// The classic pool scan of a Windows 10 1809 kernel whose nonpaged pool pages (the same pages
/// each time) are scattered over a region of 1 GiB .. 1 TiB (testkit `scatter_nonpaged_pool`),
/// in memory: with the page tables walked, the time follows the pages present, not the span.
/// `ratio_to_first` is each span's median over the 1 GiB one's, from this run.
fn sparse(sz: Sizes, quick: bool) -> Result<Value, String> {
    eprintln!("  sparse region scan");
    let profile = testkit::profile(MAIN_PROFILE).ok_or("no main profile")?;
    let mut out = Vec::new();
    let mut first = None;
    for span in sparse_spans(quick) {
        let k = testkit::KernelBuilder::standard(profile)
            .scatter_nonpaged_pool(span)
            .build()
            .map_err(|e| e.to_string())?;
        let (bytes, _) = testkit::write_vec(
            &k,
            testkit::Container::Full,
            &testkit::WriteOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        let dump = Dump::from_vec(bytes).map_err(|e| e.to_string())?;
        let session =
            Session::from_dump(dump, &SessionOptions::default()).map_err(|e| e.to_string())?;
        let layout = poolcmds::common::layout_of(&session).map_err(|e| e.to_string())?;
        let (regions, _) = poolcmds::scan::regions(&session, &layout);
        let regions: Vec<_> = regions.into_iter().filter(|r| !r.paged).collect();
        let mut found = (0u64, 0usize);
        let mut err = None;
        let t = time(sz.reps, || {
            match poolcmds::scan::scan_pages(&session, &layout, &regions, &[], &|_| true) {
                Ok(s) => found = (s.pool_pages, s.blocks.len()),
                Err(e) => {
                    err.get_or_insert(e.to_string());
                }
            }
        });
        let med = median(&t);
        let base = *first.get_or_insert(med);
        let mut v = json!({
            "span_bytes": span,
            "region_bytes": regions.iter().map(|r| r.end - r.start).sum::<u64>(),
            "pool_pages": found.0,
            "blocks": found.1,
            "pooldbg": timing(&t, None),
            "ratio_to_first": med / base,
        });
        if let Some(e) = err {
            v["error"] = json!(e);
        }
        out.push(v);
    }
    Ok(json!(out))
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "cpu": model,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "os": std::env::consts::OS,
    })
}

/// Only the pool scans (`scans` of [`all`]): the scan profile's dump and the main profile's
/// largest full dump of the set, written first when missing, `samples` samples each (default:
/// the run's), with the machine it ran on.
pub fn scan_only(dir: &Path, quick: bool, samples: Option<usize>) -> Result<Value, String> {
    let mut sz = sizes(quick);
    if let Some(n) = samples {
        sz.reps = n.max(1);
    }
    let set = dumps::set(quick);
    let mut specs: Vec<&Spec> = set.iter().filter(|s| s.profile == SCAN_PROFILE).collect();
    if let Some(spec) = set
        .iter()
        .filter(|s| s.profile == MAIN_PROFILE && !s.bitmap)
        .max_by_key(|s| s.mib)
    {
        specs.push(spec);
    }
    let machine = machine();
    let mut scans = Vec::new();
    for spec in specs {
        if !spec.is_present(dir) {
            eprintln!("  {}: writing", spec.name);
            spec.write(dir)?;
        }
        scans.push(scan(spec, dir, sz)?);
    }
    Ok(json!({
        "quick": quick,
        "machine": machine,
        "samples": sz.reps,
        "scans": scans,
    }))
}

/// Only the sparse-region scan (`sparse_scan` of [`all`]), with the machine it ran on.
pub fn sparse_only(quick: bool) -> Result<Value, String> {
    let sz = sizes(quick);
    Ok(json!({
        "quick": quick,
        "machine": machine(),
        "samples": sz.reps,
        "sparse_scan": sparse(sz, quick)?,
    }))
}

/// Rows serialized as JSON lines into nothing, counted: what a streaming host does with them,
/// without the host.
struct SinkRows(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl plugin_sdk::OutputStream for SinkRows {
    fn row(&mut self, row: &Value) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        serde_json::to_writer(std::io::sink(), row).is_ok()
    }
    fn line(&mut self, line: &str) -> bool {
        std::io::Write::write_all(&mut std::io::sink(), line.as_bytes()).is_ok()
    }
}

/// `!poolfind *` in process on each dump of `specs` (pairs of one profile, as
/// [`dumps::poolfind_set`] gives them; issue #21): the command's heap peak (counting allocator;
/// the mapped dump is not heap) with a streaming output that serializes every row, the rows it
/// gave, and per profile the peak ratio of the pair's second dump (ten times the blocks) over its
/// first.
fn poolfind_heap(dir: &Path, specs: &[Spec]) -> Result<Value, String> {
    let mut runs = Vec::new();
    for spec in specs {
        eprintln!("  {}: !poolfind * heap", spec.name);
        let session = Session::open(&spec.path(dir), &SessionOptions::default())
            .map_err(|e| format!("{}: {e}", spec.name))?;
        let rows = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let heap_base = alloc::live();
        alloc::reset_peak();
        let mut out = Output::streaming(Box::new(SinkRows(rows.clone())));
        poolcmds::poolfind::run(&session, "*", &mut out)
            .map_err(|e| format!("{}: !poolfind *: {e}", spec.name))?;
        drop(out);
        let peak = alloc::peak().saturating_sub(heap_base);
        runs.push(json!({
            "name": spec.name,
            "profile": spec.profile,
            "blocks": spec.blocks,
            "rows": rows.load(std::sync::atomic::Ordering::Relaxed),
            "heap_peak": peak,
        }));
    }
    let mut ratios = serde_json::Map::new();
    for pair in runs.chunks(2) {
        if let [small, large] = pair {
            let (s, l) = (small["heap_peak"].as_f64(), large["heap_peak"].as_f64());
            if let (Some(s), Some(l), Some(p)) = (s, l, small["profile"].as_str()) {
                ratios.insert(p.to_string(), json!(l / s.max(1.0)));
            }
        }
    }
    Ok(json!({ "runs": runs, "peak_ratio": ratios }))
}

/// Every measurement of the run.
pub fn all(dir: &Path, quick: bool) -> Result<Value, String> {
    let sz = sizes(quick);
    let set = dumps::set(quick);
    let pf = dumps::poolfind_set(quick);
    if let Some(missing) = set.iter().find(|s| !s.is_present(dir)) {
        return Err(format!(
            "{} is missing: run `pooldbg-bench prepare` first",
            missing.path(dir).display()
        ));
    }
    let mut main = Vec::new();
    for spec in set.iter().filter(|s| s.profile == MAIN_PROFILE) {
        main.push(one_dump(spec, dir, sz)?);
    }
    let mut scans = Vec::new();
    for spec in set.iter().filter(|s| s.profile == SCAN_PROFILE) {
        scans.push(scan(spec, dir, sz)?);
    }
    // The main profile's largest full dump scanned too: on Windows 7+ x64 the ranges are not
    // resolved yet, which the result then says.
    if let Some(spec) = set
        .iter()
        .filter(|s| s.profile == MAIN_PROFILE && !s.bitmap)
        .max_by_key(|s| s.mib)
    {
        scans.push(scan(spec, dir, sz)?);
    }
    Ok(json!({
        "quick": quick,
        "machine": machine(),
        "pages_per_pattern": sz.pages,
        "samples": sz.reps,
        "dumps": main,
        "scans": scans,
        "sparse_scan": sparse(sz, quick)?,
        "poolfind_heap": if pf.iter().all(|s| s.is_present(dir)) {
            poolfind_heap(dir, &pf)?
        } else {
            json!({ "skipped": "the pf-* dumps are missing: run `pooldbg-bench prepare` first" })
        },
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn the_quick_set_measures_with_the_same_answers_everywhere() {
        let _one_at_a_time = crate::COUNTERS.lock();
        let dir =
            std::env::temp_dir().join(format!("pooldbg-bench-measure-{}", std::process::id()));
        for spec in dumps::set(true) {
            spec.write(&dir).unwrap();
        }
        let r = all(&dir, true).unwrap();
        let dumps = r["dumps"].as_array().unwrap();
        assert_eq!(dumps.len(), 2);
        for d in dumps {
            let reads = d["reads"].as_array().unwrap();
            assert_eq!(reads.len(), 3, "{d}");
            for read in reads {
                // pooldbg and kdmp-parser read the same bytes; every contender was timed.
                assert_eq!(read["same_bytes"], json!(true), "{read}");
                for who in ["pooldbg", "kdmp_parser", "memcpy"] {
                    assert!(
                        read[who]["best_mb_per_s"].as_f64().unwrap() > 0.0,
                        "{who}: {read}"
                    );
                }
            }
            assert_eq!(
                d["bigpools"]["count"], d["bigpools"]["manifest_count"],
                "{d}"
            );
            assert_eq!(d["poolused"]["tags"], d["poolused"]["manifest_tags"], "{d}");
            assert!(d["heap"]["pooldbg_workload_peak"].as_u64().unwrap() > 0);
        }
        let scans = r["scans"].as_array().unwrap();
        let classic = &scans[0];
        assert_eq!(classic["profile"], SCAN_PROFILE);
        assert!(classic["pool_pages"].as_u64().unwrap() > 0, "{classic}");
        assert!(
            classic["mapped_pages"].as_u64().unwrap() >= classic["pool_pages"].as_u64().unwrap()
        );
        assert_eq!(classic["runs"][0]["threads"], 1);
        assert!(
            r["poolfind_heap"]["skipped"].is_string(),
            "pf-* not written"
        );
        // !poolfind * in process on a small pair per pool model: every block a row.
        let pairs: Vec<Spec> = dumps::POOLFIND_PROFILES
            .iter()
            .flat_map(|&p| [Spec::poolfind(p, 64, 100), Spec::poolfind(p, 64, 1000)])
            .collect();
        for s in &pairs {
            s.write(&dir).unwrap();
        }
        let h = poolfind_heap(&dir, &pairs).unwrap();
        let runs = h["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 4, "{h}");
        for pair in runs.chunks(2) {
            let (s, l) = (&pair[0], &pair[1]);
            let (rs, rl) = (s["rows"].as_u64().unwrap(), l["rows"].as_u64().unwrap());
            // The kernel's own blocks plus the added ones (900 more in the second dump; a few
            // freed neighbours may be listed as one free chunk).
            assert!(rs >= 100 && rl >= rs + 800, "{h}");
            assert!(s["heap_peak"].as_u64().unwrap() > 0, "{h}");
            assert!(
                h["peak_ratio"][s["profile"].as_str().unwrap()]
                    .as_f64()
                    .unwrap()
                    > 0.0
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
