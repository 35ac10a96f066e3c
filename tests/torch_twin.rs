//! The PyTorch twin (benches/torch_twin.py) against the train_step bench: every training line's
//! parameter count and tensor shapes, as the twin computes them without torch
//! (`--param-counts`), must be those of the Rust model the bench builds from the presets. CI has
//! python3 but no torch, so this is what keeps the twin in step with the presets and models.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

// The bench itself, so that the lines and models compared are the ones it times.
#[allow(dead_code)]
#[path = "../benches/train_step.rs"]
mod train_step;

use train_step::LineParams;

#[derive(serde::Deserialize)]
struct TwinLine {
    params: usize,
    tensors: BTreeMap<String, Vec<usize>>,
}

/// The twin's `--param-counts` output. A `torch` package that fails on import comes first on
/// `PYTHONPATH`, so the counting path is checked to be torch-free where torch is installed too.
fn twin_counts() -> BTreeMap<String, TwinLine> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fake = tempfile::tempdir().unwrap();
    std::fs::create_dir(fake.path().join("torch")).unwrap();
    std::fs::write(
        fake.path().join("torch/__init__.py"),
        "raise ImportError('torch_twin.py --param-counts must not import torch')\n",
    )
    .unwrap();
    let out = match Command::new("python3")
        .arg(root.join("benches/torch_twin.py"))
        .arg("--param-counts")
        .current_dir(root)
        .env("PYTHONPATH", fake.path())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "python3 is not on PATH: this test runs `python3 benches/torch_twin.py \
             --param-counts` (Python 3.11 or later, standard library only; no torch needed)"
        ),
        Err(e) => panic!("running python3: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "torch_twin.py --param-counts failed ({}):\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "torch_twin.py --param-counts printed no valid JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The sorted shapes: what has to agree, whatever the tensors are called.
fn shapes<'a>(tensors: impl Iterator<Item = &'a Vec<usize>>) -> Vec<&'a Vec<usize>> {
    let mut v: Vec<_> = tensors.collect();
    v.sort();
    v
}

/// The tensors whose name or shape is on one side only (both sides use the Rust var names, so
/// this points at the layer that differs).
fn tensor_diff(rust: &LineParams, twin: &TwinLine) -> String {
    let mut out = String::new();
    for (name, shape) in &rust.tensors {
        if twin.tensors.get(name) != Some(shape) {
            let other = twin.tensors.get(name).map(|s| format!("{s:?}"));
            let other = other.unwrap_or_else(|| "absent".into());
            out += &format!("\n    {name}: Rust {shape:?}, twin {other}");
        }
    }
    for (name, shape) in &twin.tensors {
        if !rust.tensors.contains_key(name) {
            out += &format!("\n    {name}: Rust absent, twin {shape:?}");
        }
    }
    out
}

#[test]
fn twin_parameter_counts_match_the_bench() {
    let rust = train_step::param_counts().unwrap();
    let twin = twin_counts();
    // The bench's inference lines time a student the training lines already cover; the twin
    // times training steps only.
    let trained: BTreeMap<_, _> = rust
        .iter()
        .filter(|(n, _)| !n.starts_with("infer-"))
        .collect();
    assert!(!trained.is_empty(), "the bench reports no training line");
    let mut errors = Vec::new();
    for (line, r) in &trained {
        let Some(t) = twin.get(*line) else {
            errors.push(format!(
                "{line}: the bench times it, the twin has no such line"
            ));
            continue;
        };
        if r.params != t.params || shapes(r.tensors.values()) != shapes(t.tensors.values()) {
            errors.push(format!(
                "{line}: Rust {} parameters, twin {}; tensors that differ:{}",
                r.params,
                t.params,
                tensor_diff(r, t)
            ));
        }
    }
    for line in twin.keys().filter(|l| !trained.contains_key(l)) {
        errors.push(format!(
            "{line}: the twin has it, the bench has no such line"
        ));
    }
    assert!(
        errors.is_empty(),
        "benches/torch_twin.py disagrees with the models of benches/train_step.rs:\n{}",
        errors.join("\n")
    );
}
