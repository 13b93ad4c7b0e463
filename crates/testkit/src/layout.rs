//! The pool plan: where every small block, big allocation and free page run goes, and what the
//! trackers and descriptors must count. Pure computation; `builder` writes the bytes.

use std::collections::BTreeMap;

use crate::builder::PoolKind;
use crate::manifest::PoolUsed;
use crate::memory::PAGE;
use crate::profile::Profile;

/// An allocation as the trackers count it: tag, pool, bytes, freed.
pub(crate) type Accounted = (u32, PoolKind, u64, bool);

/// A requested allocation.
#[derive(Debug, Clone)]
pub(crate) struct AllocSpec {
    pub tag: u32,
    pub size: u64,
    pub pool: PoolKind,
    pub freed: bool,
}

/// A small-pool block in its page.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub va: u64,
    pub units: u64,
    pub prev_units: u64,
    pub tag: u32,
    pub pool: PoolKind,
    pub free: bool,
    /// Index into the allocation list, for blocks that were allocations.
    pub spec: Option<usize>,
    pub on_list: bool,
    pub error: Option<String>,
}

/// A big allocation and its big-page-table slot.
#[derive(Debug, Clone)]
pub(crate) struct BigPlaced {
    pub va: u64,
    pub pages: u64,
    pub tag: u32,
    pub pool: PoolKind,
    pub freed: bool,
    pub slot: u64,
}

/// What a pool descriptor counts.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PoolTotals {
    pub small_pages: u64,
    pub big_pages: u64,
    pub freed_big_pages: u64,
    pub allocs: u64,
    pub frees: u64,
    pub bytes_out: u64,
    pub bytes_ever: u64,
    pub bytes_freed: u64,
}

/// The whole plan.
#[derive(Debug)]
pub(crate) struct PoolPlan {
    pub placed: Vec<Placed>,
    /// Nonpaged free page runs (va, pages, list index), XP/2003.
    pub free_runs: Vec<(u64, u64, u64)>,
    pub big_entries: u64,
    pub big_placed: Vec<BigPlaced>,
    /// [nonpaged, paged].
    pub totals: [PoolTotals; 2],
    /// Tracker contents per table ([0] global, then per processor).
    pub per_table: Vec<BTreeMap<u32, PoolUsed>>,
    pub track_entries: u64,
}

