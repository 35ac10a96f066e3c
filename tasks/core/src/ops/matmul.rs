//! Matrix products whose operands every candle backend accepts.
//!
//! candle's matmul takes batches of matrices whose batch dimensions fold into one stride.
//! Within each matrix its CPU path (gemm) takes any row and column strides, but its CUDA path
//! hands the operands to one strided-batched cuBLAS call, which needs each matrix row- or
//! column-major: any other layout (a column slice, say) fails with `MatMulNonContiguous`, in
//! the forward pass and again in the backward pass, which multiplies by the same operands.
//! Off the fused CPU path an operand cuBLAS would reject is made contiguous first, so the op
//! and its backward see only layouts every backend takes, whatever view a caller passes; the
//! CPU keeps its copy-free product.

use candle_core::{Result, Tensor};

/// `a.matmul(b)`, with operands that cuBLAS cannot take as they are laid out made contiguous
/// first whenever the fused CPU kernels are not in use (off the CPU, or under
/// `force_composite`).
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() && super::fused_allowed() {
        a.matmul(b)
    } else {
        matmul_portable(a, b)
    }
}

/// `a.matmul(b)` with every operand in a layout cuBLAS takes.
pub fn matmul_portable(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    portable(a)?.matmul(&portable(b)?)
}

fn portable(t: &Tensor) -> Result<Tensor> {
    if cublas_takes(t.dims(), t.stride()) {
        Ok(t.clone())
    } else {
        t.contiguous()
    }
}

/// Whether candle 0.11's CUDA matmul accepts an operand of these dims and strides (its
/// `gemm_config`): the last two dimensions row-major or column-major (a dimension of one
/// element may have any stride), and at most two batch dimensions that fold into one stride.
pub fn cublas_takes(dims: &[usize], strides: &[usize]) -> bool {
    let n = dims.len();
    if n < 2 || strides.len() != n {
        return false;
    }
    let (r, c) = (dims[n - 2], dims[n - 1]);
    let (s_r, s_c) = (strides[n - 2], strides[n - 1]);
    let row_major = (s_c == 1 || c == 1) && (s_r == c || r == 1);
    let col_major = (s_c == r || c == 1) && (s_r == 1 || r == 1);
    if !(row_major || col_major) {
        return false;
    }
    match (&dims[..n - 2], &strides[..n - 2]) {
        ([], []) | ([_], [_]) => true,
        ([d0, d1], [s0, s1]) => *s0 == s1 * d1 || *d0 == 1 || *d1 == 1,
        _ => false,
    }
}

#[cfg(test)]
#[path = "matmul_tests.rs"]
mod tests;
