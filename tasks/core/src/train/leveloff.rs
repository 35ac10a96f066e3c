//! When a training curve levels off, read from a power law fitted to its evaluations.
//!
//! The rule (docs/claims/plan.md): a model has levelled off at step s when its dev error
//! improves by less than a fraction `rel` (1 %) over the last fifth of its steps,
//! r(s) = (e(0.8 s) - e(s)) / e(0.8 s) < rel. The error e is not read off the evaluations
//! themselves but from e(s) = a + b (s / S)^-c (a, b >= 0, c > 0, S the last evaluated step),
//! fitted by least squares to the evaluations from a quarter of the run on. A dev subset of a
//! few hundred words moves by about 3 points between evaluations, so any rule read from single
//! evaluations (even from the best error so far) ends a falling curve at one lucky evaluation;
//! the fit weighs them all. The first quarter is left out because CTC training starts on an
//! all-blank plateau that no power law describes.
//!
//! For a = 0 the relative improvement is the constant 1 - 0.8^c; otherwise r falls with s and
//! the level-off step has a closed form (`PowerLaw::level_off_step`). The curve has levelled
//! off *within the run* when that step is at most the last evaluated step (at the first fitted
//! evaluation, if the fit is flat from there); beyond it, the step is the fit's extrapolation,
//! reported as such and never as a level-off.

use super::run::CurvePoint;

/// The fraction of the steps so far over which the improvement is measured.
pub const WINDOW: f64 = 0.2;

/// The plan's threshold: less than 1 % relative improvement over the window.
pub const REL: f64 = 0.01;

/// The fit uses the evaluations from this fraction of the last evaluated step on.
pub const FIT_FROM: f64 = 0.25;

/// The fewest evaluations a fit takes (three parameters and one degree of freedom).
pub const MIN_POINTS: usize = 4;

/// Exponents searched: a grid of this step up to `C_MAX`, then refined around its best point.
const C_STEP: f64 = 0.01;
const C_MAX: f64 = 4.0;

/// e(s) = a + b (s / scale)^-c, fitted to a learning curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    /// The error the fit tends to (the irreducible part).
    pub a: f64,
    /// The reducible part at `scale`.
    pub b: f64,
    pub c: f64,
    /// The step the curve is normalised by (the last fitted step), so that no power overflows.
    pub scale: f64,
    /// Root mean square of the residuals, on the curve's own scale (points of error).
    pub residual_rms: f64,
    /// How many evaluations the fit used.
    pub points: usize,
}

/// Least squares of y = a + b x with a, b >= 0: `(a, b, sum of squared residuals)`. The
/// problem is convex, so when the free optimum breaks a bound the constrained one lies on a
/// bound: the better of b = 0 and a = 0.
fn nonnegative_line(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let sse = |a: f64, b: f64| -> f64 {
        x.iter()
            .zip(y)
            .map(|(xi, yi)| (a + b * xi - yi).powi(2))
            .sum()
    };
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|xi| (xi - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(xi, yi)| (xi - mx) * (yi - my)).sum();
    if sxx > 0.0 {
        let b = sxy / sxx;
        let a = my - b * mx;
        if a >= 0.0 && b >= 0.0 {
            return (a, b, sse(a, b));
        }
    }
    let flat = (my.max(0.0), 0.0);
    let xx: f64 = x.iter().map(|xi| xi * xi).sum();
    let xy: f64 = x.iter().zip(y).map(|(xi, yi)| xi * yi).sum();
    let through_zero = (0.0, if xx > 0.0 { (xy / xx).max(0.0) } else { 0.0 });
    let (f, z) = (sse(flat.0, flat.1), sse(through_zero.0, through_zero.1));
    if f <= z {
        (flat.0, flat.1, f)
    } else {
        (through_zero.0, through_zero.1, z)
    }
}

