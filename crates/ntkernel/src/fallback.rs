//! Builds with no exact profile: the nearest embedded build of the same version family.
//!
//! Layouts rarely change between revisions of one build, and releases that share a kernel (19041 to
//! 19045, 18362 and 18363) share their layouts; global RVAs move more often. So a guess is used in
//! two tiers:
//!
//! * **layouts** (type sizes, field offsets) of the nearest build are used as they are, and every
//!   answer says `guessed from <build>`;
//! * **global RVAs** of the nearest build are only candidates: [`validate_globals`] checks each one
//!   against the target's memory (the KDBG found at the guessed RVA decodes to `KDBG` with the right
//!   kernel base; pointer globals point inside kernel space; table sizes are sane) and keeps only
//!   those that pass. KDBG pointers, which need no guess, are preferred by the caller.

use crate::Arch;
use crate::memory::KernelMemory;
use crate::profile::{Profile, embedded};
use crate::symbols::{FieldLoc, GlobalAddr, Source, SymbolSource, TypeTable};

/// The version family a build belongs to: builds of one family share a kernel code base.
pub fn family(build: u32) -> u32 {
    match build {
        7600 | 7601 => 7601,
        6000..=6003 => 6002,
        18362 | 18363 => 18362,
        19041..=19045 => 19041,
        22621 | 22631 => 22621,
        b => b,
    }
}

/// The embedded profile nearest to (`arch`, `build`, `revision`) within the same family, other
/// than the one made for `exclude` (used to test the rules on known builds).
///
/// Preference: the same build number, then the nearest build; within those the nearest revision,
/// an older one winning a tie.
pub fn nearest(
    arch: Arch,
    build: u32,
    revision: u32,
    exclude: Option<&crate::PdbId>,
) -> Option<&'static Profile> {
    nearest_in(embedded(), arch, build, revision, exclude)
}

/// [`nearest`] over any list of profiles.
pub fn nearest_in<'a>(
    profiles: &'a [Profile],
    arch: Arch,
    build: u32,
    revision: u32,
    exclude: Option<&crate::PdbId>,
) -> Option<&'a Profile> {
    let fam = family(build);
    profiles
        .iter()
        .filter(|p| p.arch == arch.profile_family() && family(p.build) == fam)
        .filter(|p| match (exclude, &p.pdb) {
            (Some(x), Some(q)) => !(x.guid.eq_ignore_ascii_case(&q.guid) && x.age == q.age),
            _ => true,
        })
        .min_by_key(|p| {
            (
                p.build != build,
                // A profile made from a PDB beats a layout-only one of the same build.
                p.pdb.is_none(),
                p.build.abs_diff(build),
                p.revision.abs_diff(revision),
                p.revision > revision,
            )
        })
}

/// The layouts a guess may use: those of `guess`, less every type on which the embedded profiles
/// of the same build disagree among themselves (e.g. `_MI_SYSTEM_INFORMATION` moved between
/// revisions of 19041): a layout known to vary within a build is not guessed.
pub fn stable_layouts(guess: &Profile, family_members: &[&Profile]) -> TypeTable {
    let mut out = TypeTable {
        types: Default::default(),
        base_sizes: guess.table.base_sizes.clone(),
        globals: guess.table.globals.clone(),
    };
    for (name, def) in &guess.table.types {
        let varies = family_members
            .iter()
            .filter(|p| p.build == guess.build)
            .filter_map(|p| p.table.types.get(name))
            .any(|d| d != def);
        if !varies {
            out.types.insert(name.clone(), def.clone());
        }
    }
    out
}

/// The guess for (`arch`, `build`, `revision`): the nearest profile ([`nearest`]) with only its
/// stable layouts ([`stable_layouts`]); its globals are candidates for [`validate_globals`].
pub fn guess(
    arch: Arch,
    build: u32,
    revision: u32,
    exclude: Option<&crate::PdbId>,
) -> Option<Profile> {
    let near = nearest(arch, build, revision, exclude)?;
    let members: Vec<&Profile> = embedded()
        .iter()
        .filter(|p| p.arch == near.arch && p.build == near.build)
        .filter(|p| match (exclude, &p.pdb) {
            (Some(x), Some(q)) => !(x.guid.eq_ignore_ascii_case(&q.guid) && x.age == q.age),
            _ => true,
        })
        .collect();
    let mut p = near.clone();
    p.table = stable_layouts(near, &members);
    Some(p)
}

