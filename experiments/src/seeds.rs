//! The seeds of one run on one task's data: each seed's stages (`pipeline::run_seed`), then
//! the run directory's results table and plots. Below the task registry, which calls it once a
//! task has built its data; `run` (the verb) sits above both.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::Device;
use ctc_core::task::Splits;
use ctc_core::Task;
use oracle::AntiCopy;

use crate::clusters::{Clustered, SplitClusters};
use crate::pipeline::{run_seed, Ctx, SeedOutcome};
use crate::preset::Preset;
use crate::results::ResultRow;
use crate::rundir::{revision, RunDir};
use crate::{compare, plots, results};

/// Everything a run needs besides the task and its data.
pub struct RunInputs<'a> {
    /// `--out`: where run directories are made.
    pub out: &'a std::path::Path,
    pub preset: &'a Preset,
    /// `--online`: train every KD student online too.
    pub online: bool,
    pub kd: Vec<String>,
    pub anti_copy: Vec<AntiCopy>,
    pub data_cache: &'a std::path::Path,
    pub progress: bool,
    pub device: &'a Device,
    pub started: Instant,
    /// The grid cell's assignments (the rows' `overrides`); empty outside grids.
    pub overrides: String,
    /// Run directories whose identical finished stages are adopted: the grid's other cells
    /// and `--reuse`.
    pub share: Vec<PathBuf>,
    /// The seeds to run: every seed of `--seeds`, or the one of a `--cell` task.
    pub seeds: Vec<u64>,
    /// A `--cell` task: other processes may work in the same run directory on other seeds.
    pub cell_task: bool,
}

/// Every seed of the run on one task's data, then the run directory's table and plots.
pub fn run_seeds<T: Task>(inputs: &RunInputs, task: &T, splits: &Splits<T::Example>) -> Result<()>
where
    T::Example: Clustered,
{
    let (out, p, started) = (inputs.out, inputs.preset, inputs.started);
    // Created once the data is built, so a preset the task rejects leaves no directory behind.
    let dir = &if inputs.cell_task {
        RunDir::create_for_seeds(out, p, &inputs.seeds)?
    } else {
        RunDir::create(out, p, &inputs.seeds)?
    };
    eprintln!("run directory: {}", dir.root.display());
    eprintln!(
        "data: {} train, {} dev, {} test examples ({:.0} s)",
        splits.train.len(),
        splits.dev.len(),
        splits.test.len(),
        started.elapsed().as_secs_f64()
    );
    let clusters = SplitClusters::of(splits);
    let mut rows: Vec<ResultRow> = Vec::new();
    let mut first: Option<SeedOutcome> = None;
    for &i in &inputs.seeds {
        let seed = p.seed + i;
        let ctx = Ctx {
            preset: p.clone(),
            seed,
            dir: dir.seed_dir(seed)?,
            device: inputs.device.clone(),
            progress: inputs.progress,
            kd: inputs.kd.clone(),
            anti_copy: inputs.anti_copy.clone(),
            online: inputs.online,
            revision: revision().to_string(),
            share: inputs
                .share
                .iter()
                .map(|d| d.join(format!("seed-{seed}")))
                .collect(),
            clusters: clusters.clone(),
        };
        let mut outcome = run_seed(&ctx, task, splits)?;
        for r in &mut outcome.rows {
            r.overrides = inputs.overrides.clone();
        }
        results::merge_rows(&ctx.dir.join("results.csv"), &outcome.rows)?;
        rows.extend(outcome.rows.iter().cloned());
        first.get_or_insert(outcome);
    }
    // Seeds and methods from earlier invocations on this run directory stay in the table.
    // Job-array tasks of other seeds write here too: one at a time.
    let _shared = dir.lock_shared()?;
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
    // A job-array task of a later seed leaves the plots to the first seed's.
    if let Some(o) = first.filter(|_| inputs.seeds.first() == Some(&0)) {
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
