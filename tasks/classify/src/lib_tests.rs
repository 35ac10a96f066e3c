use candle_core::{DType, Device, Tensor, Var, D};
use ctc_core::params::ParamStore;
use ctc_core::task::Fwd;
use ctc_core::train::ctc_term;

use super::*;

fn task(jitter: usize, input_dropout: f64) -> ClassifyTask {
    ClassifyTask::new(&ClassifyConfig {
        rows: 4,
        cols: 5,
        jitter,
        input_dropout,
        ..ClassifyConfig::default()
    })
    .unwrap()
}

/// The trainer's CTC objective on one frame is the mean cross-entropy over classes + blank,
/// in value and in gradient.
#[test]
fn ctc_over_one_frame_is_cross_entropy_over_classes_and_blank() {
    let dev = Device::Cpu;
    let (b, v) = (6, 11);
    let mut rng = Rng::new(7);
    let z: Vec<f32> = (0..b * v).map(|_| 3.0 * rng.normal() as f32).collect();
    let targets: Vec<Vec<u32>> = (0..b).map(|i| vec![1 + (i as u32 * 7) % 10]).collect();
    let logits = Var::from_tensor(&Tensor::from_vec(z, (b, 1, v), &dev).unwrap()).unwrap();
    let (ctc, _) = ctc_term(logits.as_tensor(), &vec![1; b], &targets).unwrap();
    let logp =
        candle_nn::ops::log_softmax(&logits.as_tensor().squeeze(1).unwrap(), D::Minus1).unwrap();
    let picked: Vec<Tensor> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| logp.get(i).unwrap().get(t[0] as usize).unwrap())
        .collect();
    let ce = Tensor::stack(&picked, 0)
        .unwrap()
        .mean_all()
        .unwrap()
        .neg()
        .unwrap();
    let (a, c) = (
        ctc.to_scalar::<f32>().unwrap(),
        ce.to_scalar::<f32>().unwrap(),
    );
    assert!(a > 0.5, "a random net's loss is not small: {a}");
    assert!((a - c).abs() < 1e-5 * c.abs().max(1.0), "ctc {a} vs ce {c}");
    let g_ctc = ctc.backward().unwrap().get(&logits).unwrap().clone();
    let g_ce = ce.backward().unwrap().get(&logits).unwrap().clone();
    let diff = (g_ctc - g_ce)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-5, "gradients differ by {diff}");
}

/// The CER over one-character labels counts each wrong example (wrong class, or the blank
/// winning and leaving no answer) as one error out of N.
#[test]
fn error_rate_is_errors_out_of_n() {
    let refs: Vec<String> = ["1", "2", "3", "4"].map(String::from).to_vec();
    let hyps: Vec<String> = ["1", "5", "", "4"].map(String::from).to_vec();
    let t = task(0, 0.0);
    let s = t.score(&refs, &hyps);
    assert_eq!(t.error(&s), 50.0);
    assert_eq!(s.word_acc, 50.0);
}

fn image(t: &ClassifyTask) -> ClassifyExample {
    // A bright pixel well inside the frame, so a one-pixel jitter never pushes it out.
    let mut px = vec![0u8; 20];
    px[2 * 5 + 2] = 255;
    px[5 + 1] = 51;
    t.example(px, 3)
}

#[test]
fn collate_without_training_is_the_plain_image_in_one_frame() {
    let t = task(1, 0.5);
    let ex = image(&t);
    let b = t
        .collate(&[(9, &ex)], false, &mut Rng::new(0), &Device::Cpu)
        .unwrap();
    assert_eq!(b.src.dims(), [1, 1, 20]);
    assert_eq!((b.src_lens.clone(), b.ids.clone()), (vec![1], vec![9]));
    assert_eq!(b.targets, [[4]]);
    assert_eq!(b.texts, ["3"]);
    let v = b.src.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(v[12], 1.0);
    assert!((v[6] - 0.2).abs() < 1e-6);
    assert_eq!(v.iter().filter(|&&x| x != 0.0).count(), 2);
}

