//! The training loop's guards on the toy task: non-finite steps are skipped and counted, too
//! many in a row stop the run with a usable checkpoint, and a stop request (Ctrl-C) ends it at
//! a step boundary with a checkpoint that resumes bit for bit.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use candle_core::{Device, Result, Tensor, Var};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::{LossOut, Schedule, TrainConfig, TrainReport, TrainRun, Trainable};
use ctc_core::{Batch, EncoderConfig, Fwd};
use toy::{ToyConfig, ToyExample, ToyTask};

/// How a poisoned step fails.
#[derive(Clone, Copy)]
enum Poison {
    /// The loss is NaN (and so is every gradient).
    Loss,
    /// The loss is finite, one gradient is infinite (d sqrt(x)/dx at 0).
    Gradient,
}

/// The CTC model, with chosen steps (loss calls, one per step with one shard) poisoned, and a
/// stop request raised during one step, as a Ctrl-C arriving mid-step would.
struct Rigged<'a> {
    model: &'a CtcModel,
    any_var: Var,
    bad: HashSet<usize>,
    poison: Poison,
    calls: AtomicUsize,
    stop_during: Option<(usize, &'a AtomicBool)>,
}

impl Trainable for Rigged<'_> {
    fn loss(&self, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some((at, flag)) = self.stop_during {
            if call == at {
                flag.store(true, Ordering::SeqCst);
            }
        }
        let mut out = self.model.loss(batch, fwd)?;
        if self.bad.contains(&call) {
            out.total = match self.poison {
                Poison::Loss => out.total.affine(f64::NAN, 0.0)?,
                Poison::Gradient => {
                    // Exactly 0, with gradient 1 for every element of the variable, so its
                    // square root adds 0 to the loss and an infinity to that gradient.
                    let sum = self.any_var.as_tensor().sum_all()?;
                    let zero = (&sum - sum.detach())?;
                    (out.total + zero.sqrt()?)?
                }
            };
        }
        Ok(out)
    }

    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        self.model.eval_logits(batch)
    }
}

fn data() -> Result<(ToyTask, Splits<ToyExample>)> {
    ToyTask::generate(&ToyConfig {
        n_train: 64,
        n_dev: 16,
        n_test: 16,
        ..Default::default()
    })
}

fn model(task: &ToyTask) -> Result<(ParamStore, CtcModel)> {
    let store = ParamStore::new(5);
    let enc = EncoderConfig {
        d_model: 16,
        layers: 1,
        heads: 2,
        d_ff: 32,
        dropout: 0.1,
        conv_channels: 0,
        kind: Default::default(),
        conv_kernel: None,
    };
    let m = CtcModel::new(task, &enc, store.vb(&Device::Cpu))?;
    Ok((store, m))
}

fn cfg(steps: usize) -> TrainConfig {
    TrainConfig {
        batch_size: 8,
        steps,
        eval_every: 1000,
        select_best: false,
        checkpoint_every: 1000,
        shards: 1,
        // Explicit, so runs of different lengths follow one schedule.
        schedule: Some(Schedule::WarmupCosine {
            warmup: 2,
            total: 12,
            min_ratio: 0.1,
        }),
        ..Default::default()
    }
}

fn run<'a>(
    task: &'a ToyTask,
    s: &'a Splits<ToyExample>,
    cfg: &'a TrainConfig,
    out: &Path,
) -> TrainRun<'a, ToyTask> {
    TrainRun {
        task,
        train: &s.train,
        dev: &s.dev,
        cfg,
        seed: 3,
        device: &Device::Cpu,
        out: out.to_path_buf(),
        name: "guard".into(),
        progress: false,
        model_config: None,
    }
}

fn rigged<'a>(m: &'a CtcModel, store: &ParamStore, bad: &[usize], poison: Poison) -> Rigged<'a> {
    Rigged {
        model: m,
        any_var: store.vars()[0].1.clone(),
        bad: bad.iter().copied().collect(),
        poison,
        calls: AtomicUsize::new(0),
        stop_during: None,
    }
}

