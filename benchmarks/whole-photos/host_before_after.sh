#!/usr/bin/env bash
# Back-to-back `invdn denoise --profile` of one photo with two checkouts of the package (issue 37, the host part):
#   host_before_after.sh BEFORE_DIR AFTER_DIR PHOTO OUT_DIR [ROUNDS]
# BEFORE_DIR / AFTER_DIR: folders holding an `invdn_mobile` package (e.g. `git archive COMMIT invdn_mobile | tar -x`);
# each run: one PyTorch thread, the compact model, under GNU time (peak resident memory), with the load average.
set -euo pipefail
before=$1 after=$2 photo=$3 out=$4 rounds=${5:-1}
python=${PYTHON:-python}
for round in $(seq "$rounds"); do
  for side in before after; do
    dir=$before; [ "$side" = after ] && dir=$after
    echo "== round $round $side ($dir) $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd "$dir" && OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s, maximum resident set size %M kB" \
      "$python" -m invdn_mobile denoise "$photo" -o "$out/$side-$round" --variant compact --threads 1 --profile 2>&1 \
      | grep -v '^\s*$')
  done
done
echo "== done $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
