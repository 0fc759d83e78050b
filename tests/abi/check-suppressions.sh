#!/bin/sh
# Every public struct whose first member is `uint32_t version` may grow at
# its end, so abidiff must be told (suppressions.ini): fail when one is
# missing from the suppression's name_regexp.
set -eu
headers=$1
supp=$2
regexp=$(sed -n 's/^ *name_regexp *= *//p' "$supp" | head -n 1)
status=0
for s in $(cat "$headers"/wabot/*.h | tr '\n' ' ' |
           grep -o 'typedef struct wabot_[a-z0-9_]* { *uint32_t version' |
           sed 's/typedef struct \(wabot_[a-z0-9_]*\).*/\1/' | sort -u); do
    if ! echo "$s" | grep -Eq "$regexp"; then
        echo "$s is versioned but not in $supp"; status=1
    fi
done
[ $status -eq 0 ] && echo "every versioned struct may grow at its end"
exit $status
