//! The sizes and block type of a source encoder, as presets write them.

use serde::{Deserialize, Serialize};

/// The blocks after an encoder's front end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// Pre-LN transformer blocks with sinusoidal absolute positions.
    #[default]
    Transformer,
    /// Conformer blocks (macaron feed-forwards, rotary self-attention, convolution module).
    Conformer,
}

impl EncoderKind {
    fn is_transformer(&self) -> bool {
        *self == Self::Transformer
    }
}

/// Sizes of a source encoder. Shared by both tasks: the front end differs (convolutional
/// subsampling of log-mel frames, or a VGG stack collapsing image height), the blocks after it
/// are the same code. The two optional keys are left out of the serialised form at their
/// defaults, so configs written before they existed keep their hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    /// Hidden size of each feed-forward module (a Conformer block has two).
    pub d_ff: usize,
    #[serde(default)]
    pub dropout: f64,
    /// Channels of the convolutional front end.
    #[serde(default = "default_conv_channels")]
    pub conv_channels: usize,
    #[serde(default, skip_serializing_if = "EncoderKind::is_transformer")]
    pub kind: EncoderKind,
    /// Kernel of the Conformer's depthwise convolution, in encoder frames (odd); Conformer only,
    /// [`DEFAULT_CONV_KERNEL`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_kernel: Option<usize>,
}

/// 15 frames: 600 ms of speech at the 40 ms encoder frame rate, 60 image columns.
pub const DEFAULT_CONV_KERNEL: usize = 15;

fn default_conv_channels() -> usize {
    64
}

impl EncoderConfig {
    /// A transformer encoder of these sizes, no dropout, 64 front-end channels.
    pub fn transformer(d_model: usize, layers: usize, heads: usize, d_ff: usize) -> Self {
        Self {
            d_model,
            layers,
            heads,
            d_ff,
            dropout: 0.0,
            conv_channels: default_conv_channels(),
            kind: EncoderKind::Transformer,
            conv_kernel: None,
        }
    }

    /// The depthwise kernel a Conformer of this config uses.
    pub fn kernel(&self) -> usize {
        self.conv_kernel.unwrap_or(DEFAULT_CONV_KERNEL)
    }

    /// Checks the keys that only make sense together: `conv_kernel` on a Conformer, and the
    /// Conformer's heads, head size and kernel. A transformer's sizes are checked where its
    /// blocks are built; a task whose encoder has no attention blocks (the classifier's MLP)
    /// may leave `heads` and `d_ff` at 0.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        match self.kind {
            EncoderKind::Transformer if self.conv_kernel.is_some() => Err(
                "conv_kernel applies to kind = \"conformer\" only (this encoder is a transformer)"
                    .into(),
            ),
            EncoderKind::Transformer => Ok(()),
            EncoderKind::Conformer => self.validate_conformer(),
        }
    }

    fn validate_conformer(&self) -> Result<(), String> {
        if self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "d_model {} is not divisible by heads {}",
                self.d_model, self.heads
            ));
        }
        if self.d_model == 0 || self.d_ff == 0 {
            return Err("a Conformer needs d_model and d_ff > 0".into());
        }
        if self.kernel().is_multiple_of(2) {
            return Err(format!(
                "conv_kernel must be odd (\"same\" padding), got {}",
                self.kernel()
            ));
        }
        if !(self.d_model / self.heads).is_multiple_of(2) {
            return Err(format!(
                "a Conformer's rotary positions need an even head size; d_model {} / heads {} is odd",
                self.d_model, self.heads
            ));
        }
        Ok(())
    }
}
