//! Online distillation on the tiny synthetic task: the student's loss never reaches the
//! teacher, and one loop trains both.

mod common;

use candle_core::{Device, Result};
use common::{dev_error, enc};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::train::{TrainConfig, TrainRun, Trainable};
use ctc_core::{EncoderConfig, Fwd, Rng, Task};
use student::losses::parse_kd;
use student::online::{online_vars, Online};
use student::Distiller;
use toy::{ToyConfig, ToyExample, ToyTask};

fn distiller<'a>(student: &'a CtcModel, kd: &str) -> Result<Distiller<'a>> {
    Ok(Distiller {
        student,
        objective: parse_kd(kd)?,
        cache: None,
        teacher: None,
        heads: None,
        intermediate: None,
        hypotheses: None,
        teacher_input: student::TeacherInput::Clean,
        kd_warmup: 0,
    })
}

#[test]
fn the_student_loss_does_not_reach_the_teacher() -> Result<()> {
    let (task, s) = ToyTask::generate(&ToyConfig::default())?;
    let dev = Device::Cpu;
    let items: Vec<(usize, &ToyExample)> = s.train.iter().take(8).enumerate().collect();
    let batch = task.collate(&items, false, &mut Rng::new(0), &dev)?;
    let (tstore, sstore) = (ParamStore::new(1), ParamStore::new(2));
    let teacher = CtcModel::new(&task, &enc(24, 1), tstore.vb(&dev))?;
    let student = CtcModel::new(&task, &enc(16, 1), sstore.vb(&dev))?;

    let alone = Trainable::loss(&teacher, &batch, &mut Fwd::eval())?;
    let alone = alone.total.backward()?;
    let online = Online::new(&teacher, distiller(&student, "frame-kd")?)?;
    let joint = online.loss(&batch, &mut Fwd::eval())?.total.backward()?;
    for (name, v) in tstore.vars() {
        let (a, j) = (alone.get(v.as_tensor()), joint.get(v.as_tensor()));
        let (Some(a), Some(j)) = (a, j) else {
            panic!("teacher parameter {name} has no gradient");
        };
        let diff = (a - j)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(
            diff < 1e-6,
            "{name}: the student's loss moved the teacher by {diff}"
        );
    }
    let reached = sstore
        .vars()
        .iter()
        .filter(|(_, v)| joint.get(v.as_tensor()).is_some())
        .count();
    assert_eq!(
        reached,
        sstore.vars().len(),
        "every student parameter gets a gradient"
    );

    // A fixed teacher's hypotheses cannot follow a moving teacher.
    assert!(Online::new(&teacher, distiller(&student, "sequence-kd")?).is_err());
    Ok(())
}

#[test]
fn one_loop_trains_both_and_the_teacher_as_if_alone() -> Result<()> {
    let (task, s) = ToyTask::generate(&ToyConfig {
        n_train: 256,
        ..Default::default()
    })?;
    let dev = Device::Cpu;
    // Dropout on, so the test also covers the order in which the models draw from the stream.
    let drop = |d: usize| EncoderConfig {
        dropout: 0.1,
        ..enc(d, 1)
    };
    let teacher_alone = |store: &ParamStore| CtcModel::new(&task, &drop(32), store.vb(&dev));
    let (tstore, sstore, astore) = (ParamStore::new(1), ParamStore::new(2), ParamStore::new(1));
    let teacher = teacher_alone(&tstore)?;
    let alone = teacher_alone(&astore)?;
    let student = CtcModel::new(&task, &drop(16), sstore.vb(&dev))?;
    let before = (
        dev_error(&task, &s.dev, &teacher)?,
        dev_error(&task, &s.dev, &student)?,
    );
    let cfg = TrainConfig {
        batch_size: 16,
        steps: 150,
        lr: 3e-3,
        warmup: 10,
        eval_every: 150,
        checkpoint_every: 10_000,
        ..Default::default()
    };
    let dir = tempfile::tempdir()?;
    let run = |name: &str| TrainRun {
        task: &task,
        train: &s.train,
        dev: &s.dev,
        cfg: &cfg,
        seed: 3,
        device: &dev,
        out: dir.path().join(name),
        name: name.into(),
        progress: false,
        model_config: None,
    };
    let online = Online::new(&teacher, distiller(&student, "frame-kd")?)?;
    let report = run("online").run(&online, online_vars(tstore.vars(), sstore.vars()))?;
    run("alone").run(&alone, astore.vars())?;

    for ((name, a), (_, b)) in tstore.vars().iter().zip(astore.vars().iter()) {
        let diff = (a.as_tensor() - b.as_tensor())?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert_eq!(
            diff, 0.0,
            "{name}: the online teacher left its solo trajectory"
        );
    }
    let after = (
        dev_error(&task, &s.dev, &teacher)?,
        dev_error(&task, &s.dev, &student)?,
    );
    println!(
        "teacher {:.1} -> {:.1}, student {:.1} -> {:.1}",
        before.0, after.0, before.1, after.1
    );
    assert!(
        after.0 < before.0 - 30.0,
        "teacher: {before:?} -> {after:?}"
    );
    assert!(
        after.1 < before.1 - 30.0,
        "student: {before:?} -> {after:?}"
    );
    // The dev curve follows the student.
    let last = report.curve.last().expect("one evaluation").dev_error;
    assert!(
        (last - after.1).abs() < 1e-9,
        "curve {last}, student {}",
        after.1
    );
    Ok(())
}
