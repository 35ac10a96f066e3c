//! The speech source encoder: two stride-2 1-D convolutions (4x subsampling, 10 ms -> 40 ms
//! frames), then transformer blocks (sinusoidal positions) or Conformer blocks (rotary positions).

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
    pub fn new(n_mels: usize, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let c = Conv1dConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        let ch = cfg.conv_channels;
        Ok(Self {
            conv1: TimeConv1d::new(n_mels, ch, 3, c, vb.pp("conv1"))?,
            conv2: TimeConv1d::new(ch, ch, 3, c, vb.pp("conv2"))?,
            proj: ctc_core::ops::linear(ch, cfg.d_model, vb.pp("proj"))?,
            stack: EncoderStack::new(cfg, vb.pp("blocks"))?,
            d: cfg.d_model,
        })
    }

    /// Output frames for `n_frames` input frames: the CTC frame count `output_len` reports and
    /// the task's feasibility check uses.
    pub fn output_frames(n_frames: usize) -> usize {
        stride2(stride2(n_frames))
    }
}

impl SourceEncoder for AsrEncoder {
    /// `src`: (B, T_in, n_mels) log-mel frames.
    fn forward(&self, src: &Tensor, src_lens: &[usize], fwd: &mut Fwd) -> Result<Encoded> {
        // Time-major throughout: (B, T, n_mels) -> (B, T/2, C) -> (B, T/4, C).
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
        Self::output_frames(input_len)
    }

    fn d_model(&self) -> usize {
        self.d
    }
}
