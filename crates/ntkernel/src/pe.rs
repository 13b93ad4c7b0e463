//! The kernel's PE image in memory, read a page at a time: headers (goblin), the CodeView `RSDS`
//! record (PDB name, GUID, age) through the debug directory, and the export directory's name.
//!
//! Only the pages needed are read, and any of them may be missing from a dump: the headers page is
//! required; the debug directory and export name are reported as unknown when their pages are not
//! there (a triage dump often lacks them). Record layouts: Microsoft PE/COFF specification
//! (`IMAGE_DEBUG_DIRECTORY`, `IMAGE_EXPORT_DIRECTORY`) and the CodeView `RSDS` record as symbol stores
//! key it (GUID + age).

use goblin::pe::header::Header;

use crate::PdbId;
use crate::memory::{KernelMemory, ReadFault};

/// What was learned from a PE image in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image base it was read at.
    pub base: u64,
    /// COFF machine (0x14c, 0x8664, 0xaa64).
    pub machine: u16,
    /// COFF `TimeDateStamp`.
    pub timestamp: u32,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// The CodeView PDB identity, or why it is unknown.
    pub pdb: Result<PdbId, String>,
    /// The export directory's DLL name (`ntoskrnl.exe`), when readable.
    pub export_name: Option<String>,
}

/// Why an address does not hold a readable PE image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeError {
    /// The headers page could not be read.
    #[error("PE headers at {base:#x}: {fault}")]
    Read {
        /// The image base.
        base: u64,
        /// The failed read.
        fault: ReadFault,
    },
    /// The headers do not parse.
    #[error("PE headers at {base:#x}: {what}")]
    Malformed {
        /// The image base.
        base: u64,
        /// What goblin said.
        what: String,
    },
}

/// The size of the headers read (one page).
const HEADER_BYTES: usize = 0x1000;
/// `IMAGE_DEBUG_TYPE_CODEVIEW`.
const DEBUG_TYPE_CODEVIEW: u32 = 2;
/// Bounds on what is read from the image.
const MAX_DEBUG_DIR: usize = 28 * 16;
const MAX_CODEVIEW: usize = 24 + 260;
const MAX_NAME: usize = 256;

/// True when the bytes start like a PE image (`MZ`, and `PE\0\0` at `e_lfanew`).
pub fn looks_like_pe(page: &[u8]) -> bool {
    if page.get(..2) != Some(b"MZ") {
        return false;
    }
    let Some(lfanew) = page
        .get(0x3c..0x40)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
    else {
        return false;
    };
    let l = lfanew as usize;
    l < page.len().saturating_sub(4) && page.get(l..l + 4) == Some(b"PE\0\0")
}

/// Reads the image at `base`.
pub fn read_image(mem: &dyn KernelMemory, base: u64) -> Result<ImageInfo, PeError> {
    let mut page = vec![0u8; HEADER_BYTES];
    mem.read_virtual(base, &mut page)
        .map_err(|fault| PeError::Read { base, fault })?;
    if !looks_like_pe(&page) {
        return Err(PeError::Malformed {
            base,
            what: "no MZ/PE signature".into(),
        });
    }
    let header = Header::parse(&page).map_err(|e| PeError::Malformed {
        base,
        what: e.to_string(),
    })?;
    let Some(opt) = header.optional_header else {
        return Err(PeError::Malformed {
            base,
            what: "no optional header".into(),
        });
    };
    let dirs = &opt.data_directories;
    let pdb = match dirs.get_debug_table() {
        None => Err("the image has no debug directory".to_string()),
        Some(d) => codeview(mem, base, d.virtual_address, d.size),
    };
    let export_name = dirs
        .get_export_table()
        .and_then(|d| export_name(mem, base, d.virtual_address));
    Ok(ImageInfo {
        base,
        machine: header.coff_header.machine,
        timestamp: header.coff_header.time_date_stamp,
        size_of_image: opt.windows_fields.size_of_image,
        pdb,
        export_name,
    })
}

