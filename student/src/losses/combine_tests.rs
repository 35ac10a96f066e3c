use super::*;
use crate::losses::testutil::{scalar, tensor};
use crate::losses::{parse_kd, KdTerm};

#[test]
fn formulas_of_the_cli_names() {
    let f = |n: &str| parse_kd(n).unwrap().formula();
    assert_eq!(f("ctc"), "L = 1.0*CTC");
    assert_eq!(f("hinton"), "L = 1.0*Hinton(tau=2, alpha=0.5)");
    assert_eq!(f("frame-kd"), "L = 1.0*CTC + 1.0*FrameKD(tau=1)");
    assert_eq!(f("guided-ctc"), "L = 1.0*CTC + 1.0*GuidedCTC");
    assert_eq!(
        f("attention-map"),
        "stage 1 (25 % of steps): L = 1.0*AttnMapL2; stage 2: L = 1.0*CTC + 1.0*GuidedCTC"
    );
    assert_eq!(f("layer-wise"), "L = 1.0*CTC + 1.0*LayerWise(thirds)");
    assert_eq!(f("sequence-kd"), "L = 1.0*SeqKD(beam=5)");
    let err = parse_kd("distil").unwrap_err().to_string();
    assert!(
        err.contains("distil") && err.contains("guided-ctc"),
        "{err}"
    );
}

#[test]
fn formula_shows_weights_and_options() {
    let obj = KdObjective {
        terms: vec![
            KdTerm::Ctc { weight: 1.0 },
            KdTerm::FrameKd {
                weight: 0.5,
                tau: 1.0,
                drop_blank: true,
            },
            KdTerm::GuidedCtc {
                weight: 2.0,
                exclude_blank: true,
            },
            KdTerm::Layerwise {
                weight: 0.25,
                layers: vec![2, 4],
            },
        ],
    };
    assert_eq!(
        obj.formula(),
        "L = 1.0*CTC + 0.5*FrameKD(tau=1, drop-blank) + 2.0*GuidedCTC(exclude-blank) \
         + 0.25*LayerWise(layers=[2, 4])"
    );
}

#[test]
fn config_round_trip_and_defaults() {
    let json = r#"{"terms": [
        {"kind": "ctc"},
        {"kind": "frame-kd", "weight": 0.5},
        {"kind": "hinton", "tau": 4},
        {"kind": "layerwise", "layers": [1, 3]},
        {"kind": "sequence-kd"}
    ]}"#;
    let obj: KdObjective = serde_json::from_str(json).unwrap();
    assert_eq!(
        obj.terms,
        vec![
            KdTerm::Ctc { weight: 1.0 },
            KdTerm::FrameKd {
                weight: 0.5,
                tau: 1.0,
                drop_blank: false
            },
            KdTerm::Hinton {
                weight: 1.0,
                tau: 4.0,
                alpha: 0.5
            },
            KdTerm::Layerwise {
                weight: 1.0,
                layers: vec![1, 3]
            },
            KdTerm::SequenceKd {
                weight: 1.0,
                beam: 5
            },
        ]
    );
    obj.validate().unwrap();
    let back: KdObjective = serde_json::from_str(&serde_json::to_string(&obj).unwrap()).unwrap();
    assert_eq!(back, obj);
    assert!(serde_json::to_string(&obj)
        .unwrap()
        .contains(r#""kind":"layer-wise""#));
    // Unknown fields and kinds are rejected, not ignored.
    assert!(
        serde_json::from_str::<KdObjective>(r#"{"terms":[{"kind":"ctc","wieght":2}]}"#).is_err()
    );
    assert!(serde_json::from_str::<KdObjective>(r#"{"terms":[{"kind":"kd"}]}"#).is_err());
}

#[test]
fn validation_rejects_bad_objectives() {
    let bad = |terms: Vec<KdTerm>| KdObjective { terms }.validate().is_err();
    assert!(bad(vec![]));
    assert!(bad(vec![KdTerm::Ctc { weight: -1.0 }]));
    assert!(bad(vec![KdTerm::Ctc { weight: f64::NAN }]));
    assert!(bad(vec![
        KdTerm::Ctc { weight: 1.0 },
        KdTerm::Ctc { weight: 2.0 }
    ]));
    assert!(bad(vec![KdTerm::Hinton {
        weight: 1.0,
        tau: 0.0,
        alpha: 0.5
    }]));
    assert!(bad(vec![KdTerm::Hinton {
        weight: 1.0,
        tau: 2.0,
        alpha: 1.2
    }]));
    assert!(bad(vec![KdTerm::SequenceKd {
        weight: 1.0,
        beam: 0
    }]));
    assert!(bad(vec![KdTerm::Layerwise {
        weight: 1.0,
        layers: vec![0]
    }]));
    assert!(bad(vec![KdTerm::AttentionMap {
        weight: 1.0,
        stage1_fraction: 0.25,
    }]));
}

#[test]
fn stages_split_the_attention_term() {
    let obj = parse_kd("attention-map").unwrap();
    let stages = obj.stages();
    assert_eq!(stages.len(), 2);
    assert_eq!(
        stages[0].terms,
        vec![KdTerm::AttentionMap {
            weight: 1.0,
            stage1_fraction: 0.25,
        }]
    );
    assert_eq!(stages[1], parse_kd("guided-ctc").unwrap());
    assert_eq!(parse_kd("frame-kd").unwrap().stages().len(), 1);
}

#[test]
fn combine_weights_named_values() {
    let mut obj = parse_kd("frame-kd").unwrap();
    obj.terms[1] = KdTerm::FrameKd {
        weight: 0.5,
        tau: 1.0,
        drop_blank: false,
    };
    let values = [
        ("frame-kd", tensor(&[0.8], ())),
        ("ctc", tensor(&[3.0], ())),
        ("guided-ctc", tensor(&[100.0], ())), // not in the objective: ignored
    ];
    let got = scalar(&obj.combine(&values).unwrap());
    assert!((got - (3.0 + 0.5 * 0.8)).abs() < 1e-12);
    let err = obj.combine(&values[..1]).unwrap_err().to_string();
    assert!(err.contains("ctc"), "{err}");
}

#[test]
fn stage_steps_split_the_budget_by_the_attention_fraction() {
    let obj = parse_kd("attention-map").unwrap();
    assert_eq!(obj.stage_steps(1200), vec![300, 900]);
    assert_eq!(obj.stage_steps(30), vec![7, 23]);
    assert_eq!(obj.stage_steps(2), vec![1, 1]);
    let half = KdObjective {
        terms: vec![
            KdTerm::AttentionMap {
                weight: 1.0,
                stage1_fraction: 0.5,
            },
            KdTerm::Ctc { weight: 1.0 },
        ],
    };
    assert_eq!(half.stage_steps(9), vec![4, 5]);
    assert_eq!(parse_kd("frame-kd").unwrap().stage_steps(9), vec![9]);
}
