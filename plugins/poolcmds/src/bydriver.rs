//! `!poolused 200`: the per-driver view. The tag rows `!poolused` built (with flag 0x100's image
//! candidates) are folded by [`poolreport::drivers::fold`] — the same fold `pooldbg diff --by driver`
//! uses, so the two views cannot disagree — and printed one line per driver, with the tags each
//! holds and how they were attributed; tags no source attributes stay in `<unattributed>`.

use plugin_sdk::{CommandError, Output};
use poollayout::TrackerEntry;
use poolreport::PoolUsage;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::poolused::{Sort, TagRow, count_columns};

/// The most tags named on one text line (JSON lists them all).
const MAX_TEXT_TAGS: usize = 12;

plugin_sdk::row! {
    /// One driver's row of `!poolused 200`: the counters of the tags attributed to it, summed.
    /// Its WinDbg line is [`DriverRow::text`].
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct DriverRow {
        /// The driver's module name, an ambiguous group `a | b`, or `<unattributed>`.
        pub driver: String,
        /// `NonPagedAllocs`, summed.
        pub nonpaged_allocs: u64,
        /// `NonPagedFrees`, summed.
        pub nonpaged_frees: u64,
        /// `NonPagedBytes`, summed.
        pub nonpaged_bytes: u64,
        /// `PagedAllocs`, summed.
        pub paged_allocs: u64,
        /// `PagedFrees`, summed.
        pub paged_frees: u64,
        /// `PagedBytes`, summed.
        pub paged_bytes: u64,
        /// Its tags, in tag order.
        pub tags: Vec<String>,
        /// How its tags were attributed (`pooltag + image search`).
        pub attribution: String,
    }
}

impl DriverRow {
    fn new(d: &poolreport::DriverRow) -> DriverRow {
        DriverRow {
            driver: d.driver.clone(),
            nonpaged_allocs: d.raw[0],
            nonpaged_frees: d.raw[1],
            nonpaged_bytes: u64::try_from(d.counters.nonpaged_bytes).unwrap_or(0),
            paged_allocs: d.raw[2],
            paged_frees: d.raw[3],
            paged_bytes: u64::try_from(d.counters.paged_bytes).unwrap_or(0),
            tags: d.tags.iter().map(|t| t.0.clone()).collect(),
            attribution: d.attribution(),
        }
    }

    /// The row's counters as a tracker entry (for the text's count columns).
    pub fn counters(&self) -> TrackerEntry {
        TrackerEntry {
            nonpaged_allocs: self.nonpaged_allocs,
            nonpaged_frees: self.nonpaged_frees,
            nonpaged_bytes: self.nonpaged_bytes,
            paged_allocs: self.paged_allocs,
            paged_frees: self.paged_frees,
            paged_bytes: self.paged_bytes,
            ..TrackerEntry::default()
        }
    }

    /// WinDbg-style line: the driver padded to `width`, the counts, at most `MAX_TEXT_TAGS` (12)
    /// tags (the rest counted) and the attribution.
    pub fn text(&self, width: usize, verbose: bool) -> String {
        let mut tags: Vec<&str> = self
            .tags
            .iter()
            .take(MAX_TEXT_TAGS)
            .map(String::as_str)
            .collect();
        let more = self.tags.len().saturating_sub(MAX_TEXT_TAGS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        tags.dedup();
        format!(
            "{:<width$} {}  {}{more} ({})",
            self.driver,
            count_columns(&self.counters(), verbose),
            tags.join(" "),
            self.attribution
        )
    }
}

/// Folds `tag_rows` into drivers: emits one row per driver into `out` (sorted as `sort` says), its
/// text lines into `text` (headers, drivers, TOTAL), and adds `drivers` and `unattributed` to the
/// summary `fields`.
pub fn emit(
    tag_rows: Vec<TagRow>,
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
        let row = DriverRow::new(d);
        let e = row.counters();
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
        text.push(row.text(w, verbose));
        out.emit(&row);
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
