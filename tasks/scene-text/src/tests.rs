//! Tests across the pipeline: rendering (needs the fonts and word list of
//! scripts/setup-str.sh), folder and LMDB loading, and every kind of bad input.

use std::path::Path;

use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};

use super::*;
use crate::normalize::{ctc_frames_needed, HEIGHT};
use ctc_core::admit::Purpose;

fn tiny(seed: u64) -> RenderConfig {
    RenderConfig {
        n_train: 10,
        n_dev: 3,
        n_test: 5,
        seed,
        ..RenderConfig::default()
    }
}

#[test]
fn rendering_is_deterministic_per_seed_and_cached() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = generate_corpus(&tiny(5), d1.path()).unwrap();
    let b = generate_corpus(&tiny(5), d2.path()).unwrap();
    assert!(!a.from_cache && !b.from_cache);
    assert_eq!(a.train, b.train);
    assert_eq!(a.test, b.test);
    let c = generate_corpus(&tiny(5), d1.path()).unwrap();
    assert!(c.from_cache);
    assert_eq!((&a.train, &a.dev, &a.test), (&c.train, &c.dev, &c.test));
    assert_eq!(a.fonts, c.fonts);
    let other = generate_corpus(&tiny(6), d1.path()).unwrap();
    assert_ne!(a.train, other.train);
    assert_eq!(std::fs::read_dir(d1.path()).unwrap().count(), 2);
}

#[test]
fn rendered_labels_lie_in_the_alphabet_and_fit_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    for (cs, punct) in [(false, false), (true, true)] {
        let cfg = RenderConfig {
            case_sensitive: cs,
            punctuation: punct,
            ..tiny(11)
        };
        let s = generate_corpus(&cfg, dir.path()).unwrap();
        let alphabet = Alphabet::new(cs, punct);
        assert_eq!(s.alphabet, alphabet);
        assert_eq!((s.train.len(), s.dev.len(), s.test.len()), (10, 3, 5));
        for im in s.train.iter().chain(&s.dev).chain(&s.test) {
            assert!(alphabet.unknown_chars(&im.text).is_empty(), "{}", im.text);
            let n = im.text.chars().count();
            assert!((1..=20).contains(&n), "{}", im.text);
            assert!(im.width >= 4 && im.width <= 128, "{}", im.width);
            assert_eq!(im.pixels.len(), HEIGHT * im.width);
            assert!(ctc_frames_needed(&im.text) <= im.frames());
            assert!(im.pixels.iter().all(|v| (-1.0..=1.0).contains(v)));
            if !cs {
                assert_eq!(im.text, im.text.to_lowercase());
            }
        }
    }
}

#[test]
fn train_dev_and_test_fonts_are_disjoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate_corpus(&tiny(1), dir.path()).unwrap();
    let f = &s.fonts;
    assert!(!f.train.is_empty() && !f.dev.is_empty() && !f.test.is_empty());
    for (a, b) in [(&f.train, &f.test), (&f.train, &f.dev), (&f.dev, &f.test)] {
        for x in a.iter() {
            assert!(
                b.iter()
                    .all(|y| y.group != x.group && y.family != x.family && y.path != x.path),
                "{x:?} shared"
            );
        }
    }
    // Every test image was drawn with a test font.
    let fams = SplitFonts::families(&f.test);
    for im in &s.test {
        assert!(
            fams.iter()
                .any(|fam| im.source.ends_with(&format!("({fam})"))),
            "{}",
            im.source
        );
    }
}

fn write_folder(dir: &Path, lines: &str) -> std::path::PathBuf {
    let tsv = dir.join("labels.tsv");
    std::fs::write(&tsv, lines).unwrap();
    tsv
}

#[test]
fn folder_round_trip_png_jpeg_bmp() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = GrayImage::from_pixel(128, 64, Luma([255]));
    for (x, y) in (0..4).flat_map(|x| (0..4).map(move |y| (x, y))) {
        g.put_pixel(x, y, Luma([0]));
    }
    g.save(dir.path().join("a.png")).unwrap();
    RgbImage::from_pixel(90, 30, Rgb([200, 10, 10]))
        .save(dir.path().join("b.jpg"))
        .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    RgbImage::from_pixel(300, 20, Rgb([0, 0, 0]))
        .save(dir.path().join("sub/c.bmp"))
        .unwrap();
    let tsv = write_folder(
        dir.path(),
        "path\tlabel\na.png\tHello\r\nb.jpg\t42\n\nsub/c.bmp\tA1b2\n",
    );
    let cfg = NormConfig::default();
    let (ims, rep) = load_folder(&tsv, &cfg, &Alphabet::default(), Purpose::Train, false).unwrap();
    assert_eq!(rep.total(), 0);
    assert_eq!(rep.kept, 3);
    let texts: Vec<&str> = ims.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(texts, vec!["hello", "42", "a1b2"]);
    // 64x128 -> 32x64; 30x90 -> 32x96; 20x300 -> 32x480 capped at 128.
    assert_eq!(
        ims.iter().map(|w| w.width).collect::<Vec<_>>(),
        vec![64, 96, 128]
    );
    assert!(ims[0].pixels[3] > 0.99 && ims[0].pixels[0] < -0.5);
    assert!(ims[0].source.contains("labels.tsv:2"));
    // Case-sensitive keeps the case.
    let (ims, _) = load_folder(
        &tsv,
        &cfg,
        &Alphabet::new(true, false),
        Purpose::Train,
        false,
    )
    .unwrap();
    assert_eq!(ims[0].text, "Hello");
}

