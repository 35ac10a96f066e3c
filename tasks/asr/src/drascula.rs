//! Recorded speech from the game *Drascula: The Vampire Strikes Back* (Alcachofa Soft, freely
//! licensed; Debian main packages `drascula`, English, and `drascula-spanish`, the same lines
//! dubbed), prepared as a speech corpus of TSV manifests with held-out speakers.
//!
//! The layout below was read off the files themselves (no published description exists), and
//! every assumption is checked on the data rather than trusted:
//! - `drascula.dat` (ScummVM's data file: `DRASCULA`, then a version byte) holds the game's
//!   text tables. Each table is stored once per language, in the order English, Spanish,
//!   German, French, Italian, Russian. One copy of a table is a chain of records
//!   `[u8 L][text][NUL][zero padding]`, L the record's whole length (a multiple of 4),
//!   starting with an empty record (`04 00 00 00`); the bytes between copies do not parse as
//!   records. Line N of a table is record N. The English copies are ASCII; the Spanish ones
//!   write `ñ ¿ ¡ ü` (and accented vowels, where present) in the DOS code page 437.
//! - `PREFIXn.ALS` is one spoken line: headerless unsigned 8-bit mono PCM at 11,025 Hz, the
//!   line `n` of the table of the character the prefix names (no prefix: the hero), in the
//!   language of the package's folder (`en/`, `es/`), whose `drascula.dat` holds every
//!   language's tables.
//!
//! Checks: the chains must come in groups of six copies of (nearly) equal length, every
//! speaker's table must exist, and on every speaker with enough lines the spoken duration must
//! follow the text length (Pearson correlation at least [`MIN_LENGTH_CORRELATION`]), which a
//! table assigned to the wrong speaker or shifted by one line fails. Lines with no text, silent
//! files and lines spoken implausibly fast or slow for their text are counted and left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::audio::write_wav;
use super::corpus::write_atomic;
use super::error::{AsrError, Result};
use super::normalize::TextNorm;

/// Sample rate of the `.ALS` speech files.
pub const SAMPLE_RATE: u32 = 11_025;
/// Languages a text table is stored in, in file order.
pub const LANGUAGES: usize = 6;
/// A sample further than this from the 8-bit midpoint (128) is sound, not silence.
const SILENCE_THRESHOLD: i16 = 4;
/// Silence kept around the sound when trimming (seconds).
const TRIM_MARGIN_SECONDS: f64 = 0.1;
/// Plausible speaking rates, normalised transcript characters per second of sound: human
/// speech runs at about 10-20, so a line outside this range belongs to other audio.
const RATE_RANGE: (f64, f64) = (4.0, 30.0);
/// The weakest duration-vs-text-length correlation accepted for a speaker with at least
/// [`MIN_LINES_FOR_CHECK`] kept lines.
pub const MIN_LENGTH_CORRELATION: f64 = 0.5;
const MIN_LINES_FOR_CHECK: usize = 10;

/// The languages prepared: the spoken language of a package's `.ALS` files and the copy of the
/// text tables that transcribes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Spanish,
}

impl Language {
    /// Parse `en` or `es`.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::English),
            "es" => Some(Self::Spanish),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::Spanish => "es",
        }
    }

    /// The copy of each table, in the data file's language order.
    fn copy(self) -> usize {
        match self {
            Self::English => 0,
            Self::Spanish => 1,
        }
    }

    /// How the preparation's checks (empty lines, speaking rate) normalise a line: the English
    /// default, or any letters for Spanish (the preset says the same in `data.source.text`).
    pub fn norm(self) -> TextNorm {
        match self {
            Self::English => TextNorm::default(),
            Self::Spanish => TextNorm {
                letters: super::normalize::Letters::Any,
                ..TextNorm::default()
            },
        }
    }

    /// A line's bytes as text. English: Latin-1 (every byte a character; the lines are ASCII in
    /// practice, and the normaliser reports anything else). Spanish: code page 437 for the
    /// bytes 0x80-0xAF (its accented letters and Spanish punctuation), but 0xA7 is a space; a
    /// higher byte is not Spanish text in that code page and becomes U+FFFD, which the
    /// normaliser counts.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Self::English => bytes.iter().map(|&b| b as char).collect(),
            Self::Spanish => bytes
                .iter()
                .map(|&b| match b {
                    0..=0x7F => b as char,
                    // The game joins the words of a few lines with 0xA7 (437's `º`) in place
                    // of spaces: in the Spanish copy it stands between every pair of words.
                    0xA7 => ' ',
                    0x80..=0xAF => CP437_80_AF[usize::from(b - 0x80)],
                    _ => '\u{FFFD}',
                })
                .collect(),
        }
    }
}

