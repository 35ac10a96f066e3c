//! Paired statistics for comparing two models: a Student-t interval of the mean difference over
//! seeds, and a paired bootstrap over utterances of a corpus-level error difference.

use ctc_core::Rng;

/// Two-sided 95 % quantiles t_{0.975, df} of Student's t for df = 1..=30 (standard tables).
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// t_{0.975, df}: the table up to 30 degrees of freedom, beyond it the Cornish-Fisher expansion
/// around the normal quantile 1.959964 (error below 1e-4 there).
pub fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    if df <= T975.len() {
        return T975[df - 1];
    }
    let z: f64 = 1.959_963_985;
    let n = df as f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * n)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * n * n * n)
}

/// A difference with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub diff: f64,
    pub lo: f64,
    pub hi: f64,
    /// Pairs (seeds) or resamples behind it.
    pub n: usize,
}

impl Interval {
    /// Whether the interval lies entirely on one side of 0.
    pub fn excludes_zero(&self) -> bool {
        self.lo > 0.0 || self.hi < 0.0
    }
}

/// Mean of the paired differences `a[i] - b[i]` with its 95 % Student-t interval; `None` for
/// fewer than two pairs (no variance to estimate).
pub fn paired_t(a: &[f64], b: &[f64]) -> Option<Interval> {
    assert_eq!(a.len(), b.len(), "paired_t: unpaired inputs");
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len();
    if n < 2 {
        return None;
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n - 1) * (var / n as f64).sqrt();
    Some(Interval {
        diff: mean,
        lo: mean - half,
        hi: mean + half,
        n,
    })
}

/// One example's contribution to a corpus-level error rate: edits over reference units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    pub errors: f64,
    pub units: f64,
}

fn rate(c: &[Counts], idx: impl Iterator<Item = usize>) -> f64 {
    let (mut e, mut u) = (0.0, 0.0);
    for i in idx {
        e += c[i].errors;
        u += c[i].units;
    }
    100.0 * e / u.max(1.0)
}

/// Paired bootstrap (Koehn 2004; Bisani & Ney 2004) of the corpus-level error difference
/// `rate(a) - rate(b)` in percent, where `a[i]` and `b[i]` score the same example: `resamples`
/// resamples of the examples with replacement from `seed`, 95 % percentile interval. `diff` is
/// the difference on the full set. `None` when there are no examples.
pub fn paired_bootstrap(
    a: &[Counts],
    b: &[Counts],
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    assert_eq!(a.len(), b.len(), "paired_bootstrap: unpaired inputs");
    let n = a.len();
    if n == 0 || resamples == 0 {
        return None;
    }
    let full = rate(a, 0..n) - rate(b, 0..n);
    let mut rng = Rng::new(seed);
    let mut diffs: Vec<f64> = (0..resamples)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
            rate(a, idx.iter().copied()) - rate(b, idx.iter().copied())
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let at = |q: f64| diffs[((q * resamples as f64).floor() as usize).min(resamples - 1)];
    Some(Interval {
        diff: full,
        lo: at(0.025),
        hi: at(0.975),
        n: resamples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables_and_approach_the_normal() {
        assert_eq!(t975(1), 12.706);
        assert_eq!(t975(2), 4.303);
        assert_eq!(t975(30), 2.042);
        // Published values: df 40 -> 2.021, 60 -> 2.000, 120 -> 1.980.
        for (df, want) in [(40, 2.021), (60, 2.000), (120, 1.980), (31, 2.040)] {
            assert!((t975(df) - want).abs() < 6e-4, "df {df}: {}", t975(df));
        }
        assert!((t975(1_000_000) - 1.959_964).abs() < 1e-5);
        assert!(t975(0).is_nan());
    }

    #[test]
    fn paired_t_by_hand() {
        // Differences 1, 2, 3: mean 2, sd 1, half width 4.303 / sqrt(3).
        let i = paired_t(&[11.0, 12.0, 13.0], &[10.0, 10.0, 10.0]).unwrap();
        let half = 4.303 / 3f64.sqrt();
        assert!((i.diff - 2.0).abs() < 1e-12);
        assert!((i.lo - (2.0 - half)).abs() < 1e-12 && (i.hi - (2.0 + half)).abs() < 1e-12);
        // 2 - 2.48 < 0: three seeds this spread do not show a difference.
        assert!(!i.excludes_zero());
        assert_eq!(i.n, 3);
        // Differences 1.9, 2, 2.1: sd 0.1, half width 0.248.
        let k = paired_t(&[11.9, 12.0, 12.1], &[10.0, 10.0, 10.0]).unwrap();
        let width = 2.0 * 4.303 * 0.1 / 3f64.sqrt();
        assert!(k.excludes_zero() && (k.hi - k.lo - width).abs() < 1e-9);
        // Differences -1, 1: mean 0, the interval straddles 0.
        let j = paired_t(&[1.0, 3.0], &[2.0, 2.0]).unwrap();
        assert!(!j.excludes_zero() && j.diff == 0.0);
        assert!(paired_t(&[1.0], &[0.0]).is_none());
    }

    fn counts(errors: &[f64]) -> Vec<Counts> {
        errors
            .iter()
            .map(|&e| Counts {
                errors: e,
                units: 10.0,
            })
            .collect()
    }

    #[test]
    fn bootstrap_of_identical_systems_is_zero_and_of_a_uniformly_better_one_excludes_it() {
        let a = counts(&[1.0, 4.0, 0.0, 2.0, 7.0, 3.0, 5.0, 1.0]);
        let same = paired_bootstrap(&a, &a, 1000, 3).unwrap();
        assert_eq!((same.diff, same.lo, same.hi), (0.0, 0.0, 0.0));
        assert!(!same.excludes_zero());
        // b makes one edit more on every example: a is better by exactly 10 points on every
        // resample, so the interval collapses onto -10.
        let b: Vec<Counts> = a
            .iter()
            .map(|c| Counts {
                errors: c.errors + 1.0,
                ..*c
            })
            .collect();
        let i = paired_bootstrap(&a, &b, 1000, 3).unwrap();
        assert!(
            (i.diff + 10.0).abs() < 1e-9
                && (i.lo + 10.0).abs() < 1e-9
                && (i.hi + 10.0).abs() < 1e-9
        );
        assert!(i.excludes_zero());
        assert_eq!(i.n, 1000);
    }

    #[test]
    fn bootstrap_of_a_difference_carried_by_one_example_straddles_zero() {
        // a wins 10 edits on one example of 40 and loses 1 on three others: the full-set
        // difference is -7 / 400, and resamples without the example turn the sign.
        let mut ea = vec![2.0; 40];
        let eb = vec![2.0; 40];
        ea[0] -= 2.0;
        let mut eb = eb;
        eb[0] += 8.0;
        for e in &mut ea[1..4] {
            *e += 1.0;
        }
        let (a, b) = (counts(&ea), counts(&eb));
        let i = paired_bootstrap(&a, &b, 1000, 7).unwrap();
        assert!((i.diff - 100.0 * (-7.0) / 400.0).abs() < 1e-9, "{i:?}");
        assert!(i.lo < 0.0 && i.hi > 0.0, "{i:?}");
        // Same seed, same interval; another seed moves the bounds, not the full-set difference.
        assert_eq!(paired_bootstrap(&a, &b, 1000, 7).unwrap(), i);
        let k = paired_bootstrap(&a, &b, 1000, 8).unwrap();
        assert_eq!(k.diff, i.diff);
        assert!(paired_bootstrap(&[], &[], 1000, 7).is_none());
    }
}
