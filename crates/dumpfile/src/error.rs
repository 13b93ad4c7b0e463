//! Errors of opening a container. Each names the file offset and what was expected there.

use std::path::PathBuf;

/// Why a file could not be opened as physical memory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// The file could not be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The path is not a regular file (a directory, a FIFO, a device): checked before opening,
    /// since opening a FIFO blocks until a writer comes and a device has no length to map.
    #[error("{path}: {what}")]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is, and what to do instead.
        what: String,
    },
    /// The file is a known container that holds no memory as such (a compressed archive, a
    /// non-core ELF file): say what it looks like and what to do.
    #[error("not a memory dump: at offset 0x0 the file starts like {what}")]
    NotADump {
        /// What the file looks like (`gzip data: decompress it first`).
        what: String,
    },
    /// The file ends before a structure it must hold.
    #[error(
        "file too short at offset {offset:#x}: {what} needs {needed:#x} bytes, the file has {len:#x}"
    )]
    TooShort {
        /// Where the structure starts.
        offset: u64,
        /// What was expected there.
        what: &'static str,
        /// Bytes needed from `offset`.
        needed: u64,
        /// The file's length.
        len: u64,
    },
    /// A signature is not the expected one.
    #[error("bad signature at offset {offset:#x}: expected {expected}, found {found:?}")]
    BadSignature {
        /// Where the signature is.
        offset: u64,
        /// The signature(s) expected.
        expected: &'static str,
        /// The bytes found (lossy ASCII).
        found: String,
    },
    /// A field holds a value that cannot be right.
    #[error("bad value at offset {offset:#x}: {field} = {found:#x}, expected {expected}")]
    BadField {
        /// Where the field is.
        offset: u64,
        /// The field's name.
        field: &'static str,
        /// What it holds.
        found: u64,
        /// What it should hold.
        expected: String,
    },
    /// The layout the header describes reaches past the end of the file (with strict opening, or
    /// past the size the header itself declares).
    #[error(
        "{what} at offset {offset:#x} points past the end: it needs the file to reach {end:#x}, {limit}"
    )]
    PastEnd {
        /// The table entry or field that points past the end.
        offset: u64,
        /// What it is.
        what: &'static str,
        /// The file offset the layout needs.
        end: u64,
        /// What bounds it (the file length or the declared dump size).
        limit: String,
    },
    /// A dump type this crate does not read.
    #[error("unsupported at offset {offset:#x}: {what}")]
    Unsupported {
        /// Where the deciding field is.
        offset: u64,
        /// What is not supported.
        what: String,
    },
    /// An ELF core file is malformed.
    #[error("ELF core at offset {offset:#x}: {what}")]
    Elf {
        /// Where the problem is.
        offset: u64,
        /// What was expected.
        what: String,
    },
}

/// Little-endian field readers over the file's bytes that fail with [`DumpError::TooShort`].
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl Bytes<'_> {
    pub(crate) fn need(
        &self,
        offset: u64,
        needed: u64,
        what: &'static str,
    ) -> Result<(), DumpError> {
        let end = offset.checked_add(needed);
        match end {
            Some(e) if e <= self.0.len() as u64 => Ok(()),
            _ => Err(DumpError::TooShort {
                offset,
                what,
                needed,
                len: self.0.len() as u64,
            }),
        }
    }

    pub(crate) fn u8(&self, offset: u64, what: &'static str) -> Result<u8, DumpError> {
        self.need(offset, 1, what)?;
        Ok(self.0[offset as usize])
    }

    pub(crate) fn u32(&self, offset: u64, what: &'static str) -> Result<u32, DumpError> {
        self.need(offset, 4, what)?;
        let o = offset as usize;
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[o..o + 4]);
        Ok(u32::from_le_bytes(b))
    }

    pub(crate) fn u64(&self, offset: u64, what: &'static str) -> Result<u64, DumpError> {
        self.need(offset, 8, what)?;
        let o = offset as usize;
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[o..o + 8]);
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn slice(
        &self,
        offset: u64,
        len: u64,
        what: &'static str,
    ) -> Result<&[u8], DumpError> {
        self.need(offset, len, what)?;
        Ok(&self.0[offset as usize..(offset + len) as usize])
    }
}

/// Lossy ASCII of a few bytes, for error messages.
pub(crate) fn ascii(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}
