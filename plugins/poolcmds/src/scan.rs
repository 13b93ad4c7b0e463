//! Finding pool memory: the big page table, the pool ranges, and a parallel scan of classic pool
//! pages (used by `!poolfind` and by `!poolused` when no tracker table is readable).

use plugin_sdk::{CommandError, Target, TargetExt};
use poollayout::regions::VaArch;
use poollayout::{BigPageEntry, Layout, PoolType, WalkedBlock};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::{MAX_TABLE_ENTRIES, read_global};
use crate::error::from_layout;

const PAGE: u64 = 0x1000;
/// Pages read per batch (one `read_virtual` call).
const BATCH: u64 = 64;
/// The largest pool range scanned (64 GiB); larger ranges are cut and said so.
const MAX_RANGE: u64 = 64 << 30;

/// A pool region: its kind, address range (end exclusive) and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// `true` for paged pool.
    pub paged: bool,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The source (`nt!MmNonPagedPoolStart..nt!MmNonPagedPoolEnd`,
    /// `nt!MiState.Vs.SystemVaRegions[1]`, ...).
    pub source: String,
    /// Not the pool's range but part of the kernel's system VA searched for it because the
    /// build keeps no public bound ([`search_regions`]): a page of it counts only when
    /// [`poollayout::Layout::classify_page`] says it is a page of this pool.
    pub by_headers: bool,
}

impl Region {
    /// `"NonPaged"` or `"Paged"`, as WinDbg names the pools.
    pub fn name(&self) -> &'static str {
        if self.paged { "Paged" } else { "NonPaged" }
    }
}

/// [`poollayout::regions::PoolVaView`] over a plugin's `Target`.
struct TargetView<'a> {
    target: &'a dyn Target,
    pointer_size: u32,
}

impl poollayout::regions::PoolVaView for TargetView<'_> {
    fn global(&self, name: &str) -> Option<u64> {
        crate::common::symbol(self.target, name).map(|(a, _)| a)
    }
    fn field_offset(&self, type_name: &str, field: &str) -> Option<u64> {
        self.target.field_offset(type_name, field).map(|f| f.offset)
    }
    fn type_size(&self, type_name: &str) -> Option<u64> {
        self.target.type_size(type_name).map(|s| s.value)
    }
    fn read_pointer(&self, va: u64) -> Result<u64, poollayout::ReadFault> {
        self.target
            .read_pointer(va, self.pointer_size)
            .map_err(|e| crate::error::fault(&e))
    }
}

/// The pool regions of the target, per version as `poollayout::regions` establishes them (the
/// `Mm*PoolStart/End` globals, Windows 7/8.1's own globals, `MiState.Vs.SystemVaRegions[]` on
/// 1607+), and a warning for each pool whose range is unknown.
pub fn regions(target: &dyn Target, layout: &Layout) -> (Vec<Region>, Vec<String>) {
    let view = TargetView {
        target,
        pointer_size: layout.pointer_size() as u32,
    };
    let info = target.info();
    let arch = match info.arch {
        plugin_sdk::Arch::X86 | plugin_sdk::Arch::X86Pae => VaArch::X86,
        plugin_sdk::Arch::Arm64 => VaArch::Arm64,
        _ if layout.pointer_size() == 4 => VaArch::X86,
        _ => VaArch::X64,
    };
    let found = poollayout::regions::pool_regions(&view, arch, info.build);
    let mut warnings: Vec<String> = found
        .warnings
        .into_iter()
        .map(|w| format!("{w}: it is not scanned"))
        .collect();
    let mut out = Vec::new();
    // With the page tables (an empty-range probe answers), a region is walked whole: the cost
    // follows its present pages, not its span.
    let tables = target.present_pages(0, 0, 1).is_some();
    for r in found.regions {
        let paged = r.kind == poollayout::regions::PoolKind::Paged;
        let cut = if tables {
            r.end
        } else {
            r.end.min(r.start.saturating_add(MAX_RANGE))
        };
        if cut < r.end {
            warnings.push(format!(
                "{} pool range {:#x}..{:#x} is larger than 64 GiB: only its first 64 GiB are scanned",
                if paged { "paged" } else { "nonpaged" },
                r.start,
                r.end
            ));
        }
        out.push(Region {
            paged,
            start: r.start,
            end: cut,
            source: r.source,
            by_headers: false,
        });
    }
    (out, warnings)
}

/// Where the kernel's system VA starts and ends (end exclusive) for a search by headers.
///
/// x64: the upper half of the 48-bit canonical space, `0xFFFF8000_00000000` (Intel SDM vol. 1
/// §3.3.7.1, canonical addresses; Microsoft's "Virtual address spaces" page: user space ends at
/// `0x7FFF'FFFFFFFF`, the rest is system space), to the last page, which is left out (an
/// exclusive end cannot be 2^64). x86: `nt!MmSystemRangeStart` when readable and one of the two
/// values Windows uses (`0x80000000`, or `0xC0000000` with the 3 GB user split: the same
/// Microsoft page, "4-gigabyte tuning"), else `0x80000000`, to 4 GiB.
fn system_va(target: &dyn Target, layout: &Layout) -> (u64, u64) {
    if layout.pointer_size() == 8 {
        return (0xFFFF_8000_0000_0000, 0xFFFF_FFFF_FFFF_F000);
    }
    let start = match read_global(target, layout, "MmSystemRangeStart") {
        Ok(Some((v, _))) if v == 0x8000_0000 || v == 0xC000_0000 => v,
        _ => 0x8000_0000,
    };
    (start, 0x1_0000_0000)
}

/// One pool whose range is not established and whose pages are searched for over the kernel's
/// system VA instead ([`search_regions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSearch {
    /// `true` for the paged pool.
    pub paged: bool,
    /// The system VA searched (end exclusive), established regions left out.
    pub start: u64,
    /// One past the last byte searched.
    pub end: u64,
    /// The line the output carries (once in the text, in JSON `summary.classified`).
    pub note: String,
    /// What classified the pages: `"pool headers"` ([`Region::by_headers`] regions) or
    /// `"nt!MiSystemVaType"` (x86: the regions are the slots of the pool's type).
    pub by: &'static str,
}

