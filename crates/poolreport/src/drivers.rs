//! The per-driver view: `!poolused` tag rows folded into the drivers that own them.
//!
//! A tag's driver is, in order:
//! 1. the owner column of pooltag.txt (`binary`), normalised to WinDbg's module name (`ntfs.sys` →
//!    `ntfs`, `nt!mm` → `nt`, the kernel image names → `nt`; Microsoft's pooltag.txt writes owners
//!    either as a file name or as `module!function`, docs/POOLTAG.md);
//! 2. for a tag no layer knows, the loaded driver images whose code holds the tag (`!poolused 100`'s
//!    image search): one image → that driver; several → one group named by all of them, marked
//!    ambiguous (the search cannot choose, so neither do we);
//! 3. otherwise [`UNATTRIBUTED`].
//!
//! Owners pooltag.txt writes as `<unknown>` or `<multiple>` carry no driver; alternatives (`a.sys or
//! b.sys`, `a.sys/b.sys`) that name different modules form one ambiguous group, like several images.

use std::collections::BTreeMap;

use crate::input::{Counters, PoolUsage, TagRow};

/// The group of tags no source attributes to a driver.
pub const UNATTRIBUTED: &str = "<unattributed>";

/// How a tag was attributed to its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attribution {
    /// pooltag.txt's owner column.
    Pooltag,
    /// The one driver image holding the tag.
    ImageSearch,
    /// Several owners or images: the group names them all.
    Ambiguous,
    /// No source.
    None,
}

impl Attribution {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            Attribution::Pooltag => "pooltag",
            Attribution::ImageSearch => "image search",
            Attribution::Ambiguous => "ambiguous",
            Attribution::None => "none",
        }
    }
}

/// WinDbg's module name for a file or owner name: the part before `!`, lowercased, the extension
/// of a driver image dropped, the kernel's image names (`ntoskrnl.exe`, `ntkrnlmp.exe`,
/// `ntkrnlpa.exe`, `ntkrpamp.exe`) as `nt`. `None` for an owner that names no module.
pub fn module_name(owner: &str) -> Option<String> {
    let s = owner
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let s = s
        .split('!')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if s.is_empty() || s == "unknown" || s == "multiple" || s.contains(' ') {
        return None;
    }
    let stem = match s.rsplit_once('.') {
        Some((stem, ext)) if matches!(ext, "sys" | "dll" | "exe") && !stem.is_empty() => {
            stem.to_string()
        }
        _ => s,
    };
    Some(match stem.as_str() {
        "ntoskrnl" | "ntkrnlmp" | "ntkrnlpa" | "ntkrpamp" => "nt".to_string(),
        _ => stem,
    })
}

/// The driver of one tag row and how it was found.
pub fn driver_of(row: &TagRow) -> (String, Attribution) {
    if let Some(b) = &row.binary {
        let mut names: Vec<String> = b
            .split(" or ")
            .flat_map(|p| p.split('/'))
            .filter_map(module_name)
            .collect();
        names.sort();
        names.dedup();
        match names.len() {
            0 => {}
            1 => return (names.swap_remove(0), Attribution::Pooltag),
            _ => return (names.join(" | "), Attribution::Ambiguous),
        }
    }
    if let Some(c) = &row.candidates {
        let mut names: Vec<String> = c.iter().filter_map(|h| module_name(&h.module)).collect();
        names.sort();
        names.dedup();
        match names.len() {
            0 => {}
            1 => return (names.swap_remove(0), Attribution::ImageSearch),
            _ => return (names.join(" | "), Attribution::Ambiguous),
        }
    }
    (UNATTRIBUTED.to_string(), Attribution::None)
}

/// One driver's pool use: its tags' counters summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverRow {
    /// The driver's module name, an ambiguous group `a | b`, or [`UNATTRIBUTED`].
    pub driver: String,
    /// Outstanding use, summed over its tags.
    pub counters: Counters,
    /// Raw tracker counters summed: nonpaged allocs, frees, paged allocs, frees.
    pub raw: [u64; 4],
    /// Its tags, in tag order, with how each was attributed.
    pub tags: Vec<(String, Attribution)>,
}

