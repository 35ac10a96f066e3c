//! Fused CPU kernels with their own backward pass, each with a composite fallback built from
//! candle ops for other devices. Every kernel is tested against the composite ops it replaces
//! (values and gradients) and against finite differences.

#[cfg(test)]
mod check;
pub mod conv;
mod conv_op;
mod depthwise;
pub mod dropout;
mod gates;
#[cfg(test)]
pub(crate) mod grad_check;
mod layer_norm;
pub mod linear;
pub mod pool;
mod rope;
mod rows;
mod softmax;
mod storage;
pub mod unfold;

pub use conv::{Conv2dNhwc, TimeConv1d};
pub use depthwise::{depthwise_conv_time, depthwise_conv_time_composite};
pub use dropout::{dropout, dropout_add, DropoutMask};
pub use gates::{bias_silu, bias_silu_composite, glu, glu_composite};
pub use layer_norm::{layer_norm, layer_norm_composite};
pub use linear::{bias_add, bias_relu, linear, Linear};
pub use pool::max_pool2d_nhwc;
pub use rope::{rope, rope_composite};
pub use softmax::{softmax_scaled_biased, softmax_scaled_biased_composite};
pub use unfold::unfold_nhwc;
