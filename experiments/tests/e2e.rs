//! The product end to end at smoke scale: `experiments run <preset> --quick` for both tasks,
//! then `compare`, `eval`, and `transcribe`/`recognize` on what the run exported.

use std::path::Path;

mod common;

use common::{bin, ok, run_dir};

fn check_run(out: &Path, preset: &str) -> std::path::PathBuf {
    let dir = run_dir(out, preset);
    for f in [
        "results.csv",
        "results.md",
        "teacher-dev-curves.png",
        "posteriors.png",
        "config.toml",
    ] {
        assert!(dir.join(f).is_file(), "{preset}: {f} missing");
    }
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    // Header + conventional teacher + oracle + 5 students (ctc; frame-kd and guided-ctc x 2).
    assert_eq!(csv.lines().count(), 8, "{csv}");
    assert!(csv.lines().any(|l| l.contains(",oracle,oracle,")), "{csv}");
    dir
}

#[test]
fn quick_runs_of_both_presets_then_compare_eval_and_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    ok(bin()
        .args(["run", "asr-oracle", "--quick", "--no-progress", "--out"])
        .arg(out));
    let asr = check_run(out, "asr-oracle");
    // A rerun skips every finished stage and reproduces the same rows.
    let before = std::fs::read_to_string(asr.join("results.csv")).unwrap();
    ok(bin()
        .args(["run", "asr-oracle", "--quick", "--no-progress", "--out"])
        .arg(out));
    let after = std::fs::read_to_string(asr.join("results.csv")).unwrap();
    // The revision is baked in at build time, so the rows must match byte for byte.
    assert_eq!(before, after);
    // A finished stage scored again keeps the revision that trained it (stored with its
    // model); `scored_revision` names the binary that scored it.
    let meta_path = asr.join("seed-0/teacher/model/config.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    let built = meta["revision"].as_str().unwrap().to_string();
    meta["revision"] = "trained-elsewhere".into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    ok(bin()
        .args([
            "run",
            "asr-oracle",
            "--quick",
            "--no-progress",
            "--kd",
            "none",
            "--out",
        ])
        .arg(out));
    let mut rdr = csv::Reader::from_path(asr.join("results.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let teacher = rdr
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[col("role")] == "teacher")
        .unwrap();
    assert_eq!(&teacher[col("revision")], "trained-elsewhere");
    assert_eq!(&teacher[col("scored_revision")], built);
    assert!(!header.iter().any(|h| h == "ctc_impl"), "{header:?}");
    // One device option, checked before anything runs: a CPU build refuses CUDA and says how
    // to get a build that has it.
    if !ctc_core::device::has_cuda() {
        let bad = bin()
            .args(["--device", "cuda", "run", "toy-oracle", "--quick", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(!bad.status.success());
        let msg = String::from_utf8_lossy(&bad.stderr);
        assert!(
            msg.contains("device \"cuda\": this build has no CUDA backend"),
            "{msg}"
        );
        assert!(msg.contains("--features cuda"), "{msg}");
    }

    ok(bin()
        .args(["run", "str-oracle", "--quick", "--no-progress", "--out"])
        .arg(out));
    let st = check_run(out, "str-oracle");

    let table = ok(bin()
        .arg("compare")
        .arg(asr.join("results.csv"))
        .arg(st.join("results.csv")));
    assert!(
        table.contains("## asr") && table.contains("## str"),
        "{table}"
    );

    // eval on a manifest of the generated test audio, written as WAV files at 8 kHz.
    let model = asr.join("seed-0/student-none-ctc/model");
    let wav_dir = out.join("wavs");
    std::fs::create_dir_all(&wav_dir).unwrap();
    let tone: Vec<f32> = (0..8000 * 2)
        .map(|i| (i as f32 * 0.3).sin() * 0.3)
        .collect();
    asr::audio::write_wav(&wav_dir.join("a.wav"), &tone, 8000).unwrap();
    std::fs::write(wav_dir.join("m.tsv"), "a.wav\thello world\n").unwrap();
    let csv = out.join("scores.csv");
    let text = ok(bin()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--manifest")
        .arg(wav_dir.join("m.tsv"))
        .arg("--csv")
        .arg(&csv));
    assert!(text.contains("WER"), "{text}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 2);
    let text = ok(bin()
        .args(["transcribe", "--beam", "4", "--model"])
        .arg(&model)
        .arg(wav_dir.join("a.wav")));
    assert!(text.contains("a.wav\t"), "{text}");

    // A missing manifest line's file is an error naming it.
    std::fs::write(wav_dir.join("bad.tsv"), "missing.wav\thello\n").unwrap();
    let bad = bin()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--manifest")
        .arg(wav_dir.join("bad.tsv"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing.wav"));

    let img = out.join("w.png");
    image::GrayImage::from_fn(64, 32, |x, _| {
        image::Luma([if x % 9 < 3 { 0 } else { 255 }])
    })
    .save(&img)
    .unwrap();
    let text = ok(bin()
        .args(["recognize", "--model"])
        .arg(st.join("seed-0/teacher/model"))
        .arg(&img));
    assert!(text.contains("w.png\t"), "{text}");

    // eval of word images with --skip-bad: a bad entry is skipped, counted and reported.
    std::fs::write(out.join("images.tsv"), "w.png\tabc\nnot-there.png\tabc\n").unwrap();
    let text = ok(bin()
        .args(["eval", "--skip-bad", "--model"])
        .arg(st.join("seed-0/teacher/model"))
        .arg("--manifest")
        .arg(out.join("images.tsv")));
    assert!(text.contains("skipped 1 of 2 entries"), "{text}");
    assert!(text.contains("over 1 images of 2 (1 skipped)"), "{text}");
}

/// The anti-copy ablation: `--anti-copy all --kd none` trains one oracle per strategy (the
/// preset's in `oracle/`, the others in `oracle-<name>/`) and no students.
#[test]
fn anti_copy_ablation_trains_one_oracle_per_strategy() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let args = [
        "run",
        "toy-oracle",
        "--quick",
        "--no-progress",
        "--kd",
        "none",
    ];
    ok(bin()
        .args(args)
        .args(["--anti-copy", "all", "--out"])
        .arg(out));
    let dir = run_dir(out, "toy-oracle");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let strategies: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains(",oracle,oracle,"))
        .map(|l| l.split(',').nth(6).unwrap())
        .collect();
    assert_eq!(
        strategies,
        [
            "no-label-position",
            "structural",
            "random-expansion",
            "label-masking",
            "other-labels",
            "token-substitution",
            "label-context"
        ],
        "{csv}"
    );
    assert!(!csv.contains(",student,"), "{csv}");
    for s in &strategies[1..] {
        assert!(dir.join(format!("seed-0/oracle-{s}/DONE")).is_file(), "{s}");
    }
    // Every oracle row carries its label-use diagnostics, every teacher row its posterior
    // statistics.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(!cells[col("blank_fraction")].is_empty(), "{line}");
        if cells[3] == "oracle" {
            for c in [
                "label_use",
                "source_use",
                "error_shuffled_labels",
                "spike_offset_rel",
            ] {
                assert!(!cells[col(c)].is_empty(), "{c}: {line}");
            }
        }
    }
    let bad = bin()
        .args(args)
        .args(["--anti-copy", "copy-nothing", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("copy-nothing"));
}

#[test]
fn online_students_and_results_merged_across_invocations() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let base = ["run", "toy-oracle", "--quick", "--no-progress", "--kd"];
    let log = ok(bin()
        .args(base)
        .args(["frame-kd,sequence-kd", "--online", "--out"])
        .arg(out));
    assert!(
        log.contains(
            "online: skipped 1 KD method(s) that need a fixed teacher's hypotheses: sequence-kd"
        ),
        "{log}"
    );
    let dir = run_dir(out, "toy-oracle");
    let read = || std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let csv = read();
    for t in ["conventional", "oracle"] {
        assert!(
            csv.contains(&format!(",student,{t},frame-kd+online,")),
            "{csv}"
        );
        assert!(dir
            .join(format!("seed-0/student-{t}-frame-kd-online/DONE"))
            .is_file());
    }
    assert!(!csv.contains("sequence-kd+online"), "{csv}");
    // A later invocation that trains nothing new keeps every earlier row.
    ok(bin().args(base).args(["none", "--out"]).arg(out));
    assert_eq!(read(), csv);
}

#[test]
fn conformer_teachers_oracles_and_students_on_both_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    for preset in ["asr-oracle", "str-oracle"] {
        let mut cmd = bin();
        cmd.args([
            "run",
            preset,
            "--quick",
            "--no-progress",
            "--kd",
            "frame-kd",
        ]);
        // A few steps each: this checks that every stage builds, trains, exports and scores.
        for role in ["teacher", "oracle", "student"] {
            cmd.args(["--set", &format!("{role}.encoder.kind=conformer")]);
            cmd.args(["--set", &format!("{role}.train.steps=6")]);
            cmd.args(["--set", &format!("{role}.train.eval_every=3")]);
        }
        ok(cmd
            .args(["--set", "student.encoder.conv_kernel=5", "--out"])
            .arg(out));
        let dir = run_dir(out, preset);
        let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
        // Header + teacher + oracle + a frame-KD student from each.
        assert_eq!(csv.lines().count(), 5, "{preset}: {csv}");
        for stage in ["teacher", "oracle", "student-oracle-frame-kd"] {
            let meta =
                std::fs::read_to_string(dir.join(format!("seed-0/{stage}/model/config.json")))
                    .unwrap();
            assert!(meta.contains("conformer"), "{preset} {stage}: {meta}");
        }
        let student = std::fs::read_to_string(
            dir.join("seed-0/student-conventional-frame-kd/model/config.json"),
        )
        .unwrap();
        assert!(
            student.contains("\"conv_kernel\": 5"),
            "{preset}: {student}"
        );
    }
}

#[test]
fn self_distillation_joint_ensemble_and_born_again_stages_run_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let args = [
        "run",
        "toy-oracle",
        "--quick",
        "--no-progress",
        "--kd",
        "ctc,frame-kd,self-kd,em",
        "--set",
        "student.encoder.layers=2",
        "--set",
        "ensemble.members=2",
        "--set",
        "ensemble.combine=aligned",
        "--set",
        "born_again.generations=2",
        "--out",
    ];
    let log = ok(bin().args(args).arg(out));
    assert!(log.contains("[ensemble] 2 members"), "{log}");
    let dir = run_dir(out, "toy-oracle");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    for row in [
        ",teacher,member-2,ctc,",
        ",teacher,ensemble,ctc,",
        ",student,none,self-kd,",
        ",student,joint,em,",
        ",student,ensemble,frame-kd,",
        ",student,conventional,born-again-1,",
        ",student,born-again-1,born-again-2,",
    ] {
        assert!(csv.contains(row), "{row} missing:\n{csv}");
    }
    // Teacher, member, ensemble, oracle, 5 students (ctc, self-kd, frame-kd x 2, em), the
    // ensemble's frame-kd student, 2 generations, and the header.
    assert_eq!(csv.lines().count(), 13, "{csv}");
    // Every row names the CPU and kernel paths that trained its model.
    let mut rdr = csv::Reader::from_path(dir.join("results.csv")).unwrap();
    let at = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "cpu")
        .unwrap();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        assert!(rec[at].contains("; GEMM "), "{rec:?}");
    }
    // The aligned combination also reports the agreement after re-timing.
    let agreement: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("seed-0/ensemble/agreement.json")).unwrap(),
    )
    .unwrap();
    assert!(
        agreement["after_retiming"]["label_frames"].is_f64(),
        "{agreement}"
    );
    assert!(
        log.contains("after re-timing onto the first member"),
        "{log}"
    );
    // The born-again generations are the teacher's size, the joint student the student's.
    let params = |teacher: &str, kd: &str| -> u64 {
        let line = csv
            .lines()
            .find(|l| l.contains(&format!(",student,{teacher},{kd},")))
            .unwrap();
        line.split(',').nth(7).unwrap().parse().unwrap()
    };
    let teacher_params: u64 = csv
        .lines()
        .find(|l| l.contains(",teacher,conventional,ctc,"))
        .unwrap()
        .split(',')
        .nth(7)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(params("conventional", "born-again-1"), teacher_params);
    assert_eq!(params("joint", "em"), params("none", "ctc"));
    // A second invocation restores every stage and writes the same rows.
    let again = ok(bin().args(args).arg(out));
    assert!(!again.contains("step 10 loss"), "{again}");
    let csv2 = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                let mut c: Vec<&str> = l.split(',').collect();
                c[9] = "";
                c.join(",")
            })
            .collect()
    };
    assert_eq!(strip(&csv2), strip(&csv));
}
