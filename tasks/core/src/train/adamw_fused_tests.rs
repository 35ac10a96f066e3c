//! The fused in-place step against the composite implementation it replaced (`composite_step`,
//! driven by a test-only optimiser loop), sharded gradients, clipping scales, state round trips, bad input.

use super::*;
use crate::train::clip::{clip_grad_norm, group_scales};
use crate::Rng;

/// The composite AdamW step as it was before the fused loop (one GradStore, candle ops).
struct Reference {
    vars: Vec<(String, Var)>,
    steps: Vec<usize>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    p: ParamsAdamW,
}

impl Reference {
    fn new(vars: Vec<(String, Var)>, p: ParamsAdamW) -> Result<Self> {
        let m = (vars.iter())
            .map(|(_, v)| v.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            steps: vec![0; vars.len()],
            v: m.clone(),
            m,
            vars,
            p,
        })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let p = self.p;
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let t = (self.steps[i] + 1) as i32;
            // The composite update is the code the fused loop replaced (still the fallback
            // for other devices and dtypes), driven here with its own moments and step counts.
            let (m, v) = composite_step(var, &self.m[i], &self.v[i], g, t, &p)?;
            (self.m[i], self.v[i]) = (m, v);
            self.steps[i] += 1;
        }
        Ok(())
    }
}

/// The old `grad_norm` (candle ops), for comparing norms.
fn old_norm(vars: &[(String, Var)], grads: &GradStore) -> Result<f64> {
    let mut sq = 0f64;
    for (_, v) in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += g
                .to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?;
        }
    }
    Ok(sq.sqrt())
}

pub(super) fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

pub(super) fn randn(rng: &mut Rng, n: usize, scale: f64) -> Vec<f32> {
    (0..n).map(|_| (rng.normal() * scale) as f32).collect()
}

pub(super) const SHAPES: [&[usize]; 4] = [&[37], &[3, 5], &[1], &[4, 4]];

/// Two identical sets of f32 variables named "enc.a", "enc.b", "head.c", "x".
pub(super) fn twin_vars(seed: u64) -> Result<[Vec<(String, Var)>; 2]> {
    let names = ["enc.a", "enc.b", "head.c", "x"];
    let mut rng = Rng::new(seed);
    let make = |rng: &mut Rng| -> Result<Vec<(String, Var)>> {
        (names.iter().zip(SHAPES))
            .map(|(n, s)| {
                let d = randn(rng, s.iter().product(), 1.0);
                Ok((
                    n.to_string(),
                    Var::from_tensor(&Tensor::from_vec(d, s, &Device::Cpu)?)?,
                ))
            })
            .collect()
    };
    let a = make(&mut rng.clone())?;
    Ok([a, make(&mut rng)?])
}

/// A store with gradient `gs[i]` for variable i (None: no gradient).
pub(super) fn store(vars: &[(String, Var)], gs: &[Option<Vec<f32>>]) -> Result<GradStore> {
    let mut st = GradStore::default();
    for ((_, v), g) in vars.iter().zip(gs) {
        if let Some(g) = g {
            st.insert(
                v.as_tensor(),
                Tensor::from_vec(g.clone(), v.shape(), v.device())?,
            );
        }
    }
    Ok(st)
}

/// Largest relative difference, the denominator floored at 1e-6.
fn max_rel(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    (a.iter().zip(b))
        .map(|(&x, &y)| (x as f64 - y as f64).abs() / (y.abs() as f64).max(1e-6))
        .fold(0.0, f64::max)
}

fn assert_close(opt: &AdamW, r: &Reference, what: &str) {
    let st = opt.state();
    for (i, ((name, var), ms)) in r.vars.iter().zip(&st.vars).enumerate() {
        let (_, mine) = opt.vars().nth(i).unwrap();
        let e = max_rel(&flat(mine.as_tensor()), &flat(var.as_tensor()))
            .max(max_rel(&flat(&ms.m), &flat(&r.m[i])))
            .max(max_rel(&flat(&ms.v), &flat(&r.v[i])));
        assert!(e < 1e-6, "{what}: {name}: relative difference {e}");
        assert_eq!(ms.step, r.steps[i], "{what}: {name}: step count");
    }
}

pub(super) fn params() -> ParamsAdamW {
    ParamsAdamW {
        lr: 3e-3,
        weight_decay: 0.1,
        ..Default::default()
    }
}

