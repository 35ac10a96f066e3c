//! Small speech and word-image batches with random inputs, and the summed gradient of a
//! sharded step, for the cross-crate tests of models and training steps.
#![allow(dead_code)]

use std::sync::Arc;

use asr::task::{AsrExample, AsrTask};
use asr::Utterance;
use candle_core::{Result, Tensor, Var};
use ctc_core::task::EncoderKind;
use ctc_core::train::step::ShardedStep;
use ctc_core::vocab::Vocab;
use ctc_core::{EncoderConfig, Rng};
use scene_text::normalize::{WordImage, HEIGHT};
use scene_text::task::{StrExample, StrTask};

/// A transformer encoder for the toy task: `d` wide, `layers` deep, 4 heads, no dropout and no
/// convolutional front end.
pub fn toy_encoder(d: usize, layers: usize) -> EncoderConfig {
    EncoderConfig {
        d_model: d,
        layers,
        heads: 4,
        d_ff: 2 * d,
        dropout: 0.0,
        conv_channels: 0,
        kind: Default::default(),
        conv_kernel: None,
    }
}

/// A tiny encoder of `kind` (d 16, 2 layers, kernel 3 for Conformers).
pub fn enc_of(kind: EncoderKind) -> EncoderConfig {
    EncoderConfig {
        d_model: 16,
        layers: 2,
        heads: 2,
        d_ff: 32,
        dropout: 0.1,
        conv_channels: 8,
        kind,
        conv_kernel: (kind == EncoderKind::Conformer).then_some(3),
    }
}

/// A speech task over "abc " with SpecAugment, and one utterance of "ab c" per frame count in
/// `frames` (80 random log-mel bins a frame).
pub fn speech(frames: &[usize], rng: &mut Rng) -> (AsrTask, Vec<AsrExample>) {
    let task = AsrTask::new(Vocab::chars("abc ").unwrap(), 80, Some(Default::default()));
    let ex = frames
        .iter()
        .map(|&n| AsrExample {
            utt: Utterance {
                id: format!("u{n}"),
                text: "ab c".into(),
                feats: Arc::new((0..n * 80).map(|_| rng.normal() as f32).collect()),
                n_frames: n,
                speaker: "s".into(),
            },
            targets: vec![1, 2, 4, 3],
        })
        .collect();
    (task, ex)
}

/// A word-image task over "abc", and one random image of "abc" per width in `widths`.
pub fn word_images(widths: &[usize], rng: &mut Rng) -> (StrTask, Vec<StrExample>) {
    let task = StrTask::new(Vocab::chars("abc").unwrap());
    let ex = widths
        .iter()
        .map(|&w| StrExample {
            image: WordImage {
                text: "abc".into(),
                pixels: Arc::new((0..HEIGHT * w).map(|_| rng.uniform() as f32).collect()),
                width: w,
                source: "test".into(),
            },
            targets: vec![1, 2, 3],
        })
        .collect();
    (task, ex)
}

/// A sharded step's gradient of each of `vars` (the sum over its shards), in order.
pub fn summed(vars: &[(String, Var)], s: &ShardedStep) -> Result<Vec<Tensor>> {
    vars.iter()
        .map(|(n, v)| {
            let mut acc: Option<Tensor> = None;
            for g in &s.grads {
                if let Some(g) = g.get(v.as_tensor()) {
                    acc = Some(match acc {
                        Some(a) => (a + g)?,
                        None => g.clone(),
                    });
                }
            }
            acc.ok_or_else(|| candle_core::Error::Msg(format!("{n}: no gradient")))
        })
        .collect()
}
