//! The 19H1+ segment-heap pool read through a [`Target`]: the pool state and heap keys, every
//! `_SEGMENT_HEAP` of every pool node, the page segment and VS / LFH subsegment holding an address
//! (`!pool`), and a walk of every subsegment of the chosen heaps (`!poolfind`, `!poolused` by scan).
//!
//! The enumeration is `poollayout::segheap_walk`'s (one sans-I/O walker for every command, `!frag`
//! included); this module keeps only the reader adapter ([`reader`]), the parallel scan ([`scan`]) and
//! the output. The walk, in the order docs/POOL_LAYOUTS.md gives (MemProcFS `vmmwinpool.c`,
//! PoolViewer `!poolview`):
//! 1. `nt!ExPoolState` → `HeapManager.Globals` (`RtlpHpHeapGlobals`: `HeapKey`, `LfhKey`) and
//!    `PoolNode[0..NumberOfPools].Heaps[0..4]` (NonPaged, NonPagedNx, Paged, Paged) plus
//!    `SpecialHeaps[]`; a heap counts when its `Signature` is 0xDDEEDDEE;
//! 2. the page segment of an address is `address & SegContexts[i].SegmentMask`, valid when
//!    `Signature ^ HeapKey ^ segment ^ 0xA2E64EADA2E64EAD` is the address of that `_HEAP_SEG_CONTEXT`
//!    (public segment-heap research: the encoded value is the owning context), or — weaker, what
//!    MemProcFS checks — a kernel address of a segment found on that context's `SegmentListHead`;
//! 3. its range descriptors give the VS (`RangeFlags` 15) or LFH (11) subsegment, which is walked.
//!
//! Every list walk is bounded and cycle-checked; every size read from the dump is capped before it
//! is allocated.
//!
//! ```
//! use plugin_sdk::{Arch, MemoryTarget, TargetInfo};
//! let t = MemoryTarget::new(TargetInfo { arch: Arch::X64, build: 19041, pointer_size: 8, ..Default::default() });
//! let layout = poollayout::Layout::for_build(poollayout::Arch::X64, 19041).unwrap();
//! // No nt!ExPoolState in this empty target: a plain error.
//! let e = pooldbg_commands::segheap::read_pool(&t, &layout).unwrap_err();
//! assert!(e.to_string().contains("ExPoolState"), "{e}");
//! ```

use plugin_sdk::{CommandError, Output, Target, TargetExt, hex};
use poollayout::segheap_walk::{self, SubsegmentBytes, WalkError};
use poollayout::{
    BlockState, FaultKind, HeaderError, HeapKeys, Layout, PageRange, PoolType, ReadFault, Walk,
    WalkedBlock,
};
use rayon::prelude::*;
use serde_json::{Map, json};

use crate::common::{addr, owner, summary_with_text, symbol};
use crate::pool::{BlockRow, FLAG_CONTENTS, FLAG_NO_DESCRIPTIONS, FLAG_ONLY_CONTAINING};
use crate::poolfind::FoundRow;

pub use poollayout::segheap_walk::{
    Heap, Located, MAX_SEGMENTS, MAX_SUBSEGMENT_BYTES as MAX_SUBSEGMENT, SegPool, SubKind,
    Subsegment, Subsegments,
};

/// The reader adapter: `poollayout`'s sans-I/O walker reads the target through this.
pub fn reader(target: &dyn Target) -> impl FnMut(u64, &mut [u8]) -> Result<(), ReadFault> + '_ {
    move |va, buf| {
        target
            .read_virtual_exact(va, buf)
            .map_err(|e| crate::error::fault(&e))
    }
}

/// Reads `nt!ExPoolState` (found by symbol), the heap keys and every heap of the target's pool
/// ([`SegPool::read`]). `Err` says what is missing.
pub fn read_pool(target: &dyn Target, layout: &Layout) -> Result<SegPool, CommandError> {
    let (state_address, _) = symbol(target, "ExPoolState").ok_or_else(|| {
        CommandError::NotFound(
            "nt!ExPoolState is not known for this kernel: the segment-heap pool cannot be found"
                .to_string(),
        )
    })?;
    SegPool::read(layout, state_address, &mut reader(target)).map_err(crate::error::from_layout)
}

