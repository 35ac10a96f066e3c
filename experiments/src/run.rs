//! The `run` verb: resolve the preset, build the data once, run every seed, write results.
//!
//! Ctrl-C (SIGINT) asks training to stop: the step in progress finishes, a checkpoint is
//! written and the run exits with an error saying to rerun the same command, which resumes
//! there. A second Ctrl-C exits at once (the last checkpoint is then the periodic one).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::Device;
use ctc_core::task::Splits;
use ctc_core::Task;
use oracle::AntiCopy;
use student::losses::KD_METHODS;

use crate::pipeline::{run_seed, Ctx, SeedOutcome};
use crate::preset::{self, Preset};
use crate::results::ResultRow;
use crate::rundir::{revision, RunDir};
use crate::{compare, plots, registry, results};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Preset name (asr-oracle, str-oracle, toy-oracle, hinton-mnist) or a TOML file.
    pub preset: String,
    /// Use this TOML file as the preset instead of the built-in one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a preset value, e.g. `--set student.train.steps=500` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Number of seeds (preset seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// The preset at smoke scale (its [quick] overrides).
    #[arg(long)]
    pub quick: bool,
    /// Output directory for runs and the data cache.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// KD methods: a comma-separated list (built-in methods or the preset's
    /// `student.kd_variants`), `all` (every method and variant), or `none` (teachers only).
    /// Default: the preset's list.
    #[arg(long)]
    pub kd: Option<String>,
    /// Also train and diagnose an oracle under each of these anti-copy strategies (a
    /// comma-separated list of structural, no-label-position, random-expansion, label-masking,
    /// or `all`). Students still distil from the preset's oracle.
    #[arg(long, value_name = "LIST|all")]
    pub anti_copy: Option<String>,
    /// Also train every KD student online: a fresh teacher of each kind (from the same initial
    /// weights as the offline one) trained in the same loop as the student, on the student's
    /// budget (stage `student-<teacher>-<kd>-online`, kd column `<kd>+online`). sequence-kd is
    /// skipped, with a message: it needs a fixed teacher's hypotheses.
    #[arg(long)]
    pub online: bool,
    /// No progress bars (logs still go to each stage's log.txt).
    #[arg(long)]
    pub no_progress: bool,
}

/// Everything a run needs besides the task and its data.
pub struct RunInputs<'a> {
    pub args: &'a RunArgs,
    pub preset: &'a Preset,
    pub kd: Vec<String>,
    pub anti_copy: Vec<AntiCopy>,
    pub data_cache: &'a std::path::Path,
    pub progress: bool,
    pub device: &'a Device,
    pub started: Instant,
}

/// Route SIGINT to the training loop's stop request (`ctc_core::train::interrupt`).
fn install_interrupt_handler() -> Result<()> {
    use signal_hook::consts::SIGINT;
    let flag = ctc_core::train::interrupt::flag();
    // Registered first, so it sees the flag as the previous Ctrl-C left it: set means this is
    // the second, and the process exits with the conventional status 128 + SIGINT.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, flag.clone())?;
    signal_hook::flag::register(SIGINT, flag)?;
    Ok(())
}

