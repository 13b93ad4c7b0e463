//! `!vm [flags]`: the memory manager's counters, as WinDbg prints them.
//!
//! Each figure is read from where the target's Windows version keeps it
//! (docs/POOL_INTERNALS.md §7):
//!
//! - up to Windows 8.1, the `Mm*` globals (located through the user's symbols, the embedded
//!   profile or the KDBG's pointers, in that order; a KDBG pointer is used only when it is
//!   non-zero and the value behind it is readable);
//! - on Windows 10, `MiSystemPartition.Vp` (`_MI_VISIBLE_PARTITION`) and
//!   `MiState.Pools` (`_MI_POOL_STATE`), with offsets from the symbols or the embedded profile.
//!
//! A figure with no known source on the target is left out and named in the warnings: nothing is
//! invented. The text is WinDbg's layout (`%s%*d   (%8d Kb)`, pages then KiB); the JSON row holds
//! the CONTRACT.md figures and the summary holds `sources` (figure → where it was read) and
//! `text` (the WinDbg lines; see docs/PLUGINS.md "Text layouts").
//!
//! ```
//! use plugin_sdk::{Arch, MemoryTarget, Source, TargetInfo};
//! let info = TargetInfo { arch: Arch::X64, build: 7601, pointer_size: 8, ..Default::default() };
//! let t = MemoryTarget::new(info)
//!     .with_symbol("MmAvailablePages", 0xfffff800_02a00000, Source::Kdbg)
//!     .with_virtual(0xfffff800_02a00000, &1234u64.to_le_bytes());
//! let report = pooldbg_vm::vm(&t, 0).unwrap();
//! assert_eq!(report.value("available_pages"), Some(1234));
//! assert!(report.missing.iter().any(|m| m.starts_with("physical_pages")));
//! println!("{}", report.text().join("\n"));
//! ```

// `export_plugin!` allows its own audited unsafe (the ABI entry point); nothing else here may.
#![deny(unsafe_code)]

use plugin_sdk::{Command, CommandError, Output, Target, TargetExt};
use serde_json::{Map, Value, json};

/// One figure of `!vm`, in pages unless its key says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// The JSON key (CONTRACT.md `!vm`), e.g. `available_pages`.
    pub key: &'static str,
    /// The value (pages, or a count for `pool_allocation_failures`).
    pub value: u64,
    /// Where it was read, e.g. `MmAvailablePages (kdbg)` or
    /// `MiSystemPartition.Vp.AvailablePages (embedded profile)`.
    pub source: String,
}

/// One paged pool's usage (`ExpPagedPoolDescriptor[index]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagedPool {
    /// Descriptor index (0 ..= `ExpNumberOfPagedPools`).
    pub index: u32,
    /// Small-pool pages plus big pages in use.
    pub pages: u64,
}

/// One paging file (`_MMPAGING_FILE`), sizes in pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFile {
    /// `PageFileName`; `None` when its length is 0 (WinDbg: "No Name for Paging File").
    pub name: Option<String>,
    /// `Size` (current size).
    pub current_pages: u64,
    /// `FreeSpace`.
    pub free_pages: u64,
    /// `MinimumSize`.
    pub minimum_pages: u64,
    /// `MaximumSize`.
    pub maximum_pages: u64,
}

/// What `!vm` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmReport {
    /// The paging files, when their source is known (empty list: none configured).
    pub page_files: Option<Vec<PageFile>>,
    /// Where the paging files were read (`MmPagingFile (embedded profile)`).
    pub page_files_source: Option<String>,
    /// The figures found, in WinDbg's order.
    pub figures: Vec<Figure>,
    /// Per paged pool usage, when the descriptors are readable and count pages.
    pub paged_pools: Vec<PagedPool>,
    /// Where the per-pool lines were read (`ExpPagedPoolDescriptor (kdbg)`).
    pub paged_pools_source: Option<String>,
    /// Figures left out, each with why (`free_system_ptes: no known source ...`).
    pub missing: Vec<String>,
    /// Bytes per page (4096 on x86 and x64).
    pub page_size: u64,
}

