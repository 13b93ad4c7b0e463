//! `!poolused 200`: the per-driver view on synthetic kernels — every tag lands in exactly one driver
//! (pooltag.txt owner, else the one driver image holding it, else `<unattributed>`), and the driver
//! rows add up to the tag view's TOTAL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use plugin_sdk::Output;
use pooldbg::session::{Session, SessionOptions};
use serde_json::Value;
use testkit::{Container, WriteOptions, pairs};

fn session(k: &testkit::Kernel) -> Session {
    let (bytes, _) = testkit::write_vec(k, Container::Full, &WriteOptions::default()).unwrap();
    Session::from_dump(
        dumpfile::Dump::from_vec(bytes).unwrap(),
        &SessionOptions::default(),
    )
    .unwrap()
}

fn poolused(s: &Session, args: &str) -> Output {
    let mut out = Output::new();
    poolcmds::poolused::run(s, args, &mut out).unwrap();
    out
}

fn driver<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["driver"] == name)
        .unwrap_or_else(|| panic!("no driver {name} in {rows:?}"))
}

fn has_tag(row: &Value, tag: &str) -> bool {
    row["tags"].as_array().unwrap().iter().any(|t| t == tag)
}

#[test]
fn tags_fold_into_their_drivers() {
    for profile in [
        "win7sp1-x64",
        "win10-1809-x64",
        "xpsp3-x86",
        "win11-21h2-x64",
    ] {
        let p = testkit::profile(profile).unwrap();
        let (_, new) = pairs::growth_pair(p);
        let k = new.memory_mib(32).build().unwrap();
        let s = session(&k);
        let tags = poolused(&s, "0");
        let drivers = poolused(&s, "200");
        let rows = drivers.rows();
        // The leak's tag is unknown to pooltag.txt: found in leaky.sys's code.
        let leaky = driver(rows, "leaky");
        assert!(has_tag(leaky, "Leak"), "{profile}: {leaky}");
        assert_eq!(leaky["attribution"], "image search", "{profile}");
        assert!(has_tag(driver(rows, "disk"), "DkNw"), "{profile}");
        // Owners from pooltag.txt: Ntfs is ntfs.sys's, MmSt is nt!mm's.
        let ntfs = driver(rows, "ntfs");
        assert!(
            has_tag(ntfs, "Ntfs") && ntfs["attribution"] == "pooltag",
            "{profile}: {ntfs}"
        );
        assert!(has_tag(driver(rows, "nt"), "MmSt"), "{profile}");
        // Irp is `<unknown>` in the project's pooltag.txt: no owner, no search.
        assert!(has_tag(driver(rows, "<unattributed>"), "Irp "), "{profile}");
        // Every tag in one driver, and the counters add up to the tag view's.
        let mut seen: Vec<&str> = rows
            .iter()
            .flat_map(|r| {
                r["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
            })
            .collect();
        seen.sort();
        let mut all: Vec<&str> = tags
            .rows()
            .iter()
            .map(|r| r["tag"].as_str().unwrap())
            .collect();
        all.sort();
        assert_eq!(seen, all, "{profile}");
        let total = &tags.summary().unwrap()["total"];
        for f in [
            "nonpaged_allocs",
            "nonpaged_frees",
            "nonpaged_bytes",
            "paged_allocs",
            "paged_bytes",
        ] {
            let sum: u64 = rows.iter().map(|r| r[f].as_u64().unwrap()).sum();
            assert_eq!(sum, total[f].as_u64().unwrap(), "{profile} {f}");
        }
        // The text: one line per driver with its tags, then TOTAL.
        let text: Vec<&str> = drivers.summary().unwrap()["text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(
            text.iter().any(|l| l.starts_with("leaky ")
                && l.contains("Leak")
                && l.ends_with("(image search)")),
            "{profile}: {text:#?}"
        );
        assert!(
            text.iter().any(|l| l.contains("Pool Used by driver:")),
            "{text:#?}"
        );
        assert!(text.last().unwrap().starts_with("TOTAL"), "{text:#?}");
        assert_eq!(drivers.summary().unwrap()["drivers"], rows.len());
    }
}