/// Code page 437, bytes 0x80-0xAF (IBM's published table).
const CP437_80_AF: [char; 48] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»',
];

/// Which split a speaker's lines go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Dev => "dev",
            Self::Test => "test",
        }
    }
}

/// One speaking character: the file-name prefix of their lines, the index of their text table
/// in `drascula.dat`, and the split their lines go to.
#[derive(Debug, Clone, Copy)]
pub struct Speaker {
    pub prefix: &'static str,
    pub id: &'static str,
    pub table: usize,
    pub split: Split,
}

/// The speakers whose table was matched to their files by the length-correlation check.
/// Dev and test speakers are never heard in training. The characters' voice actors are not
/// credited per character, so two characters may share an actor: the split holds out
/// characters, which is what can be guaranteed.
pub const SPEAKERS: [Speaker; 10] = [
    Speaker {
        prefix: "",
        id: "hero",
        table: 0,
        split: Split::Train,
    },
    Speaker {
        prefix: "D",
        id: "d",
        table: 1,
        split: Split::Train,
    },
    Speaker {
        prefix: "B",
        id: "b",
        table: 2,
        split: Split::Train,
    },
    Speaker {
        prefix: "BJ",
        id: "bj",
        table: 3,
        split: Split::Test,
    },
    Speaker {
        prefix: "E",
        id: "e",
        table: 4,
        split: Split::Test,
    },
    Speaker {
        prefix: "I",
        id: "i",
        table: 5,
        split: Split::Dev,
    },
    Speaker {
        prefix: "L",
        id: "l",
        table: 6,
        split: Split::Dev,
    },
    Speaker {
        prefix: "P",
        id: "p",
        table: 7,
        split: Split::Test,
    },
    Speaker {
        prefix: "T",
        id: "t",
        table: 8,
        split: Split::Test,
    },
    Speaker {
        prefix: "VB",
        id: "vb",
        table: 9,
        split: Split::Train,
    },
];

fn bad(path: &Path, detail: impl Into<String>) -> AsrError {
    AsrError::BadListing {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// The record at `p`, as (text bytes, record length), if one starts there.
fn record_at(bytes: &[u8], p: usize) -> Option<(&[u8], usize)> {
    let len = *bytes.get(p)? as usize;
    if len == 0 || !len.is_multiple_of(4) || p + len > bytes.len() {
        return None;
    }
    let body = &bytes[p + 1..p + len];
    let nul = body.iter().position(|&b| b == 0)?;
    body[nul..]
        .iter()
        .all(|&b| b == 0)
        .then_some((&body[..nul], len))
}

/// Every table copy in a `drascula.dat`: chains of at least two records starting with an
/// empty record.
fn chains(bytes: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + 4 <= bytes.len() {
        if bytes[p..p + 4] == [4, 0, 0, 0] && record_at(bytes, p + 4).is_some() {
            let mut lines = Vec::new();
            let mut q = p;
            while let Some((text, len)) = record_at(bytes, q) {
                lines.push(text);
                q += len;
            }
            out.push(lines);
            p = q;
        } else {
            p += 1;
        }
    }
    out
}

/// `language`'s copy of every text table in a `drascula.dat` (line 0 of each is empty).
/// `path` names the file in errors.
pub fn tables(bytes: &[u8], path: &Path, language: Language) -> Result<Vec<Vec<String>>> {
    if bytes.len() < 9 || &bytes[..8] != b"DRASCULA" {
        return Err(bad(path, "not a Drascula data file (no DRASCULA header)"));
    }
    let chains = chains(bytes);
    if chains.is_empty() || !chains.len().is_multiple_of(LANGUAGES) {
        return Err(bad(
            path,
            format!(
                "found {} text-table copies, not a multiple of {LANGUAGES} languages: an \
                 unknown layout",
                chains.len()
            ),
        ));
    }
    let mut tables = Vec::with_capacity(chains.len() / LANGUAGES);
    for (t, group) in chains.chunks(LANGUAGES).enumerate() {
        let n = group[0].len();
        // Translations may add a line, never lose one.
        if let Some(c) = group.iter().find(|c| c.len() < n || c.len() > n + 1) {
            return Err(bad(
                path,
                format!(
                    "text table {t}: the English copy has {n} lines, another language {}: the \
                     copies are not aligned",
                    c.len()
                ),
            ));
        }
        tables.push(
            group[language.copy()]
                .iter()
                .map(|l| language.decode(l))
                .collect(),
        );
    }
    Ok(tables)
}

/// One kept line.
#[derive(Debug, Clone)]
pub struct Line {
    pub speaker: &'static Speaker,
    pub name: String,
    pub text: String,
    /// Characters of the normalised transcript.
    pub chars: usize,
    /// Trimmed samples in [-1, 1].
    pub samples: Vec<f32>,
}

/// What the preparation found: every `.ALS` file is counted once, as kept or under a reason.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Size and FNV-1a hash of the `drascula.dat` read.
    pub dat_bytes: usize,
    pub dat_fnv1a: u64,
    pub files: usize,
    pub kept: usize,
    /// Files whose prefix names no speaker in [`SPEAKERS`], by prefix.
    pub unknown_speaker: BTreeMap<String, usize>,
    /// Files whose line number is past their speaker's table, or whose line is empty.
    pub no_text: usize,
    /// Lines with digits: how a number was spoken ("512": "five twelve", "five one two") is
    /// not in the text, so such a transcript would be wrong either way.
    pub digits: usize,
    /// Files with no sample above the silence threshold.
    pub silent: usize,
    /// Files spoken outside the plausible rate for their text.
    pub rate_outliers: usize,
    /// Per speaker id: kept lines, seconds, duration-vs-text-length correlation.
    pub speakers: BTreeMap<&'static str, (usize, f64, f64)>,
    /// Per split: lines, seconds, speakers.
    pub splits: BTreeMap<Split, (usize, f64, usize)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "speech files: {}, kept {}", self.files, self.kept)?;
        let unknown: usize = self.unknown_speaker.values().sum();
        writeln!(
            f,
            "left out: {unknown} with no matched speaker {:?}, {} with no text, {} with digits, {} \
             silent, {} spoken outside {}-{} characters per second",
            self.unknown_speaker,
            self.no_text,
            self.digits,
            self.silent,
            self.rate_outliers,
            RATE_RANGE.0,
            RATE_RANGE.1
        )?;
        for sp in &SPEAKERS {
            if let Some((n, secs, r)) = self.speakers.get(sp.id) {
                writeln!(
                    f,
                    "speaker {:<5} {:<5} {n:>4} lines {:>6.1} min, duration/length correlation {r:.2}",
                    sp.id,
                    sp.split.name(),
                    secs / 60.0
                )?;
            }
        }
        for (split, (n, secs, spk)) in &self.splits {
            writeln!(
                f,
                "{:<5} {n:>4} lines {:>6.1} min from {spk} speakers",
                split.name(),
                secs / 60.0
            )?;
        }
        Ok(())
    }
}

