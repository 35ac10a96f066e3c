//! Word-image normalisation: grey, height 32, aspect kept, width capped.
//!
//! Pixel values are scaled to [-1, 1] (`v / 127.5 - 1`), so 0.0 is mid-grey: the padding
//! value, which favours neither dark-on-light nor light-on-dark text. The source encoder
//! subsamples width by 4, so an image of width `w` gives `w / 4` CTC frames
//! (`CrnnEncoder::output_frames`), and a label is only learnable if it fits them (see
//! `ctc_frames_needed`).

use std::sync::Arc;

use image::{DynamicImage, GrayImage, Luma};
use serde::{Deserialize, Serialize};

use super::encoder::CrnnEncoder;
use super::error::{Result, StrError};
use ctc_core::admit::Purpose;
use ctc_core::ctc::min_frames;

/// Image height after normalisation.
pub const HEIGHT: usize = 32;
/// Columns per CTC frame (the source encoder's total width subsampling).
pub const FRAME_STRIDE: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormConfig {
    /// Widths above this are squeezed to it (the aspect ratio is then not kept).
    pub max_width: usize,
    /// Narrower images are stretched to this (at least one frame).
    pub min_width: usize,
    /// Largest image file accepted, in pixels (width x height), and longest side: a larger
    /// one is an error (a counted skip with `--skip-bad`), refused from its header before it
    /// is decoded. Not written at their defaults, so existing corpus cache keys are unchanged.
    #[serde(skip_serializing_if = "is_default_max_pixels")]
    pub max_pixels: u64,
    #[serde(skip_serializing_if = "is_default_max_side")]
    pub max_side: u32,
}

/// Default `NormConfig::max_pixels`: 4 Mpx, far above any word crop.
pub const DEFAULT_MAX_PIXELS: u64 = 4_000_000;
/// Default `NormConfig::max_side`.
pub const DEFAULT_MAX_SIDE: u32 = 10_000;

fn is_default_max_pixels(v: &u64) -> bool {
    *v == DEFAULT_MAX_PIXELS
}

fn is_default_max_side(v: &u32) -> bool {
    *v == DEFAULT_MAX_SIDE
}

impl Default for NormConfig {
    fn default() -> Self {
        Self {
            max_width: 128,
            min_width: FRAME_STRIDE,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_side: DEFAULT_MAX_SIDE,
        }
    }
}

impl NormConfig {
    /// An error for an image of `width x height` over the limits, `None` within them.
    pub fn check_size(&self, width: u32, height: u32, at: &str) -> Option<StrError> {
        let pixels = width as u64 * height as u64;
        let over = if width.max(height) > self.max_side {
            format!("a side is longer than norm.max_side = {}", self.max_side)
        } else if pixels > self.max_pixels {
            format!(
                "{pixels} pixels exceed norm.max_pixels = {}",
                self.max_pixels
            )
        } else {
            return None;
        };
        Some(StrError::TooLarge {
            at: at.to_string(),
            width,
            height,
            over,
        })
    }
}

/// One normalised example.
#[derive(Debug, Clone, PartialEq)]
pub struct WordImage {
    /// The label, normalised by the alphabet (lower-cased unless case-sensitive).
    pub text: String,
    /// `HEIGHT * width` values in [-1, 1], row-major.
    pub pixels: Arc<Vec<f32>>,
    pub width: usize,
    /// The image file (with TSV line or LMDB key) or, for rendered words, the font.
    pub source: String,
}

impl WordImage {
    /// CTC frames this image gives the encoder.
    pub fn frames(&self) -> usize {
        CrnnEncoder::output_frames(self.width)
    }

    /// The font a rendered word was drawn in: its whole `source` as `font_source` wrote it
    /// ("DejaVuSans-Bold.ttf (DejaVu Sans)"); `None` for an image read from a file or LMDB,
    /// whose source is where it was read. Words of one font share its glyphs, and so their
    /// errors: the cluster bootstrap resamples fonts, not words.
    pub fn font(&self) -> Option<&str> {
        if !self.source.ends_with(')') {
            return None;
        }
        let is_font = |file: &str| {
            let lower = file.to_ascii_lowercase();
            lower.ends_with(".ttf") || lower.ends_with(".otf")
        };
        // A family (or file) name may itself hold " (": any split with a font file left of it
        // is the one `font_source` made.
        self.source
            .match_indices(" (")
            .any(|(i, _)| is_font(&self.source[..i]))
            .then_some(self.source.as_str())
    }
}

