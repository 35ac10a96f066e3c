"""The em budget whose training seconds equal two-stage oracle distillation's, from the
results.csv of `docs/joint/run.sh`'s first run: the oracle's training seconds plus its frame-KD
student's, over the em student's seconds per step, times the student budget; mean over seeds,
rounded to a multiple of the student's evaluation interval (200).

    python3 docs/joint/equal_steps.py <run 1>/results.csv
"""
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1], newline="")))
def secs(role, teacher, kd):
    return {int(r["seed"]): (float(r["train_seconds"]), int(r["train_steps"])) for r in rows
            if r["role"] == role and r["teacher"] == teacher and r["kd"] == kd}
oracle, student, em = secs("oracle", "oracle", "ctc"), secs("student", "oracle", "frame-kd"), secs("student", "joint", "em")
steps = [(oracle[s][0] + student[s][0]) / (em[s][0] / em[s][1]) for s in sorted(em)]
for s, x in zip(sorted(em), steps):
    print(f"seed {s}: two-stage {oracle[s][0] + student[s][0]:.1f} s, em {em[s][0]:.1f} s for {em[s][1]} steps -> {x:.0f} steps", file=sys.stderr)
print(int(round(statistics.mean(steps) / 200.0)) * 200)
