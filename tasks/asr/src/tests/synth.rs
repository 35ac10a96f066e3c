use std::collections::HashSet;

use crate::espeak::{fix_streamed_wav, list_voices, trim_silence};
use crate::features::Fbank;
use crate::manifest::check_transcript;
use crate::normalize::ENGLISH_CHARS;
use crate::synth::{synth_corpus, synth_split_audio, SynthConfig};

fn tiny(threads: usize) -> SynthConfig {
    SynthConfig {
        n_train: 6,
        n_dev: 2,
        n_test: 3,
        seed: 7,
        threads,
        progress: false,
        ..SynthConfig::default()
    }
}

fn variant(voice: &str) -> &str {
    voice.split_once('+').map(|(_, v)| v).unwrap_or(voice)
}

#[test]
fn tiny_corpus_is_valid_split_deterministic_and_cached() {
    let (accents, variants) = list_voices().unwrap();
    assert!(
        accents.len() >= 4 && variants.len() >= 20,
        "{accents:?} {variants:?}"
    );
    let d1 = tempfile::tempdir().unwrap();
    let a = synth_corpus(&tiny(4), None, d1.path()).unwrap();
    assert!(!a.from_cache);
    assert_eq!((a.train.len(), a.dev.len(), a.test.len()), (6, 2, 3));
    for u in a.train.iter().chain(&a.dev).chain(&a.test) {
        check_transcript(&u.text, ENGLISH_CHARS).unwrap();
        // 1-4 s of audio at 10 ms hop (400-sample window).
        assert!(
            (98..=398).contains(&u.n_frames),
            "{} has {} frames",
            u.id,
            u.n_frames
        );
        assert_eq!(u.feats.len(), u.n_frames * 80);
        assert!(u.feats.iter().all(|v| v.is_finite()));
    }
    let train_vars: HashSet<&str> = a.train.iter().map(|u| variant(&u.speaker)).collect();
    let train_texts: HashSet<&str> = a.train.iter().map(|u| u.text.as_str()).collect();
    for u in a.dev.iter().chain(&a.test) {
        assert!(
            !train_vars.contains(variant(&u.speaker)),
            "{} voice seen in training",
            u.speaker
        );
        assert!(
            !train_texts.contains(u.text.as_str()),
            "{:?} seen in training",
            u.text
        );
    }
    // Same seed, another thread count and folder: identical corpus.
    let d2 = tempfile::tempdir().unwrap();
    let b = synth_corpus(&tiny(1), None, d2.path()).unwrap();
    for (x, y) in a
        .train
        .iter()
        .zip(&b.train)
        .chain(a.test.iter().zip(&b.test))
    {
        assert_eq!(
            (&x.id, &x.text, &x.speaker, x.n_frames),
            (&y.id, &y.text, &y.speaker, y.n_frames)
        );
        assert_eq!(x.feats, y.feats);
    }
    // Second run reuses the cache; the thread count is not part of the key.
    let c = synth_corpus(&tiny(2), None, d1.path()).unwrap();
    assert!(c.from_cache);
    assert_eq!(c.dev[1].feats, a.dev[1].feats);
    // Another seed is another corpus (and another cache entry).
    let other = synth_corpus(&SynthConfig { seed: 8, ..tiny(4) }, None, d1.path()).unwrap();
    assert!(!other.from_cache);
    assert_ne!(other.train[0].feats, a.train[0].feats);
}

#[test]
fn streamed_wav_header_is_fixed_and_silence_trimmed() {
    let mut b = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00".to_vec();
    b.extend_from_slice(&[0u8; 16]);
    b.extend_from_slice(b"data\xff\xff\xff\x7f");
    b.extend_from_slice(&[1u8; 10]);
    let f = fix_streamed_wav(b);
    assert_eq!(
        u32::from_le_bytes(f[4..8].try_into().unwrap()),
        f.len() as u32 - 8
    );
    assert_eq!(u32::from_le_bytes(f[40..44].try_into().unwrap()), 10);
    let x: Vec<f32> = [0.0; 100]
        .iter()
        .chain(&[0.5, -1.0, 0.3])
        .chain(&[0.001; 50])
        .cloned()
        .collect();
    assert_eq!(
        trim_silence(&x, 0.01, 2),
        [0.0, 0.0, 0.5, -1.0, 0.3, 0.001, 0.001]
    );
}

#[test]
fn bad_synth_config_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    let bad = SynthConfig {
        min_secs: 5.0,
        ..tiny(1)
    };
    assert!(synth_corpus(&bad, None, d.path())
        .unwrap_err()
        .to_string()
        .contains("min_secs"));
}

#[test]
fn split_audio_is_the_audio_the_corpus_was_made_from() {
    let cfg = tiny(2);
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth_corpus(&cfg, None, dir.path()).unwrap();
    let fbank = Fbank::new(&cfg.features).unwrap();
    for (split, utts) in [("dev", &corpus.dev), ("test", &corpus.test)] {
        let audio = synth_split_audio(&cfg, split).unwrap();
        assert_eq!(audio.len(), utts.len());
        for (a, u) in audio.iter().zip(utts) {
            assert_eq!((&a.id, &a.text, &a.voice), (&u.id, &u.text, &u.speaker));
            let (feats, n) = fbank
                .compute(&a.samples, std::path::Path::new("x"))
                .unwrap();
            assert_eq!(n, u.n_frames);
            assert_eq!(&feats, u.feats.as_ref());
        }
    }
    assert!(synth_split_audio(&cfg, "valid").is_err());
}
