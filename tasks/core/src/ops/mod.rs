//! Fused CPU kernels with their own backward pass, each with a composite fallback built from
//! candle ops for other devices. Every kernel is tested against the composite ops it replaces
//! (values and gradients) and against finite differences.

pub mod conv;
pub mod pool;
pub mod unfold;

pub use conv::{Conv2dNhwc, TimeConv1d};
pub use pool::max_pool2d_nhwc;
pub use unfold::unfold_nhwc;
