//! Issue #19 §2: `!poolfind` and `!pool` on kernels whose exact profile is withheld (testkit
//! `withhold_profile`) with no symbols give the rows they give on the same kernel with its exact
//! profile (whose rows `segheap.rs`/`golden.rs` check against the manifest), in a crash dump and in
//! a raw image; what cannot be established is said, never a wrong row.
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

fn kernel(name: &str, withheld: bool) -> testkit::Kernel {
    let b = KernelBuilder::standard(testkit::profile(name).unwrap())
        .seed(5)
        .memory_mib(32);
    if withheld { b.withhold_profile() } else { b }
        .build()
        .unwrap()
}

type Cmd = fn(&dyn plugin_sdk::Target, &str, &mut Output) -> Result<(), plugin_sdk::CommandError>;

fn rows(cmd: Cmd, s: &Session, args: &str) -> Result<Vec<serde_json::Value>, String> {
    let mut out = Output::new();
    cmd(s, args, &mut out).map_err(|e| format!("{e:?}"))?;
    Ok(out.rows().to_vec())
}

#[test]
fn poolfind_and_pool_without_symbols_match_the_exact_profile() {
    let mut bad = Vec::new();
    // The segment-heap builds (ExPoolState and the big page table found without symbols), and
    // 1607 (classic pool: both pool ranges from MiState.Vs.SystemVaRegions[], MiState found
    // without symbols, so every small block is scanned, not just the big allocations), and 8.1,
    // whose paged range is not established without symbols: both its pools are found by their
    // validated headers over the present pages (issue #18), giving the exact profile's rows.
    for name in [
        "win81-x64",
        "win10-1607-x64",
        "win10-2004-x64",
        "win2022-x64",
        "win11-21h2-x64",
    ] {
        let exact = session(&kernel(name, false), Container::Full);
        let k = kernel(name, true);
        for c in [Container::Full, Container::Raw] {
            let what = format!("{name} {}", c.slug());
            let s = session(&k, c);
            let notes = s.notes().join("\n");
            if name == "win10-1607-x64" {
                assert!(
                    notes.contains("symbols: MiState at")
                        && notes.contains("found without symbols"),
                    "{what}: {notes}"
                );
            }
            for args in ["Leak", "Ntfs 1"] {
                let want = rows(poolcmds::poolfind::run, &exact, args).unwrap();
                assert!(!want.is_empty(), "{what} {args}");
                // Small blocks (found by scanning the pool ranges), not just big allocations.
                assert!(want.iter().any(|r| r["source"] == "scan"), "{what} {args}");
                match rows(poolcmds::poolfind::run, &s, args) {
                    Ok(got) if got == want => {}
                    Ok(got) => bad.push(format!(
                        "{what} !poolfind {args}: {} rows, want {}\n{notes}",
                        got.len(),
                        want.len()
                    )),
                    Err(e) => bad.push(format!("{what} !poolfind {args}: {e}\n{notes}")),
                }
            }
            let leak = k
                .manifest
                .big_allocations
                .iter()
                .find(|b| b.tag == "Leak")
                .unwrap();
            let a = format!("{:#x}", leak.address.0 + 0x10);
            let want = rows(poolcmds::pool::run, &exact, &a).unwrap();
            match rows(poolcmds::pool::run, &s, &a) {
                Ok(got) if got == want => {}
                Ok(got) => bad.push(format!("{what} !pool: {got:?} want {want:?}\n{notes}")),
                Err(e) => bad.push(format!("{what} !pool {a}: {e}\n{notes}")),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Issue #19 §2: `HeapKey` and `LfhKey` recovered from known plaintext. The withheld kernels'
/// `RtlpHpHeapGlobals` hold zeros where the keys are (testkit `withhold_heap_keys`): `!pool` on an
/// LFH block and on a VS chunk, and `!frag`, give what they give with the real keys, and say that
/// the keys were recovered.
#[test]
fn segment_heap_pages_work_with_the_heap_keys_withheld() {
    let mut bad = Vec::new();
    for name in ["win10-2004-x64", "win2022-x64", "win11-21h2-x64"] {
        let exact = session(&kernel(name, false), Container::Full);
        let k = KernelBuilder::standard(testkit::profile(name).unwrap())
            .seed(5)
            .memory_mib(32)
            .withhold_profile()
            .withhold_heap_keys()
            .build()
            .unwrap();
        let sh = k.manifest.segment_heap.as_ref().unwrap();
        let lfh = sh
            .lfh_blocks
            .iter()
            .find(|b| b.state == "allocated")
            .unwrap();
        let vs = sh
            .vs_chunks
            .iter()
            .find(|c| c.state == "allocated")
            .unwrap();
        for c in [Container::Full, Container::Raw] {
            let what = format!("{name} {}", c.slug());
            let s = session(&k, c);
            let notes = s.notes().join("\n");
            for a in [lfh.address.0 + 0x10, vs.pool_header.0 + 0x10] {
                let a = format!("{a:#x}");
                let want = rows(poolcmds::pool::run, &exact, &a).unwrap();
                assert!(!want.is_empty(), "{what} !pool {a}");
                let mut out = Output::new();
                match poolcmds::pool::run(&s, &a, &mut out) {
                    Ok(()) if out.rows() == want.as_slice() => {
                        if !out
                            .warnings()
                            .iter()
                            .any(|w| w.contains("recovered from known plaintext"))
                        {
                            bad.push(format!(
                                "{what} !pool {a}: the recovery is not said: {:?}",
                                out.warnings()
                            ));
                        }
                    }
                    Ok(()) => bad.push(format!(
                        "{what} !pool {a}: {:?} want {want:?}\n{notes}",
                        out.rows()
                    )),
                    Err(e) => bad.push(format!("{what} !pool {a}: {e}\n{notes}")),
                }
            }
            let want = rows(poolcmds::frag::run, &exact, "").unwrap();
            match rows(poolcmds::frag::run, &s, "") {
                Ok(got) if got == want => {}
                Ok(got) => bad.push(format!("{what} !frag: {got:?} want {want:?}")),
                Err(e) => bad.push(format!("{what} !frag: {e}\n{notes}")),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
