//! Enumerating a 19H1+ segment-heap pool: every heap of every pool node, their page segments, and every VS and
//! LFH subsegment in them; and, per subsegment, its VS chunks or LFH blocks with their raw state.
//!
//! This module still does no I/O of its own: the caller passes a reader (`FnMut(address, buffer)`), so the same
//! code serves a dump, an image or a test array. Everything read is bounded: at most [`MAX_SEGMENTS`] page
//! segments per context (with cycle detection on the `SegmentListHead` list), ranges no longer than
//! [`MAX_SUBSEGMENT_BYTES`].
//!
//! Order of the walk (pool-internals.md §3.3, from MemProcFS `vmm/vmmwinpool.c` and PoolViewer):
//! `ExPoolState` → `HeapManager.Globals` (`RtlpHpHeapGlobals`: HeapKey, LfhKey) → `PoolNode[0..NumberOfPools]
//! .Heaps[slot]` → `_SEGMENT_HEAP` (signature 0xDDEEDDEE) → `SegContexts[0..2].SegmentListHead` → page segments
//! (signature check) → range descriptors (`RangeFlags` 15 VS, 11 LFH).
//!
//! ```
//! use poollayout::{Arch, Layout, segheap_walk::{self, Slot}};
//!
//! let layout = Layout::for_build(Arch::X64, 19041)?;
//! // A reader over nothing: the walk reports what it could not read instead of panicking.
//! let mut read = |va: u64, _buf: &mut [u8]| Err(format!("{va:#x} is not in this image"));
//! let e = segheap_walk::walk_pool(&layout, 0xfffff800_12345000, &[Slot::NonPaged], &mut read)
//!     .unwrap_err();
//! assert!(e.to_string().contains("0xfffff80012345000"));
//! # Ok::<(), poollayout::Error>(())
//! ```

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::read::ptr_at;
use crate::segheap::{
    HeapKeys, LfhSubsegment, PageRange, PoolState, RangeKind, SegmentHeap, VsChunk,
};

/// At most this many page segments are followed on one `SegmentListHead` list.
pub const MAX_SEGMENTS: usize = 1 << 16;
/// A VS or LFH range longer than this is reported, not read.
pub const MAX_SUBSEGMENT_BYTES: u64 = 16 << 20;

/// A reader of virtual memory: fills the whole buffer from `address` or says why not.
pub type Reader<'a> = dyn FnMut(u64, &mut [u8]) -> core::result::Result<(), String> + 'a;

/// Which heap of a pool node (`_EX_HEAP_POOL_NODE.Heaps[]`, the order MemProcFS uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// `Heaps[0]`: NonPagedPool (executable).
    NonPaged,
    /// `Heaps[1]`: NonPagedPoolNx.
    NonPagedNx,
    /// `Heaps[2]`: PagedPool.
    Paged,
    /// `Heaps[3]`: the second paged heap.
    Paged2,
}

impl Slot {
    /// Index in `Heaps[]`.
    pub const fn index(self) -> usize {
        match self {
            Slot::NonPaged => 0,
            Slot::NonPagedNx => 1,
            Slot::Paged => 2,
            Slot::Paged2 => 3,
        }
    }

    /// The pool type name WinDbg gives the heap's blocks.
    pub const fn pool_type(self) -> &'static str {
        match self {
            Slot::NonPaged => "NonPagedPool",
            Slot::NonPagedNx => "NonPagedPoolNx",
            Slot::Paged | Slot::Paged2 => "PagedPool",
        }
    }

    /// The nonpaged slots (what `!frag` reads).
    pub const NONPAGED: [Slot; 2] = [Slot::NonPaged, Slot::NonPagedNx];
    /// Every slot.
    pub const ALL: [Slot; 4] = [Slot::NonPaged, Slot::NonPagedNx, Slot::Paged, Slot::Paged2];
}

/// One `_SEGMENT_HEAP` reached from `ExPoolState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapInfo {
    /// Address of the `_SEGMENT_HEAP`.
    pub address: u64,
    /// Pool node.
    pub node: u32,
    /// Which heap of the node.
    pub slot: Slot,
    /// The heap decoded.
    pub heap: SegmentHeap,
    /// Its page segments, per `SegContexts[i]`, in list order (valid signature only).
    pub segments: Vec<u64>,
}

