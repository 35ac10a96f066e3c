//! KD method variants, declared under `[student]` as `kd_variants`: a CLI KD method with its
//! temperature changed, and optionally one label left out of the transfer set (the training
//! examples containing it) with that label's output bias re-tuned on dev afterwards (Hinton et
//! al. 2015, section 3, the omitted "3"). A variant is used by its name wherever a KD method
//! name is (`kd = [...]`, `--kd`); the rows it writes carry that name in the kd column.
//! A variant sets only the temperature; every other hyper-parameter is set under
//! `[student.kd.<name>]` (`kd_overrides`).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use student::losses::{parse_kd, registry, KdObjective, KdTerm};

use crate::kd_overrides::{self, KdOverrides};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdVariant {
    /// The name the variant is used by; must not be a built-in KD method.
    pub name: String,
    /// The built-in KD method it modifies (`hinton`, `frame-kd`, ...).
    pub method: String,
    /// Temperature of the method's soft-target term (`hinton`, `frame-kd` only).
    #[serde(default)]
    pub tau: Option<f64>,
    /// Leave every training example whose label sequence contains this token out of the
    /// student's transfer set (teacher training is unaffected).
    #[serde(default)]
    pub omit_label: Option<String>,
    /// After training, add to the omitted label's output score the shift (0 to 20 in steps of
    /// 0.25) that minimises the dev error, and write a second row `<name>+bias`.
    #[serde(default)]
    pub bias_correction: bool,
    /// Train on this fraction (0 < f <= 1) of the training examples: soft targets as a
    /// regulariser (Hinton et al. 2015, section 5: 3 % of the data). Drawn once per seed, the
    /// same examples for every variant of that fraction; the row gets `train_error`, the error on
    /// those examples.
    #[serde(default)]
    pub transfer_fraction: Option<f64>,
}

/// The variant called `name`, if any.
pub fn find<'a>(variants: &'a [KdVariant], name: &str) -> Option<&'a KdVariant> {
    variants.iter().find(|v| v.name == name)
}

/// The objective of a KD method or variant name, with the `[student.kd]` overrides applied:
/// those of the method, then (for a variant) the variant's temperature, then those under the
/// variant's own name.
pub fn objective(
    variants: &[KdVariant],
    overrides: &KdOverrides,
    name: &str,
) -> Result<KdObjective> {
    let Some(v) = find(variants, name) else {
        let known: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
        let obj = parse_kd(name).map_err(|e| {
            if known.is_empty() {
                anyhow::anyhow!("{e}")
            } else {
                anyhow::anyhow!("{e}, or a kd_variants name: {}", known.join(", "))
            }
        })?;
        return with_overrides(obj, name, overrides, name);
    };
    let obj = parse_kd(&v.method)
        .map_err(|e| anyhow::anyhow!("student.kd_variants {:?}: method: {e}", v.name))?;
    let mut obj = with_overrides(obj, &v.method, overrides, &v.method)?;
    if let Some(t) = v.tau {
        let mut set = false;
        for tau in obj.terms.iter_mut().filter_map(KdTerm::temperature_mut) {
            *tau = t;
            set = true;
        }
        if !set {
            bail!(
                "student.kd_variants {:?}: method {} has no temperature (tau applies to hinton, \
                 frame-kd and self-kd)",
                v.name,
                v.method
            );
        }
    }
    obj.validate()
        .map_err(|e| anyhow::anyhow!("student.kd_variants {:?}: {e}", v.name))?;
    with_overrides(obj, &v.method, overrides, &v.name)
}

fn with_overrides(
    obj: KdObjective,
    method: &str,
    overrides: &KdOverrides,
    key: &str,
) -> Result<KdObjective> {
    match overrides.get(key) {
        None => Ok(obj),
        Some(t) => kd_overrides::apply(&obj, method, t, &format!("student.kd.{key}")),
    }
}

/// Every `[student.kd]` table names a KD method or a variant.
pub fn validate_overrides(variants: &[KdVariant], overrides: &KdOverrides) -> Result<()> {
    for key in overrides.keys() {
        if find(variants, key).is_none() {
            parse_kd(key).map_err(|e| anyhow::anyhow!("student.kd.{key}: {e}"))?;
        }
        objective(variants, overrides, key)?;
    }
    Ok(())
}

/// Whether an objective learns without a teacher (the references, and the student's own
/// layers for self-distillation).
pub fn teacherless(obj: &KdObjective) -> bool {
    !obj.needs().teacher()
}

