//! The logic of pooldbg's `!poolused`, `!pool`, `!poolfind`, `!frag` and `!vm`, as plain functions
//! over a [`plugin_sdk::Target`].
//!
//! The plugin crates `poolused` (`libpooldbg_poolused.so`), `pool` (`libpooldbg_pool.so`,
//! `!pool` and `!poolfind`), `frag` (`libpooldbg_frag.so`) and `vm` (`libpooldbg_vm.so`) are thin
//! `export_plugin!` shells over these functions; tests, the host and other tools call them
//! in-process with any `Target` (a `pooldbg::session::Session`, a `plugin_sdk::MemoryTarget`). Two crates that each call `export_plugin!` cannot be linked into one
//! binary, which is why the logic lives here and not in the plugin crates.
//!
//! Every command module has `run(target, args, out)`, `USAGE` and `columns()` (its rows' columns in
//! order, which the plugin declares through `Command::columns`). The rows are typed structs
//! declared with [`plugin_sdk::row!`] (`poolused::TagRow`, `bydriver::DriverRow`,
//! `pool::BlockRow`, `pool::RunRow`, `poolfind::FoundRow`, `frag::FragRow`, `vm::VmRow`): the
//! struct's fields are the JSON keys and the declared columns, and each row type formats its
//! own WinDbg line (`text`), so the three cannot drift apart (issue #17). Arguments are parsed with
//! [`plugin_sdk::args`] (the host's parser too); errors are [`plugin_sdk::CommandError`], read
//! faults handed to `poollayout` walkers are typed ([`error`]).
//!
//! Text output follows WinDbg's layouts: every command puts its lines in `summary.text` (an array
//! of strings; docs/PLUGINS.md "Text layouts"). A host printing text prints those lines
//! and the warnings; a host printing JSON drops `summary.text`.
//!
//! ```
//! use plugin_sdk::{Arch, MemoryTarget, Output, TargetInfo};
//! let t = MemoryTarget::new(TargetInfo { arch: Arch::X64, build: 7601, pointer_size: 8, ..Default::default() });
//! let mut out = Output::new();
//! // No tracker table and no pool in this empty target: a clear error.
//! let err = pooldbg_commands::poolused::run(&t, "", &mut out).unwrap_err();
//! assert!(err.to_string().contains("no readable pool"), "{err}");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bydriver;
pub mod common;
pub mod error;
pub mod frag;
pub mod pool;
pub mod poolfind;
pub mod poolused;
pub mod scan;
pub mod segheap;
pub mod vm;

pub use common::{TagPattern, summary_with_text};

#[doc(hidden)]
pub use plugin_sdk as __sdk;

/// Declares a plugin command type that forwards to a command module of this library: its `run`,
/// `USAGE` and `columns()`. The plugin crates are these declarations and one `export_plugin!`.
///
/// ```
/// pooldbg_commands::command! {
///     /// `!frag [flags]`.
///     Frag, "frag", "nonpaged pool fragmentation", frag
/// }
/// assert_eq!(plugin_sdk::Command::name(&Frag), "frag");
/// assert_eq!(plugin_sdk::Command::columns(&Frag), pooldbg_commands::frag::columns());
/// ```
#[macro_export]
macro_rules! command {
    ($(#[$meta:meta])* $ty:ident, $name:literal, $summary:literal, $module:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl $crate::__sdk::Command for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn summary(&self) -> &'static str {
                $summary
            }
            fn usage(&self) -> &'static str {
                $crate::$module::USAGE
            }
            fn columns(&self) -> &'static [&'static str] {
                $crate::$module::columns()
            }
            fn run(
                &self,
                target: &dyn $crate::__sdk::Target,
                args: &str,
                out: &mut $crate::__sdk::Output,
            ) -> ::core::result::Result<(), $crate::__sdk::CommandError> {
                $crate::$module::run(target, args, out)
            }
        }
    };
}

#[cfg(test)]
mod row_tests {
    //! Every row type serializes to its declared columns, in order, and every command declares
    //! the columns of every row type it emits (issue #17: one list, no drift).
    use plugin_sdk::{Row, check_columns, is_ordered_subset};
    use poollayout::BlockState;

    use crate::bydriver::DriverRow;
    use crate::frag::{Allocator, FragRow};
    use crate::pool::{BlockRow, RunRow};
    use crate::poolfind::FoundRow;
    use crate::poolused::{ImageCandidate, TagRow};
    use crate::vm::VmRow;

    fn declares<R: Row>(columns: &[&str]) {
        assert!(
            is_ordered_subset(R::COLUMNS, columns),
            "{:?} not in order in {columns:?}",
            R::COLUMNS
        );
    }

