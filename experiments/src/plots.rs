//! PNG plots for a run: dev error against wall time (the teacher speed-up claim) and the
//! frame posteriors of several models on one example (where and how sharply CTC spikes fire).
//!
//! Text is rendered by plotters' pure-Rust `ab_glyph` backend from a TrueType file found on
//! disk, so neither fontconfig nor a C toolchain is needed to build or run.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;

/// Fonts tried first (Debian/Ubuntu, Fedora, Arch layouts); otherwise any .ttf under the roots.
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];
const FONT_ROOTS: &[&str] = &["/usr/share/fonts", "/usr/local/share/fonts"];
/// Overrides the search with an explicit font file.
const FONT_ENV: &str = "OT_PLOT_FONT";

fn find_ttf(dir: &Path, depth: usize) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    // Sorted so the same machine always picks the same font.
    entries.sort();
    let is_ttf = |p: &PathBuf| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ttf"));
    if let Some(f) = entries.iter().find(|p| p.is_file() && is_ttf(p)) {
        return Some(f.clone());
    }
    if depth == 0 {
        return None;
    }
    entries
        .iter()
        .filter(|p| p.is_dir())
        .find_map(|d| find_ttf(d, depth - 1))
}

fn locate_font() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var(FONT_ENV) {
        return Ok(PathBuf::from(p));
    }
    FONT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| FONT_ROOTS.iter().find_map(|r| find_ttf(Path::new(r), 4)))
        .ok_or_else(|| {
            format!(
                "no TrueType font found for plot text (looked for {} and any .ttf under {}); \
                 install one (e.g. `apt-get install fonts-dejavu-core`) or set {FONT_ENV}=/path/to/font.ttf",
                FONT_CANDIDATES.join(", "),
                FONT_ROOTS.join(", ")
            )
        })
}

/// Registers the font once per process as plotters' "sans-serif" (its default family).
fn ensure_font() -> Result<()> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let path = locate_font()?;
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read font {}: {e}", path.display()))?;
        // plotters keeps a 'static reference; the font lives as long as the process anyway.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{} is not a usable TrueType font", path.display()))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Renders into a temporary PNG next to `path`, then renames it into place.
fn render_atomic(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(
        &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    ) -> Result<(), Box<dyn Error>>,
) -> Result<()> {
    ensure_font()?;
    ctc_core::io::write_atomic_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        draw(&root)
            .and_then(|_| root.present().map_err(Into::into))
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .with_context(|| format!("cannot draw {}", path.display()))
}

fn check_finite(what: &str, xs: impl IntoIterator<Item = f64>) -> Result<()> {
    if xs.into_iter().any(|x| !x.is_finite()) {
        bail!("{what} contains a non-finite value");
    }
    Ok(())
}

/// Distinct, stable colours: one per series or token index (golden-ratio hue steps), so a
/// token has the same colour in every panel.
fn colour(i: usize) -> HSLColor {
    HSLColor((i as f64 * 0.618_034).fract(), 0.75, 0.45)
}

/// Dev error (%) against training wall time (s), one line per model, with the target dev error
/// as a dashed horizontal line: which teacher reaches the target first, and how much sooner.
pub fn plot_dev_curves(
    path: &Path,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
    target: Option<f64>,
) -> Result<()> {
    if series.iter().all(|(_, pts)| pts.is_empty()) {
        bail!("no dev-curve points to plot for {}", path.display());
    }
    for (label, pts) in series {
        check_finite(
            &format!("dev curve '{label}'"),
            pts.iter().flat_map(|&(x, y)| [x, y]),
        )?;
    }
    check_finite("target", target)?;
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let x_max = points.clone().map(|p| p.0).fold(0.0, f64::max).max(1e-9) * 1.02;
    let y_max = points
        .map(|p| p.1)
        .chain(target)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;
    render_atomic(path, (1000, 600), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 26))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("training time (s)")
            .y_desc("dev error (%)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(RGBColor(238, 238, 238))
            .label_style(("sans-serif", 16))
            .draw()?;
        for (i, (label, pts)) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(2))
                });
        }
        if let Some(t) = target {
            let style = BLACK.mix(0.6).stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new([(0.0, t), (x_max, t)], 8, 6, style))?
                .label(format!("target {t:.1} %"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        Ok(())
    })
}

/// A token's line is drawn only if it ever exceeds this probability: the rest would sit in
/// the bottom pixel row of the panel and only hide the blank curve.
const VISIBLE: f32 = 0.02;
/// A spike is named where the token is the frame's arg-max, at a local peak above this.
const SPIKE: f32 = 0.3;