/// A walked subsegment with its bytes.
#[derive(Debug, Clone)]
pub struct SubWalk {
    /// VS or LFH.
    pub kind: SubKind,
    /// Start of the subsegment (its page range).
    pub address: u64,
    /// The subsegment's bytes up to the end its header gives (unreadable pages read as zeros).
    pub bytes: Vec<u8>,
    /// Pages of the subsegment that could not be read.
    pub missing_pages: usize,
    /// The blocks.
    pub walk: Walk,
}

/// Reads and walks a VS or LFH range ([`segheap_walk::read_subsegment`],
/// [`segheap_walk::walk_subsegment`]); `Err` for other ranges or a subsegment refused as a whole.
pub fn walk_range(
    target: &dyn Target,
    layout: &Layout,
    keys: &HeapKeys,
    range: &PageRange,
) -> Result<SubWalk, CommandError> {
    let sub: SubsegmentBytes =
        segheap_walk::read_subsegment(layout, keys, range, &mut reader(target))
            .map_err(walk_error)?;
    let walk = segheap_walk::walk_subsegment(layout, keys, &sub).map_err(|e| {
        CommandError::Failed(format!(
            "{} subsegment {:#x}: {e}",
            sub.kind.label(),
            sub.address
        ))
    })?;
    Ok(SubWalk {
        kind: sub.kind,
        address: sub.address,
        bytes: sub.bytes,
        missing_pages: sub.missing_pages.len(),
        walk,
    })
}

/// A segment-heap walk error as the command's error: an unreadable header page keeps its read
/// fault's reason (a cancel stays a cancel); the rest are failures with the walker's wording.
pub fn walk_error(e: WalkError) -> CommandError {
    match e {
        WalkError::HeaderUnreadable { ref fault, .. } if fault.kind == FaultKind::Cancelled => {
            CommandError::Cancelled
        }
        WalkError::NotInSegment { .. } | WalkError::NotInRange { .. } => {
            CommandError::NotFound(e.to_string())
        }
        other => CommandError::Failed(other.to_string()),
    }
}

/// One block found by [`scan`].
#[derive(Debug, Clone, Copy)]
pub struct SegBlock {
    /// The block (`pool_type` set from the heap where the heap's slot says it, for allocated blocks).
    pub block: WalkedBlock,
    /// VS or LFH.
    pub kind: SubKind,
    /// The subsegment holding it.
    pub subsegment: u64,
    /// Whether the block is in paged pool (from the heap, else from its header).
    pub paged: bool,
}

/// What a scan of the segment heap found.
#[derive(Debug, Default)]
pub struct SegScan {
    /// Blocks kept, in heap, segment and address order.
    pub blocks: Vec<SegBlock>,
    /// Page segments visited.
    pub segments: u64,
    /// Subsegments walked.
    pub subsegments: u64,
    /// Pages of the subsegments walked.
    pub pages: u64,
    /// Pages that could not be read.
    pub unreadable_pages: u64,
    /// Subsegments with a bad block (or refused as a whole).
    pub corrupt_subsegments: u64,
    /// One line per problem (a bad segment, an unreadable list entry, a refused subsegment).
    pub warnings: Vec<String>,
}

/// Subsegments walked in parallel before their blocks are handed on, per worker thread
/// ([`crate::scan::chunk_for_threads`]: 16 to 256 in all): what is held at once is the kept blocks
/// of those subsegments (and one subsegment's bytes per worker), whatever the heaps' size.
pub const SUBSEGMENTS_PER_THREAD: usize = 8;