    #[test]
    fn every_row_serializes_to_its_columns_and_every_command_declares_them() {
        let tag = TagRow {
            tag: "Leak".into(),
            nonpaged_allocs: 1,
            nonpaged_frees: 2,
            nonpaged_bytes: 3,
            paged_allocs: 4,
            paged_frees: 5,
            paged_bytes: 6,
            binary: Some("x.sys".into()),
            description: None,
            tag_source: None,
            image_candidates: Some(Some(vec![ImageCandidate {
                module: "x.sys".into(),
                hits: 1,
            }])),
        };
        check_columns(&tag).unwrap();
        check_columns(&TagRow {
            image_candidates: None,
            ..tag.clone()
        })
        .unwrap();
        let driver = DriverRow {
            driver: "x.sys".into(),
            nonpaged_allocs: 1,
            nonpaged_frees: 0,
            nonpaged_bytes: 2,
            paged_allocs: 0,
            paged_frees: 0,
            paged_bytes: 0,
            tags: vec!["Leak".into()],
            attribution: "pooltag".into(),
        };
        check_columns(&driver).unwrap();
        let cols = crate::poolused::columns();
        declares::<TagRow>(cols);
        declares::<DriverRow>(cols);
        assert_eq!(cols.len(), 14, "{cols:?}");
        assert_eq!(cols[..2], ["tag", "driver"]);

        let block = BlockRow {
            address: 0x1000,
            size: 0x20,
            previous_size: 0x10,
            state: BlockState::Free,
            tag: "Leak".into(),
            pool_type: None,
            contains_address: false,
            error: Some(None),
            kind: Some("vs"),
        };
        check_columns(&block).unwrap();
        check_columns(&BlockRow {
            error: None,
            kind: None,
            ..block.clone()
        })
        .unwrap();
        let run = RunRow {
            address: 0x1000,
            size: 0x1000,
            state: "busy",
            region: "paged",
        };
        check_columns(&run).unwrap();
        declares::<BlockRow>(crate::pool::columns());
        declares::<RunRow>(crate::pool::columns());

        let found = FoundRow {
            address: 1,
            size: 2,
            tag: "Leak".into(),
            pool_type: Some("NonPagedPool"),
            state: BlockState::Allocated,
            source: "scan",
            kind: Some("lfh"),
        };
        check_columns(&found).unwrap();
        assert_eq!(crate::poolfind::columns(), FoundRow::COLUMNS);

        let frag = FragRow {
            index: 1,
            block_size: 32,
            fragments: 1,
            bytes: 32,
            allocator: Allocator::Lfh,
        };
        check_columns(&frag).unwrap();
        check_columns(&FragRow {
            allocator: Allocator::FreeList,
            ..frag
        })
        .unwrap();
        assert_eq!(crate::frag::columns(), FragRow::COLUMNS);

        check_columns(&VmRow::default()).unwrap();
        assert_eq!(crate::vm::columns(), VmRow::COLUMNS);
    }

    /// The JSON a row makes is what the commands wrote by hand before the rows were typed.
    #[test]
    fn rows_serialize_as_the_contract_says() {
        let block = BlockRow {
            address: 0xfffffa80_00001000,
            size: 0x20,
            previous_size: 0,
            state: BlockState::Allocated,
            tag: "Leak".into(),
            pool_type: Some("NonPagedPool"),
            contains_address: true,
            error: None,
            kind: None,
        };
        assert_eq!(
            serde_json::to_value(&block).unwrap(),
            serde_json::json!({"address": "0xfffffa8000001000", "size": 32, "previous_size": 0,
                "state": "allocated", "tag": "Leak", "pool_type": "NonPagedPool",
                "contains_address": true})
        );
        let with_error = BlockRow {
            error: Some(None),
            state: BlockState::Free,
            pool_type: None,
            ..block
        };
        let v = serde_json::to_value(&with_error).unwrap();
        assert!(v["error"].is_null() && v.get("error").is_some());
        assert_eq!(v["state"], "free");
        let frag = FragRow {
            index: 3,
            block_size: 64,
            fragments: 2,
            bytes: 128,
            allocator: Allocator::FreeList,
        };
        assert_eq!(
            serde_json::to_value(frag).unwrap(),
            serde_json::json!({"index": 3, "block_size": 64, "fragments": 2, "bytes": 128})
        );
        assert_eq!(
            serde_json::to_value(FragRow {
                allocator: Allocator::Vs,
                ..frag
            })
            .unwrap()["allocator"],
            "vs"
        );
    }
}
