//! Word-image files, TSV indexes and LMDB datasets.

use ctc_core::admit::Purpose;
use image::{DynamicImage, GrayImage, ImageBuffer, ImageFormat, Luma};
use scene_text::{decode_image, load_folder, load_lmdb, Alphabet, NormConfig, SkipReason};

use super::{says, text};
use crate::lmdb::write_lmdb;

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, format).unwrap();
    buf.into_inner()
}

/// A PNG whose header (IHDR) declares `w x h` 8-bit grey, with no pixel data: enough for the
/// size check, which must come before any decoding.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(&13u32.to_be_bytes());
    b.extend_from_slice(&ihdr);
    b.extend_from_slice(&crc.sum().to_be_bytes());
    // The decoder reads the header chunks up to the first IDAT: give it an empty one.
    let mut crc = flate2::Crc::new();
    crc.update(b"IDAT");
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(b"IDAT");
    b.extend_from_slice(&crc.sum().to_be_bytes());
    b
}

/// An 8 x 8 baseline JPEG of four components (CMYK, Adobe transform 0), every block flat:
/// one-symbol Huffman tables code "DC difference 0" and "end of block" as a single 0 bit.
fn cmyk_jpeg() -> Vec<u8> {
    let mut b = vec![0xff, 0xd8];
    // APP14 "Adobe": version 100, flags 0, 0, transform 0 (CMYK, not YCCK).
    b.extend_from_slice(&[0xff, 0xee, 0, 14]);
    b.extend_from_slice(b"Adobe");
    b.extend_from_slice(&[0, 100, 0, 0, 0, 0, 0]);
    // One quantisation table of ones.
    b.extend_from_slice(&[0xff, 0xdb, 0, 67, 0]);
    b.extend_from_slice(&[1; 64]);
    // SOF0: 8 bits, 8 x 8, four components sampled 1x1, table 0.
    b.extend_from_slice(&[0xff, 0xc0, 0, 20, 8, 0, 8, 0, 8, 4]);
    for id in 1..=4 {
        b.extend_from_slice(&[id, 0x11, 0]);
    }
    // DC table 0 and AC table 0, each one code of length 1 (symbol 0).
    for class in [0x00, 0x10] {
        b.extend_from_slice(&[0xff, 0xc4, 0, 20, class, 1]);
        b.extend_from_slice(&[0; 15]);
        b.push(0);
    }
    b.extend_from_slice(&[0xff, 0xda, 0, 14, 4]);
    for id in 1..=4 {
        b.extend_from_slice(&[id, 0x00]);
    }
    b.extend_from_slice(&[0, 63, 0]);
    // Four blocks of two 0 bits each.
    b.push(0x00);
    b.extend_from_slice(&[0xff, 0xd9]);
    b
}

#[test]
fn image_kinds_and_sizes() {
    let cfg = NormConfig::default();
    let wide = decode_image(&png_header(100_000, 32), &cfg, "wide.png");
    says(
        &text(wide),
        &[
            "wide.png",
            "100000x32 is too large",
            "norm.max_side = 10000",
        ],
    );
    let big = decode_image(&png_header(3000, 3000), &cfg, "big.png");
    says(
        &text(big),
        &["big.png", "9000000 pixels exceed norm.max_pixels = 4000000"],
    );
    // The limits are settings: a smaller one refuses a smaller image.
    let small = NormConfig {
        max_pixels: 100,
        ..Default::default()
    };
    let png = encode(
        GrayImage::from_pixel(20, 10, Luma([3])).into(),
        ImageFormat::Png,
    );
    assert!(decode_image(&png, &cfg, "ok.png").is_ok());
    says(
        &text(decode_image(&png, &small, "ok.png")),
        &["200 pixels exceed"],
    );
    says(
        &text(decode_image(&png_header(0, 0), &cfg, "zero.png")),
        &["zero.png"],
    );
    says(
        &text(decode_image(&png[..png.len() / 2], &cfg, "cut.png")),
        &["cut.png", "cannot decode"],
    );
    says(
        &text(decode_image(&[], &cfg, "empty.png")),
        &["empty.png", "empty file"],
    );
    // 16-bit grey and CMYK decode like any other image.
    let deep = ImageBuffer::from_fn(24, 12, |x, _| Luma([x as u16 * 2000]));
    let deep = encode(DynamicImage::ImageLuma16(deep), ImageFormat::Png);
    let img = decode_image(&deep, &cfg, "deep.png").unwrap();
    assert_eq!((img.width(), img.height()), (24, 12));
    let img = decode_image(&cmyk_jpeg(), &cfg, "cmyk.jpg").unwrap();
    assert_eq!((img.width(), img.height()), (8, 8));
}

