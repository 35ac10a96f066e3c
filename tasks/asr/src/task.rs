//! Speech recognition behind the shared `Task` trait.

use candle_core::{Device, Result};
use candle_nn::VarBuilder;

use super::corpus::Utterance;
use super::encoder::AsrEncoder;
use super::specaug::SpecAugConfig;
use ctc_core::admit::{admit, label_ids, Admitted, Purpose};
use ctc_core::rng::Rng;
use ctc_core::task::{pad_frames, Batch, EncoderConfig, SourceEncoder, Task, WordMetric};
use ctc_core::vocab::Vocab;

/// An utterance with its label ids (checked for CTC feasibility when it is for training).
#[derive(Debug, Clone)]
pub struct AsrExample {
    pub utt: Utterance,
    pub targets: Vec<u32>,
}

pub struct AsrTask {
    vocab: Vocab,
    n_mels: usize,
    /// Applied to training batches only.
    pub specaug: Option<SpecAugConfig>,
    /// Input frames per CTC frame, shared by every model of the task (teachers and students
    /// must emit at one frame rate for frame-level KD).
    subsampling: usize,
}

impl AsrTask {
    pub fn new(vocab: Vocab, n_mels: usize, specaug: Option<SpecAugConfig>) -> Self {
        Self {
            vocab,
            n_mels,
            specaug,
            subsampling: 4,
        }
    }

    /// The same task at another frame rate (`encoder::SUBSAMPLINGS`).
    pub fn with_subsampling(mut self, subsampling: usize) -> std::result::Result<Self, String> {
        crate::encoder::check_subsampling(subsampling)?;
        self.subsampling = subsampling;
        Ok(self)
    }

    pub fn subsampling(&self) -> usize {
        self.subsampling
    }

    /// CTC frames of an utterance of `n_frames` feature frames.
    pub fn ctc_frames(&self, n_frames: usize) -> usize {
        AsrEncoder::output_frames(n_frames, self.subsampling)
    }

    /// Encode transcripts. For training each utterance must be long enough for CTC, counted
    /// in label ids (a BPE token is one label) against the encoder's own output length, with
    /// a non-empty transcript in the vocabulary: a bad one is an error naming the utterance,
    /// or with `skip_bad` a counted skip. For scoring every utterance is kept (see
    /// `ctc_core::admit`).
    pub fn examples(
        &self,
        utts: Vec<Utterance>,
        skip_bad: bool,
        purpose: Purpose,
    ) -> std::result::Result<Admitted<AsrExample>, String> {
        admit(utts, skip_bad, |utt| {
            let frames = self.ctc_frames(utt.n_frames);
            let (targets, note) = label_ids(&self.vocab, &utt.text, frames, purpose, &utt.id)?;
            Ok((AsrExample { utt, targets }, note))
        })
    }
}

impl Task for AsrTask {
    type Example = AsrExample;
    const NAME: &'static str = "asr";
    const WORDS: WordMetric = WordMetric::Wer;
    const ERROR_NAME: &'static str = "CER";

    fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    fn targets<'a>(&self, ex: &'a AsrExample) -> &'a [u32] {
        &ex.targets
    }
    fn text<'a>(&self, ex: &'a AsrExample) -> &'a str {
        &ex.utt.text
    }
    fn source_len(&self, ex: &AsrExample) -> usize {
        ex.utt.n_frames
    }

    fn collate(
        &self,
        items: &[(usize, &AsrExample)],
        train: bool,
        rng: &mut Rng,
        dev: &Device,
    ) -> Result<Batch> {
        let augmented: Vec<Vec<f32>> = match (&self.specaug, train) {
            (Some(sa), true) => items
                .iter()
                .map(|(_, e)| {
                    let mut f = e.utt.feats.as_ref().clone();
                    sa.apply(&mut f, e.utt.n_frames, self.n_mels, rng);
                    f
                })
                .collect(),
            _ => Vec::new(),
        };
        let frames: Vec<(&[f32], usize)> = items
            .iter()
            .enumerate()
            .map(|(i, (_, e))| {
                let f = augmented
                    .get(i)
                    .map_or(e.utt.feats.as_slice(), |a| a.as_slice());
                (f, e.utt.n_frames)
            })
            .collect();
        let targets: Vec<Vec<u32>> = items.iter().map(|(_, e)| e.targets.clone()).collect();
        let clean_src = if augmented.is_empty() {
            None
        } else {
            let clean: Vec<(&[f32], usize)> = items
                .iter()
                .map(|(_, e)| (e.utt.feats.as_slice(), e.utt.n_frames))
                .collect();
            Some(pad_frames(&clean, self.n_mels, dev)?)
        };
        Ok(Batch {
            src: pad_frames(&frames, self.n_mels, dev)?,
            src_lens: items.iter().map(|(_, e)| e.utt.n_frames).collect(),
            targets,
            texts: items.iter().map(|(_, e)| e.utt.text.clone()).collect(),
            ids: items.iter().map(|(i, _)| *i).collect(),
            clean_src,
        })
    }

    fn encoder(&self, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Box<dyn SourceEncoder>> {
        Ok(Box::new(AsrEncoder::new(
            self.n_mels,
            cfg,
            self.subsampling,
            vb,
        )?))
    }

    fn error(&self, s: &ctc_core::metrics::Scores) -> f64 {
        s.cer
    }
}
