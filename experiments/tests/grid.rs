//! `run --grid` end to end on the toy preset: a KD-weight grid trains the teachers and the
//! CTC-only student once, writes every cell's rows (with their overrides) into one grid
//! results file, and `compare` pairs the students within each cell, over seeds and per seed.

use std::path::Path;

mod common;

use common::{bin, ok, only_dir};

#[test]
fn a_kd_weight_grid_trains_shared_stages_once_and_pairs_students_per_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let args = |extra: &[&str]| {
        let mut c = bin();
        c.args([
            "run",
            "toy-oracle",
            "--quick",
            "--no-progress",
            "--seeds",
            "2",
        ])
        .args(["--kd", "ctc,frame-kd"])
        .args(["--grid", "student.kd.frame-kd.weight=0.5,2"])
        .args(extra)
        .arg("--out")
        .arg(out);
        c
    };
    let text = ok(&mut args(&[]));
    // The second cell reuses, per seed, the teacher, the oracle and the CTC-only student.
    let reused = text.matches("reusing the identical finished stage").count();
    assert_eq!(reused, 6, "{text}");
    assert!(
        text.contains("objective: L = 1.0*CTC + 0.5*FrameKD(tau=1)"),
        "{text}"
    );
    assert!(
        text.contains("objective: L = 1.0*CTC + 2.0*FrameKD(tau=1)"),
        "{text}"
    );

    let grid = only_dir(out, "toy-oracle-grid-");
    let mut rdr = csv::Reader::from_path(grid.join("results.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    // 2 cells x 2 seeds x (teacher, oracle, ctc student, frame-kd from each teacher).
    assert_eq!(rows.len(), 20);
    let cell = |r: &csv::StringRecord| r[col("overrides")].to_string();
    let pick = |role: &str, teacher: &str, kd: &str, seed: &str, o: &str| {
        rows.iter()
            .find(|r| {
                r[col("role")] == *role
                    && r[col("teacher")] == *teacher
                    && r[col("kd")] == *kd
                    && r[col("seed")] == *seed
                    && cell(r) == o
            })
            .unwrap_or_else(|| panic!("no row {role} {teacher} {kd} {seed} {o}"))
    };
    let (a, b) = (
        "student.kd.frame-kd.weight=0.5",
        "student.kd.frame-kd.weight=2",
    );
    for seed in ["0", "1"] {
        // A reused stage is the same model: same error, same training time.
        for (role, teacher, kd) in [
            ("teacher", "conventional", "ctc"),
            ("oracle", "oracle", "ctc"),
            ("student", "none", "ctc"),
        ] {
            let (x, y) = (
                pick(role, teacher, kd, seed, a),
                pick(role, teacher, kd, seed, b),
            );
            for c in ["test_cer", "train_seconds", "dev_cer"] {
                assert_eq!(x[col(c)], y[col(c)], "{role} {c} seed {seed}");
            }
        }
        let (x, y) = (
            pick("student", "oracle", "frame-kd", seed, a),
            pick("student", "oracle", "frame-kd", seed, b),
        );
        assert_ne!(x[col("train_seconds")], y[col("train_seconds")]);
    }
    // Per-example edit counts are kept with every model; the grid file points at the cells'.
    for r in &rows {
        let p = grid.join(&r[col("test_edits")]);
        assert!(p.is_file(), "{}", p.display());
    }
    for r in &rows {
        let want = if &r[col("role")] == "oracle" {
            "source+labels"
        } else {
            "source"
        };
        assert_eq!(&r[col("scored_with")], want);
    }

    let cmp = ok(bin().arg("compare").arg(grid.join("results.csv")));
    assert!(cmp.contains("Paired comparisons"), "{cmp}");
    for want in [
        "| oracle/frame-kd (student.kd.frame-kd.weight=0.5) | conventional/frame-kd (student.kd.frame-kd.weight=0.5) | 2 |",
        "| oracle/frame-kd (student.kd.frame-kd.weight=2) | none/ctc (student.kd.frame-kd.weight=2) | 2 |",
        "| conventional/frame-kd (student.kd.frame-kd.weight=2) | none/ctc (student.kd.frame-kd.weight=2) | 2 |",
    ] {
        assert!(cmp.contains(want), "{want}\n{cmp}");
    }
    // Every seed of every pair got its bootstrap interval from the edit counts.
    assert!(!cmp.contains("no edit counts"), "{cmp}");
    assert_eq!(cmp.matches("s0: ").count(), 6, "{cmp}");

    // The grid resumes like any run: everything is done, nothing trains again.
    let again = ok(&mut args(&[]));
    assert!(!again.contains("objective:"), "{again}");

    // `--reuse`: a plain run with a new weight adopts a cell's teachers and CTC-only student.
    let cell = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("toy-oracle-") && !n.starts_with("toy-oracle-grid-")
        })
        .unwrap();
    let plain = |reuse: &Path| {
        let mut c = bin();
        c.args(["run", "toy-oracle", "--quick", "--no-progress"])
            .args(["--seeds", "2", "--kd", "ctc,frame-kd"])
            .args(["--set", "student.kd.frame-kd.weight=4", "--reuse"])
            .arg(reuse)
            .arg("--out")
            .arg(out.join("plain"));
        c
    };
    let text = ok(&mut plain(&cell));
    assert_eq!(
        text.matches("reusing the identical finished stage").count(),
        6,
        "{text}"
    );
    assert_eq!(
        text.matches("objective: L = 1.0*CTC + 4.0*FrameKD(tau=1)")
            .count(),
        4,
        "one frame-KD student per teacher and seed: {text}"
    );
    let bad = plain(&out.join("nowhere")).output().unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("not a run directory"),
        "{err}"
    );
}
