//! Dumps of one machine taken hours apart, with known growth: for `pooldbg diff` and the report.
//!
//! Every dump of a series is [`KernelBuilder::standard`] with the same seed (the same boot: same
//! drivers, same kernel base, same standard allocations) plus:
//! - a **leaking** tag, [`LEAK`] (unknown to pooltag.txt, planted in `leaky.sys`'s code, so the
//!   image search names the driver): [`LEAK_STEP`] more nonpaged allocations of 0x600 bytes in each
//!   dump than in the one before;
//! - a **shrinking** tag, [`SHRINK`] (`Ntfs`, owned by `ntfs.sys` in pooltag.txt): [`SHRINK_STEP`]
//!   paged allocations of 0x180 bytes fewer in each dump;
//! - a tag that **appears**, [`APPEAR`] (unknown to pooltag.txt, planted in `disk.sys`'s code):
//!   absent from the first dump, then [`APPEAR_STEP`] paged allocations of 0x90 bytes per dump.
//!
//! The manifests (`Manifest::poolused`) hold each dump's exact counters; a correct diff reports
//! exactly their differences.

use crate::builder::{KernelBuilder, PoolKind};
use crate::profile::Profile;

/// The leaking tag (in `leaky.sys`).
pub const LEAK: [u8; 4] = *b"Leak";
/// Nonpaged allocations the leak adds per dump.
pub const LEAK_STEP: u64 = 12;
/// The shrinking tag (`ntfs.sys` in pooltag.txt).
pub const SHRINK: [u8; 4] = *b"Ntfs";
/// Paged allocations the shrinking tag loses per dump.
pub const SHRINK_STEP: u64 = 5;
/// The tag that appears after the first dump (in `disk.sys`).
pub const APPEAR: [u8; 4] = *b"DkNw";
/// Paged allocations of the appearing tag per dump after the first.
pub const APPEAR_STEP: u64 = 4;

/// `dumps` builders (oldest first) of one machine with the growth described in the module
/// documentation. Callers set memory size and build each; the seed is shared and must stay so.
pub fn growth_series(profile: &'static Profile, dumps: usize) -> Vec<KernelBuilder> {
    let n = dumps as u64;
    (0..n)
        .map(|i| {
            let mut b = KernelBuilder::standard(profile)
                .seed(0x6d17)
                .driver_tag("disk.sys", APPEAR);
            for _ in 0..LEAK_STEP * i {
                b = b.alloc(&LEAK, 0x600, PoolKind::NonPaged);
            }
            for _ in 0..SHRINK_STEP * (n - 1 - i) {
                b = b.alloc(&SHRINK, 0x180, PoolKind::Paged);
            }
            for _ in 0..APPEAR_STEP * i {
                b = b.alloc(&APPEAR, 0x90, PoolKind::Paged);
            }
            b
        })
        .collect()
}

/// Two dumps of one machine ([`growth_series`] of two).
pub fn growth_pair(profile: &'static Profile) -> (KernelBuilder, KernelBuilder) {
    let mut s = growth_series(profile, 2);
    let new = s.pop().unwrap_or_else(|| KernelBuilder::standard(profile));
    let old = s.pop().unwrap_or_else(|| KernelBuilder::standard(profile));
    (old, new)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn manifests_carry_the_growth() {
        let p = crate::profile("win7sp1-x64").unwrap();
        let k: Vec<_> = growth_series(p, 3)
            .into_iter()
            .map(|b| b.memory_mib(32).build().unwrap())
            .collect();
        let row = |i: usize, t: &[u8; 4]| {
            let t = std::str::from_utf8(t).unwrap();
            k[i].manifest.poolused.iter().find(|r| r.tag == t).cloned()
        };
        let out = |r: Option<crate::manifest::PoolUsed>| {
            r.map_or((0, 0), |r| {
                (
                    r.nonpaged_allocs - r.nonpaged_frees + r.paged_allocs - r.paged_frees,
                    r.nonpaged_bytes + r.paged_bytes,
                )
            })
        };
        assert_eq!(out(row(1, &LEAK)).0 - out(row(0, &LEAK)).0, LEAK_STEP);
        // Tracker bytes include the pool header and rounding: at least the requested sizes.
        assert!(out(row(2, &LEAK)).1 - out(row(1, &LEAK)).1 >= LEAK_STEP * 0x600);
        assert_eq!(out(row(0, &SHRINK)).0 - out(row(1, &SHRINK)).0, SHRINK_STEP);
        assert!(row(0, &APPEAR).is_none());
        assert_eq!(out(row(2, &APPEAR)).0, 2 * APPEAR_STEP);
        assert!(out(row(2, &APPEAR)).1 >= 2 * APPEAR_STEP * 0x90);
        let disk = k[0]
            .manifest
            .modules
            .iter()
            .find(|m| m.name == "disk.sys")
            .unwrap();
        assert!(disk.code_tags.iter().any(|t| t == "DkNw"));
        // Everything else is the same machine.
        assert_eq!(
            k[0].manifest.info.kernel_base.0,
            k[2].manifest.info.kernel_base.0
        );
    }
}
