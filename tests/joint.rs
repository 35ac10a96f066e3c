//! The joint (EM-Network style) model on the tiny synthetic task: both paths share one encoder,
//! the posterior term never reaches the oracle path, the loss is the sum of its parts computed
//! separately, and a short run improves the source-only path.

mod common;

use candle_core::{Device, Result, Tensor};
use common::{dev_error, enc};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::train::{ctc_term, TrainConfig, TrainRun, Trainable};
use ctc_core::{EncoderConfig, Fwd, Rng, Task};
use oracle::{AntiCopy, OracleConfig};
use student::joint::JointModel;
use student::losses::soft::frame_kd_norm;
use student::losses::{parse_kd, KdObjective, KdTerm, Norm};
use toy::{ToyConfig, ToyExample, ToyTask};

fn oracle_cfg(e: &EncoderConfig, anti_copy: AntiCopy) -> OracleConfig {
    OracleConfig {
        encoder: e.clone(),
        fusion_layers: 1,
        anti_copy,
        label_positions: None,
        scale_embeddings: false,
    }
}

fn weights(frame_kd: f64, oracle_ctc: f64) -> KdObjective {
    let mut o = parse_kd("em").unwrap();
    for t in &mut o.terms {
        match t {
            KdTerm::Ctc { weight } => *weight = 0.0,
            KdTerm::FrameKd { weight, .. } => *weight = frame_kd,
            KdTerm::OracleCtc { weight } => *weight = oracle_ctc,
            _ => unreachable!(),
        }
    }
    o
}

fn grad_norm(g: &candle_core::backprop::GradStore, v: &candle_core::Var) -> Result<f32> {
    match g.get(v.as_tensor()) {
        None => Ok(0.0),
        Some(t) => t.sqr()?.sum_all()?.to_scalar::<f32>(),
    }
}

