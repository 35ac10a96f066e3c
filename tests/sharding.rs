//! A step run as batch shards gives the gradients of the whole batch, and runs on several
//! threads give the numbers of one.

#[path = "support/examples.rs"]
mod examples;

use candle_core::{Device, Result};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::train::step::{ShardedStep, StepInputs};
use examples::{summed, toy_encoder};
use toy::{ToyConfig, ToyTask};

fn model(task: &ToyTask, store: &ParamStore) -> Result<CtcModel> {
    CtcModel::new(
        task,
        &toy_encoder(32, 2),
        store.vb(&Device::Cpu).pp("model"),
    )
}

fn step(
    task: &ToyTask,
    train: &[toy::ToyExample],
    m: &CtcModel,
    shards: usize,
) -> Result<ShardedStep> {
    // Examples of unequal lengths, so that the shards pad differently from the whole batch.
    let idx: Vec<usize> = (0..7).collect();
    StepInputs {
        task,
        train,
        idx: &idx,
        seed: 3,
        step: 0,
        shards,
        device: &Device::Cpu,
    }
    .run(m)
}

/// One test in this binary: `threads::configure` changes the process environment, which must
/// happen before any other thread runs candle ops. With it the shards run on parallel threads
/// (on a machine with more than one core).
#[test]
fn sharded_steps() -> Result<()> {
    ctc_core::threads::configure();
    shards_sum_to_the_whole_batch_gradient()?;
    a_sharded_step_is_the_same_run_to_run()
}

fn shards_sum_to_the_whole_batch_gradient() -> Result<()> {
    let (task, s) = ToyTask::generate(&ToyConfig {
        n_train: 16,
        ..Default::default()
    })?;
    let lens: Vec<usize> = s.train[..7]
        .iter()
        .map(|e| ctc_core::Task::source_len(&task, e))
        .collect();
    assert!(
        lens.iter().any(|&l| l != lens[0]),
        "want unequal lengths: {lens:?}"
    );
    let store = ParamStore::new(5);
    let m = model(&task, &store)?;
    let vars = store.vars();
    let whole = step(&task, &s.train, &m, 1)?;
    assert_eq!(whole.grads.len(), 1);
    let want = summed(&vars, &whole)?;
    for shards in [2, 3, 7] {
        let split = step(&task, &s.train, &m, shards)?;
        assert_eq!(split.grads.len(), shards);
        assert!(
            (split.loss - whole.loss).abs() <= 1e-5 * whole.loss.abs().max(1.0),
            "{shards} shards: loss {} vs {}",
            split.loss,
            whole.loss
        );
        let ctc = |s: &ShardedStep| s.parts.iter().find(|p| p.0 == "ctc").map(|p| p.1);
        assert!((ctc(&split).unwrap() - ctc(&whole).unwrap()).abs() < 1e-4);
        for ((name, _), (a, b)) in vars.iter().zip(want.iter().zip(summed(&vars, &split)?)) {
            let diff = (a - &b)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let scale = a.abs()?.max_all()?.to_scalar::<f32>()?.max(1e-3);
            assert!(
                diff <= 1e-4 * scale,
                "{shards} shards, {name}: max diff {diff} of {scale}"
            );
        }
    }
    Ok(())
}

fn a_sharded_step_is_the_same_run_to_run() -> Result<()> {
    let (task, s) = ToyTask::generate(&ToyConfig {
        n_train: 16,
        ..Default::default()
    })?;
    let store = ParamStore::new(5);
    let m = model(&task, &store)?;
    let vars = store.vars();
    let a = step(&task, &s.train, &m, 2)?;
    let b = step(&task, &s.train, &m, 2)?;
    assert_eq!(a.loss.to_bits(), b.loss.to_bits());
    for (x, y) in summed(&vars, &a)?.iter().zip(summed(&vars, &b)?) {
        assert_eq!(
            x.flatten_all()?.to_vec1::<f32>()?,
            y.flatten_all()?.to_vec1::<f32>()?
        );
    }
    Ok(())
}
