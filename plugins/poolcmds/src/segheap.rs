//! The 19H1+ segment-heap pool read through a [`Target`]: the pool state and heap keys, every
//! `_SEGMENT_HEAP` of every pool node, the page segment and VS / LFH subsegment holding an address
//! (`!pool`), and a walk of every subsegment of the chosen heaps (`!poolfind`, `!poolused` by scan).
//!
//! The decoding is `poollayout`'s (`decode_pool_state`, `decode_heap_keys`, `decode_segment_heap`,
//! `decode_page_segment_signature`, `page_ranges`, `walk_vs_subsegment`, `walk_lfh_subsegment`);
//! this module only reads the bytes those functions take, in the order docs/POOL_INTERNALS.md §3.3
//! gives (MemProcFS `vmmwinpool.c`, PoolViewer `!poolview`):
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
//! let e = poolcmds::segheap::SegPool::read(&t, &layout).unwrap_err();
//! assert!(e.contains("ExPoolState"), "{e}");
//! ```

use std::collections::HashSet;

use plugin_sdk::{CommandError, Output, Target, TargetExt, hex};
use poollayout::{
    BlockState, HeaderError, HeapKeys, Layout, PageRange, PoolType, RangeKind, SegContext,
    SegmentHeap, Walk, WalkedBlock, range_containing,
};
use rayon::prelude::*;
use serde_json::{Map, json};

use crate::common::{addr, owner, read_lenient, summary_with_text, symbol};
use crate::pool::{FLAG_CONTENTS, FLAG_NO_DESCRIPTIONS, FLAG_ONLY_CONTAINING, block_line};

/// The most page segments followed on one `SegmentListHead` (a 1 MiB segment each: 64 TiB).
pub const MAX_SEGMENTS: usize = 1 << 16;
/// The largest subsegment read (a range is at most 255 units; 16 MiB covers 64 KiB units).
pub const MAX_SUBSEGMENT: u64 = 16 << 20;

/// What a subsegment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    /// A variable-size (VS) subsegment: chunks with encoded headers.
    Vs,
    /// A low-fragmentation-heap (LFH) subsegment: blocks of one size and a bitmap.
    Lfh,
}

impl SubKind {
    /// `"vs"` or `"lfh"` (the JSON `kind` field).
    pub fn as_str(self) -> &'static str {
        match self {
            SubKind::Vs => "vs",
            SubKind::Lfh => "lfh",
        }
    }

    /// `"VS"` or `"LFH"` (text output).
    pub fn label(self) -> &'static str {
        match self {
            SubKind::Vs => "VS",
            SubKind::Lfh => "LFH",
        }
    }
}

/// One `_SEGMENT_HEAP` of the pool.
#[derive(Debug, Clone)]
pub struct Heap {
    /// Address of the `_SEGMENT_HEAP`.
    pub address: u64,
    /// Pool node (`ExPoolState.PoolNode[node]`); `None` for `SpecialHeaps[]`.
    pub node: Option<u32>,
    /// Index in `Heaps[]` (or in `SpecialHeaps[]`).
    pub slot: usize,
    /// The pool type the slot stands for (MemProcFS: `[0]` NonPaged, `[1]` NonPagedNx, `[2]`, `[3]` Paged);
    /// `None` for special heaps, whose blocks' headers say it.
    pub pool_type: Option<PoolType>,
    /// The heap as decoded.
    pub decoded: SegmentHeap,
    /// Addresses of `SegContexts[0]` and `[1]`.
    pub contexts: [u64; 2],
}

impl Heap {
    /// `Some(true)` for a paged heap, `Some(false)` for a nonpaged one, `None` when the slot does not say.
    pub fn paged(&self) -> Option<bool> {
        self.pool_type.map(PoolType::is_paged)
    }

    /// The heap's name in text output: `NonPagedPoolNx` or `special heap 2`.
    pub fn name(&self) -> String {
        match self.pool_type {
            Some(t) => t.name().to_string(),
            None => format!("special heap {}", self.slot),
        }
    }
}

