//! A tiny synthetic recognition task for fast tests and smoke runs.
//!
//! Each label class has a random prototype vector; an example is a sequence of labels, each
//! shown for a few frames as its prototype plus noise, separated by noisy silence. The true
//! frame of every label is known, so spike-timing diagnostics have an exact reference. Because
//! the task is cheap, the copy trap of an oracle with label positions shows within seconds.

use std::sync::Arc;

use candle_core::{Device, Result, Tensor};
use candle_nn::{Module, VarBuilder};
use serde::{Deserialize, Serialize};

use ctc_core::nn::EncoderStack;
use ctc_core::rng::Rng;
use ctc_core::task::{
    pad_frames, Batch, Encoded, EncoderConfig, Fwd, SourceEncoder, Splits, Task, WordMetric,
};
use ctc_core::vocab::Vocab;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToyConfig {
    pub n_train: usize,
    pub n_dev: usize,
    pub n_test: usize,
    pub n_classes: usize,
    pub feat_dim: usize,
    pub min_len: usize,
    pub max_len: usize,
    pub min_dur: usize,
    pub max_dur: usize,
    pub max_gap: usize,
    /// Noise standard deviation relative to the unit-variance prototypes.
    pub noise: f64,
    /// Scale of the class prototypes; 0 makes the source carry no label information at all
    /// (only its length), the setting where an oracle can succeed only by copying.
    pub proto_scale: f64,
    pub seed: u64,
}

impl Default for ToyConfig {
    fn default() -> Self {
        Self {
            n_train: 512,
            n_dev: 64,
            n_test: 64,
            n_classes: 8,
            feat_dim: 16,
            min_len: 2,
            max_len: 6,
            min_dur: 2,
            max_dur: 4,
            max_gap: 3,
            noise: 1.0,
            proto_scale: 1.0,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ToyExample {
    pub text: String,
    pub targets: Vec<u32>,
    pub feats: Arc<Vec<f32>>,
    pub n_frames: usize,
    /// Centre frame of each label's segment: the reference timing for spike diagnostics.
    pub spikes: Vec<usize>,
}

pub struct ToyTask {
    vocab: Vocab,
    pub cfg: ToyConfig,
}

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz";

impl ToyTask {
    pub fn generate(cfg: &ToyConfig) -> Result<(Self, Splits<ToyExample>)> {
        if cfg.n_classes == 0 || cfg.n_classes > ALPHABET.len() {
            candle_core::bail!(
                "toy task: n_classes must be in 1..=26, got {}",
                cfg.n_classes
            );
        }
        let vocab = Vocab::chars(&ALPHABET[..cfg.n_classes]).map_err(candle_core::Error::wrap)?;
        let mut proto_rng = Rng::derive(cfg.seed, u64::MAX);
        let protos: Vec<Vec<f32>> = (0..=cfg.n_classes)
            .map(|_| {
                (0..cfg.feat_dim)
                    .map(|_| (cfg.proto_scale * proto_rng.normal()) as f32)
                    .collect()
            })
            .collect();
        let make = |offset: usize, n: usize| -> Vec<ToyExample> {
            (0..n)
                .map(|i| {
                    example(
                        cfg,
                        &protos,
                        &mut Rng::derive(cfg.seed, (offset + i) as u64),
                    )
                })
                .collect()
        };
        let splits = Splits {
            train: make(0, cfg.n_train),
            dev: make(cfg.n_train, cfg.n_dev),
            test: make(cfg.n_train + cfg.n_dev, cfg.n_test),
        };
        Ok((
            Self {
                vocab,
                cfg: cfg.clone(),
            },
            splits,
        ))
    }
}

/// Prototype 0 is "silence"; prototypes 1..=n are the classes.
fn example(cfg: &ToyConfig, protos: &[Vec<f32>], rng: &mut Rng) -> ToyExample {
    let u = rng.range(cfg.min_len, cfg.max_len);
    let targets: Vec<u32> = (0..u).map(|_| rng.range(1, cfg.n_classes) as u32).collect();
    let mut frames: Vec<usize> = Vec::new();
    let mut spikes = Vec::new();
    let gap = |rng: &mut Rng| rng.range(1, cfg.max_gap.max(1));
    frames.extend(std::iter::repeat_n(0, gap(rng)));
    for &k in &targets {
        let d = rng.range(cfg.min_dur, cfg.max_dur);
        spikes.push(frames.len() + d / 2);
        frames.extend(std::iter::repeat_n(k as usize, d));
        // A gap of at least one frame keeps repeated labels separable, as CTC requires.
        frames.extend(std::iter::repeat_n(0, gap(rng)));
    }
    let mut feats = Vec::with_capacity(frames.len() * cfg.feat_dim);
    for &c in &frames {
        for &p in &protos[c] {
            feats.push(p + (cfg.noise * rng.normal()) as f32);
        }
    }
    let text = targets
        .iter()
        .map(|&k| ALPHABET.as_bytes()[k as usize - 1] as char)
        .collect();
    ToyExample {
        text,
        targets,
        n_frames: frames.len(),
        feats: Arc::new(feats),
        spikes,
    }
}

impl Task for ToyTask {
    type Example = ToyExample;
    const NAME: &'static str = "toy";
    // Each example is one "word" (no spaces): WER is the sequence error rate.
    const WORDS: WordMetric = WordMetric::Wer;
    const ERROR_NAME: &'static str = "CER";

    fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    fn targets<'a>(&self, ex: &'a ToyExample) -> &'a [u32] {
        &ex.targets
    }
    fn text<'a>(&self, ex: &'a ToyExample) -> &'a str {
        &ex.text
    }
    fn source_len(&self, ex: &ToyExample) -> usize {
        ex.n_frames
    }
    fn collate(
        &self,
        items: &[(usize, &ToyExample)],
        _train: bool,
        _rng: &mut Rng,
        dev: &Device,
    ) -> Result<Batch> {
        let frames: Vec<(&[f32], usize)> = items
            .iter()
            .map(|(_, e)| (e.feats.as_slice(), e.n_frames))
            .collect();
        let targets: Vec<Vec<u32>> = items.iter().map(|(_, e)| e.targets.clone()).collect();
        Ok(Batch {
            src: pad_frames(&frames, self.cfg.feat_dim, dev)?,
            src_lens: items.iter().map(|(_, e)| e.n_frames).collect(),
            targets,
            texts: items.iter().map(|(_, e)| e.text.clone()).collect(),
            ids: items.iter().map(|(i, _)| *i).collect(),
            clean_src: None,
        })
    }
    fn encoder(&self, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Box<dyn SourceEncoder>> {
        Ok(Box::new(FrameEncoder::new(self.cfg.feat_dim, cfg, vb)?))
    }
    fn error(&self, s: &ctc_core::metrics::Scores) -> f64 {
        s.cer
    }
}

