//! One whole training step of a model on a chosen device (the sharded forward and backward, then
//! the clipped AdamW update) and the comparison of two such steps: same loss, same gradients,
//! same parameters after the update, to rounding. Shared by the composite-path and GPU tests.
#![allow(dead_code)]

use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::EncoderKind;
use ctc_core::train::adamw::{AdamW, ParamsAdamW};
use ctc_core::train::step::{apply_update, StepInputs};
use ctc_core::train::Trainable;
use ctc_core::{Rng, Task};
use oracle::{AntiCopy, OracleConfig, OracleTeacher};
use toy::{ToyConfig, ToyTask};

use crate::examples::{enc_of, speech, summed, word_images};

/// A step's loss, variable names, summed gradients and updated parameters (on the CPU).
pub struct StepOut {
    pub loss: f32,
    pub names: Vec<String>,
    pub grads: Vec<Tensor>,
    pub params: Vec<Tensor>,
}

/// One step of the model `build` makes (from seed-11 parameters) on `dev`, in two shards.
pub fn one_step<T: Task, M: Trainable>(
    task: &T,
    train: &[T::Example],
    dev: &Device,
    build: impl Fn(VarBuilder<'static>) -> Result<M>,
) -> Result<StepOut> {
    let store = ParamStore::new(11);
    let m = build(store.vb(dev))?;
    let vars = store.vars();
    let idx: Vec<usize> = (0..train.len()).collect();
    let step = StepInputs {
        task,
        train,
        idx: &idx,
        seed: 3,
        step: 0,
        shards: 2,
        device: dev,
    }
    .run(&m)?;
    let grads = summed(&vars, &step)?
        .iter()
        .map(|g| g.to_device(&Device::Cpu))
        .collect::<Result<Vec<_>>>()?;
    let mut opt = AdamW::new(vars.clone(), ParamsAdamW::default())?;
    assert!(apply_update(
        &mut opt,
        &vars,
        &m.clip_groups(),
        step.grads,
        0.5
    )?);
    let params = vars
        .iter()
        .map(|(_, v)| v.as_tensor().to_device(&Device::Cpu))
        .collect::<Result<Vec<_>>>()?;
    let names = vars.iter().map(|(n, _)| n.clone()).collect();
    Ok(StepOut {
        loss: step.loss,
        names,
        grads,
        params,
    })
}

fn max_abs(t: &Tensor) -> Result<f32> {
    t.abs()?.max_all()?.to_scalar::<f32>()
}

/// Asserts that `other` is the step `reference` is, to rounding: the loss to `1e-5 * slack`
/// relative, every gradient to `1e-4 * slack` of its largest element, every parameter after the
/// update to `0.02 * slack` of the learning rate. `what` names the model in failures. Returns
/// the largest gradient difference, to show that different code ran.
pub fn assert_same_step(
    what: &str,
    reference: &StepOut,
    other: &StepOut,
    slack: f32,
) -> Result<f32> {
    let (lf, lc) = (reference.loss, other.loss);
    assert!(
        (lf - lc).abs() <= 1e-5 * slack * lf.abs().max(1.0),
        "{what}: loss {lf} against {lc}"
    );
    // A gradient that is zero in exact arithmetic (a key bias under softmax) is rounding noise
    // on both paths: its scale is taken as a small fraction of the largest gradient.
    let mut floor = 0f32;
    for g in &reference.grads {
        floor = floor.max(1e-3 * max_abs(g)?);
    }
    let mut bad = Vec::new();
    let mut largest = 0f32;
    for (name, (a, b)) in reference
        .names
        .iter()
        .zip(reference.grads.iter().zip(&other.grads))
    {
        let (diff, scale) = (max_abs(&(a - b)?)?, max_abs(a)?.max(floor));
        largest = largest.max(diff);
        if diff > 1e-4 * slack * scale {
            bad.push(format!("{name}: max diff {diff} of {scale}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: gradients differ:\n{}",
        bad.join("\n")
    );
    // AdamW's first step moves each parameter by about lr * g / (|g| + eps): where a gradient
    // is near zero, the paths' rounding difference in it shows at the scale of lr.
    // A variable whose gradient is rounding noise (under the floor) gets a noise-driven step
    // of about lr on either path: it is not compared.
    let lr = ParamsAdamW::default().lr as f32;
    for (name, ((a, b), g)) in reference.names.iter().zip(
        reference
            .params
            .iter()
            .zip(&other.params)
            .zip(&reference.grads),
    ) {
        if max_abs(g)? < floor {
            continue;
        }
        let diff = max_abs(&(a - b)?)?;
        assert!(
            diff <= 0.02 * slack * lr,
            "{what}: {name} after the update: {diff}"
        );
    }
    Ok(largest)
}

/// One step of every encoder family on speech and on word images, and of an oracle under two
/// anti-copy strategies, on `dev`: (model name, step).
pub fn every_model_step(dev: &Device) -> Result<Vec<(String, StepOut)>> {
    let mut rng = Rng::new(4);
    let (asr, asr_ex) = speech(&[120, 97, 64], &mut rng);
    let (st, st_ex) = word_images(&[64, 40, 52], &mut rng);
    let mut out = Vec::new();
    for kind in [EncoderKind::Conformer, EncoderKind::Transformer] {
        let e = enc_of(kind);
        let s = one_step(&asr, &asr_ex, dev, |vb| CtcModel::new(&asr, &e, vb))?;
        out.push((format!("speech {kind:?}"), s));
        let s = one_step(&st, &st_ex, dev, |vb| CtcModel::new(&st, &e, vb))?;
        out.push((format!("word images {kind:?}"), s));
    }
    let (toy, split) = ToyTask::generate(&ToyConfig {
        n_train: 6,
        ..Default::default()
    })?;
    for strategy in [AntiCopy::NoLabelPosition, AntiCopy::Structural] {
        let cfg = OracleConfig {
            encoder: enc_of(EncoderKind::Conformer),
            fusion_layers: 1,
            anti_copy: strategy.clone(),
            label_positions: None,
            scale_embeddings: false,
        };
        let s = one_step(&toy, &split.train, dev, |vb| {
            OracleTeacher::new(&toy, &cfg, vb)
        })?;
        out.push((format!("oracle {strategy:?}"), s));
    }
    Ok(out)
}
