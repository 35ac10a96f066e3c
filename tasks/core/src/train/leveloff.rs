//! When a training curve levels off, read between its evaluations.
//!
//! The rule (docs/claims/plan.md): a model has levelled off at step s when its dev error
//! improved by less than a fraction `rel` (1 %) over the last fifth of its steps,
//! r(s) = (e(0.8 s) - e(s)) / e(0.8 s) < rel, with e the best dev error so far at each
//! evaluation, interpolated linearly between evaluations. The best so far, not the raw error,
//! because a single evaluation that rises on a falling curve (noise) would otherwise count as
//! levelled off; a model whose best does not improve has levelled off either way. The window must span at least `MIN_INTERVALS` evaluation intervals:
//! early on, a fifth of the steps is shorter than one interval, and one evaluation without a new
//! best (noise, or the all-blank plateau at the start of CTC training) would end the curve. r is continuous in s and monotone between breakpoints, so the first crossing lies in
//! the first piece where the rule comes to hold; it is found there by bisection, not read off the evaluation grid (a 250-step grid put two teachers one evaluation
//! apart). The seconds at that step are interpolated the same way.

use super::run::CurvePoint;

/// The fraction of the steps so far over which the improvement is measured.
pub const WINDOW: f64 = 0.2;

/// The plan's threshold: less than 1 % relative improvement over the window.
pub const REL: f64 = 0.01;

/// The fewest evaluation intervals the window may span.
pub const MIN_INTERVALS: f64 = 2.0;

/// Where a curve levels off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelOff {
    pub step: f64,
    pub seconds: f64,
}

/// `(step, lowest dev error up to that evaluation)` for each evaluation.
fn best_so_far(curve: &[CurvePoint]) -> Vec<(f64, f64)> {
    let mut best = f64::INFINITY;
    (curve.iter())
        .map(|p| {
            best = best.min(p.dev_error);
            (p.step as f64, best)
        })
        .collect()
}

/// `y` at `x` on the piecewise-linear curve through `points` (sorted by x); `None` outside it.
fn interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let i = points.iter().position(|p| p.0 >= x)?;
    let (x1, y1) = points[i];
    if x1 == x {
        return Some(y1);
    }
    let (x0, y0) = *points.get(i.checked_sub(1)?)?;
    Some(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
}

/// r(s), the relative improvement over the window ending at `s`; `None` where the window
/// starts before the first evaluation. No improvement is possible from an error of 0.
fn improvement(errors: &[(f64, f64)], s: f64) -> Option<f64> {
    let before = interpolate(errors, (1.0 - WINDOW) * s)?;
    let now = interpolate(errors, s)?;
    Some(if before > 0.0 {
        (before - now) / before
    } else {
        0.0
    })
}

