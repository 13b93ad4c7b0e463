//! `!vm [flags]`: the memory manager's counters and the process list, as WinDbg prints them.
//!
//! Each figure is read from where the target's Windows version keeps it (docs/COMMANDS.md `!vm`
//! lists every line's source per version, and the fields tried and rejected where a line has none):
//!
//! - up to Windows 8.1, the `Mm*` globals (located through the user's symbols, the embedded
//!   profile or the KDBG's pointers, in that order; a KDBG pointer is used only when it is
//!   non-zero and the value behind it is readable);
//! - on Windows 10 and 11, `MiSystemPartition.Vp` (`_MI_VISIBLE_PARTITION`), `MiState.Vs`
//!   (`_MI_VISIBLE_STATE`) and `MiState.Pools` (`_MI_POOL_STATE`), with offsets from the symbols
//!   or the embedded profile: the public PDB field names match WinDbg's labels
//!   (`Vs.MdlPagesAllocated` → `Pages For MDLs`, `Vs.PfnDatabaseCommit` → `PFN Array Commit`, …).
//!
//! A figure with no known source on the target is left out and named in the warnings: nothing is
//! invented. Every figure carries its [`Provenance`] as data (the path read and who located it);
//! the text's `sources:` line and the JSON summary's `sources` are rendered from it.
//!
//! Without flag 1 the processes are listed (`PsActiveProcessHead`, bounded and cycle-checked),
//! sorted as WinDbg sorts them (largest commit first).
//!
//! ```
//! use plugin_sdk::{Arch, MemoryTarget, Source, TargetInfo};
//! let info = TargetInfo { arch: Arch::X64, build: 7601, pointer_size: 8, ..Default::default() };
//! let t = MemoryTarget::new(info)
//!     .with_symbol("MmAvailablePages", 0xfffff800_02a00000, Source::Kdbg)
//!     .with_virtual(0xfffff800_02a00000, &1234u64.to_le_bytes());
//! let report = pooldbg_commands::vm::vm(&t, 1).unwrap();
//! assert_eq!(report.value("available_pages"), Some(1234));
//! assert!(report.missing.iter().any(|m| m.starts_with("physical_pages")));
//! println!("{}", report.text().join("\n"));
//! ```

use std::collections::HashSet;
use std::fmt;

use plugin_sdk::{CommandError, Output, Source, Target, TargetExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Who answered for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read at an address located by this symbol source.
    Located(Source),
    /// Computed from other figures (named in the path).
    Derived,
    /// Computed from fields chosen by their names, with no public statement or debugger output
    /// to check them against (docs/COMMANDS.md says which): a figure to read with care.
    Inferred,
}

impl Origin {
    /// `"embedded profile"`, `"kdbg"`, …, `"derived"` or `"inferred"`.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Located(s) => s.name(),
            Origin::Derived => "derived",
            Origin::Inferred => "inferred",
        }
    }
}

/// Where a figure came from: the path read (`MiSystemPartition.Vp.AvailablePages`,
/// `MmMaximumNonPagedPoolInBytes/4096`) and who located it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The global, field path or formula.
    pub path: String,
    /// Who located it.
    pub origin: Origin,
}

impl Provenance {
    fn new(path: impl Into<String>, source: Source) -> Self {
        Provenance {
            path: path.into(),
            origin: Origin::Located(source),
        }
    }
    fn derived(path: impl Into<String>) -> Self {
        Provenance {
            path: path.into(),
            origin: Origin::Derived,
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.origin.name())
    }
}

/// Why a figure was not read: shown in the warnings as `not shown: KEY: WHY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound(pub String);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NotFound {
    fn from(s: &str) -> Self {
        NotFound(s.into())
    }
}

impl From<String> for NotFound {
    fn from(s: String) -> Self {
        NotFound(s)
    }
}

impl NotFound {
    fn and(self, other: NotFound) -> NotFound {
        NotFound(format!("{}; {}", self.0, other.0))
    }
}

type Found = Result<(u64, Provenance), NotFound>;

/// Figures to try: (key, how).
type Tries<'a> = Vec<(&'static str, Box<dyn Fn() -> Found + 'a>)>;

/// One figure of `!vm`, in pages unless its key says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// The JSON key (CONTRACT.md `!vm`), e.g. `available_pages`.
    pub key: &'static str,
    /// The value (pages, or a count for `pool_allocation_failures`).
    pub value: u64,
    /// Where it was read.
    pub source: Provenance,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One process of the list (`_EPROCESS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// `UniqueProcessId`.
    pub pid: u64,
    /// `ImageFileName` (15 bytes, up to the first NUL; Latin-1).
    pub image_name: String,
    /// `CommitCharge` (pages).
    pub commit_pages: u64,
    /// `SharedCommitCharge` (pages), where the build has it (Windows 10 and later).
    pub shared_commit_pages: Option<u64>,
    /// The `_EPROCESS` address.
    pub eprocess: u64,
    /// `_EPROCESS.Session` (an `_MM_SESSION_SPACE*`), when the symbols have the field and it is
    /// non-null.
    pub session: Option<u64>,
}

/// One session of `!vm 4` (`_MM_SESSION_SPACE`, reached through the processes' `Session`
/// pointers, as Rekall reaches session pools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `SessionId`.
    pub session_id: u32,
    /// The `_MM_SESSION_SPACE` address.
    pub address: u64,
    /// `PagedPoolInfo.AllocatedPagedPool` (pages), when the symbols have both.
    pub paged_pool_pages: Option<u64>,
    /// `NonPagablePages`.
    pub nonpaged_pages: u64,
    /// `CommittedPages`.
    pub commit_pages: u64,
}

/// The sessions and where they were read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sessions {
    /// By `SessionId`.
    pub list: Vec<Session>,
    /// `_EPROCESS.Session of the process list (…)`.
    pub source: Option<Provenance>,
}

/// The process list and where it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processes {
    /// In WinDbg's order (largest commit first).
    pub list: Vec<Process>,
    /// `PsActiveProcessHead (…)`.
    pub source: Option<Provenance>,
}

/// Which of WinDbg's two `!vm` layouts the target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextLayout {
    /// Up to Windows 8.1: `*** Virtual Memory Usage ***`, six-space indent, 26-column labels.
    #[default]
    Classic,
    /// Windows 10 and 11: paging files first, labels left-aligned in 19 columns, numbers ending
    /// at column 33, `(%11d Kb)`.
    Win10,
}

/// What `!vm` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmReport {
    /// The paging files, when their source is known (empty list: none configured).
    pub page_files: Option<Vec<PageFile>>,
    /// Where the paging files were read.
    pub page_files_source: Option<Provenance>,
    /// The figures found.
    pub figures: Vec<Figure>,
    /// Per paged pool usage, when the descriptors are readable and count pages.
    pub paged_pools: Vec<PagedPool>,
    /// Where the per-pool lines were read.
    pub paged_pools_source: Option<Provenance>,
    /// The processes (empty with flag 1 or when the list has no source).
    pub processes: Processes,
    /// Whether the process list was asked for (flag 1 clear).
    pub list_processes: bool,
    /// The sessions (read with the process list).
    pub sessions: Sessions,
    /// Whether the session lines were asked for (flag 4).
    pub list_sessions: bool,
    /// Figures left out, each with why (`free_system_ptes: no known source ...`).
    pub missing: Vec<String>,
    /// Bytes per page (4096 on x86 and x64).
    pub page_size: u64,
    /// The layout of the text.
    pub layout: TextLayout,
}

/// The lines of the classic layout (XP … 8.1), in WinDbg's order: (label, key). `None` marks where
/// the page files, the per-pool lines and the failures line go.
const CLASSIC: &[(&str, &str)] = &[
    ("Physical Memory:", "physical_pages"),
    ("", "page_files"),
    ("Available Pages:", "available_pages"),
    ("ResAvail Pages:", "resident_available_pages"),
    ("Locked IO Pages:", "locked_io_pages"),
    ("Free System PTEs:", "free_system_ptes"),
    ("Modified Pages:", "modified_pages"),
    ("Modified PF Pages:", "modified_pf_pages"),
    ("NonPagedPool Usage:", "nonpaged_pool_pages"),
    ("NonPagedPoolNx Usage:", "nonpaged_pool_nx_pages"),
    ("NonPagedPool Max:", "nonpaged_pool_max_pages"),
    ("", "paged_pools"),
    ("PagedPool Usage:", "paged_pool_pages"),
    ("PagedPool Maximum:", "paged_pool_max_pages"),
    ("", "failures"),
    ("Session Commit:", "session_commit_pages"),
    ("Shared Commit:", "shared_commit_pages"),
    ("Special Pool:", "special_pool_pages"),
    ("Shared Process:", "shared_process_pages"),
    ("PagedPool Commit:", "paged_pool_commit_pages"),
    ("Driver Commit:", "driver_commit_pages"),
    ("Committed pages:", "committed_pages"),
    ("Commit limit:", "commit_limit"),
    ("Total Private:", "total_private_pages"),
];

/// The lines of the Windows 10/11 layout, in WinDbg's order (the samples of docs/COMMANDS.md).
const WIN10: &[(&str, &str)] = &[
    ("Physical Memory:", "physical_pages"),
    ("Available Pages:", "available_pages"),
    ("ResAvail Pages:", "resident_available_pages"),
    ("Locked IO Pages:", "locked_io_pages"),
    ("Free System PTEs:", "free_system_ptes"),
    ("Modified Pages:", "modified_pages"),
    ("Modified PF Pages:", "modified_pf_pages"),
    ("Modified No Write Pages:", "modified_no_write_pages"),
    ("NonPagedPool Usage:", "nonpaged_pool_pages"),
    ("NonPagedPoolNx Usage:", "nonpaged_pool_nx_pages"),
    ("NonPagedPool Max:", "nonpaged_pool_max_pages"),
    ("", "paged_pools"),
    ("PagedPool Usage:", "paged_pool_pages"),
    ("PagedPool Maximum:", "paged_pool_max_pages"),
    ("", "failures"),
    ("Processor Commit:", "processor_commit_pages"),
    ("Session Commit:", "session_commit_pages"),
    ("Shared Commit:", "shared_commit_pages"),
    ("Special Pool:", "special_pool_pages"),
    ("Kernel Stacks:", "kernel_stack_pages"),
    ("Pages For MDLs:", "mdl_pages"),
    ("ContigMem Pages:", "contiguous_pages"),
    ("Partition Pages:", "partition_pages"),
    ("Pages For AWE:", "awe_pages"),
    ("NonPagedPool Commit:", "nonpaged_pool_commit_pages"),
    ("PagedPool Commit:", "paged_pool_commit_pages"),
    ("Driver Commit:", "driver_commit_pages"),
    ("Boot Commit:", "boot_commit_pages"),
    ("PFN Array Commit:", "pfn_array_commit_pages"),
    (
        "SmallNonPagedPtesCommit:",
        "small_nonpaged_ptes_commit_pages",
    ),
    ("SlabAllocatorPages:", "slab_allocator_pages"),
    ("SkPagesInUnchargedSlabs:", "sk_pages_in_uncharged_slabs"),
    ("System PageTables:", "system_page_table_pages"),
    ("ProcessLockedFilePages:", "process_locked_file_pages"),
    ("Pagefile Hash Pages:", "pagefile_hash_pages"),
    ("Sum System Commit:", "sum_system_commit_pages"),
    ("Total Private:", "total_private_pages"),
    ("", "misc_transient"),
    ("Committed pages:", "committed_pages"),
    ("Commit limit:", "commit_limit"),
];

plugin_sdk::row! {
    /// `!vm`'s one row (docs/CONTRACT.md "Fields"): every figure found, in pages (a count for
    /// `pool_allocation_failures`), in WinDbg's line order (both layouts merged); a figure with
    /// no source is left out, never zero. The fields are the figures' keys (see
    /// docs/COMMANDS.md `!vm` for each line's label and source): [`VmReport::vm_row`] fills them
    /// from the figures and refuses a figure that has no field here.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct VmRow {
        /// WinDbg's `Physical Memory:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub physical_pages: Option<u64>,
        /// The paging files (an empty list: none configured).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub page_files: Option<Vec<PageFile>>,
        /// WinDbg's `Available Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub available_pages: Option<u64>,
        /// WinDbg's `ResAvail Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub resident_available_pages: Option<u64>,
        /// WinDbg's `Locked IO Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub locked_io_pages: Option<u64>,
        /// WinDbg's `Free System PTEs:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub free_system_ptes: Option<u64>,
        /// WinDbg's `Modified Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub modified_pages: Option<u64>,
        /// WinDbg's `Modified PF Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub modified_pf_pages: Option<u64>,
        /// WinDbg's `Modified No Write Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub modified_no_write_pages: Option<u64>,
        /// WinDbg's `NonPagedPool Usage:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub nonpaged_pool_pages: Option<u64>,
        /// WinDbg's `NonPagedPoolNx Usage:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub nonpaged_pool_nx_pages: Option<u64>,
        /// WinDbg's `NonPagedPool Max:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub nonpaged_pool_max_pages: Option<u64>,
        /// Per paged pool: its pages in use (`PagedPool N Usage`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub paged_pools_pages: Option<Vec<u64>>,
        /// WinDbg's `PagedPool Usage:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub paged_pool_pages: Option<u64>,
        /// WinDbg's `PagedPool Maximum:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub paged_pool_max_pages: Option<u64>,
        /// See docs/COMMANDS.md `!vm`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pool_allocation_failures: Option<u64>,
        /// WinDbg's `Processor Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub processor_commit_pages: Option<u64>,
        /// WinDbg's `Session Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub session_commit_pages: Option<u64>,
        /// WinDbg's `Shared Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shared_commit_pages: Option<u64>,
        /// WinDbg's `Special Pool:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub special_pool_pages: Option<u64>,
        /// WinDbg's `Shared Process:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shared_process_pages: Option<u64>,
        /// WinDbg's `Kernel Stacks:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kernel_stack_pages: Option<u64>,
        /// WinDbg's `Pages For MDLs:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mdl_pages: Option<u64>,
        /// WinDbg's `ContigMem Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub contiguous_pages: Option<u64>,
        /// WinDbg's `Partition Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub partition_pages: Option<u64>,
        /// WinDbg's `Pages For AWE:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub awe_pages: Option<u64>,
        /// WinDbg's `NonPagedPool Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub nonpaged_pool_commit_pages: Option<u64>,
        /// WinDbg's `PagedPool Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub paged_pool_commit_pages: Option<u64>,
        /// WinDbg's `Driver Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver_commit_pages: Option<u64>,
        /// WinDbg's `Boot Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub boot_commit_pages: Option<u64>,
        /// WinDbg's `PFN Array Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pfn_array_commit_pages: Option<u64>,
        /// WinDbg's `SmallNonPagedPtesCommit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub small_nonpaged_ptes_commit_pages: Option<u64>,
        /// WinDbg's `SlabAllocatorPages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub slab_allocator_pages: Option<u64>,
        /// WinDbg's `SkPagesInUnchargedSlabs:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sk_pages_in_uncharged_slabs: Option<u64>,
        /// WinDbg's `System PageTables:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub system_page_table_pages: Option<u64>,
        /// WinDbg's `ProcessLockedFilePages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub process_locked_file_pages: Option<u64>,
        /// WinDbg's `Pagefile Hash Pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pagefile_hash_pages: Option<u64>,
        /// WinDbg's `Sum System Commit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sum_system_commit_pages: Option<u64>,
        /// WinDbg's `Total Private:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub total_private_pages: Option<u64>,
        /// WinDbg's `Committed pages:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub committed_pages: Option<u64>,
        /// WinDbg's `Commit limit:` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub commit_limit: Option<u64>,
    }
}

