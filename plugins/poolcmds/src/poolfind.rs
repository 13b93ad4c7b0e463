//! `!poolfind tag [pooltype]`: the big page table, then every pool page, for blocks with a tag.

use plugin_sdk::{CommandError, Output, Target};
use poollayout::{BlockState, Layout, PoolType, WalkedBlock};
use serde::Serialize;
use serde_json::{Map, json};

use crate::common::{addr, layout_of, no_more_args, number_or, ser_hex, ser_state, tag_arg};
use crate::pool::block_text;
use crate::scan;

plugin_sdk::row! {
    /// One block `!poolfind` found (docs/CONTRACT.md "Fields"): a big allocation or a block of a
    /// scanned pool page. Its WinDbg line is [`FoundRow::text`] ([`FoundRow::big_text`]).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct FoundRow {
        /// The block's header address (`0x…`; a big allocation's first byte).
        #[serde(serialize_with = "ser_hex")]
        pub address: u64,
        /// Its size in bytes.
        pub size: u64,
        /// The tag (protected bit masked).
        pub tag: String,
        /// The pool type of an allocated block, when known.
        pub pool_type: Option<&'static str>,
        /// `allocated` or `free`.
        #[serde(serialize_with = "ser_state")]
        pub state: BlockState,
        /// `big page table` or `scan`.
        pub source: &'static str,
        /// Segment heap only: the subsegment's allocator (`lfh`, `vs`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub kind: Option<&'static str>,
    }
}

impl FoundRow {
    /// The row of a block found by a scan (`source`); `pool_type` is kept for an allocated block.
    pub fn block(b: &WalkedBlock, pool_type: Option<PoolType>, source: &'static str) -> FoundRow {
        let allocated = b.state == BlockState::Allocated;
        FoundRow {
            address: b.address,
            size: b.size as u64,
            tag: b.tag.masked().to_string(),
            pool_type: pool_type.filter(|_| allocated).map(PoolType::name),
            state: b.state,
            source,
            kind: None,
        }
    }

    /// WinDbg's block line for a scanned block ([`crate::pool::block_text`], never marked), with
    /// the header's previous size, which the row does not carry.
    pub fn text(&self, layout: &Layout, previous_size: u64) -> String {
        block_text(
            layout,
            self.address,
            self.size,
            previous_size,
            self.state,
            &self.tag,
            false,
        )
    }

    /// WinDbg's line for a big allocation: `ffffe000… : tag Leak, size     0x2000, Nonpaged pool`.
    pub fn big_text(&self, layout: &Layout, paged: bool) -> String {
        format!(
            "{} : tag {}, size {:#10x}, {} pool",
            addr(layout, self.address),
            self.tag,
            self.size,
            if paged { "Paged" } else { "Nonpaged" }
        )
    }
}

/// The columns of `!poolfind`'s rows, in order ([`FoundRow`]).
pub fn columns() -> &'static [&'static str] {
    plugin_sdk::columns_of::<FoundRow>()
}

/// The usage line.
pub const USAGE: &str = "!poolfind TAG [POOLTYPE]  (TAG: 4 characters with * and ?, or 0xVALUE; POOLTYPE: 0 nonpaged (default), 1 paged)";

