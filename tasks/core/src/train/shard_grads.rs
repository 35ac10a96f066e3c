//! A variable's gradient over the shards of one step (each shard its own `GradStore`), read
//! straight from CPU storage: the optimiser and the clipping sum the shards element by element
//! in shard order, with no tensor ops and no allocation when the gradients are already
//! contiguous f32 on the CPU (what backprop produces).

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Layout, Result, Storage, Tensor};

/// Shards handled with stack-held lock guards; more shards fall back to small `Vec`s.
const INLINE: usize = 4;

/// Whether `t` can be read as a contiguous f32 slice of CPU storage as it is.
fn host_f32(t: &Tensor) -> bool {
    crate::ops::fused_allowed()
        && t.device().is_cpu()
        && t.dtype() == DType::F32
        && t.layout().is_contiguous()
}

/// Start of the whole CPU f32 buffer behind `t` (to tell whether two tensors share storage).
fn buffer_start(t: &Tensor) -> Option<usize> {
    let (s, _) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(c) => c.as_slice::<f32>().ok().map(|d| d.as_ptr() as usize),
        _ => None,
    }
}

/// Puts the gradients of `var` found in `shards` into `out` (cleared first), in shard order,
/// checking every shape against the variable's. With `host`, each one is made contiguous f32 on
/// the CPU (a copy only when it is not already) and never shares storage with `var`, so the
/// variable can be written while the gradients are read.
pub(crate) fn collect(
    who: &str,
    name: &str,
    var: &Tensor,
    shards: &[&GradStore],
    host: bool,
    out: &mut Vec<Tensor>,
) -> Result<()> {
    out.clear();
    let mut var_buf = None;
    for (k, sh) in shards.iter().enumerate() {
        let Some(g) = sh.get(var) else { continue };
        if g.shape() != var.shape() {
            candle_core::bail!(
                "{who}: gradient of {name:?} in shard {k} has shape {:?}, the variable {:?}",
                g.shape(),
                var.shape()
            );
        }
        if !host {
            out.push(g.clone());
            continue;
        }
        let g = if host_f32(g) {
            let buf = *var_buf.get_or_insert_with(|| buffer_start(var));
            if buf.is_some() && buffer_start(g) == buf {
                g.copy()?
            } else {
                g.clone()
            }
        } else {
            // Another device, dtype or layout: each of these makes a fresh buffer.
            g.to_device(&Device::Cpu)?
                .to_dtype(DType::F32)?
                .contiguous()?
        };
        out.push(g);
    }
    Ok(())
}

fn f32_slice<'a>(s: &'a Storage, l: &Layout) -> Result<&'a [f32]> {
    let Storage::Cpu(c) = s else {
        candle_core::bail!("shard gradients: expected a CPU tensor")
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("shard gradients: expected a contiguous tensor")
    };
    Ok(&c.as_slice::<f32>()?[a..b])
}

/// Calls `f` with the contents of `ts` (contiguous CPU f32 tensors, e.g. from `collect` with
/// `host`), holding their read locks meanwhile.
pub(crate) fn with_f32<R>(ts: &[Tensor], f: impl FnOnce(&[&[f32]]) -> Result<R>) -> Result<R> {
    if ts.len() <= INLINE {
        let mut guards: [Option<_>; INLINE] = Default::default();
        for (g, t) in guards.iter_mut().zip(ts) {
            *g = Some(t.storage_and_layout());
        }
        let mut slices: [&[f32]; INLINE] = [&[]; INLINE];
        for (s, (st, l)) in slices.iter_mut().zip(guards.iter().flatten()) {
            *s = f32_slice(st, l)?;
        }
        f(&slices[..ts.len()])
    } else {
        let guards: Vec<_> = ts.iter().map(|t| t.storage_and_layout()).collect();
        let slices = (guards.iter())
            .map(|(st, l)| f32_slice(st, l))
            .collect::<Result<Vec<_>>>()?;
        f(&slices)
    }
}

/// The sum of squares (in f64) of the shard sum of `gs` (summed in f32, in shard order, as the
/// optimiser sums them). Four accumulators in a fixed order: deterministic, and not bound by
/// the latency of one long chain of additions.
pub(crate) fn sum_sq(gs: &[&[f32]]) -> f64 {
    fn acc(n: usize, x: impl Fn(usize) -> f32) -> f64 {
        let mut a = [0f64; 4];
        let full = n - n % 4;
        for j in (0..full).step_by(4) {
            for (l, al) in a.iter_mut().enumerate() {
                let v = x(j + l) as f64;
                *al += v * v;
            }
        }
        for j in full..n {
            let v = x(j) as f64;
            a[0] += v * v;
        }
        (a[0] + a[1]) + (a[2] + a[3])
    }
    match gs {
        [] => 0.0,
        [g] => acc(g.len(), |j| g[j]),
        [g0, g1] => {
            let n = g0.len().min(g1.len());
            acc(n, |j| g0[j] + g1[j])
        }
        _ => acc(gs[0].len(), |j| sum_at(gs, j)),
    }
}

/// gs[0][j] + gs[1][j] + … in shard order.
#[inline]
pub(crate) fn sum_at(gs: &[&[f32]], j: usize) -> f32 {
    let mut s = gs[0][j];
    for g in &gs[1..] {
        s += g[j];
    }
    s
}

/// The composite shard sum (tensor adds in shard order), for gradients not read in place.
pub(crate) fn sum_tensors(gs: &[Tensor]) -> Result<Tensor> {
    let mut s = gs[0].clone();
    for g in &gs[1..] {
        s = (s + g)?;
    }
    Ok(s)
}
