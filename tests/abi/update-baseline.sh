#!/bin/sh
# Regenerate tests/abi/libwabot.abi from a build. Commit the result on its
# own, saying what changed and why (doc/abi.md).
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=$(ls "$build"/libwabot.so.*.*.* | head -n 1)
abidw --headers-dir "$root/include" --no-corpus-path "$lib" \
    > "$root/tests/abi/libwabot.abi"
echo "wrote tests/abi/libwabot.abi from $lib"