/// `_MI_SYSTEM_VA_TYPE` values of the two pools: `MiVaNonPagedPool` = 5, `MiVaPagedPool` = 6 —
/// the enum as the ISF files of `shared/data/isf` state it for 7601
/// (`339E74133576439CBCDF7E0229DA3773-1.json.xz`), 9600 (`22597D0B40394E23936F6A24C6C52D5B-1`)
/// and 14393 (`517E128F7B7C4EA79491DE6B9B9CE190-1`) x64, and as the PDB-derived headers of the x86
/// kernels of 8.1 and 10 1709 state it (ntdiff/headers `Win8.1_U1/x86`, `Win10_1709_RS3/x86`,
/// `_MI_SYSTEM_VA_TYPE.h`). Vista's values are not checked here: used from Windows 7 (7600) on.
const MI_VA_NON_PAGED_POOL: u8 = 5;
const MI_VA_PAGED_POOL: u8 = 6;
/// The largest `_MI_SYSTEM_VA_TYPE` value any of those sources lists (`MiVaMaximumType` 17).
const MI_VA_MAX: u8 = 17;

/// x86 Windows 7+: `nt!MiSystemVaType`, one `_MI_SYSTEM_VA_TYPE` byte per large-page slot of the
/// system VA from `MmSystemRangeStart` to 4 GiB, as Volatility 3's `windows.virtmap`
/// (`_enumerate_system_va_type`) reads it: the slot is `page_size² / sizeof(_MMPTE)` (4 MiB, or
/// 2 MiB with PAE). `None` when the symbol is absent, the build is older, or a byte is out of the
/// enum (then the pages are classified by headers instead).
fn system_va_types(target: &dyn Target, layout: &Layout) -> Option<(u64, u64, Vec<u8>)> {
    if layout.pointer_size() != 4 || target.info().build < 7600 {
        return None;
    }
    let (array, _) = crate::common::symbol(target, "MiSystemVaType")?;
    let pte = target.type_size("_MMPTE").map(|s| s.value).unwrap_or(
        if target.info().arch == plugin_sdk::Arch::X86Pae {
            8
        } else {
            4
        },
    );
    if pte != 4 && pte != 8 {
        return None;
    }
    let slot = PAGE * PAGE / pte;
    let (start, end) = system_va(target, layout);
    let count = ((end - start) / slot) as usize; // at most 1024
    let mut types = vec![0u8; count];
    target.read_virtual_exact(array, &mut types).ok()?;
    if types.iter().any(|&t| t > MI_VA_MAX) {
        return None;
    }
    Some((start, slot, types))
}

/// The regions a pool search (`!poolfind`, `!poolused` by scan) walks: [`regions`], and for each
/// pool whose range is not established, when the target enumerates its present pages
/// ([`Target::present_pages`]), the kernel's system VA outside every established region as
/// [`Region::by_headers`] regions (issue #18): a page there is kept only when its validated
/// headers say it is that pool's ([`poollayout::Layout::classify_page`]), so the cost follows
/// the kernel's present pages. Without page tables such a pool stays unscanned (the warning of
/// [`regions`]). The segment heap (19H1+) never uses ranges: nothing is added.
pub fn search_regions(
    target: &dyn Target,
    layout: &Layout,
) -> (Vec<Region>, Vec<String>, Vec<HeaderSearch>) {
    let (mut out, mut warnings) = regions(target, layout);
    if layout.is_segment_heap() {
        return (out, warnings, Vec::new());
    }
    let build = target.info().build;
    let missing: Vec<bool> = [false, true]
        .into_iter()
        .filter(|&p| !out.iter().any(|r| r.paged == p))
        .collect();
    if missing.is_empty() {
        return (out, warnings, Vec::new());
    }
    // The note replacing a pool's "range is unknown ... not scanned" warning.
    let take_why = |warnings: &mut Vec<String>, name: &str| -> String {
        let prefix = format!("the {name} pool range is unknown");
        warnings
            .iter()
            .position(|w| w.starts_with(&prefix))
            .map(|i| warnings.remove(i))
            .and_then(|w| {
                w.split_once(": ")
                    .map(|(_, r)| r.trim_end_matches(": it is not scanned").to_string())
            })
            .map(|why| format!(" ({why})"))
            .unwrap_or_default()
    };
    // x86 Windows 7+ with nt!MiSystemVaType: the slots of the pool's type are its regions.
    if let Some((base, slot, types)) = system_va_types(target, layout) {
        let mut searches = Vec::new();
        for paged in missing {
            let (name, value) = if paged {
                ("paged", MI_VA_PAGED_POOL)
            } else {
                ("nonpaged", MI_VA_NON_PAGED_POOL)
            };
            let why = take_why(&mut warnings, name);
            let mut i = 0usize;
            let mut slots = 0usize;
            while i < types.len() {
                if types[i] != value {
                    i += 1;
                    continue;
                }
                let first = i;
                while i < types.len() && types[i] == value {
                    i += 1;
                }
                slots += i - first;
                let start = base + first as u64 * slot;
                out.push(Region {
                    paged,
                    start,
                    end: base + i as u64 * slot,
                    source: format!("nt!MiSystemVaType[{first:#x}..{i:#x}] = {value}"),
                    by_headers: false,
                });
            }
            let note = format!(
                "{name} pool range not established for build {build}{why}: classified by nt!MiSystemVaType ({slots} slot(s) of {} KiB of system VA from {base:#x} of type {value}, {})",
                slot / 1024,
                if paged {
                    "MiVaPagedPool"
                } else {
                    "MiVaNonPagedPool"
                }
            );
            warnings.push(note.clone());
            searches.push(HeaderSearch {
                paged,
                start: base,
                end: base + types.len() as u64 * slot,
                note,
                by: "nt!MiSystemVaType",
            });
        }
        return (out, warnings, searches);
    }
    let tables = target.present_pages(0, 0, 1).is_some();
    if !tables {
        return (out, warnings, Vec::new());
    }
    let (lo, hi) = system_va(target, layout);
    // The system VA minus the established regions (they are scanned by range).
    let mut taken: Vec<(u64, u64)> = out.iter().map(|r| (r.start, r.end)).collect();
    taken.sort_unstable();
    let mut free = Vec::new();
    let mut at = lo;
    for (s, e) in taken {
        if s > at {
            free.push((at, s.min(hi)));
        }
        at = at.max(e);
    }
    if at < hi {
        free.push((at, hi));
    }
    free.retain(|&(s, e)| s < e);
    let mut searches = Vec::new();
    for paged in missing {
        let name = if paged { "paged" } else { "nonpaged" };
        let why = take_why(&mut warnings, name);
        let note = format!(
            "{name} pool range not established for build {build}{why}: pages classified by validated pool headers over the kernel's present pages {lo:#x}..{hi:#x} (a whole header chain of one pool per page; a page paged out or without headers cannot be classified)"
        );
        warnings.push(note.clone());
        for &(start, end) in &free {
            out.push(Region {
                paged,
                start,
                end,
                source: format!("kernel system VA, classified by pool headers ({name})"),
                by_headers: true,
            });
        }
        searches.push(HeaderSearch {
            paged,
            start: lo,
            end: hi,
            note,
            by: "pool headers",
        });
    }
    (out, warnings, searches)
}

