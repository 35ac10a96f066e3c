//! The composite path (`ctc_core::ops::force_composite`: every op built from candle ops, the
//! optimiser and gradient code without their host shortcuts, as off the CPU) against the fused
//! CPU path, on one whole training step of every encoder family and of an oracle: same loss,
//! same gradients, same parameters after the clipped AdamW update.
//!
//! One test in this binary: the switch is process-wide.

#[path = "support/examples.rs"]
mod examples;
#[path = "support/steps.rs"]
mod steps;

use candle_core::{Device, Result};
use ctc_core::ops::force_composite;
use steps::{assert_same_step, every_model_step};

#[test]
fn composite_step_matches_the_fused_step() -> Result<()> {
    force_composite(false);
    let fused = every_model_step(&Device::Cpu)?;
    force_composite(true);
    let composite = every_model_step(&Device::Cpu);
    force_composite(false);
    let mut differs = Vec::new();
    for ((what, f), (_, c)) in fused.iter().zip(&composite?) {
        differs.push(assert_same_step(what, f, c, 1.0)?);
    }
    // Different code ran: its rounding shows in every model's gradients.
    assert_eq!(differs.len(), 6);
    assert!(differs.iter().all(|&d| d > 0.0), "{differs:?}");
    Ok(())
}
