//! The segment-heap pool of Windows 10 19H1+ and 11 (docs/POOL_INTERNALS.md §3): where every VS chunk
//! and LFH block goes (a pure plan), and the writer of `ExPoolState`, `RtlpHpHeapGlobals`, the
//! `_SEGMENT_HEAP`s, their page segments, range descriptors and subsegments.
//!
//! Encodings (docs/POOL_INTERNALS.md §3.3, from MemProcFS `vmmwinpool.c` and PoolViewer):
//! - VS chunk header: `HeaderBits ^ chunk_address ^ HeapKey` (x64: MemoryCost 0–15, UnsafeSize
//!   16–31, UnsafePrevSize 32–47, Allocated 48–55; sizes in 16-byte units);
//! - VS subsegment: `Size == Signature ^ 0x2BED` (15-bit signature);
//! - LFH subsegment: `BlockOffsets ^ LfhKey ^ ((u32)subsegment >> 12)`, BlockSize in the low and
//!   FirstBlockOffset in the high 16 bits; `BlockBitmap` 2 bits per block, `01` = allocated;
//! - page segment: `Signature ^ HeapKey ^ segment ^ 0xA2E64EADA2E64EAD` is a kernel address (here:
//!   the owning `_HEAP_SEG_CONTEXT`, a choice of testkit's: readers only check it is a kernel address);
//! - range descriptors: `RangeFlags` 11 = LFH subsegment, 15 = VS subsegment, `UnitSize` units.
//!
//! Simplifications, each a choice testkit documents rather than a claim about Windows: LFH buckets
//! are powers of two from 0x20 to 0x200 (so no block crosses a page), LFH subsegments are two
//! pages and VS subsegments sixteen; a VS allocation whose pool block would cross a page gets a free
//! filler chunk before it so that it starts a page; freed VS chunks stay where they were (as on the
//! delay-free list) instead of coalescing; the free-chunk tree, LFH buckets and affinity slots are
//! not built (null); `EncodedSegmentPageOffset` holds the plain page offset (its encoding is not
//! public here).

use std::collections::BTreeMap;

use crate::builder::{Build, BuildError, Fault, PoolKind};
use crate::layout::AllocSpec;
use crate::manifest::{self, Hex, tag_string};
use crate::memory::PAGE;
use crate::profile::SegHeapLayout;

/// The heaps of pool node 0, in `_EX_HEAP_POOL_NODE.Heaps[]` order (MemProcFS: [0] NonPaged, [1]
/// NonPagedNx, [2] Paged; [3], a second paged heap, is left null).
pub(crate) const HEAPS: [PoolKind; 3] = [PoolKind::NonPaged, PoolKind::NonPagedNx, PoolKind::Paged];

/// Page segments are 1 MiB: 256 units of one page, the first two holding the descriptor array.
const SEGMENT: u64 = 0x10_0000;
const UNITS: u64 = SEGMENT / PAGE;
const FIRST_UNIT: u64 = 2;
/// Subsegment sizes in pages.
const LFH_PAGES: u64 = 2;
const VS_PAGES: u64 = 16;
/// The first VS chunk header follows the 0x28-byte subsegment header at the next 16-byte boundary.
const VS_FIRST_CHUNK: u64 = 0x30;
/// Largest pool block (header included) served by the LFH here.
pub(crate) const LFH_MAX: u64 = 0x200;
/// Largest pool block (header included) served by VS; larger requests are big allocations.
pub(crate) const VS_MAX: u64 = 0xfe0;
const PAGE_SEGMENT_XOR: u64 = 0xA2E6_4EAD_A2E6_4EAD;
const VS_SIGNATURE_XOR: u64 = 0x2BED;
const HEAP_SIGNATURE: u64 = 0xDDEE_DDEE;
const RANGE_LFH: u64 = 11;
const RANGE_VS: u64 = 15;

/// Where a heap's page segments start: the nonpaged heaps 4 GiB and 256 GiB into the nonpaged area
/// (big allocations take its start), the paged heap 4 GiB into the paged area.
pub(crate) fn heap_region(nonpaged: u64, paged: u64, pool: PoolKind) -> u64 {
    match pool {
        PoolKind::NonPaged => nonpaged + 0x1_0000_0000,
        PoolKind::NonPagedNx => nonpaged + 0x40_0000_0000,
        PoolKind::Paged => paged + 0x1_0000_0000,
    }
}

/// What a range of a page segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeUse {
    Vs(usize),
    Lfh(usize),
}

/// One page segment and its used ranges (unit index, units, use); the rest is one free range.
#[derive(Debug, Clone)]
pub(crate) struct SegmentPlan {
    pub va: u64,
    pub ranges: Vec<(u64, u64, RangeUse)>,
}

/// A heap.
#[derive(Debug, Clone)]
pub(crate) struct HeapPlan {
    pub pool: PoolKind,
    pub segments: Vec<SegmentPlan>,
}

/// A VS subsegment: its chunks are `blocks[first..first + count]`.
#[derive(Debug, Clone)]
pub(crate) struct VsSub {
    pub heap: usize,
    pub va: u64,
    pub chunks: Vec<usize>,
    /// `_HEAP_VS_SUBSEGMENT.Size` in bytes: where the chunks end.
    pub size: u64,
    /// Whether its page range holds one more page after `size`, never mapped (a guard page).
    pub guard: bool,
}

