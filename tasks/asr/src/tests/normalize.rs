use crate::normalize::{Letters, OutsideChars, TextNorm, ENGLISH_CHARS};

fn any_letters() -> TextNorm {
    TextNorm {
        letters: Letters::Any,
        ..Default::default()
    }
}

#[test]
fn the_default_is_the_english_normalisation() {
    let n = TextNorm::default();
    assert_eq!(n.normalize("Hello, World!"), "hello world");
    assert_eq!(
        n.normalize("  Don't  'quote' me -- well-known\t"),
        "don't quote me well known"
    );
    assert_eq!(n.normalize("It\u{2019}s 42 caf\u{e9}s"), "it's caf s");
    assert_eq!(n.normalize("123 ?!"), "");
    assert_eq!(n.alphabet(&[]), ENGLISH_CHARS);
    assert_eq!(n.fixed_alphabet().as_deref(), Some(ENGLISH_CHARS));
    // Serialised defaults read back, and an empty table is the default.
    let t: TextNorm = toml::from_str("").unwrap();
    assert_eq!(t, n);
}

#[test]
fn each_switch_keeps_what_it_names() {
    let raw = "\u{bf}Qu\u{e9} tal, Se\u{f1}or? Room 512, well-known";
    assert_eq!(
        TextNorm::default().normalize(raw),
        "qu tal se or room well known"
    );
    assert_eq!(
        any_letters().normalize(raw),
        "qu\u{e9} tal se\u{f1}or room well known"
    );
    let digits = TextNorm {
        digits: true,
        ..Default::default()
    };
    assert_eq!(digits.normalize(raw), "qu tal se or room 512 well known");
    let hyphen = TextNorm {
        keep: "-".into(),
        ..Default::default()
    };
    assert_eq!(hyphen.normalize(raw), "qu tal se or room well-known");
    let cased = TextNorm {
        lowercase: false,
        ..Default::default()
    };
    assert_eq!(cased.normalize(raw), "Qu tal Se or Room well known");
    assert_eq!(
        cased.alphabet(&[]),
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ' "
    );
    let all = TextNorm {
        digits: true,
        keep: "-?'".into(),
        ..Default::default()
    };
    // Kept characters join the alphabet once each, before the apostrophe and the space.
    assert_eq!(
        all.alphabet(&[]),
        "abcdefghijklmnopqrstuvwxyz0123456789-?' "
    );
}

#[test]
fn any_letters_take_the_alphabet_from_the_training_text() {
    let n = any_letters();
    let train: Vec<String> = ["qu\u{e9}", "a\u{f1}o b"]
        .iter()
        .map(|s| n.normalize(s))
        .collect();
    assert_eq!(n.alphabet(&train), "aboqu\u{e9}\u{f1} ");
    assert_eq!(n.fixed_alphabet(), None);
    // Non-Latin letters are letters.
    assert_eq!(
        n.normalize("\u{3a3}\u{3bf}\u{3c6}\u{3af}\u{3b1}!"),
        "\u{3c3}\u{3bf}\u{3c6}\u{3af}\u{3b1}"
    );
}

#[test]
fn characters_that_cannot_be_kept_are_refused() {
    for bad in [" ", "a\tb", "\u{7}"] {
        let n = TextNorm {
            keep: bad.into(),
            ..Default::default()
        };
        let e = n.validate().unwrap_err();
        assert!(e.starts_with("text.keep"), "{e}");
    }
    assert!(TextNorm::default().validate().is_ok());
    assert!(toml::from_str::<TextNorm>("lowercase = true\nletter = \"any\"").is_err());
}

#[test]
fn outside_characters_follow_the_normalisation() {
    let raw = "It\u{2019}s 42 Caf\u{e9}s!";
    let mut english = OutsideChars::default();
    english.add(raw, &TextNorm::default());
    english.add("plain words", &TextNorm::default());
    // Case and the typographic apostrophe are not counted; digits, the accent and '!' are.
    let want: Vec<(char, usize)> = vec![('!', 1), ('2', 1), ('4', 1), ('\u{e9}', 1)];
    assert_eq!(english.counts.into_iter().collect::<Vec<_>>(), want);
    assert_eq!((english.transcripts, english.of), (1, 2));
    let mut any = OutsideChars::default();
    any.add(raw, &any_letters());
    assert_eq!(any.total(), 3);
    assert!(!any.counts.contains_key(&'\u{e9}'));
}
