//! Audio files, speech manifests and LibriSpeech listings.

use std::path::Path;

use asr::audio::{load_audio, write_wav};
use asr::manifest::read_listing;
use asr::{load_manifest_corpus, FeatureConfig};
use ctc_core::rng::Rng;

use super::{says, text};

const MAX: f64 = asr::features::DEFAULT_MAX_SECONDS;

/// A PCM WAV file with every header field chosen by the caller; `declared` is the data
/// chunk's stated size, `data` what follows it.
fn wav(format: u16, channels: u16, rate: u32, bits: u16, declared: u32, data: &[u8]) -> Vec<u8> {
    let block = channels.wrapping_mul(bits / 8);
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36u32.wrapping_add(declared)).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&format.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&rate.wrapping_mul(block as u32).to_le_bytes());
    b.extend_from_slice(&block.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&declared.to_le_bytes());
    b.extend_from_slice(data);
    b
}

fn pcm(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| ((i as i16 % 200) * 50).to_le_bytes())
        .collect()
}

fn load(dir: &Path, name: &str, bytes: &[u8]) -> Result<Vec<f32>, asr::AsrError> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    load_audio(&p, MAX)
}

#[test]
fn bad_audio_files_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = wav(1, 1, 16_000, 16, 3200, &pcm(1600));
    assert_eq!(load(d, "good.wav", &good).unwrap().len(), 1600);
    let mut random = vec![0u8; 4096];
    let mut rng = Rng::new(7);
    random.iter_mut().for_each(|b| *b = rng.below(256) as u8);
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty.wav", Vec::new(), &["empty file"]),
        ("random.wav", random, &["not a supported audio file"]),
        (
            "cut.wav",
            good[..good.len() / 2].to_vec(),
            &["truncated audio"],
        ),
        ("hdr.wav", good[..40].to_vec(), &["truncated audio"]),
        // A header announcing no samples at all.
        ("zero.wav", wav(1, 1, 16_000, 16, 0, &[]), &["no samples"]),
        (
            "codec.wav",
            wav(0x1234, 1, 16_000, 16, 3200, &pcm(1600)),
            &["not a supported"],
        ),
        (
            "bits.wav",
            wav(1, 1, 16_000, 13, 3200, &pcm(1600)),
            &["not a supported"],
        ),
        (
            // symphonia panics on a zero rate; the panic is caught and reported.
            "rate0.wav",
            wav(1, 1, 0, 16, 3200, &pcm(1600)),
            &["the decoder failed"],
        ),
        (
            "rate1.wav",
            wav(1, 1, 1, 16, 3200, &pcm(1600)),
            &["sample rate 1 Hz is outside"],
        ),
        (
            "rate-huge.wav",
            wav(1, 1, 4_000_000_000, 16, 3200, &pcm(1600)),
            &["sample rate 4000000000 Hz is outside"],
        ),
        (
            "chan0.wav",
            wav(1, 0, 16_000, 16, 3200, &pcm(1600)),
            &["not a supported"],
        ),
        (
            "chan999.wav",
            wav(1, 999, 16_000, 16, 3200, &pcm(1600)),
            &["not a supported"],
        ),
        // Two hours declared (the file itself is short): refused from the header.
        (
            "hours.wav",
            wav(1, 1, 16_000, 16, 2 * 3600 * 32_000, &pcm(1600)),
            &["audio is 7200.0 s long, more than the limit of 60 s"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let msg = text(load(d, name, &bytes));
        says(&msg, &[name]);
        says(&msg, needles);
    }
}

