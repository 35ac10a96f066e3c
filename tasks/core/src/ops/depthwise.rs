//! Depthwise convolution along time of time-major `(B, T, C)` frames, the Conformer
//! convolution module's core, as one CPU op with a fused backward.
//!
//! Each channel is convolved with its own `K`-tap kernel, "same" zero padding (`K` odd), and
//! frames at or beyond an example's length are read as zeros, so padding never leaks into real
//! frames (the mask is part of the op rather than a separate `(B, T, C)` multiply). candle's
//! grouped `conv1d` would need two `(B, C, T)` transposes around it, runs one small GEMM per
//! group, and its weight gradient is wrong for batch > 1 in candle 0.11.1 (see
//! `conv_tests::candle_bugs_these_ops_avoid`); here both passes are shifted multiply-adds over
//! contiguous channel rows, which vectorise.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};

use super::linear::fast_path;
use super::storage::slice_of;

/// `y[b, t, c] = sum_k w[c, k] * x[b, t + k - K/2, c]` over `x` `(B, T, C)` and `w` `(C, K)`,
/// with `x` read as zero outside `0..lens[b]`. Differentiable w.r.t. `x` and `w`. Fused on the
/// CPU for f32, composite candle ops otherwise.
pub fn depthwise_conv_time(x: &Tensor, w: &Tensor, lens: &[usize]) -> Result<Tensor> {
    let geom = Geom::of(x, w, lens)?;
    if !fast_path(&[x, w]) {
        return depthwise_conv_time_composite(x, w, lens);
    }
    x.contiguous()?.apply_op2(
        &w.contiguous()?,
        Depthwise {
            geom,
            lens: lens.to_vec(),
        },
    )
}

/// The same convolution from differentiable candle ops (mask, zero padding, one shifted
/// multiply-add per tap): the fallback off the fast path and the tests' reference.
pub fn depthwise_conv_time_composite(x: &Tensor, w: &Tensor, lens: &[usize]) -> Result<Tensor> {
    let g = Geom::of(x, w, lens)?;
    let mask = crate::nn::length_mask(lens, g.t, x.device())?
        .to_dtype(x.dtype())?
        .unsqueeze(D::Minus1)?;
    let xp = x
        .broadcast_mul(&mask)?
        .pad_with_zeros(1, g.k / 2, g.k / 2)?;
    let mut y = x.zeros_like()?;
    for k in 0..g.k {
        let tap = w.narrow(1, k, 1)?.squeeze(1)?;
        y = (y + xp.narrow(1, k, g.t)?.broadcast_mul(&tap)?)?;
    }
    Ok(y)
}

#[derive(Clone, Copy, Debug)]
struct Geom {
    b: usize,
    t: usize,
    c: usize,
    k: usize,
}

impl Geom {
    fn of(x: &Tensor, w: &Tensor, lens: &[usize]) -> Result<Self> {
        let (b, t, c) = x.dims3()?;
        let (wc, k) = w.dims2()?;
        if wc != c || k.is_multiple_of(2) {
            bail!(
                "depthwise_conv_time: weight {:?} must be (channels {c}, odd kernel)",
                w.dims()
            )
        }
        if lens.len() != b {
            bail!("depthwise_conv_time: {} lengths for batch {b}", lens.len())
        }
        Ok(Self { b, t, c, k })
    }

    /// The taps `k` for which input frame `t + k - K/2` lies in `0..len`.
    fn taps(&self, t: usize, len: usize) -> std::ops::Range<usize> {
        let p = self.k / 2;
        let lo = p.saturating_sub(t);
        let hi = (len + p).saturating_sub(t).min(self.k);
        lo..hi.max(lo)
    }
}

/// `w` `(C, K)` as `(K, C)`: one contiguous row of channel weights per tap.
fn taps_major(w: &[f32], g: Geom) -> Vec<f32> {
    let mut wt = vec![0f32; g.k * g.c];
    for c in 0..g.c {
        for k in 0..g.k {
            wt[k * g.c + c] = w[c * g.k + k];
        }
    }
    wt
}

