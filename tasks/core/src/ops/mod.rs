//! Fused CPU kernels with their own backward pass, each with a composite fallback built from
//! candle ops for other devices. Every kernel is tested against the composite ops it replaces
//! (values and gradients) and against finite differences.

pub mod dropout;
pub mod linear;

#[cfg(test)]
pub(crate) mod grad_check;

pub use dropout::{dropout, dropout_add, DropoutMask};
pub use linear::{bias_add, bias_relu, linear, Linear};
