use super::{fixtures, peak_freq, power_at, tone, MAX};
use crate::audio::{decode_file, load_audio, write_wav, write_wav_channels};
use crate::error::AsrError;

#[test]
fn wav_round_trip_16k_mono() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.wav");
    let x = tone(16_000, 440.0, 0.3, 0.6);
    write_wav(&p, &x, 16_000).unwrap();
    let y = load_audio(&p, MAX).unwrap();
    assert_eq!(y.len(), x.len());
    let max_err = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // Quantisation (1/2 LSB) plus symphonia's 1/32768 vs our 1/32767 scaling.
    assert!(max_err <= 2.0 / 32767.0, "max error {max_err}");
}

#[test]
fn stereo_is_averaged_to_mono() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.wav");
    let l = tone(16_000, 300.0, 0.1, 0.5);
    let r: Vec<f32> = l.iter().map(|v| -0.5 * v + 0.1).collect();
    write_wav_channels(&p, &[&l, &r], 16_000).unwrap();
    let d = decode_file(&p, MAX).unwrap();
    assert_eq!(
        (d.channels, d.sample_rate, d.samples.len()),
        (2, 16_000, l.len())
    );
    for i in 0..l.len() {
        let want = (l[i] + r[i]) / 2.0;
        assert!((d.samples[i] - want).abs() < 2.0 / 32767.0, "sample {i}");
    }
}

#[test]
fn resampling_8k_to_16k_keeps_tone_frequency_and_timing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t8k.wav");
    write_wav(&p, &tone(8_000, 1_000.0, 0.5, 0.5), 8_000).unwrap();
    let y = load_audio(&p, MAX).unwrap();
    assert_eq!(y.len(), 8_000);
    let mid = &y[2_000..6_000];
    assert!((peak_freq(mid, 16_000, 200.0, 4_000.0) - 1_000.0).abs() <= 2.0);
    // No delay left in: the resampled tone lines up with a 16 kHz tone (correlation ~ 1).
    let r = tone(16_000, 1_000.0, 0.5, 0.5);
    let dot: f64 = mid
        .iter()
        .zip(&r[2_000..6_000])
        .map(|(a, b)| (a * b) as f64)
        .sum();
    let norm: f64 = mid.iter().map(|a| (a * a) as f64).sum::<f64>().sqrt()
        * r[2_000..6_000]
            .iter()
            .map(|a| (a * a) as f64)
            .sum::<f64>()
            .sqrt();
    assert!(dot / norm > 0.99, "correlation {}", dot / norm);
    // Amplitude kept (RMS of a 0.5 sine is 0.3536).
    let rms = (mid.iter().map(|v| (v * v) as f64).sum::<f64>() / mid.len() as f64).sqrt();
    assert!((rms - 0.3536).abs() < 0.01, "rms {rms}");
}

#[test]
fn flac_stereo_22050_fixture_decodes_downmixes_and_resamples() {
    let p = fixtures().join("tone_stereo_22050.flac");
    let d = decode_file(&p, MAX).unwrap();
    assert_eq!(
        (d.sample_rate, d.channels, d.samples.len()),
        (22_050, 2, 11_025)
    );
    let y = load_audio(&p, MAX).unwrap();
    assert_eq!(y.len(), 8_000);
    let mid = &y[2_000..6_000];
    let (p440, p880, p660) = (
        power_at(mid, 16_000, 440.0),
        power_at(mid, 16_000, 880.0),
        power_at(mid, 16_000, 660.0),
    );
    // Both channels' tones survive the mix at equal level; nothing in between.
    assert!((p440 / p880 - 1.0).abs() < 0.05, "{p440} vs {p880}");
    assert!(p660 < p440 * 1e-3);
}

#[test]
fn ogg_vorbis_fixture_decodes() {
    let y = load_audio(&fixtures().join("tone_8k.ogg"), MAX).unwrap();
    assert_eq!(y.len(), 8_000, "gapless decoding trims the Vorbis padding");
    let f = peak_freq(&y[2_000..6_000], 16_000, 200.0, 4_000.0);
    assert!((f - 1_000.0).abs() <= 2.0, "peak {f}");
}

#[test]
fn bad_audio_files_give_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let check = |name: &str, err: AsrError, kind: &str| {
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(err.to_string().contains(name), "{err} does not name {name}");
    };
    check(
        "nope.wav",
        load_audio(&d.join("nope.wav"), MAX).unwrap_err(),
        "missing file",
    );
    std::fs::write(d.join("empty.wav"), b"").unwrap();
    check(
        "empty.wav",
        load_audio(&d.join("empty.wav"), MAX).unwrap_err(),
        "empty file",
    );
    std::fs::write(d.join("text.wav"), b"hello, this is not audio at all\n").unwrap();
    check(
        "text.wav",
        load_audio(&d.join("text.wav"), MAX).unwrap_err(),
        "not audio",
    );
    // A WAV cut in half: the header still declares the full length.
    let full = d.join("full.wav");
    write_wav(&full, &tone(16_000, 440.0, 0.5, 0.5), 16_000).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(d.join("cut.wav"), &bytes[..bytes.len() / 2]).unwrap();
    check(
        "cut.wav",
        load_audio(&d.join("cut.wav"), MAX).unwrap_err(),
        "truncated audio",
    );
    // Only the 44-byte header: a valid file with nothing in it.
    std::fs::write(d.join("hdr.wav"), &bytes[..44]).unwrap();
    let e = load_audio(&d.join("hdr.wav"), MAX).unwrap_err();
    assert!(["no samples", "truncated audio"].contains(&e.kind()), "{e}");
    // A FLAC missing its second half.
    let flac = std::fs::read(fixtures().join("tone_stereo_22050.flac")).unwrap();
    std::fs::write(d.join("cut.flac"), &flac[..flac.len() * 4 / 5]).unwrap();
    check(
        "cut.flac",
        load_audio(&d.join("cut.flac"), MAX).unwrap_err(),
        "truncated audio",
    );
    // Cut inside the metadata blocks (flac writes an 8 KiB padding block first).
    std::fs::write(d.join("head.flac"), &flac[..flac.len() / 2]).unwrap();
    check(
        "head.flac",
        load_audio(&d.join("head.flac"), MAX).unwrap_err(),
        "truncated audio",
    );
    // A folder is not audio.
    check(
        "sub",
        load_audio(
            &{
                let s = d.join("sub");
                std::fs::create_dir(&s).unwrap();
                s
            },
            MAX,
        )
        .unwrap_err(),
        "not audio",
    );
}
