//! Multi-head attention that can return its attention weights (attention-map KD needs them).
//! Used for self-attention in encoders and for the oracle's source-to-label cross-attention.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::{dropout, Rotary};
use crate::ops::{linear, Linear};
use crate::task::Fwd;

#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    head_dim: usize,
    dropout: f64,
}

pub struct AttentionOutput {
    /// (B, Tq, d)
    pub out: Tensor,
    /// (B, heads, Tq, Tk) attention weights.
    pub weights: Tensor,
}

impl MultiHeadAttention {
    pub fn new(d: usize, heads: usize, dropout: f64, vb: VarBuilder) -> Result<Self> {
        if heads == 0 || !d.is_multiple_of(heads) {
            candle_core::bail!("d_model {d} is not divisible by {heads} heads");
        }
        Ok(Self {
            q: linear(d, d, vb.pp("q"))?,
            k: linear(d, d, vb.pp("k"))?,
            v: linear(d, d, vb.pp("v"))?,
            o: linear(d, d, vb.pp("o"))?,
            heads,
            head_dim: d / heads,
            dropout,
        })
    }

    fn split(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        x.reshape((b, t, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `bias`: additive (B, 1, 1, Tk) or (B, 1, Tq, Tk) mask, e.g. from `key_padding_bias`.
    pub fn forward(
        &self,
        query: &Tensor,
        kv: &Tensor,
        bias: Option<&Tensor>,
        fwd: &mut Fwd,
    ) -> Result<AttentionOutput> {
        self.attend(query, kv, bias, None, fwd)
    }

    /// Self-attention over `x` with queries and keys rotated by their positions (`rotary`
    /// built for `x`'s length and this module's head size).
    pub fn forward_rotary(
        &self,
        x: &Tensor,
        bias: Option<&Tensor>,
        rotary: &Rotary,
        fwd: &mut Fwd,
    ) -> Result<AttentionOutput> {
        self.attend(x, x, bias, Some(rotary), fwd)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    fn attend(
        &self,
        query: &Tensor,
        kv: &Tensor,
        bias: Option<&Tensor>,
        rotary: Option<&Rotary>,
        fwd: &mut Fwd,
    ) -> Result<AttentionOutput> {
        let (b, tq, d) = query.dims3()?;
        let mut q = self.split(&self.q.forward(query)?)?;
        let mut k = self.split(&self.k.forward(kv)?)?;
        if let Some(r) = rotary {
            q = r.apply(&q)?;
            k = r.apply(&k)?;
        }
        let v = self.split(&self.v.forward(kv)?)?;
        let scale = 1.0 / ((d / self.heads) as f64).sqrt();
        // gemm and cuBLAS both take the transposed view of k as it is; the scale and the mask
        // are applied inside the fused softmax rather than as two more (B, H, Tq, Tk) tensors.
        let scores = crate::ops::matmul(&q, &k.t()?)?;
        let weights = crate::ops::softmax_scaled_biased(&scores, scale, bias)?;
        let attn = dropout(&weights, self.dropout, fwd)?;
        let out = crate::ops::matmul(&attn, &v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, tq, d))?;
        Ok(AttentionOutput {
            out: self.o.forward(&out)?,
            weights,
        })
    }
}
