//! The one place the device is chosen; every model, batch and evaluation receives it from here.

use anyhow::{bail, Result};
use candle_core::Device;

/// Devices this build can run on, by their `--device` name.
pub const DEVICES: &[&str] = &["cpu"];

/// The candle device named by `--device`. The training stack and the custom ops run on any
/// candle device (the CTC op copies through the host), but this build enables no accelerator
/// backend, so only the CPU is offered.
pub fn select(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        other => bail!(
            "--device {other:?}: this build supports {}",
            DEVICES.join(", ")
        ),
    }
}
