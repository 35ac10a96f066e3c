//! Loaders for real word-image datasets.
//!
//! - A folder with a TSV index: one `path<TAB>label` per line, paths relative to the TSV's
//!   folder (or absolute); an optional first line `path<TAB>label` is a header; blank lines are
//!   ignored. Images in PNG, JPEG or BMP (detected from content), any size, grey or colour.
//! - The LMDB layout of deep-text-recognition-benchmark: `num-samples` (decimal), and for
//!   i = 1..=n `image-%09d` (encoded image bytes) and `label-%09d` (UTF-8).
//!
//! Each bad example is an error naming its file and line (or key); with `skip_bad` it is
//! counted in the returned `SkipReport` instead. Loaded for scoring, an example is bad only
//! when its entry cannot be read: any label is kept (lower-cased as the alphabet says).

use std::path::Path;

use heed::types::Bytes;
use heed::{Database, EnvFlags, EnvOpenOptions};
use rayon::prelude::*;

use ctc_core::admit::Purpose;

use super::alphabet::Alphabet;
use super::error::{Result, SkipReport, StrError};
use super::normalize::{word_image, NormConfig, WordImage};

/// Decode an encoded image (PNG, JPEG, BMP, detected from content) within the size limits of
/// `cfg`: the dimensions are read from the header and checked before the pixels are decoded,
/// and the decoder is held to the same limits in case the header does not tell the truth.
pub fn decode_image(bytes: &[u8], cfg: &NormConfig, at: &str) -> Result<image::DynamicImage> {
    let unreadable = |msg: String| StrError::Unreadable {
        at: at.to_string(),
        msg,
    };
    if bytes.is_empty() {
        return Err(unreadable("empty file".into()));
    }
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| unreadable(e.to_string()))
    };
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| unreadable(e.to_string()))?;
    if let Some(e) = cfg.check_size(w, h, at) {
        return Err(e);
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(cfg.max_side);
    limits.max_image_height = Some(cfg.max_side);
    // 16-bit RGBA is 8 bytes a pixel, plus the decoders' own buffers.
    limits.max_alloc = Some(cfg.max_pixels.saturating_mul(16).max(1 << 20));
    let mut r = reader()?;
    r.limits(limits);
    r.decode().map_err(|e| unreadable(e.to_string()))
}

/// Read and decode an image file within the size limits of `cfg` (see `decode_image`).
pub fn read_image(path: &Path, cfg: &NormConfig) -> Result<image::DynamicImage> {
    let at = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| StrError::Unreadable {
        at: at.clone(),
        msg: e.to_string(),
    })?;
    decode_image(&bytes, cfg, &at)
}

/// Check the label first (cheap, and the most common real-data fault), then decode. For
/// scoring the label is only normalised: `StrTask::examples` counts what training would refuse.
fn example(
    bytes: &[u8],
    raw_label: &str,
    at: String,
    cfg: &NormConfig,
    alphabet: &Alphabet,
    purpose: Purpose,
) -> Result<WordImage> {
    let label = match purpose {
        Purpose::Train => alphabet.check(raw_label, &at)?,
        Purpose::Score => alphabet.normalize(raw_label),
    };
    let img = decode_image(bytes, cfg, &at)?;
    word_image(&img, label, cfg, at, purpose)
}

fn collect(
    results: Vec<Result<WordImage>>,
    skip_bad: bool,
) -> Result<(Vec<WordImage>, SkipReport)> {
    let mut report = SkipReport::default();
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(w) => out.push(w),
            Err(e) => report.skip_or_fail(e, skip_bad)?,
        }
    }
    report.kept = out.len();
    Ok((out, report))
}

/// Load a TSV-indexed folder of word images (see the module doc for the format).
pub fn load_folder(
    tsv_path: &Path,
    cfg: &NormConfig,
    alphabet: &Alphabet,
    purpose: Purpose,
    skip_bad: bool,
) -> Result<(Vec<WordImage>, SkipReport)> {
    let bytes = std::fs::read(tsv_path).map_err(|e| StrError::Io {
        path: tsv_path.to_path_buf(),
        source: e,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..upto].iter().filter(|&&c| c == b'\n').count();
        StrError::Format {
            at: format!("{}:{line}", tsv_path.display()),
            msg: "not valid UTF-8".into(),
        }
    })?;
    let base = tsv_path.parent().unwrap_or(Path::new("."));
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", tsv_path.display(), i + 1);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || (i == 0 && line.eq_ignore_ascii_case("path\tlabel")) {
            continue;
        }
        let Some((path, label)) = line.split_once('\t') else {
            return Err(StrError::Format {
                at,
                msg: format!("expected `path<TAB>label`, got {line:?}"),
            });
        };
        if ctc_core::io::leaves_folder(Path::new(path)) {
            items.push(Err(StrError::BadPath {
                at,
                msg: format!(
                    "image path {path:?} leads out of the index's folder (give an absolute \
                     path to use a file outside it)"
                ),
            }));
            continue;
        }
        items.push(Ok((at, base.join(path), label.to_string())));
    }
    let results: Vec<Result<WordImage>> = items
        .into_par_iter()
        .map(|item| {
            let (at, path, label) = item?;
            let at = format!("{at} ({})", path.display());
            let bytes = std::fs::read(&path).map_err(|e| StrError::Unreadable {
                at: at.clone(),
                msg: e.to_string(),
            })?;
            example(&bytes, &label, at, cfg, alphabet, purpose)
        })
        .collect();
    collect(results, skip_bad)
}

