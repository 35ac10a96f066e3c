//! Label vocabularies: one token per character by default, or a BPE trained on the training
//! transcripts (the tokenizers crate's trainer and model). Id 0 is always the CTC blank; real
//! tokens are 1..size().
//!
//! Text with characters the vocabulary lacks is an error naming them: silently dropping
//! unknown characters (what a BPE without an unk token does) would train on wrong labels and
//! score against references the model can never produce.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::{Model, Trainer};

/// The id of the CTC blank.
pub const BLANK_ID: u32 = 0;

#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("unknown characters {} in {text:?}", quoted(.chars))]
    Unknown { chars: Vec<char>, text: String },
    #[error("vocabulary: {0}")]
    Invalid(String),
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
}

fn quoted(chars: &[char]) -> String {
    let q: Vec<String> = chars.iter().map(|c| format!("{c:?}")).collect();
    q.join(", ")
}

/// What is saved: the token list (readable, and the id order) and, for a BPE, the model.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Repr {
    /// `tokens[i]` is the token of id i + 1, each one character.
    Chars { tokens: Vec<String> },
    /// `tokens[i]` is the BPE token of id i + 1 (the BPE model's own id i).
    Bpe {
        tokens: Vec<String>,
        model: Box<BPE>,
    },
}

/// A CTC label vocabulary. Serialises to JSON (`save`/`load`, or serde directly).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "Repr", into = "Repr")]
pub struct Vocab {
    /// Token strings of ids 1.. (index i is id i + 1).
    tokens: Vec<String>,
    /// Ids of single-character tokens: the characters this vocabulary can encode.
    char_ids: HashMap<char, u32>,
    bpe: Option<BPE>,
}

impl std::fmt::Debug for Repr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Repr::Chars { tokens } => write!(f, "Chars({} tokens)", tokens.len()),
            Repr::Bpe { tokens, .. } => write!(f, "Bpe({} tokens)", tokens.len()),
        }
    }
}

impl From<Vocab> for Repr {
    fn from(v: Vocab) -> Self {
        match v.bpe {
            None => Repr::Chars { tokens: v.tokens },
            Some(model) => Repr::Bpe {
                tokens: v.tokens,
                model: Box::new(model),
            },
        }
    }
}

impl TryFrom<Repr> for Vocab {
    type Error = VocabError;
    fn try_from(r: Repr) -> Result<Self, VocabError> {
        match r {
            Repr::Chars { tokens } => {
                for t in &tokens {
                    if t.chars().count() != 1 {
                        return Err(VocabError::Invalid(format!(
                            "character token {t:?} is not one character"
                        )));
                    }
                }
                Self::from_parts(tokens, None)
            }
            Repr::Bpe { tokens, model } => {
                let n = model.get_vocab_size();
                if n != tokens.len() {
                    return Err(VocabError::Invalid(format!(
                        "the BPE model has {n} tokens but the token list {}",
                        tokens.len()
                    )));
                }
                for (i, t) in tokens.iter().enumerate() {
                    if model.id_to_token(i as u32).as_deref() != Some(t.as_str()) {
                        return Err(VocabError::Invalid(format!(
                            "token {} is {t:?} in the list but not in the BPE model",
                            i + 1
                        )));
                    }
                }
                Self::from_parts(tokens, Some(*model))
            }
        }
    }
}

impl PartialEq for Vocab {
    fn eq(&self, other: &Self) -> bool {
        // The BPE model has no PartialEq; its serialised form (vocab and ordered merges) is
        // its full identity.
        self.tokens == other.tokens
            && match (&self.bpe, &other.bpe) {
                (None, None) => true,
                (Some(a), Some(b)) => serde_json::to_value(a).ok() == serde_json::to_value(b).ok(),
                _ => false,
            }
    }
}

