"""The strategy study's table, plot and the pre-registered choice (docs/strategies/README.md).

Reads the grid cells' run directories (one per anti-copy strategy): each cell's results.csv and
its oracle's report.json per seed (the diagnostics on the dev subset).

    python3 docs/strategies/summary.py RUN_DIR [RUN_DIR ...] --md table.md --svg use.svg \
        [--copy-to docs/strategies/<task>]

A directory without results.csv (a cell still training) is left out, and said so.
"""
import argparse, csv, json, math, os, statistics, tomllib

# Student-t 97.5 % quantiles by degrees of freedom.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
# The strategies' default parameters (oracle/src/anti_copy.rs): the study's cells.
DEFAULTS = {
    "random-expansion": {"max_repeat": 3, "blank_prob": 0.5, "eval_samples": 8},
    "label-masking": {"p": 0.3},
    "other-labels": {"p": 0.2},
    "token-substitution": {"p": 0.2},
}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def mean_ci(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, None
    return m, T975.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def fmt(m, h=None, d=2):
    if m is None:
        return "-"
    return f"{m:.{d}f}" if h is None else f"{m:+.{d}f} [{m - h:+.{d}f}, {m + h:+.{d}f}]"


def num(v):
    return float(v) if v not in (None, "") else None


def label(cfg):
    """The strategy's name, with its parameters where they are not the study's defaults
    (a probe: reported, never chosen by the rule)."""
    ac = dict(cfg["oracle"]["anti_copy"])
    kind = ac.pop("kind")
    ac = {k: v for k, v in ac.items() if DEFAULTS.get(kind, {}).get(k) != v}
    return (f"{kind} ({', '.join(f'{k}={v}' for k, v in sorted(ac.items()))})", True) if ac else (kind, False)


def cell(run):
    with open(os.path.join(run, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    rows = list(csv.DictReader(open(os.path.join(run, "results.csv"))))
    diags = {}
    for s in sorted(os.listdir(run)):
        rep = os.path.join(run, s, "oracle", "report.json")
        if s.startswith("seed-") and os.path.isfile(rep):
            diags[int(s[5:])] = json.load(open(rep))["extra"]
    return label(cfg), cfg["task"], rows, diags


def err(row, task):
    """The task's selection error on test: CER (speech), word error (word images)."""
    return num(row["test_cer"]) if task == "asr" else 100 - num(row["word_acc"])


def summarise(runs):
    out, conv = {}, {}
    for run in runs:
        (kind, probe), task, rows, diags = cell(run)
        by = lambda role, teacher, kd: {int(r["seed"]): r for r in rows
                                        if (r["role"], r["teacher"], r["kd"]) == (role, teacher, kd)}
        o = by("oracle", "oracle", "ctc")
        t = by("teacher", "conventional", "ctc")
        st = {kd: by("student", "oracle", kd) for kd in ("frame-kd", "guided-ctc")}
        cs = {kd: by("student", "conventional", kd) for kd in ("frame-kd", "guided-ctc")}
        conv = {"teacher": t, **{f"conv {k}": v for k, v in cs.items()}, "ctc": by("student", "none", "ctc")}
        seeds = sorted(o)
        lab = lambda s: (diags.get(s) or {}).get("labels") or {}
        out[kind] = {
            "task": task, "seeds": seeds, "probe": probe,
            "fed_test": [err(o[s], task) for s in seeds],
            "fed_test_cer": [num(o[s]["test_cer"]) for s in seeds],
            "teacher_test": [err(t[s], task) for s in seeds if s in t],
            "ratio": [err(o[s], task) / err(t[s], task) for s in seeds if s in t],
            "teacher_test_cer": [num(t[s]["test_cer"]) for s in seeds if s in t],
            "label_use_cer": [lab(s).get("label_use_cer") for s in seeds],
            "source_use_cer": [lab(s).get("source_use_cer") for s in seeds],
            "label_use": [lab(s).get("label_use") for s in seeds],
            "source_use": [lab(s).get("source_use") for s in seeds],
            "shuffle_cost_cer": [lab(s)["cer_shuffled_labels"] - lab(s)["cer_true"] if lab(s) else None for s in seeds],
            "swapped_cer": [lab(s).get("cer_swapped") for s in seeds],
            "copy": [bool((diags.get(s) or {}).get("copy_suspected")) or bool(lab(s).get("copy_suspected_cer")) for s in seeds],
            "spike_rel": [(diags.get(s) or {}).get("spike_offset_rel") for s in seeds],
            "students_dev": [statistics.fmean([num(st[k][s]["dev_cer"]) for k in st]) for s in seeds if all(s in st[k] for k in st)],
            **{f"{k} test": [err(st[k][s], task) for s in seeds if s in st[k]] for k in st},
            **{f"{k} - conv": [err(st[k][s], task) - err(cs[k][s], task) for s in seeds if s in st[k] and s in cs[k]] for k in st},
        }
    return out, conv


def choose(out):
    """The rule of docs/strategies/README.md, on dev."""
    eligible = {}
    for k, v in out.items():
        if v["probe"]:
            continue
        sw = mean_ci(v["swapped_cer"])[0]
        rel = mean_ci(v["spike_rel"])[0]
        ok = not any(v["copy"]) and sw is not None and sw >= 70 and rel is not None and rel <= 0.25
        if ok and v["students_dev"]:
            eligible[k] = statistics.fmean(v["students_dev"])
    if not eligible:
        return "no-label-position", "no strategy is eligible: the default stays no-label-position"
    best = min(eligible.values())
    tied = [k for k, d in eligible.items() if d <= best + 0.5]
    pick = max(tied, key=lambda k: mean_ci(out[k]["label_use_cer"])[0] or 0)
    why = (f"eligible: {', '.join(f'{k} (students dev CER {d:.2f})' for k, d in sorted(eligible.items(), key=lambda x: x[1]))}; "
           f"within 0.5 of the best: {', '.join(tied)}; chosen: {pick}")
    return pick, why


def table(out):
    task = next(iter(out.values()))["task"]
    e = "CER" if task == "asr" else "word error"
    cer_col = task != "asr"
    lines = [f"| strategy | seeds | label-fed test {e} |{' label-fed test CER |' if cer_col else ''} fed / teacher ({e}) [95 % t] | label use (CER) | source use (CER) | shuffle cost (CER) | swapped-source CER | spike offset (label spans) | copy flag | frame-KD student test {e} | oracle - conventional frame-KD [95 % t] | Guided-CTC student test {e} | oracle - conventional Guided CTC [95 % t] | students dev CER |",
             "|" + "---|" * (16 if cer_col else 15)]
    for k, v in sorted(out.items(), key=lambda kv: (kv[1]["probe"], kv[0])):
        m = lambda key, d=2: fmt(mean_ci(v[key])[0], None, d)
        pm = lambda key: (lambda mh: fmt(mh[0], mh[1]) if mh[1] is not None
                          else ("-" if mh[0] is None else f"{mh[0]:+.2f} (one seed)"))(mean_ci(v[key]))
        rm, rh = mean_ci(v["ratio"])
        ratio = "-" if rm is None else (f"{rm:.2f}" if rh is None else f"{rm:.2f} [{rm - rh:.2f}, {rm + rh:.2f}]")
        cer = f" {m('fed_test_cer')} |" if cer_col else ""
        lines.append(f"| {k} | {len(v['seeds'])} | {m('fed_test')} |{cer} {ratio} | {m('label_use_cer')} | {m('source_use_cer')} | {m('shuffle_cost_cer')} | {m('swapped_cer')} | {m('spike_rel')} | {'yes' if any(v['copy']) else 'no'} | {m('frame-kd test')} | {pm('frame-kd - conv')} | {m('guided-ctc test')} | {pm('guided-ctc - conv')} | {m('students_dev')} |")
    return "\n".join(lines)


def svg(out, path, w=560, h=420, pad=55):
    pts = [(k, mean_ci(v["source_use_cer"])[0], mean_ci(v["label_use_cer"])[0]) for k, v in sorted(out.items())]
    pts = [p for p in pts if p[1] is not None and p[2] is not None]
    lo = min(0.0, 10 * math.floor(min(min(p[1], p[2]) for p in pts) / 10))
    hi = max(100.0, 10 * math.ceil(max(max(p[1], p[2]) for p in pts) / 10))
    X = lambda x: pad + (x - lo) / (hi - lo) * (w - 2 * pad)
    Y = lambda y: h - pad - (y - lo) / (hi - lo) * (h - 2 * pad)
    task = next(iter(out.values()))["task"]
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">{task}: label use against source use per strategy (dev CER points, mean over seeds)</text>',
         f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
         f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
         f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">source use: CER with another source - CER with its own</text>',
         f'<text x="14" y="{h / 2}" text-anchor="middle" transform="rotate(-90 14 {h / 2})">label use: CER with other labels - CER with its own</text>']
    for i in range(6):
        v = lo + (hi - lo) * i / 5
        o.append(f'<text x="{pad - 6}" y="{Y(v) + 4}" text-anchor="end">{v:.0f}</text>')
        o.append(f'<text x="{X(v)}" y="{h - pad + 15}" text-anchor="middle">{v:.0f}</text>')
        o.append(f'<line x1="{pad}" y1="{Y(v)}" x2="{w - pad}" y2="{Y(v)}" stroke="#eee"/>')
    for i, (k, x, y) in enumerate(pts):
        c = COLORS[i % len(COLORS)]
        o.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="5" fill="{c}"/>')
        o.append(f'<text x="{X(x) + 8:.1f}" y="{Y(y) + 4 + (i % 2) * 10:.1f}" fill="{c}">{k}</text>')
    o.append("</svg>")
    open(path, "w").write("\n".join(o) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--md")
    ap.add_argument("--svg")
    ap.add_argument("--copy-to", help="also copy each cell's oracle reports, command and config here")
    a = ap.parse_args()
    missing = [r for r in a.runs if not os.path.isfile(os.path.join(r, "results.csv"))]
    for r in missing:
        print(f"left out (no results.csv yet): {r}", file=__import__("sys").stderr)
    a.runs = [r for r in a.runs if r not in missing]
    if a.copy_to:
        import shutil
        for run in a.runs:
            with open(os.path.join(run, "config.toml"), "rb") as f:
                name = label(tomllib.load(f))[0].replace(" ", "").replace("(", "-").replace(")", "").replace("=", "")
            d = os.path.join(a.copy_to, "cells", name)
            os.makedirs(d, exist_ok=True)
            for f in ("command.txt", "config.toml", "revision.txt"):
                if os.path.isfile(os.path.join(run, f)):
                    shutil.copy(os.path.join(run, f), d)
            for s in sorted(os.listdir(run)):
                rep = os.path.join(run, s, "oracle", "report.json")
                if s.startswith("seed-") and os.path.isfile(rep):
                    shutil.copy(rep, os.path.join(d, f"{s}-oracle-report.json"))
    out, conv = summarise(a.runs)
    task = next(iter(out.values()))["task"]
    t = conv["teacher"]
    seeds = sorted(t)
    teacher = mean_ci([err(t[s], task) for s in seeds])[0]
    ctc = mean_ci([err(conv["ctc"][s], task) for s in seeds if s in conv["ctc"]])[0]
    pick, why = choose(out)
    text = (table(out) + "\n\n"
            f"Conventional teacher test error {fmt(teacher)}, CTC-only student {fmt(ctc)} (seeds {seeds}).\n\n"
            f"Rule (README): {why}.\n")
    print(text)
    if a.md:
        open(a.md, "w").write(text)
    if a.svg:
        svg(out, a.svg)
