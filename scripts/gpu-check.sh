#!/usr/bin/env bash
# One command on a GPU machine (docs/gpu.md): checks the CUDA build that scripts/cuda-build.sh
# made elsewhere. Run from the repository root with target/gpu-bundle/ present; it needs the
# NVIDIA driver and the CUDA 13 libraries (a PyTorch environment's `nvidia` wheels are found
# and put on LD_LIBRARY_PATH), and no Rust toolchain. In order:
#   1. nvidia-smi; the binaries' libraries resolved;
#   2. the GPU tests (tests/gpu.rs): a training step of every model family against the CPU,
#      strided products and the time convolution, a toy run whose dev error falls;
#   3. `run toy-oracle --quick` on cuda and on cpu, each with its wall time;
#   4. the train_step bench on cuda beside the PyTorch twin on cuda (skipped without torch).
# Logs go to $OUT (default gpu-check/); the exit status is that of the first failed step.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${BUNDLE:-target/gpu-bundle}
out=${OUT:-gpu-check}
iters=${ITERS:-10}
mkdir -p "$out"
status=0
step() { # step NAME CMD...: run, log to $out/NAME.log, keep the first failure
    local name=$1
    shift
    echo "== $name: $*"
    local t0=$SECONDS
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$out/$name.log"
    echo "== $name: exit $rc, $((SECONDS - t0)) s"
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
    return 0
}

[ -d "$bundle" ] || { echo "gpu-check: $bundle missing: run scripts/cuda-build.sh first" >&2; exit 2; }
bin=$(mktemp -d)
for f in experiments gpu-tests train-step-bench; do
    gunzip -c "$bundle/$f.gz" >"$bin/$f" && chmod +x "$bin/$f" ||
        { echo "gpu-check: cannot unpack $bundle/$f.gz" >&2; exit 2; }
done

# The CUDA 13 runtime, cuBLAS, cuRAND and NVRTC: from the nvidia wheels of the Python on PATH
# (PyTorch's own), unless LD_LIBRARY_PATH already provides them.
py_libs=$(python3 - <<'EOF' 2>/dev/null
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit
roots = [os.path.dirname(p) for p in nvidia.__path__]
dirs = sorted({os.path.dirname(f) for r in roots for f in glob.glob(os.path.join(r, "**", "lib*.so*"), recursive=True)})
print(":".join(dirs))
EOF
)
export LD_LIBRARY_PATH=${py_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

step nvidia-smi nvidia-smi
echo "== libraries of the experiments binary"
if ldd "$bin/experiments" | grep "not found"; then
    echo "gpu-check: libraries missing (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)" >&2
    exit 3
fi
ldd "$bin/experiments" | grep -E "cuda|cublas|curand|nvrtc"

step gpu-tests "$bin/gpu-tests" --test-threads=1 --nocapture
step toy-cuda "$bin/experiments" --device cuda run toy-oracle --quick --no-progress --out "$out/runs-cuda"
step toy-cpu "$bin/experiments" --device cpu run toy-oracle --quick --no-progress --out "$out/runs-cpu"
step bench-cuda env TRAIN_STEP_DEVICE=cuda TRAIN_STEP_ITERS="$iters" "$bin/train-step-bench"
if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    step torch-cuda python3 benches/torch_twin.py --device cuda --iters "$iters"
    echo "== train_step on cuda, median ms: project | PyTorch eager (torch / project)"
    python3 - "$out/bench-cuda.log" "$out/torch-cuda.log" <<'EOF'
import re, sys
def medians(path, tag):
    pat = re.compile(rf"^{tag} (\S+) .*median_ms=([0-9.]+)")
    return {m[1]: float(m[2]) for line in open(path) if (m := pat.match(line))}
ours, torch = medians(sys.argv[1], "train_step"), medians(sys.argv[2], "torch_step")
for name, ms in ours.items():
    t = torch.get(name)
    print(f"{name:24} {ms:8.1f} | " + (f"{t:8.1f}  ({t / ms:.2f}x)" if t else "       -"))
EOF
else
    echo "== torch-cuda: skipped (no PyTorch with CUDA on this Python)"
fi
rm -rf "$bin"
echo "gpu-check: exit $status (logs in $out/)"
exit "$status"
