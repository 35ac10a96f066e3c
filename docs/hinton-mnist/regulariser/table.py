"""The soft-targets-as-a-regulariser table (Hinton et al. 2015, section 5, their table on 3 % of
the speech training data) from a results.csv of `docs/hinton-mnist/regulariser/run.sh`: per
model the error on its own training images and on the 10,000 test images (mean ± std over
seeds), the temperature of the distilled net chosen on dev (lowest mean dev error), and the
paired difference of the distilled net against hard labels on the same 3 % with a 95 % t
interval over seeds.

    python3 docs/hinton-mnist/regulariser/table.py docs/hinton-mnist/regulariser/results.csv
"""
import csv, statistics, sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}

def rows_of(rows, role, kd):
    sel = sorted((r for r in rows if r["role"] == role and r["kd"] == kd), key=lambda r: int(r["seed"]))
    if not sel:
        sys.exit(f"no rows for {role} {kd}")
    return sel

def test_error(r):
    return 100.0 - float(r["word_acc"])

def ms(v):
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

def main(path):
    rows = list(csv.DictReader(open(path, newline="")))
    seeds = sorted({int(r["seed"]) for r in rows})
    taus = [kd for kd in ("hinton-t1-3pct", "hinton-t2-3pct", "hinton-t5-3pct")
            if any(r["kd"] == kd for r in rows)]
    dev = {kd: statistics.mean(float(r["dev_cer"]) for r in rows_of(rows, "student", kd)) for kd in taus}
    chosen = min(taus, key=lambda k: dev[k])
    print(f"seeds {seeds}; dev error of the distilled nets: "
          + ", ".join(f"{k} {dev[k]:.2f}" for k in taus) + f"; chosen on dev: {chosen}\n")
    table = [
        ("large net, all training images (the soft targets' source)", "teacher", "ctc", "-", "-"),
        ("small net, all training images, hard labels", "student", "ctc-100pct", "63.4", "58.9"),
        ("small net, 3 %, hard labels", "student", "ctc-3pct", "67.3", "44.5"),
    ] + [(f"small net, 3 %, soft targets, {k.split('-')[1].replace('t', 'T = ')}"
          + (" (chosen on dev)" if k == chosen else ""), "student", k, "65.4" if k == chosen else "-",
          "57.0" if k == chosen else "-") for k in taus]
    print("| model | Hinton et al. (speech, frame accuracy %): train | test | ours (Fashion-MNIST, error %): "
          "train (its own training images) | test | dev |")
    print("|---|---|---|---|---|---|")
    for label, role, kd, p_train, p_test in table:
        sel = rows_of(rows, role, kd)
        tr = [float(r["train_error"]) for r in sel if r["train_error"]]
        te = [test_error(r) for r in sel]
        dv = [float(r["dev_cer"]) for r in sel]
        print(f"| {label} | {p_train} | {p_test} | {ms(tr) if tr else '-'} | {ms(te)} | {ms(dv)} |")
    base = {int(r["seed"]): test_error(r) for r in rows_of(rows, "student", "ctc-3pct")}
    full = {int(r["seed"]): test_error(r) for r in rows_of(rows, "student", "ctc-100pct")}
    print("\nPaired over seeds (test error, A - B, 95 % t interval):\n")
    for kd in taus:
        d = [test_error(r) - base[int(r["seed"])] for r in rows_of(rows, "student", kd)]
        m = statistics.mean(d)
        h = T975[len(d) - 1] * statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
        print(f"- {kd} - ctc-3pct: {m:+.2f} [{m - h:+.2f}, {m + h:+.2f}] (per seed "
              + ", ".join(f"{x:+.2f}" for x in d) + ")")
    gap = [base[s] - full[s] for s in sorted(base)]
    kept = [base[int(r["seed"])] - test_error(r) for r in rows_of(rows, "student", chosen)]
    print(f"- the 3 % net's excess test error over the all-images net: {statistics.mean(gap):.2f}; "
          f"soft targets ({chosen}) recover {100 * statistics.mean(kept) / statistics.mean(gap):.0f} % of it "
          f"(Hinton et al.: (57.0 - 44.5) / (58.9 - 44.5) = 87 %)")

if __name__ == "__main__":
    main(sys.argv[1])
