//! `experiments run asr-oracle` training on corpora on disk (`data.source`): tiny
//! LibriSpeech-, Lhotse- and NeMo-style corpora of tone WAVs (written with hound through
//! `asr::audio::write_wav`) with 1-3 letter transcripts, at a scale below `--quick`.

use std::io::Write;
use std::path::{Path, PathBuf};

mod common;

use common::{bin, ok, run_dir};

/// Two steps per model, small batches, one student: the plumbing, not the method.
const SETS: &[&str] = &[
    "diagnostics_examples=4",
    "teacher.train.steps=2",
    "oracle.train.steps=2",
    "student.train.steps=2",
    "teacher.train.eval_every=2",
    "oracle.train.eval_every=2",
    "student.train.eval_every=2",
    "teacher.train.warmup=1",
    "oracle.train.warmup=1",
    "student.train.warmup=1",
    "teacher.train.batch_size=4",
    "oracle.train.batch_size=4",
    "student.train.batch_size=4",
];

const WORDS: [&str; 8] = ["A", "bc", "D e", "fgh", "I", "jk", "L!", "mno"];

/// A tone of `secs` at 16 kHz whose pitch depends on `i`, so utterances differ.
fn tone(i: usize, secs: f64) -> Vec<f32> {
    let f = 200.0 + 90.0 * i as f64;
    (0..(16_000.0 * secs) as usize)
        .map(|n| (0.4 * (std::f64::consts::TAU * f * n as f64 / 16_000.0).sin()) as f32)
        .collect()
}

fn wav(path: &Path, samples: &[f32]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    asr::audio::write_wav(path, samples, 16_000).unwrap();
}

fn gz(path: &Path, text: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
}

/// Run the preset on `source` (a TOML inline table) from `cwd`, with `extra` settings; return
/// the log and the run directory.
fn train(cwd: &Path, out: &Path, source: &str, extra: &[&str]) -> (String, PathBuf) {
    let mut cmd = bin();
    cmd.current_dir(cwd).args([
        "run",
        "asr-oracle",
        "--quick",
        "--no-progress",
        "--kd",
        "ctc",
    ]);
    for s in SETS {
        cmd.args(["--set", s]);
    }
    cmd.args(["--set", &format!("data.source={source}")]);
    for s in extra {
        cmd.args(["--set", s]);
    }
    let log = ok(cmd.arg("--out").arg(out));
    let out = cwd.join(out);
    let dir = run_dir(&out, "asr-oracle");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    // Header + conventional teacher + oracle + the CTC student.
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.lines().any(|l| l.contains(",student,")), "{csv}");
    // No espeak-ng corpus was made.
    let synth = out.join("data-cache/asr");
    assert!(!synth.exists(), "{log}");
    (log, dir)
}

fn says(log: &str, parts: &[&str]) {
    for p in parts {
        assert!(log.contains(p), "the log lacks {p:?}:\n{log}");
    }
}

#[test]
fn trains_on_a_librispeech_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Speakers 1 (train), 2 (dev), 3 (test); `ID.wav` where LibriSpeech has `ID.flac`.
    for (spk, n) in [(1, 8), (2, 4), (3, 4)] {
        let ch = d.join(format!("libri/{spk}/{spk}0"));
        let mut trans = String::new();
        for (i, word) in WORDS.iter().enumerate().take(n) {
            let id = format!("{spk}-{spk}0-{i:04}");
            wav(&ch.join(format!("{id}.wav")), &tone(i, 0.4));
            trans.push_str(&format!("{id} {}\n", word.to_uppercase()));
        }
        std::fs::write(ch.join(format!("{spk}-{spk}0.trans.txt")), trans).unwrap();
    }
    let lib = |spk: u32| d.join(format!("libri/{spk}")).display().to_string();
    let source = format!(
        r#"{{kind="librispeech", train="{}", dev="{}", test="{}"}}"#,
        lib(1),
        lib(2),
        lib(3)
    );
    let (log, dir) = train(d, &d.join("runs"), &source, &[]);
    let listing = d.join("libri/1/10/1-10.trans.txt");
    let bytes = std::fs::read(&listing).unwrap();
    says(
        &log,
        &[
            &format!(
                "train: librispeech listing {} ({} bytes, fnv1a {:016x})",
                listing.display(),
                bytes.len(),
                ctc_core::io::fnv1a(&bytes)
            ),
            "train: 8 utterances; 1 characters outside the vocabulary in 1 of 8 transcripts",
            "'!' x1",
            "dev: 4 utterances",
            "test: 4 utterances",
        ],
    );
    let cfg = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(cfg.contains("librispeech"), "{cfg}");
}

