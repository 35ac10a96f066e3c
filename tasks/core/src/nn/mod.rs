//! Model parts shared by every encoder, teacher and student.
//!
//! Everything here is built from candle ops that have a backward pass. candle-nn's fused
//! LayerNorm and `softmax_last_dim` do not: gradients through them are silently lost.

mod attention;
mod dropout;
mod layer_norm;
mod mask;
mod transformer;

pub use attention::{AttentionOutput, MultiHeadAttention};
pub use dropout::{dropout, dropout_add};
pub use layer_norm::LayerNorm;
pub use mask::{key_padding_bias, length_mask, sinusoidal_positions};
pub use transformer::{FeedForward, TransformerBlock, TransformerStack};
