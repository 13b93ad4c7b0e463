//! The x64 invalid-PTE format against the real `_MMPTE_*` types of every ISF build in shared/.

// Test and benchmark scaffolding: a failed fixture step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pooldbg_paging::{Bits, PteFormat};
use testdata::isf::{Isf, index};

fn bits(isf: &Isf, ty: &str, field: &str) -> Bits {
    let f = isf
        .field(ty, field)
        .unwrap_or_else(|| panic!("{ty}.{field}"));
    let b = f
        .bits
        .unwrap_or_else(|| panic!("{ty}.{field} is a bit field"));
    Bits::new(b.position as u8, b.length as u8)
}

#[test]
fn x64_format_matches_every_isf_build() {
    let Some(builds) = index() else { return };
    assert_eq!(builds.len(), 31);
    let f = PteFormat::x64();
    for b in &builds {
        let isf = Isf::load(&b.path).unwrap();
        let v = &b.version;
        assert_eq!(
            bits(&isf, "_MMPTE_SOFTWARE", "PageFileLow"),
            f.page_file_low,
            "{v}"
        );
        assert_eq!(
            bits(&isf, "_MMPTE_SOFTWARE", "PageFileHigh"),
            f.page_file_high,
            "{v}"
        );
        assert_eq!(
            bits(&isf, "_MMPTE_SOFTWARE", "Protection"),
            f.protection,
            "{v}"
        );
        assert_eq!(
            bits(&isf, "_MMPTE_SOFTWARE", "Prototype").pos,
            f.prototype_bit,
            "{v}"
        );
        assert_eq!(
            bits(&isf, "_MMPTE_SOFTWARE", "Transition").pos,
            f.transition_bit,
            "{v}"
        );
        assert_eq!(
            bits(&isf, "_MMPTE_SOFTWARE", "SwizzleBit"),
            Bits::new(4, 1),
            "{v}"
        );
        let pfn = bits(&isf, "_MMPTE_TRANSITION", "PageFrameNumber");
        assert_eq!(pfn.pos, f.transition_pfn.pos, "{v}");
        // 36 bits up to 19041, 40 from 20348: the format reads 40 (the upper 4 are zero before).
        assert!(
            pfn.len == 36 || pfn.len == f.transition_pfn.len,
            "{v}: {pfn:?}"
        );
        let proto = bits(&isf, "_MMPTE_PROTOTYPE", "ProtoAddress");
        assert_eq!((proto.pos, proto.len), (16, 48), "{v}");
        let hw = bits(&isf, "_MMPTE_HARDWARE", "PageFrameNumber");
        assert_eq!(hw.pos, 12, "{v}");
        assert!(hw.len <= 40, "{v}");
    }
}
