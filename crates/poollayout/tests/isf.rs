//! For every build of the real ISF index, the offsets and sizes this crate uses equal the ISF facts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Facts, check};
use pooldbg_poollayout::{Arch, Confidence, Layout};
use testdata::isf::{Isf, index};

struct IsfFacts(Isf);

impl Facts for IsfFacts {
    fn size(&self, ty: &str) -> Option<u64> {
        self.0.json()["user_types"][ty]["size"].as_u64()
    }
    fn field(&self, ty: &str, field: &str) -> Option<(u64, Option<(u32, u32)>)> {
        self.0
            .field(ty, field)
            .map(|f| (f.offset, f.bits.map(|b| (b.position, b.length))))
    }
    fn width(&self, ty: &str, field: &str) -> Option<u64> {
        let t = &self.0.json()["user_types"][ty]["fields"][field]["type"];
        match t["kind"].as_str()? {
            "base" => self.0.type_size(t["name"].as_str()?),
            "pointer" => Some(8),
            "enum" => Some(4),
            _ => None,
        }
    }
    fn has_symbol(&self, name: &str) -> Option<bool> {
        Some(self.0.symbol_rva(name).is_some())
    }
}

#[test]
fn every_isf_build_matches_the_layout_table() {
    let Some(index) = index() else { return };
    assert_eq!(index.len(), 31);
    let mut total = 0;
    let mut failures = Vec::new();
    for entry in &index {
        let layout = Layout::for_build(Arch::X64, entry.build())
            .unwrap_or_else(|e| panic!("{}: {e}", entry.version));
        assert_eq!(
            layout.confidence(),
            Confidence::Verified,
            "{} should be a verified build of {}",
            entry.version,
            layout.family().name
        );
        let isf = IsfFacts(Isf::load(&entry.path).unwrap());
        let c = check(&layout, &isf, false);
        total += c.checks;
        assert!(
            c.checks > 40,
            "{}: only {} checks ran",
            entry.version,
            c.checks
        );
        failures.extend(
            c.errors
                .iter()
                .map(|e| format!("{} ({}): {e}", entry.version, layout.family().name)),
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total > 31 * 40);
}

/// The checker is not vacuous: a wrong family's layout is caught.
#[test]
fn a_wrong_layout_is_caught() {
    let Some(index) = index() else { return };
    let e19041 = index.iter().find(|e| e.build() == 19041).unwrap();
    let isf = IsfFacts(Isf::load(&e19041.path).unwrap());
    let win7 = Layout::for_build(Arch::X64, 7601).unwrap();
    let c = check(&win7, &isf, false);
    assert!(
        c.errors.iter().any(|e| e.contains("_POOL_TRACKER_TABLE")),
        "{:?}",
        c.errors
    );
    assert!(c.errors.iter().any(|e| e.contains("segment-heap")));
}
