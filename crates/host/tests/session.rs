//! The session glue over real containers: every testkit profile in every container it writes is opened,
//! identified and read as commands will read it, and the facts are compared with the manifest.

use dumpfile::Dump;
use plugin_sdk::{Arch, ReadStatus, Target, TargetExt};
use pooldbg::session::{Session, SessionOptions};
use testkit::{Container, KernelBuilder, PROFILES, WriteOptions, write_vec};

fn arch_name(a: Arch) -> &'static str {
    a.name()
}

#[test]
fn every_profile_in_every_container_is_identified_as_its_manifest_says() {
    let mut checked = 0;
    for profile in PROFILES {
        let kernel = KernelBuilder::standard(profile)
            .seed(7)
            .memory_mib(16)
            .build()
            .unwrap();
        let m = &kernel.manifest;
        for &container in Container::ALL {
            let Ok((bytes, _)) = write_vec(&kernel, container, &WriteOptions::default()) else {
                continue; // containers the profile's bitness has no writer for
            };
            let what = format!("{} {}", profile.name, container.slug());
            let headerless = matches!(container, Container::Raw | Container::Elf);
            let dump = Dump::from_vec(bytes).unwrap();
            let session = Session::from_dump(dump, &SessionOptions::default()).unwrap();
            let info = session.info();
            assert_eq!(
                arch_name(info.arch),
                m.info.arch,
                "{what}: arch; notes {:?}",
                session.notes()
            );
            if container == Container::Triage {
                // A triage dump holds the header and the KDBG copy, no page tables.
                assert_eq!(info.build, m.info.build, "{what}: build");
                checked += 1;
                continue;
            }
            assert_eq!(
                info.kernel_base,
                m.info.kernel_base.0,
                "{what}: kernel base; notes {:?}",
                session.notes()
            );
            if !headerless {
                assert_eq!(info.build, m.info.build, "{what}: build");
            }
            // The tracker table global resolves and is readable through the page tables.
            let ptt = session.symbol_address("nt!PoolTrackTable");
            let ptt = ptt.unwrap_or_else(|| {
                panic!("{what}: no PoolTrackTable; notes {:?}", session.notes())
            });
            let want = m
                .globals
                .iter()
                .find(|g| g.name == "PoolTrackTable")
                .map(|g| g.address.0);
            assert_eq!(Some(ptt.value), want, "{what}: PoolTrackTable address");
            assert!(
                session.read_pointer(ptt.value, info.pointer_size).is_ok(),
                "{what}: PoolTrackTable unreadable"
            );
            // Modules from PsLoadedModuleList, in order.
            let modules = session.modules();
            let names: Vec<&str> = modules.iter().map(|x| x.name.as_str()).collect();
            let want: Vec<&str> = m.modules.iter().map(|x| x.name.as_str()).collect();
            assert_eq!(names, want, "{what}: modules");
            checked += 1;
        }
    }
    assert!(
        checked >= 60,
        "only {checked} profile x container pairs were checked"
    );
}

#[test]
fn unreadable_pages_say_why() {
    let profile = PROFILES.iter().find(|p| p.name.contains("win7")).unwrap();
    let kernel = KernelBuilder::standard(profile)
        .seed(3)
        .memory_mib(16)
        .build()
        .unwrap();
    let (bytes, _) = write_vec(&kernel, Container::Full, &WriteOptions::default()).unwrap();
    let session =
        Session::from_dump(Dump::from_vec(bytes).unwrap(), &SessionOptions::default()).unwrap();
    let mut seen_paged_out = false;
    for special in &kernel.manifest.special_pages {
        let mut b = [0u8; 8];
        let err = session.read_virtual_exact(special.va.0, &mut b);
        if special.state.contains("paged") {
            seen_paged_out = true;
            assert!(
                matches!(err, Err(e) if matches!(e.status, ReadStatus::PagedOut { .. })),
                "{special:?}: {err:?}"
            );
        }
    }
    assert!(seen_paged_out, "the fixture has a paged-out page");
    // Low user space is not mapped in the kernel's address space.
    let err = session.read_u64(0x10000).unwrap_err();
    assert_eq!(err.status, ReadStatus::NotMapped);
}

#[test]
fn the_real_triage_dump_is_build_19041_with_151_modules() {
    let Some(path) = testdata::require("data/dumps/triage_x64.dmp") else {
        return;
    };
    let session = Session::open(&path, &SessionOptions::default()).unwrap();
    let info = session.info();
    assert_eq!(info.arch, Arch::X64);
    assert_eq!(info.build, 19041);
    assert_eq!(info.processors, 16);
    assert_eq!(info.dump_type, "triage");
    let modules = session.modules();
    assert_eq!(modules.len(), 151);
    let amdppm = modules
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case("amdppm.sys"))
        .unwrap();
    assert_eq!((amdppm.base, amdppm.size), (0xfffff8048b580000, 0x3b000));
    // Tags come from the embedded database when no file is given.
    let tag = session.pool_tag(*b"IrpB").unwrap();
    assert_eq!(tag.source, "embedded");
}
