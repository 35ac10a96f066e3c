//! A drop-in for `candle_nn::Linear` with a fused bias add (and bias + ReLU).
//!
//! Every input is flattened to `(N, in)` (a view when contiguous, one copy otherwise) and
//! multiplied once by the transposed weight view (candle's CPU matmul takes the strides, no
//! copy), so the weight gradient is one `(in, out)` matmul. The bias is added by a custom op
//! whose backward passes the gradient through and sums its columns in one sweep, instead of
//! `broadcast_add`'s generic reduction; the fused bias + ReLU op takes the ReLU's backward from
//! its own output in the same sweep.
//!
//! `candle_nn::Linear` already flattens contiguous input; for non-contiguous 3-D or 4-D input it
//! broadcasts the weight to a batched matmul (a `(B, in, out)` weight gradient summed over B),
//! and in candle 0.11.1 that CPU matmul is wrong for a transposed input view
//! (huggingface/candle#3758; the test `candle_nn_linear_on_a_transposed_input_is_wrong`).

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Module, Result, Shape, Tensor,
};
use candle_nn::VarBuilder;

use super::storage::slice_of;

/// `y = x @ weight.t() + bias` over the last dimension of `x`; `weight` is `(out, in)`.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

/// Same parameters, names and init hints as `candle_nn::linear`: `weight` `(out, in)` with
/// candle's default Kaiming normal, `bias` `(out)` uniform in +-1/sqrt(in).
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints(
        (out_dim, in_dim),
        "weight",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )?;
    let bound = 1. / (in_dim as f64).sqrt();
    let init_b = candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let bias = vb.get_with_hints(out_dim, "bias", init_b)?;
    Ok(Linear::new(weight, Some(bias)))
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// `relu(x @ weight.t() + bias)`, the bias add and ReLU fused into one op.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        self.apply(x, true)
    }

    /// `silu(x @ weight.t() + bias)`, the bias add and Swish fused into one op.
    pub fn forward_silu(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.apply_no_bias(x)?;
        match &self.bias {
            Some(b) => super::gates::bias_silu(&y, b),
            None => y.silu(),
        }
    }

    /// `x @ weight.t()` over the last dim: flattened to 2-D for one matmul, then reshaped.
    fn apply_no_bias(&self, x: &Tensor) -> Result<Tensor> {
        let Some((&k, lead)) = x.dims().split_last() else {
            bail!("linear: scalar input")
        };
        let y = super::matmul(&x.reshape(((), k))?, &self.weight.t()?)?;
        let mut out = lead.to_vec();
        out.push(y.dim(1)?);
        y.reshape(out)
    }

    fn apply(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        let y = self.apply_no_bias(x)?;
        match (&self.bias, relu) {
            (Some(b), _) => bias_act(&y, b, relu),
            (None, false) => Ok(y),
            (None, true) => y.relu(),
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.apply(x, false)
    }
}

/// Whether the fused CPU f32 kernels apply to all of `ts`.
pub(crate) fn fast_path(ts: &[&Tensor]) -> bool {
    super::fused_allowed()
        && ts
            .iter()
            .all(|t| matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32)
}

/// `x + b` with `x` `(..., d)` and `b` `(d)`; fused on CPU f32, composite elsewhere.
pub fn bias_add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    bias_act(x, b, false)
}

/// `max(x + b, 0)` with `x` `(..., d)` and `b` `(d)`; fused on CPU f32, composite elsewhere.
/// The backward lets the gradient through where the output is positive.
pub fn bias_relu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    bias_act(x, b, true)
}

/// `bias_relu` if `relu`, else `bias_add`.
pub fn bias_act(x: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    let op = BiasAdd { relu };
    if !fast_path(&[x, b]) {
        return match relu {
            true => bias_relu_composite(x, b),
            false => bias_add_composite(x, b),
        };
    }
    check_bias(op.name(), x, b)?;
    x.contiguous()?.apply_op2(&b.contiguous()?, op)
}

/// The candle ops the fused bias add replaces.
pub fn bias_add_composite(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.broadcast_add(b)
}

/// The candle ops the fused bias + ReLU replaces.
pub fn bias_relu_composite(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.broadcast_add(b)?.relu()
}

