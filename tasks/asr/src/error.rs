//! One error type for the speech data pipeline. Every variant names the file (and line, where
//! there is one) so a user can find the bad input without a debugger.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("{path}: file not found")]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: empty file")]
    EmptyFile { path: PathBuf },
    #[error("{path}: not a supported audio file (WAV, FLAC, Ogg Vorbis): {detail}")]
    NotAudio { path: PathBuf, detail: String },
    #[error("{path}: truncated audio: {detail}")]
    Truncated { path: PathBuf, detail: String },
    #[error("{path}: audio decode error: {detail}")]
    Decode { path: PathBuf, detail: String },
    #[error("{path}: audio has no samples")]
    NoSamples { path: PathBuf },
    #[error(
        "{path}: audio too short for one feature frame ({samples} samples at 16 kHz, need {need})"
    )]
    TooShort {
        path: PathBuf,
        samples: usize,
        need: usize,
    },
    #[error(
        "{path}: audio is {seconds:.1} s long, more than the limit of {max} s \
         (data.synth.features.max_seconds)"
    )]
    TooLong {
        path: PathBuf,
        seconds: f64,
        max: f64,
    },
    #[error("{path}:{line}: {detail}")]
    BadLine {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("{path}: {detail}")]
    BadTranscript { path: PathBuf, detail: String },
    /// A listing file that cannot be read as a whole (too large, corrupt compression).
    #[error("{path}: {detail}")]
    BadListing { path: PathBuf, detail: String },
    #[error("{path}: no utterances found ({detail})")]
    EmptyCorpus { path: PathBuf, detail: String },
    #[error("invalid config: {0}")]
    Config(String),
    #[error("speech synthesis: {0}")]
    Synth(String),
    #[error("{path}: corpus cache: {detail}")]
    Cache { path: PathBuf, detail: String },
}

impl AsrError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::Missing { path }
        } else {
            Self::Io { path, source }
        }
    }

    /// A short stable name for the kind of problem, used to count skips.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing file",
            Self::Io { .. } => "unreadable file",
            Self::EmptyFile { .. } => "empty file",
            Self::NotAudio { .. } => "not audio",
            Self::Truncated { .. } => "truncated audio",
            Self::Decode { .. } => "decode error",
            Self::NoSamples { .. } => "no samples",
            Self::TooShort { .. } => "too short",
            Self::TooLong { .. } => "too long",
            Self::BadLine { .. } => "bad manifest line",
            Self::BadTranscript { .. } => "bad transcript",
            Self::BadListing { .. } => "bad listing",
            Self::EmptyCorpus { .. } => "empty corpus",
            Self::Config(_) => "config",
            Self::Synth(_) => "synthesis",
            Self::Cache { .. } => "cache",
        }
    }
}

impl From<AsrError> for candle_core::Error {
    fn from(e: AsrError) -> Self {
        candle_core::Error::wrap(e)
    }
}

pub type Result<T> = std::result::Result<T, AsrError>;
