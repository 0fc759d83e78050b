#!/bin/sh
# The README's "bot in 20 lines" stays true: the ```c block after the
# <!-- readme-bot --> marker compiles (C11, -Wall -Wextra -Werror) against
# the headers and the built libwabot, runs, and prints the line the README
# says it prints (the first `[bot -> ...]` quoted in the README).
#   check-readme-bot.sh SOURCE_ROOT BUILD_ROOT CC...
set -eu
src=$1
build=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/<!-- readme-bot/ { want = 1; next }
     want && /^```c/ { inblock = 1; want = 0; next }
     inblock && /^```/ { exit }
     inblock { print }' "$src/README.md" > "$tmp/bot.c"
[ -s "$tmp/bot.c" ] || { echo "FAIL: no readme-bot block in README.md"; exit 1; }
lines=$(wc -l < "$tmp/bot.c")
expected=$(grep -o '`\[bot -> [^`]*`' "$src/README.md" | head -n 1 | tr -d '`')
[ -n "$expected" ] || { echo "FAIL: the README quotes no [bot -> ...] line"; exit 1; }
"$@" -std=c11 -Wall -Wextra -Werror -I"$src/include" -o "$tmp/bot" "$tmp/bot.c" \
    -L"$build" -lwabot -Wl,-rpath,"$build" || {
    echo "FAIL: the README's bot does not compile:"; cat -n "$tmp/bot.c"; exit 1; }
"$tmp/bot" > "$tmp/out" 2> "$tmp/err" || {
    echo "FAIL: the README's bot exited non-zero:"; cat "$tmp/out" "$tmp/err"; exit 1; }
grep -qxF "$expected" "$tmp/out" || {
    echo "FAIL: the README's bot printed:"; cat "$tmp/out" "$tmp/err"
    echo "the README says: $expected"; exit 1; }
echo "ok: the README's bot ($lines lines, $(grep -c . "$tmp/bot.c") not blank) compiles, runs and prints: $expected"
