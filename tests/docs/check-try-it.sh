#!/bin/sh
# The documented commands cannot go stale. Every shell block (```sh,
# ```shell, ```bash, ```console) in the README, examples/README.md and
# doc/*.md carries a marker on the line before it, and the marker is kept:
#   <!-- try-it ... -->              run against a real wabot-server (below)
#   <!-- runnable ... -->            run as written (sh -e, from the source
#                                    root, build/ -> the build dir, 60 s)
#   <!-- covered-by: T1, T2 -- why -->  each Ti names a test of this build
#                                    that runs these commands
#   <!-- not-run: why -->            not run, with the reason
# An unmarked shell block fails the check.
#
# try-it blocks: the server is started as the docs say (demo bot,
# TWILIO_AUTH_TOKEN=dev-secret) on a free port; the block runs from the
# source root with 3000 replaced by that port and build/ by the build dir.
# A block passes when it exits 0, its output is TwiML, and the server
# printed a bot reply for it.
#   check-try-it.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$1
build=$2
tmp=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Every shell block and its marker: "file<TAB>line<TAB>kind<TAB>argument",
# the body of runnable block k in $tmp/runnable.k.
python3 - "$src" "$tmp" > "$tmp/blocks" <<'PY'
import glob, os, re, sys
src, tmp = sys.argv[1], sys.argv[2]
files = [os.path.join(src, 'README.md'), os.path.join(src, 'examples', 'README.md')]
files += sorted(glob.glob(os.path.join(src, 'doc', '*.md')))
k = 0
for f in files:
    lines = open(f, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        m = re.match(r'^```(\w*)', lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith('```'):
            j += 1
        if lang in ('sh', 'shell', 'bash', 'console'):
            prev = next((l for l in reversed(lines[:start]) if l.strip()), '')
            mk = re.match(r'^<!--\s*(try-it|runnable|covered-by:|not-run:)(.*?)-->\s*$', prev)
            kind = mk.group(1).rstrip(':') if mk else 'unmarked'
            arg = mk.group(2).strip() if mk else ''
            if kind == 'runnable':
                k += 1
                open(os.path.join(tmp, 'runnable.%d' % k), 'w').write(
                    '\n'.join(lines[start + 1:j]) + '\n')
                arg = str(k)
            print('%s\t%d\t%s\t%s' % (os.path.relpath(f, src), start + 1, kind, arg))
        i = j + 1
PY
bad=0
tests=$(python3 -c 'import json,sys; print("\n".join(t["name"] for t in json.load(open(sys.argv[1]))))' \
        "$build/meson-info/intro-tests.json")
while IFS="$(printf '\t')" read -r file line kind arg; do
    case $kind in
      unmarked)
        echo "FAIL: $file:$line: shell block without a try-it, runnable, covered-by or not-run marker"
        bad=1 ;;
      not-run)
        if [ -z "$arg" ]; then
            echo "FAIL: $file:$line: not-run without a reason"; bad=1
        else
            echo "ok: $file:$line not run: $arg"
        fi ;;
      covered-by)
        names=${arg%% -- *}
        [ -n "$names" ] || { echo "FAIL: $file:$line: covered-by names no test"; bad=1; }
        for t in $(echo "$names" | tr ',' ' '); do
            echo "$tests" | grep -qxF "$t" || {
                echo "FAIL: $file:$line: covered-by $t: no such test"; bad=1; }
        done
        echo "ok: $file:$line covered by $names" ;;
      runnable)
        sed "s#build/#$build/#g" "$tmp/runnable.$arg" > "$tmp/rscript.$arg"
        if (cd "$src" && timeout 60 sh -e "$tmp/rscript.$arg") > "$tmp/rout.$arg" 2>&1; then
            echo "ok: $file:$line ran"
        else
            echo "FAIL: the runnable block at $file:$line failed:"
            cat "$tmp/rscript.$arg" "$tmp/rout.$arg"; bad=1
        fi ;;
    esac
done < "$tmp/blocks"
[ $bad -eq 0 ] || exit 1

# Extract the blocks: the ```sh block that follows each marker.
n=0
for f in "$src"/README.md "$src"/examples/README.md "$src"/doc/*.md; do
    awk -v out="$tmp/block" -v file="$f" '
        /<!-- try-it/ { want = 1; next }
        want && /^```sh/ { inblock = 1; want = 0; k++; next }
        inblock && /^```/ { inblock = 0; close(out "." k); next }
        inblock { print > (out "." k) }
        END { }
    ' "$f"
    for b in "$tmp"/block.*; do
        [ -e "$b" ] || continue
        n=$((n + 1))
        mv "$b" "$tmp/run.$n"
        echo "$f" > "$tmp/run.$n.from"
    done
done
[ "$n" -gt 0 ] || { echo "FAIL: no try-it block found"; exit 1; }

i=0
while [ "$i" -lt "$n" ]; do
    i=$((i + 1))
    from=$(cat "$tmp/run.$i.from")
    WABOT_LISTEN=127.0.0.1:0 TWILIO_AUTH_TOKEN=dev-secret \
        "$build/examples/wabot-server" > "$tmp/out.$i" 2> "$tmp/err.$i" &
    server_pid=$!
    port=
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' \
               "$tmp/err.$i" | head -n 1)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "FAIL: wabot-server did not start"; cat "$tmp/err.$i"; exit 1; }
    sed -e "s/:3000/:$port/g" -e "s#build/#$build/#g" "$tmp/run.$i" > "$tmp/script.$i"
    if ! (cd "$src" && sh -e "$tmp/script.$i") > "$tmp/answer.$i" 2>&1; then
        echo "FAIL: the try-it block of $from exited non-zero:"
        cat "$tmp/script.$i" "$tmp/answer.$i"
        exit 1
    fi
    grep -q "<Response" "$tmp/answer.$i" || {
        echo "FAIL: the try-it block of $from got no TwiML:"; cat "$tmp/answer.$i"; exit 1; }
    for _ in $(seq 1 50); do
        grep -q '^\[bot -> ' "$tmp/out.$i" && break
        sleep 0.1
    done
    grep -q '^\[bot -> ' "$tmp/out.$i" || {
        echo "FAIL: the try-it block of $from made the bot say nothing"
        cat "$tmp/err.$i"; exit 1; }
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    echo "ok: try-it block of ${from#$src/} ran"
done
