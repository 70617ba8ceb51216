#!/usr/bin/env bash
# Train several configs on one GPU and collect their final weights:
#   scripts/train_gpu.sh [--one-at-a-time] OUTDIR CONFIG [CONFIG ...]
# Each config runs as its own `invdn train` process (log: OUTDIR/NAME.log), side by side, or one after another with
# --one-at-a-time (two runs sharing an H200 each ran at about half their speed alone: measured 2026-11-26). A run that fails is resumed once from its
# last checkpoint without CUDA graphs, for the rest of its time budget. The weights (+ .json) written at the end of
# each run are copied to OUTDIR. Uses `invdn` if installed, else `python3 -m invdn_mobile.cli.main` from the repo.
set -u
usage="usage: scripts/train_gpu.sh [--one-at-a-time] OUTDIR CONFIG [CONFIG ...]"
serial=0
if [ "${1:-}" = "--one-at-a-time" ]; then serial=1; shift; fi
out=${1:?$usage}
shift
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
for cfg in "$@"; do [ -f "$cfg" ] || { echo "error: no such config: $cfg" >&2; exit 2; }; done
mkdir -p "$out"
if command -v invdn >/dev/null; then invdn=(invdn); else invdn=(python3 -m invdn_mobile.cli.main); fi
export PYTHONUNBUFFERED=1

value() {  # value KEY CONFIG: a TOML string/number value of a flat key
  sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\}.*/\1/p" "$2" | head -n1
}

one() {
  local cfg=$1 name run minutes t0 left
  name=$(basename "$cfg" .toml)
  run=$(value out "$cfg")
  minutes=$(value max_minutes "$cfg")
  t0=$(date +%s)
  if ! "${invdn[@]}" train --config "$cfg" >"$out/$name.log" 2>&1; then
    left=$(python3 -c "print(round(${minutes:-10} - ($(date +%s) - $t0) / 60 - 0.2, 2))")
    echo "== failed; resuming without CUDA graphs for $left min" >>"$out/$name.log"
    local plain
    plain=$(mktemp --suffix=.toml)
    sed -e 's/^cuda_graphs.*//' "$cfg" >"$plain"
    echo 'cuda_graphs = "off"' >>"$plain"
    python3 -c "import sys; sys.exit(0 if $left > 0.5 else 1)" &&
      "${invdn[@]}" train --config "$plain" --max-minutes "$left" >>"$out/$name.log" 2>&1
    rm -f "$plain"
  fi
  cp "$run"/invdn-*.safetensors "$run"/invdn-*.json "$out"/ 2>/dev/null || echo "== $name: no weights written" >>"$out/$name.log"
}

for cfg in "$@"; do
  if [ $serial = 1 ]; then one "$cfg"; else one "$cfg" & fi
done
wait
ls -l "$out"
