//! The dumps the benchmark reads: which, where, and writing the missing ones (testkit).

use std::path::{Path, PathBuf};

use testkit::{Container, KernelBuilder, PoolKind, WriteOptions, write_with_manifest};

/// The profile of the read, `!poolused` and Volatility measurements: a Windows 10 1809 x64 kernel
/// with real symbols in `shared/data/isf` (so Volatility 3 can read it) and tracker tables.
pub const MAIN_PROFILE: &str = "win10-1809-x64";
/// The profile of the pool-scan measurement: Server 2003 SP2 x64, whose pool ranges pooldbg
/// resolves (on Windows 7+ x64 it does not yet, so `!poolfind` reads only the big page table there).
pub const SCAN_PROFILE: &str = "win2003sp2-x64";
/// The testkit seed of every benchmark dump (deterministic files, reusable between runs).
pub const SEED: u64 = 13;
/// Written into each dump's `.done` marker: a dump made by another recipe is rewritten. Change it
/// whenever [`populate`] or the seed changes.
pub const RECIPE: &str = "seed 13, 16 allocations/MiB, 1 big/16 MiB, v1";

/// One benchmark dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Short name (`"1g-full"`), also the file stem.
    pub name: String,
    /// testkit profile.
    pub profile: &'static str,
    /// Physical memory in MiB.
    pub mib: u64,
    /// `true` for a kernel bitmap dump (type 5), `false` for a full dump (type 1).
    pub bitmap: bool,
    /// For the `!poolfind *` memory measurement (issue #21): this many small nonpaged blocks
    /// ([`populate_poolfind`]) instead of [`populate`]'s mix.
    pub blocks: Option<u64>,
}

impl Spec {
    fn new(profile: &'static str, mib: u64, bitmap: bool) -> Spec {
        let size = if mib >= 1024 {
            format!("{}g", mib / 1024)
        } else {
            format!("{mib}m")
        };
        let kind = if bitmap { "bitmap" } else { "full" };
        let tag = if profile == SCAN_PROFILE { "-2003" } else { "" };
        Spec {
            name: format!("{size}-{kind}{tag}"),
            profile,
            mib,
            bitmap,
            blocks: None,
        }
    }

    /// A full dump of `profile` with `mib` MiB of memory holding `blocks` small nonpaged blocks,
    /// named `pf-{classic|segheap}-{blocks}`.
    pub(crate) fn poolfind(profile: &'static str, mib: u64, blocks: u64) -> Spec {
        let pool = match testkit::profile(profile).map(|p| p.pool) {
            Some(testkit::profile::PoolModel::Classic) => "classic",
            _ => "segheap",
        };
        Spec {
            name: format!("pf-{pool}-{blocks}"),
            profile,
            mib,
            bitmap: false,
            blocks: Some(blocks),
        }
    }

    /// What the `.done` marker must hold for the dump to be reused.
    fn recipe(&self) -> &'static str {
        if self.blocks.is_some() {
            POOLFIND_RECIPE
        } else {
            RECIPE
        }
    }

    /// The testkit container.
    pub fn container(&self) -> Container {
        if self.bitmap {
            Container::Bitmap {
                full: false,
                dump_type: 5,
            }
        } else {
            Container::Full
        }
    }

    /// The dump's path under `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.dmp", self.name))
    }

    /// The manifest's path under `dir`.
    pub fn manifest(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.json", self.name))
    }

    /// An upper bound of the file's size: the memory plus a generous header and bitmap. The files
    /// are written sparse (zero pages are holes), so the blocks used on disk are far fewer.
    pub fn max_bytes(&self) -> u64 {
        (self.mib << 20) + (1 << 20)
    }

    /// Whether the dump and its manifest are already there, complete.
    pub fn is_present(&self, dir: &Path) -> bool {
        let done = dir.join(format!("{}.done", self.name));
        self.path(dir).exists()
            && self.manifest(dir).exists()
            && std::fs::read_to_string(done).is_ok_and(|r| r == self.recipe())
    }

    /// Writes the dump and its manifest, then a `.done` marker (so an interrupted write is redone).
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let profile = testkit::profile(self.profile)
            .ok_or_else(|| format!("testkit has no profile {}", self.profile))?;
        let builder = KernelBuilder::standard(profile)
            .seed(SEED)
            .memory_mib(self.mib);
        let builder = match self.blocks {
            Some(n) => populate_poolfind(builder, n),
            None => populate(builder, self.mib),
        };
        let kernel = builder.build().map_err(|e| format!("{}: {e}", self.name))?;
        let path = self.path(dir);
        write_with_manifest(&kernel, self.container(), &path, &WriteOptions::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let done = dir.join(format!("{}.done", self.name));
        std::fs::write(&done, self.recipe()).map_err(|e| format!("{}: {e}", done.display()))
    }
}

/// Small allocations added per MiB of memory (a 4 GiB machine gets 64 Ki of them, about 80 MiB
/// of pool pages), so the scan and `!poolused` have a pool of realistic density to read.
pub const ALLOCS_PER_MIB: u64 = 16;
/// Big (page-granular) allocations added per 16 MiB of memory (256 on a 4 GiB machine).
pub const BIGS_PER_16MIB: u64 = 1;

