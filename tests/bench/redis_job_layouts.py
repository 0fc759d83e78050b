#!/usr/bin/env python3
"""A job's life in the Redis scheduler under several key layouts: the
scripts reduced to the job's own commands (enqueue, reserve, complete,
trim), run on a fresh redis-server, 64 per write. Prints per job the
server's CPU (INFO cpu, min over --reps, interleaved) or, with
--callgrind, the instructions redis-server ran (valgrind; a count the
machine's load does not move). doc/redis.md, "The job hash", has the
figures; the layouts:

  hash17        the earlier layout (every field written at enqueue)
  hash8         the current one: the fixed fields packed into `fixed`,
                stalls/token/lease_until/finished absent until written
  hash9         payload, fixed fields, priority and seq packed into one
                field; the zeros written
  hash4         state, run_at, rank and one packed field; zeros absent
  hash2         the mutable fields packed too (parsed and rewritten)
  hash8+string  a small hash and a string key beside it for the rest
  string        the whole job one string, rewritten by every script

    python3 tests/bench/redis_job_layouts.py [--jobs N] [--reps N]
                                             [--payload N] [--callgrind] [layout...]

Payload 344 bytes (--payload N), ids 36 digits, ranks 76 bytes (as a
webhook's job). Also prints the server's memory per waiting job
(used_memory after the enqueues; the hash and its key only)."""
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import free_port  # noqa: E402
from redis_replay import Conn, resp, server_cpu  # noqa: E402

PAY = b"x" * 344
OPS = ("enq", "res", "com", "trim")

