use super::*;

#[test]
fn every_method_is_registered_once_and_names_its_own_term() {
    let mut seen: Vec<&str> = Vec::new();
    for m in METHODS {
        for name in std::iter::once(m.name).chain(m.aliases.iter().copied()) {
            assert!(!seen.contains(&name), "{name} registered twice");
            seen.push(name);
            assert_eq!(find(name).unwrap().name, m.name);
            assert_eq!(parse_kd(name).unwrap(), m.objective());
        }
        let terms: Vec<&str> = m.objective().terms.iter().map(KdTerm::name).collect();
        assert!(terms.contains(&m.own_term), "{}: {terms:?}", m.name);
    }
    assert_eq!(
        names(),
        [
            "ctc",
            "frame-kd",
            "guided-ctc",
            "hinton",
            "attention-map",
            "layer-wise",
            "self-kd",
            "em",
            "sequence-kd"
        ]
    );
    assert!(find("distil").is_none());
}

#[test]
fn term_kinds_are_read_from_the_enum() {
    for m in METHODS {
        for t in m.objective().terms {
            assert!(KdTerm::is_kind(t.name()), "{}", t.name());
        }
    }
    assert!(KdTerm::is_kind("layerwise"));
    for not in ["", "weight", "frame_kd", "FrameKd", "distil"] {
        assert!(!KdTerm::is_kind(not), "{not}");
    }
}

#[test]
fn needs_follow_the_terms() {
    let needs = |n: &str| parse_kd(n).unwrap().needs();
    assert_eq!(needs("ctc"), Needs::default());
    for n in ["frame-kd", "guided-ctc", "hinton"] {
        let x = needs(n);
        assert!(x.posteriors && !x.features && x.hypotheses.is_none(), "{n}");
    }
    let att = needs("attention-map");
    assert!(att.features && att.posteriors && att.init_fraction == Some(0.25));
    let lw = needs("layer-wise");
    assert!(lw.features && lw.heads == Some(Vec::new()) && !lw.posteriors);
    assert_eq!(needs("sequence-kd").hypotheses, Some(5));
    let sk = needs("self-kd");
    assert!(sk.student_heads == Some(Vec::new()) && !sk.teacher());
    assert!(needs("em").oracle_path && needs("em").teacher());
    assert!(!needs("ctc").teacher() && needs("layer-wise").teacher());
    let mut t = parse_kd("guided-ctc").unwrap().terms;
    assert!(t.iter_mut().all(|t| t.temperature_mut().is_none()));
    let mut h = parse_kd("hinton").unwrap().terms;
    *h[0].temperature_mut().unwrap() = 7.0;
    assert_eq!(h[0].label(), "Hinton(tau=7, alpha=0.5)");
}
