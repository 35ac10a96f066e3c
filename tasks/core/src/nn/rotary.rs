//! Rotary position embedding (Su et al. 2021, "RoFormer"), the Conformer's relative positions.
//!
//! Each head's query and key at position `t` are rotated, pair of dimensions `(i, i + dh/2)` by
//! the angle `t * 10000^(-2i/dh)`, so the score `q_s . k_t` depends on the positions only
//! through `s - t`: relative by construction, without Transformer-XL's extra `(T, 2T - 1)`
//! position-score matrix, its relative shift copy and its position projection, which on a CPU
//! would double the attention-score work. The rotation is the fused `ops::rope`
//! (`candle_nn::rotary_emb::rope` has no backward pass).

use candle_core::{bail, Device, Result, Tensor};

#[derive(Clone, Debug)]
pub struct Rotary {
    /// `(T, dh/2)` cosines and sines of the angles.
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    /// Tables for positions `0..t` and heads of `head_dim` (even) dimensions.
    pub fn new(t: usize, head_dim: usize, dev: &Device) -> Result<Self> {
        if !head_dim.is_multiple_of(2) {
            bail!("rotary positions need an even head dimension, got {head_dim}")
        }
        let half = head_dim / 2;
        let (mut cos, mut sin) = (vec![0f32; t * half], vec![0f32; t * half]);
        for pos in 0..t {
            for i in 0..half {
                let freq = (-(2.0 * i as f64) * 10000f64.ln() / head_dim as f64).exp();
                let a = pos as f64 * freq;
                cos[pos * half + i] = a.cos() as f32;
                sin[pos * half + i] = a.sin() as f32;
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (t, half), dev)?,
            sin: Tensor::from_vec(sin, (t, half), dev)?,
        })
    }

    /// Rotates `x` `(B, heads, T, dh)` by its positions.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::rope(x, &self.cos, &self.sin)
    }
}
