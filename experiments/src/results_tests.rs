use super::*;

fn row(seed: u64, role: &str) -> ResultRow {
    ResultRow {
        task: "asr".into(),
        preset: "asr-small".into(),
        seed,
        role: role.into(),
        teacher: "oracle".into(),
        kd: "frame-kd".into(),
        anti_copy: "no-label-position".into(),
        params: 260_000,
        train_steps: 1000,
        train_seconds: 12.5,
        steps_to_target: None,
        dev_cer: Some(41.25),
        dev_wer: Some(80.0),
        test_cer: Some(0.1 + 0.2),
        test_wer: Some(79.5),
        word_acc: None,
        ablated_cer: None,
        spike_offset: None,
        revision: "abc123-dirty".into(),
        scored_revision: "def456".into(),
        test_errors: Some(12),
        test_examples: Some(40),
        omitted_errors: None,
        omitted_examples: None,
        test_skipped: Some(0),
        test_untrainable: Some(2),
        test_edits: "seed-1/student-oracle-frame-kd/edits-test.csv".into(),
        scored_with: "source".into(),
        seconds_to_target: Some(3.25),
        overrides: String::new(),
        ..Default::default()
    }
}

#[test]
fn serde_order_matches_documented_columns() {
    let mut wtr = csv::Writer::from_writer(Vec::new());
    wtr.serialize(row(1, "student")).unwrap();
    let text = String::from_utf8(wtr.into_inner().unwrap()).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(header, columns().join(","));
    assert_eq!(columns().len(), 47);
}

#[test]
fn append_creates_then_appends_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    append_rows(&path, &[row(1, "student")]).unwrap();
    append_rows(&path, &[row(2, "teacher"), row(3, "oracle")]).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().count(),
        4,
        "one header and three rows:\n{text}"
    );
    assert_eq!(text.matches("task,preset").count(), 1);
    // Options that do not apply are empty cells, and floats round-trip exactly.
    assert!(text.lines().nth(1).unwrap().contains(",12.5,,41.25,80.0,"));
    let back = read_rows(&path).unwrap();
    assert_eq!(
        back,
        vec![row(1, "student"), row(2, "teacher"), row(3, "oracle")]
    );
    // No temporary file is left next to it.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn write_replaces_and_empty_keeps_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    append_rows(&path, &[row(1, "student"), row(2, "student")]).unwrap();
    write_rows(&path, &[row(3, "oracle")]).unwrap();
    assert_eq!(read_rows(&path).unwrap(), vec![row(3, "oracle")]);
    write_rows(&path, &[]).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{}\n", columns().join(","))
    );
    assert!(read_rows(&path).unwrap().is_empty());
    assert!(write_rows(&path, &[row(1, "coach")]).is_err());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn merge_replaces_the_same_model_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.csv");
    let mut a = row(0, "teacher");
    merge_rows(&p, &[a.clone(), row(0, "student")]).unwrap();
    a.dev_cer = Some(1.5);
    let all = merge_rows(&p, &[row(1, "student"), a.clone()]).unwrap();
    assert_eq!(all, vec![a, row(0, "student"), row(1, "student")]);
    assert_eq!(read_rows(&p).unwrap(), all);
}

#[test]
fn append_adds_missing_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    append_rows(&path, &[row(1, "student")]).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.trim_end()).unwrap();
    append_rows(&path, &[row(2, "student")]).unwrap();
    assert_eq!(read_rows(&path).unwrap().len(), 2);
}

#[test]
fn wrong_header_is_refused_and_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    fs::write(&path, "task,seed\nasr,1\n").unwrap();
    let err = append_rows(&path, &[row(1, "student")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("r.csv: line 1: header does not match"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "task,seed\nasr,1\n");
}

#[test]
fn column_docs_match_docs_results_csv() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/results-csv.md");
    let doc = fs::read_to_string(path).unwrap();
    let table: Vec<String> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(String::from)
        .collect();
    let want: Vec<String> = COLUMN_DOCS
        .iter()
        .map(|(n, t)| format!("| `{n}` | {t} |"))
        .collect();
    assert_eq!(table, want, "docs/results-csv.md and COLUMN_DOCS disagree");
}

#[test]
fn legacy_files_are_read_and_rewritten_in_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.csv");
    let old = format!(
        "{}\nasr,p,0,teacher,conventional,ctc,-,10,5,1.5,,50.0,99.0,51.0,98.0,,,,tasks::ctc (cpu),28d114b1b4-dirty\n",
        LEGACY_COLUMNS.join(",")
    );
    fs::write(&path, old).unwrap();
    let rows = read_rows(&path).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].revision, "unknown");
    assert_eq!(rows[0].scored_revision, "28d114b1b4-dirty");
    assert_eq!(rows[0].test_cer, Some(51.0));
    append_rows(&path, &[row(1, "student")]).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().next().unwrap(), columns().join(","));
    let again = read_rows(&path).unwrap();
    assert_eq!(again[0], rows[0]);
    assert_eq!(again[1], row(1, "student"));
}

