//! Issue #19 §2: `!frag` on kernels whose exact profile is withheld (testkit `withhold_profile`:
//! a PDB GUID no profile has, every global moved), with no symbols, in a crash dump and in a raw
//! image whose KDBG stays encoded: the free blocks per list (8.1) or per LFH bucket and VS chunk
//! size (segment heap) equal the manifest, as with the exact profile; the pool total equals the
//! manifest or is absent with a warning, never wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expected, expected_segheap, rows, segheap_rows};
use dumpfile::Dump;
use plugin_sdk::{Command, Output};
use pooldbg::session::{Session, SessionOptions};
use pooldbg_frag::{Frag, render_text};
use testkit::{Container, KernelBuilder, WriteOptions, write_vec};

fn session(kernel: &testkit::Kernel, container: Container) -> Session {
    let (bytes, _) = write_vec(kernel, container, &WriteOptions::default()).unwrap();
    Session::from_dump(Dump::from_vec(bytes).unwrap(), &SessionOptions::default()).unwrap()
}

#[test]
fn frag_matches_the_manifest_without_symbols() {
    for name in testkit::builder::WITHHELD_PROFILES {
        let k = KernelBuilder::standard(testkit::profile(name).unwrap())
            .seed(7)
            .memory_mib(32)
            .withhold_profile()
            .build()
            .unwrap();
        let classic = matches!(k.profile.pool, testkit::profile::PoolModel::Classic);
        for c in [Container::Full, Container::Raw] {
            let what = format!("{name} {}", c.slug());
            let s = session(&k, c);
            let notes = s.notes().join("\n");
            let mut out = Output::new();
            Frag.run(&s, "", &mut out)
                .unwrap_or_else(|e| panic!("{what}: {e}\n{notes}"));
            let text = render_text(&out);
            if classic {
                let want = expected(&k);
                assert!(!want.is_empty(), "{what}");
                assert_eq!(rows(&out), want, "{what}\n{text}\n{notes}");
            } else {
                let want = expected_segheap(&k);
                assert!(want.keys().any(|k| k.0 == "lfh"), "{what}");
                assert_eq!(segheap_rows(&out), want, "{what}\n{text}\n{notes}");
            }
            let sum = out.summary().unwrap();
            let (f, b) = expected_totals(&k, classic);
            assert_eq!(sum["fragments"].as_u64(), Some(f), "{what}");
            assert_eq!(sum["bytes"].as_u64(), Some(b), "{what}");
            match sum.get("nonpaged_pool_bytes").and_then(|v| v.as_u64()) {
                Some(v) => assert_eq!(
                    Some(v),
                    k.manifest.vm.nonpaged_pool_pages.map(|p| p * 4096),
                    "{what}: nonpaged pool total\n{text}"
                ),
                None => assert!(
                    !out.warnings().is_empty(),
                    "{what}: no pool total and no warning saying why\n{text}"
                ),
            }
        }
    }
}

/// (fragments, bytes) over every list or bucket the manifest has.
fn expected_totals(k: &testkit::Kernel, classic: bool) -> (u64, u64) {
    let v: Vec<(u64, u64)> = if classic {
        expected(k).into_values().collect()
    } else {
        expected_segheap(k).into_values().collect()
    };
    (v.iter().map(|x| x.0).sum(), v.iter().map(|x| x.1).sum())
}
