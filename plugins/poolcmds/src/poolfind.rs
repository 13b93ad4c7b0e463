//! `!poolfind tag [pooltype]`: the big page table, then every pool page, for blocks with a tag.

use plugin_sdk::{CommandError, Output, Target, hex};
use poollayout::{BlockState, PoolType};
use serde_json::{Map, json};

use crate::common::{addr, layout_of, no_more_args, number_or, tag_arg};
use crate::pool::block_line;
use crate::scan;

/// The usage line.
/// The columns of `!poolfind`'s rows, in order (docs/CONTRACT.md "Fields").
pub const COLUMNS: &[&str] = &["address", "size", "tag", "pool_type", "state", "source"];

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
    let (all_regions, region_warnings) = scan::regions(target, &layout);
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
                out.row(json!({
                    "address": hex(e.va),
                    "size": e.bytes,
                    "tag": e.tag.masked().to_string(),
                    "pool_type": pt.name(),
                    "state": "allocated",
                    "source": "big page table",
                }));
                out.line(format!(
                    "{} : tag {}, size {:#10x}, {} pool",
                    addr(&layout, e.va),
                    e.tag.masked(),
                    e.bytes,
                    if want_paged { "Paged" } else { "Nonpaged" }
                ));
            }
        }
        Err(e) => out.warn(format!("big page table not read: {e}")),
    }
    // The segment heap is found from nt!ExPoolState, not from the Mm*Pool ranges.
    if !layout.is_segment_heap() {
        for w in region_warnings {
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
        for r in &regions {
            out.line(format!(
                "Searching {} pool ({} : {}) for Tag: {}",
                r.name(),
                addr(&layout, r.start),
                addr(&layout, r.end),
                pattern.as_str()
            ));
            out.line(String::new());
            // Rows and lines go out as each chunk of pages is done: nothing is kept per block.
            let s = scan::scan_pages_each(
                target,
                &layout,
                std::slice::from_ref(r),
                &skip,
                &|b| pattern.matches(b.tag),
                &mut |b| {
                    found_scan += 1;
                    let allocated = b.block.state == BlockState::Allocated;
                    out.row(json!({
                        "address": hex(b.block.address),
                        "size": b.block.size,
                        "tag": b.block.tag.masked().to_string(),
                        "pool_type": if allocated { Some(scan::block_pool_type(&b).name()) } else { None },
                        "state": if allocated { "allocated" } else { "free" },
                        "source": "scan",
                    }));
                    out.line(block_line(&layout, &b.block, false));
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
    out.set_summary(serde_json::Value::Object(f));
    Ok(())
}
