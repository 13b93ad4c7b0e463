//! `!poolused 200`: the per-driver view. The tag rows `!poolused` built (with flag 0x100's image
//! candidates) are folded by [`poolreport::drivers::fold`] — the same fold `pooldbg diff --by driver`
//! uses, so the two views cannot disagree — and printed one line per driver, with the tags each
//! holds and how they were attributed; tags no source attributes stay in `<unattributed>`.

use plugin_sdk::{CommandError, Output};
use poollayout::TrackerEntry;
use poolreport::{DriverRow, PoolUsage};
use serde_json::{Map, Value, json};

use crate::poolused::{Sort, count_columns};

/// The most tags named on one text line (JSON lists them all).
const MAX_TEXT_TAGS: usize = 12;

fn entry(d: &DriverRow) -> TrackerEntry {
    TrackerEntry {
        nonpaged_allocs: d.raw[0],
        nonpaged_frees: d.raw[1],
        nonpaged_bytes: u64::try_from(d.counters.nonpaged_bytes).unwrap_or(0),
        paged_allocs: d.raw[2],
        paged_frees: d.raw[3],
        paged_bytes: u64::try_from(d.counters.paged_bytes).unwrap_or(0),
        ..TrackerEntry::default()
    }
}

/// Folds `tag_rows` into drivers: emits one row per driver into `out` (sorted as `sort` says), its
/// text lines into `text` (headers, drivers, TOTAL), and adds `drivers` and `unattributed` to the
/// summary `fields`.
pub fn emit(
    tag_rows: Vec<Value>,
    sort: Sort,
    verbose: bool,
    text: &mut Vec<String>,
    fields: &mut Map<String, Value>,
    out: &mut Output,
) -> Result<(), CommandError> {
    let usage = PoolUsage::from_json("!poolused", &json!({ "rows": tag_rows }))
        .map_err(|e| CommandError::msg(format!("driver view: {e}")))?;
    let mut drivers = poolreport::fold(&usage);
    match sort {
        Sort::Tag => {}
        Sort::NonPaged => drivers.sort_by(|a, b| {
            b.counters
                .nonpaged_bytes
                .cmp(&a.counters.nonpaged_bytes)
                .then(a.driver.cmp(&b.driver))
        }),
        Sort::Paged => drivers.sort_by(|a, b| {
            b.counters
                .paged_bytes
                .cmp(&a.counters.paged_bytes)
                .then(a.driver.cmp(&b.driver))
        }),
    }
    let w = drivers
        .iter()
        .map(|d| d.driver.len())
        .max()
        .unwrap_or(6)
        .clamp(6, 32);
    if verbose {
        text.push(format!(
            "{:w$}                 NonPaged                              Paged",
            ""
        ));
        text.push(format!(
            "{:<w$} {:>8} {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8} {:>8}  Tags",
            "Driver", "Allocs", "Frees", "Diff", "Used", "Allocs", "Frees", "Diff", "Used"
        ));
    } else {
        text.push(format!("{:w$}       NonPaged            Paged", ""));
        text.push(format!(
            "{:<w$}   Allocs     Used    Allocs     Used  Tags",
            "Driver"
        ));
    }
    let mut total = TrackerEntry::default();
    for d in &drivers {
        let e = entry(d);
        for (t, v) in [
            (&mut total.nonpaged_allocs, e.nonpaged_allocs),
            (&mut total.nonpaged_frees, e.nonpaged_frees),
            (&mut total.nonpaged_bytes, e.nonpaged_bytes),
            (&mut total.paged_allocs, e.paged_allocs),
            (&mut total.paged_frees, e.paged_frees),
            (&mut total.paged_bytes, e.paged_bytes),
        ] {
            *t = t.wrapping_add(v);
        }
        let mut tags: Vec<&str> = d
            .tags
            .iter()
            .take(MAX_TEXT_TAGS)
            .map(|t| t.0.as_str())
            .collect();
        let more = d.tags.len().saturating_sub(MAX_TEXT_TAGS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        tags.dedup();
        text.push(format!(
            "{:<w$} {}  {}{more} ({})",
            d.driver,
            count_columns(&e, verbose),
            tags.join(" "),
            d.attribution()
        ));
        out.row(json!({
            "driver": d.driver,
            "nonpaged_allocs": e.nonpaged_allocs,
            "nonpaged_frees": e.nonpaged_frees,
            "nonpaged_bytes": e.nonpaged_bytes,
            "paged_allocs": e.paged_allocs,
            "paged_frees": e.paged_frees,
            "paged_bytes": e.paged_bytes,
            "tags": d.tags.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
            "attribution": d.attribution(),
        }));
    }
    text.push(format!(
        "{:<w$} {}",
        "TOTAL",
        count_columns(&total, verbose)
    ));
    fields.insert("drivers".into(), json!(drivers.len()));
    let un = drivers
        .iter()
        .find(|d| d.driver == poolreport::UNATTRIBUTED);
    fields.insert(
        "unattributed".into(),
        json!({
            "tags": un.map_or(0, |d| d.tags.len()),
            "bytes": un.map_or(0, |d| d.counters.bytes()),
        }),
    );
    Ok(())
}
