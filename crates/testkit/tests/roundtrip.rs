//! Every profile in every container, read back page by page through the real readers (`dumpfile`,
//! then `paging` for the special pages): what testkit wrote is what a correct reader returns.
//! The builder never uses these crates; they meet only here.

use dumpfile::{Dump, PhysicalMemory};
use paging::{AddressSpace, Mode, PagingConfig, PteFormat, TranslateFault};
use pooldbg_testkit::{
    Arch, Container, KernelBuilder, PROFILES, WriteOptions, expected_page, write_vec,
};

#[test]
fn every_page_of_every_profile_and_container_reads_back() {
    let mut pairs = 0;
    for profile in PROFILES {
        let kernel = KernelBuilder::standard(profile)
            .seed(11)
            .memory_mib(16)
            .build()
            .unwrap();
        for &container in Container::ALL {
            let Ok((bytes, _)) = write_vec(&kernel, container, &WriteOptions::default()) else {
                continue;
            };
            let what = format!("{} {}", profile.name, container.slug());
            let dump = Dump::from_vec(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            let end = kernel.memory.end_pfn() + 4;
            for pfn in 0..end {
                let want = expected_page(&kernel, container, pfn);
                let got = dump.page(pfn).ok();
                match (&want, got) {
                    (Some(w), Some(g)) => {
                        assert!(w.as_slice() == g, "{what}: page {pfn:#x} differs")
                    }
                    (None, None) => {}
                    (Some(_), None) => panic!("{what}: page {pfn:#x} missing from the reader"),
                    (None, Some(_)) => panic!("{what}: page {pfn:#x} should not be in the dump"),
                }
            }
            pairs += 1;
        }
    }
    assert!(pairs >= 70, "only {pairs} profile x container pairs");
}

#[test]
fn special_pages_translate_as_the_manifest_says() {
    for profile in PROFILES {
        let kernel = KernelBuilder::standard(profile)
            .seed(5)
            .memory_mib(16)
            .build()
            .unwrap();
        let (bytes, _) = write_vec(&kernel, Container::Full, &WriteOptions::default()).unwrap();
        let dump = Dump::from_vec(bytes).unwrap();
        let (mode, format) = match profile.arch {
            Arch::X86 => (Mode::X86, PteFormat::x86()),
            Arch::X86Pae => (Mode::X86Pae, PteFormat::x86_pae()),
            Arch::X64 if profile.page_file_low_bit == 12 => (Mode::X64, PteFormat::x64()),
            Arch::X64 => (Mode::X64, PteFormat::x64_before_l1tf()),
        };
        let space = AddressSpace::new(
            &dump,
            PagingConfig::new(mode, kernel.facts.dtb).with_format(format),
        );
        for page in &kernel.manifest.special_pages {
            let got = space.translate(page.va.0);
            let what = format!("{} {:#x} ({})", profile.name, page.va.0, page.state);
            match page.state.as_str() {
                "paged_out" => assert!(
                    matches!(got, Err(TranslateFault::PagedOut { .. })),
                    "{what}: {got:?}"
                ),
                "transition" => {
                    let t = got.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(t.transition, "{what}");
                    assert_eq!(Some(t.pa >> 12), page.pfn.map(|p| p.0), "{what}");
                }
                "absent" => {
                    let t = got.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(
                        dump.page(t.pa >> 12).is_err(),
                        "{what}: absent page is in the dump"
                    );
                }
                other => panic!("{what}: unknown state {other}"),
            }
        }
    }
}
