//! A small CTC model on each task's generated data (espeak-ng speech, rendered word images):
//! the training loss must fall clearly within a few hundred steps.

use asr::task::AsrTask;
use asr::{synth_corpus, SynthConfig, ENGLISH_CHARS};
use candle_core::{Device, Result};
use ctc_core::admit::Purpose;
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::{TrainConfig, TrainRun, Trainable};
use ctc_core::vocab::Vocab;
use ctc_core::{EncoderConfig, Fwd, Rng, Task};
use scene_text::task::StrTask;
use scene_text::{generate_corpus, RenderConfig};

fn enc() -> EncoderConfig {
    EncoderConfig {
        d_model: 48,
        layers: 1,
        heads: 2,
        d_ff: 96,
        dropout: 0.0,
        conv_channels: 32,
        kind: Default::default(),
        conv_kernel: None,
    }
}

/// Mean training loss over the whole (small) training set.
fn train_loss<T: Task>(task: &T, ex: &[T::Example], m: &CtcModel) -> Result<f32> {
    let mut total = 0.0;
    let mut n = 0;
    for chunk in (0..ex.len()).collect::<Vec<_>>().chunks(16) {
        let items: Vec<(usize, &T::Example)> = chunk.iter().map(|&i| (i, &ex[i])).collect();
        let b = task.collate(&items, false, &mut Rng::new(0), &Device::Cpu)?;
        total += m.loss(&b, &mut Fwd::eval())?.total.to_scalar::<f32>()?;
        n += 1;
    }
    Ok(total / n as f32)
}

fn loss_falls<T: Task>(task: &T, s: &Splits<T::Example>, steps: usize) -> Result<(f32, f32)> {
    let store = ParamStore::new(0);
    let m = CtcModel::new(task, &enc(), store.vb(&Device::Cpu))?;
    let before = train_loss(task, &s.train, &m)?;
    let cfg = TrainConfig {
        batch_size: 16,
        steps,
        lr: 3e-3,
        warmup: 20,
        eval_every: steps,
        select_best: false,
        ..Default::default()
    };
    let dir = tempfile::tempdir()?;
    let run = TrainRun {
        task,
        train: &s.train,
        dev: &s.dev,
        cfg: &cfg,
        seed: 0,
        device: &Device::Cpu,
        out: dir.path().to_path_buf(),
        name: task.name().into(),
        progress: false,
        model_config: None,
    };
    run.run(&m, store.vars())?;
    Ok((before, train_loss(task, &s.train, &m)?))
}

#[test]
fn small_ctc_model_learns_generated_speech() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let cfg = SynthConfig {
        n_train: 48,
        n_dev: 8,
        n_test: 8,
        progress: false,
        ..Default::default()
    };
    let c = synth_corpus(&cfg, None, cache.path())?;
    let task = AsrTask::new(
        Vocab::chars(ENGLISH_CHARS).map_err(candle_core::Error::wrap)?,
        80,
        None,
    );
    let ex = |u, purpose| {
        task.examples(u, true, purpose)
            .map(|a| a.examples)
            .map_err(candle_core::Error::Msg)
    };
    let s = Splits {
        train: ex(c.train, Purpose::Train)?,
        dev: ex(c.dev, Purpose::Score)?,
        test: ex(c.test, Purpose::Score)?,
    };
    let (before, after) = loss_falls(&task, &s, 150)?;
    println!("speech CTC loss {before:.3} -> {after:.3}");
    assert!(after < 0.75 * before, "speech loss {before} -> {after}");
    Ok(())
}

#[test]
fn small_ctc_model_learns_rendered_words() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let cfg = RenderConfig {
        n_train: 96,
        n_dev: 8,
        n_test: 8,
        ..Default::default()
    };
    let c = generate_corpus(&cfg, cache.path())?;
    let alphabet: String = c.alphabet.chars().iter().collect();
    let task = StrTask::new(Vocab::chars(&alphabet).map_err(candle_core::Error::wrap)?);
    let ex = |u, purpose| {
        task.examples(u, false, purpose)
            .map(|a| a.examples)
            .map_err(candle_core::Error::Msg)
    };
    let s = Splits {
        train: ex(c.train, Purpose::Train)?,
        dev: ex(c.dev, Purpose::Score)?,
        test: ex(c.test, Purpose::Score)?,
    };
    let (before, after) = loss_falls(&task, &s, 150)?;
    println!("word-image CTC loss {before:.3} -> {after:.3}");
    assert!(after < 0.75 * before, "word-image loss {before} -> {after}");
    Ok(())
}
