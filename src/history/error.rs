//! Errors from reading and validating histories.
use std::fmt;
use std::path::{Path, PathBuf};

/// Where an op sits: by id when it has a readable one, else by position in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpLoc {
    /// The op's `id`.
    Id(u64),
    /// The op's 0-based position in `ops` (its id is missing or unreadable).
    Index(usize),
}

impl fmt::Display for OpLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpLoc::Id(id) => write!(f, "op id {id}"),
            OpLoc::Index(i) => write!(f, "op at index {i} of \"ops\""),
        }
    }
}

/// Where something starts in a file: 1-based line, and 1-based column in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in bytes from the start of the line.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text`.
    pub fn of_offset(text: &[u8], offset: usize) -> Position {
        let before = &text[..offset.min(text.len())];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Position {
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: 1 + before.len() - line_start,
        }
    }
}

/// ` (line L, column C)` when the position is known, else nothing.
fn located(p: &Option<Position>) -> String {
    match p {
        Some(p) => format!(" (line {}, column {})", p.line, p.column),
        None => String::new(),
    }
}

/// Why a history could not be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum HistoryError {
    /// The file could not be read.
    #[error("{}: cannot read: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// An error inside a file.
    #[error("{}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        error: Box<HistoryError>,
    },
    /// Not JSON (empty, truncated, binary or malformed).
    #[error("not valid JSON: {message}")]
    Json {
        /// serde_json's message.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A JSON object has the same key twice (which of the two a reader keeps is not defined).
    #[error("key {key:?} appears twice in one object (line {line}, column {column})")]
    DuplicateKey {
        /// The key.
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Something in the file does not fit in the memory left (a string, or the list of ops):
    /// reading stops here rather than aborting the process.
    #[error("out of memory: {what} (line {line}, column {column})")]
    OutOfMemory {
        /// What did not fit.
        what: String,
        /// 1-based line where reading stopped.
        line: usize,
        /// 1-based column where reading stopped.
        column: usize,
    },
    /// A top-level problem: not an object, wrong or missing `format`, `ops` not an array.
    #[error("{0}")]
    TopLevel(String),
    /// A required field is missing.
    #[error("{op}{}: missing field `{field}`", located(at))]
    MissingField {
        /// The op.
        op: OpLoc,
        /// The field.
        field: &'static str,
        /// Where the op starts in the file, when read from one.
        at: Option<Position>,
    },
    /// A field has the wrong type or value.
    #[error("{op}{}: field `{field}`: {reason}", located(at))]
    BadField {
        /// The op.
        op: OpLoc,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
        /// Where the op starts in the file, when read from one.
        at: Option<Position>,
    },
    /// Two ops share an id.
    #[error(
        "op id {id} appears twice (ops at index {first} and {second}){}",
        located(at)
    )]
    DuplicateId {
        /// The id.
        id: u64,
        /// Position of the first op.
        first: usize,
        /// Position of the second op.
        second: usize,
        /// Where the second op starts in the file, when read from one.
        at: Option<Position>,
    },
    /// `complete < invoke`.
    #[error(
        "op id {id}{}: field `complete`: {complete} is before invoke {invoke}",
        located(at)
    )]
    CompleteBeforeInvoke {
        /// The op.
        id: u64,
        /// Its invoke time.
        invoke: u64,
        /// Its complete time.
        complete: u64,
        /// Where the op starts in the file, when read from one.
        at: Option<Position>,
    },
    /// A client had two ops in flight at once.
    #[error("op id {second}{}: client {client} invoked it at {invoke} while op id {first} was still in flight{}", located(at), match until { Some(t) => format!(" (until {t})"), None => " (never completed)".to_string() })]
    ClientOverlap {
        /// The client.
        client: u64,
        /// The op in flight.
        first: u64,
        /// When the op in flight completed (None: never).
        until: Option<u64>,
        /// The op invoked too early.
        second: u64,
        /// Its invoke time.
        invoke: u64,
        /// Where the op invoked too early starts in the file, when read from one.
        at: Option<Position>,
    },
    /// A model does not support an op kind (e.g. append on a cas-register).
    #[error("op id {id}: kind `{kind}` is not supported by the {model} model")]
    Unsupported {
        /// The op.
        id: u64,
        /// Its kind.
        kind: &'static str,
        /// The model.
        model: &'static str,
    },
    /// A malformed Jepsen EDN history.
    #[error("EDN: {message} (line {line}, column {column})")]
    Edn {
        /// What is wrong.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl HistoryError {
    /// Where the op this error is about starts in the file, for the errors about one op.
    pub fn position(&self) -> Option<Position> {
        match self {
            HistoryError::MissingField { at, .. }
            | HistoryError::BadField { at, .. }
            | HistoryError::DuplicateId { at, .. }
            | HistoryError::CompleteBeforeInvoke { at, .. }
            | HistoryError::ClientOverlap { at, .. } => *at,
            _ => None,
        }
    }

    /// Sets where the op this error is about starts (for the errors about one op).
    pub(crate) fn set_position(&mut self, p: Position) {
        if let HistoryError::MissingField { at, .. }
        | HistoryError::BadField { at, .. }
        | HistoryError::DuplicateId { at, .. }
        | HistoryError::CompleteBeforeInvoke { at, .. }
        | HistoryError::ClientOverlap { at, .. } = self
        {
            *at = Some(p);
        }
    }

    /// Attaches the file name (once).
    pub fn in_file(self, path: &Path) -> HistoryError {
        match self {
            e @ (HistoryError::Io { .. } | HistoryError::File { .. }) => e,
            e => HistoryError::File {
                path: path.to_path_buf(),
                error: Box::new(e),
            },
        }
    }
}
