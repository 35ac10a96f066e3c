//! Audio decoding (WAV, FLAC, Ogg Vorbis via symphonia), down-mixing to mono and resampling to
//! the 16 kHz the features expect.
//!
//! Truncation is detected by comparing the decoded length with the length the container
//! declares: symphonia treats an early end of file as a normal end of stream, so without that
//! check a half-copied file would silently become a shorter utterance.

use std::fs::File;
use std::path::Path;

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::error::{AsrError, Result};

/// The sample rate every utterance is converted to before feature extraction.
pub const TARGET_SAMPLE_RATE: u32 = 16_000;

/// Sample rates a header may declare: below or above these it is broken (or not speech), and
/// resampling from it would need absurd filter sizes.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Decoded mono audio at its original sample rate.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
}

/// Decode a file of at most `max_seconds` and return mono samples at 16 kHz.
pub fn load_audio(path: &Path, max_seconds: f64) -> Result<Vec<f32>> {
    let d = decode_file(path, max_seconds)?;
    resample(&d.samples, d.sample_rate, TARGET_SAMPLE_RATE).map_err(|detail| AsrError::Decode {
        path: path.to_path_buf(),
        detail,
    })
}

/// Decode a file to mono at its own sample rate; longer than `max_seconds` is an error, found
/// from the header before decoding when the header declares the length.
pub fn decode_file(path: &Path, max_seconds: f64) -> Result<Decoded> {
    let meta = std::fs::metadata(path).map_err(|e| AsrError::io(path, e))?;
    if meta.is_dir() {
        return Err(AsrError::NotAudio {
            path: path.to_path_buf(),
            detail: "is a directory".into(),
        });
    }
    if meta.len() == 0 {
        return Err(AsrError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(|e| AsrError::io(path, e))?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_source(Box::new(file), ext, path, max_seconds)
}

/// Decode an in-memory file (e.g. a synthesiser's output) of at most `max_seconds`; `name` is
/// used in error messages.
pub fn decode_bytes(
    bytes: Vec<u8>,
    ext: Option<&str>,
    name: &Path,
    max_seconds: f64,
) -> Result<Decoded> {
    if bytes.is_empty() {
        return Err(AsrError::EmptyFile {
            path: name.to_path_buf(),
        });
    }
    let src = ReadOnlySource::new(std::io::Cursor::new(bytes));
    decode_source(Box::new(src), ext, name, max_seconds)
}

/// symphonia panics on some malformed headers (a WAV sample rate of 0 builds a zero time base);
/// such a file is a decode error naming it, not a crash of the whole load.
fn decode_source(
    src: Box<dyn MediaSource>,
    ext: Option<&str>,
    path: &Path,
    max_seconds: f64,
) -> Result<Decoded> {
    let run = std::panic::AssertUnwindSafe(|| decode_unguarded(src, ext, path, max_seconds));
    std::panic::catch_unwind(run).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(AsrError::Decode {
            path: path.to_path_buf(),
            detail: format!("the decoder failed on this file ({why})"),
        })
    })
}

