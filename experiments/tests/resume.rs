//! Kill and resume end to end: `experiments run` killed (SIGKILL) while a teacher trains and
//! again while a student trains, then rerun with the same command, ends with the results of an
//! uninterrupted run, bit for bit; Ctrl-C (SIGINT) stops at a step boundary with a checkpoint;
//! a second run on a directory in use is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;

use common::{bin, ok, run_dir};

/// Wall-clock columns: the only ones an interrupted run may differ in (its training time is
/// measured across invocations).
const TIMING_COLUMNS: &[&str] = &["train_seconds"];

/// The toy preset at smoke scale, one KD method (so: teacher, oracle, and a student from each),
/// with a checkpoint every 2 steps so a kill always finds one.
fn args(out: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        "toy-oracle",
        "--quick",
        "--no-progress",
        "--kd",
        "frame-kd",
    ]
    .map(String::from)
    .to_vec();
    for stage in ["teacher", "oracle", "student"] {
        a.push("--set".into());
        a.push(format!("{stage}.train.checkpoint_every=2"));
    }
    a.push("--out".into());
    a.push(out.display().to_string());
    a
}

fn spawn(out: &Path) -> Child {
    bin()
        .args(args(out))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("experiments starts")
}

/// Poll until `stage` (under seed-0) has a complete checkpoint in `train` and is not done;
/// panics if the child exits first or nothing appears within two minutes.
fn wait_for_checkpoint(child: &mut Child, out: &Path, stage: &str, train: &str) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before {stage}/{train} had a checkpoint");
        }
        if let Some(dir) = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("toy-oracle-")
            })
        {
            let st = dir.join("seed-0").join(stage);
            if st.join(train).join("last/COMPLETE").is_file() {
                return st;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint of {stage} appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The step of the checkpoint in `stage_dir/train/last` (or of the previous one, kept as
/// `.last.old`, if the kill fell between the two renames of a save).
fn checkpoint_step(stage_dir: &Path, train: &str) -> u64 {
    let t = stage_dir.join(train);
    let ck = ["last", ".last.old"]
        .map(|d| t.join(d))
        .into_iter()
        .find(|d| d.join("COMPLETE").is_file())
        .expect("a complete checkpoint");
    let text = std::fs::read_to_string(ck.join("state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["train"]["step"].as_u64().unwrap()
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// results.csv as (header, rows) without the timing columns.
fn results(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rdr = csv::Reader::from_path(dir.join("results.csv")).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    for c in TIMING_COLUMNS {
        assert!(header.iter().any(|h| h == c), "no column {c}");
    }
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !TIMING_COLUMNS.contains(&header[i].as_str()))
        .collect();
    let rows = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            keep.iter().map(|&i| r[i].to_string()).collect()
        })
        .collect();
    (keep.iter().map(|&i| header[i].clone()).collect(), rows)
}

/// The uninterrupted run, shared by the tests of this file.
fn baseline() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("resume-baseline");
        let _ = std::fs::remove_dir_all(&out);
        ok(bin().args(args(&out)));
        run_dir(&out, "toy-oracle")
    })
}

#[test]
fn killed_twice_then_resumed_equals_the_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();

    // 1. Killed while the conventional teacher trains.
    let mut child = spawn(out);
    let teacher = wait_for_checkpoint(&mut child, out, "teacher", "train");
    // Meanwhile a second run on the same directory is refused at once, naming it and the pid.
    let second = Command::new(env!("CARGO_BIN_EXE_experiments"))
        .args(args(out))
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{msg}");
    assert!(
        msg.contains(&format!(
            "{} is in use",
            run_dir(out, "toy-oracle").display()
        )),
        "{msg}"
    );
    assert!(msg.contains(&format!("(pid {})", child.id())), "{msg}");
    kill(child);
    assert!(
        !teacher.join("DONE").exists(),
        "the teacher finished before the kill"
    );
    let killed_at = checkpoint_step(&teacher, "train");

    // 2. Resumed, and killed while the first student trains (the teachers are done by then).
    let mut child = spawn(out);
    let student = wait_for_checkpoint(
        &mut child,
        out,
        "student-conventional-frame-kd",
        "train-stage1",
    );
    kill(child);
    assert!(
        !student.join("DONE").exists(),
        "the student finished before the kill"
    );
    let dir = run_dir(out, "toy-oracle");
    for s in ["teacher", "oracle"] {
        assert!(dir.join("seed-0").join(s).join("DONE").is_file(), "{s}");
    }
    let log = std::fs::read_to_string(teacher.join("train/log.txt")).unwrap();
    assert!(
        log.contains(&format!("resumed at step {killed_at}")),
        "{log}"
    );
    let killed_at = checkpoint_step(&student, "train-stage1");

    // 3. Resumed to the end. The lock left by the killed run does not block.
    ok(bin().args(args(out)));
    let log = std::fs::read_to_string(student.join("train-stage1/log.txt")).unwrap();
    assert!(
        log.contains(&format!("resumed at step {killed_at}")),
        "{log}"
    );
    let (ha, ra) = results(baseline());
    let (hb, rb) = results(&dir);
    assert_eq!(ha, hb);
    assert_eq!(ra.len(), 4, "{ra:?}");
    assert_eq!(
        ra, rb,
        "an interrupted run's results differ from the uninterrupted run's"
    );
}

