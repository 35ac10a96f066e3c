//! Scene-text word recognition task: synthetic word images rendered in many fonts, loaders for
//! real datasets (a TSV folder, or the LMDB layout of deep-text-recognition-benchmark), and the
//! normalisation every image goes through.

pub mod alphabet;
pub mod cache;
pub mod corpus;
pub mod encoder;
pub mod error;
pub mod fonts;
pub mod load;
pub mod normalize;
pub mod render;
pub mod source;
pub mod task;
pub mod words;

pub use alphabet::Alphabet;
pub use corpus::{generate_corpus, FontInfo, RenderConfig, SplitFonts, Splits};
pub use error::{SkipReason, SkipReport, StrError};
pub use load::{decode_image, load_folder, load_lmdb, read_image};
pub use normalize::{NormConfig, WordImage};
pub use render::Distortion;
pub use source::{ImageSource, ImageSourceKind};

#[cfg(test)]
mod tests;
