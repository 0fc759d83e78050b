"""100,000 turns through Python callbacks: no reference or memory leak in
the glue (RSS flat after warm-up, no Turn objects left behind)."""
import gc
import os
import unittest

from wbtest import FakeClock, plain_bot, wabot

TURNS = int(os.environ.get("WABOT_STRESS_TURNS", "100000"))
CUSTOMERS = 50


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class TestGcStress(unittest.TestCase):
    def test_100k_turns_keep_rss_and_objects_flat(self):
        # Each turn that changes state leaves a "turn done" marker for
        # dedup_ttl_ms (redelivery protection, also with dedup off): keep
        # it short and move the fake clock so the library's own data stays
        # bounded and only the binding's memory is measured.
        clock = FakeClock()
        bot = plain_bot(dedup=False, inbound_rate_count=0, clock=clock,
                        dedup_ttl_ms="1s")
        calls = [0, 0]

        @bot.use
        def mw(turn, next):
            calls[0] += 1
            turn.locals["k"] = object()
            next()

        @bot.fallback
        def route(turn):
            calls[1] += 1
            turn.session["n"] = turn.session.get_int("n", 0) + 1
            turn.state = "s%d" % (calls[1] % 3)
        phones = ["+1555%07d" % i for i in range(CUSTOMERS)]

        def turn(i):
            if i % 1000 == 0:
                clock.advance(2000)
            bot.handle_message(id="m%d" % i, from_=phones[i % CUSTOMERS],
                               text="x")
        warm = TURNS // 10
        for i in range(warm):
            turn(i)
        gc.collect()
        turns_before = sum(isinstance(o, wabot.Turn) for o in gc.get_objects())
        before = rss_kib()
        for i in range(warm, TURNS):
            turn(i)
        gc.collect()
        after = rss_kib()
        turns_after = sum(isinstance(o, wabot.Turn) for o in gc.get_objects())
        self.assertEqual(calls, [TURNS, TURNS])
        self.assertEqual(turns_after, turns_before)
        total = sum(bot.conversation(p)[1]["n"] for p in phones)
        self.assertEqual(total, TURNS)
        # 90,000 turns after warm-up: a leak of one 64-byte object per turn
        # would add 5.6 MiB. Under ASan freed memory sits in its
        # quarantine, so RSS says nothing there (ASan checks the memory
        # itself instead).
        if not os.environ.get("WABOT_SANITIZED"):
            self.assertLess(after - before, 2048,
                            "RSS grew from %d to %d KiB" % (before, after))
        print("\ngc stress: %d turns, RSS %d -> %d KiB" % (TURNS, before,
                                                          after))
        bot.close()

    def test_business_calls_keep_rss_and_objects_flat(self):
        # Every C object the commerce, invoice and template wrappers
        # create (products, lists, matches, carts, reports, drafts,
        # templates, owned strings) must be freed: 20,000 rounds after
        # warm-up, RSS flat and no wrapper objects left behind.
        rounds = max(TURNS // 5, 1000)
        clock = FakeClock()
        bot = plain_bot(dedup=False, inbound_rate_count=0, clock=clock,
                        dedup_ttl_ms="1s")
        cat = bot.catalog()
        for sku, name, price in (("coke", "Coke", 150),
                                 ("coke-zero", "Coke Zero", 160),
                                 ("water", "Water", 100)):
            cat.create(wabot.Product(sku, name, price, "USD"))
        inv = bot.invoices()
        with inv.draft("+15550001", "USD") as d:
            number = d.add_line("A1", "Coke", 2, 150).issue()
        del d
        tpl = bot.template("Hi {{name|there}} from {{org.name}}")

        @bot.fallback
        def route(turn):
            turn.cart.add("coke")
            turn.cart.get()
            turn.cart.clear()

        def one(i):
            if i % 1000 == 0:
                clock.advance(2000)
            with cat.match("2 cokes and a water") as m:
                m.reply_text()
            cat.match("water")               # freed by the collector
            cat.get("coke")
            cat.list(limit=2)
            tpl.render({"name": "Ana", "org": {"name": "Acme"}})
            tpl.render(lambda scope, attr: "x")
            inv.get(number)
            inv.render_text(number)
            bot.handle_message(id="b%d" % i, from_="+1555%07d" % (i % 50),
                               text="x")
        warm = rounds // 10
        for i in range(warm):
            one(i)
        gc.collect()
        before = rss_kib()
        for i in range(warm, rounds):
            one(i)
        gc.collect()
        after = rss_kib()
        left = sum(isinstance(o, (wabot.Match, wabot.Template,
                                  wabot.InvoiceDraft))
                   for o in gc.get_objects())
        self.assertEqual(left, 1)            # tpl itself
        # 18,000 rounds after warm-up: leaking even one 32-byte chunk
        # (malloc's smallest) per round would add 560 KiB.
        if not os.environ.get("WABOT_SANITIZED"):
            self.assertLess(after - before, 512,
                            "RSS grew from %d to %d KiB" % (before, after))
        print("\nbusiness stress: %d rounds, RSS %d -> %d KiB"
              % (rounds, before, after))
        tpl.close()
        bot.close()


if __name__ == "__main__":
    unittest.main()