/// An LFH subsegment.
#[derive(Debug, Clone)]
pub(crate) struct LfhSub {
    pub heap: usize,
    pub va: u64,
    pub block_size: u64,
    pub first: u64,
    pub blocks: Vec<usize>,
    /// Committed pages (the blocks lie in them).
    pub pages: u64,
    /// Whether its page range holds one more page after `pages`, never mapped (a guard page).
    pub guard: bool,
}

/// A VS chunk or an LFH block.
#[derive(Debug, Clone)]
pub(crate) struct SegBlock {
    pub lfh: bool,
    pub heap: usize,
    /// Subsegment address.
    pub sub: u64,
    /// VS: chunk header address; LFH: block address (= its pool header).
    pub chunk: u64,
    /// VS: chunk size (chunk header included); LFH: block size.
    pub chunk_size: u64,
    /// VS: previous chunk's size.
    pub prev_size: u64,
    /// Pool header address.
    pub header: u64,
    /// Pool block size (pool header included).
    pub size: u64,
    /// What the request needs: its size plus the pool header, in 16-byte units (the header's
    /// BlockSize and the tracker's bytes); 0 for fillers and never-allocated blocks.
    pub need: u64,
    /// Tag in the pool header (0: never allocated, header zero).
    pub tag: u32,
    pub allocated: bool,
    pub spec: Option<usize>,
}

/// The segment-heap plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegPlan {
    pub heaps: Vec<HeapPlan>,
    pub blocks: Vec<SegBlock>,
    pub vs: Vec<VsSub>,
    pub lfh: Vec<LfhSub>,
    /// What the trackers count: (tag, pool, bytes, freed) per allocation, in request order.
    pub accounting: Vec<crate::layout::Accounted>,
    /// Pages of subsegments per pool index (0 nonpaged, 1 paged).
    pub pages: [u64; 2],
}

/// Where the pool header of a VS chunk is, and the pool block's size (docs/POOL_LAYOUTS.md "segment
/// heap: sources and where they disagree"; MemProcFS `vmmwinpool.c` VS walk: an *allocated* block
/// under 0xFF0 bytes that would cross a page by more than 0x40 bytes has its pool header at the start
/// of the next page). A free chunk has no pool header: it starts right after its chunk header.
pub(crate) fn vs_header(chunk: u64, chunk_size: u64, allocated: bool) -> (u64, u64) {
    let block = chunk + 16;
    let size = chunk_size.saturating_sub(16);
    if allocated && size < 0xff0 && (block & 0xfff) + size > 0x1040 {
        let next = (block & !0xfff) + PAGE;
        (next, size - (next - block))
    } else {
        (block, size)
    }
}

/// Size plus pool header, rounded to 16 bytes.
pub(crate) fn need_of(a: &AllocSpec) -> u64 {
    (a.size + 16).div_ceil(16) * 16
}

/// The LFH bucket (block size) of a pool block of `need` bytes.
pub(crate) fn lfh_bucket(need: u64) -> u64 {
    need.next_power_of_two().max(0x20)
}

/// First block offset and block count of an LFH subsegment of `bytes` with blocks of `b` bytes:
/// the first block follows the 0x30-byte header and the bitmap, aligned to `b`.
pub(crate) fn lfh_geometry(bytes: u64, b: u64) -> (u64, u64) {
    let max = bytes / b;
    let first = (0x30 + max.div_ceil(4)).div_ceil(b) * b;
    (first, (bytes - first) / b)
}

struct Segments {
    region: u64,
    segs: Vec<SegmentPlan>,
    cursor: u64,
}

impl Segments {
    fn alloc(&mut self, units: u64, what: RangeUse) -> u64 {
        if self.segs.is_empty() || self.cursor + units > UNITS {
            let va = self.region + self.segs.len() as u64 * SEGMENT;
            self.segs.push(SegmentPlan {
                va,
                ranges: Vec::new(),
            });
            self.cursor = FIRST_UNIT;
        }
        let n = self.segs.len() - 1;
        let seg = &mut self.segs[n];
        seg.ranges.push((self.cursor, units, what));
        let va = seg.va + self.cursor * PAGE;
        self.cursor += units;
        va
    }
}

