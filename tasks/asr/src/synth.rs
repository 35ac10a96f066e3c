//! The embedded default corpus: English sentences from the fortune files, spoken by espeak-ng
//! with many accents x voice variants at random rate and pitch, features computed and cached.
//!
//! Splits are disjoint by voice variant (test timbres are never heard in training) and by
//! quotation (no part of a test sentence is read in training). Every utterance draws from
//! `Rng::derive(seed, index)`, so the corpus is the same whatever order the threads run in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::audio::TARGET_SAMPLE_RATE;
use super::augment::{with_copies, AugmentConfig, AugmentReport};
use super::corpus::{load_utterances, save_utterances, Utterance};
use super::error::{AsrError, Result};
use super::espeak::{espeak_version, list_voices, speak};
use super::features::{Fbank, FeatureConfig};
use super::text::{fortune_sentences, Sentence};
use ctc_core::rng::Rng;

/// Bump when the generation procedure changes, so old caches are not reused.
const FORMAT_VERSION: u32 = 1;
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    pub n_train: usize,
    pub n_dev: usize,
    pub n_test: usize,
    pub seed: u64,
    pub min_secs: f32,
    pub max_secs: f32,
    /// Speaking rate range in words per minute (espeak-ng `-s`).
    pub rate_min: usize,
    pub rate_max: usize,
    /// Pitch range 0-99 (espeak-ng `-p`).
    pub pitch_min: usize,
    pub pitch_max: usize,
    /// Fractions of voice variants held out for dev and test.
    pub dev_voice_frac: f32,
    pub test_voice_frac: f32,
    /// Fractions of quotations held out for dev and test.
    pub dev_text_frac: f32,
    pub test_text_frac: f32,
    pub features: FeatureConfig,
    /// Worker threads; 0 = 4 x cores (espeak-ng start-up mostly waits, so oversubscribe).
    /// Does not change the output.
    pub threads: usize,
    /// Show a progress bar (on a terminal). Does not change the output.
    pub progress: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            n_train: 3000,
            n_dev: 300,
            n_test: 300,
            seed: 1,
            min_secs: 1.0,
            max_secs: 4.0,
            rate_min: 130,
            rate_max: 210,
            pitch_min: 20,
            pitch_max: 80,
            dev_voice_frac: 0.15,
            test_voice_frac: 0.15,
            dev_text_frac: 0.1,
            test_text_frac: 0.1,
            features: FeatureConfig::default(),
            threads: 0,
            progress: true,
        }
    }
}

#[derive(Debug)]
pub struct SynthCorpus {
    pub train: Vec<Utterance>,
    pub dev: Vec<Utterance>,
    pub test: Vec<Utterance>,
    /// Whether the corpus was read from the cache rather than generated.
    pub from_cache: bool,
    /// What augmentation did to the training copies, when they were made in this call (not
    /// read from the cache).
    pub augmented: Option<AugmentReport>,
}

/// What one split draws from.
struct SplitPlan {
    name: &'static str,
    n: usize,
    voices: Vec<String>,
    sentences: Vec<Sentence>,
}

/// Build (or load from `cache_dir`) the synthetic corpus; with `augment`, every training
/// utterance is followed by its augmented copies.
pub fn synth_corpus(
    cfg: &SynthConfig,
    augment: Option<&AugmentConfig>,
    cache_dir: &Path,
) -> Result<SynthCorpus> {
    validate(cfg)?;
    if let Some(a) = augment {
        a.validate()?;
    }
    let version = espeak_version()?;
    let plans = plan(cfg)?;
    let key = cache_key(cfg, augment, &version, &plans);
    let paths: Vec<PathBuf> = plans
        .iter()
        .map(|p| cache_dir.join(format!("synth-{key:016x}-{}.safetensors", p.name)))
        .collect();
    let key = format!("{key:016x}");
    if paths.iter().all(|p| p.exists()) {
        let mut loaded = Vec::new();
        for p in &paths {
            match load_utterances(p, &key)? {
                Some(u) => loaded.push(u),
                None => break,
            }
        }
        if loaded.len() == 3 {
            let test = loaded.pop().unwrap_or_default();
            let dev = loaded.pop().unwrap_or_default();
            let train = loaded.pop().unwrap_or_default();
            return Ok(SynthCorpus {
                train,
                dev,
                test,
                from_cache: true,
                augmented: None,
            });
        }
    }
    let fbank = Fbank::new(&cfg.features)?;
    let threads = if cfg.threads == 0 {
        4 * std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| AsrError::Synth(format!("thread pool: {e}")))?;
    let total: usize = plans.iter().map(|p| p.n).sum();
    let pb = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if !cfg.progress {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("synthesising {bar:40} {pos}/{len} [{elapsed} < {eta}]")
            .map_err(|e| AsrError::Synth(e.to_string()))?,
    );
    let mut splits = Vec::new();
    let mut offset = 0u64;
    let mut augmented = AugmentReport::default();
    for (plan, path) in plans.iter().zip(&paths) {
        let augment = augment.filter(|_| plan.name == "train");
        let made: Result<Vec<(Vec<Utterance>, AugmentReport)>> = pool.install(|| {
            (0..plan.n)
                .into_par_iter()
                .map(|i| {
                    let u = make_utterances(cfg, augment, &fbank, plan, i, offset + i as u64);
                    pb.inc(1);
                    u
                })
                .collect()
        });
        let mut utts = Vec::with_capacity(plan.n);
        for (us, report) in made? {
            utts.extend(us);
            augmented.merge(&report);
        }
        save_utterances(path, &utts, cfg.features.n_mels, &key)?;
        splits.push(utts);
        offset += plan.n as u64;
    }
    pb.finish_and_clear();
    let test = splits.pop().unwrap_or_default();
    let dev = splits.pop().unwrap_or_default();
    let train = splits.pop().unwrap_or_default();
    Ok(SynthCorpus {
        train,
        dev,
        test,
        from_cache: false,
        augmented: augment.map(|_| augmented),
    })
}

