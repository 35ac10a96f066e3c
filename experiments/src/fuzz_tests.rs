//! Fuzz targets for the binary's own parsers (docs/reliability.md): preset files, `--set`
//! overrides and results CSVs, mutated by the same engine as the top-level
//! `tests/fuzz_inputs` targets. `FUZZ_CASES=10000 cargo test --release -p experiments fuzz_
//! -- --test-threads 1 --nocapture` runs 10,000 cases per target (default 200).

#[path = "../../tests/fuzz_inputs/mutate.rs"]
mod mutate;

use mutate::{cases, mutate_lines, run, INTERESTING_FIELDS};

use crate::compare::{compare, Format};
use crate::preset::{load, BUILTIN};
use crate::results::{read_rows, write_rows, ResultRow};

const DEFAULT_CASES: usize = 200;

fn named(e: anyhow::Error, what: &str) -> (String, String) {
    (format!("{e:#}"), what.to_string())
}

#[test]
fn fuzz_preset_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("preset.toml");
    let arg = path.display().to_string();
    run("preset-file", 0x9e5, cases(DEFAULT_CASES), |rng| {
        let (_, text) = BUILTIN[rng.below(BUILTIN.len())];
        // `,` splits inline tables (`train = { steps = 1600, ... }`) into their fields.
        std::fs::write(&path, mutate_lines(text, ',', rng)).unwrap();
        load(&arg, None, rng.bernoulli(0.5), &[])
            .map(|_| ())
            .map_err(|e| named(e, "preset.toml"))
    });
}

/// Every leaf key of a table, dotted (`teacher.train.steps`).
fn leaf_keys(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in t {
        let key = format!("{prefix}{k}");
        match v {
            toml::Value::Table(sub) => leaf_keys(sub, &format!("{key}."), out),
            _ => out.push(key),
        }
    }
}

#[test]
fn fuzz_set_overrides() {
    let mut keys = Vec::new();
    for (_, text) in BUILTIN {
        leaf_keys(&toml::from_str(text).unwrap(), "", &mut keys);
    }
    keys.extend(
        [
            "nonsense",
            "teacher.train.nonsense",
            "teacher",
            "",
            "a..b",
            "seed.x",
        ]
        .map(String::from),
    );
    let values = [
        "-5",
        "1e9",
        "0.5",
        "{ a = 1 }",
        "[1, 2]",
        "\"text\"",
        "conformer",
        "= 3",
    ];
    run("set-override", 0x5e7, cases(DEFAULT_CASES), |rng| {
        let (name, _) = BUILTIN[rng.below(BUILTIN.len())];
        let sets: Vec<String> = (0..rng.range(1, 3))
            .map(|_| {
                let key = &keys[rng.below(keys.len())];
                let value = if rng.bernoulli(0.5) {
                    INTERESTING_FIELDS[rng.below(INTERESTING_FIELDS.len())]
                } else {
                    values[rng.below(values.len())]
                };
                if rng.bernoulli(0.05) {
                    key.clone()
                } else {
                    format!("{key}={value}")
                }
            })
            .collect();
        load(name, None, rng.bernoulli(0.3), &sets)
            .map(|_| ())
            .map_err(|e| named(e, &format!("preset {name}")))
    });
}

fn seed_rows() -> Vec<ResultRow> {
    let row = |task: &str, role: &str, seed, cer| ResultRow {
        task: task.into(),
        preset: format!("{task}-oracle"),
        seed,
        role: role.into(),
        teacher: if role == "student" { "oracle" } else { role }.into(),
        kd: "ctc".into(),
        anti_copy: "-".into(),
        params: 1000,
        train_steps: 20,
        train_seconds: 1.5,
        dev_cer: Some(cer + 1.0),
        test_cer: Some(cer),
        word_acc: (task == "str").then_some(100.0 - cer),
        revision: "abc".into(),
        scored_revision: "abc".into(),
        test_errors: Some(3),
        test_examples: Some(10),
        ..Default::default()
    };
    vec![
        row("asr", "teacher", 0, 40.0),
        row("asr", "student", 0, 50.0),
        row("asr", "student", 1, 52.0),
        row("str", "oracle", 0, 20.0),
    ]
}

#[test]
fn fuzz_results_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    write_rows(&path, &seed_rows()).unwrap();
    let seed = std::fs::read_to_string(&path).unwrap();
    run("results-csv", 0xc5f, cases(DEFAULT_CASES), |rng| {
        std::fs::write(&path, mutate_lines(&seed, ',', rng)).unwrap();
        read_rows(&path).map_err(|e| named(e, "results.csv"))?;
        compare(std::slice::from_ref(&path), Format::Plain)
            .map(|_| ())
            .map_err(|e| named(e, "results.csv"))
    });
}
