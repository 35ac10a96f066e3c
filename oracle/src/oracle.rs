//! The Oracle Teacher: a CTC model that sees the source and the target labels.

use candle_core::{Result, Tensor};
use candle_nn::{Embedding, Module, VarBuilder};
use ctc_core::nn::{key_padding_bias, sinusoidal_positions};
use ctc_core::ops::{linear, Linear};
use ctc_core::task::pad_labels;
use ctc_core::{Encoded, EncoderConfig, Fwd, SourceEncoder, Task};
use serde::{Deserialize, Serialize};

use crate::anti_copy::AntiCopy;
use crate::fusion::FusionBlock;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleConfig {
    pub encoder: EncoderConfig,
    #[serde(default = "one")]
    pub fusion_layers: usize,
    #[serde(default)]
    pub anti_copy: AntiCopy,
    /// Encode label positions; `None` takes the strategy's default.
    #[serde(default)]
    pub label_positions: Option<bool>,
    /// Multiply label embeddings by sqrt(d). The prototype in method.md found this detail decided
    /// whether the oracle learned at all, so it is a switch (default off: unit scale).
    #[serde(default)]
    pub scale_embeddings: bool,
}

fn one() -> usize {
    1
}

impl OracleConfig {
    pub fn uses_label_positions(&self) -> bool {
        self.label_positions
            .unwrap_or_else(|| self.anti_copy.default_label_positions())
    }
}

pub struct OracleTeacher {
    pub encoder: Box<dyn SourceEncoder>,
    embed: Embedding,
    fusion: Vec<FusionBlock>,
    head: Linear,
    pub cfg: OracleConfig,
    /// Id of the mask token used by label masking: one past the CTC alphabet.
    pub mask_token: u32,
}

pub struct OracleForward {
    /// (B, T, V') unnormalised scores.
    pub logits: Tensor,
    /// The source encoder's output (before fusion).
    pub enc: Encoded,
    /// Cross-attention weights per fusion block, (B, heads, T, U).
    pub cross_attn: Vec<Tensor>,
    /// Each fusion block's output (B, T, d): the label-informed hidden states; filled only
    /// when `Fwd::collect` is set.
    pub fused: Vec<Tensor>,
}

impl OracleTeacher {
    pub fn new<T: Task>(task: &T, cfg: &OracleConfig, vb: VarBuilder) -> Result<Self> {
        let v = task.vocab().size();
        let d = cfg.encoder.d_model;
        let encoder = task.encoder(&cfg.encoder, vb.pp("encoder"))?;
        // Ids: 0 = blank (appears in random expansions), 1..V'-1 labels, V' = mask token.
        let embed = candle_nn::embedding(v + 1, d, vb.pp("label_embed"))?;
        let fusion = (0..cfg.fusion_layers)
            .map(|i| {
                let e = &cfg.encoder;
                FusionBlock::new(d, e.heads, e.d_ff, e.dropout, vb.pp(format!("fusion{i}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let head = linear(d, v, vb.pp("head"))?;
        Ok(Self {
            encoder,
            embed,
            fusion,
            head,
            cfg: cfg.clone(),
            mask_token: v as u32,
        })
    }

    /// Embed label sequences: (B, U, d) and the (B, 1, 1, U) padding bias.
    fn embed_labels(
        &self,
        labels: &[Vec<u32>],
        dev: &candle_core::Device,
    ) -> Result<(Tensor, Tensor)> {
        let ids = pad_labels(labels, dev)?;
        let (_, u) = ids.dims2()?;
        let mut e = self.embed.forward(&ids)?;
        let d = self.cfg.encoder.d_model;
        if self.cfg.scale_embeddings {
            e = (e * (d as f64).sqrt())?;
        }
        if self.cfg.uses_label_positions() {
            e = e.broadcast_add(&sinusoidal_positions(u, d, dev)?)?;
        }
        let lens: Vec<usize> = labels.iter().map(|l| l.len()).collect();
        Ok((e, key_padding_bias(&lens, u, dev)?))
    }

    /// `labels`: the label input per example (the targets, or the strategy's training input).
    pub fn forward(
        &self,
        src: &Tensor,
        src_lens: &[usize],
        labels: &[Vec<u32>],
        fwd: &mut Fwd,
    ) -> Result<OracleForward> {
        let enc = self.encoder.forward(src, src_lens, fwd)?;
        let (e, bias) = self.embed_labels(labels, src.device())?;
        let mut z = enc.frames.clone();
        let mut cross_attn = Vec::new();
        let mut fused = Vec::new();
        for block in &self.fusion {
            let (y, w) = block.forward(&z, &e, &bias, fwd)?;
            z = y;
            cross_attn.push(w);
            if fwd.collect {
                fused.push(z.clone());
            }
        }
        let logits = self.head.forward(&z)?;
        Ok(OracleForward {
            logits,
            enc,
            cross_attn,
            fused,
        })
    }

    /// The strategy's label input for a training batch.
    pub fn training_labels(
        &self,
        targets: &[Vec<u32>],
        frames: &[usize],
        rng: &mut ctc_core::Rng,
    ) -> Vec<Vec<u32>> {
        targets
            .iter()
            .zip(frames)
            .map(|(y, &t)| {
                self.cfg
                    .anti_copy
                    .training_input(y, t, self.mask_token, rng)
            })
            .collect()
    }
}
