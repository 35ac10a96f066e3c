use crate::augment::*;
use crate::corpus::Utterance;
use crate::features::{Fbank, FeatureConfig};
use ctc_core::rng::Rng;
use std::sync::Arc;

const SR: f32 = 16_000.0;

fn sine(f: f32, n: usize) -> Vec<f32> {
    super::tone(16_000, f as f64, n as f64 / 16_000.0, 0.5)
}

use crate::augment::power;

/// Upward zero crossings per second: the frequency of a pure tone.
fn frequency(x: &[f32]) -> f32 {
    let ups = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    ups as f32 * SR / x.len() as f32
}

#[test]
fn speed_changes_length_and_pitch_together() {
    let x = sine(500.0, 16_000);
    assert_eq!(speed(&x, 1.0).unwrap(), x);
    for f in [0.9f32, 1.1, 0.5] {
        let y = speed(&x, f).unwrap();
        let want = (x.len() as f32 / f).round() as usize;
        assert!(y.len().abs_diff(want) <= 1, "{f}: {} vs {want}", y.len());
        let got = frequency(&y[200..y.len() - 200]);
        assert!((got - 500.0 * f).abs() < 5.0, "{f}: {got} Hz");
    }
}

#[test]
fn fft_convolution_matches_the_direct_sum() {
    let mut rng = Rng::new(3);
    for (nx, nh) in [(1, 1), (7, 3), (50, 17), (33, 64)] {
        let x: Vec<f32> = (0..nx).map(|_| rng.normal() as f32).collect();
        let h: Vec<f32> = (0..nh).map(|_| rng.normal() as f32).collect();
        let got = convolve(&x, &h);
        assert_eq!(got.len(), nx);
        for (n, g) in got.iter().enumerate() {
            let want: f32 = (0..=n.min(nh - 1)).map(|k| h[k] * x[n - k]).sum();
            assert!((g - want).abs() < 1e-4, "({nx},{nh}) at {n}: {g} vs {want}");
        }
    }
}

#[test]
fn room_response_has_its_direct_path_decay_and_ratio() {
    let mut rng = Rng::new(5);
    let (rt60, drr) = (0.4f32, 6.0f32);
    let h = room_response(rt60, drr, 16_000, &mut rng);
    assert_eq!(h.len(), (rt60 * SR).ceil() as usize);
    assert_eq!(h[0], 1.0);
    // Silence for the pre-delay, at least one sample and at most 5 ms.
    let first = h[1..].iter().position(|v| *v != 0.0).unwrap() + 1;
    assert!((1..=81).contains(&first), "{first}");
    let tail: f32 = h[1..].iter().map(|v| v * v).sum();
    assert!((10.0 * (1.0 / tail).log10() - drr).abs() < 1e-3);
    // Energy falls 60 dB over rt60: the first tenth holds far more than the last tenth.
    let tenth = h.len() / 10;
    let e = |s: &[f32]| s.iter().map(|v| v * v).sum::<f32>();
    let ratio_db = 10.0 * (e(&h[1..tenth]) / e(&h[h.len() - tenth..])).log10();
    // Expected about 60 * 0.8 = 48 dB between their centres; noise makes it approximate.
    assert!((40.0..56.0).contains(&ratio_db), "{ratio_db}");
}

/// Mean power of the bins in [lo, hi) of the periodogram.
fn band_power(x: &[f32], lo: usize, hi: usize) -> f32 {
    let hz = 16_000.0 / x.len() as f64;
    (lo..hi)
        .map(|k| super::power_at(x, 16_000, k as f64 * hz) as f32)
        .sum::<f32>()
        / (hi - lo) as f32
}

#[test]
fn noise_colours_have_unit_power_and_their_slopes() {
    let n = 2048;
    for (colour, slope) in [
        (NoiseColour::White, 0.0f32),
        (NoiseColour::Pink, 1.0),
        (NoiseColour::Brown, 2.0),
    ] {
        let mut rng = Rng::new(11);
        let w = coloured_noise(colour, n, &mut rng);
        assert!((power(&w) - 1.0).abs() < 1e-4, "{colour:?}");
        // Power 4x lower in frequency should be 4^slope times higher (averaged over bins).
        let low = band_power(&w, 40, 80);
        let high = band_power(&w, 160, 320);
        let got = (low / high).log(4.0);
        assert!((got - slope).abs() < 0.35, "{colour:?}: slope {got}");
    }
}

