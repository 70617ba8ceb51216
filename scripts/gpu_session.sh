#!/usr/bin/env bash
# What a lent GPU does in a session, in two device calls of fixed wall-clock budgets (a call may run 10 minutes):
#   scripts/gpu_session.sh bench OUTDIR                                  (~3 minutes)
#   scripts/gpu_session.sh train OUTDIR [BUDGET_SECONDS=560] [CONFIG ...] (default configs: the v3 slice)
#   scripts/gpu_session.sh cpu-int8 OUTDIR                               (~4 minutes; the host CPU, see below)
#   scripts/gpu_session.sh qat OUTDIR [BUDGET_SECONDS=560]               (quantization-aware fine-tuning, compact)
# Every mode writes the machine (nvidia-smi, library versions, CPU) to OUTDIR/env.txt and their logs to OUTDIR/logs.tar.gz.
# bench:
# 1. GPU benchmark rows: PyTorch CUDA eager FP32/FP16/BF16 + torch.compile FP16 at 256², 1024² and 12 MP, batch 1;
#    the 12 MP rows again at batch 32 -> OUTDIR/bench.json, OUTDIR/bench-b32.json
# 2. a 12-megapixel photo end to end (`invdn denoise`, process start to written PNG), both variants -> env.txt
# train:
#    the training slice, one config after another, each given an equal share of the time left (its max_minutes
#    lowered to fit, never raised), then `invdn calibrate` of each new weights file on the GPU (the strength curve);
#    weights (+ .json) to OUTDIR. DEVICE=cpu runs the same steps on a CPU (for a check).
# cpu-int8:
#    the full-integer and partial INT8 ONNX files against FP32 and PyTorch eager on the lent machine's host CPU (the
#    H200's Xeon has AVX-512 VNNI and AMX-INT8, which this project's development machine lacks: docs/int8.md), with
#    ONNX Runtime from that machine's image -> OUTDIR/cpu-int8.json. The files travel from here (carry ARTIFACTS,
#    default export/vnni), made with, for T in onnx-fp32 onnx-int8 onnx-npu-int8-s16:
#    `invdn export T --variant compact --no-z-variant -o export/vnni/T`.
# qat:
#    quantization-aware fine-tuning of the bundled compact weights for every-op int8 (invdn_mobile/export/qat.py) on
#    the GPU, batch 32 of 96² crops of data/photos/train (carry it), for the budget less start-up; the kept weights
#    (+ .json with the scores on samples/clean) to OUTDIR. Export and evaluate them here afterwards (docs/int8.md).
set -u
usage="usage: scripts/gpu_session.sh bench OUTDIR | train OUTDIR [BUDGET_SECONDS] [CONFIG ...] | cpu-int8 OUTDIR | qat OUTDIR [BUDGET_SECONDS]"
what=${1:?$usage}
out=${2:?$usage}
budget=${3:-560}
shift $(($# >= 3 ? 3 : 2))
case $what in bench | train | cpu-int8 | qat) ;; *) echo "$usage" >&2; exit 2 ;; esac
[ $# -gt 0 ] || set -- configs/gpu-paper-v3.toml configs/gpu-compact-v3.toml
device=${DEVICE:-cuda}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs=$(mktemp -d)
cd "$here" || exit 2
export PYTHONUNBUFFERED=1 PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
invdn=(python3 -m invdn_mobile.cli.main)
t0=$(date +%s)
left() { echo $((budget - ($(date +%s) - t0))); }
stamp() { echo "== $(date -u +%FT%TZ) (+$(($(date +%s) - t0)) s) $*" | tee -a "$out/env.txt"; }

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  python3 -c "import sys, torch, numpy; print('python', sys.version.split()[0], 'torch', torch.__version__,
'cuda', torch.version.cuda, 'numpy', numpy.__version__, 'gpu', torch.cuda.is_available() and torch.cuda.get_device_name())"
  grep -m1 "model name" /proc/cpuinfo
  echo "cores $(nproc)"
} >"$out/env.txt" 2>&1

finish() {
  cp "$out/env.txt" "$logs/"
  tar -czf "$out/logs.tar.gz" -C "$logs" .
  stamp "done"
  ls -l "$out"
  exit 0
}

