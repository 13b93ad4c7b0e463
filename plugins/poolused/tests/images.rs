//! `!poolused 100`: for a tag pooltag.txt does not know, the loaded driver images that hold it —
//! end to end on synthetic kernels (the tag planted in one driver's image), in-process and through
//! the host's C function table (the path a loaded plugin takes).
// Test helpers fail loudly: unwrap is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use plugin_sdk::{Output, Target};
use pooldbg::session::{Session, SessionOptions};
use serde_json::json;
use testkit::{Container, KernelBuilder, PoolKind, WriteOptions};

fn session(k: &testkit::Kernel) -> Session {
    let (bytes, _) = testkit::write_vec(k, Container::Full, &WriteOptions::default()).unwrap();
    Session::from_dump(
        dumpfile::Dump::from_vec(bytes).unwrap(),
        &SessionOptions::default(),
    )
    .unwrap()
}

fn poolused(t: &dyn Target, args: &str) -> Output {
    let mut out = Output::new();
    poolcmds::poolused::run(t, args, &mut out).unwrap();
    out
}

#[test]
fn an_unknown_tag_is_traced_to_the_driver_image_holding_it() {
    for profile in ["win7sp1-x64", "win10-1809-x64", "xpsp3-x86"] {
        let mut k = KernelBuilder::standard(testkit::profile(profile).unwrap())
            .seed(5)
            .memory_mib(32)
            .driver("mine.sys", 0x6000)
            .alloc(b"Mq7z", 0x60, PoolKind::NonPaged)
            .alloc(b"Mq7z", 0x60, PoolKind::NonPaged)
            .build()
            .unwrap();
        let base = k
            .manifest
            .modules
            .iter()
            .find(|m| m.name == "mine.sys")
            .unwrap()
            .base
            .0;
        let pa = session(&k)
            .address_space()
            .unwrap()
            .translate(base)
            .unwrap()
            .pa;
        // The driver's code would carry the tag as an immediate: plant it past the PE headers.
        k.memory.write(pa + 0x900, b"\xb9Mq7z\xba");
        let s = session(&k);

        let out = poolused(&s, "100 Mq7z");
        let rows = out.rows();
        assert_eq!(rows.len(), 1, "{profile}: {rows:?}");
        assert_eq!(rows[0]["tag"], "Mq7z");
        assert_eq!(rows[0]["nonpaged_allocs"], 2, "{profile}");
        assert_eq!(
            rows[0]["image_candidates"],
            json!([{"module": "mine.sys", "hits": 1}]),
            "{profile}"
        );
        let text = out.render_text();
        assert!(
            text.contains("UNKNOWN pooltag 'Mq7z', please update pooltag.txt\n     driver images holding 'Mq7z': mine.sys (1 hit)\n"),
            "{profile}:\n{text}"
        );
        assert_eq!(
            out.summary().unwrap()["image_search"],
            json!({"tags_searched": 1, "error": null})
        );

        // The same through the host's table, as the loaded plugin runs it.
        let (via_abi, outcome) = pooldbg::bridge::loopback(&s, None, |t| poolused(t, "100 Mq7z"));
        assert!(outcome.is_ok());
        assert_eq!(via_abi.rows(), out.rows(), "{profile}");

        // Without the flag, the row has no such field and the text no such line.
        let out = poolused(&s, "0 Mq7z");
        assert!(out.rows()[0].get("image_candidates").is_none());
        assert!(!out.render_text().contains("driver images"));
    }
}

/// The standard kernel's leaking driver carries its tag in its code (testkit `driver_tag`): on every
/// profile, `!poolused 100 Leak` names exactly the modules the manifest says hold it.
#[test]
fn the_leaking_driver_of_every_profile_is_named() {
    for p in testkit::PROFILES {
        let k = KernelBuilder::standard(p)
            .seed(3)
            .memory_mib(16)
            .build()
            .unwrap();
        let want: Vec<serde_json::Value> = k
            .manifest
            .modules
            .iter()
            .filter(|m| m.code_tags.iter().any(|t| t == "Leak"))
            .map(|m| json!({"module": m.name, "hits": 1}))
            .collect();
        assert_eq!(want.len(), 1, "{}: the manifest names one holder", p.name);
        let out = poolused(&session(&k), "100 Leak");
        let rows = out.rows();
        assert_eq!(rows.len(), 1, "{}: {rows:?}", p.name);
        assert_eq!(
            rows[0]["image_candidates"],
            serde_json::Value::Array(want),
            "{}",
            p.name
        );
    }
}
