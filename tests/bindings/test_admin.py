"""The admin API's mount point and the migration controls from Python
(include/wabot/admin.h, migration.h)."""
import json
import unittest

from wbtest import plain_bot, wabot

FORM = {"Content-Type": "application/x-www-form-urlencoded",
        "Host": "localhost"}


def twilio_body(sid, sender, text):
    return ("MessageSid=%s&AccountSid=AC1&From=whatsapp%%3A%%2B%s&To="
            "whatsapp%%3A%%2B15550002&Body=%s" % (sid, sender, text))


class TestAdmin(unittest.TestCase):
    def test_admin_route_is_behind_the_token(self):
        with plain_bot(options={"admin.token": "s3cret"}) as bot:
            self.assertTrue(bot.admin_enabled)

            @bot.admin_route("GET", "/tickets/:id")
            def ticket(req, resp):
                if req.param("id") == "0":
                    return resp.admin_error(404, "not_found", "no ticket 0",
                                            field="id")
                resp.set_json(200, {"id": req.param("id")})
            ok = {"Authorization": "Bearer s3cret"}
            r = bot.handle_http("GET", "/whatsapp-v2/tickets/7", ok)
            self.assertEqual((r.status, json.loads(r.body)),
                             (200, {"id": "7"}))
            r = bot.handle_http("GET", "/whatsapp-v2/tickets/0", ok)
            self.assertEqual(r.status, 404)
            self.assertEqual(json.loads(r.body)["error"]["field"], "id")
            self.assertEqual(bot.handle_http(
                "GET", "/whatsapp-v2/tickets/7").status, 401)
            self.assertEqual(bot.handle_http(
                "GET", "/whatsapp-v2/tickets/7",
                {"Authorization": "Bearer nope"}).status, 403)

    def test_admin_off_without_a_token(self):
        with plain_bot() as bot:
            self.assertFalse(bot.admin_enabled)
            bot.admin_route("GET", "/x")(lambda req, resp: None)
            self.assertEqual(bot.handle_http("GET", "/whatsapp-v2/x").status,
                             404)


class TestMigration(unittest.TestCase):
    def test_decisions_follow_percent_pins_and_switch(self):
        with plain_bot() as bot:
            c = "+15550001"
            self.assertEqual(bot.migration_decide(c), "new")
            bot.migration_set_percent(0)
            self.assertEqual(bot.migration_decide(c), "legacy")
            bot.migration_pin(c, "new")
            self.assertEqual(bot.migration_decide(c), "new")
            bot.migration_unpin(c)
            with self.assertRaises(wabot.NotFound):
                bot.migration_unpin(c)
            bot.migration_update({"percent": 100, "use_new_bot": False})
            self.assertEqual(bot.migration_decide(c), "legacy")
            state = bot.migration_state()
            self.assertEqual((state["percent"], state["use_new_bot"]),
                             (100, False))
            with self.assertRaises(wabot.InvalidArgument):
                bot.migration_set_percent(101)
            self.assertIn("101", wabot.last_error())
            with self.assertRaises(wabot.InvalidArgument):
                bot.migration_update({"percent": "all"})
            b = wabot.migration_bucket(c)
            self.assertTrue(0 <= b < 100)
            self.assertEqual(b, wabot.migration_bucket(c))

    def test_legacy_customers_reach_the_python_legacy_handler(self):
        with plain_bot(dedup=False) as bot:
            bot.fallback(lambda t: t.reply("new bot"))
            seen = []

            def legacy(method, target, headers, body, resp):
                seen.append((method, target, body))
                resp.set_text(200, "<Response/>")
            bot.set_legacy(legacy)
            bot.migration_pin("+15550009", "legacy")
            r = bot.handle_http("POST", "/whatsapp/webhook", FORM,
                                twilio_body("SM1", "15550009", "hi"))
            self.assertEqual((r.status, r.body), (200, b"<Response/>"))
            r = bot.handle_http("POST", "/whatsapp/webhook", FORM,
                                twilio_body("SM2", "15550001", "hi"))
            self.assertEqual(r.status, 200)
            bot.run_until_idle()
            self.assertEqual(len(seen), 1)
            self.assertIn(b"SM1", seen[0][2])
            self.assertEqual(bot.sent.texts(), ["new bot"])
            bot.set_legacy(None)


if __name__ == "__main__":
    unittest.main()
