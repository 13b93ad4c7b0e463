//! Where each physical page lives in the file: run lists (binary search), bitmaps (rank index,
//! O(1)), and byte-granular segments (raw images, ELF cores).

use crate::read::{PAGE_SHIFT, PAGE_SIZE, ReadStatus};

/// A run of physical pages stored back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First page frame number.
    pub base_pfn: u64,
    /// Number of pages.
    pub pages: u64,
    /// File offset of the first page.
    pub file_offset: u64,
}

/// A byte range of physical memory stored contiguously (raw image, ELF `PT_LOAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First physical address.
    pub pa: u64,
    /// Length in bytes.
    pub len: u64,
    /// File offset of the first byte.
    pub file_offset: u64,
}

/// The rank index of a bitmap dump: the bitmap as 64-bit words (the last one masked to the bit
/// count) and one cumulative count per 512 bits, so PFN -> file offset costs one table read and at
/// most eight popcounts within one cache line.
#[derive(Debug, Clone)]
pub(crate) struct BitmapIndex {
    /// Number of bits (highest PFN + 1).
    pub(crate) bits: u64,
    /// File offset of the first page.
    pub(crate) first_page: u64,
    /// The bitmap, LSB-first within each little-endian word.
    words: Vec<u64>,
    /// Set bits before each 512-bit block.
    ranks: Vec<u64>,
    /// Total set bits.
    pub(crate) present: u64,
}

const WORDS_PER_BLOCK: usize = 8;

impl BitmapIndex {
    /// Builds the index over `data[bitmap_offset..][..ceil(bits/8)]`, which the caller has checked
    /// lies inside `data`. Reads only the bitmap.
    pub(crate) fn build(data: &[u8], bitmap_offset: usize, bits: u64, first_page: u64) -> Self {
        let nbytes = bits.div_ceil(8) as usize;
        let bm = &data[bitmap_offset..bitmap_offset + nbytes];
        let mut words: Vec<u64> = Vec::with_capacity(nbytes.div_ceil(8));
        let mut chunks = bm.chunks_exact(8);
        for chunk in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            words.push(u64::from_le_bytes(a));
        }
        if !chunks.remainder().is_empty() {
            let mut a = [0u8; 8];
            a[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
            words.push(u64::from_le_bytes(a));
        }
        if let Some(last) = words.last_mut() {
            *last &= last_mask(bits);
        }
        let mut ranks = Vec::with_capacity(words.len().div_ceil(WORDS_PER_BLOCK));
        let mut count = 0u64;
        for block in words.chunks(WORDS_PER_BLOCK) {
            ranks.push(count);
            count += block.iter().map(|w| u64::from(w.count_ones())).sum::<u64>();
        }
        BitmapIndex {
            bits,
            first_page,
            words,
            ranks,
            present: count,
        }
    }

    /// File offset of page `pfn`.
    #[inline]
    pub(crate) fn lookup(&self, pfn: u64) -> Result<u64, ReadStatus> {
        if pfn >= self.bits {
            return Err(ReadStatus::OutOfRange);
        }
        let w = (pfn / 64) as usize;
        let (Some(&word), Some(&base)) = (self.words.get(w), self.ranks.get(w / WORDS_PER_BLOCK))
        else {
            return Err(ReadStatus::OutOfRange);
        };
        let bit = pfn % 64;
        if word & (1u64 << bit) == 0 {
            return Err(ReadStatus::NotInDump);
        }
        let block_start = w - w % WORDS_PER_BLOCK;
        let mut rank = base;
        for x in &self.words[block_start..w] {
            rank += u64::from(x.count_ones());
        }
        rank += u64::from((word & ((1u64 << bit) - 1)).count_ones());
        Ok(self.first_page + (rank << PAGE_SHIFT))
    }

    /// The present PFN ranges, in order.
    pub(crate) fn ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (w, &word) in self.words.iter().enumerate() {
            let mut v = word;
            while v != 0 {
                let pfn = w as u64 * 64 + u64::from(v.trailing_zeros());
                match out.last_mut() {
                    Some(last) if last.0.checked_add(last.1) == Some(pfn) => last.1 += 1,
                    _ => out.push((pfn, 1)),
                }
                v &= v - 1;
            }
        }
        out
    }
}