/// A [`VmRow`] as the text reads it: its figures by key.
struct RowView<'a> {
    row: &'a VmRow,
    figures: Map<String, Value>,
}

impl<'a> RowView<'a> {
    fn new(row: &'a VmRow) -> Self {
        let figures = match serde_json::to_value(row) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        RowView { row, figures }
    }

    /// The figure under `key` (a column of the row), when present.
    fn value(&self, key: &str) -> Option<u64> {
        self.figures.get(key).and_then(Value::as_u64)
    }

    /// The row's per-pool pages with each pool's descriptor index (which only the report keeps).
    fn paged_pools<'r>(&'r self, rep: &'r VmReport) -> impl Iterator<Item = (u32, u64)> + 'r {
        rep.paged_pools
            .iter()
            .zip(self.row.paged_pools_pages.iter().flatten())
            .map(|(p, pages)| (p.index, *pages))
    }
}

/// The columns of `!vm`'s row ([`VmRow`]): the plugin declares them (`Command::columns`), so the
/// host's CSV keeps WinDbg's line order.
pub fn columns() -> &'static [&'static str] {
    plugin_sdk::columns_of::<VmRow>()
}

/// The Windows 10/11 lines WinDbg sums into `Sum System Commit`: those of [`WIN10`] from
/// `Processor Commit` to `Pagefile Hash Pages` (checked against the sample of docs/COMMANDS.md:
/// their sum is the printed total).
fn system_commit_keys() -> impl Iterator<Item = &'static str> {
    WIN10
        .iter()
        .map(|(_, k)| *k)
        .skip_while(|k| *k != "processor_commit_pages")
        .take_while(|k| *k != "sum_system_commit_pages")
        .filter(|k| *k != "paged_pools" && *k != "failures")
}