/// The big page table (`nt!PoolBigPageTable`, `nt!PoolBigPageTableSize`): its address, entry count
/// and live entries; `Err` with the reason when it cannot be read.
#[derive(Debug, Clone, Default)]
pub struct BigTable {
    /// Table address.
    pub address: u64,
    /// Entry count.
    pub entries: u64,
    /// Entry size in bytes.
    pub entry_size: u64,
    /// Live (allocated) entries.
    pub live: Vec<BigPageEntry>,
    /// Entries whose page could not be read.
    pub unreadable_pages: usize,
    /// Set when the table's address rests on a guess (XP/2003: derived from `PoolTrackTable`,
    /// see `ntkernel::derived`): a line for the output.
    pub guessed: Option<String>,
}

impl BigTable {
    /// The live allocation containing `address`.
    pub fn containing(&self, address: u64) -> Option<&BigPageEntry> {
        self.live
            .iter()
            .find(|e| address >= e.va && address < e.va.saturating_add(e.bytes.max(1)))
    }
}

/// Reads the big page table.
pub fn big_table(target: &dyn Target, layout: &Layout) -> Result<BigTable, CommandError> {
    let bl = layout.big_pages().map_err(from_layout)?;
    let (address, source) = read_global(target, layout, "PoolBigPageTable")?.ok_or_else(|| {
        CommandError::NotFound("nt!PoolBigPageTable is not known for this kernel".into())
    })?;
    let guessed = (source == plugin_sdk::Source::Guessed).then(|| {
        "nt!PoolBigPageTable and its size were located by a guess (no symbol names them on this build: Volatility 2's distances from nt!PoolTrackTable, values checked)".to_string()
    });
    let (entries, _) = read_global(target, layout, "PoolBigPageTableSize")?.ok_or_else(|| {
        CommandError::NotFound("nt!PoolBigPageTableSize is not known for this kernel".into())
    })?;
    if entries > MAX_TABLE_ENTRIES {
        return Err(CommandError::Failed(format!(
            "nt!PoolBigPageTableSize is {entries}, more than {MAX_TABLE_ENTRIES}: not trusted"
        )));
    }
    layout
        .check_big_page_table(address, entries)
        .map_err(from_layout)?;
    let len = (entries as usize).saturating_mul(bl.size);
    let (bytes, unreadable_pages) = crate::common::read_lenient(target, address, len);
    let mut live = Vec::new();
    for e in layout.big_page_entries(&bytes) {
        let e = e.map_err(|e| format!("PoolBigPageTable at {address:#x}: {e}"))?;
        if e.is_live() {
            live.push(e);
        }
    }
    Ok(BigTable {
        address,
        entries,
        entry_size: bl.size as u64,
        live,
        unreadable_pages,
        guessed,
    })
}

/// Whether a big allocation is paged: from its PoolType where the table records one, else from the
/// region holding it.
pub fn big_is_paged(e: &BigPageEntry, regions: &[Region]) -> bool {
    match e.pool_type {
        Some(t) => t.is_paged(),
        None => regions
            .iter()
            .any(|r| r.paged && !r.by_headers && e.va >= r.start && e.va < r.end),
    }
}

/// One block found by a scan, with its page's region.
#[derive(Debug, Clone, Copy)]
pub struct ScannedBlock {
    /// The block.
    pub block: WalkedBlock,
    /// Whether it lies in the paged pool region.
    pub paged: bool,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Blocks of every pool page, in address order per region.
    pub blocks: Vec<ScannedBlock>,
    /// Pages read and recognised as pool pages.
    pub pool_pages: u64,
    /// Pages that could not be read (not in the dump, paged out, …) — unmapped ones not counted.
    pub unreadable_pages: u64,
    /// Pages whose header chain is broken (reported with errors on their blocks).
    pub corrupt_pages: u64,
    /// How the regions' pages were classified by their page tables; `None` when the target has
    /// none (every page was read in turn).
    pub page_tables: Option<plugin_sdk::PageCounts>,
}

impl Scan {
    /// One line saying how the page tables classified the regions' pages (for the output's
    /// warnings), when some pool may be missing from the scan for it (pages paged out, under a
    /// page table not in the dump, or under a bad entry); `None` when nothing was lost that way
    /// (demand-zero and unmapped pages hold no pool) or the scan read every page in turn. The
    /// counts themselves are in [`Scan::page_tables`] (JSON summaries).
    pub fn classification(&self) -> Option<String> {
        let c = self.page_tables?;
        if c.paged_out == 0 && c.table_not_in_dump == 0 && c.bad == 0 {
            return None;
        }
        Some(format!(
            "pages found from the page tables: {} present ({} valid, {} transition, {} in large pages) scanned; not scanned: {} paged out, {} demand zero, {} prototype, {} under page tables not in the dump, {} under bad entries; {} not mapped",
            c.present(),
            c.valid,
            c.transition,
            c.large,
            c.paged_out,
            c.demand_zero,
            c.prototype,
            c.table_not_in_dump,
            c.bad,
            c.absent
        ))
    }
}

/// Runs per [`Target::present_pages`] call.
const RUNS_PER_CALL: usize = 4096;

/// The present pages of `[start, end)` from the page tables, or `None` when the target has none.
/// Bounded: a call that does not advance ends the walk (its pages are left unscanned).
fn present_runs(
    target: &dyn Target,
    start: u64,
    end: u64,
    counts: &mut plugin_sdk::PageCounts,
) -> Result<Option<Vec<(u64, u64)>>, CommandError> {
    let mut runs = Vec::new();
    let mut at = start;
    while at < end {
        if target.is_cancelled() {
            return Err(CommandError::Cancelled);
        }
        let Some(p) = target.present_pages(at, end, RUNS_PER_CALL) else {
            if at == start {
                return Ok(None);
            }
            break;
        };
        counts.add(&p.counts);
        runs.extend(p.runs.into_iter().filter_map(|(va, len)| {
            let (a, b) = (va.max(start), va.saturating_add(len).min(end));
            (a < b).then_some((a, b - a))
        }));
        if p.next <= at {
            break;
        }
        at = p.next;
    }
    Ok(Some(runs))
}

