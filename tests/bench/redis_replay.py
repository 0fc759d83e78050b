#!/usr/bin/env python3
"""Replays a Redis MONITOR capture on a fresh redis-server and prints the
server's CPU for it: the Redis side of a workload without the network
(doc/performance.md, "Redis: where redis-server's CPU goes").

    BENCH_MONITOR=/tmp/mon.txt build/tests/bench/bench_roundtrips 2000
    python3 tests/bench/redis_replay.py /tmp/mon.txt [options]

Options:
  --reps N          replay N times (a fresh server each time); prints the
                    minimum and the median (default 5: CPU time on a shared
                    machine is inflated by other load, the minimum least)
  --pipe N          commands sent per write (default 64; 1 = one round trip
                    per command, as a lone client would)
  --only P,P...     replay only the scripts whose SHA-1 starts with one of
                    these (the table printed first names them), plus SCRIPT
                    LOAD and plain commands
  --trivial P,P...  run these scripts as `return 1` with the same KEYS and
                    ARGV (the cost of EVALSHA and its arguments alone)
  --sub P=FILE      run FILE instead of the script P (an edited copy of the
                    text the table's --dump wrote): try a script change
                    without rebuilding
  --dump DIR        write every loaded script's text to DIR/<sha8>.lua
  --server ARG      one more redis-server argument (repeatable), e.g.
                    --server=--hash-max-listpack-value --server=1024
  --messages N      divide by N too (per message figures)
  --no-check        skip the check below
  --by-script       time every command in the server (SLOWLOG with a 0 us
                    threshold) and print the time per script and per
                    plain command: where the server's time goes, with
                    nothing changed (the --trivial and --sub figures move
                    other scripts' work too: see the check below)
  --callgrind       run redis-server under valgrind's callgrind and print
                    the instructions it ran for the replay (counters
                    zeroed after start-up, dumped at the end): a count
                    the machine's load does not move, where CPU time
                    does (slow: about 50 times the time)

Only top-level commands are replayed (MONITOR's "lua" lines are the
scripts' own calls); INFO, CONFIG, CLIENT, MONITOR and SLOWLOG are
skipped. Times in the capture are the library's (fake clock), so a replay
does what the capture did. Prints, per replay, the server's CPU (INFO
cpu, user + system) and the commands that failed (0 when the replay is
faithful).

A replay with --only, --trivial or --sub is checked first: it and the
whole capture are replayed once more each (without callgrind) and the
replies of the commands both sent unchanged are compared. A change can
move what the other commands see (a script that no longer takes its
store-wide version numbers shifts every later version, and the turn
commit's compare-and-set then fails where the capture's succeeded), and
then the figure measures different work, not the change: the check
prints how many replies differ and the first of them, and says the
figure is confounded."""
import collections
import glob
import hashlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import free_port  # noqa: E402

ESC = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}
SKIP = {b"INFO", b"CONFIG", b"CLIENT", b"MONITOR", b"SLOWLOG", b"PING", b"HELLO", b"SELECT"}


def parse_args(s):
    """MONITOR's quoted arguments (sdscatrepr) back to bytes."""
    out, i, n = [], 0, len(s)
    while i < n:
        if s[i] == " ":
            i += 1
            continue
        if s[i] != '"':
            raise ValueError("unquoted argument at %r" % s[i:i + 20])
        i += 1
        b = bytearray()
        while s[i] != '"':
            if s[i] == "\\":
                if s[i + 1] == "x":
                    b.append(int(s[i + 2:i + 4], 16))
                    i += 4
                else:
                    b.extend(ESC[s[i + 1]])
                    i += 2
            else:
                b.extend(s[i].encode("latin-1"))
                i += 1
        out.append(bytes(b))
        i += 1
    return out


def load(path):
    cmds = []
    with open(path, encoding="latin-1") as f:
        for line in f:
            m = re.match(r"^[\d.]+ \[\d+ ([^\]]+)\] (.*)$", line.rstrip("\n"))
            if not m or m.group(1) == "lua":
                continue
            a = parse_args(m.group(2))
            if a and a[0].upper() not in SKIP:
                cmds.append(a)
    return cmds


