"""The rest of the Pythonic layer: outbound builder, jobs, texts, window
templates, metrics samples, deliveries, signatures, records, storage
batch calls, keyword folding, the raw layer."""
import base64
import hashlib
import hmac
import unittest

from wbtest import FakeClock, plain_bot, wabot

C = "+15550001"


class TestOutbound(unittest.TestCase):
    def setUp(self):
        self.bot = plain_bot(dedup=False)
        self.bot.handle_message(from_=C, text="hi")  # opens the window

    def tearDown(self):
        self.bot.close()

    def test_builder_message_is_queued_with_its_keys(self):
        o = self.bot.out(to=C, text="Pick one")
        o.row("r1", "One", "first").row("r2", "Two").list_button("Open")
        o.idempotency_key = "order-42"
        o.correlation_id = "corr-1"
        self.assertEqual(o.idempotency_key, "order-42")
        self.assertEqual(o.correlation_id, "corr-1")
        oid = o.enqueue()
        o.close()
        self.assertTrue(oid)
        self.bot.run_until_idle()
        m = self.bot.sent.sent[-1]
        self.assertEqual(m.kind, "list")
        self.assertEqual(m.list_button, "Open")
        self.assertEqual(m.options[0], ("r1", "One", "first"))
        self.assertEqual(m.correlation_id, "corr-1")
        d = self.bot.delivery("py-%d" % len(self.bot.sent.sent))
        self.assertIsNotNone(d)
        self.assertEqual(d["to"], C)
        self.assertEqual(d["correlation_id"], "corr-1")

    def test_turn_reply_out_with_media_and_template(self):
        @self.bot.keyword("pic")
        def pic(turn):
            turn.reply_out(turn.out().media("https://x/p.png", "a cup"))
            turn.reply_out(turn.out().template("promo", "en", ["10%"]))
        self.bot.handle_message(from_=C, text="pic")
        self.bot.run_until_idle()
        kinds = [(m.kind, m.media_url or m.template_name)
                 for m in self.bot.sent.sent[-2:]]
        self.assertEqual(kinds, [("media", "https://x/p.png"),
                                 ("template", "promo")])

    def test_texts_catalog_per_org_and_locale(self):
        self.bot.set_text("list_button", "Escolher", org="acme",
                          locale="pt-BR")
        self.assertEqual(self.bot.text("list_button", org="acme",
                                       locale="pt_br"), "Escolher")
        self.assertEqual(self.bot.text("list_button"), "Choose")
        with self.assertRaises(wabot.NotFound):
            self.bot.set_text("no_such_text", "x")

    def test_window_template_replaces_late_free_form_messages(self):
        clock = FakeClock()
        with plain_bot(dedup=False, clock=clock) as bot:
            bot.handle_message(from_=C, text="hi")
            clock.advance(25 * 3600 * 1000)
            bot.set_window_template(wabot.Category.NOTICE, "notice_tpl", "en")
            bot.send_text(C, "late notice")
            bot.run_until_idle()
            m = bot.sent.sent[-1]
            self.assertEqual((m.kind, m.template_name, m.params),
                             ("template", "notice_tpl", ["late notice"]))


class TestJobsAndMetrics(unittest.TestCase):
    def test_enqueue_job_get_cancel_and_stats(self):
        with plain_bot() as bot:
            jid = bot.enqueue("later", b"p", job_id="j1", delay_ms=60000)
            self.assertEqual(jid, "j1")
            with self.assertRaises(wabot.Exists):
                bot.enqueue("later", b"p", job_id="j1")
            job = bot.job("later", "j1")
            self.assertEqual((job["state"], job["payload"]),
                             ("delayed", b"p"))
            bot.cancel_job("later", "j1")
            self.assertIsNone(bot.job("later", "j1"))
            self.assertIsNone(bot.job("later", "nope"))
            bot.set_retention("later", 10, 1000, 10, 1000)
            self.assertIn("queues", bot.jobs_stats())

    def test_enqueue_many_queues_each_job_once(self):
        with plain_bot() as bot:
            bot.enqueue("later", b"p", job_id="old", delay_ms=60000)
            got = bot.enqueue_many("later", [b"a", "b", b"c"],
                                   job_ids=["x", None, "old"], delay_ms=60000)
            self.assertEqual(got[0], ("x", True))
            self.assertTrue(got[1][1] and got[1][0] not in ("x", "old"))
            self.assertEqual(got[2], ("old", False))
            self.assertEqual(bot.job("later", got[1][0])["payload"], b"b")
            self.assertEqual(bot.job("later", "old")["payload"], b"p")
            with self.assertRaises(wabot.InvalidArgument):
                bot.enqueue_many("later", [])
            with self.assertRaises(ValueError):
                bot.enqueue_many("later", [b"a"], job_ids=[])

    def test_worker_can_throttle_and_fail_permanently(self):
        clock = FakeClock()
        with plain_bot(clock=clock) as bot:
            seen = []

            @bot.worker("w")
            def work(job):
                seen.append((job.attempt, job.max_attempts))
                # A throttled run is released, not counted as an attempt.
                if job.payload == b"throttle" and len(seen) == 1:
                    job.retry_in(5000)
                    raise wabot.RateLimited(wabot.Status.RATE_LIMITED, "slow")
                if job.payload == b"fatal":
                    job.set_permanent()
                    raise ValueError("bad payload")
            bot.enqueue("w", b"throttle", job_id="t", max_attempts=3)
            bot.enqueue("w", b"fatal", job_id="f", max_attempts=3)
            bot.run_until_idle()
            t = bot.job("w", "t")
            self.assertEqual(t["state"], "delayed")
            self.assertEqual(t["run_at_ms"], clock() + 5000)
            clock.advance(5001)
            bot.run_until_idle()
            self.assertEqual(bot.job("w", "t")["state"], "completed")
            f = bot.job("w", "f")
            self.assertEqual((f["state"], f["attempts"]), ("failed", 1))
            self.assertIn("bad payload", f["last_error"])

    def test_named_counters_and_samples(self):
        with plain_bot() as bot:
            bot.metrics_add("py.custom", 5)
            self.assertEqual(bot.counter("py.custom"), 5)
            names = {n for n, _l, _v in bot.metrics_samples()}
            self.assertIn("wabot_py_custom_total", names)