struct Depthwise {
    geom: Geom,
    lens: Vec<usize>,
}

impl CustomOp2 for Depthwise {
    fn name(&self) -> &'static str {
        "depthwise_conv_time"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geom;
        let x = slice_of::<f32>(sx, lx, self.name(), "x")?;
        let wt = taps_major(slice_of::<f32>(sw, lw, self.name(), "weight")?, g);
        let (t_len, c, p) = (g.t, g.c, g.k / 2);
        let mut y = vec![0f32; x.len()];
        for b in 0..g.b {
            let len = self.lens[b].min(t_len);
            let xb = &x[b * t_len * c..(b + 1) * t_len * c];
            let yb = &mut y[b * t_len * c..(b + 1) * t_len * c];
            for t in 0..t_len {
                let out = &mut yb[t * c..(t + 1) * c];
                for k in g.taps(t, len) {
                    let s = t + k - p;
                    let (xs, wk) = (&xb[s * c..(s + 1) * c], &wt[k * c..(k + 1) * c]);
                    for ((o, &xv), &wv) in out.iter_mut().zip(xs).zip(wk) {
                        *o += xv * wv;
                    }
                }
            }
        }
        Ok((CpuStorage::F32(y), lx.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = x.elem_count();
        // One kernel writes [dx | dweight]; both results are views into it.
        let all = x.apply_op3_no_bwd(
            w,
            &grad.contiguous()?,
            &DepthwiseGrad {
                geom: self.geom,
                lens: self.lens.clone(),
            },
        )?;
        let dx = all.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = all.narrow(0, n, w.elem_count())?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// Backward of [`Depthwise`] from `(x, weight, grad)`, flat `[dx (B*T*C), dweight (C*K)]`.
struct DepthwiseGrad {
    geom: Geom,
    lens: Vec<usize>,
}

impl CustomOp3 for DepthwiseGrad {
    fn name(&self) -> &'static str {
        "depthwise_conv_time_grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geom;
        let x = slice_of::<f32>(sx, lx, self.name(), "x")?;
        let wt = taps_major(slice_of::<f32>(sw, lw, self.name(), "weight")?, g);
        let dy = slice_of::<f32>(sg, lg, self.name(), "grad")?;
        if dy.len() != x.len() {
            bail!(
                "{}: grad has {} elements, x {}",
                self.name(),
                dy.len(),
                x.len()
            )
        }
        let (t_len, c, p) = (g.t, g.c, g.k / 2);
        let n = x.len();
        let mut out = vec![0f32; n + g.c * g.k];
        let (dx, dw_out) = out.split_at_mut(n);
        // (K, C) weight gradient, summed over every frame of the batch: f64 keeps that sum
        // accurate, and being per channel it still vectorises.
        let mut dwt = vec![0f64; g.k * c];
        for b in 0..g.b {
            let len = self.lens[b].min(t_len);
            let range = b * t_len * c..(b + 1) * t_len * c;
            let (xb, dyb, dxb) = (&x[range.clone()], &dy[range.clone()], &mut dx[range]);
            for t in 0..t_len {
                let gt = &dyb[t * c..(t + 1) * c];
                // Output frame t read input frame s = t + k - p through tap k: scatter back.
                for k in g.taps(t, len) {
                    let s = t + k - p;
                    let (wk, dwk) = (&wt[k * c..(k + 1) * c], &mut dwt[k * c..(k + 1) * c]);
                    let xs = &xb[s * c..(s + 1) * c];
                    let dxs = &mut dxb[s * c..(s + 1) * c];
                    for i in 0..c {
                        dxs[i] += gt[i] * wk[i];
                        dwk[i] += (gt[i] * xs[i]) as f64;
                    }
                }
            }
        }
        for ch in 0..c {
            for k in 0..g.k {
                dw_out[ch * g.k + k] = dwt[k * c + ch] as f32;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(n + g.c * g.k)))
    }
}

#[cfg(test)]
#[path = "depthwise_tests.rs"]
mod tests;
