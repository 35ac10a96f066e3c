//! Drawing one synthetic word image.
//!
//! Order of the pipeline, chosen to mimic a camera crop: glyph coverage mask (font, size,
//! spacing) -> projective warp of the mask (rotation, shear, perspective) -> composite over a
//! textured background (colour contrast guaranteed) -> blur, resolution loss, sensor noise ->
//! JPEG round trip. All draws come from the caller's `Rng`, so an image is a pure function of
//! (font, text, config, seed).

use ab_glyph::{point, Font, FontArc, PxScale, ScaleFont};
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};
use imageproc::geometric_transformations::{warp_into, Interpolation, Projection};
use serde::{Deserialize, Serialize};

use ctc_core::rng::Rng;

/// How strongly images are distorted. The defaults keep words legible to a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Distortion {
    /// Font size range in pixels (before normalisation to height 32).
    pub min_px: usize,
    pub max_px: usize,
    pub max_rotation_deg: f64,
    /// Horizontal shear, as a fraction of the height.
    pub max_shear: f64,
    /// Corner displacement for perspective, as a fraction of the height.
    pub perspective: f64,
    /// Minimum luminance difference of text and background, in [0, 1].
    pub min_contrast: f64,
    pub p_blur: f64,
    pub p_lowres: f64,
    pub p_jpeg: f64,
    /// Largest standard deviation of pixel noise, in grey levels.
    pub max_noise: f64,
}

impl Default for Distortion {
    fn default() -> Self {
        Self {
            min_px: 16,
            max_px: 56,
            max_rotation_deg: 4.0,
            max_shear: 0.25,
            perspective: 0.06,
            min_contrast: 0.4,
            p_blur: 0.4,
            p_lowres: 0.25,
            p_jpeg: 0.4,
            max_noise: 12.0,
        }
    }
}

fn sym(rng: &mut Rng, a: f64) -> f64 {
    (2.0 * rng.uniform() - 1.0) * a
}

