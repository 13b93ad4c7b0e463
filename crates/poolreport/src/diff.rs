//! The change in pool use between dumps of one machine: a pure function of two or more `!poolused`
//! results ([`PoolUsage`]), per tag or per driver ([`By`]), per pool type, sorted by growth.
//!
//! Allocations are the outstanding ones (allocs − frees, the `Diff` column of WinDbg's verbose
//! `!poolused`), bytes the bytes in use; a key missing from a dump counts as zero there. The delta is
//! newest − oldest. With more than two dumps each row has a trend, and the summary lists the keys
//! whose bytes only grow (never fall from one dump to the next and end higher).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::drivers;
use crate::input::{Counters, PoolUsage};

/// What rows are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    /// Pool tags.
    #[default]
    Tag,
    /// Owning drivers ([`drivers::fold`]).
    Driver,
}

impl By {
    /// `tag` or `driver` (the key's field name).
    pub fn name(self) -> &'static str {
        match self {
            By::Tag => "tag",
            By::Driver => "driver",
        }
    }

    /// Parses `tag` or `driver`.
    pub fn parse(s: &str) -> Option<By> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tag" | "tags" => Some(By::Tag),
            "driver" | "drivers" => Some(By::Driver),
            _ => None,
        }
    }
}

/// How a key's bytes moved across the dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Absent from the oldest dump, present in the newest.
    Appears,
    /// Present in the oldest dump, absent from the newest.
    Gone,
    /// Three or more dumps: bytes never fell and ended higher.
    OnlyGrows,
    /// Three or more dumps: bytes never rose and ended lower.
    OnlyShrinks,
    /// Bytes ended higher.
    Grows,
    /// Bytes ended lower.
    Shrinks,
    /// Bytes and allocations ended where they started.
    Flat,
}

impl Trend {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            Trend::Appears => "appears",
            Trend::Gone => "gone",
            Trend::OnlyGrows => "only grows",
            Trend::OnlyShrinks => "only shrinks",
            Trend::Grows => "grows",
            Trend::Shrinks => "shrinks",
            Trend::Flat => "flat",
        }
    }
}

/// One key's use in every dump, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// The tag or driver.
    pub key: String,
    /// Per dump: the counters, `None` where the key is absent.
    pub series: Vec<Option<Counters>>,
    /// Newest − oldest (absent counts as zero).
    pub delta: Counters,
    /// The trend.
    pub trend: Trend,
    /// By driver: the tags folded into this driver (in any dump). By tag: empty.
    pub tags: Vec<String>,
    /// By driver: how it was attributed (newest dump holding it). By tag: the owner column.
    pub owner: Option<String>,
}

/// A diff of two or more `!poolused` results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Keyed by tag or by driver.
    pub by: By,
    /// The inputs' labels, oldest first.
    pub labels: Vec<String>,
    /// The inputs' builds.
    pub builds: Vec<Option<u64>>,
    /// The inputs' counter sources (`tracker tables`, `scan`).
    pub sources: Vec<Option<String>>,
    /// Rows, most growth first.
    pub rows: Vec<DiffRow>,
    /// Totals per dump.
    pub totals: Vec<Counters>,
    /// What the reader must know (builds differ, sources differ, inputs' own warnings).
    pub warnings: Vec<String>,
}

/// Why no diff could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiffError {
    /// Fewer than two results.
    TooFew(usize),
}

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiffError::TooFew(n) => {
                write!(f, "a diff needs two or more `!poolused` results, got {n}")
            }
        }
    }
}

impl std::error::Error for DiffError {}

/// A key's per-dump counters, the tags folded into it, and its owner, while the diff is built.
type Entry = (Vec<Option<Counters>>, Vec<String>, Option<String>);

fn trend(series: &[Option<Counters>]) -> Trend {
    let first = series.first().copied().flatten();
    let last = series.last().copied().flatten();
    match (first, last) {
        (None, Some(_)) => return Trend::Appears,
        (Some(_), None) => return Trend::Gone,
        _ => {}
    }
    let f = first.unwrap_or_default();
    let l = last.unwrap_or_default();
    let bytes: Vec<i64> = series
        .iter()
        .map(|c| c.unwrap_or_default().bytes())
        .collect();
    let never_falls = bytes.windows(2).all(|w| w[1] >= w[0]);
    let never_rises = bytes.windows(2).all(|w| w[1] <= w[0]);
    let many = series.len() > 2;
    if l.bytes() > f.bytes() {
        if many && never_falls {
            Trend::OnlyGrows
        } else {
            Trend::Grows
        }
    } else if l.bytes() < f.bytes() {
        if many && never_rises {
            Trend::OnlyShrinks
        } else {
            Trend::Shrinks
        }
    } else if l.allocs() > f.allocs() {
        Trend::Grows
    } else if l.allocs() < f.allocs() {
        Trend::Shrinks
    } else {
        Trend::Flat
    }
}

