//! Fused CPU kernels with their own backward pass, each with a composite fallback built from
//! candle ops for other devices. Every kernel is tested against the composite ops it replaces
//! (values and gradients) and against finite differences.