fn validate(c: &SynthConfig) -> Result<()> {
    let bad = |m: &str| Err(AsrError::Config(format!("synth: {m}")));
    if !(c.min_secs > 0.0 && c.min_secs < c.max_secs) {
        return bad("need 0 < min_secs < max_secs");
    }
    if c.rate_min > c.rate_max || c.rate_min < 80 || c.rate_max > 450 {
        return bad("need 80 <= rate_min <= rate_max <= 450");
    }
    if c.pitch_min > c.pitch_max || c.pitch_max > 99 {
        return bad("need pitch_min <= pitch_max <= 99");
    }
    let fracs = [
        c.dev_voice_frac,
        c.test_voice_frac,
        c.dev_text_frac,
        c.test_text_frac,
    ];
    if fracs.iter().any(|f| f.is_nan() || *f <= 0.0) || c.dev_voice_frac + c.test_voice_frac >= 0.9
    {
        return bad("held-out fractions must be > 0 and leave most voices for training");
    }
    if c.dev_text_frac + c.test_text_frac >= 0.9 {
        return bad("held-out text fractions must leave most sentences for training");
    }
    c.features.validate()?;
    // Models trained on it would refuse their own kind of audio in `eval` and `transcribe`.
    if c.max_secs as f64 > c.features.max_seconds {
        return bad(&format!(
            "max_secs {} exceeds features.max_seconds {}",
            c.max_secs, c.features.max_seconds
        ));
    }
    Ok(())
}

/// Partition voice variants and quotations into train/dev/test, deterministically from the seed.
fn plan(cfg: &SynthConfig) -> Result<Vec<SplitPlan>> {
    let (accents, variants) = list_voices()?;
    let sentences = fortune_sentences(2, 12)?;
    let mut rng = Rng::derive(cfg.seed, u64::MAX);
    let mut vs = variants;
    rng.shuffle(&mut vs);
    let n_groups = sentences.iter().map(|s| s.group).max().map_or(0, |g| g + 1);
    let mut groups: Vec<usize> = (0..n_groups).collect();
    rng.shuffle(&mut groups);
    let mut group_split = vec![0usize; n_groups];
    let cut = |n: usize, a: f32, b: f32| {
        let d = ((n as f32 * a).round() as usize).max(1);
        let t = ((n as f32 * b).round() as usize).max(1);
        (d, t)
    };
    let (gd, gt) = cut(n_groups, cfg.dev_text_frac, cfg.test_text_frac);
    for (rank, &g) in groups.iter().enumerate() {
        group_split[g] = if rank < gt {
            2
        } else if rank < gt + gd {
            1
        } else {
            0
        };
    }
    let (vd, vt) = cut(vs.len(), cfg.dev_voice_frac, cfg.test_voice_frac);
    if vs.len() < vd + vt + 1 {
        return Err(AsrError::Synth(format!(
            "only {} espeak-ng voice variants installed; need at least {}",
            vs.len(),
            vd + vt + 1
        )));
    }
    let names = ["train", "dev", "test"];
    let counts = [cfg.n_train, cfg.n_dev, cfg.n_test];
    let var_ranges = [vd + vt..vs.len(), vt..vt + vd, 0..vt];
    let mut plans = Vec::new();
    for s in 0..3 {
        let voices = vs[var_ranges[s].clone()]
            .iter()
            .flat_map(|v| accents.iter().map(move |a| format!("{a}+{v}")))
            .collect();
        let sents: Vec<Sentence> = sentences
            .iter()
            .filter(|x| group_split[x.group] == s)
            .cloned()
            .collect();
        if sents.is_empty() && counts[s] > 0 {
            return Err(AsrError::Synth(format!(
                "no sentences for the {} split",
                names[s]
            )));
        }
        plans.push(SplitPlan {
            name: names[s],
            n: counts[s],
            voices,
            sentences: sents,
        });
    }
    Ok(plans)
}

