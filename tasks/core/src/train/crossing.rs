//! When a training curve first reaches a dev-error target, read between its evaluations.
//!
//! Reading the step off the evaluation grid puts two models that cross the target between the
//! same pair of evaluations at the same step, and two that cross a hair apart one whole interval
//! apart. The crossing is interpolated linearly between the last evaluation above the target
//! and the first at or below it, and so are the training seconds there.

use super::run::CurvePoint;

/// The step and training seconds at which a curve reached its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    pub step: f64,
    pub seconds: f64,
}

/// The first crossing of `target` by `curve`'s dev error, interpolated from the evaluation
/// before it; at the first evaluation if that is already at or below the target (nothing
/// earlier to interpolate from); `None` if the curve never reaches it.
pub fn first_crossing(curve: &[CurvePoint], target: f64) -> Option<Crossing> {
    let i = curve.iter().position(|p| p.dev_error <= target)?;
    let hit = &curve[i];
    let Some(before) = i.checked_sub(1).map(|j| &curve[j]) else {
        return Some(Crossing {
            step: hit.step as f64,
            seconds: hit.seconds,
        });
    };
    // before.dev_error > target >= hit.dev_error, so the fraction lies in (0, 1].
    let f = (before.dev_error - target) / (before.dev_error - hit.dev_error);
    let lerp = |a: f64, b: f64| a + f * (b - a);
    Some(Crossing {
        step: lerp(before.step as f64, hit.step as f64),
        seconds: lerp(before.seconds, hit.seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(usize, f64, f64)]) -> Vec<CurvePoint> {
        points
            .iter()
            .map(|&(step, seconds, dev_error)| CurvePoint {
                step,
                seconds,
                dev_error,
            })
            .collect()
    }

    #[test]
    fn a_crossing_between_evaluations_is_interpolated() {
        // 50 % at step 250 (20 s), 30 % at step 500 (44 s): a target of 45 % is a quarter of
        // the way down, at step 312.5 and 26 s.
        let c = curve(&[(250, 20.0, 50.0), (500, 44.0, 30.0), (750, 70.0, 20.0)]);
        let got = first_crossing(&c, 45.0).unwrap();
        assert_eq!(
            got,
            Crossing {
                step: 312.5,
                seconds: 26.0
            }
        );
        // Exactly on an evaluation: that evaluation.
        let got = first_crossing(&c, 30.0).unwrap();
        assert_eq!(
            got,
            Crossing {
                step: 500.0,
                seconds: 44.0
            }
        );
        // The grid reading of both would be step 500; two models crossing a hair apart on
        // either side of an evaluation are a hair apart here.
        let a = first_crossing(&c, 30.0 + 1e-9).unwrap().step;
        assert!(a < 500.0 && a > 499.99, "{a}");
    }

    #[test]
    fn the_first_crossing_counts_and_the_first_evaluation_has_nothing_before_it() {
        // Down to 40, back up to 60, down again: the first crossing of 45 is between 250 and
        // 500.
        let c = curve(&[
            (250, 10.0, 60.0),
            (500, 20.0, 40.0),
            (750, 30.0, 60.0),
            (1000, 40.0, 10.0),
        ]);
        let got = first_crossing(&c, 45.0).unwrap();
        assert!((got.step - 437.5).abs() < 1e-12 && (got.seconds - 17.5).abs() < 1e-12);
        // Already below at the first evaluation.
        assert_eq!(
            first_crossing(&c, 70.0),
            Some(Crossing {
                step: 250.0,
                seconds: 10.0
            })
        );
        // Never reached, or no curve.
        assert_eq!(first_crossing(&c, 5.0), None);
        assert_eq!(first_crossing(&[], 5.0), None);
    }
}
