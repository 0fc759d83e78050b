#!/usr/bin/env python3
"""Print the ninja targets the tests of the given suites need.

  suite-targets.py BUILD SUITE...

`meson test --suite X` builds only these too, but prints ninja's output;
scripts/check.sh builds them first, quietly, so a sanitizer build does
not compile programs (benchmarks, integration tests) it never runs.
"""
import json
import os
import subprocess
import sys


def introspect(build, what):
    out = subprocess.check_output(["meson", "introspect", build, what])
    return json.loads(out)


def main(build, suites):
    files = {t["id"]: t["filename"] for t in introspect(build, "--targets")}
    wanted = set()
    for test in introspect(build, "--tests"):
        if any(s.split(":")[-1] in suites for s in test["suite"]):
            for dep in test["depends"]:
                wanted.update(os.path.relpath(f, build) for f in files[dep])
    print("\n".join(sorted(wanted)))
    return 0 if wanted else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
