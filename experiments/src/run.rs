//! The `run` verb: resolve the preset (and the grid's cells, or one job-array task), hand each
//! to its task's registry entry, which builds the data once and runs the seeds
//! (`seeds::run_seeds`); write the grid's results.
//!
//! Ctrl-C (SIGINT) asks training to stop: the step in progress finishes, a checkpoint is
//! written and the run exits with an error saying to rerun the same command, which resumes
//! there. A second Ctrl-C exits at once (the last checkpoint is then the periodic one).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use oracle::AntiCopy;

use crate::preset::{self, Preset};
use crate::results::ResultRow;
use crate::rundir::{self, RunDir};
use crate::seeds::RunInputs;
use crate::{compare, grid, registry, results};

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
    /// No progress bars: each evaluation is one line on standard error, as off a terminal
    /// (logs still go to each stage's log.txt).
    #[arg(long)]
    pub no_progress: bool,
    /// A grid axis: the preset key and its values, e.g. `student.kd.frame-kd.weight=0.5,1,2`
    /// (repeatable: the cartesian product). Each cell runs as if its values were given with
    /// `--set`; identical stages are trained once; all rows also go to one grid results file.
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    pub grids: Vec<String>,
    /// A finished run directory (`<out>/<preset>-<hash>`, or a grid cell) whose identical
    /// finished stages this run adopts instead of training them: same stage name and
    /// `stage-key.txt` (repeatable). E.g. a new KD weight reuses an earlier run's teachers.
    #[arg(long = "reuse", value_name = "RUN_DIR")]
    pub reuse: Vec<PathBuf>,
    /// Run one task of a job array and nothing else: task I is grid cell I / SEEDS with seed
    /// `preset seed + I % SEEDS` (`--list-cells` prints them). Tasks may run at once, as
    /// separate processes sharing `--out`; each merges its rows into the run directory's and
    /// the grid's results files, so `compare` on them sees every finished task.
    #[arg(long, value_name = "I")]
    pub cell: Option<usize>,
    /// Print the job-array tasks of this command (index, seed, grid cell, run directory), one
    /// per line, and their count; train nothing.
    #[arg(long)]
    pub list_cells: bool,
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
    install_interrupt_handler()?;
    for d in &a.reuse {
        if !has_seed_dir(d) {
            bail!(
                "--reuse {}: not a run directory (no seed-N folder in it)",
                d.display()
            );
        }
    }
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let all_seeds: Vec<u64> = (0..a.seeds).collect();
    if a.grids.is_empty() && a.cell.is_none() && !a.list_cells {
        let p = preset::load(&a.preset, a.config.as_deref(), a.quick, &a.sets)?;
        return run_one(&a, p, String::new(), a.reuse.clone(), all_seeds, device);
    }
    let axes = a
        .grids
        .iter()
        .map(|g| grid::parse_axis(g))
        .collect::<Result<Vec<_>>>()?;
    // No grid: one cell with no assignments.
    let cells = if axes.is_empty() {
        vec![Vec::new()]
    } else {
        grid::cells(&axes)?
    };
    // Every cell's preset first: a bad value stops the grid before anything trains.
    let mut presets = Vec::new();
    let mut dirs = Vec::new();
    for cell in &cells {
        let sets: Vec<String> = a.sets.iter().chain(cell).cloned().collect();
        let p = preset::load(&a.preset, a.config.as_deref(), a.quick, &sets)
            .map_err(|e| anyhow::anyhow!("grid cell {}: {e:#}", grid::overrides(cell)))?;
        dirs.push(RunDir::path(&a.out, &p)?);
        presets.push(p);
    }
    let n_tasks = cells.len() * a.seeds as usize;
    if a.list_cells {
        for i in 0..n_tasks {
            let (c, s) = (i / a.seeds as usize, i as u64 % a.seeds);
            println!(
                "{i}\tseed {}\t{}\t{}",
                presets[c].seed + s,
                grid::overrides(&cells[c]),
                dirs[c].display()
            );
        }
        eprintln!("{n_tasks} tasks: --cell 0 to --cell {}", n_tasks - 1);
        return Ok(());
    }
    if let Some(i) = a.cell {
        if i >= n_tasks {
            bail!(
                "--cell {i}: this command has {n_tasks} tasks ({} grid cells x {} seeds), \
                 numbered 0 to {}",
                cells.len(),
                a.seeds,
                n_tasks - 1
            );
        }
        let (c, s) = (i / a.seeds as usize, i as u64 % a.seeds);
        eprintln!(
            "task {i} of {n_tasks}: seed {}{}",
            presets[c].seed + s,
            if cells[c].is_empty() {
                String::new()
            } else {
                format!(", grid cell {}", grid::overrides(&cells[c]))
            }
        );
        let share = shared_dirs(&dirs, c, &a.reuse);
        let seed = presets[c].seed + s;
        let p = presets.swap_remove(c);
        run_one(&a, p, grid::overrides(&cells[c]), share, vec![s], device)?;
        if !axes.is_empty() {
            // Other tasks of the array merge into the same grid file: one at a time.
            let root = grid_root(&a, &cells)?;
            let _lock = rundir::lock_waiting(&root.0, rundir::SHARED_LOCK_WAIT)?;
            let rows = cell_rows(&dirs[c], Some(seed))?;
            let table = write_grid(&root, &cells, &dirs, &rows)?;
            println!("{table}");
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for (i, (cell, p)) in cells.iter().zip(presets).enumerate() {
        eprintln!(
            "grid cell {} of {}: {}",
            i + 1,
            cells.len(),
            grid::overrides(cell)
        );
        let share = shared_dirs(&dirs, i, &a.reuse);
        run_one(
            &a,
            p,
            grid::overrides(cell),
            share,
            all_seeds.clone(),
            device,
        )?;
        rows.extend(cell_rows(&dirs[i], None)?);
    }
    let root = grid_root(&a, &cells)?;
    let table = write_grid(&root, &cells, &dirs, &rows)?;
    println!("{table}");
    eprintln!(
        "grid of {} cells: {}",
        cells.len(),
        root.0.join("results.csv").display()
    );
    Ok(())
}

/// The run directories a grid cell adopts identical finished stages from: the other cells'
/// and `--reuse`.
fn shared_dirs(dirs: &[PathBuf], cell: usize, reuse: &[PathBuf]) -> Vec<PathBuf> {
    (dirs.iter().enumerate())
        .filter(|(j, _)| *j != cell)
        .map(|(_, d)| d.clone())
        .chain(reuse.iter().cloned())
        .collect()
}

/// A cell's rows (of one seed, or all), as the grid's file holds them: it sits beside the
/// cells' run directories, so its edit paths go through them.
fn cell_rows(dir: &Path, seed: Option<u64>) -> Result<Vec<ResultRow>> {
    let name = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut rows = Vec::new();
    for mut r in results::read_rows(&dir.join("results.csv"))? {
        if seed.is_some_and(|s| r.seed != s) {
            continue;
        }
        if !r.test_edits.is_empty() {
            r.test_edits = format!("../{name}/{}", r.test_edits);
        }
        rows.push(r);
    }
    Ok(rows)
}

/// `<out>/<preset>-grid-<hash>`, created: the hash covers the base preset and the cells.
fn grid_root(a: &RunArgs, cells: &[Vec<String>]) -> Result<(PathBuf, String)> {
    let base = preset::load(&a.preset, a.config.as_deref(), a.quick, &a.sets)?;
    let spec: Vec<String> = cells.iter().map(|c| grid::overrides(c)).collect();
    let hash = ctc_core::io::fnv1a(
        format!("{}\n{}", preset::config_hash(&base)?, spec.join("\n")).as_bytes(),
    );
    let root = a
        .out
        .join(format!("{}-grid-{:08x}", base.name, hash as u32));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    Ok((root, base.name))
}

/// Merge `rows` into the grid's results.csv and rewrite its results.md; returns the table.
fn write_grid(
    (root, name): &(PathBuf, String),
    cells: &[Vec<String>],
    dirs: &[PathBuf],
    rows: &[ResultRow],
) -> Result<String> {
    let csv = root.join("results.csv");
    results::merge_rows(&csv, rows)?;
    let listing: Vec<String> = (cells.iter().zip(dirs))
        .map(|(c, d)| format!("- `{}`: {}", grid::overrides(c), d.display()))
        .collect();
    let table = compare::compare(std::slice::from_ref(&csv), compare::Format::Markdown)?;
    let md = format!(
        "# {name} grid\n\nCommand: `{}`\n\nCells:\n{}\n\n{}\n",
        std::env::args().collect::<Vec<_>>().join(" "),
        listing.join("\n"),
        table
    );
    results::write_atomic(&root.join("results.md"), md.as_bytes())?;
    Ok(table)
}

fn has_seed_dir(d: &Path) -> bool {
    std::fs::read_dir(d).is_ok_and(|mut it| {
        it.any(|e| {
            e.is_ok_and(|e| {
                e.file_name().to_string_lossy().starts_with("seed-") && e.path().is_dir()
            })
        })
    })
}

/// One run of the resolved preset `p`.
fn run_one(
    a: &RunArgs,
    p: Preset,
    overrides: String,
    share: Vec<PathBuf>,
    seeds: Vec<u64>,
    device: &Device,
) -> Result<()> {
    let started = Instant::now();
    let entry = registry::find(&p.task).map_err(|e| anyhow::anyhow!("preset {}: {e}", p.name))?;
    let kd: Vec<String> = match a.kd.as_deref() {
        None => p.kd.clone(),
        // Methods with an oracle path only where the preset has an oracle to take it from.
        Some("all") => (student::losses::METHODS.iter())
            .filter(|m| p.oracle.is_some() || !m.objective().needs().oracle_path)
            .map(|m| m.name.to_string())
            .chain(p.student.kd_variants.iter().map(|v| v.name.clone()))
            .collect(),
        Some("none") => Vec::new(),
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    for k in &kd {
        p.student
            .objective(k)
            .map_err(|e| anyhow::anyhow!("--kd {k}: {e}"))?;
    }
    let anti_copy = parse_anti_copy(a.anti_copy.as_deref())?;
    let cache = a.out.join("data-cache");
    entry.run(&RunInputs {
        out: &a.out,
        preset: &p,
        online: a.online,
        kd,
        anti_copy,
        data_cache: &cache,
        progress: !a.no_progress,
        device,
        started,
        overrides,
        share,
        seeds,
        cell_task: a.cell.is_some(),
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
