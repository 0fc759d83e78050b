#!/bin/sh
# Run every test suite and print one closing line "N passed, N failed".
#   scripts/check.sh BUILD BUILD_ASAN   plain suites, then unit+conformance
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
    meson test -C "$dir" --print-errorlogs --num-processes 2 \
        --logbase "testlog-$name" "$@" || status=1
    # meson appends the wrapper's name to the log's base name
    log=$(ls -t "$dir"/meson-logs/testlog-"$name"*.json 2>/dev/null | head -n 1)
    if [ -n "$log" ]; then logs="$logs $log"; else status=1; fi
}

run plain "$build"

if [ $quick -eq 0 ]; then
    if [ ! -f "$asan/build.ninja" ]; then
        meson setup "$asan" -Dwerror=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dexamples=false >/dev/null || status=1
    fi
    if ninja -C "$asan" >/dev/null; then
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ASAN_OPTIONS=detect_leaks=1 WABOT_TEST_SMALL=1 \
            run asan "$asan" --suite unit --suite conformance --suite bindings
    else
        echo "ASan build failed"; status=1
    fi
    # Bulk tests run a tenth of their items here (tests/common: tu_scale).
    WABOT_TEST_SMALL=1 run valgrind "$build" --suite unit --suite conformance \
        --wrapper "valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
        --timeout-multiplier 10
fi

python3 "$root/scripts/summarize.py" $logs || status=1
exit $status
