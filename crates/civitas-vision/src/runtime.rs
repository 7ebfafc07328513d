//! The inference runtime: ONNX Runtime loaded at run time from the shared
//! library in the PyPI wheel `onnxruntime==1.31.1` (the `ort` crate's own
//! download step cannot run offline). Loaded once per process.

use civitas_base::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The process's ONNX Runtime environment; `ort` keeps only a weak reference, so we hold it.
static INIT: OnceLock<std::result::Result<(PathBuf, ort::environment::Environment), String>> =
    OnceLock::new();

/// Loads `libonnxruntime.so` from `lib_path` once for the whole process.
/// Later calls return the first outcome (a process has one runtime).
pub fn init(lib_path: &Path) -> Result<()> {
    let outcome = INIT.get_or_init(|| {
        if !lib_path.is_file() {
            return Err(format!(
                "ONNX Runtime library not found at {}; run scripts/setup to install it",
                lib_path.display()
            ));
        }
        let builder = ort::init_from(lib_path)
            .map_err(|e| format!("loading ONNX Runtime from {}: {e}", lib_path.display()))?;
        // Line 6 of the brief: nothing leaves the machine. ONNX Runtime's telemetry
        // (ETW on Windows) is on by default in `ort`; switch it off everywhere.
        let env = builder
            .with_name("civitas")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("creating ONNX Runtime environment: {e}"))?;
        Ok((lib_path.to_path_buf(), env))
    });
    match outcome {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::new(ErrorKind::Unavailable, e.clone())),
    }
}

fn environment() -> Result<&'static ort::environment::Environment> {
    match INIT.get() {
        Some(Ok((_, env))) => Ok(env),
        Some(Err(e)) => Err(Error::new(ErrorKind::Unavailable, e.clone())),
        None => Err(Error::internal(
            "ONNX Runtime used before runtime::init was called",
        )),
    }
}

/// How a model session uses the CPU.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Threads inside one operator (ONNX Runtime's intra-op pool). 1 = one core per session.
    pub intra_threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { intra_threads: 1 }
    }
}

fn builder(opts: SessionOptions, what: &str) -> Result<ort::session::builder::SessionBuilder> {
    let fail = |e: &dyn std::fmt::Display| {
        Error::new(ErrorKind::Unavailable, format!("opening model {what}: {e}"))
    };
    ort::session::Session::builder(environment()?)
        .map_err(|e| fail(&e))?
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::All)
        .map_err(|e| fail(&e))?
        .with_intra_threads(opts.intra_threads.max(1))
        .map_err(|e| fail(&e))?
        .with_intra_op_spinning(false)
        .map_err(|e| fail(&e))
}

/// Opens an ONNX model file as a session.
pub fn open_session(model: &Path, opts: SessionOptions) -> Result<ort::session::Session> {
    if !model.is_file() {
        return Err(Error::not_found(format!(
            "model file {} is missing; run scripts/setup to install the models",
            model.display()
        )));
    }
    let what = model.display().to_string();
    builder(opts, &what)?
        .commit_from_file(model)
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("opening model {what}: {e}")))
}

/// Opens a model held in memory (e.g. a patched copy of a verified file).
pub fn open_session_from_memory(
    bytes: &[u8],
    opts: SessionOptions,
    what: &str,
) -> Result<ort::session::Session> {
    builder(opts, what)?
        .commit_from_memory(bytes)
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("opening model {what}: {e}")))
}

/// Maps an `ort` error during inference to ours, naming the model.
pub(crate) fn run_err(model: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("running {model}: {e}"))
}
