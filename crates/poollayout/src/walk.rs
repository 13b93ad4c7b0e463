//! Walking a classic (pre-19H1) pool page block by block, validating the header chain.
//!
//! The checks are those of ReactOS `ExpCheckPoolHeader`/`ExpCheckPoolBlocks` and Uninformed vol. 4
//! (docs/POOL_INTERNALS.md §9): the first block's PreviousSize is 0; BlockSize is not 0; each
//! PreviousSize equals the previous block's BlockSize; no block runs past the page; the chain ends
//! exactly at the page boundary; and the tag of an allocated block is plausible (printable, as
//! MemProcFS requires).

use core::fmt;

use crate::error::{Error, Result};
use crate::header::{BlockState, PoolHeader};
use crate::layout::{HeaderFormat, Layout};
use crate::pooltype::PoolType;
use crate::tag::Tag;

/// Why a header breaks the chain. Sizes are in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer bytes than a header are left before the end of the page or buffer.
    Truncated,
    /// `BlockSize` is 0.
    ZeroBlockSize,
    /// The first block of a page must have PreviousSize 0.
    FirstPreviousSizeNotZero {
        /// PreviousSize found.
        found: usize,
    },
    /// PreviousSize differs from the previous block's size.
    PreviousSizeMismatch {
        /// The previous block's size.
        expected: usize,
        /// PreviousSize found.
        found: usize,
    },
    /// The block would run past the end of the page.
    PastPageEnd {
        /// The block's size.
        size: usize,
    },
    /// An allocated block whose tag has a non-printable byte.
    ImplausibleTag,
    /// A segment-heap chunk header decodes to an impossible value (reason given).
    BadChunk(&'static str),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Truncated => f.write_str("header truncated by the end of the page"),
            HeaderError::ZeroBlockSize => f.write_str("block size is 0"),
            HeaderError::FirstPreviousSizeNotZero { found } => {
                write!(
                    f,
                    "first block of the page has previous size {found:#x}, expected 0"
                )
            }
            HeaderError::PreviousSizeMismatch { expected, found } => write!(
                f,
                "previous size {found:#x} does not match the previous block's size {expected:#x}"
            ),
            HeaderError::PastPageEnd { size } => {
                write!(f, "block size {size:#x} runs past the end of the page")
            }
            HeaderError::ImplausibleTag => f.write_str("tag is not printable"),
            HeaderError::BadChunk(why) => f.write_str(why),
        }
    }
}

/// One block found by a walker (classic page, VS or LFH subsegment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkedBlock {
    /// Virtual address of the block's `_POOL_HEADER`.
    pub address: u64,
    /// Size in bytes, header included (as read, even when bad).
    pub size: usize,
    /// Previous block's size in bytes, as the header records it (0 where the allocator keeps none).
    pub previous_size: usize,
    /// Allocated or free (from the header before 19H1; from VS / LFH metadata after).
    pub state: BlockState,
    /// The tag (raw; display it with `Display`, which masks the protected bit).
    pub tag: Tag,
    /// Pool type from the header, when it records one.
    pub pool_type: Option<PoolType>,
    /// The header as decoded (None when it could not be read).
    pub header: Option<PoolHeader>,
    /// Why this header is bad, if it is.
    pub error: Option<HeaderError>,
}

/// The result of a walk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Walk {
    /// Blocks in address order; bad headers included with `error` set.
    pub blocks: Vec<WalkedBlock>,
    /// Address of the first bad header and why.
    pub first_error: Option<(u64, HeaderError)>,
    /// How many times the walker skipped forward to the next plausible header.
    pub resyncs: usize,
}

impl Walk {
    /// The block whose bytes contain `address` (for `!pool`'s `*` marker).
    pub fn containing(&self, address: u64) -> Option<&WalkedBlock> {
        self.blocks.iter().find(|b| {
            address >= b.address && address < b.address.saturating_add(b.size.max(1) as u64)
        })
    }

    pub(crate) fn push(&mut self, b: WalkedBlock) {
        if let (Some(e), None) = (b.error, self.first_error) {
            self.first_error = Some((b.address, e));
        }
        self.blocks.push(b);
    }
}