#[test]
fn folder_bad_inputs_are_named_errors_or_counted_skips() {
    let dir = tempfile::tempdir().unwrap();
    GrayImage::from_pixel(64, 32, Luma([9]))
        .save(dir.path().join("ok.png"))
        .unwrap();
    GrayImage::from_pixel(8, 32, Luma([9]))
        .save(dir.path().join("narrow.png"))
        .unwrap();
    std::fs::write(dir.path().join("empty.png"), b"").unwrap();
    std::fs::write(dir.path().join("junk.png"), b"not an image").unwrap();
    let cfg = NormConfig::default();
    let a = Alphabet::default();
    let cases: [(&str, SkipReason, &str); 6] = [
        ("junk.png\tword", SkipReason::Unreadable, "cannot decode"),
        ("empty.png\tword", SkipReason::Unreadable, "empty file"),
        ("gone.png\tword", SkipReason::Unreadable, "gone.png"),
        ("ok.png\tcafé!", SkipReason::UnknownChars, "'é'"),
        ("narrow.png\tabc", SkipReason::TooLong, "needs 3 CTC frames"),
        ("ok.png\t", SkipReason::EmptyLabel, "empty label"),
    ];
    for (line, reason, needle) in cases {
        let tsv = write_folder(dir.path(), &format!("ok.png\tfine\n{line}\n"));
        let e = load_folder(&tsv, &cfg, &a, Purpose::Train, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("labels.tsv:2") && e.contains(needle),
            "{line}: {e}"
        );
        let (ims, rep) = load_folder(&tsv, &cfg, &a, Purpose::Train, true).unwrap();
        assert_eq!(
            (ims.len(), rep.total(), rep.count(reason)),
            (1, 1, 1),
            "{line}"
        );
        // Scoring keeps every readable entry, whatever its label.
        let scored = load_folder(&tsv, &cfg, &a, Purpose::Score, false);
        if reason == SkipReason::Unreadable {
            assert!(scored.unwrap_err().to_string().contains("labels.tsv:2"));
        } else {
            let (ims, rep) = scored.unwrap();
            assert_eq!((ims.len(), rep.total()), (2, 0), "{line}");
        }
    }
    let e = load_folder(
        &write_folder(dir.path(), "ok.png\tfine\nno tab\n"),
        &cfg,
        &a,
        Purpose::Train,
        true,
    );
    assert!(e.unwrap_err().to_string().contains("labels.tsv:2"));
    let e = load_folder(
        &dir.path().join("missing.tsv"),
        &cfg,
        &a,
        Purpose::Train,
        true,
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing.tsv"));
    // A report lists counts per reason.
    let tsv = write_folder(
        dir.path(),
        "junk.png\tx\nok.png\tå\nok.png\tø\nok.png\tfine\n",
    );
    let (_, rep) = load_folder(&tsv, &cfg, &a, Purpose::Train, true).unwrap();
    let shown = rep.to_string();
    assert!(shown.contains("kept 1, skipped 3"), "{shown}");
    assert!(
        shown.contains("2  characters outside the alphabet"),
        "{shown}"
    );
}

fn png_bytes(img: DynamicImage) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png).unwrap();
    buf.into_inner()
}

fn write_lmdb(dir: &Path, entries: &[(&str, Vec<u8>)]) {
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .map_size(1 << 22)
            .open(dir)
            .unwrap()
    };
    let mut wtxn = env.write_txn().unwrap();
    let db: heed::Database<heed::types::Bytes, heed::types::Bytes> =
        env.create_database(&mut wtxn, None).unwrap();
    for (k, v) in entries {
        db.put(&mut wtxn, k.as_bytes(), v).unwrap();
    }
    wtxn.commit().unwrap();
    env.prepare_for_closing().wait();
}

