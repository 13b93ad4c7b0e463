//! The one enumerator of a 19H1+ segment-heap pool, for every command (`!pool`, `!poolfind`,
//! `!poolused` by scan, `!frag`): every heap of every pool node and of `SpecialHeaps[]`, their page
//! segments, the page segment and range holding an address, every VS and LFH subsegment, and each
//! subsegment's bytes (bounded by what the subsegment's own header says) and blocks.
//!
//! This module does no I/O of its own: the caller passes a [`Reader`] (`FnMut(address, buffer)`), so
//! the same code serves a dump, an image or a test array; the plugin side keeps only its reader
//! adapter and its parallel scan. Everything read is bounded: at most [`MAX_SEGMENTS`] page
//! segments per `SegmentListHead` (cycle-checked), [`MAX_SUBSEGMENTS`] subsegments per enumeration,
//! ranges no longer than [`MAX_SUBSEGMENT_BYTES`].
//!
//! Order of the walk (docs/POOL_LAYOUTS.md "segment heap: sources and where they disagree"; MemProcFS
//! `vmm/vmmwinpool.c`, PoolViewer `!poolview`): `ExPoolState` → `HeapManager.Globals`
//! (`RtlpHpHeapGlobals`: HeapKey, LfhKey) → `PoolNode[0..NumberOfPools].Heaps[0..4]` and
//! `SpecialHeaps[]` → `_SEGMENT_HEAP` (signature 0xDDEEDDEE) → `SegContexts[0..2].SegmentListHead` →
//! page segments (signature check) → range descriptors (`RangeFlags` 15 VS, 11 LFH).
//!
//! The page segment signature: `Signature ^ HeapKey ^ segment ^ 0xA2E64EADA2E64EAD` is the address of
//! the owning `_HEAP_SEG_CONTEXT` (public segment-heap research; the strong check, used to find the
//! segment of an address from `address & SegmentMask`), or — weaker, what MemProcFS checks — a
//! kernel address; a segment passing only the weak check counts when the context's segment list
//! holds it.
//!
//! ```
//! use pooldbg_poollayout::{Arch, Layout, segheap_walk::SegPool};
//!
//! let layout = Layout::for_build(Arch::X64, 19041)?;
//! // A reader over nothing: the walk reports what it could not read instead of panicking.
//! let mut read = |va: u64, _buf: &mut [u8]| Err(pooldbg_poollayout::ReadFault::not_in_dump(va));
//! let e = SegPool::read(&layout, 0xfffff800_12345000, &mut read).unwrap_err();
//! assert!(e.to_string().contains("0xfffff80012345000"));
//! # Ok::<(), pooldbg_poollayout::Error>(())
//! ```

use std::collections::HashSet;

use crate::error::{Error, ReadFault, Result};
use crate::layout::Layout;
use crate::pooltype::PoolType;
use crate::segheap::{
    HeapKeys, LfhSubsegment, PageRange, RangeKind, SegContext, SegmentHeap, VsChunk,
    range_containing,
};
use crate::walk::Walk;

/// At most this many page segments are followed on one `SegmentListHead` list: 64 TiB of 1 MiB
/// segments, more than any pool region holds (the list is cycle-checked, so a sane list never
/// reaches it; the larger of the two limits the walkers had, so no pool that one of them read is
/// cut).
pub const MAX_SEGMENTS: usize = 1 << 16;
/// At most this many subsegments are listed by one [`SegPool::subsegments`].
pub const MAX_SUBSEGMENTS: usize = 1 << 20;
/// A VS or LFH range longer than this is reported, not read (a range is at most 255 units; 16 MiB
/// covers 64 KiB units).
pub const MAX_SUBSEGMENT_BYTES: u64 = 16 << 20;

/// A reader of virtual memory: fills the whole buffer from `address` or says why not.
pub type Reader<'a> = dyn FnMut(u64, &mut [u8]) -> core::result::Result<(), ReadFault> + 'a;

/// The pool type of each `_EX_HEAP_POOL_NODE.Heaps[]` slot (MemProcFS `vmmwinpool.c`: `[0]`
/// NonPaged, `[1]` NonPagedNx, `[2]` and `[3]` Paged).
pub const SLOT_TYPES: [PoolType; 4] = [
    PoolType::NON_PAGED,
    PoolType::NON_PAGED_NX,
    PoolType::PAGED,
    PoolType::PAGED,
];

/// What a subsegment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    /// A variable-size (VS) subsegment: chunks with encoded headers.
    Vs,
    /// A low-fragmentation-heap (LFH) subsegment: blocks of one size and a bitmap.
    Lfh,
}

impl SubKind {
    /// The kind of a range, if it holds a subsegment.
    pub const fn of(kind: RangeKind) -> Option<SubKind> {
        match kind {
            RangeKind::Vs => Some(SubKind::Vs),
            RangeKind::Lfh => Some(SubKind::Lfh),
            _ => None,
        }
    }

    /// `"vs"` or `"lfh"` (the JSON `kind` field).
    pub const fn as_str(self) -> &'static str {
        match self {
            SubKind::Vs => "vs",
            SubKind::Lfh => "lfh",
        }
    }

    /// `"VS"` or `"LFH"` (text output).
    pub const fn label(self) -> &'static str {
        match self {
            SubKind::Vs => "VS",
            SubKind::Lfh => "LFH",
        }
    }
}