/// Lays the pool out: small blocks packed page by page (the page's tail a free block), freed
/// neighbours coalesced, then the nonpaged free page runs, then big allocations page-granular, and
/// the tracker accounting (allocation `i` goes to table `i % tables`).
pub(crate) fn plan(
    p: &Profile,
    specs: &[AllocSpec],
    bigs: &[AllocSpec],
    processors: u32,
    elsewhere: &[Accounted],
) -> PoolPlan {
    let hdr = p.header.header_size();
    let unit = p.header.unit();
    let ptr = p.arch.ptr_size();
    // ---- small-pool layout ------------------------------------------------------------------
    let mut placed: Vec<Placed> = Vec::new();
    let mut cursor = [p.va.nonpaged, p.va.paged];
    let mut totals = [PoolTotals::default(); 2];
    for pool in [PoolKind::NonPaged, PoolKind::Paged] {
        let pi = pool.index();
        let mut page_va = cursor[pi];
        let mut off = 0u64;
        let mut prev_units = 0u64;
        let mut any = false;
        let close = |placed: &mut Vec<Placed>, page_va: u64, off: u64, prev_units: u64| {
            if off < PAGE {
                placed.push(Placed {
                    va: page_va + off,
                    units: (PAGE - off) / unit,
                    prev_units,
                    tag: 0,
                    pool,
                    free: true,
                    spec: None,
                    on_list: false,
                    error: None,
                });
            }
        };
        for (i, a) in specs.iter().enumerate().filter(|(_, a)| a.pool == pool) {
            let units = (a.size + hdr).div_ceil(unit);
            if off + units * unit > PAGE {
                close(&mut placed, page_va, off, prev_units);
                page_va += PAGE;
                totals[pi].small_pages += 1;
                off = 0;
                prev_units = 0;
            }
            any = true;
            placed.push(Placed {
                va: page_va + off,
                units,
                prev_units,
                tag: a.tag,
                pool,
                free: a.freed,
                spec: Some(i),
                on_list: false,
                error: None,
            });
            off += units * unit;
            prev_units = units;
        }
        if any {
            close(&mut placed, page_va, off, prev_units);
            totals[pi].small_pages += 1;
            page_va += PAGE;
        }
        cursor[pi] = page_va;
    }
    // Every allocation as placed, before merging: what the trackers and descriptors count.
    // Allocations placed elsewhere (the segment heap's VS and LFH blocks) are counted first.
    let mut allocations: Vec<Accounted> = elsewhere.to_vec();
    allocations.extend(placed.iter().filter_map(|b| {
        b.spec
            .map(|i| (b.tag, b.pool, b.units * unit, specs[i].freed))
    }));
    // Coalesce neighbouring free blocks within a page (the pool merges them on free).
    let mut merged: Vec<Placed> = Vec::with_capacity(placed.len());
    for blk in placed {
        if let Some(last) = merged.last_mut()
            && last.free
            && blk.free
            && last.va / PAGE == blk.va / PAGE
            && last.va + last.units * unit == blk.va
        {
            last.units += blk.units;
            if last.tag == 0 {
                last.tag = blk.tag;
            }
            continue;
        }
        merged.push(blk);
    }
    // Fix PreviousSize after merging.
    for i in 0..merged.len() {
        let prev = if i > 0 && merged[i - 1].va / PAGE == merged[i].va / PAGE {
            merged[i - 1].units
        } else {
            0
        };
        merged[i].prev_units = prev;
    }
    let mut placed = merged;
    let min_list_units = (hdr + 2 * ptr).div_ceil(unit);
    for blk in placed.iter_mut() {
        blk.on_list = blk.free && blk.units >= min_list_units;
    }

    // ---- nonpaged free page runs (XP/2003) --------------------------------------------------
    let mut free_runs: Vec<(u64, u64, u64)> = Vec::new();
    if p.free_pool_entry.is_some() {
        for pages in [1u64, 3, 6] {
            let va = cursor[0];
            cursor[0] += pages * PAGE;
            free_runs.push((va, pages, pages.min(4) - 1));
        }
    }

    // ---- big allocations --------------------------------------------------------------------
    let big_entries = (bigs.len() as u64 * 4).next_power_of_two().max(64);
    let mut big_placed: Vec<BigPlaced> = Vec::new();
    let mut used_slots = std::collections::BTreeSet::new();
    for a in bigs {
        let pages = a.size.div_ceil(PAGE);
        let pi = a.pool.index();
        let va = cursor[pi];
        cursor[pi] += pages * PAGE;
        // PoolViewer's Win10 hash of the page number, linear probing (readers scan the table).
        let mut h = ((va >> 12) & 0xffff_ffff).wrapping_mul(0x9e5f);
        h ^= h >> 32;
        let mut slot = h & (big_entries - 1);
        while used_slots.contains(&slot) {
            slot = (slot + 1) & (big_entries - 1);
        }
        used_slots.insert(slot);
        let t = &mut totals[pi];
        t.allocs += 1;
        t.bytes_ever += pages * PAGE;
        if a.freed {
            t.frees += 1;
            t.freed_big_pages += pages;
            t.bytes_freed += pages * PAGE;
        } else {
            t.big_pages += pages;
            t.bytes_out += pages * PAGE;
        }
        big_placed.push(BigPlaced {
            va,
            pages,
            tag: a.tag,
            pool: a.pool,
            freed: a.freed,
            slot,
        });
    }
    for &(_, pool, bytes, freed) in &allocations {
        let t = &mut totals[pool.index()];
        t.allocs += 1;
        t.bytes_ever += bytes;
        if freed {
            t.frees += 1;
            t.bytes_freed += bytes;
        } else {
            t.bytes_out += bytes;
        }
    }

    // ---- trackers -------------------------------------------------------------------------
    // Accounting: each allocation (alloc + its free, if freed) goes to one table; with
    // per-processor tables, allocation i goes to table i % (processors + 1).
    let ntables = if p.per_processor_trackers {
        processors as usize + 1
    } else {
        1
    };
    let mut per_table: Vec<BTreeMap<u32, PoolUsed>> = vec![BTreeMap::new(); ntables];
    let mut k = 0usize;
    let mut account = |tag: u32, pool: PoolKind, bytes: u64, freed: bool| {
        let t = per_table[k % ntables].entry(tag).or_default();
        k += 1;
        match pool {
            PoolKind::NonPaged | PoolKind::NonPagedNx => {
                t.nonpaged_allocs += 1;
                if freed {
                    t.nonpaged_frees += 1;
                } else {
                    t.nonpaged_bytes += bytes;
                }
            }
            PoolKind::Paged => {
                t.paged_allocs += 1;
                if freed {
                    t.paged_frees += 1;
                } else {
                    t.paged_bytes += bytes;
                }
            }
        }
    };
    for &(tag, pool, bytes, freed) in &allocations {
        account(tag, pool, bytes, freed);
    }
    for bp in &big_placed {
        account(bp.tag, bp.pool, bp.pages * PAGE, bp.freed);
    }
    let ntags = per_table.iter().map(|t| t.len()).max().unwrap_or(0) as u64;
    let track_entries = (ntags * 4).next_power_of_two().max(256);

    PoolPlan {
        placed,
        free_runs,
        big_entries,
        big_placed,
        totals,
        per_table,
        track_entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tag: &[u8; 4], size: u64, pool: PoolKind, freed: bool) -> AllocSpec {
        AllocSpec {
            tag: u32::from_le_bytes(*tag),
            size,
            pool,
            freed,
        }
    }

    #[test]
    fn pages_fill_and_freed_neighbours_coalesce() {
        let p = crate::profile("win7sp1-x64").unwrap();
        // 0x70 + 16-byte header = 8 units of 16 bytes.
        let specs = [
            spec(b"AAAA", 0x70, PoolKind::NonPaged, false),
            spec(b"BBBB", 0x70, PoolKind::NonPaged, true),
            spec(b"CCCC", 0x70, PoolKind::NonPaged, true),
            spec(b"DDDD", 0x70, PoolKind::NonPaged, false),
        ];
        let plan = plan(p, &specs, &[], 2, &[]);
        let units: Vec<(u64, bool)> = plan.placed.iter().map(|b| (b.units, b.free)).collect();
        // A, B+C merged, D, then the page's tail.
        assert_eq!(units, vec![(8, false), (16, true), (8, false), (224, true)]);
        assert_eq!(plan.placed[2].prev_units, 16);
        assert_eq!(plan.placed.iter().map(|b| b.units).sum::<u64>(), 256);
        assert!(plan.placed[1].on_list && plan.placed[3].on_list);
        assert_eq!(plan.totals[0].allocs, 4);
        assert_eq!(plan.totals[0].frees, 2);
        assert_eq!(plan.totals[0].bytes_out, 2 * 0x80);
        assert_eq!(plan.totals[0].small_pages, 1);
        // Win7 keeps one tracker table.
        assert_eq!(plan.per_table.len(), 1);
    }

    #[test]
    fn a_block_that_does_not_fit_opens_a_page_and_per_processor_tables_share_the_counts() {
        let p = crate::profile("win10-1809-x64").unwrap();
        let specs: Vec<AllocSpec> = (0..3)
            .map(|_| spec(b"Big ", 0x700, PoolKind::Paged, false))
            .collect();
        let plan = plan(
            p,
            &specs,
            &[spec(b"Huge", 0x2001, PoolKind::Paged, false)],
            2,
            &[],
        );
        let pages: Vec<u64> = plan.placed.iter().map(|b| b.va & !0xfff).collect();
        assert_eq!(pages[0], pages[1]);
        assert_ne!(pages[1], pages[3], "the third block starts a new page");
        assert_eq!(plan.totals[1].small_pages, 2);
        assert_eq!(plan.big_placed[0].pages, 3);
        assert_eq!(plan.per_table.len(), 3);
        let allocs: u64 = plan
            .per_table
            .iter()
            .flat_map(|t| t.values())
            .map(|c| c.paged_allocs)
            .sum();
        assert_eq!(allocs, 4);
    }
}
