#!/usr/bin/env bash
# Runs the SRCore XCTest suite. On Linux, Swift 6 comes from Debian trixie's `swiftlang`
# inside a debootstrap'd chroot kept OUTSIDE the clone, in
# ${MOSSNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mossnet}/swift-trixie (built once, then
# reused by every clone on the machine, CI's fresh clones included); on macOS the installed
# `swift` is used. The last line is always "N passed, N failed".
# Exit status: 0 when tests ran and none failed; 1 when any failed or none ran (a build
# error); 0 with "swift: skipped (reason)" only when this machine cannot host the chroot
# at all (not root, no mount/chroot rights, no network to fetch the toolchain).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# Toolchains live outside the clone (project rule), shared by all clones of this machine.
TOOLS=${MOSSNET_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mossnet}
ROOT=$TOOLS/swift-trixie
PACKAGES="swiftlang libc6-dev libstdc++-14-dev"
REPO_IN=/repo                     # the repo, bind-mounted read-only inside the chroot
# SwiftPM scratch path: inside the chroot, so it survives runs; one per clone (keyed by the
# clone's host path), so two clones never share incremental build state.
BUILD_IN=/var/cache/srcore-build/$(printf '%s' "$REPO" | sha256sum | cut -c1-16)
LOG=$TOOLS/swift-trixie.log       # bootstrap log (debootstrap and apt are long-winded)

say() { echo "swift: $*" >&2; }
skip() { echo "swift: skipped ($*)"; exit 0; }
summary_and_exit() {  # $1 = swift test output file, $2 = its exit status
    local started passed failed
    started=$(grep -cE "^Test Case '.*' started" "$1")
    passed=$(grep -cE "^Test Case '.*' passed" "$1")
    failed=$((started - passed))  # failed, or crashed before finishing
    local finished=1
    grep -qE "^Test Suite 'All tests' (passed|failed)" "$1" || finished=0
    if [ "$started" -eq 0 ]; then say "no test ran (swift test exit $2: build error?)"
    elif [ "$finished" -eq 0 ]; then say "the test process ended before the suite finished (crash?)"
    elif [ "$failed" -eq 0 ] && [ "$2" -ne 0 ]; then say "swift test exited $2"
    fi
    echo "$passed passed, $failed failed"
    [ "$started" -gt 0 ] && [ "$finished" -eq 1 ] && [ "$failed" -eq 0 ] && [ "$2" -eq 0 ]
    exit $?
}

if [ "$(uname -s)" = Darwin ]; then  # a Mac has Swift and XCTest already
    command -v swift >/dev/null || skip "no swift on PATH; install Xcode"
    out=$(mktemp)
    swift test --package-path "$HERE" 2>&1 | tee "$out"
    summary_and_exit "$out" "${PIPESTATUS[0]}"
fi

# --- Can this machine host a chroot at all? -------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "Linux needs root for debootstrap, mount and chroot"
mkdir -p "$TOOLS" || skip "cannot create $TOOLS"
probe=$(mktemp -d)
if ! mount -t tmpfs probe "$probe" 2>/dev/null; then rmdir "$probe"; skip "no permission to mount (container without CAP_SYS_ADMIN?)"; fi
umount "$probe"; rmdir "$probe"
chroot / true 2>/dev/null || skip "no permission to chroot"

exec 9>"$TOOLS/swift-trixie.lock"
flock 9  # one run at a time: the chroot and its mounts are shared

