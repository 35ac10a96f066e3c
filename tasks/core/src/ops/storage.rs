//! Reading CPU storage inside the fused ops.

use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor, WithDType};

/// The contiguous data of a CPU storage under `layout`; the error names the op and the
/// operand (`what`).
pub(crate) fn slice_of<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
    what: &str,
) -> Result<&'a [T]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("{op}: {what} must be contiguous")
    };
    Ok(&s.as_slice::<T>()?[start..end])
}

/// Runs `f` on the contiguous data of a CPU tensor.
pub(crate) fn with_cpu<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    let Storage::Cpu(s) = &*s else {
        bail!("fused op: expected a CPU tensor")
    };
    Ok(f(slice_of(s, l, "fused op", "input")?))
}
