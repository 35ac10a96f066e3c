//! Paired statistics for comparing two models: a Student-t interval and two-sided p-value of the
//! mean difference over seeds, Holm's step-down adjustment of a family of p-values, and paired
//! bootstraps of a corpus-level error difference over test examples or over clusters of them
//! (speakers, fonts).

use std::collections::HashMap;
use std::hash::Hash;

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

/// Mean and sample variance of the paired differences `a[i] - b[i]`, and their number; `None`
/// for fewer than two pairs (no variance to estimate).
fn paired_moments(a: &[f64], b: &[f64]) -> Option<(f64, f64, usize)> {
    assert_eq!(a.len(), b.len(), "paired statistics of unpaired inputs");
    let n = a.len();
    if n < 2 {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, var, n))
}

/// Mean of the paired differences `a[i] - b[i]` with its 95 % Student-t interval; `None` for
/// fewer than two pairs (no variance to estimate).
pub fn paired_t(a: &[f64], b: &[f64]) -> Option<Interval> {
    let (mean, var, n) = paired_moments(a, b)?;
    let half = t975(n - 1) * (var / n as f64).sqrt();
    Some(Interval {
        diff: mean,
        lo: mean - half,
        hi: mean + half,
        n,
    })
}

/// Two-sided p-value of the paired t-test of `a[i] - b[i]` against a mean of 0 (df = n - 1);
/// `None` for fewer than two pairs. Differences that are all equal have no spread: p is 0 when
/// they are not 0 (the t statistic is infinite) and 1 when they are.
pub fn paired_t_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let (mean, var, n) = paired_moments(a, b)?;
    // Rounding leaves a spread of ~1e-16 relative where the differences are equal in decimal.
    if var <= (1e-12 * mean.abs()).powi(2) {
        return Some(if mean == 0.0 { 1.0 } else { 0.0 });
    }
    Some(t_two_sided_p(
        mean / (var / n as f64).sqrt(),
        (n - 1) as f64,
    ))
}

/// P(|T| >= |t|) for Student's t with `df` degrees of freedom: the regularised incomplete beta
/// I_x(df/2, 1/2) at x = df / (df + t^2).
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    let t2 = t * t;
    // 1 - x is passed as computed, not subtracted, to keep its digits when t is small.
    beta_reg(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2)).clamp(0.0, 1.0)
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: the series is accurate for x >= 0.5 only.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut s = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        s += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// The regularised incomplete beta function I_x(a, b), with `y` = 1 - x given separately.
/// The continued fraction converges fast only below x < (a + 1) / (a + b + 2); above it the
/// symmetry I_x(a, b) = 1 - I_y(b, a) is used.
fn beta_reg(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * y.ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, y) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz's method).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=500 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// Holm's (1979) step-down adjustment of a family of p-values, in the input order: with the
/// p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted p_(i) is
/// max over j <= i of min(1, (m - j + 1) p_(j)). Rejecting where the adjusted p < alpha controls
/// the family-wise error rate at alpha. A NaN (no test) counts as 1: it stays in the family,
/// whose size was fixed before the data, and can never be rejected.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean: Vec<f64> = p
        .iter()
        .map(|&x| if x.is_nan() { 1.0 } else { x.clamp(0.0, 1.0) })
        .collect();
    let mut order: Vec<usize> = (0..m).collect();
    // Stable: tied p-values keep their input order (their adjusted values come out equal).
    order.sort_by(|&i, &j| clean[i].total_cmp(&clean[j]));
    let mut out = vec![1.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * clean[i]).min(1.0));
        out[i] = running;
    }
    out
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
    Some(percentile_interval(full, &diffs))
}

/// The 2.5 and 97.5 percentiles of sorted resampled statistics, as an interval around `diff`.
fn percentile_interval(diff: f64, sorted: &[f64]) -> Interval {
    let n = sorted.len();
    let at = |q: f64| sorted[((q * n as f64).floor() as usize).min(n - 1)];
    Interval {
        diff,
        lo: at(0.025),
        hi: at(0.975),
        n,
    }
}

/// A paired cluster bootstrap's interval and how many clusters it resampled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterInterval {
    pub interval: Interval,
    pub clusters: usize,
}

