//! `compare`'s paired tests: p-values, Holm's adjustment over the report's family, the verdicts,
//! and the cluster bootstrap from the edit files.

use std::path::{Path, PathBuf};

use super::*;
use crate::pipeline::edits::{self, ExampleEdits};
use crate::results::append_rows;
use crate::stats::{paired_cluster_bootstrap, Counts};

fn row(role: &str, teacher: &str, kd: &str, seed: u64, test_cer: f64) -> ResultRow {
    ResultRow {
        task: "asr".into(),
        preset: "p".into(),
        seed,
        role: role.into(),
        teacher: teacher.into(),
        kd: kd.into(),
        anti_copy: if teacher == "oracle" {
            "token-substitution".into()
        } else {
            "-".into()
        },
        test_cer: Some(test_cer),
        ..Default::default()
    }
}

/// Students of one (teacher, kd) over seeds 1, 2, 3 with the given test CERs.
fn students(teacher: &str, kd: &str, cer: [f64; 3]) -> Vec<ResultRow> {
    (0..3)
        .map(|i| row("student", teacher, kd, i as u64 + 1, cer[i]))
        .collect()
}

/// A teacher-like row with its steps to the dev target.
fn teacher(role: &str, name: &str, seed: u64, steps: f64) -> ResultRow {
    let mut r = row(role, name, "ctc", seed, 30.0);
    r.steps_to_target = Some(steps);
    r.seconds_to_target = Some(steps / 10.0);
    r.leveloff_step = Some(steps);
    r.leveloff_seconds = Some(steps / 10.0);
    r
}

fn write(dir: &Path, rows: &[ResultRow]) -> PathBuf {
    let p = dir.join("results.csv");
    append_rows(&p, rows).unwrap();
    p
}

/// The markdown table line that starts with `prefix`.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{out}"))
}

/// The p (paired t), p Holm and verdict cells at the end of a table line.
fn tail(l: &str) -> Vec<&str> {
    let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
    cells[cells.len() - 3..].to_vec()
}

/// Two-sided p of a t statistic on 2 degrees of freedom (closed form): 1 - t / sqrt(2 + t^2).
fn p_df2(t: f64) -> f64 {
    1.0 - t / (2.0 + t * t).sqrt()
}

/// A report with both claim-1 pairs, a KD method outside the plan and the teacher-cost pair,
/// three seeds each.
fn claims_file(dir: &Path) -> PathBuf {
    let mut rows = Vec::new();
    rows.extend(students("none", "ctc", [50.0, 50.0, 50.0]));
    rows.extend(students("conventional", "frame-kd", [48.0, 48.5, 47.5]));
    // Oracle-taught: 2.9, 3.0, 3.1 points better -> mean -3, sd 0.1, t = -30 sqrt(3).
    rows.extend(students("oracle", "frame-kd", [45.1, 45.5, 44.4]));
    rows.extend(students("conventional", "guided-ctc", [49.0, 49.0, 49.0]));
    // ... and 2.9, 3.0, 3.1 points worse with Guided CTC: the same |t|.
    rows.extend(students("oracle", "guided-ctc", [51.9, 52.0, 52.1]));
    rows.extend(students("conventional", "hinton", [49.0, 49.0, 49.0]));
    rows.extend(students("oracle", "hinton", [49.5, 49.0, 48.7]));
    // Steps to the target: the oracle 100, 90, 80 fewer -> mean -90, sd 10, t = -9 sqrt(3).
    for (seed, steps) in [(1, 100.0), (2, 110.0), (3, 120.0)] {
        rows.push(teacher("teacher", "conventional", seed, 200.0));
        rows.push(teacher("oracle", "oracle", seed, steps));
    }
    write(dir, &rows)
}