impl PowerLaw {
    /// The least-squares fit to `(step, error)` points (steps > 0); `None` with fewer than
    /// `MIN_POINTS`. For each exponent c the best a, b >= 0 are a linear problem, so the fit
    /// searches c alone: a grid, then golden-section search in the grid cells beside its best
    /// point (deterministic; the profile is not assumed unimodal beyond that).
    pub fn fit(points: &[(f64, f64)]) -> Option<Self> {
        if points.len() < MIN_POINTS || points.iter().any(|p| p.0 <= 0.0 || !p.1.is_finite()) {
            return None;
        }
        let scale = points.iter().map(|p| p.0).fold(0.0, f64::max);
        let u: Vec<f64> = points.iter().map(|p| p.0 / scale).collect();
        let y: Vec<f64> = points.iter().map(|p| p.1).collect();
        let profile = |c: f64| {
            let x: Vec<f64> = u.iter().map(|ui| ui.powf(-c)).collect();
            nonnegative_line(&x, &y)
        };
        let cells = (C_MAX / C_STEP).round() as usize;
        let (best, best_sse) = (1..=cells)
            .map(|i| (i, profile(C_STEP * i as f64).2))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((1, f64::INFINITY));
        let (mut lo, mut hi) = (
            C_STEP * (best as f64 - 1.0).max(0.5),
            C_STEP * (best as f64 + 1.0).min(cells as f64),
        );
        let g = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..60 {
            let (m1, m2) = (hi - g * (hi - lo), lo + g * (hi - lo));
            if profile(m1).2 <= profile(m2).2 {
                hi = m2;
            } else {
                lo = m1;
            }
        }
        let refined = 0.5 * (lo + hi);
        let c = if profile(refined).2 <= best_sse {
            refined
        } else {
            C_STEP * best as f64
        };
        let (a, b, sse) = profile(c);
        Some(Self {
            a,
            b,
            c,
            scale,
            residual_rms: (sse / points.len() as f64).sqrt(),
            points: points.len(),
        })
    }

    /// The fitted error at step `s`.
    pub fn at(&self, s: f64) -> f64 {
        self.a + self.b * (s / self.scale).powf(-self.c)
    }

    /// r(s): the fitted relative improvement over the window ending at `s`.
    pub fn improvement(&self, s: f64) -> f64 {
        let before = self.at((1.0 - WINDOW) * s);
        if before > 0.0 {
            (before - self.at(s)) / before
        } else {
            0.0
        }
    }

    /// The step from which r(s) < `rel` holds: 0 if it holds everywhere, infinity if nowhere.
    /// With q = 0.8^-c and x = (s / scale)^-c, r < rel reads b x (q - 1 - rel q) < rel a.
    pub fn level_off_step(&self, rel: f64) -> f64 {
        let q = (1.0 - WINDOW).powf(-self.c);
        let k = self.b * (q - 1.0 - rel * q);
        if k <= 0.0 {
            return 0.0;
        }
        if self.a <= 0.0 {
            return f64::INFINITY;
        }
        self.scale * (k / (rel * self.a)).powf(1.0 / self.c)
    }
}

/// A curve's level-off by the rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelOff {
    pub step: f64,
    pub seconds: f64,
}

/// What the rule reads from a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub fit: PowerLaw,
    /// The fitted level-off step, never before the first fitted evaluation; beyond the last
    /// evaluation (or infinite) it is an extrapolation.
    pub step: f64,
    /// The fitted improvement over the last fifth of the run, at its last evaluation.
    pub last_improvement: f64,
    /// `Some` when the curve levelled off within its evaluations.
    pub within: Option<LevelOff>,
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

/// The rule on `curve` at threshold `rel`; `None` with too few evaluations to fit.
pub fn read(curve: &[CurvePoint], rel: f64) -> Option<Reading> {
    let last = curve.last()?.step as f64;
    let points: Vec<(f64, f64)> = (curve.iter())
        .filter(|p| p.step > 0 && p.step as f64 >= FIT_FROM * last)
        .map(|p| (p.step as f64, p.dev_error))
        .collect();
    let fit = PowerLaw::fit(&points)?;
    let step = fit.level_off_step(rel).max(points[0].0);
    let seconds: Vec<(f64, f64)> = curve.iter().map(|p| (p.step as f64, p.seconds)).collect();
    let within = (step <= last)
        .then(|| interpolate(&seconds, step))
        .flatten()
        .map(|seconds| LevelOff { step, seconds });
    Some(Reading {
        fit,
        step,
        last_improvement: fit.improvement(last),
        within,
    })
}

