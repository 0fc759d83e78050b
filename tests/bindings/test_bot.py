"""Middlewares, routes, turn access, error handling and callback lifetime."""
import gc
import json
import unittest
import weakref

from wbtest import FakeClock, plain_bot, wabot

C = "+15550001"


class BotCase(unittest.TestCase):
    def setUp(self):
        self.clock = FakeClock()
        self.bot = plain_bot(clock=self.clock, dedup=False)

    def tearDown(self):
        self.bot.close()

    def say(self, text=None, **kw):
        kw.setdefault("from_", C)
        self.bot.handle_message(text=text, **kw)

    def replies(self):
        self.bot.run_until_idle()
        texts = self.bot.sent.texts()
        self.bot.sent.sent.clear()
        return texts


class TestRoutes(BotCase):
    def test_each_route_kind_dispatches_to_its_handler(self):
        b = self.bot
        b.keyword("menu")(lambda t: t.reply("kw"))
        b.command("help")(lambda t: t.reply("cmd:" + t.capture(1)))
        b.regex(r"^order ([0-9]+)$")(lambda t: t.reply("re:" + t.capture(1)))
        b.payload("pick:*")(lambda t: t.reply("pl:" + t.message.payload))
        b.type("image")(lambda t: t.reply("img:" + t.message.media[0][0]))
        b.fallback(lambda t: t.reply("fb"))
        self.say("  Ménu! ")
        self.say("/help me now")
        self.say("order 42")
        self.say("Gift", type="button_reply", payload="pick:3",
                 payload_title="Gift")
        self.say("", type=wabot.MsgType.IMAGE,
                 media=[("https://x/a.jpg", "image/jpeg")])
        self.say("what?")
        self.assertEqual(self.replies(), ["kw", "cmd:me now", "re:42",
                                          "pl:pick:3", "img:https://x/a.jpg",
                                          "fb"])
        self.assertEqual(b.route_count, 6)

    def test_state_scoped_routes_win_and_state_persists(self):
        b = self.bot

        @b.keyword("go")
        def go(t):
            t.state = "asking"
            t.reply("question?")

        @b.regex(".*", state="asking")
        def answer(t):
            t.session["answer"] = t.text
            t.session["meta"] = {"n": [1, 2], "ok": True}
            t.state = ""
            t.reply("thanks")

        b.fallback(lambda t: t.reply("fb"), state="")
        self.say("go")
        self.assertEqual(b.conversation(C)[0], "asking")
        self.say("blue")
        self.say("again")
        self.assertEqual(self.replies(), ["question?", "thanks", "fb"])
        state, session, _v = b.conversation(C)
        self.assertEqual(state, "")
        self.assertEqual(session, {"answer": "blue",
                                   "meta": {"n": [1, 2], "ok": True}})

    def test_regex_icase_and_bad_regex_detail(self):
        self.bot.regex("^HI$", icase=True)(lambda t: t.reply("hi"))
        self.say("hi")
        self.assertEqual(self.replies(), ["hi"])
        with self.assertRaises(wabot.InvalidArgument) as cm:
            self.bot.regex("([")(lambda t: None)
        self.assertTrue(cm.exception.detail)

    def test_rich_replies_reach_the_transport(self):
        @self.bot.keyword("x")
        def x(t):
            t.reply_buttons("Pick", [("a", "A"), ("b", "B")])
            t.reply_list("Rows", [("r1", "One"), ("r2", "Two")])
            t.reply_template("order_update", "en", ["#12", "today"])
            t.reply_media("https://x/y.png", "cap")
            self.assertEqual(t.reply_count, 4)
        self.say("x")
        self.bot.run_until_idle()
        kinds = [m.kind for m in self.bot.sent.sent]
        self.assertEqual(kinds, ["buttons", "list", "template", "media"])
        btn = self.bot.sent.sent[0]
        self.assertEqual([o[:2] for o in btn.options],
                         [("a", "A"), ("b", "B")])
        self.assertEqual(self.bot.sent.sent[2].params, ["#12", "today"])
        self.assertEqual(btn.to, C)

    def test_too_many_buttons_is_too_large(self):
        @self.bot.keyword("x")
        def x(t):
            with self_.assertRaises(wabot.TooLarge):
                t.reply_buttons("b", [(str(i), str(i)) for i in range(4)])
            t.reply("checked")
        self_ = self
        self.say("x")
        self.assertEqual(self.replies(), ["checked"])