#[test]
fn fused_step_matches_the_composite_reference() -> Result<()> {
    let [va, vb] = twin_vars(1)?;
    let mut opt = AdamW::new(va.clone(), params())?;
    assert!((opt.slots.iter()).all(|s| matches!(s.moments, Moments::Host { .. })));
    let mut r = Reference::new(vb.clone(), params())?;
    let mut rng = Rng::new(2);
    for step in 0..6 {
        let lr = 3e-3 * (1.0 + step as f64) / 6.0;
        opt.set_lr(lr);
        r.p.lr = lr;
        // "head.c" has no gradient on steps 1 and 3: its own step count falls behind.
        let gs: Vec<Option<Vec<f32>>> = (SHAPES.iter().enumerate())
            .map(|(i, s)| {
                let n = s.iter().product();
                let mut g = randn(&mut rng, n, 10f64.powi(i as i32 - 2));
                g[0] = 0.0;
                (i != 2 || step % 2 == 0).then_some(g)
            })
            .collect();
        opt.step(&store(&va, &gs)?)?;
        r.step(&store(&vb, &gs)?)?;
        let skipped: Vec<&str> = if step % 2 == 1 {
            vec!["head.c"]
        } else {
            vec![]
        };
        assert_eq!(opt.skipped_names(), skipped);
        assert_close(&opt, &r, &format!("step {step}"));
    }
    assert_eq!(opt.step_count(), 6);
    // The variables did move, and the reference with them.
    let before = twin_vars(1)?;
    assert!(
        max_rel(
            &flat(va[0].1.as_tensor()),
            &flat(before[0][0].1.as_tensor())
        ) > 1e-4
    );
    Ok(())
}

#[test]
fn shards_equal_one_store_holding_their_sum() -> Result<()> {
    for n_shards in [1, 2, 3, 5] {
        let [va, vb] = twin_vars(3)?;
        let mut opt = AdamW::new(va.clone(), params())?;
        let mut one = AdamW::new(vb.clone(), params())?;
        let mut rng = Rng::new(4);
        for _ in 0..3 {
            // Shard k has "enc.a" always, "enc.b" only in shard 0, "head.c" only in the
            // last shard, "x" never.
            let per: Vec<Vec<Option<Vec<f32>>>> = (0..n_shards)
                .map(|k| {
                    (SHAPES.iter().enumerate())
                        .map(|(i, s)| {
                            let g = randn(&mut rng, s.iter().product(), 1.0);
                            let has = [true, k == 0, k + 1 == n_shards, false][i];
                            has.then_some(g)
                        })
                        .collect()
                })
                .collect();
            let shards = (per.iter())
                .map(|g| store(&va, g))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&GradStore> = shards.iter().collect();
            opt.step_shards(&refs, &[1.0; 4])?;
            // The sum, in shard order, by tensor adds.
            let mut sum = GradStore::default();
            for (i, (_, v)) in vb.iter().enumerate() {
                let mut acc: Option<Tensor> = None;
                for g in per.iter().filter_map(|p| p[i].as_ref()) {
                    let t = Tensor::from_vec(g.clone(), v.shape(), v.device())?;
                    acc = Some(match acc {
                        None => t,
                        Some(a) => (a + t)?,
                    });
                }
                if let Some(a) = acc {
                    sum.insert(v.as_tensor(), a);
                }
            }
            one.step(&sum)?;
            assert_eq!(opt.skipped_names(), vec!["x"]);
            assert_eq!(one.skipped_names(), vec!["x"]);
        }
        let (s1, s2) = (opt.state(), one.state());
        for (i, (x, y)) in s1.vars.iter().zip(&s2.vars).enumerate() {
            let what = format!("{n_shards} shards, {}", x.name);
            assert_eq!(
                flat(va[i].1.as_tensor()),
                flat(vb[i].1.as_tensor()),
                "{what}"
            );
            assert_eq!(
                (x.step, flat(&x.m), flat(&x.v)),
                (y.step, flat(&y.m), flat(&y.v))
            );
        }
    }
    Ok(())
}

