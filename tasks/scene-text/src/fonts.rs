//! Font discovery and the split of font families into train / dev / test.
//!
//! Test (and dev) fonts must be designs the model never saw in training, so the split is by
//! design group, not by file: all weights and styles of a family go together, and known
//! metric clones (URW's Nimbus Sans and FreeSans are both Helvetica) share one group.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontArc};
use rayon::prelude::*;

use super::alphabet::Alphabet;
use super::error::{Result, StrError};
use ctc_core::rng::Rng;

#[derive(Clone)]
pub struct FontFile {
    pub path: PathBuf,
    /// The family from the font's name table (typographic family if present).
    pub family: String,
    /// The design group the split is made over.
    pub group: String,
    /// FNV-1a of the file's bytes: part of the corpus cache key.
    pub hash: u64,
    pub font: FontArc,
}

impl std::fmt::Debug for FontFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.path.display(), self.family)
    }
}

/// Prefixes of family names that are clones of one design, and the group they join.
const CLONES: &[(&str, &str)] = &[
    ("nimbus sans", "helvetica"),
    ("freesans", "helvetica"),
    ("liberation sans", "helvetica"),
    ("tex gyre heros", "helvetica"),
    ("nimbus roman", "times"),
    ("freeserif", "times"),
    ("liberation serif", "times"),
    ("tex gyre termes", "times"),
    ("stix", "times"),
    ("nimbus mono", "courier"),
    ("freemono", "courier"),
    ("liberation mono", "courier"),
    ("tex gyre cursor", "courier"),
    ("p052", "palatino"),
    ("tex gyre pagella", "palatino"),
    ("urw bookman", "bookman"),
    ("tex gyre bonum", "bookman"),
    ("c059", "schoolbook"),
    ("tex gyre schola", "schoolbook"),
    ("urw gothic", "avantgarde"),
    ("tex gyre adventor", "avantgarde"),
    ("z003", "chancery"),
    ("tex gyre chorus", "chancery"),
    ("dejavu", "dejavu"),
    ("bitstream vera", "dejavu"),
    ("hack", "dejavu"),
    ("gentium", "gentium"),
    ("oxygen", "oxygen"),
];

/// The design group of a family: a clone group, else the family's first word (so "PT Sans"
/// and "PT Serif", or "Linux Libertine" and "Linux Biolinum", stay together: safer for
/// disjointness than splitting related designs).
pub fn design_group(family: &str) -> String {
    let f = family.to_lowercase();
    for (prefix, group) in CLONES {
        if f.starts_with(prefix) {
            return group.to_string();
        }
    }
    f.split(|c: char| c.is_whitespace() || c == '-')
        .next()
        .unwrap_or("")
        .to_string()
}

fn family_name(data: &[u8]) -> Option<String> {
    let face = ttf_parser::Face::parse(data, 0).ok()?;
    let find = |id: u16| {
        let names: Vec<_> = face
            .names()
            .into_iter()
            .filter(|n| n.name_id == id && n.is_unicode())
            .collect();
        // Prefer US English, then any language.
        names
            .iter()
            .filter(|n| n.language_id == 0x409)
            .chain(names.iter())
            .find_map(|n| n.to_string())
            .filter(|s| !s.trim().is_empty())
    };
    find(ttf_parser::name_id::TYPOGRAPHIC_FAMILY).or_else(|| find(ttf_parser::name_id::FAMILY))
}

/// Symbol, dingbat and keycap faces map Latin code points to pictures (URW's Standard
/// Symbols draws `a` as alpha), which no cmap check can tell from letters.
const NOT_TEXT: &[&str] = &["symbol", "dingbat", "d050000l", "keyboard", "math", "emoji"];

fn is_text_face(family: &str) -> bool {
    let f = family.to_lowercase();
    !NOT_TEXT.iter().any(|w| f.contains(w))
}

/// Every glyph the renderer may draw has an outline; with `case_sensitive`, upper and lower
/// case must also differ (a caps-only face would make the label ambiguous).
fn covers(font: &FontArc, alphabet: &Alphabet) -> bool {
    let drawable = |c: char| {
        let id = font.glyph_id(c);
        id.0 != 0 && font.outline(id).is_some()
    };
    // Upper case is drawn even in case-insensitive mode (labels are lower-cased after).
    let needed = alphabet.chars().iter().copied().chain('A'..='Z');
    if !needed.into_iter().all(drawable) {
        return false;
    }
    if alphabet.case_sensitive {
        let distinct = "aegnr".chars().any(|c| {
            let (lo, up) = (font.glyph_id(c), font.glyph_id(c.to_ascii_uppercase()));
            match (font.outline(lo), font.outline(up)) {
                (Some(a), Some(b)) => lo != up && (a.bounds.max.y - b.bounds.max.y).abs() > 1.0,
                _ => false,
            }
        });
        if !distinct {
            return false;
        }
    }
    true
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    // Unreadable sub-directories are skipped: a system font tree may hold private folders.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else if let Some(ext) = p.extension().and_then(|e| e.to_str()) {
            if ext.eq_ignore_ascii_case("ttf") || ext.eq_ignore_ascii_case("otf") {
                out.push(p);
            }
        }
    }
}