unmount_under() {  # every mount at or below $1, deepest first (left by a killed run)
    local m
    for m in $(awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
    ! awk -v d="$1" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts
}
cleanup() {
    unmount_under "$ROOT" || say "could not unmount everything under $ROOT"
    unmount_under "$ROOT.partial" || say "could not unmount everything under $ROOT.partial"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unmount_under "$ROOT" || { echo "swift: mounts left under $ROOT"; echo "0 passed, 0 failed"; exit 1; }

debian_mirror() {  # the Debian mirror apt on this machine uses, else the default one
    local m
    m=$(grep -hsE '^[[:space:]]*(URIs:|deb[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
        /etc/apt/sources.list.d/*.list | tr ' \t' '\n\n' | grep -E '^https?://.*/debian/?$' | head -1)
    echo "${DEBIAN_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

in_chroot() {  # run a command inside a chroot with /proc mounted for its duration
    local dir=$1; shift
    mount -t proc proc "$dir/proc" || return 1
    chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@"
    local rc=$?
    umount "$dir/proc"
    return $rc
}

install_packages() {  # $1 = chroot dir; idempotent thanks to the stamp
    [ "$(cat "$1/.srcore-packages" 2>/dev/null)" = "$PACKAGES" ] && return 0
    say "installing $PACKAGES in the chroot (log: $LOG)"
    # shellcheck disable=SC2086
    in_chroot "$1" sh -c "apt-get -o Acquire::Languages=none update && \
        apt-get install -y --no-install-recommends $PACKAGES && apt-get clean && \
        rm -rf /var/lib/apt/lists/*" >>"$LOG" 2>&1 || return 1
    echo "$PACKAGES" >"$1/.srcore-packages"
}

bootstrap() {  # builds the chroot in $ROOT.partial, renamed only once complete
    local mirror partial=$ROOT.partial script=trixie
    mirror=$(debian_mirror)
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap"
        { apt-get install -y -qq debootstrap || { apt-get update -qq && apt-get install -y -qq debootstrap; }; } \
            >>"$LOG" 2>&1 || skip "debootstrap is missing and apt cannot install it (no network?), see $LOG"
    fi
    [ -e "/usr/share/debootstrap/scripts/trixie" ] || script=/usr/share/debootstrap/scripts/sid
    unmount_under "$partial" || skip "mounts left under $partial"
    rm -rf --one-file-system "$partial"
    say "debootstrap trixie from $mirror into $partial (log: $LOG)"
    debootstrap --variant=minbase trixie "$partial" "$mirror" "$script" >>"$LOG" 2>&1 ||
        skip "debootstrap of trixie from $mirror failed (no network?), see $LOG"
    install_packages "$partial" || skip "apt-get install $PACKAGES in the chroot failed (no network?), see $LOG"
    unmount_under "$ROOT" || skip "mounts left under $ROOT"
    rm -rf --one-file-system "$ROOT"  # an unfinished one: a finished chroot is never rebuilt
    mv -T "$partial" "$ROOT"
}

t0=$(date +%s)
: >"$LOG"
if [ -e "$ROOT/.srcore-packages" ]; then  # a finished chroot (its swift is an absolute symlink)
    install_packages "$ROOT" || skip "apt-get install $PACKAGES in the chroot failed (no network?), see $LOG"
else
    bootstrap
fi
t1=$(date +%s)
version=$(in_chroot "$ROOT" swift --version 2>/dev/null | head -1)
[ -n "$version" ] || { echo "swift: $ROOT has no working swift; delete it to rebuild"; echo "0 passed, 0 failed"; exit 1; }
say "toolchain ready in $((t1 - t0)) s: $version"

# --- Build and test -----------------------------------------------------------------
mkdir -p "$ROOT$REPO_IN"
mount --bind "$REPO" "$ROOT$REPO_IN" ||
    { echo "swift: cannot bind-mount $REPO into the chroot"; echo "0 passed, 0 failed"; exit 1; }
mount -o remount,bind,ro "$ROOT$REPO_IN" || say "could not make the repo read-only in the chroot; going on"
out=$TOOLS/srcore-test.$$.log
trap 'rm -f "$out"; cleanup' EXIT
in_chroot "$ROOT" swift test --disable-swift-testing --package-path "$REPO_IN/ios_demo/SRCore" --scratch-path "$BUILD_IN" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
say "build and tests took $(( $(date +%s) - t1 )) s"
summary_and_exit "$out" "$rc"
