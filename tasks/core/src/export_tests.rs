use super::*;
use candle_nn::Init;

/// A store with `model.a` (2 x 3) and `model.b` (3), and `heads.h` outside the prefix.
fn store(seed: u64, b_len: usize) -> Result<ParamStore> {
    let s = ParamStore::new(seed);
    let vb = s.vb(&Device::Cpu);
    vb.get_with_hints((2, 3), "model.a", Init::Const(0.5))?;
    vb.get_with_hints(b_len, "model.b", Init::Uniform { lo: -1.0, up: 1.0 })?;
    vb.get_with_hints(4, "heads.h", Init::Const(1.0))?;
    Ok(s)
}

fn values(s: &ParamStore) -> Vec<Vec<f32>> {
    s.vars()
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

fn err(r: Result<()>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn export_round_trip_and_every_mismatch_refused_by_name() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("model");
    let vocab = Vocab::chars("ab").map_err(|e| msg(&dir, e))?;
    let trained = store(1, 3)?;
    export(
        &dir,
        &trained,
        "model.",
        &serde_json::json!({"d": 3}),
        &vocab,
    )?;
    for f in [WEIGHTS, CONFIG, VOCAB, CHECKSUMS] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(!dir.with_extension("tmp").exists());
    let fresh = store(2, 3)?;
    assert_ne!(values(&fresh)[2], values(&trained)[2]);
    load_weights(&dir, &fresh, "model.")?;
    assert_eq!(values(&fresh)[1..], values(&trained)[1..]);
    assert_eq!(
        weights_fingerprint(&fresh, "model.")?,
        weights_fingerprint(&trained, "model.")?
    );
    assert_ne!(
        weights_fingerprint(&store(2, 3)?, "model.")?,
        weights_fingerprint(&trained, "model.")?
    );

    // Another shape: named, and nothing changes.
    let other = store(3, 4)?;
    let before = values(&other);
    let e = err(load_weights(&dir, &other, "model."));
    assert!(
        e.contains("model.safetensors") && e.contains("\"model.b\""),
        "{e}"
    );
    assert!(e.contains("[3]") && e.contains("[4]"), "{e}");
    assert_eq!(values(&other), before);
    // A model with a tensor the file lacks, and one lacking a tensor of the file.
    let bigger = store(3, 3)?;
    bigger
        .vb(&Device::Cpu)
        .get_with_hints(1, "model.c", Init::Const(0.0))?;
    let e = err(load_weights(&dir, &bigger, "model."));
    assert!(e.contains("lacks tensor \"model.c\""), "{e}");
    let smaller = ParamStore::new(4);
    smaller
        .vb(&Device::Cpu)
        .get_with_hints((2, 3), "model.a", Init::Const(0.0))?;
    let e = err(load_weights(&dir, &smaller, "model."));
    assert!(e.contains("tensors the model lacks: [\"model.b\"]"), "{e}");

    // Truncated: its recorded hash no longer matches.
    let w = dir.join(WEIGHTS);
    let bytes = std::fs::read(&w)?;
    std::fs::write(&w, &bytes[..bytes.len() - 5])?;
    let e = err(load_weights(&dir, &fresh, "model."));
    assert!(e.contains("model.safetensors: corrupt"), "{e}");
    // Garbage in an export without checksums (one written before they were recorded).
    std::fs::remove_file(dir.join(CHECKSUMS))?;
    std::fs::write(&w, b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")?;
    let e = err(load_weights(&dir, &fresh, "model."));
    assert!(
        e.contains("model.safetensors: unreadable safetensors"),
        "{e}"
    );
    // Missing.
    std::fs::remove_file(&w)?;
    let e = err(load_weights(&dir, &fresh, "model."));
    assert!(e.contains("model.safetensors: missing"), "{e}");
    Ok(())
}
