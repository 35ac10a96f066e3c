//! The run directory: `<out>/<preset>-<hash>/` holds the resolved config, the command line,
//! the git revision, results.csv, results.md and plots; `seed-<n>/` holds each seed's stages.
//!
//! One `run` at a time owns a run directory: it holds an exclusive lock (flock) on its `lock`
//! file for as long as it lives. The kernel drops the lock when the process ends, however it
//! ends, so a crashed or killed run never leaves the directory locked; the file keeps the pid of
//! its last owner for the message a refused run prints.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::preset::{config_hash, Preset};
use crate::results::write_atomic;

pub struct RunDir {
    pub root: PathBuf,
    /// Held open for the lifetime of the run: closing it releases the lock.
    _lock: File,
}

pub const LOCK: &str = "lock";

/// Take the exclusive lock of run directory `root`, or refuse at once, naming the directory and
/// the pid recorded by the process holding it.
pub fn lock(root: &Path) -> Result<File> {
    let path = root.join(LOCK);
    // The lock must stay on one inode, so this file is written in place, not renamed over.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
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
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
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

    pub fn create(out: &Path, preset: &Preset) -> Result<Self> {
        let root = Self::path(out, preset)?;
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let lock = lock(&root)?;
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
        Ok(Self { root, _lock: lock })
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
}
