//! Volatility 3 Intermediate Symbol Format (ISF) files, `.json` or `.json.xz`, loaded with serde into
//! a [`TypeTable`].
//!
//! Only what pooldbg asks of a kernel is kept: user types (size, fields with offset, bit range and
//! embedded type name), base type sizes, global RVAs (`symbols.NAME.address`), and the PDB identity
//! from `metadata.windows.pdb`. Everything else in the file (enums, symbol types, constant data) is
//! skipped without being built. Format: <https://github.com/volatilityfoundation/volatility3>
//! (`volatility3/schemas/schema-6.2.0.json`).

use std::collections::HashMap;
#[cfg(feature = "liblzma")]
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::PdbId;
use crate::symbols::{Bits, FieldDef, TypeDef, TypeTable};

/// Why an ISF file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IsfError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The xz stream is damaged.
    #[error("{path}: xz stream: {source}")]
    Xz {
        /// The file.
        path: String,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The JSON does not match the ISF schema.
    #[error("{path}: not an ISF file: {source}")]
    Json {
        /// The file.
        path: String,
        /// The parser's error (with line and column).
        source: serde_json::Error,
    },
    /// The decompressed file is larger than any kernel ISF should be.
    #[error("{path}: decompressed size exceeds {limit} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit.
        limit: u64,
    },
}

/// Decompressed ISF files larger than this are refused (real kernel ISFs are 3–8 MB).
pub const MAX_ISF_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Deserialize)]
struct RawIsf {
    #[serde(default)]
    metadata: RawMetadata,
    #[serde(default)]
    base_types: HashMap<String, RawBase>,
    #[serde(default)]
    user_types: HashMap<String, RawUser>,
    #[serde(default)]
    symbols: HashMap<String, RawSymbol>,
    #[serde(default)]
    #[allow(dead_code)]
    enums: IgnoredAny,
}

#[derive(Deserialize, Default)]
struct RawMetadata {
    #[serde(default)]
    windows: Option<RawWindows>,
}

#[derive(Deserialize)]
struct RawWindows {
    pdb: Option<RawPdb>,
}

#[derive(Deserialize)]
struct RawPdb {
    #[serde(rename = "GUID")]
    guid: String,
    age: u32,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    machine_type: Option<u32>,
}

#[derive(Deserialize)]
struct RawBase {
    size: u64,
}

#[derive(Deserialize)]
struct RawUser {
    size: u64,
    #[serde(default)]
    fields: HashMap<String, RawField>,
}

#[derive(Deserialize)]
struct RawField {
    offset: u64,
    #[serde(rename = "type")]
    ty: RawType,
}

#[derive(Deserialize)]
struct RawType {
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    bit_position: Option<u32>,
    #[serde(default)]
    bit_length: Option<u32>,
}

#[derive(Deserialize)]
struct RawSymbol {
    #[serde(default)]
    address: Option<u64>,
}

/// A loaded ISF file.
#[derive(Debug, Clone)]
pub struct IsfFile {
    /// The PDB this ISF was made from, when its metadata says.
    pub pdb: Option<PdbId>,
    /// PE machine type from the metadata (0x8664 x64, 0x14c x86), when present.
    pub machine: Option<u32>,
    /// The types and globals.
    pub table: TypeTable,
}

impl IsfFile {
    /// Loads a `.json` or `.json.xz` file (xz is recognised by its magic bytes, not the name).
    pub fn load(path: &Path) -> Result<IsfFile, IsfError> {
        let name = path.display().to_string();
        let raw = std::fs::read(path).map_err(|source| IsfError::Io {
            path: name.clone(),
            source,
        })?;
        let json = decompress_if_xz(&raw, &name)?;
        IsfFile::from_json(&json).map_err(|source| IsfError::Json { path: name, source })
    }

    /// Parses ISF JSON text.
    pub fn from_json(json: &[u8]) -> Result<IsfFile, serde_json::Error> {
        let raw: RawIsf = serde_json::from_slice(json)?;
        Ok(IsfFile::from_raw(raw))
    }

