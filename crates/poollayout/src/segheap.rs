//! The 19H1+ segment-heap pool: pool-node state, heap keys, segment heaps, page segments and their range
//! descriptors, VS chunk headers and LFH subsegments, and walkers for VS and LFH subsegments.
//!
//! Layouts: public PDB types (ISF 18326–22000 x64; vol2 18362/19041 x86 and x64). Decoding rules and constants:
//! MemProcFS `vmm/vmmwinpool.c` (v5.17), cross-checked with PoolViewer (docs/POOL_INTERNALS.md §3.3).

use crate::error::{Error, Result};
use crate::header::BlockState;
use crate::layout::{Arch, Layout, SegmentHeapLayout};
use crate::read::{Field, need, ptr_at, read_uint};
use crate::tag::Tag;
use crate::walk::{HeaderError, Walk, WalkedBlock};

/// `_SEGMENT_HEAP.Signature` of a valid heap.
pub const SEGMENT_HEAP_SIGNATURE: u32 = 0xDDEE_DDEE;
/// Constant of the page-segment signature check before build 26100 (0 from 26100).
pub const PAGE_SEGMENT_SIGNATURE_XOR: u64 = 0xA2E6_4EAD_A2E6_4EAD;
/// `_HEAP_VS_SUBSEGMENT`: `Size == Signature ^ 0x2BED`.
pub const VS_SUBSEGMENT_SIGNATURE_XOR: u16 = 0x2BED;
/// Cap on `NumberOfPools` accepted from a dump beyond the array length (the array length itself bounds it).
const MAX_DESCRIPTORS: usize = 256;

/// `RtlpHpHeapGlobals`' keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapKeys {
    /// `HeapKey` (VS chunk headers, page segment signatures).
    pub heap_key: u64,
    /// `LfhKey` (LFH subsegment block offsets).
    pub lfh_key: u64,
}

/// `nt!ExPoolState` decoded: where the pool heaps are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolState {
    /// `HeapManager.Globals`: the address of `RtlpHpHeapGlobals` (read [`HeapKeys`] there).
    pub globals: u64,
    /// `NumberOfPools` (pool nodes in use).
    pub number_of_pools: u32,
    /// `PoolNode[i].Heaps[0..4]`: NonPaged, NonPagedNx, Paged, Paged (second), per MemProcFS.
    pub node_heaps: Vec<[u64; 4]>,
    /// `SpecialHeaps[]`.
    pub special_heaps: Vec<u64>,
}

/// One `_HEAP_SEG_CONTEXT` of a segment heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegContext {
    /// `SegmentMask`: `address & SegmentMask` is the page segment holding `address`.
    pub segment_mask: u64,
    /// `UnitShift`: range descriptors count units of `1 << UnitShift` bytes.
    pub unit_shift: u8,
    /// `FirstDescriptorIndex`.
    pub first_descriptor_index: u8,
    /// Address of `SegmentListHead`.
    pub segment_list_head: u64,
    /// `SegmentListHead.Flink`.
    pub segment_list_flink: u64,
}

impl SegContext {
    /// The page segment that would hold `address` in this context (`address & SegmentMask`, PoolViewer
    /// `!poolview`); the caller confirms it with [`Layout::decode_page_segment_signature`].
    pub const fn segment_of(&self, address: u64) -> u64 {
        address & self.segment_mask
    }
}

impl PageRange {
    /// Whether `address` lies in this range.
    pub const fn contains(&self, address: u64) -> bool {
        address >= self.address && address - self.address < self.length
    }
}

/// The range of `ranges` (from [`Layout::page_ranges`]) holding `address`, if any.
pub fn range_containing(ranges: &[PageRange], address: u64) -> Option<&PageRange> {
    ranges.iter().find(|r| r.contains(address))
}

/// A `_SEGMENT_HEAP` decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentHeap {
    /// `Signature == 0xDDEEDDEE`.
    pub signature_ok: bool,
    /// `SegContexts[2]`.
    pub seg_contexts: [SegContext; 2],
    /// `MemStats.TotalReservedPages`.
    pub total_reserved_pages: u64,
    /// `MemStats.TotalCommittedPages`.
    pub total_committed_pages: u64,
    /// `MemStats.FreeCommittedPages`.
    pub free_committed_pages: u64,
    /// `MemStats.LfhFreeCommittedPages`.
    pub lfh_free_committed_pages: u64,
}

