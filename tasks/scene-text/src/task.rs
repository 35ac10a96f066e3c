//! Word-image recognition behind the shared `Task` trait.

use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;

use super::encoder::CrnnEncoder;
use super::normalize::{pad_batch, standardize_in_batch, WordImage, FRAME_STRIDE, HEIGHT};
use ctc_core::admit::{admit, label_ids, Admitted, Purpose};
use ctc_core::rng::Rng;
use ctc_core::task::{Batch, EncoderConfig, SourceEncoder, Task, WordMetric};
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

    /// Encode labels. For training each label must be non-empty, in the vocabulary and fit
    /// the encoder's own output length (frames = width / 4) in label ids: a bad one is an
    /// error naming the image, or with `skip_bad` a counted skip. For scoring every image is
    /// kept (see `ctc_core::admit`).
    pub fn examples(
        &self,
        images: Vec<WordImage>,
        skip_bad: bool,
        purpose: Purpose,
    ) -> std::result::Result<Admitted<StrExample>, String> {
        admit(images, skip_bad, |image| {
            let frames = CrnnEncoder::output_frames(image.width);
            let (targets, note) =
                label_ids(&self.vocab, &image.text, frames, purpose, &image.source)?;
            Ok((StrExample { image, targets }, note))
        })
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
            targets,
            texts: images.iter().map(|im| im.text.clone()).collect(),
            ids: items.iter().map(|(i, _)| *i).collect(),
            clean_src: None,
        })
    }

    fn encoder(&self, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Box<dyn SourceEncoder>> {
        Ok(Box::new(CrnnEncoder::new(cfg, vb)?))
    }

    fn error(&self, s: &ctc_core::metrics::Scores) -> f64 {
        100.0 - s.word_acc
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use ctc_core::params::ParamStore;
    use ctc_core::task::Fwd;

    fn image(text: &str, width: usize) -> WordImage {
        WordImage {
            text: text.into(),
            pixels: Arc::new(vec![0.0; HEIGHT * width]),
            width,
            source: format!("{text}@{width}"),
        }
    }

    #[test]
    fn feasibility_frames_are_the_built_encoders_output_len() {
        let cfg = EncoderConfig {
            d_model: 8,
            layers: 1,
            heads: 2,
            d_ff: 16,
            dropout: 0.0,
            conv_channels: 4,
            kind: Default::default(),
            conv_kernel: None,
        };
        let task = StrTask::new(Vocab::chars("ab").unwrap());
        let enc = task
            .encoder(&cfg, ParamStore::new(0).vb(&Device::Cpu))
            .unwrap();
        for w in [4usize, 5, 7, 8, 9, 31, 32, 33, 64, 127, 128] {
            assert_eq!(enc.output_len(w), CrnnEncoder::output_frames(w), "{w}");
            assert_eq!(image("a", w).frames(), enc.output_len(w), "{w}");
            // And both are what the convolutions and pooling really produce.
            let x =
                Tensor::zeros((1, 1, HEIGHT, w), candle_core::DType::F32, &Device::Cpu).unwrap();
            let out = enc.forward(&x, &[w], &mut Fwd::eval()).unwrap();
            assert_eq!(out.frames.dims3().unwrap().1, enc.output_len(w), "{w}");
        }
    }

    #[test]
    fn feasibility_counts_label_ids_with_a_blank_between_repeats() {
        let task = StrTask::new(Vocab::chars("ab").unwrap());
        // "aab" needs 4 frames: 16 columns.
        let images = vec![image("aab", 16), image("aab", 15), image("ab", 8)];
        let a = task.examples(images.clone(), true, Purpose::Train).unwrap();
        let ok = &a.examples;
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].targets, vec![1, 1, 2]);
        assert_eq!(
            a.skipped,
            vec![
                "aab@15: too short for its transcript under CTC (3 frames after subsampling, 4 \
                 needed for its 3 labels)"
                    .to_string()
            ]
        );
        // Scoring keeps the image that training refused, and says why.
        let s = task.examples(images, false, Purpose::Score).unwrap();
        assert_eq!(s.examples.len(), 3);
        assert_eq!(s.untrainable, a.skipped);
        assert_eq!(
            crate::normalize::ctc_frames_needed("aab"),
            ctc_core::ctc::min_frames(&ok[0].targets)
        );
    }
}
