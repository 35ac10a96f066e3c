//! `experiments leveloff`: the level-off rule (`ctc_core::train::leveloff`) read from the
//! training curves of finished stages, one table row per stage.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ctc_core::train::leveloff::{self, Reading};
use serde::de::IgnoredAny;

use crate::pipeline::{StageReport, REPORT};

/// Every stage report under `dir`: `dir` itself when it is a stage, else its `seed-*/<stage>/`
/// (a run directory); sorted by path.
fn reports(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join(REPORT).is_file() {
        return Ok(vec![dir.join(REPORT)]);
    }
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| format!("reading {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for seed in list(dir)? {
        let is_seed = seed
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("seed-"));
        if is_seed {
            out.extend(
                list(&seed)?
                    .into_iter()
                    .map(|s| s.join(REPORT))
                    .filter(|r| r.is_file()),
            );
        }
    }
    Ok(out)
}

fn describe(r: &Reading, last: f64) -> String {
    match r.within {
        Some(l) => format!("{:.0} ({:.0} s)", l.step, l.seconds),
        None if r.step.is_finite() => format!(
            "not within {last:.0} steps: the fit reaches it at {:.0}",
            r.step
        ),
        None => "never: the fit's asymptote is 0 (a = 0)".into(),
    }
}

/// The markdown table for the stages under `dirs` (run or stage directories) at threshold
/// `rel`. Stages whose last training phase has too few evaluations to fit are listed as such.
pub fn table(dirs: &[PathBuf], rel: f64) -> Result<String> {
    let mut s = format!(
        "Level-off rule: a power law e(s) = a + b (s / S)^-c fitted to the dev evaluations from \
         {:.0} % of the run on (S: the last one); levelled off once the fit improves by less than \
         {:.1} % over the last {:.0} % of the steps.\n\n\
         | stage | steps | last dev error | best (step) | fit: a, b, c | rms residual | fitted \
         improvement over the last fifth | level-off step |\n|---|---|---|---|---|---|---|---|\n",
        100.0 * leveloff::FIT_FROM,
        100.0 * rel,
        100.0 * leveloff::WINDOW
    );
    for dir in dirs {
        let found = reports(dir)?;
        if found.is_empty() {
            bail!(
                "{}: no finished stage ({REPORT} in the folder or in seed-*/<stage>/)",
                dir.display()
            );
        }
        for path in found {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let report: StageReport<IgnoredAny> = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            // Named from the run directory's own name on, so that several runs stay apart.
            let stage_dir = path.parent().unwrap_or(dir);
            let name = dir
                .parent()
                .and_then(|above| stage_dir.strip_prefix(above).ok())
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| stage_dir.display().to_string());
            // A split stage (an initialisation phase, then KD) is read from its last phase.
            let Some(train) = report.train.last() else {
                bail!("{}: no training phase", path.display());
            };
            let (Some(first), Some(end)) = (train.curve.first(), train.curve.last()) else {
                let _ = writeln!(
                    s,
                    "| {name} | {} | - | - | no evaluations | | | |",
                    train.steps
                );
                continue;
            };
            let best =
                train.curve.iter().fold(
                    first,
                    |b, p| {
                        if p.dev_error < b.dev_error {
                            p
                        } else {
                            b
                        }
                    },
                );
            let lead = format!(
                "| {name} | {} | {:.2} | {:.2} ({}) ",
                train.steps, end.dev_error, best.dev_error, best.step
            );
            match leveloff::read(&train.curve, rel) {
                Some(r) => {
                    let _ = writeln!(
                        s,
                        "{lead}| {:.2}, {:.2}, {:.3} ({} points) | {:.2} | {:.1} % | {} |",
                        r.fit.a,
                        r.fit.b,
                        r.fit.c,
                        r.fit.points,
                        r.fit.residual_rms,
                        100.0 * r.last_improvement,
                        describe(&r, end.step as f64)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "{lead}| no fit: too few evaluations from a quarter of the run on \
                         (at least {}), or a non-finite error | | | |",
                        leveloff::MIN_POINTS
                    );
                }
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctc_core::train::{CurvePoint, TrainReport};

    fn write_stage(dir: &Path, curve: &[(usize, f64)]) {
        std::fs::create_dir_all(dir).unwrap();
        let report = StageReport {
            train: vec![TrainReport {
                steps: curve.last().map_or(0, |p| p.0),
                curve: curve
                    .iter()
                    .map(|&(step, dev_error)| CurvePoint {
                        step,
                        seconds: step as f64 / 10.0,
                        dev_error,
                    })
                    .collect(),
                ..Default::default()
            }],
            extra: (),
        };
        std::fs::write(dir.join(REPORT), serde_json::to_string(&report).unwrap()).unwrap();
    }

    #[test]
    fn reads_every_stage_of_a_run_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("toy-oracle-0");
        let flat: Vec<(usize, f64)> = (1..=20).map(|i| (100 * i, 30.0)).collect();
        let falling: Vec<(usize, f64)> = (1..=20)
            .map(|i| (100 * i, 10.0 + 4000.0 / (100 * i) as f64))
            .collect();
        write_stage(&run.join("seed-0/teacher"), &flat);
        write_stage(&run.join("seed-0/oracle"), &falling);
        write_stage(&run.join("seed-0/student-none-ctc"), &flat[..3]);
        // An unfinished stage has no report and is not a row.
        std::fs::create_dir_all(run.join("seed-1/teacher")).unwrap();
        let t = table(std::slice::from_ref(&run), leveloff::REL).unwrap();
        let rows: Vec<&str> = t
            .lines()
            .filter(|l| l.starts_with("| toy-oracle-0/"))
            .collect();
        assert_eq!(rows.len(), 3, "{t}");
        assert!(rows[0].starts_with("| toy-oracle-0/seed-0/oracle | 2000 | 12.00 | 12.00 (2000) "));
        // e = 10 + 4 (s / 1000)^-1: r < 1 % once 4 (0.25 - 0.0125) (s / 1000)^-1 < 0.1, at
        // 9,500 steps, past the run.
        assert!(
            rows[0].ends_with("| 4.0 % | not within 2000 steps: the fit reaches it at 9500 |"),
            "{}",
            rows[0]
        );
        assert!(
            rows[1].contains("no fit: too few evaluations"),
            "{}",
            rows[1]
        );
        assert!(rows[2].ends_with("| 500 (50 s) |"), "{}", rows[2]);
        // A stage folder on its own.
        let one = table(&[run.join("seed-0/teacher")], leveloff::REL).unwrap();
        assert!(
            one.contains("| teacher | 2000 |") && one.contains("| 500 (50 s) |"),
            "{one}"
        );
    }

    #[test]
    fn bad_directories_and_reports_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let e = table(&[tmp.path().to_path_buf()], leveloff::REL).unwrap_err();
        assert!(e.to_string().contains("no finished stage"), "{e}");
        let stage = tmp.path().join("seed-0/teacher");
        std::fs::create_dir_all(&stage).unwrap();
        std::fs::write(stage.join(REPORT), "{not json").unwrap();
        let e = format!(
            "{:#}",
            table(&[tmp.path().to_path_buf()], leveloff::REL).unwrap_err()
        );
        assert!(e.contains("parsing") && e.contains("report.json"), "{e}");
        let missing = tmp.path().join("absent");
        let e = format!("{:#}", table(&[missing], leveloff::REL).unwrap_err());
        assert!(e.contains("absent"), "{e}");
    }
}
