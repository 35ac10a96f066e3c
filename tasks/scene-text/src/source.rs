//! Where a word-image preset's training, dev and test images come from (`[data.source]`): the
//! renderer (the default), or datasets on disk in the layouts `eval` reads, a folder with a
//! `path<TAB>label` TSV index or the LMDB layout of the STR benchmarks (`load`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use ctc_core::admit::Purpose;

use super::alphabet::Alphabet;
use super::error::{Result, SkipReport};
use super::load::{load_folder, load_lmdb};
use super::normalize::{NormConfig, WordImage};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageSourceKind {
    /// Words rendered from installed fonts (`[data.render]`).
    #[default]
    Render,
    /// A TSV index file, `path<TAB>label` per line.
    Tsv,
    /// An LMDB folder (`data.mdb`) of `image-%09d` / `label-%09d` entries.
    Lmdb,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSource {
    #[serde(default)]
    pub kind: ImageSourceKind,
    /// Each split's TSV file or LMDB folder (relative to the working directory); required
    /// for a dataset on disk, refused for the renderer.
    #[serde(default)]
    pub train: Option<PathBuf>,
    #[serde(default)]
    pub dev: Option<PathBuf>,
    #[serde(default)]
    pub test: Option<PathBuf>,
    /// Skip unreadable entries (counted and reported) instead of stopping at the first.
    #[serde(default)]
    pub skip_bad: bool,
}

impl ImageSource {
    pub fn is_render(&self) -> bool {
        self.kind == ImageSourceKind::Render
    }

    /// The three split paths exist as keys exactly when the kind reads from disk.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let given = [&self.train, &self.dev, &self.test].map(Option::is_some);
        match self.kind {
            ImageSourceKind::Render if given.iter().any(|&g| g) => Err(
                "kind = \"render\" renders its own splits: train, dev and test take no path".into(),
            ),
            ImageSourceKind::Render => Ok(()),
            _ => match ["train", "dev", "test"].iter().zip(given).find(|(_, g)| !g) {
                Some((name, _)) => Err(format!("{name}: a path is required for this kind")),
                None => Ok(()),
            },
        }
    }

    /// One split: `split` is "train", "dev" or "test".
    pub fn load(
        &self,
        split: &str,
        norm: &NormConfig,
        alphabet: &Alphabet,
        purpose: Purpose,
    ) -> Result<(Vec<WordImage>, SkipReport)> {
        let path = self.path(split);
        match self.kind {
            ImageSourceKind::Lmdb => load_lmdb(path, norm, alphabet, purpose, self.skip_bad),
            _ => load_folder(path, norm, alphabet, purpose, self.skip_bad),
        }
    }

    /// The split's path (empty for the renderer).
    pub fn path(&self, split: &str) -> &Path {
        let p = match split {
            "train" => &self.train,
            "dev" => &self.dev,
            _ => &self.test,
        };
        p.as_deref().unwrap_or(Path::new(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<ImageSource, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn kinds_and_their_paths_are_checked() {
        assert!(ImageSource::default().is_render());
        assert_eq!(ImageSource::default().validate(), Ok(()));
        let tsv =
            parse(r#"{"kind": "tsv", "train": "a.tsv", "dev": "b.tsv", "test": "c.tsv"}"#).unwrap();
        assert_eq!(tsv.validate(), Ok(()));
        assert_eq!(tsv.path("dev"), Path::new("b.tsv"));
        let e = parse(r#"{"kind": "lmdb", "train": "a", "test": "c"}"#)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.starts_with("dev: a path is required"), "{e}");
        let e = parse(r#"{"train": "a"}"#).unwrap().validate().unwrap_err();
        assert!(e.contains("renders its own splits"), "{e}");
        assert!(parse(r#"{"kind": "folder"}"#).is_err());
        assert!(parse(r#"{"kind": "tsv", "valid": "x"}"#).is_err());
    }
}