impl VmReport {
    /// The value of a figure by JSON key.
    pub fn value(&self, key: &str) -> Option<u64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.value)
    }

    fn kb(&self, pages: u64) -> u64 {
        pages.wrapping_mul(self.page_size / 1024)
    }

    /// The text without `-v` (issue #21): first, once and short, what changes the meaning of the
    /// answer ([`VmReport::notes`]: lines left out, figures derived, inferred or guessed, offsets
    /// assumed), then WinDbg's layout. The detail is in [`VmReport::text_verbose`], the warnings
    /// and the JSON.
    pub fn text(&self) -> Vec<String> {
        self.text_with(false)
    }

    /// The text with `-v`: the notes, every figure's source (`sources: …`), then WinDbg's layout
    /// (the warnings follow, printed by the host).
    pub fn text_verbose(&self) -> Vec<String> {
        self.text_with(true)
    }

    fn text_with(&self, verbose: bool) -> Vec<String> {
        let mut out: Vec<String> = self
            .notes()
            .into_iter()
            .map(|n| format!("note: {n}"))
            .collect();
        if verbose {
            out.push(format!("sources: {}", self.sources_line()));
        }
        if !out.is_empty() {
            out.push(String::new());
        }
        self.layout_text(&mut out);
        out
    }

    /// What changes the meaning of the figures, one short sentence each: the lines WinDbg would
    /// print that are left out (by WinDbg label: no source on the build, or unreadable in this
    /// dump), figures computed rather than read (derived), chosen by field name (inferred) or
    /// located by a guess or found without symbols, and `_EPROCESS` offsets assumed without symbols.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let (mut absent, mut unreadable) = (Vec::new(), Vec::new());
        // In WinDbg's line order ([`columns`]); the process list and the sessions last.
        // Only lines the target's WinDbg prints: not those of the other layout (`Shared Process`
        // on Windows 10), nor those whose field the build's types do not have.
        let table = match self.layout {
            TextLayout::Classic => CLASSIC,
            TextLayout::Win10 => WIN10,
        };
        let printed = |key: &str| {
            let both = [
                "page_files",
                "paged_pools_pages",
                "pool_allocation_failures",
                "processes",
                "sessions",
            ];
            (both.contains(&key) || table.iter().any(|(_, k)| *k == key))
                && !layout_lacks(self, key)
        };
        let mut missing: Vec<(&str, &str)> = self
            .shown_missing()
            .map(|m| m.split_once(": ").unwrap_or((m.as_str(), "")))
            .filter(|(k, _)| printed(k) || *k == "sum_system_commit_pages")
            // The segment heap has no paged pool descriptors, and WinDbg prints no per-pool
            // lines there either (docs/COMMANDS.md `!vm`).
            .filter(|(k, why)| !(*k == "paged_pools_pages" && why.contains("(segment heap)")))
            .collect();
        let cols = columns();
        missing.sort_by_key(|(k, _)| cols.iter().position(|c| c == k).unwrap_or(cols.len()));
        for (key, why) in missing {
            let label = self.label(key);
            if lacks_source(why) {
                absent.push(label);
            } else {
                unreadable.push(label);
            }
        }
        if !absent.is_empty() {
            notes.push(format!(
                "not shown, no known source on this build: {} (-v: why)",
                absent.join(", ")
            ));
        }
        if !unreadable.is_empty() {
            notes.push(format!(
                "not shown, unreadable in this dump: {} (-v: where)",
                unreadable.join(", ")
            ));
        }
        let by = |pick: &dyn Fn(&Provenance) -> bool| -> Vec<String> {
            self.figures
                .iter()
                .filter(|f| pick(&f.source))
                .map(|f| self.label(f.key))
                .collect()
        };
        let derived = by(&|p| p.origin == Origin::Derived);
        let inferred = by(&|p| p.origin == Origin::Inferred);
        let guessed = by(&|p| p.origin == Origin::Located(Source::Guessed));
        let mut computed = Vec::new();
        if !derived.is_empty() {
            computed.push(format!("derived: {}", derived.join(", ")));
        }
        if !inferred.is_empty() {
            computed.push(format!(
                "inferred from field names, unchecked: {}",
                inferred.join(", ")
            ));
        }
        if !computed.is_empty() {
            notes.push(computed.join("; "));
        }
        if !guessed.is_empty() {
            notes.push(format!(
                "located by a guess (no symbol names them): {}",
                guessed.join(", ")
            ));
        }
        let found = by(&|p| p.origin == Origin::Located(Source::Found));
        if !found.is_empty() {
            notes.push(format!(
                "found without symbols (validated searches of the kernel's data): {}",
                found.join(", ")
            ));
        }
        if self.list_processes
            && let Some(p) = &self.processes.source
            && let Some(what) = p
                .path
                .split_once("[_EPROCESS offsets assumed: ")
                .map(|(_, w)| w.trim_end_matches(']'))
        {
            notes.push(format!(
                "process list read with assumed _EPROCESS offsets ({what}; no symbols give them)"
            ));
        }
        notes
    }

    /// The figures left out that the warnings name (the process list's only when it was asked
    /// for).
    pub fn shown_missing(&self) -> impl Iterator<Item = &String> {
        self.missing
            .iter()
            .filter(|m| self.list_processes || !m.starts_with("processes:"))
    }

    /// WinDbg's label of a figure (without the colon), for the notes.
    fn label(&self, key: &str) -> String {
        let table = match self.layout {
            TextLayout::Classic => CLASSIC,
            TextLayout::Win10 => WIN10,
        };
        let special = match key {
            "page_files" => Some("Page File"),
            "paged_pools_pages" => Some("PagedPool N lines"),
            "pool_allocation_failures" => Some("pool allocation failures"),
            "processes" => Some("process list"),
            "sessions" => Some("sessions"),
            "sum_system_commit_pages" => Some("Sum System Commit, Misc/Transient Commit"),
            _ => None,
        };
        special
            .or_else(|| {
                table
                    .iter()
                    .chain(CLASSIC)
                    .chain(WIN10)
                    .find(|(l, k)| *k == key && !l.is_empty())
                    .map(|(l, _)| l.trim_end_matches(':'))
            })
            .unwrap_or(key)
            .to_string()
    }

    /// The WinDbg-layout lines (no trailing newline on each).
    ///
    /// The figures' lines are laid out from the row the JSON carries ([`VmReport::vm_row`]: its
    /// figures, paging files and paged pools), with the labels of WinDbg's layouts, so the text
    /// and the row cannot disagree.
    fn layout_text(&self, out: &mut Vec<String>) {
        // A figure with no field fails `vm_row` (and `run` before any text); the tests fill every
        // field, so the default is never the one printed.
        let row = self.vm_row().unwrap_or_default();
        let view = RowView::new(&row);
        match self.layout {
            TextLayout::Classic => self.classic_text(&view, out),
            TextLayout::Win10 => self.win10_text(&view, out),
        }
        self.process_text(out);
        self.session_text(out);
    }

    /// `!vm 4`: the published samples' block (Windows Internals 7th ed. part 1, "Viewing session
    /// space utilization"): per session `Session ID N @ ADDRESS:` and three `LABEL%Nd Kb` lines
    /// ending at column 26, then `Session Summary` with the sums.
    fn session_text(&self, out: &mut Vec<String>) {
        if !self.list_sessions || self.sessions.source.is_none() {
            return;
        }
        let line = |label: &str, kb: u64| {
            let num = kb.to_string();
            let width = 26usize.saturating_sub(label.len()).max(num.len() + 1);
            format!("{label}{num:>width$} Kb")
        };
        out.push(String::new());
        out.push("Terminal Server Memory Usage By Session:".into());
        let (mut paged, mut nonpaged, mut commit) = (0u64, 0u64, 0u64);
        for s in &self.sessions.list {
            out.push(String::new());
            out.push(format!("Session ID {} @ {:x}:", s.session_id, s.address));
            if let Some(p) = s.paged_pool_pages {
                out.push(line("Paged Pool Usage:", self.kb(p)));
                paged = paged.wrapping_add(p);
            }
            out.push(line("NonPaged Usage:", self.kb(s.nonpaged_pages)));
            out.push(line("Commit Usage:", self.kb(s.commit_pages)));
            nonpaged = nonpaged.wrapping_add(s.nonpaged_pages);
            commit = commit.wrapping_add(s.commit_pages);
        }
        out.push(String::new());
        out.push("Session Summary".into());
        if self
            .sessions
            .list
            .iter()
            .all(|s| s.paged_pool_pages.is_some())
        {
            out.push(line("Paged Pool Usage:", self.kb(paged)));
        }
        out.push(line("NonPaged Usage:", self.kb(nonpaged)));
        out.push(line("Commit Usage:", self.kb(commit)));
    }

    fn failures_line(row: &RowView<'_>, out: &mut Vec<String>) {
        if let Some(n) = row.value("pool_allocation_failures").filter(|n| *n != 0) {
            out.push(format!(
                "********** {n} pool allocations have failed **********"
            ));
        }
    }

    /// Per paging file: `Page File: NAME` (or `No Name for Paging File`), then `Current` / `Free
    /// Space` and `Minimum` / `Maximum` in Kb; `indent` before the name, `sub` before the sizes.
    fn page_file_lines(&self, row: &RowView<'_>, indent: &str, sub: &str, out: &mut Vec<String>) {
        for pf in row.row.page_files.iter().flatten() {
            match &pf.name {
                Some(n) => out.push(format!("{indent}Page File: {n}")),
                None => out.push(format!("{indent}No Name for Paging File")),
            }
            out.push(format!(
                "{sub}Current: {:>9} Kb  Free Space: {:>9} Kb",
                self.kb(pf.current_pages),
                self.kb(pf.free_pages)
            ));
            out.push(format!(
                "{sub}Minimum: {:>9} Kb  Maximum:    {:>9} Kb",
                self.kb(pf.minimum_pages),
                self.kb(pf.maximum_pages)
            ));
        }
    }

    fn classic_text(&self, row: &RowView<'_>, out: &mut Vec<String>) {
        out.push("*** Virtual Memory Usage ***".into());
        for (label, key) in CLASSIC {
            match *key {
                "page_files" => self.page_file_lines(row, "      ", "        ", out),
                "paged_pools" => {
                    for (index, pages) in row.paged_pools(self) {
                        out.push(page_line(
                            &format!("PagedPool {index} Usage:"),
                            pages,
                            self.page_size,
                        ));
                    }
                }
                "failures" => Self::failures_line(row, out),
                k => {
                    if let Some(v) = row.value(k) {
                        out.push(page_line(label, v, self.page_size));
                    }
                }
            }
        }
    }

    fn win10_text(&self, row: &RowView<'_>, out: &mut Vec<String>) {
        if row.row.page_files.as_ref().is_some_and(|p| !p.is_empty()) {
            self.page_file_lines(row, "", "  ", out);
            out.push(String::new());
        }
        for (label, key) in WIN10 {
            match *key {
                "paged_pools" => {
                    for (index, pages) in row.paged_pools(self) {
                        out.push(win10_line(
                            &format!("PagedPool {index:>2}:"),
                            pages,
                            self.page_size,
                        ));
                    }
                }
                "failures" => Self::failures_line(row, out),
                "misc_transient" => {
                    if let (Some(sum), Some(private), Some(committed)) = (
                        row.value("sum_system_commit_pages"),
                        row.value("total_private_pages"),
                        row.value("committed_pages"),
                    ) {
                        let used = sum.wrapping_add(private);
                        if used > committed {
                            out.push(String::new());
                            out.push(format!(
                                "********** Sum of individual system commit + Process commit \
                                 exceeds overall commit by {} Kb ? ********",
                                self.kb(used - committed)
                            ));
                        } else {
                            out.push(win10_line(
                                "Misc/Transient Commit:",
                                committed - used,
                                self.page_size,
                            ));
                        }
                    }
                }
                k => {
                    if let Some(v) = row.value(k) {
                        out.push(win10_line(label, v, self.page_size));
                    }
                }
            }
        }
    }

    fn process_text(&self, out: &mut Vec<String>) {
        if !self.list_processes || self.processes.source.is_none() {
            return;
        }
        match self.layout {
            TextLayout::Win10 => {
                out.push(String::new());
                out.push(format!(
                    "{:>5} {:<16}{:>23}{:>15}",
                    "Pid", "ImageName", "Commit", "SharedCommit"
                ));
                out.push(String::new());
                for p in &self.processes.list {
                    out.push(format!(
                        "{:>5x} {:<16}{:>20} Kb{:>12} Kb",
                        p.pid,
                        p.image_name,
                        self.kb(p.commit_pages),
                        self.kb(p.shared_commit_pages.unwrap_or(0))
                    ));
                }
            }
            TextLayout::Classic => {
                for p in &self.processes.list {
                    out.push(format!(
                        "         {:04x} {:<16} {:>8} ({:>8} Kb)",
                        p.pid,
                        p.image_name,
                        p.commit_pages,
                        self.kb(p.commit_pages)
                    ));
                }
            }
        }
    }

    fn provenances(&self) -> impl Iterator<Item = &Provenance> {
        self.figures
            .iter()
            .map(|f| &f.source)
            .chain(self.page_files_source.iter())
            .chain(self.paged_pools_source.iter())
            .chain(self.processes.source.iter())
    }

    /// `origin: name name …; origin: …`, the figures' sources grouped by who answered.
    fn sources_line(&self) -> String {
        let mut groups: Vec<(&'static str, Vec<&str>)> = Vec::new();
        for p in self.provenances() {
            let origin = p.origin.name();
            match groups.iter_mut().find(|(o, _)| *o == origin) {
                Some((_, names)) => {
                    if !names.contains(&p.path.as_str()) {
                        names.push(&p.path)
                    }
                }
                None => groups.push((origin, vec![&p.path])),
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

    /// The CONTRACT.md row ([`VmRow`]): every figure found, in pages (absent figures are not in
    /// it). `Err` names a figure whose key is not a field of [`VmRow`] (a bug, caught by the
    /// tests: no figure is dropped silently).
    pub fn vm_row(&self) -> Result<VmRow, CommandError> {
        let mut m = Map::new();
        for f in &self.figures {
            m.insert(f.key.into(), json!(f.value));
        }
        if let Some(pfs) = &self.page_files {
            m.insert("page_files".into(), serde_json::to_value(pfs)?);
        }
        if !self.paged_pools.is_empty() {
            m.insert(
                "paged_pools_pages".into(),
                json!(self.paged_pools.iter().map(|p| p.pages).collect::<Vec<_>>()),
            );
        }
        serde_json::from_value(Value::Object(m))
            .map_err(|e| CommandError::msg(format!("!vm row: {e}")))
    }

    /// [`VmReport::vm_row`] as JSON (an empty object if it failed).
    pub fn row(&self) -> Value {
        self.vm_row()
            .ok()
            .and_then(|r| serde_json::to_value(r).ok())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// The summary: `sources` (key → source), `processes` (without flag 1), `text` and
    /// `text_verbose` (the host keeps both out of the machine formats).
    pub fn summary(&self) -> Value {
        let mut sources = Map::new();
        for f in &self.figures {
            sources.insert(f.key.into(), json!(f.source.to_string()));
        }
        if let Some(s) = &self.paged_pools_source {
            sources.insert("paged_pools_pages".into(), json!(s.to_string()));
        }
        if let Some(s) = &self.page_files_source {
            sources.insert("page_files".into(), json!(s.to_string()));
        }
        let mut m = Map::new();
        if self.list_processes
            && let Some(s) = &self.processes.source
        {
            sources.insert("processes".into(), json!(s.to_string()));
            let list: Vec<Value> = self
                .processes
                .list
                .iter()
                .map(|p| {
                    let mut o = Map::new();
                    o.insert("pid".into(), json!(p.pid));
                    o.insert("image_name".into(), json!(p.image_name));
                    o.insert("commit_pages".into(), json!(p.commit_pages));
                    if let Some(s) = p.shared_commit_pages {
                        o.insert("shared_commit_pages".into(), json!(s));
                    }
                    o.insert("eprocess".into(), json!(format!("{:#x}", p.eprocess)));
                    Value::Object(o)
                })
                .collect();
            m.insert("processes".into(), Value::Array(list));
        }
        if self.list_sessions
            && let Some(s) = &self.sessions.source
        {
            sources.insert("sessions".into(), json!(s.to_string()));
            let list: Vec<Value> = self
                .sessions
                .list
                .iter()
                .map(|s| {
                    let mut o = Map::new();
                    o.insert("session_id".into(), json!(s.session_id));
                    o.insert("address".into(), json!(format!("{:#x}", s.address)));
                    if let Some(p) = s.paged_pool_pages {
                        o.insert("paged_pool_pages".into(), json!(p));
                    }
                    o.insert("nonpaged_pages".into(), json!(s.nonpaged_pages));
                    o.insert("commit_pages".into(), json!(s.commit_pages));
                    Value::Object(o)
                })
                .collect();
            m.insert("sessions".into(), Value::Array(list));
        }
        m.insert("sources".into(), Value::Object(sources));
        m.insert("text".into(), json!(self.text()));
        m.insert(plugin_sdk::VERBOSE_TEXT.into(), json!(self.text_verbose()));
        Value::Object(m)
    }
}

/// One classic WinDbg `!vm` line: the label and the page count fill 26 columns (the number
/// right-aligned, at least one space after the label), then `   (%8d Kb)`. Indented by six spaces
/// as in the seed's sample.
pub fn page_line(label: &str, pages: u64, page_size: u64) -> String {
    let num = pages.to_string();
    let width = 26usize.saturating_sub(label.len()).max(num.len() + 1);
    let kb = pages.wrapping_mul(page_size / 1024);
    format!("      {label}{num:>width$}   ({kb:>8} Kb)")
}

/// One Windows 10/11 `!vm` line: the label left-aligned in 19 columns, the number ending at
/// column 33 (a longer label or number pushes it right, one space at least), then `(%11d Kb)`.
/// Measured on the published samples (docs/COMMANDS.md), wrapped 20-digit values included.
pub fn win10_line(label: &str, pages: u64, page_size: u64) -> String {
    let num = pages.to_string();
    let pad = label.len().max(19);
    let width = (33 - pad.min(32)).max(num.len() + usize::from(label.len() >= 19));
    let kb = pages.wrapping_mul(page_size / 1024);
    format!("{label:<19}{num:>width$} ({kb:>11} Kb)")
}

/// Reads the figures through symbols; a figure that cannot be read is named in `missing`.
struct Reader<'a> {
    t: &'a dyn Target,
    ptr: u32,
}

impl Reader<'_> {
    /// The value of a global (`width` bytes, little-endian; 0 = pointer-sized), or why not.
    fn global(&self, name: &str, width: u32) -> Found {
        let s = self.symbol(name)?;
        let v = self
            .read(s.value, width)
            .map_err(|e| NotFound(format!("{name}: {e}")))?;
        Ok((v, Provenance::new(name, s.source)))
    }

    fn symbol(&self, name: &str) -> Result<plugin_sdk::Sourced<u64>, NotFound> {
        let Some(s) = self.t.symbol_address(name) else {
            return Err(NotFound(format!("no symbol {name}")));
        };
        if s.value == 0 {
            return Err(NotFound(format!(
                "{name} is a null pointer ({})",
                s.source.name()
            )));
        }
        Ok(s)
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

    fn need(&self, ty: &str, field: &str) -> Result<u64, NotFound> {
        self.offset(ty, field)
            .ok_or_else(|| NotFound(format!("no offset of {ty}.{field}")))
    }

    /// `MiSystemPartition.Vp.<field>` (+ `extra`), `width` bytes.
    fn partition(&self, field: &str, extra: u64, width: u32) -> Found {
        let part = self.symbol("MiSystemPartition")?;
        let vp = self.need("_MI_PARTITION", "Vp")?;
        let f = self.need("_MI_VISIBLE_PARTITION", field)?;
        let va = part
            .value
            .wrapping_add(vp)
            .wrapping_add(f)
            .wrapping_add(extra);
        // A `_MMPFNLIST` is read at its `Total`.
        let path = if field.ends_with("ListHead") {
            format!("MiSystemPartition.Vp.{field}.Total")
        } else {
            format!("MiSystemPartition.Vp.{field}")
        };
        let v = self
            .read(va, width)
            .map_err(|e| NotFound(format!("{path}: {e}")))?;
        Ok((v, Provenance::new(path, part.source)))
    }

    /// `MiState.<member>.<field>` (`member` a field of `_MI_SYSTEM_INFORMATION` of type `ty`).
    fn mi_state(&self, member: &str, ty: &str, field: &str, extra: u64, width: u32) -> Found {
        let st = self.symbol("MiState")?;
        let m = self.need("_MI_SYSTEM_INFORMATION", member)?;
        let f = self.need(ty, field)?;
        let va = st.value.wrapping_add(m).wrapping_add(f).wrapping_add(extra);
        let path = format!("MiState.{member}.{field}");
        let v = self
            .read(va, width)
            .map_err(|e| NotFound(format!("{path}: {e}")))?;
        Ok((v, Provenance::new(path, st.source)))
    }

    fn vs(&self, field: &str, width: u32) -> Found {
        self.mi_state("Vs", "_MI_VISIBLE_STATE", field, 0, width)
    }

    fn pools(&self, field: &str) -> Found {
        self.mi_state("Pools", "_MI_POOL_STATE", field, 0, 0)
    }
}

/// Tries `first`, then (on Windows 10 and later only) `then`.
fn or_win10(win10: bool, first: Found, then: impl FnOnce() -> Found) -> Found {
    if win10 { or_else(first, then) } else { first }
}

/// Tries `first`, then `then`; the reasons of both when neither answers.
fn or_else(first: Found, then: impl FnOnce() -> Found) -> Found {
    match first {
        Ok(v) => Ok(v),
        Err(e) => then().map_err(|e2| e.and(e2)),
    }
}

/// Is a figure's reason for being left out that the target has no known source for it (no symbol,
/// no offset, no established source), rather than something this dump does not let be read: a read
/// that failed (`cannot read …`, [`plugin_sdk::ReadError`]), a list that loops or holds more than
/// its bound, a count or link other than expected, offsets that do not fit?
fn lacks_source(why: &str) -> bool {
    const UNREADABLE: &[&str] = &[
        "cannot read ",
        "loops",
        "more than",
        "expected",
        "do not fit",
    ];
    !UNREADABLE.iter().any(|m| why.contains(m))
}

/// A figure WinDbg prints on Windows 10/11 for which no public symbol is known to hold the value;
/// docs/COMMANDS.md lists the fields tried and why each was rejected.
fn no_source(build: u32) -> Found {
    Err(NotFound(format!(
        "no source established for build {build} (no public PDB field or global is known to hold \
         it; docs/COMMANDS.md `!vm`)"
    )))
}

/// `!vm` over a target: reads every figure it has a source for. `flags` bit 0 omits the process
/// list (WinDbg's meaning); the other bits are accepted and change nothing.
///
/// Fails only when the target's pointer size is unknown or no figure at all could be read (a
/// triage dump, say); the error then lists why for each figure.
pub fn vm(target: &dyn Target, flags: u64) -> Result<VmReport, CommandError> {
    let info = target.info();
    if info.arch == plugin_sdk::Arch::Arm64 {
        // Refused as a whole: ARM64's globals and page tables are not modelled, so any figure
        // would be unchecked.
        return Err(CommandError::msg(crate::common::ARM64_NOT_COVERED));
    }
    let ptr = match info.pointer_size {
        4 | 8 => info.pointer_size,
        other => {
            return Err(CommandError::msg(format!(
                "!vm: the target's pointer size is unknown ({other})"
            )));
        }
    };
    let r = Reader { t: target, ptr };
    let win10 = info.build >= 10240;
    let mut rep = VmReport {
        page_size: 4096,
        layout: if win10 {
            TextLayout::Win10
        } else {
            TextLayout::Classic
        },
        list_processes: flags & 1 == 0,
        list_sessions: flags & 4 != 0,
        ..VmReport::default()
    };
    let page = rep.page_size;
    let total = target
        .field_offset("_MMPFNLIST", "Total")
        .map(|f| f.offset)
        .unwrap_or(0);
    let old_list = |name: &str| -> Found {
        let s = r.symbol(name)?;
        let v = r
            .read(s.value.wrapping_add(total), 0)
            .map_err(|e| NotFound(format!("{name}.Total: {e}")))?;
        Ok((v, Provenance::new(format!("{name}.Total"), s.source)))
    };
    let bytes_to_pages = |name: &str| -> Found {
        let (v, p) = r.global(name, 0)?;
        Ok((
            v / page,
            Provenance {
                path: format!("{}/{page}", p.path),
                origin: p.origin,
            },
        ))
    };
    let b = info.build;
    // The old global, else `MiSystemPartition.Vp.<field>`.
    let rf = &r;
    let global_or_vp = move |key: &'static str, global: &'static str, field: &'static str| {
        let f: Box<dyn Fn() -> Found + '_> =
            Box::new(move || or_else(rf.global(global, 0), || rf.partition(field, 0, 0)));
        (key, f)
    };
    // (key, how) in the order the figures are tried; the text orders them by layout.
    let table: Tries<'_> = vec![
        global_or_vp(
            "physical_pages",
            "MmNumberOfPhysicalPages",
            "NumberOfPhysicalPages",
        ),
        global_or_vp("available_pages", "MmAvailablePages", "AvailablePages"),
        global_or_vp(
            "resident_available_pages",
            "MmResidentAvailablePages",
            "ResidentAvailablePages",
        ),
        (
            "modified_pages",
            Box::new(|| {
                or_else(old_list("MmModifiedPageListHead"), || {
                    r.partition("ModifiedPageListHead", total, 0)
                })
            }),
        ),
        (
            "nonpaged_pool_pages",
            Box::new(|| {
                or_else(r.global("MmAllocatedNonPagedPool", 0), || {
                    r.pools("AllocatedNonPagedPool")
                })
            }),
        ),
        (
            "nonpaged_pool_max_pages",
            Box::new(|| {
                or_win10(
                    win10,
                    bytes_to_pages("MmMaximumNonPagedPoolInBytes"),
                    || r.vs("MaximumNonPagedPoolInPages", 0),
                )
            }),
        ),
        (
            "paged_pool_pages",
            Box::new(|| {
                or_win10(win10, paged_pool_allocated(&r, target), || {
                    r.symbol("MiState")?;
                    r.mi_state(
                        "Vs",
                        "_MI_VISIBLE_STATE",
                        "PagedPoolInfo",
                        r.need("_MM_PAGED_POOL_INFO", "AllocatedPagedPool")?,
                        0,
                    )
                    .map(|(v, p)| {
                        (
                            v,
                            Provenance {
                                path: format!("{}.AllocatedPagedPool", p.path),
                                ..p
                            },
                        )
                    })
                })
            }),
        ),
        (
            "paged_pool_max_pages",
            Box::new(|| {
                or_win10(win10, bytes_to_pages("MmSizeOfPagedPoolInBytes"), || {
                    r.vs("SizeOfPagedPoolInPages", 0)
                })
            }),
        ),
        (
            "pool_allocation_failures",
            Box::new(|| r.global("ExPoolFailures", 4)),
        ),
        (
            "shared_commit_pages",
            Box::new(|| {
                or_else(r.global("MmSharedCommit", 0), || {
                    or_win10(win10, r.partition("SharedCommit", 0, 0), || {
                        r.vs("SharedCommit", 0)
                    })
                })
            }),
        ),
        (
            "shared_process_pages",
            Box::new(|| r.global("MmProcessCommit", 0)),
        ),
        (
            "paged_pool_commit_pages",
            Box::new(|| {
                if win10 {
                    or_else(r.global("MmPagedPoolCommit", 0), || no_source(b))
                } else {
                    r.global("MmPagedPoolCommit", 0)
                }
            }),
        ),
        (
            "driver_commit_pages",
            Box::new(|| {
                // `_MI_VISIBLE_STATE.DriverCommit` is a `long` in every Windows 10/11 PDB.
                or_win10(win10, r.global("MmDriverCommit", 0), || {
                    r.vs("DriverCommit", 4)
                })
            }),
        ),
        global_or_vp(
            "committed_pages",
            "MmTotalCommittedPages",
            "TotalCommittedPages",
        ),
        global_or_vp("commit_limit", "MmTotalCommitLimit", "TotalCommitLimit"),
    ];
    let others: Tries<'_> = vec![
        ("locked_io_pages", Box::new(|| locked_io_pages(&r, target))),
        (
            "free_system_ptes",
            Box::new(|| free_system_ptes(&r, target)),
        ),
        ("special_pool_pages", Box::new(|| special_pool_pages(&r))),
    ];
    let run = |key: &'static str, f: &dyn Fn() -> Found, rep: &mut VmReport| match f() {
        Ok((value, source)) => rep.figures.push(Figure { key, value, source }),
        Err(why) => rep.missing.push(format!("{key}: {why}")),
    };
    for (key, f) in &table {
        run(key, f.as_ref(), &mut rep);
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
    for (key, f) in &others {
        run(key, f.as_ref(), &mut rep);
    }
    // Lines only some versions print: tried only where the version's WinDbg prints them.
    let newer: Tries<'_> = if win10 {
        vec![
            (
                "modified_pf_pages",
                Box::new(|| r.partition("TotalPagesForPagingFile", 0, 0)),
            ),
            (
                "modified_no_write_pages",
                Box::new(|| r.partition("ModifiedNoWritePageListHead", total, 0)),
            ),
            (
                "nonpaged_pool_nx_pages",
                Box::new(|| or_else(segment_heap_committed(&r, 1), || no_source(b))),
            ),
            ("processor_commit_pages", Box::new(|| no_source(b))),
            ("kernel_stack_pages", Box::new(|| no_source(b))),
            ("mdl_pages", Box::new(|| r.vs("MdlPagesAllocated", 0))),
            (
                "contiguous_pages",
                Box::new(|| r.vs("ContiguousPagesAllocated", 0)),
            ),
            ("partition_pages", Box::new(|| no_source(b))),
            ("awe_pages", Box::new(|| no_source(b))),
            (
                "nonpaged_pool_commit_pages",
                Box::new(|| r.vs("NonPagedPoolCommit", 0)),
            ),
            ("boot_commit_pages", Box::new(|| r.vs("BootCommit", 0))),
            (
                "pfn_array_commit_pages",
                Box::new(|| r.vs("PfnDatabaseCommit", 0)),
            ),
            (
                "small_nonpaged_ptes_commit_pages",
                Box::new(|| r.vs("SmallNonPagedPtesCommit", 0)),
            ),
            (
                "slab_allocator_pages",
                Box::new(|| r.partition("SlabAllocatorPages", 0, 0)),
            ),
            ("sk_pages_in_uncharged_slabs", Box::new(|| no_source(b))),
            (
                "system_page_table_pages",
                Box::new(|| r.vs("SystemPageTableCommit", 0)),
            ),
            (
                "process_locked_file_pages",
                Box::new(|| r.partition("ProcessLockedFilePages", 0, 0)),
            ),
            (
                "pagefile_hash_pages",
                Box::new(|| r.vs("PagefileHashPages", 0)),
            ),
        ]
    } else if b >= 7600 {
        // Windows 7 / 8.1: `Modified PF Pages` (Windows Internals 6th ed. sample); the global is in
        // the public PDBs of both.
        let mut v: Tries<'_> = vec![(
            "modified_pf_pages",
            Box::new(|| r.global("MmTotalPagesForPagingFile", 0)),
        )];
        if b >= 9200 {
            // WinDbg prints `NonPagedPoolNx Usage` from Windows 8 on; the 9600 PDB has no global
            // or field known to hold it (docs/COMMANDS.md `!vm`, (2)).
            v.push(("nonpaged_pool_nx_pages", Box::new(move || no_source(b))));
        }
        v
    } else {
        Vec::new()
    };
    for (key, f) in &newer {
        run(key, f.as_ref(), &mut rep);
    }
    if rep.figures.is_empty() {
        // The first line says what matters; one line per figure follows (the host prints them
        // with -v; JSON keeps the whole message).
        let why = if info.dump_type.contains("triage") {
            "a triage dump holds none of the memory manager's pages (its header, a KDBG copy and \
             a few data blocks only)"
                .to_string()
        } else if rep
            .missing
            .iter()
            .all(|m| lacks_source(m.split_once(": ").map_or("", |(_, w)| w)))
        {
            format!("no symbol or KDBG pointer locates its globals on build {b}")
        } else {
            "none of its globals is readable in this dump".to_string()
        };
        let mut msg = format!("!vm: no figure could be read: {why}");
        for m in &rep.missing {
            msg.push_str("\n  ");
            msg.push_str(m);
        }
        return Err(CommandError::msg(msg));
    }
    // The process list: read for `Total Private` too, shown without flag 1.
    match processes(&r, target) {
        Ok((list, src)) => {
            let private = list
                .iter()
                .fold(0u64, |s, p| s.wrapping_add(p.commit_pages));
            if b >= 7600 {
                rep.figures.push(Figure {
                    key: "total_private_pages",
                    value: private,
                    source: Provenance::derived(format!(
                        "sum of _EPROCESS.CommitCharge over {}",
                        src.path
                    )),
                });
            }
            match sessions(&r, &list) {
                Ok(Some(sess)) => {
                    if b >= 7600 {
                        rep.figures.push(Figure {
                            key: "session_commit_pages",
                            value: sess
                                .list
                                .iter()
                                .fold(0u64, |s, x| s.wrapping_add(x.commit_pages)),
                            // No public counter holds it (docs/COMMANDS.md `!vm` (4): every
                            // global and field named *Session*Commit* was looked for); the
                            // session space's own commit counter, chosen by its name.
                            source: Provenance {
                                path: "sum of _MM_SESSION_SPACE.CommittedPages over the \
                                       processes' sessions"
                                    .into(),
                                origin: Origin::Inferred,
                            },
                        });
                    }
                    rep.sessions = sess;
                }
                Ok(None) => {}
                Err(why) => {
                    if b >= 7600 {
                        rep.missing.push(format!(
                            "session_commit_pages: derived from the sessions, which are not known ({why})"
                        ));
                    }
                    rep.missing.push(format!("sessions: {why}"));
                }
            }
            rep.processes = Processes {
                list,
                source: Some(src),
            };
        }
        Err(why) => {
            // The figures derived from the list are named too: never silently absent.
            if b >= 7600 {
                for key in ["total_private_pages", "session_commit_pages"] {
                    rep.missing.push(format!(
                        "{key}: derived from the process list, which is not known ({why})"
                    ));
                }
            }
            rep.missing.push(format!("processes: {why}"));
        }
    }
    if win10 {
        let absent: Vec<&str> = system_commit_keys()
            .filter(|k| rep.value(k).is_none() && !layout_lacks(&rep, k))
            .collect();
        if absent.is_empty() {
            let sum = system_commit_keys()
                .filter_map(|k| rep.value(k))
                .fold(0u64, u64::wrapping_add);
            rep.figures.push(Figure {
                key: "sum_system_commit_pages",
                value: sum,
                source: Provenance::derived("sum of the system commit lines"),
            });
        } else {
            rep.missing.push(format!(
                "sum_system_commit_pages: its terms {} are not known, and a partial sum would \
                 mislead (so Misc/Transient Commit is not shown either)",
                absent.join(", ")
            ));
        }
    }
    Ok(rep)
}

