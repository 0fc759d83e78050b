#!/bin/sh
# The release tarball builds on its own: unpack it into a scratch
# directory, configure (-Dwerror=true), build, and run the unit suite.
# Prints how long each step took.
#   scripts/distcheck.sh TARBALL      (make distcheck makes the tarball)
set -eu
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
step() { echo "distcheck: $1 ($(( $(date +%s) - start )) s so far)"; }
tar -C "$tmp" -xf "$tarball"
src=$(ls -d "$tmp"/*/)
# The tarball is a source release: no git metadata, nothing generated
# that the build makes again.
[ ! -e "$src/.git" ] || { echo "distcheck: FAIL: .git in the tarball"; exit 1; }
step "unpacked $(basename "$tarball")"
meson setup "$tmp/build" "$src" -Dwerror=true > "$tmp/setup.log" 2>&1 || {
    cat "$tmp/setup.log"; echo "distcheck: FAIL: meson setup"; exit 1; }
step "configured"
ninja -C "$tmp/build" > "$tmp/build.log" 2>&1 || {
    tail -50 "$tmp/build.log"; echo "distcheck: FAIL: build"; exit 1; }
step "built"
meson test -C "$tmp/build" --suite unit --print-errorlogs --num-processes 2 \
    > "$tmp/test.log" 2>&1 || {
    tail -60 "$tmp/test.log"; echo "distcheck: FAIL: unit suite"; exit 1; }
grep -E '^(Ok|Fail):' "$tmp/test.log" | tr -s ' ' | tr '\n' ' '; echo
step "unit suite passed: $(basename "$tarball") is good"