class TestMiddlewares(BotCase):
    def test_middlewares_run_in_order_around_the_router(self):
        trail = []

        @self.bot.use
        def outer(turn, next):
            trail.append("outer>")
            turn.locals["seen"] = "outer"
            next()
            trail.append("<outer")

        @self.bot.use
        def inner(turn, next):
            trail.append("inner:" + turn.locals["seen"])
            next()

        self.bot.fallback(lambda t: trail.append("route"))
        self.say("x")
        self.assertEqual(trail, ["outer>", "inner:outer", "route", "<outer"])

    def test_middleware_that_skips_next_stops_the_turn(self):
        self.bot.use(lambda t, nxt: t.reply("blocked"))
        self.bot.fallback(lambda t: t.reply("route"))
        self.say("x")
        self.assertEqual(self.replies(), ["blocked"])

    def test_next_reraises_the_python_exception_of_the_route(self):
        caught = []

        @self.bot.use
        def mw(turn, next):
            try:
                next()
            except KeyError as e:
                caught.append(e)
                turn.reply("recovered")

        @self.bot.fallback
        def boom(turn):
            raise KeyError("k")
        self.say("x")
        self.assertEqual(len(caught), 1)
        self.assertEqual(self.replies(), ["recovered"])

    def test_turn_is_unusable_after_its_callback(self):
        kept = []
        self.bot.fallback(lambda t: kept.append(t))
        self.say("x")
        with self.assertRaises(wabot.StateError):
            kept[0].reply("late")


class TestErrors(BotCase):
    def test_exception_in_handler_runs_error_handler_with_it(self):
        seen = []

        @self.bot.fallback
        def boom(turn):
            raise ValueError("bad input")

        @self.bot.error
        def on_error(turn, error):
            seen.append(error)
            turn.reply("sorry")

        with self.assertRaises(wabot.HandlerError) as cm:
            self.say("x")
        self.assertIsInstance(cm.exception.__cause__, ValueError)
        self.assertIsInstance(seen[0], ValueError)
        self.assertEqual(str(seen[0]), "bad input")
        self.assertEqual(self.replies(), ["sorry"])

    def test_failed_turn_saves_no_state(self):
        @self.bot.fallback
        def boom(turn):
            turn.state = "half"
            raise RuntimeError("x")
        with self.assertRaises(wabot.HandlerError):
            self.say("x")
        self.assertIsNone(self.bot.conversation(C))

    def test_wabot_error_keeps_its_status(self):
        codes = []

        @self.bot.fallback
        def busy(turn):
            raise wabot.Busy(wabot.Status.BUSY, "later")
        self.bot.error(lambda t, e: codes.append(e.code))
        with self.assertRaises(wabot.Busy):
            self.say("x")
        self.assertEqual(codes, [wabot.Status.BUSY])

    def test_returned_negative_status_fails_the_turn(self):
        self.bot.fallback(lambda t: int(wabot.Status.STORAGE))
        errors = []
        self.bot.error(lambda t, e: errors.append(e))
        with self.assertRaises(wabot.StorageError):
            self.say("x")
        self.assertIsInstance(errors[0], wabot.StorageError)

    def test_exception_in_middleware_and_error_handler_never_crash(self):
        self.bot.use(lambda t, n: 1 / 0)

        @self.bot.error
        def bad_handler(turn, error):
            raise RuntimeError("handler too")
        for _ in range(3):
            with self.assertRaises(wabot.HandlerError) as cm:
                self.say("x")
            self.assertIsInstance(cm.exception.__cause__, ZeroDivisionError)
        self.assertEqual(self.replies(), [])

    def test_keyboard_interrupt_style_exceptions_are_contained(self):
        @self.bot.fallback
        def stop(turn):
            raise SystemExit(3)
        with self.assertRaises(wabot.HandlerError) as cm:
            self.say("x")
        self.assertIsInstance(cm.exception.__cause__, SystemExit)


class TestLifetime(unittest.TestCase):
    def test_callbacks_stay_alive_while_c_holds_them(self):
        bot = plain_bot(dedup=False)

        class Handler:
            def __call__(self, turn):
                turn.reply("alive")
        h = Handler()
        ref = weakref.ref(h)
        bot.fallback(h)
        del h
        gc.collect()
        self.assertIsNotNone(ref())
        bot.handle_message(from_=C, text="x")
        bot.run_until_idle()
        self.assertEqual(bot.sent.texts(), ["alive"])
        bot.close()
        gc.collect()
        self.assertIsNone(ref())

    def test_closing_a_backend_before_its_bot_is_deferred(self):
        store = wabot.storage.DictStorage()
        bot = plain_bot(storage=store, dedup=False)
        bot.fallback(lambda t: t.reply("x"))
        store.close()
        self.assertIsNotNone(store._handle)     # still used by the bot
        bot.handle_message(from_=C, text="x")   # and still working
        bot.close()
        self.assertIsNone(store._handle)

    def test_garbage_collected_bots_and_backends_in_any_order(self):
        for _ in range(50):
            s = wabot.storage.DictStorage()
            t = wabot.transport.ListTransport()
            b = wabot.Bot(storage=s, transport=t, dedup=False)
            b.fallback(lambda turn: turn.reply("x"))
            b.handle_message(from_=C, text="hi")
            del b, s, t
            gc.collect()

    def test_close_is_idempotent_and_context_manager_closes(self):
        with plain_bot() as bot:
            pass
        self.assertIsNone(bot.handle)
        bot.close()


