//! `_POOL_HEADER` decoding in its three byte layouts, and the PoolType byte per era.

use crate::error::{Error, Result};
use crate::layout::{HeaderFormat, Layout, PoolTypeEra};
use crate::pooltype::PoolType;
use crate::tag::Tag;

/// PoolType bit 0x8 (Windows 8+): the block is charged to a process; `ProcessBilled` is encoded with the
/// quota cookie (third-party segment-heap summary of SSTIC 2020, docs/POOL_INTERNALS.md §2.2).
pub const POOL_QUOTA_BIT: u8 = 0x8;
/// PoolType bit 0x4 in the segment-heap era: CacheAligned; `PreviousSize` is then the back-offset (in block
/// units) to the real header.
pub const POOL_CACHE_ALIGNED_BIT: u8 = 0x4;
/// NT 6.x in-use bit (poolinfo `POOL_INUSE`).
pub const NT6_IN_USE_BIT: u8 = 0x2;
/// NT 5.x in-use bit (poolinfo `POOL_INUSE_XP`).
pub const NT5_IN_USE_BIT: u8 = 0x4;

/// A decoded `_POOL_HEADER`, raw fields in block units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolHeader {
    /// `PreviousSize` in block units.
    pub previous_size: u16,
    /// `PoolIndex`.
    pub pool_index: u8,
    /// `BlockSize` in block units (header included).
    pub block_size: u16,
    /// The raw PoolType byte (7 bits on x86 XP+).
    pub pool_type: u8,
    /// `PoolTag`, raw (protected bit included).
    pub tag: Tag,
    /// `ProcessBilled` raw (x64 only; still encoded on Windows 8+, see [`Layout::process_billed`]).
    pub process_billed: Option<u64>,
}

/// Allocation state of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    /// In use.
    Allocated,
    /// Free.
    Free,
}

impl BlockState {
    /// The word `!pool` prints: `Allocated` or `Free`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BlockState::Allocated => "Allocated",
            BlockState::Free => "Free",
        }
    }
}

impl Layout {
    /// Decodes the `_POOL_HEADER` at the start of `bytes`.
    ///
    /// ```
    /// use pooldbg_poollayout::{Arch, Layout};
    /// let l = Layout::for_build(Arch::X64, 7601).unwrap();
    /// let raw = [0u8, 0, 4, 2, b'T', b'e', b's', b't', 0, 0, 0, 0, 0, 0, 0, 0];
    /// let h = l.decode_header(&raw).unwrap();
    /// assert_eq!((l.block_bytes(h.block_size), h.tag.to_string()), (64, "Test".to_string()));
    /// ```
    pub fn decode_header(&self, bytes: &[u8]) -> Result<PoolHeader> {
        let need = self.header_format().header_size();
        self.decode_header_fast(bytes).ok_or(Error::Truncated {
            what: "_POOL_HEADER",
            offset: 0,
            need,
            have: bytes.len(),
        })
    }