/// Names unique and not built-in, each objective valid, `bias_correction` only with an
/// omitted label.
pub fn validate(variants: &[KdVariant]) -> Result<()> {
    for (i, v) in variants.iter().enumerate() {
        if v.name.is_empty() || v.name.contains(['/', ',', '+']) || v.name.trim() != v.name {
            bail!(
                "student.kd_variants: name {:?} must be non-empty, without spaces at its ends, \
                 '/', ',' or '+'",
                v.name
            );
        }
        if registry::find(&v.name).is_some() {
            bail!(
                "student.kd_variants: {:?} is a built-in KD method; give the variant its own name",
                v.name
            );
        }
        if variants[..i].iter().any(|w| w.name == v.name) {
            bail!("student.kd_variants: {:?} is declared twice", v.name);
        }
        if v.bias_correction && v.omit_label.is_none() {
            bail!(
                "student.kd_variants {:?}: bias_correction re-tunes the omitted label's bias and \
                 needs omit_label",
                v.name
            );
        }
        if let Some(f) = v.transfer_fraction.filter(|f| !(*f > 0.0 && *f <= 1.0)) {
            bail!(
                "student.kd_variants {:?}: transfer_fraction must lie in (0, 1], got {f}",
                v.name
            );
        }
        if v.omit_label.as_deref() == Some("") {
            bail!("student.kd_variants {:?}: omit_label is empty", v.name);
        }
        objective(variants, &KdOverrides::new(), &v.name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, method: &str, tau: Option<f64>) -> KdVariant {
        KdVariant {
            name: name.into(),
            method: method.into(),
            tau,
            omit_label: None,
            bias_correction: false,
            transfer_fraction: None,
        }
    }

    #[test]
    fn a_variant_sets_the_temperature_of_its_method() {
        let vs = [
            v("hinton-t20", "hinton", Some(20.0)),
            v("fk", "frame-kd", None),
        ];
        validate(&vs).unwrap();
        let o = objective(&vs, &KdOverrides::new(), "hinton-t20").unwrap();
        assert_eq!(o.formula(), "L = 1.0*Hinton(tau=20, alpha=0.5)");
        assert_eq!(
            objective(&vs, &KdOverrides::new(), "fk").unwrap(),
            parse_kd("frame-kd").unwrap()
        );
        assert_eq!(
            objective(&vs, &KdOverrides::new(), "hinton").unwrap(),
            parse_kd("hinton").unwrap()
        );
        assert!(teacherless(
            &objective(&vs, &KdOverrides::new(), "ctc").unwrap()
        ));
        assert!(!teacherless(&o));
        let e = objective(&vs, &KdOverrides::new(), "nope")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kd_variants name: hinton-t20, fk"), "{e}");
    }

    #[test]
    fn overrides_apply_to_methods_then_variants() {
        let vs = [v("hinton-t20", "hinton", Some(20.0))];
        let mut o = KdOverrides::new();
        o.insert(
            "hinton".into(),
            toml::from_str("alpha = 0.9\ntau = 3.0").unwrap(),
        );
        o.insert("hinton-t20".into(), toml::from_str("weight = 2.0").unwrap());
        validate_overrides(&vs, &o).unwrap();
        let f = |name| objective(&vs, &o, name).unwrap().formula();
        assert_eq!(f("hinton"), "L = 1.0*Hinton(tau=3, alpha=0.9)");
        // The variant's temperature wins over its method's; its own table comes last.
        assert_eq!(f("hinton-t20"), "L = 2.0*Hinton(tau=20, alpha=0.9)");
        assert_eq!(f("frame-kd"), "L = 1.0*CTC + 1.0*FrameKD(tau=1)");
        o.insert("framekd".into(), toml::Table::new());
        let e = validate_overrides(&vs, &o).unwrap_err().to_string();
        assert!(e.contains("student.kd.framekd: unknown KD method"), "{e}");
    }

    #[test]
    fn bad_variants_are_refused() {
        let omit = |bias| KdVariant {
            omit_label: None,
            bias_correction: bias,
            ..v("x", "hinton", None)
        };
        let cases: Vec<(Vec<KdVariant>, &str)> = vec![
            (vec![v("hinton", "hinton", Some(2.0))], "built-in"),
            (vec![v("a", "hinton", None), v("a", "ctc", None)], "twice"),
            (vec![v("a", "guided-ctc", Some(2.0))], "no temperature"),
            (
                vec![v("a", "hinton", Some(0.0))],
                "tau must be finite and > 0",
            ),
            (vec![v("a", "nope", None)], "method"),
            (vec![v("a+b", "hinton", None)], "'+'"),
            (vec![omit(true)], "needs omit_label"),
        ];
        let frac = |f| KdVariant {
            transfer_fraction: Some(f),
            ..v("x", "hinton", None)
        };
        let mut cases = cases;
        for f in [0.0, -0.5, 1.5, f64::NAN] {
            cases.push((vec![frac(f)], "transfer_fraction must lie in (0, 1]"));
        }
        validate(&[frac(0.03), frac(1.0)].map(|mut x| {
            x.name = format!("x{}", x.transfer_fraction.unwrap());
            x
        }))
        .unwrap();
        for (vs, want) in cases {
            let e = validate(&vs).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
    }
}
