//! Bounds-checked little-endian reads (scroll) used by every decoder.

use scroll::{LE, Pread};

use crate::error::{Error, Result};

/// Width of an integer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// 1 byte.
    U8,
    /// 2 bytes.
    U16,
    /// 4 bytes.
    U32,
    /// 8 bytes.
    U64,
}

impl Width {
    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
            Width::U64 => 8,
        }
    }
}

/// An integer field of a structure: byte offset and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset from the start of the structure.
    pub offset: usize,
    /// Width of the stored integer.
    pub width: Width,
}

impl Field {
    /// A 1-byte field.
    pub const fn u8(offset: usize) -> Field {
        Field {
            offset,
            width: Width::U8,
        }
    }
    /// A 2-byte field.
    pub const fn u16(offset: usize) -> Field {
        Field {
            offset,
            width: Width::U16,
        }
    }
    /// A 4-byte field.
    pub const fn u32(offset: usize) -> Field {
        Field {
            offset,
            width: Width::U32,
        }
    }
    /// An 8-byte field.
    pub const fn u64(offset: usize) -> Field {
        Field {
            offset,
            width: Width::U64,
        }
    }
    /// A pointer-sized field (4 bytes on x86, 8 on x64).
    pub const fn ptr(offset: usize, pointer_size: usize) -> Field {
        if pointer_size == 8 {
            Field::u64(offset)
        } else {
            Field::u32(offset)
        }
    }

    /// Reads the field (zero-extended) from a structure that starts at `bytes[0]`.
    pub fn read(&self, bytes: &[u8], what: &'static str) -> Result<u64> {
        read_uint(bytes, self.offset, self.width, what)
    }
}

/// Fails unless `bytes` holds `need` bytes from `offset`.
pub(crate) fn need(bytes: &[u8], offset: usize, need: usize, what: &'static str) -> Result<()> {
    match offset.checked_add(need) {
        Some(end) if end <= bytes.len() => Ok(()),
        _ => Err(Error::Truncated {
            what,
            offset,
            need,
            have: bytes.len(),
        }),
    }
}

/// Reads an unsigned integer of `width` at `offset`.
pub(crate) fn read_uint(
    bytes: &[u8],
    offset: usize,
    width: Width,
    what: &'static str,
) -> Result<u64> {
    let trunc = || Error::Truncated {
        what,
        offset,
        need: width.bytes(),
        have: bytes.len(),
    };
    match width {
        Width::U8 => bytes
            .pread_with::<u8>(offset, LE)
            .map(u64::from)
            .map_err(|_| trunc()),
        Width::U16 => bytes
            .pread_with::<u16>(offset, LE)
            .map(u64::from)
            .map_err(|_| trunc()),
        Width::U32 => bytes
            .pread_with::<u32>(offset, LE)
            .map(u64::from)
            .map_err(|_| trunc()),
        Width::U64 => bytes.pread_with::<u64>(offset, LE).map_err(|_| trunc()),
    }
}

pub(crate) fn ptr_at(
    bytes: &[u8],
    offset: usize,
    pointer_size: usize,
    what: &'static str,
) -> Result<u64> {
    Field::ptr(offset, pointer_size).read(bytes, what)
}
