//! Symbol sources behind one trait: where a global is, how big a type is, where a field is — and
//! which source said so.
//!
//! Every concrete source (a user's ISF file, a user's PDB, an embedded profile, a profile of a nearby
//! build used as a guess, the KDBG) answers through [`SymbolSource`]. A [`SymbolStack`] asks them in
//! order of trust and returns the first answer together with its [`Source`].

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

/// Where an answer came from. Shown to the user whenever it is not exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A user's ISF file (`--symbols`).
    UserIsf(PathBuf),
    /// A user's PDB file (`--symbols FILE.pdb`, a local symbol store, `_NT_SYMBOL_PATH`).
    UserPdb(PathBuf),
    /// A profile embedded in pooldbg, made for exactly this kernel (by PDB GUID and age); the name
    /// is the kernel's file version, e.g. `10.0.19041.329`.
    Embedded(String),
    /// A profile of another build of the same version family, used because no exact one exists;
    /// the name is that build's version.
    Guessed(String),
    /// The kernel's debugger data block (KDBG) pointed at the global.
    Kdbg,
    /// Found without symbols by a validated search of the dump's data (`crate::nosym`); the text
    /// says how (e.g. `KDBG decoded without keys`).
    Found(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::UserIsf(p) => write!(f, "ISF {}", p.display()),
            Source::UserPdb(p) => write!(f, "PDB {}", p.display()),
            Source::Embedded(n) => write!(f, "embedded profile {n}"),
            Source::Guessed(n) => write!(f, "guessed from {n}"),
            Source::Kdbg => f.write_str("KDBG"),
            Source::Found(how) => write!(f, "found without symbols ({how})"),
        }
    }
}

impl Source {
    /// True when the answer is not known to be exact for the target (a guess, or found by a
    /// validated search rather than named by symbols).
    pub fn is_guess(&self) -> bool {
        matches!(self, Source::Guessed(_) | Source::Found(_))
    }
}

/// A bit field's place inside its storage unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bits {
    /// First bit (0 = least significant).
    pub position: u32,
    /// Number of bits.
    pub length: u32,
}

/// Where a field is in its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldLoc {
    /// Byte offset from the start of the structure (summed along a dotted path).
    pub offset: u64,
    /// The bit range within the storage unit at `offset`, for bit fields.
    pub bits: Option<Bits>,
}

/// Where a global is: relative to the kernel image base, or already a virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GlobalAddr {
    /// Relative virtual address inside the kernel image (ISF, PDB, profiles).
    Rva(u64),
    /// Absolute virtual address (KDBG pointers).
    Va(u64),
}

impl GlobalAddr {
    /// The virtual address, given the kernel's base. `None` when the sum overflows.
    pub fn to_va(self, kernel_base: u64) -> Option<u64> {
        match self {
            GlobalAddr::Rva(r) => kernel_base.checked_add(r),
            GlobalAddr::Va(v) => Some(v),
        }
    }
}

/// A value with the source that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    /// The value.
    pub value: T,
    /// Who answered.
    pub source: Source,
}

/// One place that knows symbols.
///
/// Field names may be dotted paths through embedded structures and unions (`Vp.AvailablePages`,
/// `Pcb.DirectoryTableBase`); the offsets along the path add up.
pub trait SymbolSource: fmt::Debug + Send + Sync {
    /// Who this source is (the same for every answer it gives).
    fn source(&self) -> Source;
    /// Where the global `name` is (`PoolTrackTable`, `KdDebuggerDataBlock`, ...).
    fn global(&self, name: &str) -> Option<GlobalAddr>;
    /// The size in bytes of a type (`_POOL_HEADER`) or base type (`unsigned long`).
    fn type_size(&self, type_name: &str) -> Option<u64>;
    /// Where `field` (possibly dotted) is inside `type_name`.
    fn field(&self, type_name: &str, field: &str) -> Option<FieldLoc>;
}

/// One field of a [`TypeDef`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    /// Byte offset in the structure.
    pub offset: u64,
    /// Bit range for bit fields.
    pub bits: Option<Bits>,
    /// The name of the field's type when it is an embedded structure or union (so that dotted
    /// paths can go through it); `None` for base types, pointers, arrays and enums.
    pub nested: Option<String>,
}

/// A structure or union: its size and fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeDef {
    /// Size in bytes.
    pub size: u64,
    /// Fields by name.
    pub fields: HashMap<String, FieldDef>,
}

/// The common in-memory form every file-based source is loaded into: types and global RVAs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeTable {
    /// User types (structures, unions) by name.
    pub types: HashMap<String, TypeDef>,
    /// Base type sizes (`unsigned long` -> 4, `pointer` -> 8).
    pub base_sizes: HashMap<String, u64>,
    /// Global RVAs by name.
    pub globals: HashMap<String, u64>,
}

/// Dotted paths are at most this deep; stops a cyclic table from looping.
const MAX_PATH_DEPTH: usize = 16;

/// The [`TypeDef::size`] of a type whose fields are known but whose size is not (a guessed layout
/// whose size varies between revisions of a build): [`TypeTable::type_size`] answers `None`.
pub const UNKNOWN_SIZE: u64 = u64::MAX;

impl TypeTable {
    /// The size of a user type or base type (`None` for [`UNKNOWN_SIZE`]).
    pub fn type_size(&self, name: &str) -> Option<u64> {
        match self.types.get(name) {
            Some(t) if t.size == UNKNOWN_SIZE => None,
            Some(t) => Some(t.size),
            None => self.base_sizes.get(name).copied(),
        }
    }

