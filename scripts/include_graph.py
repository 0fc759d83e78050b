#!/usr/bin/env python3
"""The module-level include graph of lib/ (doc/architecture.md).

A file belongs to the module of its folder (lib/<module>/...). A private
header in lib/internal/ belongs to the module named in OWNERS below (by
default the module of the same name). Module A depends on module B when a
file of A includes a header of B. Arrows must point one way: an edge that
lies on a cycle is a defect.

  include_graph.py                 print the graph and one cycle, if any
  include_graph.py --check FILE    exit 1 unless the edges on cycles are
                                   exactly those listed in FILE (a ratchet
                                   while the core is being untangled: a new
                                   cycle fails, and so does a listed edge
                                   that no longer is on one, so the list
                                   only shrinks; an empty FILE = no cycle)
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
LIB = os.path.join(ROOT, 'lib')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# lib/internal/<header> -> owning module, where the name does not say it.
OWNERS = {
    'alloc': 'core', 'ctx': 'core', 'siphash': 'core', 'strbuf': 'core',
    'options': 'core', 'module': 'core', 'versioned': 'core',
    'runtime': 'loop', 'keyword_fold': 'message', 'inbound': 'pipeline',
    'provider': 'transport', 'receipts': 'webhook',
    'outbox': 'pipeline', 'json_alloc': 'core', 'errors': 'core', 'secret': 'core', 'htab': 'core', 'skiplist': 'storage',
}


def owner_of_internal(name):
    base = os.path.splitext(os.path.basename(name))[0]
    return OWNERS.get(base, base)


def module_of(path):
    rel = os.path.relpath(path, LIB)
    parts = rel.split(os.sep)
    if parts[0] == 'internal':
        return owner_of_internal(parts[-1])
    if len(parts) == 1:
        return '(root)'  # lib/builtin_modules.c: the composition root
    return parts[0]


def header_module(inc, including_file):
    """Module of an included header, or None for public/system headers."""
    if inc.startswith('wabot/') or inc == 'wabot.h':
        return None  # the public API: every module may use it
    local = os.path.join(os.path.dirname(including_file), inc)
    if os.path.exists(local):
        return module_of(local)
    internal = os.path.join(LIB, 'internal', os.path.basename(inc))
    if inc.startswith('internal/') or os.path.exists(internal):
        return owner_of_internal(inc)
    sub = os.path.join(LIB, inc)
    if os.path.exists(sub):
        return module_of(sub)
    return None


def graph():
    edges = {}
    for dirpath, _, files in os.walk(LIB):
        for f in files:
            if not f.endswith(('.c', '.h')):
                continue
            path = os.path.join(dirpath, f)
            src = module_of(path)
            with open(path, encoding='utf-8', errors='replace') as fh:
                for inc in INCLUDE.findall(fh.read()):
                    dst = header_module(inc, path)
                    if dst and dst != src:
                        edges.setdefault(src, {}).setdefault(dst, set()).add(
                            os.path.relpath(path, ROOT) + ' -> ' + inc)
    return edges


def find_cycle(edges):
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, {})):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m):
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if not state.get(n):
            c = visit(n)
            if c:
                return c
    return None


def cycle_edges(edges):
    """Edges inside a strongly connected component (Tarjan)."""
    index, low, on, stack, comp, counter = {}, {}, set(), [], {}, [0]
    nodes = set(edges) | {m for d in edges.values() for m in d}

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            while True:
                w = stack.pop()
                on.discard(w)
                comp[w] = v
                if w == v:
                    break

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return {(a, b) for a in edges for b in edges[a] if comp[a] == comp[b]}


def check(edges, listed_file):
    with open(listed_file) as fh:
        listed = {tuple(l.split()[:2]) for l in fh
                  if l.strip() and not l.startswith('#')}
    now = cycle_edges(edges)
    status = 0
    for a, b in sorted(now - listed):
        print('new edge on a cycle: %s -> %s' % (a, b))
        for why in sorted(edges[a][b])[:5]:
            print('  ' + why)
        status = 1
    for a, b in sorted(listed - now):
        print('%s -> %s is on no cycle any more: remove it from %s'
              % (a, b, listed_file))
        status = 1
    print('%d module edges on cycles (%d listed)' % (len(now), len(listed)))
    return status


def main():
    edges = graph()
    if len(sys.argv) == 3 and sys.argv[1] == '--check':
        return check(edges, sys.argv[2])
    for src in sorted(edges):
        print('%-12s -> %s' % (src, ', '.join(sorted(edges[src]))))
    cycle = find_cycle(edges)
    if cycle:
        print('\ncycle: ' + ' -> '.join(cycle))
        for a, b in zip(cycle, cycle[1:]):
            for why in sorted(edges[a][b])[:3]:
                print('  ' + why)
    else:
        print('\nno cycle between modules')
    return 0


if __name__ == '__main__':
    sys.exit(main())