/// A term of `Sum System Commit` the target's build does not have (its field is absent from the
/// build's public types), so it is no gap in the sum.
fn layout_lacks(rep: &VmReport, key: &str) -> bool {
    rep.missing.iter().any(|m| {
        m.starts_with(&format!("{key}: no offset of _MI_VISIBLE_STATE."))
            || m.starts_with(&format!("{key}: no offset of _MI_VISIBLE_PARTITION."))
    })
}

/// `MmPagedPoolInfo.AllocatedPagedPool`: the offset from the symbols, else from poollayout's table.
fn paged_pool_allocated(r: &Reader<'_>, t: &dyn Target) -> Found {
    let s = r.symbol("MmPagedPoolInfo")?;
    let off = match r.offset("_MM_PAGED_POOL_INFO", "AllocatedPagedPool") {
        Some(o) => o,
        None => {
            let l = layout(t)?;
            l.paged_pool_info()
                .map_err(|e| NotFound(e.to_string()))?
                .allocated
                .offset as u64
        }
    };
    let v = r
        .read(s.value.wrapping_add(off), 0)
        .map_err(|e| NotFound(format!("MmPagedPoolInfo.AllocatedPagedPool: {e}")))?;
    Ok((
        v,
        Provenance::new("MmPagedPoolInfo.AllocatedPagedPool", s.source),
    ))
}

