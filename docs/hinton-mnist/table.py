"""The README's hinton-mnist table from a results.csv of the preset (every seed in the file),
then, with --summary, the figures of the "does the paper's pattern hold" paragraph (means over
seeds): the share of the large-small gap each temperature recovers and what the bias correction
repairs.

    python3 docs/hinton-mnist/table.py docs/hinton-mnist/results.csv [--summary]
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

def summary(path):
    rows = list(csv.DictReader(open(path, newline="")))
    m = lambda role, kd, col="test_errors": statistics.mean(
        float(r[col]) for r in rows if r["role"] == role and r["kd"] == kd)
    large, small = m("teacher", "ctc"), m("student", "ctc")
    gap = small - large
    print(f"seeds {sorted({int(r['seed']) for r in rows})}: large {large:.1f}, small {small:.1f}, gap {gap:.1f}")
    for t in [1, 2, 5, 10, 20]:
        e = m("student", f"hinton-t{t}")
        print(f"T = {t}: {e:.1f} errors, recovers {100 * (small - e) / gap:.0f} % of the gap")
    full, om, fixed = m("student", "hinton-t20"), m("student", "hinton-t20-omit3"), m("student", "hinton-t20-omit3+bias")
    om_c, fixed_c = m("student", "hinton-t20-omit3", "omitted_errors"), m("student", "hinton-t20-omit3+bias", "omitted_errors")
    print(f"omitted: {om:.1f} errors ({om_c:.1f} on the class) -> bias {fixed:.1f} ({fixed_c:.1f}); repairs "
          f"{100 * (om_c - fixed_c) / om_c:.0f} % of the class's errors and {100 * (om - fixed) / (om - full):.0f} % "
          f"of the excess over T = 20 on every class ({full:.1f})")

if __name__ == "__main__":
    main(sys.argv[1])
    if "--summary" in sys.argv[2:]:
        print()
        summary(sys.argv[1])