/// What checking one guessed global found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The global.
    pub name: String,
    /// The address it would have.
    pub va: u64,
    /// `Ok` when it passed, else why not.
    pub result: Result<(), String>,
}

/// Facts about the target that guesses are checked against.
#[derive(Debug, Clone, Copy)]
pub struct KernelRange {
    /// The kernel image base.
    pub base: u64,
    /// `SizeOfImage` of the kernel, when known (else 32 MiB is assumed as the bound).
    pub size: Option<u64>,
    /// Architecture (for pointer size and kernel-space bounds).
    pub arch: Arch,
}

impl KernelRange {
    fn image_end(&self) -> u64 {
        self.base
            .saturating_add(self.size.unwrap_or(32 * 1024 * 1024))
    }
    fn contains(&self, va: u64) -> bool {
        va >= self.base && va < self.image_end()
    }
    fn kernel_space(&self, va: u64) -> bool {
        if self.arch.is_64bit() {
            va >= 0xFFFF_8000_0000_0000
        } else {
            (0x8000_0000..=0xFFFF_FFFF).contains(&va)
        }
    }
}

/// Globals whose value is a pointer into kernel space (when not zero).
const POINTER_GLOBALS: &[&str] = &[
    "PoolTrackTable",
    "PoolBigPageTable",
    "MmPfnDatabase",
    "ExPoolTagTables",
    "PoolTrackTableExpansion",
];

/// Globals whose value is a table size that must be a power of two no larger than 2^24.
const SIZE_GLOBALS: &[&str] = &["PoolTrackTableSize", "PoolBigPageTableSize"];

/// Checks the candidate RVAs of `guess` against the target and returns a source holding only the
/// globals that passed (with their layouts), and the checks made.
///
/// A global passes when its address lies inside the kernel image and, for the globals the rules
/// know, its value is plausible: `KdDebuggerDataBlock` holds (in clear or decoded with the guessed
/// `KiWaitNever`/`KiWaitAlways`/`KdpDataBlockEncoded`) the `KDBG` tag and the kernel base;
/// pointer globals point into kernel space; table sizes are powers of two up to 2^24.
pub fn validate_globals(
    guess: &Profile,
    mem: &dyn KernelMemory,
    kernel: KernelRange,
) -> (GuessSource, Vec<Check>) {
    let mut checks = Vec::new();
    let mut kept = TypeTable {
        types: guess.table.types.clone(),
        base_sizes: guess.table.base_sizes.clone(),
        globals: Default::default(),
    };
    let ptr = kernel.arch.pointer_size();
    let read_ptr = |va: u64| -> Option<u64> {
        let mut b = [0u8; 8];
        mem.read_virtual(va, &mut b[..ptr]).ok()?;
        Some(u64::from_le_bytes(b))
    };
    let mut names: Vec<&String> = guess.table.globals.keys().collect();
    names.sort();
    for name in names {
        let rva = guess.table.globals[name];
        let Some(va) = kernel.base.checked_add(rva) else {
            continue;
        };
        let result = if !kernel.contains(va) {
            Err(format!("{va:#x} lies outside the kernel image"))
        } else if name == "KdDebuggerDataBlock" {
            check_kdbg(guess, mem, kernel, va)
        } else if POINTER_GLOBALS.contains(&name.as_str()) {
            match read_ptr(va) {
                None => Err(format!("{va:#x} cannot be read")),
                Some(0) => Ok(()),
                Some(v) if kernel.kernel_space(v) => Ok(()),
                Some(v) => Err(format!("value {v:#x} is not a kernel address")),
            }
        } else if SIZE_GLOBALS.contains(&name.as_str()) {
            match read_ptr(va) {
                None => Err(format!("{va:#x} cannot be read")),
                Some(v) if v.is_power_of_two() && v <= 1 << 24 => Ok(()),
                Some(v) => Err(format!("value {v:#x} is not a sane table size")),
            }
        } else {
            // No value rule for it: inside the image is all that can be said; still a guess.
            Ok(())
        };
        if result.is_ok() {
            kept.globals.insert(name.clone(), rva);
        }
        checks.push(Check {
            name: name.clone(),
            va,
            result,
        });
    }
    (
        GuessSource {
            from: guess.name.clone(),
            table: kept,
        },
        checks,
    )
}

