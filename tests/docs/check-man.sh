#!/bin/sh
# Every generated man page (build/man/*.3) renders with groff without a
# warning (-ww), `.so` links included, and describes its function (no
# "No header comment" placeholder from scripts/gen-man.py).
#   check-man.sh MAN_BUILD_DIR
set -eu
dir=$1
command -v groff >/dev/null 2>&1 || {
    [ "${CI:-}" = "true" ] && { echo "FAIL: groff is missing (CI)"; exit 1; }
    echo "SKIP: no groff"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# `.so man3/x.3` resolves from the parent of man3/, as in share/man.
mkdir "$tmp/man3"
cp "$dir"/*.3 "$tmp/man3/"
cd "$tmp"
n=$(ls man3 | wc -l)
[ "$n" -gt 0 ] || { echo "FAIL: no man page in $dir"; exit 1; }
# One groff run over every page (a run per page is slow on a busy
# machine); a warning names the page and line.
groff -man -Tutf8 -ww -z man3/*.3 2> err || true
if [ -s err ]; then
    echo "FAIL: groff warns:"; cat err; exit 1
fi
undocumented=$(grep -l "No header comment describes" man3/*.3 || true)
if [ -n "$undocumented" ]; then
    echo "FAIL: no header comment describes:"; echo "$undocumented"; exit 1
fi
# Each page is its function's page (.TH NAME) or a .so link to a page
# that exists.
awk 'FNR == 1 { if (f != "" && !ok) { print "FAIL: " f " is not the page of " n; bad = 1 }
                f = FILENAME; n = f; sub(/^man3\//, "", n); sub(/\.3$/, "", n)
                u = toupper(n); gsub(/_/, "\\_", u); ok = 0 }
     /^\.so / { if ((getline line < $2) <= 0) { print "FAIL: " f ": .so " $2 ": no such page"; bad = 1 }
                 ok = 1 }
     $1 == ".TH" && $2 == u { ok = 1 }
     END { if (f != "" && !ok) { print "FAIL: " f " is not the page of " n; bad = 1 }
           exit bad }' man3/*.3
echo "ok: $n man pages render without warnings"
