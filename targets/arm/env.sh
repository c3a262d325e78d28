#!/usr/bin/env bash
# Build, once, the emulated arm64 environment in which targets/arm/guest.py runs the aarch64
# builds of the pinned runtimes (ExecuTorch + XNNPACK, LiteRT) under qemu user emulation.
#
#   bash targets/arm/env.sh            -> progress on stderr, the environment's path on stdout
#   ENV=$(bash targets/arm/env.sh)
#   QEMU_CPU=cortex-a76 "$ENV/bin/guest-python" targets/arm/guest.py JOB.json
#
# Cache: ${MOSSNET_CACHE:-$HOME/.cache/mossnet}/arm64-<stamp>/, <stamp> = hash of the PINS block
# below and of cuda_stubs.py. Built in arm64-<stamp>.partial/ and renamed only when complete and
# smoke-tested, so a killed build never leaves a broken cache; a rerun finds READY and returns at
# once. Downloaded .debs and wheels are kept in $MOSSNET_CACHE/downloads (and pip's own cache),
# so a stamp change rebuilds without downloading again.
#
# Layout of the environment:
#   bin/qemu-aarch64   static qemu-user 10.0 from Debian trixie (bookworm's 7.2 miscomputes
#                      ExecuTorch's int8 kernels with -cpu max, i.e. SME on)
#   bin/guest-python   launcher: qemu-aarch64 -L rootfs rootfs/usr/bin/python3.11 "$@"
#   rootfs/            bookworm arm64 python3.11 and the shared libraries it and torch need,
#                      unpacked from the .debs (no maintainer scripts, nothing runs emulated
#                      while building) + a minimal fake /sys/devices/system/cpu
#   site/              aarch64 wheels laid out by the HOST pip (--target --platform ...):
#                      torch (no CUDA wheels: cuda_stubs.py stubs the CUDA libraries),
#                      executorch, ai-edge-litert, numpy and their small pure-Python deps
#   versions.txt       what was actually resolved (Debian package versions, wheels)
#
# Why `qemu-aarch64 -L ROOTFS` and not a chroot: -L needs no root and no mounts at run time;
# the guest sees the host's file system (artifacts in /tmp, the checkout) at the same paths,
# while every absolute path that exists under ROOTFS (the arm64 ld.so and libraries, python's
# stdlib, the fake /sys/devices/system/cpu files) is taken from ROOTFS first. qemu emulates
# /proc/cpuinfo and AT_HWCAP/AT_HWCAP2 from the -cpu model, which is what cpuinfo/XNNPACK read.
# The fake /sys tree (possible/present/online = "0", cpu0/) is required: without it cpuinfo
# cannot enumerate CPUs and XNNPACK fails to initialize; binding the host's /sys into a chroot
# made `import torch` segfault (shared/notes/toolchain.md).
#
# Needs: bash, apt-get + dpkg-deb (Debian/Ubuntu host; no root needed, nothing is installed on the
# host), a host python3 with pip (MOSSNET_HOST_PYTHON, else the checkout's .venv, else python3),
# network access to deb.debian.org and PyPI. Exits non-zero with one "env.sh: error: ..." line.
set -euo pipefail