pub fn run(a: RunArgs, device: &Device) -> Result<()> {
    let started = Instant::now();
    install_interrupt_handler()?;
    let p = preset::load(&a.preset, a.config.as_deref(), a.quick, &a.sets)?;
    let entry = registry::find(&p.task).map_err(|e| anyhow::anyhow!("preset {}: {e}", p.name))?;
    let kd: Vec<String> = match a.kd.as_deref() {
        None => p.kd.clone(),
        Some("all") => KD_METHODS
            .iter()
            .map(|s| s.to_string())
            .chain(p.student.kd_variants.iter().map(|v| v.name.clone()))
            .collect(),
        Some("none") => Vec::new(),
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    for k in &kd {
        crate::variants::objective(&p.student.kd_variants, k)
            .map_err(|e| anyhow::anyhow!("--kd {k}: {e}"))?;
    }
    let anti_copy = parse_anti_copy(a.anti_copy.as_deref())?;
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let cache = a.out.join("data-cache");
    entry.run(&RunInputs {
        args: &a,
        preset: &p,
        kd,
        anti_copy,
        data_cache: &cache,
        progress: !a.no_progress,
        device,
        started,
    })
}

/// `--anti-copy`: strategy names (default parameters) or `all`.
fn parse_anti_copy(arg: Option<&str>) -> Result<Vec<AntiCopy>> {
    let mut names: Vec<&str> = match arg {
        None => Vec::new(),
        Some("all") => AntiCopy::NAMES.to_vec(),
        Some(list) => list.split(',').map(str::trim).collect(),
    };
    // A strategy listed twice would share one stage and give a duplicate row.
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(*n));
    names
        .into_iter()
        .map(|n| {
            AntiCopy::from_name(n).ok_or_else(|| {
                anyhow::anyhow!(
                    "--anti-copy {n:?}: expected one of {}, or all",
                    AntiCopy::NAMES.join(", ")
                )
            })
        })
        .collect()
}

/// Every seed of the run on one task's data, then the run directory's table and plots.
pub fn run_seeds<T: Task>(inputs: &RunInputs, task: &T, splits: &Splits<T::Example>) -> Result<()> {
    let (a, p, started) = (inputs.args, inputs.preset, inputs.started);
    // Created once the data is built, so a preset the task rejects leaves no directory behind.
    let dir = &RunDir::create(&a.out, p)?;
    eprintln!("run directory: {}", dir.root.display());
    eprintln!(
        "data: {} train, {} dev, {} test examples ({:.0} s)",
        splits.train.len(),
        splits.dev.len(),
        splits.test.len(),
        started.elapsed().as_secs_f64()
    );
    let mut rows: Vec<ResultRow> = Vec::new();
    let mut first: Option<SeedOutcome> = None;
    for i in 0..a.seeds {
        let seed = p.seed + i;
        let ctx = Ctx {
            preset: p.clone(),
            seed,
            dir: dir.seed_dir(seed)?,
            device: inputs.device.clone(),
            progress: inputs.progress,
            kd: inputs.kd.clone(),
            anti_copy: inputs.anti_copy.clone(),
            online: a.online,
            revision: revision().to_string(),
        };
        let outcome = run_seed(&ctx, task, splits)?;
        results::merge_rows(&ctx.dir.join("results.csv"), &outcome.rows)?;
        rows.extend(outcome.rows.iter().cloned());
        first.get_or_insert(outcome);
    }
    // Seeds and methods from earlier invocations on this run directory stay in the table.
    let csv = dir.root.join("results.csv");
    results::merge_rows(&csv, &rows)?;
    let table = compare::compare(std::slice::from_ref(&csv), compare::Format::Markdown)?;
    let md = format!(
        "# {} results\n\nCommand: `{}`\n\nRevision: {}\n\n{}\n",
        p.name,
        std::env::args().collect::<Vec<_>>().join(" "),
        revision(),
        table
    );
    results::write_atomic(&dir.root.join("results.md"), md.as_bytes())?;
    if let Some(o) = &first {
        plots::plot_dev_curves(
            &dir.root.join("teacher-dev-curves.png"),
            &format!("{}: dev {} vs training time", p.name, T::ERROR_NAME),
            &o.curves,
            o.target,
        )?;
        let labels: Vec<String> = (0..task.vocab().size())
            .map(|i| {
                if i == 0 {
                    "<b>".to_string()
                } else {
                    task.vocab().decode(&[i as u32])
                }
            })
            .collect();
        let panels: Vec<(String, Vec<Vec<f32>>)> = o
            .posteriors
            .iter()
            .filter(|(_, p)| !p.is_empty())
            .cloned()
            .collect();
        plots::plot_posteriors(
            &dir.root.join("posteriors.png"),
            &format!("test example \"{}\"", o.example_text),
            &panels,
            &labels,
        )?;
    }
    println!("{table}");
    eprintln!(
        "wrote {} and results.md, plots in {} ({:.0} s)",
        csv.display(),
        dir.root.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
