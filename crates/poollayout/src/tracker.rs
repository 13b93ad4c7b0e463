//! `_POOL_TRACKER_TABLE` (`!poolused`) and `_POOL_TRACKER_BIG_PAGES` (big allocations) entries.

use crate::error::{Error, Result};
use crate::layout::{BigPageDetail, Layout};
use crate::pooltype::PoolType;
use crate::read::need;
use crate::tag::Tag;

/// One `_POOL_TRACKER_TABLE` entry, counters widened to `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackerEntry {
    /// `Key`: the tag (an entry with key 0 is unused).
    pub tag: Tag,
    /// `NonPagedAllocs`.
    pub nonpaged_allocs: u64,
    /// `NonPagedFrees`.
    pub nonpaged_frees: u64,
    /// `NonPagedBytes`.
    pub nonpaged_bytes: u64,
    /// `PagedAllocs`.
    pub paged_allocs: u64,
    /// `PagedFrees`.
    pub paged_frees: u64,
    /// `PagedBytes`.
    pub paged_bytes: u64,
}

impl TrackerEntry {
    /// Whether the slot is used (`Key != 0`, as Rekall and ReactOS test).
    pub const fn is_used(&self) -> bool {
        self.tag.0 != 0
    }
    /// Outstanding nonpaged allocations (`Allocs − Frees`, wrapping as WinDbg's unsigned arithmetic does).
    pub const fn nonpaged_outstanding(&self) -> u64 {
        self.nonpaged_allocs.wrapping_sub(self.nonpaged_frees)
    }
    /// Outstanding paged allocations.
    pub const fn paged_outstanding(&self) -> u64 {
        self.paged_allocs.wrapping_sub(self.paged_frees)
    }
}

/// One `_POOL_TRACKER_BIG_PAGES` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BigPageEntry {
    /// `Va` with bit 0 cleared.
    pub va: u64,
    /// `Va & 1`: the entry is free (vol3 `is_free`; ReactOS `POOL_BIG_TABLE_ENTRY_FREE`).
    pub free: bool,
    /// `Key`.
    pub tag: Tag,
    /// Size in bytes: `NumberOfBytes`, or `NumberOfPages × 4096` on XP / 2003.
    pub bytes: u64,
    /// `PoolType` (Vista+).
    pub pool_type: Option<PoolType>,
    /// `Pattern` (Windows 10+).
    pub pattern: Option<u8>,
    /// `SlushSize` (Windows 10+).
    pub slush_size: Option<u16>,
    /// `QuotaObject` (2003).
    pub quota_object: Option<u64>,
    /// `ProcessBilled` raw (x64 20348+).
    pub process_billed: Option<u64>,
}

impl BigPageEntry {
    /// An entry describing a live allocation: not free, key set, address non-zero.
    pub const fn is_live(&self) -> bool {
        !self.free && self.tag.0 != 0 && self.va != 0
    }
}

impl Layout {
    /// Decodes the tracker entry at the start of `bytes`.
    pub fn decode_tracker(&self, bytes: &[u8]) -> Result<TrackerEntry> {
        let t = self.tracker()?;
        need(bytes, 0, t.size, "_POOL_TRACKER_TABLE")?;
        let w = "_POOL_TRACKER_TABLE";
        Ok(TrackerEntry {
            tag: Tag(t.key.read(bytes, w)? as u32),
            nonpaged_allocs: t.nonpaged_allocs.read(bytes, w)?,
            nonpaged_frees: t.nonpaged_frees.read(bytes, w)?,
            nonpaged_bytes: t.nonpaged_bytes.read(bytes, w)?,
            paged_allocs: t.paged_allocs.read(bytes, w)?,
            paged_frees: t.paged_frees.read(bytes, w)?,
            paged_bytes: t.paged_bytes.read(bytes, w)?,
        })
    }

