"""Commerce from Python (wabot.commerce): money, products, the catalog with
its cursor iterator, import/export with the report, menus, the matcher and
the cart of a turn."""
import gc
import json
import unittest

from wbtest import plain_bot, wabot

C = "+15550001"


def shop(bot, org=None):
    cat = bot.catalog(org)
    cat.create(wabot.Product("coke", "Coke", 150, "USD",
                             aliases=["coca-cola"], category="Drinks"))
    cat.create(wabot.Product("coke-zero", "Coke Zero", 160, "USD",
                             category="Drinks"))
    cat.create(wabot.Product("water", "Water", 100, "USD", category="Drinks",
                             stock=5))
    cat.create(wabot.Product("pizza", "Pizza", 900, "USD", category="Food"))
    return cat


class TestMoney(unittest.TestCase):
    def test_exponents_formats_and_parses_by_currency(self):
        self.assertEqual(wabot.currency_exponent("USD"), 2)
        self.assertEqual(wabot.currency_exponent("JPY"), 0)
        self.assertEqual(wabot.currency_exponent("KWD"), 3)
        with self.assertRaises(wabot.NotFound):
            wabot.currency_exponent("XXZ")
        self.assertEqual(wabot.money_format(-123450, "USD"), "-1234.50 USD")
        self.assertEqual(wabot.money_format(150, "USD", symbol=True), "$1.50")
        self.assertEqual(wabot.money_format(500, "JPY"), "500 JPY")
        self.assertEqual(wabot.money_parse("12.5", "USD"), 1250)
        self.assertEqual(wabot.money_parse("1.250", "KWD"), 1250)
        with self.assertRaises(wabot.ParseError):
            wabot.money_parse("1.234", "USD")

    def test_money_arithmetic_checks_overflow_and_currency(self):
        a = wabot.Money.parse("1.50", "USD")
        self.assertEqual(a + wabot.Money(25, "USD"), wabot.Money(175, "USD"))
        self.assertEqual(3 * a, wabot.Money(450, "USD"))
        self.assertEqual(str(a * 2), "3.00 USD")
        with self.assertRaises(wabot.TooLarge):
            wabot.Money(2 ** 62, "USD") * 4
        with self.assertRaises(wabot.TooLarge):
            wabot.Money(2 ** 63 - 1, "USD") + wabot.Money(1, "USD")
        with self.assertRaises(wabot.InvalidArgument):
            a + wabot.Money(1, "EUR")


class TestCatalog(unittest.TestCase):
    def setUp(self):
        self.bot = plain_bot(dedup=False)
        self.cat = shop(self.bot)

    def tearDown(self):
        self.bot.close()

    def test_create_get_update_delete_with_versions(self):
        p = self.cat.get("coke")
        self.assertEqual((p.name, p.price, p.currency, p.aliases, p.stock,
                          p.active), ("Coke", 150, "USD", ["coca-cola"],
                                      None, True))
        self.assertGreater(p.version, 0)
        self.assertEqual(self.cat.get("water").stock, 5)
        self.assertIsNone(self.cat.get("nope"))
        self.assertNotIn("nope", self.cat)
        with self.assertRaises(KeyError):
            self.cat["nope"]
        with self.assertRaises(wabot.Exists):
            self.cat.create(wabot.Product("coke", "Again", 1, "USD"))
        old = p.version
        p.price = 175
        new = self.cat.update(p, expected=old)
        self.assertEqual(p.version, new)
        self.assertEqual(self.cat["coke"].price, 175)
        p.price = 200
        with self.assertRaises(wabot.Conflict):
            self.cat.update(p, expected=old)
        self.cat.delete("coke")
        with self.assertRaises(wabot.NotFound):
            self.cat.delete("coke")
        self.assertEqual(len(self.cat), 3)

    def test_bad_fields_raise_invalid_argument_with_the_rule(self):
        with self.assertRaises(wabot.InvalidArgument) as e:
            self.cat.create(wabot.Product("bad sku!", "X", 1, "USD"))
        self.assertIn("sku", e.exception.detail)
        with self.assertRaises(wabot.NotFound):
            self.cat.create(wabot.Product("x", "X", 1, "XXZ"))
        with self.assertRaises(wabot.InvalidArgument):
            self.cat.create(wabot.Product("y", "Y", -1, "USD"))

    def test_iteration_follows_the_cursor_across_pages(self):
        for i in range(7):
            self.cat.create(wabot.Product("p%d" % i, "P%d" % i, i, "USD",
                                          active=i % 2 == 0))
        skus = [p.sku for p in self.cat.iterate(page_size=3)]
        self.assertEqual(skus, ["coke", "coke-zero", "water", "pizza"] +
                         ["p%d" % i for i in range(7)])
        page, cursor = self.cat.list(limit=2)
        self.assertEqual(len(page), 2)
        self.assertIsNotNone(cursor)
        food = [p.sku for p in self.cat.iterate(category="Food")]
        self.assertEqual(food, ["pizza"])
        active = [p.sku for p in self.cat.iterate(active_only=True,
                                                  page_size=2)]
        self.assertNotIn("p1", active)
        self.assertIn("p2", active)

    def test_export_imports_back_and_the_report_names_bad_rows(self):
        exported = self.cat.export()
        self.assertEqual([r["sku"] for r in exported],
                         ["coke", "coke-zero", "water", "pizza"])
        other = self.bot.catalog("other-shop")
        report = other.import_json(self.cat.export_json())
        self.assertEqual((report.written, report.errors), (4, []))
        self.assertEqual(other.export(), exported)
        rows = [{"sku": "tea", "name": "Tea", "price": "2.50",
                 "currency": "USD"},
                {"sku": "bad sku", "name": "X", "price": 1,
                 "currency": "USD"}]
        with self.assertRaises(wabot.InvalidArgument) as e:
            other.import_json(rows)
        rep = e.exception.report
        self.assertEqual(rep.written, 0)
        self.assertEqual([(r, f) for r, f, _ in rep.errors], [(2, "sku")])
        self.assertEqual(json.loads(rep.json)["errors"][0]["row"], 2)
        self.assertIsNone(other.get("tea"))
        rep = other.import_json({"products": rows}, partial=True)
        self.assertEqual(rep.written, 1)
        self.assertEqual(other.get("tea").price, 250)
        with self.assertRaises(wabot.ParseError):
            other.import_json("not json")

    def test_product_json_is_the_import_shape(self):
        p = wabot.Product("tea", "Tea", 250, "USD", stock=3)
        d = json.loads(p.to_json(self.bot))
        self.assertEqual((d["sku"], d["price"], d["stock"]),
                         ("tea", 250, 3))
        self.assertEqual(p.money.format(symbol=True), "$2.50")

    def test_menu_text_and_list(self):
        text, pages = self.cat.menu_text()
        self.assertEqual(pages, 1)
        self.assertIn("Coke Zero", text)
        self.assertIn("$1.50", text)
        with self.assertRaises(wabot.NotFound):
            self.cat.menu_text(page=1)
        drinks, _ = self.cat.menu_text(category="Drinks")
        self.assertNotIn("Pizza", drinks)
        out = self.bot.out(to=C)
        self.assertEqual(self.cat.menu_list(out), 1)
        out.close()
        stats = self.cat.stats()
        self.assertEqual(stats["products"], 4)

    def test_matcher_lines_candidates_unknown_and_replies(self):
        with self.cat.match("2 cokes and 3 x water") as m:
            self.assertEqual([(ln.quantity, ln.ambiguous, ln.candidates[0].sku)
                              for ln in m.lines],
                             [(2, True, "coke"), (3, False, "water")])
            self.assertEqual([c.sku for c in m.lines[0].candidates],
                             ["coke", "coke-zero"])
            self.assertFalse(m.clear)
            self.assertIn("coke", m.reply_text().lower())
            self.assertEqual(len(json.loads(m.to_json())["lines"]), 2)
            out = self.bot.out(to=C)
            m.choices_out(0, out)
            with self.assertRaises(wabot.InvalidArgument):
                m.choices_out(1, out)    # line 1 is not ambiguous
            out.close()
        m = self.cat.match("a pizza and a unicorn")
        self.assertEqual(m.unknown, ["unicorn"])
        self.assertEqual(m.lines[0].candidates[0].price, 900)
        m.close()
        with self.assertRaises(wabot.StateError):
            m.reply_text()
        clean = self.cat.match("1 pizza")
        self.assertTrue(clean.clear)
        self.assertEqual(clean.reply_text(), "")
        with self.assertRaises(wabot.TooLarge):
            self.cat.match("x" * 2000)