/// Split a file stem such as `BJ12` into its prefix and line number.
fn parse_stem(stem: &str) -> Option<(&str, usize)> {
    let digits = stem.find(|c: char| c.is_ascii_digit())?;
    let (prefix, num) = stem.split_at(digits);
    if !prefix.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((prefix, num.parse().ok()?))
}

/// Unsigned 8-bit PCM to [-1, 1], trimmed to the sound plus a margin; `None` when silent.
pub fn trim_pcm8(raw: &[u8]) -> Option<Vec<f32>> {
    let loud = |b: &u8| (*b as i16 - 128).abs() > SILENCE_THRESHOLD;
    let first = raw.iter().position(loud)?;
    let last = raw.iter().rposition(loud)?;
    let margin = (TRIM_MARGIN_SECONDS * SAMPLE_RATE as f64) as usize;
    let lo = first.saturating_sub(margin);
    let hi = (last + 1 + margin).min(raw.len());
    Some(
        raw[lo..hi]
            .iter()
            .map(|&b| (b as f32 - 128.0) / 128.0)
            .collect(),
    )
}

/// Pearson correlation; 0 when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Read a Drascula data folder of `language` (`drascula.dat` and the `.ALS` files) into kept
/// lines and a report. Fails on an unknown layout or a speaker whose speech does not follow
/// its table.
pub fn read_folder(dir: &Path, language: Language) -> Result<(Vec<Line>, Report)> {
    let dat = dir.join("drascula.dat");
    let bytes = std::fs::read(&dat).map_err(|e| AsrError::io(&dat, e))?;
    let tables = tables(&bytes, &dat, language)?;
    let text_norm = language.norm();
    if let Some(sp) = SPEAKERS.iter().find(|s| s.table >= tables.len()) {
        return Err(bad(
            &dat,
            format!(
                "{} text tables, speaker {:?} needs table {}",
                tables.len(),
                sp.id,
                sp.table
            ),
        ));
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| AsrError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("als")))
        .collect();
    names.sort();
    let mut report = Report {
        dat_bytes: bytes.len(),
        dat_fnv1a: ctc_core::io::fnv1a(&bytes),
        files: names.len(),
        ..Report::default()
    };
    let mut lines = Vec::new();
    for path in &names {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let Some((prefix, num)) = parse_stem(stem) else {
            *report.unknown_speaker.entry(stem.to_string()).or_default() += 1;
            continue;
        };
        let Some(sp) = SPEAKERS
            .iter()
            .find(|s| s.prefix.eq_ignore_ascii_case(prefix))
        else {
            *report
                .unknown_speaker
                .entry(prefix.to_string())
                .or_default() += 1;
            continue;
        };
        let text = tables[sp.table].get(num).map(|t| t.trim()).unwrap_or("");
        let norm = text_norm.normalize(text);
        if norm.is_empty() {
            report.no_text += 1;
            continue;
        }
        if text.chars().any(|c| c.is_ascii_digit()) {
            report.digits += 1;
            continue;
        }
        let raw = std::fs::read(path).map_err(|e| AsrError::io(path, e))?;
        let Some(samples) = trim_pcm8(&raw) else {
            report.silent += 1;
            continue;
        };
        let margin = 2.0 * TRIM_MARGIN_SECONDS;
        let sound = (samples.len() as f64 / SAMPLE_RATE as f64 - margin).max(1e-3);
        let chars = norm.chars().count();
        let rate = chars as f64 / sound;
        if !(RATE_RANGE.0..=RATE_RANGE.1).contains(&rate) {
            report.rate_outliers += 1;
            continue;
        }
        lines.push(Line {
            speaker: sp,
            name: stem.to_string(),
            text: text.to_string(),
            chars,
            samples,
        });
    }
    for sp in &SPEAKERS {
        let mine: Vec<&Line> = lines.iter().filter(|l| l.speaker.id == sp.id).collect();
        if mine.is_empty() {
            continue;
        }
        let len: Vec<f64> = mine.iter().map(|l| l.chars as f64).collect();
        let secs: Vec<f64> = mine
            .iter()
            .map(|l| l.samples.len() as f64 / SAMPLE_RATE as f64)
            .collect();
        let r = pearson(&len, &secs);
        if mine.len() >= MIN_LINES_FOR_CHECK && r < MIN_LENGTH_CORRELATION {
            return Err(bad(
                &dat,
                format!(
                    "speaker {:?}: spoken durations do not follow the text lengths of table {} \
                     (correlation {r:.2} over {} lines, need {MIN_LENGTH_CORRELATION}): the \
                     tables are not the ones this preparation knows",
                    sp.id,
                    sp.table,
                    mine.len()
                ),
            ));
        }
        report
            .speakers
            .insert(sp.id, (mine.len(), secs.iter().sum(), r));
        let e = report.splits.entry(sp.split).or_default();
        e.0 += mine.len();
        e.1 += secs.iter().sum::<f64>();
        e.2 += 1;
    }
    report.kept = lines.len();
    Ok((lines, report))
}

