//! Synthetic Windows kernels for tests, benchmarks, demos — and for plugin authors.
//!
//! No public kernel dump is small enough to ship, so `testkit` builds one: pick an OS profile, add
//! drivers, pool allocations, big allocations and memory-manager counters, and [`KernelBuilder::build`]
//! lays out a consistent kernel in a sparse physical memory — page tables with the self-map Windows
//! uses, `KUSER_SHARED_DATA`, a kernel image with a real build's PE CodeView (RSDS) record and its
//! globals at that build's real RVAs (x64), the KDBG (encoded in memory on Windows 8+ x64, decoded in
//! crash dumps), `PsLoadedModuleList`, pool pages whose headers chain, descriptor free lists (or, on
//! Windows 10 2004, Server 2022 and Windows 11, the segment heap: `ExPoolState`, heap keys, heaps,
//! page segments, VS and LFH subsegments with encoded headers and block bitmaps),
//! tracker tables, the big page table, the paged-pool bitmap, the `!vm` counters, and pages that are
//! paged out, in transition and absent from the dump. Then [`write_file`] writes it as a crash dump
//! (full, bitmap, summary, triage, RDMP; 32- and 64-bit headers), a raw image or an ELF core, and the
//! [`Manifest`] says what a correct analyzer must find, in the field names of pooldbg's CONTRACT.
//!
//! The builder encodes every structure from its own tables ([`mod@profile`]), never from `poollayout`,
//! so a wrong layout in a decoder cannot hide behind a shared table.
//!
//! # Example: a dump for a plugin's test
//!
//! ```
//! use pooldbg_testkit::{Container, KernelBuilder, PoolKind, WriteOptions, profile};
//!
//! let p = profile("win7sp1-x64").expect("a known profile");
//! let kernel = KernelBuilder::new(p)
//!     .seed(7)
//!     .memory_mib(32)
//!     .driver("mydrv.sys", 0x8000)
//!     .alloc(b"MyTg", 0x200, PoolKind::NonPaged)
//!     .alloc(b"MyTg", 0x200, PoolKind::NonPaged)
//!     .freed(b"MyTg", 0x80, PoolKind::Paged)
//!     .big(b"MyBg", 0x5000, PoolKind::Paged)
//!     .build()?;
//!
//! // What a correct `!poolused` must print for the tag:
//! let row = kernel.manifest.poolused.iter().find(|r| r.tag == "MyTg").unwrap();
//! assert_eq!(row.nonpaged_allocs, 2);
//! assert_eq!((row.paged_allocs, row.paged_frees), (1, 1));
//!
//! // Write it as a bitmap kernel dump, with its manifest beside it.
//! let dir = std::env::temp_dir().join("testkit-doc-example");
//! std::fs::create_dir_all(&dir)?;
//! let dump = dir.join("win7.dmp");
//! let info = pooldbg_testkit::write_with_manifest(
//!     &kernel,
//!     Container::Bitmap { full: false, dump_type: 5 },
//!     &dump,
//!     &WriteOptions::default(),
//! )?;
//! assert_eq!(info.dump_type, Some(5));
//! assert!(dump.with_extension("json").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: the segment heap (Windows 10 2004+, 11)
//!
//! ```
//! use pooldbg_testkit::{Fault, KernelBuilder, PoolKind, profile};
//!
//! let k = KernelBuilder::new(profile("win11-21h2-x64").expect("a known profile"))
//!     .alloc(b"NxSm", 0x30, PoolKind::NonPagedNx) // an LFH block of the NX heap
//!     .alloc(b"Vs  ", 0x700, PoolKind::Paged) // a VS chunk of the paged heap
//!     .fault(Fault::CorruptVsHeader { tag: *b"Vs  " })
//!     .build()?;
//! let sh = k.manifest.segment_heap.as_ref().expect("a segment-heap build");
//! assert!(sh.lfh_blocks.iter().any(|b| b.tag == "NxSm" && b.state == "allocated"));
//! assert!(sh.vs_chunks.iter().any(|c| c.tag == "Vs  " && c.error.is_some()));
//! # Ok::<(), pooldbg_testkit::BuildError>(())
//! ```
//!
//! # Determinism
//!
//! Everything random is drawn from the seed: the same profile, requests and seed give byte-identical
//! files.
//!
//! # What is synthetic
//!
//! x86 profiles and Server 2003 x64 have no symbol files here: their global RVAs and PDB GUIDs are
//! synthetic (`manifest.profile.real_symbols == false`); their structure layouts are the real ones
//! from PDB-derived vtypes. There are no processes, threads or PFN database entries.

#![forbid(unsafe_code)]

pub mod builder;
pub mod golden;
mod layout;
pub mod manifest;
pub mod memory;
pub mod pairs;
pub mod profile;
pub mod rng;
mod segheap;
#[cfg(feature = "target")]
pub mod target;
mod vm_extra;
mod vm_procs;
mod vm_win10;
pub mod writer;

use std::path::Path;

pub use builder::{
    BuildError, DumpFacts, Fault, Kernel, KernelBuilder, PoolKind, VmCounters, decode_kdbg,
    encode_kdbg, guid_bytes, tag,
};
pub use manifest::Manifest;
pub use memory::PhysicalMemory;
pub use profile::{Arch, PROFILES, Profile, profile};
pub use writer::{
    Container, WriteError, WriteOptions, container_pages, expected_page, write_file, write_vec,
};

/// The manifest of `kernel` as written beside an image in `container` (`info.dump_type` and
/// `container` filled in).
pub fn manifest_for(
    kernel: &Kernel,
    info: &manifest::ContainerInfo,
    container: Container,
) -> Manifest {
    let mut m = kernel.manifest.clone();
    m.info.dump_type = Some(container.dump_type_name().to_string());
    if container == Container::Triage {
        m.info.missing_pages = 0;
    }
    m.container = Some(info.clone());
    m
}

/// Writes the image to `path` and its manifest to `path` with the extension `json`.
pub fn write_with_manifest(
    kernel: &Kernel,
    container: Container,
    path: &Path,
    opts: &WriteOptions,
) -> Result<manifest::ContainerInfo, WriteError> {
    let mut info = write_file(kernel, container, path, opts)?;
    let mut m = manifest_for(kernel, &info, container);
    if let Some(t) = opts.truncate_to {
        m.faults.push(manifest::FaultRecord {
            kind: "truncated_file".into(),
            address: None,
            detail: format!("file cut to {t:#x} bytes"),
        });
    }
    info = m.container.clone().unwrap_or(info);
    let json = serde_json::to_vec_pretty(&m).map_err(std::io::Error::other)?;
    std::fs::write(path.with_extension("json"), json)?;
    Ok(info)
}