/// The segment-heap pool of a target.
#[derive(Debug, Clone)]
pub struct SegPool {
    /// `nt!ExPoolState`.
    pub state_address: u64,
    /// `RtlpHpHeapGlobals` and its keys.
    pub globals: u64,
    /// `HeapKey`, `LfhKey`.
    pub keys: HeapKeys,
    /// The valid heaps, in node then slot order, then the special heaps.
    pub heaps: Vec<Heap>,
    /// What could not be read (a heap pointer, a bad signature), one line each.
    pub warnings: Vec<String>,
}

/// Where an address lies in the segment heap.
#[derive(Debug, Clone)]
pub struct Located {
    /// Index in [`SegPool::heaps`].
    pub heap: usize,
    /// `SegContexts[ctx]` holding the segment.
    pub ctx: usize,
    /// The page segment's address.
    pub segment: u64,
    /// The range of the page segment holding the address.
    pub range: PageRange,
    /// Whether the segment was confirmed by its signature naming the context (`false`: by the list).
    pub by_signature: bool,
}

/// A walked subsegment with its bytes.
#[derive(Debug, Clone)]
pub struct SubWalk {
    /// VS or LFH.
    pub kind: SubKind,
    /// Start of the subsegment (its page range).
    pub address: u64,
    /// The range's bytes (unreadable pages read as zeros).
    pub bytes: Vec<u8>,
    /// Pages of the range that could not be read.
    pub missing_pages: usize,
    /// The blocks.
    pub walk: Walk,
}

/// One block found by [`SegPool::scan`].
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

fn read_bytes(
    target: &dyn Target,
    address: u64,
    len: usize,
    what: &str,
) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    target
        .read_virtual_exact(address, &mut buf)
        .map_err(|e| format!("{what} at {address:#x}: {e}"))?;
    Ok(buf)
}

/// The pool type of each `_EX_HEAP_POOL_NODE.Heaps[]` slot (MemProcFS `vmmwinpool.c`).
const SLOT_TYPES: [PoolType; 4] = [
    PoolType::NON_PAGED,
    PoolType::NON_PAGED_NX,
    PoolType::PAGED,
    PoolType::PAGED,
];

