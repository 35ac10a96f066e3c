//! Fuzz targets for every loader and parser user data reaches (docs/reliability.md): valid
//! seed inputs, mutated deterministically (`mutate.rs`), fed through each crate's public API.
//! Each case must end in `Ok` or an error naming its input; never a panic.
//!
//! `FUZZ_CASES=10000 cargo test --release --test fuzz_inputs -- --test-threads 1 --nocapture`
//! runs 10,000 cases per target and prints each target's tally; the default is 200.

mod audio;
mod classify;
mod images;
#[path = "../support/lmdb.rs"]
mod lmdb;
mod mutate;
mod speech_sources;

/// Cases per target unless `FUZZ_CASES` says otherwise: enough to catch a regression in CI.
const DEFAULT_CASES: usize = 200;

/// The text of an error and what it must name, for `mutate::run`.
fn named(e: impl std::fmt::Display, what: &str) -> (String, String) {
    (format!("{e:#}"), what.to_string())
}
