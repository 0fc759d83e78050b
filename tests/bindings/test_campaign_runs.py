"""Campaigns and reminders from Python (wabot.Campaigns, wabot.Reminders):
a campaign run to completion on memory backends through the library's
recorder transport (exactly one message per reachable customer, opted-out
ones skipped and counted in the progress dataclass), pause and resume
half way, the lifecycle on the fake clock, listing with a cursor, bad
bodies raising with the library's message; a reminder fired on the fake
clock, cancelled, listed and counted."""
import datetime
import unittest

from wbtest import FakeClock, wabot

ORG = "acme"
HOUR = 3600 * 1000
BODY = {"name": "Promo", "message": "Hi {{name}}", "type": "PROMOTIONAL",
        "targetAudience": {"type": "all"},
        # Imported customers never wrote: the template reaches them.
        "providerTemplate": {"name": "promo", "language": "en",
                             "parameters": ["{{name}}"]}}


def phone(i):
    return "+1555%07d" % i


class Env:
    """A bot on the fake clock and the recorder transport, without the
    per-number send limit (a fake second would let only 80 through)."""

    def __init__(self):
        self.clock = FakeClock()
        self.rec = wabot.transport.Recorder()
        self.bot = wabot.Bot(transport=self.rec, dedup=False,
                             verify_signatures=False, clock=self.clock,
                             options={"rate_sender_per_s": 0})

    def close(self):
        self.bot.close()
        self.rec.close()

    def customers(self, n, optout_every=0):
        rows = [{"phone": phone(i), "name": "C%d" % i,
                 "opted_out": bool(optout_every and i % optout_every == 0)}
                for i in range(n)]
        report = self.bot.customers(ORG).import_(rows)
        assert report["failed"] == 0, report

    def pending(self, *queues):
        return sum(c["waiting"] + c["delayed"] + c["active"]
                   for c in map(self.bot.queue_counts, queues))

    def run_until(self, done, limit=10000):
        """Run the loop a fake second at a time until done() (never a real
        sleep); fails after `limit` fake seconds."""
        for _ in range(limit):
            self.bot.run_until_idle()
            if done():
                return
            self.clock.advance(1000)
        raise AssertionError("jobs did not settle")

    def settled(self):
        return self.pending("campaigns", "outbound") == 0

    def recipients_once(self, test):
        to = [m.to for m in self.rec.messages()]
        test.assertEqual(len(to), len(set(to)), "a customer got two")
        return set(to)


