#!/usr/bin/env python3
"""End-to-end benchmark: replies delivered per second (issue 12).

Run through tests/bench/e2e.sh (which builds what it needs first):

    sh tests/bench/e2e.sh                 # memory and redis, plus the NestJS peer if built
    sh tests/bench/e2e.sh memory          # one mode; modes: memory redis redis2 peer-memory peer-redis

For each mode it starts, on loopback: the project's fake provider (fake Twilio), redis-server
on a free port (redis modes), and the bot under test -- wabot-server with the demo bot and
the Twilio transport posting to the fake, or the NestJS peer (../shared/peer-node) pointed at
the same fake; redis2 is two wabot-server processes on one Redis, each loaded by its own wrk
with half the threads and connections (several processes scale on one Redis). Then: a warm-up, a measured wrk run (THREADS, CONNS, DURATION) of signed
Twilio-form webhooks (e2e_load.lua, the peer's load with real X-Twilio-Signature), and a wait
until every reply has reached the fake. Sampled every 100 ms (the peer: 500 ms during the
load): replies delivered, outbound backlog, RSS. Printed per mode: ingest req/s, webhook p50/p99/p99.9, non-2xx answers,
replies delivered/s during and after the load and end to end, drain time, peak backlog, peak
RSS, and on Redis the commands per webhook; then the ratios wabot / peer when both ran.

Environment: BUILD (build dir, default build), THREADS=2, CONNS=64, DURATION=20 (s),
WARMUP=3 (s), CUSTOMERS=1000, DRAIN_TIMEOUT=300 (s), WABOT_THREADS (HTTP threads, default 4, 16 with Redis),
PEER_DIR (default: the first of ../shared/peer-node from the source tree and its parent),
E2E_OUT (raw data, default /tmp/wabot-e2e.<time>), REDIS_UNIX=1 (wabot-server reaches Redis
by a Unix socket; the peer stays on TCP), ORDERS=both (each wabot mode followed by
its peer mode is run again the other way round: memory peer-memory peer-memory memory; the
peer gains from running first, so the ratios are printed per pair and as a range); any WABOT_* / option variable set in the
environment reaches wabot-server unchanged (e.g. WABOT_OUTBOUND_CONCURRENCY=64).
Exit status 0 when every mode delivered exactly one reply per accepted webhook (wabot) or
every enqueued reply (peer), 2 otherwise.
"""
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
THREADS = int(os.environ.get("THREADS", "2"))
CONNS = int(os.environ.get("CONNS", "64"))
DURATION = int(os.environ.get("DURATION", "20"))
# The fake Twilio's polling threads (fake-provider --pool): a thread per
# connection costs the machine the bots share several times more CPU.
FAKE_POOL = int(os.environ.get("FAKE_POOL", "1"))
WARMUP = int(os.environ.get("WARMUP", "3"))
CUSTOMERS = int(os.environ.get("CUSTOMERS", "1000"))
DRAIN_TIMEOUT = float(os.environ.get("DRAIN_TIMEOUT", "300"))
OUT = os.environ.get("E2E_OUT", "/tmp/wabot-e2e.%s" % time.strftime("%Y%m%d-%H%M%S"))
SID = "AC00000000000000000000000000000000"
TOKEN = "fake-twilio-token"
BUSINESS = "+14155238886"


def peer_dir():
    if os.environ.get("PEER_DIR"):
        return os.environ["PEER_DIR"]
    for up in ("..", os.path.join("..", "..")):
        d = os.path.normpath(os.path.join(ROOT, up, "shared", "peer-node"))
        if os.path.isdir(d):
            return d
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(url, method="GET", timeout=10):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def http_json(url):
    return json.loads(http(url))


_last = {}


def sample(what, fn):
    """fn(), or its last value when the bot is too busy to answer within the timeout."""
    try:
        _last[what] = fn()
    except OSError:
        if what not in _last:
            raise
    return _last[what]


def wait_until(what, fn, secs=15):
    end = time.time() + secs
    while time.time() < end:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("%s did not come up within %ss" % (what, secs))


