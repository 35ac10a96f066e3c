//! The one trait every recognition task implements, and the types that cross it.
//!
//! Teachers, students and every KD loss are generic over `Task`, so speech and word images
//! share all distillation code. A task turns its raw examples into a padded `Batch` and builds
//! its own source encoder; everything after the encoder is task-agnostic.

use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;

use crate::metrics::Scores;
pub use crate::nn::{EncoderConfig, EncoderKind};
use crate::rng::Rng;
use crate::vocab::Vocab;

/// A mini-batch: sources padded to a common length, label ids kept per example (the CTC loss
/// and every KD loss take them unpadded).
#[derive(Debug, Clone)]
pub struct Batch {
    /// Source tensor: (B, T_in, F) features for speech, (B, 1, H, W) images for word images.
    pub src: Tensor,
    /// Valid length of each source along its time axis (feature frames, or image columns).
    pub src_lens: Vec<usize>,
    /// Unpadded label ids per example.
    pub targets: Vec<Vec<u32>>,
    /// Reference texts (normalised as the vocabulary sees them).
    pub texts: Vec<String>,
    /// Index of each example in its split: the key of cached teacher outputs.
    pub ids: Vec<usize>,
    /// The sources without augmentation, when `src` is augmented (`None` when `src` is
    /// already clean): what a frozen teacher sees when students distil from clean inputs.
    pub clean_src: Option<Tensor>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.src_lens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.src_lens.is_empty()
    }

    /// This batch with its clean sources (itself when it is not augmented).
    pub fn clean(&self) -> Batch {
        match &self.clean_src {
            None => self.clone(),
            Some(c) => Batch {
                src: c.clone(),
                clean_src: None,
                ..self.clone()
            },
        }
    }
}

/// What a source encoder returns.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// (B, T, d) output frames.
    pub frames: Tensor,
    /// Valid output frames per example (after subsampling).
    pub lens: Vec<usize>,
    /// Every layer's output (B, T, d), filled only when `Fwd::collect` is set.
    pub hidden: Vec<Tensor>,
    /// Every self-attention layer's weights (B, heads, T, T), filled only when collecting.
    pub attn: Vec<Tensor>,
}

/// Per-call forward state: training mode, whether to collect hidden states and attention
/// maps, and the run's generator for dropout (candle's own RNG cannot be seeded).
pub struct Fwd {
    pub train: bool,
    pub collect: bool,
    pub rng: Rng,
    /// Optimizer steps taken before this forward (0 outside training): for losses whose
    /// weights follow the step (a KD warm-up).
    pub step: usize,
}

impl Fwd {
    pub fn eval() -> Self {
        Self {
            train: false,
            collect: false,
            rng: Rng::new(0),
            step: 0,
        }
    }
    pub fn train(rng: Rng) -> Self {
        Self {
            train: true,
            collect: false,
            rng,
            step: 0,
        }
    }
    pub fn collecting(mut self) -> Self {
        self.collect = true;
        self
    }
}

pub trait SourceEncoder: Send + Sync {
    fn forward(&self, src: &Tensor, src_lens: &[usize], fwd: &mut Fwd) -> Result<Encoded>;
    /// Output frames for an input of `input_len` (the CTC frame count).
    fn output_len(&self, input_len: usize) -> usize;
    fn d_model(&self) -> usize;
}

/// The word-level score a task reports beside its CER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordMetric {
    /// Word error rate over whitespace-separated words (sentences: speech).
    Wer,
    /// Whole examples recognised exactly (single words: word images).
    WordAccuracy,
}

pub trait Task: Send + Sync {
    type Example: Clone + Send + Sync;
    /// Short name written into every results row ("asr", "str", "toy").
    const NAME: &'static str;
    /// What the word-level columns of a results row hold for this task.
    const WORDS: WordMetric;
    /// What `error` measures, for logs and plots ("CER", "word error").
    const ERROR_NAME: &'static str;

    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn vocab(&self) -> &Vocab;
    /// The label ids of an example (already validated against the vocabulary).
    fn targets<'a>(&self, ex: &'a Self::Example) -> &'a [u32];
    fn text<'a>(&self, ex: &'a Self::Example) -> &'a str;
    /// Source length along the time axis, used for length bucketing.
    fn source_len(&self, ex: &Self::Example) -> usize;
    /// Pad a list of examples into a batch; `train` enables augmentation drawn from `rng`.
    fn collate(
        &self,
        items: &[(usize, &Self::Example)],
        train: bool,
        rng: &mut Rng,
        dev: &Device,
    ) -> Result<Batch>;
    fn encoder(&self, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Box<dyn SourceEncoder>>;
    /// Corpus-level scores of hypotheses against references.
    fn score(&self, refs: &[String], hyps: &[String]) -> Scores {
        crate::metrics::score_corpus(refs, hyps)
    }
    /// The error used for model selection and the teacher-cost target, in percent (named by
    /// `ERROR_NAME`): CER for speech, 100 - word accuracy for word images.
    fn error(&self, s: &Scores) -> f64;
}

/// A corpus split three ways. Test speakers/fonts/sentences never appear in training where the
/// generator controls them.
#[derive(Debug, Clone)]
pub struct Splits<E> {
    pub train: Vec<E>,
    pub dev: Vec<E>,
    pub test: Vec<E>,
}

/// Pad variable-length (frames x dim) feature buffers into a (B, T_max, dim) tensor.
pub fn pad_frames(items: &[(&[f32], usize)], dim: usize, dev: &Device) -> Result<Tensor> {
    let t_max = items.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let mut buf = vec![0f32; items.len() * t_max * dim];
    for (b, (f, n)) in items.iter().enumerate() {
        buf[b * t_max * dim..b * t_max * dim + n * dim].copy_from_slice(&f[..n * dim]);
    }
    Tensor::from_vec(buf, (items.len(), t_max, dim), dev)
}

/// Pad label sequences into a (B, U_max) u32 tensor (padding 0, the blank).
pub fn pad_labels(targets: &[Vec<u32>], dev: &Device) -> Result<Tensor> {
    let u = targets.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
    let mut buf = vec![0u32; targets.len() * u];
    for (b, t) in targets.iter().enumerate() {
        buf[b * u..b * u + t.len()].copy_from_slice(t);
    }
    Tensor::from_vec(buf, (targets.len(), u), dev)
}
