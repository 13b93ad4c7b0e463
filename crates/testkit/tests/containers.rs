//! Every profile × container, decoded by an independent reader: the pages in the file are the
//! image's pages; crash dumps hold the decoded KDBG, raw images and ELF cores the in-memory one.
//! Same seed, same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::hash::{DefaultHasher, Hash, Hasher};

use common::{FileImage, Phys, decode_container, u32_at, u64_at, vread};
use pooldbg_testkit::{Arch, Container, KernelBuilder, PROFILES, WriteOptions, write_vec};

fn expected_page(k: &pooldbg_testkit::Kernel, pfn: u64, crash: bool) -> Vec<u8> {
    let mut page = k
        .memory
        .page(pfn)
        .map(|p| p.to_vec())
        .unwrap_or_else(|| vec![0; 4096]);
    if crash {
        for (pa, bytes) in &k.facts.kdbg_decoded {
            if pa / 4096 == pfn {
                let o = (pa % 4096) as usize;
                page[o..o + bytes.len()].copy_from_slice(bytes);
            }
        }
    }
    page
}

#[test]
fn every_profile_and_container_round_trips() {
    for p in PROFILES {
        let k = KernelBuilder::standard(p)
            .seed(11)
            .memory_mib(20)
            .build()
            .unwrap();
        for &c in Container::ALL {
            if !c.supports(p.arch) {
                assert!(write_vec(&k, c, &WriteOptions::default()).is_err());
                continue;
            }
            let (bytes, info) = write_vec(&k, c, &WriteOptions::default()).unwrap();
            assert_eq!(
                bytes.len() as u64,
                info.file_size,
                "{} {}",
                p.name,
                c.slug()
            );
            if c == Container::Triage {
                // KDBG copy at DebuggerDataOffset, decoded.
                let off = u32_at(&bytes, 0x2000 + 0x70) as usize;
                assert_eq!(&bytes[off + 0x10..off + 0x14], b"KDBG");
                assert_eq!(u64_at(&bytes, off + 0x18), k.facts.kernel_base);
                continue;
            }
            let crash = c.dump_type().is_some();
            let img: FileImage = decode_container(bytes);
            let want = if c == Container::Raw {
                k.memory.end_pfn() // a raw image covers the holes too
            } else {
                info.pages_in_file
            };
            assert_eq!(img.map.len() as u64, want, "{} {}", p.name, c.slug());
            for pfn in 0..k.memory.end_pfn() + 2 {
                assert_eq!(
                    pooldbg_testkit::expected_page(&k, c, pfn),
                    img.page(pfn),
                    "{} {} expected_page({pfn:#x})",
                    p.name,
                    c.slug()
                );
            }
            for (&pfn, _) in img.map.iter() {
                if !k.memory.in_runs(pfn) {
                    assert_eq!(c, Container::Raw, "only raw images cover holes");
                    continue;
                }
                assert_eq!(
                    img.page(pfn).unwrap(),
                    expected_page(&k, pfn, crash),
                    "{} {} pfn {pfn:#x}",
                    p.name,
                    c.slug()
                );
            }
            // Every page the kernel stored is in the file.
            for (pfn, _) in k.memory.stored() {
                assert!(
                    img.map.contains_key(&pfn),
                    "{} {} lacks {pfn:#x}",
                    p.name,
                    c.slug()
                );
            }
            // Headers that matter to readers.
            if crash {
                let x64 = p.arch == Arch::X64;
                let b = &img.bytes;
                let dtb = if x64 {
                    u64_at(b, 0x10)
                } else {
                    u32_at(b, 0x10)
                };
                assert_eq!(dtb, k.facts.dtb);
                let kd = if x64 {
                    u64_at(b, 0x80)
                } else {
                    u32_at(b, 0x60)
                };
                assert_eq!(kd, k.facts.kdbg);
                if !x64 {
                    assert_eq!(b[0x5c] == 1, p.arch == Arch::X86Pae);
                }
                if c != Container::Full {
                    // PhysicalMemoryBlock stays "PAGE"-filled outside full dumps.
                    let at = if x64 { 0x88 } else { 0x64 };
                    assert_eq!(&b[at..at + 4], b"PAGE");
                }
            }
            // The KDBG through the file's own page tables: decoded in crash dumps.
            let kd = vread(&img, p.arch, k.facts.dtb, k.facts.kdbg, 0x20).unwrap();
            assert_eq!(
                &kd[0x10..0x14] == b"KDBG",
                crash || !p.kdbg_encoded,
                "{} {}",
                p.name,
                c.slug()
            );
            // Absent pages stay absent.
            for sp in k
                .manifest
                .special_pages
                .iter()
                .filter(|s| s.state == "absent")
            {
                if c != Container::Raw {
                    assert!(vread(&img, p.arch, k.facts.dtb, sp.va.0, 1).is_err());
                }
            }
        }
    }
}