/// What [`scan_pages`] reports its progress as ([`Target::progress`]: pages done of pages in all).
pub const PROGRESS_LABEL: &str = "scanning pool pages";
/// Pages between two progress reports (16 MiB).
const PROGRESS_EVERY: u64 = 4096;

/// Scans the pages of `regions` — only the present ones when the target walks its page tables
/// ([`Target::present_pages`], counted in [`Scan::page_tables`]), else every page — (skipping the
/// big allocations in `skip`) on all cores (rayon's
/// current pool: the global one, or the one the caller `install`s), checking
/// `target.is_cancelled()` before every batch of 64 pages and reporting pages done through
/// [`Target::progress`] (label [`PROGRESS_LABEL`]). Blocks that `keep` rejects are dropped early.
/// The result is the same whatever the thread count: blocks in address order per region, regions in
/// the order given (a system VA searched by headers for both pools is walked once, at its nonpaged
/// region's place, each block marked with the pool its page names).
pub fn scan_pages(
    target: &dyn Target,
    layout: &Layout,
    regions: &[Region],
    skip: &[(u64, u64)],
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
) -> Result<Scan, CommandError> {
    let mut blocks = Vec::new();
    let mut scan = scan_pages_each(target, layout, regions, skip, keep, &mut |b| blocks.push(b))?;
    scan.blocks = blocks;
    Ok(scan)
}

/// Batches scanned in parallel before their blocks are handed on, per worker thread: what is
/// held at once is the kept blocks of this many batches of 64 pages per thread (8: 2 MiB of pool
/// per thread), whatever the regions' size — enough work per chunk to keep every thread busy.
pub const BATCHES_PER_THREAD: usize = 8;

/// The chunk [`scan_pages_each`] walks before handing blocks on: [`BATCHES_PER_THREAD`] per
/// thread of rayon's current pool, at least 16 and at most 256.
pub fn chunk_for_threads(per_thread: usize) -> usize {
    (rayon::current_num_threads().saturating_mul(per_thread)).clamp(16, 256)
}

/// [`scan_pages`] that hands each block to `each` as its chunk of pages is done (address order
/// per region, regions in the order given) instead of keeping them: memory stays flat however
/// many blocks the regions hold. The returned [`Scan`] has no `blocks`.
pub fn scan_pages_each(
    target: &dyn Target,
    layout: &Layout,
    regions: &[Region],
    skip: &[(u64, u64)],
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
    each: &mut dyn FnMut(ScannedBlock),
) -> Result<Scan, CommandError> {
    if layout.is_segment_heap() {
        return crate::segheap::scan_as_pages_each(target, layout, regions, skip, keep, each);
    }
    let mut batches = Vec::new();
    let mut counts = plugin_sdk::PageCounts::default();
    let mut by_tables = false;
    // The system VA searched by headers for both pools is walked once: a page goes to the pool its
    // headers name (`Classify::Either`), not read twice.
    let both: Vec<(u64, u64)> = regions
        .iter()
        .filter(|r| r.by_headers && !r.paged)
        .filter(|r| {
            regions
                .iter()
                .any(|o| o.by_headers && o.paged && (o.start, o.end) == (r.start, r.end))
        })
        .map(|r| (r.start, r.end))
        .collect();
    for r in regions {
        let either = r.by_headers && both.contains(&(r.start, r.end));
        if either && r.paged {
            continue; // walked with its nonpaged twin
        }
        let spans = match present_runs(target, r.start, r.end, &mut counts)? {
            Some(runs) => {
                by_tables = true;
                runs
            }
            None => vec![(r.start, r.end.saturating_sub(r.start))],
        };
        for (start, len) in spans {
            let end = start.saturating_add(len);
            let mut a = start;
            while a < end {
                let n = ((end - a) / PAGE).clamp(1, BATCH);
                let classify = if either {
                    Classify::Either
                } else if r.by_headers {
                    Classify::Headers
                } else {
                    Classify::Range
                };
                batches.push((a, n, r.paged, classify));
                a = a.saturating_add(n * PAGE);
            }
        }
    }
    let total_pages: u64 = batches.iter().map(|&(_, n, _, _)| n).sum();
    let done = AtomicU64::new(0);
    target.progress(0, total_pages, PROGRESS_LABEL);
    let mut total = Scan {
        page_tables: by_tables.then_some(counts),
        ..Scan::default()
    };
    for chunk in batches.chunks(chunk_for_threads(BATCHES_PER_THREAD)) {
        // An indexed parallel iterator collected into a Result keeps the batches' order and
        // stops early on the first error (a cancellation).
        let results: Result<Vec<Scan>, CommandError> = chunk
            .par_iter()
            .map_init(
                // Per worker, reused from batch to batch: a read buffer (grown only by targets
                // that copy pages) and the big allocations that overlap the batch.
                || (Vec::new(), Vec::new()),
                |(buf, near), &(start, n, paged, classify)| {
                    if target.is_cancelled() {
                        return Err(CommandError::Cancelled);
                    }
                    let pages = Pages {
                        start,
                        n,
                        paged,
                        classify,
                    };
                    let scan = scan_batch(target, layout, buf, near, pages, skip, keep);
                    let before = done.fetch_add(n, Ordering::Relaxed);
                    if (before + n) / PROGRESS_EVERY != before / PROGRESS_EVERY {
                        target.progress(before + n, total_pages, PROGRESS_LABEL);
                    }
                    Ok(scan)
                },
            )
            .collect();
        for s in results? {
            s.blocks.into_iter().for_each(&mut *each);
            total.pool_pages += s.pool_pages;
            total.unreadable_pages += s.unreadable_pages;
            total.corrupt_pages += s.corrupt_pages;
        }
    }
    target.progress(total_pages, total_pages, PROGRESS_LABEL);
    Ok(total)
}