/// Lays out the small allocations (`specs`, each at most [`VS_MAX`] bytes with its pool header) in
/// the three heaps.
pub(crate) fn plan(nonpaged: u64, paged: u64, specs: &[AllocSpec]) -> SegPlan {
    let mut out = SegPlan::default();
    for (hi, &pool) in HEAPS.iter().enumerate() {
        let mut segs = Segments {
            region: heap_region(nonpaged, paged, pool),
            segs: Vec::new(),
            cursor: FIRST_UNIT,
        };
        let mine: Vec<(usize, u64)> = specs
            .iter()
            .enumerate()
            .filter(|(_, a)| a.pool == pool)
            .map(|(i, a)| (i, need_of(a)))
            .collect();
        // ---- LFH: one run of subsegments per bucket ----------------------------------------
        let mut buckets: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for &(i, need) in mine.iter().filter(|(_, n)| *n <= LFH_MAX) {
            buckets.entry(lfh_bucket(need)).or_default().push(i);
        }
        for (b, items) in &buckets {
            let (first, count) = lfh_geometry(LFH_PAGES * PAGE, *b);
            let mut it = items.iter().peekable();
            while it.peek().is_some() {
                let li = out.lfh.len();
                let va = segs.alloc(LFH_PAGES, RangeUse::Lfh(li));
                let mut sub = LfhSub {
                    heap: hi,
                    va,
                    block_size: *b,
                    first,
                    blocks: Vec::new(),
                    pages: LFH_PAGES,
                    guard: false,
                };
                for k in 0..count {
                    let addr = va + first + k * b;
                    let spec = it.next().copied();
                    let (tag, allocated, need) = match spec {
                        Some(i) => (specs[i].tag, !specs[i].freed, need_of(&specs[i])),
                        None => (0, false, 0),
                    };
                    sub.blocks.push(out.blocks.len());
                    out.blocks.push(SegBlock {
                        lfh: true,
                        heap: hi,
                        sub: va,
                        chunk: addr,
                        chunk_size: *b,
                        prev_size: 0,
                        header: addr,
                        size: *b,
                        need,
                        tag,
                        allocated,
                        spec,
                    });
                }
                out.pages[pool.index()] += LFH_PAGES;
                out.lfh.push(sub);
            }
        }
        // ---- VS ------------------------------------------------------------------------------
        let vs_bytes = VS_PAGES * PAGE;
        let mut cur: Option<(usize, u64)> = None; // (vs index, offset of the next chunk)
        let push_chunk =
            |out: &mut SegPlan, vi: usize, off: u64, size: u64, spec: Option<usize>| {
                let va = out.vs[vi].va;
                let prev = out.vs[vi]
                    .chunks
                    .last()
                    .map(|&c| out.blocks[c].chunk_size)
                    .unwrap_or(0);
                let (tag, allocated, need) = match spec {
                    Some(i) => (specs[i].tag, !specs[i].freed, need_of(&specs[i])),
                    None => (0, false, 0),
                };
                let (header, bsize) = vs_header(va + off, size, allocated);
                out.vs[vi].chunks.push(out.blocks.len());
                out.blocks.push(SegBlock {
                    lfh: false,
                    heap: hi,
                    sub: va,
                    chunk: va + off,
                    chunk_size: size,
                    prev_size: prev,
                    header,
                    size: bsize,
                    need,
                    tag,
                    allocated,
                    spec,
                });
            };
        // Pads `off` up to `to` with a free chunk (or, for 16 bytes, by growing the last chunk).
        let pad = |out: &mut SegPlan, vi: usize, off: u64, to: u64| {
            let gap = to - off;
            if gap == 0 {
                return;
            }
            if gap >= 0x20 || out.vs[vi].chunks.is_empty() {
                push_chunk(out, vi, off, gap, None);
            } else if let Some(&last) = out.vs[vi].chunks.last() {
                let b = &mut out.blocks[last];
                b.chunk_size += gap;
                let (h, s) = vs_header(b.chunk, b.chunk_size, b.allocated);
                b.header = h;
                b.size = s;
            }
        };
        for &(i, need) in mine.iter().filter(|(_, n)| *n > LFH_MAX) {
            let chunk = need + 16;
            loop {
                let (vi, off) = match cur {
                    Some(c) => c,
                    None => {
                        let vi = out.vs.len();
                        let va = segs.alloc(VS_PAGES, RangeUse::Vs(vi));
                        out.vs.push(VsSub {
                            heap: hi,
                            va,
                            chunks: Vec::new(),
                            size: VS_PAGES * PAGE,
                            guard: false,
                        });
                        out.pages[pool.index()] += VS_PAGES;
                        (vi, VS_FIRST_CHUNK)
                    }
                };
                // The pool block must not cross a page: move the chunk so that it starts one.
                let block = off + 16;
                let at = if (block % PAGE) + need > PAGE {
                    (block / PAGE + 1) * PAGE - 16
                } else {
                    off
                };
                if at + chunk > vs_bytes {
                    pad(&mut out, vi, off, vs_bytes);
                    cur = None;
                    continue;
                }
                pad(&mut out, vi, off, at);
                push_chunk(&mut out, vi, at, chunk, Some(i));
                cur = Some((vi, at + chunk));
                break;
            }
        }
        if let Some((vi, off)) = cur {
            pad(&mut out, vi, off, vs_bytes);
        }
        out.heaps.push(HeapPlan {
            pool,
            segments: segs.segs,
        });
    }
    // Tracker accounting, in request order.
    for (i, a) in specs.iter().enumerate() {
        if let Some(b) = out.blocks.iter().find(|b| b.spec == Some(i)) {
            out.accounting.push((a.tag, a.pool, b.need, a.freed));
        }
    }
    out
}

/// The tag of the blocks [`add_edges`] places.
pub(crate) const EDGE_TAG: u32 = u32::from_le_bytes(*b"Edge");

impl SegPlan {
    /// Whether the range of `what` ends in a guard page.
    pub(crate) fn guarded(&self, what: RangeUse) -> bool {
        match what {
            RangeUse::Vs(i) => self.vs.get(i).is_some_and(|v| v.guard),
            RangeUse::Lfh(i) => self.lfh.get(i).is_some_and(|l| l.guard),
        }
    }
}

