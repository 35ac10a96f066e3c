use super::*;

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

#[test]
fn chars_round_trip_with_space_and_blank_skipped() {
    let v = Vocab::chars("ab c").unwrap();
    assert_eq!(v.size(), 5);
    assert_eq!(v.encode("a cab").unwrap(), vec![1, 3, 4, 1, 2]);
    assert_eq!(v.decode(&[1, 0, 3, 4, 0]), "a c");
    assert_eq!(v.decode(&v.encode("cab ba").unwrap()), "cab ba");
    assert_eq!(v.token(0), None);
    assert_eq!(v.token(3), Some(" "));
    assert_eq!(v.token(5), None);
    assert_eq!(v.id("c"), Some(4));
    assert_eq!(v.encode("").unwrap(), Vec::<u32>::new());
    assert!(Vocab::chars("abca")
        .unwrap_err()
        .to_string()
        .contains("\"a\" appears twice"));
    assert!(Vocab::chars("").is_err());
}

#[test]
fn unknown_characters_are_named() {
    let v = Vocab::chars("abc ").unwrap();
    let e = v.encode("a#bé#c").unwrap_err().to_string();
    assert_eq!(e, "unknown characters '#', 'é' in \"a#bé#c\"");
}

#[test]
fn save_load_round_trip_and_corrupt_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.json");
    let v = Vocab::chars("xyz ").unwrap();
    v.save(&p).unwrap();
    let back = Vocab::load(&p).unwrap();
    assert_eq!(back, v);
    assert_eq!(back.encode("zy x").unwrap(), v.encode("zy x").unwrap());
    std::fs::write(&p, r#"{"kind":"chars","tokens":["a","bb"]}"#).unwrap();
    let e = Vocab::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("v.json") && e.contains("\"bb\" is not one character"),
        "{e}"
    );
}

#[test]
fn bpe_is_lossless_deterministic_and_merges() {
    let texts = strings(&[
        "the cat sat on the mat",
        "the hat is on the cat",
        "a cat and a hat",
        "that  is the end ",
    ]);
    let v = Vocab::bpe("", &texts, 40).unwrap();
    assert!(v.is_bpe() && v.size() <= 40);
    // Deterministic: training again gives the same vocabulary.
    assert_eq!(Vocab::bpe("", &texts, 40).unwrap(), v);
    for t in texts
        .iter()
        .map(String::as_str)
        .chain(["hat cat", " the  tan", "t", ""])
    {
        let ids = v.encode(t).unwrap();
        assert!(
            ids.iter().all(|&i| i > 0 && (i as usize) < v.size()),
            "{t:?} {ids:?}"
        );
        assert_eq!(v.decode(&ids), t);
    }
    // Merges make frequent words shorter than their characters.
    assert!(v.encode(" the").unwrap().len() < 4);
    let e = v.encode("the fog").unwrap_err().to_string();
    assert!(e.contains("'f', 'g'"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bpe.json");
    v.save(&p).unwrap();
    let back = Vocab::load(&p).unwrap();
    assert_eq!(back, v);
    assert_eq!(
        back.encode("the cat").unwrap(),
        v.encode("the cat").unwrap()
    );
    // Too small a size for the alphabet is an error.
    assert!(Vocab::bpe("", &texts, 5).is_err());
}

#[test]
fn bpe_alphabet_characters_are_tokens_even_when_unseen() {
    let texts = strings(&["the cat", "the hat"]);
    let v = Vocab::bpe("abcehtxz ", &texts, 30).unwrap();
    assert_eq!(v.decode(&v.encode("zax").unwrap()), "zax");
    assert!(v.encode("q").is_err());
    assert!(Vocab::bpe("abc", &strings(&["", ""]), 30).is_err());
}

#[test]
fn vocab_spec_parses_validates_and_builds() {
    let parse = |s: &str| serde_json::from_str::<VocabSpec>(s).map_err(|e| e.to_string());
    assert_eq!(parse(r#"{"kind": "chars"}"#).unwrap(), VocabSpec::Chars {});
    assert_eq!(
        parse(r#"{"kind": "bpe", "size": 64}"#).unwrap(),
        VocabSpec::Bpe { size: 64 }
    );
    let e = parse(r#"{"kind": "wordpiece"}"#).unwrap_err();
    assert!(e.contains("wordpiece") && e.contains("bpe"), "{e}");
    assert!(parse(r#"{"kind": "bpe"}"#).unwrap_err().contains("size"));
    let e = parse(r#"{"kind": "bpe", "size": 64, "sizes": 3}"#).unwrap_err();
    assert!(e.contains("sizes"), "{e}");
    let e = parse(r#"{"kind": "chars", "size": 64}"#).unwrap_err();
    assert!(e.contains("size"), "{e}");

    let alphabet = "abc ";
    assert!(VocabSpec::Chars {}.validate(alphabet).is_ok());
    for bad in [0, 5, MAX_BPE_SIZE + 1] {
        let e = VocabSpec::Bpe { size: bad }
            .validate(alphabet)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("vocab size {bad}")) && e.contains("6..="),
            "{e}"
        );
    }
    let texts = strings(&["abc abc", "cab cab"]);
    let chars = VocabSpec::Chars {}.build(alphabet, &texts).unwrap();
    assert_eq!(chars, Vocab::chars(alphabet).unwrap());
    let bpe = VocabSpec::Bpe { size: 8 }.build(alphabet, &texts).unwrap();
    assert!(bpe.is_bpe() && bpe.size() <= 8);
    assert_eq!(bpe.decode(&bpe.encode("cab abc").unwrap()), "cab abc");
}
