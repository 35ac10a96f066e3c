//! The fused unfold + GEMM of a convolution: one custom op from a (B, H, W, C) input and a
//! (KH*KW*C, O) weight matrix to the (B*OH*OW, O) output, so the im2col matrix is a scratch
//! buffer, never a graph node: the graph keeps no KH*KW-times-the-input tensor alive and the
//! backward accumulates no gradient for it. The backward recomputes the unfold, then
//! `grad_w = cols^T · g` and `grad_x = col2im(g · W^T)`. The GEMMs are candle's CPU matmul on
//! temporary tensors (single-threaded under `threads::configure`). CPU f32/f64.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, DType, Device, Layout, Result, Shape, Tensor};
use candle_core::{Storage, WithDType};

use super::storage::{slice_of, with_cpu};
use super::unfold::{col2im, im2col, Geom};

pub(super) struct UnfoldMatmul {
    pub(super) g: Geom,
}

/// The contiguous data of a CPU tensor as a `CpuStorage` (one copy).
fn to_storage(t: &Tensor) -> Result<CpuStorage> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    let Storage::Cpu(s) = &*s else {
        bail!("unfold_matmul: expected a CPU tensor")
    };
    Ok(match s.dtype() {
        DType::F32 => CpuStorage::F32(slice_of::<f32>(s, l, "fused op", "input")?.to_vec()),
        DType::F64 => CpuStorage::F64(slice_of::<f64>(s, l, "fused op", "input")?.to_vec()),
        d => bail!("unfold_matmul: unsupported dtype {d:?}"),
    })
}

impl UnfoldMatmul {
    /// The unfolded input as a (rows, KH*KW*C) tensor.
    fn cols<T: WithDType>(&self, x: &[T]) -> Result<Tensor> {
        let g = self.g;
        Tensor::from_vec(im2col(g, x), (g.rows(), g.row()), &Device::Cpu)
    }

    fn fwd<T: WithDType>(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        o: usize,
    ) -> Result<CpuStorage> {
        let cols = self.cols(slice_of::<T>(s1, l1, "fused op", "input")?)?;
        let w = Tensor::from_slice(
            slice_of::<T>(s2, l2, "fused op", "input")?,
            (self.g.row(), o),
            &Device::Cpu,
        )?;
        to_storage(&cols.matmul(&w)?)
    }
}

impl CustomOp2 for UnfoldMatmul {
    fn name(&self) -> &'static str {
        "unfold_matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.g;
        g.check_input(self.name(), l1)?;
        let (k, o) = l2.shape().dims2()?;
        if k != g.row() {
            bail!(
                "unfold_matmul: weight {:?} does not match {g:?}",
                l2.shape()
            )
        }
        if s1.dtype() != s2.dtype() {
            bail!("unfold_matmul: input and weight dtypes differ")
        }
        let out = match s1.dtype() {
            DType::F32 => self.fwd::<f32>(s1, l1, s2, l2, o)?,
            DType::F64 => self.fwd::<f64>(s1, l1, s2, l2, o)?,
            d => bail!("unfold_matmul: unsupported dtype {d:?}"),
        };
        Ok((out, Shape::from((g.rows(), o))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.g;
        let (grad, w) = (grad.detach(), w.detach());
        let cols = match x.dtype() {
            DType::F32 => with_cpu(x, |x| self.cols::<f32>(x))?,
            DType::F64 => with_cpu(x, |x| self.cols::<f64>(x))?,
            d => bail!("unfold_matmul: unsupported dtype {d:?}"),
        }?;
        let gw = cols.t()?.matmul(&grad)?;
        drop(cols);
        let gcols = grad.matmul(&w.t()?)?;
        let gx = match x.dtype() {
            DType::F32 => Tensor::new(with_cpu(&gcols, |c| col2im::<f32>(g, c))?, x.device()),
            DType::F64 => Tensor::new(with_cpu(&gcols, |c| col2im::<f64>(g, c))?, x.device()),
            d => bail!("unfold_matmul: unsupported dtype {d:?}"),
        }?;
        Ok((Some(gx.reshape(x.shape())?), Some(gw)))
    }
}

/// `unfold_nhwc(x) · wm` for a (B, H, W, C) input and a (KH*KW*C, O) weight matrix, as a
/// (B, OH, OW, O) tensor, without the unfolded matrix in the graph. CPU f32/f64 only.
pub(super) fn unfold_matmul(
    x: &Tensor,
    wm: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    let g = Geom::new(x.dims4()?, kernel, stride, padding)?;
    let o = wm.dim(1)?;
    x.contiguous()?
        .apply_op2(&wm.contiguous()?, UnfoldMatmul { g })?
        .reshape((g.b, g.oh, g.ow, o))
}

#[cfg(test)]
#[path = "conv_op_tests.rs"]
mod tests;
