//! The run directory: `<out>/<preset>-<hash>/` holds the resolved config, the command line,
//! the git revision, results.csv, results.md and plots; `seed-<n>/` holds each seed's stages.
//!
//! One `run` at a time owns a run directory: it holds an exclusive lock (flock) on its `lock`
//! file for as long as it lives. The tasks of a job array (`run --cell I`) share one instead:
//! each holds the lock only while it writes the directory's shared files, waiting its turn, and
//! holds `seed-N/lock` of its own seed for as long as it lives, as every run does for its seeds.
//! The kernel drops a lock when the process ends, however it ends, so a crashed or killed run
//! never leaves a directory locked; each lock file keeps the pid of its last owner for the
//! message a refused run prints.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::preset::{config_hash, Preset};
use crate::results::write_atomic;

pub struct RunDir {
    pub root: PathBuf,
    /// The whole directory's lock, held for the lifetime of a run that is not a job-array
    /// task: closing it releases the lock.
    whole: Option<File>,
    /// The locks of the seeds this run trains.
    _seeds: Vec<File>,
}

pub const LOCK: &str = "lock";

/// How long a job-array task waits for another to finish writing the shared files.
pub const SHARED_LOCK_WAIT: Duration = Duration::from_secs(120);

/// Take the exclusive lock of run directory `root`, or refuse at once, naming the directory and
/// the pid recorded by the process holding it.
pub fn lock(root: &Path) -> Result<File> {
    lock_waiting(root, Duration::ZERO)
}

/// `lock`, retrying for up to `wait` while another process holds it.
pub fn lock_waiting(root: &Path, wait: Duration) -> Result<File> {
    let deadline = Instant::now() + wait;
    let path = root.join(LOCK);
    // The lock must stay on one inode, so this file is written in place, not renamed over.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let busy = loop {
        match f.try_lock() {
            Ok(()) => break false,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => break true,
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    };
    if busy {
        let mut pid = String::new();
        let _ = f.read_to_string(&mut pid);
        let pid = pid.trim();
        let who = if pid.is_empty() {
            "unknown".to_string()
        } else {
            pid.to_string()
        };
        bail!(
            "{} is in use by another `experiments run` (pid {who}); wait for it to finish or \
             stop it, or give this run another --out",
            root.display()
        );
    }
    f.set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|()| writeln!(f, "{}", std::process::id()))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(f)
}

impl RunDir {
    /// Where the run directory of `preset` under `out` is (created or not).
    pub fn path(out: &Path, preset: &Preset) -> Result<PathBuf> {
        Ok(out.join(format!("{}-{}", preset.name, config_hash(preset)?)))
    }

    /// The run directory of a run of `seeds` (offsets from the preset's seed) that owns it.
    pub fn create(out: &Path, preset: &Preset, seeds: &[u64]) -> Result<Self> {
        let root = Self::path(out, preset)?;
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let whole = lock(&root)?;
        Self::describe(&root, preset)?;
        let seeds = Self::lock_seeds(&root, preset, seeds)?;
        Ok(Self {
            root,
            whole: Some(whole),
            _seeds: seeds,
        })
    }

    /// The run directory of a job-array task, shared with the tasks of other seeds.
    pub fn create_for_seeds(out: &Path, preset: &Preset, seeds: &[u64]) -> Result<Self> {
        let root = Self::path(out, preset)?;
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let seeds = Self::lock_seeds(&root, preset, seeds)?;
        {
            let _turn = lock_waiting(&root, SHARED_LOCK_WAIT)?;
            Self::describe(&root, preset)?;
        }
        Ok(Self {
            root,
            whole: None,
            _seeds: seeds,
        })
    }

    /// The lock of the shared files (results, tables, plots) while this run writes them:
    /// `None` for a run that holds the whole directory already.
    pub fn lock_shared(&self) -> Result<Option<File>> {
        match self.whole {
            Some(_) => Ok(None),
            None => lock_waiting(&self.root, SHARED_LOCK_WAIT).map(Some),
        }
    }

    fn lock_seeds(root: &Path, preset: &Preset, seeds: &[u64]) -> Result<Vec<File>> {
        seeds
            .iter()
            .map(|s| {
                let d = root.join(format!("seed-{}", preset.seed + s));
                std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
                lock(&d)
            })
            .collect()
    }

    /// The resolved config, the command line, the revision and the CPU's instruction-set paths.
    fn describe(root: &Path, preset: &Preset) -> Result<()> {
        write_atomic(
            &root.join("config.toml"),
            toml::to_string_pretty(preset)?.as_bytes(),
        )?;
        let cmd: Vec<String> = std::env::args().collect();
        write_atomic(
            &root.join("command.txt"),
            format!("{}\n", cmd.join(" ")).as_bytes(),
        )?;
        write_atomic(
            &root.join("revision.txt"),
            format!("{}\n", revision()).as_bytes(),
        )?;
        // The GEMM kernel follows the CPU, and the last digits of the numbers with it.
        let cpu = ctc_core::cpu::describe();
        eprintln!("{cpu}");
        write_atomic(&root.join("cpu.txt"), format!("{cpu}\n").as_bytes())
    }

    pub fn seed_dir(&self, seed: u64) -> Result<PathBuf> {
        let d = self.root.join(format!("seed-{seed}"));
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    }
}

/// Git revision of the tree the binary was built from, with `-dirty` for uncommitted edits
/// (baked in by build.rs; "unknown" outside a git checkout).
pub fn revision() -> &'static str {
    env!("OT_REVISION")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_pid_and_a_released_one_is_free() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let held = lock(root).unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(
            std::fs::read_to_string(root.join(LOCK)).unwrap().trim(),
            pid
        );
        // flock locks belong to an open file description: a second open conflicts even in the
        // same process.
        let e = lock(root).unwrap_err().to_string();
        assert!(e.contains(&root.display().to_string()), "{e}");
        assert!(e.contains(&format!("(pid {pid})")), "{e}");
        drop(held);
        // A lock file left behind (here with a pid no process has) does not block.
        std::fs::write(root.join(LOCK), "4294967\n").unwrap();
        let again = lock(root).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join(LOCK)).unwrap().trim(),
            pid
        );
        drop(again);
    }

    #[test]
    fn job_array_tasks_share_the_directory_but_not_a_seed() {
        let tmp = tempfile::tempdir().unwrap();
        let p = crate::preset::load("toy-oracle", None, true, &[]).unwrap();
        let a = RunDir::create_for_seeds(tmp.path(), &p, &[0]).unwrap();
        let b = RunDir::create_for_seeds(tmp.path(), &p, &[1]).unwrap();
        assert_eq!(a.root, b.root);
        let e = RunDir::create_for_seeds(tmp.path(), &p, &[1])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("seed-1"), "{e}");
        // A run owning the whole directory is refused while the tasks live, and its seeds too.
        assert!(RunDir::create(tmp.path(), &p, &[0]).is_err());
        // The shared files: one task at a time; the other waits, then gives up with the pid.
        let turn = a
            .lock_shared()
            .unwrap()
            .expect("a task takes the shared lock");
        let e = lock_waiting(&b.root, Duration::from_millis(120))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is in use"), "{e}");
        drop(turn);
        assert!(b.lock_shared().unwrap().is_some());
        drop((a, b));
        let whole = RunDir::create(tmp.path(), &p, &[0, 1]).unwrap();
        assert!(whole.lock_shared().unwrap().is_none());
    }
}