#[test]
fn noise_is_added_at_the_drawn_snr() {
    let x = sine(300.0, 8000);
    for snr in [-5.0f32, 0.0, 10.0, 30.0] {
        let mut y = x.clone();
        add_noise(&mut y, NoiseColour::Pink, snr, &mut Rng::new(2));
        let noise: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
        let got = 10.0 * (power(&x) / power(&noise)).log10();
        assert!((got - snr).abs() < 0.01, "{snr}: {got}");
    }
}

#[test]
fn mu_law_keeps_ends_sign_and_order_within_its_step() {
    assert!((mu_law(1.0) - 1.0).abs() < 1e-6);
    assert!((mu_law(-1.0) + 1.0).abs() < 1e-6);
    assert_eq!(mu_law(2.0), mu_law(1.0));
    let xs: Vec<f32> = (-1000..=1000).map(|i| i as f32 / 1000.0).collect();
    let ys: Vec<f32> = xs.iter().map(|x| mu_law(*x)).collect();
    assert!(ys.windows(2).all(|w| w[0] <= w[1]), "not monotone");
    // 8-bit mu-law: about 3 % relative error above the small-signal region.
    for (x, y) in xs.iter().zip(&ys) {
        if x.abs() > 0.02 {
            assert!(((y - x) / x).abs() < 0.035, "{x}: {y}");
            assert_eq!(x.signum(), y.signum());
        }
    }
    // 256 levels at most.
    let mut levels: Vec<i64> = ys.iter().map(|y| (y * 1e6) as i64).collect();
    levels.dedup();
    assert!(levels.len() <= 256, "{}", levels.len());
}

#[test]
fn telephone_keeps_the_voice_band_only() {
    let n = 16_000;
    for (f, kept) in [
        (1000.0f32, true),
        (2500.0, true),
        (100.0, false),
        (6000.0, false),
    ] {
        let x = sine(f, n);
        let y = telephone(&x).unwrap();
        assert_eq!(y.len(), n);
        let r = power(&y[400..n - 400]) / power(&x[400..n - 400]);
        if kept {
            assert!((0.9..1.1).contains(&r), "{f} Hz: power ratio {r}");
        } else {
            assert!(r < 0.01, "{f} Hz: power ratio {r}");
        }
    }
    assert!(telephone(&[]).unwrap().is_empty());
}

#[test]
fn band_pass_is_an_ideal_filter() {
    let x: Vec<f32> = sine(500.0, 1600)
        .iter()
        .zip(sine(5000.0, 1600))
        .map(|(a, b)| a + b)
        .collect();
    let y = band_pass(&x, 300.0, 3400.0, 16_000);
    let want = sine(500.0, 1600);
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() < 1e-3);
    }
}

fn cfg_all() -> AugmentConfig {
    AugmentConfig {
        copies: 3,
        seed: 4,
        speed: Some(SpeedConfig::default()),
        room: Some(RoomConfig::default()),
        noise: Some(NoiseConfig::default()),
        telephone: Some(TelephoneConfig::default()),
    }
}

#[test]
fn copies_are_deterministic_per_utterance_and_copy() {
    let a = cfg_all();
    let x = sine(400.0, 12_000);
    let (c0, a0) = a.copy("utt-1", 0, &x).unwrap();
    assert_eq!(a.copy("utt-1", 0, &x).unwrap(), (c0.clone(), a0));
    assert_ne!(a.copy("utt-1", 1, &x).unwrap().0, c0);
    assert_ne!(a.copy("utt-2", 0, &x).unwrap().0, c0);
    let other_seed = AugmentConfig {
        seed: 5,
        ..a.clone()
    };
    assert_ne!(other_seed.copy("utt-1", 0, &x).unwrap().0, c0);
}