/// Walks every VS and LFH subsegment of the heaps `want` accepts, on all cores, keeping the blocks
/// `keep` accepts. Checks `target.is_cancelled()` between subsegments.
pub fn scan(
    pool: &SegPool,
    target: &dyn Target,
    layout: &Layout,
    want: &dyn Fn(&Heap) -> bool,
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
) -> Result<SegScan, CommandError> {
    let subs = pool.subsegments(layout, want, &mut reader(target));
    let mut blocks = Vec::new();
    let mut s = scan_each(pool, subs, target, layout, keep, &mut |b| blocks.push(b))?;
    s.blocks = blocks;
    Ok(s)
}

/// [`scan`] over the subsegments `subs` (enumerated by [`SegPool::subsegments`]) that hands each
/// kept block to `each` as its chunk of subsegments is walked — in heap, segment and address
/// order, the same whatever the thread count — instead of keeping them: memory stays flat however
/// many blocks the heaps hold. The returned [`SegScan`] has no `blocks`; its `warnings` are the
/// enumeration's, then one per refused subsegment. Reports subsegment pages done through
/// [`Target::progress`] (label [`crate::scan::PROGRESS_LABEL`]).
pub fn scan_each(
    pool: &SegPool,
    subs: Subsegments,
    target: &dyn Target,
    layout: &Layout,
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
    each: &mut dyn FnMut(SegBlock),
) -> Result<SegScan, CommandError> {
    scan_each_in_chunks(
        pool,
        subs,
        target,
        layout,
        crate::scan::chunk_for_threads(SUBSEGMENTS_PER_THREAD),
        keep,
        each,
    )
}

/// [`scan_each`] walking `chunk` subsegments (at least one) in parallel before handing their
/// blocks on (tests and tuning; the order of the blocks does not depend on it).
pub fn scan_each_in_chunks(
    pool: &SegPool,
    subs: Subsegments,
    target: &dyn Target,
    layout: &Layout,
    chunk: usize,
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
    each: &mut dyn FnMut(SegBlock),
) -> Result<SegScan, CommandError> {
    /// One subsegment's share of a scan.
    struct Part {
        blocks: Vec<SegBlock>,
        pages: u64,
        missing: u64,
        corrupt: bool,
        warning: Option<String>,
    }
    let label = crate::scan::PROGRESS_LABEL;
    let total_pages: u64 = subs
        .subsegments
        .iter()
        .map(|s| s.range.length.div_ceil(0x1000))
        .sum();
    let mut done = 0u64;
    target.progress(0, total_pages, label);
    let mut total = SegScan {
        segments: subs.segments,
        warnings: subs.warnings,
        ..SegScan::default()
    };
    for chunk in subs.subsegments.chunks(chunk.max(1)) {
        // An indexed parallel iterator collected into a Result keeps the subsegments' order and
        // stops early on the first error (a cancellation).
        let parts: Result<Vec<Part>, CommandError> = chunk
            .par_iter()
            .map(|sub| {
                if target.is_cancelled() {
                    return Err(CommandError::Cancelled);
                }
                let h = &pool.heaps[sub.heap];
                let r = &sub.range;
                let pages = r.length.div_ceil(0x1000);
                Ok(match walk_range(target, layout, &pool.keys, r) {
                    Ok(w) => Part {
                        corrupt: w.walk.first_error.is_some(),
                        blocks: w
                            .walk
                            .blocks
                            .iter()
                            .filter(|b| keep(b))
                            .map(|b| seg_block(h, w.kind, w.address, b))
                            .collect(),
                        pages,
                        missing: w.missing_pages as u64,
                        warning: None,
                    },
                    Err(e) => Part {
                        blocks: Vec::new(),
                        pages,
                        missing: 0,
                        corrupt: true,
                        warning: Some(e.to_string()),
                    },
                })
            })
            .collect();
        for part in parts? {
            total.subsegments += 1;
            total.pages += part.pages;
            total.unreadable_pages += part.missing;
            total.corrupt_subsegments += u64::from(part.corrupt);
            part.blocks.into_iter().for_each(&mut *each);
            total.warnings.extend(part.warning);
            done += part.pages;
        }
        target.progress(done, total_pages, label);
    }
    Ok(total)
}

