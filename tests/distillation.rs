//! End to end across crates on the tiny synthetic task: a good teacher's distilled student beats
//! the same student trained with CTC alone, and an exported student reloads and scores exactly
//! as before export.

mod common;

use candle_core::{Device, Result};
use common::{dev_error, enc};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::{TrainConfig, TrainRun};
use ctc_core::vocab::Vocab;
use ctc_core::{EncoderConfig, Task};
use student::cache::TeacherOutputs;
use student::losses::parse_kd;
use student::{Distiller, Teacher};
use toy::{ToyConfig, ToyExample, ToyTask};

fn cfg(steps: usize) -> TrainConfig {
    TrainConfig {
        batch_size: 16,
        steps,
        lr: 3e-3,
        warmup: 10,
        eval_every: steps,
        checkpoint_every: 10_000,
        ..Default::default()
    }
}

fn run<'a>(
    task: &'a ToyTask,
    s: &'a Splits<ToyExample>,
    c: &'a TrainConfig,
    out: &std::path::Path,
) -> TrainRun<'a, ToyTask> {
    TrainRun {
        task,
        train: &s.train,
        dev: &s.dev,
        cfg: c,
        seed: 7,
        device: &Device::Cpu,
        out: out.to_path_buf(),
        name: "test".into(),
        progress: false,
        model_config: None,
    }
}

#[test]
fn distilled_student_beats_ctc_alone_and_export_round_trips() -> Result<()> {
    let (task, s) = ToyTask::generate(&ToyConfig {
        noise: 1.5,
        n_train: 384,
        ..Default::default()
    })?;
    let dir = tempfile::tempdir()?;
    let tstore = ParamStore::new(1);
    let teacher = CtcModel::new(&task, &enc(48, 2), tstore.vb(&Device::Cpu))?;
    let tc = cfg(300);
    run(&task, &s, &tc, &dir.path().join("t")).run(&teacher, tstore.vars())?;
    let teacher_err = dev_error(&task, &s.dev, &teacher)?;
    let cache = TeacherOutputs::compute(&task, &s.train, 32, &Device::Cpu, |b| {
        let o = Teacher::outputs(&teacher, b, false)?;
        Ok((o.logits, o.lens))
    })?;

    let sc = cfg(120);
    let mut errors = Vec::new();
    for kd in ["ctc", "frame-kd"] {
        let store = ParamStore::new(2);
        let student = CtcModel::new(&task, &enc(16, 1), store.vb(&Device::Cpu).pp("model"))?;
        let d = Distiller {
            student: &student,
            objective: parse_kd(kd)?,
            cache: Some(&cache),
            teacher: None,
            heads: None,
            intermediate: None,
            hypotheses: None,
            teacher_input: student::TeacherInput::Clean,
            kd_warmup: 0,
        };
        run(&task, &s, &sc, &dir.path().join(kd)).run(&d, store.vars())?;
        let err = dev_error(&task, &s.dev, &student)?;
        errors.push(err);
        if kd == "frame-kd" {
            // Export, reload into a fresh model without any teacher, and score again.
            let mdir = dir.path().join("exported");
            ctc_core::export::export(&mdir, &store, "model.", &enc(16, 1), task.vocab())?;
            let (cfg2, vocab): (EncoderConfig, Vocab) = ctc_core::export::read_config(&mdir)?;
            assert_eq!(&vocab, task.vocab());
            let store2 = ParamStore::new(99);
            let reloaded = CtcModel::new(&task, &cfg2, store2.vb(&Device::Cpu).pp("model"))?;
            ctc_core::export::load_weights(&mdir, &store2, "model.")?;
            assert_eq!(dev_error(&task, &s.dev, &reloaded)?, err);
        }
    }
    println!(
        "teacher {teacher_err:.1}, student ctc {:.1}, frame-kd {:.1}",
        errors[0], errors[1]
    );
    assert!(
        teacher_err < errors[0],
        "the teacher must be better than the student"
    );
    assert!(
        errors[1] < errors[0],
        "frame-KD {:.1} did not beat CTC alone {:.1}",
        errors[1],
        errors[0]
    );
    Ok(())
}

/// Records the sources it is shown and answers with zero logits.
struct Recorder {
    seen: std::sync::Mutex<Vec<Vec<f32>>>,
    vocab: usize,
}

impl Teacher for Recorder {
    fn outputs(&self, b: &ctc_core::Batch, _collect: bool) -> Result<student::TeacherOut> {
        self.seen
            .lock()
            .unwrap()
            .push(b.src.flatten_all()?.to_vec1::<f32>()?);
        let (n, t) = (b.len(), b.src.dim(1)?);
        Ok(student::TeacherOut {
            logits: candle_core::Tensor::zeros(
                (n, t, self.vocab),
                candle_core::DType::F32,
                &Device::Cpu,
            )?,
            lens: b.src_lens.clone(),
            hidden: Vec::new(),
            attn: Vec::new(),
        })
    }
}

/// With clean teacher input a live teacher sees the batch's clean sources; with augmented
/// input, the augmented batch the student trains on.
#[test]
fn the_live_teacher_sees_clean_or_augmented_sources_as_configured() -> Result<()> {
    use ctc_core::train::Trainable;
    let (task, s) = ToyTask::generate(&ToyConfig {
        n_train: 4,
        ..Default::default()
    })?;
    let items: Vec<(usize, &ToyExample)> = s.train.iter().enumerate().collect();
    let mut batch = task.collate(&items, false, &mut ctc_core::Rng::new(0), &Device::Cpu)?;
    let clean = batch.src.clone();
    // Stand-in augmentation: the student's batch is shifted, its clean sources kept.
    batch.src = (&clean + 1.0)?;
    batch.clean_src = Some(clean.clone());
    let store = ParamStore::new(2);
    let model = CtcModel::new(&task, &enc(16, 1), store.vb(&Device::Cpu))?;
    for (input, want) in [
        (student::TeacherInput::Clean, &clean),
        (student::TeacherInput::Augmented, &batch.src),
    ] {
        let rec = Recorder {
            seen: Default::default(),
            vocab: task.vocab().size(),
        };
        let d = Distiller {
            student: &model,
            objective: parse_kd("frame-kd")?,
            cache: None,
            teacher: Some(&rec),
            heads: None,
            intermediate: None,
            hypotheses: None,
            teacher_input: input,
            kd_warmup: 0,
        };
        d.loss(&batch, &mut ctc_core::Fwd::eval())?;
        let seen = rec.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{input:?}");
        assert_eq!(seen[0], want.flatten_all()?.to_vec1::<f32>()?, "{input:?}");
    }
    // A batch without augmentation is its own clean batch.
    let plain = task.collate(&items, false, &mut ctc_core::Rng::new(0), &Device::Cpu)?;
    assert!(plain.clean_src.is_none());
    assert_eq!(
        plain.clean().src.flatten_all()?.to_vec1::<f32>()?,
        clean.flatten_all()?.to_vec1::<f32>()?
    );
    Ok(())
}
