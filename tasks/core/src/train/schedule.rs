//! Learning-rate schedules: a multiplier of the base rate as a function of the step.
//!
//! `step` is the number of optimizer steps already taken (0 for the first update), so the
//! first update of a warmup already moves the weights (PyTorch's LambdaLR with `step /
//! warmup` wastes it at lr 0).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    Constant,
    /// Linear warmup to the base rate over `warmup` steps, then a half cosine down to
    /// `min_ratio` × base at step `total`, constant after.
    WarmupCosine {
        warmup: usize,
        total: usize,
        min_ratio: f64,
    },
    /// The Transformer schedule (Vaswani et al. 2017; ESPnet's "noam"):
    /// factor = scale · d_model^−0.5 · min(s^−0.5, s · warmup^−1.5), s = step + 1, peaking at
    /// s = warmup. Like the others it multiplies the base rate: base 1 gives the paper's
    /// formula with `scale` as its factor.
    Noam {
        warmup: usize,
        d_model: usize,
        scale: f64,
    },
}

impl Schedule {
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::WarmupCosine {
                warmup,
                total,
                min_ratio,
            } => {
                if total == 0 || warmup > total {
                    Err(format!(
                        "warmup_cosine: need 0 < total and warmup <= total, got warmup {warmup}, total {total}"
                    ))
                } else if !(0.0..=1.0).contains(&min_ratio) {
                    Err(format!(
                        "warmup_cosine: min_ratio must be in [0, 1], got {min_ratio}"
                    ))
                } else {
                    Ok(())
                }
            }
            Schedule::Noam {
                warmup,
                d_model,
                scale,
            } => {
                if warmup == 0 || d_model == 0 || scale.is_nan() || scale <= 0.0 {
                    Err(format!(
                        "noam: need warmup > 0, d_model > 0, scale > 0, got {warmup}, {d_model}, {scale}"
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The multiplier of the base rate for the update after `step` completed steps.
    pub fn factor(&self, step: usize) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::WarmupCosine {
                warmup,
                total,
                min_ratio,
            } => {
                if step < warmup {
                    (step + 1) as f64 / warmup as f64
                } else {
                    let span = total.saturating_sub(warmup).max(1) as f64;
                    let progress = ((step - warmup) as f64 / span).min(1.0);
                    let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                    min_ratio + (1.0 - min_ratio) * cos
                }
            }
            Schedule::Noam {
                warmup,
                d_model,
                scale,
            } => {
                let s = (step + 1) as f64;
                let w = warmup.max(1) as f64;
                scale * (d_model.max(1) as f64).powf(-0.5) * s.powf(-0.5).min(s * w.powf(-1.5))
            }
        }
    }

    pub fn lr(&self, base_lr: f64, step: usize) -> f64 {
        base_lr * self.factor(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn constant_is_the_base_rate() {
        close(Schedule::Constant.lr(3e-4, 0), 3e-4);
        close(Schedule::Constant.lr(3e-4, 12345), 3e-4);
    }

    #[test]
    fn warmup_cosine_hand_computed() {
        let s = Schedule::WarmupCosine {
            warmup: 4,
            total: 12,
            min_ratio: 0.1,
        };
        // Warmup: (step + 1) / 4.
        close(s.lr(2.0, 0), 0.5);
        close(s.lr(2.0, 3), 2.0);
        // Decay over 8 steps: step 4 -> progress 0 (peak); step 8 -> progress 0.5, cos term
        // 0.5, factor 0.1 + 0.9 * 0.5 = 0.55; step 6 -> progress 0.25, cos term
        // (1 + cos(pi/4)) / 2 = 0.853553390593..., factor 0.1 + 0.9 * that = 0.868198051533...
        close(s.lr(2.0, 4), 2.0);
        close(s.lr(2.0, 8), 1.1);
        close(s.factor(6), 0.1 + 0.9 * 0.853_553_390_593_273_7);
        // At and after total: min_ratio.
        close(s.lr(2.0, 12), 0.2);
        close(s.lr(2.0, 1000), 0.2);
        // No warmup: the first step is at the base rate.
        let c = Schedule::WarmupCosine {
            warmup: 0,
            total: 10,
            min_ratio: 0.0,
        };
        close(c.factor(0), 1.0);
        close(c.factor(5), 0.5);
    }

    #[test]
    fn noam_hand_computed() {
        let s = Schedule::Noam {
            warmup: 25,
            d_model: 256,
            scale: 2.0,
        };
        // step 0 -> s = 1: 2 * 256^-0.5 * 1 * 25^-1.5 = 2 / 16 / 125 = 0.001.
        close(s.factor(0), 0.001);
        // Peak at s = 25: 2 / 16 * 25^-0.5 = 0.025, from both branches.
        close(s.factor(24), 0.025);
        // Decay: s = 100: 2 / 16 / 10 = 0.0125.
        close(s.factor(99), 0.0125);
        close(s.lr(10.0, 99), 0.125);
        // Rises before the peak, falls after.
        assert!(s.factor(10) < s.factor(24) && s.factor(50) < s.factor(24));
    }

    #[test]
    fn serde_tagged_and_validated() {
        let s: Schedule = serde_json::from_str(
            r#"{"kind":"warmup_cosine","warmup":5,"total":50,"min_ratio":0.05}"#,
        )
        .unwrap();
        assert_eq!(
            s,
            Schedule::WarmupCosine {
                warmup: 5,
                total: 50,
                min_ratio: 0.05
            }
        );
        let back: Schedule = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(s.validate().is_ok());
        let bad = Schedule::WarmupCosine {
            warmup: 60,
            total: 50,
            min_ratio: 0.05,
        };
        assert!(bad.validate().unwrap_err().contains("warmup 60"));
        assert!(Schedule::Noam {
            warmup: 0,
            d_model: 4,
            scale: 1.0
        }
        .validate()
        .is_err());
        assert!(serde_json::from_str::<Schedule>(r#"{"kind":"linear"}"#).is_err());
    }
}