#[test]
fn the_plans_family_is_adjusted_by_holm_and_gets_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let f = claims_file(dir.path());
    let claims = Holm {
        family: Family::Claims,
        alpha: 0.05,
    };
    let out = compare_with(std::slice::from_ref(&f), Format::Markdown, &claims).unwrap();
    // Family: frame-KD, Guided CTC, teacher cost (m = 3). Raw p: 3.70e-4 twice (t = 30
    // sqrt(3)) and 0.00409 (t = 9 sqrt(3)). Holm: the tied smallest both get 3 x 3.70e-4 =
    // 0.0011 (the second's 2 x p is raised to the first's), the last 1 x 0.00409.
    let (p1, p2) = (p_df2(30.0 * 3f64.sqrt()), p_df2(9.0 * 3f64.sqrt()));
    assert!((p1 - 3.7016e-4).abs() < 1e-7 && (p2 - 0.00409).abs() < 1e-5);
    assert_eq!(show_p(p1), "3.7e-4");
    assert_eq!(
        tail(line(
            &out,
            "| oracle/frame-kd | conventional/frame-kd | 3 | -3.00 ["
        )),
        ["3.7e-4", "0.0011", "supported"]
    );
    assert_eq!(
        tail(line(
            &out,
            "| oracle/guided-ctc | conventional/guided-ctc | 3 | +3.00 ["
        )),
        ["3.7e-4", "0.0011", "contradicted"]
    );
    assert_eq!(
        tail(line(
            &out,
            "| oracle (token-substitution) | conventional teacher | 3 | -90.0 ["
        )),
        ["0.0041", "0.0041", "supported"]
    );
    // Outside the family: a p-value, no adjustment, no verdict (an oracle-vs-conventional pair
    // of a method the plan does not test included).
    let hinton = tail(line(&out, "| oracle/hinton | conventional/hinton |"));
    assert_ne!(hinton[0], "-");
    assert_eq!(hinton[1..], ["-", "-"]);
    assert_eq!(
        tail(line(&out, "| conventional/frame-kd | none/ctc |"))[1..],
        ["-", "-"]
    );
    assert!(out.contains("m = 3, family-wise alpha = 0.05"), "{out}");

    // At alpha 0.001 no adjusted p is small enough: every claim is undecided.
    let strict = Holm {
        family: Family::Claims,
        alpha: 0.001,
    };
    let out = compare_with(std::slice::from_ref(&f), Format::Markdown, &strict).unwrap();
    for prefix in [
        "| oracle/frame-kd | conventional/frame-kd |",
        "| oracle/guided-ctc | conventional/guided-ctc |",
        "| oracle (token-substitution) |",
    ] {
        assert_eq!(tail(line(&out, prefix))[2], "undecided", "{prefix}");
    }

    // The default family is every paired test with a p-value: nine student pairs and the
    // cost pair. conventional/guided-ctc against none/ctc is 1 point better on every seed: no
    // spread, p = 0, and 0 after adjustment.
    let out = compare(&[f], Format::Markdown).unwrap();
    assert!(out.contains("every paired test of this report with a p-value: m = 10"));
    assert_eq!(
        tail(line(&out, "| conventional/guided-ctc | none/ctc | 3 |")),
        ["0", "0", "-"]
    );
    // m = 10 instead of 3 weakens the adjustment; the frame-KD claim still holds.
    let fkd = tail(line(&out, "| oracle/frame-kd | conventional/frame-kd |"));
    assert_eq!((fkd[0], fkd[2]), ("3.7e-4", "supported"));
    let q: f64 = fkd[1].parse().unwrap();
    assert!(q > 0.0011 && q <= 10.0 * p1 + 1e-4, "{q}");
}

/// The last three whitespace-separated cells of a plain table line, last first.
fn last3(l: &str) -> Vec<&str> {
    l.split_whitespace().rev().take(3).collect()
}