/// What [`Layout::walk_page_with`] found besides the blocks it handed on: the rest of a [`Walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkSummary {
    /// Blocks handed on.
    pub blocks: usize,
    /// Address of the first bad header and why.
    pub first_error: Option<(u64, HeaderError)>,
    /// How many times the walker skipped forward to the next plausible header.
    pub resyncs: usize,
}

/// The three fields the chain check needs, read without decoding the whole header.
#[inline(always)]
fn raw_sizes(fmt: HeaderFormat, h: &[u8]) -> (u16, u16, u8, u32) {
    let w = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let tag = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    match fmt {
        HeaderFormat::Nt50X86 => (h[0] as u16, h[3] as u16, h[2], tag),
        HeaderFormat::X86 => (
            (w & 0x1ff) as u16,
            ((w >> 16) & 0x1ff) as u16,
            (w >> 25) as u8,
            tag,
        ),
        HeaderFormat::X64 => (h[0] as u16, h[2] as u16, h[3], tag),
    }
}

#[inline(always)]
fn tag_plausible(tag: u32) -> bool {
    Tag(tag).is_plausible()
}

impl Layout {
    fn check_classic(&self) -> Result<()> {
        if self.is_segment_heap() {
            return Err(Error::NotInLayout {
                what: "classic pool page (19H1+ pages are VS or LFH subsegments)",
                family: self.family().name,
            });
        }
        Ok(())
    }

    /// Validates the header chain of one classic pool page without allocating: `Ok(blocks)` when the chain is
    /// whole, else the page offset of the first bad header and why. This is the fast path `!poolfind`-style
    /// scans and the benchmark use; [`Layout::walk_page`] gives the blocks. It is meant for classic (pre-19H1)
    /// layouts: 19H1+ pool memory is made of VS and LFH subsegments (use [`Layout::walk_vs_subsegment`] and
    /// [`Layout::walk_lfh_subsegment`]).
    pub fn check_page(&self, page: &[u8]) -> core::result::Result<usize, (usize, HeaderError)> {
        let fmt = self.header_format();
        let shift = fmt.block_shift();
        let hs = fmt.header_size();
        let in_use_bit = match self.family().era {
            crate::layout::PoolTypeEra::Nt5 => crate::header::NT5_IN_USE_BIT,
            _ => crate::header::NT6_IN_USE_BIT,
        };
        let end = page.len();
        let mut off = 0usize;
        let mut prev = 0u16;
        let mut n = 0usize;
        while off < end {
            let Some(h) = page.get(off..off + hs) else {
                return Err((off, HeaderError::Truncated));
            };
            let (p, b, t, tag) = raw_sizes(fmt, h);
            if b == 0 {
                return Err((off, HeaderError::ZeroBlockSize));
            }
            let size = (b as usize) << shift;
            if size > end - off {
                return Err((off, HeaderError::PastPageEnd { size }));
            }
            if p != prev {
                let found = (p as usize) << shift;
                return Err((
                    off,
                    if off == 0 {
                        HeaderError::FirstPreviousSizeNotZero { found }
                    } else {
                        HeaderError::PreviousSizeMismatch {
                            expected: (prev as usize) << shift,
                            found,
                        }
                    },
                ));
            }
            if t & in_use_bit != 0 && !tag_plausible(tag) {
                return Err((off, HeaderError::ImplausibleTag));
            }
            off += size;
            prev = b;
            n += 1;
        }
        Ok(n)
    }

