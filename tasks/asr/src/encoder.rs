//! The speech source encoder: two 1-D convolutions (4x subsampling, 10 ms -> 40 ms frames, or
//! 2x with the second at stride 1: 20 ms frames), then transformer blocks (sinusoidal
//! positions) or Conformer blocks (rotary positions).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv1dConfig, VarBuilder};

use ctc_core::nn::EncoderStack;
use ctc_core::ops::TimeConv1d;
use ctc_core::task::{Encoded, EncoderConfig, Fwd, SourceEncoder};

pub struct AsrEncoder {
    /// Time-major convolutions (im2col + matmul): the parameters of `candle_nn::conv1d`.
    conv1: TimeConv1d,
    conv2: TimeConv1d,
    proj: ctc_core::ops::Linear,
    stack: EncoderStack,
    d: usize,
    subsampling: usize,
}

/// The frame-rate reductions the front end offers.
pub const SUBSAMPLINGS: [usize; 2] = [2, 4];

/// Checks a subsampling factor (one of `SUBSAMPLINGS`).
pub fn check_subsampling(s: usize) -> std::result::Result<(), String> {
    if SUBSAMPLINGS.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "subsampling {s} is not one of {SUBSAMPLINGS:?} (input frames per CTC frame)"
        ))
    }
}

fn stride2(n: usize) -> usize {
    // kernel 3, stride 2, padding 1
    if n == 0 {
        0
    } else {
        (n - 1) / 2 + 1
    }
}

impl AsrEncoder {
    /// `subsampling`: 4 (both convolutions at stride 2) or 2 (the second at stride 1); the
    /// parameters are the same either way.
    pub fn new(
        n_mels: usize,
        cfg: &EncoderConfig,
        subsampling: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        check_subsampling(subsampling).map_err(candle_core::Error::msg)?;
        let c = Conv1dConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        let c2 = Conv1dConfig {
            stride: subsampling / 2,
            ..c
        };
        let ch = cfg.conv_channels;
        Ok(Self {
            conv1: TimeConv1d::new(n_mels, ch, 3, c, vb.pp("conv1"))?,
            conv2: TimeConv1d::new(ch, ch, 3, c2, vb.pp("conv2"))?,
            proj: ctc_core::ops::linear(ch, cfg.d_model, vb.pp("proj"))?,
            stack: EncoderStack::new(cfg, vb.pp("blocks"))?,
            d: cfg.d_model,
            subsampling,
        })
    }

    /// Output frames for `n_frames` input frames at `subsampling`: the CTC frame count
    /// `output_len` reports and the task's feasibility check uses.
    pub fn output_frames(n_frames: usize, subsampling: usize) -> usize {
        match subsampling {
            2 => stride2(n_frames),
            _ => stride2(stride2(n_frames)),
        }
    }
}

impl SourceEncoder for AsrEncoder {
    /// `src`: (B, T_in, n_mels) log-mel frames.
    fn forward(&self, src: &Tensor, src_lens: &[usize], fwd: &mut Fwd) -> Result<Encoded> {
        // Time-major throughout: (B, T, n_mels) -> (B, T/2, C) -> (B, T/4 or T/2, C).
        let x = self.conv1.forward_relu(src)?;
        let x = self.conv2.forward_relu(&x)?;
        let x = self.proj.forward(&x)?;
        let (_, t, _) = x.dims3()?;
        let lens: Vec<usize> = src_lens
            .iter()
            .map(|&l| self.output_len(l).min(t))
            .collect();
        self.stack.encode(&x, lens, fwd)
    }

    fn output_len(&self, input_len: usize) -> usize {
        Self::output_frames(input_len, self.subsampling)
    }

    fn d_model(&self) -> usize {
        self.d
    }
}
