//! Training log: a progress bar (loss, dev error, utterances/s) on a terminal, one line per
//! evaluation on standard error otherwise (a batch job's log shows progress), and a plain-text
//! log file.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;

use candle_core::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::{io_err, TrainReport};

pub struct RunLog {
    file: File,
    path: std::path::PathBuf,
    bar: ProgressBar,
    /// Evaluations and the end are printed as lines (no bar: not a terminal, or no progress).
    lines: bool,
    name: String,
    last_error: Option<f64>,
    /// Exponential moving averages for the bar: loss and utterances/s.
    ema_loss: Option<f32>,
    ema_rate: Option<f64>,
}

impl RunLog {
    /// `progress`: draw a bar when standard error is a terminal; otherwise (or without
    /// `progress`) each evaluation is a line on standard error.
    pub fn open(path: &Path, name: &str, steps: usize, progress: bool) -> Result<Self> {
        let progress = progress && std::io::stderr().is_terminal();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let bar = if progress {
            let b = ProgressBar::new(steps as u64);
            let style = ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg}")
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?
                .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(name.to_string());
            b
        } else {
            ProgressBar::hidden()
        };
        Ok(Self {
            file,
            path: path.to_path_buf(),
            bar,
            lines: !progress,
            name: name.to_string(),
            last_error: None,
            ema_loss: None,
            ema_rate: None,
        })
    }

    pub fn line(&mut self, msg: &str) -> Result<()> {
        writeln!(self.file, "[{}] {msg}", self.name).map_err(|e| io_err(&self.path, e))
    }

    pub fn step(
        &mut self,
        step: usize,
        loss: f32,
        parts: &[(String, f32)],
        utts: usize,
        secs: f64,
        nonfinite_steps: usize,
    ) {
        self.ema_loss = Some(self.ema_loss.map_or(loss, |o| 0.9 * o + 0.1 * loss));
        let rate = utts as f64 / secs.max(1e-9);
        self.ema_rate = Some(self.ema_rate.map_or(rate, |o| 0.9 * o + 0.1 * rate));
        self.bar.set_position(step as u64);
        self.bar.set_message(format!(
            "loss {:.3} dev {} {:.0} utt/s",
            self.ema_loss.unwrap_or(loss),
            self.last_error.map_or("-".into(), |e| format!("{e:.1}%")),
            self.ema_rate.unwrap_or(rate)
        ));
        if step.is_multiple_of(50) {
            let mut parts: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
            if nonfinite_steps > 0 {
                parts.push(format!("nonfinite_steps={nonfinite_steps}"));
            }
            // The log file is best effort for per-step lines; evaluation lines propagate errors.
            let _ = writeln!(
                self.file,
                "[{}] step {step} loss {loss:.4} {} {rate:.1} utt/s",
                self.name,
                parts.join(" ")
            );
        }
    }

    /// Whether evaluations are printed as lines rather than shown on a bar.
    pub fn prints_lines(&self) -> bool {
        self.lines
    }

    pub fn eval(&mut self, step: usize, error: f64, seconds: f64) -> Result<()> {
        self.last_error = Some(error);
        if self.lines {
            eprintln!(
                "{}",
                eval_line(&self.name, step, self.ema_loss, error, seconds)
            );
        }
        self.line(&format!(
            "step {step} dev_error {error:.2} train_seconds {seconds:.1}"
        ))
    }

    pub fn finish(&mut self, r: &TrainReport) -> Result<()> {
        self.bar.finish_and_clear();
        let done = format!(
            "done: {} steps, {:.1} s, best dev error {} at step {}, {} non-finite steps skipped",
            r.steps,
            r.train_seconds,
            r.best_error.map_or("-".into(), |e| format!("{e:.2}")),
            r.best_step.map_or("-".into(), |s| s.to_string()),
            r.nonfinite_steps
        );
        if self.lines {
            eprintln!("[{}] {done}", self.name);
        }
        self.line(&done)
    }
}

/// The line printed for an evaluation off a terminal: step, smoothed training loss, dev error,
/// training seconds so far.
pub fn eval_line(name: &str, step: usize, loss: Option<f32>, error: f64, seconds: f64) -> String {
    format!(
        "[{name}] step {step} loss {} dev error {error:.2} % elapsed {seconds:.1} s",
        loss.map_or("-".into(), |l| format!("{l:.4}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_a_terminal_evaluations_are_lines() {
        let dir = tempfile::tempdir().unwrap();
        let open = |progress| RunLog::open(&dir.path().join("log.txt"), "t", 10, progress).unwrap();
        assert!(open(false).prints_lines());
        assert_eq!(open(true).prints_lines(), !std::io::stderr().is_terminal());
        assert_eq!(
            eval_line("teacher", 250, Some(1.23456), 31.5, 42.04),
            "[teacher] step 250 loss 1.2346 dev error 31.50 % elapsed 42.0 s"
        );
        assert_eq!(
            eval_line("oracle", 0, None, 100.0, 0.0),
            "[oracle] step 0 loss - dev error 100.00 % elapsed 0.0 s"
        );
    }
}
