//! `_POOL_DESCRIPTOR` with its free-list heads, `_MM_PAGED_POOL_INFO`, and XP/2003 `_MMFREE_POOL_ENTRY`.

use crate::error::{Error, Result};
use crate::layout::{AllocationMap, DescriptorCounters, Layout};
use crate::pooltype::PoolType;
use crate::read::{Field, need, ptr_at};

/// A decoded `_POOL_DESCRIPTOR`, counters normalised to "in use".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolDescriptor {
    /// `PoolType`.
    pub pool_type: PoolType,
    /// `PoolIndex`.
    pub pool_index: u32,
    /// `RunningAllocs`.
    pub running_allocs: u64,
    /// `RunningDeAllocs`.
    pub running_deallocs: u64,
    /// Pages in use (`TotalPages`, or `PagesAllocated − PagesDeallocated` from 1607).
    pub pages: u64,
    /// Big pages in use.
    pub big_pages: u64,
    /// Bytes in use, when the version counts them.
    pub bytes: Option<u64>,
}

/// One free-list head of `_POOL_DESCRIPTOR.ListHeads[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListHead {
    /// Index `i`: the list holds free blocks of `i + 1` units.
    pub index: usize,
    /// Virtual address of this `LIST_ENTRY` (descriptor address + offset).
    pub address: u64,
    /// `Flink`, decoded ([`decode_pool_link`]).
    pub flink: u64,
    /// `Blink`, decoded.
    pub blink: u64,
}

impl ListHead {
    /// An empty list points at itself.
    pub const fn is_empty(&self) -> bool {
        self.flink == self.address
    }
}

/// Decodes a pool free-list link: Windows 7+ x64 stores `Link | 1` (`ExpEncodePoolLink`, ReactOS `expool.c`). A list
/// pointer is never odd, so bit 0 is always cleared.
pub const fn decode_pool_link(raw: u64) -> u64 {
    raw & !1
}

/// A decoded `_MM_PAGED_POOL_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PagedPoolInfo {
    /// XP / 2003: address of the `_RTL_BITMAP` of paged pool pages.
    pub allocation_map_pointer: Option<u64>,
    /// Vista+: the embedded bitmap's `SizeOfBitMap` (bits = pages).
    pub allocation_map_bits: Option<u64>,
    /// Vista+: the embedded bitmap's `Buffer`.
    pub allocation_map_buffer: Option<u64>,
    /// XP / 2003: address of `EndOfPagedPoolBitmap`.
    pub end_of_bitmap_pointer: Option<u64>,
    /// `FirstPteForPagedPool`.
    pub first_pte: Option<u64>,
    /// `PagedPoolHint`.
    pub hint: Option<u64>,
    /// `PagedPoolCommit` (pages).
    pub commit: Option<u64>,
    /// `MaximumSize`.
    pub maximum_size: Option<u64>,
    /// `AllocatedPagedPool` (pages).
    pub allocated: u64,
}

/// A decoded XP / 2003 `_MMFREE_POOL_ENTRY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FreePoolEntry {
    /// `List.Flink`.
    pub flink: u64,
    /// `List.Blink`.
    pub blink: u64,
    /// `Size`: pages in the free run.
    pub pages: u64,
    /// `Signature`.
    pub signature: u32,
    /// `Owner`.
    pub owner: u64,
}

fn opt(f: Option<Field>, bytes: &[u8], w: &'static str) -> Result<Option<u64>> {
    f.map(|f| f.read(bytes, w)).transpose()
}

impl Layout {
    /// Decodes a `_POOL_DESCRIPTOR` (the whole structure need not be present: only up to the counters).
    pub fn decode_descriptor(&self, bytes: &[u8]) -> Result<PoolDescriptor> {
        let d = self.descriptor()?;
        let w = "_POOL_DESCRIPTOR";
        let mut out = PoolDescriptor {
            pool_type: PoolType(d.pool_type.read(bytes, w)? as u32),
            pool_index: d.pool_index.read(bytes, w)? as u32,
            ..PoolDescriptor::default()
        };
        match d.counters {
            DescriptorCounters::Totals {
                running_allocs,
                running_deallocs,
                total_pages,
                total_big_pages,
                total_bytes,
            } => {
                out.running_allocs = running_allocs.read(bytes, w)?;
                out.running_deallocs = running_deallocs.read(bytes, w)?;
                out.pages = total_pages.read(bytes, w)?;
                out.big_pages = total_big_pages.read(bytes, w)?;
                out.bytes = opt(total_bytes, bytes, w)?;
            }
            DescriptorCounters::Split {
                running_allocs,
                running_deallocs,
                pages_allocated,
                pages_deallocated,
                big_pages_allocated,
                big_pages_deallocated,
                bytes_allocated,
                bytes_deallocated,
            } => {
                let sub = |a: Field, b: Field| -> Result<u64> {
                    Ok(a.read(bytes, w)?.wrapping_sub(b.read(bytes, w)?))
                };
                out.running_allocs = running_allocs.read(bytes, w)?;
                out.running_deallocs = running_deallocs.read(bytes, w)?;
                out.pages = sub(pages_allocated, pages_deallocated)?;
                out.big_pages = sub(big_pages_allocated, big_pages_deallocated)?;
                out.bytes = Some(sub(bytes_allocated, bytes_deallocated)?);
            }
        }
        Ok(out)
    }

