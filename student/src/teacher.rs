//! What a student needs from a frozen teacher, for both teacher kinds.

use candle_core::{Result, Tensor};
use ctc_core::model::CtcModel;
use ctc_core::{Batch, Fwd};
use oracle::OracleTeacher;

/// A frozen teacher's outputs for one batch; every tensor is detached.
pub struct TeacherOut {
    /// (B, T, V') scores.
    pub logits: Tensor,
    pub lens: Vec<usize>,
    /// Per-layer hidden states and self-attention maps (when collected): the source encoder's,
    /// and for the oracle the fusion blocks' outputs after them (`OracleFeatures`).
    pub hidden: Vec<Tensor>,
    pub attn: Vec<Tensor>,
}

pub trait Teacher: Sync {
    fn outputs(&self, batch: &Batch, collect: bool) -> Result<TeacherOut>;
}

fn fwd(collect: bool) -> Fwd {
    let f = Fwd::eval();
    if collect {
        f.collecting()
    } else {
        f
    }
}

fn detach_all(xs: Vec<Tensor>) -> Vec<Tensor> {
    xs.into_iter().map(|x| x.detach()).collect()
}

impl Teacher for CtcModel {
    fn outputs(&self, batch: &Batch, collect: bool) -> Result<TeacherOut> {
        let out = self.forward(&batch.src, &batch.src_lens, &mut fwd(collect))?;
        Ok(TeacherOut {
            logits: out.logits.detach(),
            lens: out.enc.lens,
            hidden: detach_all(out.enc.hidden),
            attn: detach_all(out.enc.attn),
        })
    }
}

/// Which of the oracle's hidden states layer-wise KD distils.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OracleFeatures {
    /// The source encoder's layers followed by the fusion blocks' outputs: the last layers
    /// have seen the labels.
    #[default]
    Fused,
    /// The source encoder's layers only (before any label is fused in).
    Source,
}

/// The oracle as a frozen teacher. It is told the true labels at distillation time, in the form
/// its strategy trained on (`OracleTeacher::infer`: the labels themselves, or for random
/// expansion the mean over sampled expansions). Its self-attention maps
/// are its source encoder's (the fusion blocks attend to labels, not frames), so attention-map
/// KD from the oracle transfers no label-informed map.
pub struct OracleAsTeacher<'a> {
    pub oracle: &'a OracleTeacher,
    pub features: OracleFeatures,
}

impl Teacher for OracleAsTeacher<'_> {
    fn outputs(&self, batch: &Batch, collect: bool) -> Result<TeacherOut> {
        let out = self.oracle.infer(
            &batch.src,
            &batch.src_lens,
            &batch.targets,
            &mut fwd(collect),
        )?;
        let mut hidden = out.enc.hidden;
        if self.features == OracleFeatures::Fused {
            hidden.extend(out.fused);
        }
        Ok(TeacherOut {
            logits: out.logits.detach(),
            lens: out.enc.lens,
            hidden: detach_all(hidden),
            attn: detach_all(out.enc.attn),
        })
    }
}

/// The oracle with its default features (`OracleFeatures::Fused`).
impl Teacher for OracleTeacher {
    fn outputs(&self, batch: &Batch, collect: bool) -> Result<TeacherOut> {
        OracleAsTeacher {
            oracle: self,
            features: OracleFeatures::Fused,
        }
        .outputs(batch, collect)
    }
}
