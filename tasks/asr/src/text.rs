//! Real English sentences for the synthetic corpus, taken from the public-domain quotation files
//! of Debian's `fortunes-min` package (quotes, literature, riddles).
//!
//! Only sentences a synthesiser reads exactly as their normalised transcript are kept: no
//! digits or symbols (espeak-ng would say "nineteen oh one" for "1901"), no all-capital words
//! (it spells acronyms), no trailing abbreviations ("Mr." is read "mister").

use std::path::{Path, PathBuf};

use super::error::{AsrError, Result};
use super::normalize::TextNorm;

/// Where `fortunes-min` installs its files.
pub const FORTUNE_DIR: &str = "/usr/share/games/fortunes";
const FORTUNE_FILES: [&str; 3] = ["fortunes", "literature", "riddles"];
const ABBREVIATIONS: [&str; 14] = [
    "mr", "mrs", "ms", "dr", "st", "wm", "jr", "sr", "vs", "etc", "prof", "gen", "no", "co",
];

/// A short stretch of real text: what the synthesiser reads and what the transcript says.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    /// Text as written (capitals and punctuation help the synthesiser's prosody).
    pub raw: String,
    /// `raw` normalised the default (English) way.
    pub text: String,
    /// Index of the quotation it came from: the unit of the train/dev/test text split, so no
    /// part of a test quotation is seen in training.
    pub group: usize,
}

/// Sentences of `min_words..=max_words` words from the installed fortune files.
pub fn fortune_sentences(min_words: usize, max_words: usize) -> Result<Vec<Sentence>> {
    let mut texts = Vec::new();
    for f in FORTUNE_FILES {
        let p = PathBuf::from(FORTUNE_DIR).join(f);
        let s = std::fs::read_to_string(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AsrError::Synth(format!(
                "{}: not found; run scripts/setup-asr.sh (or apt-get install fortunes-min)",
                p.display()
            )),
            _ => AsrError::io(&p, e),
        })?;
        texts.push(s);
    }
    let all: String = texts.join("\n%\n");
    let out = sentences_from_fortunes(&all, min_words, max_words);
    if out.is_empty() {
        return Err(AsrError::EmptyCorpus {
            path: Path::new(FORTUNE_DIR).to_path_buf(),
            detail: "no usable sentences in the fortune files".into(),
        });
    }
    Ok(out)
}

/// Parse fortune-file text (entries separated by `%` lines) into sentences.
pub fn sentences_from_fortunes(src: &str, min_words: usize, max_words: usize) -> Vec<Sentence> {
    let mut out = Vec::new();
    let entries = src.split('\n').fold(vec![String::new()], |mut acc, line| {
        if line.trim() == "%" {
            acc.push(String::new());
        } else if !line.trim_start().starts_with("--") {
            // Attribution lines ("-- Mark Twain") are not part of the quotation.
            let cur = acc.last_mut().expect("fold starts with one entry");
            cur.push(' ');
            cur.push_str(line.trim());
        }
        acc
    });
    for (group, entry) in entries.iter().enumerate() {
        for piece in entry.split_inclusive(['.', '!', '?', ';', ':']) {
            let piece = piece.trim();
            if !speakable(piece) {
                continue;
            }
            let words: Vec<&str> = piece.split_whitespace().collect();
            // Long sentences become near-equal chunks so each fits the duration range.
            let n_chunks = words.len().div_ceil(max_words.max(1));
            for c in 0..n_chunks {
                let (a, b) = (c * words.len() / n_chunks, (c + 1) * words.len() / n_chunks);
                let raw = words[a..b].join(" ");
                let text = TextNorm::default().normalize(&raw);
                let n = text.split(' ').count();
                if !text.is_empty() && n >= min_words && n <= max_words {
                    out.push(Sentence { raw, text, group });
                }
            }
        }
    }
    out
}

fn speakable(s: &str) -> bool {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphabetic() || " ,.;:!?'\"()-".contains(c))
    {
        return false;
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    let acronym = words
        .iter()
        .any(|w| w.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2);
    let last = words
        .last()
        .map(|w| w.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default();
    let abbrev = s.ends_with('.') && ABBREVIATIONS.contains(&last.as_str());
    !acronym && !abbrev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_drops_attributions_digits_acronyms_abbreviations() {
        let src = "A banker is a fellow who lends you his umbrella when the sun is shining.\n\
                   \t\t-- Mark Twain\n%\nIn 1901 he left.  The IBM man came.  Ask Mr.  Smith went home!\n%\n\
                   Well-known words, said she; the end.\n";
        let s = sentences_from_fortunes(src, 2, 8);
        let texts: Vec<&str> = s.iter().map(|x| x.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "a banker is a fellow who lends",
                "you his umbrella when the sun is shining",
                "smith went home",
                "well known words said she",
                "the end"
            ]
        );
        assert_eq!(
            s.iter().map(|x| x.group).collect::<Vec<_>>(),
            [0, 0, 1, 2, 2]
        );
        assert_eq!(s[3].raw, "Well-known words, said she;");
    }

    #[test]
    fn installed_fortunes_give_many_sentences() {
        let s = fortune_sentences(3, 10).unwrap();
        assert!(s.len() > 1000, "only {} sentences", s.len());
        assert!(s.iter().all(|x| x
            .text
            .chars()
            .all(|c| super::super::ENGLISH_CHARS.contains(c))));
    }
}
