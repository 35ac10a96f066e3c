//! Running the `experiments` binary from the integration tests.

use std::process::Command;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_experiments"))
}

/// Run `cmd`, assert it succeeded, and return its stdout and stderr.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("experiments runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The run directory of `preset` under `out` (named `<preset>-<hash>`).
#[allow(dead_code)]
pub fn run_dir(out: &std::path::Path, preset: &str) -> std::path::PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{preset}-"))
        })
        .unwrap_or_else(|| panic!("no run directory for {preset} in {}", out.display()))
}

/// The one folder under `out` whose name starts with `prefix`.
#[allow(dead_code)]
pub fn only_dir(out: &std::path::Path, prefix: &str) -> std::path::PathBuf {
    let found: Vec<std::path::PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    assert_eq!(found.len(), 1, "{prefix}: {found:?}");
    found[0].clone()
}
