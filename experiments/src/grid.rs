//! `run --grid KEY=V1,V2[,...]` (repeatable): the cartesian product of the listed values, each
//! cell a run of its own (as with `--set KEY=V`), in its own run directory, resumable like any
//! run. Cells share finished stages whose configuration is identical (`stage_key`): a grid
//! over a KD weight trains the teachers once. The cells' rows, each carrying its assignment in
//! the `overrides` column, are merged into one results file for the whole grid.

use anyhow::{bail, Result};

use crate::preset::Preset;

/// One `--grid` axis: a dotted preset key and its values (as `--set` would parse them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

/// Parses `KEY=V1,V2,...`. Values are split on commas outside brackets and braces, so a value
/// may be a TOML array or inline table (`layers=[1,2],[2,3]`).
pub fn parse_axis(arg: &str) -> Result<Axis> {
    let Some((key, list)) = arg.split_once('=') else {
        bail!("--grid {arg:?}: expected KEY=V1,V2,...");
    };
    let key = key.trim();
    if key.is_empty() {
        bail!("--grid {arg:?}: empty key");
    }
    let mut values = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for c in list.chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            values.push(std::mem::take(&mut cur).trim().to_string());
        } else {
            cur.push(c);
        }
    }
    values.push(cur.trim().to_string());
    if depth != 0 {
        bail!("--grid {arg:?}: unbalanced brackets");
    }
    if values.iter().any(String::is_empty) {
        bail!("--grid {arg:?}: an empty value");
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(v) = values.iter().find(|v| !seen.insert(*v)) {
        bail!("--grid {arg:?}: value {v:?} listed twice");
    }
    Ok(Axis {
        key: key.to_string(),
        values,
    })
}

/// Every cell of the grid: one `KEY=VALUE` per axis, the first axis varying slowest.
pub fn cells(axes: &[Axis]) -> Result<Vec<Vec<String>>> {
    let mut seen = std::collections::HashSet::new();
    if let Some(a) = axes.iter().find(|a| !seen.insert(a.key.as_str())) {
        bail!("--grid: key {} given twice", a.key);
    }
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for a in axes {
        out = out
            .into_iter()
            .flat_map(|cell| {
                a.values.iter().map(move |v| {
                    let mut c = cell.clone();
                    c.push(format!("{}={v}", a.key));
                    c
                })
            })
            .collect();
    }
    Ok(out)
}

/// The `overrides` column of a cell's rows.
pub fn overrides(cell: &[String]) -> String {
    cell.join(";")
}

fn toml_of<T: serde::Serialize>(x: &T) -> String {
    toml::to_string(x).unwrap_or_else(|e| format!("<unserialisable: {e}>"))
}

