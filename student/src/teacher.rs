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
    /// Per-layer hidden states and self-attention maps of the source encoder (when collected).
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

/// The oracle is fed the true labels at distillation time (the canonical form of every
/// anti-copy strategy: no masks, no expansion).
impl Teacher for OracleTeacher {
    fn outputs(&self, batch: &Batch, collect: bool) -> Result<TeacherOut> {
        let out = self.forward(
            &batch.src,
            &batch.src_lens,
            &batch.targets,
            &mut fwd(collect),
        )?;
        Ok(TeacherOut {
            logits: out.logits.detach(),
            lens: out.enc.lens,
            hidden: detach_all(out.enc.hidden),
            attn: detach_all(out.enc.attn),
        })
    }
}
