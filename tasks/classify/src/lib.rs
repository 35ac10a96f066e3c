//! Image classification as a CTC task: an example is one image and one class label, the
//! encoder (an MLP) emits a single frame, and the CTC head scores classes + blank on it.
//!
//! Over one frame the only CTC path for a one-label target is the label itself, so the CTC
//! loss is exactly the cross-entropy `-log softmax(z)[label]` over the classes plus the blank
//! (tested in `lib_tests.rs`), greedy decoding is the argmax (blank wins = no answer, an error
//! like a wrong class), and the CER over one-character labels is the error rate: every wrong
//! example costs one edit out of one reference character. This is what lets Hinton et al.'s
//! MNIST experiment run through the same trainer and KD losses as the sequence tasks.

pub mod load;
pub mod mlp;

use std::path::{Path, PathBuf};

use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use ctc_core::rng::Rng;
use ctc_core::task::{Batch, EncoderConfig, SourceEncoder, Splits, Task, WordMetric};
use ctc_core::vocab::Vocab;

use load::{DataError, Images};
pub use mlp::MlpEncoder;

/// Class labels are written as these characters (class 0 is "0"): one token each.
pub const LABEL_CHARS: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

/// Where Debian's `dataset-fashion-mnist` puts its files (scripts/setup-classify.sh).
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn fashion_classes() -> Vec<String> {
    [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    .map(String::from)
    .to_vec()
}

/// The `[data]` table of a classification preset. Defaults read Fashion-MNIST from Debian.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyConfig {
    /// Directory that relative file names resolve against.
    pub dir: PathBuf,
    /// Training file(s): `[images, labels]` IDX files (raw or gzipped), or `[examples.json]`.
    pub train: Vec<String>,
    /// Test file(s), in the same form.
    pub test: Vec<String>,
    /// Class names, in label order; their number is the number of classes.
    pub classes: Vec<String>,
    /// Image size. IDX files carry their own, which must agree.
    pub rows: usize,
    pub cols: usize,
    /// JSON only: the value of a full-intensity pixel (255 for bytes, 1 for [0, 1] floats).
    pub pixel_max: Option<f64>,
    /// Dev examples held out of the training file (a seeded draw).
    pub n_dev: usize,
    /// Keep at most this many training / test examples (smoke runs); all if absent.
    pub n_train: Option<usize>,
    pub n_test: Option<usize>,
    /// Training augmentation: shift each image by up to this many pixels in each direction.
    pub jitter: usize,
    /// Training augmentation: drop each input pixel with this probability (kept ones scaled).
    pub input_dropout: f64,
    /// Seed of the dev draw (fixed across run seeds, so every seed sees the same splits).
    pub seed: u64,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(FASHION_MNIST_DIR),
            train: vec![
                "train-images-idx3-ubyte.gz".into(),
                "train-labels-idx1-ubyte.gz".into(),
            ],
            test: vec![
                "t10k-images-idx3-ubyte.gz".into(),
                "t10k-labels-idx1-ubyte.gz".into(),
            ],
            classes: fashion_classes(),
            rows: 28,
            cols: 28,
            pixel_max: None,
            n_dev: 5000,
            n_train: None,
            n_test: None,
            jitter: 0,
            input_dropout: 0.0,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClassifyExample {
    /// Row-major grey pixels, one byte each.
    pub pixels: Vec<u8>,
    /// The label's token id (class + 1: 0 is the blank).
    pub target: [u32; 1],
    /// The label's character (`LABEL_CHARS[class]`).
    pub text: String,
}

impl ClassifyExample {
    /// The 0-based class.
    pub fn class(&self) -> u32 {
        self.target[0] - 1
    }
}

pub struct ClassifyTask {
    vocab: Vocab,
    pub cfg: ClassifyConfig,
}

impl ClassifyTask {
    /// The task without data (for an exported model): checks the settings, builds the vocabulary.
    pub fn new(cfg: &ClassifyConfig) -> Result<Self> {
        let n = cfg.classes.len();
        if n < 2 || n > LABEL_CHARS.len() {
            candle_core::bail!("classify: {n} classes; expected 2..={}", LABEL_CHARS.len());
        }
        if cfg.rows == 0 || cfg.cols == 0 {
            candle_core::bail!("classify: images of {} x {} pixels", cfg.rows, cfg.cols);
        }
        if !(0.0..1.0).contains(&cfg.input_dropout) {
            candle_core::bail!(
                "classify: input_dropout must lie in [0, 1), got {}",
                cfg.input_dropout
            );
        }
        if cfg.jitter >= cfg.rows.min(cfg.cols) {
            candle_core::bail!(
                "classify: jitter of {} pixels would shift a {} x {} image out of view",
                cfg.jitter,
                cfg.rows,
                cfg.cols
            );
        }
        let vocab = Vocab::chars(&LABEL_CHARS[..n]).map_err(candle_core::Error::wrap)?;
        Ok(Self {
            vocab,
            cfg: cfg.clone(),
        })
    }

    pub fn n_classes(&self) -> usize {
        self.cfg.classes.len()
    }

    /// The task and its splits: dev is a seeded draw of `n_dev` training-file examples.
    pub fn load(cfg: &ClassifyConfig) -> Result<(Self, Splits<ClassifyExample>)> {
        let task = Self::new(cfg)?;
        let wrap = |e: DataError| candle_core::Error::Msg(e.to_string());
        let mut train = task.read(&cfg.train, "train").map_err(wrap)?;
        let mut test = task.read(&cfg.test, "test").map_err(wrap)?;
        if train.len() <= cfg.n_dev {
            candle_core::bail!(
                "classify: {} training examples cannot give {} dev examples and a training set",
                train.len(),
                cfg.n_dev
            );
        }
        Rng::derive(cfg.seed, 0xDE7).shuffle(&mut train);
        let dev = train.split_off(train.len() - cfg.n_dev);
        if let Some(n) = cfg.n_train {
            train.truncate(n);
        }
        if let Some(n) = cfg.n_test {
            test.truncate(n);
        }
        if train.is_empty() || test.is_empty() {
            candle_core::bail!("classify: empty training or test set (check n_train / n_test)");
        }
        Ok((task, Splits { train, dev, test }))
    }

    fn resolve(&self, name: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cfg.dir.join(p)
        }
    }

    /// Examples of one split's files: `[images, labels]` IDX or `[file.json]`.
    pub fn read(
        &self,
        files: &[String],
        split: &str,
    ) -> std::result::Result<Vec<ClassifyExample>, DataError> {
        let n = self.n_classes();
        let (images, labels) = match files {
            [json] => {
                let path = self.resolve(json);
                let max = self.pixel_max(&path)?;
                load::json_examples(&path, self.cfg.rows, self.cfg.cols, max, n)?
            }
            [images, labels] => {
                let path = self.resolve(images);
                if self.cfg.pixel_max.is_some() {
                    return Err(load::DataError {
                        path,
                        problem: "pixel_max applies to JSON files only; IDX pixels are bytes"
                            .into(),
                    });
                }
                let (im, lb) = load::idx_pair(&path, &self.resolve(labels), n)?;
                self.check_size(&path, &im)?;
                (im, lb)
            }
            _ => {
                return Err(load::DataError {
                    path: self.cfg.dir.clone(),
                    problem: format!(
                        "data.{split} lists {} files; expected [images, labels] (IDX) or \
                         [examples.json]",
                        files.len()
                    ),
                })
            }
        };
        Ok((0..images.len())
            .map(|i| self.example(images.image(i).to_vec(), labels[i]))
            .collect())
    }

    /// A JSON manifest of examples (`load::json_examples`); with `skip_bad`, bad examples are
    /// skipped and named in the returned lines instead of stopping the load.
    pub fn read_manifest(
        &self,
        file: &str,
        skip_bad: bool,
    ) -> std::result::Result<(Vec<ClassifyExample>, Vec<String>), DataError> {
        let path = self.resolve(file);
        let max = self.pixel_max(&path)?;
        let (rows, cols, n) = (self.cfg.rows, self.cfg.cols, self.n_classes());
        let (images, labels, skipped) = if skip_bad {
            load::json_examples_skipping(&path, rows, cols, max, n)?
        } else {
            let (im, lb) = load::json_examples(&path, rows, cols, max, n)?;
            (im, lb, Vec::new())
        };
        let examples = (0..images.len())
            .map(|i| self.example(images.image(i).to_vec(), labels[i]))
            .collect();
        Ok((examples, skipped))
    }

    fn pixel_max(&self, path: &Path) -> std::result::Result<f64, DataError> {
        let max = self.cfg.pixel_max.unwrap_or(255.0);
        if !(max.is_finite() && max > 0.0) {
            return Err(load::DataError {
                path: path.to_path_buf(),
                problem: format!("pixel_max must be a finite number > 0, got {max}"),
            });
        }
        Ok(max)
    }

    fn check_size(&self, path: &Path, im: &Images) -> std::result::Result<(), DataError> {
        if (im.rows, im.cols) != (self.cfg.rows, self.cfg.cols) {
            return Err(load::DataError {
                path: path.to_path_buf(),
                problem: format!(
                    "images of {} x {} pixels, the preset says {} x {} (data.rows, data.cols)",
                    im.rows, im.cols, self.cfg.rows, self.cfg.cols
                ),
            });
        }
        Ok(())
    }

    /// An example of class `class` (0-based, below the class count).
    pub fn example(&self, pixels: Vec<u8>, class: u32) -> ClassifyExample {
        let c = LABEL_CHARS.as_bytes()[class as usize] as char;
        ClassifyExample {
            pixels,
            target: [class + 1],
            text: c.to_string(),
        }
    }

    /// Pixels in [0, 1], with jitter and input dropout drawn from `rng` when training.
    fn pixels(&self, ex: &ClassifyExample, train: bool, rng: &mut Rng, out: &mut [f32]) {
        let (rows, cols) = (self.cfg.rows, self.cfg.cols);
        let j = self.cfg.jitter as isize;
        let (dy, dx) = if train && j > 0 {
            let mut shift = || rng.range(0, 2 * j as usize) as isize - j;
            (shift(), shift())
        } else {
            (0, 0)
        };
        let p = if train { self.cfg.input_dropout } else { 0.0 };
        let keep = 1.0 / (1.0 - p) as f32;
        for r in 0..rows as isize {
            for c in 0..cols as isize {
                let (sr, sc) = (r - dy, c - dx);
                let inside = (0..rows as isize).contains(&sr) && (0..cols as isize).contains(&sc);
                let v = if inside {
                    ex.pixels[sr as usize * cols + sc as usize] as f32 / 255.0
                } else {
                    0.0
                };
                out[r as usize * cols + c as usize] = if p <= 0.0 {
                    v
                } else if rng.bernoulli(p) {
                    0.0
                } else {
                    v * keep
                };
            }
        }
    }
}