/// Linear projection + the configured blocks (transformer or Conformer), no subsampling.
pub struct FrameEncoder {
    proj: ctc_core::ops::Linear,
    stack: EncoderStack,
    d: usize,
}

impl FrameEncoder {
    pub fn new(feat_dim: usize, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            proj: ctc_core::ops::linear(feat_dim, cfg.d_model, vb.pp("proj"))?,
            stack: EncoderStack::new(cfg, vb.pp("blocks"))?,
            d: cfg.d_model,
        })
    }
}

impl SourceEncoder for FrameEncoder {
    fn forward(&self, src: &Tensor, src_lens: &[usize], fwd: &mut Fwd) -> Result<Encoded> {
        let x = self.proj.forward(src)?;
        self.stack.encode(&x, src_lens.to_vec(), fwd)
    }
    fn output_len(&self, input_len: usize) -> usize {
        input_len
    }
    fn d_model(&self) -> usize {
        self.d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctc_core::ctc::min_frames;
    use ctc_core::params::ParamStore;

    fn encoder(task: &ToyTask) -> Box<dyn SourceEncoder> {
        let cfg = EncoderConfig {
            d_model: 8,
            layers: 1,
            heads: 2,
            d_ff: 16,
            dropout: 0.0,
            conv_channels: 4,
            kind: Default::default(),
            conv_kernel: None,
        };
        task.encoder(&cfg, ParamStore::new(0).vb(&Device::Cpu))
            .unwrap()
    }

    /// The generator has no feasibility check of its own: every example must fit the frames
    /// the built encoder gives it, even with the shortest segments and gaps.
    #[test]
    fn generated_examples_fit_the_encoder_frames() {
        let tight = ToyConfig {
            min_dur: 1,
            max_dur: 1,
            max_gap: 1,
            n_classes: 2,
            ..ToyConfig::default()
        };
        for cfg in [ToyConfig::default(), tight] {
            let (task, splits) = ToyTask::generate(&cfg).unwrap();
            let enc = encoder(&task);
            for ex in splits.train.iter().chain(&splits.dev).chain(&splits.test) {
                assert!(enc.output_len(ex.n_frames) >= min_frames(&ex.targets));
            }
            let items: Vec<(usize, &ToyExample)> = splits.dev.iter().enumerate().collect();
            let batch = task
                .collate(&items, false, &mut Rng::new(0), &Device::Cpu)
                .unwrap();
            let out = enc
                .forward(&batch.src, &batch.src_lens, &mut Fwd::eval())
                .unwrap();
            let want: Vec<usize> = batch.src_lens.iter().map(|&n| enc.output_len(n)).collect();
            assert_eq!(out.lens, want);
            let t_max = batch.src_lens.iter().max().copied().unwrap_or(0);
            assert_eq!(out.frames.dims3().unwrap().1, enc.output_len(t_max));
        }
    }
}
