//! Word images: encoded image files, TSV-indexed folders, deep-text-recognition-benchmark
//! LMDB folders (mutated by entries: keys removed, counts and labels replaced, image bytes
//! mutated).

use ctc_core::admit::Purpose;
use image::{DynamicImage, GrayImage, ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
use scene_text::{load_folder, load_lmdb, Alphabet, NormConfig};

use super::mutate::{cases, mutate_bytes, mutate_lines, run, INTERESTING_FIELDS};
use super::{named, DEFAULT_CASES};
use crate::lmdb::write_lmdb;

/// Training and scoring keep different examples: fuzz both.
fn purpose(rng: &mut ctc_core::rng::Rng) -> Purpose {
    if rng.bernoulli(0.5) {
        Purpose::Train
    } else {
        Purpose::Score
    }
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, format).unwrap();
    buf.into_inner()
}

/// Grey PNG, 16-bit RGBA PNG, RGB JPEG, RGB BMP.
fn image_seeds() -> Vec<(Vec<u8>, &'static str)> {
    let grey = GrayImage::from_fn(40, 32, |x, y| Luma([((x * 7 + y * 3) % 256) as u8]));
    let rgba16 = ImageBuffer::from_fn(20, 10, |x, y| {
        Rgba([x as u16 * 3000, y as u16 * 6000, 65535, 40000])
    });
    let rgb = ImageBuffer::from_fn(30, 20, |x, y| Rgb([x as u8 * 8, y as u8 * 12, 200]));
    vec![
        (encode(grey.into(), ImageFormat::Png), "png"),
        (
            encode(DynamicImage::ImageRgba16(rgba16), ImageFormat::Png),
            "png",
        ),
        (encode(rgb.clone().into(), ImageFormat::Jpeg), "jpg"),
        (encode(rgb.into(), ImageFormat::Bmp), "bmp"),
    ]
}

#[test]
fn fuzz_image_files() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = image_seeds();
    let tsv = dir.path().join("labels.tsv");
    let alphabet = Alphabet::default();
    run("image", 0x1a6e, cases(DEFAULT_CASES), |rng| {
        let (seed, ext) = &seeds[rng.below(seeds.len())];
        let name = format!("case.{ext}");
        std::fs::write(dir.path().join(&name), mutate_bytes(seed, rng)).unwrap();
        std::fs::write(&tsv, format!("{name}\tword\n")).unwrap();
        let mut cfg = NormConfig::default();
        if rng.bernoulli(0.2) {
            cfg.max_pixels = 500;
            cfg.max_side = 35;
        }
        load_folder(&tsv, &cfg, &alphabet, purpose(rng), false)
            .map(|_| ())
            .map_err(|e| named(e, "labels.tsv:1"))
    });
}

#[test]
fn fuzz_word_image_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    GrayImage::from_pixel(64, 32, Luma([40]))
        .save(d.join("ok.png"))
        .unwrap();
    GrayImage::from_pixel(300, 20, Luma([200]))
        .save(d.join("wide.png"))
        .unwrap();
    let seed = "path\tlabel\nok.png\thello\nwide.png\tWorld\nok.png\tabc\n";
    let tsv = d.join("labels.tsv");
    let alphabet = Alphabet::default();
    run("word-image-index", 0x75f, cases(DEFAULT_CASES), |rng| {
        std::fs::write(&tsv, mutate_lines(seed, '\t', rng)).unwrap();
        let skip_bad = rng.bernoulli(0.5);
        let (ims, rep) = load_folder(
            &tsv,
            &NormConfig::default(),
            &alphabet,
            purpose(rng),
            skip_bad,
        )
        .map_err(|e| named(e, "labels.tsv"))?;
        assert_eq!(rep.kept, ims.len());
        assert!(skip_bad || rep.total() == 0, "skips without skip_bad");
        Ok(())
    });
}

#[test]
fn fuzz_lmdb_datasets() {
    let root = tempfile::tempdir().unwrap();
    let png = |w| {
        encode(
            GrayImage::from_pixel(w, 32, Luma([90])).into(),
            ImageFormat::Png,
        )
    };
    let mut seed: Vec<(String, Vec<u8>)> = vec![("num-samples".into(), b"3".to_vec())];
    for (i, (w, label)) in [(64, "hello"), (40, "abc"), (96, "Lmdb")]
        .iter()
        .enumerate()
    {
        seed.push((format!("image-{:09}", i + 1), png(*w)));
        seed.push((format!("label-{:09}", i + 1), label.as_bytes().to_vec()));
    }
    let alphabet = Alphabet::default();
    let mut n = 0;
    run("lmdb", 0x1bdb, cases(DEFAULT_CASES), |rng| {
        let mut entries = seed.clone();
        for _ in 0..rng.range(1, 3) {
            let i = rng.below(entries.len());
            match rng.below(6) {
                0 => {
                    entries.remove(i);
                }
                1 => {
                    let f = INTERESTING_FIELDS[rng.below(INTERESTING_FIELDS.len())];
                    entries[0].1 = f.as_bytes().to_vec();
                }
                2 => entries[0].1 = rng.range(0, 9).to_string().into_bytes(),
                3 => entries[i].1 = mutate_bytes(&entries[i].1, rng),
                4 => {
                    let f = INTERESTING_FIELDS[rng.below(INTERESTING_FIELDS.len())];
                    entries[i].1 = f.as_bytes().to_vec();
                }
                _ => entries.push((format!("image-{:09}", rng.range(0, 5)), png(8))),
            }
        }
        if entries.is_empty() {
            entries.push(("other".into(), b"x".to_vec()));
        }
        n += 1;
        let dir = root.path().join(format!("db-{n}"));
        std::fs::create_dir(&dir).unwrap();
        write_lmdb(&dir, &entries);
        let skip_bad = rng.bernoulli(0.5);
        let r = load_lmdb(
            &dir,
            &NormConfig::default(),
            &alphabet,
            purpose(rng),
            skip_bad,
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let (ims, rep) = r.map_err(|e| named(e, &format!("db-{n}")))?;
        assert_eq!(rep.kept, ims.len());
        Ok(())
    });
}
