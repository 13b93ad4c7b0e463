//! The triage ("minidump") header of DumpType 4, `TRIAGE_DUMP64` at 0x2000.
//!
//! Field offsets: Microsoft `ntiodump.h` as described in docs/DUMP_FORMATS.md §1.6
//! (cross-checked with rizin `dmp_specs.h`). The driver list holds `DUMP_DRIVER_ENTRY64` entries of
//! 0x90 bytes: the string-pool offset of the driver's name, then a copy of its
//! `LDR_DATA_TABLE_ENTRY64` (dbghelp `wdbgexts.h`: DllBase +0x30, SizeOfImage +0x40,
//! TimeDateStamp +0x80). Names are `DUMP_STRING`s: a u32 length in UTF-16 units, then the text.
//! Observed on the real 19041 triage dump in `shared/data/dumps/`.

use crate::Warning;
use crate::error::{Bytes, DumpError};

/// Size of `DUMP_DRIVER_ENTRY64`.
const DRIVER_ENTRY64: u64 = 0x90;
/// Size of `TRIAGE_DATA_BLOCK` (Address u64, Offset u32, Size u32).
const DATA_BLOCK: u64 = 0x10;
/// "TRGD", the marker `ValidOffset` points at.
const TRIAGE_VALID: &[u8; 4] = b"TRGD";

/// A loaded driver recorded in a triage dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageDriver {
    /// The path as recorded (e.g. `\SystemRoot\system32\ntoskrnl.exe`).
    pub path: String,
    /// Image base.
    pub base: u64,
    /// Image size.
    pub size: u32,
    /// PE `TimeDateStamp`.
    pub timestamp: u32,
}

impl TriageDriver {
    /// The file name: the part of the path after the last `\` or `/`.
    pub fn name(&self) -> &str {
        self.path.rsplit(['\\', '/']).next().unwrap_or(&self.path)
    }

    /// Whether `va` lies inside the image.
    pub fn contains(&self, va: u64) -> bool {
        va >= self.base && va - self.base < u64::from(self.size)
    }
}

/// A block of virtual memory a triage dump holds: `size` bytes at file `offset` for address
/// `address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataBlock {
    /// Virtual address.
    pub address: u64,
    /// File offset.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// The parsed triage header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageInfo {
    /// `ServicePackBuild`.
    pub service_pack_build: u32,
    /// `SizeOfDump`.
    pub size_of_dump: u32,
    /// Whether `ValidOffset` points at "TRGD".
    pub valid_marker: bool,
    /// `ContextOffset`.
    pub context_offset: u32,
    /// `PrcbOffset`, `ProcessOffset`, `ThreadOffset`: file offsets of those copies.
    pub prcb_offset: u32,
    /// See `prcb_offset`.
    pub process_offset: u32,
    /// See `prcb_offset`.
    pub thread_offset: u32,
    /// `TopOfStack` and the stack copy (`CallStackOffset`, `SizeOfCallStack`).
    pub top_of_stack: u64,
    /// File offset of the stack copy.
    pub call_stack_offset: u32,
    /// Size of the stack copy.
    pub call_stack_size: u32,
    /// `TriageOptions`.
    pub triage_options: u32,
    /// The driver list.
    pub drivers: Vec<TriageDriver>,
    /// File offset and size of the KDBG copy (`DebuggerDataOffset`, `DebuggerDataSize`).
    pub debugger_data: Option<(u64, u64)>,
    /// The data blocks, plus the stack copy, the data page and the KDBG copy, each as a block
    /// where its virtual address is known.
    pub data_blocks: Vec<DataBlock>,
}

impl TriageInfo {
    /// The driver whose image holds `va`.
    pub fn driver_at(&self, va: u64) -> Option<&TriageDriver> {
        self.drivers.iter().find(|d| d.contains(va))
    }
}

