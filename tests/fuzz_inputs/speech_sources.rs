//! Speech training sources: NeMo and Lhotse JSONL manifests, and the text tables of the
//! Drascula data file that `experiments prepare drascula` reads.

use std::path::Path;

use asr::drascula::{tables, Language};
use asr::source::{read_lhotse_cuts, read_lhotse_pair, read_nemo};

use super::mutate::{cases, mutate_bytes, mutate_lines, run};
use super::{named, DEFAULT_CASES};

const NEMO: &str = r#"{"audio_filepath": "wav/spk1-a.wav", "text": "Hello, World!", "duration": 0.5}
{"audio_filepath": "wav/spk2-b.wav", "text": "it's two", "duration": 1.25, "offset": 0.25, "speaker": 7}
"#;

const CUTS: &str = r#"{"id": "c1", "start": 0.0, "duration": 0.5, "channel": 0, "supervisions": [{"id": "s1", "recording_id": "r1", "start": 0.0, "duration": 0.5, "text": "one two"}], "recording": {"id": "r1", "sources": [{"type": "file", "channels": [0], "source": "wav/a.wav"}], "sampling_rate": 16000, "num_samples": 8000, "duration": 0.5}, "type": "MonoCut"}
"#;

const RECORDINGS: &str = r#"{"id": "r1", "sources": [{"type": "file", "channels": [0], "source": "wav/a.wav"}], "sampling_rate": 16000, "num_samples": 16000, "duration": 1.0}
{"id": "r2", "sources": [{"type": "file", "channels": [0], "source": "wav/b.wav"}], "sampling_rate": 16000, "num_samples": 8000, "duration": 0.5}
"#;

const SUPERVISIONS: &str = r#"{"id": "s1", "recording_id": "r1", "start": 0.1, "duration": 0.5, "text": "first words", "speaker": "a"}
{"id": "s2", "recording_id": "r2", "start": 0.0, "duration": 0.5, "text": "second", "speaker": "b"}
"#;

/// Every entry a reader returns names its manifest, and every bad line names file and line.
fn check(path: &Path, (good, bad): asr::source::Listing) -> Result<(), (String, String)> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    for e in &good {
        assert!(e.entry.audio.starts_with(path.parent().unwrap()) || e.entry.audio.is_absolute());
    }
    for e in &bad {
        let msg = e.to_string();
        assert!(msg.contains(&format!("{name}:")), "{msg}");
    }
    Ok(())
}

#[test]
fn fuzz_nemo_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    run("nemo-manifest", 0x4e30, cases(DEFAULT_CASES), |rng| {
        std::fs::write(&path, mutate_lines(NEMO, ',', rng)).unwrap();
        check(
            &path,
            read_nemo(&path, &Default::default()).map_err(|e| named(e, "train.jsonl"))?,
        )
    });
}

#[test]
fn fuzz_lhotse_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let cuts = dir.path().join("cuts.jsonl");
    let (recs, sups) = (
        dir.path().join("recordings.jsonl"),
        dir.path().join("supervisions.jsonl"),
    );
    run("lhotse-manifest", 0x1607, cases(DEFAULT_CASES), |rng| {
        if rng.bernoulli(0.5) {
            std::fs::write(&cuts, mutate_lines(CUTS, ',', rng)).unwrap();
            check(
                &cuts,
                read_lhotse_cuts(&cuts, &Default::default()).map_err(|e| named(e, "cuts.jsonl"))?,
            )
        } else {
            let (r, s) = if rng.bernoulli(0.5) {
                (mutate_lines(RECORDINGS, ',', rng), SUPERVISIONS.into())
            } else {
                (RECORDINGS.into(), mutate_lines(SUPERVISIONS, ',', rng))
            };
            std::fs::write(&recs, r).unwrap();
            std::fs::write(&sups, s).unwrap();
            let listing = read_lhotse_pair(&recs, &sups, &Default::default())
                .map_err(|e| named(e, "jsonl"))?;
            for e in &listing.1 {
                let msg = e.to_string();
                assert!(msg.contains(".jsonl"), "{msg}");
            }
            Ok(())
        }
    });
}

/// A data file of two tables in six languages, as `drascula.dat` stores them.
fn drascula_seed() -> Vec<u8> {
    let record = |t: &str| {
        let len = (t.len() + 2).div_ceil(4) * 4;
        let mut r = vec![len as u8];
        r.extend_from_slice(t.as_bytes());
        r.resize(len, 0);
        r
    };
    let mut b = b"DRASCULA\x06".to_vec();
    for table in [&["", "ONE LINE", "TWO"][..], &["", "HEY IGOR", "A, B, C!"]] {
        for _ in 0..6 {
            b.extend_from_slice(&[0xff, 0x13, 0x01]);
            for l in table {
                b.extend(record(l));
            }
        }
    }
    b
}

#[test]
fn fuzz_drascula_data_files() {
    let seed = drascula_seed();
    assert_eq!(
        tables(&seed, Path::new("drascula.dat"), Language::English)
            .unwrap()
            .len(),
        2
    );
    run("drascula-data", 0xd5a, cases(DEFAULT_CASES), |rng| {
        let bytes = mutate_bytes(&seed, rng);
        let english = tables(&bytes, Path::new("drascula.dat"), Language::English)
            .map_err(|e| named(e, "drascula.dat"))?;
        // The Spanish copies are found by the same chain rules: same tables, same lengths.
        let spanish = tables(&bytes, Path::new("drascula.dat"), Language::Spanish)
            .map_err(|e| named(e, "drascula.dat"))?;
        assert_eq!(english.len(), spanish.len());
        for t in english.iter().chain(&spanish) {
            assert!(
                t.first().is_some_and(|l| l.is_empty()),
                "line 0 is the empty record"
            );
        }
        Ok(())
    });
}
