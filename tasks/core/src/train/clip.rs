//! Gradient clipping by the global L2 norm over all variables (PyTorch's
//! `clip_grad_norm_`): one scale for every gradient, so the update direction is kept.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Var};

/// The L2 norm of all gradients of `vars` together (variables without a gradient count 0).
pub fn grad_norm(vars: &[(String, Var)], grads: &GradStore) -> Result<f64> {
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

/// Scale the gradients of `vars` in `grads` so that their global norm is at most `max_norm`,
/// returning the norm before clipping. As in PyTorch the scale is max_norm / (norm + 1e-6).
/// A non-finite norm leaves the gradients as they are: the caller sees it in the return value
/// and decides (skip the step, or stop), rather than zeroing or NaN-ing every weight.
pub fn clip_grad_norm(vars: &[(String, Var)], grads: &mut GradStore, max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        candle_core::bail!("clip_grad_norm: max_norm must be > 0, got {max_norm}");
    }
    let norm = grad_norm(vars, grads)?;
    if !norm.is_finite() {
        return Ok(norm);
    }
    let scale = max_norm / (norm + 1e-6);
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
}
