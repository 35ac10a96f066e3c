"""The README's hinton-mnist table from a results.csv of the preset (every seed in the file).

    python3 docs/hinton-mnist/table.py docs/hinton-mnist/results.csv
"""
import csv, statistics, sys

ROWS = [  # (label, role, kd, the paper's MNIST figure)
    ("large net (2 x 1200, dropout 0.3)", "teacher", "ctc", "67"),
    ("small net (2 x 800), labels only", "student", "ctc", "146"),
    ("small net distilled, T = 1", "student", "hinton-t1", "-"),
    ("small net distilled, T = 2", "student", "hinton-t2", "-"),
    ("small net distilled, T = 5", "student", "hinton-t5", "-"),
    ("small net distilled, T = 10", "student", "hinton-t10", "-"),
    ("small net distilled, T = 20", "student", "hinton-t20", "74"),
    ("distilled, T = 20, class 3 omitted from the transfer set", "student", "hinton-t20-omit3",
     "206 (133 of 1,010 threes)"),
    ("the same, class-3 bias raised (shift chosen on dev)", "student", "hinton-t20-omit3+bias",
     "109 (14 of 1,010 threes)"),
]

def mean_std(v):
    m = statistics.mean(v)
    return f"{m:.1f} ± {statistics.stdev(v):.1f}" if len(v) > 1 else f"{m:.1f}"

def main(path):
    rows = list(csv.DictReader(open(path, newline="")))
    seeds = sorted({int(r["seed"]) for r in rows})
    print(f"| model | Hinton et al., MNIST: test errors of 10,000 | ours, Fashion-MNIST: test errors of "
          f"10,000, mean ± std | per seed ({', '.join(map(str, seeds))}) | omitted class: errors of its "
          f"test images, mean ± std | dev error (%) |")
    print("|---|---|---|---|---|---|")
    for label, role, kd, paper in ROWS:
        sel = sorted((r for r in rows if r["role"] == role and r["kd"] == kd), key=lambda r: int(r["seed"]))
        if not sel:
            sys.exit(f"{path}: no rows for {role} {kd}")
        errs = [int(r["test_errors"]) for r in sel]
        om = [int(r["omitted_errors"]) for r in sel if r["omitted_errors"]]
        omitted = f"{mean_std(om)} of {sel[0]['omitted_examples']}" if om else "-"
        dev = f"{statistics.mean(float(r['dev_cer']) for r in sel):.2f}"
        print(f"| {label} | {paper} | {mean_std(errs)} | {' / '.join(map(str, errs))} | {omitted} | {dev} |")

if __name__ == "__main__":
    main(sys.argv[1])
