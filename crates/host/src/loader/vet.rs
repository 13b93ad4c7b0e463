//! Checks a candidate plugin file with goblin before anything loads it: it must be a shared library
//! of this platform and architecture that exports the entry point.
//!
//! Loading runs the library's initialisers, so a file is only handed to the dynamic loader once it
//! has passed these checks. Facts: ELF `e_machine`/`e_type` values from the System V gABI and
//! goblin's constants; PE machine types and the DLL characteristic from Microsoft's PE format
//! documentation; Mach-O CPU types and `MH_DYLIB`/`MH_BUNDLE` from Apple's `mach-o/loader.h`.

use goblin::elf::header as elfh;
use goblin::mach::constants::cputype;
use plugin_abi as abi;

use super::RejectReason;

/// The binary format and machine this host loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostArch {
    /// `"ELF"`, `"PE"` or `"Mach-O"`.
    pub format: &'static str,
    /// `std::env::consts::ARCH` style name (`x86_64`, `aarch64`, …).
    pub arch: &'static str,
}

impl HostArch {
    /// The running host's.
    pub fn current() -> HostArch {
        let format = if cfg!(windows) {
            "PE"
        } else if cfg!(target_vendor = "apple") {
            "Mach-O"
        } else {
            "ELF"
        };
        HostArch {
            format,
            arch: std::env::consts::ARCH,
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.format, self.arch)
    }
}

fn elf_machine_name(m: u16) -> String {
    match m {
        elfh::EM_X86_64 => "x86_64".into(),
        elfh::EM_386 => "x86".into(),
        elfh::EM_AARCH64 => "aarch64".into(),
        elfh::EM_ARM => "arm".into(),
        elfh::EM_RISCV => "riscv".into(),
        elfh::EM_PPC64 => "powerpc64".into(),
        elfh::EM_S390 => "s390x".into(),
        elfh::EM_MIPS => "mips".into(),
        other => format!("machine {other:#x}"),
    }
}

/// The ELF machine of `arch`, when this module knows it.
fn elf_machine_of(arch: &str) -> Option<u16> {
    Some(match arch {
        "x86_64" => elfh::EM_X86_64,
        "x86" => elfh::EM_386,
        "aarch64" => elfh::EM_AARCH64,
        "arm" => elfh::EM_ARM,
        "riscv64" | "riscv32" => elfh::EM_RISCV,
        "powerpc64" => elfh::EM_PPC64,
        "s390x" => elfh::EM_S390,
        _ => return None,
    })
}

const PE_MACHINE_I386: u16 = 0x014c;
const PE_MACHINE_AMD64: u16 = 0x8664;
const PE_MACHINE_ARM64: u16 = 0xaa64;

fn pe_machine_name(m: u16) -> String {
    match m {
        PE_MACHINE_I386 => "x86".into(),
        PE_MACHINE_AMD64 => "x86_64".into(),
        PE_MACHINE_ARM64 => "aarch64".into(),
        other => format!("machine {other:#06x}"),
    }
}

fn mach_cpu_name(c: u32) -> String {
    match c {
        cputype::CPU_TYPE_X86_64 => "x86_64".into(),
        cputype::CPU_TYPE_X86 => "x86".into(),
        cputype::CPU_TYPE_ARM64 => "aarch64".into(),
        cputype::CPU_TYPE_ARM => "arm".into(),
        other => format!("cpu type {other:#x}"),
    }
}

/// What the exports say.
fn check_exports<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), RejectReason> {
    let mut others = Vec::new();
    for name in names {
        if name == abi::ENTRY_POINT {
            return Ok(());
        }
        if let Some(v) = name
            .strip_prefix(abi::ENTRY_POINT_PREFIX)
            .and_then(|v| v.parse::<u32>().ok())
        {
            others.push(v);
        }
    }
    others.sort_unstable();
    others.dedup();
    match others.first() {
        Some(&v) => Err(RejectReason::WrongAbiVersion { found: v }),
        None => Err(RejectReason::MissingExport),
    }
}