fn digest(b: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

#[test]
fn same_seed_same_bytes() {
    for name in ["win7sp1-x64", "xpsp3-x86", "win10-1809-x64"] {
        let p = pooldbg_testkit::profile(name).unwrap();
        let a = KernelBuilder::standard(p)
            .seed(42)
            .memory_mib(16)
            .build()
            .unwrap();
        let b = KernelBuilder::standard(p)
            .seed(42)
            .memory_mib(16)
            .build()
            .unwrap();
        let c = KernelBuilder::standard(p)
            .seed(43)
            .memory_mib(16)
            .build()
            .unwrap();
        for cont in [
            Container::Full,
            Container::Bitmap {
                full: false,
                dump_type: 5,
            },
            Container::Raw,
        ] {
            let o = WriteOptions::default();
            let da = digest(&write_vec(&a, cont, &o).unwrap().0);
            let db = digest(&write_vec(&b, cont, &o).unwrap().0);
            let dc = digest(&write_vec(&c, cont, &o).unwrap().0);
            assert_eq!(da, db, "{name} {}", cont.slug());
            assert_ne!(da, dc, "{name} {}: the seed matters", cont.slug());
        }
        let ja = serde_json::to_string(&a.manifest).unwrap();
        let jb = serde_json::to_string(&b.manifest).unwrap();
        assert_eq!(ja, jb);
    }
}

#[test]
fn randomised_self_map_and_kernel_base_follow_the_seed() {
    let p = pooldbg_testkit::profile("win10-1607-x64").unwrap();
    let mut maps = std::collections::BTreeSet::new();
    for seed in 0..8 {
        let k = KernelBuilder::new(p).seed(seed).build().unwrap();
        let i = k.manifest.profile.self_map_index;
        assert!((0x100..0x1ff).contains(&i));
        maps.insert(i);
    }
    assert!(maps.len() > 1, "1607+ randomises the self-map");
    let w7 = pooldbg_testkit::profile("win7sp1-x64").unwrap();
    let k = KernelBuilder::new(w7).seed(5).build().unwrap();
    assert_eq!(k.manifest.profile.self_map_index, 0x1ed);
    assert_eq!(k.manifest.profile.pte_base.0, 0xffff_f680_0000_0000);
}

#[test]
fn truncation_is_a_write_option() {
    let p = pooldbg_testkit::profile("win7sp1-x64").unwrap();
    let k = KernelBuilder::standard(p).memory_mib(16).build().unwrap();
    let (full, _) = write_vec(&k, Container::Full, &WriteOptions::default()).unwrap();
    let (cut, info) = write_vec(
        &k,
        Container::Full,
        &WriteOptions {
            truncate_to: Some(0x10_0000),
        },
    )
    .unwrap();
    assert!(info.truncated);
    assert_eq!(cut.len(), 0x10_0000);
    assert_eq!(&full[..0x10_0000], &cut[..]);
}

#[cfg(unix)]
#[test]
fn multi_gib_images_are_sparse() {
    use std::os::unix::fs::MetadataExt;
    let p = pooldbg_testkit::profile("win10-1809-x64").unwrap();
    let k = KernelBuilder::standard(p).memory_mib(4096).build().unwrap();
    let dir = std::env::temp_dir().join(format!("testkit-sparse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.dmp");
    let info =
        pooldbg_testkit::write_with_manifest(&k, Container::Full, &path, &WriteOptions::default())
            .unwrap();
    let md = std::fs::metadata(&path).unwrap();
    assert_eq!(md.len(), info.file_size);
    assert!(md.len() > 4000 * 1024 * 1024);
    // 512-byte blocks actually allocated: the stored pages, not 4 GiB.
    assert!(
        md.blocks() * 512 < 256 * 1024 * 1024,
        "{} bytes on disk",
        md.blocks() * 512
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
    assert_eq!(m["info"]["dump_type"], "full");
    assert_eq!(m["info"]["dtb"], format!("{:#x}", k.facts.dtb));
    std::fs::remove_dir_all(&dir).unwrap();
}
