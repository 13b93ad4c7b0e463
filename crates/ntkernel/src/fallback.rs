//! Builds with no exact profile: the nearest embedded build of the same version family.
//!
//! Layouts rarely change between revisions of one build, and releases that share a kernel (19041 to
//! 19045, 18362 and 18363) share their layouts; global RVAs move more often. So a guess is used in
//! two tiers:
//!
//! * **layouts** (type sizes, field offsets) of the nearest build are used as they are, and every
//!   answer says `guessed from <build>`;
//! * **global RVAs** of the nearest build are only candidates: [`validate_globals`] checks each one
//!   against the target's memory (where the KDBG points; the KDBG found at the guessed RVA decodes
//!   to `KDBG` with the right kernel base, which also proves the decoding keys; pointer globals hold
//!   readable kernel pointers; table sizes are sane) and keeps only those that pass; a global no
//!   check can confirm is rejected. KDBG pointers, which need no guess, are preferred by the caller.

use crate::Arch;
use crate::kdbg::Kdbg;
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

/// The layouts a guess may use: those of `guess`, less every field on which the embedded profiles
/// of the same build disagree among themselves (e.g. `_MI_SYSTEM_INFORMATION.Vs` moved between
/// revisions of 19041): a layout known to vary within a build is not guessed. A type whose size
/// varies (`_EPROCESS` grows by a few bytes between revisions of 9600, 14393, 20348) keeps the fields
/// all agree on, and its size is unknown ([`crate::symbols::UNKNOWN_SIZE`]).
pub fn stable_layouts(guess: &Profile, family_members: &[&Profile]) -> TypeTable {
    let mut out = TypeTable {
        types: Default::default(),
        base_sizes: guess.table.base_sizes.clone(),
        globals: guess.table.globals.clone(),
    };
    for (name, def) in &guess.table.types {
        let others: Vec<&crate::symbols::TypeDef> = family_members
            .iter()
            .filter(|p| p.build == guess.build)
            .filter_map(|p| p.table.types.get(name))
            .collect();
        let fields = def
            .fields
            .iter()
            .filter(|(f, d)| others.iter().all(|o| o.fields.get(*f) == Some(*d)))
            .map(|(f, d)| (f.clone(), d.clone()))
            .collect();
        let size = if others.iter().all(|o| o.size == def.size) {
            def.size
        } else {
            crate::symbols::UNKNOWN_SIZE
        };
        out.types
            .insert(name.clone(), crate::symbols::TypeDef { size, fields });
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
/// A global is kept only when a positive check passes (an address merely inside the image proves
/// nothing: RVAs move by a few bytes between revisions):
/// * a global the KDBG points at must be exactly where the KDBG says;
/// * `KdDebuggerDataBlock` must hold, in clear or decoded with the guessed `KiWaitNever` /
///   `KiWaitAlways` / `KdpDataBlockEncoded`, the `KDBG` tag and the kernel base — and when decoding
///   was needed, those three key globals are proven by it;
/// * pointer globals (`PoolTrackTable`, `PoolBigPageTable`, ...) must hold a readable kernel-space
///   pointer;
/// * table sizes must be powers of two from 0x100 to 2^24.
///
/// Every other guessed global is rejected as unverifiable (the caller says so).
pub fn validate_globals(
    guess: &Profile,
    mem: &dyn KernelMemory,
    kernel: KernelRange,
    kdbg: Option<&Kdbg>,
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
    let kdbg_says = |name: &str| -> Option<u64> {
        let k = kdbg?;
        match crate::target::KdbgSymbols::new(k.clone()).global(name)? {
            GlobalAddr::Va(v) => Some(v),
            GlobalAddr::Rva(_) => None,
        }
    };
    // The KDBG check first: it may prove the three key globals.
    let mut keys_proven = false;
    let mut names: Vec<&String> = guess.table.globals.keys().collect();
    names.sort_by_key(|n| (n.as_str() != "KdDebuggerDataBlock", n.as_str()));
    for name in names {
        let Some(&rva) = guess.table.globals.get(name) else {
            continue;
        };
        let Some(va) = kernel.base.checked_add(rva) else {
            continue;
        };
        let result = if !kernel.contains(va) {
            Err(format!("{va:#x} lies outside the kernel image"))
        } else if let Some(k) = kdbg_says(name) {
            if k == va {
                Ok(())
            } else {
                Err(format!("the KDBG puts it at {k:#x}, not {va:#x}"))
            }
        } else if name == "KdDebuggerDataBlock" {
            check_kdbg(guess, mem, kernel, va).map(|decoded| keys_proven = decoded)
        } else if KEY_GLOBALS.contains(&name.as_str()) {
            if keys_proven {
                Ok(())
            } else {
                Err("only a KDBG decoded with it would prove it".to_string())
            }
        } else if let Some(r) = pool_table_check(name, guess, mem, kernel, &read_ptr, &kdbg_says) {
            r
        } else if POINTER_GLOBALS.contains(&name.as_str()) {
            match read_ptr(va) {
                None => Err(format!("{va:#x} cannot be read")),
                Some(v) if !kernel.kernel_space(v) => {
                    Err(format!("value {v:#x} is not a kernel address"))
                }
                Some(v) if read_ptr(v).is_none() => {
                    Err(format!("value {v:#x} does not point at readable memory"))
                }
                Some(_) => Ok(()),
            }
        } else if SIZE_GLOBALS.contains(&name.as_str()) {
            match read_ptr(va) {
                None => Err(format!("{va:#x} cannot be read")),
                Some(v) if v.is_power_of_two() && (0x100..=1 << 24).contains(&v) => Ok(()),
                Some(v) => Err(format!("value {v:#x} is not a sane table size")),
            }
        } else {
            Err("no check can confirm it".to_string())
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

/// The pool tables' globals are checked by what they lead to, not by their values alone (a wrong
/// guess that lands on another power of two or kernel pointer would give wrong figures):
/// `PoolTrackTableSize` must size the tracker table (the KDBG's `PoolTrackTable`, else the guessed
/// one, which then stands or falls with it) so that its tags sit where the tag hash puts them; `PoolBigPageTable` and `PoolBigPageTableSize` must together
/// give a table of well-formed big-page entries ([`crate::nosym::big_table_fits`]);
/// `ExPoolTagTables[0]` (the array is the global) must be the tracker table. `None` for other
/// globals.
fn pool_table_check(
    name: &str,
    guess: &Profile,
    mem: &dyn KernelMemory,
    kernel: KernelRange,
    read_ptr: &dyn Fn(u64) -> Option<u64>,
    kdbg_says: &dyn Fn(&str) -> Option<u64>,
) -> Option<Result<(), String>> {
    use crate::nosym;
    if !kernel.arch.is_64bit() {
        return None;
    }
    let guessed = |n: &str| {
        guess
            .table
            .globals
            .get(n)
            .and_then(|r| kernel.base.checked_add(*r))
    };
    // The tracker table: where the KDBG says, else where the guess says (then the guessed
    // `PoolTrackTable` and `PoolTrackTableSize` stand or fall together).
    let tracker = || {
        kdbg_says("PoolTrackTable")
            .or_else(|| guessed("PoolTrackTable"))
            .and_then(read_ptr)
            .filter(|&t| t != 0)
            .ok_or_else(|| "no tracker table (PoolTrackTable) to check it against".to_string())
    };
    let value = |n: &str| {
        let va = guessed(n).ok_or_else(|| format!("{n} is not guessed"))?;
        read_ptr(va).ok_or_else(|| format!("{va:#x} cannot be read"))
    };
    Some(match name {
        "PoolTrackTableSize" | "PoolTrackTable" => (|| {
            let table = tracker()?;
            let n = value("PoolTrackTableSize")?;
            let entry = guess.table.type_size("_POOL_TRACKER_TABLE").unwrap_or(0x28);
            if nosym::tracker_size_fits(mem, table, n, entry) {
                Ok(())
            } else {
                Err(format!(
                    "value {n:#x} does not size the tracker table at {table:#x} (its tags are not where the tag hash puts them)"
                ))
            }
        })(),
        "PoolBigPageTable" | "PoolBigPageTableSize" => (|| {
            let table = value("PoolBigPageTable")?;
            let n = value("PoolBigPageTableSize")?;
            let layout = nosym::PoolTableLayout {
                tracker_entry: 0x28,
                big_entry: guess
                    .table
                    .type_size("_POOL_TRACKER_BIG_PAGES")
                    .unwrap_or(if guess.build >= 20348 { 0x20 } else { 0x18 }),
                big_hash: guess.build >= 10240,
            };
            if nosym::big_table_fits(mem, table, n, layout) {
                Ok(())
            } else {
                Err(format!(
                    "{table:#x} x {n:#x} is no table of well-formed big-page entries"
                ))
            }
        })(),
        // The array itself is the global (\[0\] the global table, then one per processor).
        "ExPoolTagTables" => (|| {
            let table = tracker()?;
            match value(name)? {
                t if t == table => Ok(()),
                t => Err(format!(
                    "its first table {t:#x} is not the tracker table {table:#x}"
                )),
            }
        })(),
        _ => return None,
    })
}

/// The KDBG decoding keys: proven when they decode the KDBG.
const KEY_GLOBALS: &[&str] = &["KiWaitNever", "KiWaitAlways", "KdpDataBlockEncoded"];

/// Checks the block at `va`; `Ok(true)` when it had to be decoded with the guessed keys.
fn check_kdbg(
    guess: &Profile,
    mem: &dyn KernelMemory,
    kernel: KernelRange,
    va: u64,
) -> Result<bool, String> {
    let mut head = [0u8; 0x20];
    mem.read_virtual(va, &mut head)
        .map_err(|e| format!("KDBG at {va:#x}: {e}"))?;
    let mut block = crate::kdbg::RawKdbg::new(va, head.to_vec());
    let decoded = !block.is_clear();
    if decoded {
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
    let mask = if kernel.arch.is_64bit() {
        u64::MAX
    } else {
        0xffff_ffff
    };
    match block.u64_at(0x18).map(|b| b & mask) {
        Some(b) if b == kernel.base => Ok(decoded),
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
    fn only_globals_a_check_confirms_are_kept() {
        use crate::kdbg::{KdbgKeys, OWNER_TAG};
        use crate::memory::SparseMemory;
        let base = 0xfffff804_7ba00000u64;
        let mut g = p("10.0.19041.329", 19041, 329, "A");
        for (n, r) in [
            ("KdDebuggerDataBlock", 0x1000u64),
            ("KiWaitNever", 0x2000),
            ("KiWaitAlways", 0x2008),
            ("KdpDataBlockEncoded", 0x2010),
            ("PoolTrackTable", 0x3000),
            ("PoolBigPageTable", 0x3008),
            ("PoolTrackTableSize", 0x3010),
            ("PoolBigPageTableSize", 0x3018),
            ("MiState", 0x3020),
            ("ExPoolTagTables", 0x4000_0000),
        ] {
            g.table.globals.insert(n.into(), r);
        }
        let keys = KdbgKeys {
            wait_never: 0x1111_2222_3333_4405,
            wait_always: 0x5555,
            data_block_encoded: base + 0x2010,
        };
        let mut m = SparseMemory::new();
        let mut k = [0u8; 0x20];
        k[0x10..0x14].copy_from_slice(&OWNER_TAG.to_le_bytes());
        k[0x14..0x18].copy_from_slice(&0x380u32.to_le_bytes());
        k[0x18..0x20].copy_from_slice(&base.to_le_bytes());
        for (i, c) in k.chunks_exact(8).enumerate() {
            let q = keys.encode(u64::from_le_bytes(c.try_into().unwrap()));
            m.write_u64(base + 0x1000 + 8 * i as u64, q);
        }
        m.write_u64(base + 0x2000, keys.wait_never);
        m.write_u64(base + 0x2008, keys.wait_always);
        // A tracker table of 0x100 entries (0x28 bytes), tags placed by the tag hash
        // (`40543 * Tag`, folded; linear probing), one of them in the upper half.
        let table = 0xffffa000_00000000u64;
        m.write(table, &[0u8; 0x100 * 0x28]);
        let mut used = [false; 0x100];
        for i in 0..12u32 {
            let tag = 0x3030_6754 + (i << 16) + i * 0x5a5a;
            let h = u64::from(tag).wrapping_mul(40543);
            let mut slot = ((h ^ (h >> 32)) & 0xff) as usize;
            while used[slot] {
                slot = (slot + 1) & 0xff;
            }
            used[slot] = true;
            m.write(table + slot as u64 * 0x28, &tag.to_le_bytes());
        }
        assert!(used[0x80..].iter().any(|&u| u));
        m.write_u64(base + 0x3000, table);
        m.write_u64(base + 0x3008, 0xffffb000_00000000); // not readable
        m.write_u64(base + 0x3010, 0x100);
        m.write_u64(base + 0x3018, 0x3);
        m.write_u64(base + 0x3020, 0xffffa000_00000000);
        let range = KernelRange {
            base,
            size: Some(0x100_0000),
            arch: Arch::X64,
        };
        let (src, checks) = validate_globals(&g, &m, range, None);
        let mut kept: Vec<&str> = src.table.globals.keys().map(String::as_str).collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                "KdDebuggerDataBlock",
                "KdpDataBlockEncoded",
                "KiWaitAlways",
                "KiWaitNever",
                "PoolTrackTable",
                "PoolTrackTableSize"
            ],
            "{checks:#?}"
        );
        let why = |n: &str| {
            checks
                .iter()
                .find(|c| c.name == n)
                .and_then(|c| c.result.clone().err())
                .unwrap_or_default()
        };
        assert!(why("MiState").contains("no check"));
        assert!(why("ExPoolTagTables").contains("outside the kernel image"));
        assert!(why("PoolBigPageTable").contains("no table of well-formed"));
        assert!(why("PoolBigPageTableSize").contains("no table of well-formed"));
        // A guessed size that is a power of two but does not size the table: refused, and the
        // guessed PoolTrackTable with it.
        m.write_u64(base + 0x3010, 0x200);
        let (src, checks) = validate_globals(&g, &m, range, None);
        assert!(
            !src.table.globals.contains_key("PoolTrackTableSize"),
            "{checks:#?}"
        );
        assert!(!src.table.globals.contains_key("PoolTrackTable"));
        m.write_u64(base + 0x3010, 0x100);
        // With the keys wrong, neither the KDBG nor the keys are kept.
        m.write_u64(base + 0x2008, 0x6666);
        let (src, _) = validate_globals(&g, &m, range, None);
        assert!(!src.table.globals.contains_key("KdDebuggerDataBlock"));
        assert!(!src.table.globals.contains_key("KiWaitNever"));
    }

    #[test]
    fn families_group_shared_kernels() {
        assert_eq!(family(19045), family(19041));
        assert_eq!(family(18363), 18362);
        assert_ne!(family(17763), family(18362));
    }
}
