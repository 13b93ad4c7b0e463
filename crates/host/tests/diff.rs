//! `pooldbg diff` end to end on testkit series of one machine (a leaking, a shrinking and an
//! appearing tag, `testkit::pairs`): the rows are exactly the manifests' differences, by tag and by
//! driver; three dumps give trends and the only-growing tags; the kd-style `.diff` agrees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod growth;

use std::collections::BTreeMap;

use growth::{run, series};
use serde_json::Value;
use testkit::{Container, pairs};

/// Outstanding (allocs, bytes) per pool from a manifest row: [np allocs, np bytes, p allocs, p bytes].
fn counters(r: &testkit::manifest::PoolUsed) -> [i64; 4] {
    [
        r.nonpaged_allocs as i64 - r.nonpaged_frees as i64,
        r.nonpaged_bytes as i64,
        r.paged_allocs as i64 - r.paged_frees as i64,
        r.paged_bytes as i64,
    ]
}

/// The driver a manifest tag belongs to, worked out here from the facts testkit planted: the
/// embedded pooltag.txt's owner, else the module whose code carries the tag.
fn expected_driver(tag: &str, m: &testkit::Manifest, db: &pooltag::TagLookup) -> String {
    let bytes: [u8; 4] = tag.as_bytes().try_into().unwrap();
    if let Some(e) = db.lookup(pooltag::Tag::from_bytes(bytes)) {
        let b = e.first().binary.trim().to_ascii_lowercase();
        if !b.is_empty() && b != "<unknown>" {
            let module = b.split('!').next().unwrap();
            return module.strip_suffix(".sys").unwrap_or(module).to_string();
        }
        return "<unattributed>".into();
    }
    match m
        .modules
        .iter()
        .filter(|md| md.code_tags.iter().any(|t| t == tag))
        .collect::<Vec<_>>()[..]
    {
        [one] => one.name.trim_end_matches(".sys").to_string(),
        _ => "<unattributed>".into(),
    }
}

fn expected(ms: &[&testkit::Manifest], by_driver: bool) -> BTreeMap<String, [i64; 4]> {
    let db = pooltag::TagLookup::embedded();
    let mut per: Vec<BTreeMap<String, [i64; 4]>> = Vec::new();
    for m in ms {
        let mut t: BTreeMap<String, [i64; 4]> = BTreeMap::new();
        for r in &m.poolused {
            let key = if by_driver {
                expected_driver(&r.tag, m, &db)
            } else {
                r.tag.clone()
            };
            let e = t.entry(key).or_default();
            for (a, b) in e.iter_mut().zip(counters(r)) {
                *a += b;
            }
        }
        per.push(t);
    }
    let (first, last) = (&per[0], &per[per.len() - 1]);
    let mut d = BTreeMap::new();
    for k in first.keys().chain(last.keys()) {
        let a = first.get(k).copied().unwrap_or_default();
        let b = last.get(k).copied().unwrap_or_default();
        d.insert(
            k.clone(),
            [b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3]],
        );
    }
    d
}

fn reported(v: &Value, key: &str) -> BTreeMap<String, [i64; 4]> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |n: &str| r[n].as_i64().unwrap();
            (
                r[key].as_str().unwrap().to_string(),
                [
                    f("nonpaged_allocs_delta"),
                    f("nonpaged_bytes_delta"),
                    f("paged_allocs_delta"),
                    f("paged_bytes_delta"),
                ],
            )
        })
        .collect()
}

