//! The error a stage returns, mirroring the WIT `error` variant.

use std::fmt;

use arrow_schema::ArrowError;

/// Why a stage call failed. The host reports it with the stage's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The `config:` block was refused. Say which key and why.
    InvalidConfig(String),
    /// An input batch does not fit the stage: missing column, wrong type, undecodable IPC.
    InvalidInput(String),
    /// Anything else that went wrong while processing.
    Failed(String),
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidConfig`].
    pub fn config(message: impl Into<String>) -> Self {
        Error::InvalidConfig(message.into())
    }

    /// An [`Error::InvalidInput`].
    pub fn input(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }

    /// An [`Error::Failed`].
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed(message.into())
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidConfig(m) | Error::InvalidInput(m) | Error::Failed(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<ArrowError> for Error {
    fn from(error: ArrowError) -> Self {
        Error::Failed(error.to_string())
    }
}