/// What a page range of a page segment holds (`_HEAP_PAGE_RANGE_DESCRIPTOR.RangeFlags`, MemProcFS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeKind {
    /// 11: an LFH subsegment.
    Lfh,
    /// 15: a VS subsegment.
    Vs,
    /// 3: a large / segment allocation (its blocks are in the big page table).
    Large,
    /// Any other value (free or continuation ranges).
    Other(u8),
}

/// One range of a page segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRange {
    /// Descriptor index.
    pub index: usize,
    /// What it holds.
    pub kind: RangeKind,
    /// Address of the range: `segment + (index << UnitShift)`.
    pub address: u64,
    /// Length in bytes: `UnitSize << UnitShift`.
    pub length: u64,
}

/// A decoded `_HEAP_VS_CHUNK_HEADER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VsChunk {
    /// Address of the chunk header.
    pub address: u64,
    /// Chunk size in bytes (`UnsafeSize` × 16 on x64, × 8 on x86), chunk header included.
    pub size: usize,
    /// Previous chunk's size in bytes (`UnsafePrevSize`).
    pub previous_size: usize,
    /// `Allocated & 1`.
    pub allocated: bool,
    /// `MemoryCost`.
    pub memory_cost: u16,
    /// The raw `Allocated` field (x64: 8 bits; x86: 1 bit).
    pub allocated_raw: u8,
}

/// A decoded `_HEAP_LFH_SUBSEGMENT` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LfhSubsegment {
    /// Decoded `BlockOffsets.BlockSize` (bytes).
    pub block_size: usize,
    /// Decoded `BlockOffsets.FirstBlockOffset` (bytes from the subsegment).
    pub first_block_offset: usize,
    /// `BlockCount` as stored: the number of blocks of the subsegment (the range may hold more room,
    /// e.g. a guard page after the last block).
    pub block_count: u16,
}

/// Where the `_POOL_HEADER` of an allocated VS chunk sits, and the pool block's size.
///
/// The pool block starts right after the chunk header; when a block smaller than 0xFF0 bytes would cross a page
/// by more than 0x40 bytes, the allocator puts the pool header at the start of the next page instead
/// (MemProcFS `vmmwinpool.c`, VS walk, which applies it to allocated chunks only; a free chunk has no
/// pool header and keeps its real start).
pub fn vs_pool_header(
    chunk_address: u64,
    chunk_size: usize,
    chunk_header_size: usize,
) -> (u64, usize) {
    let block = chunk_address.wrapping_add(chunk_header_size as u64);
    let size = chunk_size.saturating_sub(chunk_header_size);
    if size < 0xff0 && (block & 0xfff) as usize + size > 0x1040 {
        let adjust = 0x1000 - (block & 0xfff) as usize;
        ((block & !0xfff).wrapping_add(0x1000), size - adjust)
    } else {
        (block, size)
    }
}

