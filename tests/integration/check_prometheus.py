#!/usr/bin/env python3
"""/metrics of a running wabot-server, parsed by a real Prometheus text
parser (python3-prometheus-client), and /monitoring's JSON shape.

Usage: check_prometheus.py WABOT-SERVER
Starts the server on a free port with a metrics token, sends a few
webhooks so counters and the turn-latency histogram have samples, then
checks both endpoints. Exit status 0 when every check holds."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def start(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WABOT_")}
    env.update({"WABOT_LISTEN": "127.0.0.1:0", "WABOT_BOT": "echo",
                "WABOT_INSECURE_SKIP_SIGNATURES": "1",
                "WABOT_METRICS_TOKEN": "scrape-token"})
    p = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return p, m.group(1)
    p.kill()
    fail("wabot-server did not start")


def request(url, method="GET", data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def main():
    p, base = start(sys.argv[1])
    try:
        for i in range(5):
            form = urllib.parse.urlencode({
                "MessageSid": "SM%032d" % i, "From": "whatsapp:+15550100",
                "To": "whatsapp:+14155238886", "Body": "hi %d" % i}).encode()
            st, _, _ = request(base + "/whatsapp/webhook", "POST", form,
                               {"Content-Type":
                                "application/x-www-form-urlencoded"})
            if st != 200:
                fail("webhook answered %d" % st)
        st, _, _ = request(base + "/metrics")
        if st != 401:
            fail("/metrics without a token answered %d, not 401" % st)
        auth = {"Authorization": "Bearer scrape-token"}
        st, hdr, text = request(base + "/metrics", headers=auth)
        if st != 200:
            fail("/metrics answered %d" % st)
        if not hdr["Content-Type"].startswith("text/plain; version=0.0.4"):
            fail("content type %s" % hdr["Content-Type"])
        families = list(text_string_to_metric_families(text))
        if not families:
            fail("no metric family parsed")
        types = {f.name: f.type for f in families}
        hist = [f for f in families if f.type == "histogram"]
        if not hist:
            fail("no histogram among %s" % sorted(types))
        h = hist[0]
        names = {s.name for s in h.samples}
        for suffix in ("_bucket", "_sum", "_count"):
            if h.name + suffix not in names:
                fail("histogram %s has no %s sample" % (h.name, suffix))
        if not any(s.labels.get("le") == "+Inf" for s in h.samples):
            fail("histogram %s has no le=\"+Inf\" bucket" % h.name)
        received = [s for f in families for s in f.samples
                    if s.name == "wabot_messages_received_total"]
        if not received or received[0].value < 5:
            fail("wabot_messages_received_total missing or below 5")
        st, _, body = request(base + "/whatsapp-v2/monitoring", headers=auth)
        if st != 200:
            fail("/monitoring answered %d" % st)
        mon = json.loads(body)
        for key in ("new", "queues", "old", "timestamp"):
            if key not in mon:
                fail("/monitoring has no %s" % key)
        for key in ("messages", "orders", "invoices", "reminders",
                    "campaigns"):
            if not isinstance(mon["new"].get(key), int):
                fail("/monitoring new.%s is not an integer" % key)
        for q in ("orderProcessing", "invoices", "reminders", "campaigns"):
            counts = mon["queues"].get(q)
            if not isinstance(counts, dict) or set(counts) != {
                    "waiting", "active", "completed", "failed", "delayed"}:
                fail("/monitoring queues.%s is %r" % (q, counts))
        if mon["new"]["messages"] < 5:
            fail("/monitoring new.messages is %r" % mon["new"]["messages"])
        print("ok: %d families (%d histograms) parsed; /monitoring shape ok"
              % (len(families), len(hist)))
    finally:
        p.terminate()
        p.wait(timeout=15)


if __name__ == "__main__":
    main()
