//! The pages of a virtual range that are backed by RAM, found by walking the range's page tables
//! (PML4E → PDPTE → PDE → PTE) instead of translating every page: an absent (or unreadable,
//! paged-out, demand-zero) entry at a high level skips everything it covers in one step, so the
//! cost follows the tables present, not the range's span.
//!
//! Rules (the same as [`AddressSpace::translate`], which this reuses entry by entry): a valid
//! entry with the large-page bit maps a 2 MiB / 4 MiB / 1 GiB page (Intel SDM vol. 3A §4.5, PS
//! bit); a transition entry is still in RAM and is read, as WinDbg's `!pte` and `.pagein` docs
//! describe; paged-out, demand-zero and prototype entries have no page in the dump and are
//! counted, not listed.

use crate::{AddressSpace, Mode, PhysicalMemory, TranslateFault};

/// A stretch of consecutive present pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentRun {
    /// First byte (page-aligned).
    pub va: u64,
    /// Length in bytes (a multiple of 0x1000).
    pub len: u64,
}

impl PresentRun {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.va.saturating_add(self.len)
    }
}

/// How the 4 KiB pages of a walked range were classified (each page counted once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Present through a valid 4 KiB PTE.
    pub valid: u64,
    /// Present through a transition PTE (in RAM, invalid): listed as present.
    pub transition: u64,
    /// Present inside a large page (2 MiB, 4 MiB or 1 GiB), counted in 4 KiB pages.
    pub large: u64,
    /// In a paging file (the PTE, or a page table above it, is paged out).
    pub paged_out: u64,
    /// Committed but never touched (demand zero).
    pub demand_zero: u64,
    /// Governed by a prototype PTE.
    pub prototype: u64,
    /// Not mapped: a zero entry at some level (an absent table skips all it covers).
    pub absent: u64,
    /// Under a page table the dump does not hold.
    pub table_not_in_dump: u64,
    /// Under a bad entry (a large-page bit where the level has none, a table loop) or a
    /// non-canonical address.
    pub bad: u64,
}

impl PageCounts {
    /// Pages listed as present (valid, transition, large).
    pub fn present(&self) -> u64 {
        self.valid
            .saturating_add(self.transition)
            .saturating_add(self.large)
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &PageCounts) {
        let pairs = [
            (&mut self.valid, other.valid),
            (&mut self.transition, other.transition),
            (&mut self.large, other.large),
            (&mut self.paged_out, other.paged_out),
            (&mut self.demand_zero, other.demand_zero),
            (&mut self.prototype, other.prototype),
            (&mut self.absent, other.absent),
            (&mut self.table_not_in_dump, other.table_not_in_dump),
            (&mut self.bad, other.bad),
        ];
        for (a, b) in pairs {
            *a = a.saturating_add(b);
        }
    }
}

/// What one call of [`AddressSpace::present_runs`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeWalk {
    /// Present stretches in address order, adjacent ones merged.
    pub runs: Vec<PresentRun>,
    /// How the pages of `[start, next)` were classified.
    pub counts: PageCounts,
    /// Where the walk stopped: the range's end when complete, else where to resume (the run or
    /// step budget was reached).
    pub next: u64,
}

/// Entries visited per call at most (each visit is one walk of at most `levels` entry reads).
pub const MAX_STEPS: u64 = 1 << 20;

/// Bytes covered by one entry at `level` (1 = PTE), or `None` above the top.
fn span(mode: Mode, level: u8) -> Option<u64> {
    if level == 0 || level > mode.levels() {
        return None;
    }
    let l = u32::from(level - 1);
    Some(match mode {
        Mode::X86 => 0x1000u64 << (10 * l),
        _ => 0x1000u64 << (9 * l),
    })
}

/// The next multiple of `span` above `va` (saturating at `u64::MAX`).
fn next_boundary(va: u64, span: u64) -> u64 {
    (va & !(span - 1)).saturating_add(span)
}