/// A walked block as the scan reports it: the heap's pool type on allocated blocks where the heap
/// slot gives one (the header's PoolType byte cannot tell NonPagedPoolNx from NonPagedPool).
pub fn seg_block(h: &Heap, kind: SubKind, subsegment: u64, b: &WalkedBlock) -> SegBlock {
    let mut block = *b;
    if b.state == BlockState::Allocated && h.pool_type.is_some() {
        block.pool_type = h.pool_type;
    }
    SegBlock {
        block,
        kind,
        subsegment,
        paged: h
            .paged()
            .or(b.pool_type.map(PoolType::is_paged))
            .unwrap_or(false),
    }
}

// ---- `!pool ADDRESS` on the segment heap ---------------------------------------------------------

/// WinDbg's wording for a bad block of a subsegment; `reached_from` is the block whose size led here.
pub fn error_line(
    layout: &Layout,
    kind: SubKind,
    b: &WalkedBlock,
    reached_from: Option<u64>,
) -> Option<String> {
    let e = b.error?;
    let a = addr(layout, b.address);
    let mut line = match (kind, e) {
        (_, HeaderError::ImplausibleTag) => format!("Bad pool header @{a}: {e}"),
        (SubKind::Vs, HeaderError::PastPageEnd { size }) => format!(
            "Bad VS chunk header @{a}: chunk size {size:#x} runs past the end of the subsegment"
        ),
        (SubKind::Vs, _) => format!("Bad VS chunk header @{a}: {e}"),
        (SubKind::Lfh, _) => format!("Bad LFH block @{a}: {e}"),
    };
    if let Some(p) = reached_from {
        line.push_str(&format!(
            "; reached through the size of the chunk before it (pool header at {}), which may be the corrupt one",
            addr(layout, p)
        ));
    }
    Some(line)
}

/// For a VS chunk reached through `p` (the pool header of the chunk before it) that does not decode:
/// whether `p`'s own chunk header is the corrupt one — the next sound chunk header after it lies
/// inside the bytes it claims and records as previous size the real distance. Returns the chunk
/// header's address and why.
pub fn blame_previous_vs_chunk(
    layout: &Layout,
    sub: &SubWalk,
    heap_key: u64,
    p: &WalkedBlock,
) -> Option<(u64, String)> {
    let hdr = layout.segment_heap().ok()?.vs_chunk_header_size;
    // The chunk header sits right before the pool header (the page-start case is not blamed).
    let c_off = usize::try_from(p.address.checked_sub(sub.address)?)
        .ok()?
        .checked_sub(hdr)?;
    let c_addr = sub.address.wrapping_add(c_off as u64);
    let c = layout
        .decode_vs_chunk(sub.bytes.get(c_off..)?, c_addr, heap_key)
        .ok()?;
    let n_off = layout.next_vs_chunk(&sub.bytes, sub.address, heap_key, c_off + hdr)?;
    let n_addr = sub.address.wrapping_add(n_off as u64);
    let n = layout
        .decode_vs_chunk(sub.bytes.get(n_off..)?, n_addr, heap_key)
        .ok()?;
    let real = n_off - c_off;
    (real < c.size && n.previous_size == real).then(|| {
        (
            c_addr,
            format!(
                "it claims {:#x} bytes, but the next sound chunk header, at {}, records a previous size of {real:#x}",
                c.size,
                addr(layout, n_addr)
            ),
        )
    })
}

