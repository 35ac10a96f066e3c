//! Dropout drawing its mask from the run's seeded generator (candle's own dropout uses the
//! unseedable CPU RNG). The fused kernels live in `crate::ops::dropout`; `dropout_add` is
//! `residual + dropout(x)` in one op, for residual connections.

pub use crate::ops::dropout::{dropout, dropout_add};
