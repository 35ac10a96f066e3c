//! Several frozen teachers as one (Hinton et al. 2015, section 4: an ensemble distilled into a
//! single model): their frame posteriors combined per frame, and how far their frames agree.
//!
//! A frame-level combination of CTC models only means something where their spikes fall on the
//! same frames; `agreement` measures that, and `Combine` offers the arithmetic mean (Hinton's
//! choice), the normalised geometric mean, whose product vetoes a label that any member puts
//! no mass on (so a spike where the members disagree on timing is damped rather than smeared),
//! and the mean after re-timing every member onto the first one's spikes (`Aligned`), which
//! keeps the members' spikes on one frame where their timings differ. Guided CTC from the
//! ensemble reads only the combined argmax per frame.

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
    /// The mean of the probabilities after each member is re-timed onto the first member's
    /// spikes (`retime`): needs no labels, so it is the same at training and at test time.
    Aligned,
}

/// The log of the combined `(B, T, V')` distribution of the members' logits; `lens` are the
/// valid frames of each example (only `Aligned` reads them: padding frames are not re-timed).
pub fn combine(logits: &[Tensor], lens: &[usize], how: Combine) -> Result<Tensor> {
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
        Combine::Aligned => combine(&retimed(&lp, lens)?, lens, Combine::Mean),
    }
}

/// The members' `(B, T, V')` log-probabilities (or logits) with every member after the first
/// re-timed onto the first one's spikes (`retime`), example by example over its `lens` valid
/// frames; padding frames stay as they are.
pub fn retimed(members: &[Tensor], lens: &[usize]) -> Result<Vec<Tensor>> {
    let Some(first) = members.first() else {
        candle_core::bail!("an ensemble needs at least one member");
    };
    let (b, t, v) = first.dims3()?;
    if lens.len() != b || lens.iter().any(|&l| l > t) {
        candle_core::bail!("ensemble: lengths {lens:?} do not fit a batch of {b} x {t}");
    }
    let host = members
        .iter()
        .map(|l| l.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>())
        .collect::<Result<Vec<_>>>()?;
    let reference = &host[0];
    let mut out = vec![first.clone()];
    for member in &host[1..] {
        let mut m = member.clone();
        for (i, &len) in lens.iter().enumerate() {
            let at = i * t * v;
            let frames = retime(
                &reference[at..at + len * v],
                &member[at..at + len * v],
                len,
                v,
            );
            m[at..at + len * v].copy_from_slice(&frames);
        }
        out.push(Tensor::from_vec(m, (b, t, v), first.device())?);
    }
    Ok(out)
}