    /// The used entries of a whole tracker table (`bytes` = `count × size` bytes of `PoolTrackTable`,
    /// or of one `ExPoolTagTables[i]`). A short buffer yields the entries it holds, then the error.
    pub fn tracker_entries<'a>(
        &self,
        bytes: &'a [u8],
    ) -> impl Iterator<Item = Result<TrackerEntry>> + 'a {
        let layout = *self;
        let size = self.family().tracker.map_or(0, |t| t.size);
        let missing = (size == 0).then(|| self.missing("_POOL_TRACKER_TABLE"));
        let chunks = if size == 0 {
            [].chunks(1)
        } else {
            bytes.chunks(size)
        };
        missing.into_iter().map(Err).chain(
            chunks
                .map(move |c| layout.decode_tracker(c))
                .filter(|r| r.as_ref().map_or(true, TrackerEntry::is_used)),
        )
    }

    /// Decodes the big-page entry at the start of `bytes`.
    pub fn decode_big_page(&self, bytes: &[u8]) -> Result<BigPageEntry> {
        let b = self.big_pages()?;
        let w = "_POOL_TRACKER_BIG_PAGES";
        need(bytes, 0, b.size, w)?;
        let va = b.va.read(bytes, w)?;
        let mut e = BigPageEntry {
            va: va & !1,
            free: va & 1 != 0,
            tag: Tag(b.key.read(bytes, w)? as u32),
            process_billed: match b.process_billed {
                Some(f) => Some(f.read(bytes, w)?),
                None => None,
            },
            ..BigPageEntry::default()
        };
        match b.detail {
            BigPageDetail::Pages {
                number_of_pages,
                quota_object,
            } => {
                e.bytes = number_of_pages.read(bytes, w)?.saturating_mul(0x1000);
                if let Some(q) = quota_object {
                    e.quota_object = Some(q.read(bytes, w)?);
                }
            }
            BigPageDetail::PoolTypeBytes {
                pool_type,
                number_of_bytes,
            } => {
                e.pool_type = Some(PoolType(pool_type.read(bytes, w)? as u32));
                e.bytes = number_of_bytes.read(bytes, w)?;
            }
            BigPageDetail::Packed {
                bits,
                number_of_bytes,
            } => {
                // Pattern bits 0–7, PoolType bits 8–19, SlushSize bits 20–31 (PDB; vol3's JSON says 8–16, wrongly).
                let v = bits.read(bytes, w)? as u32;
                e.pattern = Some((v & 0xff) as u8);
                e.pool_type = Some(PoolType((v >> 8) & 0xfff));
                e.slush_size = Some((v >> 20) as u16);
                e.bytes = number_of_bytes.read(bytes, w)?;
            }
        }
        Ok(e)
    }

    /// Every entry of a big page table (`bytes` = `PoolBigPageTableSize × size` bytes), free ones included
    /// (filter with [`BigPageEntry::is_live`]).
    pub fn big_page_entries<'a>(
        &self,
        bytes: &'a [u8],
    ) -> impl Iterator<Item = Result<BigPageEntry>> + 'a {
        let layout = *self;
        let size = self.family().big_pages.map_or(0, |b| b.size);
        let missing = (size == 0).then(|| self.missing("_POOL_TRACKER_BIG_PAGES"));
        let chunks = if size == 0 {
            [].chunks(1)
        } else {
            bytes.chunks(size)
        };
        missing
            .into_iter()
            .map(Err)
            .chain(chunks.map(move |c| layout.decode_big_page(c)))
    }

    /// Checks a big page table's address and entry count as MemProcFS does (`vmmwinpool.c`): page aligned and
    /// at most 16 Mi bytes of table.
    pub fn check_big_page_table(&self, address: u64, entries: u64) -> Result<()> {
        let b = self.big_pages()?;
        let bytes = entries.saturating_mul(b.size as u64);
        if address & 0xfff != 0 || bytes > 0x100_0000 {
            return Err(Error::Invalid {
                what: "PoolBigPageTable",
                address,
                reason: format!(
                    "expected a page-aligned table of at most 16 MiB, got {entries} entries"
                ),
            });
        }
        Ok(())
    }
}
