//! Gradient clipping by the L2 norm (PyTorch's `clip_grad_norm_`): one scale for every
//! gradient of a group, so the update direction is kept. `group_scales` works on the shard
//! gradients of a step as the optimiser reads them (no tensor ops on the CPU) and returns the
//! scales for `AdamW::step_shards`; `clip_grad_norm` rescales a `GradStore` itself.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};

use super::shard_grads;

/// Per-variable clipping scales and per-group norms of one step (`group_scales`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipScales {
    /// One per variable, in the order of `vars`: the scale of its group (1 if not clipped).
    pub scales: Vec<f32>,
    /// One per group before clipping: `norms[k]` for the prefix `groups[k]`, the last for the
    /// variables matching no prefix (all of them when `groups` is empty). 0 for a group without
    /// gradients; non-finite norms are reported here and leave their group unscaled.
    pub norms: Vec<f64>,
}

/// The sum of squares of the gradient of `var` summed over `shards` (None: no gradient).
fn sum_sq(
    name: &str,
    var: &Var,
    shards: &[&GradStore],
    found: &mut Vec<Tensor>,
) -> Result<Option<f64>> {
    let t = var.as_tensor();
    let host = crate::ops::fused_allowed() && t.device().is_cpu() && t.dtype() == DType::F32;
    shard_grads::collect("clip", name, t, shards, host, found)?;
    if found.is_empty() {
        return Ok(None);
    }
    let sq = if host {
        shard_grads::with_f32(found, |gs| Ok(shard_grads::sum_sq(gs)))?
    } else {
        let g = shard_grads::sum_tensors(found)?;
        g.to_dtype(DType::F64)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f64>()?
    };
    Ok(Some(sq))
}

/// The clipping scale of a group with gradient norm `norm`: max_norm / (norm + 1e-6) when that
/// is below 1, else 1; 1 for a non-finite norm.
fn scale_for(norm: f64, max_norm: f64) -> f64 {
    let s = max_norm / (norm + 1e-6);
    if norm.is_finite() && s < 1.0 {
        s
    } else {
        1.0
    }
}

fn check_max_norm(who: &str, max_norm: f64) -> Result<()> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        candle_core::bail!("{who}: max_norm must be > 0, got {max_norm}");
    }
    Ok(())
}

/// Clipping scales for a step whose gradient is the sum of `shards`. A variable belongs to the
/// group of the first prefix in `groups` its name starts with; the others form one more group
/// (with `groups` empty: one global group). Each group's L2 norm of the summed gradient is
/// accumulated in f64 straight from the gradient data; its scale is as in `clip_grad_norm`.
/// Variables without a gradient count 0. Gradient shapes are checked.
pub fn group_scales(
    vars: &[(String, Var)],
    groups: &[String],
    shards: &[&GradStore],
    max_norm: f64,
) -> Result<ClipScales> {
    check_max_norm("group_scales", max_norm)?;
    let group =
        |n: &str| (groups.iter().position(|p| n.starts_with(p.as_str()))).unwrap_or(groups.len());
    let mut sq = vec![0f64; groups.len() + 1];
    let mut found = Vec::with_capacity(shards.len());
    for (name, var) in vars {
        if let Some(s) = sum_sq(name, var, shards, &mut found)? {
            sq[group(name)] += s;
        }
    }
    let norms: Vec<f64> = sq.iter().map(|s| s.sqrt()).collect();
    let scales = (vars.iter())
        .map(|(n, _)| scale_for(norms[group(n)], max_norm) as f32)
        .collect();
    Ok(ClipScales { scales, norms })
}

/// The L2 norm of all gradients of `vars` together (variables without a gradient count 0).
pub fn grad_norm(vars: &[(String, Var)], grads: &GradStore) -> Result<f64> {
    let mut sq = 0f64;
    let mut found = Vec::with_capacity(1);
    for (name, var) in vars {
        sq += sum_sq(name, var, &[grads], &mut found)?.unwrap_or(0.0);
    }
    Ok(sq.sqrt())
}

