//! The deterministic bad-input corpus (docs/reliability.md): each bad file is generated in a
//! temporary folder and fed to the loader a user's data reaches; each case asserts the error
//! names the file (and line or key) and the problem, or, with `skip_bad`, that the skip is
//! counted. The other parsers have their cases beside them: presets, `--set` values and
//! results CSVs in `experiments/src/bad_inputs_tests.rs`, IDX and JSON classification data in
//! `tasks/classify/src/load_tests.rs`.

mod audio;
mod images;
#[path = "../support/lmdb.rs"]
mod lmdb;

/// The error's text, for matching.
fn text<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => panic!("accepted a bad input"),
        Err(e) => format!("{e:#}"),
    }
}

/// Assert the text contains every needle.
#[track_caller]
fn says(msg: &str, needles: &[&str]) {
    for n in needles {
        assert!(msg.contains(n), "{msg:?} does not say {n:?}");
    }
}
