//! Frozen-teacher outputs over a split, computed once and cached on disk.
//!
//! Distillation reads the teacher's per-frame log-posteriors for every training step; the
//! teacher is frozen, so they are computed once (in length-sorted batches, no augmentation)
//! and stored as one flat buffer plus offsets in a safetensors file.
//!
//! The file carries a key (`key` tensor: a 64-bit value as two u32) naming what made it, e.g. a
//! hash of the teacher's weights and the transfer set, so a reader can tell a cache of these
//! weights from a stale one; and `load` refuses a damaged file with its name.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, D};
use ctc_core::{Batch, Task};

use ctc_core::train::map_eval_batches;

pub struct TeacherOutputs {
    v: usize,
    /// Start of example i's (frames_i x v) block in `data`.
    offsets: Vec<usize>,
    frames: Vec<usize>,
    data: Vec<f32>,
}

impl TeacherOutputs {
    /// Run `logits_fn` over `examples` (index = example id) and keep log-posteriors.
    pub fn compute<T: Task>(
        task: &T,
        examples: &[T::Example],
        batch_size: usize,
        dev: &Device,
        logits_fn: impl Fn(&Batch) -> Result<(Tensor, Vec<usize>)> + Sync,
    ) -> Result<Self> {
        let v = task.vocab().size();
        let mut per: Vec<Vec<f32>> = vec![Vec::new(); examples.len()];
        let mut frames = vec![0usize; examples.len()];
        let done = map_eval_batches(task, examples, batch_size, dev, |batch| {
            let (logits, lens) = logits_fn(batch)?;
            let lp = candle_nn::ops::log_softmax(&logits.detach(), D::Minus1)?;
            let rows = (0..batch.ids.len())
                .map(|b| {
                    let row = lp.get(b)?.narrow(0, 0, lens[b])?;
                    Ok((lens[b], row.flatten_all()?.to_vec1::<f32>()?))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((batch.ids.clone(), rows))
        })?;
        for (ids, rows) in done {
            for (&i, (n, row)) in ids.iter().zip(rows) {
                per[i] = row;
                frames[i] = n;
            }
        }
        let mut offsets = Vec::with_capacity(per.len());
        let mut data = Vec::with_capacity(per.iter().map(|p| p.len()).sum());
        for p in per {
            offsets.push(data.len());
            data.extend(p);
        }
        Ok(Self {
            v,
            offsets,
            frames,
            data,
        })
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn vocab_size(&self) -> usize {
        self.v
    }

    pub fn frames(&self, id: usize) -> usize {
        self.frames[id]
    }

    /// Log-posteriors of example `id`, (frames x V') row-major.
    pub fn example(&self, id: usize) -> &[f32] {
        &self.data[self.offsets[id]..self.offsets[id] + self.frames[id] * self.v]
    }

    /// (B, t, V') log-posteriors for the batch's example ids, padded with a uniform
    /// distribution beyond each example's frames (losses mask those frames anyway).
    pub fn batch(&self, ids: &[usize], t: usize, dev: &Device) -> Result<Tensor> {
        let pad = -(self.v as f32).ln();
        let mut buf = vec![pad; ids.len() * t * self.v];
        for (b, &id) in ids.iter().enumerate() {
            if id >= self.len() {
                candle_core::bail!(
                    "teacher cache has {} examples, asked for id {id}",
                    self.len()
                );
            }
            let n = self.frames[id].min(t) * self.v;
            buf[b * t * self.v..b * t * self.v + n].copy_from_slice(&self.example(id)[..n]);
        }
        Tensor::from_vec(buf, (ids.len(), t, self.v), dev)
    }

    /// Atomic save (temp file + rename), tagged with `key`.
    pub fn save(&self, path: &Path, key: u64) -> Result<()> {
        let dev = Device::Cpu;
        let as_u32 = |xs: &[usize]| -> Result<Tensor> {
            let v: Vec<u32> = xs.iter().map(|&x| x as u32).collect();
            Tensor::from_vec(v, xs.len(), &dev)
        };
        let mut m = HashMap::new();
        m.insert(
            "data".to_string(),
            Tensor::from_vec(self.data.clone(), self.data.len(), &dev)?,
        );
        m.insert("offsets".to_string(), as_u32(&self.offsets)?);
        m.insert("frames".to_string(), as_u32(&self.frames)?);
        m.insert("v".to_string(), as_u32(&[self.v])?);
        let halves = vec![(key >> 32) as u32, key as u32];
        m.insert("key".to_string(), Tensor::from_vec(halves, 2, &dev)?);
        ctc_core::io::save_safetensors(path, &m)
    }

    /// Read a cache and the key it was saved with (`None` in caches written before keys were).
    pub fn load(path: &Path) -> Result<(Self, Option<u64>)> {
        let m = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            candle_core::Error::Msg(format!(
                "{}: unreadable teacher cache (truncated or not a safetensors file): {e}",
                path.display()
            ))
        })?;
        let get = |k: &str| {
            m.get(k).ok_or_else(|| {
                candle_core::Error::Msg(format!("{}: missing tensor {k}", path.display()))
            })
        };
        let usizes = |k: &str| -> Result<Vec<usize>> {
            Ok(get(k)?
                .to_dtype(DType::U32)?
                .to_vec1::<u32>()?
                .into_iter()
                .map(|x| x as usize)
                .collect())
        };
        let v = usizes("v")?.first().copied().unwrap_or(0);
        let out = Self {
            v,
            offsets: usizes("offsets")?,
            frames: usizes("frames")?,
            data: get("data")?.to_vec1::<f32>()?,
        };
        let consistent = out.offsets.len() == out.frames.len()
            && out
                .offsets
                .iter()
                .zip(&out.frames)
                .all(|(&o, &f)| o + f * v <= out.data.len());
        if v == 0 || !consistent {
            candle_core::bail!("{}: inconsistent teacher cache", path.display());
        }
        let key = match m.get("key") {
            None => None,
            Some(_) => match usizes("key")?.as_slice() {
                [hi, lo] => Some(((*hi as u64) << 32) | *lo as u64),
                _ => candle_core::bail!("{}: teacher cache key is not 2 values", path.display()),
            },
        };
        Ok((out, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> TeacherOutputs {
        TeacherOutputs {
            v: 2,
            offsets: vec![0, 4],
            frames: vec![2, 1],
            data: vec![-0.1, -2.0, -0.5, -1.0, -3.0, -0.05],
        }
    }

    #[test]
    fn key_round_trips_and_damaged_files_are_refused_by_name() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let p = tmp.path().join("teacher.safetensors");
        let key = 0xDEAD_BEEF_0123_4567;
        outputs().save(&p, key)?;
        let (back, k) = TeacherOutputs::load(&p)?;
        assert_eq!(k, Some(key));
        assert_eq!((back.len(), back.vocab_size()), (2, 2));
        assert_eq!(back.example(1), &[-3.0, -0.05]);

        let bytes = std::fs::read(&p)?;
        std::fs::write(&p, &bytes[..bytes.len() / 2])?;
        let e = TeacherOutputs::load(&p).err().unwrap().to_string();
        assert!(
            e.contains("teacher.safetensors: unreadable teacher cache"),
            "{e}"
        );

        let mut bad = outputs();
        bad.offsets[1] = 5;
        bad.save(&p, key)?;
        let e = TeacherOutputs::load(&p).err().unwrap().to_string();
        assert!(e.contains("teacher.safetensors: inconsistent"), "{e}");
        Ok(())
    }
}