impl VmReport {
    /// The value of a figure by JSON key.
    pub fn value(&self, key: &str) -> Option<u64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.value)
    }

    fn line(&self, label: &str, key: &str, out: &mut Vec<String>) {
        if let Some(v) = self.value(key) {
            out.push(page_line(label, v, self.page_size));
        }
    }

    /// The WinDbg-layout lines (no trailing newline on each).
    pub fn text(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.push(format!("sources: {}", self.sources_line()));
        out.push(String::new());
        out.push("*** Virtual Memory Usage ***".into());
        self.line("Physical Memory:", "physical_pages", &mut out);
        for pf in self.page_files.iter().flatten() {
            let kb = |p: u64| p.saturating_mul(self.page_size / 1024);
            match &pf.name {
                Some(n) => out.push(format!("      Page File: {n}")),
                None => out.push("      No Name for Paging File".into()),
            }
            out.push(format!(
                "        Current: {:>9} Kb  Free Space: {:>9} Kb",
                kb(pf.current_pages),
                kb(pf.free_pages)
            ));
            out.push(format!(
                "        Minimum: {:>9} Kb  Maximum:    {:>9} Kb",
                kb(pf.minimum_pages),
                kb(pf.maximum_pages)
            ));
        }
        self.line("Available Pages:", "available_pages", &mut out);
        self.line("ResAvail Pages:", "resident_available_pages", &mut out);
        self.line("Locked IO Pages:", "locked_io_pages", &mut out);
        self.line("Free System PTEs:", "free_system_ptes", &mut out);
        self.line("Modified Pages:", "modified_pages", &mut out);
        self.line("NonPagedPool Usage:", "nonpaged_pool_pages", &mut out);
        self.line("NonPagedPool Max:", "nonpaged_pool_max_pages", &mut out);
        for p in &self.paged_pools {
            out.push(page_line(
                &format!("PagedPool {} Usage:", p.index),
                p.pages,
                self.page_size,
            ));
        }
        self.line("PagedPool Usage:", "paged_pool_pages", &mut out);
        self.line("PagedPool Maximum:", "paged_pool_max_pages", &mut out);
        if let Some(n) = self.value("pool_allocation_failures").filter(|n| *n != 0) {
            out.push(format!(
                "********** {n} pool allocations have failed **********"
            ));
        }
        self.line("Shared Commit:", "shared_commit_pages", &mut out);
        self.line("Special Pool:", "special_pool_pages", &mut out);
        self.line("Shared Process:", "shared_process_pages", &mut out);
        self.line("PagedPool Commit:", "paged_pool_commit_pages", &mut out);
        self.line("Driver Commit:", "driver_commit_pages", &mut out);
        self.line("Committed pages:", "committed_pages", &mut out);
        self.line("Commit limit:", "commit_limit", &mut out);
        out
    }

    /// `origin: name name …; origin: …`, the figures' sources grouped by who answered.
    fn sources_line(&self) -> String {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        let all = self
            .figures
            .iter()
            .map(|f| f.source.clone())
            .chain(self.page_files_source.clone())
            .chain(self.paged_pools_source.clone());
        for s in all {
            let (name, origin) = match s.rsplit_once(" (") {
                Some((n, o)) => (n.to_string(), o.trim_end_matches(')').to_string()),
                None => (s.clone(), String::from("?")),
            };
            match groups.iter_mut().find(|(o, _)| *o == origin) {
                Some((_, names)) => {
                    if !names.contains(&name) {
                        names.push(name)
                    }
                }
                None => groups.push((origin, vec![name])),
            }
        }
        if groups.is_empty() {
            return "none".into();
        }
        groups
            .iter()
            .map(|(o, n)| format!("{o}: {}", n.join(" ")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The CONTRACT.md row: every figure found, in pages (absent figures are not in it).
    pub fn row(&self) -> Value {
        let mut m = Map::new();
        for f in &self.figures {
            m.insert(f.key.into(), json!(f.value));
        }
        if let Some(pfs) = &self.page_files {
            m.insert(
                "page_files".into(),
                pfs.iter()
                    .map(|p| {
                        json!({"name": p.name, "current_pages": p.current_pages,
                               "free_pages": p.free_pages, "minimum_pages": p.minimum_pages,
                               "maximum_pages": p.maximum_pages})
                    })
                    .collect(),
            );
        }
        if !self.paged_pools.is_empty() {
            m.insert(
                "paged_pools_pages".into(),
                json!(self.paged_pools.iter().map(|p| p.pages).collect::<Vec<_>>()),
            );
        }
        Value::Object(m)
    }

    /// The summary: `sources` (key → source) and `text` (the WinDbg lines).
    pub fn summary(&self) -> Value {
        let mut sources = Map::new();
        for f in &self.figures {
            sources.insert(f.key.into(), json!(f.source));
        }
        if let Some(s) = &self.paged_pools_source {
            sources.insert("paged_pools_pages".into(), json!(s));
        }
        if let Some(s) = &self.page_files_source {
            sources.insert("page_files".into(), json!(s));
        }
        json!({ "sources": sources, "text": self.text() })
    }
}

/// One WinDbg `!vm` line: the label and the page count fill 26 columns (the number right-aligned,
/// at least one space after the label), then `   (%8d Kb)`. Indented by six spaces as in the
/// seed's sample.
pub fn page_line(label: &str, pages: u64, page_size: u64) -> String {
    let num = pages.to_string();
    let width = 26usize.saturating_sub(label.len()).max(num.len() + 1);
    let kb = pages.saturating_mul(page_size / 1024);
    format!("      {label}{num:>width$}   ({kb:>8} Kb)")
}

/// Reads the figures through symbols; a figure that cannot be read is named in `missing`.
struct Reader<'a> {
    t: &'a dyn Target,
    ptr: u32,
}

impl Reader<'_> {
    /// The value of a global (`width` bytes, little-endian) with a source string, or why not.
    fn global(&self, name: &str, width: u32) -> Result<(u64, String), String> {
        let Some(s) = self.t.symbol_address(name) else {
            return Err(format!("no symbol {name}"));
        };
        if s.value == 0 {
            return Err(format!("{name} is a null pointer ({})", s.source.name()));
        }
        let v = self
            .read(s.value, width)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok((v, format!("{name} ({})", s.source.name())))
    }

    fn read(&self, address: u64, width: u32) -> Result<u64, plugin_sdk::ReadError> {
        match width {
            4 => self.t.read_u32(address).map(u64::from),
            8 => self.t.read_u64(address),
            _ => self.t.read_pointer(address, self.ptr),
        }
    }

    fn offset(&self, ty: &str, field: &str) -> Option<u64> {
        self.t.field_offset(ty, field).map(|f| f.offset)
    }

    /// `MiSystemPartition.Vp.<field>` (+ `extra`), 8 bytes (x64 Windows 10: `ULONG_PTR`s).
    fn partition(&self, field: &str, extra: u64) -> Result<(u64, String), String> {
        let part = self
            .t
            .symbol_address("MiSystemPartition")
            .ok_or("no symbol MiSystemPartition")?;
        let vp = self
            .offset("_MI_PARTITION", "Vp")
            .ok_or("no offset of _MI_PARTITION.Vp")?;
        let f = self
            .offset("_MI_VISIBLE_PARTITION", field)
            .ok_or_else(|| format!("no offset of _MI_VISIBLE_PARTITION.{field}"))?;
        let va = part
            .value
            .wrapping_add(vp)
            .wrapping_add(f)
            .wrapping_add(extra);
        let v = self
            .read(va, self.ptr)
            .map_err(|e| format!("MiSystemPartition.Vp.{field}: {e}"))?;
        Ok((
            v,
            format!("MiSystemPartition.Vp.{field} ({})", part.source.name()),
        ))
    }

    /// `MiState.Pools.<field>`.
    fn pools(&self, field: &str) -> Result<(u64, String), String> {
        let st = self
            .t
            .symbol_address("MiState")
            .ok_or("no symbol MiState")?;
        let pools = self
            .offset("_MI_SYSTEM_INFORMATION", "Pools")
            .ok_or("no offset of _MI_SYSTEM_INFORMATION.Pools")?;
        let f = self
            .offset("_MI_POOL_STATE", field)
            .ok_or_else(|| format!("no offset of _MI_POOL_STATE.{field}"))?;
        let va = st.value.wrapping_add(pools).wrapping_add(f);
        let v = self
            .read(va, self.ptr)
            .map_err(|e| format!("MiState.Pools.{field}: {e}"))?;
        Ok((v, format!("MiState.Pools.{field} ({})", st.source.name())))
    }
}