class TestCampaignRuns(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.camps = self.env.bot.campaigns(ORG)

    def tearDown(self):
        self.env.close()

    def test_a_campaign_runs_to_completion_one_message_per_customer(self):
        self.env.customers(60, optout_every=10)
        c = self.camps.create(dict(BODY, startImmediately=True,
                                   batchSize=7))
        self.assertEqual((c["status"], c["organizationId"]),
                         ("RUNNING", ORG))
        self.env.run_until(lambda: self.camps.get(c["id"])["status"] ==
                           "COMPLETED" and self.env.settled())
        got = self.env.recipients_once(self)
        self.assertEqual(got, {phone(i) for i in range(60) if i % 10})
        m = self.env.rec.messages()[0]
        self.assertEqual((m.template_name, m.organization), ("promo", ORG))
        p = self.camps.progress(c["id"])
        self.assertIsInstance(p, wabot.CampaignProgress)
        self.assertEqual(p.status, wabot.CampaignStatus.COMPLETED)
        self.assertEqual((p.total, p.queued, p.sent, p.percent, p.eta_ms),
                         (60, 54, 54, 100, 0))
        self.assertEqual(p.skipped[wabot.CampaignSkip.OPTED_OUT], 6)
        self.assertEqual(p.skipped[wabot.CampaignSkip.WINDOW_CLOSED], 0)
        self.assertEqual(p.skipped_total, 6)
        j = self.camps.progress_json(c["id"])
        self.assertEqual((j["status"], j["sent"], j["skipped"]["opted_out"]),
                         ("COMPLETED", 54, 6))

    def test_paused_half_way_sends_nothing_until_resumed_then_once(self):
        self.env.customers(80, optout_every=20)
        c = self.camps.create(dict(BODY, startImmediately=True,
                                   batchSize=5, sendRate=5))
        cid = c["id"]
        self.env.run_until(lambda: self.camps.progress(cid).queued >= 30)
        self.camps.pause(cid)
        with self.assertRaises(wabot.StateError) as e:
            self.camps.pause(cid)
        self.assertIn("PAUSED", e.exception.detail)
        self.env.run_until(self.env.settled)
        at_pause = len(self.env.rec)
        self.assertLess(self.camps.progress(cid).queued, 76)
        self.env.clock.advance(HOUR)
        self.env.run_until(self.env.settled)
        self.assertEqual(len(self.env.rec), at_pause)
        self.assertEqual(self.camps.get(cid)["status"], "PAUSED")
        self.camps.resume(cid)
        self.env.run_until(lambda: self.camps.get(cid)["status"] ==
                           "COMPLETED" and self.env.settled())
        got = self.env.recipients_once(self)
        self.assertEqual(got, {phone(i) for i in range(80) if i % 20})
        p = self.camps.progress(cid)
        self.assertEqual((p.queued, p.skipped[wabot.CampaignSkip.OPTED_OUT]),
                         (76, 4))

    def test_lifecycle_on_the_fake_clock_and_illegal_moves(self):
        self.env.customers(3)
        c = self.camps.create(BODY)
        cid = c["id"]
        self.assertEqual(c["status"], "DRAFT")
        with self.assertRaises(wabot.StateError) as e:
            self.camps.pause(cid)
        self.assertIn("DRAFT", e.exception.detail)
        at = datetime.datetime.fromtimestamp(
            (self.env.clock() + HOUR) / 1000, datetime.timezone.utc)
        self.camps.schedule(cid, at)
        self.assertEqual(self.camps.get(cid)["status"], "SCHEDULED")
        self.env.clock.advance(HOUR - 1000)
        self.env.bot.run_until_idle()
        self.assertEqual(len(self.env.rec), 0)
        self.env.run_until(lambda: self.camps.get(cid)["status"] ==
                           "COMPLETED" and self.env.settled())
        self.assertEqual(len(self.env.recipients_once(self)), 3)
        with self.assertRaises(wabot.StateError):
            self.camps.cancel(cid)
        with self.assertRaises(wabot.NotFound):
            self.camps.start("cmp-none")
        with self.assertRaises(wabot.InvalidArgument):
            self.camps.schedule(cid, datetime.datetime(2030, 1, 1))

    def test_cancel_and_start_of_drafts(self):
        a, b = self.camps.create(BODY), self.camps.create(BODY)
        self.camps.cancel(a["id"])
        self.assertEqual(self.camps.get(a["id"])["status"], "CANCELLED")
        with self.assertRaises(wabot.StateError):
            self.camps.start(a["id"])
        self.camps.start(b["id"])
        self.assertEqual(self.camps.get(b["id"])["status"], "RUNNING")
        self.assertIsNone(self.camps.get("cmp-none"))

    def test_list_filters_by_status_and_follows_the_cursor(self):
        ids = {self.camps.create(BODY)["id"] for _ in range(7)}
        running = self.camps.create(dict(BODY, startImmediately=True))["id"]
        seen, cursor, pages = [], None, 0
        while True:
            items, cursor = self.camps.list(cursor=cursor, count=2)
            seen += [c["id"] for c in items]
            pages += 1
            if cursor is None:
                break
        self.assertGreater(pages, 1)
        self.assertEqual(set(seen), ids | {running})
        self.assertEqual({c["id"] for c in self.camps}, ids | {running})
        self.assertEqual([c["id"] for c in self.camps.iterate(
            wabot.CampaignStatus.RUNNING)], [running])
        self.assertEqual(wabot.CampaignStatus.DRAFT.label, "DRAFT")

    def test_a_bad_body_raises_with_the_librarys_message(self):
        with self.assertRaises(wabot.ParseError):
            self.camps.create("{nope")
        with self.assertRaises(wabot.InvalidArgument) as e:
            self.camps.create(dict(BODY, message="Hi {{nope}}"))
        self.assertIn("message", e.exception.detail)
        self.assertIn("3", e.exception.detail)      # the byte position
        with self.assertRaises(wabot.InvalidArgument) as e:
            self.camps.create(dict(BODY, type="LOUD"))
        self.assertIn("type", e.exception.detail)

    def test_disabled_campaigns_raise_unsupported(self):
        with wabot.Bot(dedup=False, options={"campaign.enabled": False},
                       transport=wabot.transport.ListTransport()) as bot:
            with self.assertRaises(wabot.Unsupported) as e:
                bot.campaigns(ORG).create(BODY)
            self.assertIn("campaign.enabled", e.exception.detail)


class TestReminders(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.bot = self.env.bot
        self.rem = self.bot.reminders()     # the default organisation
        self.bot.customers(self.rem.org).upsert({"phone": phone(1),
                                                  "name": "Ana"})
        # The customer writes: the window is open, the text can go.
        self.bot.handle_message(from_=phone(1), text="hello")
        self.bot.run_until_idle()
        self.base = len(self.env.rec)

    def tearDown(self):
        self.env.close()

    def iso(self, ms):
        return datetime.datetime.fromtimestamp(
            ms / 1000, datetime.timezone.utc).isoformat()

    def body(self, due_ms, **kw):
        return dict({"customerPhone": phone(1), "type": "APPOINTMENT",
                     "message": "Hi {{name}}, see you soon",
                     "scheduledFor": self.iso(due_ms)}, **kw)

    def test_a_reminder_fires_at_its_time_on_the_fake_clock_once(self):
        due = self.env.clock() + HOUR
        r = self.rem.create(self.body(due, customerId="cust-1"))
        self.assertEqual((r["status"], r["nextRunMs"], r["customerId"],
                          r["organizationId"]),
                         ("SCHEDULED", due, "cust-1", self.rem.org))
        self.env.clock.advance(HOUR - 1)
        self.bot.run_until_idle()
        self.assertEqual(len(self.env.rec), self.base)
        self.assertEqual(self.rem.get(r["id"])["status"], "SCHEDULED")
        self.env.clock.advance(1)
        self.env.run_until(lambda: self.rem.get(r["id"])["status"] ==
                           "SENT" and self.env.pending("outbound") == 0)
        msgs = self.env.rec.messages()[self.base:]
        self.assertEqual([(m.to, m.text) for m in msgs],
                         [(phone(1), "Hi Ana, see you soon")])
        self.env.clock.advance(24 * HOUR)
        self.bot.run_until_idle()
        self.assertEqual(len(self.env.rec), self.base + 1)
        self.assertEqual(self.rem.get(r["id"])["sent"], 1)
        stats = self.rem.stats()
        self.assertEqual(stats["by_status"]["SENT"], 1)
        self.assertEqual(stats["created_by_type"]["APPOINTMENT"], 1)

    def test_cancel_stops_it_and_a_second_cancel_raises_state_error(self):
        r = self.rem.create(self.body(self.env.clock() + HOUR, id="r-1"))
        self.assertEqual(r["id"], "r-1")
        with self.assertRaises(wabot.Exists):
            self.rem.create(self.body(self.env.clock() + HOUR, id="r-1"))
        self.rem.cancel("r-1")
        got = self.rem.get("r-1")
        self.assertEqual((got["status"], got["reason"]),
                         ("CANCELLED", "cancelled"))
        with self.assertRaises(wabot.StateError) as e:
            self.rem.cancel("r-1")
        self.assertIn("CANCELLED", e.exception.detail)
        with self.assertRaises(wabot.NotFound):
            self.rem.cancel("nope")
        self.assertIsNone(self.rem.get("nope"))
        self.env.clock.advance(2 * HOUR)
        self.bot.run_until_idle()
        self.assertEqual(len(self.env.rec), self.base)

    def test_list_by_customer_and_status_with_a_cursor(self):
        now = self.env.clock()
        ids = [self.rem.create(self.body(now + HOUR, id="r-%d" % i))["id"]
               for i in range(5)]
        self.rem.create(dict(self.body(now + HOUR, id="other"),
                             customerPhone=phone(2)))
        self.rem.cancel("r-0")
        every = [r["id"] for r in self.rem.iterate(page_size=2)]
        self.assertEqual(sorted(every), sorted(ids + ["other"]))
        mine = [r["id"] for r in self.rem.iterate(customer=phone(1))]
        self.assertEqual(sorted(mine), sorted(ids))
        cancelled = [r["id"] for r in self.rem.iterate(
            status=wabot.ReminderStatus.CANCELLED)]
        self.assertEqual(cancelled, ["r-0"])

    def test_a_bad_body_raises_with_the_librarys_message(self):
        with self.assertRaises(wabot.ParseError):
            self.rem.create("[")
        bad = self.body(self.env.clock())
        del bad["customerPhone"]
        with self.assertRaises(wabot.InvalidArgument) as e:
            self.rem.create(bad)
        self.assertIn("customerPhone", e.exception.detail)
        with self.assertRaises(wabot.InvalidArgument) as e:
            self.rem.create(self.body(self.env.clock(), type="SOMETIME"))
        self.assertIn("type", e.exception.detail)


if __name__ == "__main__":
    unittest.main()