/// Diffs `inputs` (oldest first) by tag or by driver.
pub fn diff(inputs: &[PoolUsage], by: By) -> Result<Diff, DiffError> {
    if inputs.len() < 2 {
        return Err(DiffError::TooFew(inputs.len()));
    }
    let n = inputs.len();
    let mut warnings = Vec::new();
    let builds: Vec<Option<u64>> = inputs.iter().map(|u| u.build).collect();
    let known: Vec<u64> = builds.iter().flatten().copied().collect();
    if known.windows(2).any(|w| w[0] != w[1]) {
        let list: Vec<String> = known.iter().map(u64::to_string).collect();
        warnings.push(format!(
            "the dumps are of different builds ({}): compared by tag anyway; a tag's meaning and the \
             kernel's own allocations may differ between builds",
            list.join(", ")
        ));
    }
    let sources: Vec<Option<String>> = inputs.iter().map(|u| u.source.clone()).collect();
    let known_sources: Vec<&String> = sources.iter().flatten().collect();
    if known_sources.windows(2).any(|w| w[0] != w[1]) {
        let list: Vec<&str> = known_sources.iter().map(|s| s.as_str()).collect();
        warnings.push(format!(
            "the counters come from different sources ({}): a scan counts the blocks it finds, the \
             tracker tables count every allocation; part of the change may be the method",
            list.join(", ")
        ));
    }
    for u in inputs {
        for w in &u.warnings {
            warnings.push(format!("{}: {w}", u.label));
        }
    }
    // key -> (series, tags, owner)
    let mut table: BTreeMap<String, Entry> = BTreeMap::new();
    let mut totals = vec![Counters::default(); n];
    for (i, u) in inputs.iter().enumerate() {
        let mut put = |key: &str, c: Counters, tags: Vec<String>, owner: Option<String>| {
            let e = table
                .entry(key.to_string())
                .or_insert_with(|| (vec![None; n], Vec::new(), None));
            let slot = e.0[i].get_or_insert_with(Counters::default);
            slot.add(&c);
            e.1.extend(tags);
            if owner.is_some() {
                e.2 = owner;
            }
            totals[i].add(&c);
        };
        match by {
            By::Tag => {
                for r in &u.rows {
                    put(&r.tag, r.counters, Vec::new(), r.binary.clone());
                }
            }
            By::Driver => {
                for d in drivers::fold(u) {
                    let attribution = d.attribution();
                    put(
                        &d.driver,
                        d.counters,
                        d.tags.into_iter().map(|t| t.0).collect(),
                        Some(attribution),
                    );
                }
            }
        }
    }
    let mut rows: Vec<DiffRow> = table
        .into_iter()
        .map(|(key, (series, mut tags, owner))| {
            tags.sort();
            tags.dedup();
            let first = series.first().copied().flatten().unwrap_or_default();
            let last = series.last().copied().flatten().unwrap_or_default();
            DiffRow {
                trend: trend(&series),
                delta: last.minus(&first),
                key,
                series,
                tags,
                owner,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.delta
            .bytes()
            .cmp(&a.delta.bytes())
            .then(b.delta.allocs().cmp(&a.delta.allocs()))
            .then(a.key.cmp(&b.key))
    });
    Ok(Diff {
        by,
        labels: inputs.iter().map(|u| u.label.clone()).collect(),
        builds,
        sources,
        rows,
        totals,
        warnings,
    })
}

fn per_dump(series: &[Option<Counters>], f: fn(&Counters) -> i64) -> Value {
    Value::Array(
        series
            .iter()
            .map(|c| json!(f(&c.unwrap_or_default())))
            .collect(),
    )
}

impl Diff {
    /// The rows as JSON (CONTRACT.md `diff`): the key (`tag` or `driver`), the four deltas, `bytes_delta`,
    /// `trend`, per-dump arrays of the four counters (oldest first), and `binary` (by tag) or
    /// `tags` and `attribution` (by driver).
    pub fn rows_json(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert(self.by.name().into(), json!(r.key));
                m.insert(
                    "nonpaged_allocs_delta".into(),
                    json!(r.delta.nonpaged_allocs),
                );
                m.insert("nonpaged_bytes_delta".into(), json!(r.delta.nonpaged_bytes));
                m.insert("paged_allocs_delta".into(), json!(r.delta.paged_allocs));
                m.insert("paged_bytes_delta".into(), json!(r.delta.paged_bytes));
                m.insert("bytes_delta".into(), json!(r.delta.bytes()));
                m.insert("trend".into(), json!(r.trend.name()));
                m.insert(
                    "nonpaged_allocs".into(),
                    per_dump(&r.series, |c| c.nonpaged_allocs),
                );
                m.insert(
                    "nonpaged_bytes".into(),
                    per_dump(&r.series, |c| c.nonpaged_bytes),
                );
                m.insert(
                    "paged_allocs".into(),
                    per_dump(&r.series, |c| c.paged_allocs),
                );
                m.insert("paged_bytes".into(), per_dump(&r.series, |c| c.paged_bytes));
                match self.by {
                    By::Tag => {
                        m.insert("binary".into(), json!(r.owner));
                    }
                    By::Driver => {
                        m.insert("tags".into(), json!(r.tags));
                        m.insert("attribution".into(), json!(r.owner));
                    }
                }
                Value::Object(m)
            })
            .collect()
    }

    /// Keys whose bytes only grow (three or more dumps) — or, with two dumps, that grow.
    pub fn growing(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| match self.labels.len() {
                2 => matches!(r.trend, Trend::Grows | Trend::Appears),
                _ => r.trend == Trend::OnlyGrows,
            })
            .map(|r| r.key.as_str())
            .collect()
    }

    /// The summary object: `by`, `dumps` (label, build, source, totals), `same_build`, `only_grows`
    /// (three or more dumps), `total_delta`, and `text` (the text layout's lines).
    pub fn summary_json(&self) -> Value {
        let dumps: Vec<Value> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let t = self.totals[i];
                json!({"label": l, "build": self.builds[i], "source": self.sources[i],
                       "nonpaged_allocs": t.nonpaged_allocs, "nonpaged_bytes": t.nonpaged_bytes,
                       "paged_allocs": t.paged_allocs, "paged_bytes": t.paged_bytes})
            })
            .collect();
        let known: Vec<u64> = self.builds.iter().flatten().copied().collect();
        let first = self.totals.first().copied().unwrap_or_default();
        let last = self.totals.last().copied().unwrap_or_default();
        let d = last.minus(&first);
        let mut s = json!({
            "by": self.by.name(),
            "dumps": dumps,
            "same_build": known.windows(2).all(|w| w[0] == w[1]),
            "total_delta": {"nonpaged_allocs": d.nonpaged_allocs, "nonpaged_bytes": d.nonpaged_bytes,
                             "paged_allocs": d.paged_allocs, "paged_bytes": d.paged_bytes},
            "text": self.text(),
        });
        if self.labels.len() > 2 {
            s["only_grows"] = json!(self.growing());
        }
        s
    }

    /// The text layout: one line per key with signed deltas, then TOTAL; with more than two dumps
    /// the bytes in each dump and the only-growing keys.
    pub fn text(&self) -> Vec<String> {
        let n = self.labels.len();
        let mut t = Vec::new();
        t.push(format!(
            "  Pool use change by {} across {n} dumps (oldest first):",
            self.by.name()
        ));
        for (i, l) in self.labels.iter().enumerate() {
            let b = self.builds[i]
                .map(|b| format!("build {b}"))
                .unwrap_or_else(|| "build ?".into());
            t.push(format!("    [{i}] {l} ({b})"));
        }
        t.push("   Sorting by  growth (bytes)".into());
        t.push(String::new());
        let w = match self.by {
            By::Tag => 4,
            By::Driver => self
                .rows
                .iter()
                .map(|r| r.key.len())
                .max()
                .unwrap_or(6)
                .clamp(6, 24),
        };
        let head = if self.by == By::Tag { "Tag" } else { "Driver" };
        let mut h = format!(
            "{head:<w$}  {:>9} {:>12}  {:>9} {:>12}  {:<12}",
            "NP Allocs", "NP Bytes", "P Allocs", "P Bytes", "Trend"
        );
        if n > 2 {
            h.push_str("  Bytes per dump");
        }
        t.push(h);
        for r in &self.rows {
            let mut line = format!(
                "{:<w$}  {:>+9} {:>+12}  {:>+9} {:>+12}  {:<12}",
                r.key,
                r.delta.nonpaged_allocs,
                r.delta.nonpaged_bytes,
                r.delta.paged_allocs,
                r.delta.paged_bytes,
                r.trend.name()
            );
            if n > 2 {
                let s: Vec<String> = r
                    .series
                    .iter()
                    .map(|c| c.map_or_else(|| "-".to_string(), |c| c.bytes().to_string()))
                    .collect();
                line.push_str("  ");
                line.push_str(&s.join(" "));
            }
            if self.by == By::Driver && !r.tags.is_empty() {
                line.push_str(&format!("  [{}]", r.tags.join(",")));
            }
            t.push(line.trim_end().to_string());
        }
        let first = self.totals.first().copied().unwrap_or_default();
        let last = self.totals.last().copied().unwrap_or_default();
        let d = last.minus(&first);
        t.push(format!(
            "{:<w$}  {:>+9} {:>+12}  {:>+9} {:>+12}",
            "TOTAL", d.nonpaged_allocs, d.nonpaged_bytes, d.paged_allocs, d.paged_bytes
        ));
        if n > 2 {
            let g = self.growing();
            t.push(String::new());
            t.push(if g.is_empty() {
                "  No key only grows.".into()
            } else {
                format!("  Only growing ({}): {}", g.len(), g.join(", "))
            });
        }
        t
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::input::TagRow;

    fn usage(label: &str, build: u64, rows: &[(&str, i64, i64)]) -> PoolUsage {
        PoolUsage {
            label: label.into(),
            build: Some(build),
            source: Some("tracker tables".into()),
            rows: rows
                .iter()
                .map(|&(tag, allocs, bytes)| TagRow {
                    tag: tag.into(),
                    counters: Counters {
                        nonpaged_allocs: allocs,
                        nonpaged_bytes: bytes,
                        ..Default::default()
                    },
                    raw: [allocs as u64, 0, 0, 0],
                    binary: None,
                    candidates: None,
                })
                .collect(),
            warnings: vec![],
        }
    }

    #[test]
    fn two_dumps_sorted_by_growth() {
        let a = usage(
            "a",
            7601,
            &[("Leak", 2, 0x100), ("Shrk", 5, 0x500), ("Same", 1, 8)],
        );
        let b = usage(
            "b",
            7601,
            &[
                ("Leak", 9, 0x900),
                ("Shrk", 1, 0x100),
                ("Same", 1, 8),
                ("Newt", 3, 0x30),
            ],
        );
        let d = diff(&[a, b], By::Tag).unwrap();
        let keys: Vec<&str> = d.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["Leak", "Newt", "Same", "Shrk"]);
        assert_eq!(d.rows[0].delta.nonpaged_bytes, 0x800);
        assert_eq!(d.rows[0].delta.nonpaged_allocs, 7);
        assert_eq!(d.rows[1].trend, Trend::Appears);
        assert_eq!(d.rows[2].trend, Trend::Flat);
        assert_eq!(d.rows[3].trend, Trend::Shrinks);
        assert_eq!(d.rows[3].delta.nonpaged_bytes, -0x400);
        assert!(d.warnings.is_empty());
        let j = d.rows_json();
        assert_eq!(j[0]["nonpaged_bytes"], json!([0x100, 0x900]));
        assert_eq!(j[1]["nonpaged_allocs"], json!([0, 3]));
    }

    #[test]
    fn trends_across_three_dumps_and_different_builds() {
        let a = usage(
            "a",
            7601,
            &[("Up  ", 1, 10), ("Wave", 1, 10), ("Down", 3, 30)],
        );
        let b = usage(
            "b",
            7601,
            &[("Up  ", 2, 20), ("Wave", 1, 5), ("Down", 2, 20)],
        );
        let c = usage("c", 9600, &[("Up  ", 2, 20), ("Wave", 2, 20)]);
        let d = diff(&[a, b, c], By::Tag).unwrap();
        let t = |k: &str| d.rows.iter().find(|r| r.key == k).unwrap().trend;
        assert_eq!(t("Up  "), Trend::OnlyGrows);
        assert_eq!(t("Wave"), Trend::Grows);
        assert_eq!(t("Down"), Trend::Gone);
        assert_eq!(d.growing(), ["Up  "]);
        assert!(
            d.warnings[0].contains("different builds (7601, 7601, 9600)"),
            "{:?}",
            d.warnings
        );
        assert_eq!(d.summary_json()["same_build"], json!(false));
        assert_eq!(d.summary_json()["only_grows"], json!(["Up  "]));
        assert!(diff(&d_one(), By::Tag).is_err());
    }

    fn d_one() -> Vec<PoolUsage> {
        vec![usage("x", 1, &[])]
    }
}
