#!/usr/bin/env python3
"""The cross-domain table from cross_domain.sh's CSVs: per training run and model, the mean test
CER over seeds (95 % t half-width) on each test set.
    python3 docs/real-speech/cross_domain.py OUT_DIR SYNTH_RUN_NAME REAL_RUN_NAME > table.md"""
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


def cell(path, model):
    try:
        rows = list(csv.DictReader(open(path)))
    except FileNotFoundError:
        return "-"
    xs = [float(r["test_cer"]) for r in rows if (r["role"], r["teacher"], r["kd"]) == model[:3]]
    if not xs:
        return "-"
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return f"{m:.2f} (1 seed)"
    h = T975.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))
    return f"{m:.2f} +- {h:.2f} ({len(xs)} seeds)"


def main():
    out, synth, real = sys.argv[1:4]
    tests = [("synth-test-3000", "synthetic test (300 utterances, unseen voices)"),
             ("drascula", "recorded test (89 lines, unseen characters)")]
    print("| trained on | model | " + " | ".join(t[1] for t in tests) + " |")
    print("|---|---|" + "---|" * len(tests))
    for run, label in [(synth, "synthetic (espeak-ng)"), (real, "recorded (Drascula)")]:
        for model in MODELS:
            cells = [cell(f"{out}/{run}-on-{t}.csv", model) for t, _ in tests]
            print(f"| {label} | {model[3]} | " + " | ".join(cells) + " |")


main()
