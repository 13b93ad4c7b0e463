//! Where a [`Session`](crate::Session) reports progress: a symbol server's PDB download, the
//! symbol phase of opening, and the pool commands' `Target::progress` (scans report how far they
//! are). The library draws nothing itself; the pooldbg binary plugs its terminal bar in here, a
//! notebook could plug a widget in.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use pooldbg_engine::progress::{Progress, ProgressHandle};
//!
//! #[derive(Debug, Default)]
//! struct Count(AtomicU64);
//! impl Progress for Count {
//!     fn report(&self, done: u64, _total: u64, _label: &str) {
//!         self.0.fetch_max(done, Ordering::Relaxed);
//!     }
//! }
//! let count = Arc::new(Count::default());
//! let handle = ProgressHandle::new(count.clone());
//! handle.report(7, 10, "scanning");
//! assert_eq!(count.0.load(Ordering::Relaxed), 7);
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A progress sink. Callable from any thread: a parallel scan's workers report out of order.
pub trait Progress: Send + Sync {
    /// `done` of `total` units (`total` 0: unknown) of the work named `label`.
    fn report(&self, done: u64, total: u64, label: &str);

    /// A phase named `label` starts (e.g. `symbols` while a symbol server may be asked); it ends
    /// when the returned guard is dropped. The default has no display: `None`.
    fn phase(&self, label: &str) -> Option<Box<dyn Any>> {
        let _ = label;
        None
    }
}

/// A shared [`Progress`] sink, as [`SessionOptions::progress`](crate::SessionOptions::progress)
/// holds it (cloned cheaply; `Debug` says only that one is there).
#[derive(Clone)]
pub struct ProgressHandle(Arc<dyn Progress>);

impl ProgressHandle {
    /// Wraps a sink.
    pub fn new(sink: Arc<dyn Progress>) -> Self {
        ProgressHandle(sink)
    }

    /// Forwards to [`Progress::report`].
    pub fn report(&self, done: u64, total: u64, label: &str) {
        self.0.report(done, total, label);
    }

    /// Forwards to [`Progress::phase`].
    pub fn phase(&self, label: &str) -> Option<Box<dyn Any>> {
        self.0.phase(label)
    }
}

impl fmt::Debug for ProgressHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressHandle(..)")
    }
}