#[test]
fn a_pair_diffs_to_exactly_the_manifests_differences() {
    for profile in [
        "win7sp1-x64",
        "xpsp3-x86",
        "win10-1809-x64",
        "win11-21h2-x64",
    ] {
        let s = series(profile, 2, Container::Full);
        let (old, new) = (s[0].0.to_str().unwrap(), s[1].0.to_str().unwrap());
        let ms = [&s[0].1, &s[1].1];
        let (v, _) = run(&["--format", "json", "diff", old, new]);
        assert_eq!(v["command"], "diff");
        assert_eq!(
            reported(&v, "tag"),
            expected(&ms, false),
            "{profile} by tag"
        );
        // Sorted by growth: the leak first, the shrinking tag last.
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows[0]["tag"], "Leak", "{profile}");
        assert_eq!(rows[0]["nonpaged_allocs_delta"], pairs::LEAK_STEP);
        assert_eq!(rows.last().unwrap()["tag"], "Ntfs", "{profile}");
        assert_eq!(
            rows.last().unwrap()["paged_allocs_delta"],
            -(pairs::SHRINK_STEP as i64)
        );
        let appear = rows.iter().find(|r| r["tag"] == "DkNw").unwrap();
        assert_eq!(appear["trend"], "appears");
        assert_eq!(
            appear["paged_allocs"],
            serde_json::json!([0, pairs::APPEAR_STEP])
        );
        assert_eq!(v["summary"]["same_build"], true);
        let (d, _) = run(&["--format", "json", "diff", old, new, "--by", "driver"]);
        assert_eq!(
            reported(&d, "driver"),
            expected(&ms, true),
            "{profile} by driver"
        );
        let drows = d["rows"].as_array().unwrap();
        assert_eq!(drows[0]["driver"], "leaky", "{profile}");
        assert_eq!(drows.last().unwrap()["driver"], "ntfs", "{profile}");
    }
}

#[test]
fn three_dumps_give_trends_text_csv_and_the_kd_form() {
    let s = series(
        "win7sp1-x64",
        3,
        Container::Bitmap {
            full: false,
            dump_type: 5,
        },
    );
    let p: Vec<&str> = s.iter().map(|x| x.0.to_str().unwrap()).collect();
    let (v, _) = run(&["--format", "json", "diff", p[0], p[1], p[2]]);
    let ms: Vec<&testkit::Manifest> = s.iter().map(|x| &x.1).collect();
    assert_eq!(reported(&v, "tag"), expected(&ms, false));
    let trend = |t: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tag"] == t)
            .unwrap()["trend"]
            .clone()
    };
    assert_eq!(trend("Leak"), "only grows");
    assert_eq!(trend("Ntfs"), "only shrinks");
    assert_eq!(trend("DkNw"), "appears");
    assert_eq!(trend("Irp "), "flat");
    let grows = v["summary"]["only_grows"].as_array().unwrap();
    assert!(
        grows.iter().any(|t| t == "Leak") && !grows.iter().any(|t| t == "Ntfs"),
        "{grows:?}"
    );
    // Text: WinDbg-like columns, signed deltas, the per-dump bytes and the only-growing line.
    let (_, text) = run(&["diff", p[0], p[1], p[2]]);
    let leak = text.lines().find(|l| l.starts_with("Leak")).unwrap();
    assert!(
        leak.contains(&format!("+{}", 2 * pairs::LEAK_STEP)) && leak.contains("only grows"),
        "{text}"
    );
    assert!(text.contains("Only growing ("), "{text}");
    // CSV: a header with the contract's columns.
    let (_, csv) = run(&["--format", "csv", "diff", p[0], p[2]]);
    assert!(
        csv.lines().next().unwrap().starts_with(
            "tag,nonpaged_allocs_delta,nonpaged_bytes_delta,paged_allocs_delta,paged_bytes_delta"
        ),
        "{csv}"
    );
    // The kd-style form in a session over the newest dump equals the subcommand.
    let (kd, _) = run(&[
        "--format",
        "json",
        "-z",
        p[2],
        "-c",
        &format!(".diff {} {}", p[0], p[1]),
    ]);
    assert_eq!(kd["command"], ".diff");
    assert_eq!(kd["rows"], v["rows"]);
    // `.report` in a session: the open dump with an older one, growth included.
    let page = s[2].0.with_extension("session.html");
    let (r, _) = run(&[
        "--format",
        "json",
        "-z",
        p[2],
        "-c",
        &format!(".report {} {}", page.display(), p[0]),
    ]);
    assert_eq!(r["command"], ".report");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<section id=\"growth\""), "{r}");
    assert!(html.contains(
        "data-src=\"diff\" data-key=\"Leak\" data-field=\"nonpaged_allocs_delta\" data-value=\"24\""
    ));
    // Builds differ: said, and still compared by tag.
    let other = series("win10-1809-x64", 2, Container::Full);
    let (x, _) = run(&[
        "--format",
        "json",
        "diff",
        p[0],
        other[1].0.to_str().unwrap(),
    ]);
    assert_eq!(x["summary"]["same_build"], false);
    assert!(
        x["warnings"][0]
            .as_str()
            .unwrap()
            .contains("different builds (7601, 17763)"),
        "{x}"
    );
    assert!(
        x["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["tag"] == "Leak")
    );
}