/// One synthesised utterance before its features.
#[derive(Debug, Clone)]
pub struct SynthAudio {
    pub id: String,
    /// The normalised transcript.
    pub text: String,
    pub voice: String,
    /// Samples at 16 kHz.
    pub samples: Vec<f32>,
}

/// Utterance `i` of a split, then its augmented copies.
fn make_utterances(
    cfg: &SynthConfig,
    augment: Option<&AugmentConfig>,
    fbank: &Fbank,
    plan: &SplitPlan,
    i: usize,
    stream: u64,
) -> Result<(Vec<Utterance>, AugmentReport)> {
    let a = make_audio(cfg, plan, i, stream)?;
    let name = PathBuf::from(format!("<espeak-ng {} {}>", a.id, a.voice));
    let (feats, n_frames) = fbank.compute(&a.samples, &name)?;
    let u = Utterance {
        id: a.id,
        text: a.text,
        feats: Arc::new(feats),
        n_frames,
        speaker: a.voice,
    };
    with_copies(augment, u, &a.samples, fbank)
}

fn make_audio(cfg: &SynthConfig, plan: &SplitPlan, i: usize, stream: u64) -> Result<SynthAudio> {
    let mut rng = Rng::derive(cfg.seed, stream);
    let voice = rng.choose(&plan.voices).cloned().unwrap_or_default();
    let rate = rng.range(cfg.rate_min, cfg.rate_max);
    let pitch = rng.range(cfg.pitch_min, cfg.pitch_max);
    let id = format!("{}-{i:05}", plan.name);
    let name = PathBuf::from(format!("<espeak-ng {id} {voice}>"));
    // espeak-ng reads about rate/10 characters per second: sample sentences until the
    // estimate fits, then check the real duration.
    for _attempt in 0..40 {
        let s = rng
            .choose(&plan.sentences)
            .cloned()
            .unwrap_or_else(|| Sentence {
                raw: String::new(),
                text: String::new(),
                group: 0,
            });
        let est = s.text.len() as f32 / (rate as f32 / 10.0);
        if est < cfg.min_secs * 0.9 || est > cfg.max_secs * 0.9 {
            continue;
        }
        let audio = speak(&s.raw, &voice, rate, pitch, &name)?;
        let secs = audio.len() as f32 / TARGET_SAMPLE_RATE as f32;
        if secs < cfg.min_secs || secs > cfg.max_secs {
            continue;
        }
        return Ok(SynthAudio {
            id,
            text: s.text,
            voice,
            samples: audio,
        });
    }
    Err(AsrError::Synth(format!(
        "{id}: no sentence gave {}-{} s of audio at rate {rate} with voice {voice}",
        cfg.min_secs, cfg.max_secs
    )))
}

/// The audio of one split (`train`, `dev` or `test`) exactly as `synth_corpus` synthesises
/// it (the same voices, sentences and random streams), to write it out or score other models
/// on it.
pub fn synth_split_audio(cfg: &SynthConfig, split: &str) -> Result<Vec<SynthAudio>> {
    validate(cfg)?;
    let plans = plan(cfg)?;
    let at = plans
        .iter()
        .position(|p| p.name == split)
        .ok_or_else(|| AsrError::Config(format!("synth: no split {split:?}")))?;
    let offset: u64 = plans[..at].iter().map(|p| p.n as u64).sum();
    let plan = &plans[at];
    (0..plan.n)
        .into_par_iter()
        .map(|i| make_audio(cfg, plan, i, offset + i as u64))
        .collect()
}

/// FNV-1a over everything that determines the output (not threads or progress). Without
/// augmentation the key is what it was before augmentation existed, so those caches stay valid.
fn cache_key(
    cfg: &SynthConfig,
    augment: Option<&AugmentConfig>,
    version: &str,
    plans: &[SplitPlan],
) -> u64 {
    let mut c = cfg.clone();
    c.threads = 0;
    c.progress = false;
    let mut h = ctc_core::io::Fnv1a::new();
    let mut eat = |s: &str| {
        h.update(s.as_bytes());
        h.update(&[0xff]);
    };
    eat(&FORMAT_VERSION.to_string());
    eat(&serde_json::to_string(&c).unwrap_or_default());
    eat(version);
    for p in plans {
        p.voices.iter().for_each(|v| eat(v));
        p.sentences.iter().for_each(|s| eat(&s.raw));
    }
    if let Some(a) = augment {
        eat("augment");
        eat(&serde_json::to_string(a).unwrap_or_default());
    }
    h.finish()
}
