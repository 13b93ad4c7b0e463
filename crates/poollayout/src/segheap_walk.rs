//! Enumerating a 19H1+ segment-heap pool: every heap of every pool node, their page segments, and every VS and
//! LFH subsegment in them; and, per subsegment, its VS chunks or LFH blocks with their raw state.
//!
//! This module still does no I/O of its own: the caller passes a reader (`FnMut(address, buffer)`), so the same
//! code serves a dump, an image or a test array. Everything read is bounded: at most [`MAX_SEGMENTS`] page
//! segments per context (with cycle detection on the `SegmentListHead` list), [`MAX_SUBSEGMENTS`] subsegments
//! per walk, ranges no longer than [`MAX_SUBSEGMENT_BYTES`].
//!
//! Order of the walk (docs/POOL_INTERNALS.md §3.3, from MemProcFS `vmm/vmmwinpool.c` and PoolViewer):
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

/// At most this many page segments are followed on one `SegmentListHead` list (16 GiB of 1 MiB
/// segments).
pub const MAX_SEGMENTS: usize = 1 << 14;
/// At most this many subsegments are listed by one [`walk_pool`].
pub const MAX_SUBSEGMENTS: usize = 1 << 20;
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
            if out.subsegments.len() >= MAX_SUBSEGMENTS {
                out.problems.push(format!(
                    "stopped after {MAX_SUBSEGMENTS} subsegments; heap {h:#x} and later ones not walked"
                ));
                return Ok(out);
            }
            match walk_heap(layout, h, node, slot, &keys, read, &mut out.problems) {
                Some((info, mut subs)) => {
                    out.heaps.push(info);
                    subs.truncate(MAX_SUBSEGMENTS - out.subsegments.len());
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
                    if subs.len() >= MAX_SUBSEGMENTS {
                        problems.push(format!(
                            "{name}: stopped after {MAX_SUBSEGMENTS} subsegments"
                        ));
                        break;
                    }
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

/// A subsegment's bytes as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubsegmentBytes {
    /// The whole range; pages that could not be read are zero.
    pub bytes: Vec<u8>,
    /// Addresses of the 4 KiB pages that could not be read (decommitted, paged out or absent from
    /// the dump) and were left zero.
    pub missing_pages: Vec<u64>,
}

/// Reads a subsegment's bytes (the whole range), bounded by [`MAX_SUBSEGMENT_BYTES`]. When the range
/// cannot be read at once it is read page by page: a VS subsegment may have decommitted pages inside
/// free chunks, whose headers stay readable. Fails when no page at all is readable.
pub fn read_subsegment(sub: &Subsegment, read: &mut Reader<'_>) -> Result<SubsegmentBytes> {
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
    let mut out = SubsegmentBytes {
        bytes: vec![0u8; sub.range.length as usize],
        missing_pages: Vec::new(),
    };
    let first = match read(a, &mut out.bytes) {
        Ok(()) => return Ok(out),
        Err(e) => e,
    };
    out.bytes.fill(0);
    for (i, page) in out.bytes.chunks_mut(0x1000).enumerate() {
        let va = a.wrapping_add((i * 0x1000) as u64);
        if read(va, page).is_err() {
            page.fill(0);
            out.missing_pages.push(va);
        }
    }
    if out.missing_pages.len() == out.bytes.len().div_ceil(0x1000) {
        return Err(Error::Invalid {
            what: "subsegment",
            address: a,
            reason: format!("not readable: {first}"),
        });
    }
    Ok(out)
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
    }

    #[test]
    fn a_subsegment_with_a_missing_page_is_read_around_it() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        // A free chunk from 0x130 to 0x2130 holds the whole page VA + 0x1000, decommitted (not in
        // the dump); the next chunk's header is on the third page.
        let sizes = [0x100, 0x2000, 0x3000 - 0x30 - 0x2100];
        let img = vs_len(&l, 0x3000, &sizes, &[false, true, false]);
        let mut read = |va: u64, buf: &mut [u8]| {
            let off = va.wrapping_sub(VA) as usize;
            if off < 0x2000 && off + buf.len() > 0x1000 {
                return Err(format!("{va:#x} not in dump"));
            }
            buf.copy_from_slice(&img[off..off + buf.len()]);
            Ok(())
        };
        let sub = Subsegment {
            heap: 0,
            node: 0,
            slot: Slot::NonPagedNx,
            segment: VA,
            range: PageRange {
                index: 2,
                kind: RangeKind::Vs,
                address: VA,
                length: 0x3000,
            },
        };
        let b = read_subsegment(&sub, &mut read).unwrap();
        assert_eq!(b.missing_pages, vec![VA + 0x1000]);
        let v = vs_chunks(&l, &b.bytes, VA, KEY).unwrap();
        let got: Vec<(usize, bool)> = v.chunks.iter().map(|c| (c.size, c.allocated)).collect();
        assert_eq!(got, vec![(0x100, true), (0x2000, false), (0xed0, true)]);
        let mut none = |_: u64, _: &mut [u8]| Err("absent".to_string());
        assert!(read_subsegment(&sub, &mut none).is_err());
    }

    #[test]
    fn an_unreadable_pool_state_is_an_error_naming_it() {
        let l = Layout::for_build(Arch::X64, 19041).unwrap();
        let mut read = |_: u64, _: &mut [u8]| Err("absent".to_string());
        let e = walk_pool(&l, 0xfffff800_00001000, &Slot::NONPAGED, &mut read).unwrap_err();
        assert!(e.to_string().contains("ExPoolState"), "{e}");
        let classic = Layout::for_build(Arch::X64, 7601).unwrap();
        assert!(walk_pool(&classic, 0, &Slot::ALL, &mut read).is_err());
    }
}
