//! Shapes, masks and gradient flow of every model (guards against candle ops that silently
//! have no backward).

use std::sync::Arc;

use asr::task::{AsrExample, AsrTask};
use asr::Utterance;
use candle_core::{Device, Result, Tensor};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::EncoderKind;
use ctc_core::train::Trainable;
use ctc_core::vocab::Vocab;
use ctc_core::{EncoderConfig, Fwd, Rng, Task};
use oracle::{AntiCopy, OracleConfig, OracleTeacher};
use scene_text::normalize::{WordImage, HEIGHT};
use scene_text::task::{StrExample, StrTask};
use toy::{ToyConfig, ToyTask};

fn enc() -> EncoderConfig {
    enc_of(EncoderKind::Transformer)
}

fn enc_of(kind: EncoderKind) -> EncoderConfig {
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

/// One backward pass of `model`'s training loss on a batch of `task`; every variable must get
/// a non-zero gradient.
fn assert_all_grads<T: Task, M: Trainable>(
    task: &T,
    items: &[(usize, &T::Example)],
    model: &M,
    store: &ParamStore,
) -> Result<()> {
    let batch = task.collate(items, true, &mut Rng::new(1), &Device::Cpu)?;
    let loss = model.loss(&batch, &mut Fwd::train(Rng::new(2)))?.total;
    let grads = loss.backward()?;
    for (name, var) in store.vars() {
        let g = grads.get(var.as_tensor());
        let norm = match g {
            Some(g) => g.sqr()?.sum_all()?.to_scalar::<f32>()?,
            None => 0.0,
        };
        assert!(norm > 0.0, "{} gets no gradient ({})", name, task.name());
    }
    Ok(())
}

fn toy() -> Result<(ToyTask, Vec<toy::ToyExample>)> {
    let (t, s) = ToyTask::generate(&ToyConfig {
        n_train: 4,
        ..Default::default()
    })?;
    Ok((t, s.train))
}

const KINDS: [EncoderKind; 2] = [EncoderKind::Transformer, EncoderKind::Conformer];

#[test]
fn every_var_gets_a_gradient_toy_models_and_all_oracle_strategies() -> Result<()> {
    for kind in KINDS {
        toy_models_get_gradients(kind)?;
    }
    Ok(())
}

fn toy_models_get_gradients(kind: EncoderKind) -> Result<()> {
    let enc = || enc_of(kind);
    let (task, ex) = toy()?;
    let items: Vec<(usize, &_)> = ex.iter().enumerate().collect();
    let store = ParamStore::new(0);
    let m = CtcModel::new(&task, &enc(), store.vb(&Device::Cpu))?;
    assert_all_grads(&task, &items, &m, &store)?;
    for s in [
        "structural",
        "no-label-position",
        "random-expansion",
        "label-masking",
    ] {
        let store = ParamStore::new(0);
        let cfg = OracleConfig {
            encoder: enc(),
            fusion_layers: 2,
            anti_copy: AntiCopy::from_name(s).unwrap(),
            label_positions: None,
            scale_embeddings: false,
        };
        let o = OracleTeacher::new(&task, &cfg, store.vb(&Device::Cpu))?;
        // Label masking at p = 0.3 on 4 short examples may mask nothing, which leaves the mask
        // embedding untouched, and random expansion always uses blank: check the rest.
        let batch = task.collate(&items, true, &mut Rng::new(1), &Device::Cpu)?;
        let loss = o.loss(&batch, &mut Fwd::train(Rng::new(2)))?.total;
        let grads = loss.backward()?;
        for (name, var) in store.vars() {
            let g = grads.get(var.as_tensor()).map(|g| {
                g.sqr()
                    .and_then(|x| x.sum_all())
                    .and_then(|x| x.to_scalar::<f32>())
            });
            let norm = g.transpose()?.unwrap_or(0.0);
            // The embedding table only gets gradient on the rows it used; it is one Var.
            assert!(norm > 0.0, "{s} {kind:?}: {name} gets no gradient");
        }
    }
    Ok(())
}

#[test]
fn every_var_gets_a_gradient_speech_and_word_image_encoders() -> Result<()> {
    for kind in KINDS {
        real_encoders_get_gradients(kind)?;
    }
    Ok(())
}

fn real_encoders_get_gradients(kind: EncoderKind) -> Result<()> {
    let enc = || enc_of(kind);
    let mut rng = Rng::new(4);
    let asr = AsrTask::new(Vocab::chars("abc ").unwrap(), 80, Some(Default::default()));
    let ex: Vec<AsrExample> = [120usize, 97]
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
    let items: Vec<(usize, &AsrExample)> = ex.iter().enumerate().collect();
    let store = ParamStore::new(0);
    let m = CtcModel::new(&asr, &enc(), store.vb(&Device::Cpu))?;
    assert_all_grads(&asr, &items, &m, &store)?;
    // Lengths under padding: the shorter utterance's frames follow the 4x subsampling.
    let batch = asr.collate(&items, false, &mut rng, &Device::Cpu)?;
    let out = m.forward(&batch.src, &batch.src_lens, &mut Fwd::eval())?;
    assert_eq!(out.enc.lens, vec![30, 25]);
    assert_eq!(out.logits.dims(), &[2, 30, 5]);

    let st = StrTask::new(Vocab::chars("abc").unwrap());
    let ex: Vec<StrExample> = [64usize, 40]
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
    let items: Vec<(usize, &StrExample)> = ex.iter().enumerate().collect();
    let store = ParamStore::new(0);
    let m = CtcModel::new(&st, &enc(), store.vb(&Device::Cpu))?;
    assert_all_grads(&st, &items, &m, &store)?;
    let batch = st.collate(&items, false, &mut rng, &Device::Cpu)?;
    let out = m.forward(&batch.src, &batch.src_lens, &mut Fwd::eval())?;
    assert_eq!(out.enc.lens, vec![16, 10]);
    Ok(())
}

#[test]
fn padded_labels_get_zero_cross_attention() -> Result<()> {
    let (task, ex) = toy()?;
    let store = ParamStore::new(0);
    let cfg = OracleConfig {
        encoder: enc(),
        fusion_layers: 1,
        anti_copy: AntiCopy::Structural,
        label_positions: None,
        scale_embeddings: false,
    };
    let o = OracleTeacher::new(&task, &cfg, store.vb(&Device::Cpu))?;
    let items: Vec<(usize, &_)> = ex.iter().take(2).enumerate().collect();
    let batch = task.collate(&items, false, &mut Rng::new(0), &Device::Cpu)?;
    let labels = vec![vec![1, 2, 3, 4, 5], vec![2, 1]];
    let out = o.forward(&batch.src, &batch.src_lens, &labels, &mut Fwd::eval())?;
    let w = &out.cross_attn[0]; // (B, heads, T, U)
    assert_eq!(w.dim(3)?, 5);
    let padded = w
        .get(1)?
        .narrow(2, 2, 3)?
        .abs()?
        .max_all()?
        .to_scalar::<f32>()?;
    assert_eq!(padded, 0.0);
    let rows = w.get(1)?.narrow(2, 0, 2)?.sum(2)?;
    let ones = Tensor::ones_like(&rows)?;
    assert!((rows - ones)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-5);
    Ok(())
}

/// Without label positions the fusion sees the labels as a set: permuting an example's label
/// input leaves the oracle's output unchanged (attention is permutation invariant over its
/// keys), so it cannot read the order off its input; with positions it can.
#[test]
fn no_label_position_oracle_is_invariant_to_permuting_its_labels() -> Result<()> {
    let (task, ex) = toy()?;
    let items: Vec<(usize, &_)> = ex.iter().take(2).enumerate().collect();
    let batch = task.collate(&items, false, &mut Rng::new(0), &Device::Cpu)?;
    let labels = vec![vec![1, 2, 3, 4, 5], vec![2, 1, 3]];
    let permuted = vec![vec![4, 1, 5, 3, 2], vec![3, 2, 1]];
    let max_diff = |strategy: AntiCopy| -> Result<f32> {
        let store = ParamStore::new(0);
        let cfg = OracleConfig {
            encoder: enc(),
            fusion_layers: 2,
            anti_copy: strategy,
            label_positions: None,
            scale_embeddings: false,
        };
        let o = OracleTeacher::new(&task, &cfg, store.vb(&Device::Cpu))?;
        let a = o.forward(&batch.src, &batch.src_lens, &labels, &mut Fwd::eval())?;
        let b = o.forward(&batch.src, &batch.src_lens, &permuted, &mut Fwd::eval())?;
        (a.logits - b.logits)?.abs()?.max_all()?.to_scalar::<f32>()
    };
    let without = max_diff(AntiCopy::NoLabelPosition)?;
    assert!(
        without < 1e-5,
        "no-label-position: outputs moved by {without}"
    );
    let with = max_diff(AntiCopy::Structural)?;
    assert!(
        with > 1e-3,
        "structural (label positions on): outputs moved only by {with}"
    );
    Ok(())
}
