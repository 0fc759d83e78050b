#!/usr/bin/env python3
"""Count test results across meson testlog.json files.

A Check suite counts each of its test cases (from the "Checks: N,
Failures: F, Errors: E" line it prints); any other test counts once.
A test that failed without such a line (a crash, a timeout) counts as one
failure. Each failure is named with the lines that say why (Check's
":F:"/":E:" lines, else the output's tail), so a CI log alone explains it.
Prints the closing line "N passed, N failed[, N skipped]".

  summarize.py TESTLOG.json...
  summarize.py --record TESTLOG.json NAME OK|FAIL SECONDS OUTPUT_FILE
      appends one result in meson's testlog format for a check that is
      not a meson test (scripts/check.sh's distcheck), so it is counted
      and explained like one.
"""
import json
import re
import sys

CHECK = re.compile(r"\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")


def count(entry):
    result = entry.get("result", "")
    found = CHECK.findall(entry.get("stdout", "") or "")
    if result == "SKIP":
        return 0, 0, 1
    if found:
        n, f, e = (sum(int(x[i]) for x in found) for i in range(3))
        passed, failed = n - f - e, f + e
        if result not in ("OK", "EXPECTEDFAIL") and failed == 0:
            failed = 1  # crashed after printing, or a leak checker failed it
        return passed, failed, 0
    return (1, 0, 0) if result in ("OK", "EXPECTEDFAIL") else (0, 1, 0)


FAIL_LINE = re.compile(r":[FE]:")


def why(entry, limit=12):
    """The lines of a failed test's output that explain the failure."""
    out = (entry.get("stdout", "") or "") + (entry.get("stderr", "") or "")
    lines = out.splitlines()
    picked = [ln for ln in lines if FAIL_LINE.search(ln)] or lines[-limit:]
    return picked[:limit]


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                entry = json.loads(line)
                p, fl, s = count(entry)
                if fl:
                    print(f"FAILED: {path}: {entry.get('name')}")
                    for ln in why(entry):
                        print(f"    {ln[:400]}")
                passed, failed, skipped = passed + p, failed + fl, skipped + s
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed else 0


def record(path, name, result, seconds, output_file):
    with open(output_file, errors="replace") as f:
        out = f.read()
    entry = {"name": name, "result": result, "duration": float(seconds),
             "suite": [name.split(" / ")[0]], "stdout": out}
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"] and len(sys.argv) == 7:
        sys.exit(record(*sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
