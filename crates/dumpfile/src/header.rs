//! The crash-dump header (`DUMP_HEADER32` / `DUMP_HEADER64`).
//!
//! Offsets are those of the Windows SDK's `mindumpdef.h` as generated into `windows-sys` 0.61.2
//! (docs/DUMP_FORMATS.md §1.1), cross-checked against Volatility 3, Rekall and
//! kdmp-parser. CONTEXT offsets (instruction and stack pointers) are those of `winnt.h`.

use crate::error::{Bytes, DumpError, ascii};

/// "PAGE": the first half of both header signatures, and the filler of unused header bytes.
pub const PAGE_PATTERN_U32: u32 = 0x4547_4150;
/// The filler pattern read as a `u64`.
pub const PAGE_PATTERN_U64: u64 = 0x4547_4150_4547_4150;
/// Size of `DUMP_HEADER32`.
pub const HEADER32_SIZE: u64 = 0x1000;
/// Size of `DUMP_HEADER64`.
pub const HEADER64_SIZE: u64 = 0x2000;

/// `MachineImageType` of an x86 dump.
pub const MACHINE_I386: u32 = 0x14c;
/// `MachineImageType` of an x64 dump.
pub const MACHINE_AMD64: u32 = 0x8664;
/// `MachineImageType` of an ARM64 dump.
pub const MACHINE_ARM64: u32 = 0xaa64;

/// The `DumpType` field (SDK `DUMP_TYPE_*`, plus the RDMP types newer WinDbg writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DumpType {
    /// 1: complete memory dump; physical-memory runs follow the header.
    Full,
    /// 2: pre-Windows 8 kernel ("summary") dump with a `PMDS` bitmap header.
    Summary,
    /// 3: header only.
    Header,
    /// 4: triage ("minidump") dump.
    Triage,
    /// 5: bitmap dump (`SDMP` kernel or `FDMP` full).
    BitmapFull,
    /// 6: bitmap kernel / live kernel dump (same layout as 5).
    BitmapKernel,
    /// 7: automatic dump.
    Automatic,
    /// 8: `.dump /k` kernel range dump (`RDMP`).
    RangeKernel,
    /// 9: `.dump /ka` kernel and user range dump (`RDMP`).
    RangeKernelAndUser,
    /// 0xA: `.dump /f` complete range dump (`RDMP`).
    RangeComplete,
    /// Any other value.
    Other(u32),
}

impl DumpType {
    /// Decodes the field's value.
    pub fn from_raw(v: u32) -> DumpType {
        match v {
            1 => DumpType::Full,
            2 => DumpType::Summary,
            3 => DumpType::Header,
            4 => DumpType::Triage,
            5 => DumpType::BitmapFull,
            6 => DumpType::BitmapKernel,
            7 => DumpType::Automatic,
            8 => DumpType::RangeKernel,
            9 => DumpType::RangeKernelAndUser,
            0xA => DumpType::RangeComplete,
            other => DumpType::Other(other),
        }
    }

    /// The field's value.
    pub fn raw(self) -> u32 {
        match self {
            DumpType::Full => 1,
            DumpType::Summary => 2,
            DumpType::Header => 3,
            DumpType::Triage => 4,
            DumpType::BitmapFull => 5,
            DumpType::BitmapKernel => 6,
            DumpType::Automatic => 7,
            DumpType::RangeKernel => 8,
            DumpType::RangeKernelAndUser => 9,
            DumpType::RangeComplete => 0xA,
            DumpType::Other(v) => v,
        }
    }
}

/// Word size of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bitness {
    /// `PAGEDUMP`, `DUMP_HEADER32` (0x1000 bytes).
    Bits32,
    /// `PAGEDU64`, `DUMP_HEADER64` (0x2000 bytes).
    Bits64,
}