/// One `_SEGMENT_HEAP` of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heap {
    /// Address of the `_SEGMENT_HEAP`.
    pub address: u64,
    /// Pool node (`ExPoolState.PoolNode[node]`); `None` for `SpecialHeaps[]`.
    pub node: Option<u32>,
    /// Index in `Heaps[]` (or in `SpecialHeaps[]`).
    pub slot: usize,
    /// The pool type the slot stands for ([`SLOT_TYPES`]); `None` for special heaps, whose blocks'
    /// headers say it.
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

/// The segment-heap pool: the state, the keys and every valid heap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegPool {
    /// `nt!ExPoolState`.
    pub state_address: u64,
    /// `RtlpHpHeapGlobals` (`HeapManager.Globals`).
    pub globals: u64,
    /// `HeapKey`, `LfhKey`.
    pub keys: HeapKeys,
    /// The valid heaps, in node then slot order, then the special heaps.
    pub heaps: Vec<Heap>,
    /// What could not be read (a heap pointer, a bad signature), one line each.
    pub warnings: Vec<String>,
}

/// Where an address lies in the segment heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A VS or LFH subsegment: a range of a page segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsegment {
    /// Index of its heap in [`SegPool::heaps`].
    pub heap: usize,
    /// The page segment holding it.
    pub segment: u64,
    /// The range (kind [`RangeKind::Vs`] or [`RangeKind::Lfh`], address, length).
    pub range: PageRange,
}

/// The page segments and subsegments of the heaps an enumeration accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subsegments {
    /// Every VS and LFH subsegment, in heap, context, segment and range order.
    pub subsegments: Vec<Subsegment>,
    /// Page segments whose descriptors were read.
    pub segments: u64,
    /// What could not be read or did not decode (each names the address); the walk went on past it.
    pub warnings: Vec<String>,
}

fn read_vec(
    read: &mut Reader<'_>,
    address: u64,
    len: usize,
    what: &'static str,
) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    read(address, &mut buf).map_err(|e| Error::Invalid {
        what,
        address,
        reason: format!("not readable: {e}"),
    })?;
    Ok(buf)
}

/// Reads `len` bytes at `address` page by page when they cannot be read at once: unreadable pages
/// are zero and their addresses listed.
pub fn read_lenient(read: &mut Reader<'_>, address: u64, len: usize) -> (Vec<u8>, Vec<u64>) {
    let mut buf = vec![0u8; len];
    let mut missing = Vec::new();
    if read(address, &mut buf).is_ok() {
        return (buf, missing);
    }
    let mut off = 0usize;
    while off < len {
        let addr = address.wrapping_add(off as u64);
        let n = (0x1000 - (addr & 0xfff) as usize).min(len - off);
        if read(addr, &mut buf[off..off + n]).is_err() {
            buf[off..off + n].fill(0);
            missing.push(addr);
        }
        off += n;
    }
    (buf, missing)
}