/// The `source` of a word rendered from a font: the font's file name and family (read back by
/// `WordImage::font`).
pub fn font_source(file: &str, family: &str) -> String {
    format!("{file} ({family})")
}

/// The fewest CTC frames that can emit `label` as one label per character (CTC's
/// `min_frames` over its characters). The corpus sizes and filters images with it before a
/// vocabulary exists; `StrTask::examples` checks the label ids themselves.
pub fn ctc_frames_needed(label: &str) -> usize {
    let chars: Vec<u32> = label.chars().map(u32::from).collect();
    min_frames(&chars)
}

/// The narrowest width whose frames fit `label`.
pub fn min_width_for(label: &str) -> usize {
    ctc_frames_needed(label) * FRAME_STRIDE
}

/// Grey, height `HEIGHT`, width from the aspect ratio clamped to
/// `[max(cfg.min_width, min_width), cfg.max_width]`. Transparent pixels are composed over
/// white, as a viewer shows them.
pub fn normalize_grey(
    img: &DynamicImage,
    cfg: &NormConfig,
    min_width: usize,
    at: &str,
) -> Result<GrayImage> {
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(StrError::EmptyImage {
            at: at.to_string(),
            width: w,
            height: h,
        });
    }
    let grey = if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        let mut g = GrayImage::new(w, h);
        for (p, q) in rgba.pixels().zip(g.pixels_mut()) {
            let a = p[3] as f32 / 255.0;
            let l = 0.2126 * p[0] as f32 + 0.7152 * p[1] as f32 + 0.0722 * p[2] as f32;
            q[0] = (l * a + 255.0 * (1.0 - a)).round().clamp(0.0, 255.0) as u8;
        }
        g
    } else {
        img.to_luma8()
    };
    let aspect_w = (w as f64 * HEIGHT as f64 / h as f64).round() as usize;
    let lo = cfg.min_width.max(min_width).max(1);
    let width = aspect_w.clamp(lo, cfg.max_width.max(lo));
    if width == w as usize && HEIGHT == h as usize {
        return Ok(grey);
    }
    Ok(image::imageops::resize(
        &grey,
        width as u32,
        HEIGHT as u32,
        image::imageops::FilterType::Triangle,
    ))
}

/// u8 grey to [-1, 1].
pub fn to_pixels(g: &GrayImage) -> Vec<f32> {
    g.as_raw().iter().map(|&v| v as f32 / 127.5 - 1.0).collect()
}

