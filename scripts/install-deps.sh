#!/bin/sh
# Install the Debian packages the build and the tests need, if missing.
# Idempotent and quiet when everything is present.
set -eu
PKGS="meson ninja-build pkg-config gcc g++ python3 libjansson-dev check
libcpp-httplib-dev
libcurl4-openssl-dev libmicrohttpd-dev libssl-dev libhiredis-dev
libuv1-dev libevent-dev abigail-tools valgrind curl redis-server
python3-prometheus-client libhpdf-dev poppler-utils cmake
groff-base man-db"
# --bench: also what tests/bench/e2e.sh needs (the load generator)
[ "${1:-}" = "--bench" ] && PKGS="$PKGS wrk"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: not root; run: sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