    /// Classifies a page found **outside** any established pool range (the kernel's system VA
    /// searched page by page because the build keeps no public bound, docs/POOL_RANGES.md):
    /// `Some(kind)` only when the page is a pool page of the global pool by this rule, else `None`.
    ///
    /// The rule — stricter than a scan of an established range, where one plausible first header
    /// is enough to walk the page — is that the page's whole header chain validates
    /// ([`Layout::check_page`]: first PreviousSize 0, no BlockSize 0, each PreviousSize equal to
    /// the previous BlockSize, the last block ending exactly at the page end, every allocated tag
    /// printable: ReactOS `ExpCheckPoolBlocks`, Uninformed vol. 4, MemProcFS; POOL_INTERNALS.md
    /// §9), and moreover:
    /// - at least two headers (a lone header, however plausible, is not a chain; every classic
    ///   block is below a page except on Windows 2000, so a real pool page always has two);
    /// - every free header's PoolType byte is 0 (what a freed header holds, §2.2: ReactOS
    ///   `expool.c`, poolinfo, Volatility's scanners);
    /// - at least one allocated header, and all allocated headers agree on the pool: the paged bit
    ///   (bit 0 of the `POOL_TYPE` the header encodes, §2.2) gives the kind; a session-pool page
    ///   (bit 0x20) is not global pool and gives `None`.
    ///
    /// Kernel image, page-table and PFN-database pages fail it at once (their first bytes are not
    /// a zero PreviousSize followed by a chain that ends on the page boundary). Segment-heap
    /// layouts (19H1+) give `None`: their pool is found from `nt!ExPoolState`, never by range.
    pub fn classify_page(&self, page: &[u8]) -> Option<crate::regions::PoolKind> {
        if self.is_segment_heap() {
            return None;
        }
        let blocks = self.check_page(page).ok()?;
        if blocks < 2 {
            return None;
        }
        let mut kind = None;
        let mut off = 0usize;
        // Bounded by check_page: the chain is whole, so `blocks` steps reach the page end.
        for _ in 0..blocks {
            let h = self.decode_header(page.get(off..)?).ok()?;
            match self.header_state(&h)? {
                BlockState::Free => {
                    if h.pool_type != 0 {
                        return None;
                    }
                }
                BlockState::Allocated => {
                    let t = self.header_pool_type(&h)?;
                    if t.0 & 0x20 != 0 {
                        return None;
                    }
                    let k = if t.is_paged() {
                        crate::regions::PoolKind::Paged
                    } else {
                        crate::regions::PoolKind::NonPaged
                    };
                    if kind.is_some_and(|seen| seen != k) {
                        return None;
                    }
                    kind = Some(k);
                }
            }
            off = off.checked_add(self.block_bytes(h.block_size))?;
        }
        (off == page.len()).then_some(kind).flatten()
    }

    /// Walks one classic pool page (`page` = its bytes, normally 4 KiB; `page_address` = its virtual address).
    ///
    /// Every block is reported; a bad header gets `error` and the walk goes on: after a PreviousSize mismatch or an
    /// implausible tag on an otherwise sound header it follows that header's size; after a header that cannot be
    /// followed (size 0, past the page, truncated) it scans forward block unit by block unit for the next
    /// plausible header (BlockSize fits, tag printable, and the next header's PreviousSize agrees or the block ends
    /// the page), as `!pool` does. The walk is bounded by the page length.
    ///
    /// ```
    /// use pooldbg_poollayout::{Arch, Layout};
    /// let l = Layout::for_build(Arch::X64, 7601).unwrap();
    /// let mut page = vec![0u8; 4096];
    /// // one allocated block of 0x40 bytes, then a free block filling the page
    /// page[..8].copy_from_slice(&[0, 0, 4, 2, b'T', b'e', b's', b't']);
    /// page[0x40..0x48].copy_from_slice(&[4, 0, 252, 0, b'F', b'r', b'e', b'e']);
    /// let w = l.walk_page(&page, 0xfffff8a000001000).unwrap();
    /// assert_eq!(w.blocks.len(), 2);
    /// assert!(w.first_error.is_none());
    /// assert_eq!(w.blocks[1].size, 0xfc0);
    /// ```
    pub fn walk_page(&self, page: &[u8], page_address: u64) -> Result<Walk> {
        let mut blocks = Vec::new();
        let s = self.walk_page_with(page, page_address, |b| blocks.push(b))?;
        Ok(Walk {
            blocks,
            first_error: s.first_error,
            resyncs: s.resyncs,
        })
    }

