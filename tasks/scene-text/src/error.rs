//! Errors of the word-image pipeline, and the report of examples skipped on request.
//!
//! Every error about user data names the file (and line or key) and the problem, so that a bad
//! dataset fails loudly instead of silently training on filtered labels.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StrError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{at}: {msg}")]
    Format { at: String, msg: String },
    #[error("{at}: cannot decode image: {msg}")]
    Unreadable { at: String, msg: String },
    #[error("{at}: image has zero size ({width}x{height})")]
    EmptyImage { at: String, width: u32, height: u32 },
    #[error("{at}: image of {width}x{height} is too large: {over}")]
    TooLarge {
        at: String,
        width: u32,
        height: u32,
        over: String,
    },
    #[error("{at}: {msg}")]
    BadPath { at: String, msg: String },
    #[error("{at}: label {label:?} has characters outside the alphabet: {}", show_chars(.chars))]
    UnknownChars {
        at: String,
        label: String,
        chars: Vec<char>,
    },
    #[error("{at}: empty label")]
    EmptyLabel { at: String },
    #[error(
        "{at}: label {label:?} needs {needed} CTC frames but the image gives only {frames} \
         (normalised width {width} / 4)"
    )]
    TooLong {
        at: String,
        label: String,
        needed: usize,
        frames: usize,
        width: usize,
    },
    #[error("{at}: missing key {key:?}")]
    MissingKey { at: String, key: String },
    #[error("{at}: LMDB error: {msg}")]
    Lmdb { at: String, msg: String },
    #[error("{0}")]
    Setup(String),
}

fn show_chars(chars: &[char]) -> String {
    chars
        .iter()
        .map(|c| format!("{c:?} (U+{:04X})", *c as u32))
        .collect::<Vec<_>>()
        .join(", ")
}

pub type Result<T> = std::result::Result<T, StrError>;

impl From<StrError> for candle_core::Error {
    fn from(e: StrError) -> Self {
        candle_core::Error::Msg(e.to_string())
    }
}

/// Why an example was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    Unreadable,
    EmptyImage,
    TooLarge,
    BadPath,
    UnknownChars,
    EmptyLabel,
    TooLong,
    MissingKey,
}

impl SkipReason {
    /// The reason of a per-example error; `None` for errors that concern the whole dataset
    /// (an unreadable index file, a broken LMDB), which are never skipped.
    pub fn of(e: &StrError) -> Option<Self> {
        match e {
            StrError::Unreadable { .. } => Some(Self::Unreadable),
            StrError::EmptyImage { .. } => Some(Self::EmptyImage),
            StrError::TooLarge { .. } => Some(Self::TooLarge),
            StrError::BadPath { .. } => Some(Self::BadPath),
            StrError::UnknownChars { .. } => Some(Self::UnknownChars),
            StrError::EmptyLabel { .. } => Some(Self::EmptyLabel),
            StrError::TooLong { .. } => Some(Self::TooLong),
            StrError::MissingKey { .. } => Some(Self::MissingKey),
            StrError::Io { .. } => Some(Self::Unreadable),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable image",
            Self::EmptyImage => "zero-size image",
            Self::TooLarge => "image over the size limits",
            Self::BadPath => "image path outside the index's folder",
            Self::UnknownChars => "characters outside the alphabet",
            Self::EmptyLabel => "empty label",
            Self::TooLong => "label longer than the CTC frames",
            Self::MissingKey => "missing key",
        }
    }
}

/// Counts of skipped examples per reason, with the first few messages to show the user.
#[derive(Debug, Clone, Default)]
pub struct SkipReport {
    pub counts: BTreeMap<SkipReason, usize>,
    pub examples: Vec<String>,
    pub kept: usize,
}

const KEEP_MESSAGES: usize = 5;

impl SkipReport {
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn count(&self, r: SkipReason) -> usize {
        self.counts.get(&r).copied().unwrap_or(0)
    }

    /// Record a per-example error when skipping is allowed; pass dataset-level errors through.
    pub fn skip_or_fail(&mut self, e: StrError, skip_bad: bool) -> Result<()> {
        match SkipReason::of(&e) {
            Some(r) if skip_bad => {
                *self.counts.entry(r).or_default() += 1;
                if self.examples.len() < KEEP_MESSAGES {
                    self.examples.push(e.to_string());
                }
                Ok(())
            }
            _ => Err(e),
        }
    }
}

impl fmt::Display for SkipReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kept {}, skipped {}", self.kept, self.total())?;
        for (r, n) in &self.counts {
            write!(f, "\n  {n:>8}  {}", r.name())?;
        }
        for m in &self.examples {
            write!(f, "\n  e.g. {m}")?;
        }
        Ok(())
    }
}