/// A VS or LFH subsegment: a range of a page segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsegment {
    /// Address of its heap.
    pub heap: u64,
    /// Pool node of the heap.
    pub node: u32,
    /// Which heap of the node.
    pub slot: Slot,
    /// The page segment holding it.
    pub segment: u64,
    /// The range (kind [`RangeKind::Vs`] or [`RangeKind::Lfh`], address, length).
    pub range: PageRange,
}

/// What [`walk_pool`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolWalk {
    /// `ExPoolState` decoded.
    pub state: PoolState,
    /// The keys at `HeapManager.Globals`.
    pub keys: HeapKeys,
    /// The heaps walked (valid signature), in node then slot order.
    pub heaps: Vec<HeapInfo>,
    /// Every VS and LFH subsegment of those heaps, in heap, segment and range order.
    pub subsegments: Vec<Subsegment>,
    /// What could not be read or did not decode (each names the address); the walk went on past it.
    pub problems: Vec<String>,
}

/// Walks the pool from `ExPoolState` at `pool_state`: the heaps of `slots` in every pool node, their page
/// segments and their VS/LFH subsegments. Fails only when `ExPoolState` or the heap keys cannot be read or
/// decoded; a bad heap, segment or descriptor array is a [`PoolWalk::problems`] entry.
pub fn walk_pool(
    layout: &Layout,
    pool_state: u64,
    slots: &[Slot],
    read: &mut Reader<'_>,
) -> Result<PoolWalk> {
    let s = layout.segment_heap()?;
    let unreadable = |what: &'static str, address: u64, e: String| Error::Invalid {
        what,
        address,
        reason: format!("not readable: {e}"),
    };
    let mut buf = vec![0u8; s.state_size];
    read(pool_state, &mut buf).map_err(|e| unreadable("nt!ExPoolState", pool_state, e))?;
    let state = layout.decode_pool_state(&buf, pool_state)?;
    drop(buf);
    let mut kb = vec![0u8; s.lfh_key.offset + 8];
    read(state.globals, &mut kb).map_err(|e| unreadable("RtlpHpHeapGlobals", state.globals, e))?;
    let keys = layout.decode_heap_keys(&kb)?;
    let mut out = PoolWalk {
        state,
        keys,
        ..PoolWalk::default()
    };
    let mut seen_heaps = HashSet::new();
    for (node, heaps) in out.state.node_heaps.clone().iter().enumerate() {
        for &slot in slots {
            let h = heaps[slot.index()];
            if h == 0 || !seen_heaps.insert(h) {
                continue;
            }
            let node = node as u32;
            match walk_heap(layout, h, node, slot, &keys, read, &mut out.problems) {
                Some((info, subs)) => {
                    out.heaps.push(info);
                    out.subsegments.extend(subs);
                }
                None => continue,
            }
        }
    }
    Ok(out)
}