    /// [`Layout::decode_header`] without the error's detail (`None`: fewer bytes than a header):
    /// fixed-size reads, one bounds check, for the walkers.
    #[inline]
    pub(crate) fn decode_header_fast(&self, bytes: &[u8]) -> Option<PoolHeader> {
        Some(match self.header_format() {
            HeaderFormat::Nt50X86 => {
                let (h, _) = bytes.split_first_chunk::<8>()?;
                PoolHeader {
                    previous_size: u16::from(h[0]),
                    pool_index: h[1],
                    pool_type: h[2],
                    block_size: u16::from(h[3]),
                    tag: Tag(u32::from_le_bytes([h[4], h[5], h[6], h[7]])),
                    process_billed: None,
                }
            }
            HeaderFormat::X86 => {
                let (h, _) = bytes.split_first_chunk::<8>()?;
                let a = u16::from_le_bytes([h[0], h[1]]);
                let b = u16::from_le_bytes([h[2], h[3]]);
                PoolHeader {
                    previous_size: a & 0x1ff,
                    pool_index: (a >> 9) as u8,
                    block_size: b & 0x1ff,
                    pool_type: (b >> 9) as u8,
                    tag: Tag(u32::from_le_bytes([h[4], h[5], h[6], h[7]])),
                    process_billed: None,
                }
            }
            HeaderFormat::X64 => {
                let (h, _) = bytes.split_first_chunk::<16>()?;
                PoolHeader {
                    previous_size: u16::from(h[0]),
                    pool_index: h[1],
                    block_size: u16::from(h[2]),
                    pool_type: h[3],
                    tag: Tag(u32::from_le_bytes([h[4], h[5], h[6], h[7]])),
                    process_billed: Some(u64::from_le_bytes([
                        h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15],
                    ])),
                }
            }
        })
    }

    /// Bytes covered by `units` block units.
    pub const fn block_bytes(&self, units: u16) -> usize {
        (units as usize) << self.header_format().block_shift()
    }

    /// The allocation state the header itself records: `None` on 19H1+ (the header is informational; the
    /// state lives in the VS chunk header or the LFH bitmap).
    pub const fn header_state(&self, h: &PoolHeader) -> Option<BlockState> {
        let in_use = match self.family().era {
            PoolTypeEra::Nt5 => h.pool_type & NT5_IN_USE_BIT != 0,
            PoolTypeEra::Nt6 => h.pool_type & NT6_IN_USE_BIT != 0,
            PoolTypeEra::SegmentHeap => return None,
        };
        Some(if in_use {
            BlockState::Allocated
        } else {
            BlockState::Free
        })
    }

    /// The `POOL_TYPE` the header encodes, when the header is allocated: base type (paged bit) and the session
    /// bit 0x20. Free headers (PoolType 0) give `None`. The NX distinction is not in the header byte before
    /// 19H1 (docs/POOL_INTERNALS.md §2.2, an open question), so NX blocks read as `NonPagedPool`.
    pub const fn header_pool_type(&self, h: &PoolHeader) -> Option<PoolType> {
        let raw = h.pool_type;
        if raw == 0 {
            return None;
        }
        let session = (raw & 0x20) as u32;
        let base = match self.family().era {
            // (type & 3) + 1: 1 = nonpaged, 2 = paged.
            PoolTypeEra::Nt5 => {
                let t = raw & 3;
                if t == 0 {
                    return None;
                }
                (t - 1) as u32 & 1
            }
            PoolTypeEra::Nt6 | PoolTypeEra::SegmentHeap => (raw & 1) as u32,
        };
        Some(PoolType(base | session))
    }

    /// Whether the tag's protected bit means "protected" on this version (before Windows 8).
    pub const fn tag_is_protected(&self, tag: Tag) -> bool {
        self.family().protected_tags && tag.is_protected()
    }

    /// The billed `EPROCESS` of a quota block, or `None` when the header is not charged (bit 0x8 clear) or has no
    /// `ProcessBilled` field (x86). From Windows 8 the field is stored as
    /// `EPROCESS ^ nt!ExpPoolQuotaCookie ^ header_address`; pass the cookie's value (read from the dump) and the
    /// virtual address of the header. Before Windows 8 the field is the plain pointer and `cookie` is ignored.
    pub const fn process_billed(
        &self,
        h: &PoolHeader,
        header_address: u64,
        cookie: u64,
    ) -> Option<u64> {
        let Some(raw) = h.process_billed else {
            return None;
        };
        if h.pool_type & POOL_QUOTA_BIT == 0 {
            return None;
        }
        Some(if self.family().quota_cookie {
            raw ^ cookie ^ header_address
        } else {
            raw
        })
    }

    /// 19H1+: the address of the real header when this one is a CacheAligned padding header (bit 0x4):
    /// `PreviousSize` counts block units back. `None` when the bit is clear or before 19H1.
    pub const fn cache_aligned_origin(&self, h: &PoolHeader, header_address: u64) -> Option<u64> {
        if !self.is_segment_heap() || h.pool_type & POOL_CACHE_ALIGNED_BIT == 0 {
            return None;
        }
        header_address.checked_sub(self.block_bytes(h.previous_size) as u64)
    }
}