/// `member`'s `len` frames of `v` log-probabilities re-timed onto `reference`'s: both are
/// force-aligned to the reference's greedy transcript, and reference frame t takes the member's
/// frame at the piecewise-linear map through the pairs (reference spike, member spike) of each
/// label (and the first and last frames), rounded. Each of the member's spikes then lands on
/// the reference's frame for the same label; frames between spikes are stretched or squeezed.
/// A transcript the member cannot be aligned to (never, for finite log-probabilities) leaves
/// the member's frames as they are.
pub fn retime(reference: &[f32], member: &[f32], len: usize, v: usize) -> Vec<f32> {
    let same = member[..len * v].to_vec();
    let hyp = ctc_core::ctc::greedy(reference, v, len);
    if hyp.is_empty() || len < 2 {
        return same;
    }
    let (Some(r), Some(m)) = (
        ctc_core::ctc::forced_align(reference, len, v, &hyp),
        ctc_core::ctc::forced_align(member, len, v, &hyp),
    ) else {
        return same;
    };
    let mut anchors: Vec<(f64, f64)> = Vec::with_capacity(hyp.len() + 2);
    if r.spikes[0] > 0 {
        anchors.push((0.0, 0.0));
    }
    anchors.extend(
        r.spikes
            .iter()
            .zip(&m.spikes)
            .map(|(&x, &y)| (x as f64, y as f64)),
    );
    let end = (len - 1) as f64;
    if anchors.last().is_some_and(|a| a.0 < end) {
        anchors.push((end, end));
    }
    let mut out = Vec::with_capacity(len * v);
    let mut seg = 0;
    for frame in 0..len {
        let x = frame as f64;
        while seg + 2 < anchors.len() && anchors[seg + 1].0 <= x {
            seg += 1;
        }
        let ((x0, y0), (x1, y1)) = (anchors[seg], anchors[(seg + 1).min(anchors.len() - 1)]);
        let y = if x1 > x0 {
            y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        } else {
            y0
        };
        let src = (y.round().max(0.0) as usize).min(len - 1);
        out.extend_from_slice(&member[src * v..(src + 1) * v]);
    }
    out
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
            logits: combine(&logits, &lens, self.combine)?.detach(),
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
        let mean = combine(&[a.clone(), b.clone()], &[1], Combine::Mean)?.exp()?;
        let mean = mean.flatten_all()?.to_vec1::<f32>()?;
        assert!(
            (mean[0] - 0.6).abs() < 1e-6 && (mean[1] - 0.4).abs() < 1e-6,
            "{mean:?}"
        );
        // Geometric: sqrt(0.32) and sqrt(0.12), normalised.
        let prod = combine(&[a, b], &[1], Combine::Product)?.exp()?;
        let prod = prod.flatten_all()?.to_vec1::<f32>()?;
        let (g0, g1) = (0.32f32.sqrt(), 0.12f32.sqrt());
        assert!((prod[0] - g0 / (g0 + g1)).abs() < 1e-6, "{prod:?}");
        assert!((prod[1] - g1 / (g0 + g1)).abs() < 1e-6);
        // One member: itself.
        let c = t(&[1.0, 2.0, 0.5, 0.0, 0.0, 3.0], (1, 2, 3));
        let one = combine(std::slice::from_ref(&c), &[2], Combine::Mean)?;
        let want = log_softmax(&c, D::Minus1)?;
        let diff = (one - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6);
        assert!(combine(&[], &[], Combine::Mean).is_err());
        assert!(combine(&[c, t(&[0.0; 3], (1, 1, 3))], &[1], Combine::Mean).is_err());
        Ok(())
    }

    /// Log-probabilities of frames that put 0.96 on one class (`ids`) and 0.02 on the others.
    fn spikes(ids: &[usize], v: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for &c in ids {
            out.extend((0..v).map(|k| if k == c { 0.96f32.ln() } else { 0.02f32.ln() }));
        }
        out
    }

    #[test]
    fn a_member_shifted_by_a_frame_is_retimed_onto_the_reference() -> Result<()> {
        // Classes blank, a, b. The reference spikes a at frame 2 and b at 5; the member one
        // frame later (3 and 6). The map runs through (0, 0), (2, 3), (5, 6), (7, 7): frames
        // 0..=7 read the member's frames 0, 2 (1.5 rounded up), 3, 4, 5, 6, 7 (6.5), 7, whose
        // classes are blank, blank, a, blank, blank, b, blank, blank: the reference's own.
        let reference = [0, 0, 1, 0, 0, 2, 0, 0];
        let member = [0, 0, 0, 1, 0, 0, 2, 0];
        let got = retime(&spikes(&reference, 3), &spikes(&member, 3), 8, 3);
        assert_eq!(got, spikes(&reference, 3));
        // So their aligned mean is the reference itself, where the plain mean halves both
        // spikes over two frames each.
        let (r, m) = (
            t(&spikes(&reference, 3), (1, 8, 3)),
            t(&spikes(&member, 3), (1, 8, 3)),
        );
        let aligned = combine(&[r.clone(), m.clone()], &[8], Combine::Aligned)?;
        let diff = (aligned - log_softmax(&r, D::Minus1)?)?.abs()?.max_all()?;
        assert!(diff.to_scalar::<f32>()? < 1e-6);
        let mean = combine(&[r.clone(), m.clone()], &[8], Combine::Mean)?
            .exp()?
            .to_vec3::<f32>()?;
        assert!((mean[0][2][1] - 0.49).abs() < 1e-6 && (mean[0][3][1] - 0.49).abs() < 1e-6);
        // Their argmaxes agree on 4 of 8 frames and on none of the 4 where one spikes; once
        // re-timed, on all of them.
        let mut raw = AgreementTally::default();
        raw.add(&[r.clone(), m.clone()], &[8])?;
        assert_eq!(
            (raw.agreement().all_frames, raw.agreement().label_frames),
            (0.5, 0.0)
        );
        let mut after = AgreementTally::default();
        after.add(&retimed(&[r, m], &[8])?, &[8])?;
        assert_eq!(
            (after.agreement().all_frames, after.agreement().label_frames),
            (1.0, 1.0)
        );
        Ok(())
    }

    #[test]
    fn retiming_stretches_and_keeps_each_spike_of_a_member() {
        // The member spikes a at 1 and b at 2; the reference at 2 and 6 (of 9 frames). Map
        // through (0, 0), (2, 1), (6, 2), (8, 8): frames 0..=8 read 0, 1 (0.5 rounded up), 1,
        // 1 (1.25), 2 (1.5), 2 (1.75), 2, 5, 8: the member's a and b spikes sit on the
        // reference's frames 2 and 6 (stretched over their neighbours, which CTC collapses).
        let member = [0, 1, 2, 0, 0, 0, 0, 0, 0];
        let reference = [0, 0, 1, 0, 0, 0, 2, 0, 0];
        let got = retime(&spikes(&reference, 3), &spikes(&member, 3), 9, 3);
        assert_eq!(got, spikes(&[0, 1, 1, 1, 2, 2, 2, 0, 0], 3));
        // A reference that emits nothing, or one frame: the member as it is.
        let blank = [0; 9];
        assert_eq!(
            retime(&spikes(&blank, 3), &spikes(&member, 3), 9, 3),
            spikes(&member, 3)
        );
        assert_eq!(
            retime(&spikes(&[1], 3), &spikes(&[2], 3), 1, 3),
            spikes(&[2], 3)
        );
    }

    #[test]
    fn aligned_leaves_padding_and_identical_members_alone() -> Result<()> {
        // Identical members: the aligned mean is the plain mean. Padding frames (beyond the
        // second example's length 3) are averaged as they are, not re-timed.
        let a = t(&spikes(&[0, 1, 0, 2, 0, 0, 2, 0, 1, 0, 2, 1], 3), (2, 6, 3));
        let b = t(&spikes(&[0, 1, 0, 2, 0, 0, 0, 2, 0, 1, 0, 2], 3), (2, 6, 3));
        let same = combine(&[a.clone(), a.clone()], &[6, 6], Combine::Aligned)?;
        let plain = combine(&[a.clone(), a.clone()], &[6, 6], Combine::Mean)?;
        assert!((same - plain)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-6);
        let got = combine(&[a.clone(), b.clone()], &[6, 3], Combine::Aligned)?;
        let plain = combine(&[a, b], &[6, 3], Combine::Mean)?;
        let (got, plain) = (got.to_vec3::<f32>()?, plain.to_vec3::<f32>()?);
        assert_eq!(got[1][3..], plain[1][3..]);
        Ok(())
    }

    #[test]
    fn aligned_refuses_lengths_that_do_not_fit() {
        let a = t(&spikes(&[0, 1, 0], 3), (1, 3, 3));
        assert!(combine(&[a.clone(), a.clone()], &[4], Combine::Aligned).is_err());
        assert!(combine(&[a.clone(), a], &[3, 3], Combine::Aligned).is_err());
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