/// What a stage's result depends on, as text: equal keys mean a stage trained in one cell can
/// stand for the same stage of another. `extra` is what the stage adds (its objective, for a
/// student). The teacher's config is part of every key, because the oracle's diagnostics and
/// every student depend on the conventional teacher; the oracle's only of the oracle stages and
/// their students, so a grid over the oracle's strategy trains the rest once.
pub fn stage_key(p: &Preset, seed: u64, stage: &str, extra: &str) -> String {
    let mut key = format!(
        "task = {:?}\nseed = {seed}\nstage = {stage:?}\n[data]\n{}\n[teacher]\n{}\n",
        p.task,
        toml_of(&p.data),
        toml_of(&p.teacher)
    );
    // A joint student's oracle path takes the [oracle] section too.
    if ["oracle", "student-oracle", "student-joint"]
        .iter()
        .any(|p| stage.starts_with(p))
    {
        key.push_str(&format!(
            "[oracle]\n{}\n",
            p.oracle.as_ref().map(toml_of).unwrap_or_default()
        ));
    }
    if stage.starts_with("student") {
        let s = &p.student;
        key.push_str(&format!(
            "[student]\n{}\n{}\nteacher_input = {:?}\noracle_features = {:?}\ndiagnostics = {:?}\n",
            toml_of(&s.encoder),
            toml_of(&s.train),
            s.teacher_input,
            s.oracle_features,
            p.diagnostics_examples
        ));
        // Only when set, so that the keys of earlier stages stay valid.
        if s.kd_warmup > 0 {
            key.push_str(&format!("kd_warmup = {}\n", s.kd_warmup));
        }
        // A student of the ensemble learns from its members and their combination.
        if stage.starts_with("student-ensemble") {
            key.push_str(&format!(
                "[ensemble]\n{}\n",
                p.ensemble.as_ref().map(toml_of).unwrap_or_default()
            ));
        }
    } else {
        key.push_str(&format!("diagnostics = {:?}\n", p.diagnostics_examples));
    }
    key.push_str(extra);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_and_cells_are_the_cartesian_product() {
        let a = parse_axis("student.kd.frame-kd.weight=0.25,0.5, 1").unwrap();
        assert_eq!(a.values, ["0.25", "0.5", "1"]);
        let b = parse_axis("student.kd.layer-wise.layers=[1,2],[3]").unwrap();
        assert_eq!(b.values, ["[1,2]", "[3]"]);
        let c = cells(&[a, b]).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(
            c[1],
            [
                "student.kd.frame-kd.weight=0.25",
                "student.kd.layer-wise.layers=[3]"
            ]
        );
        assert_eq!(
            overrides(&c[5]),
            "student.kd.frame-kd.weight=1;student.kd.layer-wise.layers=[3]"
        );
        for (bad, want) in [
            ("x", "expected KEY=V1,V2"),
            ("=1,2", "empty key"),
            ("k=1,,2", "an empty value"),
            ("k=[1,2", "unbalanced"),
            ("k=1,1", "listed twice"),
        ] {
            let e = parse_axis(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        let k = parse_axis("k=1,2").unwrap();
        let e = cells(&[k.clone(), k]).unwrap_err().to_string();
        assert!(e.contains("key k given twice"), "{e}");
    }

    #[test]
    fn stage_keys_change_only_with_what_the_stage_depends_on() {
        let base = crate::preset::load("asr-oracle", None, true, &[]).unwrap();
        let weighted = crate::preset::load(
            "asr-oracle",
            None,
            true,
            &["student.kd.frame-kd.weight=0.5".into()],
        )
        .unwrap();
        let student_lr =
            crate::preset::load("asr-oracle", None, true, &["student.train.lr=1e-3".into()])
                .unwrap();
        let key = |p: &Preset, stage: &str| stage_key(p, 0, stage, "");
        // KD hyper-parameters reach a student through its objective (`extra`), not the key.
        for stage in ["teacher", "oracle", "student-none-ctc"] {
            assert_eq!(key(&base, stage), key(&weighted, stage), "{stage}");
        }
        assert_eq!(key(&base, "teacher"), key(&student_lr, "teacher"));
        assert_eq!(key(&base, "oracle"), key(&student_lr, "oracle"));
        assert_ne!(
            key(&base, "student-none-ctc"),
            key(&student_lr, "student-none-ctc")
        );
        assert_ne!(
            stage_key(&base, 0, "teacher", ""),
            stage_key(&base, 1, "teacher", "")
        );
        assert_ne!(key(&base, "teacher"), key(&base, "oracle"));
        // An ensemble's size and combination reach its students, not the others.
        let ens = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            crate::preset::load("asr-oracle", None, true, &sets).unwrap()
        };
        let mean = ens(&["ensemble.members=3"]);
        let aligned = ens(&["ensemble.members=3", "ensemble.combine=\"aligned\""]);
        let four = ens(&["ensemble.members=4"]);
        for other in [&aligned, &four] {
            assert_ne!(
                key(&mean, "student-ensemble-frame-kd"),
                key(other, "student-ensemble-frame-kd")
            );
            for stage in ["teacher", "teacher-2", "student-conventional-frame-kd"] {
                assert_eq!(key(&mean, stage), key(other, stage), "{stage}");
            }
        }
        // The oracle's strategy reaches the oracle and its students only.
        let other = crate::preset::load(
            "asr-oracle",
            None,
            true,
            &["oracle.anti_copy.kind=\"label-context\"".into()],
        )
        .unwrap();
        for stage in [
            "teacher",
            "student-none-ctc",
            "student-conventional-frame-kd",
            "student-conventional-frame-kd-online",
        ] {
            assert_eq!(key(&base, stage), key(&other, stage), "{stage}");
        }
        for stage in ["oracle", "oracle-structural", "student-oracle-frame-kd"] {
            assert_ne!(key(&base, stage), key(&other, stage), "{stage}");
        }
    }
}
