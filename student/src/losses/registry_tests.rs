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

#[test]
fn self_kd_fields_are_checked_before_the_model_exists() {
    let term = |layers: Vec<usize>, tau: f64, ctc_weight: f64| KdObjective {
        terms: vec![KdTerm::SelfKd {
            weight: 1.0,
            tau,
            ctc_weight,
            layers,
        }],
    };
    assert!(term(vec![1, 3], 1.0, 1.0).validate().is_ok());
    for (o, want) in [
        (term(vec![0], 1.0, 1.0), "distinct 1-based"),
        (term(vec![2, 2], 1.0, 1.0), "distinct 1-based"),
        (term(vec![], 0.0, 1.0), "tau"),
        (term(vec![], 1.0, -1.0), "ctc_weight"),
    ] {
        let e = o.validate().unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}