#[test]
fn index_lines_are_named_errors_or_counted_skips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("set");
    std::fs::create_dir(&d).unwrap();
    GrayImage::from_pixel(64, 32, Luma([9]))
        .save(d.join("ok.png"))
        .unwrap();
    GrayImage::from_pixel(64, 32, Luma([9]))
        .save(dir.path().join("out.png"))
        .unwrap();
    std::fs::write(d.join("wide.png"), png_header(20_000, 32)).unwrap();
    let tsv = d.join("labels.tsv");
    let (cfg, a) = (NormConfig::default(), Alphabet::default());
    let cases: [(&str, SkipReason, &str); 3] = [
        (
            "../out.png\tword",
            SkipReason::BadPath,
            "leads out of the index's folder",
        ),
        (
            "wide.png\tword",
            SkipReason::TooLarge,
            "20000x32 is too large",
        ),
        ("gone.png\tword", SkipReason::Unreadable, "gone.png"),
    ];
    for (line, reason, needle) in cases {
        std::fs::write(&tsv, format!("ok.png\tfine\n{line}\n")).unwrap();
        says(
            &text(load_folder(&tsv, &cfg, &a, Purpose::Score, false)),
            &["labels.tsv:2", needle],
        );
        let (ims, rep) = load_folder(&tsv, &cfg, &a, Purpose::Score, true).unwrap();
        assert_eq!(
            (ims.len(), rep.count(reason), rep.total()),
            (1, 1, 1),
            "{line}"
        );
    }
    let abs = format!("{}\tword\n", dir.path().join("out.png").display());
    std::fs::write(&tsv, abs).unwrap();
    assert_eq!(
        load_folder(&tsv, &cfg, &a, Purpose::Score, false)
            .unwrap()
            .0
            .len(),
        1
    );
    std::fs::write(&tsv, b"ok.png\tfine\nok.png\tfi\xffne\n").unwrap();
    says(
        &text(load_folder(&tsv, &cfg, &a, Purpose::Score, true)),
        &["labels.tsv:2", "not valid UTF-8"],
    );
    // A line without its label column is malformed: an error even with skip_bad.
    std::fs::write(&tsv, "ok.png\tfine\nok.png\n").unwrap();
    says(
        &text(load_folder(&tsv, &cfg, &a, Purpose::Score, true)),
        &["labels.tsv:2", "path<TAB>label"],
    );
}

#[test]
fn lmdb_counts_that_disagree_with_the_entries_are_errors() {
    let png = encode(
        GrayImage::from_pixel(40, 32, Luma([9])).into(),
        ImageFormat::Png,
    );
    let (cfg, a) = (NormConfig::default(), Alphabet::default());
    let pair = [
        ("image-000000001", &png[..]),
        ("label-000000001", &b"ok"[..]),
    ];
    for (count, needle) in [
        (
            "99999999999999999",
            "num-samples = 99999999999999999 is more than the 3 entries",
        ),
        (
            "0",
            "num-samples = 0, but the database holds 3 entries (expected 1)",
        ),
        ("-1", "not a number"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = vec![("num-samples", count.as_bytes())];
        entries.extend(pair);
        write_lmdb(dir.path(), &entries);
        says(
            &text(load_lmdb(dir.path(), &cfg, &a, Purpose::Score, true)),
            &["[num-samples]", needle],
        );
    }
    // One sample short of its count: the missing keys are a counted skip.
    let dir = tempfile::tempdir().unwrap();
    let mut entries = vec![("num-samples", &b"2"[..])];
    entries.extend(pair);
    write_lmdb(dir.path(), &entries);
    let (ims, rep) = load_lmdb(dir.path(), &cfg, &a, Purpose::Score, true).unwrap();
    assert_eq!((ims.len(), rep.count(SkipReason::MissingKey)), (1, 1));
    says(
        &text(load_lmdb(dir.path(), &cfg, &a, Purpose::Score, false)),
        &["missing key \"label-000000002\""],
    );
}