fn walk_heap(
    layout: &Layout,
    h: u64,
    node: u32,
    slot: Slot,
    keys: &HeapKeys,
    read: &mut Reader<'_>,
    problems: &mut Vec<String>,
) -> Option<(HeapInfo, Vec<Subsegment>)> {
    let s = layout.segment_heap().ok()?;
    let p = layout.pointer_size();
    let name = format!("{} heap of node {node}", slot.pool_type());
    let mut hb = vec![0u8; s.heap_size];
    if let Err(e) = read(h, &mut hb) {
        problems.push(format!(
            "{name}: _SEGMENT_HEAP at {h:#x}: not readable: {e}"
        ));
        return None;
    }
    let heap = match layout.decode_segment_heap(&hb, h) {
        Ok(x) if x.signature_ok => x,
        Ok(_) => {
            problems.push(format!(
                "{name}: _SEGMENT_HEAP at {h:#x}: Signature is not 0xDDEEDDEE; heap skipped"
            ));
            return None;
        }
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            return None;
        }
    };
    let mut info = HeapInfo {
        address: h,
        node,
        slot,
        heap,
        segments: Vec::new(),
    };
    let mut subs = Vec::new();
    let mut seg_bytes = vec![0u8; s.page_segment_size];
    for ctx in heap.seg_contexts.iter() {
        let head = ctx.segment_list_head;
        let mut link = ctx.segment_list_flink;
        let mut seen = HashSet::new();
        while link != head && link != 0 {
            if !seen.insert(link) {
                problems.push(format!(
                    "{name}: SegmentListHead {head:#x}: the list loops at {link:#x}"
                ));
                break;
            }
            if seen.len() > MAX_SEGMENTS {
                problems.push(format!(
                    "{name}: SegmentListHead {head:#x}: stopped after {MAX_SEGMENTS} segments"
                ));
                break;
            }
            let seg = link;
            if let Err(e) = read(seg, &mut seg_bytes) {
                problems.push(format!(
                    "{name}: page segment at {seg:#x}: not readable: {e}; list walk stopped"
                ));
                break;
            }
            let next = ptr_at(&seg_bytes, 0, p, "_HEAP_PAGE_SEGMENT.ListEntry").unwrap_or(0);
            match layout.decode_page_segment_signature(&seg_bytes, seg, keys.heap_key) {
                Ok(v) if layout.is_kernel_address(v) => {}
                Ok(v) => {
                    problems.push(format!(
                        "{name}: page segment at {seg:#x}: signature decodes to {v:#x}, not a kernel address; skipped"
                    ));
                    link = next;
                    continue;
                }
                Err(e) => {
                    problems.push(format!("{name}: page segment at {seg:#x}: {e}"));
                    link = next;
                    continue;
                }
            }
            info.segments.push(seg);
            match layout.page_ranges(&seg_bytes, seg, ctx) {
                Ok(ranges) => {
                    for r in ranges {
                        if !matches!(r.kind, RangeKind::Vs | RangeKind::Lfh) {
                            continue;
                        }
                        subs.push(Subsegment {
                            heap: h,
                            node,
                            slot,
                            segment: seg,
                            range: r,
                        });
                    }
                }
                Err(e) => problems.push(format!("{name}: {e}")),
            }
            link = next;
        }
    }
    Some((info, subs))
}

/// Reads a subsegment's bytes (the whole range), bounded by [`MAX_SUBSEGMENT_BYTES`].
pub fn read_subsegment(sub: &Subsegment, read: &mut Reader<'_>) -> Result<Vec<u8>> {
    let a = sub.range.address;
    if sub.range.length == 0 || sub.range.length > MAX_SUBSEGMENT_BYTES {
        return Err(Error::Invalid {
            what: "_HEAP_PAGE_RANGE_DESCRIPTOR",
            address: a,
            reason: format!(
                "range of {:#x} bytes, expected 1..={MAX_SUBSEGMENT_BYTES:#x}",
                sub.range.length
            ),
        });
    }
    let mut b = vec![0u8; sub.range.length as usize];
    read(a, &mut b).map_err(|e| Error::Invalid {
        what: "subsegment",
        address: a,
        reason: format!("not readable: {e}"),
    })?;
    Ok(b)
}

/// The chunks of a VS subsegment, each confirmed by its neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VsChunks {
    /// Chunks whose size is confirmed: the next chunk's previous size equals it, or it ends the subsegment.
    pub chunks: Vec<VsChunk>,
    /// Chunks that could not be confirmed (address, why); their state and size are not trusted.
    pub unconfirmed: Vec<(u64, String)>,
}

/// Lists the chunks of a VS subsegment (`bytes` = the whole range at `address`). A chunk counts only when it
/// decodes soundly and its successor's `UnsafePrevSize` equals its size (or it ends the subsegment exactly);
/// otherwise it is named in [`VsChunks::unconfirmed`] and the walk resynchronises right after its header with
/// [`Layout::next_vs_chunk`], so one corrupted header costs that chunk only.
pub fn vs_chunks(layout: &Layout, bytes: &[u8], address: u64, heap_key: u64) -> Result<VsChunks> {
    let s = layout.segment_heap()?;
    layout.check_vs_subsegment(bytes, address)?;
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

/// State of an LFH block from its two `BlockBitmap` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfhState {
    /// `00`.
    Free,
    /// `01` (MemProcFS `vmmwinpool.c`: `bits == 01` is allocated).
    Allocated,
    /// `10` or `11`: a value the public sources do not explain; neither counted free nor allocated.
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

/// Lists the blocks of an LFH subsegment (`bytes` = the whole range at `address`) with their bitmap state. The
/// subsegment header must decode to a block size between the pool header size and 0xff8 and a first block
/// offset past the bitmap; blocks that would cross a page are skipped (MemProcFS).
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
    let count = (bytes.len() - sub.first_block_offset) / sub.block_size;
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
                1 => LfhState::Allocated,
                b => LfhState::Unknown(b),
            },
        });
    }
    Ok((sub, out))
}