impl DriverRow {
    /// How its tags were attributed, each way once, joined with ` + ` (`pooltag + image search`).
    pub fn attribution(&self) -> String {
        let mut a: Vec<Attribution> = self.tags.iter().map(|t| t.1).collect();
        a.sort();
        a.dedup();
        a.iter().map(|a| a.name()).collect::<Vec<_>>().join(" + ")
    }
}

/// Folds a dump's tag rows into drivers, in driver-name order ([`UNATTRIBUTED`] last).
pub fn fold(usage: &PoolUsage) -> Vec<DriverRow> {
    let mut by: BTreeMap<String, DriverRow> = BTreeMap::new();
    for r in &usage.rows {
        let (driver, how) = driver_of(r);
        let d = by.entry(driver.clone()).or_insert_with(|| DriverRow {
            driver,
            counters: Counters::default(),
            raw: [0; 4],
            tags: Vec::new(),
        });
        d.counters.add(&r.counters);
        for (a, b) in d.raw.iter_mut().zip(r.raw) {
            *a = a.saturating_add(b);
        }
        d.tags.push((r.tag.clone(), how));
    }
    let mut rows: Vec<DriverRow> = by.into_values().collect();
    for r in &mut rows {
        r.tags.sort();
    }
    rows.sort_by_key(|r| (r.driver == UNATTRIBUTED, r.driver.clone()));
    rows
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::input::Candidate;

    fn row(tag: &str, binary: Option<&str>, images: Option<&[&str]>, np_bytes: i64) -> TagRow {
        TagRow {
            tag: tag.into(),
            counters: Counters {
                nonpaged_allocs: 1,
                nonpaged_bytes: np_bytes,
                ..Default::default()
            },
            raw: [1, 0, 0, 0],
            binary: binary.map(str::to_string),
            candidates: images.map(|m| {
                m.iter()
                    .map(|m| Candidate {
                        module: m.to_string(),
                        hits: 1,
                    })
                    .collect()
            }),
        }
    }

    #[test]
    fn module_names_as_windbg_writes_them() {
        assert_eq!(module_name("ntfs.sys").as_deref(), Some("ntfs"));
        assert_eq!(module_name("nt!mm").as_deref(), Some("nt"));
        assert_eq!(module_name("ntkrnlmp.exe").as_deref(), Some("nt"));
        assert_eq!(
            module_name("Win32kbase!HMAllocObjectEx").as_deref(),
            Some("win32kbase")
        );
        assert_eq!(module_name("<nvlddmkm.sys>").as_deref(), Some("nvlddmkm"));
        assert_eq!(module_name("<unknown>"), None);
        assert_eq!(module_name("<multiple>"), None);
        assert_eq!(module_name(""), None);
    }

    #[test]
    fn folds_by_owner_then_image_then_unattributed() {
        let u = PoolUsage {
            rows: vec![
                row("Ntfs", Some("ntfs.sys"), None, 0x100),
                row("NtFx", Some("ntfs.sys"), None, 0x20),
                row("MmSt", Some("nt!mm"), None, 0x10),
                row("Leak", None, Some(&["leaky.sys"]), 0x600),
                row("Twoo", None, Some(&["a.sys", "b.sys"]), 1),
                row("Rdyb", Some("nt!store or rdyboost.sys"), None, 2),
                row("Nobo", None, Some(&[]), 7),
                row("Unkn", Some("<unknown>"), None, 8),
            ],
            ..Default::default()
        };
        let f = fold(&u);
        let names: Vec<&str> = f.iter().map(|d| d.driver.as_str()).collect();
        assert_eq!(
            names,
            [
                "a | b",
                "leaky",
                "nt",
                "nt | rdyboost",
                "ntfs",
                UNATTRIBUTED
            ]
        );
        let ntfs = &f[4];
        assert_eq!(ntfs.counters.nonpaged_bytes, 0x120);
        assert_eq!(ntfs.tags.len(), 2);
        assert_eq!(f[1].attribution(), "image search");
        assert_eq!(f[0].attribution(), "ambiguous");
        assert_eq!(f[5].counters.nonpaged_bytes, 15);
        assert_eq!(f[5].attribution(), "none");
        // Every byte lands in exactly one driver.
        let total: i64 = f.iter().map(|d| d.counters.bytes()).sum();
        assert_eq!(
            total,
            u.rows.iter().map(|r| r.counters.bytes()).sum::<i64>()
        );
    }
}
