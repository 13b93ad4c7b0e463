//! Finding a user's symbol file for the target kernel, in every form `--symbols PATH` accepts
//! (CONTRACT.md): a Volatility-style symbol root holding `windows/ntkrnlmp.pdb/…`, the
//! `ntkrnlmp.pdb` folder itself, one `.json`/`.json.xz` ISF file, a `.pdb` file, or a local symbol
//! store (`DIR/ntkrnlmp.pdb/<GUID><AGE>/ntkrnlmp.pdb`); plus the local caches named by
//! `_NT_SYMBOL_PATH` (`srv*DIR*…`, `cache*DIR`, plain `DIR`). No network is ever used.

use std::path::{Path, PathBuf};

use crate::PdbId;
use crate::isf::{IsfError, IsfFile};
use crate::pdbfile::{PdbError, PdbFile};
use crate::symbols::{Source, TableSource};

/// Why a symbol path gave nothing usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocateError {
    /// An ISF file was found but could not be read.
    #[error(transparent)]
    Isf(#[from] IsfError),
    /// A PDB file was found but could not be read.
    #[error(transparent)]
    Pdb(#[from] PdbError),
    /// The path does not exist.
    #[error("{0}: no such file or folder")]
    Missing(PathBuf),
    /// A single file was given for a kernel whose PDB identity is different.
    #[error("{path}: made for PDB {found}, but the kernel's PDB is {wanted}")]
    WrongPdb {
        /// The file.
        path: PathBuf,
        /// The file's GUID-age.
        found: String,
        /// The kernel's GUID-age.
        wanted: String,
    },
    /// A folder was given but the kernel's PDB identity is unknown, so no file in it can be chosen.
    #[error(
        "{0}: the kernel's PDB GUID is unknown (its debug directory is not in the dump), so no file in this folder can be chosen; give the ISF or PDB file itself"
    )]
    GuidUnknown(PathBuf),
}

/// A found and loaded symbol file.
#[derive(Debug)]
pub struct Found {
    /// The loaded types and globals, with their source.
    pub symbols: TableSource,
    /// The PDB identity the file declares, when it does.
    pub pdb: Option<PdbId>,
}

/// The candidate files for `want` under one path, in the order they are tried.
pub fn candidates(path: &Path, want: &PdbId) -> Vec<PathBuf> {
    let stem = want.isf_stem();
    let pdb_dirs = [
        path.join("windows").join(&want.name),
        path.join(&want.name),
        path.to_path_buf(),
    ];
    let mut out = Vec::new();
    for dir in &pdb_dirs {
        // Volatility symbol packs: GUID-AGE.json(.xz); match the name without regard to case.
        for ext in [".json.xz", ".json"] {
            if let Some(p) = find_ci(dir, &format!("{stem}{ext}")) {
                out.push(p);
            }
        }
        // Symbol store: NAME.pdb/GUIDAGE/NAME.pdb.
        if let Some(sub) = find_ci(dir, &want.store_key())
            && let Some(p) = find_ci(&sub, &want.name)
        {
            out.push(p);
        }
    }
    out.dedup();
    out
}

/// A file in `dir` whose name equals `name` ignoring ASCII case.
fn find_ci(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.exists() {
        return Some(exact);
    }
    let rd = std::fs::read_dir(dir).ok()?;
    rd.filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
        .map(|e| e.path())
}

fn is_pdb(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pdb"))
}

/// Loads one file (ISF or PDB by its extension) as a symbol source.
pub fn load_file(path: &Path) -> Result<Found, LocateError> {
    if is_pdb(path) {
        let pdb = PdbFile::load(path)?;
        Ok(Found {
            pdb: Some(pdb.pdb.clone()),
            symbols: TableSource {
                table: pdb.table,
                source: Source::UserPdb(path.to_path_buf()),
            },
        })
    } else {
        let isf = IsfFile::load(path)?;
        Ok(Found {
            pdb: isf.pdb.clone(),
            symbols: TableSource {
                table: isf.table,
                source: Source::UserIsf(path.to_path_buf()),
            },
        })
    }
}

/// Opens the symbols under `path` for a kernel whose PDB is `want` (`None` when it is unknown).
///
/// * A file is loaded; when `want` is known and the file declares another GUID/age, it is refused.
/// * A folder is searched for `want` in every layout listed in the module documentation; `Ok(None)`
///   when it holds nothing for this kernel.
pub fn open(path: &Path, want: Option<&PdbId>) -> Result<Option<Found>, LocateError> {
    if path.is_file() {
        let found = load_file(path)?;
        if let (Some(w), Some(f)) = (want, &found.pdb)
            && (!w.guid.eq_ignore_ascii_case(&f.guid) || w.age != f.age)
        {
            return Err(LocateError::WrongPdb {
                path: path.to_path_buf(),
                found: f.isf_stem(),
                wanted: w.isf_stem(),
            });
        }
        return Ok(Some(found));
    }
    if !path.is_dir() {
        return Err(LocateError::Missing(path.to_path_buf()));
    }
    let Some(want) = want else {
        return Err(LocateError::GuidUnknown(path.to_path_buf()));
    };
    for c in candidates(path, want) {
        let found = load_file(&c)?;
        // A file whose metadata contradicts its name is skipped.
        if found
            .pdb
            .as_ref()
            .is_none_or(|p| p.guid.eq_ignore_ascii_case(&want.guid) && p.age == want.age)
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The local folders named by an `_NT_SYMBOL_PATH` value: `srv*DIR*URL`, `symsrv*dll*DIR*URL`,
/// `cache*DIR`, and plain folders, separated by `;`. URLs are dropped (pooldbg never downloads).
pub fn nt_symbol_path_dirs(value: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for element in value.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let parts: Vec<&str> = element.split('*').collect();
        let head = parts.first().map(|h| h.to_ascii_lowercase());
        let locals: Vec<&str> = match head.as_deref() {
            Some("srv") | Some("cache") => parts[1..].to_vec(),
            Some("symsrv") => parts.get(2..).map(<[&str]>::to_vec).unwrap_or_default(),
            _ => parts,
        };
        for p in locals {
            let lower = p.to_ascii_lowercase();
            if p.is_empty() || lower.starts_with("http://") || lower.starts_with("https://") {
                continue;
            }
            out.push(PathBuf::from(p));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_path_keeps_local_folders_only() {
        let dirs = nt_symbol_path_dirs(
            "srv*C:\\Symbols*https://msdl.microsoft.com/download/symbols; cache*/tmp/c ;/opt/syms;symsrv*symsrv.dll*/s2*http://x",
        );
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("C:\\Symbols"),
                PathBuf::from("/tmp/c"),
                PathBuf::from("/opt/syms"),
                PathBuf::from("/s2")
            ]
        );
        assert!(nt_symbol_path_dirs("").is_empty());
    }

    #[test]
    fn ids_format_as_stores_and_packs_name_them() {
        let id = PdbId {
            name: "ntkrnlmp.pdb".into(),
            guid: "BBED7C2955FBE4522AAA23F4B8677AD9".into(),
            age: 0x1a,
        };
        assert_eq!(id.store_key(), "BBED7C2955FBE4522AAA23F4B8677AD91A");
        assert_eq!(id.isf_stem(), "BBED7C2955FBE4522AAA23F4B8677AD9-26");
    }
}