impl SegPool {
    /// Reads `nt!ExPoolState`, the heap keys and every heap. `Err` says what is missing.
    pub fn read(target: &dyn Target, layout: &Layout) -> Result<SegPool, String> {
        let s = layout.segment_heap().map_err(|e| e.to_string())?;
        let p = layout.pointer_size();
        let (state_address, _) = symbol(target, "ExPoolState").ok_or(
            "nt!ExPoolState is not known for this kernel: the segment-heap pool cannot be found",
        )?;
        // Only what decode_pool_state reads: the header, the nodes in use and SpecialHeaps[] (the
        // unused nodes between stay zero in the buffer and are not read).
        let head = read_bytes(
            target,
            state_address,
            s.number_of_pools.offset + s.number_of_pools.width.bytes(),
            "nt!ExPoolState",
        )?;
        let n = s
            .number_of_pools
            .read(&head, "_EX_POOL_HEAP_MANAGER_STATE")
            .map_err(|e| e.to_string())? as usize;
        let nodes_end = s.pool_node + n.min(s.max_pools) * s.pool_node_size;
        let special_end = s.special_heaps + s.special_heap_count * p;
        let mut bytes = vec![0u8; nodes_end.max(special_end)];
        let mut missing = 0;
        for (from, to) in [(0, nodes_end), (s.special_heaps, special_end)] {
            let (piece, m) =
                read_lenient(target, state_address.wrapping_add(from as u64), to - from);
            bytes[from..to].copy_from_slice(&piece);
            missing += m;
        }
        let state = layout
            .decode_pool_state(&bytes, state_address)
            .map_err(|e| format!("nt!ExPoolState at {state_address:#x}: {e}"))?;
        let mut warnings = Vec::new();
        if missing > 0 {
            warnings.push(format!(
                "nt!ExPoolState at {state_address:#x}: {missing} page(s) unreadable (read as zeros)"
            ));
        }
        let kb = read_bytes(
            target,
            state.globals,
            s.lfh_key.offset + s.lfh_key.width.bytes(),
            "RtlpHpHeapGlobals",
        )?;
        let keys = layout
            .decode_heap_keys(&kb)
            .map_err(|e| format!("RtlpHpHeapGlobals at {:#x}: {e}", state.globals))?;
        let mut heaps = Vec::new();
        let mut seen = HashSet::new();
        let slots = state
            .node_heaps
            .iter()
            .enumerate()
            .flat_map(|(node, hs)| {
                hs.iter()
                    .enumerate()
                    .map(move |(slot, &a)| (Some(node as u32), slot, a))
            })
            .chain(
                state
                    .special_heaps
                    .iter()
                    .enumerate()
                    .map(|(slot, &a)| (None, slot, a)),
            );
        for (node, slot, address) in slots {
            if address == 0 || !seen.insert(address) {
                continue;
            }
            let where_ = match node {
                Some(n) => format!("PoolNode[{n}].Heaps[{slot}]"),
                None => format!("SpecialHeaps[{slot}]"),
            };
            let decoded = read_bytes(target, address, s.heap_size, "_SEGMENT_HEAP").and_then(|b| {
                layout
                    .decode_segment_heap(&b, address)
                    .map_err(|e| e.to_string())
            });
            match decoded {
                Ok(d) if d.signature_ok => heaps.push(Heap {
                    address,
                    node,
                    slot,
                    pool_type: node.map(|_| SLOT_TYPES[slot.min(3)]),
                    decoded: d,
                    contexts: [0, 1].map(|i| {
                        address.wrapping_add((s.heap_seg_contexts + i * s.seg_context_size) as u64)
                    }),
                }),
                Ok(_) => warnings.push(format!(
                    "{where_}: the _SEGMENT_HEAP at {address:#x} has a bad Signature (expected 0xddeeddee): skipped"
                )),
                Err(e) => warnings.push(format!("{where_}: {e}: skipped")),
            }
        }
        if heaps.is_empty() {
            return Err(format!(
                "nt!ExPoolState at {state_address:#x} names no readable segment heap{}",
                if warnings.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", warnings.join("; "))
                }
            ));
        }
        Ok(SegPool {
            state_address,
            globals: state.globals,
            keys,
            heaps,
            warnings,
        })
    }

    /// Reads the page segment at `segment` and checks its signature against the heap key:
    /// `Ok(decoded value)` (the owning context's address on Windows; a kernel address at least).
    fn segment_signature(
        &self,
        target: &dyn Target,
        layout: &Layout,
        segment: u64,
    ) -> Result<(u64, Vec<u8>), String> {
        let s = layout.segment_heap().map_err(|e| e.to_string())?;
        let bytes = read_bytes(target, segment, s.page_segment_size, "_HEAP_PAGE_SEGMENT")?;
        let v = layout
            .decode_page_segment_signature(&bytes, segment, self.keys.heap_key)
            .map_err(|e| e.to_string())?;
        Ok((v, bytes))
    }

    /// The page segments on `SegContexts[ctx]`'s `SegmentListHead` of heap `heap` (bounded,
    /// cycle-checked), with a warning for a list that breaks.
    pub fn segments(
        &self,
        target: &dyn Target,
        layout: &Layout,
        heap: usize,
        ctx: usize,
    ) -> (Vec<u64>, Vec<String>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let Some(h) = self.heaps.get(heap) else {
            return (out, warnings);
        };
        let Some(c) = h.decoded.seg_contexts.get(ctx) else {
            return (out, warnings);
        };
        let p = layout.pointer_size() as u32;
        let head = c.segment_list_head;
        let mut seen = HashSet::new();
        let mut next = c.segment_list_flink;
        while next != head {
            if next == 0 || !layout.is_kernel_address(next) {
                warnings.push(format!(
                    "heap {:#x} SegContexts[{ctx}] segment list: link {next:#x} is not a kernel address; the list is cut there",
                    h.address
                ));
                break;
            }
            if !seen.insert(next) || out.len() >= MAX_SEGMENTS {
                warnings.push(format!(
                    "heap {:#x} SegContexts[{ctx}] segment list loops or exceeds {MAX_SEGMENTS} segments at {next:#x}; the list is cut there",
                    h.address
                ));
                break;
            }
            out.push(next);
            match target.read_pointer(next, p) {
                Ok(v) => next = v,
                Err(e) => {
                    warnings.push(format!(
                        "heap {:#x} SegContexts[{ctx}] segment list: the link at {next:#x} is unreadable ({e}); the list is cut there",
                        h.address
                    ));
                    break;
                }
            }
        }
        (out, warnings)
    }

    fn context_usable(c: &SegContext) -> bool {
        c.segment_mask != 0 && c.unit_shift < 32
    }

    /// Finds the page segment and range holding `address`.
    pub fn locate(
        &self,
        target: &dyn Target,
        layout: &Layout,
        address: u64,
    ) -> Result<Located, String> {
        let mut weak: Vec<(usize, usize, u64, Vec<u8>)> = Vec::new();
        let mut tried = Vec::new();
        for (hi, h) in self.heaps.iter().enumerate() {
            for (ci, c) in h.decoded.seg_contexts.iter().enumerate() {
                if !Self::context_usable(c) {
                    continue;
                }
                let seg = c.segment_of(address);
                let Ok((v, bytes)) = self.segment_signature(target, layout, seg) else {
                    continue;
                };
                if v == h.contexts[ci] {
                    return self.range_of(layout, hi, ci, seg, &bytes, address, true);
                }
                if layout.is_kernel_address(v) {
                    weak.push((hi, ci, seg, bytes));
                } else {
                    tried.push(format!("{seg:#x}"));
                }
            }
        }
        // MemProcFS's weaker test (a kernel address) holds: confirm by the context's segment list.
        for (hi, ci, seg, bytes) in &weak {
            let (list, _) = self.segments(target, layout, *hi, *ci);
            if list.contains(seg) {
                return self.range_of(layout, *hi, *ci, *seg, bytes, address, false);
            }
            tried.push(format!("{seg:#x}"));
        }
        tried.sort();
        tried.dedup();
        Err(format!(
            "{address:#x} is in no page segment of the {} segment heap(s){}",
            self.heaps.len(),
            if tried.is_empty() {
                " (no candidate segment could be read)".to_string()
            } else {
                format!(
                    " (candidate segment(s) {} fail the signature check)",
                    tried.join(", ")
                )
            }
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn range_of(
        &self,
        layout: &Layout,
        heap: usize,
        ctx: usize,
        segment: u64,
        bytes: &[u8],
        address: u64,
        by_signature: bool,
    ) -> Result<Located, String> {
        let c = &self.heaps[heap].decoded.seg_contexts[ctx];
        let ranges = layout
            .page_ranges(bytes, segment, c)
            .map_err(|e| format!("page segment {segment:#x}: {e}"))?;
        let range = *range_containing(&ranges, address).ok_or_else(|| {
            format!("{address:#x} is in page segment {segment:#x} but in none of its ranges (it may be its descriptor array)")
        })?;
        Ok(Located {
            heap,
            ctx,
            segment,
            range,
            by_signature,
        })
    }

    /// Reads and walks a VS or LFH range; `Err` for other ranges or a subsegment refused as a whole.
    pub fn walk_range(
        &self,
        target: &dyn Target,
        layout: &Layout,
        range: &PageRange,
    ) -> Result<SubWalk, String> {
        let kind = match range.kind {
            RangeKind::Vs => SubKind::Vs,
            RangeKind::Lfh => SubKind::Lfh,
            RangeKind::Large => {
                return Err(format!(
                    "range {:#x} (+{:#x}) is a large allocation range (RangeFlags 3): its blocks are in the big page table",
                    range.address, range.length
                ));
            }
            RangeKind::Other(f) => {
                return Err(format!(
                    "range {:#x} (+{:#x}) holds no subsegment (RangeFlags {f}: free or uncommitted)",
                    range.address, range.length
                ));
            }
        };
        if range.length > MAX_SUBSEGMENT {
            return Err(format!(
                "{} subsegment {:#x} claims {:#x} bytes, more than {MAX_SUBSEGMENT:#x}: not read",
                kind.label(),
                range.address,
                range.length
            ));
        }
        let (bytes, missing_pages) = read_lenient(target, range.address, range.length as usize);
        let first_missing = target
            .read_virtual_exact(range.address, &mut [0u8; 1][..])
            .is_err();
        if first_missing {
            return Err(format!(
                "{} subsegment {:#x}: its header page is not in the dump",
                kind.label(),
                range.address
            ));
        }
        let walk = match kind {
            SubKind::Vs => layout.walk_vs_subsegment(&bytes, range.address, self.keys.heap_key),
            SubKind::Lfh => layout.walk_lfh_subsegment(&bytes, range.address, self.keys.lfh_key),
        }
        .map_err(|e| format!("{} subsegment {:#x}: {e}", kind.label(), range.address))?;
        Ok(SubWalk {
            kind,
            address: range.address,
            bytes,
            missing_pages,
            walk,
        })
    }

    /// The VS and LFH subsegments of the heaps `want` accepts: (heap index, range), with warnings.
    pub fn subsegments(
        &self,
        target: &dyn Target,
        layout: &Layout,
        want: &dyn Fn(&Heap) -> bool,
    ) -> (Vec<(usize, PageRange)>, u64, Vec<String>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let mut segments = 0u64;
        for (hi, h) in self.heaps.iter().enumerate() {
            if !want(h) {
                continue;
            }
            for (ci, c) in h.decoded.seg_contexts.iter().enumerate() {
                if !Self::context_usable(c) {
                    continue;
                }
                let (list, w) = self.segments(target, layout, hi, ci);
                warnings.extend(w);
                for seg in list {
                    let checked = self.segment_signature(target, layout, seg).and_then(|(v, b)| {
                        if v == h.contexts[ci] || layout.is_kernel_address(v) {
                            Ok(b)
                        } else {
                            Err(format!(
                                "page segment {seg:#x}: signature decodes to {v:#x}, not a kernel address"
                            ))
                        }
                    });
                    let ranges = checked.and_then(|b| {
                        layout
                            .page_ranges(&b, seg, c)
                            .map_err(|e| format!("page segment {seg:#x}: {e}"))
                    });
                    match ranges {
                        Ok(rs) => {
                            segments += 1;
                            out.extend(
                                rs.into_iter()
                                    .filter(|r| matches!(r.kind, RangeKind::Vs | RangeKind::Lfh))
                                    .map(|r| (hi, r)),
                            );
                        }
                        Err(e) => warnings.push(format!("{} heap {:#x}: {e}", h.name(), h.address)),
                    }
                }
            }
        }
        (out, segments, warnings)
    }

    /// Walks every VS and LFH subsegment of the heaps `want` accepts, on all cores, keeping the
    /// blocks `keep` accepts. Checks `target.is_cancelled()` between subsegments.
    pub fn scan(
        &self,
        target: &dyn Target,
        layout: &Layout,
        want: &dyn Fn(&Heap) -> bool,
        keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
    ) -> Result<SegScan, CommandError> {
        let (subs, segments, warnings) = self.subsegments(target, layout, want);
        /// One subsegment's share of a scan.
        struct Part {
            blocks: Vec<SegBlock>,
            pages: u64,
            missing: u64,
            corrupt: bool,
            warning: Option<String>,
        }
        let results: Vec<Result<Part, CommandError>> = subs
            .par_iter()
            .map(|(hi, r)| {
                if target.is_cancelled() {
                    return Err(CommandError::Cancelled);
                }
                let h = &self.heaps[*hi];
                let pages = r.length.div_ceil(0x1000);
                Ok(match self.walk_range(target, layout, r) {
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
                        warning: Some(e),
                    },
                })
            })
            .collect();
        let mut total = SegScan {
            segments,
            warnings,
            ..SegScan::default()
        };
        for r in results {
            let part = r?;
            total.subsegments += 1;
            total.pages += part.pages;
            total.unreadable_pages += part.missing;
            total.corrupt_subsegments += u64::from(part.corrupt);
            total.blocks.extend(part.blocks);
            total.warnings.extend(part.warning);
        }
        Ok(total)
    }
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
    let pool = SegPool::read(target, layout).map_err(|e| {
        CommandError::msg(format!(
            "{address:#x} is not a big allocation, and the segment-heap pool cannot be read: {e}"
        ))
    })?;
    for w in &pool.warnings {
        out.warn(w.clone());
    }
    let loc = pool
        .locate(target, layout, address)
        .map_err(|e| CommandError::msg(format!("{e}; it is not a big allocation either")))?;
    let heap = &pool.heaps[loc.heap];
    if !loc.by_signature {
        out.warn(format!(
            "page segment {:#x}: its signature does not name SegContexts[{}] of heap {:#x}; accepted because that context's segment list holds it",
            loc.segment, loc.ctx, heap.address
        ));
    }
    let sub = pool
        .walk_range(target, layout, &loc.range)
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
        let shown = WalkedBlock {
            previous_size,
            ..*b
        };
        out.row(json!({
            "address": hex(b.address),
            "size": b.size,
            "previous_size": previous_size,
            "state": if b.state == BlockState::Allocated { "allocated" } else { "free" },
            "tag": b.tag.masked().to_string(),
            "pool_type": (b.state == BlockState::Allocated).then(|| b.pool_type.map(|t| t.name())).flatten(),
            "contains_address": marked,
            "error": b.error.map(|e| e.to_string()).or(blame.map(|(_, w)| format!("VS chunk header corrupt: {w}"))),
            "kind": sub.kind.as_str(),
        }));
        let err = error_line(layout, sub.kind, b, reached_from)
            .or(blame.map(|(c, w)| format!("Bad VS chunk header @{}: {w}", addr(layout, c))));
        if flags & FLAG_ONLY_CONTAINING != 0 && !marked {
            text.extend(err);
            continue;
        }
        text.push(block_line(layout, &shown, marked));
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
/// a big allocation in `skip` are left out (the table already listed them). Rows, text lines and
/// warnings go to `out` / `text`.
pub fn poolfind(
    target: &dyn Target,
    layout: &Layout,
    pattern: &crate::common::TagPattern,
    want_paged: bool,
    skip: &[(u64, u64)],
    text: &mut Vec<String>,
    out: &mut Output,
) -> Result<Found, CommandError> {
    let pool = match SegPool::read(target, layout) {
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
    let s = pool.scan(target, layout, &want, &|b| {
        pattern.matches(b.tag) && !in_big(b.address)
    })?;
    for w in &s.warnings {
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
    let heaps: Vec<String> = pool
        .heaps
        .iter()
        .filter(|h| want(h))
        .map(|h| format!("{} {}", h.name(), addr(layout, h.address)))
        .collect();
    text.push(format!(
        "Searching {} pool (segment heap{} {}: {} segment(s), {} subsegment(s)) for Tag: {}",
        if want_paged { "Paged" } else { "NonPaged" },
        if heaps.len() == 1 { "" } else { "s" },
        heaps.join(", "),
        s.segments,
        s.subsegments,
        pattern.as_str()
    ));
    text.push(String::new());
    let mut found = 0usize;
    for b in s.blocks.iter().filter(|b| b.paged == want_paged) {
        found += 1;
        let allocated = b.block.state == BlockState::Allocated;
        out.row(json!({
            "address": hex(b.block.address),
            "size": b.block.size,
            "tag": b.block.tag.masked().to_string(),
            "pool_type": if allocated { b.block.pool_type.map(|t| t.name()) } else { None },
            "state": if allocated { "allocated" } else { "free" },
            "source": "scan",
            "kind": b.kind.as_str(),
        }));
        let previous_size = b
            .block
            .header
            .map_or(0, |h| layout.block_bytes(h.previous_size));
        text.push(block_line(
            layout,
            &WalkedBlock {
                previous_size,
                ..b.block
            },
            false,
        ));
    }
    Ok(Found {
        blocks: found,
        pages: s.pages,
    })
}

/// The segment-heap branch of [`crate::scan::scan_pages`]: every subsegment of the heaps whose pool
/// (paged or not) one of `regions` names — or of every heap when `regions` is empty — as classic
/// `ScannedBlock`s.
pub fn scan_as_pages(
    target: &dyn Target,
    layout: &Layout,
    regions: &[crate::scan::Region],
    skip: &[(u64, u64)],
    keep: &(dyn Fn(&WalkedBlock) -> bool + Sync),
) -> Result<crate::scan::Scan, CommandError> {
    let pool = SegPool::read(target, layout)
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
    let s = pool.scan(target, layout, &want, &|b| keep(b) && !in_big(b.address))?;
    Ok(crate::scan::Scan {
        blocks: s
            .blocks
            .into_iter()
            .map(|b| crate::scan::ScannedBlock {
                block: b.block,
                paged: b.paged,
            })
            .collect(),
        pool_pages: s.pages,
        unreadable_pages: s.unreadable_pages,
        corrupt_pages: s.corrupt_subsegments,
    })
}