fn weights(store: &ParamStore) -> Vec<Vec<f32>> {
    store
        .vars()
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

/// The optimizer's step count in the checkpoint at `dir`/last.
fn optimizer_steps(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("last/state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["optimizer"]["step"].as_u64().unwrap()
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log.txt")).unwrap()
}

#[test]
fn non_finite_steps_are_skipped_counted_and_leave_weights_and_optimizer_alone() -> Result<()> {
    let (task, s) = data()?;
    // Every step poisoned: nothing may change.
    for poison in [Poison::Loss, Poison::Gradient] {
        let (store, m) = model(&task)?;
        let before = weights(&store);
        let c = cfg(4);
        let dir = tempfile::tempdir()?;
        let r = run(&task, &s, &c, dir.path())
            .run(&rigged(&m, &store, &[0, 1, 2, 3], poison), store.vars())?;
        assert_eq!((r.steps, r.nonfinite_steps), (4, 4));
        assert_eq!(weights(&store), before);
        assert_eq!(optimizer_steps(dir.path()), 0);
        let what = match poison {
            Poison::Loss => "loss",
            Poison::Gradient => "gradient",
        };
        let l = log(dir.path());
        assert!(
            l.contains(&format!("step 1 skipped: non-finite {what}")),
            "{l}"
        );
        assert!(l.contains("4 non-finite steps skipped"), "{l}");
    }
    // Some poisoned: those are skipped, the others train, and the count is in the report.
    let (store, m) = model(&task)?;
    let before = weights(&store);
    let c = cfg(8);
    let dir = tempfile::tempdir()?;
    let r = run(&task, &s, &c, dir.path())
        .run(&rigged(&m, &store, &[2, 5], Poison::Loss), store.vars())?;
    assert_eq!(
        (r.steps, r.nonfinite_steps, r.nonfinite_in_a_row),
        (8, 2, 0)
    );
    assert_eq!(optimizer_steps(dir.path()), 6);
    assert_ne!(weights(&store), before);
    assert!(weights(&store).iter().flatten().all(|x| x.is_finite()));
    Ok(())
}

#[test]
fn too_many_in_a_row_stop_the_run_with_the_last_good_weights_checkpointed() -> Result<()> {
    let (task, s) = data()?;
    // Reference: four good steps.
    let (good_store, good) = model(&task)?;
    let d0 = tempfile::tempdir()?;
    run(&task, &s, &cfg(4), d0.path()).run(&good, good_store.vars())?;

    let (store, m) = model(&task)?;
    let mut c = cfg(12);
    c.max_nonfinite_in_a_row = 3;
    let dir = tempfile::tempdir()?;
    // Steps 5 and 7 onwards are bad: the isolated one is skipped, the row of three stops it.
    let poisoned = rigged(&m, &store, &[4, 6, 7, 8, 9, 10, 11], Poison::Gradient);
    let e = run(&task, &s, &c, dir.path())
        .run(&poisoned, store.vars())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("3 non-finite steps in a row (steps 7 to 9, train.max_nonfinite_in_a_row = 3)"),
        "{e}"
    );
    assert!(e.contains("holds the weights of the last good step"), "{e}");
    assert!(log(dir.path()).contains("non-finite steps in a row"));
    // The checkpoint is at step 9 and loads; its weights are those after the last good step (6).
    let (ck_store, ck) = model(&task)?;
    let mut opt = ctc_core::train::AdamW::new(ck_store.vars(), Default::default())?;
    let meta =
        ctc_core::train::load_checkpoint(&dir.path().join("last"), &ck_store.vars(), &mut opt)?;
    assert_eq!(meta.step, 9);
    let report: TrainReport = serde_json::from_value(meta.extra).unwrap();
    assert_eq!((report.nonfinite_steps, report.nonfinite_in_a_row), (4, 3));
    assert_eq!(weights(&ck_store), weights(&store));
    assert_eq!(optimizer_steps(dir.path()), 5);
    assert_ne!(weights(&ck_store), weights(&good_store));
    drop(ck);
    // max_nonfinite_in_a_row = 0 is refused.
    c.max_nonfinite_in_a_row = 0;
    let (z_store, z) = model(&task)?;
    let e = run(&task, &s, &c, tempfile::tempdir()?.path())
        .run(&z, z_store.vars())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("max_nonfinite_in_a_row must be at least 1"),
        "{e}"
    );
    Ok(())
}

#[test]
fn a_stop_request_ends_at_a_step_boundary_and_resumes_bit_for_bit() -> Result<()> {
    let (task, s) = data()?;
    let c = cfg(10);
    let (a_store, a) = model(&task)?;
    let da = tempfile::tempdir()?;
    let ra = run(&task, &s, &c, da.path()).run(&a, a_store.vars())?;

    let (b_store, b) = model(&task)?;
    let db = tempfile::tempdir()?;
    let stop = AtomicBool::new(false);
    let mut r = rigged(&b, &b_store, &[], Poison::Loss);
    r.stop_during = Some((3, &stop));
    let e = run(&task, &s, &c, db.path())
        .run_stoppable(&r, b_store.vars(), &stop)
        .unwrap_err()
        .to_string();
    // With RUST_BACKTRACE set, candle appends a backtrace to the message.
    assert!(
        e.starts_with("guard: interrupted at step 4; rerun the same command to resume"),
        "{e}"
    );
    assert!(log(db.path()).contains("interrupted at step 4"));
    assert_eq!(optimizer_steps(db.path()), 4);
    // The same run again, with a fresh model, picks up at step 4 and ends where A ended.
    let (c_store, cm) = model(&task)?;
    let rc = run(&task, &s, &c, db.path()).run(&cm, c_store.vars())?;
    assert_eq!(weights(&c_store), weights(&a_store));
    assert_eq!(rc.steps, ra.steps);
    assert!(log(db.path()).contains("resumed at step 4"));
    Ok(())
}

#[test]
fn a_checkpoint_of_another_run_is_refused_naming_the_difference() -> Result<()> {
    let (task, s) = data()?;
    let c = cfg(3);
    let dir = tempfile::tempdir()?;
    let (store, m) = model(&task)?;
    let mut first = run(&task, &s, &c, dir.path());
    first.model_config = Some(serde_json::json!({"heads": 2}));
    first.run(&m, store.vars())?;
    let mut other = run(&task, &s, &c, dir.path());
    other.model_config = Some(serde_json::json!({"heads": 4}));
    let (store2, m2) = model(&task)?;
    let e = other.run(&m2, store2.vars()).unwrap_err().to_string();
    assert!(
        e.contains("last: the checkpoint belongs to another run"),
        "{e}"
    );
    assert!(e.contains("model.heads: 2 in the file, 4 here"), "{e}");
    let mut lr = c.clone();
    lr.lr *= 2.0;
    let e = run(&task, &s, &lr, dir.path())
        .run(&m2, store2.vars())
        .unwrap_err()
        .to_string();
    assert!(e.contains("lr: 0.001 in the file, 0.002 here"), "{e}");
    Ok(())
}
