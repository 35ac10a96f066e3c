//! Per-utterance CTC forward-backward on plain slices (blank = 0).
//!
//! The fast path runs the alpha/beta recursions in probability space with per-frame rescaling
//! (Rabiner scaling, f64, emissions shifted by the frame maximum): the inner loops are then
//! branch-free multiply-adds that vectorise, instead of one `exp` + `ln` per lattice cell. The
//! log-likelihood is still accumulated in log space (sum of the log scale factors), so long
//! utterances do not underflow. Only if a scale factor underflows f64 (a frame where every live
//! state has a relative emission below ~1e-308, i.e. logit gaps of > 700 nats) does the utterance
//! fall back to the exact log-space recursion, which has no such limit.

use std::cell::RefCell;

/// Reused buffers: one per rayon worker, so the loss allocates nothing per frame or utterance
/// once warm.
#[derive(Default)]
struct Scratch {
    alpha: Vec<f64>,
    q: Vec<f64>,
    inv_z: Vec<f64>,
    b_cur: Vec<f64>,
    b_next: Vec<f64>,
    eb: Vec<f64>,
    ext: Vec<usize>,
    skip: Vec<f64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn reset(buf: &mut Vec<f64>, n: usize, value: f64) {
    buf.clear();
    buf.resize(n, value);
}

/// Which recursion to run; `Auto` is the scaled path with log-space fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Auto,
    /// Tests use it to check both recursions against brute force.
    #[cfg(test)]
    LogSpace,
}

/// The frames of one utterance: `x[t * v + k]` for `t < len`, logits or log-probabilities.
pub(crate) struct Utt<'a> {
    pub x: &'a [f32],
    pub v: usize,
    pub len: usize,
    pub target: &'a [u32],
    pub logits: bool,
}

/// Smallest number of frames that can emit `target`: one per label plus a blank between
/// equal neighbours.
pub fn min_frames(target: &[u32]) -> usize {
    target.len() + target.windows(2).filter(|w| w[0] == w[1]).count()
}

/// Negative log-likelihood of the utterance (`+inf` if no path has non-zero probability).
/// If `grad` is given (at least `len * v` long, zero-initialised), rows `0..len` receive
/// d(nll)/d(input): `softmax - gamma` for logits, `-gamma` for log-probabilities; an
/// infeasible utterance leaves them zero. Errors name the bad frame.
pub(crate) fn forward_backward(
    u: &Utt,
    grad: Option<&mut [f32]>,
    mode: Mode,
) -> Result<f64, String> {
    if u.len == 0 {
        // Zero frames emit exactly the empty sequence.
        return Ok(if u.target.is_empty() {
            0.0
        } else {
            f64::INFINITY
        });
    }
    if u.len < min_frames(u.target) {
        return Ok(f64::INFINITY);
    }
    SCRATCH.with(|cell| {
        let sc = &mut *cell.borrow_mut();
        prepare(u, sc)?;
        let mut grad = grad;
        if mode == Mode::Auto {
            if let Some(nll) = scaled(u, grad.as_deref_mut(), sc) {
                return Ok(nll);
            }
        }
        let nll = log_space(u, grad.as_deref_mut(), sc);
        if !nll.is_finite() {
            if let Some(g) = grad {
                g[..u.len * u.v].fill(0.0);
            }
        }
        Ok(nll)
    })
}

/// Extended labels, skip mask, and per-frame emissions `q = exp(x - max)` with `inv_z = 1/sum q`.
fn prepare(u: &Utt, sc: &mut Scratch) -> Result<(), String> {
    let s_len = 2 * u.target.len() + 1;
    sc.ext.clear();
    sc.ext.push(0);
    for &l in u.target {
        sc.ext.push(l as usize);
        sc.ext.push(0);
    }
    // Padded by two zeros so the beta recursion can read s + 2 without a branch.
    reset(&mut sc.skip, s_len + 2, 0.0);
    for s in 2..s_len {
        if sc.ext[s] != 0 && sc.ext[s] != sc.ext[s - 2] {
            sc.skip[s] = 1.0;
        }
    }
    let v = u.v;
    reset(&mut sc.q, u.len * v, 0.0);
    reset(&mut sc.inv_z, u.len, 0.0);
    for t in 0..u.len {
        let row = &u.x[t * v..(t + 1) * v];
        let mut m = f32::NEG_INFINITY;
        for &val in row {
            if val.is_nan() || val == f32::INFINITY {
                return Err(format!("frame {t} holds {val}"));
            }
            m = m.max(val);
        }
        if m == f32::NEG_INFINITY {
            return Err(format!("frame {t} is -inf in every class"));
        }
        let q = &mut sc.q[t * v..(t + 1) * v];
        let mut z = 0.0;
        for (qk, &val) in q.iter_mut().zip(row) {
            *qk = ((val - m) as f64).exp();
            z += *qk;
        }
        sc.inv_z[t] = 1.0 / z;
    }
    Ok(())
}

