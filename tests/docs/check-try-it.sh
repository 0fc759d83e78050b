#!/bin/sh
# Every command block marked "<!-- try-it ... -->" in the README and doc/
# runs as written against a real wabot-server, so the documented commands
# cannot go stale. The server is started as the docs say (demo bot,
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
    echo "ok: try-it block of ${from#$src/}"
done