#[test]
fn a_planned_hypothesis_without_a_test_still_sizes_the_family() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = students("conventional", "guided-ctc", [49.0, 49.0, 49.0]);
    rows.extend(students("oracle", "guided-ctc", [51.9, 52.0, 52.1]));
    // Frame-KD has one seed: no p-value, counted as p = 1.
    rows.push(row("student", "conventional", "frame-kd", 1, 48.0));
    rows.push(row("student", "oracle", "frame-kd", 1, 47.0));
    let f = write(dir.path(), &rows);
    let claims = Holm {
        family: Family::Claims,
        alpha: 0.05,
    };
    let out = compare_with(&[f], Format::Plain, &claims).unwrap();
    assert!(
        out.contains("m = 2, 1 of them without a p-value (fewer than two seeds) counted as p = 1"),
        "{out}"
    );
    let l = out
        .lines()
        .find(|l| l.starts_with("oracle/frame-kd "))
        .unwrap();
    assert!(l.contains("-1.00 (one seed)"), "{l}");
    assert_eq!(last3(l), ["undecided", "-", "-"], "{l}");
    // Guided CTC: 2 x 3.70e-4 = 7.4e-4.
    let l = out
        .lines()
        .find(|l| l.starts_with("oracle/guided-ctc "))
        .unwrap();
    assert_eq!(last3(l), ["contradicted", "7.4e-4", "3.7e-4"], "{l}");
}

#[test]
fn alpha_outside_0_1_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = claims_file(dir.path());
    for alpha in [0.0, 1.0, -0.1, f64::NAN] {
        let h = Holm {
            family: Family::All,
            alpha,
        };
        let err = compare_with(std::slice::from_ref(&f), Format::Plain, &h)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--alpha"), "{err}");
    }
}

/// Edit rows of one model: `edits[i]` edits over 10 characters for example i, of `cluster[i]`.
fn edit_rows(edits: &[usize], cluster: &[&str]) -> Vec<ExampleEdits> {
    edits
        .iter()
        .zip(cluster)
        .enumerate()
        .map(|(i, (&e, c))| ExampleEdits {
            example: i,
            char_edits: e,
            chars: 10,
            word_edits: e.min(1),
            words: 1,
            exact: u8::from(e == 0),
            cluster: c.to_string(),
        })
        .collect()
}

#[test]
fn the_cluster_bootstrap_resamples_speakers_from_the_edit_files() {
    let dir = tempfile::tempdir().unwrap();
    let spk = ["a", "a", "a", "b", "b", "c", "c", "c", "d", "d"];
    let ea = [1, 0, 2, 4, 3, 0, 0, 1, 5, 2];
    let eb = [2, 1, 2, 3, 5, 1, 0, 2, 6, 4];
    let mut rows = Vec::new();
    for (teacher, kd, e, cer) in [
        ("oracle", "frame-kd", &ea, 18.0),
        ("conventional", "frame-kd", &eb, 26.0),
    ] {
        let rel = format!("seed-1/student-{teacher}-{kd}/edits-test.csv");
        std::fs::create_dir_all(dir.path().join(&rel).parent().unwrap()).unwrap();
        edits::write(&dir.path().join(&rel), &edit_rows(e, &spk)).unwrap();
        let mut r = row("student", teacher, kd, 1, cer);
        r.test_edits = rel;
        rows.push(r);
    }
    let f = write(dir.path(), &rows);
    let out = compare(std::slice::from_ref(&f), Format::Markdown).unwrap();
    assert!(
        out.contains(
            "| per seed: difference [95 % paired bootstrap over speakers] (number of speakers) |"
        ),
        "{out}"
    );
    let counts = |e: &[usize]| -> Vec<Counts> {
        e.iter()
            .map(|&x| Counts {
                errors: x as f64,
                units: 10.0,
            })
            .collect()
    };
    let c = paired_cluster_bootstrap(&counts(&ea), &counts(&eb), &spk, 1000, 0).unwrap();
    // 18 - 26 = -8 points on the full set, over four speakers.
    assert!((c.interval.diff + 8.0).abs() < 1e-9 && c.clusters == 4);
    let want = format!("seed 1: {} (4)", crate::paired::show(&c.interval));
    let l = line(&out, "| oracle/frame-kd | conventional/frame-kd | 1 |");
    assert!(l.contains(&format!("| {want} |")), "{want}\n{l}");
    // The example bootstrap's column is as before.
    assert!(l.contains("| s1: -8.00 ["), "{l}");

    // One example per speaker: said, since the interval is then the example bootstrap's.
    let own: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    for (name, e) in [("oracle", &ea), ("conventional", &eb)] {
        let p = dir
            .path()
            .join(format!("seed-1/student-{name}-frame-kd/edits-test.csv"));
        edits::write(&p, &edit_rows(e, &own)).unwrap();
    }
    let out = compare(std::slice::from_ref(&f), Format::Markdown).unwrap();
    assert!(out.contains("(10, one example each) |"), "{out}");

    // A file from before the column: no cluster interval, and a note naming the file.
    let old = dir
        .path()
        .join("seed-1/student-oracle-frame-kd/edits-test.csv");
    let text = std::fs::read_to_string(&old).unwrap();
    let stripped: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    assert!(stripped.starts_with("example,char_edits,chars,word_edits,words,exact\n"));
    std::fs::write(&old, stripped).unwrap();
    let out = compare(&[f], Format::Markdown).unwrap();
    assert!(out.contains("| seed 1: no cluster ids |"), "{out}");
    assert!(
        out.contains("note: 1 edit-count file(s) with no `cluster` column")
            && out.contains("student-oracle-frame-kd/edits-test.csv"),
        "{out}"
    );
    // The example bootstrap still works from it.
    assert!(line(&out, "| oracle/frame-kd |").contains("| s1: -8.00 ["));
}

