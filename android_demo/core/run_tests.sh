#!/usr/bin/env bash
# Build and test the pure-Kotlin core of the Android demo on Linux, without an Android SDK:
# JetBrains' kotlinc from npm, JUnit 5 and Android's org.json from Debian packages. Installs
# what is missing (idempotent), compiles src/main alone (it must not need anything but org.json),
# then the tests, runs them against tests/conformance/vectors.json, and ends with exactly one
# line "N passed, N failed". Exits non-zero if any test failed or none ran.
#
# The toolchain is cached OUTSIDE the clone (project rule), so that every clone on the machine,
# CI's fresh ones included, reuses it: ${MOSSNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mossnet}.
# Build output goes to a fresh temporary folder, removed on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KOTLIN_VERSION=2.3.21   # kotlin-compiler on npm = JetBrains' kotlinc
CACHE=${MOSSNET_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mossnet}
TOOLS="$CACHE/kotlin-$KOTLIN_VERSION"
KOTLIN_HOME="$TOOLS/node_modules/kotlin-compiler"
KOTLINC="$KOTLIN_HOME/bin/kotlinc"
JAVA_JARS=/usr/share/java
JUNIT="$JAVA_JARS/junit-platform-console-standalone.jar"
ORG_JSON="$JAVA_JARS/com.android.json.jar"

log() { echo "[android core] $*" >&2; }

# A setup or compile failure still ends with the closing line (nothing ran) and a non-zero exit.
summary_printed=0
BUILD=""
trap 'rc=$?; [ -z "$BUILD" ] || rm -rf "$BUILD"; if [ "$summary_printed" = 0 ]; then echo "0 passed, 0 failed"; [ "$rc" -ne 0 ] || rc=1; fi; exit $rc' EXIT

apt_install() {
    if ! command -v apt-get >/dev/null; then
        log "missing $*; install them with your package manager"; exit 2
    fi
    log "installing $*"
    apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

command -v java >/dev/null || apt_install default-jre-headless
if [ ! -f "$JUNIT" ] || [ ! -f "$ORG_JSON" ]; then apt_install junit5 libandroid-json-java; fi
kotlin_ready() { [ -x "$KOTLINC" ] && grep -q "\"version\": \"$KOTLIN_VERSION\"" "$KOTLIN_HOME/package.json" 2>/dev/null; }
if ! kotlin_ready; then
    command -v npm >/dev/null || apt_install npm
    mkdir -p "$CACHE"
    # One installer at a time (clones and CI share the cache); the install lands in a .partial
    # folder renamed into place only once complete, so a killed run never leaves half a compiler.
    exec 8>"$CACHE/kotlin.lock"
    flock 8
    if ! kotlin_ready; then
        log "installing kotlin-compiler@$KOTLIN_VERSION (npm) into $TOOLS"
        rm -rf "$TOOLS.partial"
        npm install --prefix "$TOOLS.partial" --no-audit --no-fund --silent "kotlin-compiler@$KOTLIN_VERSION" >&2
        rm -rf "$TOOLS"
        mv -T "$TOOLS.partial" "$TOOLS"
    fi
    flock -u 8
fi

if grep -rn --include='*.kt' -E '^import android(x)?\.' "$HERE/src/main"; then
    log "src/main must stay pure Kotlin: no android.* imports"; exit 2
fi

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/mossnet-android-core.XXXXXX")
export JAVA_OPTS="${JAVA_OPTS:--Xss4m}"
log "compiling src/main ($("$KOTLINC" -version 2>&1 | grep -o 'kotlinc-jvm [0-9.]*'))"
mapfile -t MAIN_SOURCES < <(find "$HERE/src/main/kotlin" -name '*.kt' | sort)
mapfile -t TEST_SOURCES < <(find "$HERE/src/test/kotlin" -name '*.kt' | sort)
"$KOTLINC" -jvm-target 17 -nowarn -cp "$ORG_JSON" -d "$BUILD/main" "${MAIN_SOURCES[@]}"
log "compiling src/test"
"$KOTLINC" -jvm-target 17 -nowarn -cp "$BUILD/main:$ORG_JSON:$JUNIT:$KOTLIN_HOME/lib/kotlin-test.jar" \
    -d "$BUILD/test" "${TEST_SOURCES[@]}"

RUN_CP="$BUILD/main:$BUILD/test:$ORG_JSON:$KOTLIN_HOME/lib/kotlin-stdlib.jar:$KOTLIN_HOME/lib/kotlin-test.jar"
RUN_CP="$RUN_CP:$KOTLIN_HOME/lib/kotlin-test-junit5.jar"
set +e
java -Dmossnet.vectors="$ROOT/tests/conformance/vectors.json" -jar "$JUNIT" \
    --disable-banner --details=summary --disable-ansi-colors \
    -cp "$RUN_CP" --select-package org.mossnet.core 2>&1 | tee "$BUILD/junit.log"
rc=${PIPESTATUS[0]}
set -e

# The launcher's summary table: "[        42 tests successful      ]".
count() { local n; n=$(sed -n "s/^\[ *\([0-9][0-9]*\) $1 *\]$/\1/p" "$BUILD/junit.log" | tail -1); echo "${n:-0}"; }
passed=$(count "tests successful")
failed=$(( $(count "tests failed") + $(count "containers failed") ))
echo "$passed passed, $failed failed"
summary_printed=1
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
