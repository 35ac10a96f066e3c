//! The Oracle Teacher: a CTC model that sees the source and the target labels.

use candle_core::{Result, Tensor};
use candle_nn::{Embedding, Module, VarBuilder};
use ctc_core::nn::{key_padding_bias, length_mask, sinusoidal_positions};
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

/// `LabelContext`'s maps of a label's neighbours into its embedding.
struct LabelContext {
    prev: Linear,
    next: Linear,
}

pub struct OracleTeacher {
    pub encoder: Box<dyn SourceEncoder>,
    embed: Embedding,
    context: Option<LabelContext>,
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
        let encoder = task.encoder(&cfg.encoder, vb.pp("encoder"))?;
        Self::with_encoder(task, cfg, encoder, vb)
    }

    /// The oracle over a given source encoder (of `cfg.encoder`'s width), its own parameters
    /// (label embedding, fusion blocks, head) under `vb`: a joint model whose oracle path shares
    /// the encoder of a source-only model (`student::joint`).
    pub fn with_encoder<T: Task>(
        task: &T,
        cfg: &OracleConfig,
        encoder: Box<dyn SourceEncoder>,
        vb: VarBuilder,
    ) -> Result<Self> {
        let v = task.vocab().size();
        let d = cfg.encoder.d_model;
        // Ids: 0 = blank (appears in random expansions), 1..V'-1 labels, V' = mask token.
        let embed = candle_nn::embedding(v + 1, d, vb.pp("label_embed"))?;
        let fusion = (0..cfg.fusion_layers)
            .map(|i| {
                let e = &cfg.encoder;
                FusionBlock::new(d, e.heads, e.d_ff, e.dropout, vb.pp(format!("fusion{i}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let head = linear(d, v, vb.pp("head"))?;
        let context = if cfg.anti_copy.label_context() {
            let vb = vb.pp("label_context");
            Some(LabelContext {
                prev: linear(d, d, vb.pp("prev"))?,
                next: linear(d, d, vb.pp("next"))?,
            })
        } else {
            None
        };
        Ok(Self {
            encoder,
            embed,
            context,
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
        let lens: Vec<usize> = labels.iter().map(|l| l.len()).collect();
        if let Some(c) = &self.context {
            // Padding is zeroed first so that the last label's "next" is nothing, as the first
            // label's "previous" is.
            let valid = length_mask(&lens, u, dev)?.unsqueeze(2)?;
            let e0 = e.broadcast_mul(&valid)?;
            let (b, _, _) = e0.dims3()?;
            let zero = Tensor::zeros((b, 1, d), e0.dtype(), dev)?;
            let (prev, next) = if u > 1 {
                (
                    Tensor::cat(&[&zero, &e0.narrow(1, 0, u - 1)?], 1)?,
                    Tensor::cat(&[&e0.narrow(1, 1, u - 1)?, &zero], 1)?,
                )
            } else {
                (zero.clone(), zero)
            };
            e = (e0 + c.prev.forward(&prev)? + c.next.forward(&next)?)?;
        }
        if self.cfg.uses_label_positions() {
            e = e.broadcast_add(&sinusoidal_positions(u, d, dev)?)?;
        }
        Ok((e, key_padding_bias(&lens, u, dev)?))
    }

    /// `labels`: the label input per example, exactly as given (training; `infer` applies the
    /// strategy's input for use).
    pub fn forward(
        &self,
        src: &Tensor,
        src_lens: &[usize],
        labels: &[Vec<u32>],
        fwd: &mut Fwd,
    ) -> Result<OracleForward> {
        let enc = self.encoder.forward(src, src_lens, fwd)?;
        let (logits, cross_attn, fused) = self.fuse(&enc.frames, labels, src.device(), fwd)?;
        Ok(OracleForward {
            logits,
            enc,
            cross_attn,
            fused,
        })
    }

    /// The fusion blocks and the head on encoded frames: logits, cross-attention weights and
    /// (when collecting) each block's output.
    pub fn fuse(
        &self,
        frames: &Tensor,
        labels: &[Vec<u32>],
        dev: &candle_core::Device,
        fwd: &mut Fwd,
    ) -> Result<(Tensor, Vec<Tensor>, Vec<Tensor>)> {
        let (e, bias) = self.embed_labels(labels, dev)?;
        let mut z = frames.clone();
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
        Ok((self.head.forward(&z)?, cross_attn, fused))
    }

    /// The strategy's label input for a training batch.
    pub fn training_labels(
        &self,
        targets: &[Vec<u32>],
        frames: &[usize],
        rng: &mut ctc_core::Rng,
    ) -> Vec<Vec<u32>> {
        self.cfg
            .anti_copy
            .training_inputs(targets, frames, self.mask_token, rng)
    }

    /// The oracle in use, told `labels`: fed the input its strategy trained on
    /// (`AntiCopy::inference_inputs`). With several inputs per example (random expansion) the
    /// source is encoded once, each input fused with it, and the logits are the log of the
    /// mean posteriors (the fused hidden states their mean); the cross-attention weights are
    /// the first input's. Everything that scores, diagnoses or distils from an oracle calls this.
    pub fn infer(
        &self,
        src: &Tensor,
        src_lens: &[usize],
        labels: &[Vec<u32>],
        fwd: &mut Fwd,
    ) -> Result<OracleForward> {
        let frames: Vec<usize> = src_lens
            .iter()
            .map(|&l| self.encoder.output_len(l))
            .collect();
        let inputs: Vec<Vec<Vec<u32>>> = labels
            .iter()
            .zip(&frames)
            .map(|(y, &t)| self.cfg.anti_copy.inference_inputs(y, t))
            .collect();
        let k = inputs.first().map_or(1, Vec::len);
        if k == 1 {
            let single: Vec<Vec<u32>> = inputs.into_iter().map(|mut v| v.remove(0)).collect();
            return self.forward(src, src_lens, &single, fwd);
        }
        let enc = self.encoder.forward(src, src_lens, fwd)?;
        let mut probs: Option<Tensor> = None;
        let mut fused_sum: Vec<Tensor> = Vec::new();
        let mut cross_attn = Vec::new();
        for j in 0..k {
            let lab: Vec<Vec<u32>> = inputs.iter().map(|v| v[j].clone()).collect();
            let (logits, attn, fused) = self.fuse(&enc.frames, &lab, src.device(), fwd)?;
            let p = candle_nn::ops::softmax_last_dim(&logits)?;
            probs = Some(match probs {
                None => p,
                Some(acc) => (acc + p)?,
            });
            if j == 0 {
                cross_attn = attn;
                fused_sum = fused;
            } else {
                for (a, f) in fused_sum.iter_mut().zip(fused) {
                    *a = (&*a + f)?;
                }
            }
        }
        let mean = (probs.expect("k > 1") / k as f64)?;
        // Floor before the log: a class no sample gives mass must stay finite for the KL terms.
        let logits = mean.clamp(1e-30f32, 1f32)?.log()?;
        let fused = fused_sum
            .into_iter()
            .map(|f| f / k as f64)
            .collect::<Result<Vec<_>>>()?;
        Ok(OracleForward {
            logits,
            enc,
            cross_attn,
            fused,
        })
    }
}