    fn from_raw(raw: RawIsf) -> IsfFile {
        let (pdb, machine) = match raw.metadata.windows.and_then(|w| w.pdb) {
            Some(p) => (
                Some(PdbId {
                    name: p.database.unwrap_or_else(|| "ntkrnlmp.pdb".into()),
                    guid: p.guid.to_ascii_uppercase(),
                    age: p.age,
                }),
                p.machine_type,
            ),
            None => (None, None),
        };
        let mut table = TypeTable::default();
        for (name, b) in raw.base_types {
            table.base_sizes.insert(name, b.size);
        }
        for (name, u) in raw.user_types {
            let fields = u
                .fields
                .into_iter()
                .map(|(fname, f)| {
                    let bits = (f.ty.kind == "bitfield").then(|| Bits {
                        position: f.ty.bit_position.unwrap_or(0),
                        length: f.ty.bit_length.unwrap_or(0),
                    });
                    let nested = match f.ty.kind.as_str() {
                        "struct" | "union" | "class" => f.ty.name,
                        _ => None,
                    };
                    (
                        fname,
                        FieldDef {
                            offset: f.offset,
                            bits,
                            nested,
                        },
                    )
                })
                .collect();
            table.types.insert(
                name,
                TypeDef {
                    size: u.size,
                    fields,
                },
            );
        }
        for (name, s) in raw.symbols {
            if let Some(a) = s.address {
                table.globals.insert(name, a);
            }
        }
        IsfFile {
            pdb,
            machine,
            table,
        }
    }
}

/// Returns the bytes, decompressed when they are an xz stream (magic `FD 37 7A 58 5A 00`).
pub(crate) fn decompress_if_xz(raw: &[u8], name: &str) -> Result<Vec<u8>, IsfError> {
    const XZ_MAGIC: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0];
    if !raw.starts_with(XZ_MAGIC) {
        return Ok(raw.to_vec());
    }
    #[cfg(not(feature = "liblzma"))]
    {
        Err(IsfError::Xz {
            path: name.to_string(),
            source: std::io::Error::other(
                "xz-compressed ISF is not supported by this build (pooldbg-ntkernel feature `liblzma`)",
            ),
        })
    }
    #[cfg(feature = "liblzma")]
    decompress_xz(raw, name)
}

#[cfg(feature = "liblzma")]
fn decompress_xz(raw: &[u8], name: &str) -> Result<Vec<u8>, IsfError> {
    let mut out = Vec::new();
    liblzma::read::XzDecoder::new(raw)
        .take(MAX_ISF_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|source| IsfError::Xz {
            path: name.to_string(),
            source,
        })?;
    if out.len() as u64 > MAX_ISF_BYTES {
        return Err(IsfError::TooLarge {
            path: name.to_string(),
            limit: MAX_ISF_BYTES,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
      "metadata": {"format": "6.1.0", "windows": {"pdb": {"GUID": "abcdef0123456789abcdef0123456789", "age": 2, "database": "ntkrnlmp.pdb", "machine_type": 34404}}},
      "base_types": {"unsigned long": {"size": 4, "signed": false, "kind": "int", "endian": "little"}},
      "user_types": {
        "_A": {"kind": "struct", "size": 24, "fields": {
          "B": {"offset": 8, "type": {"kind": "struct", "name": "_B"}},
          "P": {"offset": 0, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "_B"}}}}},
        "_B": {"kind": "struct", "size": 16, "fields": {
          "Bits": {"offset": 4, "type": {"kind": "bitfield", "bit_position": 3, "bit_length": 5, "type": {"kind": "base", "name": "unsigned long"}}}}}
      },
      "enums": {"E": {"size": 4, "base": "int", "constants": {"X": 1}}},
      "symbols": {"Glob": {"address": 4660, "type": {"kind": "base", "name": "unsigned long"}}, "NoAddr": {}}
    }"#;

    #[test]
    fn parses_the_schema_parts_it_needs() {
        let f = IsfFile::from_json(SMALL.as_bytes()).unwrap();
        let pdb = f.pdb.unwrap();
        assert_eq!(pdb.guid, "ABCDEF0123456789ABCDEF0123456789");
        assert_eq!(pdb.age, 2);
        assert_eq!(f.machine, Some(0x8664));
        assert_eq!(f.table.globals.get("Glob"), Some(&4660));
        assert!(!f.table.globals.contains_key("NoAddr"));
        let loc = f.table.field("_A", "B.Bits").unwrap();
        assert_eq!(loc.offset, 12);
        assert_eq!(
            loc.bits,
            Some(Bits {
                position: 3,
                length: 5
            })
        );
        // A pointer is not walked through.
        assert_eq!(f.table.field("_A", "P.Bits"), None);
        assert_eq!(f.table.type_size("unsigned long"), Some(4));
    }

    #[test]
    fn rejects_garbage_with_a_message() {
        assert!(IsfFile::from_json(b"{\"user_types\": 5}").is_err());
        assert!(IsfFile::from_json(b"not json").is_err());
        let err = decompress_if_xz(&[0xFD, b'7', b'z', b'X', b'Z', 0, 1, 2, 3], "x.json.xz")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.json.xz"), "{err}");
    }
}