fn check_kdbg(
    guess: &Profile,
    mem: &dyn KernelMemory,
    kernel: KernelRange,
    va: u64,
) -> Result<(), String> {
    let mut head = [0u8; 0x20];
    mem.read_virtual(va, &mut head)
        .map_err(|e| format!("KDBG at {va:#x}: {e}"))?;
    let mut block = crate::kdbg::RawKdbg::new(va, head.to_vec());
    if !block.is_clear() {
        let g = |n: &str| {
            guess
                .table
                .globals
                .get(n)
                .and_then(|r| kernel.base.checked_add(*r))
        };
        let (Some(never), Some(always), Some(enc)) = (
            g("KiWaitNever"),
            g("KiWaitAlways"),
            g("KdpDataBlockEncoded"),
        ) else {
            return Err("KDBG is not in clear and the decoding globals are unknown".into());
        };
        let mut b = [0u8; 8];
        mem.read_virtual(never, &mut b)
            .map_err(|e| format!("KiWaitNever at {never:#x}: {e}"))?;
        let wait_never = u64::from_le_bytes(b);
        mem.read_virtual(always, &mut b)
            .map_err(|e| format!("KiWaitAlways at {always:#x}: {e}"))?;
        let wait_always = u64::from_le_bytes(b);
        block.decode(crate::kdbg::KdbgKeys {
            wait_never,
            wait_always,
            data_block_encoded: enc,
        });
    }
    if !block.is_clear() {
        return Err(format!("no KDBG tag at {va:#x}, in clear or decoded"));
    }
    match block.u64_at(0x18) {
        Some(b) if b == kernel.base => Ok(()),
        Some(b) => Err(format!(
            "KDBG at {va:#x} names kernel base {b:#x}, not {:#x}",
            kernel.base
        )),
        None => Err("KDBG too short".into()),
    }
}

/// A guessed profile after validation: layouts as guessed, only the globals that passed.
#[derive(Debug, Clone)]
pub struct GuessSource {
    /// The build the guess came from.
    pub from: String,
    /// Layouts and validated globals.
    pub table: TypeTable,
}

impl SymbolSource for GuessSource {
    fn source(&self) -> Source {
        Source::Guessed(self.from.clone())
    }
    fn global(&self, name: &str) -> Option<GlobalAddr> {
        self.table.globals.get(name).map(|&r| GlobalAddr::Rva(r))
    }
    fn type_size(&self, type_name: &str) -> Option<u64> {
        self.table.type_size(type_name)
    }
    fn field(&self, type_name: &str, field: &str) -> Option<FieldLoc> {
        self.table.field(type_name, field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PdbId;

    fn p(name: &str, build: u32, revision: u32, guid: &str) -> Profile {
        Profile {
            name: name.into(),
            arch: Arch::X64,
            build,
            revision,
            pdb: Some(PdbId {
                name: "ntkrnlmp.pdb".into(),
                guid: guid.into(),
                age: 1,
            }),
            origin: String::new(),
            table: TypeTable::default(),
        }
    }

    #[test]
    fn nearest_prefers_same_build_then_nearest_revision_older_on_tie() {
        let list = vec![
            p("a", 19041, 100, "A"),
            p("b", 19041, 300, "B"),
            p("c", 18362, 200, "C"),
            p("d", 19041, 500, "D"),
        ];
        let n = |b, r| nearest_in(&list, Arch::X64, b, r, None).map(|p| p.name.as_str());
        assert_eq!(n(19041, 290), Some("b"));
        assert_eq!(n(19041, 200), Some("a")); // tie 100/100: older wins
        assert_eq!(n(19045, 3570), Some("d")); // same family, nearest revision
        assert_eq!(n(18363, 1), Some("c"));
        assert_eq!(n(17763, 1), None); // no family member
        assert_eq!(nearest_in(&list, Arch::X86, 19041, 1, None), None);
        let ex = PdbId {
            name: "ntkrnlmp.pdb".into(),
            guid: "b".into(),
            age: 1,
        };
        assert_eq!(
            nearest_in(&list, Arch::X64, 19041, 300, Some(&ex)).map(|p| p.name.as_str()),
            Some("a")
        );
    }

    #[test]
    fn families_group_shared_kernels() {
        assert_eq!(family(19045), family(19041));
        assert_eq!(family(18363), 18362);
        assert_ne!(family(17763), family(18362));
    }
}
