//! candle's backward pass as this workspace builds it: `vendor/candle-core` stores the first
//! gradient reaching a tensor instead of adding it to a new tensor of zeros. The graph below
//! reaches its inputs through every kind of first gradient that change touches (a transpose's
//! strided view, a sum's broadcast, a subtraction's negation, a tensor used twice, a narrow and
//! a custom op), checked against finite differences, and every stored gradient must come out
//! contiguous with its input's shape, as the sums it replaces did.

use candle_core::{Result, Tensor, Var, D};

use super::grad_check::{check_grads, randn};
use crate::Rng;

fn graph(xs: &[Tensor]) -> Result<Tensor> {
    let (x, w, b) = (&xs[0], &xs[1], &xs[2]);
    // x used twice (the second gradient is added to the first), w through a transpose.
    let h = x.matmul(&w.t()?)?.broadcast_add(b)?;
    let h = (h.tanh()? - x.sum_keepdim(D::Minus1)?.broadcast_as(h.shape())?)?;
    // A subtraction's right side (the negated gradient) and a narrow.
    let left = h.narrow(1, 0, 2)?;
    let right = h.narrow(1, 1, 2)?;
    let y = (left - right.exp()?)?;
    super::softmax_scaled_biased(&y, 0.5, None)
}

#[test]
fn first_gradients_are_stored_right_and_contiguous() {
    let mut rng = Rng::new(7);
    let inputs = [
        randn((4, 5), &mut rng),
        randn((3, 5), &mut rng),
        randn(3, &mut rng),
    ];
    check_grads(graph, &inputs, 1e-2, 2e-2, 1);

    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = graph(&ts).unwrap().sum_all().unwrap().backward().unwrap();
    for (v, t) in vars.iter().zip(&inputs) {
        let g = grads.get(v).unwrap();
        assert_eq!(g.dims(), t.dims());
        assert!(g.is_contiguous(), "gradient of {:?} is strided", t.dims());
    }
}
