"""A signed Twilio webhook over real HTTP through the Python example host
(examples/python/host.py) to a bot with a Python middleware and a Python
transport running the demo conversation; the admin route over HTTP too."""
import base64
import hashlib
import hmac
import json
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from wbtest import free_port, wabot  # first: sets the import paths

import demo_bot  # noqa: E402 (examples/python)
import host as pyhost  # noqa: E402

TOKEN = "twilio-secret"


def twilio_signature(url, params):
    data = url + "".join(k + v for k, v in sorted(params.items()))
    mac = hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


class TestWebhookOverHttp(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.transport = wabot.transport.ListTransport()
        self.bot = wabot.Bot(transport=self.transport,
                             twilio_auth_token=TOKEN, public_url=self.base)
        self.seen = []

        @self.bot.use
        def audit(turn, next):
            self.seen.append(turn.text)
            next()
        demo_bot.install(self.bot)
        self.host = pyhost.Host(self.bot, port=self.port).start()
        self.n = 0

    def tearDown(self):
        self.host.stop()
        self.bot.close()
        self.transport.close()

    def post(self, body_text, sign=True):
        self.n += 1
        params = {"MessageSid": "SM%032d" % self.n,
                  "AccountSid": "AC" + "0" * 32,
                  "From": "whatsapp:+15550001", "To": "whatsapp:+15550002",
                  "Body": body_text, "ProfileName": "Ann", "NumMedia": "0"}
        url = self.base + "/whatsapp/webhook"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            headers["X-Twilio-Signature"] = twilio_signature(url, params)
        req = urllib.request.Request(
            url, urllib.parse.urlencode(params).encode(), headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_replies(self, n):
        deadline = time.monotonic() + 10
        while len(self.transport.sent) < n and time.monotonic() < deadline:
            time.sleep(0.01)  # the host's loop thread sends
        return self.transport.texts()

    def test_signed_webhook_is_answered_by_the_python_bot(self):
        status, body = self.post("hello")
        self.assertEqual(status, 200, body)
        self.assertIn(b"<Response", body)
        texts = self.wait_replies(2)
        self.assertTrue(texts[0].startswith("Hello Ann!"), texts)
        self.assertIn("Our menu:", texts[1])
        self.assertEqual(self.seen, ["hello"])

    def test_demo_order_flow_over_http(self):
        for text in ("order", "2", "3", "yes"):
            self.assertEqual(self.post(text)[0], 200)
        texts = self.wait_replies(4)
        self.assertEqual(texts[1], "How many Ceramic mug? (1-999)")
        self.assertEqual(texts[2], "3 x Ceramic mug = $36.00. Confirm?")
        self.assertEqual(texts[3], "Thank you! Order #1 is on its way.")
        with urllib.request.urlopen(
                self.base + "/admin/customers/%2B15550001", timeout=10) as r:
            self.assertEqual(json.loads(r.read())["session"], {"orders": 1})

    def test_unsigned_or_forged_webhook_is_refused(self):
        status, body = self.post("hello", sign=False)
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(body)["error"]["code"],
                         "invalid_signature")
        self.assertEqual(self.seen, [])


if __name__ == "__main__":
    unittest.main()
