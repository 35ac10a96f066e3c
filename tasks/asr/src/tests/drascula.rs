use std::path::Path;

use crate::drascula::{
    pearson, prepare, read_folder, tables as read_tables, trim_pcm8, Language, Split, LANGUAGES,
    SAMPLE_RATE, SPEAKERS,
};
use crate::error::AsrError;

/// One record: length byte, text, NUL, zero padding to a multiple of 4.
fn record(text: &str) -> Vec<u8> {
    record_bytes(text.as_bytes())
}

fn record_bytes(text: &[u8]) -> Vec<u8> {
    let len = (text.len() + 2).div_ceil(4) * 4;
    let mut r = vec![len as u8];
    r.extend_from_slice(text);
    r.resize(len, 0);
    r
}

/// A data file with every table stored once per language, copies separated by bytes that do
/// not parse as records. `short` drops the last line of one non-English copy.
fn dat(tables: &[Vec<String>], short: Option<usize>) -> Vec<u8> {
    let mut b = b"DRASCULA\x06".to_vec();
    for (t, lines) in tables.iter().enumerate() {
        for lang in 0..LANGUAGES {
            b.extend_from_slice(&[0xff, 0x13, 0x01, 0x00, 0x00]);
            let n = if short == Some(t) && lang == 3 {
                lines.len() - 1
            } else {
                lines.len()
            };
            for l in &lines[..n] {
                b.extend(record(l));
            }
        }
    }
    b
}

/// Ten tables of twelve lines, line `i` of `words(i)` words (line 0 is the empty record),
/// but line 10 of the last table has a number.
fn tables(words: impl Fn(usize) -> usize) -> Vec<Vec<String>> {
    let mut t: Vec<Vec<String>> = (0..10)
        .map(|_| {
            (0..12)
                .map(|i| if i == 0 { 0 } else { words(i) })
                .map(|w| vec!["WORD"; w].join(" "))
                .collect()
        })
        .collect();
    t[9][10] = "ROOM 512".into();
    t
}

/// Unsigned 8-bit audio: `pad` s of silence, a tone of `secs`, `pad` s of silence.
fn pcm8(secs: f64, pad: f64) -> Vec<u8> {
    let sr = SAMPLE_RATE as f64;
    let mut v = vec![128u8; (pad * sr) as usize];
    v.extend(
        (0..(secs * sr) as usize)
            .map(|i| (128.0 + 60.0 * (std::f64::consts::TAU * 300.0 * i as f64 / sr).sin()) as u8),
    );
    v.extend(vec![128u8; (pad * sr) as usize]);
    v
}

/// A folder with lines 1-11 of every speaker, line `i` of `chars` normalised characters
/// lasting `duration(i, chars)` seconds, plus a file of each kind that must be left out: an
/// unknown speaker, a line past its table, the empty line 0, and a silent line (P11).
fn folder(
    dir: &Path,
    words: impl Fn(usize) -> usize,
    duration: impl Fn(usize, usize) -> f64,
) -> Vec<Vec<String>> {
    let t = tables(words);
    std::fs::write(dir.join("drascula.dat"), dat(&t, None)).unwrap();
    for sp in &SPEAKERS {
        for (i, line) in t[sp.table].iter().enumerate().skip(1) {
            let chars = crate::normalize::TextNorm::default()
                .normalize(line)
                .chars()
                .count();
            let name = format!("{}{i}.ALS", sp.prefix);
            std::fs::write(dir.join(name), pcm8(duration(i, chars), 0.3)).unwrap();
        }
    }
    std::fs::write(dir.join("S1.ALS"), pcm8(1.0, 0.1)).unwrap();
    std::fs::write(dir.join("T40.ALS"), pcm8(1.0, 0.1)).unwrap();
    std::fs::write(dir.join("VB0.ALS"), pcm8(1.0, 0.1)).unwrap();
    std::fs::write(dir.join("P11.ALS"), vec![128u8; 5000]).unwrap();
    t
}

#[test]
fn english_tables_are_the_first_copy_of_each_group() {
    let t = tables(|i| i);
    let got = read_tables(&dat(&t, None), Path::new("x.dat"), Language::English).unwrap();
    assert_eq!(got.len(), 10);
    for table in &got {
        assert_eq!(table.len(), 12);
        assert_eq!(table[0], "");
        assert_eq!(table[3], "WORD WORD WORD");
    }
}

#[test]
fn layout_errors_name_the_file_and_the_problem() {
    let e = read_tables(b"NOT A DATA FILE", Path::new("a.dat"), Language::English).unwrap_err();
    assert!(e.to_string().contains("a.dat") && e.to_string().contains("DRASCULA"));
    let e = read_tables(
        &dat(&tables(|i| i), Some(4)),
        Path::new("b.dat"),
        Language::English,
    )
    .unwrap_err();
    assert!(e.to_string().contains("text table 4"), "{e}");
    let mut one_short = dat(&tables(|i| i), None);
    // Cut the file inside the last copy's last record: that copy loses a line.
    one_short.truncate(one_short.len() - 2);
    let e = read_tables(&one_short, Path::new("c.dat"), Language::English).unwrap_err();
    assert!(e.to_string().contains("not aligned"), "{e}");
}

#[test]
fn trim_keeps_the_sound_and_a_margin() {
    let raw = pcm8(0.5, 1.0);
    let x = trim_pcm8(&raw).unwrap();
    let secs = x.len() as f64 / SAMPLE_RATE as f64;
    assert!((secs - 0.7).abs() < 0.01, "{secs}");
    assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(trim_pcm8(&[128, 130, 125, 128]).is_none());
}

