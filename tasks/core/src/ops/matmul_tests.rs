use candle_core::{Result, Tensor, Var};

use super::{cublas_takes, matmul_portable};
use crate::ops::grad_check::{assert_close, check_grads, randn};
use crate::Rng;

fn takes(t: &Tensor) -> bool {
    cublas_takes(t.dims(), t.stride())
}

#[test]
fn the_layout_rule_follows_cublas() -> Result<()> {
    let mut rng = Rng::new(1);
    let x = randn((2, 5, 3, 4), &mut rng); // (B, T, H, D)
    assert!(takes(&x));
    // Transposed matrices are column-major: taken.
    assert!(takes(&x.t()?));
    assert!(takes(&randn((3, 4), &mut rng).t()?));
    // Heads viewed as (B, H, T, D): rows D apart in a (T, D) matrix whose row stride is H * D.
    let heads = x.transpose(1, 2)?;
    assert!(!takes(&heads));
    assert!(!takes(&heads.t()?));
    // Nor with one batch element: the row stride is still H * D ...
    assert!(!takes(&x.narrow(0, 0, 1)?.transpose(1, 2)?));
    // ... but with one head, or one time step, the view is a plain batch of matrices.
    assert!(takes(&randn((2, 5, 1, 4), &mut rng).transpose(1, 2)?));
    assert!(takes(&randn((2, 1, 3, 4), &mut rng).transpose(1, 2)?));
    // A column slice keeps the row stride of the full matrix.
    assert!(!takes(&randn((4, 6), &mut rng).narrow(1, 0, 3)?));
    // A row slice is still row-major, and a single row has no row stride to check; a single
    // column of a wider matrix is neither row- nor column-major.
    assert!(takes(&randn((6, 4), &mut rng).narrow(0, 1, 3)?));
    assert!(takes(&randn((6, 4), &mut rng).narrow(0, 2, 1)?));
    assert!(!takes(&randn((6, 4), &mut rng).narrow(1, 2, 1)?));
    // Broadcast batches fold into stride 0; three batch dimensions never do.
    assert!(takes(&randn((3, 4), &mut rng).broadcast_left(5)?));
    assert!(!takes(&randn((2, 2, 2, 3, 4), &mut rng)));
    assert!(!cublas_takes(&[4], &[1]));
    // Whatever it gets, the portable product hands on only layouts the rule takes.
    for t in [heads.clone(), heads.t()?, x.clone()] {
        let p = if takes(&t) {
            t.clone()
        } else {
            t.contiguous()?
        };
        assert!(takes(&p));
    }
    Ok(())
}

#[test]
fn the_portable_product_matches_candle_and_finite_differences() -> Result<()> {
    let mut rng = Rng::new(2);
    // Attention's two products: scores = q k^T, then weights v, on head views.
    let q = Var::from_tensor(&randn((2, 5, 3, 4), &mut rng))?;
    let k = Var::from_tensor(&randn((2, 6, 3, 4), &mut rng))?;
    let r = randn((2, 3, 5, 6), &mut rng);
    let run = |f: fn(&Tensor, &Tensor) -> Result<Tensor>| -> Result<[Tensor; 3]> {
        let (qh, kh) = (q.transpose(1, 2)?, k.transpose(1, 2)?);
        let y = f(&qh, &kh.t()?)?;
        let g = (&y * &r)?.sum_all()?.backward()?;
        Ok([y, g.get(&q).unwrap().clone(), g.get(&k).unwrap().clone()])
    };
    // candle's CPU product rejects these batch strides too: the reference copies both.
    let (portable, candle) = (
        run(matmul_portable)?,
        run(|a, b| a.contiguous()?.matmul(&b.contiguous()?))?,
    );
    for (i, what) in ["y", "dq", "dk"].iter().enumerate() {
        assert_close(&portable[i], &candle[i], 1e-5, what);
    }
    check_grads(
        |a| matmul_portable(&a[0].transpose(1, 2)?, &a[1].transpose(1, 2)?.t()?),
        &[q.as_tensor().clone(), k.as_tensor().clone()],
        1e-2,
        2e-3,
        4,
    );
    Ok(())
}
