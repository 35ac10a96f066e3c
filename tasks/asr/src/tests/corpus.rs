use std::sync::Arc;

use super::{fixtures, tone};
use crate::audio::write_wav;
use crate::corpus::{load_manifest_corpus, load_utterances, save_utterances, Utterance};
use crate::features::FeatureConfig;
use crate::manifest::{check_transcript, read_tsv};
use crate::normalize::ENGLISH_CHARS;

#[test]
fn transcript_checks() {
    assert!(check_transcript("don't stop", ENGLISH_CHARS).is_ok());
    assert!(check_transcript("", ENGLISH_CHARS)
        .unwrap_err()
        .contains("empty"));
    assert!(check_transcript("a  b", ENGLISH_CHARS)
        .unwrap_err()
        .contains("spaces"));
    let e = check_transcript("abc1", ENGLISH_CHARS).unwrap_err();
    assert!(e.contains("'1'") && e.contains("byte 3"), "{e}");
}

/// A folder with a manifest mixing good and bad lines and bad audio.
fn messy_corpus() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("wav")).unwrap();
    write_wav(
        &d.join("wav/spk1-a.wav"),
        &tone(16_000, 300.0, 0.5, 0.5),
        16_000,
    )
    .unwrap();
    write_wav(&d.join("abs.wav"), &tone(8_000, 300.0, 0.25, 0.5), 8_000).unwrap();
    std::fs::write(d.join("wav/empty.wav"), b"").unwrap();
    std::fs::write(d.join("wav/junk.wav"), b"not audio").unwrap();
    let full = std::fs::read(d.join("wav/spk1-a.wav")).unwrap();
    std::fs::write(d.join("wav/cut.wav"), &full[..full.len() / 3]).unwrap();
    let m = format!(
        "# comment\n\
         wav/spk1-a.wav\tHello, World!\n\
         {}\tAbsolute path\n\
         no tab on this line\n\
         wav/spk1-a.wav\t 123 \n\
         \n\
         wav/missing.wav\tgone\n\
         wav/empty.wav\tempty\n\
         wav/junk.wav\tjunk\n\
         wav/cut.wav\tcut short\n",
        d.join("abs.wav").display()
    );
    let p = d.join("train.tsv");
    std::fs::write(&p, m).unwrap();
    (dir, p)
}

#[test]
fn tsv_parsing_resolves_paths_and_reports_bad_lines() {
    let (dir, p) = messy_corpus();
    let (good, bad) = read_tsv(&p, &Default::default()).unwrap();
    assert_eq!(good.len(), 6);
    assert_eq!(good[0].audio, dir.path().join("wav/spk1-a.wav"));
    assert_eq!(
        (good[0].text.as_str(), good[0].raw_text.as_str()),
        ("hello world", "Hello, World!")
    );
    assert_eq!((good[0].speaker.as_str(), good[0].line), ("spk1", 2));
    assert_eq!(good[1].audio, dir.path().join("abs.wav"));
    let msgs: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 2);
    assert!(
        msgs[0].contains("train.tsv:4:") && msgs[0].contains("no tab"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("train.tsv:5:") && msgs[1].contains("empty transcript"),
        "{}",
        msgs[1]
    );
}

#[test]
fn tsv_speaker_column_names_the_speaker_or_is_refused_when_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.tsv");
    std::fs::write(
        &p,
        "wav/bj/BJ1.wav\tHello\tbj\n\
         wav/19-198-0001.wav\tTwo columns\n\
         wav/a.wav\tBlank speaker\t \n\
         wav/a.wav\ttoo\tmany\tfields\n",
    )
    .unwrap();
    let (good, bad) = read_tsv(&p, &Default::default()).unwrap();
    let speakers: Vec<&str> = good.iter().map(|e| e.speaker.as_str()).collect();
    assert_eq!(speakers, ["bj", "19"]);
    assert_eq!(good[0].text, "hello");
    let msgs: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("m.tsv:3:") && msgs[0].contains("empty speaker"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].contains("m.tsv:4:") && msgs[1].contains("4 tab-separated fields"),
        "{msgs:?}"
    );
}

