//! Issue #19 §2: `!poolused` on kernels whose exact profile is withheld (testkit
//! `withhold_profile`), with no symbols, in a crash dump and in a raw image (KDBG encoded): the
//! tracker table is found without symbols and every tag's counts match the manifest.
// Test helpers fail loudly: unwrap is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use plugin_sdk::Output;
use pooldbg::session::{Session, SessionOptions};
use testkit::{Container, KernelBuilder, WriteOptions};

fn session(k: &testkit::Kernel, c: Container) -> Session {
    let (bytes, _) = testkit::write_vec(k, c, &WriteOptions::default()).unwrap();
    Session::from_dump(
        dumpfile::Dump::from_vec(bytes).unwrap(),
        &SessionOptions::default(),
    )
    .unwrap()
}

#[test]
fn poolused_matches_the_manifest_without_symbols() {
    for name in testkit::builder::WITHHELD_PROFILES {
        let k = KernelBuilder::standard(testkit::profile(name).unwrap())
            .seed(5)
            .memory_mib(32)
            .withhold_profile()
            .build()
            .unwrap();
        for c in [Container::Full, Container::Raw] {
            let what = format!("{name} {}", c.slug());
            let s = session(&k, c);
            let mut out = Output::new();
            let r = poolcmds::poolused::run(&s, "", &mut out);
            let notes = s.notes().join("\n");
            let text = out.render_text();
            r.unwrap_or_else(|e| panic!("{what}: {e:?}\n{notes}"));
            let rows = out.rows();
            let mut want: Vec<_> = k.manifest.poolused.iter().collect();
            want.sort_by(|a, b| a.tag.cmp(&b.tag));
            assert_eq!(rows.len(), want.len(), "{what}: rows\n{text}\n{notes}");
            for (row, w) in rows.iter().zip(&want) {
                assert_eq!(row["tag"], w.tag.as_str(), "{what}\n{text}");
                for (field, v) in [
                    ("nonpaged_allocs", w.nonpaged_allocs),
                    ("nonpaged_frees", w.nonpaged_frees),
                    ("nonpaged_bytes", w.nonpaged_bytes),
                    ("paged_allocs", w.paged_allocs),
                    ("paged_frees", w.paged_frees),
                    ("paged_bytes", w.paged_bytes),
                ] {
                    assert_eq!(row[field], v, "{what}: {} {field}\n{text}\n{notes}", w.tag);
                }
            }
            // Where a figure's source was found without symbols, the output says so.
            assert!(
                notes.contains("found without symbols") || c == Container::Full,
                "{what}\n{notes}"
            );
        }
    }
}
