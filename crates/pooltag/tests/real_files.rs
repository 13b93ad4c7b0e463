//! The parser over the four real pooltag.txt copies in ../shared/data/pooltag (read in place, never
//! copied), and the embedded database checked against them.

// Test helpers outside `#[test]` functions panic on purpose: a failed read is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use pooldbg_pooltag::{Parsed, Source, Tag, TagDb, TagLookup, WarningKind, parse_bytes};

const SDK: &str = "data/pooltag/windows-sdk-10.0.25967/pooltag.txt";
const V2: &str = "data/pooltag/poolmonxv2-2020/pooltag.txt";
const V1: &str = "data/pooltag/poolmonx-2018/pooltag.txt";
const RK: &str = "data/pooltag/rktools-2003/pooltag.txt";

fn read(rel: &str) -> Option<Vec<u8>> {
    let path = testdata::require(rel)?;
    Some(std::fs::read(path).unwrap())
}

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

/// The SDK copy: 5,010 lines; 22 comment lines, blank lines, 4,605 entries and 10 malformed lines.
///
/// An independent count (docs/POOLTAG.md) gives 4,604 entries and 11 malformed lines. The 4,615
/// lines that are neither blank nor comments split here as 4,605 + 10: the eight
/// `ATmp - AppTag ...`-style lines (138-145: a tag and a description, no binary), the indented
/// continuation `       <unknown>` (876) and the free-text `QUIC Allocation tags are Qc00 through
/// QcFF` (2661). That count's one extra malformed line is most likely one of: the final 0x1A byte (here an end-of-file mark, not a line), or `ReMo` taken
/// for a `rem` comment (here a tag, as it must be) — either moves one line from entries to malformed.
#[test]
fn sdk_copy_entries_and_malformed_lines() {
    let Some(bytes) = read(SDK) else { return };
    assert_eq!(bytes.last(), Some(&0x1a));
    let p = parse_bytes(&bytes);
    assert_eq!(p.entries.len(), 4605);
    let bad: Vec<(u32, WarningKind)> = p.warnings.iter().map(|w| (w.line, w.kind)).collect();
    let mut want: Vec<(u32, WarningKind)> =
        (138..=145).map(|l| (l, WarningKind::NoBinary)).collect();
    want.push((876, WarningKind::Indented));
    want.push((2661, WarningKind::NoSeparator));
    assert_eq!(bad, want);
    assert!(p.warnings[0].text.starts_with("ATmp - AppTag"));

    // Distinct tag columns, wildcards and repeats, against the independent count (docs/POOLTAG.md).
    let mut count: HashMap<String, usize> = HashMap::new();
    for e in &p.entries {
        *count.entry(e.pattern.to_string()).or_default() += 1;
    }
    // 4,550 raw columns: `PX1 ` (line 2589) and `PX1` (line 2620) are one padded tag.
    assert_eq!(count.len(), 4549);
    assert_eq!(count.keys().filter(|k| k.contains('?')).count(), 90);
    assert_eq!(count.keys().filter(|k| k.contains('*')).count(), 9);
    // 55 in the independent count, plus `PX1` once its two spellings are one tag.
    assert_eq!(count.values().filter(|&&n| n > 1).count(), 56);
    // Tags that differ only in case: groups of distinct columns equal under ASCII case folding.
    let mut folded: HashMap<String, HashSet<&String>> = HashMap::new();
    for k in count.keys() {
        folded.entry(k.to_ascii_lowercase()).or_default().insert(k);
    }
    assert_eq!(folded.values().filter(|s| s.len() > 1).count(), 305);
}

#[test]
fn sdk_copy_known_entries() {
    let Some(bytes) = read(SDK) else { return };
    let db = TagDb::from_bytes(Source::File(SDK.into()), &bytes);
    let owners = |t: &str| -> Vec<(String, u32)> {
        db.lookup(tag(t))
            .map(|e| (e.binary.clone(), e.line))
            .collect()
    };
    // `ReMo` is a tag, not a `rem` comment.
    assert_eq!(owners("ReMo"), [("refs.sys".to_string(), 2903)]);
    let remo = db.lookup(tag("ReMo")).next().unwrap();
    assert_eq!(remo.description, "Mount.c");
    // A wildcard: `Afd?` names every AFD tag the file does not list exactly.
    assert_eq!(owners("AfdZ"), [("afd.sys".to_string(), 57)]);
    assert!(db.lookup(tag("AfdZ")).all(|e| e.pattern.is_wildcard()));
    // `Npf*` matches any tag that starts with Npf.
    assert_eq!(owners("Npfx")[0].0, "npfs.sys");
    // A repeated tag with two owners, in file order.
    assert_eq!(
        owners("Irps"),
        [("nt!vf".to_string(), 1168), ("nt!io".to_string(), 1172)]
    );
    // Short tags are padded; case matters.
    assert_eq!(
        owners("PX1"),
        [
            ("<unknown>".to_string(), 2589),
            ("ndproxy.sys".to_string(), 2620)
        ]
    );
    assert_eq!(owners("I4e")[0].0, "tcpip.sys");
    // Owners of every shape are kept verbatim.
    let all: HashSet<&str> = db.entries().iter().map(|e| e.binary.as_str()).collect();
    for b in [
        "<unknown>",
        "<multiple>",
        "nt!mm",
        "nt!store or rdyboost.sys",
    ] {
        assert!(all.contains(b), "{b}");
    }
    // Descriptions with " - " inside are kept whole (60 in the notes).
    let dashed = db
        .entries()
        .iter()
        .filter(|e| e.description.contains(" - "))
        .count();
    assert_eq!(dashed, 60);
}