/// The header fields a user needs. A field the dump leaves unused (filled with "PAGE") is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    /// 32- or 64-bit header.
    pub bitness: Bitness,
    /// `MajorVersion`: 0xF for a free build, 0xC for a checked one.
    pub major_version: Option<u32>,
    /// `MinorVersion`: the NT build number (e.g. 19041).
    pub build: Option<u32>,
    /// `MachineImageType` (0x14c, 0x8664, 0xAA64).
    pub machine: Option<u32>,
    /// `NumberProcessors`.
    pub processors: Option<u32>,
    /// `DirectoryTableBase` (CR3 at the time of the dump, as written).
    pub directory_table_base: Option<u64>,
    /// `PfnDataBase`: the address of the kernel variable `MmPfnDatabase`, not of the PFN array.
    pub pfn_database: Option<u64>,
    /// `PsLoadedModuleList`: address of the list head.
    pub ps_loaded_module_list: Option<u64>,
    /// `PsActiveProcessHead`: address of the list head.
    pub ps_active_process_head: Option<u64>,
    /// `KdDebuggerDataBlock`: virtual address of the KDBG.
    pub kd_debugger_data_block: Option<u64>,
    /// `BugCheckCode`.
    pub bugcheck_code: Option<u32>,
    /// `BugCheckParameter1..4`.
    pub bugcheck_parameters: [Option<u64>; 4],
    /// `PaeEnabled` (32-bit headers only).
    pub pae_enabled: Option<bool>,
    /// `SystemTime` as a FILETIME (100 ns since 1601-01-01 UTC).
    pub system_time: Option<u64>,
    /// `SystemUpTime` in 100 ns units.
    pub system_up_time: Option<u64>,
    /// `Comment`, when the dump has one.
    pub comment: Option<String>,
    /// `ProductType` (1 workstation, 2 domain controller, 3 server).
    pub product_type: Option<u32>,
    /// `SuiteMask`.
    pub suite_mask: Option<u32>,
    /// `DumpType` as written.
    pub dump_type: DumpType,
    /// `RequiredDumpSpace`: the size the dump file should have.
    pub required_dump_space: Option<u64>,
    /// `MiniDumpFields` (triage dumps).
    pub mini_dump_fields: Option<u32>,
    /// Instruction pointer of the context record (Eip, Rip or Pc).
    pub instruction_pointer: Option<u64>,
    /// Stack pointer of the context record (Esp, Rsp or Sp).
    pub stack_pointer: Option<u64>,
}

impl HeaderInfo {
    /// Size of the primary header: where the second header (or, for a full dump, the pages) starts.
    pub fn header_size(&self) -> u64 {
        match self.bitness {
            Bitness::Bits32 => HEADER32_SIZE,
            Bitness::Bits64 => HEADER64_SIZE,
        }
    }

    /// `SystemTime` as `YYYY-MM-DDTHH:MM:SS.ffZ` (hundredths of a second), when present.
    pub fn system_time_utc(&self) -> Option<String> {
        self.system_time.map(format_filetime)
    }
}

fn opt32(v: u32) -> Option<u32> {
    (v != PAGE_PATTERN_U32).then_some(v)
}

fn opt64(v: u64) -> Option<u64> {
    (v != PAGE_PATTERN_U64).then_some(v)
}

/// A 32-bit pointer field of a 32-bit header: absent when "PAGE".
fn opt32_64(v: u32) -> Option<u64> {
    opt32(v).map(u64::from)
}

/// Offsets that differ between the two headers.
struct Offsets {
    dtb: u64,
    pfn: u64,
    loaded: u64,
    active: u64,
    machine: u64,
    processors: u64,
    bugcheck: u64,
    params: [u64; 4],
    kdbg: u64,
    context: u64,
    comment: u64,
    dump_type: u64,
    mini_fields: u64,
    product_type: u64,
    suite_mask: u64,
    required: u64,
    up_time: u64,
    system_time: u64,
}

const OFF32: Offsets = Offsets {
    dtb: 0x10,
    pfn: 0x14,
    loaded: 0x18,
    active: 0x1c,
    machine: 0x20,
    processors: 0x24,
    bugcheck: 0x28,
    params: [0x2c, 0x30, 0x34, 0x38],
    kdbg: 0x60,
    context: 0x320,
    comment: 0x820,
    dump_type: 0xf88,
    mini_fields: 0xf8c,
    product_type: 0xf94,
    suite_mask: 0xf98,
    required: 0xfa0,
    up_time: 0xfb8,
    system_time: 0xfc0,
};