/// Why `bytes` (a whole candidate file) cannot be loaded on `host`, or `Ok` if it may be.
pub fn vet(bytes: &[u8], host: HostArch) -> Result<(), RejectReason> {
    if bytes.len() >= 4 && bytes[..4] == *b"\x7fELF" {
        return vet_elf(bytes, host);
    }
    if bytes.len() >= 2 && bytes[..2] == *b"MZ" {
        return vet_pe(bytes, host);
    }
    if bytes.len() >= 4 {
        let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let be = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let mach = [
            goblin::mach::header::MH_MAGIC,
            goblin::mach::header::MH_MAGIC_64,
            goblin::mach::header::MH_CIGAM,
            goblin::mach::header::MH_CIGAM_64,
        ];
        if mach.contains(&magic) || be == goblin::mach::fat::FAT_MAGIC {
            return vet_mach(bytes, host);
        }
    }
    let start: String = bytes
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    Err(RejectReason::NotALibrary(if bytes.is_empty() {
        "the file is empty".into()
    } else {
        format!("not an ELF, PE or Mach-O file (it starts with {start})")
    }))
}

fn foreign_format(found: &str, host: HostArch) -> Result<(), RejectReason> {
    Err(RejectReason::WrongArchitecture {
        found: found.into(),
        expected: host.describe(),
    })
}

fn vet_elf(bytes: &[u8], host: HostArch) -> Result<(), RejectReason> {
    let header = goblin::elf::Elf::parse_header(bytes)
        .map_err(|e| RejectReason::NotALibrary(format!("damaged ELF header: {e}")))?;
    let class = if header.e_ident[elfh::EI_CLASS] == elfh::ELFCLASS64 {
        "64-bit"
    } else {
        "32-bit"
    };
    let found = format!("ELF {} ({class})", elf_machine_name(header.e_machine));
    if host.format != "ELF" {
        return foreign_format(&found, host);
    }
    if let Some(expected) = elf_machine_of(host.arch) {
        let host_class = if cfg!(target_pointer_width = "64") {
            elfh::ELFCLASS64
        } else {
            elfh::ELFCLASS32
        };
        if header.e_machine != expected || header.e_ident[elfh::EI_CLASS] != host_class {
            return foreign_format(&found, host);
        }
    }
    match header.e_type {
        elfh::ET_DYN => {}
        elfh::ET_EXEC => {
            return Err(RejectReason::NotALibrary(
                "an ELF executable, not a shared library".into(),
            ));
        }
        elfh::ET_REL => {
            return Err(RejectReason::NotALibrary(
                "an ELF relocatable object (.o), not a shared library".into(),
            ));
        }
        elfh::ET_CORE => {
            return Err(RejectReason::NotALibrary(
                "an ELF core file, not a shared library".into(),
            ));
        }
        other => {
            return Err(RejectReason::NotALibrary(format!(
                "an ELF file of type {other:#x}, not a shared library"
            )));
        }
    }
    let elf = goblin::elf::Elf::parse(bytes)
        .map_err(|e| RejectReason::NotALibrary(format!("damaged ELF shared object: {e}")))?;
    let names = elf.dynsyms.iter().filter_map(|sym| {
        let defined = sym.st_shndx != goblin::elf::section_header::SHN_UNDEF as usize;
        let visible = matches!(
            sym.st_bind(),
            goblin::elf::sym::STB_GLOBAL | goblin::elf::sym::STB_WEAK
        );
        let func = sym.st_type() == goblin::elf::sym::STT_FUNC;
        if defined && visible && func {
            elf.dynstrtab.get_at(sym.st_name)
        } else {
            None
        }
    });
    check_exports(names)
}