/// [-1, 1] back to u8 grey (exact for values made by `to_pixels`).
pub fn to_grey(pixels: &[f32], width: usize) -> GrayImage {
    let mut g = GrayImage::new(width as u32, HEIGHT as u32);
    for (q, &v) in g.pixels_mut().zip(pixels) {
        *q = Luma([((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8]);
    }
    g
}

/// Reject a label the normalised width cannot emit under CTC.
pub fn check_fits(label: &str, width: usize, at: &str) -> Result<()> {
    let needed = ctc_frames_needed(label);
    let frames = CrnnEncoder::output_frames(width);
    if needed > frames {
        return Err(StrError::TooLong {
            at: at.to_string(),
            label: label.to_string(),
            needed,
            frames,
            width,
        });
    }
    Ok(())
}

/// Normalise a decoded image with an already checked label into a `WordImage`. For training
/// the label must fit the normalised width under CTC; for scoring any label is kept.
pub fn word_image(
    img: &DynamicImage,
    label: String,
    cfg: &NormConfig,
    source: String,
    purpose: Purpose,
) -> Result<WordImage> {
    let g = normalize_grey(img, cfg, 0, &source)?;
    let width = g.width() as usize;
    if purpose == Purpose::Train {
        check_fits(&label, width, &source)?;
    }
    Ok(WordImage {
        text: label,
        pixels: Arc::new(to_pixels(&g)),
        width,
        source,
    })
}

/// Pad images to a common width (the widest, rounded up to a multiple of `FRAME_STRIDE`)
/// with 0.0. Returns `(B * HEIGHT * W values, row-major per image, W)`.
pub fn pad_batch(images: &[&WordImage]) -> (Vec<f32>, usize) {
    let widest = images.iter().map(|im| im.width).max().unwrap_or(0);
    let w = widest.div_ceil(FRAME_STRIDE) * FRAME_STRIDE;
    let mut out = vec![0.0f32; images.len() * HEIGHT * w];
    for (b, im) in images.iter().enumerate() {
        for r in 0..HEIGHT {
            let dst = b * HEIGHT * w + r * w;
            out[dst..dst + im.width].copy_from_slice(&im.pixels[r * im.width..(r + 1) * im.width]);
        }
    }
    (out, w)
}

/// Smallest standard deviation `standardize_in_batch` divides by (a blank image stays blank).
const MIN_STD: f32 = 0.05;

/// Standardise each image of a `pad_batch` output to zero mean and unit variance over its own
/// valid pixels; padding stays 0 (the mean). Brightness and contrast vary widely between
/// rendered (and real) word images, and a model spends its first hundreds of steps learning
/// that invariance when it is not removed here.
pub fn standardize_in_batch(pixels: &mut [f32], widths: &[usize], w: usize) {
    for (b, &width) in widths.iter().enumerate() {
        if width == 0 {
            continue;
        }
        let rows = || (0..HEIGHT).map(|r| b * HEIGHT * w + r * w);
        let n = (HEIGHT * width) as f32;
        let sum: f32 = rows()
            .map(|o| pixels[o..o + width].iter().sum::<f32>())
            .sum();
        let mean = sum / n;
        let sq: f32 = rows()
            .map(|o| {
                pixels[o..o + width]
                    .iter()
                    .map(|v| (v - mean).powi(2))
                    .sum::<f32>()
            })
            .sum();
        let std = (sq / n).sqrt().max(MIN_STD);
        for o in rows() {
            for v in &mut pixels[o..o + width] {
                *v = (*v - mean) / std;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    #[test]
    fn rendered_words_name_their_font_and_read_ones_do_not() {
        let img = |source: String| WordImage {
            text: "a".into(),
            pixels: Arc::new(vec![0.0; HEIGHT * 4]),
            width: 4,
            source,
        };
        for (file, family) in [
            ("DejaVuSans-Bold.ttf", "DejaVu Sans"),
            ("LinBiolinum_R.OTF", "Linux Biolinum O"),
            ("odd (copy).ttf", "Odd (Display)"),
        ] {
            let w = img(font_source(file, family));
            assert_eq!(w.font(), Some(format!("{file} ({family})").as_str()));
        }
        // Where the loaders say an image came from: a TSV line (with the image path), a file,
        // an LMDB key.
        for source in [
            "data/test.tsv:3 (data/img/1.png)",
            "data/img/1.png",
            "data/lmdb [image-000000001]",
            "notes.txt (x)",
            "",
        ] {
            assert_eq!(img(source.to_string()).font(), None, "{source}");
        }
    }

    #[test]
    fn frames_needed_counts_repeats() {
        assert_eq!(ctc_frames_needed(""), 0);
        assert_eq!(ctc_frames_needed("abc"), 3);
        assert_eq!(ctc_frames_needed("book"), 5);
        assert_eq!(ctc_frames_needed("aaa"), 5);
        assert_eq!(min_width_for("aa"), 12);
    }

    #[test]
    fn shapes_keep_aspect_and_cap_width() {
        let cfg = NormConfig::default();
        // 64 high x 100 wide -> 32 x 50.
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(100, 64, Rgb([10, 200, 30])));
        let g = normalize_grey(&img, &cfg, 0, "t").unwrap();
        assert_eq!((g.width(), g.height()), (50, 32));
        // 16 x 400 -> aspect width 800, capped at 128.
        let img = DynamicImage::ImageLuma8(GrayImage::new(400, 16));
        assert_eq!(normalize_grey(&img, &cfg, 0, "t").unwrap().width(), 128);
        // 100 x 10 -> aspect width 3, raised to the minimum asked for.
        let img = DynamicImage::ImageLuma8(GrayImage::new(10, 100));
        assert_eq!(normalize_grey(&img, &cfg, 0, "t").unwrap().width(), 4);
        assert_eq!(normalize_grey(&img, &cfg, 20, "t").unwrap().width(), 20);
    }

    #[test]
    fn pixel_scale_and_alpha() {
        let cfg = NormConfig::default();
        let mut im = RgbaImage::from_pixel(32, 32, Rgba([0, 0, 0, 255]));
        im.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
        let g = normalize_grey(&DynamicImage::ImageRgba8(im), &cfg, 0, "t").unwrap();
        let px = to_pixels(&g);
        assert_eq!(px.len(), 32 * 32);
        assert_eq!(px[0], 1.0); // transparent over white
        assert_eq!(px[1], -1.0); // opaque black
        assert_eq!(to_grey(&px, 32), g);
    }

    #[test]
    fn zero_size_and_too_long_are_errors() {
        let cfg = NormConfig::default();
        let img = DynamicImage::ImageLuma8(GrayImage::new(0, 10));
        assert!(matches!(
            normalize_grey(&img, &cfg, 0, "a.png"),
            Err(StrError::EmptyImage { .. })
        ));
        // 32 x 20 -> 5 frames: "hello" needs 6 (the double l).
        let img = DynamicImage::ImageLuma8(GrayImage::new(20, 32));
        let e =
            word_image(&img, "hello".into(), &cfg, "a.png:3".into(), Purpose::Train).unwrap_err();
        assert!(e.to_string().contains("a.png:3"), "{e}");
        assert!(matches!(
            e,
            StrError::TooLong {
                needed: 6,
                frames: 5,
                ..
            }
        ));
        assert!(word_image(&img, "helo".into(), &cfg, "a.png:3".into(), Purpose::Train).is_ok());
        // Scoring keeps a label the width cannot emit.
        let w = word_image(&img, "hello".into(), &cfg, "a.png:3".into(), Purpose::Score).unwrap();
        assert_eq!((w.text.as_str(), w.width), ("hello", 20));
    }

    #[test]
    fn standardize_per_image_keeps_padding() {
        let w = 4;
        // Image 0: width 2, columns alternate 1 and -1 (mean 0, std 1) -> unchanged.
        // Image 1: width 3, constant 0.5 -> all 0 (std floored, no division blow-up).
        let mut px = vec![0.0f32; 2 * HEIGHT * w];
        for r in 0..HEIGHT {
            px[r * w] = 1.0;
            px[r * w + 1] = -1.0;
            for c in 0..3 {
                px[HEIGHT * w + r * w + c] = 0.5;
            }
        }
        standardize_in_batch(&mut px, &[2, 3], w);
        assert_eq!(&px[..w], &[1.0, -1.0, 0.0, 0.0]);
        assert!(px[HEIGHT * w..].iter().all(|&v| v == 0.0));
        // 0, 1, 2, 3 -> mean 1.5, std sqrt(1.25).
        let mut px = vec![0.0f32; HEIGHT * 4];
        for r in 0..HEIGHT {
            px[r * 4..r * 4 + 4].copy_from_slice(&[0.0, 1.0, 2.0, 3.0]);
        }
        standardize_in_batch(&mut px, &[4], 4);
        let s = 1.25f32.sqrt();
        for (got, want) in px[..4].iter().zip([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn pad_batch_layout() {
        let mk = |w: usize, v: f32| WordImage {
            text: "a".into(),
            pixels: Arc::new(vec![v; HEIGHT * w]),
            width: w,
            source: String::new(),
        };
        let (a, b) = (mk(5, 1.0), mk(2, -1.0));
        let (out, w) = pad_batch(&[&a, &b]);
        assert_eq!(w, 8);
        assert_eq!(out.len(), 2 * HEIGHT * 8);
        assert_eq!(&out[..8], &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let row = HEIGHT * 8 + 8 * 31;
        assert_eq!(
            &out[row..row + 8],
            &[-1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }
}