#[test]
fn jitter_shifts_by_at_most_its_range_and_is_seeded() {
    let t = task(1, 0.0);
    let ex = image(&t);
    let items: Vec<(usize, &ClassifyExample)> = (0..64).map(|i| (i, &ex)).collect();
    let run = |seed| {
        t.collate(&items, true, &mut Rng::new(seed), &Device::Cpu)
            .unwrap()
            .src
            .to_vec3::<f32>()
            .unwrap()
    };
    let a = run(1);
    assert_eq!(a, run(1), "same generator state, same augmentation");
    assert_ne!(a, run(2));
    let mut shifts = std::collections::BTreeSet::new();
    for img in &a {
        let at = img[0]
            .iter()
            .position(|&x| x == 1.0)
            .expect("bright pixel kept");
        let (dr, dc) = (at as isize / 5 - 2, at as isize % 5 - 2);
        assert!(dr.abs() <= 1 && dc.abs() <= 1, "shift ({dr}, {dc})");
        shifts.insert((dr, dc));
    }
    assert_eq!(
        shifts.len(),
        9,
        "every shift in [-1, 1]^2 drawn: {shifts:?}"
    );
}

#[test]
fn input_dropout_drops_about_p_and_rescales_the_rest() {
    let t = task(0, 0.25);
    let ex = t.example(vec![102; 20], 0);
    let items: Vec<(usize, &ClassifyExample)> = (0..200).map(|i| (i, &ex)).collect();
    let v = t
        .collate(&items, true, &mut Rng::new(3), &Device::Cpu)
        .unwrap()
        .src
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let dropped = v.iter().filter(|&&x| x == 0.0).count() as f64 / v.len() as f64;
    assert!((dropped - 0.25).abs() < 0.03, "dropped {dropped}");
    assert!(v.iter().all(|&x| x == 0.0 || (x - 0.4 / 0.75).abs() < 1e-6));
}

#[test]
fn mlp_emits_one_frame_and_checks_its_sizes() {
    let t = task(0, 0.0);
    let mut cfg = EncoderConfig {
        d_model: 8,
        layers: 2,
        heads: 1,
        d_ff: 8,
        dropout: 0.5,
        conv_channels: 64,
        kind: Default::default(),
        conv_kernel: None,
    };
    let store = ParamStore::new(0);
    let enc = t.encoder(&cfg, store.vb(&Device::Cpu)).unwrap();
    let ex = image(&t);
    let b = t
        .collate(&[(0, &ex), (1, &ex)], false, &mut Rng::new(0), &Device::Cpu)
        .unwrap();
    let out = enc
        .forward(&b.src, &b.src_lens, &mut Fwd::eval().collecting())
        .unwrap();
    assert_eq!(out.frames.dims(), [2, 1, 8]);
    assert_eq!((out.lens, out.hidden.len()), (vec![1, 1], 2));
    assert_eq!(out.frames.dtype(), DType::F32);
    // Dropout draws from the run's generator in training only.
    let train = |seed| {
        enc.forward(&b.src, &b.src_lens, &mut Fwd::train(Rng::new(seed)))
            .unwrap()
            .frames
            .to_vec3::<f32>()
            .unwrap()
    };
    assert_eq!(train(5), train(5));
    let conformer = EncoderConfig {
        kind: ctc_core::task::EncoderKind::Conformer,
        ..cfg.clone()
    };
    let err = t.encoder(&conformer, store.vb(&Device::Cpu)).err().unwrap();
    assert!(err.to_string().contains("no attention blocks"), "{err}");
    cfg.layers = 0;
    assert!(t.encoder(&cfg, store.vb(&Device::Cpu)).is_err());
}

#[test]
fn bad_settings_are_refused() {
    let bad = [
        ClassifyConfig {
            classes: vec!["one".into()],
            ..ClassifyConfig::default()
        },
        ClassifyConfig {
            jitter: 28,
            ..ClassifyConfig::default()
        },
        ClassifyConfig {
            input_dropout: 1.0,
            ..ClassifyConfig::default()
        },
    ];
    for cfg in bad {
        assert!(ClassifyTask::new(&cfg).is_err(), "{cfg:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let t = ClassifyTask::new(&ClassifyConfig {
        dir: dir.path().to_path_buf(),
        ..ClassifyConfig::default()
    })
    .unwrap();
    let e = t
        .read(&["a".into(), "b".into(), "c".into()], "train")
        .unwrap_err();
    assert!(e.to_string().contains("data.train lists 3 files"), "{e}");
}
