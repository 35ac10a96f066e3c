#!/bin/sh
# Cross-domain scores (docs/real-speech.md): every speech model of two runs scored with `eval`
# on both test sets: the synthetic run's models on the recorded (Drascula) test split, and the
# recorded run's models on the synthetic test split, plus each on its own test set through the
# same path (WAV files and `eval`), so all four cells are measured alike.
#   docs/real-speech/cross_domain.sh SYNTH_RUN REAL_RUN SYNTH_TEST_TSV REAL_TEST_TSV OUT_DIR
# SYNTH_TEST_TSV: `experiments prepare synth` of SYNTH_RUN's own preset and `--set`s, so it is
# the audio that run was tested on (16-bit WAV: its CERs differ from the run's by rounding).
set -e
EXP=${EXP:-./target/release/experiments}
SYNTH_RUN=$1; REAL_RUN=$2; SYNTH_TEST=$3; REAL_TEST=$4; OUT=$5
mkdir -p "$OUT"
for run in "$SYNTH_RUN" "$REAL_RUN"; do
  for test in "$SYNTH_TEST" "$REAL_TEST"; do
    name="$(basename "$run")-on-$(basename "$(dirname "$test")")"
    rm -f "$OUT/$name.csv"
    for seed in "$run"/seed-*; do
      for stage in teacher student-none-ctc student-conventional-frame-kd \
                   student-conventional-guided-ctc student-oracle-frame-kd \
                   student-oracle-guided-ctc; do
        [ -d "$seed/$stage/model" ] || continue
        "$EXP" eval --model "$seed/$stage/model" --manifest "$test" --csv "$OUT/$name.csv" \
          >> "$OUT/$name.log" 2>&1
      done
    done
  done
done
