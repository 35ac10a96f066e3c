"""Markdown table of a measure-paths.sh log: per line and binary, the median over rounds of each
round's median step time (ms), on all cores and on one core, and each binary's ratio to the
first one named (above 1 = faster than it)."""
import re, statistics, sys
from collections import defaultdict

runs = defaultdict(list)  # (binary, cores, line) -> [median_ms]
order, lines = [], []
cur = None
for l in open(sys.argv[1]):
    m = re.match(r"== round \d+, (.+), (all cores|one core)", l)
    if m:
        cur = (m.group(1), "2" if m.group(2) == "all cores" else "1")
        if cur[0] not in order:
            order.append(cur[0])
        continue
    m = re.match(r"(train_step|infer) (\S+) .*median_ms=([\d.]+)", l)
    if m and cur:
        line = ("infer " if m.group(1) == "infer" else "") + m.group(2)
        if line not in lines:
            lines.append(line)
        runs[(cur[0], cur[1], line)].append(float(m.group(3)))
base = order[0]
for cores in ("2", "1"):
    print(f"\n{'Both cores' if cores == '2' else 'One core'} (ms per step, median of rounds; ratio to {base}):\n")
    print("| line | " + " | ".join(order) + " |")
    print("|---|" + "---|" * len(order))
    for line in lines:
        b = statistics.median(runs[(base, cores, line)])
        cells = []
        for name in order:
            v = statistics.median(runs[(name, cores, line)])
            cells.append(f"{v:.1f}" if name == base else f"{v:.1f} ({b / v:.2f}x)")
        print(f"| {line} | " + " | ".join(cells) + " |")