/// Write `out/wav/<speaker>/<name>.wav` (16-bit PCM at 11,025 Hz), one TSV manifest per split
/// (`out/train.tsv` ...: `wav/..<TAB>text<TAB>character`, paths relative to the manifest) and
/// `out/report.txt`; every file atomically. Returns the report.
pub fn prepare(dir: &Path, out: &Path, language: Language) -> Result<Report> {
    let (lines, report) = read_folder(dir, language)?;
    let mut manifests: BTreeMap<Split, String> = BTreeMap::new();
    for l in &lines {
        let rel = format!("wav/{}/{}.wav", l.speaker.id, l.name);
        let folder = out.join("wav").join(l.speaker.id);
        std::fs::create_dir_all(&folder).map_err(|e| AsrError::io(&folder, e))?;
        write_wav(&out.join(&rel), &l.samples, SAMPLE_RATE)?;
        let m = manifests.entry(l.speaker.split).or_default();
        let _ = writeln!(
            m,
            "{rel}\t{}\t{}",
            l.text.replace(['\t', '\n', '\r'], " "),
            l.speaker.id
        );
    }
    for split in [Split::Train, Split::Dev, Split::Test] {
        let body = manifests.remove(&split).unwrap_or_default();
        if body.is_empty() {
            return Err(AsrError::EmptyCorpus {
                path: dir.to_path_buf(),
                detail: format!("no {} lines", split.name()),
            });
        }
        write_atomic(&out.join(format!("{}.tsv", split.name())), body.as_bytes())?;
    }
    let text = format!(
        "source: {} ({} bytes, fnv1a {:016x})\n{report}",
        dir.join("drascula.dat").display(),
        report.dat_bytes,
        report.dat_fnv1a
    );
    write_atomic(&out.join("report.txt"), text.as_bytes())?;
    Ok(report)
}