    /// [`Layout::walk_page`] handing each block to `each` in address order instead of collecting
    /// them (no allocation): the same blocks, and the rest of the [`Walk`] as a [`WalkSummary`].
    pub fn walk_page_with(
        &self,
        page: &[u8],
        page_address: u64,
        mut each: impl FnMut(WalkedBlock),
    ) -> Result<WalkSummary> {
        self.check_classic()?;
        let unit = self.block_unit();
        let end = page.len();
        let mut sum = WalkSummary::default();
        let mut emit = |b: WalkedBlock, sum: &mut WalkSummary| {
            if let (Some(e), None) = (b.error, sum.first_error) {
                sum.first_error = Some((b.address, e));
            }
            sum.blocks += 1;
            each(b);
        };
        let mut off = 0usize;
        let mut prev: Option<u16> = Some(0);
        while off < end {
            let addr = page_address.wrapping_add(off as u64);
            let Some(h) = page.get(off..).and_then(|b| self.decode_header_fast(b)) else {
                emit(
                    WalkedBlock {
                        address: addr,
                        size: end - off,
                        previous_size: 0,
                        state: BlockState::Free,
                        tag: Tag(0),
                        pool_type: None,
                        header: None,
                        error: Some(HeaderError::Truncated),
                    },
                    &mut sum,
                );
                break;
            };
            let size = self.block_bytes(h.block_size);
            let state = self.header_state(&h).unwrap_or(BlockState::Allocated);
            let mut error = None;
            let mut follow = true;
            if h.block_size == 0 {
                error = Some(HeaderError::ZeroBlockSize);
                follow = false;
            } else if size > end - off {
                error = Some(HeaderError::PastPageEnd { size });
                follow = false;
            } else if let Some(p) = prev.filter(|p| *p != h.previous_size) {
                let found = self.block_bytes(h.previous_size);
                error = Some(if off == 0 {
                    HeaderError::FirstPreviousSizeNotZero { found }
                } else {
                    HeaderError::PreviousSizeMismatch {
                        expected: self.block_bytes(p),
                        found,
                    }
                });
                // A sound header whose neighbour lied: keep following it only if it looks real.
                follow = h.tag.is_plausible();
            } else if state == BlockState::Allocated && !h.tag.is_plausible() {
                error = Some(HeaderError::ImplausibleTag);
            }
            emit(
                WalkedBlock {
                    address: addr,
                    size,
                    previous_size: self.block_bytes(h.previous_size),
                    state,
                    tag: h.tag,
                    pool_type: self.header_pool_type(&h),
                    header: Some(h),
                    error,
                },
                &mut sum,
            );
            if follow {
                off += size;
                prev = Some(h.block_size);
                continue;
            }
            // Resynchronise: the next offset holding a plausible header.
            sum.resyncs += 1;
            match self.next_plausible_header(page, off + unit) {
                Some(next) => {
                    off = next;
                    prev = None; // its PreviousSize cannot be checked against a broken chain
                }
                None => break,
            }
        }
        Ok(sum)
    }

    /// Does `page` start like a classic pool page? Its first header has PreviousSize 0, a
    /// BlockSize that is not 0 and fits in the page, and a plausible tag or the free state. Every
    /// page whose chain [`Layout::check_page`] accepts does; a scan walks the pages that do
    /// ([`Layout::walk_page_with`]) and skips the others after reading one header.
    #[inline]
    pub fn starts_like_pool_page(&self, page: &[u8]) -> bool {
        let Some(h) = self.decode_header_fast(page) else {
            return false;
        };
        let size = self.block_bytes(h.block_size);
        h.previous_size == 0
            && h.block_size != 0
            && size <= page.len()
            && (h.tag.is_plausible() || self.header_state(&h) == Some(BlockState::Free))
    }

    /// The page offset, at or after `from`, of the next header that looks real: BlockSize fits in the page, the tag
    /// is printable, and either the block ends the page or the header after it has a matching PreviousSize.
    pub fn next_plausible_header(&self, page: &[u8], from: usize) -> Option<usize> {
        let unit = self.block_unit();
        let hs = self.header_size();
        let fmt = self.header_format();
        let mut off = from.div_ceil(unit) * unit;
        while off + hs <= page.len() {
            let (_, b, _, tag) = raw_sizes(fmt, &page[off..off + hs]);
            let size = self.block_bytes(b);
            if b != 0 && size <= page.len() - off && tag_plausible(tag) {
                let next = off + size;
                if next == page.len() {
                    return Some(off);
                }
                if let Some(nh) = page.get(next..next + hs) {
                    let (np, nb, _, _) = raw_sizes(fmt, nh);
                    if np == b && nb != 0 {
                        return Some(off);
                    }
                }
            }
            off += unit;
        }
        None
    }
}