class TestOutsideTurns(BotCase):
    def test_send_text_and_template_go_through_the_loop(self):
        self.bot.handle_message(from_=C, text="hi")   # opens the window
        i = self.bot.send_text(C, "notice")
        self.assertTrue(i)
        with self.assertRaises(wabot.Exists):
            self.bot.send_text(C, "again", id=i)
        self.bot.send_template(C, "hello", "en", ["Ann"])
        self.bot.run_until_idle()
        kinds = [(m.kind, m.text) for m in self.bot.sent.sent]
        self.assertIn(("text", "notice"), kinds)
        self.assertEqual(self.bot.sent.sent[-1].template_name, "hello")

    def test_customer_profile_and_opt_out(self):
        self.say("hi", profile_name="Ann")
        c = self.bot.customer(C)
        self.assertEqual(c["name"], "Ann")
        self.assertFalse(c["opted_out"])
        self.bot.set_opted_out(C)
        self.assertTrue(self.bot.customer(C)["opted_out"])
        self.assertIsNone(self.bot.customer("+15559999"))

    def test_metrics_and_counters(self):
        self.say("hi")
        m = self.bot.metrics_json()
        self.assertIsInstance(m, dict)
        self.assertIn("wabot_", self.bot.metrics_prometheus())

    def test_python_worker_runs_jobs_and_retries_failures(self):
        runs = []

        @self.bot.worker("py-jobs")
        def work(job):
            runs.append((job.payload, job.attempt))
            if job.attempt == 1:
                raise RuntimeError("first attempt fails")

        @self.bot.keyword("job")
        def enqueue(turn):
            turn.enqueue("py-jobs", b"\x00payload")
        self.say("job")
        self.bot.run_until_idle()
        self.clock.advance(3_600_000)
        self.bot.run_until_idle()
        self.assertEqual(runs, [(b"\x00payload", 1), (b"\x00payload", 2)])
        self.assertEqual(self.bot.queue_counts("py-jobs")["completed"], 1)

    def test_http_route_serves_admin_json(self):
        @self.bot.http_route("GET", "/admin/echo/:name")
        def echo(req, resp):
            resp.add_header("X-Test", "1")
            resp.set_json(200, {"name": req.param("name"),
                                "q": req.query_param("q"),
                                "h": req.header("x-h")})

        @self.bot.http_route("POST", "/admin/fail")
        def fail(req, resp):
            raise RuntimeError("route bug")
        r = self.bot.handle_http("GET", "/admin/echo/z%C3%A9?q=1",
                                 {"X-H": "v"})
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body), {"name": "zé", "q": "1",
                                              "h": "v"})
        self.assertIn(("X-Test", "1"), r.headers)
        r = self.bot.handle_http("POST", "/admin/fail", body=b"{}")
        self.assertGreaterEqual(r.status, 500)
        self.assertEqual(self.bot.handle_http("GET", "/nope").status, 404)


class TestPythonTransport(unittest.TestCase):
    def test_exception_in_send_is_a_failed_send_that_is_retried(self):
        clock = FakeClock()
        calls = []

        class Flaky(wabot.transport.Transport):
            def send(self, msg, op):
                calls.append(msg.text)
                if len(calls) == 1:
                    raise ConnectionError("provider down")
                op.ok("flaky-%d" % len(calls))
        t = Flaky()
        with wabot.Bot(transport=t, clock=clock, dedup=False) as bot:
            bot.fallback(lambda turn: turn.reply("hello"))
            bot.handle_message(from_=C, text="x")
            bot.run_until_idle()
            self.assertEqual(calls, ["hello"])
            clock.advance(3_600_000)
            bot.run_until_idle()
            self.assertEqual(calls, ["hello", "hello"])
            self.assertEqual(bot.delivery("flaky-2")["to"], C)
        t.close()

    def test_op_completed_later_from_the_loop_thread(self):
        pending = []

        class Later(wabot.transport.Transport):
            def send(self, msg, op):
                pending.append(op)      # completed after send() returned
        t = Later()
        with wabot.Bot(transport=t, dedup=False) as bot:
            bot.fallback(lambda turn: turn.reply("later"))
            bot.handle_message(from_=C, text="x")
            bot.run_until_idle()
            self.assertEqual(len(pending), 1)
            pending[0].ok("late-1")
            with self.assertRaises(wabot.StateError):
                pending[0].ok("twice")
            bot.run_until_idle()
            self.assertEqual(bot.delivery("late-1")["to"], C)
        t.close()


class TestRecorder(unittest.TestCase):
    def test_recorder_transport_records_and_fails_on_demand(self):
        rec = wabot.transport.Recorder()
        with wabot.Bot(transport=rec, dedup=False) as bot:
            bot.fallback(lambda t: t.reply("one"))
            bot.handle_message(from_=C, text="x")
            bot.run_until_idle()
            self.assertEqual([m.text for m in rec.messages()], ["one"])
            rec.clear()
            self.assertEqual(len(rec), 0)
            rec.fail_next(1, wabot.Status.PERMANENT, 63024, "invalid")
            bot.handle_message(from_=C, text="y")
            bot.run_until_idle()
            self.assertEqual(len(rec), 0)
        rec.close()


if __name__ == "__main__":
    unittest.main()