#[test]
fn files_without_the_error_count_columns_are_read_and_rewritten_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("previous.csv");
    let cols = columns();
    let old = format!(
        "{}\nasr,p,0,teacher,conventional,ctc,-,10,5,1.5,,50.0,99.0,51.0,98.0,,,,abc,def\n",
        cols[..20].join(",")
    );
    fs::write(&path, old).unwrap();
    let rows = read_rows(&path).unwrap();
    assert_eq!(
        (rows[0].test_errors, rows[0].omitted_examples),
        (None, None)
    );
    assert_eq!(rows[0].scored_revision, "def");
    let mut new = row(1, "student");
    new.test_errors = Some(7);
    new.test_examples = Some(100);
    append_rows(&path, &[new.clone()]).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().next().unwrap(), cols.join(","));
    assert_eq!(read_rows(&path).unwrap(), [rows[0].clone(), new]);
    // A header with only some of the columns a schema added is no schema.
    fs::write(&path, format!("{}\n", cols[..22].join(","))).unwrap();
    assert!(read_rows(&path).unwrap_err().to_string().contains("header"));
    // The schema before the skip columns is read with them empty.
    let mid = format!(
        "{}\nasr,p,0,teacher,conventional,ctc,-,10,5,1.5,,50.0,99.0,51.0,98.0,,,,abc,def,3,9,,\n",
        cols[..24].join(",")
    );
    fs::write(&path, mid).unwrap();
    let rows = read_rows(&path).unwrap();
    assert_eq!(
        (
            rows[0].test_examples,
            rows[0].test_skipped,
            rows[0].test_untrainable
        ),
        (Some(9), None, None)
    );
    // Files ending at `overrides` (before the label-use and posterior columns) are read with
    // those columns empty and rewritten with them.
    let mut before = row(4, "oracle");
    before.overrides = "oracle.anti_copy.kind=label-context".into();
    let mut wtr = csv::Writer::from_writer(Vec::new());
    wtr.serialize(&before).unwrap();
    let text = String::from_utf8(wtr.into_inner().unwrap()).unwrap();
    let cut: Vec<String> = text
        .lines()
        .map(|l| l.split(',').take(30).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(cut[0], cols[..30].join(","));
    fs::write(&path, cut.join("\n") + "\n").unwrap();
    let rows = read_rows(&path).unwrap();
    assert_eq!(rows, [before.clone()]);
    let mut labelled = row(5, "oracle");
    labelled.label_use = Some(-1.5);
    labelled.hint_leakage = Some(0.02);
    append_rows(&path, &[labelled.clone()]).unwrap();
    assert_eq!(read_rows(&path).unwrap(), [before, labelled]);
    // A negative label use is a number; a non-finite one is refused, as is a negative rate.
    let mut bad = row(6, "oracle");
    bad.source_use = Some(f64::NAN);
    assert!(append_rows(&path, &[bad])
        .unwrap_err()
        .to_string()
        .contains("source_use"));
    let mut bad = row(7, "oracle");
    bad.blank_fraction = Some(-0.1);
    assert!(append_rows(&path, &[bad])
        .unwrap_err()
        .to_string()
        .contains("blank_fraction"));
}

#[test]
fn malformed_cells_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    append_rows(&path, &[row(1, "student"), row(2, "student")]).unwrap();
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace(",41.25,", ",forty,");
    let lines: Vec<&str> = text.lines().collect();
    // Corrupt only the second data row (line 3); keep line 2 intact.
    let good = lines[1].replace(",forty,", ",41.25,");
    fs::write(&path, format!("{}\n{good}\n{}\n", lines[0], lines[2])).unwrap();
    let err = read_rows(&path).unwrap_err().to_string();
    assert!(err.contains("bad.csv: line 3:"), "{err}");
    assert!(err.contains("float"), "{err}");

    fs::write(&path, format!("{}\n{good}\nasr,p,1\n", lines[0])).unwrap();
    let err = read_rows(&path).unwrap_err().to_string();
    assert!(
        err.contains("bad.csv: line 3: found 3 fields, expected 47"),
        "{err}"
    );

    fs::write(
        &path,
        format!("{}\n{}\n", lines[0], good.replace("student", "pupil")),
    )
    .unwrap();
    let err = read_rows(&path).unwrap_err().to_string();
    assert!(err.contains("bad.csv: line 2: role 'pupil'"), "{err}");
}

#[test]
fn bad_rows_are_not_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let err = append_rows(&path, &[row(1, "coach")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("role 'coach'"), "{err}");
    assert!(!path.exists());
    let err = read_rows(&path).unwrap_err().to_string();
    assert!(
        err.contains("cannot read") && err.contains("r.csv"),
        "{err}"
    );
}