fn codeview(mem: &dyn KernelMemory, base: u64, rva: u32, size: u32) -> Result<PdbId, String> {
    let n = (size as usize).min(MAX_DEBUG_DIR);
    let at = base.wrapping_add(u64::from(rva));
    let mut dir = vec![0u8; n];
    mem.read_virtual(at, &mut dir)
        .map_err(|e| format!("debug directory at {at:#x}: {e}"))?;
    for entry in dir.chunks_exact(28) {
        let u = |o: usize| u32::from_le_bytes([entry[o], entry[o + 1], entry[o + 2], entry[o + 3]]);
        if u(12) != DEBUG_TYPE_CODEVIEW {
            continue;
        }
        let len = (u(16) as usize).min(MAX_CODEVIEW);
        let cv_at = base.wrapping_add(u64::from(u(20)));
        let mut cv = vec![0u8; len];
        mem.read_virtual(cv_at, &mut cv)
            .map_err(|e| format!("CodeView record at {cv_at:#x}: {e}"))?;
        return parse_rsds(&cv).ok_or_else(|| format!("CodeView record at {cv_at:#x} is not RSDS"));
    }
    Err(format!("debug directory at {at:#x} has no CodeView entry"))
}

/// Parses a CodeView `RSDS` record: signature, GUID (Data1 u32, Data2 u16, Data3 u16 little-endian,
/// Data4 8 bytes), age u32, NUL-terminated PDB path (the file name is kept).
pub fn parse_rsds(cv: &[u8]) -> Option<PdbId> {
    if cv.get(..4)? != b"RSDS" || cv.len() < 24 {
        return None;
    }
    let g = &cv[4..20];
    let d1 = u32::from_le_bytes(g[0..4].try_into().ok()?);
    let d2 = u16::from_le_bytes(g[4..6].try_into().ok()?);
    let d3 = u16::from_le_bytes(g[6..8].try_into().ok()?);
    let mut guid = format!("{d1:08X}{d2:04X}{d3:04X}");
    for b in &g[8..16] {
        guid.push_str(&format!("{b:02X}"));
    }
    let age = u32::from_le_bytes(cv[20..24].try_into().ok()?);
    let raw = &cv[24..];
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let path = String::from_utf8_lossy(&raw[..end]);
    let name = path
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name.is_empty() {
        return None;
    }
    Some(PdbId { name, guid, age })
}

fn export_name(mem: &dyn KernelMemory, base: u64, rva: u32) -> Option<String> {
    let mut dir = [0u8; 40];
    mem.read_virtual(base.wrapping_add(u64::from(rva)), &mut dir)
        .ok()?;
    let name_rva = u32::from_le_bytes(dir[12..16].try_into().ok()?);
    read_cstr(mem, base.wrapping_add(u64::from(name_rva)), MAX_NAME)
}

/// Reads a NUL-terminated ASCII string of at most `max` bytes, stopping at a missing page.
pub(crate) fn read_cstr(mem: &dyn KernelMemory, va: u64, max: usize) -> Option<String> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16];
    while out.len() < max {
        let a = va.wrapping_add(out.len() as u64);
        let n = (0x1000 - (a & 0xfff) as usize).min(chunk.len());
        mem.read_virtual(a, &mut chunk[..n]).ok()?;
        if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..z]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&chunk[..n]);
    }
    None
}

