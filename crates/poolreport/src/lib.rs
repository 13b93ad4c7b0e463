//! pooldbg's views over command results, not over dumps: the per-driver fold of `!poolused`
//! ([`drivers`]), the diff of two or more `!poolused` results ([`mod@diff`]), and the self-contained
//! HTML report ([`html`]). Everything here is a pure function of the JSON results pooldbg prints
//! (`--format json`, CONTRACT.md "Output"), so the CLI, the batch mode, a Python binding or any other
//! tool can call it with results it holds or has saved.
//!
//! ```
//! use pooldbg_poolreport::{By, PoolUsage, diff};
//! use serde_json::json;
//!
//! let old = json!({"command": "!poolused", "target": {"build": 7601},
//!     "rows": [{"tag": "Leak", "nonpaged_allocs": 2, "nonpaged_frees": 0, "nonpaged_bytes": 0x1000}]});
//! let new = json!({"command": "!poolused", "target": {"build": 7601},
//!     "rows": [{"tag": "Leak", "nonpaged_allocs": 9, "nonpaged_frees": 1, "nonpaged_bytes": 0x4000}]});
//! let d = diff(&[PoolUsage::from_json("old.dmp", &old)?, PoolUsage::from_json("new.dmp", &new)?], By::Tag)?;
//! assert_eq!(d.rows[0].key, "Leak");
//! assert_eq!(d.rows[0].delta.nonpaged_allocs, 6);
//! assert_eq!(d.rows[0].delta.nonpaged_bytes, 0x3000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod diff;
pub mod drivers;
pub mod html;
pub mod input;

pub use diff::{By, Diff, DiffError, DiffRow, Trend, diff};
pub use drivers::{Attribution, DriverRow, UNATTRIBUTED, fold};
pub use input::{Counters, InputError, PoolUsage, TagRow};
