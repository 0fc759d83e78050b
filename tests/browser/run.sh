#!/bin/sh
# The dashboard in real headless Chromium (meson suite `browser`).
#   run.sh WABOT-SERVER FAKE-PROVIDER OUTDIR
# Installs the locked npm packages (puppeteer-core, axe-core) into OUTDIR
# with `npm ci` (again only when package-lock.json changed), then runs
# dashboard.test.mjs. Screenshots land in OUTDIR. Without Chromium the
# test is skipped (77), except under CI=true, where that is a failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
server=$1 provider=$2 out=$3
chromium=${CHROMIUM:-/usr/bin/chromium}

missing() {
    if [ "${CI:-}" = "true" ]; then
        echo "browser: $1 (CI=true: a failure; scripts/install-deps.sh brings it)" >&2
        exit 1
    fi
    echo "browser: $1: skipped" >&2
    exit 77
}
[ -x "$chromium" ] || missing "no Chromium at $chromium"
command -v node >/dev/null 2>&1 || missing "no node"
command -v npm >/dev/null 2>&1 || missing "no npm"

mkdir -p "$out/npm"
if ! cmp -s "$here/package-lock.json" "$out/npm/package-lock.json" ||
   [ ! -d "$out/npm/node_modules/puppeteer-core" ]; then
    cp "$here/package.json" "$here/package-lock.json" "$out/npm/"
    # Never fetches a browser: puppeteer-core has none to fetch.
    (cd "$out/npm" && npm ci --no-audit --no-fund --ignore-scripts \
        --loglevel=error) >&2 || missing "npm ci failed (offline?)"
fi
exec node "$here/dashboard.test.mjs" "$server" "$provider" "$out" "$chromium"