#[test]
fn crlf_copy_parses_the_same() {
    let Some(bytes) = read(SDK) else { return };
    let mut crlf = Vec::with_capacity(bytes.len() + 6000);
    for &b in &bytes {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    assert_eq!(parse_bytes(&crlf), parse_bytes(&bytes));
}

fn summary(p: &Parsed) -> (usize, Vec<(u32, WarningKind)>) {
    (
        p.entries.len(),
        p.warnings.iter().map(|w| (w.line, w.kind)).collect(),
    )
}

#[test]
fn older_copies() {
    for (rel, entries, warnings) in [
        // Lines 136-143: the `ATmp - AppTag ...` lines; 636: `EtwO - nt!etw  Etw ...` lacks a separator.
        (
            V2,
            4299,
            [136, 137, 138, 139, 140, 141, 142, 143, 636]
                .map(|l| (l, WarningKind::NoBinary))
                .to_vec(),
        ),
        (
            V1,
            4003,
            (136..=143).map(|l| (l, WarningKind::NoBinary)).collect(),
        ),
        // The 2003 copy has no 0x1A byte and an indented continuation line (349); its line 185
        // `CMAl - nt!cm        -internal ...` lacks the blank after the second dash and is read.
        (RK, 1754, vec![(349, WarningKind::Indented)]),
    ] {
        let Some(bytes) = read(rel) else { return };
        let p = parse_bytes(&bytes);
        assert_eq!(summary(&p), (entries, warnings), "{rel}");
        let db = TagDb::new(Source::Embedded, p);
        assert_eq!(db.lookup(tag("AfdQ")).next().unwrap().binary, "afd.sys");
        if rel == RK {
            assert_eq!(db.lookup(tag("CMAl")).next().unwrap().binary, "nt!cm");
        }
    }
}

#[test]
fn embedded_database_reads_clean_and_is_large() {
    let db = TagDb::embedded();
    assert!(db.warnings().is_empty(), "{:?}", db.warnings());
    let tags: HashSet<String> = db.entries().iter().map(|e| e.pattern.to_string()).collect();
    assert!(tags.len() >= 1000, "{}", tags.len());
    // No descriptions at all: the facts are tag -> binary only.
    assert!(db.entries().iter().all(|e| e.description.is_empty()));
    // `<unknown>` only for a tag with no named owner: it is then the tag's one line.
    for e in db.entries().iter().filter(|e| e.binary == "<unknown>") {
        let owners: Vec<_> = db
            .entries()
            .iter()
            .filter(|o| o.pattern == e.pattern)
            .collect();
        assert_eq!(owners.len(), 1, "line {}: {:?}", e.line, e.pattern);
    }
    // Kernel object tags are known, their binary is not named by any copy.
    assert_eq!(db.lookup(tag("Irp")).next().unwrap().binary, "<unknown>");
    assert_eq!(db.lookup(tag("File")).next().unwrap().binary, "<unknown>");
    // The header names where the facts come from.
    let head: String = pooldbg_pooltag::EMBEDDED_POOLTAG.lines().take(20).collect();
    assert!(head.contains("Windows SDK 10.0.25967"), "{head}");
    assert!(head.contains("derive_embedded"), "{head}");
    assert_eq!(db.lookup(tag("ReMo")).next().unwrap().binary, "refs.sys");
    let irps: Vec<_> = db.lookup(tag("Irps")).map(|e| e.binary.as_str()).collect();
    assert_eq!(irps, ["nt!vf", "nt!io"]);
}

/// Every fact of the embedded file is the owner column of a real copy, for the same tag column.
#[test]
fn embedded_facts_come_from_the_real_files() {
    let mut known: HashSet<(String, String)> = HashSet::new();
    let mut descriptions: HashSet<String> = HashSet::new();
    for rel in [SDK, V2, V1, RK] {
        let Some(bytes) = read(rel) else { return };
        for e in parse_bytes(&bytes).entries {
            known.insert((e.pattern.to_string(), e.binary));
            descriptions.insert(e.description);
        }
    }
    let db = TagDb::embedded();
    for e in db.entries() {
        let key = (e.pattern.to_string(), e.binary.clone());
        assert!(
            known.contains(&key),
            "line {}: {key:?} is in no real copy",
            e.line
        );
    }
    // And no line of the embedded file carries a real description.
    for line in pooldbg_pooltag::EMBEDDED_POOLTAG.lines() {
        let Some((_, rest)) = line.split_once(" - ") else {
            continue;
        };
        let Some((_, desc)) = rest.split_once(" - ") else {
            continue;
        };
        assert!(
            desc.trim().is_empty() || !descriptions.contains(desc.trim()),
            "{line}"
        );
    }
}

#[test]
fn sdk_file_over_the_embedded_layer() {
    let Some(path) = testdata::require(SDK) else {
        return;
    };
    let opts = pooldbg_pooltag::LoadOptions {
        files: vec![path.clone()],
        env: None,
        windbg: pooldbg_pooltag::WinDbgSearch::Off,
        embedded: true,
    };
    let (lookup, notes) = TagLookup::load(&opts).unwrap();
    assert_eq!(notes.len(), 10, "{notes:?}");
    let a = lookup.lookup(tag("ReMo")).unwrap();
    assert_eq!(a.source(), &Source::File(path));
    // `Irp ` is `<unknown>` in the SDK file: still the file answers (it names the tag).
    assert_eq!(
        lookup.lookup(tag("Irp")).unwrap().first().binary,
        "<unknown>"
    );
    assert_eq!(lookup.lookup_all(tag("ReMo")).count(), 2);
}
