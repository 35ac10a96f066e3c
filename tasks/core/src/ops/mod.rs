//! Fused CPU kernels with their own backward pass, each with a composite fallback built from
//! candle ops for other devices. Every kernel is tested against the composite ops it replaces
//! (values and gradients) and against finite differences.

#[cfg(test)]
mod check;
pub mod dropout;
#[cfg(test)]
pub(crate) mod grad_check;
mod layer_norm;
pub mod linear;
mod rows;
mod softmax;

pub use dropout::{dropout, dropout_add, DropoutMask};
pub use layer_norm::{layer_norm, layer_norm_composite};
pub use linear::{bias_add, bias_relu, linear, Linear};
pub use softmax::{softmax_scaled_biased, softmax_scaled_biased_composite};
