#!/usr/bin/env bash
# The one run a session with a lent GPU makes for issue 17 (the Triton kernel): the kernels' tests compiled for the
# device (no interpreter), the CUDA tests, `grunet bench --device cuda` against cuDNN, `grunet train` on CUDA (device
# auto) against --device cpu, and the matmul precisions' error on the tensor cores.
#
# Expects torch with CUDA, triton and grunet's dependencies installed (nothing is installed here: the machine may
# have no network). Writes every step's output to $OUT/<step>.txt and one line per step (exit status, seconds) to
# $OUT/summary.txt. Each step has a time limit and a failing step does not stop the next: at most 8.5 minutes (the
# first step compiles every kernel specialisation the tests use; later steps reuse Triton's cache).
#
#     OUT=/some/folder bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset TRITON_INTERPRET  # the compiled kernels, on the GPU
PY=${PYTHON:-python3}

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s%N)
    timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
    rc=$?
    printf '%-10s exit %-3s %5d s (limit %s)  %s\n' "$name" "$rc" $(( ($(date +%s%N) - start) / 1000000000 )) \
        "$limit" "$(echo "$*" | head -n 1 | cut -c 1-100)" | tee -a "$OUT/summary.txt"
}

# grunet train with defaults (device auto) and with --device cpu, interleaved, twice; its summary line and wall time
train_pairs='for round in 1 2; do
    for device in auto cpu; do
        start=$(date +%s%N)
        "$PY" -m grunet train --quiet --device "$device" --out "$OUT/runs/$device-$round" | grep "^trained"
        echo "  device $device, round $round: whole process $(( ($(date +%s%N) - start) / 1000000 )) ms"
    done
done'
export OUT PY

: > "$OUT/summary.txt"
step env 20 bash -c "nvidia-smi; $PY -c 'import torch, triton; print(torch.__version__, torch.version.cuda, \
torch.backends.cudnn.version(), triton.__version__, torch.cuda.get_device_name(0), \
torch.cuda.get_device_capability(0)); import grunet.devices as d; print(d.cuda_is_faster())'"
step triton 170 "$PY" -m pytest -q -k triton tests/test_triton_gru.py tests/test_triton_kernels.py tests/test_devices.py \
    --durations=10
step bench 150 "$PY" -m grunet bench --device cuda --no-inference
step train 75 bash -c "$train_pairs"
step cuda 60 "$PY" -m pytest -q -m cuda --durations=10
step precision 30 "$PY" benchmarks/triton_precision.py
echo "results in $OUT"
