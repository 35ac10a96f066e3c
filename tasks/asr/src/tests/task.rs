use std::sync::Arc;

use candle_core::{Device, Tensor};
use ctc_core::admit::Purpose;
use ctc_core::ctc::min_frames;
use ctc_core::params::ParamStore;
use ctc_core::task::{EncoderConfig, Fwd, Task};
use ctc_core::vocab::Vocab;

use crate::corpus::Utterance;
use crate::encoder::AsrEncoder;
use crate::task::AsrTask;

const N_MELS: usize = 4;

fn utt(id: &str, text: &str, n_frames: usize) -> Utterance {
    Utterance {
        id: id.into(),
        text: text.into(),
        feats: Arc::new(vec![0.0; n_frames * N_MELS]),
        n_frames,
        speaker: "s".into(),
    }
}

/// The fewest input frames the task accepts for `targets`.
fn shortest_accepted(targets: &[u32]) -> usize {
    (0..)
        .find(|&n| AsrEncoder::output_frames(n, 4) >= min_frames(targets))
        .unwrap()
}

#[test]
fn feasibility_frames_are_the_built_encoders_output_len() {
    let cfg = EncoderConfig {
        d_model: 8,
        layers: 1,
        heads: 2,
        d_ff: 16,
        dropout: 0.0,
        conv_channels: 4,
        kind: Default::default(),
        conv_kernel: None,
    };
    for sub in [2, 4] {
        let task = AsrTask::new(Vocab::chars("ab").unwrap(), N_MELS, None)
            .with_subsampling(sub)
            .unwrap();
        let enc = task
            .encoder(&cfg, ParamStore::new(0).vb(&Device::Cpu))
            .unwrap();
        for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 13, 16, 97, 120, 401] {
            assert_eq!(enc.output_len(n), AsrEncoder::output_frames(n, sub), "{n}");
            assert_eq!(task.ctc_frames(n), enc.output_len(n));
            // And both are what the convolutions really produce.
            let x = Tensor::zeros((1, n, N_MELS), candle_core::DType::F32, &Device::Cpu).unwrap();
            let out = enc.forward(&x, &[n], &mut Fwd::eval()).unwrap();
            assert_eq!(
                out.frames.dims3().unwrap().1,
                enc.output_len(n),
                "{sub}x, {n}"
            );
            assert_eq!(out.lens, vec![enc.output_len(n)]);
        }
        // 2x keeps every other input frame: 100 ms of features (10 frames) give 5 CTC frames.
        assert_eq!(enc.output_len(10), if sub == 2 { 5 } else { 3 });
    }
    let e = AsrTask::new(Vocab::chars("ab").unwrap(), N_MELS, None)
        .with_subsampling(3)
        .err()
        .unwrap();
    assert!(e.contains("subsampling 3"), "{e}");
}

#[test]
fn half_the_subsampling_admits_utterances_half_as_long() {
    let task = AsrTask::new(Vocab::chars("ab ").unwrap(), N_MELS, None);
    let fine = AsrTask::new(Vocab::chars("ab ").unwrap(), N_MELS, None)
        .with_subsampling(2)
        .unwrap();
    // "abab" needs 4 CTC frames: 13 feature frames at 4x, 7 at 2x.
    let utts = vec![utt("u1", "abab", 7), utt("u2", "abab", 13)];
    let coarse = task.examples(utts.clone(), true, Purpose::Train).unwrap();
    assert_eq!(coarse.examples.len(), 1);
    assert!(
        coarse.skipped[0].starts_with("u1: too short"),
        "{:?}",
        coarse.skipped
    );
    assert_eq!(
        fine.examples(utts, true, Purpose::Train)
            .unwrap()
            .examples
            .len(),
        2
    );
}

#[test]
fn too_short_utterances_are_named_or_skipped_at_the_exact_boundary() {
    let task = AsrTask::new(Vocab::chars("ab ").unwrap(), N_MELS, None);
    // "aab": a blank is needed between the two a's, so 4 frames after subsampling.
    let n = shortest_accepted(&[1, 1, 2]);
    assert_eq!(AsrEncoder::output_frames(n, 4), 4);
    let utts = vec![utt("u1", "aab", n), utt("u2", "aab", n - 1)];
    let a = task.examples(utts.clone(), true, Purpose::Train).unwrap();
    let (ok, skipped) = (a.examples, a.skipped);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].targets, vec![1, 1, 2]);
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].starts_with("u2: too short") && skipped[0].contains("4 needed"),
        "{}",
        skipped[0]
    );
    let e = task
        .examples(vec![utt("u3", "aab", n - 1)], false, Purpose::Train)
        .unwrap_err();
    assert!(e.starts_with("u3: too short"), "{e}");
    // Scoring keeps both, and names the one training could not use.
    let s = task.examples(utts, false, Purpose::Score).unwrap();
    assert_eq!(s.examples.len(), 2);
    assert_eq!(s.examples[1].targets, vec![1, 1, 2]);
    assert_eq!(s.untrainable, skipped);
}

#[test]
fn feasibility_is_counted_in_bpe_tokens_not_characters() {
    let texts: Vec<String> = ["ab ab ab", "ab ab", "ab ab ab ab"]
        .map(String::from)
        .to_vec();
    let vocab = Vocab::bpe("ab ", &texts, 8).unwrap();
    let targets = vocab.encode("ab ab ab").unwrap();
    assert!(targets.len() < 8, "{targets:?}");
    let task = AsrTask::new(vocab, N_MELS, None);
    // Too short for 8 characters, long enough for the tokens.
    let n = shortest_accepted(&targets);
    assert!(AsrEncoder::output_frames(n, 4) < 8);
    let a = task
        .examples(
            vec![utt("u1", "ab ab ab", n), utt("u2", "ab ab ab", n - 1)],
            true,
            Purpose::Train,
        )
        .unwrap();
    let (ok, skipped) = (a.examples, a.skipped);
    assert_eq!(ok.len(), 1, "{skipped:?}");
    assert_eq!(ok[0].targets, targets);
    assert_eq!(skipped.len(), 1);
}
