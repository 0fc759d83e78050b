"""Campaign building blocks from Python (wabot.campaign): templates with
dict and callable values, customers (upsert/import/get/delete/list),
audiences resolved page by page, the feature switches."""
import gc
import unittest

from wbtest import plain_bot, wabot

ANA = "+351912345678"


class TestTemplate(unittest.TestCase):
    def setUp(self):
        self.bot = plain_bot()

    def tearDown(self):
        self.bot.close()

    def test_render_with_a_dict_defaults_and_json_spelling(self):
        t = self.bot.template("Hi {{ name | there }}, {{org.name}} in "
                              "{{customer.city}} ({{customer.n}})")
        self.assertEqual(t.placeholders, 4)
        self.assertEqual(t.render({"name": "Ana", "org": {"name": "Acme"},
                                   "customer": {"city": "Porto", "n": 3}}),
                         "Hi Ana, Acme in Porto (3)")
        self.assertEqual(t.render(), "Hi there,  in  ()")
        self.assertEqual(t.render('{"name":"Zé"}'), "Hi Zé,  in  ()")
        with self.assertRaises(wabot.ParseError):
            t.render("[1]")
        t.close()
        with self.assertRaises(wabot.StateError):
            t.render({})

    def test_render_with_a_callable_lookup(self):
        calls = []

        def lookup(scope, attr):
            calls.append((scope, attr))
            return {wabot.TemplateScope.NAME: "Ana",
                    wabot.TemplateScope.ORG: None}.get(scope, "x-" + attr)
        with wabot.Template(self.bot, "{{name}}/{{customer.a}}/"
                            "{{org.b|none}}") as t:
            self.assertEqual(t.render(lookup), "Ana/x-a/none")
        self.assertEqual(calls, [(wabot.TemplateScope.NAME, ""),
                                 (wabot.TemplateScope.CUSTOMER, "a"),
                                 (wabot.TemplateScope.ORG, "b")])

    def test_an_exception_in_the_lookup_is_raised_after_the_render(self):
        def boom(scope, attr):
            raise KeyError(attr)
        t = self.bot.template("{{customer.a}}")
        with self.assertRaises(KeyError):
            t.render(boom)

    def test_compile_errors_name_the_position(self):
        with self.assertRaises(wabot.InvalidArgument) as e:
            self.bot.template("Hello {{nope}}")
        self.assertIn("6", e.exception.detail)
        with self.assertRaises(wabot.InvalidArgument):
            self.bot.template("a }} b")
        with self.assertRaises(wabot.TooLarge):
            self.bot.template("x" * 70000)

    def test_many_renders_keep_no_template_objects(self):
        for i in range(2000):
            self.bot.template("{{name}}").render({"name": str(i)})
        gc.collect()
        self.assertEqual(sum(isinstance(o, wabot.Template)
                             for o in gc.get_objects()), 0)


class TestCustomers(unittest.TestCase):
    def setUp(self):
        self.bot = plain_bot()
        self.cust = self.bot.customers("acme")

    def tearDown(self):
        self.bot.close()

    def test_upsert_get_delete(self):
        c = self.cust.upsert({"phone": "whatsapp:+351 912 345 678",
                              "name": "Ana", "tags": ["vip", "vip", "new"],
                              "attributes": {"city": "Porto"}})
        self.assertEqual((c["phone"], c["tags"]), (ANA, ["vip", "new"]))
        c = self.cust.upsert({"phone": ANA, "locale": "pt-PT"})
        self.assertEqual((c["name"], c["locale"]), ("Ana", "pt-PT"))
        self.assertEqual(self.cust.get(ANA)["attributes"], {"city": "Porto"})
        with self.assertRaises(wabot.InvalidArgument) as e:
            self.cust.upsert({"phone": ANA, "created_ms": 1})
        self.assertIn("created_ms", e.exception.detail)
        with self.assertRaises(wabot.ParseError):
            self.cust.upsert("[]")
        self.cust.delete(ANA)
        self.assertIsNone(self.cust.get(ANA))
        with self.assertRaises(wabot.NotFound):
            self.cust.delete(ANA)

    def test_import_reports_rows_and_listing_pages_through_all(self):
        rows = [{"phone": "+1555000%04d" % i, "tags": ["t%d" % (i % 2)]}
                for i in range(25)]
        rows.insert(3, {"phone": "nope"})
        rep = self.cust.import_(rows)
        self.assertEqual((rep["rows"], rep["created"], rep["failed"]),
                         (26, 25, 1))
        self.assertEqual((rep["errors"][0]["row"],
                          rep["errors"][0]["field"]), (3, "phone"))
        phones = {c["phone"] for c in self.cust}
        self.assertEqual(phones, {r["phone"] for r in rows
                                  if r["phone"] != "nope"})
        page, cursor = self.cust.list(count=5)
        self.assertLessEqual(len(page), 5)

    def test_audiences_skip_opted_out_and_count_exclusions(self):
        self.cust.import_([{"phone": "+1555000%04d" % i,
                            "tags": ["vip"] if i < 6 else ["new"],
                            "opted_out": i == 0} for i in range(12)])
        aud = self.bot.audiences("acme")
        phones, excluded = aud.resolve({"type": "tags", "any": ["vip"]},
                                       page_size=4)
        self.assertEqual(sorted(phones),
                         ["+1555000%04d" % i for i in range(1, 6)])
        self.assertEqual(excluded["opted_out"], 1)
        self.assertEqual(excluded["not_matched"], 6)
        page = aud.resolve_page({"type": "list",
                                 "customers": ["+15550000007", "+19990000"]})
        self.assertEqual(page["recipients"], ["+15550000007"])
        self.assertEqual(page["excluded"]["not_found"], 1)
        with self.assertRaises(wabot.InvalidArgument):
            aud.resolve_page({"type": "nope"})

    def test_feature_switches(self):
        self.assertTrue(self.bot.campaign_feature_enabled(
            wabot.Feature.CAMPAIGNS))
        with plain_bot(options={"campaign.enabled": False}) as off:
            self.assertFalse(off.campaign_feature_enabled(
                wabot.Feature.CAMPAIGNS))
            self.assertTrue(off.campaign_feature_enabled(
                wabot.Feature.REMINDERS, org="acme"))
            with self.assertRaises(wabot.Unsupported):
                off.customers().upsert({"phone": ANA})


if __name__ == "__main__":
    unittest.main()
