#!/usr/bin/env python3
"""The cross-domain table from cross_domain.sh's CSVs: per training run and model, the mean test
CER over seeds (95 % t half-width) on each test set.
    python3 docs/real-speech/cross_domain.py OUT_DIR SYNTH_RUN_NAME REAL_RUN_NAME [AUG_RUN_NAME] > table.md
AUG_RUN_NAME: a synthetic run with `[data.augment]`; its rows follow, then the paired difference
(augmented minus clean, same seed) of each model both runs have."""
import csv
import math
import statistics
import sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
MODELS = [("teacher", "-", "ctc", "conventional teacher"),
          ("student", "none", "ctc", "student, CTC only"),
          ("student", "conventional", "frame-kd", "student, frame-KD from the conventional teacher"),
          ("student", "conventional", "guided-ctc", "student, Guided CTC from the conventional teacher"),
          ("student", "oracle", "frame-kd", "student, frame-KD from the oracle"),
          ("student", "oracle", "guided-ctc", "student, Guided CTC from the oracle")]


def scores(path, model):
    """Test CER by seed of one model in an eval CSV (empty when the file or model is absent)."""
    try:
        rows = list(csv.DictReader(open(path)))
    except FileNotFoundError:
        return {}
    return {int(r["seed"]): float(r["test_cer"]) for r in rows
            if (r["role"], r["teacher"], r["kd"]) == model[:3]}


def mean_hw(xs):
    return statistics.fmean(xs), T975.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def cell(path, model):
    xs = list(scores(path, model).values())
    if not xs:
        return "-"
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return f"{m:.2f} (1 seed)"
    m, h = mean_hw(xs)
    return f"{m:.2f} +- {h:.2f} ({len(xs)} seeds)"


def main():
    out, synth, real = sys.argv[1:4]
    aug = sys.argv[4] if len(sys.argv) > 4 else None
    tests = [("synth-test-3000", "synthetic test (300 utterances, unseen voices)"),
             ("drascula", "recorded test (89 lines, unseen characters)")]
    print("| trained on | model | " + " | ".join(t[1] for t in tests) + " |")
    print("|---|---|" + "---|" * len(tests))
    runs = [(synth, "synthetic (espeak-ng)"), (real, "recorded (Drascula)")]
    if aug:
        runs.append((aug, "synthetic, augmented"))
    for run, label in runs:
        for model in MODELS:
            cells = [cell(f"{out}/{run}-on-{t}.csv", model) for t, _ in tests]
            if run == aug and cells == ["-"] * len(tests):
                continue
            print(f"| {label} | {model[3]} | " + " | ".join(cells) + " |")
    if not aug:
        return
    print("\nAugmented minus clean synthetic training, paired by seed (CER points; 95 % t interval):\n")
    print("| model | " + " | ".join(t[1] for t in tests) + " |")
    print("|---|" + "---|" * len(tests))
    for model in MODELS:
        cells = []
        for t, _ in tests:
            a, c = scores(f"{out}/{aug}-on-{t}.csv", model), scores(f"{out}/{synth}-on-{t}.csv", model)
            d = [a[k] - c[k] for k in sorted(a) if k in c]
            if len(d) < 2:
                cells.append("-")
                continue
            m, h = mean_hw(d)
            cells.append(f"{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}] ({len(d)} seeds; "
                         + ", ".join(f"{x:+.2f}" for x in d) + ")")
        if cells != ["-"] * len(tests):
            print(f"| {model[3]} | " + " | ".join(cells) + " |")


main()
