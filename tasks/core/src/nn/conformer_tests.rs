use candle_core::{Device, Result, Tensor};

use super::{ConformerDims, ConformerStack};
use crate::nn::{EncoderConfig, EncoderKind, EncoderStack, Rotary, DEFAULT_CONV_KERNEL};
use crate::ops::grad_check::{randn, values};
use crate::params::ParamStore;
use crate::task::Fwd;
use crate::Rng;

const DIMS: ConformerDims = ConformerDims {
    d: 16,
    heads: 2,
    d_ff: 24,
    kernel: 5,
    dropout: 0.1,
};

fn stack(layers: usize, seed: u64) -> Result<(ParamStore, ConformerStack)> {
    let store = ParamStore::new(seed);
    let s = ConformerStack::new(DIMS, layers, store.vb(&Device::Cpu))?;
    Ok((store, s))
}

#[test]
fn shapes_and_collected_layers() -> Result<()> {
    let (_, s) = stack(3, 0)?;
    let x = randn((2, 9, 16), &mut Rng::new(1));
    let mut fwd = Fwd::eval().collecting();
    let enc = s.encode(&x, vec![9, 4], &mut fwd)?;
    assert_eq!(enc.frames.dims(), &[2, 9, 16]);
    assert_eq!(enc.lens, vec![9, 4]);
    assert_eq!(enc.hidden.len(), 3);
    assert_eq!(enc.attn.len(), 3);
    assert_eq!(enc.attn[0].dims(), &[2, 2, 9, 9]);
    // The last collected state is the output, as for the transformer stack.
    assert_eq!(values(&enc.hidden[2]), values(&enc.frames));
    // Padded keys get no attention.
    let w = enc.attn[1].get(1)?.narrow(2, 4, 5)?;
    assert!(values(&w).iter().all(|&v| v == 0.0));
    Ok(())
}

#[test]
fn an_example_does_not_see_its_batch_padding() -> Result<()> {
    let (_, s) = stack(2, 3)?;
    let mut rng = Rng::new(2);
    let (len, t) = (6, 11);
    let alone = randn((1, len, 16), &mut rng);
    // In a batch padded to `t` frames with large garbage in the padding.
    let garbage = (randn((1, t - len, 16), &mut rng) * 50.0)?;
    let padded = Tensor::cat(&[&alone, &garbage], 1)?;
    let other = randn((1, t, 16), &mut rng);
    let batch = Tensor::cat(&[&padded, &other], 0)?;
    let a = s.encode(&alone, vec![len], &mut Fwd::eval())?;
    let b = s.encode(&batch, vec![len, t], &mut Fwd::eval())?;
    let got = values(&b.frames.get(0)?.narrow(0, 0, len)?);
    let want = values(&a.frames.get(0)?);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "[{i}] {g} vs {w}");
    }
    Ok(())
}

#[test]
fn every_parameter_gets_a_gradient() -> Result<()> {
    let (store, s) = stack(2, 5)?;
    let x = randn((2, 7, 16), &mut Rng::new(6));
    let enc = s.encode(&x, vec![7, 5], &mut Fwd::train(Rng::new(7)))?;
    let r = randn((2, 7, 16), &mut Rng::new(8));
    let grads = (enc.frames * r)?.sum_all()?.backward()?;
    assert!(store.vars().len() >= 2 * 20, "{} vars", store.vars().len());
    for (name, var) in store.vars() {
        let g = grads.get(var.as_tensor()).map(values).unwrap_or_default();
        assert!(g.iter().any(|&v| v != 0.0), "{name} gets no gradient");
    }
    Ok(())
}

#[test]
fn rotary_scores_depend_only_on_the_offset() -> Result<()> {
    let dev = Device::Cpu;
    let (t, dh) = (12, 8);
    let rot = Rotary::new(t, dh, &dev)?;
    let mut rng = Rng::new(9);
    // The same query and key vector at every position.
    let q = randn((1, 1, 1, dh), &mut rng).broadcast_as((1, 1, t, dh))?;
    let k = randn((1, 1, 1, dh), &mut rng).broadcast_as((1, 1, t, dh))?;
    let scores = rot
        .apply(&q)?
        .matmul(&rot.apply(&k)?.t()?)?
        .squeeze(0)?
        .squeeze(0)?;
    let s: Vec<Vec<f32>> = scores.to_vec2()?;
    for i in 0..t - 3 {
        for j in 0..t - 3 {
            let (a, b) = (s[i][j], s[i + 3][j + 3]);
            assert!((a - b).abs() < 1e-4, "({i},{j}) {a} vs shifted {b}");
        }
    }
    // ...and they do depend on it (the check above is not vacuous).
    assert!((s[0][0] - s[0][5]).abs() > 1e-3);
    // Position 0 is the identity: rotation leaves the vector as it was.
    let first = values(&rot.apply(&q)?.narrow(2, 0, 1)?);
    assert_eq!(first, values(&q.narrow(2, 0, 1)?));
    Ok(())
}

#[test]
fn configs_choose_the_stack_and_bad_ones_are_refused() -> Result<()> {
    let mut cfg = EncoderConfig::transformer(16, 1, 2, 24);
    let store = ParamStore::new(0);
    assert!(matches!(
        EncoderStack::new(&cfg, store.vb(&Device::Cpu))?,
        EncoderStack::Transformer(_)
    ));
    cfg.kind = EncoderKind::Conformer;
    let store = ParamStore::new(0);
    assert!(matches!(
        EncoderStack::new(&cfg, store.vb(&Device::Cpu))?,
        EncoderStack::Conformer(_)
    ));
    // One more feed-forward and the convolution module: 2 d d_ff + 3 d^2 + d K more per block
    // than the transformer (plus biases and norms).
    let d = 16;
    let k = DEFAULT_CONV_KERNEL;
    let want = 2 * (2 * d * 24 + 24 + d) // two feed-forwards
        + 4 * (d * d + d) // attention
        + (2 * d * d + 2 * d) + d * k + d + 2 * d + (d * d + d) // convolution module
        + 5 * 2 * d; // four module norms and the block's output norm
    assert_eq!(store.num_params(), want);
    for (bad, msg) in [
        (
            EncoderConfig {
                conv_kernel: Some(4),
                ..cfg.clone()
            },
            "must be odd",
        ),
        (
            EncoderConfig {
                heads: 16,
                ..cfg.clone()
            },
            "even head size",
        ),
        (
            EncoderConfig {
                kind: EncoderKind::Transformer,
                conv_kernel: Some(5),
                ..cfg.clone()
            },
            "applies to kind",
        ),
    ] {
        let err = EncoderStack::new(&bad, ParamStore::new(0).vb(&Device::Cpu))
            .unwrap_err()
            .to_string();
        assert!(err.contains(msg), "{err}");
    }
    Ok(())
}