#[test]
fn group_scales_then_step_equal_clip_grad_norm_then_old_step() -> Result<()> {
    let groups = vec!["enc.".to_string(), "head.".to_string()];
    let [va, vb] = twin_vars(5)?;
    let mut opt = AdamW::new(va.clone(), params())?;
    let mut r = Reference::new(vb.clone(), params())?;
    let mut rng = Rng::new(6);
    // "enc." gradients are large (clipped), "head." small (kept), "x" around the limit.
    let mags = [3.0, 3.0, 0.01, 0.2];
    for step in 0..4 {
        let per: Vec<Vec<Option<Vec<f32>>>> = (0..2)
            .map(|_| {
                (SHAPES.iter().zip(mags))
                    .map(|(s, m)| Some(randn(&mut rng, s.iter().product(), m)))
                    .collect()
            })
            .collect();
        let shards = (per.iter())
            .map(|g| store(&va, g))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&GradStore> = shards.iter().collect();
        let cs = group_scales(&va, &groups, &refs, 1.0)?;
        opt.step_shards(&refs, &cs.scales)?;
        // Today: one store with the sum, each group clipped by clip_grad_norm, then the step.
        let sum: Vec<Option<Vec<f32>>> = (0..4)
            .map(|i| {
                let (a, b) = (per[0][i].as_ref().unwrap(), per[1][i].as_ref().unwrap());
                Some(a.iter().zip(b).map(|(x, y)| x + y).collect())
            })
            .collect();
        let mut grads = store(&vb, &sum)?;
        let members = [&vb[0..2], &vb[2..3], &vb[3..4]];
        for (k, m) in members.iter().enumerate() {
            let old = old_norm(m, &grads)?;
            let pre = clip_grad_norm(m, &mut grads, 1.0)?;
            assert!((pre - old).abs() <= 1e-12 * old, "{pre} vs {old}");
            assert!(
                (cs.norms[k] - old).abs() <= 1e-12 * old,
                "{:?} vs {old}",
                cs.norms
            );
        }
        assert!(cs.scales[0] < 0.99 && cs.scales[0] == cs.scales[1] && cs.scales[2] == 1.0);
        r.step(&grads)?;
        assert_close(&opt, &r, &format!("step {step}"));
    }
    Ok(())
}

#[test]
fn state_round_trip_then_identical_steps() -> Result<()> {
    let [va, vb] = twin_vars(7)?;
    let mut a = AdamW::new(va.clone(), params())?;
    let mut rng = Rng::new(8);
    let grads = |vars: &[(String, Var)], rng: &mut Rng| {
        let gs: Vec<_> = (SHAPES.iter())
            .map(|s| Some(randn(rng, s.iter().product(), 1.0)))
            .collect();
        store(vars, &gs)
    };
    for _ in 0..3 {
        a.step(&grads(&va, &mut rng)?)?;
    }
    let st = a.state();
    let snap: Vec<Vec<f32>> = st.vars.iter().map(|m| flat(&m.m)).collect();
    for ((_, x), (_, y)) in va.iter().zip(&vb) {
        y.set(x.as_tensor())?;
    }
    let mut b = AdamW::new(vb.clone(), ParamsAdamW::default())?;
    b.set_state(st.clone())?;
    assert_eq!((b.step_count(), *b.params()), (3, params()));
    for _ in 0..3 {
        let g = grads(&va, &mut rng)?;
        a.step(&g)?;
        // The same gradients, keyed by b's variables.
        let mut gb = GradStore::default();
        for ((_, x), (_, y)) in va.iter().zip(&vb) {
            gb.insert(y.as_tensor(), g.get(x.as_tensor()).unwrap().clone());
        }
        b.step(&gb)?;
    }
    for ((_, x), (_, y)) in va.iter().zip(&vb) {
        assert_eq!(flat(x.as_tensor()), flat(y.as_tensor()));
    }
    let (sa, sb) = (a.state(), b.state());
    for (x, y) in sa.vars.iter().zip(&sb.vars) {
        assert_eq!(
            (x.step, flat(&x.m), flat(&x.v)),
            (y.step, flat(&y.m), flat(&y.v))
        );
    }
    // The state taken earlier is a copy: later in-place steps left it alone.
    let now: Vec<Vec<f32>> = st.vars.iter().map(|m| flat(&m.m)).collect();
    assert_eq!(now, snap);
    assert_ne!(flat(&sa.vars[0].m), snap[0]);
    Ok(())
}

#[test]
fn odd_gradients_are_read_correctly() -> Result<()> {
    // A transposed (non-contiguous) gradient, an f64 gradient of an f32 variable, and a
    // gradient sharing the variable's own storage.
    let [va, vb] = twin_vars(9)?;
    let mut opt = AdamW::new(va.clone(), params())?;
    let mut r = Reference::new(vb.clone(), params())?;
    for _ in 0..2 {
        let mut ga = GradStore::default();
        let mut gb = GradStore::default();
        for (vars, st) in [(&va, &mut ga), (&vb, &mut gb)] {
            let b = vars[1].1.as_tensor();
            let tr = Tensor::arange(0f32, 15.0, &Device::Cpu)?
                .reshape((5, 3))?
                .t()?;
            assert!(!tr.is_contiguous());
            st.insert(b, tr);
            let c = vars[2].1.as_tensor();
            st.insert(c, Tensor::new(&[0.25f64], &Device::Cpu)?);
            let x = vars[3].1.as_tensor();
            st.insert(x, x.clone());
        }
        opt.step(&ga)?;
        r.step(&gb)?;
        assert_close(&opt, &r, "odd gradients");
    }
    Ok(())
}
