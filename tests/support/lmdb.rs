//! Writing a small LMDB folder (deep-text-recognition-benchmark layout) for the loader tests.

use std::path::Path;

/// Writes `entries` as the keys and values of the main database of a new LMDB in `dir`.
pub fn write_lmdb<K: AsRef<[u8]>, V: AsRef<[u8]>>(dir: &Path, entries: &[(K, V)]) {
    // SAFETY: a fresh folder, written and closed by this thread alone.
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .map_size(1 << 22)
            .open(dir)
            .unwrap()
    };
    let mut wtxn = env.write_txn().unwrap();
    let db: heed::Database<heed::types::Bytes, heed::types::Bytes> =
        env.create_database(&mut wtxn, None).unwrap();
    for (k, v) in entries {
        db.put(&mut wtxn, k.as_ref(), v.as_ref()).unwrap();
    }
    wtxn.commit().unwrap();
    env.prepare_for_closing().wait();
}