fn lmdb_err(dir: &Path) -> impl Fn(heed::Error) -> StrError + '_ {
    move |e| StrError::Lmdb {
        at: dir.display().to_string(),
        msg: e.to_string(),
    }
}

/// Load a deep-text-recognition-benchmark LMDB folder (holding `data.mdb`). Opened read-only
/// without a lock file, so read-only dataset folders work; do not write to it meanwhile.
pub fn load_lmdb(
    dir: &Path,
    cfg: &NormConfig,
    alphabet: &Alphabet,
    purpose: Purpose,
    skip_bad: bool,
) -> Result<(Vec<WordImage>, SkipReport)> {
    if !dir.join("data.mdb").is_file() {
        return Err(StrError::Lmdb {
            at: dir.display().to_string(),
            msg: "no data.mdb in this folder".into(),
        });
    }
    // SAFETY: the map is read-only and the caller is told not to modify the files while
    // loading; NO_LOCK only drops LMDB's reader table, which a lone reader does not need.
    let env = unsafe {
        EnvOpenOptions::new()
            .flags(EnvFlags::READ_ONLY | EnvFlags::NO_LOCK)
            .max_dbs(1)
            .open(dir)
    }
    .map_err(lmdb_err(dir))?;
    let result = read_all(&env, dir, cfg, alphabet, purpose, skip_bad);
    env.prepare_for_closing().wait();
    result
}

fn read_all(
    env: &heed::Env,
    dir: &Path,
    cfg: &NormConfig,
    alphabet: &Alphabet,
    purpose: Purpose,
    skip_bad: bool,
) -> Result<(Vec<WordImage>, SkipReport)> {
    let rtxn = env.read_txn().map_err(lmdb_err(dir))?;
    let db: Database<Bytes, Bytes> = env
        .open_database(&rtxn, None)
        .map_err(lmdb_err(dir))?
        .ok_or_else(|| StrError::Lmdb {
            at: dir.display().to_string(),
            msg: "no main database".into(),
        })?;
    let at_key = |k: &str| format!("{} [{k}]", dir.display());
    let n_raw = db
        .get(&rtxn, b"num-samples")
        .map_err(lmdb_err(dir))?
        .ok_or_else(|| StrError::Format {
            at: dir.display().to_string(),
            msg: "missing key \"num-samples\": not a deep-text-recognition-benchmark LMDB".into(),
        })?;
    let n: usize = std::str::from_utf8(n_raw)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| StrError::Format {
            at: at_key("num-samples"),
            msg: format!("not a number: {:?}", String::from_utf8_lossy(n_raw)),
        })?;
    // The count decides the allocation and the keys read: check it against the entries the
    // database holds (one `num-samples` plus an image and a label per sample).
    let entries = db.len(&rtxn).map_err(lmdb_err(dir))?;
    let expected = (n as u64).saturating_mul(2).saturating_add(1);
    if expected < entries {
        return Err(StrError::Format {
            at: at_key("num-samples"),
            msg: format!(
                "num-samples = {n}, but the database holds {entries} entries (expected \
                 {expected}): the count is wrong or the database holds other keys"
            ),
        });
    }
    if n as u64 > entries {
        return Err(StrError::Format {
            at: at_key("num-samples"),
            msg: format!("num-samples = {n} is more than the {entries} entries the database holds"),
        });
    }
    // Reading the raw bytes is fast and serial (one transaction); decoding is parallel.
    let mut raw: Vec<Result<(Vec<u8>, String, String)>> = Vec::with_capacity(n);
    for i in 1..=n {
        let (ik, lk) = (format!("image-{i:09}"), format!("label-{i:09}"));
        let get = |k: &str| db.get(&rtxn, k.as_bytes()).map_err(lmdb_err(dir));
        let item = match (get(&lk)?, get(&ik)?) {
            (None, _) => Err(StrError::MissingKey {
                at: dir.display().to_string(),
                key: lk,
            }),
            (_, None) => Err(StrError::MissingKey {
                at: dir.display().to_string(),
                key: ik,
            }),
            (Some(l), Some(img)) => match std::str::from_utf8(l) {
                Ok(l) => Ok((img.to_vec(), l.to_string(), at_key(&ik))),
                Err(_) => Err(StrError::UnknownChars {
                    at: at_key(&lk),
                    label: String::from_utf8_lossy(l).into_owned(),
                    chars: vec![char::REPLACEMENT_CHARACTER],
                }),
            },
        };
        raw.push(item);
    }
    drop(rtxn);
    let results: Vec<Result<WordImage>> = raw
        .into_par_iter()
        .map(|r| r.and_then(|(img, label, at)| example(&img, &label, at, cfg, alphabet, purpose)))
        .collect();
    collect(results, skip_bad)
}