class TestFunctions(unittest.TestCase):
    def test_keyword_fold_and_names(self):
        self.assertEqual(wabot.keyword_fold("  Ménu! "), "menu")
        self.assertEqual(wabot.msg_type_name(wabot.MsgType.LIST_REPLY),
                         "list_reply")
        self.assertEqual(wabot.category_name(wabot.Category.CAMPAIGN),
                         "campaign")
        self.assertEqual(wabot.log_level_name(2), "warn")
        self.assertEqual(wabot.transport.classify("twilio", 429),
                         wabot.Status.RATE_LIMITED)

    def test_signature_checks(self):
        url, params = "https://bot.example/hook", {"Body": "hi", "From": "x"}
        data = url + "".join(k + v for k, v in sorted(params.items()))
        sig = base64.b64encode(hmac.new(b"tok", data.encode(),
                                        hashlib.sha1).digest()).decode()
        body = "Body=hi&From=x"
        self.assertTrue(wabot.twilio_signature_valid("tok", url, body, sig))
        self.assertFalse(wabot.twilio_signature_valid("other", url, body,
                                                      sig))
        self.assertEqual(wabot.twilio_signature("tok", url, body), sig)
        mac = hmac.new(b"sec", b"{}", hashlib.sha256).hexdigest()
        self.assertEqual(wabot.meta_signature("sec", b"{}"), "sha256=" + mac)
        self.assertTrue(wabot.meta_signature_valid("sec", b"{}",
                                                   "sha256=" + mac))
        self.assertFalse(wabot.meta_signature_valid("sec", b"{}",
                                                    "sha256=00"))

    def test_records_encode_decode_and_upgrade(self):
        rec = wabot.record_encode(2, b"payload")
        self.assertTrue(rec.startswith(b"#schema 2\n"))
        self.assertEqual(wabot.record_decode(2, rec), (b"payload", 2))
        up = wabot.record_decode(3, rec, lambda frm, p: p + b"+%d" % frm)
        self.assertEqual(up, (b"payload+2", 2))
        with self.assertRaises(wabot.Unsupported):
            wabot.record_decode(1, rec)
        s = wabot.storage.memory()
        s.set("r", rec)
        self.assertEqual(s.get_record("r", 2)[0], b"payload")
        s.close()

    def test_storage_batch_and_counts(self):
        s = wabot.storage.memory()
        vers = s.put_many([("a", b"1", 0), ("b", b"2", 0)])
        self.assertEqual(len(vers), 2)
        self.assertEqual(s.memory_count(), 2)
        for m, sc in [(b"x", 1), (b"y", 2), (b"z", 3)]:
            s.sorted_add("z", m, sc)
        self.assertEqual(s.sorted_remove_range("z", 1, 2), 2)
        self.assertEqual(s.sorted_count("z"), 1)
        s.close()

    def test_bot_exposes_its_backends_and_senders(self):
        with plain_bot() as bot:
            self.assertEqual(bot.storage.name, "memory")
            self.assertEqual(bot.transport.name, "python-list")
            other = wabot.transport.ListTransport("acme-transport")
            bot.add_sender("acme", "+15550100", other)
            self.assertEqual(bot.sender_org("+15550100"), "acme")
            bot.handle_message(from_=C, to="+15550100", text="hi",
                               id="s1")
            self.assertEqual(bot.customer(C, org="acme")["phone"], C)

    def test_raw_layer_has_every_function_typed(self):
        L = wabot.lib()
        self.assertEqual(L.wabot_strerror(-3), b"not found")
        self.assertEqual(L.wabot_version_num(), wabot.version()[0])
        from wabot._prototypes import PROTOTYPES
        self.assertEqual(len(PROTOTYPES), len([n for n in PROTOTYPES
                                               if hasattr(L, n)]))

    def test_provider_transport_configs_are_checked(self):
        t = wabot.transport.twilio("AC" + "0" * 32, "tok", from_="+15550002",
                                   base_url="http://127.0.0.1:1")
        self.assertEqual(t.name, "twilio")
        t.close()
        m = wabot.transport.meta("token", "123")
        self.assertEqual(m.name, "meta")
        m.close()
        with self.assertRaises(wabot.InvalidArgument):
            wabot.transport.twilio("", "tok")
        self.assertIn("console", wabot.transport.console().name)


if __name__ == "__main__":
    unittest.main()