if [ "$what" = cpu-int8 ]; then
  stamp "cpu-int8 bench ($(grep -o -w -E 'avx512_vnni|avx_vnni|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' '))"
  timeout 300 "${invdn[@]}" bench --device cpu --sizes "${SIZES:-256,1024}" --variant compact \
    --artifacts "${ARTIFACTS:-export/vnni}" --targets 'onnx-*' --backends 'onnxruntime-cpu,torch-eager' --no-compile \
    --repeats 5 --min-repeats 3 --max-seconds 20 --machine nvidia-h200-host --out "$out/cpu-int8.json" \
    >"$logs/cpu-int8.log" 2>&1
  stamp "cpu-int8 bench exit $?"
  finish
fi

if [ "$what" = qat ]; then
  minutes=$(python3 -c "print(round(max(0.5, ($(left) - 60) / 60), 2))")
  stamp "qat compact for $minutes min on $device"
  timeout $(($(left) - 10)) "${invdn[@]}" qat --variant compact --device "$device" --minutes "$minutes" \
    --data data/photos/train --batch 32 --crop 96 --lr "${LR:-2e-6}" --eval-every 100 \
    -o "$out/invdn-compact-qat.safetensors" >"$logs/qat.log" 2>&1
  stamp "qat exit $?"
  finish
fi

if [ "$what" = bench ]; then
stamp "bench"
timeout 260 "${invdn[@]}" bench --device "$device" --sizes 256,1024,12mp --backends 'torch-cuda*' --warmup 2 \
  --repeats 10 --min-repeats 2 --max-seconds 3 --machine nvidia-h200 --out "$out/bench.json" >"$logs/bench.log" 2>&1
stamp "bench exit $?"
timeout 60 "${invdn[@]}" bench --device "$device" --sizes 12mp --backends 'torch-cuda-eager' --batch 32 --warmup 1 \
  --repeats 5 --min-repeats 2 --max-seconds 3 --machine nvidia-h200 --out "$out/bench-b32.json" >"$logs/bench-b32.log" 2>&1
stamp "bench batch 32 exit $?"

photo=$(mktemp -d)
python3 - "$photo/photo12mp.png" <<'EOF'
import sys
from pathlib import Path
from PIL import Image
src = sorted(Path("samples/clean").glob("*.png"))[0]
Image.open(src).convert("RGB").resize((4000, 3000), Image.BICUBIC).save(sys.argv[1])
EOF
for v in compact paper; do
  s=$(date +%s.%N)
  timeout 60 "${invdn[@]}" denoise "$photo/photo12mp.png" -o "$photo/$v" --variant "$v" --device "$device" --batch 32 \
    >"$logs/denoise-12mp-$v.log" 2>&1
  rc=$?
  stamp "denoise 12 MP (4000x3000) $v --batch 32: exit $rc, $(python3 -c "print(round($(date +%s.%N) - $s, 2))") s end to end"
done
finish
fi

n=$#
for cfg in "$@"; do
  name=$(basename "$cfg" .toml)
  want=$(sed -n 's/^max_minutes *= *\([0-9.]*\).*/\1/p' "$cfg")
  # this run's share of what is left, less ~30 s of start-up per run and 70 s per calibration (paper: ~60 s)
  minutes=$(python3 -c "print(round(max(0.2, min(${want:-10}, ($(left) - 30 * $n - 70 * $n) / $n / 60)), 2))")
  n=$((n - 1))
  tmp=$(mktemp --suffix=.toml)
  sed -e 's/^max_minutes.*//' -e "s/^device.*/device = \"$device\"/" "$cfg" >"$tmp"
  echo "max_minutes = $minutes" >>"$tmp"
  stamp "train $name for $minutes min"
  mkdir -p "$logs/$name"
  scripts/train_gpu.sh "$logs/$name" "$tmp" >/dev/null 2>&1
  cp "$logs/$name"/*.log "$logs/" 2>/dev/null
  weights=$(ls "$logs/$name"/invdn-*.safetensors 2>/dev/null | head -n1)
  stamp "train $name done: ${weights:-no weights}"
  [ -n "$weights" ] || continue
  timeout 100 "${invdn[@]}" calibrate --data data/photos/train --weights "$weights" --scales 1 --crops 2 \
    --device "$device" >"$logs/calibrate-$name.log" 2>&1
  stamp "calibrate $name exit $?"
  cp "$weights" "${weights%.safetensors}.json" "$out/"
done
finish