/// Adds the benchmark's allocations to a kernel: deterministic sizes (16..=2032 bytes for small
/// blocks, 1..=4 pages for big ones, one small block in 16 freed), 8 tags, both pools.
pub fn populate(mut b: KernelBuilder, mib: u64) -> KernelBuilder {
    const TAGS: [&[u8; 4]; 8] = [
        b"BnA0", b"BnB1", b"BnC2", b"BnD3", b"File", b"Irp ", b"MmSt", b"Ntfx",
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..mib * ALLOCS_PER_MIB {
        let r = next();
        let pool = if i % 2 == 0 {
            PoolKind::NonPaged
        } else {
            PoolKind::Paged
        };
        let size = 16 + (r % 127) * 16;
        let t = TAGS[((r >> 32) % TAGS.len() as u64) as usize];
        b = if r >> 60 == 0 {
            b.freed(t, size, pool)
        } else {
            b.alloc(t, size, pool)
        };
    }
    for i in 0..mib / 16 * BIGS_PER_16MIB {
        let r = next();
        let pool = if i % 2 == 0 {
            PoolKind::NonPaged
        } else {
            PoolKind::Paged
        };
        let t = TAGS[((r >> 32) % TAGS.len() as u64) as usize];
        b = b.big(t, (1 + r % 4) * 0x1000, pool);
    }
    b
}

/// Written into the `.done` marker of the `!poolfind` dumps ([`populate_poolfind`]).
pub const POOLFIND_RECIPE: &str = "seed 13, N nonpaged blocks of 16..=256 bytes, 1 in 16 freed, v1";

/// Adds `blocks` small nonpaged allocations (16..=256 bytes, one in 16 freed, 8 tags): the pool
/// `!poolfind *` lists, block for block, in the memory measurement.
pub fn populate_poolfind(mut b: KernelBuilder, blocks: u64) -> KernelBuilder {
    const TAGS: [&[u8; 4]; 8] = [
        b"PfA0", b"PfB1", b"PfC2", b"PfD3", b"File", b"Irp ", b"MmSt", b"Ntfx",
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..blocks {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = 16 + (x % 16) * 16;
        let t = TAGS[((x >> 32) % TAGS.len() as u64) as usize];
        b = if x >> 60 == 0 {
            b.freed(t, size, PoolKind::NonPaged)
        } else {
            b.alloc(t, size, PoolKind::NonPaged)
        };
    }
    b
}

/// The profiles of the `!poolfind *` memory measurement: one classic pool, one segment heap.
pub const POOLFIND_PROFILES: [&str; 2] = [SCAN_PROFILE, "win10-2004-x64"];

/// The `!poolfind *` memory measurement's dumps (issue #21): per profile of
/// [`POOLFIND_PROFILES`], two dumps of the same memory size whose pools differ tenfold in blocks
/// (`quick`: 5 000 and 50 000 in 128 MiB; else 50 000 and 500 000 in 512 MiB).
pub fn poolfind_set(quick: bool) -> Vec<Spec> {
    let (mib, small) = if quick { (128, 5_000) } else { (512, 50_000) };
    POOLFIND_PROFILES
        .iter()
        .flat_map(|&p| {
            [
                Spec::poolfind(p, mib, small),
                Spec::poolfind(p, mib, small * 10),
            ]
        })
        .collect()
}

/// Every dump of a run: [`set`] and [`poolfind_set`].
pub fn all(quick: bool) -> Vec<Spec> {
    let mut v = set(quick);
    v.extend(poolfind_set(quick));
    v
}

/// The set for a run: `quick` is two 64 MiB dumps of the main profile and one of the scan profile;
/// the full run has 1 GiB and 4 GiB dumps, full and bitmap, and a 4 GiB full dump for the scan.
pub fn set(quick: bool) -> Vec<Spec> {
    if quick {
        vec![
            Spec::new(MAIN_PROFILE, 64, false),
            Spec::new(MAIN_PROFILE, 64, true),
            Spec::new(SCAN_PROFILE, 64, false),
        ]
    } else {
        vec![
            Spec::new(MAIN_PROFILE, 1024, false),
            Spec::new(MAIN_PROFILE, 1024, true),
            Spec::new(MAIN_PROFILE, 4096, false),
            Spec::new(MAIN_PROFILE, 4096, true),
            Spec::new(SCAN_PROFILE, 4096, false),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let s = set(false);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "1g-full",
                "1g-bitmap",
                "4g-full",
                "4g-bitmap",
                "4g-full-2003"
            ]
        );
        assert_eq!(s[0].path(Path::new("/b")), PathBuf::from("/b/1g-full.dmp"));
        assert_eq!(set(true)[1].name, "64m-bitmap");
        assert!(s[2].max_bytes() > 4 << 30);
    }

    #[test]
    fn a_missing_marker_means_not_present() {
        let dir = std::env::temp_dir().join(format!("pooldbg-bench-{}", std::process::id()));
        let spec = &set(true)[0];
        assert!(!spec.is_present(&dir));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::write(spec.path(&dir), b"x").unwrap_or_default();
        std::fs::write(spec.manifest(&dir), b"{}").unwrap_or_default();
        assert!(!spec.is_present(&dir), "no .done marker: rewritten");
        std::fs::write(dir.join("64m-full.done"), "an older recipe").unwrap_or_default();
        assert!(!spec.is_present(&dir), "another recipe: rewritten");
        std::fs::write(dir.join("64m-full.done"), RECIPE).unwrap_or_default();
        assert!(spec.is_present(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