/// Paired cluster bootstrap of the corpus-level error difference `rate(a) - rate(b)` in
/// percent, where `a[i]`, `b[i]` score the same example and `cluster[i]` names the group it was
/// drawn with (its speaker or voice, its font). Examples of one cluster share more than the
/// test set's sampling treats as independent (a voice the model handles badly fails on all its
/// utterances), so the clusters, not the examples, are resampled: `resamples` draws of as many
/// clusters as there are, with replacement, from `seed`; each draw's rate is the summed errors
/// over the summed reference units of the drawn clusters' examples; 95 % percentile interval.
///
/// Clusters are numbered in order of first appearance, so with one example per cluster the
/// draws, and the interval, are exactly `paired_bootstrap`'s for the same seed. `None` when
/// there are no examples.
pub fn paired_cluster_bootstrap<K: Eq + Hash>(
    a: &[Counts],
    b: &[Counts],
    cluster: &[K],
    resamples: usize,
    seed: u64,
) -> Option<ClusterInterval> {
    assert_eq!(
        a.len(),
        b.len(),
        "paired_cluster_bootstrap: unpaired inputs"
    );
    assert_eq!(
        a.len(),
        cluster.len(),
        "paired_cluster_bootstrap: one cluster per example"
    );
    let n = a.len();
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut index: HashMap<&K, usize> = HashMap::new();
    let (mut ta, mut tb): (Vec<Counts>, Vec<Counts>) = (Vec::new(), Vec::new());
    for ((ca, cb), k) in a.iter().zip(b).zip(cluster) {
        let next = index.len();
        let c = *index.entry(k).or_insert(next);
        if c == ta.len() {
            let zero = Counts {
                errors: 0.0,
                units: 0.0,
            };
            ta.push(zero);
            tb.push(zero);
        }
        ta[c].errors += ca.errors;
        ta[c].units += ca.units;
        tb[c].errors += cb.errors;
        tb[c].units += cb.units;
    }
    let k = ta.len();
    let full = rate(a, 0..n) - rate(b, 0..n);
    let mut rng = Rng::new(seed);
    let mut diffs: Vec<f64> = (0..resamples)
        .map(|_| {
            let idx: Vec<usize> = (0..k).map(|_| rng.below(k)).collect();
            rate(&ta, idx.iter().copied()) - rate(&tb, idx.iter().copied())
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    Some(ClusterInterval {
        interval: percentile_interval(full, &diffs),
        clusters: k,
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

    #[test]
    // The references are written as mpmath printed them (17 digits), beyond f64's.
    #[allow(clippy::excessive_precision)]
    fn t_p_values_match_reference_values() {
        // Two-sided P(|T| >= t), computed with mpmath 1.3 at 30 digits as
        // betainc(df/2, 1/2, 0, df/(df+t^2), regularized=True).
        let want = [
            (2.0, 1.0, 0.295_167_235_300_866_55),
            (2.0, 2.0, 0.183_503_419_072_273_97),
            (2.5, 4.0, 0.066_766_544_811_988_145),
            (1.0, 9.0, 0.343_436_396_137_913_51),
            (3.0, 9.0, 0.014_956_363_910_414_215),
            (2.262, 9.0, 0.050_012_845_502_454_63),
            (0.5, 29.0, 0.620_848_084_193_781_36),
            (4.0, 29.0, 0.000_400_063_945_652_491_42),
            (2.0, 100.0, 0.048_212_178_731_133_68),
            (10.0, 5.0, 0.000_170_947_575_742_963_59),
            (0.1, 3.0, 0.926_652_348_800_805_82),
            (6.0, 2.0, 0.026_671_473_215_424_771),
        ];
        for (t, df, p) in want {
            let got = t_two_sided_p(t, df);
            assert!(
                (got - p).abs() < 1e-12 * p.max(1e-3),
                "t {t} df {df}: {got} vs {p}"
            );
            // Symmetric in the sign of t.
            assert_eq!(t_two_sided_p(-t, df), got);
        }
        // Closed forms: df 1 is Cauchy, p = 1 - (2 / pi) atan|t|; df 2: p = 1 - |t| / sqrt(2 + t^2).
        for t in [0.01, 0.3, 1.0, 7.0, 300.0] {
            let cauchy = 1.0 - 2.0 / std::f64::consts::PI * f64::atan(t);
            assert!((t_two_sided_p(t, 1.0) - cauchy).abs() < 1e-13, "t {t}");
            let two = 1.0 - t / (2.0 + t * t).sqrt();
            assert!((t_two_sided_p(t, 2.0) - two).abs() < 1e-13, "t {t}");
        }
        // The tabled 97.5 % quantiles give p = 0.05 to the tables' three decimals.
        for df in 1..=30 {
            let p = t_two_sided_p(t975(df), df as f64);
            assert!((p - 0.05).abs() < 2e-4, "df {df}: {p}");
        }
        assert_eq!(t_two_sided_p(0.0, 5.0), 1.0);
        assert_eq!(t_two_sided_p(f64::INFINITY, 5.0), 0.0);
        assert!(t_two_sided_p(1.0, 0.0).is_nan());
    }

    #[test]
    fn paired_t_p_by_hand() {
        // Differences 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3) = 3.4641 on 2 df;
        // p = 1 - t / sqrt(2 + t^2) = 1 - 3.4641 / sqrt(14) = 0.074180...
        let p = paired_t_p(&[11.0, 12.0, 13.0], &[10.0, 10.0, 10.0]).unwrap();
        let t = 2.0 * 3f64.sqrt();
        assert!((p - (1.0 - t / (2.0 + t * t).sqrt())).abs() < 1e-13, "{p}");
        // The interval straddles 0 exactly when p > 0.05 (same t quantile).
        assert!(
            p > 0.05
                && !paired_t(&[11.0, 12.0, 13.0], &[10.0; 3])
                    .unwrap()
                    .excludes_zero()
        );
        // Equal differences: no spread, t infinite (p 0), or all zero (p 1).
        assert_eq!(paired_t_p(&[11.0, 12.0], &[10.0, 11.0]), Some(0.0));
        assert_eq!(paired_t_p(&[0.3, 0.7], &[0.3, 0.7]), Some(1.0));
        assert_eq!(paired_t_p(&[0.1 + 0.2, 1.3], &[0.0, 1.0]), Some(0.0));
        assert!(paired_t_p(&[1.0], &[0.0]).is_none());
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn holm_by_hand() {
        // m = 4, sorted 0.01, 0.02, 0.03, 0.04: 4 x 0.01 = 0.04, 3 x 0.02 = 0.06,
        // 2 x 0.03 = 0.06, 1 x 0.04 = 0.04 -> raised to 0.06 by the step-down maximum.
        let got = holm(&[0.03, 0.01, 0.04, 0.02]);
        assert!(close(&got, &[0.06, 0.04, 0.06, 0.06]), "{got:?}");
        // Monotonicity enforced: 3 x 0.001 = 0.003, 2 x 0.04 = 0.08, 1 x 0.045 = 0.045 -> 0.08.
        let got = holm(&[0.045, 0.001, 0.04]);
        assert!(close(&got, &[0.08, 0.003, 0.08]), "{got:?}");
        // Ties: 3 x 0.01 = 0.03, 2 x 0.01 = 0.02 -> 0.03, 1 x 0.04 = 0.04.
        let got = holm(&[0.01, 0.04, 0.01]);
        assert!(close(&got, &[0.03, 0.04, 0.03]), "{got:?}");
        // Capped at 1; a missing test (NaN) counts as p = 1 and still sizes the family:
        // 3 x 0.02 = 0.06, 2 x 0.6 = 1.2 -> 1, NaN -> 1.
        let got = holm(&[0.6, f64::NAN, 0.02]);
        assert!(close(&got, &[1.0, 1.0, 0.06]), "{got:?}");
        // One test: unadjusted. None: nothing.
        assert!(close(&holm(&[0.03]), &[0.03]));
        assert!(holm(&[]).is_empty());
        // The plan's family of 9 at alpha 0.05: the smallest p must beat 0.05 / 9 = 0.00556,
        // the next 0.05 / 8; a p above its threshold stops every later rejection.
        let p = [0.004, 0.006, 0.0001, 0.2, 0.5, 0.01, 0.03, 0.04, 0.9];
        let adj = holm(&p);
        let rejected: Vec<bool> = adj.iter().map(|&q| q < 0.05).collect();
        // Sorted: 0.0001 (x9 = 0.0009), 0.004 (x8 = 0.032), 0.006 (x7 = 0.042), 0.01 (x6 = 0.06).
        assert_eq!(
            rejected,
            [true, true, true, false, false, false, false, false, false]
        );
        assert!(close(&adj[..3], &[0.032, 0.042, 0.0009]), "{adj:?}");
        // Adjusted values never fall below their raw ones and keep the raw values' order.
        for (q, r) in adj.iter().zip(&p) {
            assert!(q >= r);
        }
    }

    #[test]
    fn cluster_bootstrap_with_one_example_per_cluster_is_the_example_bootstrap() {
        let a = counts(&[1.0, 4.0, 0.0, 2.0, 7.0, 3.0, 5.0, 1.0, 0.0, 9.0]);
        let b = counts(&[2.0, 4.0, 1.0, 2.0, 5.0, 3.0, 6.0, 1.0, 3.0, 9.0]);
        let ids: Vec<String> = (0..a.len()).map(|i| format!("spk{i}")).collect();
        let c = paired_cluster_bootstrap(&a, &b, &ids, 1000, 11).unwrap();
        assert_eq!(c.interval, paired_bootstrap(&a, &b, 1000, 11).unwrap());
        assert_eq!(c.clusters, a.len());
    }

    #[test]
    fn cluster_bootstrap_of_identical_clusters_collapses() {
        // Three clusters with the same totals (2 + 1 edits against 0 + 4 over 20 units each, in
        // different splits among their examples): every draw has the rate difference of one
        // cluster, -5 points, whatever it draws.
        let a = counts(&[2.0, 1.0, 3.0, 0.0, 1.5, 1.5]);
        let b = counts(&[0.0, 4.0, 4.0, 0.0, 2.0, 2.0]);
        let ids = ["x", "x", "y", "y", "z", "z"];
        let c = paired_cluster_bootstrap(&a, &b, &ids, 1000, 5).unwrap();
        let i = c.interval;
        assert!(
            (i.diff + 5.0).abs() < 1e-9 && (i.lo + 5.0).abs() < 1e-9 && (i.hi + 5.0).abs() < 1e-9
        );
        assert_eq!((c.clusters, i.n), (3, 1000));
        // The example bootstrap of the same data does not collapse: examples differ.
        let e = paired_bootstrap(&a, &b, 1000, 5).unwrap();
        assert!(e.hi - e.lo > 1.0, "{e:?}");
    }

    #[test]
    fn cluster_bootstrap_by_hand() {
        // Two clusters. P: a 1 + 0 edits, b 2 + 1, over 10 units -> -20 points alone.
        // Q: a 2, b 2 over 30 units (3 examples) -> 0 points alone.
        // Draws of two clusters: PP -20 (prob 1/4), QQ 0 (1/4), PQ or QP (1/2):
        // (3 - 5) / 40 = -5 points, also the full-set difference. With 1,000 draws both
        // extremes occur more than 2.5 % of the time, so the interval is [-20, 0].
        let a = vec![
            Counts {
                errors: 1.0,
                units: 6.0,
            },
            Counts {
                errors: 1.0,
                units: 10.0,
            },
            Counts {
                errors: 0.0,
                units: 4.0,
            },
            Counts {
                errors: 1.0,
                units: 10.0,
            },
            Counts {
                errors: 0.0,
                units: 10.0,
            },
        ];
        let mut b = a.clone();
        b[0].errors = 2.0;
        b[2].errors = 1.0;
        b[1].errors = 0.0;
        b[3].errors = 2.0;
        let ids = ["P", "Q", "P", "Q", "Q"];
        let c = paired_cluster_bootstrap(&a, &b, &ids, 1000, 0).unwrap();
        let i = c.interval;
        assert_eq!(c.clusters, 2);
        assert!((i.diff + 5.0).abs() < 1e-9, "{i:?}");
        assert!((i.lo + 20.0).abs() < 1e-9 && i.hi.abs() < 1e-9, "{i:?}");
        assert!(paired_cluster_bootstrap::<&str>(&[], &[], &[], 1000, 0).is_none());
    }

    #[test]
    fn clustered_differences_widen_the_interval() {
        // Four speakers of 25 utterances: a makes one edit fewer on every utterance of two of
        // them and one more on every utterance of the other two. Over 100 independent examples
        // the +-1 differences average out (example interval about +-2 points); over four
        // speakers whose differences are +-10 points each they do not (about +-10).
        let ea: Vec<f64> = (0..100)
            .map(|i| if i / 25 % 2 == 0 { 1.0 } else { 3.0 })
            .collect();
        let (a, b) = (counts(&ea), counts(&[2.0; 100]));
        let ids: Vec<usize> = (0..100).map(|i| i / 25).collect();
        let c = paired_cluster_bootstrap(&a, &b, &ids, 1000, 1)
            .unwrap()
            .interval;
        let e = paired_bootstrap(&a, &b, 1000, 1).unwrap();
        assert_eq!((c.diff, e.diff), (0.0, 0.0));
        assert!(e.hi - e.lo < 5.0, "{e:?}");
        assert!(c.hi - c.lo > 15.0, "{c:?}");
    }
}
