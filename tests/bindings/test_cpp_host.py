"""The C++ host (examples/cpp/host.cpp on cpp-httplib) answers a signed
Twilio webhook over real HTTP and serves the admin API.

    test_cpp_host.py <path to wabot-cpp-host>
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HOST_BIN = None
TOKEN = "cpp-twilio-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestCppHost(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ, WABOT_HOST_RECORD="1", TWILIO_AUTH_TOKEN=TOKEN,
                   WABOT_PUBLIC_URL=self.base)
        self.proc = subprocess.Popen([HOST_BIN, str(self.port)], env=env,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # printed once listening
        self.assertIn("wabot c++ host", line)

    def tearDown(self):
        self.proc.terminate()
        self.assertEqual(self.proc.wait(10), 0)
        self.proc.stdout.close()

    def post(self, text, n, sign=True):
        params = {"MessageSid": "SM%032d" % n, "AccountSid": "AC" + "1" * 32,
                  "From": "whatsapp:+15550007", "To": "whatsapp:+15550002",
                  "Body": text, "ProfileName": "Bo", "NumMedia": "0"}
        url = self.base + "/whatsapp/webhook"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            data = url + "".join(k + v for k, v in sorted(params.items()))
            headers["X-Twilio-Signature"] = base64.b64encode(hmac.new(
                TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()
        req = urllib.request.Request(
            url, urllib.parse.urlencode(params).encode(), headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def get_json(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def wait_sent(self, n):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sent = self.get_json("/admin/sent")
            if len(sent) >= n:
                return sent
            time.sleep(0.02)  # the host's loop thread sends
        return self.get_json("/admin/sent")

    def test_signed_webhook_gets_the_bots_replies(self):
        self.assertEqual(self.post("hello", 1), 200)
        self.assertEqual(self.post("menu", 2), 200)
        sent = self.wait_sent(2)
        self.assertEqual(sent[0], "Hello Bo! Send *menu* to see what we have.")
        self.assertEqual(sent[1], "Our menu")
        conv = self.get_json("/admin/customers/%2B15550007")
        self.assertEqual(conv["state"], "choosing")

    def test_unsigned_webhook_is_refused(self):
        self.assertEqual(self.post("hello", 3, sign=False), 403)
        self.assertEqual(self.get_json("/admin/sent"), [])


if __name__ == "__main__":
    HOST_BIN = sys.argv.pop(1)
    unittest.main()