/// How a batch's pages are taken as pool.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Classify {
    /// An established region: a plausible first header is enough to walk the page.
    Range,
    /// The system VA searched for one pool ([`Region::by_headers`]): that pool's pages only.
    Headers,
    /// The system VA searched for both pools at once: a page goes to the pool it names.
    Either,
}

/// One batch of pages: `n` pages at `start` of a region of the paged pool or not.
#[derive(Clone, Copy)]
struct Pages {
    start: u64,
    n: u64,
    paged: bool,
    classify: Classify,
}

/// Reads and walks the pages of a batch ([`Target::visit_virtual_pages`]: in place where the
/// target lends its pages, else copied into `buf`). `near` is scratch for the big allocations of
/// `skip` that overlap the batch.
fn scan_batch(
    target: &dyn Target,
    layout: &Layout,
    buf: &mut Vec<u8>,
    near: &mut Vec<(u64, u64)>,
    pages: Pages,
    skip: &[(u64, u64)],
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
) -> Scan {
    let Pages {
        start,
        n,
        paged,
        classify,
    } = pages;
    let end = start.saturating_add(n.saturating_mul(PAGE));
    near.clear();
    near.extend(
        skip.iter()
            .copied()
            .filter(|&(va, len)| va < end && va.saturating_add(len) > start),
    );
    let mut scan = Scan::default();
    target.visit_virtual_pages(start, n, buf, &mut |page_va, page| {
        let page = match page {
            Ok(page) => page,
            Err(status) => {
                if !matches!(status, plugin_sdk::ReadStatus::NotMapped) {
                    scan.unreadable_pages += 1;
                }
                return;
            }
        };
        if near
            .iter()
            .any(|&(va, len)| page_va >= va && page_va < va.saturating_add(len))
        {
            return;
        }
        // Touch one byte per cache line (independent loads, so their misses overlap) before
        // the header chain's dependent loads.
        let mut touch = 0u8;
        for line in page.chunks_exact(64) {
            touch |= line[0];
        }
        std::hint::black_box(touch);
        let mut page_paged = paged;
        if classify == Classify::Range {
            // A page whose whole chain checks out starts like a pool page too, so the first
            // header decides which pages are walked.
            if !layout.starts_like_pool_page(page) {
                return;
            }
        } else {
            // Outside any established range only the strict rule counts (Layout::classify_page).
            let Some(kind) = layout.classify_page(page) else {
                return;
            };
            let named_paged = kind == poollayout::regions::PoolKind::Paged;
            if classify == Classify::Headers && named_paged != paged {
                return;
            }
            page_paged = named_paged;
        }
        let blocks = &mut scan.blocks;
        let Ok(walk) = layout.walk_page_with(page, page_va, |block| {
            if keep(&block) {
                blocks.push(ScannedBlock {
                    block,
                    paged: page_paged,
                });
            }
        }) else {
            return;
        };
        scan.pool_pages += 1;
        if walk.first_error.is_some() {
            scan.corrupt_pages += 1;
        }
    });
    scan
}

