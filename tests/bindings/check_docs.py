#!/usr/bin/env python3
"""doc/python.md and doc/cpp.md show their small bots verbatim from
examples/, and those bots run and print what the docs say.

    check_docs.py ROOT [path to wabot-cpp-small-bot]
"""
import os
import re
import subprocess
import sys


def main():
    root = sys.argv[1]
    cpp_bin = sys.argv[2] if len(sys.argv) > 2 else None
    errors = []
    for doc, example in (("doc/python.md", "examples/python/small_bot.py"),
                         ("doc/cpp.md", "examples/cpp/small_bot.cpp")):
        with open(os.path.join(root, doc), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(root, example), encoding="utf-8") as f:
            code = f.read()
        if code not in text:
            errors.append("%s does not show %s verbatim" % (doc, example))
    env = dict(os.environ, PYTHONPATH=os.path.join(root, "bindings",
                                                   "python"))
    r = subprocess.run([sys.executable, os.path.join(
        root, "examples", "python", "small_bot.py")], env=env,
        capture_output=True, text=True, timeout=60)
    want = "['What would you like?', 'Good choice: Tea.']\n" \
        "('', {'choice': 'Tea', 'count': 1})\n"
    if r.returncode != 0 or r.stdout != want:
        errors.append("python small bot printed %r (stderr %r)"
                      % (r.stdout, r.stderr[-500:]))
    if cpp_bin:
        with open(os.path.join(root, "doc", "cpp.md"), encoding="utf-8") as f:
            m = re.search(r"Output:\n\n```\n(.*?)```", f.read(), re.S)
        r = subprocess.run([cpp_bin], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0 or not m or r.stdout != m.group(1):
            errors.append("c++ small bot printed %r, doc/cpp.md says %r"
                          % (r.stdout, m and m.group(1)))
    for e in errors:
        print("FAIL " + e)
    print("doc examples: %d problem(s)" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