impl Layout {
    fn sh(&self) -> Result<&'static SegmentHeapLayout> {
        self.segment_heap()
    }

    /// Decodes `nt!ExPoolState` (`_EX_POOL_HEAP_MANAGER_STATE`). Only `NumberOfPools` nodes are read; a count of 0 or
    /// above the array length is an error.
    pub fn decode_pool_state(&self, bytes: &[u8], address: u64) -> Result<PoolState> {
        let s = self.sh()?;
        let p = self.pointer_size();
        let w = "_EX_POOL_HEAP_MANAGER_STATE";
        let n = s.number_of_pools.read(bytes, w)? as u32;
        if n == 0 || n as usize > s.max_pools {
            return Err(Error::Invalid {
                what: w,
                address,
                reason: format!("NumberOfPools is {n}, expected 1..={}", s.max_pools),
            });
        }
        let mut node_heaps = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let base = s.pool_node + i * s.pool_node_size + s.node_heaps;
            let mut h = [0u64; 4];
            for (j, slot) in h.iter_mut().enumerate() {
                *slot = ptr_at(bytes, base + j * p, p, "_EX_HEAP_POOL_NODE.Heaps")?;
            }
            node_heaps.push(h);
        }
        let special_heaps = (0..s.special_heap_count)
            .map(|j| ptr_at(bytes, s.special_heaps + j * p, p, "SpecialHeaps"))
            .collect::<Result<Vec<_>>>()?;
        Ok(PoolState {
            globals: s.state_globals.read(bytes, w)?,
            number_of_pools: n,
            node_heaps,
            special_heaps,
        })
    }

    /// Decodes the keys at `RtlpHpHeapGlobals` (the address [`PoolState::globals`] gives).
    pub fn decode_heap_keys(&self, bytes: &[u8]) -> Result<HeapKeys> {
        let s = self.sh()?;
        Ok(HeapKeys {
            heap_key: s.heap_key.read(bytes, "_RTLP_HP_HEAP_GLOBALS.HeapKey")?,
            lfh_key: s.lfh_key.read(bytes, "_RTLP_HP_HEAP_GLOBALS.LfhKey")?,
        })
    }

    /// Decodes a `_SEGMENT_HEAP` at `address`.
    pub fn decode_segment_heap(&self, bytes: &[u8], address: u64) -> Result<SegmentHeap> {
        let s = self.sh()?;
        let w = "_SEGMENT_HEAP";
        let p = self.pointer_size();
        let pw = Field::ptr(0, p).width;
        let mut out = SegmentHeap {
            signature_ok: s.heap_signature.read(bytes, w)? as u32 == SEGMENT_HEAP_SIGNATURE,
            ..SegmentHeap::default()
        };
        let ms = s.heap_mem_stats;
        out.total_reserved_pages = read_uint(bytes, ms, pw, w)?;
        out.total_committed_pages = read_uint(bytes, ms + p, pw, w)?;
        out.free_committed_pages = read_uint(bytes, ms + 2 * p, pw, w)?;
        out.lfh_free_committed_pages = read_uint(bytes, ms + 3 * p, pw, w)?;
        for (i, c) in out.seg_contexts.iter_mut().enumerate() {
            let base = s.heap_seg_contexts + i * s.seg_context_size;
            let at = |f: Field| Field {
                offset: base + f.offset,
                width: f.width,
            };
            *c = SegContext {
                segment_mask: at(s.seg_segment_mask).read(bytes, w)?,
                unit_shift: at(s.seg_unit_shift).read(bytes, w)? as u8,
                first_descriptor_index: at(s.seg_first_descriptor_index).read(bytes, w)? as u8,
                segment_list_head: address.wrapping_add((base + s.seg_segment_list_head) as u64),
                segment_list_flink: ptr_at(bytes, base + s.seg_segment_list_head, p, w)?,
            };
        }
        Ok(out)
    }

    /// Decodes a page segment's signature: `Signature ^ HeapKey ^ segment_address ^ 0xA2E64EADA2E64EAD` (truncated to
    /// 32 bits on x86). A valid segment gives a kernel address ([`Layout::is_kernel_address`]).
    pub fn decode_page_segment_signature(
        &self,
        bytes: &[u8],
        segment_address: u64,
        heap_key: u64,
    ) -> Result<u64> {
        let s = self.sh()?;
        let sig = s
            .page_segment_signature
            .read(bytes, "_HEAP_PAGE_SEGMENT.Signature")?;
        let v = sig ^ heap_key ^ segment_address ^ PAGE_SEGMENT_SIGNATURE_XOR;
        Ok(match self.arch() {
            Arch::X86 => v & 0xffff_ffff,
            Arch::X64 => v,
        })
    }

    /// A kernel-space address: the upper half on x64 (canonical), at or above 0x80000000 on x86.
    pub const fn is_kernel_address(&self, va: u64) -> bool {
        match self.arch() {
            Arch::X64 => va >= 0xffff_8000_0000_0000,
            Arch::X86 => va >= 0x8000_0000 && va <= 0xffff_ffff,
        }
    }

    /// The ranges of a page segment: `bytes` from the segment's start (its descriptor array), stepping from
    /// `FirstDescriptorIndex` by each descriptor's `UnitSize`. A `UnitSize` of 0 ends the walk with an error.
    pub fn page_ranges(
        &self,
        bytes: &[u8],
        segment_address: u64,
        ctx: &SegContext,
    ) -> Result<Vec<PageRange>> {
        let s = self.sh()?;
        let count = (s.page_segment_size / s.range_descriptor_size).min(MAX_DESCRIPTORS);
        need(
            bytes,
            0,
            count * s.range_descriptor_size,
            "_HEAP_PAGE_SEGMENT.DescArray",
        )?;
        if ctx.unit_shift >= 32 {
            return Err(Error::Invalid {
                what: "_HEAP_SEG_CONTEXT",
                address: segment_address,
                reason: format!(
                    "UnitShift {} is not a plausible shift (expected < 32)",
                    ctx.unit_shift
                ),
            });
        }
        let mut out = Vec::new();
        let mut i = ctx.first_descriptor_index as usize;
        while i < count {
            let base = i * s.range_descriptor_size;
            let flags = read_uint(
                bytes,
                base + s.range_flags.offset,
                s.range_flags.width,
                "RangeFlags",
            )? as u8
                & s.range_flags_mask;
            let units = read_uint(
                bytes,
                base + s.range_unit_size.offset,
                s.range_unit_size.width,
                "UnitSize",
            )?;
            if units == 0 {
                return Err(Error::Invalid {
                    what: "_HEAP_PAGE_RANGE_DESCRIPTOR",
                    address: segment_address.wrapping_add(base as u64),
                    reason: "UnitSize is 0".into(),
                });
            }
            out.push(PageRange {
                index: i,
                kind: match flags {
                    11 => RangeKind::Lfh,
                    15 => RangeKind::Vs,
                    3 => RangeKind::Large,
                    f => RangeKind::Other(f),
                },
                address: segment_address.wrapping_add((i as u64) << ctx.unit_shift),
                length: units << ctx.unit_shift,
            });
            i += units as usize;
        }
        Ok(out)
    }

    /// Decodes the VS chunk header at the start of `bytes`, which sits at `chunk_address`, with `HeapKey`.
    pub fn decode_vs_chunk(
        &self,
        bytes: &[u8],
        chunk_address: u64,
        heap_key: u64,
    ) -> Result<VsChunk> {
        self.sh()?;
        let w = "_HEAP_VS_CHUNK_HEADER";
        Ok(match self.arch() {
            Arch::X64 => {
                let d = Field::u64(0).read(bytes, w)? ^ chunk_address ^ heap_key;
                VsChunk {
                    address: chunk_address,
                    memory_cost: d as u16,
                    size: (((d >> 16) & 0xffff) as usize) << 4,
                    previous_size: (((d >> 32) & 0xffff) as usize) << 4,
                    allocated_raw: (d >> 48) as u8,
                    allocated: (d >> 48) & 1 != 0,
                }
            }
            Arch::X86 => {
                let d = (Field::u32(0).read(bytes, w)? ^ chunk_address ^ heap_key) as u32;
                VsChunk {
                    address: chunk_address,
                    memory_cost: (d & 1) as u16,
                    size: (((d >> 1) & 0x7fff) as usize) << 3,
                    previous_size: (((d >> 16) & 0x7fff) as usize) << 3,
                    allocated_raw: (d >> 31) as u8,
                    allocated: d >> 31 != 0,
                }
            }
        })
    }

    /// Checks a VS subsegment header (`Size == Signature ^ 0x2BED`, 15-bit signature) and returns the
    /// subsegment's size in bytes: `_HEAP_VS_SUBSEGMENT.Size` counts chunk units (16 bytes on x64, 8
    /// on x86; the unit of `UnsafeSize`). The page range holding the subsegment may be longer (a
    /// guard page after it): the chunks end at this size, not at the range's end.
    pub fn vs_subsegment_size(&self, bytes: &[u8], address: u64) -> Result<usize> {
        let s = self.sh()?;
        let w = "_HEAP_VS_SUBSEGMENT";
        let size = s.vs_subsegment_size_field.read(bytes, w)? as u16;
        let sig = s.vs_subsegment_signature.read(bytes, w)? as u16 & 0x7fff;
        if size != sig ^ VS_SUBSEGMENT_SIGNATURE_XOR {
            return Err(Error::Invalid {
                what: w,
                address,
                reason: format!("Size {size:#x} != Signature {sig:#x} ^ 0x2BED"),
            });
        }
        let unit = match self.arch() {
            Arch::X64 => 16,
            Arch::X86 => 8,
        };
        Ok(usize::from(size) * unit)
    }

    /// The bytes of a VS subsegment its chunks cover: `bytes` cut at the subsegment's `Size`
    /// ([`Layout::vs_subsegment_size`]). A `Size` below the first chunk or beyond `bytes` is an error.
    pub fn vs_subsegment_bytes<'b>(&self, bytes: &'b [u8], address: u64) -> Result<&'b [u8]> {
        let s = self.sh()?;
        let size = self.vs_subsegment_size(bytes, address)?;
        if size < s.vs_first_chunk + s.vs_chunk_header_size || size > bytes.len() {
            return Err(Error::Invalid {
                what: "_HEAP_VS_SUBSEGMENT",
                address,
                reason: format!(
                    "Size gives {size:#x} bytes; expected {:#x}..={:#x} (the first chunk to the range's end)",
                    s.vs_first_chunk + s.vs_chunk_header_size,
                    bytes.len()
                ),
            });
        }
        Ok(&bytes[..size])
    }

    fn vs_chunk_sound(&self, c: &VsChunk, off: usize, len: usize) -> Option<HeaderError> {
        let min = self.sh().map_or(16, |s| s.vs_chunk_header_size);
        if c.size < min {
            Some(HeaderError::BadChunk(
                "VS chunk size below the chunk header size",
            ))
        } else if c.size > len - off {
            Some(HeaderError::PastPageEnd { size: c.size })
        } else if c.allocated_raw > 1 {
            Some(HeaderError::BadChunk(
                "VS chunk Allocated field is neither 0 nor 1",
            ))
        } else {
            None
        }
    }

    /// Walks a VS subsegment: `bytes` = the range (from [`Layout::page_ranges`]) or at least the
    /// subsegment's `Size` of it, `address` its start. The chunks end at `Size`
    /// ([`Layout::vs_subsegment_bytes`]), not at the range's end.
    ///
    /// Each allocated chunk becomes a block at the address of its `_POOL_HEADER` ([`vs_pool_header`]),
    /// sized from the chunk, with the pool header's tag. A free chunk has no pool header: it is listed
    /// at its real start (right after its chunk header) with the chunk's size less the chunk header,
    /// even when it crosses a page. On a chunk that cannot be followed the walker scans forward for
    /// the next chunk header that decodes soundly and whose successor's previous size agrees.
    pub fn walk_vs_subsegment(&self, bytes: &[u8], address: u64, heap_key: u64) -> Result<Walk> {
        let s = self.sh()?;
        let bytes = self.vs_subsegment_bytes(bytes, address)?;
        let step = s.vs_chunk_header_size;
        let len = bytes.len();
        let mut walk = Walk::default();
        let mut off = s.vs_first_chunk;
        let mut prev: Option<usize> = Some(0);
        while off + step <= len {
            let caddr = address.wrapping_add(off as u64);
            let c = self.decode_vs_chunk(&bytes[off..], caddr, heap_key)?;
            let mut error = self.vs_chunk_sound(&c, off, len);
            let follow = error.is_none();
            if error.is_none()
                && let Some(p) = prev.filter(|p| *p != 0 && *p != c.previous_size)
            {
                error = Some(HeaderError::PreviousSizeMismatch {
                    expected: p,
                    found: c.previous_size,
                });
            }
            let (hdr_addr, size) = if c.allocated {
                vs_pool_header(caddr, c.size, step)
            } else {
                (caddr.wrapping_add(step as u64), c.size.saturating_sub(step))
            };
            let hoff = hdr_addr.wrapping_sub(address) as usize;
            let header = bytes.get(hoff..).and_then(|b| self.decode_header(b).ok());
            let tag = header.map_or(Tag(0), |h| h.tag);
            if error.is_none() && c.allocated && !tag.is_plausible() {
                error = Some(HeaderError::ImplausibleTag);
            }
            walk.push(WalkedBlock {
                address: if follow { hdr_addr } else { caddr },
                size: if follow { size } else { c.size },
                previous_size: c.previous_size,
                state: if c.allocated {
                    BlockState::Allocated
                } else {
                    BlockState::Free
                },
                tag,
                pool_type: header.and_then(|h| self.header_pool_type(&h)),
                header,
                error,
            });
            if follow {
                off += c.size;
                prev = Some(c.size);
                continue;
            }
            walk.resyncs += 1;
            match self.next_vs_chunk(bytes, address, heap_key, off + step) {
                Some(n) => {
                    off = n;
                    prev = None;
                }
                None => break,
            }
        }
        Ok(walk)
    }

    /// The offset, at or after `from`, of the next VS chunk header that decodes soundly and is confirmed by its
    /// successor's previous size (or ends the subsegment exactly).
    pub fn next_vs_chunk(
        &self,
        bytes: &[u8],
        address: u64,
        heap_key: u64,
        from: usize,
    ) -> Option<usize> {
        let step = self.sh().ok()?.vs_chunk_header_size;
        let mut off = from.div_ceil(step) * step;
        while off + step <= bytes.len() {
            let caddr = address.wrapping_add(off as u64);
            if let Ok(c) = self.decode_vs_chunk(&bytes[off..], caddr, heap_key)
                && self.vs_chunk_sound(&c, off, bytes.len()).is_none()
            {
                let next = off + c.size;
                if next == bytes.len() {
                    return Some(off);
                }
                if next + step <= bytes.len()
                    && let Ok(n) = self.decode_vs_chunk(
                        &bytes[next..],
                        address.wrapping_add(next as u64),
                        heap_key,
                    )
                    && n.previous_size == c.size
                {
                    return Some(off);
                }
            }
            off += step;
        }
        None
    }

    /// Decodes an LFH subsegment header at `address` with `LfhKey`: `EncodedData ^ LfhKey ^ ((u32)address >> 12)`
    /// gives BlockSize (low 16 bits) and FirstBlockOffset (high 16 bits) (MemProcFS, builds before 26100).
    pub fn decode_lfh_subsegment(
        &self,
        bytes: &[u8],
        address: u64,
        lfh_key: u64,
    ) -> Result<LfhSubsegment> {
        let s = self.sh()?;
        let w = "_HEAP_LFH_SUBSEGMENT";
        let enc = s.lfh_block_offsets.read(bytes, w)? as u32;
        let d = enc ^ (lfh_key as u32) ^ ((address as u32) >> 12);
        Ok(LfhSubsegment {
            block_size: (d & 0xffff) as usize,
            first_block_offset: (d >> 16) as usize,
            block_count: s.lfh_block_count.read(bytes, w)? as u16,
        })
    }

    /// Walks an LFH subsegment: `bytes` = the whole range, `address` its start. Each block starts with a
    /// `_POOL_HEADER`; its state is its 2-bit entry in `BlockBitmap` (bit 0 busy, bit 1 unused bytes:
    /// see [`crate::segheap_walk::LfhState`]; `10` is shown Free with an error). The subsegment is
    /// checked and its blocks listed by [`crate::segheap_walk::lfh_blocks`]; blocks never cross a page
    /// (those that would are skipped, as MemProcFS does).
    pub fn walk_lfh_subsegment(&self, bytes: &[u8], address: u64, lfh_key: u64) -> Result<Walk> {
        use crate::segheap_walk::{LfhState, lfh_blocks};
        let (_, blocks) = lfh_blocks(self, bytes, address, lfh_key)?;
        let mut walk = Walk::default();
        for b in blocks {
            let off = b.address.wrapping_sub(address) as usize;
            let state = match b.state {
                LfhState::Allocated => BlockState::Allocated,
                LfhState::Free | LfhState::Unknown(_) => BlockState::Free,
            };
            let header = bytes.get(off..).and_then(|h| self.decode_header(h).ok());
            let tag = header.map_or(Tag(0), |h| h.tag);
            let error = if let LfhState::Unknown(_) = b.state {
                Some(HeaderError::BadChunk(
                    "BlockBitmap bits are 10: unused bytes on a block that is not busy",
                ))
            } else {
                (state == BlockState::Allocated && !tag.is_plausible())
                    .then_some(HeaderError::ImplausibleTag)
            };
            walk.push(WalkedBlock {
                address: b.address,
                size: b.size,
                previous_size: 0,
                state,
                tag,
                pool_type: header.and_then(|h| self.header_pool_type(&h)),
                header,
                error,
            });
        }
        Ok(walk)
    }
}