/// At most this many paging files are read (`_MI_VISIBLE_PARTITION.PagingFile[16]` in every
/// Windows 10/11 ISF; `MmPagingFile[16]` before).
pub const MAX_PAGING_FILES: u64 = 16;

/// The paging files: `MmNumberOfPagingFiles` + `MmPagingFile[]` (up to 8.1; the KDBG points at the
/// count only), else `MiSystemPartition.Vp.NumberOfPagingFiles` + `Vp.PagingFile[]` (Windows 10+;
/// field names from the public PDB types). Each entry is a `_MMPAGING_FILE*`: `Size`,
/// `FreeSpace`, `MinimumSize`, `MaximumSize` (pages) and `PageFileName` (`_UNICODE_STRING`),
/// offsets from the symbols or the embedded profile.
fn page_files(r: &Reader<'_>, t: &dyn Target) -> Result<(Vec<PageFile>, Provenance), NotFound> {
    let (count, array, source) = match (
        t.symbol_address("MmNumberOfPagingFiles"),
        t.symbol_address("MmPagingFile"),
    ) {
        (Some(n), Some(a)) if n.value != 0 && a.value != 0 => {
            let c = r
                .read(n.value, 4)
                .map_err(|e| NotFound(format!("MmNumberOfPagingFiles: {e}")))?;
            (c, a.value, Provenance::new("MmPagingFile", a.source))
        }
        (n, a) => {
            let old = NotFound::from(match (n, a) {
                (None, _) => "no symbol MmNumberOfPagingFiles",
                (_, None) => "no symbol MmPagingFile",
                _ => "MmNumberOfPagingFiles or MmPagingFile is null",
            });
            let newer = || -> Result<(u64, u64, Provenance), NotFound> {
                let part = r.symbol("MiSystemPartition")?;
                let vp = r.need("_MI_PARTITION", "Vp")?;
                let nf = r.need("_MI_VISIBLE_PARTITION", "NumberOfPagingFiles")?;
                let pf = r.need("_MI_VISIBLE_PARTITION", "PagingFile")?;
                let v = part.value.wrapping_add(vp);
                let c = r.read(v.wrapping_add(nf), 4).map_err(|e| {
                    NotFound(format!("MiSystemPartition.Vp.NumberOfPagingFiles: {e}"))
                })?;
                Ok((
                    c,
                    v.wrapping_add(pf),
                    Provenance::new("MiSystemPartition.Vp.PagingFile", part.source),
                ))
            };
            newer().map_err(|e| old.and(e))?
        }
    };
    if count > MAX_PAGING_FILES {
        return Err(NotFound(format!(
            "{count} paging files, expected at most {MAX_PAGING_FILES}"
        )));
    }
    let (size, free, min, max, name) = (
        r.need("_MMPAGING_FILE", "Size")?,
        r.need("_MMPAGING_FILE", "FreeSpace")?,
        r.need("_MMPAGING_FILE", "MinimumSize")?,
        r.need("_MMPAGING_FILE", "MaximumSize")?,
        r.need("_MMPAGING_FILE", "PageFileName")?,
    );
    let mut out = Vec::new();
    for i in 0..count {
        let p = r
            .read(array.wrapping_add(i * u64::from(r.ptr)), 0)
            .map_err(|e| NotFound(format!("paging file pointer {i}: {e}")))?;
        if p == 0 {
            continue;
        }
        let rd = |o: u64, what: &str| {
            r.read(p.wrapping_add(o), 0)
                .map_err(|e| NotFound(format!("_MMPAGING_FILE {i} at {p:#x}: {what}: {e}")))
        };
        out.push(PageFile {
            current_pages: rd(size, "Size")?,
            free_pages: rd(free, "FreeSpace")?,
            minimum_pages: rd(min, "MinimumSize")?,
            maximum_pages: rd(max, "MaximumSize")?,
            name: unicode_string(r, p.wrapping_add(name)).map_err(|e| {
                NotFound(format!("_MMPAGING_FILE {i} at {p:#x}: PageFileName: {e}"))
            })?,
        });
    }
    Ok((out, source))
}

