//! Typed errors of the library. Each message names the file, line or port and says what to do.

use std::path::PathBuf;

/// Something wrong with an input file (a recording, a truth file, a sidecar).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: cannot open: {source}. Check the path and that the file is readable.", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: read failed at line {line}: {source}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        source: std::io::Error,
    },
    /// A problem at a known line of the file.
    #[error("{}, line {line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A problem with the file as a whole (no numeric column, no rate, ...).
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
}

/// Something wrong while writing outputs (reports, recordings).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{}: cannot write: {source}. Check free disk space and permissions; files already written are kept.", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot draw the plot: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    /// An output place the user named cannot be used as asked (a folder that already holds a
    /// report or a recording, a file where a folder is needed, a symbolic link): bad input,
    /// exit 2. The message says what to do.
    #[error("{}: {message}", path.display())]
    Refused { path: PathBuf, message: String },
}

impl OutputError {
    /// The user asked for an output place that cannot be used (bad input, not a disk failure).
    /// A full disk, a quota, a file-size limit or a read-only or forbidden place counts too: the
    /// user can act on it (free space, choose another --out), as on bad input.
    pub fn is_input_error(&self) -> bool {
        use std::io::ErrorKind::*;
        match self {
            OutputError::Refused { .. } => true,
            OutputError::Write { source, .. } => matches!(
                source.kind(),
                StorageFull | QuotaExceeded | FileTooLarge | ReadOnlyFilesystem | PermissionDenied
            ),
            OutputError::Plot { .. } => false,
        }
    }

    pub fn refused(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        OutputError::Refused {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OutputError::Write {
            path: path.into(),
            source,
        }
    }
}

/// Why running a recording (or a simulated session) through the pipeline failed: reading the
/// input, writing the outputs, or setting up the simulator.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Simulation(#[from] crate::simulate::SimError),
}

impl RunError {
    /// Bad input (a file that cannot be used, a simulator setting that does not exist), as
    /// opposed to a disk or internal failure.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            RunError::Input(_)
                | RunError::Pipeline(crate::pipeline::PipelineError::Input(_))
                | RunError::Simulation(_)
        ) || matches!(self, RunError::Output(o) if o.is_input_error())
    }
}