def status_field(pid, field, tid=None):
    """A number from /proc/<pid>[/task/<tid>]/status, as written there (0 if absent)."""
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%s/status" % (pid, tid)
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_status(pid, field):
    """A size field of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    return status_field(pid, field) * 1024


def handoff_ns():
    """The cache-line hand-off between the machine's CPUs (bench_handoff, ns, the
    most over the pairs), or None when it is not built. On a virtual machine it
    moves with where the host puts the virtual CPUs, minute to minute, and every
    multi-threaded figure moves with it (doc/performance.md)."""
    exe = os.path.join(BUILD, "tests", "bench", "bench_handoff")
    if not os.path.exists(exe):
        return None
    out = subprocess.run([exe, "50000"], capture_output=True, text=True).stdout
    m = re.search(r"most ([0-9.]+) ns", out)
    return float(m.group(1)) if m else None


def machine_cpu():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    tck = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - idle) / tck, sum(v[:8]) / tck


def children_cpu():
    """CPU seconds of the children this process has reaped (wrk, once it ended)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_seconds(pid, tid=None):
    """CPU seconds of a process, or of one of its threads."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%s/stat" % (pid, tid)
    try:
        with open(path) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Stack:
    """The processes of one mode; stop() ends each one this object started, by pid."""

    def __init__(self, mode, label=None):
        self.mode = mode
        self.label = label or mode  # the raw files' prefix: a mode run twice gets "memory.2"
        self.procs = []
        self.peer_env = None
        os.makedirs(OUT, exist_ok=True)

    def spawn(self, name, argv, env=None):
        log = open(os.path.join(OUT, "%s.%s.log" % (self.label, name)), "w")
        p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        return p

    def pid_of(self, name):
        return next((p.pid for n, p in self.procs if n == name), None)

    def start_fake(self):
        self.fake_port = free_port()
        self.spawn("fake-provider", [os.path.join(BUILD, "tests", "integration", "fake-provider"),
                                     "--port", str(self.fake_port),
                                     "--pool", str(FAKE_POOL)])
        self.fake = "http://127.0.0.1:%d" % self.fake_port
        wait_until("fake-provider", lambda: http_json(self.fake + "/__fake/count") is not None)

    def start_redis(self):
        self.redis_port = free_port()
        d = os.path.join(OUT, "%s.redis" % self.label)
        os.makedirs(d, exist_ok=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
                "--save", "", "--appendonly", "no", "--dir", d]
        # REDIS_UNIX=1: wabot-server reaches Redis by a Unix socket (REDIS_HOST=<path>);
        # the peer's ioredis is given host and port only, so it stays on TCP.
        self.redis_socket = os.path.join(d, "redis.sock") if os.environ.get("REDIS_UNIX") == "1" else None
        if self.redis_socket:
            argv += ["--unixsocket", self.redis_socket, "--unixsocketperm", "700"]
        self.spawn("redis", argv)
        wait_until("redis-server", lambda: self.redis("PING") == "PONG")

    def redis(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port)] + list(args),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def start_wabot(self, redis, count=1):
        """count wabot-server processes (on one Redis when count > 1): self.servers
        lists (url, pid, stats url) of each; self.url etc. are the first one's."""
        self.servers = []
        for i in range(count):
            self.start_one_wabot(redis, i)
        self.url, self.pid, self.stats_url = self.servers[0]
        self.signed_url = self.url

    def start_one_wabot(self, redis, index):
        port = free_port()
        url = "http://127.0.0.1:%d/whatsapp/webhook" % port
        env = dict(os.environ)
        env.update({
            "WABOT_LISTEN": "127.0.0.1:%d" % port,
            "WABOT_LOG_LEVEL": env.get("WABOT_LOG_LEVEL", "error"),
            "WABOT_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_WHATSAPP_FROM": BUSINESS, "TWILIO_API_BASE": self.fake,
            "WABOT_PUBLIC_URL": "http://127.0.0.1:%d" % port,
            "WABOT_STATS_PATH": "/__stats",
            # The peer's bench sets RATE_LIMIT_MAX=1000000 for the same reason: the
            # limiter runs for every message but never trips. The outbound pacing
            # (80/s per number, one per 6 s per customer) is the provider's rule,
            # which the fake does not have and the peer does not apply.
            "WABOT_INBOUND_RATE_COUNT": env.get("WABOT_INBOUND_RATE_COUNT", "1000000"),
            "WABOT_RATE_SENDER_PER_S": env.get("WABOT_RATE_SENDER_PER_S", "0"),
            "WABOT_RATE_PAIR_PERIOD_MS": env.get("WABOT_RATE_PAIR_PERIOD_MS", "0"),
            # wrk's 64 connections and the sampler all come from 127.0.0.1;
            # a provider's come from many addresses.
            "WABOT_MAX_CONNS_PER_CLIENT": env.get("WABOT_MAX_CONNS_PER_CLIENT", "1024"),
        })
        if redis:
            env["REDIS_HOST"] = self.redis_socket or "127.0.0.1"
            env["REDIS_PORT"] = str(self.redis_port)
        server = self.spawn("wabot-server%s" % (".%d" % index if index else ""),
                            [os.path.join(BUILD, "examples", "wabot-server")], env)
        stats_url = "http://127.0.0.1:%d/__stats" % port
        wait_until("wabot-server", lambda: http_json(stats_url) is not None)
        self.servers.append((url, server.pid, stats_url))

    def start_peer(self, store):
        d = peer_dir()
        port = free_port()
        env = dict(os.environ)
        env.update({"PEER_STORE": store, "PEER_PORT": str(port), "TWILIO_BASE": self.fake,
                    "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
                    "RATE_LIMIT_MAX": "1000000"})
        if store == "redis":
            env["REDIS_PORT"] = str(self.redis_port)
            env["REDIS_HOST"] = "127.0.0.1"
        out = subprocess.run([os.path.join(d, "run.sh")], env=env, capture_output=True,
                             text=True, timeout=120)
        with open(os.path.join(OUT, "%s.run.log" % self.label), "w") as f:
            f.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError("peer run.sh failed: " + out.stderr[-500:])
        self.peer_env = env
        vals = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line and
                    line.split("=", 1)[0].isupper())
        self.pid = int(vals["PEER_PID"])
        self.url = "http://127.0.0.1:%d/whatsapp-v2/webhook" % port
        self.signed_url = None
        self.stats_url = "http://127.0.0.1:%d/whatsapp-v2/stats" % port
        self.servers = [(self.url, self.pid, self.stats_url)]

    def stop(self):
        if self.peer_env is not None:
            subprocess.run([os.path.join(peer_dir(), "stop.sh")], env=self.peer_env,
                           capture_output=True, timeout=60)
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def delivered(stack):
    return http_json(stack.fake + "/__fake/count")["count"]


