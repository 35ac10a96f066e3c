//! File helpers every crate shares: atomic writes and a hash that is stable across builds.

use std::io::{self, Write};
use std::path::Path;

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Write `path` through `write`, which receives a temporary path in the same directory (with
/// the same extension, for encoders that pick a format from it). The temporary file is synced,
/// given ordinary permissions (0644; temporary files are created 0600) and renamed onto `path`,
/// so readers see the old content or the new, never a torn file, and a failed write leaves
/// the old file in place.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_dir(path);
    let suffix = match path.extension() {
        Some(e) => format!(".{}", e.to_string_lossy()),
        None => ".tmp".to_string(),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(&suffix)
        .tempfile_in(dir)?;
    write(tmp.path())?;
    std::fs::File::open(tmp.path())?.sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable only once the directory entry is on disk.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Write `bytes` to `path` atomically (see `write_atomic_with`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)
    })
}

/// Save named tensors as one safetensors file, atomically.
pub fn save_safetensors(
    path: &Path,
    tensors: &std::collections::HashMap<String, candle_core::Tensor>,
) -> candle_core::Result<()> {
    write_atomic_with(path, |tmp| {
        candle_core::safetensors::save(tensors, tmp).map_err(io::Error::other)
    })
    .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))
}

/// 64-bit FNV-1a, for cache keys and run names: stable across Rust versions and platforms,
/// unlike `std`'s `DefaultHasher`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a of one byte string.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::new();
    h.update(bytes);
    h.finish()
}

/// Whether a relative path listed in a manifest leads out of the manifest's folder (a `..`
/// that climbs above it), judged lexically: a listing may only reach outside its own tree
/// through an absolute path, which says so openly.
pub fn leaves_folder(rel: &Path) -> bool {
    use std::path::Component;
    let mut depth = 0usize;
    for c in rel.components() {
        match c {
            Component::ParentDir if depth == 0 => return true,
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let mut h = Fnv1a::new();
        h.update(b"foo");
        h.update(b"bar");
        assert_eq!(h.finish(), fnv1a(b"foobar"));
    }

    #[test]
    fn listed_paths_that_climb_out_of_their_folder_are_detected() {
        for p in [
            "a.wav",
            "sub/a.wav",
            "sub/../a.wav",
            "./a/./b.wav",
            "/abs/../x.wav",
        ] {
            assert!(!leaves_folder(Path::new(p)), "{p}");
        }
        for p in ["../a.wav", "sub/../../a.wav", "./../a", "a/b/../../../c"] {
            assert!(leaves_folder(Path::new(p)), "{p}");
        }
    }

    /// A disk that fills up part-way through the write (the first 100 bytes reach the
    /// temporary file, then ENOSPC) leaves the previous file as it was and no temporary file.
    #[test]
    fn disk_full_part_way_keeps_the_previous_file() {
        struct Quota {
            file: std::fs::File,
            left: usize,
        }
        impl Write for Quota {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.left == 0 {
                    return Err(io::Error::from_raw_os_error(ENOSPC));
                }
                let n = buf.len().min(self.left);
                self.left -= n;
                self.file.write(&buf[..n])
            }
            fn flush(&mut self) -> io::Result<()> {
                self.file.flush()
            }
        }
        const ENOSPC: i32 = 28;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        write_atomic(&p, b"previous content\n").unwrap();
        let mut seen = 0;
        let err = write_atomic_with(&p, |tmp| {
            let file = std::fs::File::create(tmp)?;
            let mut w = io::BufWriter::with_capacity(16, Quota { file, left: 100 });
            let r = (0..50).try_for_each(|_| w.write_all(b"0123456789"));
            seen = std::fs::metadata(tmp)?.len();
            r?;
            w.flush()
        })
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(ENOSPC));
        assert_eq!(seen, 100, "the failure came part-way through the file");
        assert_eq!(std::fs::read(&p).unwrap(), b"previous content\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_replaces_and_keeps_old_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
        let err = write_atomic_with(&p, |tmp| {
            std::fs::write(tmp, b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // Only the target is left: the failed temporary file was removed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
