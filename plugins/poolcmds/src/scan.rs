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
        });
    }
    (out, warnings)
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
            .any(|r| r.paged && e.va >= r.start && e.va < r.end),
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
/// the order given.
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
    for r in regions {
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
                batches.push((a, n, r.paged));
                a = a.saturating_add(n * PAGE);
            }
        }
    }
    let total_pages: u64 = batches.iter().map(|&(_, n, _)| n).sum();
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
                |(buf, near), &(start, n, paged)| {
                    if target.is_cancelled() {
                        return Err(CommandError::Cancelled);
                    }
                    let scan = scan_batch(target, layout, buf, near, start, n, paged, skip, keep);
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

/// Reads and walks the `n` pages at `start` ([`Target::visit_virtual_pages`]: in place where the
/// target lends its pages, else copied into `buf`). `near` is scratch for the big allocations of
/// `skip` that overlap the batch.
#[allow(clippy::too_many_arguments)]
fn scan_batch(
    target: &dyn Target,
    layout: &Layout,
    buf: &mut Vec<u8>,
    near: &mut Vec<(u64, u64)>,
    start: u64,
    n: u64,
    paged: bool,
    skip: &[(u64, u64)],
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
) -> Scan {
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
        // A page whose whole chain checks out starts like a pool page too, so the first
        // header decides which pages are walked.
        if !layout.starts_like_pool_page(page) {
            return;
        }
        let blocks = &mut scan.blocks;
        let Ok(walk) = layout.walk_page_with(page, page_va, |block| {
            if keep(&block) {
                blocks.push(ScannedBlock { block, paged });
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
}