/// The live band of states at frame `t`: reachable from the start and still able to finish.
fn band(s_len: usize, len: usize, t: usize) -> (usize, usize) {
    (s_len.saturating_sub(2 * (len - t)), s_len.min(2 * (t + 1)))
}

/// Log of the factor that turns `q` into probabilities at frame `t`.
fn frame_shift(u: &Utt, sc: &Scratch, t: usize) -> f64 {
    if u.logits {
        sc.inv_z[t].ln()
    } else {
        let row = &u.x[t * u.v..(t + 1) * u.v];
        row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64
    }
}

/// Scaled forward-backward; `None` if a scale factor underflowed (caller falls back).
fn scaled(u: &Utt, grad: Option<&mut [f32]>, sc: &mut Scratch) -> Option<f64> {
    let (v, len) = (u.v, u.len);
    let s_len = sc.ext.len();
    let w = s_len + 2; // alpha rows carry two leading zeros so s - 1, s - 2 need no branch
    reset(&mut sc.alpha, len * w, 0.0);
    let mut log_scale = 0.0;
    for t in 0..len {
        let (lo, hi) = band(s_len, len, t);
        let q = &sc.q[t * v..(t + 1) * v];
        let (prev, cur) = if t == 0 {
            (None, &mut sc.alpha[..w])
        } else {
            let (a, b) = sc.alpha.split_at_mut(t * w);
            (Some(&a[(t - 1) * w..]), &mut b[..w])
        };
        let mut c = 0.0;
        match prev {
            None => {
                for s in lo..hi {
                    cur[s + 2] = q[sc.ext[s]];
                    c += cur[s + 2];
                }
            }
            Some(p) => {
                for s in lo..hi {
                    let a = (p[s + 2] + p[s + 1] + sc.skip[s] * p[s]) * q[sc.ext[s]];
                    cur[s + 2] = a;
                    c += a;
                }
            }
        }
        if !(c >= f64::MIN_POSITIVE && c.is_finite()) {
            return None;
        }
        let inv = 1.0 / c;
        for a in &mut cur[lo + 2..hi + 2] {
            *a *= inv;
        }
        log_scale += c.ln() + frame_shift(u, sc, t);
    }
    let last = &sc.alpha[(len - 1) * w..];
    let p_end = last[s_len + 1] + if s_len > 1 { last[s_len] } else { 0.0 };
    if p_end.is_nan() || p_end < f64::MIN_POSITIVE {
        return None;
    }
    let nll = -(log_scale + p_end.ln());
    if let Some(g) = grad {
        scaled_backward(u, g, sc)?;
    }
    Some(nll)
}

/// Beta recursion (beta excludes the emission at its own frame) fused with the gradient rows.
fn scaled_backward(u: &Utt, g: &mut [f32], sc: &mut Scratch) -> Option<()> {
    let (v, len) = (u.v, u.len);
    let s_len = sc.ext.len();
    let w = s_len + 2;
    reset(&mut sc.b_cur, w, 0.0);
    reset(&mut sc.b_next, w, 0.0);
    reset(&mut sc.eb, w, 0.0);
    sc.b_cur[s_len - 1] = 1.0;
    if s_len > 1 {
        sc.b_cur[s_len - 2] = 1.0;
    }
    for t in (0..len).rev() {
        let (lo, hi) = band(s_len, len, t);
        let a = &sc.alpha[t * w + 2..t * w + 2 + s_len];
        let q = &sc.q[t * v..(t + 1) * v];
        let z: f64 = a[lo..hi]
            .iter()
            .zip(&sc.b_cur[lo..hi])
            .map(|(x, y)| x * y)
            .sum();
        if !(z >= f64::MIN_POSITIVE && z.is_finite()) {
            return None;
        }
        let grow = &mut g[t * v..(t + 1) * v];
        if u.logits {
            let inv_z = sc.inv_z[t];
            for (gk, &qk) in grow.iter_mut().zip(q) {
                *gk = (qk * inv_z) as f32;
            }
        } else {
            grow.fill(0.0);
        }
        let inv = 1.0 / z;
        for s in lo..hi {
            grow[sc.ext[s]] -= (a[s] * sc.b_cur[s] * inv) as f32;
        }
        if t == 0 {
            break;
        }
        sc.eb.fill(0.0);
        for s in lo..hi {
            sc.eb[s] = q[sc.ext[s]] * sc.b_cur[s];
        }
        let (plo, phi) = band(s_len, len, t - 1);
        sc.b_next.fill(0.0);
        let mut sum = 0.0;
        for s in plo..phi {
            let b = sc.eb[s] + sc.eb[s + 1] + sc.skip[s + 2] * sc.eb[s + 2];
            sc.b_next[s] = b;
            sum += b;
        }
        if !(sum >= f64::MIN_POSITIVE && sum.is_finite()) {
            return None;
        }
        let inv = 1.0 / sum;
        for b in &mut sc.b_next[plo..phi] {
            *b *= inv;
        }
        std::mem::swap(&mut sc.b_cur, &mut sc.b_next);
    }
    Some(())
}