impl SegPool {
    /// Reads `nt!ExPoolState` at `state_address`, the heap keys and every heap (node heaps, then
    /// `SpecialHeaps[]`). Fails when `ExPoolState` or the keys cannot be read or decoded, or when no
    /// heap is valid; a bad heap is a [`SegPool::warnings`] line.
    pub fn read(layout: &Layout, state_address: u64, read: &mut Reader<'_>) -> Result<SegPool> {
        let s = layout.segment_heap()?;
        let p = layout.pointer_size();
        let what = "nt!ExPoolState";
        // Only what decode_pool_state reads: the header, the nodes in use and SpecialHeaps[] (the
        // unused nodes between stay zero in the buffer and are not read).
        let head = read_vec(
            read,
            state_address,
            s.number_of_pools.offset + s.number_of_pools.width.bytes(),
            what,
        )?;
        let n = s
            .number_of_pools
            .read(&head, "_EX_POOL_HEAP_MANAGER_STATE")? as usize;
        let nodes_end = s.pool_node + n.min(s.max_pools) * s.pool_node_size;
        let special_end = s.special_heaps + s.special_heap_count * p;
        let mut bytes = vec![0u8; nodes_end.max(special_end)];
        let mut missing = 0;
        for (from, to) in [(0, nodes_end), (s.special_heaps, special_end)] {
            let (piece, m) = read_lenient(read, state_address.wrapping_add(from as u64), to - from);
            bytes[from..to].copy_from_slice(&piece);
            missing += m.len();
        }
        let state = layout
            .decode_pool_state(&bytes, state_address)
            .map_err(|e| Error::Invalid {
                what,
                address: state_address,
                reason: e.to_string(),
            })?;
        let mut warnings = Vec::new();
        if missing > 0 {
            warnings.push(format!(
                "nt!ExPoolState at {state_address:#x}: {missing} page(s) unreadable (read as zeros)"
            ));
        }
        let kb = read_vec(
            read,
            state.globals,
            s.lfh_key.offset + s.lfh_key.width.bytes(),
            "RtlpHpHeapGlobals",
        )?;
        let keys = layout.decode_heap_keys(&kb).map_err(|e| Error::Invalid {
            what: "RtlpHpHeapGlobals",
            address: state.globals,
            reason: e.to_string(),
        })?;
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
            let decoded = read_vec(read, address, s.heap_size, "_SEGMENT_HEAP")
                .and_then(|b| layout.decode_segment_heap(&b, address));
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
            return Err(Error::Invalid {
                what,
                address: state_address,
                reason: format!(
                    "names no readable segment heap{}",
                    if warnings.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", warnings.join("; "))
                    }
                ),
            });
        }
        Ok(SegPool {
            state_address,
            globals: state.globals,
            keys,
            heaps,
            warnings,
        })
    }

    /// Reads the page segment at `segment` and decodes its signature with the heap key:
    /// `(decoded value, the segment's descriptor bytes)`.
    fn segment_signature(
        &self,
        layout: &Layout,
        segment: u64,
        read: &mut Reader<'_>,
    ) -> Result<(u64, Vec<u8>)> {
        let s = layout.segment_heap()?;
        let bytes = read_vec(read, segment, s.page_segment_size, "_HEAP_PAGE_SEGMENT")?;
        let v = layout.decode_page_segment_signature(&bytes, segment, self.keys.heap_key)?;
        Ok((v, bytes))
    }

    /// The page segments on `SegContexts[ctx]`'s `SegmentListHead` of heap `heap` (bounded by
    /// [`MAX_SEGMENTS`], cycle-checked, every link a kernel address), with a warning for a list
    /// that breaks.
    pub fn segments(
        &self,
        layout: &Layout,
        heap: usize,
        ctx: usize,
        read: &mut Reader<'_>,
    ) -> (Vec<u64>, Vec<String>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let Some(h) = self.heaps.get(heap) else {
            return (out, warnings);
        };
        let Some(c) = h.decoded.seg_contexts.get(ctx) else {
            return (out, warnings);
        };
        let p = layout.pointer_size();
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
            let mut b = [0u8; 8];
            match read(next, &mut b[..p]) {
                Ok(()) => next = u64::from_le_bytes(b),
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

    /// Finds the page segment and range holding `address`: the segment `address & SegmentMask` of
    /// each context whose signature names that context, else one whose signature decodes to a
    /// kernel address and that the context's segment list holds.
    pub fn locate(
        &self,
        layout: &Layout,
        address: u64,
        read: &mut Reader<'_>,
    ) -> core::result::Result<Located, WalkError> {
        let mut weak: Vec<(usize, usize, u64, Vec<u8>)> = Vec::new();
        let mut tried = Vec::new();
        for (hi, h) in self.heaps.iter().enumerate() {
            for (ci, c) in h.decoded.seg_contexts.iter().enumerate() {
                if !Self::context_usable(c) {
                    continue;
                }
                let seg = c.segment_of(address);
                let Ok((v, bytes)) = self.segment_signature(layout, seg, read) else {
                    continue;
                };
                if v == h.contexts[ci] {
                    return self.range_of(layout, (hi, ci), seg, &bytes, address, true);
                }
                if layout.is_kernel_address(v) {
                    weak.push((hi, ci, seg, bytes));
                } else {
                    tried.push(seg);
                }
            }
        }
        // MemProcFS's weaker test (a kernel address) holds: confirm by the context's segment list.
        for (hi, ci, seg, bytes) in &weak {
            let (list, _) = self.segments(layout, *hi, *ci, read);
            if list.contains(seg) {
                return self.range_of(layout, (*hi, *ci), *seg, bytes, address, false);
            }
            tried.push(*seg);
        }
        tried.sort_unstable();
        tried.dedup();
        Err(WalkError::NotInSegment {
            address,
            heaps: self.heaps.len(),
            failed_candidates: tried,
        })
    }

    fn range_of(
        &self,
        layout: &Layout,
        (heap, ctx): (usize, usize),
        segment: u64,
        bytes: &[u8],
        address: u64,
        by_signature: bool,
    ) -> core::result::Result<Located, WalkError> {
        let c = &self.heaps[heap].decoded.seg_contexts[ctx];
        let ranges = layout
            .page_ranges(bytes, segment, c)
            .map_err(|source| WalkError::PageSegment { segment, source })?;
        let range = *range_containing(&ranges, address)
            .ok_or(WalkError::NotInRange { address, segment })?;
        Ok(Located {
            heap,
            ctx,
            segment,
            range,
            by_signature,
        })
    }

    /// The VS and LFH subsegments of the heaps `want` accepts. A page segment counts when its
    /// signature names its context or decodes to a kernel address (it is on the context's list).
    /// At most [`MAX_SUBSEGMENTS`] are listed.
    pub fn subsegments(
        &self,
        layout: &Layout,
        want: &dyn Fn(&Heap) -> bool,
        read: &mut Reader<'_>,
    ) -> Subsegments {
        let mut out = Subsegments::default();
        for (hi, h) in self.heaps.iter().enumerate() {
            if !want(h) {
                continue;
            }
            for (ci, c) in h.decoded.seg_contexts.iter().enumerate() {
                if !Self::context_usable(c) {
                    continue;
                }
                let (list, w) = self.segments(layout, hi, ci, read);
                out.warnings.extend(w);
                for seg in list {
                    let ranges = match self.segment_signature(layout, seg, read) {
                        Ok((v, b)) if v == h.contexts[ci] || layout.is_kernel_address(v) => layout
                            .page_ranges(&b, seg, c)
                            .map_err(|e| format!("page segment {seg:#x}: {e}")),
                        Ok((v, _)) => Err(format!(
                            "page segment {seg:#x}: signature decodes to {v:#x}, not a kernel address"
                        )),
                        Err(e) => Err(e.to_string()),
                    };
                    match ranges {
                        Ok(rs) => {
                            out.segments += 1;
                            for r in rs.into_iter().filter(|r| SubKind::of(r.kind).is_some()) {
                                if out.subsegments.len() >= MAX_SUBSEGMENTS {
                                    out.warnings.push(format!(
                                        "{} heap {:#x}: stopped after {MAX_SUBSEGMENTS} subsegments",
                                        h.name(),
                                        h.address
                                    ));
                                    return out;
                                }
                                out.subsegments.push(Subsegment {
                                    heap: hi,
                                    segment: seg,
                                    range: r,
                                });
                            }
                        }
                        Err(e) => {
                            out.warnings
                                .push(format!("{} heap {:#x}: {e}", h.name(), h.address))
                        }
                    }
                }
            }
        }
        out
    }
}

/// A subsegment's bytes as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubsegmentBytes {
    /// VS or LFH.
    pub kind: SubKind,
    /// Start of the subsegment (its page range).
    pub address: u64,
    /// The range's length (the page range descriptor's).
    pub range_length: u64,
    /// The subsegment's bytes up to the end its own header gives ([`subsegment_extent`]); pages
    /// that could not be read are zero.
    pub bytes: Vec<u8>,
    /// Addresses of the 4 KiB pages inside [`SubsegmentBytes::bytes`] that could not be read
    /// (decommitted, paged out or absent from the dump) and were left zero. Pages of the range
    /// past the subsegment's end (a guard page) are not read and not listed.
    pub missing_pages: Vec<u64>,
}

