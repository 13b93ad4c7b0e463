//! The one-call entry over real files: a testkit kernel written as a full dump and as a raw image,
//! opened with `pooldbg_engine::open`, compared with the manifest (identity, modules, one pool
//! page through `Session::run`), and a file with no Windows in it refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use plugin_sdk::{Read, ReadStatus, Target};
use pooldbg_engine::{Options, RunError, SessionError};
use testkit::{Container, KernelBuilder, WriteOptions};

fn written(
    profile: &str,
    container: Container,
    name: &str,
) -> (testkit::Kernel, std::path::PathBuf) {
    let profile = testkit::profile(profile).expect("profile");
    let kernel = KernelBuilder::standard(profile)
        .seed(23)
        .memory_mib(16)
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("pooldbg-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    testkit::write_file(&kernel, container, &path, &WriteOptions::default()).unwrap();
    (kernel, path)
}

#[test]
fn open_gives_the_manifests_kernel_modules_reads_and_pool_page() {
    let mut pages = 0;
    for (profile, container, name) in [
        ("win7sp1-x64", Container::Full, "win7.dmp"),
        ("win7sp1-x64", Container::Raw, "win7.raw"),
        // 19H1+: the KDBG's L1TF swizzle and the segment heap.
        ("win10-2004-x64", Container::Full, "win10.dmp"),
    ] {
        let (kernel, path) = written(profile, container, name);
        let m = &kernel.manifest;
        let dump = pooldbg_engine::open(&path, &Options::default()).unwrap();
        let info = dump.info();
        assert_eq!(info.arch.name(), m.info.arch, "{name}");
        assert_eq!(info.kernel_base, m.info.kernel_base.0, "{name}");
        if container == Container::Full {
            assert_eq!(info.build, m.info.build, "{name}");
        }

        // Modules: the manifest's, in load order.
        let modules = dump.modules();
        let got: Vec<(&str, u64, u64)> = modules
            .iter()
            .map(|x| (x.name.as_str(), x.base, x.size))
            .collect();
        let want: Vec<(&str, u64, u64)> = m
            .modules
            .iter()
            .map(|x| (x.name.as_str(), x.base.0, x.size))
            .collect();
        assert_eq!(got, want, "{name}");

        // A virtual read of the kernel image's first bytes: "MZ".
        let mut buf = [0u8; 2];
        let mut reads = [Read::new(info.kernel_base, &mut buf)];
        dump.read_virtual(&mut reads);
        assert_eq!(reads[0].status, ReadStatus::Ok, "{name}");
        assert_eq!(&buf, b"MZ", "{name}");

        // One pool page: `!pool` on an allocated block's body finds that block.
        let Some(block) = m
            .blocks
            .iter()
            .find(|b| b.state == "allocated" && b.error.is_none())
        else {
            drop(dump);
            let _ = std::fs::remove_file(&path);
            continue; // a segment-heap kernel's manifest lists no classic blocks
        };
        pages += 1;
        let out = dump
            .run(&format!("!pool {:#x}", block.address.0 + 0x10))
            .unwrap();
        let row = out
            .rows()
            .iter()
            .find(|r| r["contains_address"] == true)
            .unwrap_or_else(|| panic!("{name}: no containing block in {:?}", out.rows()));
        assert_eq!(row["address"], format!("{:#x}", block.address.0), "{name}");
        assert_eq!(
            row["tag"].as_str().map(str::trim_end),
            Some(block.tag.trim_end())
        );
        assert_eq!(row["size"], block.size, "{name}");
        drop(dump);
        let _ = std::fs::remove_file(&path);
    }
    assert!(pages >= 2, "the pool page was checked on {pages} dumps");
}

#[test]
fn run_names_unknown_commands_and_keeps_a_failing_commands_output() {
    let (_, path) = written("win7sp1-x64", Container::Full, "errors.dmp");
    let dump = pooldbg_engine::open(&path, &Options::default()).unwrap();
    let e = dump.run("!nosuch 1").unwrap_err();
    assert!(
        matches!(e, RunError::UnknownCommand(ref n) if n == "!nosuch"),
        "{e}"
    );
    assert!(e.to_string().contains("!poolused"), "{e}");
    // A usage error is the command's own, with its usage line.
    match dump.run("!poolfind") {
        Err(RunError::Command { error, .. }) => {
            assert!(error.to_string().contains("!poolfind TAG"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // Case and a missing `!` do not matter, as at the prompt.
    let a = dump.run("!POOLUSED 2").unwrap();
    let b = dump.run("poolused 2").unwrap();
    assert_eq!(a.rows(), b.rows());
    assert!(!a.rows().is_empty());
    drop(dump);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_file_without_windows_is_refused_by_open_but_not_by_session_open() {
    let dir = std::env::temp_dir().join(format!("pooldbg-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("zeros.raw");
    std::fs::write(&path, vec![0u8; 64 * 4096]).unwrap();
    match pooldbg_engine::open(&path, &Options::default()) {
        Err(SessionError::NotWindows(why)) => assert!(why.contains("all zero"), "{why}"),
        other => panic!("{other:?}"),
    }
    let s = pooldbg_engine::Session::open(&path, &Options::default()).unwrap();
    assert!(s.not_windows().is_some());
    drop(s);
    let _ = std::fs::remove_file(&path);
}

/// The session lends the pages of its mapped dump in place (`visit_virtual_pages`): every page
/// and every failure as the copying default (`read_virtual` page by page) gives them, over pool
/// pages, their unmapped neighbours and a non-canonical range.
#[test]
fn visited_pages_are_what_read_virtual_reads() {
    for (container, name) in [
        (Container::Full, "visit.dmp"),
        (Container::Raw, "visit.raw"),
    ] {
        let (kernel, path) = written("win2003sp2-x64", container, name);
        let dump = pooldbg_engine::open(&path, &Options::default()).unwrap();
        let block = kernel
            .manifest
            .blocks
            .first()
            .expect("a pool block")
            .address
            .0;
        let pool = (block & !0xfff).saturating_sub(64 * 0x1000);
        let mut pages = 0;
        for (start, n) in [
            (pool, 200u64),
            (0xffff_8000_0000_0000, 4),
            (0x0000_8000_0000_0000, 2),
        ] {
            let mut lent = Vec::new();
            let mut scratch = Vec::new();
            dump.visit_virtual_pages(start, n, &mut scratch, &mut |va, page| {
                lent.push((va, page.map(<[u8]>::to_vec)));
            });
            let mut copied = Vec::new();
            plugin_sdk::visit_pages_by_reading(&dump, start, n, &mut scratch, &mut |va, page| {
                copied.push((va, page.map(<[u8]>::to_vec)));
            });
            assert_eq!(lent.len() as u64, n, "{name}");
            assert!(lent == copied, "{name}: pages from {start:#x} differ");
            pages += lent.iter().filter(|(_, p)| p.is_ok()).count();
        }
        assert!(pages > 0, "{name}: no page read");
        drop(dump);
        let _ = std::fs::remove_file(&path);
    }
}
