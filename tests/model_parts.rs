//! Shapes, masks and gradient flow of every model (guards against candle ops that silently
//! have no backward).

#[path = "support/examples.rs"]
mod examples;

use asr::task::AsrExample;
use candle_core::{Device, Result, Tensor};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::EncoderKind;
use ctc_core::train::Trainable;
use ctc_core::{EncoderConfig, Fwd, Rng, Task};
use examples::{enc_of, speech, word_images};
use oracle::{AntiCopy, OracleConfig, OracleTeacher};
use scene_text::task::StrExample;
use toy::{ToyConfig, ToyTask};

fn enc() -> EncoderConfig {
    enc_of(EncoderKind::Transformer)
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
    for s in AntiCopy::NAMES {
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
    let (asr, ex) = speech(&[120, 97], &mut rng);
    let items: Vec<(usize, &AsrExample)> = ex.iter().enumerate().collect();
    let store = ParamStore::new(0);
    let m = CtcModel::new(&asr, &enc(), store.vb(&Device::Cpu))?;
    assert_all_grads(&asr, &items, &m, &store)?;
    // Lengths under padding: the shorter utterance's frames follow the 4x subsampling.
    let batch = asr.collate(&items, false, &mut rng, &Device::Cpu)?;
    let out = m.forward(&batch.src, &batch.src_lens, &mut Fwd::eval())?;
    assert_eq!(out.enc.lens, vec![30, 25]);
    assert_eq!(out.logits.dims(), &[2, 30, 5]);

    let (st, ex) = word_images(&[64, 40], &mut rng);
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
    // No positions either, but each label carries its neighbours: the order is visible.
    let context = max_diff(AntiCopy::LabelContext)?;
    assert!(
        context > 1e-3,
        "label-context: outputs moved only by {context}"
    );
    Ok(())
}

fn oracle_of(task: &ToyTask, strategy: AntiCopy, store: &ParamStore) -> Result<OracleTeacher> {
    let cfg = OracleConfig {
        encoder: enc(),
        fusion_layers: 1,
        anti_copy: strategy,
        label_positions: None,
        scale_embeddings: false,
    };
    OracleTeacher::new(task, &cfg, store.vb(&Device::Cpu))
}

/// In use (scored, diagnosed, distilled from), a random-expansion oracle is fed expansions of
/// its labels drawn as in training, and its posteriors are their mean: the composite of one
/// forward per expansion, averaged in probability, is what `infer` returns.
#[test]
fn random_expansion_oracle_is_used_with_the_mean_over_sampled_expansions() -> Result<()> {
    let (task, ex) = toy()?;
    let items: Vec<(usize, &_)> = ex.iter().take(2).enumerate().collect();
    let batch = task.collate(&items, false, &mut Rng::new(0), &Device::Cpu)?;
    let store = ParamStore::new(5);
    let s = AntiCopy::from_name("random-expansion").unwrap();
    let o = oracle_of(&task, s.clone(), &store)?;
    let got = o.infer(
        &batch.src,
        &batch.src_lens,
        &batch.targets,
        &mut Fwd::eval(),
    )?;
    let frames = &got.enc.lens;
    let inputs: Vec<Vec<Vec<u32>>> = batch
        .targets
        .iter()
        .zip(frames)
        .map(|(y, &t)| s.inference_inputs(y, t))
        .collect();
    let k = inputs[0].len();
    assert_eq!(k, 8);
    let mut sum: Option<Tensor> = None;
    for j in 0..k {
        let lab: Vec<Vec<u32>> = inputs.iter().map(|v| v[j].clone()).collect();
        let out = o.forward(&batch.src, &batch.src_lens, &lab, &mut Fwd::eval())?;
        let p = candle_nn::ops::softmax_last_dim(&out.logits)?;
        sum = Some(match sum {
            None => p,
            Some(a) => (a + p)?,
        });
    }
    let want = (sum.unwrap() / k as f64)?;
    let have = candle_nn::ops::softmax_last_dim(&got.logits)?;
    let diff = (want - have)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(
        diff < 1e-5,
        "infer differs from the mean of its samples by {diff}"
    );
    // The samples are expansions (with blanks and repeats), not the plain labels.
    assert!(inputs[0].iter().any(|z| z != &batch.targets[0]));
    Ok(())
}

/// Label context reads neighbours, never padding: an example's output is the same alone and in
/// a batch whose other example has longer labels.
#[test]
fn label_context_does_not_read_padding() -> Result<()> {
    let (task, ex) = toy()?;
    let store = ParamStore::new(2);
    let o = oracle_of(&task, AntiCopy::LabelContext, &store)?;
    let one = task.collate(&[(0, &ex[0])], false, &mut Rng::new(0), &Device::Cpu)?;
    let two = task.collate(
        &[(0, &ex[0]), (1, &ex[0])],
        false,
        &mut Rng::new(0),
        &Device::Cpu,
    )?;
    let a = o.infer(&one.src, &one.src_lens, &[vec![2, 3]], &mut Fwd::eval())?;
    let b = o.infer(
        &two.src,
        &two.src_lens,
        &[vec![2, 3], vec![1, 4, 5, 1, 2]],
        &mut Fwd::eval(),
    )?;
    let diff = (a.logits.get(0)? - b.logits.get(0)?)?
        .abs()?
        .max_all()?
        .to_scalar::<f32>()?;
    assert!(diff < 1e-5, "padding moved the output by {diff}");
    // A single label has no neighbours; it still works.
    o.infer(&one.src, &one.src_lens, &[vec![4]], &mut Fwd::eval())?;
    Ok(())
}

/// The oracle as a teacher: with fused features its hidden states are the source encoder's
/// followed by each fusion block's output, and those last ones depend on the labels; with
/// source features they are the encoder's alone, which the labels cannot change.
#[test]
fn oracle_features_for_feature_kd_come_after_the_fusion_by_default() -> Result<()> {
    use student::{OracleAsTeacher, OracleFeatures, Teacher};
    let (task, ex) = toy()?;
    let items: Vec<(usize, &_)> = ex.iter().take(2).enumerate().collect();
    let batch = task.collate(&items, false, &mut Rng::new(0), &Device::Cpu)?;
    let mut relabelled = batch.clone();
    relabelled.targets = vec![vec![3, 3, 1], vec![5]];
    let store = ParamStore::new(0);
    let cfg = OracleConfig {
        encoder: enc(),
        fusion_layers: 2,
        anti_copy: AntiCopy::NoLabelPosition,
        label_positions: None,
        scale_embeddings: false,
    };
    let o = OracleTeacher::new(&task, &cfg, store.vb(&Device::Cpu))?;
    let diff =
        |a: &Tensor, b: &Tensor| -> Result<f32> { (a - b)?.abs()?.max_all()?.to_scalar::<f32>() };
    let fused = OracleAsTeacher {
        oracle: &o,
        features: OracleFeatures::Fused,
    };
    let (x, y) = (
        fused.outputs(&batch, true)?,
        fused.outputs(&relabelled, true)?,
    );
    assert_eq!(x.hidden.len(), enc().layers + 2);
    assert!(diff(x.hidden.last().unwrap(), y.hidden.last().unwrap())? > 1e-4);
    assert_eq!(diff(&x.hidden[0], &y.hidden[0])?, 0.0);
    // The plain oracle teacher is the fused one.
    let plain = Teacher::outputs(&o, &batch, true)?;
    assert_eq!(
        diff(plain.hidden.last().unwrap(), x.hidden.last().unwrap())?,
        0.0
    );
    let source = OracleAsTeacher {
        oracle: &o,
        features: OracleFeatures::Source,
    };
    let (s1, s2) = (
        source.outputs(&batch, true)?,
        source.outputs(&relabelled, true)?,
    );
    assert_eq!(s1.hidden.len(), enc().layers);
    for (a, b) in s1.hidden.iter().zip(&s2.hidden) {
        assert_eq!(diff(a, b)?, 0.0);
    }
    Ok(())
}