/// Appends to every heap of `plan` the subsegments the segment-heap walker must read exactly
/// (issue #18; docs/POOL_LAYOUTS.md "segment heap: sources and where they disagree"):
/// - a VS subsegment whose page range is one page longer than its `Size` (the last page a guard
///   page, never mapped), holding free chunks that cross pages — listed at their real start — and
///   `Edge` allocations;
/// - two "large" LFH subsegments (4 committed pages and a guard page) of 0x20- and 0x40-byte blocks
///   whose `BlockCount` is 5 less than their committed pages hold, every other block an `Edge`
///   allocation. A count inferred from the range overlaps the 0x20 bitmap with the first block and
///   invents blocks in the guard page of the 0x40 one.
///
/// The `Edge` allocations are accounted like any other (pool tracker, `!poolused`).
pub(crate) fn add_edges(plan: &mut SegPlan, nonpaged: u64, paged: u64) {
    const LFH_EDGE_PAGES: u64 = 4;
    for hi in 0..plan.heaps.len() {
        let pool = plan.heaps[hi].pool;
        let mut segs = Segments {
            region: heap_region(nonpaged, paged, pool),
            segs: std::mem::take(&mut plan.heaps[hi].segments),
            cursor: 0,
        };
        segs.cursor = segs
            .segs
            .last()
            .and_then(|sg| sg.ranges.last().map(|r| r.0 + r.1))
            .unwrap_or(FIRST_UNIT);
        // ---- LFH: BlockCount below the room, a guard page after the blocks ---------------------
        for b in [0x20u64, 0x40] {
            let li = plan.lfh.len();
            let va = segs.alloc(LFH_EDGE_PAGES + 1, RangeUse::Lfh(li));
            let (first, room) = lfh_geometry(LFH_EDGE_PAGES * PAGE, b);
            let mut sub = LfhSub {
                heap: hi,
                va,
                block_size: b,
                first,
                blocks: Vec::new(),
                pages: LFH_EDGE_PAGES,
                guard: true,
            };
            for k in 0..room - 5 {
                let allocated = k % 2 == 0;
                sub.blocks.push(plan.blocks.len());
                plan.blocks.push(SegBlock {
                    lfh: true,
                    heap: hi,
                    sub: va,
                    chunk: va + first + k * b,
                    chunk_size: b,
                    prev_size: 0,
                    header: va + first + k * b,
                    size: b,
                    need: if allocated { b } else { 0 },
                    tag: if allocated { EDGE_TAG } else { 0 },
                    allocated,
                    spec: None,
                });
                if allocated {
                    plan.accounting.push((EDGE_TAG, pool, b, false));
                }
            }
            plan.pages[pool.index()] += LFH_EDGE_PAGES;
            plan.lfh.push(sub);
        }
        // ---- VS: Size one page short of the range; free chunks across pages ---------------------
        let vi = plan.vs.len();
        let va = segs.alloc(VS_PAGES + 1, RangeUse::Vs(vi));
        plan.vs.push(VsSub {
            heap: hi,
            va,
            chunks: Vec::new(),
            size: VS_PAGES * PAGE,
            guard: true,
        });
        // (offset, chunk size, allocated): free 0x30..0x1830 crosses 0x1000; free 0x1c30..0x3c30
        // crosses two pages; the last free chunk runs to Size across eleven pages.
        let chunks = [
            (VS_FIRST_CHUNK, 0x1800, false),
            (0x1830, 0x400, true),
            (0x1c30, 0x2000, false),
            (0x3c30, 0x300, true),
            (0x3f30, VS_PAGES * PAGE - 0x3f30, false),
        ];
        let mut prev = 0;
        for (off, size, allocated) in chunks {
            let (header, bsize) = vs_header(va + off, size, allocated);
            plan.vs[vi].chunks.push(plan.blocks.len());
            plan.blocks.push(SegBlock {
                lfh: false,
                heap: hi,
                sub: va,
                chunk: va + off,
                chunk_size: size,
                prev_size: prev,
                header,
                size: bsize,
                need: if allocated { size - 16 } else { 0 },
                tag: if allocated { EDGE_TAG } else { 0 },
                allocated,
                spec: None,
            });
            if allocated {
                plan.accounting.push((EDGE_TAG, pool, size - 16, false));
            }
            prev = size;
        }
        plan.pages[pool.index()] += VS_PAGES;
        plan.heaps[hi].segments = segs.segs;
    }
}

/// The keys and addresses the writer produced.
pub(crate) struct Written {
    pub info: manifest::SegmentHeap,
    /// Spec index → address of the data (pool header + 16).
    pub spec_va: BTreeMap<usize, u64>,
}

