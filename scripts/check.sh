#!/bin/sh
# Run every test suite and print one closing line "N passed, N failed".
#   scripts/check.sh BUILD BUILD_ASAN   plain suites, the release tarball
#                                       (distcheck), then unit+conformance
#                                       under ASan+UBSan and under valgrind
#   scripts/check.sh --quick BUILD      plain suites only
set -u
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
build=${1:-build}
asan=${2:-build-asan}
root=$(cd "$(dirname "$0")/.." && pwd)
logs=""
status=0

run() { # name builddir [meson test args...]
    name=$1; dir=$2; shift 2
    echo "== $name =="
    t0=$(date +%s)
    meson test -C "$dir" --print-errorlogs --num-processes 2 \
        --logbase "testlog-$name" "$@" || status=1
    echo "== $name: $(( $(date +%s) - t0 )) s =="
    # meson appends the wrapper's name to the log's base name
    log=$(ls -t "$dir"/meson-logs/testlog-"$name"*.json 2>/dev/null | head -n 1)
    if [ -n "$log" ]; then logs="$logs $log"; else status=1; fi
}

# The release tarball of the last commit builds on its own and passes its
# unit suite (scripts/distcheck.sh --quick); counted as the one test
# "dist / distcheck". A dirty tree is packed as committed (--allow-dirty):
# a file the build uses but git does not have fails it, as it would on CI.
distcheck() {
    echo "== distcheck =="
    out="$build/meson-logs/distcheck.txt"
    log="$build/meson-logs/testlog-distcheck.json"
    rm -f "$log"
    t0=$(date +%s)
    result=FAIL
    version=$(meson introspect "$build" --projectinfo | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["version"])')
    if meson dist -C "$build" --no-tests --formats xztar --allow-dirty \
            > "$out" 2>&1 &&
       sh "$root/scripts/distcheck.sh" --quick \
            "$build/meson-dist/libwabot-$version.tar.xz" "$build" >> "$out" 2>&1
    then
        result=OK
        grep '^distcheck:' "$out"
    else
        status=1
        cat "$out"
    fi
    echo "== distcheck: $(( $(date +%s) - t0 )) s =="
    python3 "$root/scripts/summarize.py" --record "$log" "dist / distcheck" \
        $result $(( $(date +%s) - t0 )) "$out" && logs="$logs $log"
}

run plain "$build"

if [ $quick -eq 0 ]; then
    distcheck
    if [ ! -f "$asan/build.ninja" ]; then
        meson setup "$asan" -Dwerror=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dexamples=false >/dev/null || status=1
    fi
    # Only what the suites below run (not the benchmarks or the Redis and
    # integration programs, which this build never runs).
    asan_suites="unit conformance bindings"
    t0=$(date +%s)
    # shellcheck disable=SC2046,SC2086 # target paths have no spaces
    if ninja -C "$asan" build.ninja > "$asan/meson-logs/build.log" 2>&1 &&
       targets=$(python3 "$root/scripts/suite-targets.py" "$asan" $asan_suites) &&
       ninja -C "$asan" $targets >> "$asan/meson-logs/build.log" 2>&1; then
        echo "== asan build: $(( $(date +%s) - t0 )) s =="
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ASAN_OPTIONS=detect_leaks=1 WABOT_TEST_SMALL=1 \
            run asan "$asan" --suite unit --suite conformance --suite bindings
    else
        tail -30 "$asan/meson-logs/build.log"; echo "ASan build failed"; status=1
    fi
    # Bulk tests run a tenth of their items here (tests/common: tu_scale).
    # CK_FORK=no: one process per test program, not a child per Check
    # test. valgrind translates the code each process runs afresh, so the
    # children were most of this pass's time (storage-memory: 44 CPU s
    # forked, 8 without). The plain and ASan passes keep a child per test;
    # here the tests also run one after another in one process, which
    # shows a test that leans on an earlier one's state.
    CK_FORK=no WABOT_TEST_SMALL=1 run valgrind "$build" --suite unit --suite conformance \
        --wrapper "valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
        --timeout-multiplier 10
fi

python3 "$root/scripts/summarize.py" $logs || status=1
exit $status