/// A `_UNICODE_STRING` (`Length` u16 at 0, `Buffer` pointer at 4 / 8): `None` when empty. The
/// length is bounded by its u16; odd lengths and bad UTF-16 are decoded lossily.
fn unicode_string(r: &Reader<'_>, at: u64) -> Result<Option<String>, plugin_sdk::ReadError> {
    let mut lb = [0u8; 2];
    r.t.read_virtual_exact(at, &mut lb)?;
    let len = u16::from_le_bytes(lb) as usize & !1;
    if len == 0 {
        return Ok(None);
    }
    let buf_ptr = r.read(at.wrapping_add(u64::from(r.ptr)), 0)?;
    let mut b = vec![0u8; len];
    r.t.read_virtual_exact(buf_ptr, &mut b)?;
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok(Some(String::from_utf16_lossy(&units)))
}

/// Free System PTEs. Sources, first found wins:
/// - `MmTotalFreeSystemPtes[SystemPteSpace]` (XP/2003: a `ULONG` array indexed by
///   `MMSYSTEM_PTE_POOL_TYPE`, `SystemPteSpace` = 0; ReactOS `ntoskrnl/include/internal/mm.h`);
/// - `MiSystemPteInfo.TotalFreeSystemPtes` (Windows 7 / 8.1 public PDB types: a
///   `_MI_SYSTEM_PTE_TYPE`; `long` on 7, `ULONG_PTR` on 8.1);
/// - `MiState.Vs.SystemPteInfo.TotalFreeSystemPtes` (Windows 10/11 public PDB types).
fn free_system_ptes(r: &Reader<'_>, t: &dyn Target) -> Found {
    let old = match r.global("MmTotalFreeSystemPtes", 4) {
        Ok((v, p)) => {
            return Ok((
                v,
                Provenance {
                    path: "MmTotalFreeSystemPtes[SystemPteSpace]".into(),
                    ..p
                },
            ));
        }
        Err(e) => e,
    };
    // `long` on Windows 7 (and earlier), `ULONG_PTR` from 8.1.
    let width = if t.info().build < 9200 { 4 } else { 0 };
    let pte_info = || -> Found {
        let s = r.symbol("MiSystemPteInfo")?;
        let o = r.need("_MI_SYSTEM_PTE_TYPE", "TotalFreeSystemPtes")?;
        let v = r
            .read(s.value.wrapping_add(o), width)
            .map_err(|e| NotFound(format!("MiSystemPteInfo.TotalFreeSystemPtes: {e}")))?;
        Ok((
            v,
            Provenance::new("MiSystemPteInfo.TotalFreeSystemPtes", s.source),
        ))
    };
    let vs = || -> Found {
        r.symbol("MiState")?;
        let o = r.need("_MI_SYSTEM_PTE_TYPE", "TotalFreeSystemPtes")?;
        r.mi_state("Vs", "_MI_VISIBLE_STATE", "SystemPteInfo", o, width)
            .map(|(v, p)| {
                (
                    v,
                    Provenance {
                        path: format!("{}.TotalFreeSystemPtes", p.path),
                        ..p
                    },
                )
            })
    };
    or_else(Err(old), || or_else(pte_info(), vs))
}

/// Special Pool: `MmSpecialPagesInUse` (Windows 7 / 8.1 public PDB globals; the name WinDbg's
/// line is taken from), else `MiState.Vs.SpecialPagesInUse` (Windows 10 1607/1809 public PDB
/// types; the field is gone from 1903 on, and no other source is known).
fn special_pool_pages(r: &Reader<'_>) -> Found {
    or_else(r.global("MmSpecialPagesInUse", 0), || {
        r.vs("SpecialPagesInUse", 0)
    })
}

/// Locked IO Pages: `MmSystemLockPagesCount` (the ReactOS name, `ntoskrnl/mm/ARM3`), read only
/// when the target's symbols have it. No public PDB of Windows 7 … 11 has a global of that name
/// or a field that is known to hold the figure, so there it is left out.
fn locked_io_pages(r: &Reader<'_>, t: &dyn Target) -> Found {
    r.global("MmSystemLockPagesCount", 0).map_err(|e| {
        NotFound(format!(
            "{e} (the ReactOS name); no other source is established for build {} (no public \
             Windows 7 … 11 PDB has a counter known to hold it)",
            t.info().build
        ))
    })
}

/// The pool layout of the target's build.
fn layout(t: &dyn Target) -> Result<poollayout::Layout, NotFound> {
    let info = t.info();
    let arch = match info.arch {
        plugin_sdk::Arch::X86 | plugin_sdk::Arch::X86Pae => poollayout::Arch::X86,
        plugin_sdk::Arch::X64 => poollayout::Arch::X64,
        other => return Err(NotFound(format!("no pool layout for {}", other.name()))),
    };
    poollayout::Layout::for_build(arch, info.build).map_err(|e| NotFound(e.to_string()))
}

/// At most this many pool nodes are read (`_EX_POOL_HEAP_MANAGER_STATE.PoolNode[64]` on x64).
const MAX_POOL_NODES: u64 = 64;

/// A segment-heap pool's committed pages, derived: `ExPoolState.PoolNode[0 .. NumberOfPools]
/// .Heaps[slot]` → `_SEGMENT_HEAP.MemStats.TotalCommittedPages`, summed (slot 1 is the
/// NonPagedPoolNx heap: MemProcFS `vmmwinpool.c`, docs/POOL_INTERNALS.md §3.2). Null heaps are skipped.
fn segment_heap_committed(r: &Reader<'_>, slot: u64) -> Found {
    let st = r.symbol("ExPoolState")?;
    let n_off = r.need("_EX_POOL_HEAP_MANAGER_STATE", "NumberOfPools")?;
    let nodes = r.need("_EX_POOL_HEAP_MANAGER_STATE", "PoolNode")?;
    let node_size =
        r.t.type_size("_EX_HEAP_POOL_NODE")
            .map(|s| s.value)
            .ok_or("no size of _EX_HEAP_POOL_NODE")?;
    let heaps = r.need("_EX_HEAP_POOL_NODE", "Heaps")?;
    let mem = r.need("_SEGMENT_HEAP", "MemStats")?;
    let committed = r.need("_HEAP_RUNTIME_MEMORY_STATS", "TotalCommittedPages")?;
    let n = r
        .read(st.value.wrapping_add(n_off), 4)
        .map_err(|e| NotFound(format!("ExPoolState.NumberOfPools: {e}")))?;
    if n > MAX_POOL_NODES {
        return Err(NotFound(format!(
            "ExPoolState.NumberOfPools is {n}, expected at most {MAX_POOL_NODES}"
        )));
    }
    let mut total = 0u64;
    for i in 0..n {
        let slot_va = st
            .value
            .wrapping_add(nodes)
            .wrapping_add(i * node_size)
            .wrapping_add(heaps)
            .wrapping_add(slot * u64::from(r.ptr));
        let h = r
            .read(slot_va, 0)
            .map_err(|e| NotFound(format!("ExPoolState.PoolNode[{i}].Heaps[{slot}]: {e}")))?;
        if h == 0 {
            continue;
        }
        let v = r
            .read(h.wrapping_add(mem).wrapping_add(committed), 0)
            .map_err(|e| NotFound(format!("_SEGMENT_HEAP at {h:#x}: MemStats: {e}")))?;
        total = total.wrapping_add(v);
    }
    Ok((
        total,
        Provenance {
            path: format!(
                "sum of ExPoolState.PoolNode[*].Heaps[{slot}].MemStats.TotalCommittedPages"
            ),
            origin: Origin::Derived,
        },
    ))
}

/// At most this many paged pools are read (Windows has at most 16 + 1).
const MAX_PAGED_POOLS: u64 = 64;

/// `ExpPagedPoolDescriptor[0 ..= ExpNumberOfPagedPools]` → pages + big pages in use.
fn paged_pools(r: &Reader<'_>, t: &dyn Target) -> Result<(Vec<PagedPool>, Provenance), NotFound> {
    let l = layout(t)?;
    let d = l.descriptor().map_err(|e| NotFound(e.to_string()))?;
    let (n, _) = r.global("ExpNumberOfPagedPools", 4)?;
    if n >= MAX_PAGED_POOLS {
        return Err(NotFound(format!(
            "ExpNumberOfPagedPools is {n}, expected fewer than {MAX_PAGED_POOLS}"
        )));
    }
    let arr = r.symbol("ExpPagedPoolDescriptor")?;
    let mut out = Vec::new();
    for i in 0..=n {
        let p = r
            .read(arr.value.wrapping_add(i * u64::from(r.ptr)), 0)
            .map_err(|e| NotFound(format!("ExpPagedPoolDescriptor[{i}]: {e}")))?;
        if p == 0 {
            continue;
        }
        // The counters sit before ListHeads; read only what decode_descriptor needs.
        let len = d.list_heads.map(|(o, _)| o).unwrap_or(d.size).min(d.size);
        let mut buf = vec![0u8; len];
        t.read_virtual_exact(p, &mut buf)
            .map_err(|e| NotFound(format!("paged pool descriptor {i}: {e}")))?;
        let desc = l
            .decode_descriptor(&buf)
            .map_err(|e| NotFound(format!("paged pool descriptor {i} at {p:#x}: {e}")))?;
        out.push(PagedPool {
            index: i as u32,
            pages: desc.pages.wrapping_add(desc.big_pages),
        });
    }
    Ok((out, Provenance::new("ExpPagedPoolDescriptor", arr.source)))
}

/// At most this many processes are read from `PsActiveProcessHead` (a loop or a corrupt link
/// stops the walk there, with a warning-worthy error naming the address).
pub const MAX_PROCESSES: usize = 1 << 16;

