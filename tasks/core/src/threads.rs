//! How training uses the CPU cores: data parallelism over batch shards, one thread per shard.
//!
//! candle 0.11 parallelises inside each op with two pools of its own (a spinning barrier pool
//! for element-wise ops, rayon for GEMM). On two cores the two pools busy-wait against each
//! other and the second core gains a training step almost nothing, while most of a step is
//! small ops that no pool parallelises. Running each shard of a batch, forward and backward,
//! on its own thread with candle's pools switched off keeps every core on useful work.
//!
//! The shard count belongs to the run's configuration, not to the machine, so a given config
//! and seed give the same numbers on one core or many: shards run on `min(shards, cores)`
//! threads and their results are always combined in shard order.

use std::sync::OnceLock;

use candle_core::Device;

static WORKERS: OnceLock<usize> = OnceLock::new();

/// Call once at start-up, before any tensor op and before other threads start: switches off
/// candle's intra-op threading (the shards are the parallelism) and sizes rayon's global pool,
/// used by the data pipelines, to the machine. Later calls are no-ops.
pub fn configure() {
    WORKERS.get_or_init(|| {
        let cores = cores();
        // candle reads these variables to size its barrier pool (once) and to choose GEMM
        // parallelism (on every matmul); they are its only switch. Setting them here, with no
        // other thread running yet, is the only time the process environment changes.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
        std::env::set_var("RAYON_NUM_THREADS", "1");
        // The global pool, built before rayon would read RAYON_NUM_THREADS, keeps every core
        // for the data pipelines (feature extraction, rendering). An error means the pool was
        // already built, which only a caller that ignored the contract above can cause.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(cores)
            .build_global();
        cores
    });
}

/// Cores this process may use (the affinity mask, as `std` reports it).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads the shards of a step run on: the cores, or 1 if `configure` was not called (then
/// candle's own pools still parallelise inside each op, and shards run one after another).
pub fn workers() -> usize {
    WORKERS.get().copied().unwrap_or(1)
}

/// Split `n` items into at most `shards` contiguous ranges of near-equal size (the first
/// ranges take the remainder); no range is empty.
pub fn shard_ranges(n: usize, shards: usize) -> Vec<std::ops::Range<usize>> {
    let k = shards.clamp(1, n.max(1));
    let (base, extra) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|s| {
            let len = base + usize::from(s < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Run `f(0..n)` for work on `dev` and return the results in shard order. On the CPU the shards
/// spread over up to `workers()` threads (shard `s` on thread `s % workers`, the first on the
/// calling thread). Off the CPU they run one after another on the calling thread: a GPU
/// parallelises inside each op already, and candle's CUDA device queues every op of every
/// thread on one stream, so threads would only interleave their launches.
pub fn run_sharded<R: Send>(dev: &Device, n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    run_on(threads_for(dev), n, f)
}

/// The threads `run_sharded` uses for work on `dev`.
pub fn threads_for(dev: &Device) -> usize {
    if dev.is_cpu() {
        workers()
    } else {
        1
    }
}

fn run_on<R: Send>(workers: usize, n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let w = workers.clamp(1, n.max(1));
    if w == 1 {
        return (0..n).map(&f).collect();
    }
    let f = &f;
    let mut slots: Vec<Option<R>> = (0..n).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..w)
            .map(|t| scope.spawn(move || (t..n).step_by(w).map(|s| (s, f(s))).collect::<Vec<_>>()))
            .collect();
        for s in (0..n).step_by(w) {
            slots[s] = Some(f(s));
        }
        for h in handles {
            match h.join() {
                Ok(done) => done.into_iter().for_each(|(s, r)| slots[s] = Some(r)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("every shard ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ranges_cover_everything_in_order() {
        assert_eq!(shard_ranges(16, 2), vec![0..8, 8..16]);
        assert_eq!(shard_ranges(5, 2), vec![0..3, 3..5]);
        assert_eq!(shard_ranges(7, 3), vec![0..3, 3..5, 5..7]);
        assert_eq!(shard_ranges(1, 2), vec![0..1]);
        assert_eq!(shard_ranges(3, 0), vec![0..3]);
        assert!(shard_ranges(0, 2).is_empty());
    }

    #[test]
    fn run_sharded_keeps_shard_order_on_any_thread_count() {
        let want: Vec<usize> = (0..5).map(|s| s * 10).collect();
        for w in 1..=6 {
            let main = std::thread::current().id();
            let out = run_on(w, 5, |s| (s * 10, std::thread::current().id() == main));
            assert_eq!(
                out.iter().map(|o| o.0).collect::<Vec<_>>(),
                want,
                "{w} workers"
            );
            // Shard 0 runs on the caller; with more than one worker, shard 1 does not.
            assert!(out[0].1);
            assert_eq!(out[1].1, w == 1, "{w} workers");
        }
        assert_eq!(run_sharded(&Device::Cpu, 3, |s| s), vec![0, 1, 2]);
        assert_eq!(threads_for(&Device::Cpu), workers());
    }
}