def server_counts(stack, full=False):
    """(replies queued and not yet settled, webhooks the bot took in[, its counters]);
    the counters of several processes added up (their queue is one, on Redis)."""
    if stack.peer_env is not None:
        m = http_json(stack.stats_url)["counters"]
        r = m["outboundEnqueued"] - m["outboundSent"], m["webhooks"]
        return r + (m,) if full else r
    total, backlog = {}, 0
    for _, _, stats_url in stack.servers:
        s = http_json(stats_url)
        o = s["outbound"]
        backlog = o["waiting"] + o["delayed"] + o["active"]
        for k, v in s["metrics"].items():
            if isinstance(v, (int, float)):
                total[k] = total.get(k, 0) + v
    r = backlog, total.get("messages.received", 0)
    return r + (total,) if full else r


HISTOGRAMS = ("wabot_webhook_request_duration_seconds", "wabot_turn_duration_seconds")


def histograms(stack):
    """{family: (bounds, cumulative bucket counts)} of the library's latency
    histograms, every series and every process added up; {} for the peer."""
    out = {}
    if stack.peer_env is not None:
        return out
    for _, _, stats_url in stack.servers:
        fams = (http_json(stats_url) or {}).get("metrics", {}).get("families", {})
        for name in HISTOGRAMS:
            f = fams.get(name)
            if not f:
                continue
            bounds, cum = out.get(name, (f["bounds"], [0] * (len(f["bounds"]) + 1)))
            for series in f["series"]:
                cum = [a + b for a, b in zip(cum, series["buckets"])]
            out[name] = (bounds, cum)
    return out


def quantile_bound(h0, h1, name, q):
    """The histogram bucket bound (ms) under which the q-quantile of what was
    observed between two snapshots lies: "<= x ms", or "> x ms" past the last."""
    if name not in h1:
        return None
    bounds, cum1 = h1[name]
    cum0 = h0.get(name, (bounds, [0] * len(cum1)))[1]
    d = [b - a for a, b in zip(cum0, cum1)]
    if not d or d[-1] <= 0:
        return None
    for i, c in enumerate(d[:-1]):
        if c >= q * d[-1]:
            return "<= %g ms" % (bounds[i] * 1000)
    return "> %g ms" % (bounds[-1] * 1000)


def bot_cpu(stack):
    return sum(cpu_seconds(pid) for _, pid, _ in stack.servers)


def bot_threads(stack):
    """(pid, tid, name) of the bot processes' threads, by name with the digits at the end
    dropped (the sender threads wabot-send0, wabot-send1 make one group; the main thread is
    "main")."""
    for _, pid, _ in stack.servers:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    name = f.read().strip().rstrip("0123456789") or "?"
            except OSError:
                continue  # ended meanwhile
            yield pid, tid, "main" if int(tid) == pid else name