/// How many bytes of a range a subsegment covers, from its own header (`header` = its first bytes):
/// a VS subsegment its `_HEAP_VS_SUBSEGMENT.Size` (in chunk units: 16 bytes on x64, 8 on x86),
/// when the signature confirms it; an LFH subsegment `FirstBlockOffset + BlockCount × BlockSize`.
/// `None` when the header does not decode or claims more than `range_length` (the walker then
/// reports why); the range may be longer than the subsegment (a guard page follows it).
pub fn subsegment_extent(
    layout: &Layout,
    kind: SubKind,
    header: &[u8],
    address: u64,
    keys: &HeapKeys,
    range_length: usize,
) -> Option<usize> {
    let n = match kind {
        SubKind::Vs => layout.vs_subsegment_size(header, address).ok()?,
        SubKind::Lfh => {
            let h = layout
                .decode_lfh_subsegment(header, address, keys.lfh_key)
                .ok()?;
            h.first_block_offset
                .checked_add(usize::from(h.block_count).checked_mul(h.block_size)?)?
        }
    };
    (n > 0 && n <= range_length).then_some(n)
}

/// Why an address could not be placed in the segment-heap pool, or a range could not be read as a
/// subsegment: typed, each naming the address (and the read fault where a read failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalkError {
    /// No page segment of any heap holds the address.
    #[error(
        "{address:#x} is in no page segment of the {heaps} segment heap(s){}",
        candidates_text(failed_candidates)
    )]
    NotInSegment {
        /// The address asked about.
        address: u64,
        /// How many heaps were searched.
        heaps: usize,
        /// Candidate segments (`address & SegmentMask`) that were read but fail the signature check.
        failed_candidates: Vec<u64>,
    },
    /// The page segment's range descriptors did not decode.
    #[error("page segment {segment:#x}: {source}")]
    PageSegment {
        /// The page segment.
        segment: u64,
        /// The decode error.
        source: Error,
    },
    /// The address is in a page segment but in none of its ranges.
    #[error(
        "{address:#x} is in page segment {segment:#x} but in none of its ranges (it may be its descriptor array)"
    )]
    NotInRange {
        /// The address asked about.
        address: u64,
        /// The page segment holding it.
        segment: u64,
    },
    /// A large-allocation range (`RangeFlags` 3): its blocks are in the big page table.
    #[error("range {:#x} (+{:#x}) is a large allocation range (RangeFlags 3): its blocks are in the big page table", .0.address, .0.length)]
    LargeRange(PageRange),
    /// A range that holds no subsegment (free or uncommitted).
    #[error("range {:#x} (+{:#x}) holds no subsegment (RangeFlags {}: free or uncommitted)", .0.address, .0.length, range_flags(.0))]
    NoSubsegment(PageRange),
    /// The subsegment's length is 0 or above [`MAX_SUBSEGMENT_BYTES`].
    #[error("{} subsegment {address:#x} claims {length:#x} bytes, expected 1..={MAX_SUBSEGMENT_BYTES:#x}: not read", kind.label())]
    SubsegmentSize {
        /// VS or LFH.
        kind: SubKind,
        /// Start of the range.
        address: u64,
        /// The length claimed.
        length: u64,
    },
    /// The subsegment's first page could not be read.
    #[error("{} subsegment {address:#x}: its header page is {}", kind.label(), fault.kind.name())]
    HeaderUnreadable {
        /// VS or LFH.
        kind: SubKind,
        /// Start of the subsegment.
        address: u64,
        /// The reader's fault.
        fault: ReadFault,
    },
}

