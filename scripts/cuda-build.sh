#!/usr/bin/env bash
# Builds the CUDA (`--features cuda`) binaries on a machine with neither a GPU nor a CUDA toolkit,
# for scripts/gpu-check.sh to run on a GPU machine (docs/gpu.md):
#   - the CUDA 13.0 compiler, headers and libraries come from NVIDIA's PyPI wheels, installed
#     into $CUDA_DIR (default .cuda/, about 1.2 GB);
#   - a stub libcuda.so.1 stands in for the driver at link time only: its symbols are the
#     driver entry points cudarc declares, and the GPU machine's driver provides the real ones;
#   - candle's kernels are compiled for CUDA_COMPUTE_CAP (default 90: H100 and H200).
# Writes target/gpu-bundle/: the `experiments` binary, the GPU test binary (tests/gpu.rs) and
# the train_step bench, stripped and gzipped, for scripts/gpu-check.sh in a copy of this
# repository on the GPU machine.
# Idempotent; the build goes to target/cuda so the CPU build in target/ is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cuda=${CUDA_DIR:-$root/.cuda}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CUDARC_CUDA_VERSION=13000

py=$cuda/py
tk=$py/nvidia/cu13
if [ ! -x "$tk/bin/nvcc" ] || [ ! -e "$tk/lib/libcublas.so.13" ]; then
    echo "cuda-build: installing the CUDA 13.0 wheels into $py" >&2
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$py" \
        "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" \
        "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*" "nvidia-cuda-nvrtc==13.0.*" \
        "nvidia-cublas==13.0.*" "nvidia-curand==10.4.*"
fi

# The linker wants unversioned names; cudarc (dynamic linking) and candle-kernels ask for
# cuda, nvrtc, curand, cublas, cublasLt and cudart.
lib=$cuda/toolkit/lib64
mkdir -p "$lib"
for so in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
    [ -e "$tk/lib/$so" ] || { echo "cuda-build: $tk/lib/$so missing from the wheels" >&2; exit 1; }
    ln -sf "$tk/lib/$so" "$lib/${so%%.so.*}.so"
done

# The driver stub: every entry point cudarc's driver bindings name, as an empty function, under
# the driver's soname so the binary asks for the real libcuda.so.1 at run time.
cargo fetch --quiet
ver=$(awk '/^name = "cudarc"/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
sys=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-"$ver" | head -n1)/src/driver/sys/mod.rs
[ -f "$sys" ] || { echo "cuda-build: cudarc $ver sources not found ($sys)" >&2; exit 1; }
grep -oE 'load::<_F>\("cu[A-Za-z0-9_]+"\)' "$sys" | sed -E 's/.*\("(.*)"\)/void \1(void) {}/' |
    sort -u >"$cuda/libcuda-stub.c"
[ -s "$cuda/libcuda-stub.c" ] || { echo "cuda-build: no driver entry points found in $sys" >&2; exit 1; }
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$lib/libcuda.so" "$cuda/libcuda-stub.c"

export PATH=$tk/bin:$PATH CUDA_HOME=$cuda/toolkit NVCC=$tk/bin/nvcc
# nvcc finds its headers and nvvm through the toolkit layout of the wheels.
export CPATH=$tk/include${CPATH:+:$CPATH}
export LIBRARY_PATH=$lib${LIBRARY_PATH:+:$LIBRARY_PATH}
nvcc --version | tail -n2 >&2

target=$root/target/cuda
cargo build --release --target-dir "$target" -p experiments --features cuda
# The executable cargo built for target NAME, from its JSON messages on stdin.
executable() {
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1"
}
test_bin=$(cargo test --release --target-dir "$target" --features cuda --test gpu --no-run \
    --message-format=json | executable gpu)
bench_bin=$(cargo bench --target-dir "$target" --features cuda --bench train_step --no-run \
    --message-format=json | executable train_step)

bundle=$root/target/gpu-bundle
rm -rf "$bundle"
mkdir -p "$bundle"
for pair in "experiments:$target/release/experiments" "gpu-tests:$test_bin" "train-step-bench:$bench_bin"; do
    name=${pair%%:*}
    src=${pair#*:}
    [ -x "$src" ] || { echo "cuda-build: $name was not built ($src)" >&2; exit 1; }
    strip -o "$bundle/$name" "$src"
    gzip -9 "$bundle/$name"
done
ls -l "$bundle" >&2
du -sh "$bundle" >&2