#[test]
fn every_switch_is_drawn_at_its_rate() {
    let a = AugmentConfig {
        copies: 1,
        seed: 1,
        speed: Some(SpeedConfig {
            factors: vec![0.9, 1.1],
        }),
        room: Some(RoomConfig {
            p: 0.25,
            ..RoomConfig::default()
        }),
        noise: Some(NoiseConfig {
            p: 0.5,
            colours: vec![NoiseColour::Brown],
            ..NoiseConfig::default()
        }),
        telephone: Some(TelephoneConfig { p: 0.0 }),
    };
    let x = sine(400.0, 1600);
    let mut r = AugmentReport::default();
    for i in 0..400 {
        let (y, applied) = a.copy(&format!("u{i}"), 0, &x).unwrap();
        let want = (x.len() as f32 / applied.speed).round() as usize;
        assert!(y.len().abs_diff(want) <= 1);
        if let Some((_, snr)) = applied.noise {
            assert!((5.0..=25.0).contains(&snr));
        }
        r.add(&applied);
    }
    assert_eq!(r.copies, 400);
    assert_eq!(r.telephone, 0);
    assert_eq!(r.speeds.values().sum::<usize>(), 400);
    assert!(r.speeds.values().all(|n| (150..250).contains(n)), "{r}");
    assert!((70..130).contains(&r.room), "{r}");
    assert_eq!(r.noise.keys().collect::<Vec<_>>(), [&NoiseColour::Brown]);
    assert!((160..240).contains(&r.noise[&NoiseColour::Brown]), "{r}");
    let text = r.to_string();
    assert!(
        text.starts_with("400 augmented copies (speed 0.9x "),
        "{text}"
    );
    assert!(text.contains("telephone 0)"), "{text}");
}

#[test]
fn utterances_follow_the_clean_one_with_their_features() {
    let a = cfg_all();
    let fbank = Fbank::new(&FeatureConfig::default()).unwrap();
    let x = sine(400.0, 16_000);
    let (feats, n_frames) = fbank.compute(&x, std::path::Path::new("u")).unwrap();
    let u = Utterance {
        id: "u".into(),
        text: "hello".into(),
        feats: Arc::new(feats),
        n_frames,
        speaker: "s1".into(),
    };
    let mut r = AugmentReport::default();
    let us = a.utterances(u.clone(), &x, &fbank, &mut r).unwrap();
    let ids: Vec<&str> = us.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["u", "u+aug0", "u+aug1", "u+aug2"]);
    assert_eq!(us[0].feats, u.feats);
    assert!(us.iter().all(|v| v.text == "hello" && v.speaker == "s1"));
    assert!(us[1..].iter().all(|v| v.feats != u.feats));
    assert_eq!(r.copies, 3);
    let mut merged = AugmentReport::default();
    merged.merge(&r);
    merged.merge(&r);
    assert_eq!(merged.copies, 6);
    assert_eq!(merged.speeds.values().sum::<usize>(), 6);
}

#[test]
fn bad_configs_are_rejected_naming_the_key() {
    let says = |a: AugmentConfig, want: &str| {
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    };
    assert!(cfg_all().validate().is_ok());
    says(
        AugmentConfig {
            copies: 0,
            ..cfg_all()
        },
        "copies = 0",
    );
    says(AugmentConfig::default(), "no augmentation switched on");
    says(
        AugmentConfig {
            speed: Some(SpeedConfig { factors: vec![] }),
            ..cfg_all()
        },
        "speed.factors is empty",
    );
    says(
        AugmentConfig {
            speed: Some(SpeedConfig {
                factors: vec![1.0, 3.0],
            }),
            ..cfg_all()
        },
        "speed.factors: 3 is outside",
    );
    says(
        AugmentConfig {
            room: Some(RoomConfig {
                p: 1.5,
                ..RoomConfig::default()
            }),
            ..cfg_all()
        },
        "augment.room.p: 1.5",
    );
    says(
        AugmentConfig {
            room: Some(RoomConfig {
                rt60_min: 0.9,
                rt60_max: 0.3,
                ..RoomConfig::default()
            }),
            ..cfg_all()
        },
        "augment.room.rt60",
    );
    says(
        AugmentConfig {
            noise: Some(NoiseConfig {
                snr_max_db: f32::NAN,
                ..NoiseConfig::default()
            }),
            ..cfg_all()
        },
        "augment.noise.snr_db",
    );
    says(
        AugmentConfig {
            noise: Some(NoiseConfig {
                colours: vec![],
                ..NoiseConfig::default()
            }),
            ..cfg_all()
        },
        "noise.colours is empty",
    );
    says(
        AugmentConfig {
            telephone: Some(TelephoneConfig { p: -0.1 }),
            ..cfg_all()
        },
        "augment.telephone.p",
    );
    let e = toml::from_str::<AugmentConfig>("copies = 1\nnoise = { colours = [\"purple\"] }")
        .unwrap_err()
        .to_string();
    assert!(e.contains("purple"), "{e}");
    let e = toml::from_str::<AugmentConfig>("copies = 1\nreverb = { p = 1 }")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field"), "{e}");
}