def thread_cpu(stack):
    """CPU seconds of the bot processes' threads, by group (bot_threads)."""
    groups = {}
    for pid, tid, name in bot_threads(stack):
        groups[name] = groups.get(name, 0.0) + cpu_seconds(pid, tid)
    return groups


def thread_switches(stack):
    """Context switches of the bot processes' threads, by group: [voluntary (the thread
    slept: a lock, a semaphore, poll, a socket read), involuntary (preempted)]. On a virtual
    machine a wake-up across CPUs costs microseconds (doc/performance.md)."""
    groups = {}
    for pid, tid, name in bot_threads(stack):
        counts = [status_field(pid, f, tid) for f in
                  ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")]
        g = groups.setdefault(name, [0, 0])
        g[0] += counts[0]
        g[1] += counts[1]
    return groups


def bot_rss(stack, field):
    return sum(proc_status(pid, field) for _, pid, _ in stack.servers)


class Load:
    """One wrk per server, the threads and connections shared out among them."""

    def __init__(self, stack, seconds, tag):
        n = len(stack.servers)
        self.runs = []
        for i, (url, _, _) in enumerate(stack.servers):
            threads, conns = max(1, THREADS // n), max(1, CONNS // n)
            nonce = os.urandom(8).hex()
            argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency",
                    "-s", os.path.join(HERE, "e2e_load.lua"), url, "--", nonce, str(threads),
                    str(CUSTOMERS)]
            if stack.signed_url:
                argv += [TOKEN, url]
            log = open(os.path.join(OUT, "%s.wrk-%s%s.txt" %
                                    (stack.label, tag, ".%d" % i if i else "")), "w+")
            self.runs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log))

    def running(self):
        return any(p.poll() is None for p, _ in self.runs)

    def wait(self):
        for p, _ in self.runs:
            p.wait()


def wrk(stack, seconds, tag):
    return Load(stack, seconds, tag)


def wrk_result(load):
    """The runs' counts added up; their latency percentiles are each run's (the
    highest of them is reported: percentiles do not add)."""
    total, texts = None, []
    for _, log in load.runs:
        log.seek(0)
        text = log.read()
        texts.append(text)
        res = None
        for line in text.splitlines():
            if line.startswith("WRK_JSON "):
                res = json.loads(line[9:])
        if res is None:
            raise RuntimeError("wrk printed no result:\n" + text)
        if total is None:
            total = res
            continue
        for k in ("requests", "bytes", "err_connect", "err_read", "err_write", "err_status",
                  "err_timeout"):
            total[k] += res[k]
        for k in ("duration_us", "lat_max_us", "p50_us", "p75_us", "p90_us", "p99_us",
                  "p999_us"):
            total[k] = max(total[k], res[k])
    return total, "\n".join(texts)


def drain(stack, deadline, samples=None, t0=0.0):
    """Wait until the backlog is 0 and deliveries stopped moving; returns the time."""
    still, last = 0, -1
    while time.time() < deadline:
        backlog, _ = server_counts(stack)
        n = delivered(stack)
        if samples is not None:
            samples.append((time.time() - t0, n, backlog, bot_rss(stack, "VmRSS")))
        still = still + 1 if backlog <= 0 and n == last else 0
        if still >= 3:
            return time.time()
        last = n
        time.sleep(0.1)
    raise RuntimeError("not drained within DRAIN_TIMEOUT")


