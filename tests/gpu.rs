//! The CUDA backend on a GPU (cargo feature `cuda`; scripts/gpu-check.sh runs this binary on a
//! GPU machine, docs/gpu.md): a whole training step of every model family against the fused CPU
//! step, the layouts candle's CUDA kernels mishandle (strided matrix products, the time
//! convolution's weight gradient over a batch), and a short training run whose dev error falls.
//! Without the feature this binary is empty.
#![cfg(feature = "cuda")]

#[path = "support/examples.rs"]
mod examples;
#[path = "support/steps.rs"]
mod steps;

use candle_core::{Device, Result, Tensor, Var};
use candle_nn::{Conv1dConfig, Module};
use ctc_core::model::CtcModel;
use ctc_core::ops::{matmul, TimeConv1d};
use ctc_core::params::ParamStore;
use ctc_core::train::{TrainConfig, TrainRun};
use ctc_core::Rng;
use steps::{assert_same_step, every_model_step};
use toy::{ToyConfig, ToyTask};

/// GPU 0 with its own stream, as `experiments --device cuda` opens it.
fn gpu() -> Device {
    Device::new_cuda_with_stream(0)
        .expect("no CUDA device: these tests run on a GPU machine (scripts/gpu-check.sh)")
}

fn randn(dims: &[usize], rng: &mut Rng) -> Result<Tensor> {
    let n = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(v, dims, &Device::Cpu)
}

fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a - b.to_device(a.device())?)?
        .abs()?
        .max_all()?
        .to_scalar::<f32>()
}

#[test]
fn a_training_step_on_the_gpu_matches_the_cpu() -> Result<()> {
    let cpu = every_model_step(&Device::Cpu)?;
    let gpu = every_model_step(&gpu())?;
    assert_eq!(cpu.len(), gpu.len());
    for ((what, c), (_, g)) in cpu.iter().zip(&gpu) {
        // cuBLAS and the CUDA reductions sum in their own order: a tenfold slack over the
        // composite-path test, still far below what a wrong gradient gives.
        let d = assert_same_step(&format!("{what} on cuda"), c, g, 10.0)?;
        println!("{what}: largest gradient difference from the CPU {d:e}");
    }
    Ok(())
}

#[test]
fn strided_products_and_the_time_convolution_on_the_gpu() -> Result<()> {
    let dev = gpu();
    let mut rng = Rng::new(5);
    // A column slice: taken by the CPU's gemm, refused by cuBLAS as it stands.
    let a = randn(&[6, 10], &mut rng)?;
    let b = randn(&[4, 7], &mut rng)?;
    let want = a.narrow(1, 2, 4)?.matmul(&b)?;
    let (ag, bg) = (a.to_device(&dev)?, b.to_device(&dev)?);
    assert!(
        ag.narrow(1, 2, 4)?.matmul(&bg).is_err(),
        "candle's CUDA matmul now takes a column slice: ops::matmul's copy may be unneeded"
    );
    let got = matmul(&ag.narrow(1, 2, 4)?, &bg)?;
    assert!(max_diff(&want, &got)? < 1e-4);

    // The time convolution over a batch of three: candle's CUDA conv1d runs a non-contiguous
    // kernel uncopied, which its backward passes for the weight gradient of a batch.
    let grads_on = |d: &Device| -> Result<(Tensor, Tensor, Tensor)> {
        let store = ParamStore::new(2);
        let cfg = Conv1dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let conv = TimeConv1d::new(5, 8, 3, cfg, store.vb(d).pp("c"))?;
        let x = Var::from_tensor(&randn(&[3, 17, 5], &mut Rng::new(6))?.to_device(d)?)?;
        let y = conv.forward(&x)?;
        let r = randn(y.dims(), &mut Rng::new(7))?.to_device(d)?;
        let g = (&y * &r)?.sum_all()?.backward()?;
        let w = store
            .vars()
            .into_iter()
            .find(|(n, _)| n == "c.weight")
            .unwrap()
            .1;
        Ok((
            y,
            g.get(&x).unwrap().clone(),
            g.get(w.as_tensor()).unwrap().clone(),
        ))
    };
    let (c, g) = (grads_on(&Device::Cpu)?, grads_on(&dev)?);
    assert!(max_diff(&c.0, &g.0)? < 1e-4, "conv output");
    assert!(max_diff(&c.1, &g.1)? < 1e-4, "input gradient");
    assert!(max_diff(&c.2, &g.2)? < 1e-3, "weight gradient");
    Ok(())
}

#[test]
fn the_dev_error_falls_when_training_on_the_gpu() -> Result<()> {
    let dev = gpu();
    let (task, s) = ToyTask::generate(&ToyConfig {
        n_train: 256,
        ..Default::default()
    })?;
    let enc = examples::toy_encoder(32, 1);
    let cfg = TrainConfig {
        batch_size: 16,
        steps: 150,
        lr: 3e-3,
        warmup: 20,
        eval_every: 50,
        select_best: false,
        checkpoint_every: 1000,
        ..Default::default()
    };
    let out = tempfile::tempdir().map_err(candle_core::Error::wrap)?;
    let store = ParamStore::new(3);
    let model = CtcModel::new(&task, &enc, store.vb(&dev))?;
    let report = TrainRun {
        task: &task,
        train: &s.train,
        dev: &s.dev,
        cfg: &cfg,
        seed: 1,
        device: &dev,
        out: out.path().to_path_buf(),
        name: "gpu".into(),
        progress: false,
        model_config: None,
    }
    .run(&model, store.vars())?;
    let errors: Vec<f64> = report.curve.iter().map(|p| p.dev_error).collect();
    println!("toy dev error on cuda by evaluation: {errors:?}");
    assert!(errors.len() >= 2, "{errors:?}");
    assert!(errors.last() < errors.first(), "{errors:?}");
    Ok(())
}