/// Scale the gradients of `vars` in `grads` so that their global norm is at most `max_norm`,
/// returning the norm before clipping. As in PyTorch the scale is max_norm / (norm + 1e-6).
/// A non-finite norm leaves the gradients as they are: the caller sees it in the return value
/// and decides (skip the step, or stop), rather than zeroing or NaN-ing every weight.
pub fn clip_grad_norm(vars: &[(String, Var)], grads: &mut GradStore, max_norm: f64) -> Result<f64> {
    check_max_norm("clip_grad_norm", max_norm)?;
    let norm = grad_norm(vars, grads)?;
    let scale = scale_for(norm, max_norm);
    if scale < 1.0 {
        for (_, v) in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = g.affine(scale, 0.0)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn setup() -> Result<(Vec<(String, Var)>, GradStore)> {
        let dev = Device::Cpu;
        let a = Var::new(&[1f32, 2.0], &dev)?;
        let b = Var::new(&[[1f32], [1.0]], &dev)?;
        let c = Var::new(&[5f32], &dev)?;
        // loss = 3·a0 + 4·a1 (grad [3, 4]) + 12·sum(b) (grad [[12], [12]]); c unused.
        let loss = ((a.as_tensor().affine(1.0, 0.0)? * Tensor::new(&[3f32, 4.0], &dev)?)?
            .sum_all()?
            + b.as_tensor().sum_all()?.affine(12.0, 0.0)?)?;
        let grads = loss.backward()?;
        let vars = vec![("a".into(), a), ("b".into(), b), ("c".into(), c)];
        Ok((vars, grads))
    }

    #[test]
    fn norm_is_hand_computed_and_clipping_scales_all() -> Result<()> {
        let (vars, mut grads) = setup()?;
        // sqrt(3² + 4² + 12² + 12²) = sqrt(313) = 17.691806...
        let expect = 313f64.sqrt();
        assert!((grad_norm(&vars, &grads)? - expect).abs() < 1e-9);
        let pre = clip_grad_norm(&vars, &mut grads, 1.0)?;
        assert!((pre - expect).abs() < 1e-9);
        let after = grad_norm(&vars, &grads)?;
        assert!((after - 1.0).abs() < 1e-5, "{after}");
        let ga = grads.get(vars[0].1.as_tensor()).unwrap().to_vec1::<f32>()?;
        let s = 1.0 / (expect + 1e-6);
        assert!((ga[0] as f64 - 3.0 * s).abs() < 1e-6 && (ga[1] as f64 - 4.0 * s).abs() < 1e-6);
        assert!(grads.get(vars[2].1.as_tensor()).is_none());
        Ok(())
    }

    #[test]
    fn below_the_limit_nothing_changes() -> Result<()> {
        let (vars, mut grads) = setup()?;
        let pre = clip_grad_norm(&vars, &mut grads, 100.0)?;
        assert!((pre - 313f64.sqrt()).abs() < 1e-9);
        let gb = grads
            .get(vars[1].1.as_tensor())
            .unwrap()
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(gb, vec![12.0, 12.0]);
        assert!(clip_grad_norm(&vars, &mut grads, 0.0).is_err());
        Ok(())
    }

    #[test]
    fn group_scales_are_hand_computed_per_group() -> Result<()> {
        let (vars, grads) = setup()?;
        // Groups "a" (norm 5) and "b" (norm sqrt(288)), and the rest ("c", no gradient: 0).
        let groups = vec!["a".to_string(), "b".to_string()];
        let cs = group_scales(&vars, &groups, &[&grads], 6.0)?;
        let nb = 288f64.sqrt();
        assert_eq!(cs.norms.len(), 3);
        assert!((cs.norms[0] - 5.0).abs() < 1e-12 && (cs.norms[1] - nb).abs() < 1e-12);
        assert_eq!(cs.norms[2], 0.0);
        let sb = (6.0 / (nb + 1e-6)) as f32;
        assert_eq!(cs.scales, vec![1.0, sb, 1.0]);
        // No groups: one global group, as clip_grad_norm.
        let cs = group_scales(&vars, &[], &[&grads], 1.0)?;
        let s = (1.0 / (313f64.sqrt() + 1e-6)) as f32;
        assert_eq!((cs.norms.len(), cs.scales), (1, vec![s; 3]));
        assert!((cs.norms[0] - grad_norm(&vars, &grads)?).abs() < 1e-12);
        // A prefix matching nothing leaves its group empty; the first matching prefix wins.
        let groups = vec!["z".to_string(), "".to_string(), "a".to_string()];
        let cs = group_scales(&vars, &groups, &[&grads], 1.0)?;
        assert!(cs.norms[0] == 0.0 && (cs.norms[1] - 313f64.sqrt()).abs() < 1e-12);
        assert_eq!(&cs.norms[2..], &[0.0, 0.0]);
        Ok(())
    }

    #[test]
    fn group_scales_sum_the_shards_and_leave_non_finite_groups_alone() -> Result<()> {
        let (vars, grads) = setup()?;
        // Shard 1 doubles "a" and adds an infinite gradient to "c" (its own group).
        let dev = Device::Cpu;
        let mut s1 = GradStore::default();
        s1.insert(vars[0].1.as_tensor(), Tensor::new(&[3f32, 4.0], &dev)?);
        s1.insert(vars[2].1.as_tensor(), Tensor::new(&[f32::INFINITY], &dev)?);
        let groups = vec!["a".to_string(), "b".to_string()];
        let cs = group_scales(&vars, &groups, &[&grads, &s1], 1.0)?;
        assert!((cs.norms[0] - 10.0).abs() < 1e-12, "{:?}", cs.norms);
        assert!(cs.norms[2].is_infinite());
        assert_eq!(cs.scales[0], (1.0 / (10.0 + 1e-6)) as f32);
        assert_eq!(cs.scales[2], 1.0);
        // As clip_grad_norm: a non-finite global norm is returned and nothing is scaled.
        let mut sum = GradStore::default();
        sum.insert(vars[2].1.as_tensor(), Tensor::new(&[f32::NAN], &dev)?);
        assert!(clip_grad_norm(&vars, &mut sum, 1.0)?.is_nan());
        let cs = group_scales(&vars, &[], &[&grads, &sum], 1.0)?;
        assert!(cs.norms[0].is_nan() && cs.scales == vec![1.0; 3]);
        Ok(())
    }
}
