//! Convolutions as unfold (im2col) + one GEMM, channels last.
//!
//! A convolution is one fused op (`conv_op`): the unfold (im2col, as
//! [`unfold_nhwc`](super::unfold_nhwc)) into a scratch buffer times the weight reordered to
//! (KH*KW*C, C_out), whose backward recomputes the unfold, so the im2col matrix is never a
//! graph node; then the fused bias(+ReLU) of `linear`, whose bias gradient is summed in the
//! same pass (no broadcast + ReduceSum). Output rows are (B*OH*OW, C_out), i.e. channels last
//! again, so layers chain without transposes. The parameters are candle_nn's own `Conv1d`/`Conv2d` (same
//! names, shapes and init), so checkpoints load unchanged.
//!
//! The kernels are single-threaded and deterministic (CPU, f32 or f64). Other devices and
//! dtypes use candle's `conv1d`/`conv2d` on transposed views (conv1d one sample at a time, see
//! `TimeConv1d::run`). The matmul sums in a different order than candle's direct
//! convolution, so results differ from it in the last bits.

use candle_core::{bail, Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, VarBuilder};

use super::conv_op::unfold_matmul;
use super::linear::bias_act;
use super::pool::max_pool2d_nhwc;
use super::unfold::fast;

/// Adds the bias (or not) and applies ReLU (or not) to a conv output, channels last.
fn finish(y: &Tensor, bias: Option<&Tensor>, relu: bool) -> Result<Tensor> {
    match bias {
        Some(b) => bias_act(y, b, relu),
        None if relu => y.relu(),
        None => Ok(y.clone()),
    }
}

/// The unfold + GEMM convolution without bias: (B, H, W, C) and a (O, C, KH, KW) weight to
/// (B, OH, OW, O).
fn conv_nhwc(
    x: &Tensor,
    w: &Tensor,
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    let (o, c, kh, kw) = w.dims4()?;
    let wm = w.permute((2, 3, 1, 0))?.reshape((kh * kw * c, o))?;
    unfold_matmul(x, &wm, (kh, kw), stride, padding)
}

fn check(dilation: usize, groups: usize) -> Result<()> {
    if dilation != 1 || groups != 1 {
        bail!("fused conv: dilation {dilation} and groups {groups} must be 1")
    }
    Ok(())
}

/// A time-major 1-D convolution: (B, T, C_in) -> (B, T_out, C_out), T_out as candle's
/// `conv1d`. Holds a candle_nn `Conv1d` (parameters "weight" (out, in, k) and "bias" (out)).
pub struct TimeConv1d {
    inner: Conv1d,
}

impl TimeConv1d {
    /// The parameters of `candle_nn::conv1d(in_c, out_c, kernel, cfg, vb)`, same names and init.
    pub fn new(
        in_c: usize,
        out_c: usize,
        kernel: usize,
        cfg: Conv1dConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        check(cfg.dilation, cfg.groups)?;
        Ok(Self {
            inner: candle_nn::conv1d(in_c, out_c, kernel, cfg, vb)?,
        })
    }

    pub fn inner(&self) -> &Conv1d {
        &self.inner
    }

    /// Conv then ReLU.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true, fast(x))
    }

    fn run(&self, x: &Tensor, relu: bool, fast: bool) -> Result<Tensor> {
        if !fast {
            // One sample at a time: candle 0.11.1's CPU conv1d is wrong for a non-contiguous
            // kernel, which its backward passes for the weight gradient when the batch is > 1.
            let ys = (0..x.dim(0)?)
                .map(|i| {
                    let xi = x.narrow(0, i, 1)?.transpose(1, 2)?.contiguous()?;
                    self.inner.forward(&xi)
                })
                .collect::<Result<Vec<_>>>()?;
            let y = Tensor::cat(&ys, 0)?.transpose(1, 2)?;
            return if relu { y.relu() } else { Ok(y) };
        }
        let (b, t, c) = x.dims3()?;
        let cfg = self.inner.config();
        let w = self.inner.weight().unsqueeze(2)?;
        let y = conv_nhwc(
            &x.reshape((b, 1, t, c))?,
            &w,
            (1, cfg.stride),
            (0, cfg.padding),
        )?;
        finish(&y.squeeze(1)?, self.inner.bias(), relu)
    }
}

impl Module for TimeConv1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, false, fast(x))
    }
}

/// A channels-last 2-D convolution: (B, H, W, C_in) -> (B, OH, OW, C_out). Holds a candle_nn
/// `Conv2d` (parameters "weight" (out, in, k, k) and "bias" (out)).
pub struct Conv2dNhwc {
    inner: Conv2d,
}

impl Conv2dNhwc {
    /// The parameters of `candle_nn::conv2d(in_c, out_c, kernel, cfg, vb)`, same names and init.
    pub fn new(
        in_c: usize,
        out_c: usize,
        kernel: usize,
        cfg: Conv2dConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        check(cfg.dilation, cfg.groups)?;
        Ok(Self {
            inner: candle_nn::conv2d(in_c, out_c, kernel, cfg, vb)?,
        })
    }

    pub fn inner(&self) -> &Conv2d {
        &self.inner
    }

    /// Conv then ReLU.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true, None, fast(x))
    }

    /// Conv, ReLU, then a non-overlapping max-pool (kernel == stride == `pool`, remainder rows
    /// and columns dropped). The pool runs before the bias add and the ReLU, which is exact
    /// (both are monotonic and the bias is constant over a window) and touches fewer elements.
    pub fn forward_relu_pool(&self, x: &Tensor, pool: (usize, usize)) -> Result<Tensor> {
        self.run(x, true, Some(pool), fast(x))
    }

    fn run(
        &self,
        x: &Tensor,
        relu: bool,
        pool: Option<(usize, usize)>,
        fast: bool,
    ) -> Result<Tensor> {
        if !fast {
            let mut y = self
                .inner
                .forward(&x.permute((0, 3, 1, 2))?.contiguous()?)?;
            if relu {
                y = y.relu()?;
            }
            y = y.permute((0, 2, 3, 1))?.contiguous()?;
            return match pool {
                Some(p) => max_pool2d_nhwc(&y, p),
                None => Ok(y),
            };
        }
        let cfg = self.inner.config();
        let (s, p) = (cfg.stride, cfg.padding);
        let mut y = conv_nhwc(x, self.inner.weight(), (s, s), (p, p))?;
        if let Some(p) = pool {
            y = max_pool2d_nhwc(&y, p)?;
        }
        finish(&y, self.inner.bias(), relu)
    }
}

impl Module for Conv2dNhwc {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, false, None, fast(x))
    }
}

#[cfg(test)]
#[path = "conv_tests.rs"]
mod tests;
