//! Bakes the git revision of the source tree into the binary, so a results row names the code
//! that produced it even when the binary is run after the tree has moved on.

use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest)
        .parent()
        .expect("experiments/ sits in the workspace");
    // Source edits in any crate change the dirty flag; commits move HEAD or a ref.
    for p in [
        "experiments/src",
        "tasks/core/src",
        "tasks/asr/src",
        "tasks/scene-text/src",
        "tasks/toy/src",
        "oracle/src",
        "student/src",
        ".git/HEAD",
        ".git/index",
        ".git/refs",
    ] {
        // A listed path that does not exist would make cargo rerun this script on every build.
        let path = root.join(p);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let revision = match git(root, &["rev-parse", "--short=10", "HEAD"]) {
        Some(rev) => {
            let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=OT_REVISION={revision}");
}
