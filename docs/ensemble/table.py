"""Tables of the ensemble runs (docs/ensemble/README.md) from their run directories.

    python3 docs/ensemble/table.py classify RUN_DIR
    python3 docs/ensemble/table.py asr RUN_DIR [RUN_DIR ...]   # one per `ensemble.combine`

classify: Hinton et al. (2015) table 1 on Fashion-MNIST: one net (the mean of the members, each
of them a single net of the same architecture and budget), the ensemble, the same net distilled
from the ensemble; the share of the ensemble's gain the distilled net keeps; paired differences
over seeds with 95 % t intervals.

asr: per combination (the run directory's `[ensemble] combine`), the members, the ensemble, and
each KD method's student from the one conventional teacher and from the ensemble, on all the
training utterances and on 3 % of them; paired differences over seeds with 95 % t intervals.
Errors are test CER (speech) or test error, 100 - accuracy (classify), in %.
"""
import csv, json, os, statistics, sys, tomllib

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def load(run):
    with open(os.path.join(run, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    rows = list(csv.DictReader(open(os.path.join(run, "results.csv"), newline="")))
    return cfg, rows


def error(task, r):
    return 100.0 - float(r["word_acc"]) if task == "classify" else float(r["test_cer"])


def by_seed(task, rows, role, teacher, kd, col=None):
    sel = [r for r in rows if r["role"] == role and r["teacher"] == teacher and r["kd"] == kd]
    if not sel:
        sys.exit(f"no rows for role {role}, teacher {teacher}, kd {kd}")
    get = (lambda r: error(task, r)) if col is None else (lambda r: float(r[col]) if r[col] else None)
    return {int(r["seed"]): get(r) for r in sel}


def ms(d):
    v = [x for x in d.values() if x is not None]
    if not v:
        return "-"
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"


def paired(a, b):
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    m = statistics.mean(d)
    h = T975[len(d) - 1] * statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    return f"{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}] (per seed " + ", ".join(f"{x:+.2f}" for x in d) + ")"


def members(rows):
    return sorted({r["teacher"] for r in rows if r["role"] == "teacher" and r["teacher"].startswith("member-")})


def classify(run):
    cfg, rows = load(run)
    task = "classify"
    kds = sorted({r["kd"] for r in rows if r["role"] == "student"})
    kd = kds[0] if len(kds) == 1 else sys.exit(f"{run}: expected students of one KD method, got {kds}")
    names = ["conventional"] + members(rows)
    singles = [by_seed(task, rows, "teacher", t, "ctc") for t in names]
    seeds = sorted(singles[0])
    base = {s: statistics.mean(m[s] for m in singles) for s in seeds}
    ens = by_seed(task, rows, "teacher", "ensemble", "ctc")
    dist = by_seed(task, rows, "student", "ensemble", kd)
    from_one = by_seed(task, rows, "student", "conventional", kd)
    dev = lambda t, role, k: ms(by_seed(task, rows, role, t, k, "dev_cer"))
    k = len(names)
    print(f"seeds {seeds}; {k} members; KD {kd}; combine {cfg['ensemble'].get('combine', 'mean')}\n")
    print("| system | Hinton et al. (speech, test frame accuracy %) | ours (Fashion-MNIST, test error %) | dev error % |")
    print("|---|---|---|---|")
    print(f"| baseline: one net (mean of the {k} members' errors) | 58.9 | {ms(base)} | - |")
    for t, m in zip(names, singles):
        print(f"| &nbsp;&nbsp;member {t} | - | {ms(m)} | {dev(t, 'teacher', 'ctc')} |")
    print(f"| {k}-net ensemble (Hinton: 10 nets) | 61.1 | {ms(ens)} | {dev('ensemble', 'teacher', 'ctc')} |")
    print(f"| distilled single net, from the ensemble | 60.8 | {ms(dist)} | {dev('ensemble', 'student', kd)} |")
    print(f"| the same net distilled from one member (the conventional teacher) | - | {ms(from_one)} | "
          f"{dev('conventional', 'student', kd)} |")
    gain = statistics.mean(base[s] - ens[s] for s in seeds)
    kept = statistics.mean(base[s] - dist[s] for s in seeds)
    print(f"\nThe ensemble's gain over one net: {gain:.2f} points of test error; the distilled net "
          f"keeps {kept:.2f} of it ({100 * kept / gain:.0f} %) (Hinton et al.: (60.8 - 58.9) / "
          f"(61.1 - 58.9) = 86 %).\n")
    print("Paired over seeds (test error, A - B, 95 % t interval):\n")
    print(f"- ensemble - one net: {paired(ens, base)}")
    print(f"- distilled from the ensemble - one net: {paired(dist, base)}")
    print(f"- distilled from the ensemble - the ensemble: {paired(dist, ens)}")
    print(f"- distilled from the ensemble - distilled from one member: {paired(dist, from_one)}")


def asr(runs):
    task = "asr"
    for run in runs:
        cfg, rows = load(run)
        combine = cfg["ensemble"].get("combine", "mean")
        names = ["conventional"] + members(rows)
        singles = [by_seed(task, rows, "teacher", t, "ctc") for t in names]
        seeds = sorted(singles[0])
        base = {s: statistics.mean(m[s] for m in singles) for s in seeds}
        ens = by_seed(task, rows, "teacher", "ensemble", "ctc")
        agreement = []
        for s in seeds:
            p = os.path.join(run, f"seed-{s}", "ensemble", "agreement.json")
            if os.path.exists(p):
                agreement.append(json.load(open(p)))
        print(f"## {os.path.basename(run.rstrip('/'))}: combine = {combine}, seeds {seeds}\n")
        if agreement:
            print("Members' agreement on the diagnostics' training examples (mean over seeds): every "
                  f"argmax the same on {100 * statistics.mean(a['all_frames'] for a in agreement):.1f} % "
                  f"of frames, and on {100 * statistics.mean(a['label_frames'] for a in agreement):.1f} % "
                  "of the frames where one of them spikes"
                  + (f"; after re-timing onto the first member "
                     f"{100 * statistics.mean(a['after_retiming']['all_frames'] for a in agreement):.1f} % and "
                     f"{100 * statistics.mean(a['after_retiming']['label_frames'] for a in agreement):.1f} %"
                     if all(a.get("after_retiming") for a in agreement) else "")
                  + ".\n")
        print("| model | test CER % | dev CER % | train CER % (its own training utterances) |")
        print("|---|---|---|---|")
        print(f"| one teacher (mean of the {len(names)} members) | {ms(base)} | - | - |")
        for t, m in zip(names, singles):
            print(f"| &nbsp;&nbsp;member {t} | {ms(m)} | {ms(by_seed(task, rows, 'teacher', t, 'ctc', 'dev_cer'))} | - |")
        print(f"| ensemble ({combine}) | {ms(ens)} | {ms(by_seed(task, rows, 'teacher', 'ensemble', 'ctc', 'dev_cer'))} | - |")
        kds = [k for k in cfg["kd"] if any(r["kd"] == k for r in rows)]
        for k in kds:
            for t in ("none", "conventional", "ensemble"):
                if not any(r["role"] == "student" and r["teacher"] == t and r["kd"] == k for r in rows):
                    continue
                who = {"none": "no teacher", "conventional": "one teacher", "ensemble": "the ensemble"}[t]
                print(f"| student {k}, from {who} | {ms(by_seed(task, rows, 'student', t, k))} | "
                      f"{ms(by_seed(task, rows, 'student', t, k, 'dev_cer'))} | "
                      f"{ms(by_seed(task, rows, 'student', t, k, 'train_error'))} |")
        print("\nPaired over seeds (test CER, A - B, 95 % t interval):\n")
        print(f"- ensemble - one teacher (mean of members): {paired(ens, base)}")
        print(f"- ensemble - conventional teacher: {paired(ens, singles[0])}")
        for k in kds:
            has = lambda t: any(r["role"] == "student" and r["teacher"] == t and r["kd"] == k for r in rows)
            if has("ensemble") and has("conventional"):
                print(f"- {k}: from the ensemble - from one teacher: "
                      f"{paired(by_seed(task, rows, 'student', 'ensemble', k), by_seed(task, rows, 'student', 'conventional', k))}")
        hard = {k: by_seed(task, rows, "student", "none", k) for k in kds
                if any(r["role"] == "student" and r["teacher"] == "none" and r["kd"] == k for r in rows)}
        for k in kds:
            if k.endswith("-3pct") and k.startswith("frame-kd") and "ctc-3pct" in hard:
                for t in ("conventional", "ensemble"):
                    print(f"- {k} from {t} - ctc-3pct: {paired(by_seed(task, rows, 'student', t, k), hard['ctc-3pct'])}")
                if "ctc" in hard:
                    soft = by_seed(task, rows, "student", "conventional", k)
                    gap = statistics.mean(hard["ctc-3pct"][s] - hard["ctc"][s] for s in seeds)
                    rec = statistics.mean(hard["ctc-3pct"][s] - soft[s] for s in seeds)
                    print(f"- the 3 % student's excess test CER over the all-data CTC student: {gap:.2f}; "
                          f"soft targets from one teacher ({k}) recover {100 * rec / gap:.0f} % of it "
                          "(Hinton et al.: 87 %)")
        print()


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("classify", "asr"):
        sys.exit(__doc__)
    classify(sys.argv[2]) if sys.argv[1] == "classify" else asr(sys.argv[2:])
