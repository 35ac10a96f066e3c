//! Classification data: IDX image and label files (raw and gzipped) and JSON example files.

use std::io::Write;

use classify::load::{idx_pair, json_examples};
use flate2::{write::GzEncoder, Compression};

use super::mutate::{cases, mutate_bytes, mutate_lines, run};
use super::{named, DEFAULT_CASES};

fn idx(kind: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, kind];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

#[test]
fn fuzz_idx_files() {
    let dir = tempfile::tempdir().unwrap();
    let (img_path, lbl_path) = (
        dir.path().join("case-images"),
        dir.path().join("case-labels"),
    );
    let pixels: Vec<u8> = (0..3 * 4 * 4).map(|i| (i * 5) as u8).collect();
    let images = idx(3, &[3, 4, 4], &pixels);
    let labels = idx(1, &[3], &[0, 7, 9]);
    run("idx", 0x1d8, cases(DEFAULT_CASES), |rng| {
        let mut files = [images.clone(), labels.clone()];
        // Mutate one file or both, before or after compressing it.
        for f in files.iter_mut() {
            if rng.bernoulli(0.6) {
                *f = match rng.below(3) {
                    0 => gz(&mutate_bytes(f, rng)),
                    1 => mutate_bytes(&gz(f), rng),
                    _ => mutate_bytes(f, rng),
                };
            } else if rng.bernoulli(0.5) {
                *f = gz(f);
            }
        }
        std::fs::write(&img_path, &files[0]).unwrap();
        std::fs::write(&lbl_path, &files[1]).unwrap();
        let (im, lb) = idx_pair(&img_path, &lbl_path, 10).map_err(|e| named(e, "case-"))?;
        assert_eq!(im.len(), lb.len());
        assert!(lb.iter().all(|&l| l < 10));
        Ok(())
    });
}

#[test]
fn fuzz_json_examples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("examples.json");
    let seed = "[\n{\"image\": [0, 1, 2, 3], \"label\": 1},\n\
                {\"image\": [255, 0, 0, 9.5], \"label\": 2},\n\
                {\"image\": [7, 7, 7, 7], \"label\": 0}\n]\n";
    run("json-examples", 0x15, cases(DEFAULT_CASES), |rng| {
        let text = mutate_lines(seed, ',', rng);
        std::fs::write(&path, if rng.bernoulli(0.2) { gz(&text) } else { text }).unwrap();
        let (im, lb) =
            json_examples(&path, 2, 2, 255.0, 3).map_err(|e| named(e, "examples.json"))?;
        assert_eq!(im.len(), lb.len());
        Ok(())
    });
}
