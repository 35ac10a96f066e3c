//! KD hyper-parameters set in a preset: `[student.kd.<name>]` tables (or `--set
//! student.kd.<name>.<key>=<value>`) that change the terms of a KD method's objective.
//!
//! In a table, a key naming a term of the objective (`ctc`, `frame-kd`, `guided-ctc`, ...)
//! holds a table of that term's fields; any other key is a field of the method's own term (the
//! term its name says: `frame-kd` for `frame-kd`, the attention map for `attention-map`). So
//! `student.kd.frame-kd.weight=0.5` weighs the frame-KD term, `student.kd.frame-kd.ctc.weight=0`
//! drops its CTC term, `student.kd.attention-map.stage1_fraction=0.5` gives the initialisation
//! stage half the steps. The fields and their defaults are `KdTerm`'s
//! (`student::losses::registry`); an unknown key, a field of the wrong type, or a term the
//! method does not have is an error naming the table.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use student::losses::{registry as methods, KdObjective, KdTerm};

/// `[student.kd]`: overrides per KD method or variant name.
pub type KdOverrides = BTreeMap<String, toml::Table>;

/// `obj` (the objective of the built-in `method`) with the fields of `table` applied; `what`
/// names the table in errors (e.g. `student.kd.frame-kd`).
pub fn apply(
    obj: &KdObjective,
    method: &str,
    table: &toml::Table,
    what: &str,
) -> Result<KdObjective> {
    let names: Vec<&str> = obj.terms.iter().map(|t| t.name()).collect();
    let own = methods::find(method)
        .map(|m| m.own_term)
        .ok_or_else(|| anyhow!("{what}: {method:?} is not a built-in KD method"))?;
    let mut per_term: BTreeMap<&str, toml::Table> = BTreeMap::new();
    for (key, value) in table {
        if key == "kind" {
            bail!("{what}.kind: `kind` cannot be changed (a method's terms are fixed; set their fields)");
        }
        if names.contains(&key.as_str()) {
            let sub = value.as_table().ok_or_else(|| {
                anyhow!("{what}.{key}: expected a table of the {key} term's fields, got {value}")
            })?;
            per_term.entry(key).or_default().extend(sub.clone());
        } else if KdTerm::is_kind(key) {
            bail!(
                "{what}.{key}: the objective of {method} has no {key} term (its terms: {})",
                names.join(", ")
            );
        } else {
            per_term
                .entry(own)
                .or_default()
                .insert(key.clone(), value.clone());
        }
    }
    let mut out = obj.clone();
    for term in &mut out.terms {
        let Some(fields) = per_term.get(term.name()) else {
            continue;
        };
        let mut t = match toml::Value::try_from(&*term)? {
            toml::Value::Table(t) => t,
            v => bail!("a KD term serialised to {v}, not a table"),
        };
        let name = term.name();
        t.extend(fields.clone());
        *term = toml::Value::Table(t)
            .try_into::<KdTerm>()
            .with_context(|| {
                let at = if name == own {
                    what.to_string()
                } else {
                    format!("{what}.{name}")
                };
                format!("{at} (fields of the {name} term)")
            })?;
        if term.name() != name {
            bail!(
                "{what}: `kind` cannot be changed ({name} became {})",
                term.name()
            );
        }
    }
    out.validate().map_err(|e| anyhow!("{what}: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use student::losses::parse_kd;

    fn table(s: &str) -> toml::Table {
        toml::from_str(s).unwrap()
    }

    fn applied(method: &str, s: &str) -> Result<KdObjective> {
        apply(
            &parse_kd(method).unwrap(),
            method,
            &table(s),
            &format!("student.kd.{method}"),
        )
    }

    #[test]
    fn own_fields_and_named_terms_are_set() {
        let o = applied(
            "frame-kd",
            "weight = 0.5\ntau = 2.0\nctc = { weight = 0.25 }",
        )
        .unwrap();
        assert_eq!(o.formula(), "L = 0.25*CTC + 0.5*FrameKD(tau=2)");
        let o = applied(
            "attention-map",
            "stage1_fraction = 0.5\nguided-ctc = { exclude_blank = true }",
        )
        .unwrap();
        assert_eq!(
            o.formula(),
            "stage 1 (50 % of steps): L = 1.0*AttnMapL2; stage 2: L = 1.0*CTC + 1.0*GuidedCTC(exclude-blank)"
        );
        let o = applied("layerwise", "layers = [1, 3]").unwrap();
        assert_eq!(o.formula(), "L = 1.0*CTC + 1.0*LayerWise(layers=[1, 3])");
        for set in ["ctc = { weight = 2.0 }", "weight = 2.0"] {
            assert_eq!(applied("ctc", set).unwrap().formula(), "L = 2.0*CTC");
        }
        assert_eq!(applied("hinton", "").unwrap(), parse_kd("hinton").unwrap());
    }

    #[test]
    fn bad_overrides_name_the_table_and_the_problem() {
        let cases = [
            (
                "frame-kd",
                "taux = 2.0",
                "student.kd.frame-kd",
                "unknown field `taux`",
            ),
            (
                "frame-kd",
                "tau = \"hot\"",
                "student.kd.frame-kd",
                "invalid type",
            ),
            (
                "frame-kd",
                "tau = -1.0",
                "student.kd.frame-kd",
                "tau must be finite and > 0",
            ),
            (
                "frame-kd",
                "weight = -0.5",
                "student.kd.frame-kd",
                "weight must be finite and >= 0",
            ),
            (
                "frame-kd",
                "guided-ctc = { weight = 1.0 }",
                "student.kd.frame-kd.guided-ctc",
                "no guided-ctc term",
            ),
            (
                "frame-kd",
                "ctc = 3",
                "student.kd.frame-kd.ctc",
                "expected a table",
            ),
            (
                "frame-kd",
                "ctc = { beam = 3 }",
                "student.kd.frame-kd.ctc",
                "unknown field `beam`",
            ),
            (
                "hinton",
                "alpha = 1.5",
                "student.kd.hinton",
                "alpha must lie in [0, 1]",
            ),
            (
                "attention-map",
                "stage1_fraction = 1.0",
                "student.kd.attention-map",
                "stage1_fraction",
            ),
            (
                "sequence-kd",
                "beam = 0",
                "student.kd.sequence-kd",
                "beam must be >= 1",
            ),
            (
                "frame-kd",
                "kind = \"guided-ctc\"",
                "student.kd.frame-kd",
                "`kind` cannot be changed",
            ),
        ];
        for (method, set, at, want) in cases {
            let e = format!("{:#}", applied(method, set).unwrap_err());
            assert!(e.contains(at) && e.contains(want), "{method} {set}: {e}");
        }
    }
}
