//! PDB files read with the `pdb` crate into a [`TypeTable`]: the PDB identity (GUID from the PDB
//! information stream, age from the DBI stream as symbol stores use it), every structure's and
//! union's size and fields (bit fields and embedded structures resolved), and the RVA of every public
//! and global data symbol. The whole file is indexed once; the `pdb` crate's borrowing types do not
//! outlive the load.
//!
//! Built with the crate's `pdb` feature (on by default); without it [`PdbFile::load`] answers
//! [`PdbError::NotBuilt`].

#[cfg(feature = "pdb")]
use std::fs::File;
use std::path::Path;

#[cfg(feature = "pdb")]
use pdb::{FallibleIterator, SymbolData, TypeData, TypeFinder, TypeIndex};

use crate::PdbId;
use crate::symbols::TypeTable;
#[cfg(feature = "pdb")]
use crate::symbols::{Bits, FieldDef, TypeDef};

/// Why a PDB could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdbError {
    /// The file could not be opened.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// This build has no PDB reader (the `pdb` feature is off).
    #[error("{path}: PDB files are not supported by this build (pooldbg-ntkernel feature `pdb`)")]
    NotBuilt {
        /// The file.
        path: String,
    },
    /// The `pdb` crate refused the file.
    #[cfg(feature = "pdb")]
    #[error("{path}: not a usable PDB: {source}")]
    Pdb {
        /// The file.
        path: String,
        /// The parser's error.
        source: pdb::Error,
    },
}

/// A loaded PDB.
#[derive(Debug, Clone)]
pub struct PdbFile {
    /// Name (the file name), GUID and age.
    pub pdb: PdbId,
    /// True for a 64-bit target (AMD64 or ARM64).
    pub is_64bit: bool,
    /// Types and global RVAs.
    pub table: TypeTable,
}

/// Field lists longer than this (following continuations) are cut; no real type comes near it.
#[cfg(feature = "pdb")]
const MAX_FIELDS: usize = 65_536;

#[cfg(not(feature = "pdb"))]
impl PdbFile {
    /// Loads and indexes a PDB file: in this build (no `pdb` feature), always
    /// [`PdbError::NotBuilt`].
    pub fn load(path: &Path) -> Result<PdbFile, PdbError> {
        Err(PdbError::NotBuilt {
            path: path.display().to_string(),
        })
    }
}

#[cfg(feature = "pdb")]
impl PdbFile {
    /// Loads and indexes a PDB file.
    pub fn load(path: &Path) -> Result<PdbFile, PdbError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| PdbError::Io {
            path: name.clone(),
            source,
        })?;
        let wrap = |source| PdbError::Pdb {
            path: name.clone(),
            source,
        };
        let mut pdb = pdb::PDB::open(file).map_err(wrap)?;
        let info = pdb.pdb_information().map_err(wrap)?;
        let dbi = pdb.debug_information().map_err(wrap)?;
        let age = dbi.age().unwrap_or(info.age);
        let is_64bit = matches!(
            dbi.machine_type(),
            Ok(pdb::MachineType::Amd64 | pdb::MachineType::Arm64 | pdb::MachineType::Ia64)
        );
        let (d1, d2, d3, d4) = info.guid.as_fields();
        let mut guid = format!("{d1:08X}{d2:04X}{d3:04X}");
        for b in d4 {
            guid.push_str(&format!("{b:02X}"));
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_else(|| "ntkrnlmp.pdb".into());

        let mut table = TypeTable::default();
        base_sizes(&mut table, is_64bit);

        // Globals: public and data symbols, as RVAs.
        let addr_map = pdb.address_map().map_err(wrap)?;
        let globals = pdb.global_symbols().map_err(wrap)?;
        let mut iter = globals.iter();
        while let Some(sym) = iter.next().map_err(wrap)? {
            let (off, sname) = match sym.parse() {
                Ok(SymbolData::Public(p)) => (p.offset, p.name),
                Ok(SymbolData::Data(d)) => (d.offset, d.name),
                _ => continue,
            };
            if let Some(rva) = off.to_rva(&addr_map) {
                table
                    .globals
                    .entry(sname.to_string().into_owned())
                    .or_insert(u64::from(rva.0));
            }
        }

        // Types: every complete structure, class and union.
        let types = pdb.type_information().map_err(wrap)?;
        let mut finder = types.finder();
        let mut titer = types.iter();
        let mut complete: Vec<(String, u64, TypeIndex)> = Vec::new();
        while let Some(item) = titer.next().map_err(wrap)? {
            finder.update(&titer);
            match item.parse() {
                Ok(TypeData::Class(c)) if !c.properties.forward_reference() => {
                    if let Some(f) = c.fields {
                        complete.push((c.name.to_string().into_owned(), c.size, f));
                    }
                }
                Ok(TypeData::Union(u)) if !u.properties.forward_reference() => {
                    complete.push((u.name.to_string().into_owned(), u.size, u.fields));
                }
                _ => {}
            }
        }
        for (tname, size, fields_index) in complete {
            if table.types.contains_key(&tname) {
                continue;
            }
            let fields = collect_fields(&finder, fields_index);
            table.types.insert(tname, TypeDef { size, fields });
        }
        Ok(PdbFile {
            pdb: PdbId {
                name: file_name,
                guid,
                age,
            },
            is_64bit,
            table,
        })
    }
}

