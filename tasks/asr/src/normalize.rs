//! Transcript normalisation: how a raw transcript becomes the text a model learns and is scored
//! on (`[data.source.text]` of a preset), and the count of raw characters it turns into word
//! breaks, reported per split so that nothing is dropped unseen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The English character set of the default normalisation (besides the CTC blank).
pub const ENGLISH_CHARS: &str = "abcdefghijklmnopqrstuvwxyz' ";

/// Which letters a transcript keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Letters {
    /// a-z (and A-Z when case is kept): the English alphabet.
    #[default]
    Ascii,
    /// Every alphabetic character: accented and non-Latin letters too (Spanish, Czech, ...).
    /// The character vocabulary then comes from the training transcripts.
    Any,
}

/// How raw transcripts are normalised. The default is the English normalisation every preset
/// used before it was configurable: lower case, a-z and apostrophes inside words; every other
/// character (punctuation, digits, accented letters) separates words; spaces collapse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextNorm {
    /// Fold letters to lower case.
    pub lowercase: bool,
    /// Which letters are kept.
    pub letters: Letters,
    /// Keep the digits 0-9 (otherwise each is a word break).
    pub digits: bool,
    /// Further characters kept as they are, e.g. "-?" (otherwise each is a word break).
    pub keep: String,
}

impl Default for TextNorm {
    fn default() -> Self {
        Self {
            lowercase: true,
            letters: Letters::Ascii,
            digits: false,
            keep: String::new(),
        }
    }
}

/// Typographic apostrophes, read as `'`.
const APOSTROPHES: [char; 2] = ['\u{2019}', '\u{2018}'];

impl TextNorm {
    /// Reject settings that cannot work, naming the key under `text.`.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(c) = self
            .keep
            .chars()
            .find(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "text.keep: {c:?} cannot be kept (whitespace separates words; control \
                 characters are not text)"
            ));
        }
        Ok(())
    }

    /// Whether `c`, already case-folded, stays as it is.
    fn keeps(&self, c: char) -> bool {
        c == '\''
            || match self.letters {
                Letters::Ascii => {
                    c.is_ascii_lowercase() || (!self.lowercase && c.is_ascii_uppercase())
                }
                Letters::Any => c.is_alphabetic(),
            }
            || (self.digits && c.is_ascii_digit())
            || self.keep.contains(c)
    }

    /// The normalised transcript: case folded (if asked), kept characters as they are,
    /// typographic apostrophes as `'`, every other character a word break; apostrophes at the
    /// ends of words dropped; words joined by single spaces.
    pub fn normalize(&self, raw: &str) -> String {
        let mut cleaned = String::with_capacity(raw.len());
        let mut push = |c: char| {
            if APOSTROPHES.contains(&c) {
                cleaned.push('\'');
            } else if self.keeps(c) {
                cleaned.push(c);
            } else {
                cleaned.push(' ');
            }
        };
        for c in raw.chars() {
            if self.lowercase {
                c.to_lowercase().for_each(&mut push);
            } else {
                push(c);
            }
        }
        let words: Vec<&str> = cleaned
            .split(' ')
            .map(|w| w.trim_matches('\''))
            .filter(|w| !w.is_empty())
            .collect();
        words.join(" ")
    }

    /// The characters of the vocabulary (space last). With ASCII letters, every character the
    /// normalisation can produce, in a fixed order (the default gives `ENGLISH_CHARS`); with
    /// any letters, the characters of the normalised training transcripts, sorted.
    pub fn alphabet(&self, train_texts: &[String]) -> String {
        let mut out = String::new();
        let mut add = |c: char| {
            if c != ' ' && !out.contains(c) {
                out.push(c);
            }
        };
        match self.letters {
            Letters::Ascii => {
                ('a'..='z').for_each(&mut add);
                if !self.lowercase {
                    ('A'..='Z').for_each(&mut add);
                }
                if self.digits {
                    ('0'..='9').for_each(&mut add);
                }
                self.keep.chars().for_each(&mut add);
                add('\'');
            }
            Letters::Any => {
                let mut seen: Vec<char> = train_texts.iter().flat_map(|t| t.chars()).collect();
                seen.sort_unstable();
                seen.into_iter().for_each(&mut add);
            }
        }
        out.push(' ');
        out
    }

    /// The alphabet when it does not depend on the training transcripts (ASCII letters).
    pub fn fixed_alphabet(&self) -> Option<String> {
        (self.letters == Letters::Ascii).then(|| self.alphabet(&[]))
    }
}

/// Characters of raw transcripts that a normalisation turns into word breaks (punctuation, and
/// digits or accented letters where it does not keep them). Case folding and typographic
/// apostrophes are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutsideChars {
    pub counts: BTreeMap<char, usize>,
    /// Transcripts with at least one such character.
    pub transcripts: usize,
    /// Transcripts looked at.
    pub of: usize,
}

impl OutsideChars {
    pub fn add(&mut self, raw: &str, norm: &TextNorm) {
        self.of += 1;
        let mut any = false;
        for c in raw.chars().filter(|c| !c.is_whitespace()) {
            let kept = APOSTROPHES.contains(&c)
                || if norm.lowercase {
                    c.to_lowercase().all(|l| norm.keeps(l))
                } else {
                    norm.keeps(c)
                };
            if !kept {
                *self.counts.entry(c).or_default() += 1;
                any = true;
            }
        }
        self.transcripts += usize::from(any);
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

impl std::fmt::Display for OutsideChars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} characters outside the vocabulary in {} of {} transcripts",
            self.total(),
            self.transcripts,
            self.of
        )?;
        if self.counts.is_empty() {
            return Ok(());
        }
        let mut by_count: Vec<(&char, &usize)> = self.counts.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = by_count
            .iter()
            .take(12)
            .map(|(c, n)| format!("{c:?} x{n}"))
            .collect();
        let more = by_count.len().saturating_sub(12);
        write!(f, ", read as word breaks: {}", shown.join(", "))?;
        if more > 0 {
            write!(f, " and {more} more")?;
        }
        Ok(())
    }
}