L = {}
L['hash17'] = dict(
enq="""if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'payload', ARGV[1], 'state', '0','attempts', '0', 'max_attempts', '5', 'stalls', '0',
 'token', '0', 'created', ARGV[2], 'run_at', ARGV[2], 'lease_until', '0', 'finished', '0', 'backoff', '1',
 'backoff_ms', '1000', 'backoff_max_ms', '60000', 'jitter', '10', 'priority', '0', 'seq', string.format('%d', seq), 'rank', ARGV[3])
return 0""",
res="""redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', '2', 'token', '7', 'lease_until', ARGV[1])
return redis.call('HMGET', KEYS[1], 'payload','state','attempts','max_attempts','stalls','token','created','run_at','lease_until','finished','backoff','backoff_ms','backoff_max_ms','jitter','priority','last_error')""",
com="""local s = redis.call('HMGET', KEYS[1], 'state', 'token')
if s[1] ~= '2' or s[2] ~= '7' then return 2 end
redis.call('HSET', KEYS[1], 'state', '3', 'finished', ARGV[1], 'lease_until', '0')
return 0""",
trim="""local f = redis.call('HGET', KEYS[1], 'finished')
redis.call('DEL', KEYS[1])
return 0""")
L['hash9'] = dict(
enq="""if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'state', '0', 'attempts', '0', 'stalls', '0', 'token', '0', 'run_at', ARGV[2], 'lease_until', '0', 'finished', '0', 'rank', string.sub(ARGV[3], 1, 40),
 'job', '5 1 1000 60000 10 0 ' .. ARGV[2] .. ' ' .. string.format('%d', seq) .. ' ' .. ARGV[1])
return 0""",
res="""redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', '2', 'token', '7', 'lease_until', ARGV[1])
return redis.call('HMGET', KEYS[1], 'job','state','attempts','stalls','token','run_at','lease_until','finished','last_error')""",
com=None, trim=None)
L['hash9']['com'] = L['hash17']['com']; L['hash9']['trim'] = L['hash17']['trim']
L['hash4'] = dict(
enq="""if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'state', '0', 'run_at', ARGV[2], 'rank', ARGV[3],
 'job', '5 1 1000 60000 10 0 ' .. ARGV[2] .. ' ' .. ARGV[1])
return 0""",
res=L['hash9']['res'], com=L['hash9']['com'], trim=L['hash9']['trim'])
L['hash8'] = dict(
enq="""if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'payload', ARGV[1], 'state', '0', 'attempts', '0', 'run_at', ARGV[2], 'priority', '0', 'seq', string.format('%d', seq), 'rank', ARGV[3],
 'fixed', '5 1 1000 60000 10 ' .. ARGV[2])
return 0""",
res="""redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', '2', 'token', '7', 'lease_until', ARGV[1])
return redis.call('HMGET', KEYS[1], 'payload','state','attempts','stalls','token','run_at','lease_until','finished','priority','last_error','fixed')""",
com=L['hash9']['com'], trim=L['hash9']['trim'])
L['hash2'] = dict(
enq="""if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'm', '0 0 0 0 ' .. ARGV[2] .. ' 0 0 ' .. string.sub(ARGV[3], 1, 40), 'd', '5 1 1000 60000 10 0 ' .. ARGV[2] .. ' ' .. string.format('%d', seq) .. ' ' .. ARGV[1])
return 0""",
res="""local rec = redis.call('HMGET', KEYS[1], 'm', 'd')
local st, at, sl, tk, ra, lu, fi, rk = string.match(rec[1], '^(%d) (%d+) (%d+) (%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%x+)$')
local n = table.concat({'2', string.format('%d', tonumber(at) + 1), sl, '7', ra, ARGV[1], fi, rk}, ' ')
redis.call('HSET', KEYS[1], 'm', n)
rec[1] = n
return rec""",
com="""local m = redis.call('HGET', KEYS[1], 'm')
local st, at, sl, tk, ra, lu, fi, rk = string.match(m, '^(%d) (%d+) (%d+) (%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%x+)$')
if st ~= '2' or tk ~= '7' then return 2 end
redis.call('HSET', KEYS[1], 'm', table.concat({'3', at, sl, tk, ra, '0', ARGV[1], rk}, ' '))
return 0""",
trim="""local f = redis.call('HGET', KEYS[1], 'm')
redis.call('DEL', KEYS[1])
return 0""")
L['hash8+string'] = dict(
enq="""if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'state', '0', 'attempts', '0', 'stalls', '0', 'token', '0', 'run_at', ARGV[2], 'lease_until', '0', 'finished', '0', 'rank', string.sub(ARGV[3], 1, 40))
redis.call('SET', KEYS[1] .. ':d', '5 1 1000 60000 10 0 ' .. ARGV[2] .. ' ' .. string.format('%d', seq) .. ' ' .. ARGV[1])
return 0""",
res="""redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', '2', 'token', '7', 'lease_until', ARGV[1])
local r = redis.call('HMGET', KEYS[1], 'state','attempts','stalls','token','run_at','lease_until','finished','last_error')
r[#r+1] = redis.call('GET', KEYS[1] .. ':d')
return r""",
com=L['hash17']['com'],
trim="""local f = redis.call('HGET', KEYS[1], 'finished')
redis.call('DEL', KEYS[1], KEYS[1] .. ':d')
return 0""")
L['string'] = dict(
enq="""if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local seq = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], '0 0 0 0 ' .. ARGV[2] .. ' 0 0 ' .. string.sub(ARGV[3], 1, 40) .. '\\n5 1 1000 60000 10 0 ' .. ARGV[2] .. ' ' .. string.format('%d', seq) .. ' ' .. ARGV[1])
return 0""",
res="""local rec = redis.call('GET', KEYS[1])
local e = string.find(rec, '\\n', 1, true)
local st, at, sl, tk, ra, lu, fi, rk = string.match(string.sub(rec, 1, e - 1), '^(%d) (%d+) (%d+) (%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%x+)$')
local n = table.concat({'2', string.format('%d', tonumber(at) + 1), sl, '7', ra, ARGV[1], fi, rk}, ' ') .. string.sub(rec, e)
redis.call('SET', KEYS[1], n)
return n""",
com="""local rec = redis.call('GET', KEYS[1])
local e = string.find(rec, '\\n', 1, true)
local st, at, sl, tk, ra, lu, fi, rk = string.match(string.sub(rec, 1, e - 1), '^(%d) (%d+) (%d+) (%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%x+)$')
if st ~= '2' or tk ~= '7' then return 2 end
redis.call('SET', KEYS[1], table.concat({'3', at, sl, tk, ra, '0', ARGV[1], rk}, ' ') .. string.sub(rec, e))
return 0""",
trim="""local rec = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
return 0""")


