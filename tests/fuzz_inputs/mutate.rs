//! A seeded mutation fuzzer for the stable toolchain (no cargo-fuzz, no nightly): valid seed
//! inputs are mutated by bytes or by lines and fields, deterministically from `ctc_core::rng`,
//! and fed to a loader through its public API. A target passes when every case returns `Ok`
//! or an error naming the input; a panic fails the target with the seeds to replay it.
//!
//! Shared by `tests/fuzz_inputs.rs` and the `experiments` crate's fuzz tests (`#[path]`), so
//! both run the same mutations. `FUZZ_CASES` sets the cases per target (default: `default`).

#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use ctc_core::rng::Rng;

/// Cases per target: `FUZZ_CASES` if set, else `default`.
pub fn cases(default: usize) -> usize {
    match std::env::var("FUZZ_CASES") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("FUZZ_CASES={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Values at the edges of the integer types, the kind that overflows a size computation.
const INTERESTING_U32: [u32; 10] = [
    0,
    1,
    2,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

/// Field values that parsers get wrong: empty, negative, huge, non-finite, paths outside the
/// corpus, odd Unicode.
pub const INTERESTING_FIELDS: [&str; 22] = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "-0",
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "18446744073709551616",
    "99999999999999999999999999",
    "0x10",
    "true",
    "[]",
    "{}",
    "\"\"",
    "../../../../etc/passwd",
    "/nonexistent/file",
    "\u{feff}a",
    "caf\u{e9} \u{1F600}",
    "a\u{0}b",
];

/// A copy of `seed` with one to four byte-level mutations: bit flips, random or edge-value
/// bytes, a 32-bit edge value (half the time inside the first 64 bytes, where headers are),
/// truncation, a deleted, duplicated or inserted run.
pub fn mutate_bytes(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.range(1, 4) {
        mutate_once(&mut b, rng);
    }
    b
}

fn pos(b: &[u8], rng: &mut Rng) -> usize {
    if b.is_empty() {
        return 0;
    }
    if rng.bernoulli(0.5) {
        rng.below(b.len().min(64))
    } else {
        rng.below(b.len())
    }
}

fn mutate_once(b: &mut Vec<u8>, rng: &mut Rng) {
    match rng.below(9) {
        0 if !b.is_empty() => {
            let i = pos(b, rng);
            b[i] ^= 1 << rng.below(8);
        }
        1 if !b.is_empty() => {
            let i = pos(b, rng);
            b[i] = rng.below(256) as u8;
        }
        2 if b.len() >= 4 => {
            let i = pos(b, rng).min(b.len() - 4);
            let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
            let bytes = if rng.bernoulli(0.5) {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            b[i..i + 4].copy_from_slice(&bytes);
        }
        3 => {
            let n = rng.below(b.len() + 1);
            b.truncate(n);
        }
        4 if !b.is_empty() => {
            let i = rng.below(b.len());
            let n = rng.range(1, (b.len() - i).min(256));
            b.drain(i..i + n);
        }
        5 if !b.is_empty() => {
            let i = rng.below(b.len());
            let n = rng.range(1, (b.len() - i).min(256));
            let run: Vec<u8> = b[i..i + n].to_vec();
            let at = rng.below(b.len() + 1);
            b.splice(at..at, run);
        }
        6 => {
            let at = rng.below(b.len() + 1);
            let run: Vec<u8> = (0..rng.range(1, 32))
                .map(|_| rng.below(256) as u8)
                .collect();
            b.splice(at..at, run);
        }
        7 if !b.is_empty() => {
            let i = pos(b, rng);
            b[i] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)];
        }
        _ => b.clear(),
    }
}

/// A copy of a line-based text (TSV, CSV, TOML) with one to three line or field mutations:
/// lines dropped, duplicated or swapped, fields (split on `sep`) dropped, duplicated or
/// replaced by `INTERESTING_FIELDS`, separators removed, invalid UTF-8 or CR inserted; and,
/// one time in five, a byte-level mutation on top.
pub fn mutate_lines(text: &str, sep: char, rng: &mut Rng) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    if lines.is_empty() {
        lines.push(Vec::new());
    }
    for _ in 0..rng.range(1, 3) {
        let i = rng.below(lines.len());
        match rng.below(9) {
            0 if lines.len() > 1 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            3 | 4 => lines[i] = edit_field(&lines[i], sep, rng),
            5 => lines[i].retain(|&c| c != sep as u8),
            6 => {
                let at = rng.below(lines[i].len() + 1);
                let bad: &[u8] = [&[0xffu8, 0xfe][..], &[0xc3], &[0xed, 0xa0, 0x80]][rng.below(3)];
                lines[i].splice(at..at, bad.iter().copied());
            }
            7 => lines[i].push(b'\r'),
            _ => {
                let f = INTERESTING_FIELDS[rng.below(INTERESTING_FIELDS.len())];
                lines.insert(i, f.as_bytes().to_vec());
            }
        }
    }
    let mut out = lines.join(&b'\n');
    out.push(b'\n');
    if rng.bernoulli(0.2) {
        out = mutate_bytes(&out, rng);
    }
    out
}

fn edit_field(line: &[u8], sep: char, rng: &mut Rng) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    let mut fields: Vec<String> = text.split(sep).map(str::to_string).collect();
    let i = rng.below(fields.len());
    match rng.below(4) {
        0 if fields.len() > 1 => {
            fields.remove(i);
        }
        1 => {
            let f = fields[i].clone();
            fields.insert(i, f);
        }
        2 => fields[i] = "x".repeat(rng.range(1, 4) * 1000),
        _ => {
            let f = INTERESTING_FIELDS[rng.below(INTERESTING_FIELDS.len())];
            // After `key = ` keep the key, so TOML values change type rather than vanish.
            fields[i] = match fields[i].split_once(" = ") {
                Some((k, _)) if sep != '=' => format!("{k} = {f}"),
                _ => f.to_string(),
            };
        }
    }
    fields.join(&sep.to_string()).into_bytes()
}

/// What one target's cases came to.
#[derive(Debug, Default)]
pub struct Tally {
    pub name: &'static str,
    pub cases: usize,
    pub ok: usize,
    pub err: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz target {}: {} cases, {} ok, {} clean errors, 0 panics",
            self.name, self.cases, self.ok, self.err
        )
    }
}

/// Run `n` cases of a target. Case `i` gets `Rng::derive(seed, i)`; `case` returns `Ok(())`,
/// or `Err((message, name))` where the message of the loader's error must contain `name`
/// (the file, line or key it is about). A panic, or an error that does not name its input,
/// fails the target, listing the first few cases with their seeds.
pub fn run(
    name: &'static str,
    seed: u64,
    n: usize,
    mut case: impl FnMut(&mut Rng) -> Result<(), (String, String)>,
) -> Tally {
    let mut tally = Tally {
        name,
        cases: n,
        ..Default::default()
    };
    let mut failures = Vec::new();
    for i in 0..n as u64 {
        let mut rng = Rng::derive(seed, i);
        match catch_unwind(AssertUnwindSafe(|| case(&mut rng))) {
            Ok(Ok(())) => tally.ok += 1,
            Ok(Err((msg, what))) if !msg.trim().is_empty() && msg.contains(&what) => tally.err += 1,
            Ok(Err((msg, what))) => {
                failures.push(format!("case {i}: error does not name {what:?}: {msg}"))
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("case {i}: panic: {msg}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz target {name} (seed {seed}, replay a case with Rng::derive({seed}, i)): {} of {n} \
         cases failed:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    println!("{tally}");
    tally
}