class TestCart(unittest.TestCase):
    def test_cart_in_a_handler_is_saved_with_the_turn(self):
        with plain_bot(dedup=False) as bot:
            shop(bot)
            seen = {}

            @bot.regex(r"^add ([^ ]+) ([0-9]+)$")
            def add(turn):
                turn.cart.add(turn.capture(1), int(turn.capture(2)))
                turn.reply("ok")

            @bot.keyword("cart")
            def show(turn):
                view = turn.cart.get()
                seen["view"] = view
                turn.reply(view.text)

            @bot.keyword("less")
            def less(turn):
                turn.cart.set_quantity("coke", 1)
                turn.cart.remove("pizza")
                with self.assertRaises(wabot.NotFound):
                    turn.cart.remove("pizza")

            @bot.keyword("empty")
            def empty(turn):
                turn.cart.clear()
                seen["empty"] = turn.cart.get()

            @bot.keyword("greedy")
            def greedy(turn):
                turn.cart.add("water", 6)

            bot.handle_message(from_=C, text="add coke 2")
            bot.handle_message(from_=C, text="add pizza 1")
            bot.handle_message(from_=C, text="cart")
            v = seen["view"]
            self.assertEqual([(ln.sku, ln.quantity, ln.total, ln.orderable)
                              for ln in v.lines],
                             [("coke", 2, 300, True), ("pizza", 1, 900, True)])
            self.assertEqual(v.money, wabot.Money(1200, "USD"))
            self.assertIn("Coke", v.text)
            bot.catalog().delete("pizza")
            bot.handle_message(from_=C, text="cart")
            v = seen["view"]
            self.assertEqual(v.lines[1].status, wabot.Status.NOT_FOUND)
            self.assertEqual(v.total, 300)
            bot.handle_message(from_=C, text="less")
            bot.handle_message(from_=C, text="cart")
            self.assertEqual([(ln.sku, ln.quantity) for ln in
                              seen["view"].lines], [("coke", 1)])
            # Over the tracked stock: the turn fails with TooLarge.
            with self.assertRaises(wabot.TooLarge):
                bot.handle_message(from_=C, text="greedy")
            bot.handle_message(from_=C, text="empty")
            self.assertEqual(seen["empty"].lines, [])
            self.assertEqual(seen["empty"].currency, "")


class TestNoLeaks(unittest.TestCase):
    def test_matches_and_products_are_freed_by_the_collector(self):
        with plain_bot(dedup=False) as bot:
            cat = shop(bot)
            for _ in range(2000):
                cat.match("2 cokes")      # dropped: __del__ frees it
                cat.get("coke")
            gc.collect()
            self.assertEqual(sum(isinstance(o, wabot.Match)
                                 for o in gc.get_objects()), 0)


if __name__ == "__main__":
    unittest.main()