#[test]
fn trains_on_lhotse_cuts_and_recording_supervision_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Training: one 4 s recording cut into eight 0.4 s cuts (gzipped cuts manifest).
    let long: Vec<f32> = (0..8).flat_map(|i| tone(i, 0.5)).collect();
    wav(&d.join("lhotse/audio/train.wav"), &long);
    let rec = r#"{"id": "train-rec", "sources": [{"type": "file", "channels": [0], "source": "audio/train.wav"}], "sampling_rate": 16000, "num_samples": 64000, "duration": 4.0, "channel_ids": [0]}"#;
    let cuts: Vec<String> = (0..8)
        .map(|i| {
            let start = 0.5 * i as f64 + 0.05;
            format!(
                r#"{{"id": "cut-{i}", "start": {start}, "duration": 0.4, "channel": 0, "supervisions": [{{"id": "sup-{i}", "recording_id": "train-rec", "start": 0.0, "duration": 0.4, "channel": 0, "text": "{}", "speaker": "s{}"}}], "recording": {rec}, "type": "MonoCut"}}"#,
                WORDS[i],
                i % 2
            )
        })
        .collect();
    gz(&d.join("lhotse/train_cuts.jsonl.gz"), &cuts.join("\n"));
    // Dev and test: recordings + supervisions, one recording each, four segments.
    for split in ["dev", "test"] {
        let long: Vec<f32> = (0..4).flat_map(|i| tone(i + 2, 0.5)).collect();
        wav(&d.join(format!("lhotse/audio/{split}.wav")), &long);
        let rec = format!(
            r#"{{"id": "{split}-rec", "sources": [{{"type": "file", "channels": [0], "source": "audio/{split}.wav"}}], "sampling_rate": 16000, "num_samples": 32000, "duration": 2.0}}"#
        );
        std::fs::write(d.join(format!("lhotse/{split}_recordings.jsonl")), rec).unwrap();
        let sups: Vec<String> = (0..4)
            .map(|i| {
                format!(
                    r#"{{"id": "{split}-{i}", "recording_id": "{split}-rec", "start": {}, "duration": 0.4, "channel": 0, "text": "{}", "speaker": "x"}}"#,
                    0.5 * i as f64,
                    WORDS[i + 2]
                )
            })
            .collect();
        gz(
            &d.join(format!("lhotse/{split}_supervisions.jsonl.gz")),
            &sups.join("\n"),
        );
    }
    let p = |name: &str| d.join("lhotse").join(name).display().to_string();
    let source = format!(
        r#"{{kind="lhotse", train="{}", dev=["{}", "{}"], test=["{}", "{}"]}}"#,
        p("train_cuts.jsonl.gz"),
        p("dev_recordings.jsonl"),
        p("dev_supervisions.jsonl.gz"),
        p("test_recordings.jsonl"),
        p("test_supervisions.jsonl.gz"),
    );
    let (log, _) = train(d, &d.join("runs"), &source, &[]);
    says(
        &log,
        &[
            "train: lhotse listing ",
            "train_cuts.jsonl.gz (",
            "train: 8 utterances",
            "dev: lhotse listing ",
            "dev_recordings.jsonl (",
            "dev_supervisions.jsonl.gz (",
            "dev: 4 utterances",
            "test: 4 utterances",
        ],
    );
}

#[test]
fn trains_on_nemo_manifests_given_relative_to_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut lines: Vec<String> = (0..8)
        .map(|i| {
            wav(&d.join(format!("nemo/wav/train-{i}.wav")), &tone(i, 0.4));
            format!(
                r#"{{"audio_filepath": "wav/train-{i}.wav", "text": "{}", "duration": 0.4}}"#,
                WORDS[i]
            )
        })
        .collect();
    std::fs::write(d.join("nemo/train.jsonl"), lines.join("\n")).unwrap();
    for split in ["dev", "test"] {
        // Segments of one recording, by offset.
        let long: Vec<f32> = (0..4).flat_map(|i| tone(i + 3, 0.5)).collect();
        wav(&d.join(format!("nemo/wav/{split}.wav")), &long);
        lines = (0..4)
            .map(|i| {
                format!(
                    r#"{{"audio_filepath": "wav/{split}.wav", "text": "{}", "duration": 0.4, "offset": {}}}"#,
                    WORDS[i + 1],
                    0.5 * i as f64
                )
            })
            .collect();
        std::fs::write(d.join(format!("nemo/{split}.jsonl")), lines.join("\n")).unwrap();
    }
    let source =
        r#"{kind="nemo", train="nemo/train.jsonl", dev="nemo/dev.jsonl", test="nemo/test.jsonl"}"#;
    // Two augmented copies of each training line, every one through the telephone channel;
    // dev and test stay clean.
    let augment = "data.augment={copies=2, speed={factors=[0.9, 1.1]}, telephone={p=1.0}}";
    let (log, dir) = train(d, Path::new("runs"), source, &[augment]);
    says(
        &log,
        &[
            "train: nemo listing nemo/train.jsonl (",
            "dev: nemo listing nemo/dev.jsonl (",
            "train: 24 utterances",
            "train: 16 augmented copies (speed 0.9x ",
            "room 0; noise 0; telephone 16)",
            "dev: 4 utterances",
        ],
    );
    assert!(!log.contains("dev: 0 augmented"), "{log}");
    let cfg = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(cfg.contains("[data.augment]"), "{cfg}");
    assert!(d.join("runs").is_dir());
}