#[test]
fn lmdb_round_trip_and_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let img = |w| {
        png_bytes(DynamicImage::ImageLuma8(GrayImage::from_pixel(
            w,
            16,
            Luma([50]),
        )))
    };
    write_lmdb(
        dir.path(),
        &[
            ("num-samples", b"3".to_vec()),
            ("image-000000001", img(40)),
            ("label-000000001", b"Shop".to_vec()),
            ("image-000000002", img(20)),
            ("label-000000002", b"7".to_vec()),
            ("image-000000003", img(30)),
            ("label-000000003", b"no".to_vec()),
        ],
    );
    let cfg = NormConfig::default();
    let a = Alphabet::default();
    let (ims, rep) = load_lmdb(dir.path(), &cfg, &a, Purpose::Train, false).unwrap();
    assert_eq!(rep.total(), 0);
    assert_eq!(
        ims.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(),
        ["shop", "7", "no"]
    );
    assert_eq!(
        ims.iter().map(|w| w.width).collect::<Vec<_>>(),
        [80, 40, 60]
    );
    assert!(ims[0].source.contains("image-000000001"));
    // Loading twice works: the environment is closed after each load.
    assert_eq!(
        load_lmdb(dir.path(), &cfg, &a, Purpose::Train, false)
            .unwrap()
            .0,
        ims
    );

    let bad = tempfile::tempdir().unwrap();
    write_lmdb(
        bad.path(),
        &[
            ("num-samples", b"3".to_vec()),
            ("image-000000001", img(40)),
            ("label-000000001", b"ok".to_vec()),
            ("label-000000002", b"lost".to_vec()),
            ("image-000000003", img(40)),
            ("label-000000003", b"wh?".to_vec()),
        ],
    );
    let e = load_lmdb(bad.path(), &cfg, &a, Purpose::Train, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing key \"image-000000002\""), "{e}");
    let (ims, rep) = load_lmdb(bad.path(), &cfg, &a, Purpose::Train, true).unwrap();
    assert_eq!(ims.len(), 1);
    assert_eq!(rep.count(SkipReason::MissingKey), 1);
    assert_eq!(rep.count(SkipReason::UnknownChars), 1);
    assert!(rep
        .examples
        .iter()
        .any(|m| m.contains("'?'") && m.contains("image-000000003")));

    let none = tempfile::tempdir().unwrap();
    write_lmdb(none.path(), &[("image-000000001", img(40))]);
    let e = load_lmdb(none.path(), &cfg, &a, Purpose::Train, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("num-samples"), "{e}");
    let e = load_lmdb(&none.path().join("nope"), &cfg, &a, Purpose::Train, true).unwrap_err();
    assert!(e.to_string().contains("no data.mdb"), "{e}");
}

/// The default corpus, timed: `cargo test --release -p scene-text --lib default_corpus -- --ignored
/// --nocapture`. Set STR_SAMPLES=file.png to also write a sheet of the first images.
#[test]
#[ignore]
fn default_corpus_timing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RenderConfig::default();
    let t = std::time::Instant::now();
    let s = generate_corpus(&cfg, dir.path()).unwrap();
    let gen = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let c = generate_corpus(&cfg, dir.path()).unwrap();
    assert!(c.from_cache);
    let cached = t.elapsed().as_secs_f64();
    let mb = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum::<u64>() as f64
        / 1e6;
    println!(
        "generated {}/{}/{} in {gen:.1} s; cache {mb:.1} MB read in {cached:.1} s",
        s.train.len(),
        s.dev.len(),
        s.test.len()
    );
    let mean_w = s.train.iter().map(|w| w.width).sum::<usize>() as f64 / s.train.len() as f64;
    println!("mean train width {mean_w:.1}");
    for (name, f) in [
        ("train", &s.fonts.train),
        ("dev", &s.fonts.dev),
        ("test", &s.fonts.test),
    ] {
        let fams = SplitFonts::families(f);
        println!(
            "{name}: {} files, {} families: {}",
            f.len(),
            fams.len(),
            fams.join(", ")
        );
    }
    if let Ok(out) = std::env::var("STR_SAMPLES") {
        let ims: Vec<&WordImage> = s
            .train
            .iter()
            .take(24)
            .chain(s.test.iter().take(16))
            .collect();
        let mut sheet = GrayImage::from_pixel(4 * 132, 10 * 36, Luma([128]));
        for (k, im) in ims.iter().enumerate() {
            let g = normalize::to_grey(&im.pixels, im.width);
            image::imageops::overlay(&mut sheet, &g, (k % 4) as i64 * 132, (k / 4) as i64 * 36);
            println!("{k}: {} [{}]", im.text, im.source);
        }
        sheet.save(out).unwrap();
    }
}
