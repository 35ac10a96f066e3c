//! Pre-LN transformer blocks shared by the speech and word-image encoders.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::{
    dropout, dropout_add, key_padding_bias, sinusoidal_positions, LayerNorm, MultiHeadAttention,
};
use crate::ops::{linear, Linear};
use crate::task::{Encoded, Fwd};

/// Position-wise feed-forward with ReLU (tanh-GELU cost 20-30 % of a CPU step here), or with
/// Swish (SiLU) as in the Conformer.
#[derive(Clone, Debug)]
pub struct FeedForward {
    up: Linear,
    down: Linear,
    dropout: f64,
    swish: bool,
}

impl FeedForward {
    pub fn new(d: usize, d_ff: usize, dropout: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            up: linear(d, d_ff, vb.pp("up"))?,
            down: linear(d_ff, d, vb.pp("down"))?,
            dropout,
            swish: false,
        })
    }

    /// The same parameters with a Swish activation.
    pub fn new_swish(d: usize, d_ff: usize, dropout: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            swish: true,
            ..Self::new(d, d_ff, dropout, vb)?
        })
    }

    pub fn forward(&self, x: &Tensor, fwd: &mut Fwd) -> Result<Tensor> {
        let h = match self.swish {
            true => self.up.forward_silu(x)?,
            false => self.up.forward_relu(x)?,
        };
        let h = dropout(&h, self.dropout, fwd)?;
        self.down.forward(&h)
    }
}

#[derive(Clone, Debug)]
pub struct TransformerBlock {
    ln1: LayerNorm,
    attn: MultiHeadAttention,
    ln2: LayerNorm,
    ff: FeedForward,
    dropout: f64,
}

impl TransformerBlock {
    pub fn new(d: usize, heads: usize, d_ff: usize, dropout: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            ln1: LayerNorm::new(d, vb.pp("ln1"))?,
            attn: MultiHeadAttention::new(d, heads, dropout, vb.pp("attn"))?,
            ln2: LayerNorm::new(d, vb.pp("ln2"))?,
            ff: FeedForward::new(d, d_ff, dropout, vb.pp("ff"))?,
            dropout,
        })
    }

    /// Returns the block output and its self-attention weights (B, heads, T, T).
    pub fn forward(&self, x: &Tensor, bias: &Tensor, fwd: &mut Fwd) -> Result<(Tensor, Tensor)> {
        let h = self.ln1.forward(x)?;
        let a = self.attn.forward(&h, &h, Some(bias), fwd)?;
        let x = dropout_add(x, &a.out, self.dropout, fwd)?;
        let f = self.ff.forward(&self.ln2.forward(&x)?, fwd)?;
        let x = dropout_add(&x, &f, self.dropout, fwd)?;
        Ok((x, a.weights))
    }
}

/// N blocks and a final LayerNorm; collects per-layer states and maps on request.
#[derive(Clone, Debug)]
pub struct TransformerStack {
    blocks: Vec<TransformerBlock>,
    ln: LayerNorm,
}

impl TransformerStack {
    pub fn new(
        d: usize,
        layers: usize,
        heads: usize,
        d_ff: usize,
        dropout: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let blocks = (0..layers)
            .map(|i| TransformerBlock::new(d, heads, d_ff, dropout, vb.pp(format!("block{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            blocks,
            ln: LayerNorm::new(d, vb.pp("ln"))?,
        })
    }

    /// The tail every source encoder shares: sinusoidal positions added to the front end's
    /// frames `x` (B, T, d), then the blocks; `lens` are the valid frames per example.
    pub fn encode(&self, x: &Tensor, lens: Vec<usize>, fwd: &mut Fwd) -> Result<Encoded> {
        let (_, t, d) = x.dims3()?;
        let x = x.broadcast_add(&sinusoidal_positions(t, d, x.device())?)?;
        let (frames, hidden, attn) = self.forward(&x, &lens, fwd)?;
        Ok(Encoded {
            frames,
            lens,
            hidden,
            attn,
        })
    }

    /// `x`: (B, T, d); returns (output, hidden per layer, attention per layer).
    pub fn forward(
        &self,
        x: &Tensor,
        lens: &[usize],
        fwd: &mut Fwd,
    ) -> Result<(Tensor, Vec<Tensor>, Vec<Tensor>)> {
        let (_, t, _) = x.dims3()?;
        let bias = key_padding_bias(lens, t, x.device())?;
        let mut x = x.clone();
        let (mut hidden, mut attn) = (Vec::new(), Vec::new());
        for block in &self.blocks {
            let (y, w) = block.forward(&x, &bias, fwd)?;
            x = y;
            if fwd.collect {
                hidden.push(x.clone());
                attn.push(w);
            }
        }
        let out = self.ln.forward(&x)?;
        if fwd.collect {
            if let Some(last) = hidden.last_mut() {
                *last = out.clone();
            }
        }
        Ok((out, hidden, attn))
    }
}