/// `!pool ADDRESS [FLAGS]` for an address that is not a big allocation on a segment-heap kernel:
/// the VS or LFH subsegment holding it, block by block, in WinDbg's line layout.
pub(crate) fn pool_address(
    target: &dyn Target,
    layout: &Layout,
    address: u64,
    flags: u64,
    out: &mut Output,
) -> Result<(), CommandError> {
    let describe = flags & FLAG_NO_DESCRIPTIONS == 0;
    let pool = read_pool(target, layout).map_err(|e| {
        CommandError::msg(format!(
            "{address:#x} is not a big allocation, and the segment-heap pool cannot be read: {e}"
        ))
    })?;
    for w in &pool.warnings {
        out.warn(w.clone());
    }
    let loc = pool
        .locate(layout, address, &mut reader(target))
        .map_err(|e| CommandError::msg(format!("{e}; it is not a big allocation either")))?;
    let heap = &pool.heaps[loc.heap];
    if !loc.by_signature {
        out.warn(format!(
            "page segment {:#x}: its signature does not name SegContexts[{}] of heap {:#x}; accepted because that context's segment list holds it",
            loc.segment, loc.ctx, heap.address
        ));
    }
    let sub = walk_range(target, layout, &pool.keys, &loc.range)
        .map_err(|e| CommandError::msg(format!("{}: {e}", addr(layout, address))))?;
    if sub.missing_pages > 0 {
        out.warn(format!(
            "{} subsegment {:#x}: {} page(s) not in the dump, read as zeros",
            sub.kind.label(),
            sub.address,
            sub.missing_pages
        ));
    }
    let blocks: Vec<SegBlock> = sub
        .walk
        .blocks
        .iter()
        .map(|b| seg_block(heap, sub.kind, sub.address, b))
        .collect();
    let containing = sub.walk.containing(address).map(|b| b.address);
    // A VS chunk that does not decode, reached through the block before it: is that one corrupt?
    let mut blamed: Vec<(u64, u64, String)> = Vec::new();
    if sub.kind == SubKind::Vs {
        for w in sub.walk.blocks.windows(2) {
            let (p, b) = (&w[0], &w[1]);
            if b.error.is_some()
                && p.error.is_none()
                && p.address + p.size as u64 == b.address
                && let Some((c, why)) = blame_previous_vs_chunk(layout, &sub, pool.keys.heap_key, p)
            {
                blamed.push((p.address, c, why));
            }
        }
    }
    let region_type = heap
        .pool_type
        .or(blocks.iter().find_map(|b| b.block.pool_type));
    let mut text = vec![
        format!(
            "Pool page {} region is {}",
            addr(layout, address),
            region_type.map_or("Unknown", |t| t.region())
        ),
        format!(
            "{} subsegment {} (+{:x}) in page segment {} of the {} segment heap {}",
            sub.kind.label(),
            addr(layout, sub.address),
            loc.range.length,
            addr(layout, loc.segment),
            heap.name(),
            addr(layout, heap.address)
        ),
    ];
    let mut previous: Option<&WalkedBlock> = None;
    for sb in &blocks {
        let b = &sb.block;
        let reached_from = previous
            .filter(|p| p.error.is_none() && p.address + p.size as u64 == b.address)
            .map(|p| p.address);
        previous = Some(b);
        let marked = Some(b.address) == containing;
        let blame = blamed
            .iter()
            .find(|(a, _, _)| *a == b.address)
            .map(|(_, c, w)| (*c, w));
        // WinDbg prints the pool header's PreviousSize, which the segment heap leaves 0.
        let previous_size = b.header.map_or(0, |h| layout.block_bytes(h.previous_size));
        let row = BlockRow {
            previous_size: previous_size as u64,
            error: Some(
                b.error
                    .map(|e| e.to_string())
                    .or(blame.map(|(_, w)| format!("VS chunk header corrupt: {w}"))),
            ),
            kind: Some(sub.kind.as_str()),
            ..BlockRow::walked(b, marked)
        };
        out.emit(&row);
        let err = error_line(layout, sub.kind, b, reached_from)
            .or(blame.map(|(c, w)| format!("Bad VS chunk header @{}: {w}", addr(layout, c))));
        if flags & FLAG_ONLY_CONTAINING != 0 && !marked {
            text.extend(err);
            continue;
        }
        text.push(row.text(layout));
        text.extend(err);
        if marked && describe && b.state == BlockState::Allocated {
            text.push(format!(
                "\t\t{}",
                owner(target, b.tag).pool_text(b.tag.masked())
            ));
        }
        if flags & FLAG_CONTENTS != 0 && b.error.is_none() {
            let start = (b.address - sub.address) as usize + layout.header_size();
            let end = ((b.address - sub.address) as usize + b.size)
                .min(sub.bytes.len())
                .min(start + 0x40);
            let mut off = start;
            while off < end {
                let n = (end - off).min(16);
                let bytes: Vec<String> = sub.bytes[off..off + n]
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect();
                text.push(format!(
                    "    {}  {}",
                    addr(layout, sub.address + off as u64),
                    bytes.join(" ")
                ));
                off += n;
            }
        }
    }
    for (_, c, w) in &blamed {
        out.warn(format!("the VS chunk header at {c:#x} is corrupt: {w}"));
    }
    if let Some((a, e)) = sub.walk.first_error {
        out.warn(format!(
            "{} subsegment {:#x} is corrupt: the block at {a:#x} is bad ({e}); the walk went on after it ({} resync(s))",
            sub.kind.label(),
            sub.address,
            sub.walk.resyncs
        ));
    }
    if containing.is_none() {
        out.warn(format!(
            "{address:#x} is not inside any block of the {} subsegment (a chunk or subsegment header, or a gap)",
            sub.kind.label()
        ));
    }
    let mut f = Map::new();
    f.insert("region".into(), json!("subsegment"));
    f.insert("kind".into(), json!(sub.kind.as_str()));
    f.insert("address".into(), json!(hex(address)));
    f.insert("subsegment".into(), json!(hex(sub.address)));
    f.insert("subsegment_size".into(), json!(loc.range.length));
    f.insert("segment".into(), json!(hex(loc.segment)));
    f.insert("heap".into(), json!(hex(heap.address)));
    f.insert(
        "pool_type".into(),
        json!(region_type.map(|t| t.name().to_string())),
    );
    f.insert("blocks".into(), json!(blocks.len()));
    f.insert(
        "first_error".into(),
        json!(
            sub.walk
                .first_error
                .map(|(a, e)| json!({"address": hex(a), "error": e.to_string()}))
        ),
    );
    out.set_summary(summary_with_text(f, text));
    Ok(())
}