fn decode_unguarded(
    src: Box<dyn MediaSource>,
    ext: Option<&str>,
    path: &Path,
    max_seconds: f64,
) -> Result<Decoded> {
    let not_audio = |detail: String| AsrError::NotAudio {
        path: path.to_path_buf(),
        detail,
    };
    let decode_err = |detail: String| AsrError::Decode {
        path: path.to_path_buf(),
        detail,
    };
    let mss = MediaSourceStream::new(src, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            // Gapless: trim codec padding to the container's real length (Vorbis pads blocks).
            &FormatOptions {
                enable_gapless: true,
                ..Default::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            // The container started but ended inside its header.
            SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                AsrError::Truncated {
                    path: path.to_path_buf(),
                    detail: format!("file ends inside the header ({io})"),
                }
            }
            e => not_audio(e.to_string()),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| not_audio("no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let sample_rate = params
        .sample_rate
        .ok_or_else(|| not_audio("no sample rate in header".into()))?;
    if !SAMPLE_RATES.contains(&sample_rate) {
        return Err(not_audio(format!(
            "sample rate {sample_rate} Hz is outside {}..={} Hz",
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        )));
    }
    let too_long = |samples: u64| AsrError::TooLong {
        path: path.to_path_buf(),
        seconds: samples as f64 / sample_rate as f64,
        max: max_seconds,
    };
    let max_samples = (max_seconds * sample_rate as f64).floor() as u64;
    let declared = params.n_frames;
    if let Some(n) = declared.filter(|&n| n > max_samples) {
        return Err(too_long(n));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| not_audio(format!("unsupported codec: {e}")))?;

    let mut mono: Vec<f32> = Vec::new();
    let mut channels = params.channels.map(|c| c.count()).unwrap_or(1);
    let mut buf: Option<SampleBuffer<f32>> = None;
    let mut cut_short = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                cut_short = Some(e.to_string());
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet after good audio means the tail is missing or corrupt.
            Err(SymError::DecodeError(e)) if !mono.is_empty() => {
                cut_short = Some(e.to_string());
                break;
            }
            Err(SymError::IoError(e)) if !mono.is_empty() => {
                cut_short = Some(e.to_string());
                break;
            }
            Err(e) => return Err(decode_err(e.to_string())),
        };
        let spec = *decoded.spec();
        channels = spec.channels.count().max(1);
        let need = decoded.capacity() as u64;
        let sb = match &mut buf {
            Some(b) if b.capacity() as u64 >= need * channels as u64 => b,
            _ => buf.insert(SampleBuffer::new(need, spec)),
        };
        sb.copy_interleaved_ref(decoded);
        // Mono by averaging channels: keeps the level comparable to a mono recording.
        let scale = 1.0 / channels as f32;
        mono.extend(
            sb.samples()
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() * scale),
        );
        // Without a declared length (a streamed file) the limit is checked as samples arrive.
        if mono.len() as u64 > max_samples {
            return Err(too_long(mono.len() as u64));
        }
    }
    if let Some(n) = declared {
        if (mono.len() as u64) < n {
            return Err(AsrError::Truncated {
                path: path.to_path_buf(),
                detail: format!(
                    "header declares {n} samples, only {} decoded{}",
                    mono.len(),
                    cut_short.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            });
        }
    } else if let Some(e) = cut_short {
        return Err(AsrError::Truncated {
            path: path.to_path_buf(),
            detail: e,
        });
    }
    // Codecs decode whole blocks (Vorbis pads the last one); the header's length is the truth.
    if let Some(n) = declared {
        mono.truncate(n as usize);
    }
    if mono.is_empty() {
        return Err(AsrError::NoSamples {
            path: path.to_path_buf(),
        });
    }
    if mono.iter().any(|x| !x.is_finite()) {
        return Err(decode_err("non-finite samples".into()));
    }
    Ok(Decoded {
        samples: mono,
        sample_rate,
        channels,
    })
}

/// Resample a mono signal; the output has round(len * to / from) samples, aligned in time with
/// the input (the resampler's delay is removed).
pub fn resample(x: &[f32], from: u32, to: u32) -> std::result::Result<Vec<f32>, String> {
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    if from == 0 || to == 0 {
        return Err(format!("invalid sample rate {from} -> {to}"));
    }
    let chunk = 1024;
    let mut rs = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 1, 1)
        .map_err(|e| format!("resampler {from} -> {to}: {e}"))?;
    let want = ((x.len() as u64 * to as u64 + from as u64 / 2) / from as u64) as usize;
    let delay = rs.output_delay();
    let mut out: Vec<f32> = Vec::with_capacity(want + delay + chunk);
    let mut pos = 0;
    let err = |e: rubato::ResampleError| format!("resampling {from} -> {to}: {e}");
    while x.len() - pos >= rs.input_frames_next() {
        let n = rs.input_frames_next();
        let y = rs.process(&[&x[pos..pos + n]], None).map_err(err)?;
        out.extend_from_slice(&y[0]);
        pos += n;
    }
    if pos < x.len() {
        let y = rs.process_partial(Some(&[&x[pos..]]), None).map_err(err)?;
        out.extend_from_slice(&y[0]);
    }
    // Flush the delay line until the whole signal has come out.
    while out.len() < want + delay {
        let y = rs.process_partial::<&[f32]>(None, None).map_err(err)?;
        if y[0].is_empty() {
            break;
        }
        out.extend_from_slice(&y[0]);
    }
    let end = (delay + want).min(out.len());
    Ok(out[delay.min(end)..end].to_vec())
}

/// Write 16-bit PCM mono WAV atomically (temp file in the same folder, then rename).
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    write_wav_channels(path, &[samples], sample_rate)
}

/// Write 16-bit PCM WAV with one slice per channel (all the same length), atomically.
pub fn write_wav_channels(path: &Path, chans: &[&[f32]], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: chans.len() as u16,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| std::io::Error::other(e.to_string());
    ctc_core::io::write_atomic_with(path, |tmp| {
        let f = std::io::BufWriter::new(std::fs::File::create(tmp)?);
        let mut w = hound::WavWriter::new(f, spec).map_err(io)?;
        let n = chans.first().map(|c| c.len()).unwrap_or(0);
        for i in 0..n {
            for c in chans {
                let v = (c[i].clamp(-1.0, 1.0) * 32767.0).round() as i16;
                w.write_sample(v).map_err(io)?;
            }
        }
        w.finalize().map_err(io)
    })
    .map_err(|e| AsrError::io(path, e))
}