#[test]
fn audio_over_the_length_limit_is_refused_and_the_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("two-seconds.wav");
    write_wav(&p, &vec![0.1; 32_000], 16_000).unwrap();
    assert_eq!(load_audio(&p, 2.0).unwrap().len(), 32_000);
    let msg = text(load_audio(&p, 1.5));
    says(&msg, &["two-seconds.wav", "2.0 s long", "limit of 1.5 s"]);
    // In a manifest the limit comes from the feature config; with skip_bad it is a counted skip.
    std::fs::write(dir.path().join("m.tsv"), "two-seconds.wav\thello\n").unwrap();
    let cfg = FeatureConfig {
        max_seconds: 1.0,
        ..Default::default()
    };
    let msg = text(load_manifest_corpus(
        &dir.path().join("m.tsv"),
        &cfg,
        &Default::default(),
        false,
    ));
    says(&msg, &["m.tsv:1", "more than the limit of 1 s"]);
    let msg = text(load_manifest_corpus(
        &dir.path().join("m.tsv"),
        &cfg,
        &Default::default(),
        true,
    ));
    says(&msg, &["no utterances found", "too long: 1"]);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let cfg = FeatureConfig {
            max_seconds: bad,
            ..Default::default()
        };
        says(&text(cfg.validate()), &["max_seconds must be"]);
    }
}

#[test]
fn bad_manifest_lines_are_named_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("corpus")).unwrap();
    write_wav(&d.join("corpus/a.wav"), &vec![0.1; 8000], 16_000).unwrap();
    write_wav(&d.join("outside.wav"), &vec![0.1; 8000], 16_000).unwrap();
    let m = d.join("corpus/train.tsv");
    let cfg = FeatureConfig::default();
    let lines: [(&str, &[&str]); 5] = [
        ("a.wav hello", &["train.tsv:2", "no tab"]),
        (
            "gone.wav\thello",
            &["train.tsv:2", "gone.wav", "file not found"],
        ),
        (
            "../outside.wav\thello",
            &["train.tsv:2", "leads out of the manifest's folder"],
        ),
        (
            "sub/../../outside.wav\thello",
            &["train.tsv:2", "leads out"],
        ),
        ("\thello", &["train.tsv:2", "empty audio path"]),
    ];
    for (line, needles) in lines {
        std::fs::write(&m, format!("a.wav\tfine\n{line}\n")).unwrap();
        says(
            &text(load_manifest_corpus(&m, &cfg, &Default::default(), false)),
            needles,
        );
        let (utts, rep) = load_manifest_corpus(&m, &cfg, &Default::default(), true).unwrap();
        assert_eq!((utts.len(), rep.total()), (1, 1), "{line}");
    }
    // An absolute path is an explicit choice and is read.
    let abs = format!("{}\tfine\n", d.join("outside.wav").display());
    std::fs::write(&m, abs).unwrap();
    assert_eq!(
        load_manifest_corpus(&m, &cfg, &Default::default(), false)
            .unwrap()
            .0
            .len(),
        1
    );
    // Invalid UTF-8 names its line.
    std::fs::write(&m, b"a.wav\tfine\na.wav\tfin\xffe\n").unwrap();
    says(
        &text(load_manifest_corpus(&m, &cfg, &Default::default(), true)),
        &["train.tsv:2", "not valid UTF-8"],
    );
    std::fs::write(&m, b"").unwrap();
    says(
        &text(load_manifest_corpus(&m, &cfg, &Default::default(), true)),
        &["train.tsv", "no utterances"],
    );
}

#[test]
fn bad_librispeech_listings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ch = dir.path().join("19/198");
    std::fs::create_dir_all(&ch).unwrap();
    let t = ch.join("19-198.trans.txt");
    std::fs::write(&t, "19-198-0000 GOOD\n../../x BAD\na/b BAD\n19-198-0003\n").unwrap();
    let (good, bad) = read_listing(dir.path(), &Default::default()).unwrap();
    assert_eq!(good.len(), 1);
    let msgs: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
    says(
        &msgs[0],
        &["19-198.trans.txt:2", "\"../../x\" is not a file name"],
    );
    says(&msgs[1], &["19-198.trans.txt:3", "\"a/b\""]);
    says(&msgs[2], &["19-198.trans.txt:4", "empty transcript"]);
    std::fs::write(&t, b"19-198-0000 GO\xc3\n").unwrap();
    says(
        &text(read_listing(dir.path(), &Default::default())),
        &["19-198.trans.txt:1", "not valid UTF-8"],
    );
    let empty = tempfile::tempdir().unwrap();
    says(
        &text(read_listing(empty.path(), &Default::default())),
        &["no *.trans.txt files"],
    );
}