#[cfg(feature = "pdb")]
fn collect_fields(
    finder: &TypeFinder<'_>,
    mut index: TypeIndex,
) -> std::collections::HashMap<String, FieldDef> {
    let mut out = std::collections::HashMap::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        if !seen.insert(index) || out.len() > MAX_FIELDS {
            break;
        }
        let Ok(Ok(TypeData::FieldList(list))) = finder.find(index).map(|t| t.parse()) else {
            break;
        };
        for f in &list.fields {
            if let TypeData::Member(m) = f {
                let (bits, nested) = describe(finder, m.field_type);
                out.entry(m.name.to_string().into_owned())
                    .or_insert(FieldDef {
                        offset: m.offset,
                        bits,
                        nested,
                    });
            }
        }
        match list.continuation {
            Some(next) => index = next,
            None => break,
        }
    }
    out
}

/// The bit range and embedded type name of a member's type (modifiers looked through).
#[cfg(feature = "pdb")]
fn describe(finder: &TypeFinder<'_>, mut index: TypeIndex) -> (Option<Bits>, Option<String>) {
    for _ in 0..8 {
        match finder.find(index).map(|t| t.parse()) {
            Ok(Ok(TypeData::Bitfield(b))) => {
                return (
                    Some(Bits {
                        position: u32::from(b.position),
                        length: u32::from(b.length),
                    }),
                    None,
                );
            }
            Ok(Ok(TypeData::Class(c))) => return (None, Some(c.name.to_string().into_owned())),
            Ok(Ok(TypeData::Union(u))) => return (None, Some(u.name.to_string().into_owned())),
            Ok(Ok(TypeData::Modifier(m))) => index = m.underlying_type,
            _ => return (None, None),
        }
    }
    (None, None)
}

/// The sizes of the base types, under the names ISF files use.
#[cfg(feature = "pdb")]
fn base_sizes(table: &mut TypeTable, is_64bit: bool) {
    let ptr = if is_64bit { 8 } else { 4 };
    for (n, s) in [
        ("char", 1),
        ("unsigned char", 1),
        ("short", 2),
        ("unsigned short", 2),
        ("wchar", 2),
        ("int", 4),
        ("unsigned int", 4),
        ("long", 4),
        ("unsigned long", 4),
        ("long long", 8),
        ("unsigned long long", 8),
        ("float", 4),
        ("double", 8),
        ("pointer", ptr),
        ("void", 0),
    ] {
        table.base_sizes.insert(n.into(), s);
    }
}