#[test]
fn tasks_without_clusters_get_no_cluster_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = students("conventional", "frame-kd", [49.0, 49.0, 49.0]);
    rows.extend(students("oracle", "frame-kd", [48.0, 48.5, 48.7]));
    for r in &mut rows {
        r.task = "toy".into();
    }
    let f = write(dir.path(), &rows);
    let out = compare(&[f], Format::Markdown).unwrap();
    assert!(
        out.contains("| A | B | seeds | mean difference in test_cer (A - B) [95 % t] | per seed: difference [95 % paired bootstrap over test examples] | p (paired t) | p Holm | verdict |"),
        "{out}"
    );
}

#[test]
fn joint_and_self_taught_students_are_paired_with_their_references() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = students("joint", "em", [40.0, 41.0, 39.0]);
    rows.extend(students("oracle", "frame-kd", [42.0, 42.5, 41.0]));
    rows.extend(students("none", "ctc", [45.0, 44.0, 46.0]));
    rows.extend(students("none", "self-kd", [44.0, 44.0, 44.0]));
    let out = compare(&[write(dir.path(), &rows)], Format::Markdown).unwrap();
    // Self-distillation (no teacher) against CTC alone: -1, 0, -2.
    assert!(line(&out, "| none/self-kd | none/ctc | 3 | -1.00 [").contains(" |"));
    // Differences -2, -1.5, -2: mean -1.83.
    assert!(
        line(&out, "| joint/em | oracle/frame-kd | 3 | -1.83 [").contains('*'),
        "{out}"
    );
    // -5, -3, -7: mean -5.00.
    assert!(line(&out, "| joint/em | none/ctc | 3 | -5.00 [").contains('*'));
}

#[test]
fn born_again_generations_are_paired_with_their_teacher_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<ResultRow> = (1..=3)
        .map(|s| teacher("teacher", "conventional", s, 100.0))
        .collect();
    rows.extend(students("conventional", "born-again-1", [27.0, 27.5, 26.0]));
    rows.extend(students("born-again-1", "born-again-2", [26.0, 27.0, 26.5]));
    rows.extend(students("none", "ctc", [45.0, 44.0, 46.0]));
    let out = compare(&[write(dir.path(), &rows)], Format::Markdown).unwrap();
    // The teachers' test CER is 30: -3, -2.5, -4 and -4, -3, -3.5.
    assert!(line(
        &out,
        "| conventional/born-again-1 | conventional/ctc | 3 | -3.17 ["
    )
    .contains('*'));
    assert!(line(
        &out,
        "| born-again-1/born-again-2 | conventional/ctc | 3 | -3.50 ["
    )
    .contains('*'));
    assert!(
        !out.contains("| conventional/born-again-1 | none/ctc |"),
        "{out}"
    );
}