// ---- `!poolfind` and scans over the segment heap -------------------------------------------------

/// What [`poolfind`] found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Found {
    /// Blocks with the tag.
    pub blocks: usize,
    /// Pages of the subsegments walked.
    pub pages: u64,
}

/// `!poolfind`'s search of the segment heap: every VS and LFH subsegment of the paged (or nonpaged:
/// NonPagedPool and NonPagedPoolNx) heaps of every pool node, after the big page table. Blocks inside
/// a big allocation in `skip` are left out (the table already listed them). Rows and text lines go
/// to `out` as each chunk of subsegments is walked ([`scan_each`]: nothing is kept per block),
/// warnings at the end.
pub fn poolfind(
    target: &dyn Target,
    layout: &Layout,
    pattern: &crate::common::TagPattern,
    want_paged: bool,
    skip: &[(u64, u64)],
    out: &mut Output,
) -> Result<Found, CommandError> {
    let pool = match read_pool(target, layout) {
        Ok(p) => p,
        Err(e) => {
            out.warn(format!(
                "the segment-heap pool cannot be read ({e}): only the big page table was searched"
            ));
            return Ok(Found::default());
        }
    };
    for w in &pool.warnings {
        out.warn(w.clone());
    }
    let want = |h: &Heap| h.paged().is_none_or(|p| p == want_paged);
    let in_big = |a: u64| {
        skip.iter()
            .any(|&(va, len)| a >= va && a < va.saturating_add(len))
    };
    let subs = pool.subsegments(layout, &want, &mut reader(target));
    for w in &subs.warnings {
        out.warn(w.clone());
    }
    let heaps: Vec<String> = pool
        .heaps
        .iter()
        .filter(|h| want(h))
        .map(|h| format!("{} {}", h.name(), addr(layout, h.address)))
        .collect();
    out.line(format!(
        "Searching {} pool (segment heap{} {}: {} segment(s), {} subsegment(s)) for Tag: {}",
        if want_paged { "Paged" } else { "NonPaged" },
        if heaps.len() == 1 { "" } else { "s" },
        heaps.join(", "),
        subs.segments,
        subs.subsegments.len(),
        pattern.as_str()
    ));
    out.line(String::new());
    let enumeration_warnings = subs.warnings.len();
    // Rows and lines go out as each chunk of subsegments is walked: nothing is kept per block.
    let mut found = 0usize;
    let s = scan_each(
        &pool,
        subs,
        target,
        layout,
        &|b| pattern.matches(b.tag) && !in_big(b.address),
        &mut |b| {
            if b.paged != want_paged {
                return;
            }
            found += 1;
            let row = FoundRow {
                kind: Some(b.kind.as_str()),
                ..FoundRow::block(&b.block, b.block.pool_type, "scan")
            };
            let previous_size = b
                .block
                .header
                .map_or(0, |h| layout.block_bytes(h.previous_size));
            out.emit(&row);
            out.line(row.text(layout, previous_size as u64));
        },
    )?;
    // The enumeration's warnings went out above; then the refused subsegments', in order.
    for w in s.warnings.iter().skip(enumeration_warnings) {
        out.warn(w.clone());
    }
    if s.unreadable_pages > 0 {
        out.warn(format!(
            "segment heap: {} subsegment page(s) could not be read (not in the dump)",
            s.unreadable_pages
        ));
    }
    if s.corrupt_subsegments > 0 {
        out.warn(format!(
            "segment heap: {} subsegment(s) hold a bad block or were refused; run !pool on an address inside to see why",
            s.corrupt_subsegments
        ));
    }
    Ok(Found {
        blocks: found,
        pages: s.pages,
    })
}

