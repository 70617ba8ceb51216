#!/usr/bin/env bash
# The arm64 (aarch64) root in which the phone's own CPU kernels run under user-mode QEMU: Debian bookworm arm64
# (python3 3.11) with the aarch64 wheels of LiteRT, ONNX Runtime and numpy. Idempotent: a finished root is reused
# (stamp file); cached outside the work tree. Needs root (debootstrap, binfmt_misc) and Debian's apt.
#   scripts/arm64_root.sh            build if needed, print the root's path
# INVDN_ARM64_ROOT overrides the place (default /var/cache/invdn/arm64-root). PYTHON: the host Python whose pip
# downloads the wheels (default: the project's .venv, else python3).
set -euo pipefail
ROOT=${INVDN_ARM64_ROOT:-/var/cache/invdn/arm64-root}
# The wheel set; the versions follow the x86 ones in pyproject.toml (ai-edge-litert 2.3.x needs manylinux_2_27).
WHEELS=(ai-edge-litert==2.3.0 onnxruntime==1.32.0 numpy==2.4.6
        ml_dtypes protobuf flatbuffers tqdm typing-extensions backports.strenum packaging sympy mpmath)
STAMP="$ROOT/.invdn-ready-$(echo "${WHEELS[*]}" | md5sum | cut -c1-8)"
log() { echo "arm64_root: $*" >&2; }

# The instruction-count plugin for qemu-aarch64 (beside the root; rebuilt when its source changes).
src="$(cd "$(dirname "$0")" && pwd)/qemu_icount.c"
plugin="$(dirname "$ROOT")/qemu-icount.so"
if [ ! -f "$plugin" ] || [ "$src" -nt "$plugin" ]; then
  command -v gcc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >&2; }
  mkdir -p "$(dirname "$ROOT")"
  gcc -shared -fPIC -O2 -Wall -o "$plugin.tmp" "$src" && mv "$plugin.tmp" "$plugin"
fi
if [ -f "$STAMP" ]; then echo "$ROOT"; exit 0; fi
t0=$(date +%s)

need=()
dpkg -s qemu-user >/dev/null 2>&1 || need+=(qemu-user)
dpkg -s qemu-user-static >/dev/null 2>&1 || need+=(qemu-user-static)
dpkg -s binfmt-support >/dev/null 2>&1 || need+=(binfmt-support)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

# The second stage runs arm64 binaries in a chroot: the kernel must hand them to qemu-aarch64-static.
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { log "binfmt_misc has no enabled qemu-aarch64"; exit 1; }

if [ ! -x "$ROOT/usr/bin/python3" ] || [ ! -f "$ROOT/.debootstrap-done" ]; then
  rm -rf "$ROOT"
  mkdir -p "$(dirname "$ROOT")"
  log "debootstrap (first stage) into $ROOT"
  debootstrap --arch=arm64 --foreign --variant=minbase --include=python3 bookworm "$ROOT" http://deb.debian.org/debian >&2
  log "debootstrap second stage (emulated, ~10 min)"
  chroot "$ROOT" /debootstrap/debootstrap --second-stage >&2
  touch "$ROOT/.debootstrap-done"
fi

# aarch64 wheels, downloaded with the host's pip for the guest's Python (cp311) and unpacked into /opt/invdn-py.
if [ -z "${PYTHON:-}" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ -x "$here/.venv/bin/python" ]; then PYTHON="$here/.venv/bin/python"; else PYTHON=python3; fi
fi
# bookworm has glibc 2.36: any manylinux tag up to it runs there
plat=(--platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64
      --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64
      --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311)
dl=$(mktemp -d)
trap 'rm -rf "$dl"' EXIT
log "downloading aarch64 wheels: ${WHEELS[*]}"
# --no-deps: the list names every package the runtimes import (the binary ones for aarch64, the rest universal)
"$PYTHON" -m pip download -q --no-deps -d "$dl" "${plat[@]}" "${WHEELS[@]}" >&2
rm -rf "$ROOT/opt/invdn-py.new"
"$PYTHON" -m pip install -q --no-index --no-deps --find-links "$dl" --target "$ROOT/opt/invdn-py.new" "${plat[@]}" \
  "$dl"/*.whl >&2
rm -rf "$ROOT/opt/invdn-py" && mv "$ROOT/opt/invdn-py.new" "$ROOT/opt/invdn-py"
rm -f "$ROOT"/.invdn-ready-*
touch "$STAMP"
log "ready in $(( $(date +%s) - t0 )) s"
echo "$ROOT"
