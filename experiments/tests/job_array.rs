//! `run --cell I` end to end on the toy preset: the tasks of a grid x seeds job array, run at
//! once as separate processes into one folder, leave the same rows as one process running the
//! whole grid (training times aside), and `--list-cells` names every task.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

mod common;

use common::{bin, ok, only_dir};

const ARGS: [&str; 11] = [
    "run",
    "toy-oracle",
    "--quick",
    "--no-progress",
    "--seeds",
    "2",
    "--kd",
    "ctc,frame-kd",
    "--grid",
    "student.kd.frame-kd.weight=0.5,2",
    "--out",
];

/// The grid's rows keyed by (cell, seed, role, teacher, kd), every column but the training time.
fn grid_rows(out: &Path) -> BTreeMap<Vec<String>, Vec<(String, String)>> {
    let grid = only_dir(out, "toy-oracle-grid-");
    let mut rdr = csv::Reader::from_path(grid.join("results.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    let mut rows = BTreeMap::new();
    for r in rdr.records() {
        let r = r.unwrap();
        let get = |k: &str| r[header.iter().position(|h| h == k).unwrap()].to_string();
        let key = ["overrides", "seed", "role", "teacher", "kd"]
            .map(get)
            .to_vec();
        let rest = header
            .iter()
            .zip(r.iter())
            .filter(|(h, _)| *h != "train_seconds")
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        assert!(rows.insert(key, rest).is_none(), "duplicate row");
    }
    rows
}

#[test]
fn job_array_tasks_at_once_give_the_rows_of_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, many) = (tmp.path().join("one"), tmp.path().join("many"));
    ok(bin().args(ARGS).arg(&one));

    let listing = ok(bin().args(ARGS).arg(&many).arg("--list-cells"));
    let tasks: Vec<&str> = listing
        .lines()
        .filter(|l| l.split('\t').count() == 4)
        .collect();
    assert_eq!(tasks.len(), 4, "{listing}");
    assert!(tasks[1].starts_with("1\tseed 1\tstudent.kd.frame-kd.weight=0.5\t"));
    assert!(tasks[2].starts_with("2\tseed 0\tstudent.kd.frame-kd.weight=2\t"));
    assert!(
        listing.contains("4 tasks: --cell 0 to --cell 3"),
        "{listing}"
    );
    assert!(!many.exists() || std::fs::read_dir(&many).unwrap().next().is_none());

    let children: Vec<_> = (0..4)
        .map(|i| {
            bin()
                .args(ARGS)
                .arg(&many)
                .args(["--cell", &i.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "task {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (a, b) = (grid_rows(&one), grid_rows(&many));
    assert_eq!(a.len(), 20);
    assert_eq!(a, b);

    let e = bin()
        .args(ARGS)
        .arg(&many)
        .args(["--cell", "4"])
        .output()
        .unwrap();
    assert!(!e.status.success());
    let msg = String::from_utf8_lossy(&e.stderr);
    assert!(
        msg.contains("--cell 4: this command has 4 tasks (2 grid cells x 2 seeds)"),
        "{msg}"
    );
}
