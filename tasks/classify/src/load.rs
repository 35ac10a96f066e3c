//! Readers for the two forms an MNIST-style corpus comes in: LeCun's IDX files (raw, or gzipped
//! as Debian's `dataset-fashion-mnist` ships them) and a JSON array of `{"image", "label"}`
//! objects. Every problem is reported with the file it is in; nothing here panics on data.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A problem with one data file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct DataError {
    pub path: PathBuf,
    pub problem: String,
}

fn err(path: &Path, problem: impl Into<String>) -> DataError {
    DataError {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Images of one file: `n` row-major `rows x cols` grey images, one byte per pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.rows * self.cols).max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Largest data file read, after decompression: Fashion-MNIST's training images are 47 MB; a
/// gzip stream inflating beyond this is refused before it fills the memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The whole file, gunzipped when it starts with the gzip magic (whatever its name).
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    read_maybe_gz_within(path, MAX_FILE_BYTES)
}

fn read_maybe_gz_within(path: &Path, max_bytes: u64) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(max_bytes + 1)
            .read_to_end(&mut out)
            .map_err(|e| err(path, format!("corrupt gzip data: {e}")))?;
        if out.len() as u64 > max_bytes {
            return Err(err(
                path,
                format!("gzip data inflates to more than {max_bytes} bytes"),
            ));
        }
        return Ok(out);
    }
    Ok(bytes)
}

/// An IDX file of unsigned bytes with `ndims` dimensions: its dimensions and its data.
fn read_idx(path: &Path, ndims: u8) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bytes = read_maybe_gz(path)?;
    if bytes.len() < 4 {
        return Err(err(
            path,
            format!("{} bytes: too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(err(
            path,
            format!(
                "not an IDX file: magic {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 {ndims:02x}",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(err(
            path,
            format!(
                "IDX element type 0x{:02x}: only unsigned bytes (0x08) are read",
                bytes[2]
            ),
        ));
    }
    if bytes[3] != ndims {
        return Err(err(
            path,
            format!(
                "IDX file of {} dimensions, expected {ndims} ({})",
                bytes[3],
                if ndims == 3 { "images" } else { "labels" }
            ),
        ));
    }
    let header = 4 + 4 * ndims as usize;
    if bytes.len() < header {
        return Err(err(path, "truncated IDX header (dimension sizes missing)"));
    }
    let dims: Vec<usize> = (0..ndims as usize)
        .map(|d| {
            let b = &bytes[4 + 4 * d..8 + 4 * d];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let have = bytes.len() - header;
    // Three 32-bit sizes can multiply past 64 bits.
    let want = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            err(
                path,
                format!("header declares {dims:?}: an impossible size"),
            )
        })?;
    if have != want {
        return Err(err(
            path,
            format!(
                "header declares {dims:?} = {want} bytes of data, the file has {have}{}",
                if have < want { " (truncated)" } else { "" }
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// An IDX image file (`00 00 08 03`, then n, rows, cols).
pub fn idx_images(path: &Path) -> Result<Images, DataError> {
    let (dims, pixels) = read_idx(path, 3)?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(err(
            path,
            format!("images of {} x {} pixels", dims[1], dims[2]),
        ));
    }
    Ok(Images {
        rows: dims[1],
        cols: dims[2],
        pixels,
    })
}

/// An IDX label file (`00 00 08 01`, then n), each label checked to be below `n_classes`.
pub fn idx_labels(path: &Path, n_classes: usize) -> Result<Vec<u32>, DataError> {
    let (_, labels) = read_idx(path, 1)?;
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= n_classes)
    {
        return Err(err(
            path,
            format!("label {l} of example {i} is out of range (the task has {n_classes} classes, 0..{n_classes})"),
        ));
    }
    Ok(labels.iter().map(|&l| l as u32).collect())
}

/// Images and labels from an IDX pair, which must hold the same number of examples.
pub fn idx_pair(
    images: &Path,
    labels: &Path,
    n_classes: usize,
) -> Result<(Images, Vec<u32>), DataError> {
    let im = idx_images(images)?;
    let lb = idx_labels(labels, n_classes)?;
    if im.len() != lb.len() {
        return Err(err(
            labels,
            format!(
                "{} labels for the {} images of {}",
                lb.len(),
                im.len(),
                images.display()
            ),
        ));
    }
    Ok((im, lb))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonExample {
    image: Vec<f64>,
    label: i64,
}

/// A JSON array of `{"image": [rows * cols pixel values in 0..=pixel_max], "label": class}`.
/// Pixels are rescaled to bytes; an image of the wrong size, a pixel out of range or a label
/// outside `0..n_classes` is an error naming the example.
pub fn json_examples(
    path: &Path,
    rows: usize,
    cols: usize,
    pixel_max: f64,
    n_classes: usize,
) -> Result<(Images, Vec<u32>), DataError> {
    let (images, labels, _) = read_json(path, rows, cols, pixel_max, n_classes, false)?;
    Ok((images, labels))
}

/// `json_examples` that skips bad examples instead of failing on the first: the kept images and
/// labels, and one line per skipped example naming it and its problem. A file that is not such
/// a JSON array is still an error.
pub fn json_examples_skipping(
    path: &Path,
    rows: usize,
    cols: usize,
    pixel_max: f64,
    n_classes: usize,
) -> Result<(Images, Vec<u32>, Vec<String>), DataError> {
    read_json(path, rows, cols, pixel_max, n_classes, true)
}

fn read_json(
    path: &Path,
    rows: usize,
    cols: usize,
    pixel_max: f64,
    n_classes: usize,
    skip_bad: bool,
) -> Result<(Images, Vec<u32>, Vec<String>), DataError> {
    let text = read_maybe_gz(path)?;
    let items: Vec<JsonExample> = serde_json::from_slice(&text).map_err(|e| {
        err(
            path,
            format!(
                "line {} column {}: {e} (expected an array of {{\"image\": [...], \"label\": n}})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let mut pixels = Vec::with_capacity(items.len() * rows * cols);
    let mut labels = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    for (i, ex) in items.iter().enumerate() {
        if let Err(problem) = check_json_example(ex, rows, cols, pixel_max, n_classes) {
            let line = format!("example {i}: {problem}");
            if skip_bad {
                skipped.push(line);
                continue;
            }
            return Err(err(path, line));
        }
        pixels.extend(
            ex.image
                .iter()
                .map(|&v| (v / pixel_max * 255.0).round() as u8),
        );
        labels.push(ex.label as u32);
    }
    Ok((Images { rows, cols, pixels }, labels, skipped))
}

fn check_json_example(
    ex: &JsonExample,
    rows: usize,
    cols: usize,
    pixel_max: f64,
    n_classes: usize,
) -> Result<(), String> {
    if ex.image.len() != rows * cols {
        return Err(format!(
            "image of {} values, expected {rows} x {cols} = {}",
            ex.image.len(),
            rows * cols
        ));
    }
    if !(0..n_classes as i64).contains(&ex.label) {
        return Err(format!(
            "label {} is out of range (0..{n_classes})",
            ex.label
        ));
    }
    if let Some((j, v)) = ex
        .image
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && (0.0..=pixel_max).contains(*v)))
    {
        return Err(format!("pixel {j} = {v} is outside 0..={pixel_max}"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