const OFF64: Offsets = Offsets {
    dtb: 0x10,
    pfn: 0x18,
    loaded: 0x20,
    active: 0x28,
    machine: 0x30,
    processors: 0x34,
    bugcheck: 0x38,
    params: [0x40, 0x48, 0x50, 0x58],
    kdbg: 0x80,
    context: 0x348,
    comment: 0xfb0,
    dump_type: 0xf98,
    mini_fields: 0x1038,
    product_type: 0x1040,
    suite_mask: 0x1044,
    required: 0xfa0,
    up_time: 0x1030,
    system_time: 0xfa8,
};

/// Offset of the `DumpType` field in a header of `bitness`.
pub(crate) fn dump_type_offset(bitness: Bitness) -> u64 {
    match bitness {
        Bitness::Bits32 => OFF32.dump_type,
        Bitness::Bits64 => OFF64.dump_type,
    }
}

/// Offset of the physical-memory descriptor (run table).
pub(crate) fn run_table_offset(bitness: Bitness) -> u64 {
    match bitness {
        Bitness::Bits32 => 0x64,
        Bitness::Bits64 => 0x88,
    }
}

/// Offset of the `RequiredDumpSpace` field.
pub(crate) fn required_offset() -> u64 {
    0xfa0
}

/// Which header the file starts with, by its first eight bytes, or `None` when it is not
/// `PAGE....` at all. A file that starts with "PAGE" but not "PAGEDUMP"/"PAGEDU64" is an error.
pub(crate) fn sniff(data: &[u8]) -> Result<Option<Bitness>, DumpError> {
    if data.len() < 4 || &data[..4] != b"PAGE" {
        return Ok(None);
    }
    let b = Bytes(data);
    b.need(0, 8, "crash dump signature PAGEDUMP/PAGEDU64")?;
    match &data[4..8] {
        b"DUMP" => Ok(Some(Bitness::Bits32)),
        b"DU64" => Ok(Some(Bitness::Bits64)),
        other => Err(DumpError::BadSignature {
            offset: 4,
            expected: "\"DUMP\" or \"DU64\" after \"PAGE\"",
            found: ascii(other),
        }),
    }
}

/// Parses the primary header of a crash dump of `bitness`.
pub(crate) fn parse(data: &[u8], bitness: Bitness) -> Result<HeaderInfo, DumpError> {
    let b = Bytes(data);
    let (o, size, what) = match bitness {
        Bitness::Bits32 => (&OFF32, HEADER32_SIZE, "DUMP_HEADER32"),
        Bitness::Bits64 => (&OFF64, HEADER64_SIZE, "DUMP_HEADER64"),
    };
    b.need(0, size, what)?;
    let wide = bitness == Bitness::Bits64;
    let ptr = |off: u64| -> Result<Option<u64>, DumpError> {
        if wide {
            Ok(opt64(b.u64(off, what)?))
        } else {
            Ok(opt32_64(b.u32(off, what)?))
        }
    };
    let machine = opt32(b.u32(o.machine, what)?);
    let mut params = [None; 4];
    for (i, p) in o.params.iter().enumerate() {
        params[i] = ptr(*p)?;
    }
    let comment_bytes = b.slice(o.comment, 128, what)?;
    let comment = if comment_bytes.starts_with(b"PAGE") {
        None
    } else {
        let end = comment_bytes.iter().position(|&c| c == 0).unwrap_or(128);
        let s = String::from_utf8_lossy(&comment_bytes[..end])
            .trim()
            .to_string();
        (!s.is_empty()).then_some(s)
    };
    let (ip, sp) = context_pointers(&b, o.context, machine, what)?;
    let required = b.u64(o.required, what)?;
    Ok(HeaderInfo {
        bitness,
        major_version: opt32(b.u32(8, what)?),
        build: opt32(b.u32(0xc, what)?),
        machine,
        processors: opt32(b.u32(o.processors, what)?),
        directory_table_base: ptr(o.dtb)?,
        pfn_database: ptr(o.pfn)?,
        ps_loaded_module_list: ptr(o.loaded)?,
        ps_active_process_head: ptr(o.active)?,
        kd_debugger_data_block: ptr(o.kdbg)?,
        bugcheck_code: opt32(b.u32(o.bugcheck, what)?),
        bugcheck_parameters: params,
        pae_enabled: if wide {
            None
        } else {
            let v = b.u8(0x5c, what)?;
            // 'P' (0x50) is the filler's first byte: absent.
            (v != b'P').then_some(v != 0)
        },
        system_time: opt64(b.u64(o.system_time, what)?),
        system_up_time: opt64(b.u64(o.up_time, what)?),
        comment,
        product_type: opt32(b.u32(o.product_type, what)?),
        suite_mask: opt32(b.u32(o.suite_mask, what)?),
        dump_type: DumpType::from_raw(b.u32(o.dump_type, what)?),
        required_dump_space: opt64(required),
        mini_dump_fields: opt32(b.u32(o.mini_fields, what)?),
        instruction_pointer: ip,
        stack_pointer: sp,
    })
}

