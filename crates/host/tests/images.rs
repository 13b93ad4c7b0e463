//! `Target::find_tag_in_images` on a Session: the loaded-module list of a synthetic kernel, the
//! images read from the dump's memory through the page tables, a tag planted in one driver found
//! there and nowhere else.
// Test helpers fail loudly: unwrap is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dumpfile::Dump;
use plugin_sdk::{ImageSearchError, Target};
use pooldbg::session::{Session, SessionOptions};
use testkit::{Container, KernelBuilder, WriteOptions, write_vec};

fn session(kernel: &testkit::Kernel) -> Session {
    let (bytes, _) = write_vec(kernel, Container::Full, &WriteOptions::default()).unwrap();
    Session::from_dump(Dump::from_vec(bytes).unwrap(), &SessionOptions::default()).unwrap()
}

#[test]
fn a_tag_planted_in_one_driver_image_is_found_in_it() {
    for profile in ["win7sp1-x64", "xpsp3-x86"] {
        let mut kernel = KernelBuilder::standard(testkit::profile(profile).unwrap())
            .seed(3)
            .memory_mib(16)
            .driver("mine.sys", 0x6000)
            .build()
            .unwrap();
        let m = kernel
            .manifest
            .modules
            .iter()
            .find(|m| m.name == "mine.sys")
            .unwrap()
            .clone();
        // Before: nothing holds the tag.
        let s = session(&kernel);
        assert!(
            s.modules().iter().any(|x| x.name == "mine.sys"),
            "{profile}: {:?}",
            s.modules()
        );
        assert_eq!(s.find_tag_in_images(*b"Mq7z").unwrap(), vec![], "{profile}");
        // Plant it three times past the headers of the driver's first page, the one testkit maps
        // (once with the protected bit); its other pages are not mapped and are skipped.
        let pa = s.address_space().unwrap().translate(m.base.0).unwrap().pa;
        kernel.memory.write(pa + 0x800, b"Mq7z....Mq7z....Mq7\xfa");
        let s = session(&kernel);
        let hits = s.find_tag_in_images(*b"Mq7z").unwrap();
        assert_eq!(hits.len(), 1, "{profile}: {hits:?}");
        assert_eq!(
            (hits[0].module.as_str(), hits[0].hits),
            ("mine.sys", 3),
            "{profile}"
        );
        assert_eq!(
            s.find_tag_in_images(*b"Mq\0z"),
            Err(ImageSearchError::Unsearchable)
        );
    }
}
