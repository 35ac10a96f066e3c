//! The synthetic word-image corpus: configuration, parallel deterministic generation, and the
//! on-disk cache.
//!
//! Image `i` of split `s` is drawn from `Rng::derive(seed, s << 40 | i)`, so the corpus is the
//! same whatever the thread count or order. The cache file name holds a hash of the config,
//! the font files (paths and bytes) and the word list, so any change regenerates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::alphabet::Alphabet;
use super::cache;
use super::encoder::CrnnEncoder;
use super::error::{Result, StrError};
use super::fonts::{discover, split_fonts, FontFile};
use super::normalize::{check_fits, min_width_for, normalize_grey, to_pixels, NormConfig};
use super::normalize::{font_source, WordImage, FRAME_STRIDE};
use super::render::{render_word, Distortion};
use super::words::{load_words, sample_text};
use ctc_core::io::fnv1a;
use ctc_core::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    pub n_train: usize,
    pub n_dev: usize,
    pub n_test: usize,
    pub seed: u64,
    pub case_sensitive: bool,
    pub punctuation: bool,
    /// Longest label in characters (labels also always fit `norm.max_width / 4` CTC frames).
    pub max_len: usize,
    /// Share of dictionary words; the rest are random alphanumeric strings.
    pub word_frac: f64,
    /// Shares of font design groups held out for dev and for test.
    pub dev_font_frac: f64,
    pub test_font_frac: f64,
    pub font_dirs: Vec<PathBuf>,
    pub word_list: PathBuf,
    pub norm: NormConfig,
    pub distortion: Distortion,
    /// Draw the rendering progress bar (on a terminal). Not part of the preset or the cache
    /// key: it does not change the output.
    #[serde(skip)]
    pub progress: bool,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            n_train: 20_000,
            n_dev: 1_000,
            n_test: 1_000,
            seed: 0,
            case_sensitive: false,
            punctuation: false,
            max_len: 20,
            word_frac: 0.7,
            dev_font_frac: 0.15,
            test_font_frac: 0.2,
            font_dirs: vec![PathBuf::from("/usr/share/fonts")],
            word_list: PathBuf::from("/usr/share/dict/words"),
            norm: NormConfig::default(),
            distortion: Distortion::default(),
            progress: true,
        }
    }
}

impl RenderConfig {
    pub fn alphabet(&self) -> Alphabet {
        Alphabet::new(self.case_sensitive, self.punctuation)
    }
}

/// A font as recorded with the corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontInfo {
    pub path: String,
    pub family: String,
    pub group: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitFonts {
    pub train: Vec<FontInfo>,
    pub dev: Vec<FontInfo>,
    pub test: Vec<FontInfo>,
}

impl SplitFonts {
    /// Distinct family names of one split's fonts, sorted.
    pub fn families(fonts: &[FontInfo]) -> Vec<String> {
        let mut f: Vec<String> = fonts.iter().map(|f| f.family.clone()).collect();
        f.sort();
        f.dedup();
        f
    }
}

#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Vec<WordImage>,
    pub dev: Vec<WordImage>,
    pub test: Vec<WordImage>,
    pub fonts: SplitFonts,
    pub alphabet: Alphabet,
    /// True when the corpus was read from the cache rather than rendered.
    pub from_cache: bool,
}

fn info(fonts: &[FontFile]) -> Vec<FontInfo> {
    fonts
        .iter()
        .map(|f| FontInfo {
            path: f.path.display().to_string(),
            family: f.family.clone(),
            group: f.group.clone(),
        })
        .collect()
}

const CACHE_VERSION: u32 = 1;

fn cache_key(cfg: &RenderConfig, fonts: &[&[FontFile]; 3], words: &[String]) -> u64 {
    let mut s = format!("v{CACHE_VERSION}\n");
    s += &serde_json::to_string(cfg).unwrap_or_default();
    for (k, split) in fonts.iter().enumerate() {
        for f in split.iter() {
            s += &format!("\n{k} {} {:016x}", f.path.display(), f.hash);
        }
    }
    s += &format!("\nwords {:016x}", fnv1a(words.join("\n").as_bytes()));
    fnv1a(s.as_bytes())
}

/// Fonts grouped by family, so that sampling picks a family uniformly (families with many
/// weights would otherwise dominate).
fn by_family(fonts: &[FontFile]) -> Vec<Vec<&FontFile>> {
    let mut fams: Vec<Vec<&FontFile>> = Vec::new();
    let mut sorted: Vec<&FontFile> = fonts.iter().collect();
    sorted.sort_by(|a, b| (&a.family, &a.path).cmp(&(&b.family, &b.path)));
    for f in sorted {
        match fams.last_mut() {
            Some(last) if last[0].family == f.family => last.push(f),
            _ => fams.push(vec![f]),
        }
    }
    fams
}

