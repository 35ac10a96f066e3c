//! Fused CPU kernels with their own backward pass, each with a composite fallback built from
//! candle ops for other devices. Every kernel is tested against the composite ops it replaces
//! (values and gradients) and against finite differences.

use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(test)]
mod backward_tests;
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
mod matmul;
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
pub use matmul::{cublas_takes, matmul, matmul_portable};
pub use pool::max_pool2d_nhwc;
pub use rope::{rope, rope_composite};
pub use softmax::{softmax_scaled_biased, softmax_scaled_biased_composite};
pub use unfold::unfold_nhwc;

/// Set by `force_composite`: every op takes its composite path.
static COMPOSITE: AtomicBool = AtomicBool::new(false);

/// Make every op, and the optimiser's and gradient code's host-side shortcuts, take the
/// composite path built from candle ops, as they do off the CPU (a GPU): process-wide, for the
/// tests and runs (`experiments --composite`) that check on a CPU the code a GPU runs. The fused
/// kernels stay the default.
pub fn force_composite(on: bool) {
    COMPOSITE.store(on, Ordering::Relaxed);
}

/// Whether the fused CPU kernels may run: not switched off by `force_composite`.
pub fn fused_allowed() -> bool {
    !COMPOSITE.load(Ordering::Relaxed)
}
