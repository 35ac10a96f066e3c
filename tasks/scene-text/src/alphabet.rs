//! The character set of word labels.
//!
//! Default: digits and lower-case letters, with labels lower-cased as in the standard STR
//! benchmarks (IIIT5K, SVT, IC13...). Options add upper case and ASCII punctuation.

use serde::{Deserialize, Serialize};

use super::error::{Result, StrError};

/// The 32 printable ASCII punctuation characters.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alphabet {
    pub case_sensitive: bool,
    pub punctuation: bool,
    chars: Vec<char>,
}

impl Default for Alphabet {
    fn default() -> Self {
        Self::new(false, false)
    }
}

impl Alphabet {
    pub fn new(case_sensitive: bool, punctuation: bool) -> Self {
        let mut chars: Vec<char> = ('0'..='9').chain('a'..='z').collect();
        if case_sensitive {
            chars.extend('A'..='Z');
        }
        if punctuation {
            chars.extend(PUNCTUATION.chars());
        }
        chars.sort_unstable();
        Self {
            case_sensitive,
            punctuation,
            chars,
        }
    }

    /// The characters in code-point order (the order a vocabulary can use for its ids).
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    pub fn contains(&self, c: char) -> bool {
        self.chars.binary_search(&c).is_ok()
    }

    /// The label as the alphabet sees it: lower-cased unless case-sensitive.
    pub fn normalize(&self, label: &str) -> String {
        if self.case_sensitive {
            label.to_string()
        } else {
            label.to_lowercase()
        }
    }

    /// Characters of an already normalised label that are not in the alphabet, deduplicated
    /// in order of first appearance.
    pub fn unknown_chars(&self, label: &str) -> Vec<char> {
        let mut bad: Vec<char> = Vec::new();
        for c in label.chars() {
            if !self.contains(c) && !bad.contains(&c) {
                bad.push(c);
            }
        }
        bad
    }

    /// Normalise a raw label and check it; `at` names the file and line (or key) for errors.
    pub fn check(&self, raw: &str, at: &str) -> Result<String> {
        let label = self.normalize(raw);
        if label.is_empty() {
            return Err(StrError::EmptyLabel { at: at.to_string() });
        }
        let chars = self.unknown_chars(&label);
        if !chars.is_empty() {
            return Err(StrError::UnknownChars {
                at: at.to_string(),
                label,
                chars,
            });
        }
        Ok(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_normalisation() {
        assert_eq!(Alphabet::new(false, false).chars().len(), 36);
        assert_eq!(Alphabet::new(true, false).chars().len(), 62);
        assert_eq!(Alphabet::new(true, true).chars().len(), 94);
        let a = Alphabet::default();
        assert_eq!(a.check("HeLLo42", "x:1").unwrap(), "hello42");
        let cs = Alphabet::new(true, false);
        assert_eq!(cs.check("HeLLo42", "x:1").unwrap(), "HeLLo42");
    }

    #[test]
    fn unknown_chars_are_named_with_their_place() {
        let a = Alphabet::default();
        let e = a.check("it's café", "words.tsv:7").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("words.tsv:7"), "{msg}");
        assert!(
            msg.contains("'\\''") && msg.contains("' '") && msg.contains("'é'"),
            "{msg}"
        );
        match e {
            StrError::UnknownChars { chars, .. } => assert_eq!(chars, vec!['\'', ' ', 'é']),
            other => panic!("wrong error {other}"),
        }
        assert!(Alphabet::new(false, true).check("it's", "x").is_ok());
        assert!(matches!(
            a.check("", "x:2"),
            Err(StrError::EmptyLabel { .. })
        ));
    }
}
