//! The texts of synthetic word images: dictionary words and random alphanumeric strings.

use std::path::Path;

use super::alphabet::{Alphabet, PUNCTUATION};
use super::error::{Result, StrError};
use super::normalize::ctc_frames_needed;
use ctc_core::rng::Rng;

/// Words of a one-word-per-line list whose normalised form lies in the alphabet, has 1 to
/// `max_len` characters and fits `max_frames` CTC frames. Sorted and deduplicated so the
/// result does not depend on the file's order.
pub fn load_words(
    path: &Path,
    alphabet: &Alphabet,
    max_len: usize,
    max_frames: usize,
) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StrError::Setup(format!(
            "cannot read word list {}: {e} (run scripts/setup-str.sh, which installs wamerican)",
            path.display()
        ))
    })?;
    let mut words: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|w| {
            let n = alphabet.normalize(w);
            let len = n.chars().count();
            len >= 1
                && len <= max_len
                && ctc_frames_needed(&n) <= max_frames
                && alphabet.unknown_chars(&n).is_empty()
        })
        .map(str::to_string)
        .collect();
    words.sort();
    words.dedup();
    if words.is_empty() {
        return Err(StrError::Setup(format!(
            "word list {} has no word within the alphabet",
            path.display()
        )));
    }
    Ok(words)
}

/// How a dictionary word is cased when drawn (the label follows the drawn text, normalised).
fn recase(w: &str, rng: &mut Rng) -> String {
    let u = rng.uniform();
    if u < 0.55 {
        w.to_string()
    } else if u < 0.75 {
        w.to_uppercase()
    } else if u < 0.9 {
        let mut c = w.chars();
        match c.next() {
            Some(f) => f
                .to_uppercase()
                .chain(c.flat_map(char::to_lowercase))
                .collect(),
            None => String::new(),
        }
    } else {
        w.to_lowercase()
    }
}

fn random_string(rng: &mut Rng, alphabet: &Alphabet, max_len: usize) -> String {
    const DIGITS: &[u8] = b"0123456789";
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    // Short strings are more common in scene text (house numbers, prices, codes).
    let len = 1 + ((rng.uniform().powf(1.5) * max_len as f64) as usize).min(max_len - 1);
    let pool = match rng.below(3) {
        0 => DIGITS,
        1 => LETTERS,
        _ => ALNUM,
    };
    let punct: Vec<char> = PUNCTUATION.chars().collect();
    (0..len)
        .map(|_| {
            if alphabet.punctuation && rng.bernoulli(0.08) {
                punct[rng.below(punct.len())]
            } else {
                pool[rng.below(pool.len())] as char
            }
        })
        .collect()
}

/// Draw one text: a dictionary word with probability `word_frac`, else a random string.
/// Returns `(drawn text, label)`; the label is the alphabet's normalised form and always fits
/// `max_frames`.
pub fn sample_text(
    rng: &mut Rng,
    words: &[String],
    alphabet: &Alphabet,
    word_frac: f64,
    max_len: usize,
    max_frames: usize,
) -> (String, String) {
    loop {
        let mut drawn = if rng.bernoulli(word_frac) {
            recase(&words[rng.below(words.len())], rng)
        } else {
            random_string(rng, alphabet, max_len)
        };
        if alphabet.punctuation && rng.bernoulli(0.1) && drawn.chars().count() < max_len {
            drawn.push(*rng.choose(&['.', ',', '!', '?', ':', '-']).unwrap_or(&'.'));
        }
        let label = alphabet.normalize(&drawn);
        // Random strings can hold many repeated neighbours; redraw those that do not fit.
        if ctc_frames_needed(&label) <= max_frames && alphabet.unknown_chars(&label).is_empty() {
            return (drawn, label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_filtering_and_sampled_labels_lie_in_the_alphabet() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("words");
        std::fs::write(
            &p,
            "Zebra\napple\nit's\ncafé\nbookkeeper\n\nabcdefghijklmnopqrstu\n",
        )
        .unwrap();
        let a = Alphabet::default();
        let w = load_words(&p, &a, 20, 32).unwrap();
        assert_eq!(w, vec!["Zebra", "apple", "bookkeeper"]);
        // bookkeeper needs 13 frames.
        assert_eq!(load_words(&p, &a, 20, 12).unwrap(), vec!["Zebra", "apple"]);
        let ap = Alphabet::new(true, true);
        assert!(load_words(&p, &ap, 20, 32)
            .unwrap()
            .contains(&"it's".to_string()));
        for (alpha, words) in [(a, w.clone()), (ap, w)] {
            let mut rng = Rng::new(3);
            for _ in 0..2000 {
                let (drawn, label) = sample_text(&mut rng, &words, &alpha, 0.5, 20, 32);
                assert_eq!(label, alpha.normalize(&drawn));
                assert!(alpha.unknown_chars(&label).is_empty(), "{label}");
                let n = label.chars().count();
                assert!((1..=20).contains(&n) && ctc_frames_needed(&label) <= 32);
            }
        }
    }
}
