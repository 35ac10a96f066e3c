//! A speech run with a BPE vocabulary chosen by the preset (`data.vocab`), at a scale smaller
//! than `--quick`: the exported models carry the BPE, and `transcribe` decodes with it.

mod common;

use common::{bin, ok, run_dir};

/// Fewer utterances and steps than `--quick`. 48 classes over the 28 characters leaves 19
/// merges, which the ~100 training transcripts support (pairs seen at least twice).
const SETS: &[&str] = &[
    "data.vocab.kind=bpe",
    "data.vocab.size=48",
    "data.synth.n_train=100",
    "data.synth.n_dev=12",
    "data.synth.n_test=12",
    "diagnostics_examples=12",
    "teacher.train.steps=6",
    "oracle.train.steps=6",
    "student.train.steps=6",
    "teacher.train.eval_every=3",
    "oracle.train.eval_every=3",
    "student.train.eval_every=3",
    "teacher.train.warmup=2",
    "oracle.train.warmup=2",
    "student.train.warmup=2",
];

#[test]
fn bpe_vocabulary_from_the_preset_is_trained_exported_and_decoded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let mut cmd = bin();
    cmd.args([
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
    let log = ok(cmd.arg("--out").arg(out));
    assert!(
        log.contains("vocabulary: BPE of ") && log.contains(" from 100 training transcripts"),
        "{log}"
    );

    let dir = run_dir(out, "asr-oracle");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    // Header + conventional teacher + oracle + the CTC student.
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.lines().any(|l| l.contains(",student,")), "{csv}");

    let model = dir.join("seed-0/student-none-ctc/model");
    let vocab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("vocab.json")).unwrap()).unwrap();
    assert_eq!(vocab["kind"], "bpe", "{vocab}");
    let tokens = vocab["tokens"].as_array().unwrap();
    assert!(
        tokens.len() > 28 && tokens.len() < 48,
        "{} tokens",
        tokens.len()
    );
    // Merged tokens hold more than one character; every character is still a token.
    assert!(tokens
        .iter()
        .any(|t| t.as_str().unwrap().chars().count() > 1));
    for c in asr::ENGLISH_CHARS.chars() {
        assert!(tokens.iter().any(|t| t == &c.to_string()), "{c:?} missing");
    }

    let wav = out.join("a.wav");
    let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.3).sin() * 0.3).collect();
    asr::audio::write_wav(&wav, &tone, 16_000).unwrap();
    let text = ok(bin().args(["transcribe", "--model"]).arg(&model).arg(&wav));
    assert!(text.contains("a.wav\t"), "{text}");
}
