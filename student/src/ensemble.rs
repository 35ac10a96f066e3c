//! Several frozen teachers as one (Hinton et al. 2015, section 4: an ensemble distilled into a
//! single model): their frame posteriors combined per frame, and how far their frames agree.
//!
//! A frame-level combination of CTC models only means something where their spikes fall on the
//! same frames; `agreement` measures that, and `Combine` offers the arithmetic mean (Hinton's
//! choice) and the normalised geometric mean, whose product vetoes a label that any member puts
//! no mass on (so a spike where the members disagree on timing is damped rather than smeared).
//! Guided CTC from the ensemble reads only the combined argmax per frame.

use candle_core::{DType, Result, Tensor, D};
use candle_nn::ops::log_softmax;
use serde::{Deserialize, Serialize};

use crate::teacher::{Teacher, TeacherOut};

/// How the members' frame posteriors are combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Combine {
    /// The mean of the members' probabilities.
    #[default]
    Mean,
    /// The mean of their log-probabilities, renormalised (a normalised product of experts).
    Product,
}

/// The log of the combined `(B, T, V')` distribution of the members' logits.
pub fn combine(logits: &[Tensor], how: Combine) -> Result<Tensor> {
    let Some(first) = logits.first() else {
        candle_core::bail!("an ensemble needs at least one member");
    };
    for l in logits {
        if l.dims() != first.dims() {
            candle_core::bail!(
                "ensemble members disagree on the output shape: {:?} and {:?}",
                first.dims(),
                l.dims()
            );
        }
    }
    let lp = logits
        .iter()
        .map(|l| log_softmax(&l.to_dtype(DType::F32)?, D::Minus1))
        .collect::<Result<Vec<_>>>()?;
    let k = logits.len() as f64;
    match how {
        Combine::Mean => {
            let p = lp.iter().map(|l| l.exp()).collect::<Result<Vec<_>>>()?;
            let sum = p[1..].iter().try_fold(p[0].clone(), |a, b| a + b)?;
            // Floored before the log so that a class no member gives mass stays finite.
            (sum / k)?.clamp(1e-30f32, 1f32)?.log()
        }
        Combine::Product => {
            let sum = lp[1..].iter().try_fold(lp[0].clone(), |a, b| a + b)?;
            log_softmax(&(sum / k)?, D::Minus1)
        }
    }
}

/// How often the members' frame decisions agree, over the valid frames of a set of batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub frames: usize,
    /// Frames on which every member's argmax is the same class (blank included).
    pub all_frames: f64,
    /// Of the frames on which some member's argmax is a label (not blank), those on which every
    /// member's argmax is that same label: the agreement of spike timing.
    pub label_frames: f64,
}

/// Counts behind `Agreement`, summable over batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgreementTally {
    frames: usize,
    agree: usize,
    label_frames: usize,
    label_agree: usize,
}

impl AgreementTally {
    /// Adds the valid frames (`lens`) of one batch of the members' `(B, T, V')` logits.
    pub fn add(&mut self, logits: &[Tensor], lens: &[usize]) -> Result<()> {
        let arg = logits
            .iter()
            .map(|l| l.argmax(D::Minus1)?.to_vec2::<u32>())
            .collect::<Result<Vec<_>>>()?;
        for (b, &len) in lens.iter().enumerate() {
            for t in 0..len {
                let first = arg[0][b][t];
                let same = arg.iter().all(|a| a[b][t] == first);
                self.frames += 1;
                self.agree += same as usize;
                if arg.iter().any(|a| a[b][t] != 0) {
                    self.label_frames += 1;
                    self.label_agree += (same && first != 0) as usize;
                }
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, o: &AgreementTally) {
        self.frames += o.frames;
        self.agree += o.agree;
        self.label_frames += o.label_frames;
        self.label_agree += o.label_agree;
    }

    pub fn agreement(&self) -> Agreement {
        let frac = |a: usize, n: usize| if n == 0 { 1.0 } else { a as f64 / n as f64 };
        Agreement {
            frames: self.frames,
            all_frames: frac(self.agree, self.frames),
            label_frames: frac(self.label_agree, self.label_frames),
        }
    }
}

/// Frozen teachers answering as one: the combined posteriors; no hidden states or attention
/// maps (feature KD from an ensemble is refused).
pub struct Ensemble<'a> {
    pub members: Vec<&'a dyn Teacher>,
    pub combine: Combine,
}

impl Ensemble<'_> {
    /// Each member's logits for a batch (same frame counts checked).
    pub fn member_logits(&self, batch: &ctc_core::Batch) -> Result<(Vec<Tensor>, Vec<usize>)> {
        let mut logits = Vec::with_capacity(self.members.len());
        let mut lens: Option<Vec<usize>> = None;
        for m in &self.members {
            let o = m.outputs(batch, false)?;
            match &lens {
                Some(l) if *l != o.lens => candle_core::bail!(
                    "ensemble members give different frame counts ({l:?} and {:?}): they must \
                     share a frame rate",
                    o.lens
                ),
                Some(_) => {}
                None => lens = Some(o.lens.clone()),
            }
            logits.push(o.logits);
        }
        Ok((logits, lens.unwrap_or_default()))
    }
}

