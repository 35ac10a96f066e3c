//! Which instruction-set paths this process runs: candle's matrix products go through the
//! `gemm` crate, which picks its kernel when it first runs (AVX-512F with this workspace's
//! `x86-v4` feature, else FMA, else scalar), so one binary is portable and still uses the
//! widest registers the CPU has; the attention softmax and the max-pool forward are compiled for
//! AVX-512F and AVX2 beside the baseline and pick the same way. Everything else (candle's element-wise loops, this
//! project's other fused kernels) is compiled for the target's baseline. The kernel follows the CPU, and with it
//! the rounding of every product: the same config and seed give the same numbers on machines of
//! one kind, not across kinds.

/// The kernel family `gemm` dispatches to on this CPU (its own rule, repeated).
pub fn gemm_kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            "avx512f"
        } else if std::arch::is_x86_feature_detected!("fma") {
            "fma"
        } else {
            "scalar"
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

/// The builds of this project's kernels that are compiled for several instruction sets (the
/// attention softmax, the max-pool forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelBuild {
    Avx512f,
    Avx2,
    /// The target's baseline (`compiled_baseline`).
    Baseline,
}

impl KernelBuild {
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512f => "avx512f",
            Self::Avx2 => "avx2",
            Self::Baseline => compiled_baseline(),
        }
    }
}

/// The build of those kernels that runs here: the widest the CPU has, chosen at run time. Their
/// results are the same bits on every build.
pub fn fused_kernels() -> KernelBuild {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return KernelBuild::Avx512f;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return KernelBuild::Avx2;
        }
    }
    KernelBuild::Baseline
}

/// The widest vector extension the rest of the code was compiled for.
pub fn compiled_baseline() -> &'static str {
    if cfg!(target_feature = "avx512f") {
        "avx512f"
    } else if cfg!(target_feature = "avx2") {
        "avx2"
    } else if cfg!(target_feature = "sse2") {
        "sse2"
    } else if cfg!(target_feature = "neon") {
        "neon"
    } else {
        "scalar"
    }
}

/// The CPU's model name, from /proc/cpuinfo where there is one.
pub fn model_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// What of the CPU decides a model's numbers, for its results row: the model and the kernel
/// paths (GEMM; softmax and max-pool), not the core count (the shard count fixes the sums).
pub fn numbers_line() -> String {
    format!(
        "{}; GEMM {}; softmax and max-pool {}",
        model_name(),
        gemm_kernel(),
        fused_kernels().name()
    )
}

/// One line for logs and benchmark headers.
pub fn describe() -> String {
    format!(
        "cpu: {}, {} cores; GEMM kernel {}, softmax and max-pool kernels {} (chosen at run \
         time); other code compiled for {}",
        model_name(),
        crate::threads::cores(),
        gemm_kernel(),
        fused_kernels().name(),
        compiled_baseline()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gemm_kernel_follows_the_cpu_flags() {
        let k = gemm_kernel();
        #[cfg(target_arch = "x86_64")]
        {
            let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
            let flags: Vec<&str> = flags
                .lines()
                .find(|l| l.starts_with("flags"))
                .map(|l| l.split_whitespace().collect())
                .unwrap_or_default();
            if !flags.is_empty() {
                let want = if flags.contains(&"avx512f") {
                    "avx512f"
                } else if flags.contains(&"fma") {
                    "fma"
                } else {
                    "scalar"
                };
                assert_eq!(k, want);
            }
        }
        let line = describe();
        assert!(line.contains(&format!("GEMM kernel {k}")), "{line}");
    }
}
