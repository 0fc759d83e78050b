"""Orders from Python (wabot.orders): create with idempotency keys, the
lifecycle with its illegal moves raising StateError with the library's
message, stock taken and given back, the order-processing worker, lists,
counts and stats, an order placed from a turn's cart, the order flow."""
import unittest

from wbtest import FakeClock, plain_bot, wabot

C = "+15550001"


def shop_bot(**kw):
    bot = plain_bot(dedup=False, clock=FakeClock(),
                    options={"window_ms": 0}, **kw)
    cat = bot.catalog("acme")
    cat.create(wabot.Product("coke", "Coke", 150, "USD"))
    cat.create(wabot.Product("water", "Water", 100, "USD", stock=5))
    cat.create(wabot.Product("tea", "Tea", 500, "EUR"))
    cat.create(wabot.Product("old", "Old soda", 90, "USD", active=False))
    return bot


class TestOrders(unittest.TestCase):
    def setUp(self):
        self.bot = shop_bot()
        self.orders = self.bot.orders("acme")

    def tearDown(self):
        self.bot.close()

    def test_create_copies_lines_and_prices_at_order_time(self):
        oid = self.orders.create(C, [("coke", 2), {"sku": "water",
                                                   "quantity": 3}])
        self.assertEqual(oid, "ORD-000001")
        o = self.orders.get(oid)
        self.assertEqual((o["customer"], o["currency"], o["status"],
                          o["total_minor"]), (C, "USD", "pending", 600))
        self.assertEqual([(ln["sku"], ln["quantity"], ln["unit_minor"])
                          for ln in o["lines"]],
                         [("coke", 2, 150), ("water", 3, 100)])
        self.assertIsNone(self.orders.get("ORD-999999"))

    def test_bad_lines_raise_the_status_with_the_librarys_message(self):
        with self.assertRaises(wabot.ParseError):
            self.orders.create(C, "{")
        with self.assertRaises(wabot.NotFound) as e:
            self.orders.create(C, [("nope", 1)])
        self.assertIn("nope", e.exception.detail)
        with self.assertRaises(wabot.StateError):
            self.orders.create(C, [("old", 1)])
        with self.assertRaises(wabot.InvalidArgument):
            self.orders.create(C, [("coke", 1), ("tea", 1)])   # currencies
        with self.assertRaises(wabot.TooLarge):
            self.orders.create(C, [("water", 6)])              # stock
        self.assertEqual(self.orders.counts()["all"], 0)

    def test_a_key_places_one_order(self):
        oid = self.orders.create(C, [("coke", 1)], key="SM1")
        with self.assertRaises(wabot.Exists) as e:
            self.orders.create(C, [("coke", 5)], key="SM1")
        self.assertEqual(e.exception.order_id, oid)
        self.assertEqual(self.orders.create(C, [("coke", 5)], key="SM1",
                                            exist_ok=True), oid)
        self.assertEqual(self.orders.counts()["all"], 1)

    def test_lifecycle_moves_and_the_illegal_move_raises_state_error(self):
        S = wabot.OrderStatus
        oid = self.orders.create(C, [("water", 2)])
        with self.assertRaises(wabot.StateError) as e:
            self.orders.set_status(oid, S.FULFILLED)
        self.assertEqual(e.exception.detail,
                         "order %s cannot go from pending to fulfilled" % oid)
        self.assertEqual(e.exception.code, wabot.Status.STATE)
        self.orders.set_status(oid, S.CONFIRMED)
        self.assertEqual(self.bot.catalog("acme")["water"].stock, 3)
        self.orders.set_status(oid, S.CONFIRMED)      # the same: no-op
        self.orders.set_status(oid, S.PROCESSING)
        self.orders.set_status(oid, S.FULFILLED)
        self.assertEqual(self.orders.get(oid)["status"], "fulfilled")
        with self.assertRaises(wabot.StateError) as e:
            self.orders.cancel(oid)
        self.assertIn("fulfilled to cancelled", e.exception.detail)
        with self.assertRaises(wabot.NotFound):
            self.orders.set_status("ORD-999999", S.CONFIRMED)
        self.assertEqual(S.PROCESSING.label, "processing")

    def test_cancelling_a_confirmed_order_gives_the_stock_back(self):
        oid = self.orders.create(C, [("water", 4)])
        self.orders.set_status(oid, wabot.OrderStatus.CONFIRMED)
        other = self.orders.create(C, [("water", 1)])
        with self.assertRaises(wabot.TooLarge):
            self.orders.create(C, [("water", 2)])
        self.orders.cancel(oid)
        self.assertEqual(self.bot.catalog("acme")["water"].stock, 5)
        self.assertEqual(self.orders.get(oid)["status"], "cancelled")
        self.assertEqual(self.orders.get(other)["status"], "pending")

    def test_the_worker_confirms_invoices_and_tells_the_customer(self):
        oid = self.orders.create(C, [("coke", 2)])
        self.orders.confirm(oid)
        with self.assertRaises(wabot.Exists):
            self.orders.confirm(oid)
        for _ in range(4):
            self.bot.run_until_idle()
        self.assertEqual(self.orders.get(oid)["status"], "processing")
        inv, _ = self.bot.invoices("acme").list(customer=C)
        self.assertEqual([i["key"] for i in inv], [oid])
        texts = "\n".join(t or "" for t in self.bot.sent.texts())
        self.assertIn("Order %s is confirmed" % oid, texts)
        with self.assertRaises(wabot.StateError):
            self.orders.confirm(oid)

    def test_lists_page_newest_first_and_filter(self):
        ids = [self.orders.create(C if i % 2 else "+15550002",
                                  [("coke", 1)]) for i in range(5)]
        self.orders.cancel(ids[0])
        page, cursor = self.orders.list(limit=2)
        self.assertEqual([o["id"] for o in page], ids[::-1][:2])
        self.assertIsNotNone(cursor)
        self.assertEqual([o["id"] for o in self.orders.iterate(page_size=2)],
                         ids[::-1])
        self.assertEqual([o["id"] for o in self.orders.iterate(customer=C)],
                         [ids[3], ids[1]])
        cancelled, _ = self.orders.list(status=wabot.OrderStatus.CANCELLED)
        self.assertEqual([o["id"] for o in cancelled], [ids[0]])
        counts = self.orders.counts()
        self.assertEqual((counts["all"], counts["pending"],
                          counts["cancelled"]), (5, 4, 1))
        self.assertEqual(self.orders.stats()["by_status"]["pending"], 4)
        with self.assertRaises(wabot.InvalidArgument):
            self.orders.list(limit=0)

    def test_a_turn_places_its_cart_and_queues_the_confirmation(self):
        placed = []

        @self.bot.keyword("add")
        def add(turn):
            turn.cart.add("coke", 3)

        @self.bot.keyword("order")
        def order(turn):
            oid = turn.place_order()
            turn.confirm_order(oid)
            placed.append(oid)

        @self.bot.keyword("again")
        def again(turn):
            turn.place_order()

        self.bot.handle_message(from_=C, text="add", organization="acme")
        self.bot.handle_message(from_=C, text="order", organization="acme")
        self.bot.run_until_idle()
        self.assertEqual(len(placed), 1)
        o = self.orders.get(placed[0])
        self.assertEqual((o["status"], o["total_minor"]), ("processing", 450))
        with self.assertRaises(wabot.NotFound) as e:
            self.bot.handle_message(from_=C, text="again",
                                    organization="acme")
        self.assertIn("empty", e.exception.detail)


class TestOrderFlow(unittest.TestCase):
    def test_the_flow_greets_takes_an_order_and_places_it(self):
        with shop_bot() as bot:
            bot.install_order_flow("acme")

            def say(text):
                n = len(bot.sent.texts())
                bot.handle_message(from_=C, text=text, organization="acme")
                bot.run_until_idle()
                return "\n".join(t or "" for t in bot.sent.texts()[n:])
            self.assertIn("Welcome", say("hi"))
            self.assertIn("2 \u00d7 Water", say("2 water"))
            self.assertIn("ORD-000001", say("confirm"))
            self.assertEqual(bot.orders("acme").get("ORD-000001")["status"],
                             "processing")
            self.assertEqual(bot.catalog("acme")["water"].stock, 3)


if __name__ == "__main__":
    unittest.main()
