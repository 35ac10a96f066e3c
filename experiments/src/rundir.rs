//! The run directory: `<out>/<preset>-<hash>/` holds the resolved config, the command line,
//! the git revision, results.csv, results.md and plots; `seed-<n>/` holds each seed's stages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::preset::{config_hash, Preset};
use crate::results::write_atomic;

pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// Where the run directory of `preset` under `out` is (created or not).
    pub fn path(out: &Path, preset: &Preset) -> Result<PathBuf> {
        Ok(out.join(format!("{}-{}", preset.name, config_hash(preset)?)))
    }

    pub fn create(out: &Path, preset: &Preset) -> Result<Self> {
        let root = Self::path(out, preset)?;
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
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
        Ok(Self { root })
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