/// Instruction and stack pointer of the CONTEXT at `ctx` (winnt.h: x86 Eip 0xB8 / Esp 0xC4, AMD64
/// Rsp 0x98 / Rip 0xF8, ARM64 Sp 0x100 / Pc 0x108).
fn context_pointers(
    b: &Bytes<'_>,
    ctx: u64,
    machine: Option<u32>,
    what: &'static str,
) -> Result<(Option<u64>, Option<u64>), DumpError> {
    Ok(match machine {
        Some(MACHINE_I386) => (
            opt32_64(b.u32(ctx + 0xb8, what)?),
            opt32_64(b.u32(ctx + 0xc4, what)?),
        ),
        Some(MACHINE_AMD64) => (
            opt64(b.u64(ctx + 0xf8, what)?),
            opt64(b.u64(ctx + 0x98, what)?),
        ),
        Some(MACHINE_ARM64) => (
            opt64(b.u64(ctx + 0x108, what)?),
            opt64(b.u64(ctx + 0x100, what)?),
        ),
        _ => (None, None),
    })
}

/// Formats a FILETIME as `YYYY-MM-DDTHH:MM:SS.ffZ` (UTC, hundredths of a second).
pub fn format_filetime(ft: u64) -> String {
    // FILETIME counts 100 ns intervals from 1601-01-01; 11644473600 s separate it from 1970.
    let secs_1601 = ft / 10_000_000;
    let hundredths = (ft % 10_000_000) / 100_000;
    let days = secs_1601 / 86_400;
    let rem = secs_1601 % 86_400;
    let (y, m, d) = civil_from_days_1601(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{hundredths:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1601-01-01 to a (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days_1601(days: u64) -> (u64, u64, u64) {
    // 1601 starts a 400-year cycle: walk cycles, centuries, 4-year groups and years.
    let mut year = 1601 + 400 * (days / 146_097);
    let mut left = days % 146_097;
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if left < len {
            break;
        }
        left -= len;
        year += 1;
    }
    let months = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 1;
    for len in months {
        if left < len {
            break;
        }
        left -= len;
        month += 1;
    }
    (year, month, left + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_formats_known_instants() {
        // 1970-01-01T00:00:00Z is 116444736000000000 in FILETIME units.
        assert_eq!(
            format_filetime(116_444_736_000_000_000),
            "1970-01-01T00:00:00.00Z"
        );
        // 2000-02-29T12:34:56.78Z: a leap day in a century leap year.
        let secs = 951_827_696u64 + 11_644_473_600;
        assert_eq!(
            format_filetime(secs * 10_000_000 + 7_800_000),
            "2000-02-29T12:34:56.78Z"
        );
        assert_eq!(format_filetime(0), "1601-01-01T00:00:00.00Z");
    }

    #[test]
    fn sniff_tells_the_three_cases() {
        assert_eq!(sniff(b"PAGEDU64").unwrap(), Some(Bitness::Bits64));
        assert_eq!(sniff(b"PAGEDUMP").unwrap(), Some(Bitness::Bits32));
        assert_eq!(sniff(b"\x7fELF").unwrap(), None);
        let e = sniff(b"PAGEXXXX").unwrap_err();
        assert!(e.to_string().contains("offset 0x4"), "{e}");
        let e = sniff(b"PAGED").unwrap_err();
        assert!(matches!(e, DumpError::TooShort { offset: 0, .. }), "{e}");
    }
}
