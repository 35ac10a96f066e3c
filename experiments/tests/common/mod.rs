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