/// The first step at which `curve` has levelled off by the rule, with the training seconds
/// there; `None` if it never does within the curve (not converged).
pub fn level_off(curve: &[CurvePoint], rel: f64) -> Option<LevelOff> {
    let errors = best_so_far(curve);
    let seconds: Vec<(f64, f64)> = curve.iter().map(|p| (p.step as f64, p.seconds)).collect();
    let first = errors.first()?.0;
    let interval = errors.get(1)?.0 - first;
    // The earliest step whose window starts at or after the first evaluation and spans enough
    // evaluation intervals.
    let start = (first / (1.0 - WINDOW)).max(MIN_INTERVALS * interval / WINDOW);
    let holds = |s: f64| improvement(&errors, s).is_some_and(|r| r < rel);
    let mut lo = start;
    if holds(lo) {
        return Some(LevelOff {
            step: lo,
            seconds: interpolate(&seconds, lo)?,
        });
    }
    // Between consecutive breakpoints (evaluations, and the steps whose window starts at one)
    // both e(s) and e(0.8 s) are linear, so r = 1 - e(s) / e(0.8 s) is monotone there: the rule
    // cannot hold inside a piece and fail at both its ends.
    let last = errors.last()?.0;
    let mut breaks: Vec<f64> = errors
        .iter()
        .flat_map(|p| [p.0, p.0 / (1.0 - WINDOW)])
        .filter(|&s| s > start && s <= last)
        .collect();
    breaks.sort_by(f64::total_cmp);
    breaks.dedup();
    for s in breaks {
        if !holds(s) {
            lo = s;
            continue;
        }
        let mut hi = s;
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if holds(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        return Some(LevelOff {
            step: hi,
            seconds: interpolate(&seconds, hi)?,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(usize, f64)]) -> Vec<CurvePoint> {
        points
            .iter()
            .map(|&(step, dev_error)| CurvePoint {
                step,
                seconds: step as f64 / 10.0,
                dev_error,
            })
            .collect()
    }

    /// The same rule by brute force: every step of a fine grid, first that holds.
    fn brute(c: &[CurvePoint], rel: f64) -> Option<f64> {
        let mut errors: Vec<(f64, f64)> = c.iter().map(|p| (p.step as f64, p.dev_error)).collect();
        for i in 1..errors.len() {
            errors[i].1 = errors[i].1.min(errors[i - 1].1);
        }
        let last = errors.last()?.0;
        let interval = errors.get(1)?.0 - errors[0].0;
        let mut s = (errors[0].0 / (1.0 - WINDOW)).max(MIN_INTERVALS * interval / WINDOW);
        while s <= last {
            if improvement(&errors, s).is_some_and(|r| r < rel) {
                return Some(s);
            }
            s += 0.01;
        }
        None
    }

    #[test]
    fn a_hand_worked_curve_levels_off_between_evaluations() {
        // Evaluations every 100 steps, falling linearly from 100 at step 100 to 40 at step 1000,
        // then flat. The window spans two intervals from s = 1000. For s in [1000, 1250]
        // e(s) = 40 and e(0.8 s) = 100 - 60 (0.8 s - 100) / 900 on the falling part, so
        // r(s) < 0.01 once e(0.8 s) < 40 / 0.99, i.e. 0.8 s > 1000 - 900 (40 / 0.99 - 40) / 60.
        let pts: Vec<(usize, f64)> = (1..=15)
            .map(|i| {
                let s = 100 * i;
                (
                    s,
                    if s <= 1000 {
                        100.0 - 60.0 * (s - 100) as f64 / 900.0
                    } else {
                        40.0
                    },
                )
            })
            .collect();
        let got = level_off(&curve(&pts), 0.01).unwrap();
        let want = (1000.0 - 900.0 * (40.0 / 0.99 - 40.0) / 60.0) / 0.8;
        assert!((got.step - want).abs() < 1e-6, "{got:?} vs {want}");
        assert!((got.seconds - want / 10.0).abs() < 1e-6);
    }

    #[test]
    fn matches_brute_force_on_decaying_and_noisy_curves() {
        let mut rng = crate::Rng::new(3);
        for k in 0..50 {
            let tau = 200.0 + 40.0 * k as f64;
            let pts: Vec<(usize, f64)> = (1..=40)
                .map(|i| {
                    let s = 100 * i;
                    let noise = 0.3 * rng.normal();
                    (s, 20.0 + 80.0 * (-(s as f64) / tau).exp() + noise)
                })
                .collect();
            let c = curve(&pts);
            let got = level_off(&c, 0.01).map(|l| l.step);
            let want = brute(&c, 0.01);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 0.02, "tau {tau}: {g} vs {w}"),
                (None, None) => {}
                _ => panic!("tau {tau}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn a_rise_on_a_falling_curve_is_not_a_level_off() {
        // Falling by a fifth every evaluation, except at step 1000, whose error (25) is above
        // the one at 800 (r < 0 on the raw curve); the best so far still falls.
        let mut pts: Vec<(usize, f64)> = (1..=14)
            .map(|i| (100 * i, 100.0 * 0.8f64.powi(i as i32 - 1)))
            .collect();
        pts[9].1 = 25.0;
        let c = curve(&pts);
        let got = level_off(&c, 0.01);
        assert_eq!(got, None, "{got:?}");
        // A rise that is never beaten again: levelled off once a fifth of the steps shows no
        // new best.
        // Falling to 20 at step 1000, never beaten after: levelled off between 1000 and 1250,
        // once the window starts past 1000 - (a hundredth of the last drop).
        let mut pts: Vec<(usize, f64)> = (1..=10)
            .map(|i| (100 * i, 120.0 - 10.0 * i as f64))
            .collect();
        pts[9].1 = 20.0;
        pts.extend((11..=15).map(|i| (100 * i, 25.0 + i as f64)));
        let got = level_off(&curve(&pts), 0.01).unwrap();
        assert!(got.step > 1000.0 && got.step <= 1250.0, "{got:?}");
    }

    #[test]
    fn a_curve_still_falling_never_levels_off() {
        let c = curve(&[(100, 100.0), (200, 50.0), (300, 25.0), (400, 12.5)]);
        assert_eq!(level_off(&c, 0.01), None);
        assert_eq!(level_off(&[], 0.01), None);
        // One evaluation: no window to measure over.
        assert_eq!(level_off(&curve(&[(100, 5.0)]), 0.01), None);
    }

    #[test]
    fn a_curve_flat_from_the_start_levels_off_at_the_first_measurable_step() {
        // The first measurable step: the window of a fifth spans two intervals of 100.
        let flat: Vec<(usize, f64)> = (1..=20).map(|i| (100 * i, 30.0)).collect();
        let got = level_off(&curve(&flat), 0.01).unwrap();
        assert!((got.step - 1000.0).abs() < 1e-9, "{got:?}");
        // Too short to measure over two intervals.
        assert_eq!(level_off(&curve(&flat[..9]), 0.01), None);
        // A perfect model cannot improve: levelled off.
        let zero: Vec<(usize, f64)> = (1..=10).map(|i| (100 * i, 0.0)).collect();
        assert!(level_off(&curve(&zero), 0.01).is_some());
    }
}
