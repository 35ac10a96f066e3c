use super::*;
use candle_core::backprop::GradStore;
use rand::RngCore;

fn model(dev: &Device, a: &[f32], b: &[[f32; 2]; 2]) -> Result<Vec<(String, Var)>> {
    Ok(vec![
        ("enc.a".to_string(), Var::new(a, dev)?),
        ("head.b".to_string(), Var::new(b, dev)?),
    ])
}

fn grads(vars: &[(String, Var)]) -> Result<GradStore> {
    let l = (vars[0].1.as_tensor().sqr()?.sum_all()?
        + vars[1].1.as_tensor().sum_all()?.affine(0.5, 0.0)?)?;
    l.backward()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn save_load_restores_weights_moments_and_rng_stream() -> Result<()> {
    let dev = Device::Cpu;
    let tmp = tempfile::tempdir().map_err(|e| io_err(Path::new("tmp"), e))?;
    let dir = tmp.path().join("last");
    let vars = model(&dev, &[1.0, -2.0, 3.0], &[[0.5, 0.25], [4.0, -1.0]])?;
    let mut opt = AdamW::new(vars.clone(), ParamsAdamW::default())?;
    for _ in 0..3 {
        opt.step(&grads(&vars)?)?;
    }
    opt.set_lr(3e-4);
    let mut rng = Rng::new(42);
    rng.next_u64();
    let schedule = Schedule::WarmupCosine {
        warmup: 2,
        total: 10,
        min_ratio: 0.1,
    };
    let meta = TrainMeta {
        step: 3,
        schedule: schedule.clone(),
        rng: rng.state(),
        extra: serde_json::json!({"best_dev_error": 12.5}),
        config: None,
    };
    // Saving twice exercises replacing an existing checkpoint.
    save_checkpoint(&dir, &vars, &opt, &meta)?;
    save_checkpoint(&dir, &vars, &opt, &meta)?;
    assert!(dir.join(COMPLETE_MARKER).is_file());
    assert!(!hidden_sibling(&dir, "old")?.exists() && !hidden_sibling(&dir, "partial")?.exists());

    // A fresh model with other values and a fresh optimizer.
    let fresh = model(&dev, &[0.0; 3], &[[0.0; 2]; 2])?;
    let mut opt2 = AdamW::new(fresh.clone(), ParamsAdamW::default())?;
    let back = load_checkpoint(&dir, &fresh, &mut opt2)?;
    assert_eq!(back, meta);
    for ((_, a), (_, b)) in vars.iter().zip(&fresh) {
        assert_eq!(flat(a.as_tensor()), flat(b.as_tensor()));
    }
    let (s1, s2) = (opt.state(), opt2.state());
    assert_eq!((s2.step, s2.params), (3, s1.params));
    assert_eq!(opt2.lr(), 3e-4);
    for (x, y) in s1.vars.iter().zip(&s2.vars) {
        assert_eq!(
            (x.step, flat(&x.m), flat(&x.v)),
            (y.step, flat(&y.m), flat(&y.v))
        );
    }
    let mut r2 = back.rng();
    let a: Vec<u64> = (0..10).map(|_| rng.next_u64()).collect();
    let b: Vec<u64> = (0..10).map(|_| r2.next_u64()).collect();
    assert_eq!(a, b);
    // Resumed training continues identically.
    opt.step(&grads(&vars)?)?;
    opt2.step(&grads(&fresh)?)?;
    assert_eq!(flat(vars[1].1.as_tensor()), flat(fresh[1].1.as_tensor()));
    Ok(())
}

#[test]
fn missing_mismatched_corrupt_and_incomplete_are_named() -> Result<()> {
    let dev = Device::Cpu;
    let tmp = tempfile::tempdir().map_err(|e| io_err(Path::new("tmp"), e))?;
    let dir = tmp.path().join("ck");
    let vars = model(&dev, &[1.0, 2.0, 3.0], &[[1.0; 2]; 2])?;
    let opt = AdamW::new(vars.clone(), ParamsAdamW::default())?;
    let meta = TrainMeta {
        step: 0,
        schedule: Schedule::Constant,
        rng: Rng::new(1).state(),
        extra: serde_json::Value::Null,
        config: None,
    };
    save_checkpoint(&dir, &vars, &opt, &meta)?;

    // A model with one more tensor: the missing one is named, nothing is changed.
    let mut bigger = model(&dev, &[0.0; 3], &[[0.0; 2]; 2])?;
    bigger.push(("head.bias".into(), Var::new(&[0f32], &dev)?));
    let mut o = AdamW::new(bigger.clone(), ParamsAdamW::default())?;
    let e = load_checkpoint(&dir, &bigger, &mut o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.safetensors") && e.contains("lacks tensor \"head.bias\""),
        "{e}"
    );
    assert_eq!(flat(bigger[0].1.as_tensor()), vec![0.0; 3]);

    // Wrong shape.
    let other = vec![
        ("enc.a".to_string(), Var::new(&[0f32; 4], &dev)?),
        ("head.b".to_string(), Var::new(&[[0f32; 2]; 2], &dev)?),
    ];
    let mut o = AdamW::new(other.clone(), ParamsAdamW::default())?;
    let e = load_checkpoint(&dir, &other, &mut o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"enc.a\"") && e.contains("[3]") && e.contains("[4]"),
        "{e}"
    );

    // Wrong dtype.
    let f64s = vec![
        ("enc.a".to_string(), Var::new(&[0f64; 3], &dev)?),
        ("head.b".to_string(), Var::new(&[[0f64; 2]; 2], &dev)?),
    ];
    let mut o = AdamW::new(f64s.clone(), ParamsAdamW::default())?;
    let e = load_checkpoint(&dir, &f64s, &mut o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"enc.a\" is F32") && e.contains("expects F64"),
        "{e}"
    );

    // A truncated optimizer file, then a garbage weights file: refused by their recorded
    // hashes, before anything is parsed or changed.
    let opath = dir.join(OPTIMIZER_FILE);
    let bytes = std::fs::read(&opath).map_err(|e| io_err(&opath, e))?;
    std::fs::write(&opath, &bytes[..bytes.len() / 2]).map_err(|e| io_err(&opath, e))?;
    let mut o = AdamW::new(vars.clone(), ParamsAdamW::default())?;
    let e = load_checkpoint(&dir, &vars, &mut o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("optimizer.safetensors: corrupt"), "{e}");
    std::fs::write(&opath, &bytes).map_err(|e| io_err(&opath, e))?;
    std::fs::write(dir.join(WEIGHTS_FILE), b"not safetensors").map_err(|e| io_err(&dir, e))?;
    let e = load_checkpoint(&dir, &vars, &mut o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.safetensors: corrupt"), "{e}");
    // Without recorded hashes (a checkpoint from before they were), the parser refuses it.
    let spath = dir.join(STATE_FILE);
    let mut sc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&spath).map_err(|e| io_err(&spath, e))?)
            .map_err(|e| io_err(&spath, e))?;
    sc.as_object_mut().unwrap().remove("files");
    std::fs::write(&spath, sc.to_string()).map_err(|e| io_err(&spath, e))?;
    let e = load_checkpoint(&dir, &vars, &mut o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.safetensors: unreadable safetensors (truncated or not"),
        "{e}"
    );
    assert_eq!(flat(vars[0].1.as_tensor()), vec![1.0, 2.0, 3.0]);

    // No marker: never loaded.
    std::fs::remove_file(dir.join(COMPLETE_MARKER)).map_err(|e| io_err(&dir, e))?;
    let e = load_checkpoint(&dir, &vars, &mut o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no complete checkpoint"), "{e}");
    Ok(())
}

#[test]
fn interrupted_swap_falls_back_to_the_previous_checkpoint() -> Result<()> {
    let dev = Device::Cpu;
    let tmp = tempfile::tempdir().map_err(|e| io_err(Path::new("tmp"), e))?;
    let dir = tmp.path().join("last");
    let vars = model(&dev, &[7.0, 8.0, 9.0], &[[1.0; 2]; 2])?;
    let opt = AdamW::new(vars.clone(), ParamsAdamW::default())?;
    let meta = TrainMeta {
        step: 5,
        schedule: Schedule::Constant,
        rng: Rng::new(2).state(),
        extra: serde_json::Value::Null,
        config: None,
    };
    save_checkpoint(&dir, &vars, &opt, &meta)?;
    // Simulate a crash after the old checkpoint was moved aside and before the new one
    // was renamed in.
    let old = hidden_sibling(&dir, "old")?;
    std::fs::rename(&dir, &old).map_err(|e| io_err(&dir, e))?;
    assert_eq!(complete_checkpoint(&dir), Some(old));
    let fresh = model(&dev, &[0.0; 3], &[[0.0; 2]; 2])?;
    let mut o = AdamW::new(fresh.clone(), ParamsAdamW::default())?;
    assert_eq!(load_checkpoint(&dir, &fresh, &mut o)?.step, 5);
    assert_eq!(flat(fresh[0].1.as_tensor()), vec![7.0, 8.0, 9.0]);
    // The next save cleans up.
    save_checkpoint(&dir, &vars, &opt, &meta)?;
    assert!(
        complete_checkpoint(&dir) == Some(dir.clone()) && !hidden_sibling(&dir, "old")?.exists()
    );
    Ok(())
}

#[test]
fn weights_file_round_trip() -> Result<()> {
    let dev = Device::Cpu;
    let tmp = tempfile::tempdir().map_err(|e| io_err(Path::new("tmp"), e))?;
    let p = tmp.path().join("w.safetensors");
    let vars = model(&dev, &[1.5, 2.5, 3.5], &[[1.0, 2.0], [3.0, 4.0]])?;
    save_weights(&p, &vars)?;
    let fresh = model(&dev, &[0.0; 3], &[[0.0; 2]; 2])?;
    load_weights(&p, &fresh)?;
    assert_eq!(flat(fresh[1].1.as_tensor()), vec![1.0, 2.0, 3.0, 4.0]);
    let e = load_weights(&tmp.path().join("nope.safetensors"), &fresh)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.safetensors: missing"), "{e}");
    Ok(())
}