/// Runs `!poolfind` on `target` with kd's argument string.
pub fn run(target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
    let mut it = args.split_whitespace();
    let pattern = it
        .next()
        .ok_or_else(|| CommandError::Usage(USAGE.into()))
        .and_then(|t| tag_arg(t, USAGE))?;
    let pool_type = number_or(it.next(), 0, USAGE)?;
    no_more_args(it, USAGE)?;
    let want_paged = match pool_type {
        0 => false,
        1 => true,
        2 => {
            return Err(CommandError::msg(
                "special pool (pool type 2) is not modelled by pooldbg",
            ));
        }
        4 => {
            return Err(CommandError::msg(
                "session pool (pool type 4) search is not implemented",
            ));
        }
        other => {
            return Err(CommandError::Usage(format!(
                "unknown pool type {other:x}; {USAGE}"
            )));
        }
    };
    let layout = layout_of(target)?;
    // The established ranges, and the kernel's system VA searched by headers for a pool whose
    // range is not established (issue #18).
    let (all_regions, region_warnings, by_headers) = scan::search_regions(target, &layout);
    let regions: Vec<scan::Region> = all_regions
        .iter()
        .filter(|r| r.paged == want_paged)
        .cloned()
        .collect();
    let mut found_big = 0usize;
    let mut skip = Vec::new();
    let mut readable_something = false;
    match scan::big_table(target, &layout) {
        Ok(bt) => {
            if let Some(note) = &bt.guessed {
                out.warn(note.clone());
            }
            readable_something =
                bt.unreadable_pages * 0x1000 < (bt.entries * bt.entry_size) as usize;
            out.line(format!(
                "Scanning large pool allocation table for tag {} ({} : {})",
                pattern.as_str(),
                addr(&layout, bt.address),
                addr(&layout, bt.address + bt.entries * bt.entry_size)
            ));
            skip = bt.live.iter().map(|e| (e.va, e.bytes)).collect();
            for e in &bt.live {
                if !pattern.matches(e.tag) || scan::big_is_paged(e, &all_regions) != want_paged {
                    continue;
                }
                let pt = e.pool_type.unwrap_or(if want_paged {
                    PoolType::PAGED
                } else {
                    PoolType::NON_PAGED
                });
                found_big += 1;
                let row = FoundRow {
                    address: e.va,
                    size: e.bytes,
                    tag: e.tag.masked().to_string(),
                    pool_type: Some(pt.name()),
                    state: BlockState::Allocated,
                    source: "big page table",
                    kind: None,
                };
                out.emit(&row);
                out.line(row.big_text(&layout, want_paged));
            }
        }
        Err(e) => out.warn(format!("big page table not read: {e}")),
    }
    // The segment heap is found from nt!ExPoolState, not from the Mm*Pool ranges.
    // The note of a pool searched by headers is said for the pool searched only.
    if !layout.is_segment_heap() {
        for w in region_warnings {
            if by_headers
                .iter()
                .any(|h| h.paged != want_paged && h.note == w)
            {
                continue;
            }
            out.warn(w);
        }
    }
    let mut found_scan = 0usize;
    let mut page_tables: Option<plugin_sdk::PageCounts> = None;
    let mut scanned_pages = 0u64;
    if layout.is_segment_heap() {
        let f = crate::segheap::poolfind(target, &layout, &pattern, want_paged, &skip, out)?;
        found_scan += f.blocks;
        scanned_pages += f.pages;
        readable_something |= f.pages > 0;
    } else {
        // Each established region alone; the system VA searched by headers as one group (its
        // pieces around the established regions), so its lines come once.
        let mut groups: Vec<Vec<scan::Region>> = regions
            .iter()
            .filter(|r| !r.by_headers)
            .map(|r| vec![r.clone()])
            .collect();
        let system_va: Vec<scan::Region> =
            regions.iter().filter(|r| r.by_headers).cloned().collect();
        if !system_va.is_empty() {
            groups.push(system_va);
        }
        for group in &groups {
            let r = &group[0];
            match by_headers
                .iter()
                .find(|h| r.by_headers && h.paged == r.paged)
            {
                Some(h) => out.line(format!(
                    "Searching {} pool (by pool headers, system VA {} : {}) for Tag: {}",
                    r.name(),
                    addr(&layout, h.start),
                    addr(&layout, h.end),
                    pattern.as_str()
                )),
                None => out.line(format!(
                    "Searching {} pool ({} : {}) for Tag: {}",
                    r.name(),
                    addr(&layout, r.start),
                    addr(&layout, r.end),
                    pattern.as_str()
                )),
            }
            out.line(String::new());
            // Rows and lines go out as each chunk of pages is done: nothing is kept per block.
            let s = scan::scan_pages_each(
                target,
                &layout,
                group,
                &skip,
                &|b| pattern.matches(b.tag),
                &mut |b| {
                    found_scan += 1;
                    let row = FoundRow::block(&b.block, Some(scan::block_pool_type(&b)), "scan");
                    out.emit(&row);
                    out.line(row.text(&layout, b.block.previous_size as u64));
                },
            )?;
            scanned_pages += s.pool_pages;
            if let Some(c) = &s.page_tables {
                page_tables.get_or_insert_with(Default::default).add(c);
            }
            if let Some(line) = s.classification() {
                out.warn(format!("{} pool: {line}", r.name()));
            }
            if s.pool_pages > 0 {
                readable_something = true;
            }
            if s.unreadable_pages > 0 {
                out.warn(format!(
                    "{} pool: {} page(s) could not be read (not in the dump or paged out)",
                    r.name(),
                    s.unreadable_pages
                ));
            }
        }
    }
    if !readable_something {
        return Err(CommandError::msg(
            "this dump holds no readable pool: neither the big page table nor any pool page could be read",
        ));
    }
    let mut f = Map::new();
    f.insert("tag".into(), json!(pattern.as_str()));
    f.insert(
        "pool".into(),
        json!(if want_paged { "paged" } else { "nonpaged" }),
    );
    f.insert("big_page_table_matches".into(), json!(found_big));
    f.insert("scan_matches".into(), json!(found_scan));
    f.insert("pool_pages_scanned".into(), json!(scanned_pages));
    // How the page tables classified the searched regions' pages (absent: every page was read).
    if let Some(c) = page_tables {
        f.insert(
            "page_tables".into(),
            json!({
                "present": c.present(), "valid": c.valid, "transition": c.transition,
                "large": c.large, "paged_out": c.paged_out, "demand_zero": c.demand_zero,
                "prototype": c.prototype, "not_mapped": c.absent,
                "table_not_in_dump": c.table_not_in_dump, "bad": c.bad,
            }),
        );
    }
    // Which pool was searched by headers over the system VA instead of its range, and why.
    let searched: Vec<_> = by_headers
        .iter()
        .filter(|h| h.paged == want_paged && !layout.is_segment_heap())
        .map(|h| {
            json!({
                "pool": if h.paged { "paged" } else { "nonpaged" },
                "start": format!("{:#x}", h.start), "end": format!("{:#x}", h.end),
                "note": h.note, "by": h.by,
            })
        })
        .collect();
    if !searched.is_empty() {
        f.insert("classified".into(), json!(searched));
    }
    out.set_summary(serde_json::Value::Object(f));
    Ok(())
}