/// The step (and training seconds) at which `curve` has levelled off by the rule; `None` if it
/// has not within its evaluations (not converged), or has too few to fit.
pub fn level_off(curve: &[CurvePoint], rel: f64) -> Option<LevelOff> {
    read(curve, rel)?.within
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

    fn law(a: f64, b: f64, c: f64) -> PowerLaw {
        PowerLaw {
            a,
            b,
            c,
            scale: 1000.0,
            residual_rms: 0.0,
            points: 0,
        }
    }

    #[test]
    fn an_exact_power_law_is_recovered() {
        // e(s) = 10 + 40 (s / 2000)^-0.7, evaluated every 100 steps to 2000.
        let pts: Vec<(f64, f64)> = (1..=20)
            .map(|i| {
                let s = 100.0 * i as f64;
                (s, 10.0 + 40.0 * (s / 2000.0).powf(-0.7))
            })
            .collect();
        let f = PowerLaw::fit(&pts).unwrap();
        assert!((f.a - 10.0).abs() < 1e-6, "{f:?}");
        assert!((f.b - 40.0).abs() < 1e-6, "{f:?}");
        assert!((f.c - 0.7).abs() < 1e-7, "{f:?}");
        assert!(f.residual_rms < 1e-6);
        assert_eq!((f.points, f.scale), (20, 2000.0));
    }

    #[test]
    fn the_fit_is_at_least_as_good_as_a_brute_force_search() {
        // Noisy curves; a brute-force grid over c (finer than the fit's grid, but without its
        // refinement) with the same nonnegative a, b cannot beat the fit.
        let mut rng = crate::Rng::new(7);
        for k in 0..20 {
            let (a, b, c) = (5.0 + k as f64, 30.0 + 3.0 * k as f64, 0.2 + 0.15 * k as f64);
            let pts: Vec<(f64, f64)> = (5..=20)
                .map(|i| {
                    let s = 300.0 * i as f64;
                    (s, a + b * (s / 6000.0).powf(-c) + 2.0 * rng.normal())
                })
                .collect();
            let f = PowerLaw::fit(&pts).unwrap();
            let sse = |a: f64, b: f64, c: f64| -> f64 {
                pts.iter()
                    .map(|p| (a + b * (p.0 / 6000.0).powf(-c) - p.1).powi(2))
                    .sum()
            };
            let got = sse(f.a, f.b, f.c);
            let mut brute = f64::INFINITY;
            for j in 1..=4000 {
                let cj = 0.001 * j as f64;
                let x: Vec<f64> = pts.iter().map(|p| (p.0 / 6000.0).powf(-cj)).collect();
                let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
                brute = brute.min(nonnegative_line(&x, &y).2);
            }
            assert!(
                got <= brute * (1.0 + 1e-9) + 1e-12,
                "curve {k}: {got} vs {brute}"
            );
            assert!((f.residual_rms - (got / 16.0).sqrt()).abs() < 1e-9);
        }
    }

    #[test]
    fn nonnegative_least_squares_matches_a_search_over_the_bounds() {
        // A rising line (free slope < 0) and a line whose free intercept is < 0: each against
        // a fine search of the feasible quadrant.
        for (x, y) in [
            (vec![1.0, 2.0, 3.0, 4.0], vec![4.0, 3.5, 3.1, 2.0]),
            (vec![1.0, 2.0, 3.0, 4.0], vec![0.5, 2.9, 5.2, 7.4]),
            (vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 2.0, 3.0, 4.0]),
        ] {
            let (a, b, sse) = nonnegative_line(&x, &y);
            assert!(a >= 0.0 && b >= 0.0);
            let mut best = f64::INFINITY;
            for i in 0..=400 {
                for j in 0..=400 {
                    let (ai, bj) = (0.02 * i as f64, 0.01 * j as f64);
                    let s: f64 = x
                        .iter()
                        .zip(&y)
                        .map(|(p, q)| (ai + bj * p - q).powi(2))
                        .sum();
                    best = best.min(s);
                }
            }
            assert!(sse <= best + 1e-9, "{x:?} {y:?}: {sse} vs {best}");
            assert!(best - sse < 1e-2, "{x:?} {y:?}: {sse} vs {best}");
        }
    }

    #[test]
    fn the_level_off_step_matches_a_scan_of_the_improvement() {
        for (a, b, c) in [
            (10.0, 40.0, 0.7),
            (1.0, 100.0, 0.3),
            (20.0, 5.0, 2.0),
            (0.5, 3.0, 1.2),
        ] {
            let f = law(a, b, c);
            let got = f.level_off_step(0.01);
            // r falls with s: the scan's first step with r < 0.01 brackets the closed form.
            let mut s = 1.0f64;
            while f.improvement(s) >= 0.01 {
                s *= 1.0001;
            }
            assert!(
                (got - s).abs() <= s * 1.1e-4,
                "({a}, {b}, {c}): {got} vs {s}"
            );
            assert!(f.improvement(got * 0.999) > 0.01 && f.improvement(got * 1.001) < 0.01);
        }
        // Hand-worked: a = 10, b = 40, c = 1, scale 1000: q = 1.25, k = 40 (0.25 - 0.0125) =
        // 9.5, x < 0.1 * 10 / 9.5, s > 1000 * 95 = 95,000.
        assert!((law(10.0, 40.0, 1.0).level_off_step(0.01) - 95_000.0).abs() < 1e-6);
        // a = 0: r is the constant 1 - 0.8^c; never below 1 % for c = 1, always for c = 0.04.
        assert_eq!(law(0.0, 40.0, 1.0).level_off_step(0.01), f64::INFINITY);
        assert_eq!(law(0.0, 40.0, 0.04).level_off_step(0.01), 0.0);
        // b = 0: flat.
        assert_eq!(law(10.0, 0.0, 1.0).level_off_step(0.01), 0.0);
    }

    #[test]
    fn a_lucky_evaluation_on_a_falling_curve_is_not_a_level_off() {
        // The word-image teacher of the level-off runs (docs/claims/leveloff/str-curves.md):
        // 33.2 % at step 2,700 on a 300-word dev subset was not beaten until 4,200, which ended
        // the curve at 3,359 under the best-so-far rule; it still fell to 26.4 % by 5,100.
        let dev = [
            96.0, 67.6, 64.0, 53.6, 47.6, 47.6, 41.2, 42.8, 33.2, 36.4, 35.6, 34.0, 33.6, 30.4,
            28.8, 29.6, 26.4, 26.4, 27.6, 26.8,
        ];
        let pts: Vec<(usize, f64)> = dev
            .iter()
            .enumerate()
            .map(|(i, &e)| (300 * (i + 1), e))
            .collect();
        let r = read(&curve(&pts), REL).unwrap();
        assert_eq!(r.within, None, "{r:?}");
        assert!(r.step > 6000.0 && r.last_improvement > 0.05, "{r:?}");
    }

    #[test]
    fn a_flat_or_rising_curve_levels_off_at_the_first_fitted_evaluation() {
        let flat: Vec<(usize, f64)> = (1..=20).map(|i| (100 * i, 30.0)).collect();
        let got = level_off(&curve(&flat), REL).unwrap();
        assert_eq!(got.step, 500.0);
        assert!((got.seconds - 50.0).abs() < 1e-12);
        let rising: Vec<(usize, f64)> = (1..=20).map(|i| (100 * i, 30.0 + i as f64)).collect();
        assert_eq!(level_off(&curve(&rising), REL).unwrap().step, 500.0);
        // A perfect model cannot improve.
        let zero: Vec<(usize, f64)> = (1..=10).map(|i| (100 * i, 0.0)).collect();
        assert!(level_off(&curve(&zero), REL).is_some());
    }

    #[test]
    fn a_curve_that_flattens_levels_off_between_evaluations() {
        // e = 10 + 40 (s / 1000)^-1 evaluated every 5,000 steps to 200,000: the closed form
        // puts the level-off at 95,000 (hand-worked above), an odd multiple of the spacing; the
        // seconds are interpolated.
        let pts: Vec<(usize, f64)> = (1..=40)
            .map(|i| {
                let s = 5000 * i;
                (s, 10.0 + 40.0 * 1000.0 / s as f64)
            })
            .collect();
        let got = level_off(&curve(&pts), REL).unwrap();
        assert!((got.step - 95_000.0).abs() < 1e-3, "{got:?}");
        assert!((got.seconds - 9_500.0).abs() < 1e-4, "{got:?}");
        // Cut at 90,000: not yet, and the reading extrapolates to the same step.
        let short = read(&curve(&pts[..18]), REL).unwrap();
        assert_eq!(short.within, None);
        assert!((short.step - 95_000.0).abs() < 1e-3, "{short:?}");
    }

    #[test]
    fn too_few_evaluations_to_fit() {
        assert_eq!(read(&[], REL), None);
        // Four evaluations, but only three from a quarter of the run on.
        let c = curve(&[(100, 50.0), (200, 40.0), (300, 35.0), (500, 33.0)]);
        assert_eq!(read(&c, REL), None);
        let c = curve(&[(100, 50.0), (200, 40.0), (300, 35.0), (400, 33.0)]);
        assert_eq!(read(&c, REL).unwrap().fit.points, 4);
    }
}