impl Build {
    /// Writes `RtlpHpHeapGlobals`, `ExPoolState`, the heaps, segments, subsegments and blocks.
    pub(crate) fn write_segment_heap(&mut self, l: &SegHeapLayout, plan: &SegPlan) -> Written {
        let heap_key = self.rng.next_u64();
        let lfh_key = self.rng.next_u64();
        let globals = self
            .global("RtlpHpHeapGlobals")
            .unwrap_or_else(|| self.sys_alloc(0x40, 0x40));
        self.s.wn(globals, heap_key, 8);
        self.s.wn(globals + l.lfh_key, lfh_key, 8);
        // ---- the heaps ---------------------------------------------------------------------
        let heap_vas: Vec<u64> = plan
            .heaps
            .iter()
            .map(|_| self.sys_alloc(l.heap_size, PAGE))
            .collect();
        let state = self
            .global("ExPoolState")
            .unwrap_or_else(|| self.sys_alloc(l.state_size, PAGE));
        self.s.w(state, &vec![0u8; l.state_size as usize]);
        self.s.ptr(state, globals); // HeapManager.Globals
        self.s.wn(state + l.number_of_pools, 1, 4);
        for (i, h) in heap_vas.iter().enumerate() {
            self.s.ptr(state + l.pool_node + 8 * i as u64, *h);
        }
        let mut heaps = Vec::new();
        for (hi, hp) in plan.heaps.iter().enumerate() {
            let h = heap_vas[hi];
            self.s.w(h, &vec![0u8; l.heap_size as usize]);
            // Every page of the segments' headers and subsegments is committed: map them (zero)
            // before anything is linked into them.
            for seg in &hp.segments {
                self.s.w(seg.va, &vec![0u8; l.page_segment_size as usize]);
                for &(unit, units, what) in &seg.ranges {
                    // A guard page at the end of a range is never mapped.
                    let mapped = units - u64::from(plan.guarded(what));
                    self.s
                        .w(seg.va + unit * PAGE, &vec![0u8; (mapped * PAGE) as usize]);
                }
            }
            self.s.wn(h + l.heap_signature, HEAP_SIGNATURE, 4);
            let vs_ctx = h + l.vs_context;
            let lfh_ctx = h + l.lfh_context;
            // SegContexts[0]: 1 MiB segments of page units; [1]: 16 MiB segments of 64 KiB units
            // (unused here, its list empty).
            for (ci, (mask, shift, first)) in
                [(!(SEGMENT - 1), 12u64, FIRST_UNIT), (!0xff_ffff, 16, 1)]
                    .into_iter()
                    .enumerate()
            {
                let c = h + l.seg_contexts + ci as u64 * l.seg_context_size;
                self.s.wn(c, mask, 8);
                self.s.wn(c + l.seg_unit_shift, shift, 1);
                self.s.wn(c + l.seg_pages_per_unit_shift, shift - 12, 1);
                self.s.wn(c + l.seg_first_descriptor_index, first, 1);
                self.s.ptr(c + l.seg_lfh_context, lfh_ctx);
                self.s.ptr(c + l.seg_vs_context, vs_ctx);
                self.s.ptr(c + l.seg_heap, h);
                let head = c + l.seg_segment_list_head;
                let segs: Vec<u64> = if ci == 0 {
                    hp.segments.iter().map(|s| s.va).collect()
                } else {
                    Vec::new()
                };
                self.link(head, &segs);
                self.s.wn(c + l.seg_segment_count, segs.len() as u64, 8);
            }
            let ctx0 = h + l.seg_contexts;
            // ---- page segments and range descriptors ---------------------------------------
            let mut committed = 0u64;
            for seg in &hp.segments {
                let sig = seg.va ^ heap_key ^ PAGE_SEGMENT_XOR ^ ctx0;
                self.s.wn(seg.va + l.page_segment_signature, sig, 8);
                let mut end = FIRST_UNIT;
                committed += FIRST_UNIT;
                for &(unit, units, what) in &seg.ranges {
                    let d = seg.va + unit * l.range_size;
                    let flags = match what {
                        RangeUse::Vs(_) => RANGE_VS,
                        RangeUse::Lfh(_) => RANGE_LFH,
                    };
                    self.s.wn(d + l.range_flags, flags, 1);
                    let committed_units = units - u64::from(plan.guarded(what));
                    self.s.wn(d + l.range_committed_pages, committed_units, 1);
                    self.s.wn(d + l.range_unit_size, units, 1);
                    for k in 1..units {
                        // Continuation descriptors: UnitOffset (the union with UnitSize).
                        self.s.wn(d + k * l.range_size + l.range_unit_size, k, 1);
                    }
                    end = unit + units;
                    committed += committed_units;
                }
                if end < UNITS {
                    // The free rest: RangeFlags 0, UnitSize the remaining units.
                    let d = seg.va + end * l.range_size;
                    self.s.wn(d + l.range_unit_size, UNITS - end, 1);
                }
            }
            // MemStats: TotalReservedPages, TotalCommittedPages.
            let reserved = hp.segments.len() as u64 * UNITS;
            self.s.wn(h + l.heap_mem_stats, reserved, 8);
            self.s.wn(h + l.heap_mem_stats + 8, committed, 8);
            // ---- VS subsegments --------------------------------------------------------------
            let subs: Vec<&VsSub> = plan.vs.iter().filter(|v| v.heap == hi).collect();
            let list: Vec<u64> = subs.iter().map(|v| v.va).collect();
            self.link(vs_ctx + l.vs_subsegment_list, &list);
            self.s.wn(
                vs_ctx + l.vs_total_committed_units,
                subs.iter().map(|v| v.size / 16).sum::<u64>(),
                8,
            );
            for v in &subs {
                let units = v.size / 16;
                self.s.wn(v.va + 0x10, (1u64 << (v.size / PAGE)) - 1, 8); // CommitBitmap: all committed
                self.s.wn(v.va + l.vs_sub_size, units, 2);
                let sig = (units ^ VS_SIGNATURE_XOR) & 0x7fff | 0x8000; // FullCommit
                self.s.wn(v.va + l.vs_sub_signature, sig, 2);
                for &c in &v.chunks {
                    let b = &plan.blocks[c];
                    self.write_vs_chunk(b, b.chunk_size, heap_key, seg_of(b.chunk));
                    self.write_block(b, hp.pool);
                }
            }
            // ---- LFH subsegments -------------------------------------------------------------
            for sub in plan.lfh.iter().filter(|s| s.heap == hi) {
                self.s.ptr(sub.va, sub.va);
                self.s.ptr(sub.va + 8, sub.va);
                self.s.ptr(sub.va + l.lfh_owner, lfh_ctx);
                let count = sub.blocks.len() as u64;
                let free = sub
                    .blocks
                    .iter()
                    .filter(|&&i| !plan.blocks[i].allocated)
                    .count() as u64;
                self.s.wn(sub.va + l.lfh_free_count, free, 2);
                self.s.wn(sub.va + l.lfh_block_count, count, 2);
                let enc = (sub.block_size | sub.first << 16)
                    ^ (lfh_key & 0xffff_ffff)
                    ^ ((sub.va & 0xffff_ffff) >> 12);
                self.s.wn(sub.va + l.lfh_block_offsets, enc, 4);
                let mut bitmap = vec![0u8; count.div_ceil(4) as usize];
                for (k, &i) in sub.blocks.iter().enumerate() {
                    let b = &plan.blocks[i];
                    if b.allocated {
                        bitmap[k / 4] |= 1 << ((k % 4) * 2);
                    }
                    self.write_block(b, hp.pool);
                }
                self.s.w(sub.va + l.lfh_block_bitmap, &bitmap);
            }
            heaps.push(manifest::SegHeapRec {
                address: Hex(h),
                pool_type: hp.pool.name().into(),
                node: 0,
                slot: hi as u32,
                segments: hp.segments.iter().map(|s| Hex(s.va)).collect(),
            });
        }
        // ---- manifest ------------------------------------------------------------------------
        let mut spec_va = BTreeMap::new();
        let mut vs_chunks = Vec::new();
        let mut lfh_blocks = Vec::new();
        for b in &plan.blocks {
            if let Some(i) = b.spec {
                spec_va.insert(i, b.header + 16);
            }
            let pool = HEAPS[b.heap].name().to_string();
            let state = if b.allocated { "allocated" } else { "free" }.to_string();
            let tag = if b.tag == 0 {
                String::new()
            } else {
                tag_string(b.tag)
            };
            if b.lfh {
                lfh_blocks.push(manifest::LfhBlockRec {
                    address: Hex(b.chunk),
                    size: b.size,
                    state,
                    tag,
                    pool_type: pool,
                    subsegment: Hex(b.sub),
                    error: None,
                });
            } else {
                vs_chunks.push(manifest::VsChunkRec {
                    chunk: Hex(b.chunk),
                    chunk_size: b.chunk_size,
                    previous_chunk_size: b.prev_size,
                    state,
                    pool_header: Hex(b.header),
                    size: b.size,
                    tag,
                    pool_type: pool,
                    subsegment: Hex(b.sub),
                    error: None,
                });
            }
        }
        let info = manifest::SegmentHeap {
            pool_state: Hex(state),
            heap_globals: Hex(globals),
            heap_key: Hex(heap_key),
            lfh_key: Hex(lfh_key),
            heaps,
            vs_subsegments: plan
                .vs
                .iter()
                .map(|v| manifest::SubsegmentRec {
                    address: Hex(v.va),
                    size: v.size,
                    guard_page: v.guard.then_some(Hex(v.va + v.size)),
                    pool_type: HEAPS[v.heap].name().into(),
                    kind: "vs".into(),
                    block_size: None,
                    first_block_offset: None,
                    blocks: v.chunks.len() as u64,
                })
                .collect(),
            lfh_subsegments: plan
                .lfh
                .iter()
                .map(|s| manifest::SubsegmentRec {
                    address: Hex(s.va),
                    size: s.pages * PAGE,
                    guard_page: s.guard.then_some(Hex(s.va + s.pages * PAGE)),
                    pool_type: HEAPS[s.heap].name().into(),
                    kind: "lfh".into(),
                    block_size: Some(s.block_size),
                    first_block_offset: Some(s.first),
                    blocks: s.blocks.len() as u64,
                })
                .collect(),
            vs_chunks,
            lfh_blocks,
        };
        Written { info, spec_va }
    }

