#!/usr/bin/env python3
"""Binding-coverage check (issue 16).

Every public C function (WABOT_API in include/wabot/*.h) must be called by
each binding (the Python package's wrappers, the C++ header) or be listed
as a deliberate omission in bindings/omissions.txt; every function a
binding calls must exist. The raw ctypes table (wabot/_prototypes.py) must
hold exactly the declared functions.

omissions.txt: one rule a line, "<binding> <glob> <reason>", binding being
python, cpp or * (both). When a new header lands (commerce.h, invoice.h),
one line such as
    *  wabot_commerce_*  bound in a later change
keeps the check green until the bindings catch up. A rule that matches no
declared function yet is reported, not failed (it may name an API that is
about to land); a rule whose functions are all bound is stale and fails.

    check_coverage.py [--root DIR] [--list]
"""
import argparse
import fnmatch
import os
import re
import sys

BINDINGS = {
    # binding -> (files, regex of a reference to a C function)
    "python": (["bindings/python/wabot/*.py"],
               r"(?:\.(wabot_[a-z0-9_]+)\b|[\"'](wabot_[a-z0-9_]+)[\"'])"),
    "cpp": (["include/wabot.hpp"], r"\b(wabot_[a-z0-9_]+)\s*\("),
}
SKIP_FILES = {"_prototypes.py"}


def declared(root):
    text = ""
    inc = os.path.join(root, "include", "wabot")
    for f in sorted(os.listdir(inc)):
        if f.endswith(".h"):
            with open(os.path.join(inc, f), encoding="utf-8") as fh:
                text += fh.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    names = set()
    for stmt in " ".join(text.split()).split(";"):
        if "WABOT_API" in stmt:
            m = re.search(r"\b(wabot_[a-z0-9_]+)\s*\(", stmt)
            if m:
                names.add(m.group(1))
    return names


def references(root, binding):
    import glob
    files, rx = BINDINGS[binding]
    refs = {}
    for pat in files:
        for path in sorted(glob.glob(os.path.join(root, pat))):
            if os.path.basename(path) in SKIP_FILES:
                continue
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            if path.endswith(".hpp"):
                text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
            for m in re.finditer(rx, text):
                refs.setdefault(next(g for g in m.groups() if g),
                                os.path.relpath(path, root))
    return refs


def omissions(root):
    rules = []
    path = os.path.join(root, "bindings", "omissions.txt")
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or parts[0] not in ("python", "cpp", "*"):
                sys.exit("omissions.txt:%d: want '<python|cpp|*> <glob> "
                         "<reason>'" % n)
            rules.append((n, parts[0], parts[1], parts[2]))
    return rules


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")))
    ap.add_argument("--list", action="store_true",
                    help="print each binding's unbound, unomitted functions")
    args = ap.parse_args()
    root, errors = args.root, []
    decl = declared(root)
    rules = omissions(root)

    sys.path.insert(0, os.path.join(root, "bindings", "python"))
    from wabot._prototypes import PROTOTYPES  # noqa: E402
    for name in sorted(decl - set(PROTOTYPES)):
        if any(r[1] in ("python", "*") and fnmatch.fnmatchcase(name, r[2])
               for r in rules):
            continue  # omitted: its prototype comes with the next --write
        errors.append("python raw layer: %s has no prototype (run "
                      "bindings/python/tools/gen_prototypes.py --write)" % name)
    for name in sorted(set(PROTOTYPES) - decl):
        errors.append("python raw layer: prototype %s names no function"
                      % name)

    used_rules = set()
    for binding in BINDINGS:
        refs = references(root, binding)
        for name, where in sorted(refs.items()):
            if name not in decl:
                errors.append("%s: %s calls %s, which no header declares"
                              % (binding, where, name))
        unbound = sorted(decl - set(refs))
        missing = []
        for name in unbound:
            hit = [r for r in rules if r[1] in (binding, "*")
                   and fnmatch.fnmatchcase(name, r[2])]
            for r in hit:
                used_rules.add((r[0], binding))
            if not hit:
                missing.append(name)
        for name in missing:
            errors.append("%s: no binding for %s (bind it or add a rule to "
                          "bindings/omissions.txt)" % (binding, name))
        print("%s: %d of %d public functions bound, %d omitted by rule"
              % (binding, len(decl & set(refs)), len(decl),
                 len(unbound) - len(missing)))
    for n, who, glob_, _reason in rules:
        targets = BINDINGS if who == "*" else [who]
        if any((n, b) in used_rules for b in targets):
            continue
        if any(fnmatch.fnmatchcase(d, glob_) for d in decl):
            errors.append("omissions.txt:%d: %s %s is stale: every function "
                          "it matches is bound" % (n, who, glob_))
        else:
            print("note: omissions.txt:%d: %s matches no function yet"
                  % (n, glob_))
    for e in errors:
        print("FAIL " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