def run_mode(mode, label=None):
    stack = Stack(mode, label)
    try:
        stack.start_fake()
        if "redis" in mode:
            stack.start_redis()
        if mode.startswith("peer-"):
            stack.start_peer(mode[5:])
        else:
            stack.start_wabot(mode != "memory", 2 if mode == "redis2" else 1)
        if WARMUP > 0:
            wrk(stack, WARMUP, "warmup").wait()
            drain(stack, time.time() + DRAIN_TIMEOUT)
        http(stack.fake + "/__fake/reset", "POST")
        _, received0, m0 = server_counts(stack, True)
        hist0 = histograms(stack)
        if "redis" in mode:
            stack.redis("CONFIG", "RESETSTAT")  # commandstats: this run only
            if os.environ.get("REDIS_SLOWLOG"):
                resp_call(stack.redis_port, "CONFIG", "SET", "slowlog-max-len", "2000000")
                resp_call(stack.redis_port, "SLOWLOG", "RESET")
                resp_call(stack.redis_port, "CONFIG", "SET", "slowlog-log-slower-than", "0")
        cmds0 = stack.redis("INFO", "stats") if "redis" in mode else ""
        handoff0 = handoff_ns()
        cpu0 = bot_cpu(stack)
        threads0 = thread_cpu(stack)
        switches0 = thread_switches(stack)
        others0 = {n: cpu_seconds(stack.pid_of(n)) for n in ("fake-provider", "redis")
                   if stack.pid_of(n)}
        wrk0, machine0 = children_cpu(), machine_cpu()
        samples = []
        rss0 = bot_rss(stack, "VmRSS")  # after the warm-up: what the load adds is on top
        t0 = time.time()
        load = wrk(stack, DURATION, "run")
        while load.running():
            backlog, _ = sample("backlog", lambda: server_counts(stack))
            samples.append((time.time() - t0, sample("delivered", lambda: delivered(stack)), backlog,
                            bot_rss(stack, "VmRSS")))
            # The peer's stats route asks BullMQ for queue counts: poll it less often.
            time.sleep(0.5 if stack.peer_env is not None else 0.1)
        t_end = time.time()
        wrk_cpu = children_cpu() - wrk0  # the wrk runs, reaped by running()
        at_end = delivered(stack)
        backlog_end, _ = server_counts(stack)
        t_drained = drain(stack, t_end + DRAIN_TIMEOUT, samples, t0)
        cpu = bot_cpu(stack) - cpu0
        threads1 = thread_cpu(stack)
        switches1 = thread_switches(stack)
        machine1 = machine_cpu()
        others = {n: cpu_seconds(stack.pid_of(n)) - c for n, c in others0.items()}
        total = delivered(stack)
        _, received1, m1 = server_counts(stack, True)
        hist1 = histograms(stack)
        res, text = wrk_result(load)
        cmds1 = stack.redis("INFO", "stats") if "redis" in mode else ""
        cmdstats = stack.redis("INFO", "commandstats") if "redis" in mode else ""
        handoff1 = handoff_ns()
        r = {
            "mode": mode, "requests": res["requests"],
            "wrk_s": res["duration_us"] / 1e6,
            "non2xx": res["err_status"], "errors": res["err_connect"] + res["err_read"] +
            res["err_write"] + res["err_timeout"],
            "p50_ms": res["p50_us"] / 1000, "p99_ms": res["p99_us"] / 1000,
            "p999_ms": res["p999_us"] / 1000, "max_ms": res["lat_max_us"] / 1000,
            "received": received1 - received0, "delivered": total,
            "delivered_at_end": at_end, "backlog_at_end": backlog_end,
            "drain_s": t_drained - t_end,
            "peak_backlog": max([s[2] for s in samples] + [backlog_end]),
            "peak_rss_mb": max(bot_rss(stack, "VmHWM"),
                               max([s[3] for s in samples] + [0])) / 1048576,
            "start_rss_mb": rss0 / 1048576,
            "cpu_s": cpu, "wrk_cpu_s": wrk_cpu,
            # threads started during the run (wabot's sender threads start on the first
            # send, during the warm-up) count from 0
            "thread_cpu_s": {n: c - threads0.get(n, 0.0) for n, c in threads1.items()},
            "thread_switches": {n: [c[i] - switches0.get(n, [0, 0])[i] for i in (0, 1)]
                                for n, c in switches1.items()},
            "fake_cpu_s": others.get("fake-provider", 0.0), "redis_cpu_s": others.get("redis", 0.0),
            "machine_busy_s": machine1[0] - machine0[0], "machine_s": machine1[1] - machine0[1],
            "handoff_ns": [handoff0, handoff1],
        }
        def delta(name):
            return m1.get(name, 0) - m0.get(name, 0)
        # The webhook's time inside the library (the request handed over whole
        # to its answer) beside wrk's: what is left is the HTTP server's and the
        # wait for a CPU.
        for key, name in (("lib_webhook", HISTOGRAMS[0]), ("lib_turn", HISTOGRAMS[1])):
            for q in (0.5, 0.99):
                b = quantile_bound(hist0, hist1, name, q)
                if b:
                    r["%s_p%g" % (key, q * 100)] = b
        # wabot: outbound.sent (the provider said yes), .failed (gave up);
        # the peer: outboundSent, errors
        r["sent"] = delta("outbound.sent") + delta("outboundSent")
        r["failed"] = delta("outbound.failed") + delta("errors")
        r["backpressure"] = delta("webhook.rejected.overloaded")
        r["accepted"] = r["requests"] - r["non2xx"]
        r["ingest_rps"] = r["requests"] / r["wrk_s"]
        r["accepted_rps"] = r["accepted"] / r["wrk_s"]
        r["during_rps"] = at_end / (t_end - t0)
        r["after_rps"] = (total - at_end) / r["drain_s"] if r["drain_s"] > 0 else 0
        r["e2e_rps"] = total / (t_drained - t0)
        if cmds0:
            def stat(info, name):
                for line in info.splitlines():
                    if line.startswith(name + ":"):
                        return int(line.split(":")[1])
                return 0
            def per_webhook(name):
                return (stat(cmds1, name) - stat(cmds0, name)) / max(1, r["received"])
            r["redis_cmds_per_webhook"] = per_webhook("total_commands_processed")
            # A read event is one client's bytes taken off its socket at once:
            # a round trip (a request or a pipeline the server read in one go).
            r["redis_reads_per_webhook"] = per_webhook("total_reads_processed")
        if cmdstats:
            r["redis_top"] = redis_top(cmdstats, r["received"])
            with open(os.path.join(OUT, "%s.commandstats.txt" % stack.label), "w") as f:
                f.write(cmdstats)
        if cmdstats and os.environ.get("REDIS_SLOWLOG"):
            log = resp_call(stack.redis_port, "SLOWLOG", "GET", "2000000")
            r["redis_scripts"] = slowlog_by_script(log, r["received"])
        with open(os.path.join(OUT, "%s.samples.json" % stack.label), "w") as f:
            json.dump(samples, f)
        with open(os.path.join(OUT, "%s.result.json" % stack.label), "w") as f:
            json.dump(r, f, indent=1)
        print(text.rstrip())
        return r
    finally:
        stack.stop()


