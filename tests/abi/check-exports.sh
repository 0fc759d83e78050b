#!/bin/sh
# Fail if the library exports anything but the versioned wabot_* symbols of
# the version script, if a symbol carries another version node than the map
# gives it, or if the two sets differ.
set -eu
lib=$1
map=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' |
    grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | sort > "$tmp/exported"
sed 's/@.*//' "$tmp/exported" | grep -v '^WABOT_' | sort -u > "$tmp/names"
grep -o 'wabot_[A-Za-z0-9_]*' "$map" | sort -u > "$tmp/mapped"

status=0
if grep -v '^wabot_' "$tmp/names" > "$tmp/foreign"; then
    echo "exported symbols outside wabot_*:"; cat "$tmp/foreign"; status=1
fi
if grep -v -E '@@?WABOT_[0-9]+\.[0-9]+$' "$tmp/exported" | grep -v '^WABOT_' > "$tmp/unversioned"; then
    echo "exported symbols without a WABOT_ version node:"; cat "$tmp/unversioned"; status=1
fi
# "symbol@@NODE" as the map assigns them, against what the library carries.
awk '/^WABOT_[0-9.]+ *\{/ { node = $1; sub(/\{/, "", node) }
     /^ *wabot_[a-z0-9_]*;/ { s = $1; sub(/;/, "", s); print s "@@" node }' \
    "$map" | sort > "$tmp/map_nodes"
grep '^wabot_' "$tmp/exported" | sort > "$tmp/lib_nodes"
if ! diff -u "$tmp/map_nodes" "$tmp/lib_nodes" > "$tmp/nodediff"; then
    echo "version nodes differ from $map (- map, + library):"
    cat "$tmp/nodediff"; status=1
fi
if ! diff -u "$tmp/mapped" "$tmp/names" > "$tmp/diff"; then
    echo "exports differ from $map (- in the map only, + exported only):"
    cat "$tmp/diff"; status=1
fi
echo "$(wc -l < "$tmp/names") symbols exported"
exit $status