fn last_mask(bits: u64) -> u64 {
    match bits % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

/// How physical addresses map onto the file.
#[derive(Debug, Clone)]
pub(crate) enum PageMap {
    /// The container holds no physical memory (triage, header-only).
    Empty,
    /// Runs sorted by base PFN, not overlapping.
    Runs {
        runs: Vec<Run>,
        /// One past the highest PFN the machine has (for the out-of-range answer).
        limit_pfn: u64,
    },
    /// A bitmap with its rank index.
    Bitmap(BitmapIndex),
    /// Byte-granular segments sorted by address, not overlapping.
    Segments(Vec<Segment>),
}

impl PageMap {
    /// File offset of `pa` and how many bytes from there are contiguous in the file.
    #[inline]
    pub(crate) fn locate(&self, pa: u64) -> Result<(u64, u64), ReadStatus> {
        match self {
            PageMap::Empty => Err(ReadStatus::NotInDump),
            PageMap::Runs { runs, limit_pfn } => {
                let pfn = pa >> PAGE_SHIFT;
                let idx = runs.partition_point(|r| r.base_pfn <= pfn);
                if idx > 0 {
                    let r = &runs[idx - 1];
                    let k = pfn - r.base_pfn;
                    if k < r.pages {
                        let off = r.file_offset + (k << PAGE_SHIFT) + (pa & (PAGE_SIZE - 1));
                        let avail = ((r.pages - k) << PAGE_SHIFT) - (pa & (PAGE_SIZE - 1));
                        return Ok((off, avail));
                    }
                }
                if pfn < *limit_pfn {
                    Err(ReadStatus::NotInDump)
                } else {
                    Err(ReadStatus::OutOfRange)
                }
            }
            PageMap::Bitmap(ix) => {
                let off = ix.lookup(pa >> PAGE_SHIFT)?;
                let within = pa & (PAGE_SIZE - 1);
                Ok((off + within, PAGE_SIZE - within))
            }
            PageMap::Segments(segs) => {
                let idx = segs.partition_point(|s| s.pa <= pa);
                if idx > 0 {
                    let s = &segs[idx - 1];
                    let k = pa - s.pa;
                    if k < s.len {
                        return Ok((s.file_offset + k, s.len - k));
                    }
                }
                let end = segs.last().map_or(0, |s| s.pa.saturating_add(s.len));
                if pa < end.checked_next_multiple_of(PAGE_SIZE).unwrap_or(u64::MAX) {
                    Err(ReadStatus::NotInDump)
                } else {
                    Err(ReadStatus::OutOfRange)
                }
            }
        }
    }

    /// One past the highest physical address described.
    pub(crate) fn limit(&self) -> u64 {
        match self {
            PageMap::Empty => 0,
            PageMap::Runs { limit_pfn, .. } => limit_pfn.saturating_mul(PAGE_SIZE),
            PageMap::Bitmap(ix) => ix.bits.saturating_mul(PAGE_SIZE),
            PageMap::Segments(segs) => segs.last().map_or(0, |s| s.pa.saturating_add(s.len)),
        }
    }

    /// Present physical ranges as (first address, length in bytes).
    pub(crate) fn ranges(&self) -> Vec<(u64, u64)> {
        match self {
            PageMap::Empty => Vec::new(),
            PageMap::Runs { runs, .. } => {
                let mut v: Vec<(u64, u64)> = Vec::new();
                for r in runs {
                    // Runs come from the dump: a run that starts past the 64-bit address space has no
                    // address and is left out; a length past its end is clipped, never wrapped.
                    let Some(pa) = r.base_pfn.checked_mul(PAGE_SIZE) else {
                        continue;
                    };
                    let room = (u64::MAX - pa).saturating_add(1);
                    let len = r.pages.saturating_mul(PAGE_SIZE).min(room);
                    if len == 0 {
                        continue;
                    }
                    match v.last_mut() {
                        // `l.0 + l.1` is 2^64 for a range that ends the address space.
                        Some(l) if l.0.checked_add(l.1) == Some(pa) => {
                            l.1 = l.1.saturating_add(len)
                        }
                        _ => v.push((pa, len)),
                    }
                }
                v
            }
            PageMap::Bitmap(ix) => ix
                .ranges()
                .into_iter()
                .map(|(p, n)| (p << PAGE_SHIFT, n << PAGE_SHIFT))
                .collect(),
            PageMap::Segments(segs) => segs.iter().map(|s| (s.pa, s.len)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(bm: &[u8], bits: u64, pfn: u64) -> Option<u64> {
        let bit = |i: u64| bm[(i / 8) as usize] >> (i % 8) & 1 == 1;
        if pfn >= bits || !bit(pfn) {
            return None;
        }
        Some((0..pfn).filter(|&i| bit(i)).count() as u64)
    }

    #[test]
    fn rank_index_matches_a_naive_count() {
        // A patterned bitmap over 1234 bits (not a multiple of 8 or 64), past several blocks.
        let bits = 1234u64;
        let mut data = vec![0xAAu8; 7];
        let mut bm: Vec<u8> = (0..bits.div_ceil(8))
            .map(|i| (i as u8).wrapping_mul(37) ^ 0x5c)
            .collect();
        // garbage beyond the last bit must be ignored
        *bm.last_mut().unwrap() = 0xff;
        data.extend_from_slice(&bm);
        data.extend_from_slice(&[0xff; 16]);
        let ix = BitmapIndex::build(&data, 7, bits, 0x10000);
        let expect_present = (0..bits)
            .filter(|&i| bm[(i / 8) as usize] >> (i % 8) & 1 == 1)
            .count() as u64;
        assert_eq!(ix.present, expect_present);
        for pfn in 0..bits + 70 {
            let got = ix.lookup(pfn).ok();
            let want = naive(&bm, bits, pfn).map(|r| 0x10000 + r * 0x1000);
            assert_eq!(got, want, "pfn {pfn}");
        }
        assert_eq!(ix.lookup(bits), Err(ReadStatus::OutOfRange));
        let ranges = ix.ranges();
        assert_eq!(ranges.iter().map(|r| r.1).sum::<u64>(), expect_present);
    }

    #[test]
    fn runs_answer_not_in_dump_and_out_of_range() {
        let map = PageMap::Runs {
            runs: vec![
                Run {
                    base_pfn: 1,
                    pages: 2,
                    file_offset: 0x2000,
                },
                Run {
                    base_pfn: 0x10,
                    pages: 1,
                    file_offset: 0x4000,
                },
            ],
            limit_pfn: 0x11,
        };
        assert_eq!(map.locate(0x1008), Ok((0x2008, 0x1ff8)));
        assert_eq!(map.locate(0x2000), Ok((0x3000, 0x1000)));
        assert_eq!(map.locate(0x10fff), Ok((0x4fff, 1)));
        assert_eq!(map.locate(0), Err(ReadStatus::NotInDump));
        assert_eq!(map.locate(0x3000), Err(ReadStatus::NotInDump));
        assert_eq!(map.locate(0x11000), Err(ReadStatus::OutOfRange));
    }

    #[test]
    fn run_ranges_at_the_top_of_the_address_space_neither_overflow_nor_wrap() {
        let top_pfn = u64::MAX >> PAGE_SHIFT; // the last page: 0xffff_ffff_ffff_f000
        let map = PageMap::Runs {
            runs: vec![
                Run {
                    base_pfn: 1,
                    pages: 1,
                    file_offset: 0x1000,
                },
                Run {
                    base_pfn: 2,
                    pages: 1,
                    file_offset: 0x2000,
                },
                // Ends exactly at 2^64: `pa + len` of this range does not fit in a u64.
                Run {
                    base_pfn: top_pfn - 1,
                    pages: 2,
                    file_offset: 0x3000,
                },
                // Crafted: starts past the address space, and a length that would wrap.
                Run {
                    base_pfn: top_pfn + 1,
                    pages: u64::MAX,
                    file_offset: 0x5000,
                },
            ],
            limit_pfn: u64::MAX,
        };
        let last = (top_pfn - 1) << PAGE_SHIFT;
        assert_eq!(map.ranges(), vec![(0x1000, 0x2000), (last, 0x2000)]);
        // A length that would overflow is clipped to the end of the address space.
        let map = PageMap::Runs {
            runs: vec![Run {
                base_pfn: top_pfn,
                pages: u64::MAX,
                file_offset: 0,
            }],
            limit_pfn: u64::MAX,
        };
        assert_eq!(map.ranges(), vec![(top_pfn << PAGE_SHIFT, 0x1000)]);
    }
}