def resp(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind = line[:1]
        if kind in (b"+", b":"):
            return line[1:]
        if kind == b"-":
            return RuntimeError(line[1:].decode("latin-1"))
        if kind == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if kind == b"*":
            n = int(line[1:])
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError("bad reply line %r" % line)

    def cmd(self, *args):
        self.s.sendall(resp([a if isinstance(a, bytes) else str(a).encode() for a in args]))
        return self.read()


def server_cpu(c):
    info = c.cmd("INFO", "cpu").decode()
    d = dict(l.split(":", 1) for l in info.splitlines() if ":" in l)
    return float(d["used_cpu_user"]) + float(d["used_cpu_sys"])


def prepare(cmds, only, trivial, subs):
    """The commands to send: filtered, scripts substituted; and for each
    its index in cmds, or None when it was changed (a substituted or
    trivial script, or a SCRIPT LOAD of a substitute)."""
    newsha, out, tags = {}, [], []
    for k, a in enumerate(cmds):
        verb = a[0].upper()
        tag = k
        if verb == b"SCRIPT" and len(a) > 2 and a[1].upper() == b"LOAD":
            sha = hashlib.sha1(a[2]).hexdigest()
            if sha[:8] in subs:
                text = subs[sha[:8]]
                newsha[sha] = hashlib.sha1(text).hexdigest().encode()
                a = [a[0], a[1], text]
                tag = None
        elif verb == b"EVALSHA":
            sha = a[1].decode()
            if only and sha[:8] not in only:
                continue
            if sha[:8] in trivial:
                a = [b"EVAL", b"return 1"] + a[2:]
                tag = None
            elif sha in newsha:
                a = [a[0], newsha[sha]] + a[2:]
                tag = None
        out.append(a)
        tags.append(tag)
    return out, tags


def callgrind_total(pid, outdir):
    """Dump the counters of the callgrind run `pid`: the instructions
    since they were last zeroed."""
    subprocess.run(["callgrind_control", "-d", str(pid)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    dumps = sorted(glob.glob(os.path.join(outdir, "cg.*")), key=os.path.getmtime)
    with open(dumps[-1]) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in %s" % dumps[-1])


def replay(cmds, pipe, server_args, callgrind=None, replies=None, timed=None):
    """Server CPU seconds for the replay, failed commands, and (with
    callgrind: a directory for its files) the instructions it ran; with
    `replies` a list, each command's reply appended to it; with `timed` a
    dict, the server's time in us for each script (its SHA-1's first 8
    digits) and plain command added to it, as [calls, us, the commands
    the calls ran inside, their us]."""
    port = free_port()
    wrap = []
    if callgrind:
        wrap = ["valgrind", "--tool=callgrind",
                "--callgrind-out-file=" + os.path.join(callgrind, "cg.%p")]
    p = subprocess.Popen(wrap + ["redis-server", "--port", str(port), "--save", "",
                                 "--appendonly", "no"] + server_args,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if callgrind else None)
    try:
        deadline = time.time() + (120 if callgrind else 10)
        while True:
            try:
                c = Conn(port)
                c.cmd("PING")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        if callgrind:
            subprocess.run(["callgrind_control", "-z", str(p.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if timed is not None:
            c.cmd("CONFIG", "SET", "slowlog-max-len", "10000000")
            c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0")
            c.cmd("SLOWLOG", "RESET")
        t0, errors = server_cpu(c), 0
        for i in range(0, len(cmds), pipe):
            chunk = cmds[i:i + pipe]
            c.s.sendall(b"".join(resp(a) for a in chunk))
            for _ in chunk:
                r = c.read()
                if isinstance(r, RuntimeError):
                    errors += 1
                    r = ("error", str(r))
                if replies is not None:
                    replies.append(r)
        cpu = server_cpu(c) - t0
        if timed is not None:
            c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "-1")
            inner = [0, 0]
            for e in reversed(c.cmd("SLOWLOG", "GET", "-1")):  # oldest first
                args = e[3]
                if len(e) > 4 and e[4] in (b"", b"?:0"):
                    # a script's own call (logged before its script):
                    # in its script's time
                    inner[0] += 1
                    inner[1] += int(e[2])
                    continue
                verb = args[0].upper()
                if verb in (b"SLOWLOG", b"CONFIG", b"INFO"):
                    continue
                name = verb.decode("latin-1")
                if verb in (b"EVALSHA", b"EVAL") and len(args) > 1:
                    name = "%s %s" % (name, args[1][:8].decode("latin-1"))
                t = timed.setdefault(name, [0, 0, 0, 0])
                t[0] += 1
                t[1] += int(e[2])
                t[2] += inner[0]
                t[3] += inner[1]
                inner = [0, 0]
        return cpu, errors, callgrind_total(p.pid, callgrind) if callgrind else None
    finally:
        p.terminate()
        p.wait()


def check(cmds, todo, tags, pipe, server_args):
    """Replays cmds twice and todo once; prints how many of the replies of
    the commands todo sent unchanged differ (those that differ between the
    two replays of cmds are not compared: a SCAN cursor follows the
    server's hash seed, random at each start). Returns that number."""
    ref, ref2, got = [], [], []
    replay(cmds, pipe, server_args, replies=ref)
    replay(cmds, pipe, server_args, replies=ref2)
    replay(todo, pipe, server_args, replies=got)
    same, differ, noisy, first = 0, 0, 0, None
    for k, tag in enumerate(tags):
        if tag is None:
            continue
        if ref[tag] != ref2[tag]:
            noisy += 1
        elif got[k] == ref[tag]:
            same += 1
        else:
            differ += 1
            if first is None:
                first = (tag, cmds[tag], ref[tag], got[k])
    aside = " (%d that vary run to run not compared)" % noisy if noisy else ""
    if not differ:
        print("  check: the %d unchanged commands all answered as in the whole capture%s" % (same, aside))
        return 0
    tag, a, want, have = first
    what = b" ".join(x[:40] for x in a[:4]).decode("latin-1")
    print("  check: %d of %d unchanged commands answered differently from the whole capture%s;"
          " the figures below measure other work, not only the change (confounded)"
          % (differ, differ + same, aside))
    print("    first: command %d (%s ...): %.120r instead of %.120r" % (tag, what, have, want))
    return differ


def script_table(cmds):
    texts = {}
    calls = collections.Counter()
    shape = {}
    for a in cmds:
        verb = a[0].upper()
        if verb == b"SCRIPT" and len(a) > 2 and a[1].upper() == b"LOAD":
            texts[hashlib.sha1(a[2]).hexdigest()] = a[2]
        elif verb == b"EVALSHA":
            sha = a[1].decode()
            calls[sha] += 1
            nk = int(a[2])
            first = a[3].decode("latin-1") if nk else ""
            shape[sha] = "%d keys, first %s" % (nk, re.sub(r"SM\d+|\+\d+", "#", first))
    return texts, calls, shape


def main():
    argv = sys.argv[1:]
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    path, opts = argv[0], argv[1:]
    reps, pipe, messages, callgrind, checking, by_script = 5, 64, 0, False, True, False
    only, trivial, subs, server_args, dump = set(), set(), {}, [], None
    i = 0
    while i < len(opts):
        o = opts[i]
        key, _, val = o.partition("=")
        if key == "--callgrind":
            callgrind = True
            i += 1
            continue
        if key == "--by-script":
            by_script = True
            i += 1
            continue
        if key == "--no-check":
            checking = False
            i += 1
            continue
        if not val:
            i += 1
            val = opts[i] if i < len(opts) else ""
        if key == "--reps":
            reps = int(val)
        elif key == "--pipe":
            pipe = max(1, int(val))
        elif key == "--messages":
            messages = int(val)
        elif key == "--only":
            only |= set(val.split(","))
        elif key == "--trivial":
            trivial |= set(val.split(","))
        elif key == "--sub":
            sha, _, f = val.partition("=")
            with open(f, "rb") as fh:
                subs[sha] = fh.read()
        elif key == "--server":
            server_args.append(val)
        elif key == "--dump":
            dump = val
        else:
            print("unknown option %s" % o, file=sys.stderr)
            return 2
        i += 1
    cmds = load(path)
    texts, calls, shape = script_table(cmds)
    print("%s: %d top-level commands, %d EVALSHA" % (path, len(cmds), sum(calls.values())))
    for sha, n in calls.most_common():
        print("  %s  %6d calls  %s" % (sha[:8], n, shape[sha]))
    if dump:
        os.makedirs(dump, exist_ok=True)
        for sha, text in texts.items():
            with open(os.path.join(dump, sha[:8] + ".lua"), "wb") as fh:
                fh.write(text)
    todo, tags = prepare(cmds, only, trivial, subs)
    if checking and (only or trivial or subs):
        check(cmds, todo, tags, pipe, server_args)
    if by_script:
        timed = {}
        replay(todo, pipe, server_args, timed=timed)
        total = sum(t[1] for t in timed.values())
        per = messages or 1
        print("  server time by script and command (SLOWLOG, one replay; a script's time"
              " includes its commands', and the log's own work for each, ~1 us):")
        print("    %-22s %7s %10s %9s %12s %6s %14s" % (
            "", "calls", "us", "us/call", "us/message" if messages else "", "share",
            "commands/call"))
        for name, (n, us, ni, _) in sorted(timed.items(), key=lambda kv: -kv[1][1]):
            print("    %-22s %7d %10d %9.1f %12s %5.1f%% %14s" % (
                name, n, us, us / n, "%.1f" % (us / per) if messages else "",
                100.0 * us / total, "%.1f" % (ni / n) if ni else ""))
        print("    %-22s %7d %10d" % ("total", sum(t[0] for t in timed.values()), total))
    runs, instrs = [], []
    cgdir = tempfile.mkdtemp(prefix="replay-cg-") if callgrind else None
    for _ in range(reps):
        cpu, errors, instr = replay(todo, pipe, server_args, cgdir)
        runs.append(cpu)
        print("  replay: %d commands, %d errors, server CPU %.1f ms" % (len(todo), errors, cpu * 1e3))
        if instr is not None:
            instrs.append(instr)
            print("  instructions (callgrind): %d" % instr)
    if instrs:
        line = "instructions: min %d" % min(instrs)
        if messages:
            line += "; per message %.1fk" % (min(instrs) / messages / 1e3)
        print(line)
    best, med = min(runs), statistics.median(runs)
    line = "server CPU: min %.1f ms, median %.1f ms" % (best * 1e3, med * 1e3)
    if messages:
        line += "; per message min %.1f us, median %.1f us" % (best * 1e6 / messages, med * 1e6 / messages)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
