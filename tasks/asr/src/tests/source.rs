use std::io::Write;
use std::path::{Path, PathBuf};

use super::tone;
use crate::audio::write_wav;
use crate::error::AsrError;
use crate::features::FeatureConfig;
use crate::normalize::{OutsideChars, TextNorm};
use crate::source::{
    load_split, read_lhotse_cuts, read_lhotse_pair, read_listing_bytes_within, read_nemo,
    read_split, Segment, SourceConfig, SourceKind, SplitFiles,
};

fn config(toml_text: &str) -> Result<SourceConfig, String> {
    let v: toml::Value = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    let c: SourceConfig = v.try_into().map_err(|e: toml::de::Error| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn gz(path: &Path, text: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
}

/// The messages of the bad lines, in order.
fn messages(bad: &[AsrError]) -> Vec<String> {
    bad.iter().map(|e| e.to_string()).collect()
}

fn says(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
}

#[test]
fn source_config_defaults_to_synth_and_checks_its_paths() {
    let c = config("").unwrap();
    assert_eq!(c, SourceConfig::default());
    assert!(c.is_synth());
    let c = config(
        r#"kind = "nemo"
        train = "a.jsonl"
        dev = "b.jsonl"
        test = "c.jsonl""#,
    )
    .unwrap();
    assert_eq!(c.kind, SourceKind::Nemo);
    assert_eq!(c.train, Some(SplitFiles(vec![PathBuf::from("a.jsonl")])));
    let c = config(
        r#"kind = "lhotse"
        train = ["r.jsonl.gz", "s.jsonl.gz"]
        dev = "dev_cuts.jsonl"
        test = "test_cuts.jsonl.gz""#,
    )
    .unwrap();
    assert_eq!(c.train.unwrap().0.len(), 2);

    for (text, want) in [
        (
            r#"kind = "tsv"
            train = "t.tsv"
            test = "x.tsv""#,
            "source.dev: missing; kind = \"tsv\" needs train, dev and test",
        ),
        (
            r#"train = "t.tsv""#,
            "source.train: kind = \"synth\" reads no files",
        ),
        (
            r#"kind = "nemo"
            train = ["a", "b"]
            dev = "d"
            test = "t""#,
            "source.train: kind = \"nemo\" takes one manifest file, got 2 paths",
        ),
        (
            r#"kind = "lhotse"
            train = ["a", "b", "c"]
            dev = "d"
            test = "t""#,
            "takes a cuts manifest, or [recordings, supervisions] manifests, got 3 paths",
        ),
        (
            r#"kind = "librispeech"
            train = ""
            dev = "d"
            test = "t""#,
            "source.train: empty path",
        ),
        (
            "max_recording_seconds = -1.0",
            "max_recording_seconds must be a finite number of seconds > 0, got -1",
        ),
        (r#"kind = "kaldi""#, "unknown variant `kaldi`"),
        (
            r#"kind = "tsv"
            trian = "t""#,
            "unknown field `trian`",
        ),
        (
            r#"kind = "tsv"
            train = 3"#,
            "a path or an array of paths",
        ),
        (
            r#"text = { letters = "any" }"#,
            "source.text: kind = \"synth\" generates English sentences",
        ),
        (
            r#"kind = "tsv"
            train = "t"
            dev = "d"
            test = "x"
            text = { keep = "- " }"#,
            "source.text.keep: ' ' cannot be kept",
        ),
        (r#"text = { letters = "greek" }"#, "unknown variant `greek`"),
    ] {
        let e = config(text).unwrap_err();
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn nemo_lines_parse_and_every_bad_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("train.jsonl");
    let lines = [
        // 1: a whole file (offset absent), relative to the manifest's folder.
        r#"{"audio_filepath": "wav/spk1-a.wav", "text": "Hello, World!", "duration": 0.5}"#,
        // 2: a segment with a numeric speaker and extra fields NeMo manifests carry.
        r#"{"audio_filepath": "/abs/long.wav", "text": "it's", "duration": 1.25, "offset": 2.5, "speaker": 7, "lang": "en"}"#,
        "",
        r#"{"audio_filepath": "a.wav", "text": "x", "duration": 1.0"#,
        r#"{"audio_filepath": "a.wav", "duration": 1.0}"#,
        r#"{"audio_filepath": "a.wav", "text": "x", "duration": 0}"#,
        r#"{"audio_filepath": "a.wav", "text": "x", "duration": 1, "offset": -1}"#,
        r#"{"audio_filepath": "a.wav", "text": "123 !", "duration": 1}"#,
        r#"{"audio_filepath": "../out.wav", "text": "x", "duration": 1}"#,
        r#"{"audio_filepath": " ", "text": "x", "duration": 1}"#,
        r#"[1, 2]"#,
    ];
    let mut bytes = lines.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n{\"audio_filepath\": \"\xff.wav\"}\n");
    std::fs::write(&m, bytes).unwrap();
    let (good, bad) = read_nemo(&m, &Default::default()).unwrap();
    assert_eq!(good.len(), 2);
    let a = &good[0];
    assert_eq!(a.entry.audio, dir.path().join("wav/spk1-a.wav"));
    assert_eq!(
        (
            a.entry.id.as_str(),
            a.entry.text.as_str(),
            a.entry.speaker.as_str()
        ),
        ("spk1-a", "hello world", "spk1")
    );
    assert_eq!((a.entry.source.as_path(), a.entry.line), (m.as_path(), 1));
    assert_eq!(
        a.segment,
        Some(Segment {
            start: 0.0,
            duration: 0.5
        })
    );
    let b = &good[1];
    assert_eq!(b.entry.audio, PathBuf::from("/abs/long.wav"));
    assert_eq!(
        (b.entry.id.as_str(), b.entry.speaker.as_str(), b.entry.line),
        ("long@2.5", "7", 2)
    );
    assert_eq!(
        b.segment,
        Some(Segment {
            start: 2.5,
            duration: 1.25
        })
    );
    let msgs = messages(&bad);
    assert_eq!(msgs.len(), 9, "{msgs:#?}");
    let at = |n: usize| format!("train.jsonl:{n}: ");
    says(&msgs[0], &[&at(4), "invalid JSON line", "EOF", "column"]);
    says(&msgs[1], &[&at(5), "missing field `text`"]);
    says(
        &msgs[2],
        &[
            &at(6),
            "duration must be a finite number of seconds > 0, got 0",
        ],
    );
    says(&msgs[3], &[&at(7), "offset must be", ">= 0, got -1"]);
    says(
        &msgs[4],
        &[&at(8), "empty transcript after normalisation", "\"123 !\""],
    );
    says(&msgs[5], &[&at(9), "leads out of the manifest's folder"]);
    says(&msgs[6], &[&at(10), "empty audio path"]);
    says(&msgs[7], &[&at(11), "invalid JSON line", "invalid type"]);
    says(&msgs[8], &[&at(12), "not valid UTF-8"]);
    assert!(bad.iter().all(|e| e.kind() == "bad manifest line"));
}

fn cut(id: &str, start: f64, dur: f64, rec: &str, sups: &str) -> String {
    format!(
        r#"{{"id": "{id}", "start": {start}, "duration": {dur}, "channel": 0, "supervisions": [{sups}], "recording": {rec}, "type": "MonoCut"}}"#
    )
}

fn recording(id: &str, path: &str) -> String {
    format!(
        r#"{{"id": "{id}", "sources": [{{"type": "file", "channels": [0], "source": "{path}"}}], "sampling_rate": 16000, "num_samples": 16000, "duration": 1.0, "channel_ids": [0]}}"#
    )
}

fn sup(start: f64, text: &str, speaker: &str) -> String {
    format!(
        r#"{{"id": "s{start}", "recording_id": "r", "start": {start}, "duration": 0.2, "channel": 0, "text": "{text}", "language": "English", "speaker": "{speaker}"}}"#
    )
}

#[test]
fn lhotse_cuts_parse_and_every_bad_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("cuts.jsonl.gz");
    let two_sources = r#"{"id": "st", "sources": [{"type": "file", "channels": [0], "source": "l.wav"}, {"type": "file", "channels": [1], "source": "r.wav"}], "sampling_rate": 16000}"#;
    let lines = [
        // 1: supervisions out of order are read in order of start.
        cut(
            "c1",
            0.25,
            1.5,
            &recording("r", "audio/r.flac"),
            &format!("{},{}", sup(0.6, "World", "bob"), sup(0.0, "Hello,", "ann")),
        ),
        // 2: of two sources, the one holding the cut's channel (1).
        cut("c2", 0.0, 1.0, two_sources, &sup(0.0, "right", "x"))
            .replace(r#""channel": 0"#, r#""channel": 1"#),
        cut(
            "c3",
            0.0,
            1.0,
            &recording("r", "a.wav"),
            &sup(0.0, "x", "y"),
        )
        .replace("MonoCut", "MixedCut"),
        r#"{"id": "c4", "start": 0, "duration": 1, "supervisions": []}"#.to_string(),
        cut(
            "c5",
            0.0,
            1.0,
            &recording("r", "a.wav").replace(r#""type": "file""#, r#""type": "url""#),
            &sup(0.0, "x", "y"),
        ),
        cut("c6", 0.0, 1.0, &recording("r", "a.wav"), ""),
        cut(
            "c7",
            -0.5,
            1.0,
            &recording("r", "a.wav"),
            &sup(0.0, "x", "y"),
        ),
        cut("c8", 0.0, 1.0, two_sources, &sup(0.0, "x", "y"))
            .replace(r#""channel": 0"#, r#""channel": 5"#),
        cut(
            "c9",
            0.0,
            1.0,
            &recording("r", "../a.wav"),
            &sup(0.0, "x", "y"),
        ),
        r#"{"id": "c10", "duration": 1, "recording": {"id": "r", "sources": []}}"#.to_string(),
    ];
    gz(&m, &lines.join("\n"));
    let (good, bad) = read_lhotse_cuts(&m, &Default::default()).unwrap();
    assert_eq!(good.len(), 2, "{:#?}", messages(&bad));
    let a = &good[0].entry;
    assert_eq!(a.audio, dir.path().join("audio/r.flac"));
    assert_eq!(
        (a.id.as_str(), a.raw_text.as_str(), a.text.as_str()),
        ("c1", "Hello, World", "hello world")
    );
    assert_eq!(a.speaker, "ann");
    assert_eq!(
        good[0].segment,
        Some(Segment {
            start: 0.25,
            duration: 1.5
        })
    );
    assert_eq!(good[1].entry.audio, dir.path().join("r.wav"));
    let msgs = messages(&bad);
    assert_eq!(msgs.len(), 8, "{msgs:#?}");
    let at = |n: usize| format!("cuts.jsonl.gz:{n}: ");
    says(&msgs[0], &[&at(3), "\"MixedCut\" is not supported"]);
    says(&msgs[1], &[&at(4), "cut \"c4\" has no recording"]);
    says(&msgs[2], &[&at(5), "type \"url\" is not supported"]);
    says(&msgs[3], &[&at(6), "no supervision with text"]);
    says(&msgs[4], &[&at(7), "start must be", "got -0.5"]);
    says(&msgs[5], &[&at(8), "2 sources and none holds channel 5"]);
    says(&msgs[6], &[&at(9), "leads out of the manifest's folder"]);
    says(&msgs[7], &[&at(10), "missing field `start`"]);
}

#[test]
fn lhotse_recordings_and_supervisions_pair_up_by_recording_id() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("m")).unwrap();
    let recs = d.join("m/recordings.jsonl.gz");
    let sups = d.join("m/supervisions.jsonl");
    gz(
        &recs,
        &[
            recording("r", "../../abs-ok.wav").replace("../../abs-ok.wav", "/data/r.flac"),
            recording("q", "q.wav"),
            recording("q", "q2.wav"),
            r#"{"id": "nosrc", "sources": []}"#.to_string(),
        ]
        .join("\n"),
    );
    let s_ok = sup(1.5, "Good", "ann");
    let lines = [
        s_ok.clone(),
        s_ok.replace(r#""recording_id": "r""#, r#""recording_id": "q""#)
            .replace(r#""id": "s1.5""#, r#""id": "sq""#),
        s_ok.replace(r#""recording_id": "r""#, r#""recording_id": "zz""#),
        s_ok.replace(r#""recording_id": "r", "#, ""),
        s_ok.replace(r#""text": "Good""#, r#""text": null"#),
        s_ok.replace(r#""duration": 0.2"#, r#""duration": -3"#),
    ];
    write(&sups, &lines.join("\n"));
    let (good, bad) = read_lhotse_pair(&recs, &sups, &Default::default()).unwrap();
    assert_eq!(good.len(), 2, "{:#?}", messages(&bad));
    assert_eq!(good[0].entry.audio, PathBuf::from("/data/r.flac"));
    assert_eq!(
        (good[0].entry.id.as_str(), good[0].entry.text.as_str()),
        ("s1.5", "good")
    );
    assert_eq!(
        good[0].segment,
        Some(Segment {
            start: 1.5,
            duration: 0.2
        })
    );
    assert_eq!(
        (good[0].entry.source.as_path(), good[0].entry.line),
        (sups.as_path(), 1)
    );
    assert_eq!(good[1].entry.audio, d.join("m/q.wav"));
    let msgs = messages(&bad);
    assert_eq!(msgs.len(), 6, "{msgs:#?}");
    says(&msgs[0], &["recordings.jsonl.gz:3: ", "\"q\" listed twice"]);
    says(
        &msgs[1],
        &["recordings.jsonl.gz:4: ", "\"nosrc\" has no sources"],
    );
    says(
        &msgs[2],
        &["supervisions.jsonl:3: ", "recording \"zz\" is not in"],
    );
    says(
        &msgs[3],
        &["supervisions.jsonl:4: ", "missing field `recording_id`"],
    );
    says(
        &msgs[4],
        &[
            "supervisions.jsonl:5: ",
            "empty transcript after normalisation",
        ],
    );
    says(
        &msgs[5],
        &["supervisions.jsonl:6: ", "duration must be", "got -3"],
    );
}

#[test]
fn listing_size_and_gzip_guards() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("m.jsonl");
    write(&plain, &"x".repeat(100));
    let e = read_listing_bytes_within(&plain, 50)
        .unwrap_err()
        .to_string();
    says(
        &e,
        &[
            "m.jsonl",
            "manifest of 100 bytes is larger than the 50 bytes",
        ],
    );
    let packed = dir.path().join("m.jsonl.gz");
    gz(&packed, &"y".repeat(10_000));
    assert!(std::fs::metadata(&packed).unwrap().len() < 1_000);
    let e = read_listing_bytes_within(&packed, 1_000)
        .unwrap_err()
        .to_string();
    says(
        &e,
        &["m.jsonl.gz", "gzip data inflates to more than 1000 bytes"],
    );
    assert_eq!(
        read_listing_bytes_within(&packed, 10_000).unwrap().len(),
        10_000
    );
    let broken = dir.path().join("broken.gz");
    let bytes = std::fs::read(&packed).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_listing_bytes_within(&broken, 1 << 20)
        .unwrap_err()
        .to_string();
    says(&e, &["broken.gz", "corrupt gzip data"]);
    let e = read_nemo(dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    says(&e, &["is a folder, not a manifest file"]);
    let e = read_nemo(&dir.path().join("absent.jsonl"), &Default::default())
        .unwrap_err()
        .to_string();
    says(&e, &["absent.jsonl", "not found"]);
}

#[test]
fn outside_characters_are_counted_not_hidden() {
    let mut o = OutsideChars::default();
    let english = TextNorm::default();
    o.add("Hello, World! It\u{2019}s 42", &english);
    o.add("plain words", &english);
    o.add("caf\u{e9}, ok.", &english);
    assert_eq!(o.total(), 7);
    assert_eq!((o.transcripts, o.of), (2, 3));
    assert_eq!(o.counts[&','], 2);
    assert_eq!(o.counts[&'\u{e9}'], 1);
    let s = o.to_string();
    says(
        &s,
        &[
            "7 characters outside the vocabulary in 2 of 3 transcripts",
            "read as word breaks: ',' x2",
            "'\u{e9}' x1",
        ],
    );
    let clean = OutsideChars::default();
    assert_eq!(
        clean.to_string(),
        "0 characters outside the vocabulary in 0 of 0 transcripts"
    );
}

/// A folder with one 2 s recording (two tones) and one short file, and a NeMo manifest cutting
/// segments from them.
fn segmented_corpus() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut long = tone(16_000, 300.0, 1.0, 0.5);
    long.extend(tone(16_000, 1200.0, 1.0, 0.5));
    write_wav(&d.join("long.wav"), &long, 16_000).unwrap();
    write_wav(&d.join("short.wav"), &tone(8_000, 500.0, 0.3, 0.5), 8_000).unwrap();
    let m = d.join("dev.jsonl");
    write(
        &m,
        &[
            r#"{"audio_filepath": "long.wav", "text": "First, 1", "duration": 0.5, "offset": 0.25}"#,
            r#"{"audio_filepath": "long.wav", "text": "second", "duration": 0.5, "offset": 1.25}"#,
            r#"{"audio_filepath": "short.wav", "text": "whole", "duration": 0.3}"#,
            r#"{"audio_filepath": "long.wav", "text": "past the end", "duration": 0.5, "offset": 1.8}"#,
            r#"{"audio_filepath": "long.wav", "text": "too long", "duration": 90, "offset": 0}"#,
            r#"{"audio_filepath": "gone.wav", "text": "missing", "duration": 0.5}"#,
        ]
        .join("\n"),
    );
    (dir, m)
}

fn nemo_source(m: &Path, skip_bad: bool) -> SourceConfig {
    SourceConfig {
        kind: SourceKind::Nemo,
        train: Some(SplitFiles(vec![m.to_path_buf()])),
        dev: Some(SplitFiles(vec![m.to_path_buf()])),
        test: Some(SplitFiles(vec![m.to_path_buf()])),
        skip_bad,
        ..SourceConfig::default()
    }
}

#[test]
fn source_segments_are_cut_from_their_recording_and_bad_audio_is_named_or_skipped() {
    let (_dir, m) = segmented_corpus();
    let feats = FeatureConfig::default();
    let e = load_split(&nemo_source(&m, false), "dev", &feats, None)
        .unwrap_err()
        .to_string();
    says(
        &e,
        &[
            "dev.jsonl:4: ",
            "segment 1.800..2.300 s runs past the end of the audio (2.000 s)",
        ],
    );
    let got = load_split(&nemo_source(&m, true), "dev", &feats, None).unwrap();
    let ids: Vec<&str> = got.utterances.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["long@0.25", "long@1.25", "short"]);
    // 0.5 s at 16 kHz = 8,000 samples: 1 + (8000 - 400) / 160 frames.
    let frames: Vec<usize> = got.utterances.iter().map(|u| u.n_frames).collect();
    assert_eq!(frames, [48, 48, 1 + (4_800 - 400) / 160]);
    assert_eq!(got.utterances[0].text, "first");
    // The two segments hold different tones: their mel energies differ (the cut is real).
    assert_ne!(got.utterances[0].feats, got.utterances[1].feats);
    assert_eq!(got.skipped.total(), 3, "{}", got.skipped);
    assert_eq!(got.skipped.counts["segment outside audio"], 1);
    assert_eq!(got.skipped.counts["too long"], 1);
    assert_eq!(got.skipped.counts["missing file"], 1);
    assert_eq!((got.outside.total(), got.outside.transcripts), (2, 1));
    assert_eq!(got.files.len(), 1);
    let bytes = std::fs::read(&m).unwrap();
    assert_eq!(got.files[0].bytes, bytes.len() as u64);
    assert_eq!(got.files[0].fnv1a, ctc_core::io::fnv1a(&bytes));
    assert!(got.files[0].to_string().contains("dev.jsonl ("));

    let e = load_split(
        &SourceConfig {
            max_recording_seconds: 1.0,
            ..nemo_source(&m, false)
        },
        "dev",
        &feats,
        None,
    )
    .unwrap_err()
    .to_string();
    says(
        &e,
        &[
            "dev.jsonl:1: ",
            "recording is 2.0 s long, more than the limit of 1 s",
            "data.source.max_recording_seconds",
        ],
    );
}

#[test]
fn source_reads_tsv_and_librispeech_folders_with_wav_audio() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ch = d.join("libri/19/198");
    std::fs::create_dir_all(&ch).unwrap();
    for id in ["19-198-0000", "19-198-0001"] {
        write_wav(
            &ch.join(format!("{id}.wav")),
            &tone(16_000, 400.0, 0.4, 0.5),
            16_000,
        )
        .unwrap();
    }
    write(
        &ch.join("19-198.trans.txt"),
        "19-198-0000 A B\n19-198-0001 C 3\n",
    );
    let files = SplitFiles(vec![d.join("libri")]);
    let ((good, bad), listing) =
        read_split(SourceKind::Librispeech, &files, &Default::default()).unwrap();
    assert!(bad.is_empty());
    assert_eq!(good[0].entry.audio, ch.join("19-198-0000.wav"));
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].path, ch.join("19-198.trans.txt"));
    let cfg = SourceConfig {
        kind: SourceKind::Librispeech,
        train: Some(files),
        ..SourceConfig::default()
    };
    let got = load_split(&cfg, "train", &FeatureConfig::default(), None).unwrap();
    let texts: Vec<&str> = got.utterances.iter().map(|u| u.text.as_str()).collect();
    assert_eq!(texts, ["a b", "c"]);
    assert_eq!(got.outside.total(), 1);

    let tsv = d.join("m.tsv");
    write(&tsv, "libri/19/198/19-198-0000.wav\tHi\nno tab\n");
    let cfg = SourceConfig {
        kind: SourceKind::Tsv,
        test: Some(SplitFiles(vec![tsv.clone()])),
        ..SourceConfig::default()
    };
    let e = load_split(&cfg, "test", &FeatureConfig::default(), None)
        .unwrap_err()
        .to_string();
    says(&e, &["m.tsv:2: ", "no tab"]);
    let got = load_split(
        &SourceConfig {
            skip_bad: true,
            ..cfg
        },
        "test",
        &FeatureConfig::default(),
        None,
    )
    .unwrap();
    assert_eq!(got.utterances.len(), 1);
    assert_eq!(got.skipped.counts["bad manifest line"], 1);
    let e = load_split(
        &SourceConfig::default(),
        "dev",
        &FeatureConfig::default(),
        None,
    )
    .unwrap_err()
    .to_string();
    says(&e, &["source.dev: missing"]);
}

#[test]
fn transcripts_are_normalised_as_configured_and_what_is_dropped_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let audio = tone(16_000, 300.0 + 50.0 * i as f64, 0.5, 0.3);
        write_wav(&dir.path().join(format!("{i}.wav")), &audio, 16_000).unwrap();
    }
    let tsv = dir.path().join("es.tsv");
    write(
        &tsv,
        "0.wav\t\u{bf}Qu\u{e9} a\u{f1}o?\n1.wav\t1999\n2.wav\t\u{c9}l, s\u{ed}.\n",
    );
    let files = SplitFiles(vec![tsv.clone()]);
    let spanish = TextNorm {
        letters: crate::normalize::Letters::Any,
        digits: true,
        ..Default::default()
    };
    let ((good, bad), _) = read_split(SourceKind::Tsv, &files, &spanish).unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let texts: Vec<&str> = good.iter().map(|e| e.entry.text.as_str()).collect();
    assert_eq!(texts, ["qu\u{e9} a\u{f1}o", "1999", "\u{e9}l s\u{ed}"]);
    // The English default reads accents as word breaks and has nothing left of a year.
    let ((good, bad), _) = read_split(SourceKind::Tsv, &files, &TextNorm::default()).unwrap();
    assert_eq!(good.len(), 2);
    assert_eq!(good[0].entry.text, "qu a o");
    assert_eq!(bad.len(), 1);
    let e = bad[0].to_string();
    assert!(
        e.contains("es.tsv:2") && e.contains("empty transcript"),
        "{e}"
    );
    // The split loader counts, per normalisation, what became a word break.
    let source = |text: TextNorm| SourceConfig {
        kind: SourceKind::Tsv,
        train: Some(files.clone()),
        dev: Some(files.clone()),
        test: Some(files.clone()),
        skip_bad: true,
        text,
        ..Default::default()
    };
    let features = FeatureConfig::default();
    let es = load_split(&source(spanish), "train", &features, None).unwrap();
    assert_eq!(es.utterances.len(), 3);
    assert_eq!(
        es.outside.counts.keys().collect::<String>(),
        ",.?\u{bf}",
        "{}",
        es.outside
    );
    let en = load_split(&source(TextNorm::default()), "train", &features, None).unwrap();
    assert_eq!(en.utterances.len(), 2);
    assert_eq!(en.skipped.total(), 1);
    assert!(en.outside.counts.contains_key(&'\u{f1}'), "{}", en.outside);
}