#[test]
fn manifest_corpus_fails_on_first_problem_or_skips_and_counts() {
    let (_dir, p) = messy_corpus();
    let c = FeatureConfig::default();
    let e = load_manifest_corpus(&p, &c, &Default::default(), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.tsv:4"), "{e}");
    let (utts, report) = load_manifest_corpus(&p, &c, &Default::default(), true).unwrap();
    assert_eq!(utts.len(), 2);
    assert_eq!(utts[0].n_frames, 1 + (8_000 - 400) / 160);
    assert_eq!(
        utts[1].n_frames,
        1 + (4_000 - 400) / 160,
        "8 kHz file resampled to 16 kHz"
    );
    assert_eq!(utts[0].feats.len(), utts[0].n_frames * 80);
    let counts: Vec<(&str, usize)> = report.counts.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(
        counts,
        [
            ("bad manifest line", 2),
            ("empty file", 1),
            ("missing file", 1),
            ("not audio", 1),
            ("truncated audio", 1)
        ]
    );
    let shown = report.to_string();
    assert!(
        shown.contains("skipped 6 utterances") && shown.contains("missing.wav"),
        "{shown}"
    );
    // Audio errors without skipping name the manifest line and the audio file.
    let only_missing = p.with_file_name("m.tsv");
    std::fs::write(&only_missing, "wav/missing.wav\tgone\n").unwrap();
    let e = load_manifest_corpus(&only_missing, &c, &Default::default(), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("m.tsv:1") && e.contains("missing.wav") && e.contains("not found"),
        "{e}"
    );
    // Everything bad: an error, not an empty corpus.
    std::fs::write(&only_missing, "wav/missing.wav\tgone\n").unwrap();
    assert!(load_manifest_corpus(&only_missing, &c, &Default::default(), true).is_err());
}

#[test]
fn librispeech_layout_fixture() {
    let (utts, report) = load_manifest_corpus(
        &fixtures().join("libri"),
        &FeatureConfig::default(),
        &Default::default(),
        false,
    )
    .unwrap();
    assert!(report.is_empty());
    let got: Vec<(&str, &str, &str, usize)> = utts
        .iter()
        .map(|u| {
            (
                u.id.as_str(),
                u.text.as_str(),
                u.speaker.as_str(),
                u.n_frames,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "19-198-0000",
                "northanger abbey",
                "19",
                1 + (4_800 - 400) / 160
            ),
            (
                "19-198-0001",
                "this little work was finished in the year eighteen o three",
                "19",
                1 + (6_400 - 400) / 160
            ),
        ]
    );
    let e = load_manifest_corpus(
        &fixtures(),
        &FeatureConfig::default(),
        &Default::default(),
        false,
    );
    assert!(
        e.is_ok(),
        "the fixture folder holds exactly one LibriSpeech tree"
    );
    let empty = tempfile::tempdir().unwrap();
    let e = load_manifest_corpus(
        empty.path(),
        &FeatureConfig::default(),
        &Default::default(),
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("trans.txt"), "{e}");
}

#[test]
fn cache_file_round_trip_and_key_check() {
    let utts: Vec<Utterance> = (0..3)
        .map(|i| Utterance {
            id: format!("u{i}"),
            text: format!("text {i}"),
            feats: Arc::new(
                (0..(i + 1) * 4)
                    .map(|v| v as f32 * 0.5 - i as f32)
                    .collect(),
            ),
            n_frames: i + 1,
            speaker: format!("s{i}"),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.safetensors");
    save_utterances(&p, &utts, 4, "k1").unwrap();
    let back = load_utterances(&p, "k1").unwrap().unwrap();
    assert_eq!(back.len(), 3);
    for (a, b) in utts.iter().zip(&back) {
        assert_eq!(
            (&a.id, &a.text, &a.speaker, a.n_frames),
            (&b.id, &b.text, &b.speaker, b.n_frames)
        );
        assert_eq!(a.feats, b.feats);
    }
    assert!(load_utterances(&p, "k2").unwrap().is_none());
    std::fs::write(&p, b"garbage").unwrap();
    assert!(load_utterances(&p, "k1")
        .unwrap_err()
        .to_string()
        .contains("c.safetensors"));
}
