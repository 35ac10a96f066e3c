//! Helpers shared by the cross-crate tests on the synthetic task.

use candle_core::{Device, Result};
use ctc_core::model::CtcModel;
use ctc_core::train::evaluate;
use ctc_core::Fwd;
use toy::{ToyExample, ToyTask};

/// Greedy-decoding error of a plain CTC model on `examples`.
pub fn dev_error(task: &ToyTask, examples: &[ToyExample], m: &CtcModel) -> Result<f64> {
    let ev = evaluate(task, examples, 32, &Device::Cpu, |b| {
        let o = m.forward(&b.src, &b.src_lens, &mut Fwd::eval())?;
        Ok((o.logits, o.enc.lens))
    })?;
    Ok(ev.error)
}
