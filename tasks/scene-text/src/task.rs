//! Word-image recognition behind the shared `Task` trait.

use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;

use super::encoder::CrnnEncoder;
use super::normalize::{ctc_frames_needed, pad_batch, standardize_in_batch};
use super::normalize::{WordImage, FRAME_STRIDE, HEIGHT};
use ctc_core::rng::Rng;
use ctc_core::task::{pad_labels, Batch, EncoderConfig, SourceEncoder, Task, WordMetric};
use ctc_core::vocab::Vocab;

#[derive(Debug, Clone)]
pub struct StrExample {
    pub image: WordImage,
    pub targets: Vec<u32>,
}

pub struct StrTask {
    vocab: Vocab,
}

impl StrTask {
    pub fn new(vocab: Vocab) -> Self {
        Self { vocab }
    }

    /// Encode labels and check CTC feasibility (frames = width / 4). Bad ones are an error
    /// naming the image, or with `skip_bad` counted skips returned as messages.
    pub fn examples(
        &self,
        images: Vec<WordImage>,
        skip_bad: bool,
    ) -> std::result::Result<(Vec<StrExample>, Vec<String>), String> {
        let mut out = Vec::with_capacity(images.len());
        let mut skipped = Vec::new();
        for image in images {
            let problem = match self.vocab.encode(&image.text) {
                Err(e) => Some(format!("{}: {e}", image.source)),
                Ok(t) if t.is_empty() => Some(format!("{}: empty label", image.source)),
                Ok(_) if image.frames() < ctc_frames_needed(&image.text) => Some(format!(
                    "{}: label {:?} needs {} frames, the image gives {}",
                    image.source,
                    image.text,
                    ctc_frames_needed(&image.text),
                    image.frames()
                )),
                Ok(targets) => {
                    out.push(StrExample { image, targets });
                    None
                }
            };
            if let Some(p) = problem {
                if !skip_bad {
                    return Err(p);
                }
                skipped.push(p);
            }
        }
        Ok((out, skipped))
    }
}

impl Task for StrTask {
    type Example = StrExample;
    const NAME: &'static str = "str";
    const WORDS: WordMetric = WordMetric::WordAccuracy;
    const ERROR_NAME: &'static str = "word error";

    fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    fn targets<'a>(&self, ex: &'a StrExample) -> &'a [u32] {
        &ex.targets
    }
    fn text<'a>(&self, ex: &'a StrExample) -> &'a str {
        &ex.image.text
    }
    fn source_len(&self, ex: &StrExample) -> usize {
        ex.image.width
    }

    fn collate(
        &self,
        items: &[(usize, &StrExample)],
        _train: bool,
        _rng: &mut Rng,
        dev: &Device,
    ) -> Result<Batch> {
        let images: Vec<&WordImage> = items.iter().map(|(_, e)| &e.image).collect();
        let (pixels, w) = pad_batch(&images);
        let w = w.max(FRAME_STRIDE);
        let mut pixels = if pixels.is_empty() {
            vec![0f32; items.len() * HEIGHT * w]
        } else {
            pixels
        };
        let widths: Vec<usize> = images.iter().map(|im| im.width).collect();
        standardize_in_batch(&mut pixels, &widths, w);
        let targets: Vec<Vec<u32>> = items.iter().map(|(_, e)| e.targets.clone()).collect();
        Ok(Batch {
            src: Tensor::from_vec(pixels, (items.len(), 1, HEIGHT, w), dev)?,
            src_lens: images.iter().map(|im| im.width).collect(),
            labels: pad_labels(&targets, dev)?,
            label_lens: targets.iter().map(|t| t.len()).collect(),
            targets,
            texts: images.iter().map(|im| im.text.clone()).collect(),
            ids: items.iter().map(|(i, _)| *i).collect(),
        })
    }

    fn encoder(&self, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Box<dyn SourceEncoder>> {
        Ok(Box::new(CrnnEncoder::new(cfg, vb)?))
    }

    fn error(&self, s: &ctc_core::metrics::Scores) -> f64 {
        100.0 - s.word_acc
    }
}
