//! Length masks and positional encodings.

use candle_core::{Device, Result, Tensor};

/// (B, T) f32 mask, 1 for valid frames and 0 for padding.
pub fn length_mask(lens: &[usize], t: usize, dev: &Device) -> Result<Tensor> {
    let mut m = vec![0f32; lens.len() * t];
    for (b, &l) in lens.iter().enumerate() {
        for v in &mut m[b * t..b * t + l.min(t)] {
            *v = 1.0;
        }
    }
    Tensor::from_vec(m, (lens.len(), t), dev)
}

/// (B, 1, 1, T) additive attention bias: 0 for valid keys, a large negative value for padding.
/// A finite value (not -inf) keeps rows whose keys are all padding free of NaN.
pub fn key_padding_bias(lens: &[usize], t: usize, dev: &Device) -> Result<Tensor> {
    let m = length_mask(lens, t, dev)?;
    ((m - 1.0)? * 1e9)?.reshape((lens.len(), 1, 1, t))
}

/// (T, d) sinusoidal positions (Vaswani et al. 2017).
pub fn sinusoidal_positions(t: usize, d: usize, dev: &Device) -> Result<Tensor> {
    let mut pe = vec![0f32; t * d];
    for pos in 0..t {
        for i in 0..d / 2 {
            let freq = (-(2.0 * i as f64) * (10000f64).ln() / d as f64).exp();
            let a = pos as f64 * freq;
            pe[pos * d + 2 * i] = a.sin() as f32;
            pe[pos * d + 2 * i + 1] = a.cos() as f32;
        }
    }
    Tensor::from_vec(pe, (t, d), dev)
}