/// The glyph coverage mask of `text`, with random margins; `None` if nothing has an outline.
fn glyph_mask(font: &FontArc, text: &str, px: f32, rng: &mut Rng) -> Option<GrayImage> {
    let sf = font.as_scaled(PxScale::from(px));
    // Mostly slight tracking, sometimes wide letter-spacing, rarely tight.
    let spacing = px * (-0.04 + 0.3 * rng.uniform().powi(2)) as f32;
    let mut x = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::new();
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            x += sf.kern(p, id);
        }
        let g = id.with_scale_and_position(px, point(x, sf.ascent()));
        if let Some(o) = sf.outline_glyph(g) {
            glyphs.push(o);
        }
        x += sf.h_advance(id) + spacing;
        prev = Some(id);
    }
    let first = glyphs.first()?.px_bounds();
    let (mut x0, mut y0, mut x1, mut y1) = (first.min.x, first.min.y, first.max.x, first.max.y);
    for g in &glyphs {
        let b = g.px_bounds();
        x0 = x0.min(b.min.x);
        y0 = y0.min(b.min.y);
        x1 = x1.max(b.max.x);
        y1 = y1.max(b.max.y);
    }
    let m = |rng: &mut Rng, lo: f64, hi: f64| px * (lo + (hi - lo) * rng.uniform()) as f32;
    let (ml, mr, mt, mb) = (
        m(rng, 0.03, 0.4),
        m(rng, 0.03, 0.4),
        m(rng, 0.03, 0.3),
        m(rng, 0.03, 0.3),
    );
    let w = (x1 - x0 + ml + mr).ceil().max(1.0) as u32;
    let h = (y1 - y0 + mt + mb).ceil().max(1.0) as u32;
    let mut mask = GrayImage::new(w, h);
    for g in &glyphs {
        let b = g.px_bounds();
        let (ox, oy) = (b.min.x - x0 + ml, b.min.y - y0 + mt);
        g.draw(|gx, gy, cov| {
            let (xx, yy) = (ox as i64 + gx as i64, oy as i64 + gy as i64);
            if xx >= 0 && yy >= 0 && (xx as u32) < w && (yy as u32) < h {
                let p = mask.get_pixel_mut(xx as u32, yy as u32);
                p[0] = p[0].max((cov.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        });
    }
    Some(mask)
}

/// Rotation, shear and corner jitter as one projective map, applied to the mask; the output
/// is sized to hold the whole warped rectangle.
fn warp_mask(mask: &GrayImage, d: &Distortion, rng: &mut Rng) -> GrayImage {
    let (w, h) = (mask.width() as f64, mask.height() as f64);
    let theta = sym(rng, d.max_rotation_deg).to_radians();
    let shear = sym(rng, d.max_shear);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let src = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let mut dst = [(0.0f64, 0.0f64); 4];
    for (i, &(x, y)) in src.iter().enumerate() {
        let xs = x + shear * (cy - y);
        let (dx, dy) = (xs - cx, y - cy);
        dst[i] = (
            cx + dx * theta.cos() - dy * theta.sin() + sym(rng, d.perspective * h),
            cy + dx * theta.sin() + dy * theta.cos() + sym(rng, d.perspective * h),
        );
    }
    let minx = dst.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let miny = dst.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let maxx = dst.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let maxy = dst.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let to = dst.map(|(x, y)| ((x - minx) as f32, (y - miny) as f32));
    let from = src.map(|(x, y)| (x as f32, y as f32));
    let Some(proj) = Projection::from_control_points(from, to) else {
        return mask.clone();
    };
    let ow = (maxx - minx).ceil().max(1.0) as u32;
    let oh = (maxy - miny).ceil().max(1.0) as u32;
    let mut out = GrayImage::new(ow, oh);
    warp_into(mask, &proj, Interpolation::Bilinear, Luma([0]), &mut out);
    out
}

fn luminance(c: [f64; 3]) -> f64 {
    (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255.0
}

/// Background and text colours whose luminances differ by at least `min_contrast`.
fn colours(rng: &mut Rng, min_contrast: f64) -> ([f64; 3], [f64; 3]) {
    let rand_rgb = |rng: &mut Rng| [0; 3].map(|_: i32| rng.uniform() * 255.0);
    let bg = rand_rgb(rng);
    for _ in 0..32 {
        let fg = rand_rgb(rng);
        if (luminance(fg) - luminance(bg)).abs() >= min_contrast {
            return (bg, fg);
        }
    }
    // A mid-grey background with no colour far enough: use black or white text.
    let fg = if luminance(bg) > 0.5 {
        [0.0; 3]
    } else {
        [255.0; 3]
    };
    if (luminance(fg) - luminance(bg)).abs() >= min_contrast {
        (bg, fg)
    } else {
        ([255.0; 3], [0.0; 3])
    }
}

/// A smooth random field in [-1, 1]: bilinear interpolation of a coarse random grid.
fn value_noise(w: u32, h: u32, cell: f64, rng: &mut Rng) -> Vec<f64> {
    let gw = (w as f64 / cell).ceil() as usize + 2;
    let gh = (h as f64 / cell).ceil() as usize + 2;
    let grid: Vec<f64> = (0..gw * gh).map(|_| sym(rng, 1.0)).collect();
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        let fy = y as f64 / cell;
        let (iy, ty) = (fy as usize, fy.fract());
        for x in 0..w {
            let fx = x as f64 / cell;
            let (ix, tx) = (fx as usize, fx.fract());
            let g = |i: usize, j: usize| grid[j * gw + i];
            let top = g(ix, iy) * (1.0 - tx) + g(ix + 1, iy) * tx;
            let bot = g(ix, iy + 1) * (1.0 - tx) + g(ix + 1, iy + 1) * tx;
            out.push(top * (1.0 - ty) + bot * ty);
        }
    }
    out
}

/// Text colour over a textured background through the mask. The texture's amplitude is
/// bounded by the contrast margin, so text stays readable.
fn composite(mask: &GrayImage, px: f32, d: &Distortion, rng: &mut Rng) -> RgbImage {
    let (w, h) = mask.dimensions();
    let (bg, fg) = colours(rng, d.min_contrast);
    let margin = ((luminance(fg) - luminance(bg)).abs() - d.min_contrast * 0.6).max(0.0);
    let amp = 255.0 * margin * rng.uniform() * 0.5;
    let grad = sym(rng, 1.0);
    let noise = value_noise(w, h, px as f64 * (0.3 + 2.0 * rng.uniform()), rng);
    let vertical = rng.bernoulli(0.5);
    let shadow = rng.bernoulli(0.15).then(|| {
        let s = (px as f64 / 16.0).max(1.0);
        (sym(rng, s).round() as i64, sym(rng, s).round() as i64)
    });
    let shadow_col = bg.map(|c| c * 0.4);
    let mut img = RgbImage::new(w, h);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let t = if vertical {
            y as f64 / h as f64
        } else {
            x as f64 / w as f64
        } - 0.5;
        let tex = amp * (0.5 * grad * t + 0.5 * noise[(y * w + x) as usize]);
        let mut c = bg.map(|v| v + tex);
        if let Some((sx, sy)) = shadow {
            let (qx, qy) = (x as i64 - sx, y as i64 - sy);
            if qx >= 0 && qy >= 0 && (qx as u32) < w && (qy as u32) < h {
                let a = mask.get_pixel(qx as u32, qy as u32)[0] as f64 / 255.0;
                c = [0, 1, 2].map(|k| c[k] * (1.0 - a) + shadow_col[k] * a);
            }
        }
        let a = mask.get_pixel(x, y)[0] as f64 / 255.0;
        *p = Rgb([0, 1, 2].map(|k| (c[k] * (1.0 - a) + fg[k] * a).round().clamp(0.0, 255.0) as u8));
    }
    img
}

/// Camera and compression degradations.
fn degrade(mut img: RgbImage, px: f32, d: &Distortion, rng: &mut Rng) -> RgbImage {
    if rng.bernoulli(d.p_blur) {
        let sigma = (px as f64 / 32.0 * (0.3 + 1.2 * rng.uniform())) as f32;
        img = imageproc::filter::gaussian_blur_f32(&img, sigma.max(0.1));
    }
    if rng.bernoulli(d.p_lowres) {
        let f = 1.5 + 1.5 * rng.uniform();
        let (w, h) = img.dimensions();
        let (sw, sh) = (
            ((w as f64 / f) as u32).max(1),
            ((h as f64 / f) as u32).max(1),
        );
        let small = image::imageops::resize(&img, sw, sh, image::imageops::FilterType::Triangle);
        img = image::imageops::resize(&small, w, h, image::imageops::FilterType::Triangle);
    }
    let std = d.max_noise * rng.uniform();
    if std > 0.5 {
        for p in img.pixels_mut() {
            let n = rng.normal() * std;
            for v in p.0.iter_mut() {
                *v = (*v as f64 + n + 0.3 * rng.normal() * std)
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
    }
    if rng.bernoulli(d.p_jpeg) {
        let q = 10 + rng.below(61) as u8;
        let mut buf = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, q);
        if img.write_with_encoder(enc).is_ok() {
            if let Ok(dec) = image::load_from_memory(&buf) {
                img = dec.to_rgb8();
            }
        }
    }
    img
}

/// Render `text` in `font`. `None` only if the font draws none of its characters, which
/// font discovery rules out.
pub fn render_word(
    font: &FontArc,
    text: &str,
    d: &Distortion,
    rng: &mut Rng,
) -> Option<DynamicImage> {
    let px = rng.range(d.min_px, d.max_px.max(d.min_px)) as f32;
    let mask = glyph_mask(font, text, px, rng)?;
    let warped = warp_mask(&mask, d, rng);
    let img = composite(&warped, px, d, rng);
    Some(DynamicImage::ImageRgb8(degrade(img, px, d, rng)))
}