    /// The free-list heads of a descriptor at `descriptor_address` (`bytes` from the descriptor's start,
    /// through the end of `ListHeads`). Fails on 19H1+, which has no lists.
    pub fn descriptor_list_heads(
        &self,
        bytes: &[u8],
        descriptor_address: u64,
    ) -> Result<Vec<ListHead>> {
        let d = self.descriptor()?;
        let (offset, count) = d
            .list_heads
            .ok_or(self.missing("_POOL_DESCRIPTOR.ListHeads"))?;
        let p = self.pointer_size();
        need(bytes, offset, count * 2 * p, "_POOL_DESCRIPTOR.ListHeads")?;
        (0..count)
            .map(|i| {
                let o = offset + i * 2 * p;
                Ok(ListHead {
                    index: i,
                    address: descriptor_address.wrapping_add(o as u64),
                    flink: decode_pool_link(ptr_at(bytes, o, p, "LIST_ENTRY.Flink")?),
                    blink: decode_pool_link(ptr_at(bytes, o + p, p, "LIST_ENTRY.Blink")?),
                })
            })
            .collect()
    }

    /// Size in bytes of the free blocks kept on `ListHeads[index]`: `(index + 1)` block units (`!frag`'s rows).
    pub const fn list_head_block_bytes(&self, index: usize) -> usize {
        (index + 1) * self.block_unit()
    }

    /// The `_POOL_HEADER` address of a free block reached through a (decoded) free-list link: the `LIST_ENTRY`
    /// of a free pool block sits right after its header (ReactOS `expool.c` `POOL_FREE_BLOCK`). Callers following
    /// a list read the header there, stop when the link returns to the list head, and bound the walk.
    pub const fn free_block_header(&self, link: u64) -> u64 {
        link.wrapping_sub(self.header_size() as u64)
    }

    /// Decodes `_MM_PAGED_POOL_INFO`.
    pub fn decode_paged_pool_info(&self, bytes: &[u8]) -> Result<PagedPoolInfo> {
        let l = self.paged_pool_info()?;
        let w = "_MM_PAGED_POOL_INFO";
        need(bytes, 0, l.size, w)?;
        let mut out = PagedPoolInfo {
            end_of_bitmap_pointer: opt(l.end_of_bitmap, bytes, w)?,
            first_pte: opt(l.first_pte, bytes, w)?,
            hint: opt(l.hint, bytes, w)?,
            commit: opt(l.commit, bytes, w)?,
            maximum_size: opt(l.maximum_size, bytes, w)?,
            allocated: l.allocated.read(bytes, w)?,
            ..PagedPoolInfo::default()
        };
        match l.allocation_map {
            Some(AllocationMap::Pointer(f)) => out.allocation_map_pointer = Some(f.read(bytes, w)?),
            Some(AllocationMap::Embedded {
                size_of_bitmap,
                buffer,
                ..
            }) => {
                out.allocation_map_bits = Some(size_of_bitmap.read(bytes, w)?);
                out.allocation_map_buffer = Some(buffer.read(bytes, w)?);
            }
            None => {}
        }
        Ok(out)
    }

    /// Decodes an XP / 2003 `_MMFREE_POOL_ENTRY` (the first bytes of a free nonpaged page run).
    pub fn decode_free_pool_entry(&self, bytes: &[u8]) -> Result<FreePoolEntry> {
        let l = self.free_pool_entry()?;
        let w = "_MMFREE_POOL_ENTRY";
        need(bytes, 0, l.size, w)?;
        Ok(FreePoolEntry {
            flink: l.flink.read(bytes, w)?,
            blink: l.blink.read(bytes, w)?,
            pages: l.size_pages.read(bytes, w)?,
            signature: l.signature.read(bytes, w)? as u32,
            owner: l.owner.read(bytes, w)?,
        })
    }

    /// Checks that a free run of `pages` pages starting at `address` is plausible (non-zero, below 4 Gi pages).
    pub fn check_free_run(&self, entry: &FreePoolEntry, address: u64) -> Result<()> {
        if entry.pages == 0 || entry.pages > u64::from(u32::MAX) {
            return Err(Error::Invalid {
                what: "_MMFREE_POOL_ENTRY",
                address,
                reason: format!("expected a non-zero page count, got {}", entry.pages),
            });
        }
        Ok(())
    }
}