/// All TTF/OTF fonts under `dirs` that ab_glyph parses and that draw the whole alphabet,
/// sorted by path; files reached twice (symlinks) or with identical bytes are kept once.
pub fn discover(dirs: &[PathBuf], alphabet: &Alphabet) -> Result<Vec<FontFile>> {
    let mut files = Vec::new();
    for d in dirs {
        collect_files(d, &mut files);
    }
    let mut files: Vec<PathBuf> = files
        .into_iter()
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect();
    files.sort();
    files.dedup();
    let loaded: Vec<Option<(u64, FontFile)>> = files
        .par_iter()
        .map(|p| {
            let data = std::fs::read(p).ok()?;
            let hash = ctc_core::io::fnv1a(&data);
            let family = family_name(&data).unwrap_or_else(|| {
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let font = FontArc::try_from_vec(data).ok()?;
            (is_text_face(&family) && covers(&font, alphabet)).then(|| {
                let group = design_group(&family);
                let path = p.clone();
                (
                    hash,
                    FontFile {
                        path,
                        family,
                        group,
                        hash,
                        font,
                    },
                )
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let fonts: Vec<FontFile> = loaded
        .into_iter()
        .flatten()
        .filter(|(h, _)| seen.insert(*h))
        .map(|(_, f)| f)
        .collect();
    if fonts.is_empty() {
        return Err(StrError::Setup(format!(
            "no usable TTF/OTF font under {dirs:?} (run scripts/setup-str.sh)"
        )));
    }
    Ok(fonts)
}

#[derive(Debug, Clone)]
pub struct FontSplit {
    pub train: Vec<FontFile>,
    pub dev: Vec<FontFile>,
    pub test: Vec<FontFile>,
}

/// Split fonts by design group: groups are shuffled with `seed`, then the first
/// `round(test_frac * groups)` (at least one) go to test, the next ones to dev (at least one),
/// the rest to train. Needs at least three groups.
pub fn split_fonts(
    fonts: Vec<FontFile>,
    dev_frac: f64,
    test_frac: f64,
    seed: u64,
) -> Result<FontSplit> {
    let mut groups: Vec<String> = fonts.iter().map(|f| f.group.clone()).collect();
    groups.sort();
    groups.dedup();
    if groups.len() < 3 {
        return Err(StrError::Setup(format!(
            "need fonts of at least 3 design groups for train/dev/test, found {}: {groups:?} \
             (run scripts/setup-str.sh)",
            groups.len()
        )));
    }
    Rng::new(seed).shuffle(&mut groups);
    let n = groups.len() as f64;
    let n_test = ((test_frac * n).round() as usize).max(1);
    let n_dev = ((dev_frac * n).round() as usize).max(1);
    if n_test + n_dev >= groups.len() {
        return Err(StrError::Setup(format!(
            "font split leaves no training fonts ({} groups, dev_frac {dev_frac}, test_frac \
             {test_frac})",
            groups.len()
        )));
    }
    let test_g = &groups[..n_test];
    let dev_g = &groups[n_test..n_test + n_dev];
    let mut split = FontSplit {
        train: Vec::new(),
        dev: Vec::new(),
        test: Vec::new(),
    };
    for f in fonts {
        if test_g.contains(&f.group) {
            split.test.push(f);
        } else if dev_g.contains(&f.group) {
            split.dev.push(f);
        } else {
            split.train.push(f);
        }
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_merge_clones_and_families() {
        assert_eq!(design_group("Nimbus Sans Narrow"), "helvetica");
        assert_eq!(design_group("FreeSans"), "helvetica");
        assert_eq!(design_group("TeX Gyre Termes"), "times");
        assert_eq!(design_group("PT Sans"), design_group("PT Serif"));
        assert_eq!(design_group("DejaVu Sans Mono"), "dejavu");
        assert_eq!(design_group("Oxygen-Sans"), design_group("Oxygen Mono"));
        assert_eq!(design_group("GentiumAlt"), design_group("Gentium"));
        assert_ne!(design_group("Lato"), design_group("Cabin"));
        assert!(is_text_face("Lato") && is_text_face("STIX"));
        assert!(!is_text_face("Standard Symbols PS") && !is_text_face("D050000L"));
        assert!(!is_text_face("Linux Biolinum Keyboard O") && !is_text_face("STIX Math"));
    }
}