#[test]
fn pearson_matches_hand_values() {
    assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
    assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    // x = (1, 2, 3), y = (1, 3, 2): sxy = 1, sxx = syy = 2, r = 0.5.
    assert!((pearson(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]) - 0.5).abs() < 1e-12);
    assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
}

#[test]
fn every_file_is_kept_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    // Line 11 of every speaker is spoken at under one character per second.
    folder(
        dir.path(),
        |i| i,
        |i, chars| {
            if i == 11 {
                60.0
            } else {
                chars as f64 / 14.0
            }
        },
    );
    let (lines, r) = read_folder(dir.path(), Language::English).unwrap();
    assert_eq!(r.files, 10 * 11 + 3);
    assert_eq!(r.unknown_speaker.get("S"), Some(&1));
    assert_eq!(r.no_text, 2, "T40 is past its table, VB0 is the empty line");
    assert_eq!(r.digits, 1, "VB10");
    assert_eq!(r.silent, 1);
    assert_eq!(
        r.rate_outliers, 9,
        "line 11 of every speaker but the silent P11"
    );
    assert_eq!(r.kept, lines.len());
    assert_eq!(
        r.files,
        r.kept
            + r.unknown_speaker.values().sum::<usize>()
            + r.no_text
            + r.digits
            + r.silent
            + r.rate_outliers
    );
    assert_eq!(r.kept, 10 * 10 - 1);
    let test: usize = SPEAKERS.iter().filter(|s| s.split == Split::Test).count();
    assert_eq!(r.splits[&Split::Test].0, test * 10);
    assert_eq!(r.splits[&Split::Test].2, test);
    for (_, _, corr) in r.speakers.values() {
        assert!(*corr > 0.99, "{corr}");
    }
}

#[test]
fn a_table_that_does_not_follow_the_speech_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Lines of 19, 24 or 29 characters lasting longer the shorter they are, every one at a
    // plausible rate (9 to 21 characters per second).
    folder(
        dir.path(),
        |i| 4 + i % 3,
        |_, chars| (48 - chars) as f64 / 14.0,
    );
    let Err(e) = read_folder(dir.path(), Language::English) else {
        panic!("a mismatched table was accepted");
    };
    assert!(matches!(e, AsrError::BadListing { .. }));
    assert!(e.to_string().contains("do not follow"), "{e}");
}

#[test]
fn prepare_writes_manifests_that_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    folder(dir.path(), |i| i, |_, chars| chars as f64 / 14.0);
    let r = prepare(dir.path(), out.path(), Language::English).unwrap();
    for split in [Split::Train, Split::Dev, Split::Test] {
        let tsv = out.path().join(format!("{}.tsv", split.name()));
        let text = std::fs::read_to_string(&tsv).unwrap();
        assert_eq!(text.lines().count(), r.splits[&split].0);
        let speakers: std::collections::BTreeSet<&str> =
            text.lines().map(|l| l.split('/').nth(1).unwrap()).collect();
        for sp in SPEAKERS.iter().filter(|s| s.split == split) {
            assert!(speakers.contains(sp.id));
        }
        let entries = crate::manifest::read_tsv(&tsv, &Default::default()).unwrap();
        assert!(entries.1.is_empty(), "{:?}", entries.1);
        let first = &entries.0[0];
        // The character is the speaker (the bootstrap's cluster), not the file name.
        assert_eq!(
            first.audio.parent().unwrap().file_name().unwrap().to_str(),
            Some(first.speaker.as_str())
        );
        let x = crate::audio::load_audio(&first.audio, 60.0).unwrap();
        assert!(!x.is_empty());
    }
    let report = std::fs::read_to_string(out.path().join("report.txt")).unwrap();
    assert!(report.contains("fnv1a") && report.contains("kept"));
}

#[test]
fn spanish_lines_are_read_from_their_copy_in_code_page_437() {
    assert_eq!(
        Language::Spanish.decode(b"\xa8Qu\x82 a\xa4o? \xadS\xa1! verg\x81enza\xb0"),
        "\u{bf}Qu\u{e9} a\u{f1}o? \u{a1}S\u{ed}! verg\u{fc}enza\u{fffd}"
    );
    // 0xA7 joins words in place of a space.
    assert_eq!(Language::Spanish.decode(b"UN\xa7CUBATA"), "UN CUBATA");
    // English bytes stay one character each, as before.
    assert_eq!(Language::English.decode(b"TOUPE\x90"), "TOUPE\u{90}");
    assert_eq!(Language::from_code("es"), Some(Language::Spanish));
    assert_eq!(Language::from_code("en").map(Language::code), Some("en"));
    assert_eq!(Language::from_code("de"), None);
    // One table of two lines, six language copies; the Spanish one is the second.
    let mut b = b"DRASCULA\x06".to_vec();
    for lang in 0..LANGUAGES {
        b.extend_from_slice(&[0xff, 0x13, 0x01, 0x00, 0x00]);
        b.extend(record(""));
        let line: &[u8] = match lang {
            0 => b"HELLO",
            1 => b"\xadHOLA, SE\xa5OR!",
            _ => b"OTHER",
        };
        b.extend(record_bytes(line));
    }
    let p = Path::new("drascula.dat");
    let es = read_tables(&b, p, Language::Spanish).unwrap();
    assert_eq!(
        es,
        vec![vec!["".to_string(), "\u{a1}HOLA, SE\u{d1}OR!".to_string()]]
    );
    assert_eq!(
        Language::Spanish.norm().normalize(&es[0][1]),
        "hola se\u{f1}or"
    );
    assert_eq!(
        read_tables(&b, p, Language::English).unwrap()[0][1],
        "HELLO"
    );
}
