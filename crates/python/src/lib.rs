//! The Python binding of pooldbg: one class over the host library's entry
//! ([`pooldbg::entry::Analysis`]): open a dump, run a kd command, get the CLI's JSON object as
//! text (the Python side parses it). It adds no analysis of its own; the typed helpers,
//! exceptions and the Dask module are in `python/pooldbg`.

use std::path::PathBuf;

use pooldbg::entry::Analysis;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

/// An open dump (the Python `pooldbg.Dump` wraps it).
#[pyclass(module = "pooldbg._pooldbg", unsendable)]
struct Native {
    analysis: Option<Analysis>,
}

#[pymethods]
impl Native {
    /// Opens `path` with `symbols` (paths, as `--symbols` takes them) and the plugins in
    /// `plugin_dirs`; the GIL is released while the dump is read.
    #[new]
    #[pyo3(signature = (path, symbols, plugin_dirs))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        symbols: Vec<PathBuf>,
        plugin_dirs: Vec<PathBuf>,
    ) -> PyResult<Self> {
        let analysis = py
            .detach(|| Analysis::open(&path, &symbols, &plugin_dirs))
            .map_err(PyOSError::new_err)?;
        Ok(Native {
            analysis: Some(analysis),
        })
    }

    /// Runs one kd command: `(json_text, ok)`, the text being the CLI's `--format json` object.
    fn run(&self, py: Python<'_>, command: &str) -> PyResult<(String, bool)> {
        let a = self.open()?;
        let (v, ok) = py.detach(|| a.run(command));
        Ok((v.to_string(), ok))
    }

    /// The dump's identity as batch writes it (`path`, `build`, `bugcheck_code`), as JSON text.
    fn identity(&self) -> PyResult<String> {
        Ok(self.open()?.identity().to_string())
    }

    /// Closes the dump (its file mapping is released); later calls raise ValueError.
    fn close(&mut self) {
        self.analysis = None;
    }

    /// Is the dump closed?
    #[getter]
    fn closed(&self) -> bool {
        self.analysis.is_none()
    }
}

impl Native {
    fn open(&self) -> PyResult<&Analysis> {
        self.analysis
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("I/O operation on a closed dump"))
    }
}

/// The native module `pooldbg._pooldbg`.
#[pymodule]
fn _pooldbg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Native>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