    /// Injects a segment-heap fault and records it in `info` (the chunk's or block's `error`).
    pub(crate) fn inject_seg_fault(
        &mut self,
        f: Fault,
        l: &SegHeapLayout,
        plan: &SegPlan,
        info: &mut manifest::SegmentHeap,
    ) -> Result<manifest::FaultRecord, BuildError> {
        let victim = |lfh: bool, t: &[u8; 4]| {
            let want = u32::from_le_bytes(*t);
            plan.blocks
                .iter()
                .position(|b| b.lfh == lfh && b.allocated && b.tag == want)
        };
        match f {
            Fault::CorruptVsHeader { tag } => {
                let Some(i) = victim(false, &tag) else {
                    return Err(BuildError::FaultWithoutTarget(format!(
                        "corrupt_vs_header({})",
                        tag_string(u32::from_le_bytes(tag))
                    )));
                };
                let b = &plan.blocks[i];
                let bad = b.chunk_size + 0x30;
                self.write_vs_chunk(b, bad, info.heap_key.0, seg_of(b.chunk));
                let msg = format!(
                    "chunk header says {bad:#x} bytes; the subsegment layout says {:#x}",
                    b.chunk_size
                );
                if let Some(r) = info.vs_chunks.iter_mut().find(|r| r.chunk.0 == b.chunk) {
                    r.error = Some(msg.clone());
                }
                Ok(manifest::FaultRecord {
                    kind: "corrupt_vs_header".into(),
                    address: Some(Hex(b.chunk)),
                    detail: msg,
                })
            }
            Fault::BadLfhBitmap { tag } => {
                let Some(i) = victim(true, &tag) else {
                    return Err(BuildError::FaultWithoutTarget(format!(
                        "bad_lfh_bitmap({})",
                        tag_string(u32::from_le_bytes(tag))
                    )));
                };
                let b = &plan.blocks[i];
                let Some(sub) = plan.lfh.iter().find(|s| s.va == b.sub) else {
                    return Err(BuildError::FaultWithoutTarget("bad_lfh_bitmap".into()));
                };
                let k = sub.blocks.iter().position(|&x| x == i).unwrap_or(0);
                // The byte holding the victim's two bits, rebuilt with `10` for the victim.
                let mut byte = 0u8;
                for j in 0..4 {
                    let kk = (k / 4) * 4 + j;
                    let bits = match sub.blocks.get(kk) {
                        Some(_) if kk == k => 0b10,
                        Some(&x) if plan.blocks[x].allocated => 0b01,
                        _ => 0,
                    };
                    byte |= bits << (2 * j);
                }
                let at = sub.va + l.lfh_block_bitmap + (k / 4) as u64;
                self.s.wn(at, u64::from(byte), 1);
                let msg = format!(
                    "BlockBitmap bits of block {k} are 10 (unused bytes on a block that is not busy); the block is allocated"
                );
                if let Some(r) = info.lfh_blocks.iter_mut().find(|r| r.address.0 == b.chunk) {
                    r.error = Some(msg.clone());
                }
                Ok(manifest::FaultRecord {
                    kind: "bad_lfh_bitmap".into(),
                    address: Some(Hex(at)),
                    detail: msg,
                })
            }
            other => Err(BuildError::FaultWithoutTarget(format!(
                "{other:?} is not a segment-heap fault"
            ))),
        }
    }