/// The segment-heap branch of [`crate::scan::scan_pages_each`]: every subsegment of the heaps whose
/// pool (paged or not) one of `regions` names — or of every heap when `regions` is empty — handed to
/// `each` as classic `ScannedBlock`s as each chunk of subsegments is walked ([`scan_each`]). The
/// returned `Scan` has no `blocks`.
pub fn scan_as_pages_each(
    target: &dyn Target,
    layout: &Layout,
    regions: &[crate::scan::Region],
    skip: &[(u64, u64)],
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
    each: &mut dyn FnMut(crate::scan::ScannedBlock),
) -> Result<crate::scan::Scan, CommandError> {
    let pool = read_pool(target, layout)
        .map_err(|e| CommandError::msg(format!("the segment-heap pool cannot be scanned: {e}")))?;
    let want = |h: &Heap| {
        regions.is_empty()
            || h.paged()
                .is_none_or(|p| regions.iter().any(|r| r.paged == p))
    };
    let in_big = |a: u64| {
        skip.iter()
            .any(|&(va, len)| a >= va && a < va.saturating_add(len))
    };
    let subs = pool.subsegments(layout, &want, &mut reader(target));
    let s = scan_each(
        &pool,
        subs,
        target,
        layout,
        &|b| keep(b) && !in_big(b.address),
        &mut |b| {
            each(crate::scan::ScannedBlock {
                block: b.block,
                paged: b.paged,
            })
        },
    )?;
    Ok(crate::scan::Scan {
        blocks: Vec::new(),
        pool_pages: s.pages,
        unreadable_pages: s.unreadable_pages,
        corrupt_pages: s.corrupt_subsegments,
        page_tables: None,
    })
}
