//! Dropout drawing its mask from the run's seeded generator (candle's own dropout uses the
//! unseedable CPU RNG).

use candle_core::{Result, Tensor};

use crate::task::Fwd;

pub fn dropout(x: &Tensor, p: f64, fwd: &mut Fwd) -> Result<Tensor> {
    if !fwd.train || p <= 0.0 {
        return Ok(x.clone());
    }
    let n = x.elem_count();
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..n)
        .map(|_| if fwd.rng.uniform() < p { 0.0 } else { scale })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    x.mul(&mask)
}