impl Task for ClassifyTask {
    type Example = ClassifyExample;
    const NAME: &'static str = "classify";
    // Exact-match accuracy over one-label examples is the classification accuracy.
    const WORDS: WordMetric = WordMetric::WordAccuracy;
    const ERROR_NAME: &'static str = "error rate";

    fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    fn targets<'a>(&self, ex: &'a ClassifyExample) -> &'a [u32] {
        &ex.target
    }
    fn text<'a>(&self, ex: &'a ClassifyExample) -> &'a str {
        &ex.text
    }
    fn source_len(&self, _ex: &ClassifyExample) -> usize {
        1
    }
    fn collate(
        &self,
        items: &[(usize, &ClassifyExample)],
        train: bool,
        rng: &mut Rng,
        dev: &Device,
    ) -> Result<Batch> {
        let n = self.cfg.rows * self.cfg.cols;
        let mut buf = vec![0f32; items.len() * n];
        for (b, (_, ex)) in items.iter().enumerate() {
            if ex.pixels.len() != n {
                candle_core::bail!(
                    "classify: an example of {} pixels in a task of {} x {} images",
                    ex.pixels.len(),
                    self.cfg.rows,
                    self.cfg.cols
                );
            }
            self.pixels(ex, train, rng, &mut buf[b * n..(b + 1) * n]);
        }
        let augments = train && (self.cfg.jitter > 0 || self.cfg.input_dropout > 0.0);
        let clean_src = if augments {
            let mut clean = vec![0f32; items.len() * n];
            for (b, (_, ex)) in items.iter().enumerate() {
                // Without augmentation nothing is drawn from the generator.
                self.pixels(ex, false, rng, &mut clean[b * n..(b + 1) * n]);
            }
            Some(Tensor::from_vec(clean, (items.len(), 1, n), dev)?)
        } else {
            None
        };
        Ok(Batch {
            src: Tensor::from_vec(buf, (items.len(), 1, n), dev)?,
            src_lens: vec![1; items.len()],
            targets: items.iter().map(|(_, e)| e.target.to_vec()).collect(),
            texts: items.iter().map(|(_, e)| e.text.clone()).collect(),
            ids: items.iter().map(|(i, _)| *i).collect(),
            clean_src,
        })
    }
    fn encoder(&self, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Box<dyn SourceEncoder>> {
        Ok(Box::new(MlpEncoder::new(
            self.cfg.rows * self.cfg.cols,
            cfg,
            vb,
        )?))
    }
    /// The error rate in percent: the CER over one-character labels (see the module docs).
    fn error(&self, s: &ctc_core::metrics::Scores) -> f64 {
        s.cer
    }
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