    /// Writes a VS chunk header claiming `size` bytes.
    pub(crate) fn write_vs_chunk(&mut self, b: &SegBlock, size: u64, heap_key: u64, seg: u64) {
        let bits = (size / 16) << 16 | (b.prev_size / 16) << 32 | u64::from(b.allocated) << 48;
        self.s.wn(b.chunk, bits ^ b.chunk ^ heap_key, 8);
        // EncodedSegmentPageOffset: the page offset in the segment, stored plain.
        self.s.wn(b.chunk + 8, ((b.chunk - seg) / PAGE) & 0xff, 4);
    }

    /// Writes the `_POOL_HEADER` of a block (and its fill, when allocated); never-allocated blocks
    /// keep a zero header.
    fn write_block(&mut self, b: &SegBlock, pool: PoolKind) {
        if b.tag == 0 {
            return;
        }
        let mut h = [0u8; 16];
        h[1] = 0; // PoolIndex
        h[2] = (b.need / 16) as u8; // BlockSize: what the request needs
        h[3] = if b.allocated {
            ((pool.value() & 1) | 2) as u8
        } else {
            0
        };
        h[4..8].copy_from_slice(&b.tag.to_le_bytes());
        self.s.w(b.header, &h);
        if b.allocated {
            let fill = (b.tag.wrapping_mul(0x9e37_79b1) >> 24) as u8 | 1;
            self.s.w(b.header + 16, &vec![fill; (b.size - 16) as usize]);
        }
    }

    /// Links `entries` (addresses of `_LIST_ENTRY`s) into a circular list headed at `head`.
    fn link(&mut self, head: u64, entries: &[u64]) {
        let all: Vec<u64> = std::iter::once(head)
            .chain(entries.iter().copied())
            .collect();
        for (i, e) in all.iter().enumerate() {
            let next = all[(i + 1) % all.len()];
            let prev = all[(i + all.len() - 1) % all.len()];
            self.s.ptr(*e, next);
            self.s.ptr(e + 8, prev);
        }
    }
}

