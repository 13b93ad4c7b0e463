//! A small, test-side reader of the real Volatility ISF files in `shared/data/isf/`.
//!
//! It exists so that tests of several crates can compare their own per-build tables against the real
//! PDB-derived facts without each writing an ISF reader, and so that those comparisons do not depend
//! on the production ISF parser in `ntkernel` (which they may also be checking).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One build listed in `data/isf/INDEX.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The ntoskrnl file version, e.g. `10.0.19041.1`.
    pub version: String,
    /// PDB GUID, upper case, 32 hex digits.
    pub guid: String,
    /// PDB age.
    pub age: u32,
    /// The OS label the index gives (`Win10`, `windows-2019`, ...).
    pub label: String,
    /// The ISF file's path.
    pub path: PathBuf,
}

impl IndexEntry {
    /// The build number (third part of the version).
    pub fn build(&self) -> u32 {
        self.version
            .split('.')
            .nth(2)
            .and_then(|b| b.parse().ok())
            .unwrap_or(0)
    }
}

/// Every build of `data/isf/INDEX.txt`, or `None` (skip or fail per [`crate::require`]) when missing.
pub fn index() -> Option<Vec<IndexEntry>> {
    let isf_dir = crate::require("data/isf")?;
    let text = std::fs::read_to_string(isf_dir.join("INDEX.txt")).ok()?;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(version), Some(guid_age), Some(label)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some((guid, age)) = guid_age.rsplit_once('-') else {
            continue;
        };
        let guid = guid.to_ascii_uppercase();
        let age: u32 = age.parse().unwrap_or(0);
        let path = isf_dir.join(format!("windows/ntkrnlmp.pdb/{guid}-{age}.json.xz"));
        out.push(IndexEntry {
            version: version.into(),
            guid,
            age,
            label: label.into(),
            path,
        });
    }
    Some(out)
}

/// A bit field's place inside its storage unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bits {
    /// First bit.
    pub position: u32,
    /// Number of bits.
    pub length: u32,
}

/// A field of a structure: byte offset, and the bit range when it is a bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset in the structure.
    pub offset: u64,
    /// Bit range, for bit fields.
    pub bits: Option<Bits>,
}

/// A loaded ISF file.
#[derive(Debug)]
pub struct Isf {
    root: Value,
}

impl Isf {
    /// Loads a `.json` or `.json.xz` ISF file.
    pub fn load(path: &Path) -> Result<Isf, String> {
        let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json = if path.extension().is_some_and(|e| e == "xz") {
            let mut out = Vec::new();
            liblzma::read::XzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(|e| format!("{}: xz: {e}", path.display()))?;
            out
        } else {
            raw
        };
        let root = serde_json::from_slice(&json).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Isf { root })
    }

    /// The raw JSON, for facts this reader has no method for.
    pub fn json(&self) -> &Value {
        &self.root
    }

    /// PDB GUID (upper case) and age from the metadata.
    pub fn pdb(&self) -> Option<(String, u32)> {
        let pdb = &self.root["metadata"]["windows"]["pdb"];
        let guid = pdb["GUID"].as_str()?.to_ascii_uppercase();
        let age = u32::try_from(pdb["age"].as_u64()?).ok()?;
        Some((guid, age))
    }

    /// The RVA of a global (`symbols.NAME.address`).
    pub fn symbol_rva(&self, name: &str) -> Option<u64> {
        self.root["symbols"][name]["address"].as_u64()
    }

    /// The size of a user type (`_POOL_HEADER`) or base type.
    pub fn type_size(&self, name: &str) -> Option<u64> {
        self.root["user_types"][name]["size"]
            .as_u64()
            .or_else(|| self.root["base_types"][name]["size"].as_u64())
    }

    /// A field of a user type; `field` may be a dotted path through nested structures and unions
    /// (`Header.OwnerTag`), whose offsets add up.
    pub fn field(&self, type_name: &str, field: &str) -> Option<Field> {
        let mut current = type_name.to_string();
        let mut offset = 0u64;
        let mut last = None;
        for part in field.split('.') {
            let f = &self.root["user_types"][current.as_str()]["fields"][part];
            offset += f["offset"].as_u64()?;
            let ty = &f["type"];
            let bits = (ty["kind"] == "bitfield").then(|| Bits {
                position: ty["bit_position"].as_u64().unwrap_or(0) as u32,
                length: ty["bit_length"].as_u64().unwrap_or(0) as u32,
            });
            last = Some(Field { offset, bits });
            if let Some(name) = ty["name"].as_str() {
                current = name.to_string();
            }
        }
        last
    }

    /// Every field name of a user type.
    pub fn field_names(&self, type_name: &str) -> Vec<String> {
        self.root["user_types"][type_name]["fields"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_win7_pool_header() {
        let Some(index) = index() else { return };
        assert_eq!(index.len(), 31, "INDEX.txt lists 31 builds");
        let win7 = index
            .iter()
            .find(|e| e.version == "6.1.7601.24540")
            .unwrap();
        assert_eq!(win7.build(), 7601);
        let isf = Isf::load(&win7.path).unwrap();
        assert_eq!(
            isf.pdb(),
            Some(("339E74133576439CBCDF7E0229DA3773".into(), 1))
        );
        assert_eq!(isf.type_size("_POOL_HEADER"), Some(16));
        assert_eq!(
            isf.field("_POOL_HEADER", "PoolTag"),
            Some(Field {
                offset: 4,
                bits: None
            })
        );
        assert_eq!(
            isf.field("_POOL_HEADER", "BlockSize"),
            Some(Field {
                offset: 0,
                bits: Some(Bits {
                    position: 16,
                    length: 8
                })
            })
        );
        assert!(isf.symbol_rva("PoolTrackTable").is_some());
        // A dotted path through a nested structure adds the offsets.
        let dtb = isf.field("_EPROCESS", "Pcb.DirectoryTableBase");
        assert_eq!(dtb.map(|f| f.offset), Some(0x28));
    }
}