/// Builds a minimal PE64 image (headers page, debug directory with an RSDS record, an export
/// directory naming `export`) for tests and examples. Returns the bytes, to be placed at a base.
pub fn build_test_image(pdb: &PdbId, export: &str, timestamp: u32, size_of_image: u32) -> Vec<u8> {
    let mut img = vec![0u8; 0x3000];
    img[0..2].copy_from_slice(b"MZ");
    img[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    let pe = 0x80;
    img[pe..pe + 4].copy_from_slice(b"PE\0\0");
    let coff = pe + 4;
    img[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
    img[coff + 2..coff + 4].copy_from_slice(&0u16.to_le_bytes()); // sections
    img[coff + 4..coff + 8].copy_from_slice(&timestamp.to_le_bytes());
    img[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes()); // SizeOfOptionalHeader
    img[coff + 18..coff + 20].copy_from_slice(&0x22u16.to_le_bytes());
    let opt = coff + 20;
    img[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes()); // PE32+
    img[opt + 32..opt + 36].copy_from_slice(&0x1000u32.to_le_bytes()); // SectionAlignment
    img[opt + 36..opt + 40].copy_from_slice(&0x200u32.to_le_bytes()); // FileAlignment
    img[opt + 56..opt + 60].copy_from_slice(&size_of_image.to_le_bytes());
    img[opt + 60..opt + 64].copy_from_slice(&0x400u32.to_le_bytes()); // SizeOfHeaders
    img[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes()); // NumberOfRvaAndSizes
    let dd = opt + 112;
    // Export directory at 0x1000, debug directory at 0x2000.
    img[dd..dd + 4].copy_from_slice(&0x1000u32.to_le_bytes());
    img[dd + 4..dd + 8].copy_from_slice(&40u32.to_le_bytes());
    img[dd + 48..dd + 52].copy_from_slice(&0x2000u32.to_le_bytes());
    img[dd + 52..dd + 56].copy_from_slice(&28u32.to_le_bytes());
    img[0x100c..0x1010].copy_from_slice(&0x1100u32.to_le_bytes());
    img[0x1100..0x1100 + export.len()].copy_from_slice(export.as_bytes());
    // IMAGE_DEBUG_DIRECTORY: Type 2, SizeOfData, AddressOfRawData 0x2100.
    let mut cv = b"RSDS".to_vec();
    let hex =
        |i: usize| u8::from_str_radix(pdb.guid.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    let d1 = u32::from_be_bytes([hex(0), hex(2), hex(4), hex(6)]);
    let d2 = u16::from_be_bytes([hex(8), hex(10)]);
    let d3 = u16::from_be_bytes([hex(12), hex(14)]);
    cv.extend_from_slice(&d1.to_le_bytes());
    cv.extend_from_slice(&d2.to_le_bytes());
    cv.extend_from_slice(&d3.to_le_bytes());
    for i in 0..8 {
        cv.push(hex(16 + 2 * i));
    }
    cv.extend_from_slice(&pdb.age.to_le_bytes());
    cv.extend_from_slice(pdb.name.as_bytes());
    cv.push(0);
    img[0x200c..0x2010].copy_from_slice(&DEBUG_TYPE_CODEVIEW.to_le_bytes());
    img[0x2010..0x2014].copy_from_slice(&(cv.len() as u32).to_le_bytes());
    img[0x2014..0x2018].copy_from_slice(&0x2100u32.to_le_bytes());
    img[0x2100..0x2100 + cv.len()].copy_from_slice(&cv);
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SparseMemory;

    fn id() -> PdbId {
        PdbId {
            name: "ntkrnlmp.pdb".into(),
            guid: "BBED7C2955FBE4522AAA23F4B8677AD9".into(),
            age: 1,
        }
    }

    #[test]
    fn reads_rsds_timestamp_size_and_export_name() {
        let base = 0xfffff8047ba00000;
        let mut m = SparseMemory::new();
        m.write(
            base,
            &build_test_image(&id(), "ntoskrnl.exe", 0x5f0b3a1c, 0x1046000),
        );
        let info = read_image(&m, base).unwrap();
        assert_eq!(info.pdb, Ok(id()));
        assert_eq!(info.timestamp, 0x5f0b3a1c);
        assert_eq!(info.size_of_image, 0x1046000);
        assert_eq!(info.machine, 0x8664);
        assert_eq!(info.export_name.as_deref(), Some("ntoskrnl.exe"));
    }

    #[test]
    fn a_missing_debug_page_leaves_the_guid_unknown_with_the_reason() {
        let base = 0xfffff8047ba00000;
        let mut m = SparseMemory::new();
        m.write(base, &build_test_image(&id(), "ntoskrnl.exe", 1, 0x3000));
        m.unmap(base + 0x2000);
        let info = read_image(&m, base).unwrap();
        let err = info.pdb.unwrap_err();
        assert!(
            err.contains("debug directory at 0xfffff8047ba02000"),
            "{err}"
        );
        assert_eq!(info.timestamp, 1);
        m.unmap(base);
        assert!(matches!(read_image(&m, base), Err(PeError::Read { .. })));
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let mut m = SparseMemory::new();
        let mut page = vec![0xffu8; 0x1000];
        page[0..2].copy_from_slice(b"MZ");
        page[0x3c..0x40].copy_from_slice(&0xff0u32.to_le_bytes());
        m.write(0, &page);
        assert!(read_image(&m, 0).is_err());
        assert_eq!(parse_rsds(b"RSDS"), None);
        assert_eq!(parse_rsds(b"NB10xxxxxxxxxxxxxxxxxxxxxxxx"), None);
    }
}
