//! Generate (or load from cache) the default synthetic speech corpus and print its size and
//! timing: `cargo run --release -p asr --example asr_synth -- [CACHE_DIR] [N_TRAIN]`.

use std::time::Instant;

use asr::{synth_corpus, SynthConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/asr-synth-cache".into());
    let mut cfg = SynthConfig::default();
    if let Some(n) = args.get(2) {
        cfg.n_train = n.parse()?;
    }
    let t = Instant::now();
    let c = synth_corpus(&cfg, None, std::path::Path::new(&dir))?;
    let secs = t.elapsed().as_secs_f64();
    for (name, split) in [("train", &c.train), ("dev", &c.dev), ("test", &c.test)] {
        let frames: usize = split.iter().map(|u| u.n_frames).sum();
        let voices: std::collections::HashSet<&str> =
            split.iter().map(|u| u.speaker.as_str()).collect();
        let texts: std::collections::HashSet<&str> =
            split.iter().map(|u| u.text.as_str()).collect();
        println!(
            "{name}: {} utterances, {:.1} min of audio, {} voices, {} distinct sentences",
            split.len(),
            frames as f64 / 100.0 / 60.0,
            voices.len(),
            texts.len()
        );
    }
    if let Some(u) = c.train.first() {
        println!(
            "e.g. {} [{}] {:?} ({} frames)",
            u.id, u.speaker, u.text, u.n_frames
        );
    }
    println!(
        "{} in {secs:.1} s ({} threads available)",
        if c.from_cache {
            "loaded from cache"
        } else {
            "generated"
        },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    Ok(())
}
