//! The word-image source encoder: a small VGG-style CRNN front end that collapses the image
//! height (32 -> 2) and subsamples the width by 4, then transformer or Conformer blocks along
//! the width.

use candle_core::{bail, Module, Result, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};

use super::normalize::{FRAME_STRIDE, HEIGHT};
use ctc_core::nn::EncoderStack;
use ctc_core::ops::Conv2dNhwc;
use ctc_core::task::{Encoded, EncoderConfig, Fwd, SourceEncoder};

pub struct CrnnEncoder {
    /// Channels-last convolutions (im2col + matmul): the parameters of `candle_nn::conv2d`.
    convs: Vec<Conv2dNhwc>,
    proj: ctc_core::ops::Linear,
    stack: EncoderStack,
    d: usize,
}

/// Pooling after each conv: (height, width) factors. Width shrinks by 4 = FRAME_STRIDE in all.
const POOLS: [(usize, usize); 4] = [(2, 2), (2, 2), (2, 1), (2, 1)];

impl CrnnEncoder {
    pub fn new(cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.conv_channels.max(4);
        let chans = [1, c / 4, c / 2, c, c];
        let conv_cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let convs = (0..4)
            .map(|i| {
                Conv2dNhwc::new(
                    chans[i],
                    chans[i + 1],
                    3,
                    conv_cfg,
                    vb.pp(format!("conv{i}")),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let out_h = POOLS.iter().fold(HEIGHT, |h, p| h / p.0);
        debug_assert_eq!(POOLS.iter().map(|p| p.1).product::<usize>(), FRAME_STRIDE);
        Ok(Self {
            convs,
            proj: ctc_core::ops::linear(c * out_h, cfg.d_model, vb.pp("proj"))?,
            stack: EncoderStack::new(cfg, vb.pp("blocks"))?,
            d: cfg.d_model,
        })
    }

    /// CTC frames for an image `width` columns wide: what `output_len` reports and what the
    /// corpus and the task check labels against.
    pub fn output_frames(width: usize) -> usize {
        width / FRAME_STRIDE
    }
}

impl SourceEncoder for CrnnEncoder {
    /// `src`: (B, 1, 32, W) images; `src_lens`: valid widths.
    fn forward(&self, src: &Tensor, src_lens: &[usize], fwd: &mut Fwd) -> Result<Encoded> {
        let (b, ch, h, w) = src.dims4()?;
        if ch != 1 {
            bail!(
                "CrnnEncoder: expected (B, 1, H, W) images, got {:?}",
                src.dims()
            )
        }
        // One channel: (B, 1, H, W) is already (B, H, W, 1) channels-last.
        let mut x = src.reshape((b, h, w, 1))?;
        for (conv, &pool) in self.convs.iter().zip(&POOLS) {
            x = conv.forward_relu_pool(&x, pool)?;
        }
        let (b, h, w, c) = x.dims4()?;
        // (B, H, W, C) -> (B, W, C, H) -> (B, W, C*H): one frame per column group, features in
        // the (c, h) order of the former NCHW layout.
        let x = x
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .reshape((b, w, c * h))?;
        let x = self.proj.forward(&x)?;
        let lens: Vec<usize> = src_lens
            .iter()
            .map(|&l| self.output_len(l).min(w))
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
