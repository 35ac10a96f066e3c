//! Soft-target losses: Hinton et al. (2015) distillation and frame-level KD (Takashima et al.
//! 2018). Both are the per-frame KL divergence KL(P_T(.|t) || P_S(.|t)) between tempered
//! softmaxes, averaged over frames (see the module docs of `losses` for the normalisation).

use candle_core::{DType, Result, Tensor, D};
use candle_nn::ops::log_softmax;

use super::{check_pair, frame_mask, reduce_frames, zero_padding, Norm};

/// Per-frame KL(softmax(z_T/tau) || softmax(z_S/tau)), shape `(B, T)`, with padded frames
/// zeroed in both inputs first (so their KL is exactly 0 and carries no gradient).
pub(crate) fn kl_frames(
    student: &Tensor,
    teacher: &Tensor,
    mask: &Tensor,
    tau: f64,
) -> Result<Tensor> {
    let zs = zero_padding(student, mask)?.affine(1.0 / tau, 0.0)?;
    // A cached teacher may be stored in another float type than the student computes in.
    let teacher = teacher.detach().to_dtype(student.dtype())?;
    let zt = zero_padding(&teacher, mask)?.affine(1.0 / tau, 0.0)?;
    let log_s = log_softmax(&zs, D::Minus1)?;
    let log_t = log_softmax(&zt, D::Minus1)?;
    // p_T log p_T is finite even where p_T underflows to 0, because log_softmax stays finite.
    let p_t = log_t.exp()?;
    (p_t * (log_t - log_s)?)?.sum(D::Minus1)
}

fn check_tau(what: &str, tau: f64) -> Result<()> {
    if !(tau.is_finite() && tau > 0.0) {
        candle_core::bail!("{what}: temperature must be a finite number > 0, got {tau}");
    }
    Ok(())
}

/// Weights (B, T) of the frames that take part: valid frames, and, with `drop_blank`, only
/// those whose teacher argmax is not the blank (class 0).
fn kd_weights(teacher: &Tensor, lens: &[usize], t: usize, drop_blank: bool) -> Result<Tensor> {
    let mask = frame_mask(lens, t, teacher.dtype(), teacher.device())?;
    if !drop_blank {
        return Ok(mask);
    }
    let not_blank = teacher
        .detach()
        .argmax_keepdim(D::Minus1)?
        .squeeze(D::Minus1)?
        .ne(0u32)?
        .to_dtype(teacher.dtype())?;
    mask * not_blank
}

/// Hinton's soft term **including the tau^2 factor**:
/// `tau^2 * (1/N) * sum_{b, t < lens[b]} KL(softmax(z_T/tau) || softmax(z_S/tau))`,
/// N = sum of `lens` (frame-weighted mean over the batch). The tau^2 keeps the gradient with
/// respect to the student logits roughly independent of tau (it tends to (z_S - z_T - mean)/V'
/// per frame for large tau). Returns a scalar.
pub fn soft_kl(student: &Tensor, teacher: &Tensor, lens: &[usize], tau: f64) -> Result<Tensor> {
    frame_kd(student, teacher, lens, tau, false)
}

/// Hinton distillation: `alpha * soft_kl(student, teacher, lens, tau) + (1 - alpha) * hard`,
/// where `hard` is the already computed CTC loss scalar (any shape that sums to the scalar: it
/// is summed). Hinton et al. used tau in 1..20 and a relative weight of 0.5 on the hard term.
pub fn hinton(
    student: &Tensor,
    teacher: &Tensor,
    lens: &[usize],
    tau: f64,
    alpha: f64,
    hard: &Tensor,
) -> Result<Tensor> {
    hinton_norm(student, teacher, lens, tau, alpha, hard, &Norm::Frames)
}

/// `hinton` with the soft term reduced by `norm`.
pub fn hinton_norm(
    student: &Tensor,
    teacher: &Tensor,
    lens: &[usize],
    tau: f64,
    alpha: f64,
    hard: &Tensor,
    norm: &Norm,
) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&alpha) {
        candle_core::bail!("hinton: alpha must lie in [0, 1], got {alpha}");
    }
    let soft = frame_kd_norm(student, teacher, lens, tau, false, norm)?;
    let hard = hard.sum_all()?.to_dtype(soft.dtype())?;
    soft.affine(alpha, 0.0)? + hard.affine(1.0 - alpha, 0.0)?
}

/// Frame-level KD: `tau^2 * (1/N) * sum_{(b,t) in F} KL(P_T(.|t) || P_S(.|t))` over the set F
/// of valid frames, or, with `drop_blank_frames`, of valid frames whose teacher argmax is not
/// the blank; N = |F| (0 is returned when F is empty). P = softmax(z / tau); Takashima et al.
/// use tau = 1, where the tau^2 factor is 1 and this is their per-frame KL averaged over frames.
/// With `drop_blank_frames = false` this equals `soft_kl`. Returns a scalar.
pub fn frame_kd(
    student: &Tensor,
    teacher: &Tensor,
    lens: &[usize],
    tau: f64,
    drop_blank_frames: bool,
) -> Result<Tensor> {
    frame_kd_norm(
        student,
        teacher,
        lens,
        tau,
        drop_blank_frames,
        &Norm::Frames,
    )
}

/// `frame_kd` with the sum over F reduced by `norm` instead of divided by |F|.
pub fn frame_kd_norm(
    student: &Tensor,
    teacher: &Tensor,
    lens: &[usize],
    tau: f64,
    drop_blank_frames: bool,
    norm: &Norm,
) -> Result<Tensor> {
    let (_, t, _) = check_pair("frame_kd", student, teacher, lens)?;
    check_tau("frame_kd", tau)?;
    let mask = frame_mask(lens, t, DType::U8, student.device())?;
    let kl = kl_frames(student, teacher, &mask, tau)?;
    let weights = kd_weights(teacher, lens, t, drop_blank_frames)?.to_dtype(kl.dtype())?;
    reduce_frames(&kl, &weights, norm)?.affine(tau * tau, 0.0)
}

#[cfg(test)]
#[path = "soft_tests.rs"]
mod tests;