/// Posteriors of several models on one example, one panel per model, frames on x: blank as a
/// grey line, each non-blank token as a coloured line named at its spikes, so spike positions
/// and sharpness can be compared between teachers and students.
pub fn plot_posteriors(
    path: &Path,
    title: &str,
    panels: &[(String, Vec<Vec<f32>>)],
    labels: &[String],
) -> Result<()> {
    if panels.is_empty() {
        bail!("no posterior panels to plot for {}", path.display());
    }
    for (name, post) in panels {
        if post.is_empty() {
            bail!("posteriors of '{name}' have no frames");
        }
        if let Some((t, row)) = post
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != labels.len())
        {
            bail!(
                "posteriors of '{name}': frame {t} has {} values but there are {} token labels",
                row.len(),
                labels.len()
            );
        }
        check_finite(
            &format!("posteriors of '{name}'"),
            post.iter().flatten().map(|&p| p as f64),
        )?;
    }
    let panel_h = 260;
    let height = 50 + panel_h * panels.len() as u32;
    render_atomic(path, (1200, height), |root| {
        root.fill(&WHITE)?;
        let body = root.titled(title, ("sans-serif", 26))?;
        for (area, (name, post)) in body.split_evenly((panels.len(), 1)).iter().zip(panels) {
            draw_panel(area, name, post, labels)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    name: &str,
    post: &[Vec<f32>],
    labels: &[String],
) -> Result<(), Box<dyn Error>> {
    let t_len = post.len();
    // The blank's colour is named in the caption: a legend box would sit on the blank line,
    // which runs along P = 1 for most frames.
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{name}   (grey: blank)"), ("sans-serif", 20))
        .margin(10)
        .margin_right(25)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..t_len as f64, 0.0f64..1.12)?;
    chart
        .configure_mesh()
        .x_desc("frame")
        .y_desc("P(token)")
        .y_labels(6)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 14))
        .draw()?;
    let prob = |t: usize, k: usize| post[t][k] as f64;
    // Frame t is drawn at its centre, t + 0.5, so the x axis spans exactly the T frames.
    let grey = RGBColor(150, 150, 150);
    chart.draw_series(LineSeries::new(
        (0..t_len).map(|t| (t as f64 + 0.5, prob(t, 0))),
        grey.stroke_width(2),
    ))?;
    for k in 1..labels.len() {
        if !(0..t_len).any(|t| post[t][k] > VISIBLE) {
            continue;
        }
        let c = colour(k);
        chart.draw_series(LineSeries::new(
            (0..t_len).map(|t| (t as f64 + 0.5, prob(t, k))),
            c.stroke_width(2),
        ))?;
        let spikes = (0..t_len).filter(|&t| {
            let p = post[t][k];
            let argmax = post[t].iter().all(|&q| q <= p);
            let peak = (t == 0 || post[t - 1][k] <= p) && (t + 1 == t_len || post[t + 1][k] < p);
            argmax && peak && p > SPIKE
        });
        let font = ("sans-serif", 16).into_font().color(&c);
        chart.draw_series(spikes.map(|t| {
            Text::new(
                labels[k].clone(),
                (t as f64 + 0.2, prob(t, k) + 0.09),
                font.clone(),
            )
        }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(path: &Path) -> image::RgbImage {
        image::open(path).unwrap().to_rgb8()
    }

    /// Pixels that are neither white nor grey-ish: the coloured curves were really drawn.
    fn coloured_pixels(img: &image::RgbImage) -> usize {
        img.pixels()
            .filter(|p| {
                let [r, g, b] = p.0.map(i32::from);
                r.max(g).max(b) - r.min(g).min(b) > 60
            })
            .count()
    }

    #[test]
    fn dev_curves_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.png");
        let series = vec![
            (
                "conventional teacher".to_string(),
                vec![(0.0, 100.0), (60.0, 70.0), (120.0, 45.0), (240.0, 38.0)],
            ),
            (
                "oracle teacher".to_string(),
                vec![(0.0, 100.0), (20.0, 60.0), (40.0, 39.0), (80.0, 30.0)],
            ),
        ];
        plot_dev_curves(&path, "asr: dev CER against time", &series, Some(40.0)).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), (1000, 600));
        assert!(coloured_pixels(&img) > 500, "curves missing");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left behind"
        );

        let err =
            plot_dev_curves(&path, "t", &[("a".into(), vec![(0.0, f64::NAN)])], None).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{err}");
        assert!(plot_dev_curves(&path, "t", &[("a".into(), vec![])], None).is_err());
    }

    /// Peaky posteriors: mostly blank, token k fires at frame `at` with probability 0.9.
    fn peaky(t_len: usize, v: usize, spikes: &[(usize, usize)]) -> Vec<Vec<f32>> {
        (0..t_len)
            .map(|t| {
                let mut row = vec![0.1 / (v - 1) as f32; v];
                row[0] = 0.9;
                if let Some(&(_, k)) = spikes.iter().find(|&&(at, _)| at == t) {
                    row[0] = 0.1 / (v - 1) as f32;
                    row[k] = 0.9;
                }
                row
            })
            .collect()
    }

    #[test]
    fn posteriors_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("post.png");
        let labels: Vec<String> = ["<b>", "c", "a", "t"].map(String::from).to_vec();
        let panels = vec![
            (
                "conventional teacher".to_string(),
                peaky(40, 4, &[(8, 1), (20, 2), (31, 3)]),
            ),
            (
                "oracle teacher".to_string(),
                peaky(40, 4, &[(5, 1), (15, 2), (26, 3)]),
            ),
            (
                "student (frame-kd from oracle)".to_string(),
                peaky(40, 4, &[(6, 1), (16, 2), (27, 3)]),
            ),
        ];
        plot_posteriors(&path, "posteriors: 'cat'", &panels, &labels).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), (1200, 50 + 3 * 260));
        assert!(coloured_pixels(&img) > 500, "token curves missing");

        let bad = vec![("m".to_string(), vec![vec![0.5f32, 0.5]])];
        let err = plot_posteriors(&path, "t", &bad, &labels)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("frame 0 has 2 values but there are 4 token labels"),
            "{err}"
        );
        assert!(plot_posteriors(&path, "t", &[], &labels).is_err());
    }
}
