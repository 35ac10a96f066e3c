//! Speech recognition task: audio decoding, log-mel features, SpecAugment, corpus loading
//! (TSV manifests, LibriSpeech layout, Lhotse and NeMo manifests) and the embedded synthetic
//! espeak-ng corpus.

pub mod audio;
pub mod augment;
pub mod corpus;
pub mod drascula;
pub mod encoder;
pub mod error;
pub mod espeak;
pub mod features;
pub mod manifest;
pub mod normalize;
pub mod source;
pub mod specaug;
pub mod synth;
pub mod task;
pub mod text;

pub use augment::{AugmentConfig, AugmentReport};
pub use corpus::{load_manifest_corpus, SkipReport, Utterance};
pub use error::AsrError;
pub use features::{CmvnMode, Fbank, FeatureConfig, MelScale};
pub use manifest::check_transcript;
pub use normalize::{Letters, OutsideChars, TextNorm, ENGLISH_CHARS};
pub use source::{load_split, SourceConfig, SourceKind};
pub use specaug::SpecAugConfig;
pub use synth::{synth_corpus, synth_split_audio, SynthAudio, SynthConfig, SynthCorpus};

#[cfg(test)]
mod tests;