impl Teacher for Ensemble<'_> {
    fn outputs(&self, batch: &ctc_core::Batch, collect: bool) -> Result<TeacherOut> {
        if collect {
            candle_core::bail!(
                "an ensemble teacher gives posteriors only: attention-map and layer-wise KD need \
                 one teacher's features"
            );
        }
        let (logits, lens) = self.member_logits(batch)?;
        Ok(TeacherOut {
            logits: combine(&logits, self.combine)?.detach(),
            lens,
            hidden: Vec::new(),
            attn: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32], dims: (usize, usize, usize)) -> Tensor {
        Tensor::from_slice(v, dims, &Device::Cpu).unwrap()
    }

    #[test]
    fn combinations_by_hand() -> Result<()> {
        // One frame, two classes. Member probabilities (0.8, 0.2) and (0.4, 0.6).
        let a = t(&[0.8f32.ln(), 0.2f32.ln()], (1, 1, 2));
        let b = t(&[0.4f32.ln(), 0.6f32.ln()], (1, 1, 2));
        let mean = combine(&[a.clone(), b.clone()], Combine::Mean)?.exp()?;
        let mean = mean.flatten_all()?.to_vec1::<f32>()?;
        assert!(
            (mean[0] - 0.6).abs() < 1e-6 && (mean[1] - 0.4).abs() < 1e-6,
            "{mean:?}"
        );
        // Geometric: sqrt(0.32) and sqrt(0.12), normalised.
        let prod = combine(&[a, b], Combine::Product)?.exp()?;
        let prod = prod.flatten_all()?.to_vec1::<f32>()?;
        let (g0, g1) = (0.32f32.sqrt(), 0.12f32.sqrt());
        assert!((prod[0] - g0 / (g0 + g1)).abs() < 1e-6, "{prod:?}");
        assert!((prod[1] - g1 / (g0 + g1)).abs() < 1e-6);
        // One member: itself.
        let c = t(&[1.0, 2.0, 0.5, 0.0, 0.0, 3.0], (1, 2, 3));
        let one = combine(std::slice::from_ref(&c), Combine::Mean)?;
        let want = log_softmax(&c, D::Minus1)?;
        let diff = (one - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6);
        assert!(combine(&[], Combine::Mean).is_err());
        assert!(combine(&[c, t(&[0.0; 3], (1, 1, 3))], Combine::Mean).is_err());
        Ok(())
    }

    #[test]
    fn agreement_counts_valid_frames_only() -> Result<()> {
        // Classes 0 (blank), 1, 2; argmax per frame. Member a: 1 0 2 | 2 (pad);
        // member b: 1 0 1 | 0 (pad); the second example has one valid frame (length 1).
        let one_hot = |ids: &[usize]| {
            let mut v = vec![0f32; ids.len() * 3];
            for (i, &c) in ids.iter().enumerate() {
                v[i * 3 + c] = 5.0;
            }
            v
        };
        let a = t(&one_hot(&[1, 0, 2, 2, 0, 0]), (2, 3, 3));
        let b = t(&one_hot(&[1, 0, 1, 0, 1, 1]), (2, 3, 3));
        let mut tally = AgreementTally::default();
        tally.add(&[a, b], &[3, 1])?;
        let ag = tally.agreement();
        // Frames: (1,1) agree label, (0,0) agree blank, (2,1) differ, (2,0) differ.
        assert_eq!(ag.frames, 4);
        assert!((ag.all_frames - 0.5).abs() < 1e-12);
        // Label frames: three (frames 1, 3 and 4), of which one agrees.
        assert!((ag.label_frames - 1.0 / 3.0).abs() < 1e-12, "{ag:?}");
        Ok(())
    }
}