fn vet_pe(bytes: &[u8], host: HostArch) -> Result<(), RejectReason> {
    let header = goblin::pe::header::Header::parse(bytes)
        .map_err(|e| RejectReason::NotALibrary(format!("damaged PE header: {e}")))?;
    let machine = header.coff_header.machine;
    let found = format!("PE {}", pe_machine_name(machine));
    if host.format != "PE" {
        return foreign_format(&found, host);
    }
    let expected = match host.arch {
        "x86_64" => Some(PE_MACHINE_AMD64),
        "x86" => Some(PE_MACHINE_I386),
        "aarch64" => Some(PE_MACHINE_ARM64),
        _ => None,
    };
    if expected.is_some_and(|m| m != machine) {
        return foreign_format(&found, host);
    }
    let pe = goblin::pe::PE::parse(bytes)
        .map_err(|e| RejectReason::NotALibrary(format!("damaged PE file: {e}")))?;
    if !pe.is_lib {
        return Err(RejectReason::NotALibrary(
            "a PE executable, not a DLL".into(),
        ));
    }
    check_exports(pe.exports.iter().filter_map(|e| e.name))
}

fn vet_mach(bytes: &[u8], host: HostArch) -> Result<(), RejectReason> {
    let expected = match host.arch {
        "x86_64" => Some(cputype::CPU_TYPE_X86_64),
        "aarch64" => Some(cputype::CPU_TYPE_ARM64),
        "x86" => Some(cputype::CPU_TYPE_X86),
        _ => None,
    };
    let mach = goblin::mach::Mach::parse(bytes)
        .map_err(|e| RejectReason::NotALibrary(format!("damaged Mach-O file: {e}")))?;
    let macho = match mach {
        goblin::mach::Mach::Binary(m) => m,
        goblin::mach::Mach::Fat(fat) => {
            let mut found = Vec::new();
            let mut chosen = None;
            for (i, arch) in fat.iter_arches().enumerate() {
                let arch = arch
                    .map_err(|e| RejectReason::NotALibrary(format!("damaged fat Mach-O: {e}")))?;
                found.push(mach_cpu_name(arch.cputype));
                if host.format == "Mach-O" && expected == Some(arch.cputype) {
                    chosen = Some(i);
                }
            }
            let Some(i) = chosen else {
                return foreign_format(&format!("universal Mach-O ({})", found.join(", ")), host);
            };
            match fat.get(i) {
                Ok(goblin::mach::SingleArch::MachO(m)) => m,
                Ok(goblin::mach::SingleArch::Archive(_)) => {
                    return Err(RejectReason::NotALibrary(
                        "a static archive, not a dynamic library".into(),
                    ));
                }
                Err(e) => {
                    return Err(RejectReason::NotALibrary(format!(
                        "damaged fat Mach-O: {e}"
                    )));
                }
            }
        }
    };
    let found = format!("Mach-O {}", mach_cpu_name(macho.header.cputype));
    if host.format != "Mach-O" || expected.is_some_and(|c| c != macho.header.cputype) {
        return foreign_format(&found, host);
    }
    let filetype = macho.header.filetype;
    if filetype != goblin::mach::header::MH_DYLIB && filetype != goblin::mach::header::MH_BUNDLE {
        return Err(RejectReason::NotALibrary(format!(
            "a Mach-O file of type {filetype:#x}, not a dylib"
        )));
    }
    let exports = macho
        .exports()
        .map_err(|e| RejectReason::NotALibrary(format!("damaged Mach-O exports: {e}")))?;
    // Mach-O symbol names carry a leading underscore.
    check_exports(exports.iter().filter_map(|e| e.name.strip_prefix('_')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_X64: HostArch = HostArch {
        format: "ELF",
        arch: "x86_64",
    };

    /// A bare 64-bit little-endian ELF header (no sections, no segments).
    pub(crate) fn elf_header(machine: u16, e_type: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        h[16..18].copy_from_slice(&e_type.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        h
    }

    #[test]
    fn text_is_not_a_library() {
        let e = vet(b"hello, I am a text file\n", LINUX_X64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a library: not an ELF, PE or Mach-O file (it starts with 68 65 6c 6c)"
        );
        assert!(matches!(
            vet(b"", LINUX_X64),
            Err(RejectReason::NotALibrary(_))
        ));
        assert!(matches!(
            vet(b"\x7fEL", LINUX_X64),
            Err(RejectReason::NotALibrary(_))
        ));
    }

    #[test]
    fn another_machine_is_the_wrong_architecture() {
        let e = vet(&elf_header(elfh::EM_AARCH64, elfh::ET_DYN), LINUX_X64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "wrong architecture: the file is ELF aarch64 (64-bit), this pooldbg loads ELF x86_64"
        );
        let host_arm = HostArch {
            format: "ELF",
            arch: "aarch64",
        };
        let e = vet(&elf_header(elfh::EM_X86_64, elfh::ET_DYN), host_arm).unwrap_err();
        assert!(matches!(e, RejectReason::WrongArchitecture { .. }), "{e}");
    }

    #[test]
    fn elf_executables_and_objects_are_not_libraries() {
        let e = vet(&elf_header(elfh::EM_X86_64, elfh::ET_EXEC), LINUX_X64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a library: an ELF executable, not a shared library"
        );
        let e = vet(&elf_header(elfh::EM_X86_64, elfh::ET_REL), LINUX_X64).unwrap_err();
        assert!(e.to_string().contains("relocatable"), "{e}");
    }

    #[test]
    fn a_library_without_the_export_is_missing_it() {
        // A shared object header with no dynamic section exports nothing.
        let e = vet(&elf_header(elfh::EM_X86_64, elfh::ET_DYN), LINUX_X64).unwrap_err();
        assert!(matches!(e, RejectReason::MissingExport), "{e}");
    }

    #[test]
    fn exports_decide_between_missing_and_wrong_version() {
        assert!(check_exports(["x", "pooldbg_plugin_v1"].into_iter()).is_ok());
        assert!(matches!(
            check_exports(["pooldbg_plugin_v3", "pooldbg_plugin_v2"].into_iter()),
            Err(RejectReason::WrongAbiVersion { found: 2 })
        ));
        assert!(matches!(
            check_exports(["pooldbg_plugin_vx", "main"].into_iter()),
            Err(RejectReason::MissingExport)
        ));
    }

    #[test]
    fn a_pe_dll_on_linux_is_the_wrong_platform() {
        // The smallest PE header goblin accepts: DOS header pointing at "PE\0\0" and a COFF header.
        let mut pe = vec![0u8; 0x200];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe[0x84..0x86].copy_from_slice(&PE_MACHINE_AMD64.to_le_bytes());
        let e = vet(&pe, LINUX_X64).unwrap_err();
        match e {
            RejectReason::WrongArchitecture { found, .. } => assert_eq!(found, "PE x86_64"),
            RejectReason::NotALibrary(m) => assert!(m.contains("PE"), "{m}"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_mach_o_on_linux_is_the_wrong_platform() {
        let mut m = vec![0u8; 32];
        m[..4].copy_from_slice(&goblin::mach::header::MH_MAGIC_64.to_le_bytes());
        m[4..8].copy_from_slice(&cputype::CPU_TYPE_ARM64.to_le_bytes());
        m[12..16].copy_from_slice(&goblin::mach::header::MH_DYLIB.to_le_bytes());
        let e = vet(&m, LINUX_X64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "wrong architecture: the file is Mach-O aarch64, this pooldbg loads ELF x86_64"
        );
    }

    #[test]
    fn garbage_never_panics() {
        // Every prefix of a header, and some corruptions: errors, never panics.
        let h = elf_header(elfh::EM_X86_64, elfh::ET_DYN);
        for n in 0..h.len() {
            let _ = vet(&h[..n], LINUX_X64);
        }
        let mut big = h.clone();
        big[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // e_phoff
        big[56..58].copy_from_slice(&0xffffu16.to_le_bytes()); // e_phnum
        let _ = vet(&big, LINUX_X64);
    }
}