/// The process list from `PsActiveProcessHead` through `_EPROCESS.ActiveProcessLinks`, bounded
/// ([`MAX_PROCESSES`]) and cycle-checked, sorted as WinDbg sorts it: by commit, largest first;
/// equal commits in reverse list order (the published Windows 10 sample lists `userinit.exe`,
/// `coredpussvr.exe`, `smss.exe`, all 72 Kb, newest first).
fn processes(r: &Reader<'_>, t: &dyn Target) -> Result<(Vec<Process>, Provenance), NotFound> {
    let head = r.symbol("PsActiveProcessHead")?;
    let info = t.info();
    let table = EPROCESS_FALLBACK
        .iter()
        .find(|e| e.0 == info.build && e.1 == info.pointer_size);
    let from_symbols = || -> Result<(u64, u64, u64, u64), NotFound> {
        Ok((
            r.need("_EPROCESS", "ActiveProcessLinks")?,
            r.need("_EPROCESS", "UniqueProcessId")?,
            r.need("_EPROCESS", "ImageFileName")?,
            r.need("_EPROCESS", "CommitCharge")?,
        ))
    };
    let (links, pid_off, name_off, commit_off, assumed) = match (from_symbols(), table) {
        (Ok((l, p, n, c)), _) => (l, p, n, c, None),
        (Err(_), Some(e)) => (e.3, e.2, e.4, e.5, Some(e.6)),
        (Err(why), None) => return Err(why),
    };
    let shared_off = r.offset("_EPROCESS", "SharedCommitCharge");
    let session_off = r.offset("_EPROCESS", "Session");
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut at = r
        .read(head.value, 0)
        .map_err(|e| NotFound(format!("PsActiveProcessHead at {:#x}: {e}", head.value)))?;
    let mut prev = head.value;
    while at != head.value {
        if out.len() >= MAX_PROCESSES {
            return Err(NotFound(format!(
                "PsActiveProcessHead: more than {MAX_PROCESSES} processes (a corrupt list?)"
            )));
        }
        if !seen.insert(at) {
            return Err(NotFound(format!(
                "PsActiveProcessHead: the list loops at {at:#x} without returning to the head"
            )));
        }
        let ep = at.wrapping_sub(links);
        let rd = |o: u64, what: &str| {
            r.read(ep.wrapping_add(o), 0)
                .map_err(|e| NotFound(format!("_EPROCESS at {ep:#x}: {what}: {e}")))
        };
        let mut name = [0u8; 15];
        t.read_virtual_exact(ep.wrapping_add(name_off), &mut name)
            .map_err(|e| NotFound(format!("_EPROCESS at {ep:#x}: ImageFileName: {e}")))?;
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        if let Some(what) = assumed {
            // Offsets taken from a table, not the target's symbols: check that they fit (a name
            // of printable characters, a back link to the entry before) before trusting them.
            let back = rd(
                links.wrapping_add(u64::from(r.ptr)),
                "ActiveProcessLinks.Blink",
            )?;
            if end == 0 || !name[..end].iter().all(|c| (0x20..0x7f).contains(c)) {
                return Err(NotFound(format!(
                    "_EPROCESS at {ep:#x}: ImageFileName at +{name_off:#x} is {:02x?}, not a \
                     name: the assumed offsets ({what}) do not fit this kernel",
                    &name[..]
                )));
            }
            if back != prev {
                return Err(NotFound(format!(
                    "_EPROCESS at {ep:#x}: ActiveProcessLinks.Blink is {back:#x}, expected \
                     {prev:#x}: the assumed offsets ({what}) do not fit this kernel"
                )));
            }
        }
        out.push(Process {
            pid: rd(pid_off, "UniqueProcessId")?,
            image_name: name[..end].iter().map(|&c| char::from(c)).collect(),
            commit_pages: rd(commit_off, "CommitCharge")?,
            shared_commit_pages: match shared_off {
                Some(o) => Some(rd(o, "SharedCommitCharge")?),
                None => None,
            },
            eprocess: ep,
            session: match session_off {
                Some(o) => Some(rd(o, "Session")?).filter(|&a| a != 0),
                None => None,
            },
        });
        prev = at;
        at = rd(links, "ActiveProcessLinks.Flink")?;
    }
    out.reverse();
    // Stable: equal commits keep the reversed list order.
    out.sort_by_key(|p| std::cmp::Reverse(p.commit_pages));
    let path = match assumed {
        Some(what) => format!("PsActiveProcessHead[_EPROCESS offsets assumed: {what}]"),
        None => "PsActiveProcessHead".into(),
    };
    Ok((out, Provenance::new(path, head.source)))
}

/// The sessions the processes point at, by `SessionId`; `None` when the symbols lack
/// `_EPROCESS.Session` or `_MM_SESSION_SPACE` (nothing to say), an error when a session cannot be
/// read. At most one session per process, so the walk is bounded by the process list.
fn sessions(r: &Reader<'_>, procs: &[Process]) -> Result<Option<Sessions>, NotFound> {
    let (Some(id), Some(nonpaged), Some(committed)) = (
        r.offset("_MM_SESSION_SPACE", "SessionId"),
        r.offset("_MM_SESSION_SPACE", "NonPagablePages"),
        r.offset("_MM_SESSION_SPACE", "CommittedPages"),
    ) else {
        return Ok(None);
    };
    if procs.iter().all(|p| p.session.is_none()) {
        return Ok(None);
    }
    let paged = match (
        r.offset("_MM_SESSION_SPACE", "PagedPoolInfo"),
        r.offset("_MM_PAGED_POOL_INFO", "AllocatedPagedPool"),
    ) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    let mut seen = HashSet::new();
    let mut list = Vec::new();
    for a in procs.iter().filter_map(|p| p.session) {
        if !seen.insert(a) {
            continue;
        }
        let rd = |o: u64, w: u32, what: &str| {
            r.read(a.wrapping_add(o), w)
                .map_err(|e| NotFound(format!("_MM_SESSION_SPACE at {a:#x}: {what}: {e}")))
        };
        list.push(Session {
            session_id: rd(id, 4, "SessionId")? as u32,
            address: a,
            paged_pool_pages: match paged {
                Some(o) => Some(rd(o, 0, "PagedPoolInfo.AllocatedPagedPool")?),
                None => None,
            },
            nonpaged_pages: rd(nonpaged, 0, "NonPagablePages")?,
            commit_pages: rd(committed, 0, "CommittedPages")?,
        });
    }
    list.sort_by_key(|s| (s.session_id, s.address));
    let source = Provenance {
        path: "_EPROCESS.Session of the process list".into(),
        origin: Origin::Derived,
    };
    Ok(Some(Sessions {
        list,
        source: Some(source),
    }))
}

/// `_EPROCESS` offsets for builds whose symbols are often missing (no embedded profile), used only
/// when the symbols lack the fields: (build, pointer size, `UniqueProcessId`,
/// `ActiveProcessLinks`, `ImageFileName`, `CommitCharge`, what the output says was assumed).
/// `CommitCharge` is pointer-sized in each (`ULONG` on x86, `ULONGLONG` on x64).
///
/// - 2000 (2195) x86: Microsoft's `!processfields` page (learn.microsoft.com, debuggercmds
///   `-processfields`), whose Windows 2000 sample lists `UniqueProcessId: 0x9c`,
///   `ActiveProcessLinks: 0xa0`, `CommitCharge: 0xbc`, `ImageFileName[0]: 0x1fc`;
/// - XP SP3 (2600) x86: the public ntoskrnl PDB types as dumped in ntdiff/headers
///   (`WinXP_SP3/x86/.../_EPROCESS.h`: 0x84, 0x88, 0x174 `UCHAR[16]`, 0xa8 `ULONG`);
/// - Server 2003 SP2 (3790) x86, PAE too (the `PageDirectoryPte`/`Filler` union is 8 bytes in
///   both kernels): Volatility 2's `win2003_sp2_x86_vtypes.py` (0x94, 0x98, 0x164, 0xb8);
/// - Server 2003 SP2 (3790) x64: Volatility 2's `win2003_sp2_x64_vtypes.py` (0xd8, 0xe0, 0x268,
///   0x120).
///
/// 2003 before SP1 kept the same size with a different layout (Geoff Chappell's EPROCESS
/// notes), so the walk checks what it reads with these offsets (names printable, the list's
/// back links consistent) and names the table when they do not fit.
pub const EPROCESS_FALLBACK: &[(u32, u32, u64, u64, u64, u64, &str)] = &[
    (
        2195,
        4,
        0x9c,
        0xa0,
        0x1fc,
        0xbc,
        "Windows 2000 x86, Microsoft's !processfields sample",
    ),
    (2600, 4, 0x84, 0x88, 0x174, 0xa8, "XP SP3 x86 public PDB"),
    (
        3790,
        4,
        0x94,
        0x98,
        0x164,
        0xb8,
        "Server 2003 SP2 x86 public PDB, as in Volatility",
    ),
    (
        3790,
        8,
        0xd8,
        0xe0,
        0x268,
        0x120,
        "Server 2003 SP2 x64 public PDB, as in Volatility",
    ),
];

/// `!vm [flags]` usage.
pub const USAGE: &str = "!vm [flags]   bit 0 (1) omits the process list, bit 2 (4) adds the sessions; \
                          other bits are accepted and change nothing";

/// Parses `[flags]` (hex, WinDbg style; `0x` optional).
pub fn parse_flags(args: &str) -> Result<u64, CommandError> {
    plugin_sdk::parse_hex_flags(args, "!vm [flags]")
}

/// Renders a command's output as text: the summary's `text` lines, then `warning:` lines
/// (docs/PLUGINS.md "Text layouts").
pub fn render_text(out: &Output) -> String {
    out.render_text()
}