# ---- PINS: changing anything here changes the stamp --------------------------------------------
PINS='
format=1
debian_guest=bookworm arm64: python3.11 libpython3.11-stdlib libstdc++6 libgomp1 libatomic1
debian_qemu=trixie amd64: qemu-user 1:10.0.*
debian_binutils=bookworm amd64: binutils-aarch64-linux-gnu libjansson4
python=cp311 manylinux_2_28_aarch64
wheels=torch==2.13.0 executorch==1.5.1 ai-edge-litert==2.3.0 numpy==2.4.6
deps=flatbuffers==25.12.19 ml_dtypes==0.6.0 protobuf==7.36.2 tqdm==4.70.1 typing_extensions==4.12.2 filelock==4.3.1 fsspec==2026.9.0 jinja2==3.1.6 MarkupSafe==3.0.4 networkx==3.6.1 sympy==1.14.0 mpmath==1.3.0
'
GUEST_DEBS="python3.11 libpython3.11-stdlib libstdc++6 libgomp1 libatomic1"
QEMU_DEB_PATTERN='1:10.0.*'
WHEELS="torch==2.13.0 executorch==1.5.1 ai-edge-litert==2.3.0 numpy==2.4.6"
DEPS="flatbuffers==25.12.19 ml_dtypes==0.6.0 protobuf==7.36.2 tqdm==4.70.1 typing_extensions==4.12.2 filelock==4.3.1 fsspec==2026.9.0 jinja2==3.1.6 MarkupSafe==3.0.4 networkx==3.6.1 sympy==1.14.0 mpmath==1.3.0"
MIRROR=${MOSSNET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${MOSSNET_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# -------------------------------------------------------------------------------------------------

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
T0=$(date +%s)
say() { echo "env.sh: [$(( $(date +%s) - T0 ))s] $*" >&2; }
die() { echo "env.sh: error: $*" >&2; exit 1; }

STAMP=$( { printf '%s' "$PINS"; cat "$HERE/cuda_stubs.py"; } | sha256sum | cut -c1-12)
CACHE=${MOSSNET_CACHE:-$HOME/.cache/mossnet}
DEST=$CACHE/arm64-$STAMP
if [[ -f $DEST/READY ]]; then
    echo "$DEST"
    exit 0
fi

for tool in apt-get dpkg-deb sha256sum flock; do
    command -v "$tool" >/dev/null || die "'$tool' not found: this script needs a Debian/Ubuntu host (apt-get, dpkg-deb, util-linux)"
done
[[ -r $KEYRING ]] || die "$KEYRING missing: install debian-archive-keyring (on Ubuntu: apt-get install debian-archive-keyring)"
[[ $(uname -m) == x86_64 ]] || die "host is $(uname -m); this script fetches the amd64 build of qemu-user"
HOSTPY=${MOSSNET_HOST_PYTHON:-}
if [[ -z $HOSTPY ]]; then
    if [[ -x $REPO/.venv/bin/python ]]; then HOSTPY=$REPO/.venv/bin/python; else HOSTPY=python3; fi
fi
"$HOSTPY" -m pip --version >/dev/null 2>&1 || die "'$HOSTPY -m pip' does not work: set MOSSNET_HOST_PYTHON to a python with pip"

mkdir -p "$CACHE" || die "cannot create $CACHE"
exec 9>"$CACHE/arm64-$STAMP.lock"
if ! flock -n 9; then
    say "another build of arm64-$STAMP is running; waiting for it"
    flock 9
fi
if [[ -f $DEST/READY ]]; then echo "$DEST"; exit 0; fi

PART=$DEST.partial
rm -rf "$PART"
mkdir -p "$PART"/{bin,rootfs,site,work} "$CACHE/downloads/debs/partial"
WORK=$PART/work
say "building $DEST (cold build: about 2-4 minutes plus downloads of ~520 MB)"

# apt with a private state directory: only downloads, nothing is installed on the host.
# apt_get SUITE ARCH ARGS...
apt_get() {
    local suite=$1 arch=$2; shift 2
    local d=$WORK/apt-$suite-$arch
    if [[ ! -d $d ]]; then
        mkdir -p "$d"/{etc/apt/apt.conf.d,etc/apt/preferences.d,etc/apt/sources.list.d,lists/partial,dpkg}
        touch "$d/dpkg/status"
        {
            echo "deb [arch=$arch signed-by=$KEYRING] $MIRROR $suite main"
            echo "deb [arch=$arch signed-by=$KEYRING] $MIRROR $suite-updates main"
            echo "deb [arch=$arch signed-by=$KEYRING] $SECURITY $suite-security main"
        } > "$d/etc/apt/sources.list"
    fi
    apt-get -q -o Dir="$d" -o Dir::State="$d" -o Dir::State::Lists="$d/lists" \
        -o Dir::State::status="$d/dpkg/status" -o Dir::Cache="$d" \
        -o Dir::Cache::archives="$CACHE/downloads/debs" -o Dir::Etc::Parts="$d/etc/apt/apt.conf.d" \
        -o APT::Architecture="$arch" -o APT::Architectures::="$arch" \
        -o APT::Install-Recommends=0 -o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1 \
        -o Acquire::Languages=none -o Acquire::Retries=3 "$@"
}
apt_update() {
    apt_get "$1" "$2" update >"$WORK/apt-update-$1-$2.log" 2>&1 \
        && ! grep -qE '^(W|E): (Failed|Some index)' "$WORK/apt-update-$1-$2.log" \
        || die "cannot read the Debian $1 ($2) index from $MIRROR (no network?): $(grep -E "^(W|E):" "$WORK/apt-update-$1-$2.log" | head -n1 || tail -n1 "$WORK/apt-update-$1-$2.log")"
}
# Resolve a package to its .deb in the download cache (apt-get download, no dependencies).
deb_path() {  # SUITE ARCH PKG [VERSION]
    local suite=$1 arch=$2 pkg=$3 ver=${4:-}
    ver=${ver:-$(apt_get "$suite" "$arch" -qq --print-uris download "$pkg" 2>/dev/null | awk '{print $2}' | sed -E 's/^[^_]+_([^_]+)_.*/\1/')}
    [[ -n $ver ]] || die "package $pkg not found in Debian $suite ($arch)"
    ( cd "$CACHE/downloads/debs" && apt_get "$suite" "$arch" -qq download "$pkg=$(echo "$ver" | sed 's/%3a/:/')" >/dev/null 2>&1 ) \
        || die "cannot download $pkg=$ver from Debian $suite ($arch)"
    ls "$CACHE/downloads/debs/${pkg}_${ver}_"*.deb | head -n1
}

# 1. arm64 python3.11 rootfs: the dependency closure of the guest packages, unpacked -----------
say "Debian bookworm arm64: resolving $GUEST_DEBS"
apt_update bookworm arm64
apt_get bookworm arm64 -y --download-only install $GUEST_DEBS >"$WORK/apt-guest.log" 2>&1 \
    || die "cannot download the arm64 packages ($GUEST_DEBS): $(grep -E '^E:' "$WORK/apt-guest.log" | head -n1)"
# the closure (against an empty dpkg status), with versions, from a simulated install
apt_get bookworm arm64 -s install $GUEST_DEBS 2>/dev/null | awk '/^Inst /{print $2, $3}' | tr -d '()[]' > "$WORK/guest-closure.txt"
[[ -s $WORK/guest-closure.txt ]] || die "apt resolved no packages for $GUEST_DEBS"
n=0
while read -r pkg ver; do
    pkg=${pkg%%:*}
    f=$(ls "$CACHE/downloads/debs/${pkg}_$(echo "$ver" | sed 's/:/%3a/')_"*.deb 2>/dev/null | head -n1)
    [[ -n $f ]] || die "$pkg $ver was resolved but not downloaded"
    dpkg-deb -x "$f" "$PART/rootfs"
    echo "deb $pkg $ver arm64" >> "$PART/versions.txt"
    n=$((n + 1))
done < "$WORK/guest-closure.txt"
[[ -x $PART/rootfs/usr/bin/python3.11 ]] || die "python3.11 missing from the unpacked rootfs"
rm -rf "$PART"/rootfs/usr/share/{doc,man,info,locale,lintian} "$PART"/rootfs/usr/lib/python3.11/test
# minimal fake sysfs: one CPU (cpuinfo's processors count; XNNPACK then runs single-threaded)
mkdir -p "$PART/rootfs/sys/devices/system/cpu/cpu0"
for f in possible present online; do echo 0 > "$PART/rootfs/sys/devices/system/cpu/$f"; done
say "rootfs: $n packages unpacked ($(du -sh "$PART/rootfs" | cut -f1))"

# 2. qemu-user 10.0 (static) from trixie ----------------------------------------------------------
say "Debian trixie amd64: qemu-user $QEMU_DEB_PATTERN"
apt_update trixie amd64
qver=$(apt-cache -o Dir="$WORK/apt-trixie-amd64" -o Dir::State::Lists="$WORK/apt-trixie-amd64/lists" \
        -o Dir::State::status="$WORK/apt-trixie-amd64/dpkg/status" -o Dir::Cache="$WORK/apt-trixie-amd64" \
        -o APT::Architecture=amd64 -o APT::Architectures::=amd64 madison qemu-user 2>/dev/null \
        | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -E "^${QEMU_DEB_PATTERN//\*/.*}$" | sort -V | tail -n1)
[[ -n $qver ]] || die "no qemu-user $QEMU_DEB_PATTERN in Debian trixie"
qdeb=$(deb_path trixie amd64 qemu-user "$(echo "$qver" | sed 's/:/%3a/')")
dpkg-deb --fsys-tarfile "$qdeb" | tar -xO ./usr/bin/qemu-aarch64 > "$PART/bin/qemu-aarch64"
chmod 755 "$PART/bin/qemu-aarch64"
"$PART/bin/qemu-aarch64" --version | head -n1 | grep -q 'version 10\.' || die "unpacked qemu-aarch64 does not run or is not 10.x"
echo "deb qemu-user $qver amd64 (usr/bin/qemu-aarch64 only)" >> "$PART/versions.txt"
say "qemu: $("$PART/bin/qemu-aarch64" --version | head -n1)"

# 3. aarch64 wheels, laid out by the host pip ------------------------------------------------------
say "pip (host) --target site: $WHEELS (+ deps, torch without its CUDA wheels)"
PIP_PLAT=(--platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64
          --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64
          --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all:)
"$HOSTPY" -m pip install --disable-pip-version-check --no-warn-script-location --no-deps \
    --target "$PART/site" "${PIP_PLAT[@]}" $WHEELS $DEPS >"$WORK/pip.log" 2>&1 \
    || die "pip could not fetch the aarch64 wheels (no network to PyPI?): $(grep -E 'ERROR' "$WORK/pip.log" | head -n1)"
"$HOSTPY" -m pip list --path "$PART/site" --format freeze 2>/dev/null | sed 's/^/wheel /' >> "$PART/versions.txt"
# not needed to run programs: headers, cmake files, protoc, CUDA-only helpers (import torch
# checks that torch/bin/torch_shm_manager exists: keep it)
rm -rf "$PART/site/bin" "$PART"/site/torch/{include,share} "$PART"/site/torch/bin/protoc* \
       "$PART"/site/torch/lib/{libtorch_cuda_linalg.so,libcaffe2_nvrtc.so} "$PART/site/executorch/extension/llm"
say "site: $(du -sh "$PART/site" | cut -f1)"

# 4. CUDA stubs: PyPI's aarch64 torch is a CUDA build (libtorch_cpu.so itself needs libcudart) --
say "stubbing the CUDA libraries torch links (cuda_stubs.py)"
BU=$WORK/binutils
apt_update bookworm amd64
for p in binutils-aarch64-linux-gnu libjansson4; do
    deb=$(deb_path bookworm amd64 $p)
    dpkg-deb -x "$deb" "$BU"
done
LD_LIBRARY_PATH="$BU/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$HOSTPY" "$HERE/cuda_stubs.py" "$PART/site" "$PART/site/torch/lib" "$BU/usr/bin/aarch64-linux-gnu-" \
    "$PART/rootfs/lib/aarch64-linux-gnu" "$PART/rootfs/usr/lib/aarch64-linux-gnu" 2>"$WORK/stubs.log" \
    || die "building the CUDA stub libraries failed: $(tail -n1 "$WORK/stubs.log")"
grep -q 'not stubbed' "$WORK/stubs.log" && die "$(grep 'not stubbed' "$WORK/stubs.log")"

# 5. launcher --------------------------------------------------------------------------------------
cat > "$PART/bin/guest-python" <<'EOF'
#!/usr/bin/env bash
# Run the environment's aarch64 python3.11 under qemu-user: guest-python [python args...]
# QEMU_CPU selects the emulated CPU (qemu-aarch64 -cpu help); default: qemu's (max).
# The host's loader and python variables are dropped: the guest's ld.so and python would
# otherwise try the host's x86 libraries and site-packages.
ENV=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
unset LD_LIBRARY_PATH LD_PRELOAD PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV PYTHONUSERBASE
export PYTHONPATH=$ENV/site${MOSSNET_GUEST_PYTHONPATH:+:$MOSSNET_GUEST_PYTHONPATH}
export PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1
exec "$ENV/bin/qemu-aarch64" -L "$ENV/rootfs" "$ENV/rootfs/usr/bin/python3.11" "$@"
EOF
chmod 755 "$PART/bin/guest-python"

# 6. smoke test under emulation: every runtime imports ---------------------------------------------
say "smoke test (imports torch under emulation: ~20-70 s)"
rm -rf "$WORK"
out=$(QEMU_CPU=cortex-a53 "$PART/bin/guest-python" -c '
import platform, numpy, torch
from executorch.extension.pybindings import _C
from ai_edge_litert.interpreter import Interpreter
assert platform.machine() == "aarch64" and not torch.cuda.is_available()
print("ok", platform.python_version(), numpy.__version__, torch.__version__)' 2>&1) \
    || die "smoke test failed under qemu: $(echo "$out" | grep -v cpuinfo | tail -n1)"
say "smoke test: $(echo "$out" | tail -n1)"

echo "stamp $STAMP" >> "$PART/versions.txt"
date -u +%FT%TZ > "$PART/READY"
mv "$PART" "$DEST"
say "ready: $(du -sh "$DEST" | cut -f1) in $(( $(date +%s) - T0 )) s"
echo "$DEST"
