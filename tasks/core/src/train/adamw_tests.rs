use super::fused_tests::{flat, params, store, twin_vars, SHAPES};
use super::*;
use crate::train::clip::group_scales;
use candle_core::Device;

/// PyTorch's AdamW update of one scalar, written out independently of the tensor code.
fn reference(theta: &mut f64, m: &mut f64, v: &mut f64, t: i32, g: f64, p: &ParamsAdamW) {
    *theta *= 1.0 - p.lr * p.weight_decay;
    *m = p.beta1 * *m + (1.0 - p.beta1) * g;
    *v = p.beta2 * *v + (1.0 - p.beta2) * g * g;
    let (bc1, bc2) = (1.0 - p.beta1.powi(t), 1.0 - p.beta2.powi(t));
    *theta -= p.lr / bc1 * *m / ((*v).sqrt() / bc2.sqrt() + p.eps);
}

/// Gradient `g` for `var` by backprop of sum(var · g).
fn grads_for(var: &Var, g: &[f64]) -> Result<GradStore> {
    let c = Tensor::new(g, var.device())?;
    (var.as_tensor() * c)?.sum_all()?.backward()
}

#[test]
fn two_steps_match_hand_computed_pytorch_adamw() -> Result<()> {
    let p = ParamsAdamW {
        lr: 0.1,
        weight_decay: 0.1,
        ..Default::default()
    };
    let w = Var::new(&[1.0f64, -2.0, 0.3], &Device::Cpu)?;
    let mut opt = AdamW::new(vec![("w".into(), w.clone())], p)?;
    let gs = [[0.5, 3.0, 0.0], [-0.25, 1e-3, 2.0]];
    let mut r = [(1.0, 0.0, 0.0), (-2.0, 0.0, 0.0), (0.3, 0.0, 0.0)];
    for (t, g) in gs.iter().enumerate() {
        opt.step(&grads_for(&w, g)?)?;
        for (k, (th, m, v)) in r.iter_mut().enumerate() {
            reference(th, m, v, t as i32 + 1, g[k], &p);
        }
        let got = w.as_tensor().to_vec1::<f64>()?;
        for k in 0..3 {
            assert!(
                (got[k] - r[k].0).abs() < 1e-12,
                "step {t} elem {k}: {} vs {}",
                got[k],
                r[k].0
            );
        }
    }
    // By hand for element 0 (lr 0.1, wd 0.1, g 0.5 then -0.25):
    // step 1: 1·0.99 − 0.1·0.5/(0.5 + 1e-8) = 0.890000002;
    // step 2: m = 0.02, v = 3.1225e-4, m̂ = 0.02/0.19, v̂ = 3.1225e-4/0.001999,
    //         0.890000002·0.99 − 0.1·m̂/(√v̂ + 1e-8) = 0.854466298687846.
    let got = w.as_tensor().to_vec1::<f64>()?;
    assert!((got[0] - 0.854_466_298_687_846).abs() < 1e-12, "{}", got[0]);
    let st = opt.state();
    assert_eq!((st.step, st.vars[0].step), (2, 2));
    let m = st.vars[0].m.to_vec1::<f64>()?;
    let v = st.vars[0].v.to_vec1::<f64>()?;
    assert!((m[0] - 0.02).abs() < 1e-15 && (v[0] - 3.1225e-4).abs() < 1e-15);
    Ok(())
}

#[test]
fn vars_without_gradient_are_skipped_and_counted() -> Result<()> {
    let dev = Device::Cpu;
    let a = Var::new(&[1.0f32, 2.0], &dev)?;
    let b = Var::new(&[3.0f32], &dev)?;
    let mut opt = AdamW::new(
        vec![("a".into(), a.clone()), ("b".into(), b.clone())],
        ParamsAdamW::default(),
    )?;
    let grads = (a.as_tensor() * 2.0)?.sum_all()?.backward()?;
    opt.step(&grads)?;
    assert_eq!(opt.skipped_last_step(), 1);
    assert_eq!(opt.skipped_names(), vec!["b"]);
    assert_eq!(b.as_tensor().to_vec1::<f32>()?, vec![3.0]);
    let st = opt.state();
    assert_eq!((st.step, st.vars[0].step, st.vars[1].step), (1, 1, 0));
    assert_eq!(st.vars[1].m.to_vec1::<f32>()?, vec![0.0]);
    assert!(a.as_tensor().to_vec1::<f32>()?[0] < 1.0);
    Ok(())
}

