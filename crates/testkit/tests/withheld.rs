//! `KernelBuilder::withhold_profile`: the kernel names no real PDB and its globals moved.

use pooldbg_testkit::builder::WITHHELD_SHIFT;
use pooldbg_testkit::{KernelBuilder, profile};

use pooldbg_testkit::builder::WITHHELD_PROFILES as WITHHELD;

#[test]
fn withheld_kernels_move_their_globals_and_name_another_pdb() {
    for name in WITHHELD {
        let p = profile(name).expect("profile");
        let plain = KernelBuilder::new(p).seed(3).build().expect("plain build");
        let k = KernelBuilder::new(p)
            .seed(3)
            .withhold_profile()
            .build()
            .expect("withheld build");
        let (m, m0) = (&k.manifest, &plain.manifest);
        assert!(m.profile.withheld && !m0.profile.withheld, "{name}");
        assert_ne!(m.info.pdb.guid, m0.info.pdb.guid, "{name}");
        assert_eq!(m.info.pdb.guid.len(), 32, "{name}");
        assert_eq!(m.info.kernel_base, m0.info.kernel_base, "{name}");
        // Every global moved by the same distance.
        assert_eq!(m.globals.len(), m0.globals.len(), "{name}");
        for (g, g0) in m.globals.iter().zip(&m0.globals) {
            assert_eq!(g.name, g0.name);
            assert_eq!(
                g.address.0,
                g0.address.0 + WITHHELD_SHIFT,
                "{name} {}",
                g.name
            );
        }
        assert_eq!(m.info.kdbg.0, m0.info.kdbg.0 + WITHHELD_SHIFT, "{name}");
        // The KDBG stays encoded in memory on these builds.
        assert!(m.profile.kdbg_encoded_in_memory, "{name}");
    }
}

#[test]
fn withholding_is_refused_where_no_real_rvas_exist() {
    let p = profile("xpsp3-x86").expect("profile");
    assert!(KernelBuilder::new(p).withhold_profile().build().is_err());
}