def resp_call(port, *args):
    """One command to redis-server on loopback (RESP): the decoded reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sk:
        f = sk.makefile("rb")
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        sk.sendall(out)

        def read():
            line = f.readline()
            kind, val = line[:1], line[1:-2]
            if kind in (b"+", b"-"):
                return val
            if kind == b":":
                return int(val)
            if kind == b"$":
                n = int(val)
                return None if n < 0 else f.read(n + 2)[:-2]
            if kind == b"*":
                n = int(val)
                return None if n < 0 else [read() for _ in range(n)]
            raise RuntimeError("bad RESP line %r" % line)
        return read()


def slowlog_by_script(entries, webhooks, n=14):
    """REDIS_SLOWLOG=1: every command of the run from SLOWLOG (threshold 0),
    scripts told apart by their keys' shapes: [(what, calls, server us)]
    per webhook, the costliest first."""
    agg = {}
    for e in entries:
        dur, args = e[2], e[3]
        what = args[0].decode("latin-1").upper()
        if what == "EVALSHA" and len(args) > 2:
            keys = [a.decode("latin-1") for a in args[3:3 + int(args[2])]]
            shapes = []
            for k in keys[:3]:
                k = re.sub(r"\{[^}]*\}", "{}", k.split(":", 1)[-1])
                shapes.append(re.sub(r"[0-9a-f]{12,}|SM[0-9a-f]+|\+\d+|:\d+", "#", k))
            what = "script(%s) %s" % (args[2].decode(), " ".join(shapes))
        elif len(args) > 1:
            k = re.sub(r"\{[^}]*\}", "{}", args[1].decode("latin-1").split(":", 1)[-1])
            what += " " + re.sub(r"[0-9a-f]{12,}|SM[0-9a-f]+|\+\d+|:\d+", "#", k)
        a = agg.setdefault(what, [0, 0])
        a[0] += 1
        a[1] += dur
    rows = sorted(agg.items(), key=lambda kv: -kv[1][1])[:n]
    return [(k, v[0] / max(1, webhooks), v[1] / max(1, webhooks)) for k, v in rows]


def redis_top(info, webhooks, n=6):
    """The commands that took the Redis server's time (INFO commandstats):
    [(name, calls per webhook, server µs per webhook)], the costliest first.
    Calls inside scripts count under their own names too."""
    rows = []
    for line in info.splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, fields = line[8:].partition(":")
        kv = dict(f.split("=", 1) for f in fields.split(",") if "=" in f)
        try:
            rows.append((name, int(kv["calls"]) / max(1, webhooks),
                         float(kv["usec"]) / max(1, webhooks)))
        except (KeyError, ValueError):
            pass
    rows.sort(key=lambda x: -x[2])
    return rows[:n]


def report(r):
    print("--- %s" % r["mode"])
    print("  webhooks: %d in %.1f s = %.0f req/s (%d answered non-2xx, %d socket errors); "
          "bot took in %d messages" % (r["requests"], r["wrk_s"], r["ingest_rps"], r["non2xx"],
                                       r["errors"], r["received"]))
    print("  webhook latency: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms" %
          (r["p50_ms"], r["p99_ms"], r["p999_ms"], r["max_ms"]))
    if r.get("lib_webhook_p99"):
        print("  in the library (webhook handed over to its answer): p50 %s, p99 %s; "
              "turns: p50 %s, p99 %s (histogram bounds)" %
              (r.get("lib_webhook_p50"), r["lib_webhook_p99"], r.get("lib_turn_p50"),
               r.get("lib_turn_p99")))
    print("  replies delivered: %d; during load %.0f/s, after load %.0f/s, end to end %.0f/s" %
          (r["delivered"], r["during_rps"], r["after_rps"], r["e2e_rps"]))
    print("  backlog at wrk end %d, peak %d; drained %.2f s after the load" %
          (r["backlog_at_end"], r["peak_backlog"], r["drain_s"]))
    if r["backpressure"]:
        print("  answered 503 + Retry-After (backlog full): %d" % r["backpressure"])
    print("  peak RSS %.0f MB; CPU %.1f s (bot process, load + drain) = %.0f us per reply delivered "
          "(the figure least moved by other load on the machine)" %
          (r["peak_rss_mb"], r["cpu_s"], r["cpu_s"] * 1e6 / max(1, r["delivered"])))
    if r.get("thread_cpu_s"):
        print("  the bot's CPU by thread, us per reply delivered: " + ", ".join(
            "%s %.1f" % (n, c * 1e6 / max(1, r["delivered"]))
            for n, c in sorted(r["thread_cpu_s"].items(), key=lambda kv: -kv[1]) if c > 0))
    if r.get("thread_switches"):
        print("  the bot's threads slept / were preempted, times per reply delivered: " +
              ", ".join("%s %.2f / %.2f" % (n, c[0] / max(1, r["delivered"]),
                                            c[1] / max(1, r["delivered"]))
                        for n, c in sorted(r["thread_switches"].items(),
                                           key=lambda kv: -kv[1][0]) if c[0] + c[1] > 0))
    print("  RSS before the load %.0f MB: %.0f bytes of peak RSS per reply delivered on top" %
          (r["start_rss_mb"], (r["peak_rss_mb"] - r["start_rss_mb"]) * 1048576 /
           max(1, r["delivered"])))
    if r.get("machine_s"):
        rest = r["machine_busy_s"] - r["cpu_s"] - r["wrk_cpu_s"] - r["fake_cpu_s"] - r["redis_cpu_s"]
        print("  machine (load + drain): %.0f%% busy of %d CPUs; CPU s: bot %.1f, wrk %.1f, "
              "fake provider %.1f, redis %.1f, everything else %.1f" %
              (100 * r["machine_busy_s"] / r["machine_s"], os.cpu_count(), r["cpu_s"],
               r["wrk_cpu_s"], r["fake_cpu_s"], r["redis_cpu_s"], rest))
    if r.get("handoff_ns") and None not in r["handoff_ns"]:
        print("  cache-line hand-off between the CPUs before / after the run: %.0f / %.0f ns "
              "(bench_handoff; where the host put the virtual CPUs)" % tuple(r["handoff_ns"]))
    if "redis_cmds_per_webhook" in r:
        print("  Redis commands per webhook: %.2f in %.2f round trips (the server's socket "
              "reads, both sides of the bot); the Redis server's CPU %.0f us per reply "
              "delivered" % (r["redis_cmds_per_webhook"], r.get("redis_reads_per_webhook", 0),
                             r["redis_cpu_s"] * 1e6 / max(1, r["delivered"])))
    for what, calls, us in r.get("redis_scripts", []):
        print("    %-90s %5.2f calls %6.1f us per webhook" % (what[:90], calls, us))
    if r.get("redis_top"):
        print("  Redis server time per webhook, costliest commands (calls, us): " +
              ", ".join("%s %.2f/%.0f" % row for row in r["redis_top"]))


def check(r):
    """Every send the bot counted arrived once (a retried send that had arrived would make
    delivered > sent), none gave up, and the backlog drained to 0 (drain() waits for it)."""
    ok = r["delivered"] == r["sent"] and r["failed"] == 0
    if not ok:
        print("  CHECK FAILED: %d sends counted by the bot, %d delivered, %d failed" %
              (r["sent"], r["delivered"], r["failed"]))
    return ok


def ratio_line(a, b):
    """wabot run a against peer run b of the same store."""
    return ("accepted webhooks/s %.2fx, replies end to end/s %.2fx, p99 1/%.1f, p99.9 1/%.1f, "
            "peak RSS 1/%.1f, drain %.2f s vs %.2f s" %
            (a["accepted_rps"] / b["accepted_rps"], a["e2e_rps"] / b["e2e_rps"],
             b["p99_ms"] / max(a["p99_ms"], 1e-3), b["p999_ms"] / max(a["p999_ms"], 1e-3),
             b["peak_rss_mb"] / max(a["peak_rss_mb"], 1e-3), a["drain_s"], b["drain_s"]))


def side_by_side(runs, store):
    """Every wabot run of a store against every peer run of it, then the range: which
    of the two runs first moves the figures (the peer gains from running first), so
    one pair is not a measure."""
    ours = [(i, r) for i, (m, r) in enumerate(runs) if m == store]
    peers = [(i, r) for i, (m, r) in enumerate(runs) if m == "peer-" + store]
    if not ours or not peers:
        return
    print("--- %s: wabot / peer" % store)
    e2e, p99, rss = [], [], []
    for i, a in ours:
        for j, b in peers:
            print("  wabot run %d / peer run %d (%s first): %s" %
                  (i + 1, j + 1, "wabot" if i < j else "peer", ratio_line(a, b)))
            e2e.append(a["e2e_rps"] / b["e2e_rps"])
            p99.append(b["p99_ms"] / max(a["p99_ms"], 1e-3))
            rss.append(b["peak_rss_mb"] / max(a["peak_rss_mb"], 1e-3))
    if len(e2e) > 1:
        def median(v):
            v = sorted(v)
            n = len(v)
            return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
        print("  range over %d pairs: replies end to end %.2f-%.2fx (median %.2fx), "
              "p99 1/%.1f-1/%.1f (median 1/%.1f), peak RSS 1/%.1f-1/%.1f" %
              (len(e2e), min(e2e), max(e2e), median(e2e), min(p99), max(p99), median(p99),
               min(rss), max(rss)))


def expand(modes):
    """ORDERS=both: each wabot mode and its peer mode in both orders (a b b a)."""
    if os.environ.get("ORDERS", "one") != "both":
        return modes
    out = []
    for m in modes:
        out.append(m)
        if m.startswith("peer-") and out[-2:-1] == [m[5:]]:
            out += [m, m[5:]]
    return out


def main(argv):
    modes = argv[1:]
    peer = peer_dir()
    peer_ready = peer and os.path.exists(os.path.join(peer, "dist", "main.js"))
    if not modes:
        modes = ["memory", "redis"]
        if peer_ready:
            modes = ["memory", "peer-memory", "redis", "peer-redis"]
        else:
            print("e2e: no built peer (%s/dist/main.js; npm ci && npm run build there): "
                  "wabot only" % peer)
    modes = expand(modes)
    print("e2e: %d CPUs, wrk -t%d -c%d -d%ds, %d customers, warm-up %d s; raw data in %s" %
          (os.cpu_count(), THREADS, CONNS, DURATION, CUSTOMERS, WARMUP, OUT))
    runs, ok = [], True
    for n, m in enumerate(modes):
        print("=== %s (run %d)" % (m, n + 1), flush=True)
        again = sum(1 for k, _ in runs if k == m)
        runs.append((m, run_mode(m, "%s.%d" % (m, again + 1) if again else m)))
    print()
    for n, (m, r) in enumerate(runs):
        print("(run %d)" % (n + 1))
        report(r)
        ok = check(r) and ok
    for store in ("memory", "redis"):
        side_by_side(runs, store)
    for a in (r for m, r in runs if m == "redis2"):
        for b in (r for m, r in runs if m == "redis"):
            print("--- redis: two processes / one")
            print("  replies end to end/s %.2fx, accepted webhooks/s %.2fx, CPU per reply %.2fx" %
                  (a["e2e_rps"] / b["e2e_rps"], a["accepted_rps"] / b["accepted_rps"],
                   (a["cpu_s"] / max(1, a["delivered"])) /
                   max(1e-9, b["cpu_s"] / max(1, b["delivered"]))))
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