/// `!vm ARGS` into `out`: the row, the summary (`sources`, `processes`, `text`) and a warning per
/// figure left out.
pub fn run(target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
    let flags = parse_flags(args)?;
    let rep = vm(target, flags)?;
    out.emit(&rep.vm_row()?);
    out.set_summary(rep.summary());
    for m in rep.shown_missing() {
        out.warn(format!("not shown: {m}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use plugin_sdk::{Arch, MemoryTarget, TargetInfo};

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

    /// Lines of the published Windows 10/11 samples (docs/COMMANDS.md), wrapped values included.
    #[test]
    fn win10_line_layout_matches_the_samples() {
        let cases: &[(&str, u64, &str)] = &[
            (
                "Physical Memory:",
                2037490,
                "Physical Memory:          2037490 (    8149960 Kb)",
            ),
            (
                "Free System PTEs:",
                4295156169,
                "Free System PTEs:      4295156169 (17180624676 Kb)",
            ),
            (
                "Modified No Write Pages:",
                28,
                "Modified No Write Pages:       28 (        112 Kb)",
            ),
            (
                "NonPagedPoolNx Usage:",
                36623,
                "NonPagedPoolNx Usage:       36623 (     146492 Kb)",
            ),
            (
                "PagedPool  0:",
                27632,
                "PagedPool  0:               27632 (     110528 Kb)",
            ),
            (
                "PagedPool Commit:",
                18446735300397918280,
                "PagedPool Commit:  18446735300397918280 (18446708980463018272 Kb)",
            ),
            (
                "Sum System Commit:",
                18446735300398461981,
                "Sum System Commit: 18446735300398461981 (18446708980465193076 Kb)",
            ),
            (
                "Locked IO Pages:",
                0,
                "Locked IO Pages:                0 (          0 Kb)",
            ),
        ];
        for (label, v, want) in cases {
            assert_eq!(win10_line(label, *v, 4096), *want);
        }
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
            Provenance::new(
                "MiSystemPartition.Vp.AvailablePages",
                Source::EmbeddedProfile
            )
        );
        assert_eq!(
            f.source.to_string(),
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
        // One short line first (what the text prints without -v), then a line per figure.
        let (first, rest) = e.split_once('\n').unwrap();
        assert_eq!(
            first,
            "!vm: no figure could be read: no symbol or KDBG pointer locates its globals on \
             build 7601"
        );
        assert!(
            rest.lines()
                .any(|l| l.starts_with("  physical_pages: no symbol MmNumberOfPhysicalPages")),
            "{e}"
        );
        // A triage dump whose globals are located but not in the dump says so.
        let mut i = info(Arch::X64, 7601, 8);
        i.dump_type = "triage".into();
        let t =
            MemoryTarget::new(i).with_symbol("MmAvailablePages", 0xfffff800_02a00000, Source::Kdbg);
        let e = vm(&t, 0).unwrap_err().to_string();
        assert!(
            e.lines()
                .next()
                .unwrap()
                .contains("a triage dump holds none of the memory manager's pages"),
            "{e}"
        );
    }

    /// Without -v the text says first, in short notes, what changes the answer; the sources
    /// line is for -v.
    #[test]
    fn short_text_notes_what_matters_and_verbose_keeps_the_sources() {
        let g = 0x8050_0000u64;
        let t = MemoryTarget::new(info(Arch::X86, 2600, 4))
            .with_symbol("MmAvailablePages", g, Source::Kdbg)
            .with_virtual(g, &77u32.to_le_bytes())
            .with_symbol("MmSharedCommit", g + 8, Source::Guessed)
            .with_virtual(g + 8, &5u32.to_le_bytes());
        let rep = vm(&t, 1).unwrap();
        let text = rep.text();
        assert!(
            text[0].starts_with(
                "note: not shown, no known source on this build: Physical Memory, Page File, \
                 ResAvail Pages, Locked IO Pages, Free System PTEs,"
            ),
            "{text:?}"
        );
        assert!(text[0].contains("Free System PTEs"), "{text:?}");
        assert!(
            text.iter()
                .any(|l| l == "note: located by a guess (no symbol names them): Shared Commit"),
            "{text:?}"
        );
        assert!(!text.iter().any(|l| l.starts_with("sources:")), "{text:?}");
        assert!(text.iter().any(|l| l.contains("Available Pages:")));
        let verbose = rep.text_verbose();
        assert!(
            verbose
                .iter()
                .any(|l| l.starts_with("sources: kdbg: MmAvailablePages")),
            "{verbose:?}"
        );
        // The summary carries both; the host keeps them out of JSON.
        let s = rep.summary();
        assert_eq!(s["text"], json!(text));
        assert_eq!(s[plugin_sdk::VERBOSE_TEXT], json!(verbose));
        // An unreadable global is told apart from one with no source.
        let t = MemoryTarget::new(info(Arch::X86, 2600, 4))
            .with_symbol("MmAvailablePages", g, Source::Kdbg)
            .with_virtual(g, &77u32.to_le_bytes())
            .with_symbol("MmNumberOfPhysicalPages", g + 0x10_0000, Source::Kdbg);
        let text = vm(&t, 1).unwrap().text();
        assert!(
            text.iter()
                .any(|l| l
                    == "note: not shown, unreadable in this dump: Physical Memory (-v: where)"),
            "{text:?}"
        );
    }

    fn xp_style_list(
        build: u32,
        ptr: u32,
        offs: (u64, u64, u64, u64),
        name: &[u8],
    ) -> MemoryTarget {
        let (pid, links, name_off, commit) = offs;
        let head = 0x8055_0000u64;
        let g = 0x8050_0000u64;
        let eps = [0x8200_0000u64, 0x8200_1000];
        let mut t = MemoryTarget::new(info(Arch::X86, build, ptr))
            .with_symbol("PsActiveProcessHead", head, Source::Kdbg)
            .with_symbol("MmAvailablePages", g, Source::Kdbg)
            .with_virtual(g, &5u32.to_le_bytes())
            .with_virtual(head, &((eps[0] + links) as u32).to_le_bytes())
            .with_virtual(head + 4, &((eps[1] + links) as u32).to_le_bytes());
        for (i, ep) in eps.iter().enumerate() {
            let next = if i == 0 { eps[1] + links } else { head };
            let back = if i == 0 { head } else { eps[0] + links };
            t = t
                .with_virtual(ep + pid, &(4 + 4 * i as u32).to_le_bytes())
                .with_virtual(ep + links, &(next as u32).to_le_bytes())
                .with_virtual(ep + links + 4, &(back as u32).to_le_bytes())
                .with_virtual(ep + name_off, name)
                .with_virtual(ep + commit, &(10 + i as u32).to_le_bytes());
        }
        t
    }

    /// 2000 and 2003 without symbols: the table's offsets read the list, checked as they go.
    #[test]
    fn eprocess_fallback_reads_2000_and_2003_and_refuses_what_does_not_fit() {
        for (build, offs) in [
            (2195, (0x9c, 0xa0, 0x1fc, 0xbc)),
            (3790, (0x94, 0x98, 0x164, 0xb8)),
        ] {
            let rep = vm(&xp_style_list(build, 4, offs, b"lsass.exe\0"), 0).unwrap();
            let names: Vec<&str> = rep
                .processes
                .list
                .iter()
                .map(|p| p.image_name.as_str())
                .collect();
            assert_eq!(names, ["lsass.exe", "lsass.exe"], "{build}");
            assert_eq!(rep.processes.list[0].commit_pages, 11, "{build}");
            assert!(
                rep.text()
                    .iter()
                    .any(|l| l.starts_with("note: process list read with assumed _EPROCESS")),
                "{build}"
            );
        }
        // XP's layout on a 2003 target: ImageFileName lands on other bytes, and is refused.
        let rep = vm(
            &xp_style_list(3790, 4, (0x84, 0x88, 0x174, 0xa8), b"x.exe\0"),
            0,
        )
        .unwrap();
        assert!(rep.processes.list.is_empty());
        assert!(
            rep.missing
                .iter()
                .any(|m| m.contains("do not fit this kernel")),
            "{:?}",
            rep.missing
        );
    }

    /// A process list: sorted by commit (ties newest first), a loop named, flag 1 omits it.
    #[test]
    fn process_list_is_sorted_bounded_and_cycle_checked() {
        let head = 0xffff_f800_0000_1000_u64;
        let g = 0xffff_f800_0000_2000_u64;
        let eps = [
            0xffff_9000_0000_0000u64,
            0xffff_9000_0000_1000,
            0xffff_9000_0000_2000,
        ];
        let build = |loop_back: bool| {
            let mut t = MemoryTarget::new(info(Arch::X64, 19041, 8))
                .with_symbol("PsActiveProcessHead", head, Source::EmbeddedProfile)
                .with_symbol("MmAvailablePages", g, Source::Kdbg)
                .with_virtual(g, &5u64.to_le_bytes())
                .with_field(
                    "_EPROCESS",
                    "UniqueProcessId",
                    0x440,
                    None,
                    Source::EmbeddedProfile,
                )
                .with_field(
                    "_EPROCESS",
                    "ActiveProcessLinks",
                    0x448,
                    None,
                    Source::EmbeddedProfile,
                )
                .with_field(
                    "_EPROCESS",
                    "ImageFileName",
                    0x5a8,
                    None,
                    Source::EmbeddedProfile,
                )
                .with_field(
                    "_EPROCESS",
                    "CommitCharge",
                    0x648,
                    None,
                    Source::EmbeddedProfile,
                )
                .with_virtual(head, &(eps[0] + 0x448).to_le_bytes());
            let commits = [10u64, 30, 10];
            let names: [&[u8]; 3] = [b"System\0", b"big.exe\0", b"smss.exe\0"];
            for (i, ep) in eps.iter().enumerate() {
                let next = if i + 1 < eps.len() {
                    eps[i + 1] + 0x448
                } else if loop_back {
                    eps[1] + 0x448
                } else {
                    head
                };
                t = t
                    .with_virtual(ep + 0x440, &(4 + 4 * i as u64).to_le_bytes())
                    .with_virtual(ep + 0x448, &next.to_le_bytes())
                    .with_virtual(ep + 0x5a8, names[i])
                    .with_virtual(ep + 0x648, &commits[i].to_le_bytes());
            }
            t
        };
        let rep = vm(&build(false), 0).unwrap();
        let order: Vec<&str> = rep
            .processes
            .list
            .iter()
            .map(|p| p.image_name.as_str())
            .collect();
        assert_eq!(order, ["big.exe", "smss.exe", "System"]);
        assert_eq!(rep.value("total_private_pages"), Some(50));
        let text = rep.text().join("\n");
        assert!(
            text.contains("    8 big.exe                          120 Kb           0 Kb"),
            "{text}"
        );
        let s = rep.summary();
        assert_eq!(s["processes"][0]["pid"], 8);
        assert_eq!(s["processes"][0]["commit_pages"], 30);
        // Flag 1: no list in the text or the summary.
        let rep1 = vm(&build(false), 1).unwrap();
        assert!(!rep1.text().join("\n").contains("big.exe"));
        assert!(rep1.summary().get("processes").is_none());
        // A loop that never returns to the head: named, no list.
        let bad = vm(&build(true), 0).unwrap();
        assert!(bad.processes.list.is_empty());
        assert!(
            bad.missing.iter().any(|m| m.contains("loops at")),
            "{:?}",
            bad.missing
        );
    }

    /// The twenty terms of the published sample's `Sum System Commit`.
    #[test]
    fn system_commit_has_the_twenty_terms() {
        let keys: Vec<&str> = system_commit_keys().collect();
        assert_eq!(keys.len(), 20, "{keys:?}");
        assert_eq!(keys[0], "processor_commit_pages");
        assert_eq!(keys[19], "pagefile_hash_pages");
    }

    /// Every line of both layouts has its key in [`VmRow`]'s columns, and a report with a
    /// figure for every line makes a row holding them all, in the declared order.
    #[test]
    fn columns_cover_every_line() {
        let special = ["paged_pools", "failures", "misc_transient"];
        let mut figures = Vec::new();
        for (_, key) in CLASSIC.iter().chain(WIN10) {
            assert!(
                columns().contains(key) || special.contains(key),
                "{key} missing from VmRow"
            );
            if !special.contains(key) && *key != "page_files" {
                figures.push(Figure {
                    key,
                    value: 1,
                    source: Provenance::derived("test"),
                });
            }
        }
        // The `failures` line's figure.
        figures.push(Figure {
            key: "pool_allocation_failures",
            value: 1,
            source: Provenance::derived("test"),
        });
        let rep = VmReport {
            figures,
            page_files: Some(vec![]),
            paged_pools: vec![PagedPool { index: 1, pages: 2 }],
            ..VmReport::default()
        };
        let row = rep.vm_row().unwrap();
        plugin_sdk::check_columns(&row).unwrap();
        assert_eq!(
            plugin_sdk::serialized_keys(&row).unwrap(),
            columns(),
            "every column filled"
        );
        // A figure the row has no field for is refused, not dropped.
        let mut bad = rep.clone();
        bad.figures.push(Figure {
            key: "no_such_figure",
            value: 1,
            source: Provenance::derived("test"),
        });
        let e = bad.vm_row().unwrap_err().to_string();
        assert!(e.contains("no_such_figure"), "{e}");
    }

    #[test]
    fn flags_parse() {
        assert_eq!(parse_flags(" 1 ").unwrap(), 1);
        assert_eq!(parse_flags("0x20").unwrap(), 0x20);
        assert!(parse_flags("zz").is_err());
    }
}
