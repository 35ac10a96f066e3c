"""Conformer against transformer teachers of one preset: dev error at each evaluated step, and
the dev error each reached within the other's training time (training seconds exclude
evaluation). Reads the stages' report.json files of two run directories.

    python3 docs/conformer/compare_teachers.py RUN_TRANSFORMER RUN_CONFORMER [--role teacher]
"""
import argparse, json, os

def curve(run, role):
    with open(os.path.join(run, "seed-0", role, "report.json")) as f:
        r = json.load(f)["train"][-1]
    return [(p["step"], p["seconds"], p["dev_error"]) for p in r["curve"]], r

def within(c, seconds):  # the last evaluation reached within `seconds` of training
    pts = [p for p in c if p[1] <= seconds + 1e-9]
    return pts[-1] if pts else None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("transformer")
    ap.add_argument("conformer")
    ap.add_argument("--role", default="teacher")
    a = ap.parse_args()
    (ct, rt), (cc, rc) = curve(a.transformer, a.role), curve(a.conformer, a.role)
    print(f"{a.role}: dev error (%, the training loop's dev metric: CER for speech, word error for "
          "word images) by step; training seconds in brackets")
    print("| step | transformer | conformer |")
    print("|---|---|---|")
    for (s, ts, te), (_, cs, ce) in zip(ct, cc):
        print(f"| {s} | {te:.2f} ({ts:.0f} s) | {ce:.2f} ({cs:.0f} s) |")
    t_end, c_end = ct[-1][1], cc[-1][1]
    cw, tw = within(cc, t_end), within(ct, c_end)
    print(f"\nsame wall time: within the transformer's {t_end:.0f} s the conformer reached step "
          f"{cw[0]} at dev {cw[2]:.2f} (transformer at its end: {ct[-1][2]:.2f})" if cw else
          f"\nthe conformer's first evaluation came after {t_end:.0f} s")
    print(f"steps/s: transformer {ct[-1][0] / t_end:.2f}, conformer {cc[-1][0] / c_end:.2f}; "
          f"best dev: transformer {rt['best_error']:.2f} at {rt['best_step']}, "
          f"conformer {rc['best_error']:.2f} at {rc['best_step']}")

if __name__ == "__main__":
    main()