fn lse2(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

fn lse3(a: f64, b: f64, c: f64) -> f64 {
    let m = a.max(b).max(c);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp() + (c - m).exp()).ln()
}

/// Exact log-space alpha/beta over the extended labels: the robust path, used when scaling
/// underflows (and by tests). Overwrites `sc.q` with log-probabilities.
fn log_space(u: &Utt, grad: Option<&mut [f32]>, sc: &mut Scratch) -> f64 {
    let (v, len) = (u.v, u.len);
    let s_len = sc.ext.len();
    let ninf = f64::NEG_INFINITY;
    // From the raw input, not from `q`: the relative emissions in `q` may have underflowed.
    for t in 0..len {
        let row = &u.x[t * v..(t + 1) * v];
        let shift = if u.logits {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            -(m - sc.inv_z[t].ln())
        } else {
            0.0
        };
        for (qk, &x) in sc.q[t * v..(t + 1) * v].iter_mut().zip(row) {
            *qk = x as f64 + shift;
        }
    }
    let lp = &sc.q;
    let ext = &sc.ext;
    let skips = |s: usize| sc.skip[s] > 0.0;
    reset(&mut sc.alpha, len * s_len, ninf);
    let la = &mut sc.alpha;
    la[0] = lp[ext[0]];
    if s_len > 1 {
        la[1] = lp[ext[1]];
    }
    for t in 1..len {
        let (p, c) = la.split_at_mut(t * s_len);
        let p = &p[(t - 1) * s_len..];
        for s in 0..s_len {
            let a1 = if s >= 1 { p[s - 1] } else { ninf };
            let a2 = if skips(s) { p[s - 2] } else { ninf };
            c[s] = lse3(p[s], a1, a2) + lp[t * v + ext[s]];
        }
    }
    let last = &la[(len - 1) * s_len..];
    let ll = if s_len > 1 {
        lse2(last[s_len - 1], last[s_len - 2])
    } else {
        last[0]
    };
    if ll == ninf {
        return f64::INFINITY;
    }
    let Some(g) = grad else { return -ll };
    let mut lb = vec![ninf; s_len];
    let mut lb_prev = vec![ninf; s_len];
    lb[s_len - 1] = 0.0;
    if s_len > 1 {
        lb[s_len - 2] = 0.0;
    }
    for t in (0..len).rev() {
        let grow = &mut g[t * v..(t + 1) * v];
        let lpt = &lp[t * v..(t + 1) * v];
        for (gk, &l) in grow.iter_mut().zip(lpt) {
            *gk = if u.logits { l.exp() as f32 } else { 0.0 };
        }
        for s in 0..s_len {
            grow[ext[s]] -= (la[t * s_len + s] + lb[s] - ll).exp() as f32;
        }
        if t == 0 {
            break;
        }
        let e = |s: usize| lpt[ext[s]] + lb[s];
        for (s, out) in lb_prev.iter_mut().enumerate() {
            let b1 = if s + 1 < s_len { e(s + 1) } else { ninf };
            let b2 = if s + 2 < s_len && skips(s + 2) {
                e(s + 2)
            } else {
                ninf
            };
            *out = lse3(e(s), b1, b2);
        }
        std::mem::swap(&mut lb, &mut lb_prev);
    }
    -ll
}