/// Parses `TRIAGE_DUMP64` at `at`. `kdbg_va` is the header's `KdDebuggerDataBlock`.
pub(crate) fn parse64(
    data: &[u8],
    at: u64,
    kdbg_va: Option<u64>,
    warnings: &mut Vec<Warning>,
) -> Result<TriageInfo, DumpError> {
    let b = Bytes(data);
    let what = "TRIAGE_DUMP64";
    b.need(at, 0x80, what)?;
    let f32 = |o: u64| b.u32(at + o, what);
    let len = data.len() as u64;

    let valid_offset = u64::from(f32(0x08)?);
    let valid_marker = b
        .slice(valid_offset, 4, "triage TRGD marker")
        .is_ok_and(|s| s == TRIAGE_VALID);
    if !valid_marker {
        warnings.push(Warning::at(
            at + 0x08,
            format!("ValidOffset {valid_offset:#x} does not point at \"TRGD\""),
        ));
    }

    // Drivers.
    let list = u64::from(f32(0x30)?);
    let count = u64::from(f32(0x34)?);
    let pool = u64::from(f32(0x38)?);
    let pool_size = u64::from(f32(0x3c)?);
    let list_len = count.saturating_mul(DRIVER_ENTRY64);
    if list.saturating_add(list_len) > len {
        return Err(DumpError::PastEnd {
            offset: at + 0x30,
            what: "triage driver list (DriverListOffset, DriverCount)",
            end: list.saturating_add(list_len),
            limit: format!("the file has {len:#x} bytes"),
        });
    }
    let mut drivers = Vec::with_capacity(count as usize);
    for i in 0..count {
        let e = list + i * DRIVER_ENTRY64;
        let name_off = u64::from(b.u32(e, "DUMP_DRIVER_ENTRY64")?);
        let ldr = e + 8;
        let base = b.u64(ldr + 0x30, "LDR_DATA_TABLE_ENTRY64.DllBase")?;
        let size = b.u32(ldr + 0x40, "LDR_DATA_TABLE_ENTRY64.SizeOfImage")?;
        let timestamp = b.u32(ldr + 0x80, "LDR_DATA_TABLE_ENTRY64.TimeDateStamp")?;
        let in_pool = name_off >= pool && name_off < pool.saturating_add(pool_size);
        let path = match dump_string(data, name_off) {
            Some(s) if in_pool || pool_size == 0 => s,
            Some(s) => {
                warnings.push(Warning::at(
                    e,
                    format!("driver {i}: name offset {name_off:#x} outside the string pool"),
                ));
                s
            }
            None => {
                warnings.push(Warning::at(
                    e,
                    format!("driver {i}: no DUMP_STRING at {name_off:#x}"),
                ));
                String::new()
            }
        };
        drivers.push(TriageDriver {
            path,
            base,
            size,
            timestamp,
        });
    }

    // KDBG copy.
    let dd_off = u64::from(f32(0x70)?);
    let dd_size = u64::from(f32(0x74)?);
    let debugger_data = if dd_off != 0 && dd_size != 0 {
        if dd_off.saturating_add(dd_size) > len {
            warnings.push(Warning::at(
                at + 0x70,
                format!("KDBG copy {dd_off:#x}+{dd_size:#x} runs past the end of the file"),
            ));
            None
        } else {
            Some((dd_off, dd_size))
        }
    } else {
        None
    };

    // Data blocks and the other pieces with a known virtual address.
    let mut blocks = Vec::new();
    let mut add = |address: u64, offset: u64, size: u64, what: &str, field: u64| {
        if size == 0 {
            return;
        }
        if offset.saturating_add(size) > len {
            warnings.push(Warning::at(
                field,
                format!("{what} {offset:#x}+{size:#x} runs past the end of the file"),
            ));
            return;
        }
        blocks.push(DataBlock {
            address,
            offset,
            size,
        });
    };
    let top_of_stack = b.u64(at + 0x48, what)?;
    let cs_off = f32(0x28)?;
    let cs_size = f32(0x2c)?;
    add(
        top_of_stack,
        cs_off.into(),
        cs_size.into(),
        "call stack",
        at + 0x28,
    );
    let dp_addr = b.u64(at + 0x60, what)?;
    add(
        dp_addr,
        f32(0x68)?.into(),
        f32(0x6c)?.into(),
        "data page",
        at + 0x68,
    );
    if let (Some(va), Some((o, s))) = (kdbg_va, debugger_data) {
        add(va, o, s, "KDBG copy", at + 0x70);
    }
    let blocks_off = u64::from(f32(0x78)?);
    let blocks_count = u64::from(f32(0x7c)?);
    if blocks_off.saturating_add(blocks_count.saturating_mul(DATA_BLOCK)) > len {
        return Err(DumpError::PastEnd {
            offset: at + 0x78,
            what: "triage data blocks (DataBlocksOffset, DataBlocksCount)",
            end: blocks_off.saturating_add(blocks_count.saturating_mul(DATA_BLOCK)),
            limit: format!("the file has {len:#x} bytes"),
        });
    }
    for i in 0..blocks_count {
        let e = blocks_off + i * DATA_BLOCK;
        let address = b.u64(e, "TRIAGE_DATA_BLOCK")?;
        let offset = u64::from(b.u32(e + 8, "TRIAGE_DATA_BLOCK")?);
        let size = u64::from(b.u32(e + 12, "TRIAGE_DATA_BLOCK")?);
        add(address, offset, size, "data block", e);
    }
    blocks.sort_by_key(|d| d.address);

    Ok(TriageInfo {
        service_pack_build: f32(0)?,
        size_of_dump: f32(4)?,
        valid_marker,
        context_offset: f32(0x0c)?,
        prcb_offset: f32(0x1c)?,
        process_offset: f32(0x20)?,
        thread_offset: f32(0x24)?,
        top_of_stack,
        call_stack_offset: cs_off,
        call_stack_size: cs_size,
        triage_options: f32(0x44)?,
        drivers,
        debugger_data,
        data_blocks: blocks,
    })
}

/// A `DUMP_STRING` (u32 length in UTF-16 units, then the text) at `off`.
fn dump_string(data: &[u8], off: u64) -> Option<String> {
    let b = Bytes(data);
    let n = u64::from(b.u32(off, "DUMP_STRING").ok()?);
    if n > 0x8000 {
        return None;
    }
    let raw = b.slice(off + 4, n * 2, "DUMP_STRING").ok()?;
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}
