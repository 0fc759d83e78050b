#!/bin/sh
# Compare the built library's ABI with the committed baseline. Additions are
# fine; a removed or changed function, variable or type is not, except
# growth at the end of the versioned structs (suppressions.ini).
set -u
lib=$1 baseline=$2 headers=$3 supp=$4
if ! command -v abidiff >/dev/null 2>&1; then
    echo "abidiff not installed (Debian: abigail-tools)"
    [ "${CI:-}" = "true" ] && exit 1
    exit 77
fi
if [ ! -f "$baseline" ]; then
    echo "no baseline at $baseline: run 'make abi-baseline' and commit it"
    exit 1
fi
out=$(abidiff --headers-dir2 "$headers" --suppressions "$supp" \
      --no-added-syms "$baseline" "$lib" 2>&1)
rc=$?
echo "$out"
if [ $((rc & 1)) -ne 0 ] || [ $((rc & 2)) -ne 0 ]; then
    echo "abidiff failed to run (exit $rc)"; exit 1
fi
if [ $((rc & 8)) -ne 0 ]; then
    echo "INCOMPATIBLE ABI change against the baseline"; exit 1
fi
if echo "$out" | grep -E '[1-9][0-9]* (Removed|Changed)' | grep -v 'filtered out' >/dev/null; then
    echo "ABI change (removed or changed interface) against the baseline"; exit 1
fi
echo "ABI compatible with the baseline"
exit 0
