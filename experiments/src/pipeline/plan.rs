//! The stages of one seed, described once: the directory each stage owns, what it trains, and
//! the identity of the results row it writes. `run_seed` walks this list in order; teachers come
//! first, so every student finds the teachers it learns from already trained.

use oracle::AntiCopy;
use student::online::runs_online;

use crate::kd_overrides::KdOverrides;
use crate::variants::{objective, teacherless, KdVariant};

/// Which frozen (or online) teacher a student learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeacherKind {
    Conventional,
    Oracle,
    /// The oracle path of the student's own joint model (methods whose objective needs one:
    /// `em`), under the preset oracle's anti-copy strategy.
    Joint,
    /// The previous born-again generation (the conventional teacher for the first).
    Previous,
    /// The ensemble of conventional teachers (`[ensemble]`).
    Ensemble,
}

impl TeacherKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Conventional => "conventional",
            Self::Oracle => "oracle",
            Self::Joint => "joint",
            Self::Previous => "previous",
            Self::Ensemble => "ensemble",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trains {
    /// The conventional teacher (source only), from the preset's `[teacher]`.
    Teacher,
    /// An oracle under `strategy`; `ablation` marks one of `--anti-copy`'s extra strategies
    /// (diagnosed and scored, but no student learns from it).
    Oracle { strategy: AntiCopy, ablation: bool },
    /// The preset's `[student]` under KD method `kd`, from `teacher` (none: CTC alone). Online:
    /// a fresh teacher of that kind trains in the same loop instead of the frozen one.
    Student {
        kd: String,
        teacher: Option<TeacherKind>,
        online: bool,
    },
    /// Ensemble member `index` (2, 3, ...; member 1 is the conventional teacher): the teacher's
    /// architecture and budget from initial weights of its own.
    Member { index: usize },
    /// The ensemble of the conventional teacher and its members, scored as one model (nothing
    /// to train).
    Ensemble,
    /// Born-again generation `generation` (1-based): the conventional teacher's architecture
    /// and budget under KD method `kd`, taught by the generation before.
    BornAgain { generation: usize, kd: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageSpec {
    /// The stage's directory under the seed's folder.
    pub name: String,
    pub trains: Trains,
    /// Identity of the results row: role, teacher, kd, anti_copy columns.
    pub role: &'static str,
    pub teacher: String,
    pub kd: String,
    pub anti_copy: String,
}

pub struct Plan {
    pub stages: Vec<StageSpec>,
    /// KD methods asked to run online that cannot (they need a fixed teacher's hypotheses).
    pub online_skipped: Vec<String>,
    /// KD methods with a teacher that cannot learn from an ensemble (they read one model's
    /// features, or have an oracle path of their own).
    pub ensemble_skipped: Vec<String>,
}

/// The stages for `kd` methods (built-in names or the preset's `variants`), extra `ablations`
/// and `online`, with the preset's oracle strategy `strategy`; without one (a preset with no
/// `[oracle]`) there is no oracle stage and KD students learn from the conventional teacher
/// only. Unknown KD names are an error, and so are ablations without an oracle.
pub fn plan(
    strategy: Option<&AntiCopy>,
    kd: &[String],
    variants: &[KdVariant],
    ablations: &[AntiCopy],
    online: bool,
) -> anyhow::Result<Plan> {
    let oracle_row = |s: &AntiCopy| s.name().to_string();
    let mut stages = vec![StageSpec {
        name: "teacher".into(),
        trains: Trains::Teacher,
        role: "teacher",
        teacher: "conventional".into(),
        kd: "ctc".into(),
        anti_copy: "-".into(),
    }];
    let Some(strategy) = strategy else {
        if !ablations.is_empty() {
            anyhow::bail!(
                "--anti-copy: the preset has no [oracle] section, so no oracle to ablate"
            );
        }
        return students(stages, None, kd, variants, online);
    };
    stages.push(StageSpec {
        name: "oracle".into(),
        trains: Trains::Oracle {
            strategy: strategy.clone(),
            ablation: false,
        },
        role: "oracle",
        teacher: "oracle".into(),
        kd: "ctc".into(),
        anti_copy: oracle_row(strategy),
    });
    for s in ablations.iter().filter(|s| s.name() != strategy.name()) {
        stages.push(StageSpec {
            name: format!("oracle-{}", s.name()),
            trains: Trains::Oracle {
                strategy: s.clone(),
                ablation: true,
            },
            role: "oracle",
            teacher: "oracle".into(),
            kd: "ctc".into(),
            anti_copy: oracle_row(s),
        });
    }
    students(stages, Some(strategy), kd, variants, online)
}

/// `stages` followed by the students of every `kd` name, from both teachers, or from the
/// conventional one alone without an oracle `strategy`.
fn students(
    mut stages: Vec<StageSpec>,
    strategy: Option<&AntiCopy>,
    kd: &[String],
    variants: &[KdVariant],
    online: bool,
) -> anyhow::Result<Plan> {
    let oracle_row = |s: &AntiCopy| s.name().to_string();
    let student = |kd: &str, teacher: Option<TeacherKind>, online: bool| {
        let tname = teacher.map_or("none", TeacherKind::name);
        StageSpec {
            name: format!(
                "student-{tname}-{kd}{}",
                if online { "-online" } else { "" }
            ),
            trains: Trains::Student {
                kd: kd.to_string(),
                teacher,
                online,
            },
            role: "student",
            teacher: tname.to_string(),
            kd: if online {
                format!("{kd}+online")
            } else {
                kd.to_string()
            },
            anti_copy: match (teacher, strategy) {
                (Some(TeacherKind::Oracle | TeacherKind::Joint), Some(s)) => oracle_row(s),
                _ => "-".to_string(),
            },
        }
    };
    let teachers: &[TeacherKind] = match strategy {
        Some(_) => &[TeacherKind::Conventional, TeacherKind::Oracle],
        None => &[TeacherKind::Conventional],
    };
    let mut online_skipped = Vec::new();
    let mut with_teacher = Vec::new();
    for k in kd {
        // Which terms a method has (all that matters here) no override can change.
        let obj = objective(variants, &KdOverrides::new(), k)?;
        if obj.needs().oracle_path {
            if strategy.is_none() {
                anyhow::bail!(
                    "KD method {k}: its oracle path takes the preset's [oracle] section (the \
                     anti-copy strategy and fusion), which this preset does not have"
                );
            }
            // One stage trains the whole joint model; it is online by construction.
            stages.push(student(k, Some(TeacherKind::Joint), false));
        } else if teacherless(&obj) {
            stages.push(student(k, None, false));
        } else {
            stages.extend(teachers.iter().map(|&t| student(k, Some(t), false)));
            with_teacher.push((k, obj));
        }
    }
    if online {
        for (k, obj) in with_teacher {
            if runs_online(&obj) {
                stages.extend(teachers.iter().map(|&t| student(k, Some(t), true)));
            } else {
                online_skipped.push(k.clone());
            }
        }
    }
    Ok(Plan {
        stages,
        online_skipped,
        ensemble_skipped: Vec::new(),
    })
}

/// `plan` with an ensemble of `members` conventional teachers: the extra members and the
/// ensemble's own scoring stage right after the conventional teacher, and after the other
/// students one student per KD method of `kd` that learns from posteriors alone (methods that
/// need a teacher's features, hypotheses... of one model, or no teacher, are left out).
pub fn with_ensemble(
    mut plan: Plan,
    members: usize,
    kd: &[String],
    variants: &[KdVariant],
) -> anyhow::Result<Plan> {
    let teacher = |name: String, trains: Trains, column: String| StageSpec {
        name,
        trains,
        role: "teacher",
        teacher: column,
        kd: "ctc".into(),
        anti_copy: "-".into(),
    };
    let at = plan
        .stages
        .iter()
        .position(|s| s.trains == Trains::Teacher)
        .map_or(0, |i| i + 1);
    let mut extra: Vec<StageSpec> = (2..=members)
        .map(|i| {
            teacher(
                format!("teacher-{i}"),
                Trains::Member { index: i },
                format!("member-{i}"),
            )
        })
        .collect();
    extra.push(teacher(
        "ensemble".into(),
        Trains::Ensemble,
        "ensemble".into(),
    ));
    plan.stages.splice(at..at, extra);
    for k in kd {
        let needs = objective(variants, &KdOverrides::new(), k)?.needs();
        if needs.teacher() && (needs.features || needs.oracle_path) {
            plan.ensemble_skipped.push(k.clone());
        } else if needs.teacher() {
            plan.stages.push(StageSpec {
                name: format!("student-ensemble-{k}"),
                trains: Trains::Student {
                    kd: k.clone(),
                    teacher: Some(TeacherKind::Ensemble),
                    online: false,
                },
                role: "student",
                teacher: "ensemble".into(),
                kd: k.clone(),
                anti_copy: "-".into(),
            });
        }
    }
    Ok(plan)
}

/// `plan` followed by `generations` born-again stages under `kd`, after every other stage
/// (each generation is the next one's teacher). Rows: teacher column `conventional` for the
/// first and `born-again-<g-1>` after, kd column `born-again-<g>`.
pub fn with_born_again(mut plan: Plan, generations: usize, kd: &str) -> Plan {
    for g in 1..=generations {
        plan.stages.push(StageSpec {
            name: format!("student-born-again-{g}"),
            trains: Trains::BornAgain {
                generation: g,
                kd: kd.to_string(),
            },
            role: "student",
            teacher: if g == 1 {
                TeacherKind::Conventional.name().to_string()
            } else {
                format!("born-again-{}", g - 1)
            },
            kd: format!("born-again-{g}"),
            anti_copy: "-".into(),
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Plan) -> Vec<&str> {
        p.stages.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn teachers_first_then_students_in_kd_order() {
        let s = AntiCopy::from_name("no-label-position").unwrap();
        let all = AntiCopy::NAMES.map(|n| AntiCopy::from_name(n).unwrap());
        let kd = ["ctc", "frame-kd", "sequence-kd"].map(String::from);
        let p = plan(Some(&s), &kd, &[], &all, true).unwrap();
        assert_eq!(
            names(&p),
            [
                "teacher",
                "oracle",
                "oracle-structural",
                "oracle-random-expansion",
                "oracle-label-masking",
                "oracle-other-labels",
                "oracle-token-substitution",
                "oracle-label-context",
                "student-none-ctc",
                "student-conventional-frame-kd",
                "student-oracle-frame-kd",
                "student-conventional-sequence-kd",
                "student-oracle-sequence-kd",
                "student-conventional-frame-kd-online",
                "student-oracle-frame-kd-online",
            ]
        );
        assert_eq!(p.online_skipped, ["sequence-kd"]);
        let oracle_student = &p.stages[10];
        assert_eq!(
            (
                oracle_student.teacher.as_str(),
                oracle_student.anti_copy.as_str()
            ),
            ("oracle", "no-label-position")
        );
        assert_eq!(p.stages[13].kd, "frame-kd+online");
        assert_eq!(p.stages[2].anti_copy, "structural");
        assert!(plan(Some(&s), &["nope".to_string()], &[], &[], false).is_err());
        // A joint method: one stage, taught by its own oracle path, not repeated online; it
        // needs the preset's oracle.
        let kd = ["em".to_string()];
        let p = plan(Some(&s), &kd, &[], &[], true).unwrap();
        assert_eq!(names(&p), ["teacher", "oracle", "student-joint-em"]);
        let em = &p.stages[2];
        assert_eq!(
            (em.teacher.as_str(), em.kd.as_str(), em.anti_copy.as_str()),
            ("joint", "em", "no-label-position")
        );
        assert!(p.online_skipped.is_empty());
        let e = plan(None, &kd, &[], &[], false).err().unwrap().to_string();
        assert!(e.contains("[oracle]"), "{e}");
        // Born-again generations come last, each taught by the one before.
        let p = with_born_again(plan(None, &[], &[], &[], false).unwrap(), 2, "frame-kd");
        assert_eq!(
            names(&p),
            ["teacher", "student-born-again-1", "student-born-again-2"]
        );
        let row = |i: usize| (p.stages[i].teacher.as_str(), p.stages[i].kd.as_str());
        assert_eq!(row(1), ("conventional", "born-again-1"));
        assert_eq!(row(2), ("born-again-1", "born-again-2"));
        // An ensemble: its members and its scoring after the teacher, its students last, for
        // the methods that read posteriors only.
        let kd = ["ctc", "frame-kd", "layer-wise", "guided-ctc"].map(String::from);
        let p = with_ensemble(plan(Some(&s), &kd, &[], &[], false).unwrap(), 3, &kd, &[]).unwrap();
        assert_eq!(
            names(&p)[..5],
            ["teacher", "teacher-2", "teacher-3", "ensemble", "oracle"]
        );
        assert_eq!(
            names(&p)[p.stages.len() - 2..],
            ["student-ensemble-frame-kd", "student-ensemble-guided-ctc"]
        );
        assert_eq!(p.stages[1].teacher, "member-2");
        assert_eq!(p.ensemble_skipped, ["layer-wise"]);
        assert_eq!(p.stages[3].role, "teacher");
    }

    #[test]
    fn teachers_only() {
        let s = AntiCopy::from_name("structural").unwrap();
        let p = plan(Some(&s), &[], &[], std::slice::from_ref(&s), false).unwrap();
        assert_eq!(names(&p), ["teacher", "oracle"]);
    }

    #[test]
    fn without_an_oracle_students_learn_from_the_conventional_teacher() {
        let variants = [KdVariant {
            name: "hinton-t20".into(),
            method: "hinton".into(),
            tau: Some(20.0),
            omit_label: None,
            bias_correction: false,
            transfer_fraction: None,
        }];
        let kd = ["ctc", "hinton", "hinton-t20"].map(String::from);
        let p = plan(None, &kd, &variants, &[], true).unwrap();
        assert_eq!(
            names(&p),
            [
                "teacher",
                "student-none-ctc",
                "student-conventional-hinton",
                "student-conventional-hinton-t20",
                "student-conventional-hinton-online",
                "student-conventional-hinton-t20-online",
            ]
        );
        assert_eq!(p.stages[3].kd, "hinton-t20");
        let s = AntiCopy::from_name("structural").unwrap();
        let e = plan(None, &kd, &variants, &[s], false).err().unwrap();
        assert!(e.to_string().contains("no [oracle] section"), "{e}");
    }
}
