//! CTC (blank = 0): the loss as a candle op with its own backward, decoders, and Viterbi
//! forced alignment.

pub mod align;
pub mod decode;
mod kernel;
pub mod loss;
pub mod posterior_stats;

#[cfg(test)]
mod grad_tests;
#[cfg(test)]
mod tests;

pub use align::{forced_align, Alignment};
pub use decode::{collapse, greedy, greedy_batch, prefix_beam_search, prefix_beam_search_batch};
pub use kernel::min_frames;
pub use loss::{ctc_loss, CtcOptions, CtcOutput, Reduction};
pub use posterior_stats::{PosteriorStats, PosteriorTally};