/// `!vm` over a target: reads every figure it has a source for.
///
/// Fails only when the target's pointer size is unknown or no figure at all could be read (a
/// triage dump, say); the error then lists why for each figure.
pub fn vm(target: &dyn Target, _flags: u64) -> Result<VmReport, CommandError> {
    let info = target.info();
    let ptr = match info.pointer_size {
        4 | 8 => info.pointer_size,
        other => {
            return Err(CommandError::msg(format!(
                "!vm: the target's pointer size is unknown ({other})"
            )));
        }
    };
    let r = Reader { t: target, ptr };
    let mut rep = VmReport {
        page_size: 4096,
        ..VmReport::default()
    };
    let modified_total = target
        .field_offset("_MMPFNLIST", "Total")
        .map(|f| f.offset)
        .unwrap_or(0);
    // (key, old global, width (0 = pointer), Windows 10 source)
    type Newer = fn(&Reader<'_>) -> Result<(u64, String), String>;
    let table: &[(&'static str, &str, Option<Newer>)] = &[
        (
            "physical_pages",
            "MmNumberOfPhysicalPages",
            Some(|r| r.partition("NumberOfPhysicalPages", 0)),
        ),
        (
            "available_pages",
            "MmAvailablePages",
            Some(|r| r.partition("AvailablePages", 0)),
        ),
        (
            "resident_available_pages",
            "MmResidentAvailablePages",
            Some(|r| r.partition("ResidentAvailablePages", 0)),
        ),
        ("modified_pages", "MmModifiedPageListHead", None),
        (
            "nonpaged_pool_pages",
            "MmAllocatedNonPagedPool",
            Some(|r| r.pools("AllocatedNonPagedPool")),
        ),
        (
            "nonpaged_pool_max_pages",
            "MmMaximumNonPagedPoolInBytes",
            None,
        ),
        ("paged_pool_pages", "MmPagedPoolInfo", None),
        ("paged_pool_max_pages", "MmSizeOfPagedPoolInBytes", None),
        ("pool_allocation_failures", "ExPoolFailures", None),
        (
            "shared_commit_pages",
            "MmSharedCommit",
            Some(|r| r.partition("SharedCommit", 0)),
        ),
        ("shared_process_pages", "MmProcessCommit", None),
        ("paged_pool_commit_pages", "MmPagedPoolCommit", None),
        ("driver_commit_pages", "MmDriverCommit", None),
        (
            "committed_pages",
            "MmTotalCommittedPages",
            Some(|r| r.partition("TotalCommittedPages", 0)),
        ),
        (
            "commit_limit",
            "MmTotalCommitLimit",
            Some(|r| r.partition("TotalCommitLimit", 0)),
        ),
    ];
    for (key, global, newer) in table {
        let old: Result<(u64, String), String> = match *key {
            "modified_pages" => r.global(global, 0).and_then(|_| {
                // `_MMPFNLIST.Total` of MmModifiedPageListHead.
                let s = target.symbol_address(global).ok_or("no symbol")?;
                let v = r
                    .read(s.value.wrapping_add(modified_total), 0)
                    .map_err(|e| format!("{global}.Total: {e}"))?;
                Ok((v, format!("{global}.Total ({})", s.source.name())))
            }),
            "nonpaged_pool_max_pages" | "paged_pool_max_pages" => {
                r.global(global, 0).map(|(v, s)| {
                    let s = match s.rsplit_once(" (") {
                        Some((n, o)) => format!("{n}/{} ({o}", rep.page_size),
                        None => s,
                    };
                    (v / rep.page_size, s)
                })
            }
            "paged_pool_pages" => paged_pool_allocated(&r, target),
            "pool_allocation_failures" => r.global(global, 4),
            _ => r.global(global, 0),
        };
        let found = match (old, newer) {
            (Ok(v), _) => Ok(v),
            (Err(e), Some(n)) => n(&r).map_err(|e2| format!("{e}; {e2}")),
            (Err(e), None) => match *key {
                "modified_pages" => r
                    .partition("ModifiedPageListHead", modified_total)
                    .map(|(v, s)| (v, s.replace(" (", ".Total (")))
                    .map_err(|e2| format!("{e}; {e2}")),
                _ => Err(e),
            },
        };
        match found {
            Ok((value, source)) => rep.figures.push(Figure { key, value, source }),
            Err(why) => rep.missing.push(format!("{key}: {why}")),
        }
    }
    match paged_pools(&r, target) {
        Ok((pools, src)) => {
            rep.paged_pools = pools;
            rep.paged_pools_source = Some(src);
        }
        Err(why) => rep.missing.push(format!("paged_pools_pages: {why}")),
    }
    match page_files(&r, target) {
        Ok((pfs, src)) => {
            rep.page_files = Some(pfs);
            rep.page_files_source = Some(src);
        }
        Err(why) => rep.missing.push(format!("page_files: {why}")),
    }
    type Extra = fn(&Reader<'_>, &dyn Target) -> Result<(u64, String), String>;
    let extra: [(&'static str, Extra); 3] = [
        ("locked_io_pages", locked_io_pages),
        ("free_system_ptes", free_system_ptes),
        ("special_pool_pages", special_pool_pages),
    ];
    for (key, f) in extra {
        match f(&r, target) {
            Ok((value, source)) => rep.figures.push(Figure { key, value, source }),
            Err(why) => rep.missing.push(format!("{key}: {why}")),
        }
    }
    if rep.figures.is_empty() {
        return Err(CommandError::msg(format!(
            "!vm: no figure could be read ({})",
            rep.missing.join("; ")
        )));
    }
    Ok(rep)
}

/// `MmPagedPoolInfo.AllocatedPagedPool`: the offset from the symbols, else from poollayout's table.
fn paged_pool_allocated(r: &Reader<'_>, t: &dyn Target) -> Result<(u64, String), String> {
    let s = t
        .symbol_address("MmPagedPoolInfo")
        .ok_or("no symbol MmPagedPoolInfo")?;
    let off = match r.offset("_MM_PAGED_POOL_INFO", "AllocatedPagedPool") {
        Some(o) => o,
        None => {
            let l = layout(t)?;
            l.paged_pool_info()
                .map_err(|e| e.to_string())?
                .allocated
                .offset as u64
        }
    };
    let v = r
        .read(s.value.wrapping_add(off), 0)
        .map_err(|e| format!("MmPagedPoolInfo.AllocatedPagedPool: {e}"))?;
    Ok((
        v,
        format!("MmPagedPoolInfo.AllocatedPagedPool ({})", s.source.name()),
    ))
}

/// At most this many paging files are read (`_MI_VISIBLE_PARTITION.PagingFile[16]` in every
/// Windows 10/11 ISF; `MmPagingFile[16]` before).
pub const MAX_PAGING_FILES: u64 = 16;

/// The paging files: `MmNumberOfPagingFiles` + `MmPagingFile[]` (up to 8.1; the KDBG points at the
/// count only), else `MiSystemPartition.Vp.NumberOfPagingFiles` + `Vp.PagingFile[]` (Windows 10+;
/// field names from the public PDB types, docs/POOL_INTERNALS.md §7). Each entry is a
/// `_MMPAGING_FILE*`: `Size`, `FreeSpace`, `MinimumSize`, `MaximumSize` (pages) and
/// `PageFileName` (`_UNICODE_STRING`), offsets from the symbols or the embedded profile.
fn page_files(r: &Reader<'_>, t: &dyn Target) -> Result<(Vec<PageFile>, String), String> {
    let (count, array, source) = match (
        t.symbol_address("MmNumberOfPagingFiles"),
        t.symbol_address("MmPagingFile"),
    ) {
        (Some(n), Some(a)) if n.value != 0 && a.value != 0 => {
            let c = r
                .read(n.value, 4)
                .map_err(|e| format!("MmNumberOfPagingFiles: {e}"))?;
            (c, a.value, format!("MmPagingFile ({})", a.source.name()))
        }
        (n, a) => {
            let old = match (n, a) {
                (None, _) => "no symbol MmNumberOfPagingFiles",
                (_, None) => "no symbol MmPagingFile",
                _ => "MmNumberOfPagingFiles or MmPagingFile is null",
            };
            let part = t
                .symbol_address("MiSystemPartition")
                .ok_or_else(|| format!("{old}; no symbol MiSystemPartition"))?;
            let vp = r
                .offset("_MI_PARTITION", "Vp")
                .ok_or_else(|| format!("{old}; no offset of _MI_PARTITION.Vp"))?;
            let nf = r
                .offset("_MI_VISIBLE_PARTITION", "NumberOfPagingFiles")
                .ok_or_else(|| {
                    format!("{old}; no offset of _MI_VISIBLE_PARTITION.NumberOfPagingFiles")
                })?;
            let pf = r
                .offset("_MI_VISIBLE_PARTITION", "PagingFile")
                .ok_or_else(|| format!("{old}; no offset of _MI_VISIBLE_PARTITION.PagingFile"))?;
            let v = part.value.wrapping_add(vp);
            let c = r
                .read(v.wrapping_add(nf), 4)
                .map_err(|e| format!("MiSystemPartition.Vp.NumberOfPagingFiles: {e}"))?;
            (
                c,
                v.wrapping_add(pf),
                format!("MiSystemPartition.Vp.PagingFile ({})", part.source.name()),
            )
        }
    };
    if count > MAX_PAGING_FILES {
        return Err(format!(
            "{count} paging files, expected at most {MAX_PAGING_FILES}"
        ));
    }
    let off = |f: &str| {
        r.offset("_MMPAGING_FILE", f)
            .ok_or_else(|| format!("no offset of _MMPAGING_FILE.{f}"))
    };
    let (size, free, min, max, name) = (
        off("Size")?,
        off("FreeSpace")?,
        off("MinimumSize")?,
        off("MaximumSize")?,
        off("PageFileName")?,
    );
    let mut out = Vec::new();
    for i in 0..count {
        let p = r
            .read(array.wrapping_add(i * u64::from(r.ptr)), 0)
            .map_err(|e| format!("paging file pointer {i}: {e}"))?;
        if p == 0 {
            continue;
        }
        let rd = |o: u64, what: &str| {
            r.read(p.wrapping_add(o), 0)
                .map_err(|e| format!("_MMPAGING_FILE {i} at {p:#x}: {what}: {e}"))
        };
        out.push(PageFile {
            current_pages: rd(size, "Size")?,
            free_pages: rd(free, "FreeSpace")?,
            minimum_pages: rd(min, "MinimumSize")?,
            maximum_pages: rd(max, "MaximumSize")?,
            name: unicode_string(r, t, p.wrapping_add(name))
                .map_err(|e| format!("_MMPAGING_FILE {i} at {p:#x}: PageFileName: {e}"))?,
        });
    }
    Ok((out, source))
}

/// A `_UNICODE_STRING` (`Length` u16 at 0, `Buffer` pointer at 4 / 8): `None` when empty. The
/// length is bounded by its u16; odd lengths and bad UTF-16 are decoded lossily.
fn unicode_string(r: &Reader<'_>, t: &dyn Target, at: u64) -> Result<Option<String>, String> {
    let mut lb = [0u8; 2];
    t.read_virtual_exact(at, &mut lb)
        .map_err(|e| e.to_string())?;
    let len = u16::from_le_bytes(lb) as usize & !1;
    if len == 0 {
        return Ok(None);
    }
    let buf_ptr = r
        .read(at.wrapping_add(u64::from(r.ptr)), 0)
        .map_err(|e| e.to_string())?;
    let mut b = vec![0u8; len];
    t.read_virtual_exact(buf_ptr, &mut b)
        .map_err(|e| e.to_string())?;
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok(Some(String::from_utf16_lossy(&units)))
}

/// `_MI_VISIBLE_STATE` and `_MI_SYSTEM_PTE_TYPE` offsets per Windows 10/11 x64 build, for targets
/// whose symbols lack these types (the embedded profiles keep only the types `WANTED_TYPES`
/// names): (build, `_MI_VISIBLE_STATE.SystemPteInfo`, `_MI_SYSTEM_PTE_TYPE.TotalFreeSystemPtes`,
/// `_MI_VISIBLE_STATE.SpecialPagesInUse`). Derived from the public ntkrnlmp.pdb ISF files of
/// every listed build (JPCERTCC/Windows-Symbol-Tables; checked in tests/isf.rs).
pub const MI_VISIBLE_STATE_X64: &[(u32, u64, u64, Option<u64>)] = &[
    (14393, 0xb0, 0x60, Some(0x138)),
    (17763, 0xa0, 0x58, Some(0x128)),
    (18326, 0x40, 0x58, None),
    (18362, 0x40, 0x58, None),
    (19041, 0x40, 0x58, None),
    (20348, 0x40, 0x58, None),
    (22000, 0x40, 0x50, None),
];

/// `MiState.Vs` (`_MI_SYSTEM_INFORMATION.Vs`, a `_MI_VISIBLE_STATE`) and the offset of `field`
/// in it: from the symbols, else from [`MI_VISIBLE_STATE_X64`].
fn mi_state_vs(r: &Reader<'_>, t: &dyn Target, field: &str) -> Result<(u64, String), String> {
    let st = t.symbol_address("MiState").ok_or("no symbol MiState")?;
    let vs = r
        .offset("_MI_SYSTEM_INFORMATION", "Vs")
        .ok_or("no offset of _MI_SYSTEM_INFORMATION.Vs")?;
    let info = t.info();
    let row = (info.pointer_size == 8)
        .then(|| MI_VISIBLE_STATE_X64.iter().find(|e| e.0 == info.build))
        .flatten();
    let f = match r.offset("_MI_VISIBLE_STATE", field) {
        Some(o) => o,
        None => match (field, row) {
            ("SystemPteInfo", Some(e)) => e.1,
            ("SpecialPagesInUse", Some(e)) => e.3.ok_or_else(|| {
                format!(
                    "_MI_VISIBLE_STATE has no SpecialPagesInUse on build {} (public PDB types)",
                    info.build
                )
            })?,
            _ => {
                return Err(format!(
                    "no offset of _MI_VISIBLE_STATE.{field} for build {}",
                    info.build
                ));
            }
        },
    };
    Ok((
        st.value.wrapping_add(vs).wrapping_add(f),
        format!("MiState.Vs.{field} ({})", st.source.name()),
    ))
}

/// Free System PTEs. Sources, first found wins:
/// - `MmTotalFreeSystemPtes[SystemPteSpace]` (XP/2003: a `ULONG` array indexed by
///   `MMSYSTEM_PTE_POOL_TYPE`, `SystemPteSpace` = 0; ReactOS `ntoskrnl/include/internal/mm.h`);
/// - `MiSystemPteInfo.TotalFreeSystemPtes` (Windows 7 / 8.1 public PDB types: a
///   `_MI_SYSTEM_PTE_TYPE`; `long` on 7, `ULONG_PTR` on 8.1);
/// - `MiState.Vs.SystemPteInfo.TotalFreeSystemPtes` (Windows 10/11 public PDB types).
fn free_system_ptes(r: &Reader<'_>, t: &dyn Target) -> Result<(u64, String), String> {
    let mut why = Vec::new();
    match r.global("MmTotalFreeSystemPtes", 4) {
        Ok((v, s)) => return Ok((v, s.replace(" (", "[SystemPteSpace] ("))),
        Err(e) => why.push(e),
    }
    let info = t.info();
    // `long` on Windows 7 (and earlier), `ULONG_PTR` from 8.1.
    let width = if info.build < 9200 { 4 } else { 0 };
    let total = r
        .offset("_MI_SYSTEM_PTE_TYPE", "TotalFreeSystemPtes")
        .or_else(|| {
            (info.pointer_size == 8)
                .then(|| MI_VISIBLE_STATE_X64.iter().find(|e| e.0 == info.build))
                .flatten()
                .map(|e| e.2)
        });
    match (t.symbol_address("MiSystemPteInfo"), total) {
        (Some(s), Some(o)) if s.value != 0 => {
            let v = r
                .read(s.value.wrapping_add(o), width)
                .map_err(|e| format!("MiSystemPteInfo.TotalFreeSystemPtes: {e}"))?;
            return Ok((
                v,
                format!("MiSystemPteInfo.TotalFreeSystemPtes ({})", s.source.name()),
            ));
        }
        (Some(_), None) => why.push("no offset of _MI_SYSTEM_PTE_TYPE.TotalFreeSystemPtes".into()),
        _ => why.push("no symbol MiSystemPteInfo".into()),
    }
    match (mi_state_vs(r, t, "SystemPteInfo"), total) {
        (Ok((va, src)), Some(o)) => {
            let v = r
                .read(va.wrapping_add(o), width)
                .map_err(|e| format!("MiState.Vs.SystemPteInfo.TotalFreeSystemPtes: {e}"))?;
            Ok((v, src.replace(" (", ".TotalFreeSystemPtes (")))
        }
        (Ok(_), None) => {
            why.push("no offset of _MI_SYSTEM_PTE_TYPE.TotalFreeSystemPtes".into());
            Err(why.join("; "))
        }
        (Err(e), _) => {
            why.push(e);
            Err(why.join("; "))
        }
    }
}

/// Special Pool: `MmSpecialPagesInUse` (Windows 7 / 8.1 public PDB globals; the name WinDbg's
/// line is taken from, docs/POOL_INTERNALS.md §7), else `MiState.Vs.SpecialPagesInUse` (Windows 10
/// 1607/1809 public PDB types; the field is gone from 1903 on, and no other source is known).
fn special_pool_pages(r: &Reader<'_>, t: &dyn Target) -> Result<(u64, String), String> {
    match r.global("MmSpecialPagesInUse", 0) {
        Ok(v) => Ok(v),
        Err(e) => {
            let (va, src) =
                mi_state_vs(r, t, "SpecialPagesInUse").map_err(|e2| format!("{e}; {e2}"))?;
            let v = r
                .read(va, 0)
                .map_err(|e| format!("MiState.Vs.SpecialPagesInUse: {e}"))?;
            Ok((v, src))
        }
    }
}

/// Locked IO Pages: `MmSystemLockPagesCount` (the ReactOS name, `ntoskrnl/mm/ARM3`), read only
/// when the target's symbols have it. No public PDB of Windows 7 … 11 has a global of that name
/// or a field that is known to hold the figure, so there it is left out.
fn locked_io_pages(r: &Reader<'_>, t: &dyn Target) -> Result<(u64, String), String> {
    r.global("MmSystemLockPagesCount", 0).map_err(|e| {
        format!(
            "{e} (the ReactOS name); no other source is established for build {} (no public \
             Windows 7 … 11 PDB has a counter known to hold it)",
            t.info().build
        )
    })
}

/// The pool layout of the target's build.
fn layout(t: &dyn Target) -> Result<poollayout::Layout, String> {
    let info = t.info();
    let arch = match info.arch {
        plugin_sdk::Arch::X86 | plugin_sdk::Arch::X86Pae => poollayout::Arch::X86,
        plugin_sdk::Arch::X64 => poollayout::Arch::X64,
        other => return Err(format!("no pool layout for {}", other.name())),
    };
    poollayout::Layout::for_build(arch, info.build).map_err(|e| e.to_string())
}

/// At most this many paged pools are read (Windows has at most 16 + 1).
const MAX_PAGED_POOLS: u64 = 64;

/// `ExpPagedPoolDescriptor[0 ..= ExpNumberOfPagedPools]` → pages + big pages in use.
fn paged_pools(r: &Reader<'_>, t: &dyn Target) -> Result<(Vec<PagedPool>, String), String> {
    let l = layout(t)?;
    let d = l.descriptor().map_err(|e| e.to_string())?;
    let (n, _) = r.global("ExpNumberOfPagedPools", 4)?;
    if n >= MAX_PAGED_POOLS {
        return Err(format!(
            "ExpNumberOfPagedPools is {n}, expected fewer than {MAX_PAGED_POOLS}"
        ));
    }
    let arr = t
        .symbol_address("ExpPagedPoolDescriptor")
        .ok_or("no symbol ExpPagedPoolDescriptor")?;
    let mut out = Vec::new();
    for i in 0..=n {
        let p = r
            .read(arr.value.wrapping_add(i * u64::from(r.ptr)), 0)
            .map_err(|e| format!("ExpPagedPoolDescriptor[{i}]: {e}"))?;
        if p == 0 {
            continue;
        }
        // The counters sit before ListHeads; read only what decode_descriptor needs.
        let len = d.list_heads.map(|(o, _)| o).unwrap_or(d.size).min(d.size);
        let mut buf = vec![0u8; len];
        t.read_virtual_exact(p, &mut buf)
            .map_err(|e| format!("paged pool descriptor {i}: {e}"))?;
        let desc = l
            .decode_descriptor(&buf)
            .map_err(|e| format!("paged pool descriptor {i} at {p:#x}: {e}"))?;
        out.push(PagedPool {
            index: i as u32,
            pages: desc.pages.wrapping_add(desc.big_pages),
        });
    }
    Ok((
        out,
        format!("ExpPagedPoolDescriptor ({})", arr.source.name()),
    ))
}

/// `!vm [flags]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vm;

/// Parses `[flags]` (hex, WinDbg style; `0x` optional).
pub fn parse_flags(args: &str) -> Result<u64, CommandError> {
    plugin_sdk::parse_hex_flags(args, "!vm [flags]")
}

/// Renders a command's output as text: the summary's `text` lines, then `warning:` lines.
/// This is the convention of docs/PLUGINS.md "Text layouts" (the host does the same).
pub fn render_text(out: &Output) -> String {
    out.render_text()
}

/// The columns of `!vm`'s row, in WinDbg's line order (docs/CONTRACT.md "Fields"): the plugin
/// declares them, so the host's CSV keeps this order.
pub const COLUMNS: &[&str] = &[
    "physical_pages",
    "page_files",
    "available_pages",
    "resident_available_pages",
    "locked_io_pages",
    "free_system_ptes",
    "modified_pages",
    "nonpaged_pool_pages",
    "nonpaged_pool_max_pages",
    "paged_pools_pages",
    "paged_pool_pages",
    "paged_pool_max_pages",
    "pool_allocation_failures",
    "shared_commit_pages",
    "special_pool_pages",
    "shared_process_pages",
    "paged_pool_commit_pages",
    "driver_commit_pages",
    "committed_pages",
    "commit_limit",
];

impl Command for Vm {
    fn name(&self) -> &'static str {
        "vm"
    }
    fn summary(&self) -> &'static str {
        "virtual memory usage: physical, available, pool usage and maxima, commit (WinDbg !vm)"
    }
    fn usage(&self) -> &'static str {
        "!vm [flags]   flags are accepted for WinDbg compatibility; the figures are the same"
    }
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }
    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        let flags = parse_flags(args)?;
        let rep = vm(target, flags)?;
        out.row(rep.row());
        out.set_summary(rep.summary());
        for m in &rep.missing {
            out.warn(format!("not shown: {m}"));
        }
        Ok(())
    }
}

