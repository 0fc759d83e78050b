"""A module written in Python registers like any C module: its options
join the table (per organisation too), its middleware runs at its stage,
its hooks reach subscribers, create() registers routes and workers, and a
failing create() fails the bot's creation."""
import json
import unittest

from wbtest import FakeClock, plain_bot, wabot


class Greeter(wabot.Module):
    name = "greeter"
    doc = "answers hi with a greeting"
    hooks = ["greeted"]
    options = [wabot.OptionDef("greeting", "string", default="Hi",
                               doc="what to answer", per_org=True),
               wabot.OptionDef("limit", "int", default=3, min=1, max=10,
                               doc="greetings per customer"),
               wabot.OptionDef("mood", "enum", default="calm",
                               choices=["calm", "loud"], doc="tone")]

    def __init__(self):
        self.destroyed = False

    def create(self, m):
        self.m = m

        @m.use
        def greet(turn, next):
            if turn.text != "hi":
                return next()
            text = m.option("greeting", turn.organization)
            if m.option("mood") == 1:
                text = text.upper()
            turn.reply(text)
            turn.set_handled()
            m.emit("greeted", {"customer": turn.customer})

        @m.bot.http_route("GET", "/greeter/greeting")
        def get(req, resp):
            resp.set_json(200, {"greeting": m.option(
                "greeting", req.query_param("org"))})

    def destroy(self, m):
        self.destroyed = True


class Broken(wabot.Module):
    name = "broken"

    def create(self, m):
        raise RuntimeError("cannot start")


class TestPythonModule(unittest.TestCase):
    def test_module_options_middleware_hooks_and_routes(self):
        g = Greeter()
        bot = plain_bot(dedup=False, modules=[g],
                        options={"greeter.greeting": "Hello",
                                 "greeter.mood": "calm"})
        self.assertIn("greeter", bot.module_names())
        self.assertEqual(bot.module_doc("greeter"),
                         "answers hi with a greeting")
        events = []
        bot.subscribe("greeter.greeted", lambda h, e: events.append((h, e)))
        self.assertEqual(bot.hook_subscribers("greeter.greeted"), 1)
        bot.fallback(lambda t: t.reply("fallback"))
        bot.set_org_option("acme", "greeter.greeting", "Olá")
        bot.handle_message(from_="+15550001", text="hi")
        bot.handle_message(from_="+15550002", text="hi",
                           organization="acme")
        bot.handle_message(from_="+15550001", text="other")
        bot.run_until_idle()
        self.assertEqual(bot.sent.texts(), ["Hello", "Olá", "fallback"])
        self.assertEqual(events, [("greeter.greeted",
                                   {"customer": "+15550001"}),
                                  ("greeter.greeted",
                                   {"customer": "+15550002"})])
        r = bot.handle_http("GET", "/greeter/greeting?org=acme")
        self.assertEqual(json.loads(r.body), {"greeting": "Olá"})
        self.assertEqual(g.m.option("limit"), 3)
        names = [o.name for o in wabot.Options().table()]
        self.assertNotIn("greeter.greeting", names)  # only where added
        bot.close()
        self.assertTrue(g.destroyed)

    def test_module_option_values_are_checked_by_the_table(self):
        with self.assertRaises(wabot.InvalidArgument):
            plain_bot(modules=[Greeter()], options={"greeter.limit": 11})
        with self.assertRaises(wabot.InvalidArgument):
            plain_bot(modules=[Greeter()], options={"greeter.mood": "sad"})

    def test_failing_create_fails_the_bot_with_the_cause(self):
        with self.assertRaises(wabot.WabotError) as cm:
            plain_bot(modules=[Broken()], clock=FakeClock())
        self.assertIsInstance(cm.exception.__cause__, RuntimeError)

    def test_two_modules_of_one_name_are_refused(self):
        with self.assertRaises(wabot.Exists):
            plain_bot(modules=[Greeter(), Greeter()])


if __name__ == "__main__":
    unittest.main()
