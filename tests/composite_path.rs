//! The composite path (`ctc_core::ops::force_composite`: every op built from candle ops, the
//! optimiser and gradient code without their host shortcuts, as off the CPU) against the fused
//! CPU path, on one whole training step of every encoder family and of an oracle: same loss,
//! same gradients, same parameters after the clipped AdamW update.
//!
//! One test in this binary: the switch is process-wide.

#[path = "support/examples.rs"]
mod examples;

use candle_core::{Device, Result, Tensor};
use ctc_core::model::CtcModel;
use ctc_core::ops::force_composite;
use ctc_core::params::ParamStore;
use ctc_core::task::EncoderKind;
use ctc_core::train::adamw::{AdamW, ParamsAdamW};
use ctc_core::train::step::{apply_update, StepInputs};
use ctc_core::train::Trainable;
use ctc_core::{Rng, Task};
use examples::{enc_of, speech, summed, word_images};
use oracle::{AntiCopy, OracleConfig, OracleTeacher};
use toy::{ToyConfig, ToyTask};

type StepOut = (f32, Vec<String>, Vec<Tensor>, Vec<Tensor>);

fn one_step<T: Task, M: Trainable>(
    task: &T,
    train: &[T::Example],
    build: impl Fn(&ParamStore) -> Result<M>,
) -> Result<StepOut> {
    let store = ParamStore::new(11);
    let m = build(&store)?;
    let vars = store.vars();
    let idx: Vec<usize> = (0..train.len()).collect();
    let step = StepInputs {
        task,
        train,
        idx: &idx,
        seed: 3,
        step: 0,
        shards: 2,
        device: &Device::Cpu,
    }
    .run(&m)?;
    let grads = summed(&vars, &step)?;
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
        .map(|(_, v)| v.as_tensor().copy())
        .collect::<Result<Vec<_>>>()?;
    let names = vars.iter().map(|(n, _)| n.clone()).collect();
    Ok((step.loss, names, grads, params))
}

fn max_abs(t: &Tensor) -> Result<f32> {
    t.abs()?.max_all()?.to_scalar::<f32>()
}

/// The same step fused and composite; `what` names the model in failures. Returns the largest
/// gradient difference, to show the switch changed the code that ran.
fn compare<T: Task, M: Trainable>(
    what: &str,
    task: &T,
    train: &[T::Example],
    build: impl Fn(&ParamStore) -> Result<M>,
) -> Result<f32> {
    force_composite(false);
    let (lf, names, gf, pf) = one_step(task, train, &build)?;
    force_composite(true);
    let composite = one_step(task, train, &build);
    force_composite(false);
    let (lc, _, gc, pc) = composite?;
    assert!(
        (lf - lc).abs() <= 1e-5 * lf.abs().max(1.0),
        "{what}: loss {lf} fused, {lc} composite"
    );
    // A gradient that is zero in exact arithmetic (a key bias under softmax) is rounding noise
    // on both paths: its scale is taken as a small fraction of the largest gradient.
    let mut floor = 0f32;
    for g in &gf {
        floor = floor.max(1e-3 * max_abs(g)?);
    }
    let mut bad = Vec::new();
    let mut largest = 0f32;
    for (name, (a, b)) in names.iter().zip(gf.iter().zip(&gc)) {
        let (diff, scale) = (max_abs(&(a - b)?)?, max_abs(a)?.max(floor));
        largest = largest.max(diff);
        if diff > 1e-4 * scale {
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
    for (name, ((a, b), g)) in names.iter().zip(pf.iter().zip(&pc).zip(&gf)) {
        if max_abs(g)? < floor {
            continue;
        }
        let diff = max_abs(&(a - b)?)?;
        assert!(diff <= 0.02 * lr, "{what}: {name} after the update: {diff}");
    }
    Ok(largest)
}

#[test]
fn composite_step_matches_the_fused_step() -> Result<()> {
    let mut rng = Rng::new(4);
    let (asr, asr_ex) = speech(&[120, 97, 64], &mut rng);
    let (st, st_ex) = word_images(&[64, 40, 52], &mut rng);
    let mut differs = Vec::new();
    for kind in [EncoderKind::Conformer, EncoderKind::Transformer] {
        let e = enc_of(kind);
        differs.push(compare(&format!("speech {kind:?}"), &asr, &asr_ex, |s| {
            CtcModel::new(&asr, &e, s.vb(&Device::Cpu))
        })?);
        differs.push(compare(
            &format!("word images {kind:?}"),
            &st,
            &st_ex,
            |s| CtcModel::new(&st, &e, s.vb(&Device::Cpu)),
        )?);
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
        differs.push(compare(
            &format!("oracle {strategy:?}"),
            &toy,
            &split.train,
            |s| OracleTeacher::new(&toy, &cfg, s.vb(&Device::Cpu)),
        )?);
    }
    // Different code ran: its rounding shows in every model's gradients.
    assert!(differs.iter().all(|&d| d > 0.0), "{differs:?}");
    Ok(())
}
