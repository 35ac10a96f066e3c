//! The cluster each test example was drawn with: the speaker or voice of an utterance, the font
//! of a rendered word image. The examples of one cluster are not independent draws (a voice or
//! font the model handles badly fails on all of its examples), so `compare`'s cluster bootstrap
//! resamples clusters instead of examples; the ids are written beside each example's edit
//! counts (`edits-*.csv`, column `cluster`).
//!
//! A trait of this crate over the task crates' example types, so that the tasks need not know
//! about the statistics made of their metadata.

use ctc_core::task::Splits;

pub trait Clustered {
    /// What a cluster is, plural, for table headings ("speakers"); `None` where the task's
    /// examples have no such grouping.
    const UNIT: Option<&'static str>;
    /// This example's cluster; `None` where the data does not record it.
    fn cluster(&self) -> Option<&str>;
}

impl Clustered for asr::task::AsrExample {
    const UNIT: Option<&'static str> = Some("speakers");
    /// The synthetic corpus's espeak-ng voice (accent + variant), a manifest's speaker field.
    fn cluster(&self) -> Option<&str> {
        Some(self.utt.speaker.as_str()).filter(|s| !s.is_empty())
    }
}

impl Clustered for scene_text::task::StrExample {
    const UNIT: Option<&'static str> = Some("fonts");
    /// The font file (with its family) of a rendered word; images read from files have none.
    fn cluster(&self) -> Option<&str> {
        self.image.font()
    }
}

impl Clustered for toy::ToyExample {
    const UNIT: Option<&'static str> = None;
    fn cluster(&self) -> Option<&str> {
        None
    }
}

impl Clustered for classify::ClassifyExample {
    const UNIT: Option<&'static str> = None;
    fn cluster(&self) -> Option<&str> {
        None
    }
}

/// The cluster ids of the dev and test examples of a run's splits, in split order; empty
/// strings where an example has none (the edit files' empty `cluster` cells).
#[derive(Debug, Clone, Default)]
pub struct SplitClusters {
    pub dev: Vec<String>,
    pub test: Vec<String>,
}

impl SplitClusters {
    pub fn of<E: Clustered>(splits: &Splits<E>) -> Self {
        let ids = |xs: &[E]| {
            xs.iter()
                .map(|e| e.cluster().unwrap_or_default().to_string())
                .collect()
        };
        Self {
            dev: ids(&splits.dev),
            test: ids(&splits.test),
        }
    }
}
