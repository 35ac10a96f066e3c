use std::path::Path;

use super::{fixtures, tone};
use crate::features::{hz_to_mel, mel_to_hz, CmvnMode, CmvnStats, Fbank, FeatureConfig, MelScale};

fn cfg(scale: MelScale) -> FeatureConfig {
    FeatureConfig {
        mel_scale: scale,
        ..FeatureConfig::default()
    }
}

#[test]
fn matches_independent_numpy_reference() {
    let text = std::fs::read_to_string(fixtures().join("fbank_ref.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let x: Vec<f32> = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap() as f32)
        .collect();
    let n_frames = v["n_frames"].as_u64().unwrap() as usize;
    for (key, scale) in [("htk", MelScale::Htk), ("slaney", MelScale::Slaney)] {
        let want: Vec<f64> = v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect();
        let (got, nf) = Fbank::new(&cfg(scale))
            .unwrap()
            .compute(&x, Path::new("ref"))
            .unwrap();
        assert_eq!(nf, n_frames);
        assert_eq!(got.len(), want.len());
        let max = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max);
        assert!(max < 2e-3, "{key}: max |rust - numpy| = {max}");
    }
}

#[test]
fn mel_scales_invert_and_hit_known_points() {
    for scale in [MelScale::Htk, MelScale::Slaney] {
        for f in [0.0, 300.0, 999.0, 1000.0, 4321.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(f, scale), scale) - f).abs() < 1e-6);
        }
    }
    // HTK: 1000 Hz is ~1000 mel by construction; Slaney: 15 mel at 1 kHz (linear 3 per 200 Hz).
    assert!((hz_to_mel(1000.0, MelScale::Htk) - 999.985).abs() < 1e-2);
    assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
}

#[test]
fn pure_tone_peaks_in_the_filter_centred_on_it() {
    for scale in [MelScale::Htk, MelScale::Slaney] {
        let fb = Fbank::new(&cfg(scale)).unwrap();
        let top = hz_to_mel(8000.0, scale);
        for m in [10usize, 25, 40, 60, 75] {
            // Centre of filter m is mel edge m + 1 of n_mels + 2 equally spaced edges.
            let f = mel_to_hz(top * (m + 1) as f64 / 81.0, scale);
            let (feats, nf) = fb
                .compute(&tone(16_000, f, 0.5, 0.5), Path::new("tone"))
                .unwrap();
            assert_eq!(nf, 1 + (8000 - 400) / 160);
            let row = &feats[20 * 80..21 * 80];
            let arg = (0..80).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(
                arg, m,
                "{scale:?}: tone {f:.1} Hz peaked in bin {arg}, want {m}"
            );
        }
    }
}

#[test]
fn filters_are_nonempty_triangles_and_silence_hits_the_floor() {
    for scale in [MelScale::Htk, MelScale::Slaney] {
        let fb = Fbank::new(&cfg(scale)).unwrap();
        for (m, row) in fb.filter_matrix().iter().enumerate() {
            let peak = row.iter().cloned().fold(0f32, f32::max);
            assert!(
                peak > 0.0 && peak <= 1.0 + 1e-6,
                "{scale:?} filter {m} peak {peak}"
            );
        }
        let (feats, nf) = fb.compute(&vec![0.0; 1000], Path::new("silence")).unwrap();
        assert_eq!(nf, 1 + (1000 - 400) / 160);
        assert!(feats.iter().all(|&v| (v - 1e-10f32.ln()).abs() < 1e-4));
    }
}

#[test]
fn too_short_audio_is_an_error_naming_the_file() {
    let e = Fbank::new(&FeatureConfig::default())
        .unwrap()
        .compute(&[0.1; 399], Path::new("x.wav"))
        .unwrap_err();
    assert!(
        e.to_string().contains("x.wav") && e.to_string().contains("too short"),
        "{e}"
    );
}

#[test]
fn utterance_cmvn_gives_zero_mean_unit_variance() {
    let c = FeatureConfig {
        cmvn: CmvnMode::Utterance,
        ..FeatureConfig::default()
    };
    let mut x = tone(16_000, 500.0, 0.5, 0.3);
    for (i, v) in x.iter_mut().enumerate() {
        *v += 0.2 * ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * (i as f32 / 8000.0);
    }
    let (f, nf) = Fbank::new(&c).unwrap().compute(&x, Path::new("u")).unwrap();
    for d in 0..80 {
        let col: Vec<f64> = (0..nf).map(|t| f[t * 80 + d] as f64).collect();
        let m = col.iter().sum::<f64>() / nf as f64;
        let v = col.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / nf as f64;
        assert!(
            m.abs() < 1e-4 && (v - 1.0).abs() < 1e-3,
            "dim {d}: mean {m} var {v}"
        );
    }
}

#[test]
fn cmvn_stats_hand_computed() {
    // Two utterances, 2 dims: frames (1,10), (3,10) | (5,10) plus a padded frame that must be ignored.
    let a = [1.0, 10.0, 3.0, 10.0];
    let b = [5.0, 10.0, 99.0, 99.0];
    let s = CmvnStats::from_feats([(&a[..], 2), (&b[..], 1)], 2);
    assert!((s.mean[0] - 3.0).abs() < 1e-6 && (s.mean[1] - 10.0).abs() < 1e-6);
    assert!((s.std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-5);
    assert_eq!(s.std[1], 1e-5, "constant dimension gets the floor, not 0");
    let mut x = vec![3.0 + (8.0f32 / 3.0).sqrt(), 10.0];
    s.apply(&mut x);
    assert!((x[0] - 1.0).abs() < 1e-5 && x[1].abs() < 1e-6);
}

#[test]
fn cmvn_modes_parse_and_global_is_rejected_with_what_to_use() {
    let parse = |v: &str| serde_json::from_str::<FeatureConfig>(&format!(r#"{{"cmvn": "{v}"}}"#));
    assert_eq!(parse("none").unwrap().cmvn, CmvnMode::None);
    assert_eq!(parse("utterance").unwrap().cmvn, CmvnMode::Utterance);
    let e = parse("global").unwrap_err().to_string();
    assert!(
        e.contains("cmvn = \"global\" is not supported") && e.contains("cmvn = \"utterance\""),
        "{e}"
    );
    let e = parse("speaker").unwrap_err().to_string();
    assert!(e.contains("speaker") && e.contains("utterance"), "{e}");
}

/// Release-build throughput: `cargo test --release -p asr --lib fbank_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn fbank_throughput() {
    let fb = Fbank::new(&FeatureConfig::default()).unwrap();
    let x = tone(16_000, 440.0, 3.0, 0.5);
    let n = 500;
    let t = std::time::Instant::now();
    let mut frames = 0;
    for _ in 0..n {
        frames += fb.compute(&x, Path::new("bench")).unwrap().1;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "fbank: {n} x 3 s utterances in {s:.3} s = {:.0} utt/s ({} frames each), one thread",
        n as f64 / s,
        frames / n
    );
}
