//! Helpers shared by the cross-crate tests on the synthetic task.

use candle_core::{Device, Result};
use ctc_core::model::CtcModel;
use ctc_core::train::evaluate;
use ctc_core::{EncoderConfig, Fwd};
use toy::{ToyExample, ToyTask};

/// Greedy-decoding error of a plain CTC model on `examples`.
pub fn dev_error(task: &ToyTask, examples: &[ToyExample], m: &CtcModel) -> Result<f64> {
    let ev = evaluate(task, examples, 32, &Device::Cpu, |b| {
        let o = m.forward(&b.src, &b.src_lens, &mut Fwd::eval())?;
        Ok((o.logits, o.enc.lens))
    })?;
    Ok(ev.error)
}

/// A small transformer encoder of width `d`, without dropout.
#[allow(dead_code)]
pub fn enc(d: usize, layers: usize) -> EncoderConfig {
    EncoderConfig {
        d_model: d,
        layers,
        heads: 2,
        d_ff: 2 * d,
        dropout: 0.0,
        conv_channels: 0,
        kind: Default::default(),
        conv_kernel: None,
    }
}
