//! CTC loss throughput: forward + backward from logits (log-softmax inside the op), in
//! utterances per second, median of repeats. The shapes are printed so another implementation
//! (e.g. PyTorch's `ctc_loss`) can be timed on the same ones. Run:
//! `cargo bench -p ctc-core --bench ctc`.

use std::time::Instant;

use candle_core::{Device, Var};
use ctc_core::ctc::{ctc_loss, CtcOptions, Reduction};
use ctc_core::Rng;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn bench(t: usize, b: usize, v: usize, u: usize, reps: usize) -> anyhow::Result<()> {
    let mut rng = Rng::new(0);
    let x: Vec<f32> = (0..t * b * v).map(|_| rng.normal() as f32).collect();
    let logits = Var::from_vec(x, (b, t, v), &Device::Cpu)?;
    let targets: Vec<Vec<u32>> = (0..b)
        .map(|_| (0..u).map(|_| 1 + rng.below(v - 1) as u32).collect())
        .collect();
    let lens = vec![t; b];
    let opts = CtcOptions {
        reduction: Reduction::Sum,
        ..CtcOptions::default()
    };
    let step = |train: bool| -> anyhow::Result<f32> {
        let input = if train {
            logits.as_tensor().clone()
        } else {
            logits.as_tensor().detach()
        };
        let out = ctc_loss(&input, &lens, &targets, &opts)?;
        if train {
            let grads = out.loss.backward()?;
            grads
                .get(&logits)
                .ok_or_else(|| anyhow::anyhow!("no gradient"))?;
        }
        Ok(out.loss.to_scalar::<f32>()?)
    };
    let mut loss = 0.0;
    for _ in 0..3 {
        loss = step(true)?;
    }
    let mut time = |train: bool| -> anyhow::Result<f64> {
        let mut dts = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t0 = Instant::now();
            loss = step(train)?;
            dts.push(t0.elapsed().as_secs_f64());
        }
        Ok(median(dts))
    };
    let fwd_bwd = time(true)?;
    let fwd = time(false)?;
    println!(
        "candle ctc T={t} B={b} V={v} U={u}: fwd+bwd {:.2} ms/step, {:.0} utt/s; fwd only {:.2} ms, {:.0} utt/s; loss={loss:.3} (threads={})",
        fwd_bwd * 1e3,
        b as f64 / fwd_bwd,
        fwd * 1e3,
        b as f64 / fwd,
        rayon::current_num_threads()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    ctc_core::alloc::tune_allocator();
    bench(200, 32, 32, 50, 20)?;
    bench(400, 16, 64, 80, 20)?;
    Ok(())
}
