//! The bad-input corpus of the binary's parsers (docs/reliability.md): preset files, `--set`
//! values and results CSVs. Each case asserts the error names the preset, key, file or line
//! and the problem.

use crate::preset::load;
use crate::results::{read_rows, write_rows, ResultRow};

fn preset_error(sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match load("asr-oracle", None, false, &sets) {
        Ok(_) => panic!("{sets:?} was accepted"),
        Err(e) => format!("{e:#}"),
    }
}

#[track_caller]
fn says(msg: &str, needles: &[&str]) {
    for n in needles {
        assert!(msg.contains(n), "{msg:?} does not say {n:?}");
    }
}

#[test]
fn bad_set_values_name_the_key_and_the_problem() {
    let cases: [(&str, &[&str]); 12] = [
        ("student.train.nonsense=1", &["unknown field `nonsense`"]),
        (
            "student.train.steps=many",
            &["steps", "invalid type: string \"many\""],
        ),
        ("student.train.batch_size=-4", &["batch_size", "-4"]),
        (
            "student.train.steps=0",
            &["student.train: steps must be at least 1, got 0"],
        ),
        (
            "teacher.train.batch_size=0",
            &["teacher.train: batch_size must be at least 1"],
        ),
        (
            "oracle.train.eval_every=0",
            &["oracle.train: eval_every must be at least 1"],
        ),
        (
            "teacher.train.checkpoint_every=0",
            &["checkpoint_every must be at least 1"],
        ),
        ("teacher.train.shards=0", &["shards must be at least 1"]),
        (
            "teacher.train.lr=nan",
            &["teacher.train: lr must be a finite number > 0, got NaN"],
        ),
        (
            "teacher.train.clip=-1.0",
            &["clip must be a finite number >= 0, got -1"],
        ),
        (
            "student.train.dev_subset=0",
            &["dev_subset must be at least 1"],
        ),
        (
            "teacher.train.max_seconds=0.0",
            &["max_seconds must be a finite number > 0"],
        ),
    ];
    for (set, needles) in cases {
        let e = preset_error(&[set]);
        says(&e, &["preset asr-oracle"]);
        says(&e, needles);
    }
    says(
        &preset_error(&["student.train.steps"]),
        &["expected key=value"],
    );
    says(
        &preset_error(&["teacher.train=3", "teacher.train.steps=1"]),
        &["teacher.train.steps: train is not a table"],
    );
    let e = preset_error(&[
        "teacher.train.schedule={ kind = \"noam\", warmup = 0, d_model = 8, scale = 1.0 }",
    ]);
    says(&e, &["teacher.train: schedule: noam: need warmup > 0"]);
}

#[test]
fn bad_preset_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mine.toml");
    let arg = p.display().to_string();
    let error = |text: &[u8]| {
        std::fs::write(&p, text).unwrap();
        match load(&arg, None, false, &[]) {
            Ok(_) => panic!("{:?} was accepted", String::from_utf8_lossy(text)),
            Err(e) => format!("{e:#}"),
        }
    };
    says(
        &error(b"name = \"x\"\ntask = \n"),
        &["mine.toml", "parsing the preset TOML"],
    );
    says(&error(b"name = \"caf\xc3\"\n"), &["mine.toml", "reading"]);
    says(
        &error(b"name = \"x\"\n"),
        &["mine.toml", "missing field `task`"],
    );
    let (_, asr) = crate::preset::BUILTIN[0];
    let zero = asr.replacen("steps = 2000", "steps = 0", 1);
    assert_ne!(
        zero, asr,
        "the preset's teacher steps moved: update this test"
    );
    says(
        &error(zero.as_bytes()),
        &["mine.toml", "teacher.train: steps must be at least 1"],
    );
    let e = load(
        &dir.path().join("gone.toml").display().to_string(),
        None,
        false,
        &[],
    );
    says(
        &format!("{:#}", e.unwrap_err()),
        &["gone.toml", "unknown preset"],
    );
}

#[test]
fn bad_results_cells_name_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.csv");
    let good = ResultRow {
        task: "asr".into(),
        preset: "p".into(),
        role: "student".into(),
        teacher: "oracle".into(),
        kd: "ctc".into(),
        anti_copy: "-".into(),
        train_seconds: 1.5,
        test_cer: Some(40.0),
        revision: "abc".into(),
        ..Default::default()
    };
    write_rows(&p, &[good]).unwrap();
    assert_eq!(read_rows(&p).unwrap().len(), 1);
    let text = std::fs::read_to_string(&p).unwrap();
    let (header, row) = text.trim_end().split_once('\n').unwrap();
    let (header, row) = (header.to_string(), row.to_string());
    let cols = crate::results::columns();
    // The row with one cell replaced.
    let with = |name: &str, value: &str| {
        let mut cells: Vec<&str> = row.split(',').collect();
        cells[cols.iter().position(|c| *c == name).unwrap()] = value;
        cells.join(",")
    };
    let error = |text: String| {
        std::fs::write(&p, text).unwrap();
        format!("{:#}", read_rows(&p).unwrap_err())
    };
    let nan = with("test_cer", "NaN");
    says(
        &error(format!("{header}\n{row}\n{nan}\n")),
        &["results.csv: line 3", "test_cer = NaN"],
    );
    let neg = with("train_seconds", "-1.5");
    says(
        &error(format!("{header}\n{neg}\n")),
        &["line 2", "train_seconds = -1.5"],
    );
    let short = row.rsplitn(3, ',').nth(2).unwrap().to_string();
    let fields = format!("found {} fields, expected {}", cols.len() - 2, cols.len());
    says(&error(format!("{header}\n{short}\n")), &["line 2", &fields]);
    let renamed = header.replace("test_cer", "test_err");
    says(
        &error(format!("{renamed}\n")),
        &["line 1", "header does not match"],
    );
    let pupil = with("role", "pupil");
    says(
        &error(format!("{header}\n{pupil}\n")),
        &["line 2", "role 'pupil'"],
    );
    says(&error(String::new()), &["results.csv", "empty file"]);
}
