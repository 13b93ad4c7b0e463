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
    // without symbols, so every small block is scanned, not just the big allocations). 8.1 is
    // not here: its paged range is not found without symbols.
    for name in [
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