fn candidates_text(tried: &[u64]) -> String {
    if tried.is_empty() {
        " (no candidate segment could be read)".to_string()
    } else {
        let list: Vec<String> = tried.iter().map(|s| format!("{s:#x}")).collect();
        format!(
            " (candidate segment(s) {} fail the signature check)",
            list.join(", ")
        )
    }
}

fn range_flags(r: &PageRange) -> u8 {
    match r.kind {
        RangeKind::Other(f) => f,
        RangeKind::Vs => 15,
        RangeKind::Lfh => 11,
        RangeKind::Large => 3,
    }
}

/// Reads a VS or LFH subsegment, bounded by [`MAX_SUBSEGMENT_BYTES`]: its header first, then the
/// bytes up to the end the header gives ([`subsegment_extent`]; the whole range when it does not
/// decode). Unreadable pages inside are zero and listed: a VS subsegment may have decommitted pages
/// inside free chunks, whose headers stay readable. Fails for a range that holds no subsegment, or
/// when the header page cannot be read.
pub fn read_subsegment(
    layout: &Layout,
    keys: &HeapKeys,
    range: &PageRange,
    read: &mut Reader<'_>,
) -> core::result::Result<SubsegmentBytes, WalkError> {
    let kind = match range.kind {
        RangeKind::Vs => SubKind::Vs,
        RangeKind::Lfh => SubKind::Lfh,
        RangeKind::Large => return Err(WalkError::LargeRange(*range)),
        RangeKind::Other(_) => return Err(WalkError::NoSubsegment(*range)),
    };
    if range.length == 0 || range.length > MAX_SUBSEGMENT_BYTES {
        return Err(WalkError::SubsegmentSize {
            kind,
            address: range.address,
            length: range.length,
        });
    }
    let len = range.length as usize;
    let a = range.address;
    let first = (0x1000 - (a & 0xfff) as usize).min(len);
    let mut head = vec![0u8; first];
    if let Err(fault) = read(a, &mut head) {
        return Err(WalkError::HeaderUnreadable {
            kind,
            address: a,
            fault,
        });
    }
    let extent = subsegment_extent(layout, kind, &head, a, keys, len).unwrap_or(len);
    let (bytes, missing_pages) = if extent <= first {
        head.truncate(extent);
        (head, Vec::new())
    } else {
        let (rest, missing) = read_lenient(read, a.wrapping_add(first as u64), extent - first);
        head.extend_from_slice(&rest);
        (head, missing)
    };
    Ok(SubsegmentBytes {
        kind,
        address: a,
        range_length: range.length,
        bytes,
        missing_pages,
    })
}

/// Walks a subsegment read by [`read_subsegment`] into blocks ([`Layout::walk_vs_subsegment`] or
/// [`Layout::walk_lfh_subsegment`]); `Err` for a subsegment refused as a whole.
pub fn walk_subsegment(layout: &Layout, keys: &HeapKeys, sub: &SubsegmentBytes) -> Result<Walk> {
    match sub.kind {
        SubKind::Vs => layout.walk_vs_subsegment(&sub.bytes, sub.address, keys.heap_key),
        SubKind::Lfh => layout.walk_lfh_subsegment(&sub.bytes, sub.address, keys.lfh_key),
    }
}

/// The chunks of a VS subsegment, each confirmed by its neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VsChunks {
    /// Chunks whose size is confirmed: the next chunk's previous size equals it, or it ends the subsegment.
    pub chunks: Vec<VsChunk>,
    /// Chunks that could not be confirmed (address, why); their state and size are not trusted.
    pub unconfirmed: Vec<(u64, String)>,
}

/// Lists the chunks of a VS subsegment (`bytes` = the range at `address`, or at least the subsegment's
/// `Size` of it: the chunks end there, [`Layout::vs_subsegment_bytes`]). A chunk counts only when it
/// decodes soundly and its successor's `UnsafePrevSize` equals its size (or it ends the subsegment exactly);
/// otherwise it is named in [`VsChunks::unconfirmed`] and the walk resynchronises right after its header with
/// [`Layout::next_vs_chunk`], so one corrupted header costs that chunk only.
pub fn vs_chunks(layout: &Layout, bytes: &[u8], address: u64, heap_key: u64) -> Result<VsChunks> {
    let s = layout.segment_heap()?;
    let bytes = layout.vs_subsegment_bytes(bytes, address)?;
    let step = s.vs_chunk_header_size;
    let len = bytes.len();
    let mut out = VsChunks::default();
    let mut off = s.vs_first_chunk;
    while off + step <= len {
        let caddr = address.wrapping_add(off as u64);
        let c = layout.decode_vs_chunk(&bytes[off..], caddr, heap_key)?;
        let why = if c.size < step {
            Some(format!("size {:#x} is below the chunk header size", c.size))
        } else if c.size > len - off {
            Some(format!("size {:#x} runs past the subsegment end", c.size))
        } else if c.allocated_raw > 1 {
            Some(format!(
                "Allocated is {:#x}, neither 0 nor 1",
                c.allocated_raw
            ))
        } else if off + c.size == len {
            None
        } else if off + c.size + step > len {
            Some(format!(
                "size {:#x} leaves {:#x} bytes, less than a chunk header",
                c.size,
                len - off - c.size
            ))
        } else {
            let n = off + c.size;
            match layout.decode_vs_chunk(&bytes[n..], address.wrapping_add(n as u64), heap_key) {
                Ok(nc) if nc.previous_size == c.size => None,
                Ok(nc) => Some(format!(
                    "size {:#x}, but the next chunk's previous size is {:#x}",
                    c.size, nc.previous_size
                )),
                Err(e) => Some(e.to_string()),
            }
        };
        match why {
            None => {
                out.chunks.push(c);
                off += c.size;
            }
            Some(w) => {
                out.unconfirmed.push((caddr, w));
                match layout.next_vs_chunk(bytes, address, heap_key, off + step) {
                    Some(n) => off = n,
                    None => break,
                }
            }
        }
    }
    Ok(out)
}

