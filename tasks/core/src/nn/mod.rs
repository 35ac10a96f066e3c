//! Model parts shared by every encoder, teacher and student: transformer and Conformer blocks.
//!
//! Everything here has a backward pass: candle ops, or the fused kernels of `crate::ops` for
//! LayerNorm and attention's softmax. candle-nn's fused LayerNorm and `softmax_last_dim` have
//! none (gradients through them are silently lost), so they are not used.

mod attention;
mod config;
mod conformer;
mod dropout;
mod layer_norm;
mod mask;
mod rotary;
mod stack;
mod transformer;

pub use attention::{AttentionOutput, MultiHeadAttention};
pub use config::{EncoderConfig, EncoderKind, DEFAULT_CONV_KERNEL};
pub use conformer::{ConformerBlock, ConformerDims, ConformerStack, ConvModule};
pub use dropout::{dropout, dropout_add};
pub use layer_norm::LayerNorm;
pub use mask::{key_padding_bias, length_mask, sinusoidal_positions};
pub use rotary::Rotary;
pub use stack::EncoderStack;
pub use transformer::{FeedForward, TransformerBlock, TransformerStack};
