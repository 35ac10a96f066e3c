use std::io::Write;

use super::*;

/// An IDX file of bytes with the given dimensions and data.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn message(e: DataError) -> String {
    e.to_string()
}

#[test]
fn raw_and_gzipped_idx_pairs_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..2 * 2 * 3).map(|i| i as u8 * 10).collect();
    let im = idx(&[2, 2, 3], &pixels);
    let lb = idx(&[2], &[7, 0]);
    let raw = idx_pair(
        &write(dir.path(), "im", &im),
        &write(dir.path(), "lb", &lb),
        10,
    )
    .unwrap();
    let zipped = idx_pair(
        &write(dir.path(), "im.gz", &gz(&im)),
        &write(dir.path(), "lb.gz", &gz(&lb)),
        10,
    )
    .unwrap();
    assert_eq!(raw, zipped);
    let (images, labels) = raw;
    assert_eq!((images.len(), images.rows, images.cols), (2, 2, 3));
    assert_eq!(images.image(1), &pixels[6..]);
    assert_eq!(labels, [7, 0]);
}

#[test]
fn bad_idx_files_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good_im = write(d, "good-im", &idx(&[2, 2, 2], &[0; 8]));
    let good_lb = write(d, "good-lb", &idx(&[2], &[1, 2]));
    let cases: Vec<(PathBuf, bool, &str)> = vec![
        // (file, is it the image file, expected fragment)
        (write(d, "empty", &[]), true, "too short"),
        (
            write(d, "magic", &[1, 2, 8, 3, 0, 0, 0, 0]),
            true,
            "not an IDX file",
        ),
        (
            write(d, "truncated", &idx(&[2, 2, 2], &[0; 5])),
            true,
            "(truncated)",
        ),
        (
            write(d, "long", &idx(&[2, 2, 2], &[0; 9])),
            true,
            "the file has 9",
        ),
        (
            write(d, "header", &[0, 0, 8, 3, 0, 0]),
            true,
            "truncated IDX header",
        ),
        (
            write(d, "labels-as-images", &idx(&[2], &[1, 2])),
            true,
            "1 dimensions, expected 3",
        ),
        (
            write(d, "range", &idx(&[2], &[3, 10])),
            false,
            "label 10 of example 1",
        ),
        (
            write(d, "count", &idx(&[3], &[1, 2, 3])),
            false,
            "3 labels for the 2 images",
        ),
        (
            write(d, "badgz", &[0x1f, 0x8b, 0, 1, 2]),
            false,
            "corrupt gzip",
        ),
    ];
    for (path, is_images, want) in cases {
        let (im, lb) = if is_images {
            (&path, &good_im)
        } else {
            (&good_im, &path)
        };
        let e = message(idx_pair(im, lb, 10).unwrap_err());
        assert!(
            e.starts_with(&path.display().to_string()) && e.contains(want),
            "{e:?} should name {} and say {want:?}",
            path.display()
        );
    }
    // The element type byte: only unsigned bytes.
    let mut f = idx(&[2, 2, 2], &[0; 8]);
    f[2] = 0x0d;
    let p = write(d, "float", &f);
    assert!(message(idx_images(&p).unwrap_err()).contains("element type 0x0d"));
    assert!(message(idx_images(&d.join("missing")).unwrap_err()).contains("cannot read"));
    idx_pair(&good_im, &good_lb, 3).unwrap();
}

#[test]
fn json_examples_read_and_reject_bad_entries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = write(
        d,
        "ok.json",
        br#"[{"image": [0, 0.5, 1, 1], "label": 2}, {"image": [1, 1, 0, 0], "label": 0}]"#,
    );
    let (im, lb) = json_examples(&ok, 2, 2, 1.0, 3).unwrap();
    assert_eq!(im.image(0), &[0, 128, 255, 255]);
    assert_eq!(lb, [2, 0]);
    let cases = [
        (
            "syntax.json",
            "[{\"image\": [0, 0, 0, 0], \n \"label\": }]",
            "line 2 column",
        ),
        (
            "size.json",
            r#"[{"image": [0, 0, 0], "label": 1}]"#,
            "example 0: image of 3 values",
        ),
        (
            "label.json",
            r#"[{"image": [0, 0, 0, 0], "label": 3}]"#,
            "example 0: label 3",
        ),
        (
            "neg.json",
            r#"[{"image": [0, 0, 0, 0], "label": -1}]"#,
            "label -1",
        ),
        (
            "pixel.json",
            r#"[{"image": [0, 0, 2, 0], "label": 1}]"#,
            "pixel 2 = 2",
        ),
        (
            "field.json",
            r#"[{"pixels": [0, 0, 0, 0], "label": 1}]"#,
            "unknown field",
        ),
    ];
    for (name, text, want) in cases {
        let p = write(d, name, text.as_bytes());
        let e = message(json_examples(&p, 2, 2, 1.0, 3).unwrap_err());
        assert!(
            e.starts_with(&p.display().to_string()) && e.contains(want),
            "{e:?} should say {want:?}"
        );
    }
}

#[test]
fn json_examples_skipping_keeps_the_good_and_names_the_bad() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "mixed.json",
        br#"[{"image": [0, 0, 0, 0], "label": 1}, {"image": [0, 0, 0], "label": 1},
             {"image": [1, 1, 1, 1], "label": 9}, {"image": [1, 0, 1, 0], "label": 2}]"#,
    );
    let (im, lb, skipped) = json_examples_skipping(&p, 2, 2, 1.0, 3).unwrap();
    assert_eq!((im.len(), lb), (2, vec![1, 2]));
    assert_eq!(im.image(1), &[255, 0, 255, 0]);
    assert_eq!(skipped.len(), 2);
    assert!(
        skipped[0].starts_with("example 1: image of 3 values"),
        "{skipped:?}"
    );
    assert!(skipped[1].starts_with("example 2: label 9"), "{skipped:?}");
    // Strict reading stops at the first bad one; a broken file is an error either way.
    let e = message(json_examples(&p, 2, 2, 1.0, 3).unwrap_err());
    assert!(e.contains("example 1:"), "{e}");
    let broken = write(dir.path(), "broken.json", b"[{");
    assert!(json_examples_skipping(&broken, 2, 2, 1.0, 3).is_err());
}

#[test]
fn idx_sizes_that_overflow_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // 2^32 - 1 cubed does not fit 64 bits.
    let im = write(dir.path(), "huge", &idx(&[u32::MAX; 3], &[1, 2, 3]));
    let e = message(idx_images(&im).unwrap_err());
    assert!(e.contains("huge") && e.contains("impossible size"), "{e}");
    // A size that fits but is far larger than the file is a truncation, not an allocation.
    let im = write(
        dir.path(),
        "big",
        &idx(&[1 << 20, 1 << 10, 1 << 10], &[1, 2, 3]),
    );
    let e = message(idx_images(&im).unwrap_err());
    assert!(e.contains("big") && e.contains("(truncated)"), "{e}");
}

#[test]
fn gzip_streams_inflating_past_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bomb.gz", &gz(&vec![0; 1 << 16]));
    let e = message(read_maybe_gz_within(&p, 1 << 12).unwrap_err());
    assert!(
        e.contains("bomb.gz") && e.contains("inflates to more than 4096 bytes"),
        "{e}"
    );
    assert_eq!(read_maybe_gz_within(&p, 1 << 16).unwrap().len(), 1 << 16);
}