plugin_sdk::export_plugin!(name: "vm", version: env!("CARGO_PKG_VERSION"), commands: [Vm]);

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{Arch, MemoryTarget, Source, TargetInfo};

    fn info(arch: Arch, build: u32, ptr: u32) -> TargetInfo {
        TargetInfo {
            arch,
            build,
            pointer_size: ptr,
            ..Default::default()
        }
    }

    #[test]
    fn line_layout_matches_the_seed() {
        assert_eq!(
            page_line("Physical Memory:", 16270, 4096),
            "      Physical Memory:     16270   (   65080 Kb)"
        );
        assert_eq!(
            page_line("PagedPool 0 Usage:", 729, 4096),
            "      PagedPool 0 Usage:     729   (    2916 Kb)"
        );
        assert_eq!(
            page_line("PagedPool Maximum:", 13312, 4096),
            "      PagedPool Maximum:   13312   (   53248 Kb)"
        );
        assert_eq!(
            page_line("Free System PTEs:", 45089, 4096),
            "      Free System PTEs:    45089   (  180356 Kb)"
        );
    }

    #[test]
    fn kdbg_null_or_unreadable_falls_back_to_the_partition() {
        let base = 0xfffff800_10000000u64;
        let part = base + 0x10000;
        let t = MemoryTarget::new(info(Arch::X64, 17763, 8))
            // Unreadable old global: must not be used.
            .with_symbol("MmAvailablePages", base, Source::Kdbg)
            .with_symbol("MiSystemPartition", part, Source::EmbeddedProfile)
            .with_field("_MI_PARTITION", "Vp", 0x1bc0, None, Source::EmbeddedProfile)
            .with_field(
                "_MI_VISIBLE_PARTITION",
                "AvailablePages",
                0xc0,
                None,
                Source::EmbeddedProfile,
            )
            .with_virtual(part + 0x1bc0 + 0xc0, &777u64.to_le_bytes());
        let rep = vm(&t, 0).unwrap();
        assert_eq!(rep.value("available_pages"), Some(777));
        let f = rep
            .figures
            .iter()
            .find(|f| f.key == "available_pages")
            .unwrap();
        assert_eq!(
            f.source,
            "MiSystemPartition.Vp.AvailablePages (embedded profile)"
        );
        // Absent figures are named, never zero.
        assert_eq!(rep.value("physical_pages"), None);
        assert!(rep.missing.iter().any(|m| m.starts_with("physical_pages:")));
        assert!(
            !rep.row()
                .as_object()
                .unwrap()
                .contains_key("physical_pages")
        );
    }

    #[test]
    fn failures_line_only_when_nonzero() {
        let g = 0x8050_0000u64;
        let mk = |n: u32| {
            MemoryTarget::new(info(Arch::X86, 2600, 4))
                .with_symbol("ExPoolFailures", g, Source::Kdbg)
                .with_virtual(g, &n.to_le_bytes())
        };
        let text = vm(&mk(4270), 0).unwrap().text().join("\n");
        assert!(text.contains("********** 4270 pool allocations have failed **********"));
        let text = vm(&mk(0), 0).unwrap().text().join("\n");
        assert!(!text.contains("have failed"));
    }

    #[test]
    fn nothing_readable_is_an_error_naming_why() {
        let t = MemoryTarget::new(info(Arch::X64, 7601, 8));
        let e = vm(&t, 0).unwrap_err().to_string();
        assert!(e.contains("no symbol MmNumberOfPhysicalPages"), "{e}");
    }

    #[test]
    fn flags_parse() {
        assert_eq!(parse_flags(" 1 ").unwrap(), 1);
        assert_eq!(parse_flags("0x20").unwrap(), 0x20);
        assert!(parse_flags("zz").is_err());
    }
}