impl<M: PhysicalMemory> AddressSpace<M> {
    /// The present pages of `[start, end)` (page-aligned down/up), as merged runs, and how every
    /// page of the walked part was classified. At most `max_runs` runs (at least 1) and
    /// [`MAX_STEPS`] entries are visited per call; [`RangeWalk::next`] says where to resume. A
    /// reversed or empty range gives no runs and `next == end`.
    pub fn present_runs(&self, start: u64, end: u64, max_runs: usize) -> RangeWalk {
        let max_runs = max_runs.max(1);
        let mode = self.cfg.mode;
        let mut out = RangeWalk::default();
        let mut va = start & !0xfff;
        let end_aligned = if end & 0xfff == 0 {
            end
        } else {
            (end & !0xfff).saturating_add(0x1000)
        };
        if va >= end_aligned {
            out.next = end;
            return out;
        }
        // The page table of the last 4 KiB translation and the 2/4 MiB region it maps.
        let mut leaf: Option<(u64, u64)> = None;
        let pt_span = span(mode, 2).unwrap_or(0x20_0000);
        let mut steps = 0u64;
        while va < end_aligned {
            if steps >= MAX_STEPS {
                out.next = va;
                return out;
            }
            steps += 1;
            let cached =
                leaf.and_then(|(region, pt)| (va & !(pt_span - 1) == region).then_some(pt));
            let mut reached = None;
            let result = self.walk_inner(va, None, cached, &mut reached);
            // The next address to look at, and how the pages up to it count.
            let (next, present) = match result {
                Ok(t) => {
                    if t.page_size == 0x1000
                        && let Some(pt) = reached
                    {
                        leaf = Some((va & !(pt_span - 1), pt));
                    }
                    (next_boundary(va, t.page_size.max(0x1000)), Some(t))
                }
                Err(f) => {
                    leaf = None;
                    let level = fault_level(&f);
                    let skip_level = match f {
                        // The entry could not be read: its whole table is missing.
                        TranslateFault::TableNotInDump { level, .. } => level + 1,
                        _ => level,
                    };
                    let next = match span(mode, skip_level) {
                        Some(s) => next_boundary(va, s),
                        None => end_aligned,
                    };
                    let pages =
                        (next.min(end_aligned).max(va.saturating_add(0x1000)) - va) / 0x1000;
                    let c = &mut out.counts;
                    let slot = match f {
                        TranslateFault::NotPresent { .. } => &mut c.absent,
                        TranslateFault::DemandZero { .. } => &mut c.demand_zero,
                        TranslateFault::PagedOut { .. } => &mut c.paged_out,
                        TranslateFault::Prototype { .. } => &mut c.prototype,
                        TranslateFault::TableNotInDump { .. } => &mut c.table_not_in_dump,
                        TranslateFault::BadEntry { .. }
                        | TranslateFault::Loop { .. }
                        | TranslateFault::NonCanonical { .. } => &mut c.bad,
                    };
                    *slot = slot.saturating_add(pages);
                    (next, None)
                }
            };
            let stop = next.min(end_aligned).max(va.saturating_add(0x1000));
            if let Some(t) = present {
                let pages = (stop - va) / 0x1000;
                let c = &mut out.counts;
                let slot = if t.page_size > 0x1000 {
                    &mut c.large
                } else if t.transition {
                    &mut c.transition
                } else {
                    &mut c.valid
                };
                *slot = slot.saturating_add(pages);
                match out.runs.last_mut() {
                    Some(last) if last.end() == va => last.len += stop - va,
                    _ => {
                        if out.runs.len() >= max_runs {
                            // Undo the count: this page is walked again on resumption.
                            *slot -= pages;
                            out.next = va;
                            return out;
                        }
                        out.runs.push(PresentRun { va, len: stop - va });
                    }
                }
            }
            if stop <= va {
                break;
            }
            va = stop;
        }
        out.next = end;
        out
    }
}

/// The level a fault happened at (the top for a non-canonical address).
fn fault_level(f: &TranslateFault) -> u8 {
    match *f {
        TranslateFault::NonCanonical { .. } => u8::MAX,
        TranslateFault::NotPresent { level, .. }
        | TranslateFault::DemandZero { level, .. }
        | TranslateFault::PagedOut { level, .. }
        | TranslateFault::Prototype { level, .. }
        | TranslateFault::TableNotInDump { level, .. }
        | TranslateFault::BadEntry { level, .. }
        | TranslateFault::Loop { level, .. } => level,
    }
}
