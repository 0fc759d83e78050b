#!/bin/sh
# End-to-end benchmark (issue 12): wabot-server + the fake Twilio + wrk, memory and Redis
# modes, and the NestJS peer side by side when ../shared/peer-node is built.
#   sh tests/bench/e2e.sh [memory|redis|redis2|peer-memory|peer-redis ...]
# Settings and output: tests/bench/e2e.py (its docstring); doc/performance.md.
# Not part of `make check` (about a minute per mode).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
command -v wrk >/dev/null 2>&1 || sh "$root/scripts/install-deps.sh" --bench
[ -d "$build" ] || meson setup "$build" "$root"
ninja -C "$build" examples/wabot-server tests/integration/fake-provider >/dev/null
BUILD=$build exec python3 "$root/tests/bench/e2e.py" "$@"