/// State of an LFH block from its two `BlockBitmap` bits: bit 0 is the busy bit, bit 1 says the
/// block keeps unused bytes (Yason, "Windows 10 Segment Heap Internals", Black Hat USA 2016; the
/// open-source dlg_help_utils `heap_lfh_subsegment` reads the two bits the same way; MemProcFS
/// `vmmwinpool.c` tests `bits == 01` only, which would miss allocated blocks with unused bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfhState {
    /// `00`.
    Free,
    /// `01`, or `11` (allocated, with unused bytes).
    Allocated,
    /// `10`: unused bytes on a block that is not busy — an inconsistent value; neither counted free
    /// nor allocated.
    Unknown(u8),
}

/// One block of an LFH subsegment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LfhBlock {
    /// Address of the block (its `_POOL_HEADER`).
    pub address: u64,
    /// Block size in bytes (the subsegment's decoded `BlockSize`).
    pub size: usize,
    /// Its bitmap state.
    pub state: LfhState,
}

/// Lists the blocks of an LFH subsegment (`bytes` = the range at `address`, or at least the part its
/// blocks cover) with their bitmap state. The subsegment header must decode to a block size between the
/// pool header size and 0xff8 and a first block offset past the bitmap. The number of blocks is the
/// subsegment's own `BlockCount`, checked against the room the bytes give (`(len - FirstBlockOffset) /
/// BlockSize`) and against the bitmap ending before the first block; the range may be longer than the
/// blocks (a guard page), so the count is never inferred from it. Blocks that would cross a page are
/// skipped (MemProcFS).
pub fn lfh_blocks(
    layout: &Layout,
    bytes: &[u8],
    address: u64,
    lfh_key: u64,
) -> Result<(LfhSubsegment, Vec<LfhBlock>)> {
    let s = layout.segment_heap()?;
    let sub = layout.decode_lfh_subsegment(bytes, address, lfh_key)?;
    let bad = |reason: String| Error::Invalid {
        what: "_HEAP_LFH_SUBSEGMENT",
        address,
        reason,
    };
    if sub.block_size < layout.header_size() || sub.block_size >= 0xff8 {
        return Err(bad(format!(
            "decoded BlockSize {:#x} is not between the pool header size and 0xff8",
            sub.block_size
        )));
    }
    if sub.first_block_offset < s.lfh_block_bitmap || sub.first_block_offset > bytes.len() {
        return Err(bad(format!(
            "decoded FirstBlockOffset {:#x} is outside {:#x}..={:#x}",
            sub.first_block_offset,
            s.lfh_block_bitmap,
            bytes.len()
        )));
    }
    let room = (bytes.len() - sub.first_block_offset) / sub.block_size;
    let count = usize::from(sub.block_count);
    if count == 0 || count > room {
        return Err(bad(format!(
            "BlockCount {count} is not 1..={room} (blocks of {:#x} bytes from {:#x} in {:#x} bytes)",
            sub.block_size,
            sub.first_block_offset,
            bytes.len()
        )));
    }
    if s.lfh_block_bitmap + count.div_ceil(4) > sub.first_block_offset {
        return Err(bad(format!(
            "a bitmap of {count} blocks would overlap the first block at {:#x}",
            sub.first_block_offset
        )));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let off = sub.first_block_offset + i * sub.block_size;
        if (off & 0xfff) + sub.block_size > 0x1000 {
            continue;
        }
        let bits = (bytes[s.lfh_block_bitmap + i / 4] >> ((i % 4) * 2)) & 3;
        out.push(LfhBlock {
            address: address.wrapping_add(off as u64),
            size: sub.block_size,
            state: match bits {
                0 => LfhState::Free,
                1 | 3 => LfhState::Allocated,
                b => LfhState::Unknown(b),
            },
        });
    }
    Ok((sub, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::BlockState;
    use crate::layout::Arch;

    const KEY: u64 = 0x1234_5678_9abc_def0;
    const VA: u64 = 0xffff_a000_0010_0000;

    /// A 0x2000-byte VS subsegment (x64 19041) with chunks of `sizes` from 0x30; `free[i]` marks free ones.
    fn vs(l: &Layout, sizes: &[usize], free: &[bool]) -> Vec<u8> {
        vs_len(l, 0x2000, sizes, free)
    }

    fn vs_len(l: &Layout, len: usize, sizes: &[usize], free: &[bool]) -> Vec<u8> {
        let s = l.segment_heap().unwrap();
        let mut b = vec![0u8; len];
        let units = (len / 16) as u64;
        let f = s.vs_subsegment_size_field.offset;
        b[f..f + 2].copy_from_slice(&(units as u16).to_le_bytes());
        let g = s.vs_subsegment_signature.offset;
        b[g..g + 2].copy_from_slice(&((units as u16 ^ 0x2bed) & 0x7fff).to_le_bytes());
        let mut off = s.vs_first_chunk;
        let mut prev = 0usize;
        for (i, &sz) in sizes.iter().enumerate() {
            let bits =
                ((sz as u64 / 16) << 16) | ((prev as u64 / 16) << 32) | (u64::from(!free[i]) << 48);
            let enc = bits ^ (VA + off as u64) ^ KEY;
            b[off..off + 8].copy_from_slice(&enc.to_le_bytes());
            prev = sz;
            off += sz;
        }
        b
    }

    #[test]
    fn vs_chunks_are_confirmed_by_their_neighbours_and_a_bad_one_costs_only_itself() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        let sizes = [0x100, 0x200, 0x400, 0x2000 - 0x30 - 0x700];
        let free = [false, true, true, true];
        let b = vs(&l, &sizes, &free);
        let v = vs_chunks(&l, &b, VA, KEY).unwrap();
        assert!(v.unconfirmed.is_empty(), "{:?}", v.unconfirmed);
        let got: Vec<(usize, bool)> = v.chunks.iter().map(|c| (c.size, c.allocated)).collect();
        assert_eq!(
            got,
            vec![
                (0x100, true),
                (0x200, false),
                (0x400, false),
                (0x18d0, false)
            ]
        );
        // Corrupt the second chunk's size (still a sound-looking value): it is named, not counted,
        // and the third and fourth are still found.
        let mut bad = b.clone();
        let at = 0x30 + 0x100;
        let enc = u64::from_le_bytes(bad[at..at + 8].try_into().unwrap()) ^ (0x3 << 16);
        bad[at..at + 8].copy_from_slice(&enc.to_le_bytes());
        let v = vs_chunks(&l, &bad, VA, KEY).unwrap();
        assert_eq!(v.unconfirmed.len(), 1);
        assert_eq!(v.unconfirmed[0].0, VA + at as u64);
        let got: Vec<usize> = v.chunks.iter().map(|c| c.size).collect();
        assert_eq!(got, vec![0x100, 0x400, 0x18d0]);
        // A wrong key: nothing is confirmed, nothing panics.
        let v = vs_chunks(&l, &b, VA, !KEY).unwrap();
        assert!(v.chunks.is_empty());
    }

    #[test]
    fn lfh_blocks_report_their_bitmap_state() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        let s = l.segment_heap().unwrap();
        let mut b = vec![0u8; 0x2000];
        let (bs, first) = (0x40u32, 0x80u32);
        let enc = (bs | first << 16) ^ (KEY as u32) ^ ((VA as u32) >> 12);
        let o = s.lfh_block_offsets.offset;
        b[o..o + 4].copy_from_slice(&enc.to_le_bytes());
        let room = (0x2000 - 0x80) / 0x40;
        let c = s.lfh_block_count.offset;
        b[c..c + 2].copy_from_slice(&(room as u16).to_le_bytes());
        // Blocks 0..4: 00 free, 01 allocated, 10 inconsistent, 11 allocated with unused bytes.
        b[s.lfh_block_bitmap] = 0b1110_0100;
        let (sub, blocks) = lfh_blocks(&l, &b, VA, KEY).unwrap();
        assert_eq!((sub.block_size, sub.first_block_offset), (0x40, 0x80));
        assert_eq!(blocks.len(), (0x2000 - 0x80) / 0x40);
        let st: Vec<LfhState> = blocks.iter().take(5).map(|b| b.state).collect();
        assert_eq!(
            st,
            vec![
                LfhState::Free,
                LfhState::Allocated,
                LfhState::Unknown(2),
                LfhState::Allocated,
                LfhState::Free
            ]
        );
        assert_eq!(blocks[1].address, VA + 0xc0);
        assert!(lfh_blocks(&l, &b, VA, !KEY).is_err());
        // BlockCount smaller than the room (a guard page's worth left over): exactly BlockCount
        // blocks, none in the room after them.
        b[c..c + 2].copy_from_slice(&50u16.to_le_bytes());
        let (_, blocks) = lfh_blocks(&l, &b, VA, KEY).unwrap();
        assert_eq!(blocks.len(), 50);
        assert_eq!(blocks.last().unwrap().address, VA + 0x80 + 49 * 0x40);
        // BlockCount beyond the room, or 0: refused, naming both figures.
        for bad in [room as u16 + 1, 0] {
            b[c..c + 2].copy_from_slice(&bad.to_le_bytes());
            let e = lfh_blocks(&l, &b, VA, KEY).unwrap_err().to_string();
            assert!(
                e.contains(&format!("BlockCount {bad} is not 1..={room}")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_range_longer_than_its_vs_subsegment_ends_at_its_size() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        let s = l.segment_heap().unwrap();
        // A 0x2000-byte subsegment in a 0x3000-byte range: the last page is a guard page, full of
        // bytes that would decode as garbage chunks.
        let sizes = [0x100, 0x2000 - 0x30 - 0x100];
        let mut b = vs_len(&l, 0x2000, &sizes, &[false, true]);
        b[0x44..0x48].copy_from_slice(b"Test");
        b.extend(std::iter::repeat_n(0xa5u8, 0x1000));
        let v = vs_chunks(&l, &b, VA, KEY).unwrap();
        assert!(v.unconfirmed.is_empty(), "{:?}", v.unconfirmed);
        assert_eq!(v.chunks.len(), 2);
        let w = l.walk_vs_subsegment(&b, VA, KEY).unwrap();
        assert_eq!(w.blocks.len(), 2);
        assert!(w.first_error.is_none());
        assert!(
            w.blocks
                .iter()
                .all(|x| x.address + x.size as u64 <= VA + 0x2000)
        );
        // A Size beyond the bytes given is refused, not read past.
        let f = s.vs_subsegment_size_field.offset;
        let g = s.vs_subsegment_signature.offset;
        b[f..f + 2].copy_from_slice(&0x400u16.to_le_bytes());
        b[g..g + 2].copy_from_slice(&((0x400u16 ^ 0x2bed) & 0x7fff).to_le_bytes());
        let e = vs_chunks(&l, &b, VA, KEY).unwrap_err().to_string();
        assert!(e.contains("Size gives 0x4000 bytes"), "{e}");
    }

    #[test]
    fn a_free_vs_chunk_across_a_page_is_listed_at_its_real_start() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        // Chunk 2 is free from 0x130 to 0x1930 (crossing 0x1000); chunk 3 is allocated from 0x1930
        // with a block of 0x300 bytes that would cross 0x2000 by more than 0x40: its pool header
        // moves to 0x2000.
        let sizes = [0x100, 0x1800, 0x800, 0x3000 - 0x30 - 0x2100];
        let mut b = vs_len(&l, 0x3000, &sizes, &[false, true, false, true]);
        b[0x44..0x48].copy_from_slice(b"Test");
        b[0x2004..0x2008].copy_from_slice(b"Test");
        let w = l.walk_vs_subsegment(&b, VA, KEY).unwrap();
        assert!(w.first_error.is_none(), "{:?}", w.first_error);
        let got: Vec<(u64, usize, BlockState)> = w
            .blocks
            .iter()
            .map(|x| (x.address - VA, x.size, x.state))
            .collect();
        assert_eq!(
            got,
            vec![
                (0x40, 0xf0, BlockState::Allocated),
                (0x140, 0x17f0, BlockState::Free),
                (0x2000, 0x1940 + 0x7f0 - 0x2000, BlockState::Allocated),
                (0x2140, 0x3000 - 0x2140, BlockState::Free),
            ]
        );
        // An address inside the free chunk, before the page boundary, has its row.
        assert_eq!(
            w.containing(VA + 0x800).map(|x| x.address),
            Some(VA + 0x140)
        );
    }

    #[test]
    fn a_subsegment_with_a_missing_page_is_read_around_it() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        // A free chunk from 0x130 to 0x2130 holds the whole page VA + 0x1000, decommitted (not in
        // the dump); the next chunk's header is on the third page. A guard page follows at 0x3000.
        let sizes = [0x100, 0x2000, 0x3000 - 0x30 - 0x2100];
        let img = vs_len(&l, 0x3000, &sizes, &[false, true, false]);
        let mut read = |va: u64, buf: &mut [u8]| {
            let off = va.wrapping_sub(VA) as usize;
            if (off < 0x2000 && off + buf.len() > 0x1000) || off + buf.len() > 0x3000 {
                return Err(ReadFault::not_in_dump(va));
            }
            buf.copy_from_slice(&img[off..off + buf.len()]);
            Ok(())
        };
        let range = PageRange {
            index: 2,
            kind: RangeKind::Vs,
            address: VA,
            length: 0x4000,
        };
        let keys = HeapKeys {
            heap_key: KEY,
            lfh_key: 0,
        };
        let b = read_subsegment(&l, &keys, &range, &mut read).unwrap();
        assert_eq!(
            b.missing_pages,
            vec![VA + 0x1000],
            "the guard page is not read"
        );
        assert_eq!(b.bytes.len(), 0x3000);
        let v = vs_chunks(&l, &b.bytes, VA, KEY).unwrap();
        let got: Vec<(usize, bool)> = v.chunks.iter().map(|c| (c.size, c.allocated)).collect();
        assert_eq!(got, vec![(0x100, true), (0x2000, false), (0xed0, true)]);
        let w = walk_subsegment(&l, &keys, &b).unwrap();
        assert_eq!(w.blocks.len(), 3);
        let mut none = |va: u64, _: &mut [u8]| Err(ReadFault::not_in_dump(va));
        assert!(read_subsegment(&l, &keys, &range, &mut none).is_err());
        let large = PageRange {
            kind: RangeKind::Large,
            ..range
        };
        assert!(read_subsegment(&l, &keys, &large, &mut read).is_err());
    }

    #[test]
    fn an_unreadable_pool_state_is_an_error_naming_it() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        let mut read = |va: u64, _: &mut [u8]| Err(ReadFault::not_in_dump(va));
        let e = SegPool::read(&l, 0xfffff800_00001000, &mut read).unwrap_err();
        assert!(e.to_string().contains("ExPoolState"), "{e}");
        let classic = Layout::for_build(Arch::X64, 7601).unwrap();
        assert!(SegPool::read(&classic, 0, &mut read).is_err());
    }
}