/// Word images from a TSV-indexed folder (`data.source.kind = "tsv"`): grey stripes whose
/// count depends on the label, 1-3 letter labels. No font is rendered.
#[test]
fn word_images_train_on_a_tsv_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let labels = ["ab", "c", "de", "fgh", "ij", "k", "lm", "nop"];
    for split in ["train", "dev", "test"] {
        let dir = d.join(split);
        std::fs::create_dir_all(&dir).unwrap();
        let mut index = String::new();
        for (i, label) in labels.iter().enumerate() {
            let (w, h) = (40 + 8 * i as u32, 32u32);
            let img = image::GrayImage::from_fn(w, h, |x, _| {
                image::Luma([if (x / (4 + i as u32)).is_multiple_of(2) {
                    30
                } else {
                    220
                }])
            });
            let name = format!("{i}.png");
            img.save(dir.join(&name)).unwrap();
            index.push_str(&format!("{name}\t{label}\n"));
        }
        // One unreadable entry in dev, skipped and counted under skip_bad.
        if split == "dev" {
            std::fs::write(dir.join("broken.png"), b"not an image").unwrap();
            index.push_str("broken.png\tq\n");
        }
        std::fs::write(dir.join("index.tsv"), index).unwrap();
    }
    let source = r#"data.source={kind="tsv", train="train/index.tsv", dev="dev/index.tsv", test="test/index.tsv", skip_bad=true}"#;
    let mut cmd = bin();
    cmd.current_dir(d).args([
        "run",
        "str-oracle",
        "--quick",
        "--no-progress",
        "--kd",
        "ctc",
    ]);
    for s in SETS.iter().chain([&source]) {
        cmd.args(["--set", s]);
    }
    let log = ok(cmd.args(["--out", "runs"]));
    says(
        &log,
        &[
            "train: 8 images from train/index.tsv (8 read, 0 skipped while reading)",
            "dev: 8 images from dev/index.tsv (8 read, 1 skipped while reading)",
        ],
    );
    assert!(!log.contains("rendered"), "{log}");
    let run = run_dir(&d.join("runs"), "str-oracle");
    let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // A bad source is refused before anything is read.
    let mut bad = bin();
    bad.current_dir(d).args([
        "run",
        "str-oracle",
        "--quick",
        "--set",
        r#"data.source={kind="lmdb", train="x"}"#,
        "--out",
        "runs",
    ]);
    let out = bad.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("data.source: dev: a path is required"),
        "{err}"
    );
}

/// `data.source.text`: Spanish transcripts with accents and digits kept, the alphabet read from
/// the training transcripts, and `eval` normalising references as the model's training did.
#[test]
fn trains_and_scores_with_a_configured_text_normalisation() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    const ES: [&str; 8] = [
        "S\u{ed}",
        "a\u{f1}o",
        "\u{bf}Qu\u{e9}?",
        "\u{f1}u 2",
        "\u{e9}l",
        "\u{d3}le",
        "s\u{e9}",
        "10",
    ];
    for (split, n) in [("train", 8), ("dev", 4), ("test", 4)] {
        let mut tsv = String::new();
        for (i, w) in ES.iter().enumerate().take(n) {
            let f = format!("wav/{split}-{i}.wav");
            wav(&d.join("es").join(&f), &tone(i, 0.4));
            tsv.push_str(&format!("{f}\t{w}\n"));
        }
        std::fs::write(d.join(format!("es/{split}.tsv")), tsv).unwrap();
    }
    let source = r#"{kind="tsv", train="es/train.tsv", dev="es/dev.tsv", test="es/test.tsv", text={letters="any", digits=true}}"#;
    let (log, dir) = train(d, Path::new("runs"), source, &[]);
    says(
        &log,
        &[
            "alphabet: 15 characters (\"012aeloqsu\u{e9}\u{ed}\u{f1}\u{f3} \"), from \
             data.source.text and the training transcripts",
            "train: 8 utterances; 2 characters outside the vocabulary in 1 of 8 transcripts",
        ],
    );
    let cfg = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(cfg.contains("letters = \"any\""), "{cfg}");
    // A reference the English default would leave empty scores under the model's own
    // normalisation.
    std::fs::write(d.join("es/one.tsv"), "wav/test-1.wav\t\u{d1}\n").unwrap();
    let text = ok(bin()
        .current_dir(d)
        .args(["eval", "--model"])
        .arg(dir.join("seed-0/teacher/model"))
        .args(["--manifest", "es/one.tsv"]));
    assert!(text.contains("WER"), "{text}");
}
