use candle_core::{DType, Result, Tensor, Var};

use super::{layer_norm, layer_norm_composite};
use crate::ops::check::*;
use crate::Rng;

const EPS: f64 = 1e-5;

/// Shapes with d below, at and off a multiple of 8 (the kernels' lane width), d = 1 (zero
/// variance) and a long row.
const SHAPES: &[&[usize]] = &[
    &[1, 1],
    &[3, 8],
    &[2, 5, 13],
    &[4, 3, 1],
    &[2, 3, 7, 64],
    &[2, 300],
];

struct Case {
    x: Var,
    w: Var,
    b: Var,
    /// The loss is `sum(y * r)`, so every output element gets a different upstream gradient.
    r: Tensor,
}

impl Case {
    /// `x` and `r` stored as `dims`; normalised over `d`, the last dim of the view under test.
    fn new(rng: &mut Rng, dims: &[usize], d: usize) -> Self {
        let n: usize = dims.iter().product();
        // A common offset of 3 checks the centring; a spread weight checks the affine part.
        Self {
            x: var(randn(rng, n, 3.0, 2.0), dims),
            w: var(randn(rng, d, 1.0, 0.5), &[d]),
            b: var(randn(rng, d, 0.0, 0.5), &[d]),
            r: var(randn(rng, n, 0.0, 1.0), dims).as_tensor().clone(),
        }
    }
}

type LnFn = fn(&Tensor, &Tensor, &Tensor, f64) -> Result<Tensor>;

/// Output, then the gradients of `sum(y * r)` w.r.t. `x`, weight and bias; `x` is `view(x)`.
fn run(c: &Case, f: LnFn, view: impl Fn(&Tensor) -> Tensor) -> [Vec<f32>; 4] {
    let x = view(c.x.as_tensor());
    let y = f(&x, &c.w, &c.b, EPS).unwrap();
    let r = view(&c.r);
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let g = |v: &Var| values(grads.get(v).expect("a Var got no gradient"));
    [values(&y), g(&c.x), g(&c.w), g(&c.b)]
}

const NAMES: [&str; 4] = ["y", "dx", "dweight", "dbias"];

fn assert_matches_composite(c: &Case, view: impl Fn(&Tensor) -> Tensor, what: &str) {
    let fused = run(c, layer_norm, &view);
    let reference = run(c, layer_norm_composite, &view);
    for ((f, r), name) in fused.iter().zip(&reference).zip(NAMES) {
        assert_close(f, r, 1e-5, &format!("{what}: {name}"));
        // With d = 1 every xhat is 0, so dx and dweight are exactly 0.
        if c.w.dims()[0] > 1 || name == "y" || name == "dbias" {
            assert_nontrivial(f, &format!("{what}: {name}"));
        }
    }
}

#[test]
fn values_and_gradients_match_the_composite_ops() {
    let mut rng = Rng::new(11);
    for dims in SHAPES {
        let c = Case::new(&mut rng, dims, dims[dims.len() - 1]);
        assert_matches_composite(&c, |t| t.clone(), &format!("{dims:?}"));
    }
}

#[test]
fn non_contiguous_input_matches_the_composite_ops() {
    let mut rng = Rng::new(12);
    // x stored as (d, n), used as its transpose (n, d).
    let c = Case::new(&mut rng, &[13, 6], 13);
    assert_matches_composite(&c, |t| t.t().unwrap(), "transposed");
    // A narrowed view starts at an offset into its storage.
    let c = Case::new(&mut rng, &[5, 9], 9);
    assert_matches_composite(&c, |t| t.narrow(0, 2, 3).unwrap(), "narrowed");
}

/// Gradients against central differences of an f64 forward pass, which involves no autograd.
#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(13);
    for dims in [&[3, 5][..], &[2, 2, 11]] {
        let c = Case::new(&mut rng, dims, dims[dims.len() - 1]);
        let [_, dx, dw, db] = run(&c, layer_norm, |t| t.clone());
        let (x, w, b) = (values_f64(&c.x), values_f64(&c.w), values_f64(&c.b));
        let r = f64_tensor(&values_f64(&c.r), dims);
        let d = w.len();
        let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
            let (x, w, b) = (
                f64_tensor(x, dims),
                f64_tensor(w, &[d]),
                f64_tensor(b, &[d]),
            );
            let y = layer_norm_composite(&x, &w, &b, EPS).unwrap();
            (y * &r).unwrap().sum_all().unwrap().to_scalar().unwrap()
        };
        let h = 1e-4;
        let fd_x = central_diff(&x, h, |x| loss(x, &w, &b));
        let fd_w = central_diff(&w, h, |w| loss(&x, w, &b));
        let fd_b = central_diff(&b, h, |b| loss(&x, &w, b));
        assert_close_f64(&dx, &fd_x, 1e-5, &format!("{dims:?} dx"));
        assert_close_f64(&dw, &fd_w, 1e-5, &format!("{dims:?} dweight"));
        assert_close_f64(&db, &fd_b, 1e-5, &format!("{dims:?} dbias"));
    }
}

#[test]
fn same_input_gives_the_same_bits() {
    let c = Case::new(&mut Rng::new(14), &[4, 7, 40], 40);
    let bits = |v: [Vec<f32>; 4]| v.map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    let first = bits(run(&c, layer_norm, |t| t.clone()));
    assert_eq!(first, bits(run(&c, layer_norm, |t| t.clone())));
}

#[test]
fn other_dtypes_take_the_composite_path() {
    let c = Case::new(&mut Rng::new(15), &[3, 10], 10);
    let f = |t: &Var| t.to_dtype(DType::F64).unwrap();
    let (x, w, b) = (f(&c.x), f(&c.w), f(&c.b));
    let y = layer_norm(&x, &w, &b, EPS).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let want = layer_norm_composite(&x, &w, &b, EPS).unwrap();
    assert_eq!(values_f64(&y), values_f64(&want));
}

#[test]
fn mismatched_weight_is_an_error() {
    let c = Case::new(&mut Rng::new(16), &[3, 10], 10);
    let x = c.x.narrow(1, 0, 9).unwrap();
    assert!(layer_norm(&x, &c.w, &c.b, EPS).is_err());
}