/// The 1 MiB page segment holding `va`.
pub(crate) fn seg_of(va: u64) -> u64 {
    va & !(SEGMENT - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tag: &[u8; 4], size: u64, pool: PoolKind, freed: bool) -> AllocSpec {
        AllocSpec {
            tag: u32::from_le_bytes(*tag),
            size,
            pool,
            freed,
        }
    }

    #[test]
    fn lfh_geometry_leaves_room_for_the_bitmap_and_never_crosses_pages() {
        for b in [0x20u64, 0x40, 0x80, 0x100, 0x200] {
            let (first, count) = lfh_geometry(0x2000, b);
            assert!(0x30 + count.div_ceil(4) <= first, "{b:#x}");
            assert_eq!(first % b, 0);
            assert!(first + count * b <= 0x2000);
            assert!(
                first + (count + 1) * b > 0x2000,
                "{b:#x}: room for one more"
            );
        }
        assert_eq!(lfh_bucket(0x30), 0x40);
        assert_eq!(lfh_bucket(0x10), 0x20);
    }

    #[test]
    fn vs_chunks_tile_their_subsegment_and_no_pool_block_crosses_a_page() {
        let specs: Vec<AllocSpec> = (0..60)
            .map(|i| {
                spec(
                    b"VsTg",
                    0x210 + (i * 0x97) % 0xdb0,
                    PoolKind::Paged,
                    i % 5 == 0,
                )
            })
            .collect();
        let plan = plan(0xffff_b300_0000_0000, 0xffff_d000_0000_0000, &specs);
        assert!(plan.vs.len() > 1);
        for v in &plan.vs {
            let mut off = VS_FIRST_CHUNK;
            let mut prev = 0;
            for &c in &v.chunks {
                let b = &plan.blocks[c];
                assert_eq!(b.chunk, v.va + off);
                assert_eq!(b.prev_size, prev);
                if b.spec.is_some() {
                    assert_eq!(b.header, b.chunk + 16);
                    assert!((b.header % PAGE) + b.size <= PAGE, "{:#x}", b.chunk);
                }
                off += b.chunk_size;
                prev = b.chunk_size;
            }
            assert_eq!(off, VS_PAGES * PAGE, "chunks cover the subsegment");
        }
        let placed = plan.blocks.iter().filter(|b| b.spec.is_some()).count();
        assert_eq!(placed, 60);
        assert_eq!(plan.accounting.len(), 60);
        assert_eq!(plan.accounting.iter().filter(|a| a.3).count(), 12);
    }

    #[test]
    fn lfh_blocks_fill_buckets_and_heaps_are_separate() {
        let mut specs = Vec::new();
        for i in 0..200u64 {
            let pool = HEAPS[(i % 3) as usize];
            specs.push(spec(b"LfTg", 0x10 + (i % 0x1e) * 8, pool, i % 7 == 0));
        }
        let plan = plan(0xffff_b300_0000_0000, 0xffff_d000_0000_0000, &specs);
        assert_eq!(plan.heaps.len(), 3);
        for s in &plan.lfh {
            let (first, count) = lfh_geometry(LFH_PAGES * PAGE, s.block_size);
            assert_eq!((s.first, s.blocks.len() as u64), (first, count));
            for &i in &s.blocks {
                let b = &plan.blocks[i];
                assert_eq!(HEAPS[b.heap], HEAPS[s.heap]);
                if let Some(k) = b.spec {
                    assert!(specs[k].size + 16 <= b.size);
                    assert_eq!(specs[k].pool, HEAPS[s.heap]);
                }
            }
        }
        let seg_np = &plan.heaps[0].segments[0];
        let seg_nx = &plan.heaps[1].segments[0];
        assert_ne!(seg_of(seg_np.va), seg_of(seg_nx.va));
        assert_eq!(plan.blocks.iter().filter(|b| b.spec.is_some()).count(), 200);
    }

    #[test]
    fn edges_add_guarded_subsegments_with_short_counts_and_crossing_free_chunks() {
        let specs = vec![spec(b"LfTg", 0x30, PoolKind::NonPaged, false)];
        let mut plan = plan(0xffff_b300_0000_0000, 0xffff_d000_0000_0000, &specs);
        let (vs0, lfh0) = (plan.vs.len(), plan.lfh.len());
        add_edges(&mut plan, 0xffff_b300_0000_0000, 0xffff_d000_0000_0000);
        assert_eq!(plan.vs.len() - vs0, 3);
        assert_eq!(plan.lfh.len() - lfh0, 6);
        for l in &plan.lfh[lfh0..] {
            assert!(l.guard);
            let (_, room) = lfh_geometry(l.pages * PAGE, l.block_size);
            assert_eq!(l.blocks.len() as u64, room - 5);
            // The range (pages + the guard page) would give more blocks than BlockCount.
            assert!(((l.pages + 1) * PAGE - l.first) / l.block_size > l.blocks.len() as u64);
        }
        for v in &plan.vs[vs0..] {
            assert!(v.guard);
            let mut off = VS_FIRST_CHUNK;
            let mut crossing = 0;
            for &c in &v.chunks {
                let b = &plan.blocks[c];
                assert_eq!(b.chunk, v.va + off);
                if !b.allocated {
                    assert_eq!(b.header, b.chunk + 16, "a free chunk keeps its start");
                    crossing += usize::from(b.header / PAGE != (b.header + b.size - 1) / PAGE);
                }
                off += b.chunk_size;
            }
            assert_eq!(off, v.size, "chunks end at Size, before the guard page");
            assert!(crossing >= 3);
        }
        // Every segment's ranges stay inside the segment and do not overlap.
        for h in &plan.heaps {
            for sg in &h.segments {
                let mut end = FIRST_UNIT;
                for &(unit, units, _) in &sg.ranges {
                    assert!(unit >= end && unit + units <= UNITS);
                    end = unit + units;
                }
            }
        }
        let edge_allocs = plan.accounting.iter().filter(|a| a.0 == EDGE_TAG).count();
        let edge_blocks = plan
            .blocks
            .iter()
            .filter(|b| b.tag == EDGE_TAG && b.allocated)
            .count();
        assert_eq!(edge_allocs, edge_blocks);
    }
}