    /// Resolves a possibly dotted field path.
    pub fn field(&self, type_name: &str, path: &str) -> Option<FieldLoc> {
        let mut current = type_name;
        let mut offset = 0u64;
        let mut last = None;
        for (depth, part) in path.split('.').enumerate() {
            if depth >= MAX_PATH_DEPTH {
                return None;
            }
            let ty = self.types.get(current)?;
            let f = ty.fields.get(part)?;
            offset = offset.checked_add(f.offset)?;
            last = Some(FieldLoc {
                offset,
                bits: f.bits,
            });
            match &f.nested {
                Some(n) => current = n.as_str(),
                None => current = "",
            }
        }
        last
    }
}

/// A [`TypeTable`] together with who it came from: the one implementation of [`SymbolSource`] that
/// ISF files, PDB files and profiles share.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// The data.
    pub table: TypeTable,
    /// Who it came from.
    pub source: Source,
}

impl SymbolSource for TableSource {
    fn source(&self) -> Source {
        self.source.clone()
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

/// Sources asked in order; the first that knows answers.
#[derive(Debug, Default)]
pub struct SymbolStack {
    sources: Vec<Box<dyn SymbolSource>>,
}

impl SymbolStack {
    /// An empty stack (answers nothing).
    pub fn new() -> SymbolStack {
        SymbolStack::default()
    }

    /// Adds a source below the ones already there (asked after them).
    pub fn push(&mut self, source: Box<dyn SymbolSource>) {
        self.sources.push(source);
    }

    /// The sources, in the order they are asked.
    pub fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        self.sources.iter().map(|s| s.source())
    }

    /// True when no source is present.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Where a global is, and who said so.
    pub fn global(&self, name: &str) -> Option<Answer<GlobalAddr>> {
        self.sources.iter().find_map(|s| {
            s.global(name).map(|value| Answer {
                value,
                source: s.source(),
            })
        })
    }

    /// The size of a type, and who said so.
    pub fn type_size(&self, type_name: &str) -> Option<Answer<u64>> {
        self.sources.iter().find_map(|s| {
            s.type_size(type_name).map(|value| Answer {
                value,
                source: s.source(),
            })
        })
    }

    /// Where a field is, and who said so.
    pub fn field(&self, type_name: &str, field: &str) -> Option<Answer<FieldLoc>> {
        self.sources.iter().find_map(|s| {
            s.field(type_name, field).map(|value| Answer {
                value,
                source: s.source(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TypeTable {
        let mut t = TypeTable::default();
        let mut outer = TypeDef {
            size: 0x40,
            ..Default::default()
        };
        outer.fields.insert(
            "Inner".into(),
            FieldDef {
                offset: 0x10,
                bits: None,
                nested: Some("_INNER".into()),
            },
        );
        let mut inner = TypeDef {
            size: 8,
            ..Default::default()
        };
        inner.fields.insert(
            "Flag".into(),
            FieldDef {
                offset: 4,
                bits: Some(Bits {
                    position: 3,
                    length: 2,
                }),
                nested: None,
            },
        );
        t.types.insert("_OUTER".into(), outer);
        t.types.insert("_INNER".into(), inner);
        t.base_sizes.insert("unsigned long".into(), 4);
        t.globals.insert("Foo".into(), 0x1234);
        t
    }

    #[test]
    fn dotted_paths_add_offsets_and_keep_bits() {
        let t = table();
        assert_eq!(
            t.field("_OUTER", "Inner.Flag"),
            Some(FieldLoc {
                offset: 0x14,
                bits: Some(Bits {
                    position: 3,
                    length: 2
                })
            })
        );
        assert_eq!(t.field("_OUTER", "Inner.Nope"), None);
        // A path cannot go through a field that is not an embedded structure.
        assert_eq!(t.field("_OUTER", "Inner.Flag.X"), None);
        assert_eq!(t.type_size("unsigned long"), Some(4));
        assert_eq!(t.type_size("_OUTER"), Some(0x40));
    }

    #[test]
    fn stack_answers_from_the_first_source_that_knows() {
        let mut first = table();
        first.globals.clear();
        first.types.remove("_INNER");
        let mut stack = SymbolStack::new();
        stack.push(Box::new(TableSource {
            table: first,
            source: Source::UserIsf("a.json".into()),
        }));
        stack.push(Box::new(TableSource {
            table: table(),
            source: Source::Embedded("10.0.1.1".into()),
        }));
        let g = stack.global("Foo").unwrap();
        assert_eq!(g.value, GlobalAddr::Rva(0x1234));
        assert_eq!(g.source, Source::Embedded("10.0.1.1".into()));
        assert_eq!(
            stack.type_size("_OUTER").unwrap().source,
            Source::UserIsf("a.json".into())
        );
        assert_eq!(
            stack.type_size("_INNER").unwrap().source,
            Source::Embedded("10.0.1.1".into())
        );
        assert!(stack.global("Bar").is_none());
        assert_eq!(
            GlobalAddr::Rva(0x10).to_va(0xfffff800_00000000),
            Some(0xfffff800_00000010)
        );
        assert_eq!(GlobalAddr::Rva(0x10).to_va(u64::MAX), None);
    }
}