#[test]
fn bad_construction_and_state_are_errors() -> Result<()> {
    let dev = Device::Cpu;
    let a = Var::new(&[1.0f32], &dev)?;
    let dup = AdamW::new(
        vec![
            ("a".into(), a.clone()),
            ("a".into(), Var::new(&[1f32], &dev)?),
        ],
        ParamsAdamW::default(),
    );
    assert!(dup
        .err()
        .unwrap()
        .to_string()
        .contains("\"a\" appears twice"));
    let bad = ParamsAdamW {
        beta1: 1.0,
        ..Default::default()
    };
    assert!(AdamW::new(vec![("a".into(), a.clone())], bad).is_err());
    let mut opt = AdamW::new(vec![("a".into(), a.clone())], ParamsAdamW::default())?;
    let mut st = opt.state();
    st.vars[0].m = Tensor::zeros(2, candle_core::DType::F32, &dev)?;
    let e = opt.set_state(st).unwrap_err().to_string();
    assert!(e.contains("first moment of \"a\""), "{e}");
    let mut st = opt.state();
    st.vars[0].name = "z".into();
    assert!(opt
        .set_state(st)
        .unwrap_err()
        .to_string()
        .contains("lacks variable \"a\""));
    Ok(())
}

#[test]
fn f64_variables_take_the_composite_path_with_shards() -> Result<()> {
    let dev = Device::Cpu;
    let (a, b) = (
        Var::new(&[1.0f64, -2.0], &dev)?,
        Var::new(&[1.0f64, -2.0], &dev)?,
    );
    let mut opt = AdamW::new(vec![("w".into(), a.clone())], params())?;
    let mut one = AdamW::new(vec![("w".into(), b.clone())], params())?;
    assert!(matches!(opt.slots[0].moments, Moments::Tensors { .. }));
    let (g0, g1) = (
        Tensor::new(&[0.5f64, 3.0], &dev)?,
        Tensor::new(&[-1.0f64, 2.0], &dev)?,
    );
    let (mut s0, mut s1, mut sum) = Default::default();
    GradStore::insert(&mut s0, &a, g0.clone());
    GradStore::insert(&mut s1, &a, g1.clone());
    GradStore::insert(&mut sum, &b, ((g0 + g1)? * 0.5)?);
    opt.step_shards(&[&s0, &s1], &[0.5])?;
    one.step(&sum)?;
    assert_eq!(a.to_vec1::<f64>()?, b.to_vec1::<f64>()?);
    Ok(())
}

#[test]
fn bad_shapes_and_scales_are_errors_that_change_nothing() -> Result<()> {
    let [va, _] = twin_vars(10)?;
    let mut opt = AdamW::new(va.clone(), params())?;
    let before: Vec<Vec<f32>> = va.iter().map(|(_, v)| flat(v.as_tensor())).collect();
    let good: Vec<_> = (SHAPES.iter())
        .map(|s| Some(vec![1f32; s.iter().product()]))
        .collect();
    let s0 = store(&va, &good)?;
    let mut s1 = store(&va, &good)?;
    s1.insert(
        va[1].1.as_tensor(),
        Tensor::zeros((5, 3), DType::F32, &Device::Cpu)?,
    );
    let e = opt
        .step_shards(&[&s0, &s1], &[1.0; 4])
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"enc.b\" in shard 1"), "{e}");
    let e = opt.step(&s1).unwrap_err().to_string();
    assert!(e.contains("shape [5, 3]"), "{e}");
    let e = opt.step_shards(&[&s0], &[1.0; 3]).unwrap_err().to_string();
    assert!(e.contains("3 scales for 4 variables"), "{e}");
    let e = group_scales(&va, &[], &[&s0, &s1], 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"enc.b\" in shard 1"), "{e}");
    assert!(group_scales(&va, &[], &[&s0], 0.0).is_err());
    assert!(group_scales(&va, &[], &[&s0], f64::NAN).is_err());
    let after: Vec<Vec<f32>> = va.iter().map(|(_, v)| flat(v.as_tensor())).collect();
    assert_eq!(before, after);
    let st = opt.state();
    assert_eq!(st.step, 0);
    assert!(st
        .vars
        .iter()
        .all(|m| m.step == 0 && flat(&m.m).iter().all(|&x| x == 0.0)));
    // No shards at all: a step in which every variable is skipped.
    opt.step_shards(&[], &[1.0; 4])?;
    assert_eq!(opt.skipped_last_step(), 4);
    Ok(())
}
