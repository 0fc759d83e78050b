#!/bin/sh
# The release tarball builds on its own. Prints how long each step took.
#   scripts/distcheck.sh TARBALL
#       (make distcheck) unpack into a scratch directory, configure
#       (-Dwerror=true), build everything, run the unit suite.
#   scripts/distcheck.sh --quick TARBALL BUILD
#       (make check, so CI) the same proof at a fraction of the cost:
#       - every file of the source tree that BUILD's compiler read (its
#         sources and headers, tests and examples included: ninja's deps
#         log) is in the tarball;
#       - the unpacked tree configures with every default option on, so
#         meson finds every file a meson.build names, and every
#         source-tree path a test is given (corpus, scripts) exists;
#       - the library and the unit suite's programs build from it without
#         optimization (-O0, no -g: only completeness is checked here, the
#         plain pass checks the optimized build's warnings) and the unit
#         suite passes.
set -eu
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
step() { echo "distcheck: $1 ($(( $(date +%s) - start )) s so far)"; }
fail() { echo "distcheck: FAIL: $1"; exit 1; }
tar -C "$tmp" -xf "$tarball"
src=$(ls -d "$tmp"/*/)
src=${src%/}
# The tarball is a source release: no git metadata, nothing generated
# that the build makes again.
[ ! -e "$src/.git" ] || fail ".git in the tarball"
step "unpacked $(basename "$tarball")"

if [ $quick -eq 1 ]; then
    build=$(cd "$2" && pwd)
    root=$(python3 -c 'import json,os,sys; print(os.path.realpath(json.load(open(sys.argv[1]))["directories"]["source"]))' \
        "$build/meson-info/meson-info.json")
    # Paths in the deps log are relative to the build directory or
    # absolute; keep those inside the source tree but outside any build
    # directory (generated files are made again from the tarball).
    ninja -C "$build" -t deps | sed -n 's/^    //p' | sort -u > "$tmp/deps.txt"
    [ -s "$tmp/deps.txt" ] || fail "no deps log in $build (build it first)"
    (cd "$build" && tr '\n' '\0' < "$tmp/deps.txt" | xargs -0 realpath -m --) |
        sed -n "s|^$root/||p" | sort -u > "$tmp/used.txt"
    [ -s "$tmp/used.txt" ] || fail "no file of $root in $build's deps log"
    missing=0
    while IFS= read -r f; do
        top=${f%%/*}
        [ -d "$root/$top/meson-info" ] && continue # in a build directory
        [ -e "$src/$f" ] && continue
        echo "distcheck: $f is used by the build but not in the tarball" \
             "(not committed? meson dist packs the last commit)"
        missing=1
    done < "$tmp/used.txt"
    [ $missing -eq 0 ] || fail "files missing from the tarball"
    step "all $(wc -l < "$tmp/used.txt") source files the build compiled are in the tarball"
    opts="--buildtype=plain"
else
    opts=""
fi

# shellcheck disable=SC2086 # $opts is empty or one word
meson setup "$tmp/build" "$src" -Dwerror=true $opts > "$tmp/setup.log" 2>&1 || {
    cat "$tmp/setup.log"; fail "meson setup"; }
step "configured"

if [ $quick -eq 1 ]; then
    # Paths given to tests as strings (meson checked every files() entry).
    meson introspect "$tmp/build" --tests > "$tmp/tests.json"
    python3 - "$tmp/tests.json" "$src" <<'EOF' || fail "test inputs missing from the tarball"
import json, os, sys
tests, src = json.load(open(sys.argv[1])), sys.argv[2] + "/"
bad = sorted({a for t in tests for a in t["cmd"]
              if a.startswith(src) and not os.path.exists(a)})
for a in bad:
    print(f"distcheck: {a[len(src):]} is given to a test but not in the tarball")
sys.exit(1 if bad else 0)
EOF
    step "every source path the tests name is in the tarball"
else
    ninja -C "$tmp/build" > "$tmp/build.log" 2>&1 || {
        tail -50 "$tmp/build.log"; fail "build"; }
    step "built"
fi

# meson test builds only what the selected tests need.
meson test -C "$tmp/build" --suite unit --print-errorlogs --num-processes 2 \
    > "$tmp/test.log" 2>&1 || {
    tail -60 "$tmp/test.log"; fail "unit suite (or its build)"; }
grep -E '^(Ok|Fail):' "$tmp/test.log" | tr -s ' ' | tr '\n' ' '; echo
step "unit suite passed: $(basename "$tarball") is good"