/// Split a transcript into BPE words: each whitespace character starts a new word, so spaces
/// stay inside tokens (" the") and decoding is plain concatenation, lossless by construction.
fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in text.chars() {
        match out.last_mut() {
            Some(w) if !c.is_whitespace() => w.push(c),
            _ => out.push(c.to_string()),
        }
    }
    out
}

impl Vocab {
    fn from_parts(tokens: Vec<String>, bpe: Option<BPE>) -> Result<Self, VocabError> {
        if tokens.is_empty() {
            return Err(VocabError::Invalid("no tokens".into()));
        }
        let mut char_ids = HashMap::new();
        let mut seen = HashMap::new();
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() {
                return Err(VocabError::Invalid(format!("token {} is empty", i + 1)));
            }
            if let Some(j) = seen.insert(t.as_str(), i) {
                return Err(VocabError::Invalid(format!(
                    "token {t:?} appears twice (ids {} and {})",
                    j + 1,
                    i + 1
                )));
            }
            let mut cs = t.chars();
            if let (Some(c), None) = (cs.next(), cs.next()) {
                char_ids.insert(c, i as u32 + 1);
            }
        }
        Ok(Self {
            tokens,
            char_ids,
            bpe,
        })
    }

    /// One token per character of `alphabet`, in order (a space is a token like any other).
    /// A repeated character is an error: it would silently shift every later id.
    pub fn chars(alphabet: &str) -> Result<Self, VocabError> {
        if alphabet.is_empty() {
            return Err(VocabError::Invalid("empty alphabet".into()));
        }
        Self::from_parts(alphabet.chars().map(String::from).collect(), None)
    }

    /// A BPE of at most `vocab_size` classes (blank included) trained on `texts`. Every
    /// character of `alphabet` and of the texts is a token, so text the training split lacks a
    /// character of still encodes (dev, test, inference input); the size must exceed that
    /// character set. Merges are added until the size is reached or no pair repeats.
    /// Deterministic for given inputs.
    pub fn bpe(alphabet: &str, texts: &[String], vocab_size: usize) -> Result<Self, VocabError> {
        if texts.iter().all(|t| t.is_empty()) {
            return Err(VocabError::Invalid("no training text for the BPE".into()));
        }
        let chars: BTreeSet<char> = alphabet
            .chars()
            .chain(texts.iter().flat_map(|t| t.chars()))
            .collect();
        if vocab_size < chars.len() + 1 {
            return Err(VocabError::Invalid(format!(
                "BPE size {vocab_size} is below the {} characters of the alphabet and texts + blank",
                chars.len()
            )));
        }
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size - 1)
            .min_frequency(2)
            .initial_alphabet(chars.into_iter().collect())
            .show_progress(false)
            .build();
        trainer
            .feed(texts.iter(), |t| Ok(words(t)))
            .map_err(|e| VocabError::Invalid(format!("BPE training: {e}")))?;
        let mut model = BPE::default();
        trainer
            .train(&mut model)
            .map_err(|e| VocabError::Invalid(format!("BPE training: {e}")))?;
        let tokens = (0..model.get_vocab_size() as u32)
            .map(|i| {
                model
                    .id_to_token(i)
                    .ok_or_else(|| VocabError::Invalid(format!("BPE training left id {i} unused")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_parts(tokens, Some(model))
    }

    /// Number of CTC classes, blank included.
    pub fn size(&self) -> usize {
        self.tokens.len() + 1
    }

    pub fn is_bpe(&self) -> bool {
        self.bpe.is_some()
    }

    /// The token string of an id; `None` for the blank and for ids out of range.
    pub fn token(&self, id: u32) -> Option<&str> {
        let i = (id as usize).checked_sub(1)?;
        self.tokens.get(i).map(String::as_str)
    }

    /// The id of a token string.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t == token)
            .map(|i| i as u32 + 1)
    }

    /// Distinct characters of `text` the vocabulary cannot encode, in order of appearance.
    pub fn unknown_chars(&self, text: &str) -> Vec<char> {
        let mut bad: Vec<char> = Vec::new();
        for c in text.chars() {
            if !self.char_ids.contains_key(&c) && !bad.contains(&c) {
                bad.push(c);
            }
        }
        bad
    }

    /// Label ids (1..size) of `text`. Characters the vocabulary lacks are an error naming
    /// them; the caller adds which example or file the text came from.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, VocabError> {
        let bad = self.unknown_chars(text);
        if !bad.is_empty() {
            return Err(VocabError::Unknown {
                chars: bad,
                text: text.to_string(),
            });
        }
        let Some(bpe) = &self.bpe else {
            return Ok(text.chars().map(|c| self.char_ids[&c]).collect());
        };
        let mut ids = Vec::with_capacity(text.len());
        for w in words(text) {
            let toks = bpe
                .tokenize(&w)
                .map_err(|e| VocabError::Invalid(format!("BPE encoding of {w:?}: {e}")))?;
            ids.extend(toks.into_iter().map(|t| t.id + 1));
        }
        Ok(ids)
    }

    /// The text of label ids: token strings concatenated, blanks skipped. An id out of range
    /// (a bug upstream) shows as U+FFFD so that it is scored as an error, not hidden.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut s = String::new();
        for &id in ids.iter().filter(|&&i| i != BLANK_ID) {
            s.push_str(self.token(id).unwrap_or("\u{FFFD}"));
        }
        s
    }

    /// Write as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<(), VocabError> {
        let json = serde_json::to_string_pretty(self).map_err(|e| VocabError::File {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        crate::io::write_atomic(path, json.as_bytes()).map_err(|e| VocabError::File {
            path: path.display().to_string(),
            msg: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Self, VocabError> {
        let err = |msg: String| VocabError::File {
            path: path.display().to_string(),
            msg,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }
}

/// The largest BPE a preset may ask for. Each class is a logit on every frame, and the
/// teachers' posterior cache holds one value per class and frame of the whole training split.
pub const MAX_BPE_SIZE: usize = 4096;

/// How a task's vocabulary is made, as a preset gives it: `{ kind = "chars" }` (the default)
/// or `{ kind = "bpe", size = 64 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum VocabSpec {
    /// One token per character of the task's alphabet. A struct variant so that serde rejects
    /// stray keys (`size` with `kind = "chars"`), which it ignores on unit variants.
    Chars {},
    /// A BPE of at most `size` classes (blank included) whose merges are learnt from the
    /// training split's texts.
    Bpe { size: usize },
}

impl Default for VocabSpec {
    fn default() -> Self {
        Self::Chars {}
    }
}

impl VocabSpec {
    /// Reject a spec that cannot give a useful vocabulary over `alphabet`, before any data is
    /// made for it.
    pub fn validate(&self, alphabet: &str) -> Result<(), VocabError> {
        let Self::Bpe { size } = *self else {
            return Ok(());
        };
        let n = alphabet.chars().collect::<BTreeSet<_>>().len();
        // Alphabet + blank alone is the character vocabulary; a BPE needs room for a merge.
        let min = n + 2;
        if !(min..=MAX_BPE_SIZE).contains(&size) {
            return Err(VocabError::Invalid(format!(
                "vocab size {size}: a BPE over {n} characters needs {min}..={MAX_BPE_SIZE} classes \
                 (the characters, the blank and at least one merge); use kind = \"chars\" for \
                 one token per character"
            )));
        }
        Ok(())
    }

    /// The vocabulary over `alphabet`. A BPE learns its merges from `train_texts`, which must
    /// be the training split only: dev and test text shaping the labels would leak into the
    /// scores.
    pub fn build(&self, alphabet: &str, train_texts: &[String]) -> Result<Vocab, VocabError> {
        self.validate(alphabet)?;
        match *self {
            Self::Chars {} => Vocab::chars(alphabet),
            Self::Bpe { size } => Vocab::bpe(alphabet, train_texts, size),
        }
    }
}

#[cfg(test)]
#[path = "vocab_tests.rs"]
mod tests;