fn render_split(
    cfg: &RenderConfig,
    split: u64,
    n: usize,
    fonts: &[FontFile],
    words: &[String],
    pb: &ProgressBar,
) -> Result<Vec<WordImage>> {
    let alphabet = cfg.alphabet();
    let fams = by_family(fonts);
    let max_frames = CrnnEncoder::output_frames(cfg.norm.max_width);
    (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = Rng::derive(cfg.seed, (split << 40) | i as u64);
            let fam = &fams[rng.below(fams.len())];
            let font = fam[rng.below(fam.len())];
            let (drawn, label) = sample_text(
                &mut rng,
                words,
                &alphabet,
                cfg.word_frac,
                cfg.max_len,
                max_frames,
            );
            let source = font_source(
                &font.path.file_name().unwrap_or_default().to_string_lossy(),
                &font.family,
            );
            let img = render_word(&font.font, &drawn, &cfg.distortion, &mut rng)
                .ok_or_else(|| StrError::Setup(format!("{source} draws nothing for {drawn:?}")))?;
            // Squeezed words are widened back to the frames their label needs.
            let g = normalize_grey(&img, &cfg.norm, min_width_for(&label), &source)?;
            check_fits(&label, g.width() as usize, &source)?;
            pb.inc(1);
            Ok(WordImage {
                width: g.width() as usize,
                pixels: Arc::new(to_pixels(&g)),
                text: label,
                source,
            })
        })
        .collect()
}

/// The rendering bar: drawn on standard error, or hidden (`--no-progress`).
fn progress_bar(total: u64, show: bool) -> ProgressBar {
    if show {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    }
}

/// Build (or read from `cache_dir`) the train/dev/test word images described by `cfg`.
pub fn generate_corpus(cfg: &RenderConfig, cache_dir: &Path) -> Result<Splits> {
    let alphabet = cfg.alphabet();
    if cfg.max_len == 0 || cfg.norm.max_width < FRAME_STRIDE {
        return Err(StrError::Setup(format!(
            "max_len ({}) must be >= 1 and norm.max_width ({}) >= {FRAME_STRIDE}",
            cfg.max_len, cfg.norm.max_width
        )));
    }
    let fonts = discover(&cfg.font_dirs, &alphabet)?;
    let split = split_fonts(fonts, cfg.dev_font_frac, cfg.test_font_frac, cfg.seed)?;
    let max_frames = CrnnEncoder::output_frames(cfg.norm.max_width);
    let words = load_words(&cfg.word_list, &alphabet, cfg.max_len, max_frames)?;
    let key = cache_key(cfg, &[&split.train, &split.dev, &split.test], &words);
    let fonts = SplitFonts {
        train: info(&split.train),
        dev: info(&split.dev),
        test: info(&split.test),
    };
    let path = cache_dir.join(format!("str-corpus-{key:016x}.bin"));
    match cache::read(&path, key, &fonts) {
        Ok(Some([train, dev, test])) => {
            return Ok(Splits {
                train,
                dev,
                test,
                fonts,
                alphabet,
                from_cache: true,
            })
        }
        Ok(None) => {}
        // A damaged cache is rebuilt, not fatal: it is only a cache.
        Err(e) => eprintln!("ignoring unusable corpus cache: {e}"),
    }
    let total = (cfg.n_train + cfg.n_dev + cfg.n_test) as u64;
    let pb = progress_bar(total, cfg.progress);
    pb.set_style(
        ProgressStyle::with_template("rendering words {bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let train = render_split(cfg, 0, cfg.n_train, &split.train, &words, &pb)?;
    let dev = render_split(cfg, 1, cfg.n_dev, &split.dev, &words, &pb)?;
    let test = render_split(cfg, 2, cfg.n_test, &split.test, &words, &pb)?;
    pb.finish_and_clear();
    if total >= 1000 {
        eprintln!(
            "rendered {total} word images in {:.1} s ({} train / {} dev / {} test fonts)",
            t0.elapsed().as_secs_f64(),
            fonts.train.len(),
            fonts.dev.len(),
            fonts.test.len()
        );
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| StrError::Io {
        path: cache_dir.to_path_buf(),
        source: e,
    })?;
    cache::write(&path, key, &fonts, [&train, &dev, &test])?;
    Ok(Splits {
        train,
        dev,
        test,
        fonts,
        alphabet,
        from_cache: false,
    })
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn no_progress_hides_the_bar_and_leaves_the_cache_key() {
        assert!(progress_bar(10, false).is_hidden());
        let shown = RenderConfig::default();
        let quiet = RenderConfig {
            progress: false,
            ..shown.clone()
        };
        let key = |c: &RenderConfig| cache_key(c, &[&[], &[], &[]], &[]);
        assert_eq!(key(&shown), key(&quiet));
        // Not a preset key: a preset that sets it is refused like any unknown key.
        assert!(serde_json::from_str::<RenderConfig>(r#"{"progress": false}"#).is_err());
        let read: RenderConfig = serde_json::from_str("{}").unwrap();
        assert!(read.progress);
    }
}