#[test]
fn ctrl_c_stops_at_a_step_boundary_with_a_checkpoint_and_the_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let mut child = spawn(out);
    let oracle = wait_for_checkpoint(&mut child, out, "oracle", "train");
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "{err}");
    let step = checkpoint_step(&oracle, "train");
    assert!(
        err.contains(&format!(
            "oracle: interrupted at step {step}; rerun the same command to resume"
        )),
        "{err}"
    );
    assert!(!oracle.join("DONE").exists());
    ok(bin().args(args(out)));
    let log = std::fs::read_to_string(oracle.join("train/log.txt")).unwrap();
    assert!(log.contains(&format!("resumed at step {step}")), "{log}");
    assert_eq!(results(baseline()), results(&run_dir(out, "toy-oracle")));
}

/// Copy a finished run directory (files only, recursively) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn fails(out: &Path) -> String {
    let o = bin().args(args(out)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "the run succeeded:\n{err}");
    err
}

#[test]
fn a_finished_stage_with_a_foreign_damaged_or_missing_model_or_cache_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let base = baseline();
    let dir = out.join(base.file_name().unwrap());
    copy_dir(base, &dir);
    let seed = dir.join("seed-0");

    // The teacher's exported config differs from what this run would export.
    let cfg = seed.join("teacher/model/config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    let heads = meta["encoder"]["heads"].as_u64().unwrap();
    meta["encoder"]["heads"] = (heads * 2).into();
    std::fs::write(&cfg, meta.to_string()).unwrap();
    let err = fails(out);
    assert!(
        err.contains(&format!(
            "{}: the exported model is not this run's (encoder.heads: {} in the file, {heads} here)",
            cfg.display(),
            heads * 2
        )),
        "{err}"
    );
    assert!(err.contains("teacher/DONE to train it again"), "{err}");
    std::fs::write(&cfg, &text).unwrap();

    // Its weights are missing: an error, never a fresh teacher.
    let w = seed.join("teacher/model/model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::remove_file(&w).unwrap();
    let err = fails(out);
    assert!(err.contains("model.safetensors: missing"), "{err}");
    // Truncated.
    std::fs::write(&w, &bytes[..bytes.len() - 100]).unwrap();
    let err = fails(out);
    assert!(err.contains("model.safetensors: corrupt"), "{err}");
    std::fs::write(&w, &bytes).unwrap();

    // A student to redo (its checkpoint is complete, so it only needs its teacher's cache),
    // and that cache damaged: an error naming it.
    std::fs::remove_file(seed.join("student-conventional-frame-kd/DONE")).unwrap();
    let cache = seed.join("cache/conventional.safetensors");
    let good_cache = std::fs::read(&cache).unwrap();
    std::fs::write(&cache, b"garbage").unwrap();
    let err = fails(out);
    assert!(
        err.contains(&format!("{}: unreadable teacher cache", cache.display())),
        "{err}"
    );
    // A cache of other teacher weights (here: with another key) is recomputed, with a message,
    // and the run ends as the uninterrupted one did.
    std::fs::write(&cache, &good_cache).unwrap();
    let (c, _) = student::cache::TeacherOutputs::load(&cache).unwrap();
    c.save(&cache, 12345).unwrap();
    let log = ok(bin().args(args(out)));
    assert!(
        log.contains(&format!(
            "{}: made from other teacher weights",
            cache.display()
        )),
        "{log}"
    );
    assert_eq!(results(base), results(&dir));
}
