"""Dev-error curves of every trained stage of run directories: a markdown table (step by
step) and an SVG plot. The dev error is the training loop's: CER for speech, word error for
word images, measured on the selection part of dev every `eval_every` steps.

    python3 docs/leveloff/curves.py RUN_DIR [RUN_DIR ...] --md curves.md --svg curves.svg
"""
import argparse, json, os

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def stages(run):
    seed = os.path.join(run, "seed-0")
    for name in sorted(os.listdir(seed)):
        rep = os.path.join(seed, name, "report.json")
        if os.path.isfile(rep):
            with open(rep) as f:
                r = json.load(f)["train"][-1]
            yield name, r


def svg(series, title, path, w=640, h=400, pad=50):
    xs = [p[0] for _, c in series for p in c]
    ys = [p[1] for _, c in series for p in c]
    x0, x1, y0, y1 = 0, max(xs), 0, min(100.0, max(ys) * 1.05)
    X = lambda x: pad + (x - x0) / (x1 - x0) * (w - 2 * pad)
    Y = lambda y: h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">{title}</text>',
           f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
           f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
           f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">training step</text>',
           f'<text x="14" y="{h / 2}" text-anchor="middle" transform="rotate(-90 14 {h / 2})">dev error (%)</text>']
    for i in range(6):
        yv = y0 + (y1 - y0) * i / 5
        xv = x0 + (x1 - x0) * i / 5
        out.append(f'<text x="{pad - 6}" y="{Y(yv) + 4}" text-anchor="end">{yv:.0f}</text>')
        out.append(f'<line x1="{pad}" y1="{Y(yv)}" x2="{w - pad}" y2="{Y(yv)}" stroke="#ddd"/>')
        out.append(f'<text x="{X(xv)}" y="{h - pad + 15}" text-anchor="middle">{xv:.0f}</text>')
    for k, (label, c) in enumerate(series):
        col = COLORS[k % len(COLORS)]
        pts = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in c)
        out.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{pts}"/>')
        out.append(f'<text x="{w - pad - 4}" y="{pad + 14 * k}" text-anchor="end" fill="{col}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--md", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--title", default="dev error by training step")
    a = ap.parse_args()
    series, lines = [], []
    for run in a.runs:
        for name, r in stages(run):
            c = [(p["step"], p["dev_error"]) for p in r["curve"]]
            label = f"{os.path.basename(run.rstrip('/'))}/{name}"
            series.append((label, c))
            lines.append(f"## {label}\n\n{r['steps']} steps, {r['train_seconds']:.0f} training seconds, "
                         f"best dev CER {r['best_error']:.2f} at step {r['best_step']}\n")
            lines.append("| step | dev error | training s |\n|---|---|---|")
            lines += [f"| {p['step']} | {p['dev_error']:.2f} | {p['seconds']:.0f} |" for p in r["curve"]]
            lines.append("")
    with open(a.md, "w") as f:
        f.write(f"# {a.title}\n\nMade by `python3 docs/leveloff/curves.py {' '.join(a.runs)}`.\n\n" + "\n".join(lines))
    svg(series, a.title, a.svg)


if __name__ == "__main__":
    main()
