//! Speech recognition behind the shared `Task` trait.

use candle_core::{Device, Result};
use candle_nn::VarBuilder;

use super::corpus::Utterance;
use super::encoder::AsrEncoder;
use super::specaug::SpecAugConfig;
use ctc_core::ctc::min_frames;
use ctc_core::rng::Rng;
use ctc_core::task::{
    keep_or_skip, pad_frames, Batch, EncoderConfig, SourceEncoder, Task, WordMetric,
};
use ctc_core::vocab::Vocab;

/// An utterance with its label ids, checked against the vocabulary and CTC feasibility.
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
}

impl AsrTask {
    pub fn new(vocab: Vocab, n_mels: usize, specaug: Option<SpecAugConfig>) -> Self {
        Self {
            vocab,
            n_mels,
            specaug,
        }
    }

    /// Encode transcripts and check that each utterance is long enough for CTC, counted in
    /// label ids (a BPE token is one label) against the encoder's own output length. Bad ones
    /// are an error naming the utterance, or with `skip_bad` counted skips returned as messages.
    pub fn examples(
        &self,
        utts: Vec<Utterance>,
        skip_bad: bool,
    ) -> std::result::Result<(Vec<AsrExample>, Vec<String>), String> {
        keep_or_skip(utts, skip_bad, |utt| match self.vocab.encode(&utt.text) {
            Err(e) => Err(format!("{}: {e}", utt.id)),
            Ok(t) if t.is_empty() => Err(format!("{}: empty transcript", utt.id)),
            Ok(t) if AsrEncoder::output_frames(utt.n_frames) < min_frames(&t) => Err(format!(
                "{}: too short for its transcript under CTC ({} frames after subsampling, {} \
                 needed for its {} labels)",
                utt.id,
                AsrEncoder::output_frames(utt.n_frames),
                min_frames(&t),
                t.len()
            )),
            Ok(targets) => Ok(AsrExample { utt, targets }),
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
        Ok(Batch {
            src: pad_frames(&frames, self.n_mels, dev)?,
            src_lens: items.iter().map(|(_, e)| e.utt.n_frames).collect(),
            targets,
            texts: items.iter().map(|(_, e)| e.utt.text.clone()).collect(),
            ids: items.iter().map(|(i, _)| *i).collect(),
        })
    }

    fn encoder(&self, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Box<dyn SourceEncoder>> {
        Ok(Box::new(AsrEncoder::new(self.n_mels, cfg, vb)?))
    }

    fn error(&self, s: &ctc_core::metrics::Scores) -> f64 {
        s.cer
    }
}
