//! Speech: audio files (WAV, FLAC, Ogg Vorbis), TSV manifests with their audio, LibriSpeech
//! listings.

use std::path::{Path, PathBuf};

use asr::audio::{load_audio, write_wav, write_wav_channels};
use asr::manifest::read_listing;
use asr::{load_manifest_corpus, Fbank, FeatureConfig};

use super::mutate::{cases, mutate_bytes, mutate_lines, run};
use super::{named, DEFAULT_CASES};

fn tone(sr: u32, secs: f64) -> Vec<f32> {
    (0..(sr as f64 * secs) as usize)
        .map(|i| (0.5 * (i as f64 * 0.07).sin()) as f32)
        .collect()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tasks/asr/tests/fixtures/asr")
}

/// Valid files to start from: 16 kHz mono and 8 kHz stereo WAV, the FLAC and Ogg fixtures.
fn audio_seeds(dir: &Path) -> Vec<(Vec<u8>, &'static str)> {
    let mono = dir.join("seed-mono.wav");
    write_wav(&mono, &tone(16_000, 0.1), 16_000).unwrap();
    let stereo = dir.join("seed-stereo.wav");
    let t = tone(8_000, 0.05);
    write_wav_channels(&stereo, &[&t, &t], 8_000).unwrap();
    let read = |p: &Path| std::fs::read(p).unwrap();
    vec![
        (read(&mono), "wav"),
        (read(&stereo), "wav"),
        (read(&fixtures().join("tone_stereo_22050.flac")), "flac"),
        (read(&fixtures().join("tone_8k.ogg")), "ogg"),
    ]
}

#[test]
fn fuzz_audio_files() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = audio_seeds(dir.path());
    let fbank = Fbank::new(&FeatureConfig::default()).unwrap();
    run("audio", 0xa0d1, cases(DEFAULT_CASES), |rng| {
        let (seed, ext) = &seeds[rng.below(seeds.len())];
        let bytes = mutate_bytes(seed, rng);
        // The extension is only a hint: sometimes give the wrong one.
        let ext = if rng.bernoulli(0.1) { "flac" } else { ext };
        let path = dir.path().join(format!("case.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        let max_seconds = if rng.bernoulli(0.2) { 0.02 } else { 60.0 };
        let samples = load_audio(&path, max_seconds).map_err(|e| named(e, "case."))?;
        fbank
            .compute(&samples, &path)
            .map(|_| ())
            .map_err(|e| named(e, "case."))
    });
}

/// A corpus folder with good and bad audio; a manifest over it is the seed.
fn corpus(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("wav")).unwrap();
    write_wav(&dir.join("wav/spk1-a.wav"), &tone(16_000, 0.3), 16_000).unwrap();
    write_wav(&dir.join("wav/spk2-b.wav"), &tone(8_000, 0.2), 8_000).unwrap();
    std::fs::write(dir.join("wav/empty.wav"), b"").unwrap();
    "# path<TAB>transcript\n\
     wav/spk1-a.wav\tHello, world!\n\
     wav/spk2-b.wav\tsecond line\n\
     wav/spk1-a.wav\tit's the third\n"
        .to_string()
}

#[test]
fn fuzz_speech_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let seed = corpus(dir.path());
    let path = dir.path().join("train.tsv");
    let cfg = FeatureConfig::default();
    run("speech-manifest", 0x7a5, cases(DEFAULT_CASES), |rng| {
        std::fs::write(&path, mutate_lines(&seed, '\t', rng)).unwrap();
        let skip_bad = rng.bernoulli(0.5);
        let (utts, report) = load_manifest_corpus(&path, &cfg, &Default::default(), skip_bad)
            .map_err(|e| named(e, "train.tsv"))?;
        // Nothing is lost silently: every listed entry was kept or counted.
        assert!(!utts.is_empty());
        assert!(skip_bad || report.is_empty(), "skips without skip_bad");
        Ok(())
    });
}

#[test]
fn fuzz_librispeech_listings() {
    let dir = tempfile::tempdir().unwrap();
    let chapter = dir.path().join("19/198");
    std::fs::create_dir_all(&chapter).unwrap();
    let trans = chapter.join("19-198.trans.txt");
    let seed = "19-198-0000 NORTHANGER ABBEY\n19-198-0001 THIS LITTLE WORK WAS FINISHED\n";
    run("librispeech-listing", 0x11b, cases(DEFAULT_CASES), |rng| {
        std::fs::write(&trans, mutate_lines(seed, ' ', rng)).unwrap();
        let (good, bad) =
            read_listing(dir.path(), &Default::default()).map_err(|e| named(e, "trans.txt"))?;
        for e in &good {
            // Every audio path stays in the chapter folder.
            assert_eq!(e.audio.parent(), Some(chapter.as_path()), "{:?}", e.audio);
        }
        for e in &bad {
            assert!(e.to_string().contains("19-198.trans.txt:"), "{e}");
        }
        Ok(())
    });
}
