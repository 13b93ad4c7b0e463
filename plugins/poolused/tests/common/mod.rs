//! The test helpers shared with the `!pool` plugin's tests (one file, two test crates).

#[path = "../../../pool/tests/common/mod.rs"]
mod shared;
pub use shared::*;
