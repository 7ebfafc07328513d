//! One error type for all layers, with a small gRPC-style [`ErrorKind`].
//!
//! The kind says *whose fault* a failure is (the caller's input, a missing
//! thing, the service itself); the HTTP layer maps it to a status in exactly
//! one function. The message always names the thing that failed (a file, a
//! camera, a field) so an operator can find the fault without a debugger.

use std::fmt;

/// What class of failure happened. Deliberately small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller's input is malformed or violates a rule (bad config, a photo with no face).
    InvalidArgument,
    /// A referenced thing does not exist (file, entry, camera).
    NotFound,
    /// The thing already exists.
    AlreadyExists,
    /// The caller did not prove who it is (no or wrong credentials, token).
    Unauthenticated,
    /// The caller is not allowed to do this.
    PermissionDenied,
    /// The input is larger than the configured limit (an upload, a time window).
    TooLarge,
    /// The caller tried too often (login attempts); waiting helps.
    ResourceExhausted,
    /// The system is not in a state where this is allowed (e.g. expired legal basis).
    FailedPrecondition,
    /// A dependency (model, database, camera) is not reachable right now; retrying may help.
    Unavailable,
    /// The thing existed but was removed (a recording retention deleted).
    Gone,
    /// Stored or received data is corrupt.
    DataLoss,
    /// A bug or an unexpected failure inside Civitas.
    Internal,
}

impl ErrorKind {
    /// Whether the failure is the caller's fault (as opposed to the service's).
    pub fn is_user_fault(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidArgument
                | ErrorKind::NotFound
                | ErrorKind::AlreadyExists
                | ErrorKind::Unauthenticated
                | ErrorKind::PermissionDenied
                | ErrorKind::TooLarge
                | ErrorKind::ResourceExhausted
                | ErrorKind::FailedPrecondition
                | ErrorKind::Gone
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::Gone => "gone",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::TooLarge => "too large",
            ErrorKind::ResourceExhausted => "too many requests",
            ErrorKind::FailedPrecondition => "failed precondition",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::DataLoss => "data loss",
            ErrorKind::Internal => "internal error",
        };
        f.write_str(s)
    }
}

/// The Civitas error: a kind, a message naming what failed, and an optional cause.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct Error {
    kind: ErrorKind,
    msg: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
            source: None,
        }
    }

    pub fn with_source(
        kind: ErrorKind,
        msg: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error {
            kind,
            msg: msg.into(),
            source: Some(source.into()),
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, msg)
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, msg)
    }

    /// A file or folder that could not be read (`msg` names it), keeping the
    /// system's reason as the source.
    pub fn unreadable(msg: impl Into<String>, e: std::io::Error) -> Self {
        Self::with_source(ErrorKind::NotFound, msg, e)
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, msg)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.msg
    }

    /// The message followed by every cause, `: `-separated, for logs and CLI output.
    pub fn chain(&self) -> String {
        let mut out = self.msg.clone();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = self
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a kind and a message naming the failed thing to any error.
pub trait ResultExt<T> {
    fn err_kind(self, kind: ErrorKind, msg: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E> ResultExt<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn err_kind(self, kind: ErrorKind, msg: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::with_source(kind, msg(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_includes_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e: std::result::Result<(), std::io::Error> = Err(io);
        let e = e
            .err_kind(ErrorKind::NotFound, || "reading photo a.jpg".into())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.chain(), "reading photo a.jpg: no such file");
        assert!(e.kind().is_user_fault());
        assert!(!ErrorKind::Internal.is_user_fault());
    }
}
