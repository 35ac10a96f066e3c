//! The classification task end to end on a tiny synthetic IDX corpus (written here, so CI
//! needs no dataset package): `run hinton-mnist --quick` with every student and the
//! omitted-class bias correction, `eval` on a JSON manifest, `classify` on a PNG, and the
//! oracle turned on, which the copy diagnostics must flag.

use std::io::Write;
use std::path::Path;

mod common;

use common::{bin, ok};

const SIDE: usize = 8;

/// Class k lights pixel 6k (plus noise on every pixel): learnable, but not trivially.
fn corpus(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut pixels = Vec::with_capacity(n * SIDE * SIDE);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let k = (next() % 10) as usize;
        labels.push(k as u8);
        for p in 0..SIDE * SIDE {
            let noise = (next() % 50) as u8;
            pixels.push(if p == 6 * k { 255 } else { noise });
        }
    }
    (pixels, labels)
}

fn idx_gz(path: &Path, dims: &[u32], data: &[u8]) {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&b).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

fn write_corpus(dir: &Path) {
    for (name, n, seed) in [("train", 700usize, 1u64), ("t10k", 300, 2)] {
        let (px, lb) = corpus(n, seed);
        let s = SIDE as u32;
        idx_gz(
            &dir.join(format!("{name}-images-idx3-ubyte.gz")),
            &[n as u32, s, s],
            &px,
        );
        idx_gz(
            &dir.join(format!("{name}-labels-idx1-ubyte.gz")),
            &[n as u32],
            &lb,
        );
    }
}

/// Settings that keep the run a few seconds long on the tiny corpus.
fn small(data: &Path) -> Vec<String> {
    [
        format!("data.dir={}", data.display()),
        "data.rows=8".into(),
        "data.cols=8".into(),
        "data.jitter=1".into(),
        "data.n_train=600".into(),
        "data.n_dev=100".into(),
        "data.n_test=300".into(),
        "teacher.encoder.d_model=48".into(),
        "student.encoder.d_model=24".into(),
        "teacher.train.steps=100".into(),
        "student.train.steps=80".into(),
        "teacher.train.batch_size=32".into(),
        "student.train.batch_size=32".into(),
        "teacher.train.warmup=5".into(),
        "student.train.warmup=5".into(),
        "teacher.train.lr=3e-3".into(),
        "student.train.lr=3e-3".into(),
    ]
    .into_iter()
    .flat_map(|s| ["--set".to_string(), s])
    .collect()
}

fn only_dir(out: &Path) -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hinton-mnist-")
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

#[test]
fn hinton_mnist_quick_on_a_synthetic_corpus_then_eval_and_classify() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_corpus(&data);
    let out = tmp.path().join("runs");
    let text = ok(bin()
        .args(["run", "hinton-mnist", "--quick", "--no-progress"])
        .args(small(&data))
        .arg("--out")
        .arg(&out));
    assert!(text.contains("bias correction: +"), "{text}");
    let dir = only_dir(&out);
    let mut rdr = csv::Reader::from_path(dir.join("results.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let kds: Vec<&str> = rows.iter().map(|r| &r[col("kd")]).collect();
    assert_eq!(
        kds,
        [
            "ctc",
            "ctc",
            "hinton-t1",
            "hinton-t2",
            "hinton-t5",
            "hinton-t10",
            "hinton-t20",
            "hinton-t20-omit3",
            "hinton-t20-omit3+bias"
        ]
    );
    assert!(rows.iter().all(|r| &r[col("role")] != "oracle"));
    // The corpus is learnable: the teacher-less student beats chance (270 errors of 300).
    let baseline: u64 = rows[1][col("test_errors")].parse().unwrap();
    assert!(baseline < 150, "{baseline} errors of 300");
    for r in &rows {
        // Errors out of N agree with the error rate (the CER over one-label examples).
        let errors: f64 = r[col("test_errors")].parse().unwrap();
        assert_eq!(&r[col("test_examples")], "300");
        let cer: f64 = r[col("test_cer")].parse().unwrap();
        assert!((errors / 3.0 - cer).abs() < 1e-9, "{r:?}");
        let omitted = r[col("kd")].contains("omit3");
        assert_eq!(r[col("omitted_examples")].is_empty(), !omitted, "{r:?}");
    }
    let bias: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("seed-0/student-conventional-hinton-t20-omit3/bias.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(bias["dev_curve"].as_array().unwrap().len(), 81);
    assert!(bias["dev_error_after"].as_f64() <= bias["dev_error_before"].as_f64());
    // The transfer set of the omitted-class student lacks class 3: its teacher cache is smaller.
    let caches = dir.join("seed-0/cache");
    assert!(caches.join("conventional-omit-4.safetensors").is_file());

    let table = ok(bin().arg("compare").arg(dir.join("results.csv")));
    assert!(table.contains("| test_errors | of |"), "{table}");

    // eval on a JSON manifest, classify on a PNG.
    let model = dir.join("seed-0/student-none-ctc/model");
    let (px, lb) = corpus(20, 9);
    let items: Vec<serde_json::Value> = (0..20)
        .map(|i| serde_json::json!({"image": &px[i * 64..(i + 1) * 64], "label": lb[i]}))
        .collect();
    let manifest = tmp.path().join("m.json");
    std::fs::write(&manifest, serde_json::to_string(&items).unwrap()).unwrap();
    let text = ok(bin()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--manifest")
        .arg(&manifest));
    assert!(text.contains("over 20 images"), "{text}");
    std::fs::write(&manifest, r#"[{"image": [1, 2], "label": 1}]"#).unwrap();
    let bad = bin()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("image of 2 values"));
    let png = tmp.path().join("x.png");
    image::GrayImage::from_raw(8, 8, px[..64].to_vec())
        .unwrap()
        .save(&png)
        .unwrap();
    let text = ok(bin().args(["classify", "--model"]).arg(&model).arg(&png));
    assert!(text.contains("x.png\t"), "{text}");
}

/// An oracle fed the class label of a one-frame example can only copy it: turned on (an
/// `[oracle]` section added), its copy diagnostics flag it.
#[test]
fn an_oracle_on_one_label_examples_is_flagged_as_copying() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_corpus(&data);
    let out = tmp.path().join("runs");
    let oracle = "oracle={encoder={d_model=32, layers=1, heads=4, d_ff=64}, \
                  train={steps=120, batch_size=32, lr=3e-3, warmup=10, eval_every=60, select_best=false}}";
    let text = ok(bin()
        .args([
            "run",
            "hinton-mnist",
            "--quick",
            "--no-progress",
            "--kd",
            "none",
        ])
        .args(small(&data))
        .args(["--set", oracle])
        .arg("--out")
        .arg(&out));
    assert!(
        text.contains("the oracle looks like it copies its labels"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(only_dir(&out).join("seed-0/oracle/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["extra"]["copy_suspected"], true, "{report}");
}