/// `candle_nn::Linear`'s forward, the reference for `Linear`.
pub fn linear_composite(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    candle_nn::Linear::new(weight.clone(), bias.cloned()).forward(x)
}

pub(crate) fn check_bias(op: &str, x: &Tensor, b: &Tensor) -> Result<()> {
    let d = x.dims().last().copied();
    if b.rank() != 1 || d != Some(b.dim(0)?) {
        bail!(
            "{op}: input {:?} and bias {:?} do not match",
            x.dims(),
            b.dims()
        );
    }
    Ok(())
}

/// Column sums of a `(n, d)` row-major matrix, accumulated in f32 row by row.
pub(crate) fn col_sum(g: &[f32], d: usize) -> Vec<f32> {
    let mut acc = vec![0f32; d];
    if d > 0 {
        for row in g.chunks_exact(d) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v;
            }
        }
    }
    acc
}

struct BiasAdd {
    relu: bool,
}

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        if self.relu {
            "bias_relu"
        } else {
            "bias_add"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice_of::<f32>(s1, l1, self.name(), "input")?;
        let b = slice_of::<f32>(s2, l2, self.name(), "input")?;
        let d = b.len();
        let mut y = Vec::with_capacity(x.len());
        if d > 0 {
            for row in x.chunks_exact(d) {
                if self.relu {
                    y.extend(row.iter().zip(b).map(|(&x, &b)| (x + b).max(0.0)));
                } else {
                    y.extend(row.iter().zip(b).map(|(&x, &b)| x + b));
                }
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        _arg2: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = res.dims().last().copied().unwrap_or(0);
        let n = res.elem_count().checked_div(d).unwrap_or(0);
        let g = grad.contiguous()?;
        if self.relu {
            // One (n + 1, d) buffer: rows 0..n hold dx, row n the bias gradient; both views.
            let both = g.apply_op2_no_bwd(&res.contiguous()?, &ReluBwd)?;
            let dx = both.narrow(0, 0, n)?.reshape(arg1.shape())?;
            let db = both.narrow(0, n, 1)?.reshape(d)?;
            Ok((Some(dx), Some(db)))
        } else {
            let db = g.apply_op1_no_bwd(&ColSum)?;
            Ok((Some(grad.clone()), Some(db)))
        }
    }
}

/// Column sums of the gradient `(..., d)` -> `(d)`.
struct ColSum;

impl CustomOp1 for ColSum {
    fn name(&self) -> &'static str {
        "col_sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = slice_of::<f32>(s, l, self.name(), "input")?;
        let d = l.dims().last().copied().unwrap_or(0);
        Ok((CpuStorage::F32(col_sum(g, d)), Shape::from(d)))
    }
}

/// ReLU backward from the output: `dx = g where y > 0 else 0` and its column sums, one sweep.
struct ReluBwd;

impl CustomOp2 for ReluBwd {
    fn name(&self) -> &'static str {
        "bias_relu_bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = slice_of::<f32>(s1, l1, self.name(), "input")?;
        let y = slice_of::<f32>(s2, l2, self.name(), "input")?;
        let d = l1.dims().last().copied().unwrap_or(0);
        if g.len() != y.len() {
            bail!("bias_relu_bwd: gradient and output sizes differ");
        }
        let n = g.len().checked_div(d).unwrap_or(0);
        let mut acc = vec![0f32; d];
        let mut dx = Vec::with_capacity((n + 1) * d);
        if d > 0 {
            for (gr, yr) in g.chunks_exact(d).zip(y.chunks_exact(d)) {
                let start = dx.len();
                dx.extend(
                    gr.iter()
                        .zip(yr)
                        .map(|(&g, &y)| if y > 0.0 { g } else { 0.0 }),
                );
                // The row just written is still in L1.
                for (a, &v) in acc.iter_mut().zip(&dx[start..]) {
                    *a += v;
                }
            }
        }
        dx.extend_from_slice(&acc);
        Ok((CpuStorage::F32(dx), Shape::from((n + 1, d))))
    }
}

#[cfg(test)]
#[path = "linear_tests.rs"]
mod tests;
