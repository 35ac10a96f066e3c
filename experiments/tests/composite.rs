//! `--composite` end to end: a `--quick` run of the toy preset through the composite path of
//! every op (the code a GPU runs) trains and scores every model; its loss falls.

mod common;

use common::{bin, ok};

#[test]
fn a_quick_run_on_the_composite_path_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let text = ok(bin()
        .args([
            "--composite",
            "run",
            "toy-oracle",
            "--quick",
            "--no-progress",
        ])
        .arg("--out")
        .arg(tmp.path()));
    assert!(
        text.contains("--composite: every op takes its composite path"),
        "{text}"
    );
    // The teacher's loss at its first and last evaluation.
    let losses: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("[teacher] step "))
        .filter_map(|l| l.split(" loss ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(losses.len() >= 2, "{text}");
    assert!(losses[losses.len() - 1] < losses[0], "{losses:?}");
    let dir = common::run_dir(tmp.path(), "toy-oracle");
    let rows = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(rows.lines().count() > 3, "{rows}");
}
