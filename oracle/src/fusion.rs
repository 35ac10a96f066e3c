//! The oracle's fusion block: source frames attend to the label embeddings.
//!
//! Query = source frames, so the output keeps one vector per source frame, as CTC needs.
//! Post-LN as in the Transformer decoder's cross-attention: Z = LN(H + A); Z = LN(Z + FFN(Z)).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use ctc_core::nn::{dropout_add, FeedForward, LayerNorm, MultiHeadAttention};
use ctc_core::Fwd;

pub struct FusionBlock {
    cross: MultiHeadAttention,
    ln1: LayerNorm,
    ff: FeedForward,
    ln2: LayerNorm,
    dropout: f64,
}

impl FusionBlock {
    pub fn new(d: usize, heads: usize, d_ff: usize, dropout: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            cross: MultiHeadAttention::new(d, heads, dropout, vb.pp("cross"))?,
            ln1: LayerNorm::new(d, vb.pp("ln1"))?,
            ff: FeedForward::new(d, d_ff, dropout, vb.pp("ff"))?,
            ln2: LayerNorm::new(d, vb.pp("ln2"))?,
            dropout,
        })
    }

    /// `h`: (B, T, d) source frames; `e`: (B, U, d) label embeddings; `label_bias`: (B, 1, 1, U)
    /// additive mask for padded labels. Returns the fused frames and the cross-attention
    /// weights (B, heads, T, U).
    pub fn forward(
        &self,
        h: &Tensor,
        e: &Tensor,
        label_bias: &Tensor,
        fwd: &mut Fwd,
    ) -> Result<(Tensor, Tensor)> {
        let a = self.cross.forward(h, e, Some(label_bias), fwd)?;
        let z = self
            .ln1
            .forward(&dropout_add(h, &a.out, self.dropout, fwd)?)?;
        let f = self.ff.forward(&z, fwd)?;
        let z = self.ln2.forward(&dropout_add(&z, &f, self.dropout, fwd)?)?;
        Ok((z, a.weights))
    }
}
