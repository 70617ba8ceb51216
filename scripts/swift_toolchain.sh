#!/usr/bin/env bash
# A Swift 6 toolchain for the iOS core's tests on Linux, set up by the repository itself (tests/test_ios.py and
# .ci/run call this script). Debian bookworm has no Swift; Debian trixie ships `swiftlang` (6.0.x). So this script
# keeps a minimal trixie root (debootstrap, ~3.7 GB) OUTSIDE the work tree, made once and reused, and runs `swift`
# in it with the repository bind-mounted at its own path.
#
#   scripts/swift_toolchain.sh setup                 make the root if it is missing (needs root and Debian's mirror)
#   scripts/swift_toolchain.sh status                print "ready ROOT" / "missing ROOT: why" (exit 0 / 1), makes nothing
#   scripts/swift_toolchain.sh swift ARGS...         setup, then `swift ARGS` in ios_demo/InvDNCore
#   scripts/swift_toolchain.sh swift-in DIR ARGS...  the same in DIR (a folder inside the repository)
#
# Where `swift` 6 is already on PATH (a Mac, or Linux with Swift installed), that one is used and no root is made.
# Mounts (/proc, /dev, the repository) are made in a private mount namespace (unshare -m): they vanish with the
# command, whatever way it ends. Runs are serialised by a lock beside the root.
# Environment: INVDN_SWIFT_ROOT (default /var/cache/invdn/swift-trixie), INVDN_DEBIAN_MIRROR (default: the host's
# apt source, else http://deb.debian.org/debian), INVDN_SWIFT_HOST=0 to ignore a swift on PATH.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd -P)
ROOTFS=${INVDN_SWIFT_ROOT:-/var/cache/invdn/swift-trixie}
READY="$ROOTFS/.invdn-swift-ready"
PACKAGES="swiftlang libc6-dev libstdc++-14-dev"

die() { echo "swift_toolchain: $*" >&2; exit 1; }

host_swift() {  # a swift 6 or newer on PATH
    [ "${INVDN_SWIFT_HOST:-1}" != 0 ] && command -v swift >/dev/null 2>&1 &&
        swift --version 2>/dev/null | grep -Eq 'Swift version ([6-9]|[1-9][0-9])\.'
}

mirror() {
    if [ -n "${INVDN_DEBIAN_MIRROR:-}" ]; then echo "$INVDN_DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
        grep -v security | head -1 | sed -E 's/^URIs: *//; s/^deb (\[[^]]*\] )?//; s/ .*//') || true
    echo "${uri:-http://deb.debian.org/debian}"
}

# Why the root cannot be made here (empty when it can).
cannot_make() {
    [ "$(id -u)" = 0 ] || { echo "making it needs root (debootstrap, chroot, mounts)"; return; }
    command -v unshare >/dev/null || { echo "unshare (util-linux) is missing"; return; }
    command -v debootstrap >/dev/null || command -v apt-get >/dev/null || echo "neither debootstrap nor apt-get"
}

# Run a command inside the root: a private mount namespace with /proc, /dev and the repository mounted.
in_root() {
    unshare --mount --propagation private -- /bin/sh -eu -c '
        R=$1; repo=$2; shift 2
        mount -t proc proc "$R/proc"
        mount --bind /dev "$R/dev"
        [ -d /dev/pts ] && mount --bind /dev/pts "$R/dev/pts" 2>/dev/null || true
        mkdir -p "$R$repo"
        mount --bind "$repo" "$R$repo"
        [ -f /etc/resolv.conf ] && cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
        set -- HOME=/root LANG=C.UTF-8 PATH=/usr/bin:/bin:/usr/sbin:/sbin \
            ${INVDN_RESULTS_DIR:+INVDN_RESULTS_DIR="$INVDN_RESULTS_DIR"} "$@"
        exec chroot "$R" /usr/bin/env -i "$@"
    ' in_root "$ROOTFS" "$REPO" "$@"
}

setup() {
    [ -f "$READY" ] && return 0
    local why; why=$(cannot_make)
    [ -z "$why" ] || die "no Swift toolchain at $ROOTFS and $why"
    mkdir -p "$(dirname "$ROOTFS")"
    if ! command -v debootstrap >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >/dev/null ||
            { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >/dev/null; }
    fi
    local partial="$ROOTFS.partial" started=$SECONDS
    if [ ! -f "$partial/.invdn-base-ready" ]; then
        rm -rf "$partial"
        echo "swift_toolchain: debootstrap trixie into $partial ($(mirror))" >&2
        debootstrap --variant=minbase trixie "$partial" "$(mirror)" >"$partial.log" 2>&1 ||
            die "debootstrap failed (see $partial.log)"
        touch "$partial/.invdn-base-ready"
    fi
    echo "swift_toolchain: installing $PACKAGES in the root" >&2
    ROOTFS=$partial in_root /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $PACKAGES >/dev/null && apt-get clean" || die "apt-get install in $partial failed"
    ROOTFS=$partial in_root swift --version >&2 || die "swift does not run in $partial"
    touch "$partial/.invdn-swift-ready"
    rm -rf "$ROOTFS" && mv "$partial" "$ROOTFS"
    echo "swift_toolchain: ready at $ROOTFS in $((SECONDS - started)) s" >&2
}

run_swift() {  # DIR ARGS...
    local dir; dir=$(cd "$1" && pwd -P); shift
    case "$dir/" in "$REPO"/*) ;; *) die "$dir is not inside $REPO" ;; esac
    if host_swift; then cd "$dir" && exec swift "$@"; fi
    setup
    in_root /bin/sh -c 'cd "$1" && shift && exec swift "$@"' sh "$dir" "$@"
}

locked() {  # serialise setups and runs (they share the root's mount points and the package's .build)
    if [ "$(id -u)" = 0 ] && [ -z "${INVDN_SWIFT_LOCKED:-}" ]; then
        mkdir -p "$(dirname "$ROOTFS")"
        exec 9>"$ROOTFS.lock"
        flock 9
        export INVDN_SWIFT_LOCKED=1
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    status)
        if host_swift; then echo "ready $(command -v swift)"; exit 0; fi
        if [ -f "$READY" ] && [ "$(id -u)" = 0 ]; then echo "ready $ROOTFS"; exit 0; fi
        if [ -f "$READY" ]; then echo "missing: $ROOTFS is made, but running swift in it needs root (chroot)"; exit 1; fi
        why=$(cannot_make)
        echo "missing $ROOTFS: ${why:-run scripts/swift_toolchain.sh setup (debootstrap, ~3.7 GB, minutes)}"
        exit 1 ;;
    setup) host_swift || { locked; setup; } ;;
    swift) locked; run_swift "$REPO/ios_demo/InvDNCore" "$@" ;;
    swift-in) [ $# -ge 1 ] || die "swift-in needs a folder"; d=$1; shift; locked; run_swift "$d" "$@" ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