/// The `POOL_TYPE` a scanned block reports, or the region's base type when the header has none.
pub fn block_pool_type(b: &ScannedBlock) -> PoolType {
    b.block.pool_type.unwrap_or(if b.paged {
        PoolType::PAGED
    } else {
        PoolType::NON_PAGED
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{Arch, MemoryTarget, Read, Source, TargetInfo};
    use poollayout::BlockState;

    fn page_with(tag: &[u8; 4]) -> Vec<u8> {
        // Windows 7 x64: one allocated 0x40-byte block, then a free block to the page end.
        let mut page = vec![0u8; 4096];
        page[..4].copy_from_slice(&[0, 0, 4, 2]);
        page[4..8].copy_from_slice(tag);
        page[0x40..0x48].copy_from_slice(&[4, 0, 252, 0, b'F', b'r', b'e', b'e']);
        page
    }

    fn target() -> MemoryTarget {
        let start = 0xfffffa80_00000000u64;
        MemoryTarget::new(TargetInfo {
            arch: Arch::X64,
            build: 7601,
            pointer_size: 8,
            ..Default::default()
        })
        .with_symbol("MmNonPagedPoolStart", 0x1000, Source::Kdbg)
        .with_symbol("MmNonPagedPoolEnd", 0x1008, Source::Kdbg)
        .with_virtual(0x1000, &start.to_le_bytes())
        .with_virtual(0x1008, &(start + 0x40_0000 - 1).to_le_bytes())
        .with_virtual(start, &page_with(b"Aaaa"))
        .with_virtual(start + 0x3000, &page_with(b"Bbbb"))
        .with_virtual(start + 0x5000, &[0x41; 4096]) // not a pool page
        .with_virtual_status(start + 0x6000, plugin_sdk::ReadStatus::NotInDump)
    }

    #[test]
    fn scans_pool_pages_skipping_others() {
        let t = target();
        let l = Layout::for_build(poollayout::Arch::X64, 7601).unwrap();
        let (regions, w) = regions(&t, &l);
        assert_eq!(regions.len(), 1);
        assert_eq!(w.len(), 1, "paged range unknown: {w:?}");
        let s = scan_pages(&t, &l, &regions, &[], &|_| true).unwrap();
        assert_eq!(s.pool_pages, 2);
        assert_eq!(s.unreadable_pages, 1);
        let tags: Vec<String> = s.blocks.iter().map(|b| b.block.tag.to_string()).collect();
        assert_eq!(tags, ["Aaaa", "Free", "Bbbb", "Free"]);
        // Skipping a big allocation's pages.
        let s = scan_pages(&t, &l, &regions, &[(0xfffffa80_00003000, 0x1000)], &|_| {
            true
        })
        .unwrap();
        assert_eq!(s.pool_pages, 1);
    }

    #[test]
    fn cancellation_stops_the_scan() {
        let t = target();
        t.cancel();
        let l = Layout::for_build(poollayout::Arch::X64, 7601).unwrap();
        let (regions, _) = regions(&t, &l);
        let e = scan_pages(&t, &l, &regions, &[], &|_| true).unwrap_err();
        assert_eq!(e, CommandError::Cancelled);
    }

    /// A 16 MiB nonpaged range (4096 pages, 64 batches) with a pool page every 7 pages.
    fn big_target() -> MemoryTarget {
        let start = 0xfffffa80_00000000u64;
        let mut t = MemoryTarget::new(TargetInfo {
            arch: Arch::X64,
            build: 7601,
            pointer_size: 8,
            ..Default::default()
        })
        .with_symbol("MmNonPagedPoolStart", 0x1000, Source::Kdbg)
        .with_symbol("MmNonPagedPoolEnd", 0x1008, Source::Kdbg)
        .with_virtual(0x1000, &start.to_le_bytes())
        .with_virtual(0x1008, &(start + 0x100_0000 - 1).to_le_bytes());
        for i in (0..4096u64).step_by(7) {
            let tag = [b'A' + (i % 26) as u8, b'b', b'c', b'd'];
            t = t.with_virtual(start + i * PAGE, &page_with(&tag));
        }
        t
    }

    #[test]
    fn one_or_two_threads_give_the_same_blocks_in_address_order_and_progress_ends_at_total() {
        let t = big_target();
        let l = Layout::for_build(poollayout::Arch::X64, 7601).unwrap();
        let (regions, _) = regions(&t, &l);
        let scan_with = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| scan_pages(&t, &l, &regions, &[], &|_| true).unwrap())
        };
        let one = scan_with(1);
        let two = scan_with(2);
        let four = scan_with(4);
        let addrs = |s: &Scan| s.blocks.iter().map(|b| b.block.address).collect::<Vec<_>>();
        assert_eq!(one.pool_pages, 586);
        assert_eq!(one.blocks.len(), 2 * 586);
        assert!(addrs(&one).windows(2).all(|w| w[0] < w[1]), "address order");
        assert_eq!(addrs(&one), addrs(&two));
        assert_eq!(addrs(&one), addrs(&four));
        let p = t.progress_reports();
        assert!(
            p.iter()
                .all(|p| p.label == PROGRESS_LABEL && p.total == 4096)
        );
        assert!(p.iter().all(|p| p.done <= p.total));
        // Per scan: a first report at 0, one per 4096 pages, a last one at the total.
        assert_eq!(p.len(), 3 * 3, "{p:?}");
        assert_eq!((p[0].done, p.last().unwrap().done), (0, 4096));
    }

    /// Cancels after a few batches were read, as Ctrl-C during a scan does.
    struct CancelAfter {
        inner: MemoryTarget,
        reads: std::sync::atomic::AtomicUsize,
        after: usize,
    }

    impl Target for CancelAfter {
        fn read_virtual(&self, r: &mut [Read<'_>]) {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.inner.read_virtual(r)
        }
        fn read_physical(&self, r: &mut [Read<'_>]) {
            self.inner.read_physical(r)
        }
        fn symbol_address(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
            self.inner.symbol_address(n)
        }
        fn type_size(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
            self.inner.type_size(n)
        }
        fn field_offset(&self, t: &str, f: &str) -> Option<plugin_sdk::FieldOffset> {
            self.inner.field_offset(t, f)
        }
        fn info(&self) -> TargetInfo {
            self.inner.info()
        }
        fn pool_tag(&self, t: [u8; 4]) -> Option<plugin_sdk::TagInfo> {
            self.inner.pool_tag(t)
        }
        fn log(&self, l: plugin_sdk::LogLevel, m: &str) {
            self.inner.log(l, m)
        }
        fn is_cancelled(&self) -> bool {
            // The two reads of the range globals come first.
            self.reads.load(Ordering::Relaxed) >= self.after
        }
    }

    #[test]
    fn cancellation_during_the_scan_stops_it_early() {
        let t = CancelAfter {
            inner: big_target(),
            reads: Default::default(),
            after: 0,
        };
        let l = Layout::for_build(poollayout::Arch::X64, 7601).unwrap();
        let (regions, _) = regions(&t.inner, &l);
        let t = CancelAfter { after: 5, ..t };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let e = pool
            .install(|| scan_pages(&t, &l, &regions, &[], &|_| true))
            .unwrap_err();
        assert_eq!(e, CommandError::Cancelled);
        let batches_read = t.reads.load(Ordering::Relaxed);
        assert!(
            (5..5 + 8).contains(&batches_read),
            "{batches_read} of 64 batches read after the cancel"
        );
    }

    #[test]
    fn segment_heap_without_its_pool_state_says_so() {
        let t = target();
        let l = Layout::for_build(poollayout::Arch::X64, 19041).unwrap();
        let e = scan_pages(&t, &l, &[], &[], &|_| true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("segment-heap") && e.contains("nt!ExPoolState"),
            "{e}"
        );
    }

    /// Pool pages scattered over 2 TiB of a region: with page tables every block is found, the
    /// pages are classified, and the scan reads only the present pages (no 64 GiB cut).
    #[test]
    fn page_tables_find_pool_scattered_over_terabytes() {
        let start = 0xffffa000_00000000u64;
        let span = 2u64 << 40;
        let mut t = MemoryTarget::new(TargetInfo {
            arch: Arch::X64,
            build: 7601,
            pointer_size: 8,
            ..Default::default()
        })
        .with_symbol("MmNonPagedPoolStart", 0x1000, Source::Kdbg)
        .with_symbol("MmNonPagedPoolEnd", 0x1008, Source::Kdbg)
        .with_virtual(0x1000, &start.to_le_bytes())
        .with_virtual(0x1008, &(start + span - 1).to_le_bytes())
        .with_page_tables();
        let mut want = Vec::new();
        for i in 0..40u64 {
            let va = start + (i * 0x3_3333_3000) % (span - PAGE);
            let va = va & !(PAGE - 1);
            t = t.with_virtual(va, &page_with(&[b'A' + (i % 26) as u8, b'x', b'y', b'z']));
            want.push(va);
        }
        let paged_out = start + span - 0x10_0000;
        t = t.with_virtual_status(
            paged_out,
            plugin_sdk::ReadStatus::PagedOut {
                pagefile: 0,
                offset: 0x1000,
            },
        );
        want.sort_unstable();
        want.dedup();
        let l = Layout::for_build(poollayout::Arch::X64, 7601).unwrap();
        let (regions, w) = regions(&t, &l);
        assert!(w.iter().all(|w| !w.contains("64 GiB")), "{w:?}");
        assert_eq!(regions[0].end, start + span);
        let s = scan_pages(&t, &l, &regions, &[], &|_| true).unwrap();
        let found: Vec<u64> = s
            .blocks
            .iter()
            .map(|b| b.block.address)
            .filter(|a| a & (PAGE - 1) == 0)
            .collect();
        assert_eq!(found, want);
        assert_eq!(s.pool_pages, want.len() as u64);
        let c = s.page_tables.unwrap();
        assert_eq!(c.valid, want.len() as u64);
        assert_eq!(c.paged_out, 1);
        let line = s.classification().unwrap();
        assert!(line.contains("1 paged out"), "{line}");
        // Nothing lost: no line (the counts stay in `page_tables`).
        let t = t.with_virtual(paged_out, &[0u8; 8]);
        let s = scan_pages(&t, &l, &regions, &[], &|_| true).unwrap();
        assert_eq!(s.classification(), None);
        assert_eq!(s.page_tables.unwrap().paged_out, 0);
        // Without page tables the same region is cut at 64 GiB and its far pages are missed.
        let old = MemoryTarget::new(t.info())
            .with_symbol("MmNonPagedPoolStart", 0x1000, Source::Kdbg)
            .with_symbol("MmNonPagedPoolEnd", 0x1008, Source::Kdbg)
            .with_virtual(0x1000, &start.to_le_bytes())
            .with_virtual(0x1008, &(start + span - 1).to_le_bytes());
        let (_, w) = super::regions(&old, &l);
        assert!(w.iter().any(|w| w.contains("64 GiB")), "{w:?}");
    }

    /// A Windows 8.1 x64 page of one pool: an allocated 0x40-byte block, then a free one.
    fn page_81(tag: &[u8; 4], paged: bool) -> Vec<u8> {
        let mut page = page_with(tag);
        page[3] = 2 | u8::from(paged);
        page
    }

    /// Issue #18: Windows 8.1 x64 keeps no nonpaged bound. With page tables the kernel's system
    /// VA is searched and a page counts only by its validated headers; established regions keep
    /// their scan; kernel-image-like pages with a lone plausible header are not pool.
    #[test]
    fn unestablished_nonpaged_pool_is_found_by_headers_over_the_system_va() {
        let paged_start = 0xFFFF_C000_0000_0000u64;
        let np = [
            0xFFFF_E000_0010_0000u64,
            0xFFFF_F800_0123_4000,
            0xFFFF_8000_0000_0000,
        ];
        let mut t = MemoryTarget::new(TargetInfo {
            arch: Arch::X64,
            build: 9600,
            pointer_size: 8,
            ..Default::default()
        })
        .with_symbol(
            "MiPagedPoolStart",
            0xFFFF_F800_0000_1000,
            Source::EmbeddedProfile,
        )
        .with_symbol(
            "MmPagedPoolEnd",
            0xFFFF_F800_0000_1008,
            Source::EmbeddedProfile,
        )
        .with_virtual(0xFFFF_F800_0000_1000, &paged_start.to_le_bytes())
        .with_virtual(
            0xFFFF_F800_0000_1008,
            &(paged_start + 0x10_0000 - 1).to_le_bytes(),
        )
        .with_virtual(paged_start + 0x2000, &page_81(b"Pgd1", true))
        // A page of the paged pool's kind outside its range: not nonpaged pool.
        .with_virtual(0xFFFF_E000_0020_0000, &page_81(b"Ses1", true));
        for (i, &va) in np.iter().enumerate() {
            t = t.with_virtual(va, &page_81(&[b'N', b'p', b'0' + i as u8, b'x'], false));
        }
        // A kernel image page and a data page, each with a lone plausible header at offset 0.
        let mut image = vec![0xccu8; 4096];
        image[..8].copy_from_slice(&[0, 0, 4, 2, b'L', b'o', b'n', b'e']);
        let mut data = vec![0u8; 4096];
        data[..8].copy_from_slice(&[0, 0, 4, 2, b'D', b'a', b't', b'a']);
        t = t
            .with_virtual(0xFFFF_F800_0100_0000, &image)
            .with_virtual(0xFFFF_F800_0100_1000, &data)
            .with_virtual_status(
                0xFFFF_E000_0030_0000,
                plugin_sdk::ReadStatus::PagedOut {
                    pagefile: 0,
                    offset: 0x2000,
                },
            );
        let l = Layout::for_build(poollayout::Arch::X64, 9600).unwrap();
        // Without page tables: nothing added, the old warning.
        let (r0, w0, h0) = search_regions(&t, &l);
        assert_eq!(r0.len(), 1);
        assert!(h0.is_empty());
        assert!(w0[0].contains("nonpaged pool range is unknown"), "{w0:?}");
        let t = t.with_page_tables();
        let (regions, warnings, searches) = search_regions(&t, &l);
        assert_eq!(searches.len(), 1);
        assert!(!searches[0].paged);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("nonpaged pool range not established for build 9600")
                && warnings[0].contains("validated pool headers")
                && warnings[0].contains("8.1"),
            "{warnings:?}"
        );
        // The paged region is established; the system VA around it is searched.
        assert!(regions.iter().any(|r| r.paged && !r.by_headers));
        let sv: Vec<_> = regions.iter().filter(|r| r.by_headers).collect();
        assert_eq!(sv.len(), 2);
        assert!(sv.iter().all(|r| !r.paged));
        assert_eq!(sv[0].start, 0xFFFF_8000_0000_0000);
        assert_eq!(sv[0].end, paged_start);
        assert_eq!(sv[1].start, paged_start + 0x10_0000);
        // Plain `regions` (what `!pool` lists) is unchanged.
        assert_eq!(super::regions(&t, &l).0.len(), 1);
        let nonpaged: Vec<Region> = regions.iter().filter(|r| !r.paged).cloned().collect();
        let s = scan_pages(&t, &l, &nonpaged, &[], &|_| true).unwrap();
        let mut want: Vec<u64> = np.to_vec();
        want.sort_unstable();
        let got: Vec<u64> = s
            .blocks
            .iter()
            .filter(|b| b.block.state == BlockState::Allocated)
            .map(|b| b.block.address)
            .collect();
        assert_eq!(got, want);
        assert!(s.blocks.iter().all(|b| !b.paged));
        assert_eq!(s.pool_pages, 3);
        assert!(s.classification().unwrap().contains("1 paged out"));
        // The paged pool: its range only.
        let paged: Vec<Region> = regions.iter().filter(|r| r.paged).cloned().collect();
        let s = scan_pages(&t, &l, &paged, &[], &|_| true).unwrap();
        assert_eq!(s.pool_pages, 1);
        assert_eq!(s.blocks[0].block.address, paged_start + 0x2000);
    }

    /// x86 Windows 7 without symbols for the pool ranges: both pools are searched by headers
    /// from `MmSystemRangeStart` (0x80000000 when unknown) to 4 GiB.
    #[test]
    fn x86_without_ranges_searches_both_pools_by_headers() {
        // x86 XP+ header: u16 PreviousSize|PoolIndex, u16 BlockSize|PoolType<<9, tag.
        let x86_page = |tag: &[u8; 4], paged: bool| {
            let mut p = vec![0u8; 4096];
            let ty = 2u16 | u16::from(paged);
            p[2..4].copy_from_slice(&(8u16 | (ty << 9)).to_le_bytes());
            p[4..8].copy_from_slice(tag);
            p[0x40..0x42].copy_from_slice(&8u16.to_le_bytes());
            p[0x42..0x44].copy_from_slice(&(0x1f8u16).to_le_bytes());
            p[0x44..0x48].copy_from_slice(b"Free");
            p
        };
        let t = MemoryTarget::new(TargetInfo {
            arch: Arch::X86,
            build: 7601,
            pointer_size: 4,
            ..Default::default()
        })
        .with_virtual(0x8400_0000, &x86_page(b"NpNp", false))
        .with_virtual(0x9400_0000, &x86_page(b"PgPg", true))
        .with_virtual(0x0040_0000, &x86_page(b"User", false))
        .with_page_tables();
        let l = Layout::for_build(poollayout::Arch::X86, 7601).unwrap();
        let (regions, warnings, searches) = search_regions(&t, &l);
        assert_eq!(searches.len(), 2, "{warnings:?}");
        assert!(
            regions
                .iter()
                .all(|r| r.by_headers && r.start == 0x8000_0000 && r.end == 1 << 32)
        );
        let s = scan_pages(&t, &l, &regions, &[], &|b| b.state == BlockState::Allocated).unwrap();
        let got: Vec<(u64, bool)> = s
            .blocks
            .iter()
            .map(|b| (b.block.address, b.paged))
            .collect();
        assert_eq!(got, [(0x8400_0000, false), (0x9400_0000, true)]);
        // Both pools searched over the same system VA: walked once, each page read once.
        let c = s.page_tables.unwrap();
        assert_eq!(c.present(), 2, "{c:?}");
        // One pool asked for: its pages only.
        let np: Vec<Region> = regions.iter().filter(|r| !r.paged).cloned().collect();
        let s = scan_pages(&t, &l, &np, &[], &|b| b.state == BlockState::Allocated).unwrap();
        let got: Vec<(u64, bool)> = s
            .blocks
            .iter()
            .map(|b| (b.block.address, b.paged))
            .collect();
        assert_eq!(got, [(0x8400_0000, false)]);
    }

    /// x86 Windows 7 with `nt!MiSystemVaType`: the pools are the slots of their type (4 MiB each
    /// without PAE), scanned as ranges, with or without page tables; a pool page in a slot of
    /// another type (system PTEs) is not pool.
    #[test]
    fn x86_mi_system_va_type_classifies_the_slots() {
        let x86_page = |tag: &[u8; 4], paged: bool| {
            let mut p = vec![0u8; 4096];
            let ty = 2u16 | u16::from(paged);
            p[2..4].copy_from_slice(&(8u16 | (ty << 9)).to_le_bytes());
            p[4..8].copy_from_slice(tag);
            p[0x40..0x42].copy_from_slice(&8u16.to_le_bytes());
            p[0x42..0x44].copy_from_slice(&(0x1f8u16).to_le_bytes());
            p[0x44..0x48].copy_from_slice(b"Free");
            p
        };
        // 512 slots of 4 MiB from 0x80000000: 0x84000000 is slot 0x10, 0x94000000 slot 0x50.
        let mut types = vec![9u8; 512];
        types[0x10] = MI_VA_NON_PAGED_POOL;
        types[0x11] = MI_VA_NON_PAGED_POOL;
        types[0x50] = MI_VA_PAGED_POOL;
        let t = MemoryTarget::new(TargetInfo {
            arch: Arch::X86,
            build: 7601,
            pointer_size: 4,
            ..Default::default()
        })
        .with_symbol("MiSystemVaType", 0x8200_0000, Source::UserSymbols)
        .with_symbol("MmSystemRangeStart", 0x8200_1000, Source::UserSymbols)
        .with_virtual(0x8200_0000, &types)
        .with_virtual(0x8200_1000, &0x8000_0000u32.to_le_bytes())
        .with_virtual(0x8400_0000, &x86_page(b"NpNp", false))
        .with_virtual(0x8470_0000, &x86_page(b"NpN2", false))
        .with_virtual(0x9400_0000, &x86_page(b"PgPg", true))
        .with_virtual(0xA000_0000, &x86_page(b"Ptes", false));
        let l = Layout::for_build(poollayout::Arch::X86, 7601).unwrap();
        let (regions, warnings, searches) = search_regions(&t, &l);
        let got: Vec<(bool, u64, u64)> =
            regions.iter().map(|r| (r.paged, r.start, r.end)).collect();
        assert_eq!(
            got,
            [
                (false, 0x8400_0000, 0x8480_0000),
                (true, 0x9400_0000, 0x9440_0000)
            ]
        );
        assert!(
            regions
                .iter()
                .all(|r| !r.by_headers && r.source.contains("MiSystemVaType"))
        );
        assert_eq!(searches.len(), 2);
        assert!(searches.iter().all(|s| s.by == "nt!MiSystemVaType"));
        assert!(
            warnings[0].starts_with("nonpaged pool range not established for build 7601")
                && warnings[0].contains("classified by nt!MiSystemVaType (2 slot(s) of 4096 KiB"),
            "{warnings:?}"
        );
        let s = scan_pages(&t, &l, &regions, &[], &|b| b.state == BlockState::Allocated).unwrap();
        let tags: Vec<String> = s.blocks.iter().map(|b| b.block.tag.to_string()).collect();
        assert_eq!(tags, ["NpNp", "NpN2", "PgPg"]);
        // A byte out of the enum: not trusted, the pages are classified by headers instead.
        let mut bad = types.clone();
        bad[3] = 0xee;
        let t = t.with_virtual(0x8200_0000, &bad).with_page_tables();
        let (regions, _, searches) = search_regions(&t, &l);
        assert!(regions.iter().all(|r| r.by_headers));
        assert!(searches.iter().all(|s| s.by == "pool headers"));
    }
}