#[test]
fn the_paths_share_the_encoder_and_the_kd_term_spares_the_oracle_path() -> Result<()> {
    let (task, s) = ToyTask::generate(&ToyConfig::default())?;
    let dev = Device::Cpu;
    let items: Vec<(usize, &ToyExample)> = s.train.iter().take(8).enumerate().collect();
    let batch = task.collate(&items, false, &mut Rng::new(0), &dev)?;
    let e = enc(16, 1);
    let store = ParamStore::new(3);
    let source = CtcModel::new(&task, &e, store.vb(&dev).pp("model"))?;
    let n_source = store.num_params();
    // Label-fed with no anti-copy input change, so that the oracle path's input is the target.
    let cfg = oracle_cfg(&e, AntiCopy::TokenSubstitution { p: 0.0 });
    let joint = |o: KdObjective| {
        JointModel::new(
            &task,
            &source,
            &cfg,
            o,
            0,
            store.vb(&dev).pp("model").pp("encoder"),
            store.vb(&dev).pp("joint"),
        )
    };
    let model = joint(parse_kd("em")?)?;
    // One encoder: no new encoder variables, only the oracle path's own.
    assert!(store
        .vars()
        .iter()
        .all(|(n, _)| !n.starts_with("joint.encoder")));
    assert!(store.num_params() > n_source);
    let is_oracle = |n: &str| n.starts_with("joint.");
    let is_head = |n: &str| n.starts_with("model.head");

    // The frame-KD term alone: the source path moves, the oracle path does not.
    let g = joint(weights(1.0, 0.0))?
        .loss(&batch, &mut Fwd::eval())?
        .total
        .backward()?;
    for (n, v) in store.vars() {
        let norm = grad_norm(&g, &v)?;
        if is_oracle(&n) {
            assert_eq!(norm, 0.0, "{n}: the KD term reached the oracle path");
        } else {
            assert!(norm > 0.0, "{n}: no gradient from the KD term");
        }
    }
    // The oracle path's CTC alone: the shared encoder and the oracle path move, the source head
    // does not.
    let g = joint(weights(0.0, 1.0))?
        .loss(&batch, &mut Fwd::eval())?
        .total
        .backward()?;
    for (n, v) in store.vars() {
        let norm = grad_norm(&g, &v)?;
        if is_head(&n) {
            assert_eq!(norm, 0.0, "{n}: the oracle CTC reached the source head");
        } else {
            assert!(norm > 0.0, "{n}: no gradient from the oracle path's CTC");
        }
    }

    // The total is CTC + frame-KD + oracle CTC, each recomputed from the two paths' logits.
    let out = model.loss(&batch, &mut Fwd::eval())?;
    let src = source.forward(&batch.src, &batch.src_lens, &mut Fwd::eval())?;
    let oracle = oracle::OracleTeacher::with_encoder(
        &task,
        &cfg,
        task.encoder(&e, store.vb(&dev).pp("model").pp("encoder"))?,
        store.vb(&dev).pp("joint"),
    )?;
    let orc = oracle.forward(
        &batch.src,
        &batch.src_lens,
        &batch.targets,
        &mut Fwd::eval(),
    )?;
    let lens = &src.enc.lens;
    let ctc = ctc_term(&src.logits, lens, &batch.targets)?.0;
    let octc = ctc_term(&orc.logits, lens, &batch.targets)?.0;
    let norm = Norm::PerLabel(batch.targets.iter().map(Vec::len).collect());
    let fk = frame_kd_norm(&src.logits, &orc.logits, lens, 1.0, false, &norm)?;
    let want: f32 = [&ctc, &fk, &octc]
        .iter()
        .map(|t: &&Tensor| t.to_scalar::<f32>().unwrap())
        .sum();
    let got = out.total.to_scalar::<f32>()?;
    assert!(
        (got - want).abs() < 1e-4 * want.abs().max(1.0),
        "{got} vs {want}"
    );
    // A KD warm-up of 100 steps at step 25 scales the frame-KD term alone, by a quarter.
    let warm = JointModel::new(
        &task,
        &source,
        &cfg,
        parse_kd("em")?,
        100,
        store.vb(&dev).pp("model").pp("encoder"),
        store.vb(&dev).pp("joint"),
    )?;
    let mut at25 = Fwd::eval();
    at25.step = 25;
    let scaled = warm.loss(&batch, &mut at25)?.total.to_scalar::<f32>()?;
    let parts: Vec<f32> = [&ctc, &fk, &octc]
        .iter()
        .map(|t| t.to_scalar::<f32>().unwrap())
        .collect();
    let want_scaled = parts[0] + 0.25 * parts[1] + parts[2];
    assert!(
        (scaled - want_scaled).abs() < 1e-4 * want_scaled.abs().max(1.0),
        "{scaled} vs {want_scaled}"
    );
    assert_eq!(student::losses::warmup_scale(0, 100), 0.0);
    assert_eq!(student::losses::warmup_scale(250, 100), 1.0);
    assert_eq!(student::losses::warmup_scale(7, 0), 1.0);
    let names: Vec<&str> = out.parts.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"frame-kd") && names.contains(&"oracle-ctc"),
        "{names:?}"
    );

    // Objectives a joint model cannot compute are refused, naming the formula.
    for bad in ["frame-kd", "layer-wise", "sequence-kd"] {
        let e = joint(parse_kd(bad)?).err().expect(bad).to_string();
        assert!(e.contains("L = "), "{bad}: {e}");
    }
    Ok(())
}

#[test]
fn a_short_joint_run_trains_the_source_path() -> Result<()> {
    let (task, s) = ToyTask::generate(&ToyConfig {
        n_train: 256,
        ..Default::default()
    })?;
    let dev = Device::Cpu;
    let e = enc(24, 1);
    let store = ParamStore::new(5);
    let source = CtcModel::new(&task, &e, store.vb(&dev).pp("model"))?;
    let before = dev_error(&task, &s.dev, &source)?;
    let cfg = oracle_cfg(&e, AntiCopy::TokenSubstitution { p: 0.2 });
    let model = JointModel::new(
        &task,
        &source,
        &cfg,
        parse_kd("em")?,
        0,
        store.vb(&dev).pp("model").pp("encoder"),
        store.vb(&dev).pp("joint"),
    )?;
    let c = TrainConfig {
        batch_size: 16,
        steps: 120,
        lr: 3e-3,
        warmup: 10,
        eval_every: 120,
        checkpoint_every: 10_000,
        ..Default::default()
    };
    let dir = tempfile::tempdir()?;
    TrainRun {
        task: &task,
        train: &s.train,
        dev: &s.dev,
        cfg: &c,
        seed: 7,
        device: &dev,
        out: dir.path().to_path_buf(),
        name: "joint".into(),
        progress: false,
        model_config: None,
    }
    .run(&model, store.vars())?;
    let after = dev_error(&task, &s.dev, &source)?;
    assert!(
        after < before - 20.0,
        "dev error {before:.1} -> {after:.1}: the source path did not learn"
    );
    Ok(())
}