def start(callgrind):
    port = free_port()
    wrap = []
    if callgrind:
        wrap = ["valgrind", "--tool=callgrind",
                "--callgrind-out-file=" + os.path.join(callgrind, "cg.%p")]
    p = subprocess.Popen(wrap + ["redis-server", "--port", str(port), "--save", "",
                                 "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + (120 if callgrind else 10)
    while True:
        try:
            c = Conn(port)
            c.cmd("PING")
            return p, c
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def commands(op, sha, n):
    for i in range(n):
        jk = b"{q}:job:%036d" % i
        if op == "enq":
            yield [b"EVALSHA", sha, b"2", jk, b"{q}:seq", PAY, b"1765000000000",
                   b"7fffffff" + b"8" * 32 + b"%036d" % i]
        elif op in ("res", "com"):
            yield [b"EVALSHA", sha, b"1", jk, b"1765000030000"]
        else:
            yield [b"EVALSHA", sha, b"1", jk]


def used_memory(c):
    info = c.cmd("INFO", "memory").decode()
    return int(dict(line.split(":", 1) for line in info.splitlines() if ":" in line)["used_memory"])


def instructions(pid, cgdir):
    subprocess.run(["callgrind_control", "-d", str(pid)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    dump = sorted(glob.glob(os.path.join(cgdir, "cg.*")), key=os.path.getmtime)[-1]
    with open(dump) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + dump)


def run(name, n, cgdir):
    """Per job: CPU seconds (or instructions) of each step, and the
    server's memory per waiting job ("mem", bytes)."""
    p, c = start(cgdir)
    try:
        sha = {op: c.cmd("SCRIPT", "LOAD", L[name][op]) for op in OPS}
        out, mem0 = {}, used_memory(c)
        for op in OPS:
            cmds = list(commands(op, sha[op], n))
            if cgdir:
                subprocess.run(["callgrind_control", "-z", str(p.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            t0 = server_cpu(c)
            for i in range(0, n, 64):
                chunk = cmds[i:i + 64]
                c.s.sendall(b"".join(resp(a) for a in chunk))
                for _ in chunk:
                    r = c.read()
                    if isinstance(r, RuntimeError):
                        raise r
            out[op] = (instructions(p.pid, cgdir) if cgdir else server_cpu(c) - t0) / n
            if op == "enq":
                out["mem"] = (used_memory(c) - mem0) / n
        return out
    finally:
        p.terminate()
        p.wait()


def main():
    args = sys.argv[1:]
    global PAY
    n, reps, cg, names = 4000, 5, False, []
    while args:
        a = args.pop(0)
        if a == "--jobs":
            n = int(args.pop(0))
        elif a == "--reps":
            reps = int(args.pop(0))
        elif a == "--payload":
            PAY = b"x" * int(args.pop(0))
        elif a == "--callgrind":
            cg = True
        elif a in L:
            names.append(a)
        else:
            print(__doc__)
            return 2
    names = names or list(L)
    if cg:
        reps, n = 1, min(n, 500)
    cgdir = tempfile.mkdtemp(prefix="layouts-cg-") if cg else None
    runs = {k: [] for k in names}
    for _ in range(reps):
        for k in names:  # interleaved
            runs[k].append(run(k, n, cgdir))
    unit = "instructions" if cg else "us server CPU"
    print("per job, %s (%s of %d, %d jobs):" % (unit, "min" if reps > 1 else "one run", reps, n))
    for k in names:
        best = {op: min(r[op] for r in runs[k]) for op in OPS}
        scale = 1 if cg else 1e6
        print("  %-13s " % k + "  ".join("%s %8.1f" % (op, best[op] * scale) for op in OPS) +
              "   life %8.1f" % (sum(best.values()) * scale) +
              "   memory %6.0f bytes/job" % min(r["mem"] for r in runs[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
