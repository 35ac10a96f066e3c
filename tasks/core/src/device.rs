//! Devices by name (`cpu`, `cuda`, `cuda:N`): the one place a device is opened, for the command
//! line and the benches.
//!
//! The training stack and the custom ops run on any candle device: the fused CPU kernels fall
//! back to composite candle ops elsewhere (`ops::force_composite` forces that path on the
//! CPU), and the CTC op copies through the host. CUDA needs candle's CUDA backend, compiled in
//! by the `cuda` cargo feature of the binary.

use candle_core::{Device, Result};

/// What a device name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Cpu,
    /// A CUDA GPU by ordinal (`cuda` is `cuda:0`).
    Cuda(usize),
}

/// Whether this build has candle's CUDA backend.
pub fn has_cuda() -> bool {
    candle_core::utils::cuda_is_available()
}

/// Parse `cpu`, `cuda` or `cuda:N`.
pub fn parse(name: &str) -> Result<Choice> {
    match name {
        "cpu" => Ok(Choice::Cpu),
        "cuda" => Ok(Choice::Cuda(0)),
        _ => match name.strip_prefix("cuda:").map(str::parse) {
            Some(Ok(n)) => Ok(Choice::Cuda(n)),
            Some(Err(_)) => candle_core::bail!(
                "device {name:?}: the GPU ordinal after `cuda:` must be a number"
            ),
            None => candle_core::bail!("device {name:?}: expected cpu, cuda or cuda:N"),
        },
    }
}

/// Open the device `name` names. A CUDA device gets a stream of its own, shared by every
/// thread that touches it: candle's `new_cuda` gives each thread the per-thread default stream,
/// under which work queued from two threads would not be ordered.
pub fn open(name: &str) -> Result<Device> {
    match parse(name)? {
        Choice::Cpu => Ok(Device::Cpu),
        Choice::Cuda(_) if !has_cuda() => candle_core::bail!(
            "device {name:?}: this build has no CUDA backend (it supports cpu only). Rebuild \
             with `cargo build --release -p experiments --features cuda` on a machine with the \
             CUDA toolkit, or run scripts/cuda-build.sh, which needs none (docs/gpu.md)"
        ),
        Choice::Cuda(n) => Device::new_cuda_with_stream(n).map_err(|e| {
            candle_core::Error::Msg(format!(
                "device {name:?}: cannot open CUDA device {n} ({e}); is the NVIDIA driver \
                 loaded, and are the CUDA 13 libraries on LD_LIBRARY_PATH? (docs/gpu.md)"
            ))
        }),
    }
}

/// How a device shows in logs and bench headers.
pub fn describe(dev: &Device) -> String {
    match dev.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(parse("cpu").unwrap(), Choice::Cpu);
        assert_eq!(parse("cuda").unwrap(), Choice::Cuda(0));
        assert_eq!(parse("cuda:3").unwrap(), Choice::Cuda(3));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse("cuda:x").unwrap_err().to_string().contains("ordinal"));
    }

    #[test]
    fn the_cpu_is_always_there() {
        let dev = open("cpu").unwrap();
        assert!(dev.is_cpu());
        assert_eq!(describe(&dev), "cpu");
    }

    #[test]
    fn cuda_that_cannot_open_says_why() {
        if has_cuda() {
            // No machine has this many GPUs.
            let msg = open("cuda:999").unwrap_err().to_string();
            assert!(msg.contains("cannot open CUDA device 999"), "{msg}");
        } else {
            for name in ["cuda", "cuda:1"] {
                let msg = open(name).unwrap_err().to_string();
                assert!(msg.contains("no CUDA backend"), "{msg}");
                assert!(msg.contains("--features cuda"), "{msg}");
                assert!(msg.contains("scripts/cuda-build.sh"), "{msg}");
            }
        }
    }
}
