//! `!bigpools [TAG]`: the live allocations of the big page table (`nt!PoolBigPageTable`), one row
//! each, in address order, with their tag, size and pool.
//!
//! Written as a plugin author outside the pooldbg repository would write it: everything that knows
//! the pool comes from the public library `pooldbg-commands` (the target's pool layout, the big page
//! table reader, the pool regions) and `pooldbg-poollayout` (tags, pool types). The crate holds no
//! pool structure of its own.

use pooldbg_commands::{common, scan};
use pooldbg_plugin_sdk::{Command, CommandError, Output, Target, hex};
use pooldbg_poollayout::Tag;
use serde_json::{Map, json};

/// The command.
#[derive(Debug, Clone, Copy, Default)]
pub struct BigPools;

/// The columns of a row, in order.
pub const COLUMNS: &[&str] = &["address", "size", "tag", "pool_type"];

/// `!bigpools [TAG]`.
pub const USAGE: &str = "!bigpools [TAG]   (TAG: Proc, Ip*, ?mDT or 0x636f7250)";

impl Command for BigPools {
    fn name(&self) -> &'static str {
        "bigpools"
    }
    fn summary(&self) -> &'static str {
        "live big-pool allocations (nt!PoolBigPageTable), by address"
    }
    fn usage(&self) -> &'static str {
        USAGE
    }
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        let mut words = args.split_whitespace();
        let pattern = words
            .next()
            .map(|w| common::tag_arg(w, USAGE))
            .transpose()?;
        common::no_more_args(words, USAGE)?;
        // The pool layout of this (architecture, build); refuses triage dumps and ARM64 with the reason.
        let layout = common::layout_of(target)?;
        let table = scan::big_table(target, &layout)?;
        // Where the table records no PoolType (XP / 2003), the region holding the address decides.
        let (regions, region_warnings) = scan::regions(target, &layout);
        let mut live: Vec<_> = table
            .live
            .iter()
            .filter(|e| pattern.as_ref().is_none_or(|p| p.matches(e.tag)))
            .collect();
        live.sort_by_key(|e| e.va);
        let mut bytes = 0u64;
        for e in &live {
            if target.is_cancelled() {
                return Err(CommandError::Cancelled);
            }
            let paged = scan::big_is_paged(e, &regions);
            bytes = bytes.saturating_add(e.bytes);
            out.row(json!({
                "address": hex(e.va),
                "size": e.bytes,
                "tag": Tag(e.tag.0).masked().to_string(),
                "pool_type": if paged { "PagedPool" } else { "NonPagedPool" },
            }));
        }
        if let Some(g) = &table.guessed {
            out.warn(g.clone());
        }
        if table.unreadable_pages > 0 {
            out.warn(format!(
                "{} page(s) of the big page table at {} could not be read: entries there are missing",
                table.unreadable_pages,
                hex(table.address)
            ));
        }
        if live.iter().any(|e| e.pool_type.is_none()) {
            for w in region_warnings {
                out.warn(w);
            }
        }
        let mut summary = Map::new();
        summary.insert("table".into(), json!(hex(table.address)));
        summary.insert("entries".into(), json!(table.entries));
        summary.insert("allocations".into(), json!(live.len()));
        summary.insert("bytes".into(), json!(bytes));
        out.set_summary(serde_json::Value::Object(summary));
        Ok(())
    }
}

pooldbg_plugin_sdk::export_plugin!(name: "bigpools", version: env!("CARGO_PKG_VERSION"), commands: [BigPools]);
