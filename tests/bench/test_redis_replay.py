#!/usr/bin/env python3
"""tests/bench/redis_replay.py on a small capture, against a real
redis-server (started by the tool itself, on a free loopback port):

- a --sub that leaves what other commands see as it was passes the check;
- a --sub that moves a shared counter (as a script that skips its
  version numbers does) is reported as confounded, naming the first
  command that answered differently;
- --by-script times each script in the server and counts the commands it
  ran inside, with nothing changed.

Without redis-server the test is skipped (exit 77), and fails under
CI=true, as every Redis test does."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "redis_replay.py")

# Each call takes one number from a shared counter and writes it to its
# own key: the later GETs see the numbers the calls took.
SCRIPT = b"local v = redis.call('INCR', KEYS[1])\nredis.call('SET', KEYS[2], v)\nreturn v\n"
# The same work, with one number skipped per call.
SKIPPING = b"local v = redis.call('INCRBY', KEYS[1], 2)\nredis.call('SET', KEYS[2], v)\nreturn v\n"


def quote(b):
    out = []
    for c in b:
        ch = chr(c)
        if ch == "\n":
            out.append("\\n")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= c < 127:
            out.append(ch)
        else:
            out.append("\\x%02x" % c)
    return '"' + "".join(out) + '"'


def line(t, args, client="127.0.0.1:5000"):
    return "%.6f [0 %s] %s\n" % (t, client, " ".join(quote(a) for a in args))


def capture(path, calls):
    sha = hashlib.sha1(SCRIPT).hexdigest().encode()
    t = 1.0
    with open(path, "w", encoding="latin-1") as f:
        f.write(line(t, [b"SCRIPT", b"LOAD", SCRIPT]))
        for i in range(calls):
            t += 0.001
            key = b"val:%d" % i
            f.write(line(t, [b"EVALSHA", sha, b"2", b"counter", key]))
            # the script's own calls, as MONITOR shows them: not replayed
            f.write(line(t, [b"INCR", b"counter"], client="lua"))
            f.write(line(t, [b"SET", key, b"%d" % (i + 1)], client="lua"))
            f.write(line(t, [b"GET", key]))
    return sha.decode()


def run(*args):
    p = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True)
    out = p.stdout + p.stderr
    if p.returncode != 0:
        raise AssertionError("redis_replay %s: exit %d\n%s" % (" ".join(args), p.returncode, out))
    return out


def expect(cond, what, out):
    if not cond:
        print("FAIL: %s\n---\n%s---" % (what, out))
        sys.exit(1)
    print("ok: %s" % what)


def main():
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            print("FAIL: redis-server is not installed (CI=true)")
            return 1
        print("skip: redis-server is not installed")
        return 77
    d = tempfile.mkdtemp(prefix="replay-test-")
    try:
        mon = os.path.join(d, "mon.txt")
        sha = capture(mon, 50)
        same = os.path.join(d, "same.lua")
        skip = os.path.join(d, "skip.lua")
        with open(same, "wb") as f:
            f.write(SCRIPT)
        with open(skip, "wb") as f:
            f.write(SKIPPING)

        out = run(mon, "--reps", "1", "--sub", "%s=%s" % (sha[:8], same))
        expect("check: the 50 unchanged commands all answered as in the whole capture" in out,
               "a substitute that changes nothing others see passes the check", out)
        expect("0 errors" in out, "the replay ran without failed commands", out)

        out = run(mon, "--reps", "1", "--sub", "%s=%s" % (sha[:8], skip))
        expect("check: 50 of 50 unchanged commands answered differently" in out and "confounded" in out,
               "a substitute that moves the shared counter is reported as confounded", out)
        expect("first: command 2 (GET val:0 ...): b'2' instead of b'1'" in out,
               "the check names the first command that answered differently", out)

        out = run(mon, "--reps", "1", "--no-check", "--sub", "%s=%s" % (sha[:8], skip))
        expect("check:" not in out, "--no-check skips the check", out)

        out = run(mon, "--reps", "1", "--messages", "50", "--by-script")
        rows = [l.split() for l in out.splitlines() if l.strip().startswith("EVALSHA " + sha[:8])]
        expect(len(rows) == 1 and rows[0][2] == "50" and rows[0][-1] == "2.0",
               "--by-script: the script's 50 calls, two commands inside each", out)
        gets = [l.split() for l in out.splitlines() if l.strip().startswith("GET ")]
        expect(len(gets) == 1 and gets[0][1] == "50" and gets[0][-1].endswith("%"),
               "--by-script: the 50 plain GETs on a line of their own", out)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
