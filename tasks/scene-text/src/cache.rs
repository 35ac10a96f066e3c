//! The corpus cache file: all splits' normalised images (as u8 grey, exact for rendered
//! images) and labels in one file, written atomically.
//!
//! Layout: magic `OTSTRC01`, u64 key, u64 JSON header length, JSON header (fonts, counts),
//! then per example: u32 width, u32 text bytes, text, u32 source bytes, source,
//! `HEIGHT * width` grey bytes. Little-endian.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::corpus::SplitFonts;
use super::error::{Result, StrError};
use super::normalize::{WordImage, HEIGHT};

const MAGIC: &[u8; 8] = b"OTSTRC01";

#[derive(Serialize, Deserialize)]
struct Header {
    fonts: SplitFonts,
    counts: [usize; 3],
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StrError + '_ {
    move |e| StrError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn grey_bytes(im: &WordImage) -> Vec<u8> {
    im.pixels
        .iter()
        .map(|&v| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
        .collect()
}

pub fn write(path: &Path, key: u64, fonts: &SplitFonts, splits: [&[WordImage]; 3]) -> Result<()> {
    let header = Header {
        fonts: fonts.clone(),
        counts: splits.map(|s| s.len()),
    };
    let json = serde_json::to_vec(&header).map_err(|e| StrError::Format {
        at: path.display().to_string(),
        msg: e.to_string(),
    })?;
    ctc_core::io::write_atomic_with(path, |tmp| {
        let mut w = BufWriter::new(std::fs::File::create(tmp)?);
        let mut buf = Vec::new();
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&key.to_le_bytes());
        buf.extend_from_slice(&(json.len() as u64).to_le_bytes());
        buf.extend_from_slice(&json);
        w.write_all(&buf)?;
        for split in splits {
            for im in split {
                let mut b = Vec::with_capacity(16 + im.pixels.len());
                b.extend_from_slice(&(im.width as u32).to_le_bytes());
                b.extend_from_slice(&(im.text.len() as u32).to_le_bytes());
                b.extend_from_slice(im.text.as_bytes());
                b.extend_from_slice(&(im.source.len() as u32).to_le_bytes());
                b.extend_from_slice(im.source.as_bytes());
                b.extend_from_slice(&grey_bytes(im));
                w.write_all(&b)?;
            }
        }
        w.flush()
    })
    .map_err(io(path))
}

fn bad(path: &Path, msg: &str) -> StrError {
    StrError::Format {
        at: path.display().to_string(),
        msg: format!("corrupt corpus cache: {msg}"),
    }
}

fn read_u32(r: &mut impl Read, path: &Path) -> Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(io(path))?;
    Ok(u32::from_le_bytes(b))
}

fn read_string(r: &mut impl Read, path: &Path) -> Result<String> {
    let n = read_u32(r, path)? as usize;
    if n > 1 << 20 {
        return Err(bad(path, "string too long"));
    }
    let mut b = vec![0u8; n];
    r.read_exact(&mut b).map_err(io(path))?;
    String::from_utf8(b).map_err(|_| bad(path, "string not UTF-8"))
}

/// `Ok(None)` if there is no cache file; an error if it exists but cannot be used.
pub fn read(path: &Path, key: u64, fonts: &SplitFonts) -> Result<Option<[Vec<WordImage>; 3]>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let mut r = BufReader::new(f);
    let mut head = [0u8; 24];
    r.read_exact(&mut head).map_err(io(path))?;
    if &head[..8] != MAGIC {
        return Err(bad(path, "bad magic"));
    }
    if u64::from_le_bytes(head[8..16].try_into().unwrap_or_default()) != key {
        return Err(bad(path, "key differs from its file name"));
    }
    let n = u64::from_le_bytes(head[16..24].try_into().unwrap_or_default()) as usize;
    if n > 1 << 30 {
        return Err(bad(path, "header too long"));
    }
    let mut json = vec![0u8; n];
    r.read_exact(&mut json).map_err(io(path))?;
    let header: Header =
        serde_json::from_slice(&json).map_err(|e| bad(path, &format!("header: {e}")))?;
    if &header.fonts != fonts {
        return Err(bad(path, "font lists differ from the current ones"));
    }
    let mut out: [Vec<WordImage>; 3] = Default::default();
    for (split, &count) in out.iter_mut().zip(&header.counts) {
        split.reserve(count);
        for _ in 0..count {
            let width = read_u32(&mut r, path)? as usize;
            if width == 0 || width > 1 << 16 {
                return Err(bad(path, "bad width"));
            }
            let text = read_string(&mut r, path)?;
            let source = read_string(&mut r, path)?;
            let mut g = vec![0u8; HEIGHT * width];
            r.read_exact(&mut g).map_err(io(path))?;
            let pixels = g.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
            split.push(WordImage {
                text,
                pixels: Arc::new(pixels),
                width,
                source,
            });
        }
    }
    Ok(Some(out))
}
