"""Invoices from Python (wabot.invoices): draft -> issue, idempotency keys,
get/list, status changes, text and PDF renderings, signed document URLs,
the invoice-processing queue; health probes."""
import json
import unittest

from wbtest import FakeClock, plain_bot, wabot

C = "+15550001"
DAY = 86400 * 1000


def invoice_bot(**kw):
    return plain_bot(dedup=False, public_url="https://bot.example",
                     options={"invoices.secret": "s3cret-0123456789",
                              "invoices.net_days": 10}, **kw)


class TestInvoices(unittest.TestCase):
    def setUp(self):
        self.clock = FakeClock()
        self.bot = invoice_bot(clock=self.clock)
        self.inv = self.bot.invoices("acme")

    def tearDown(self):
        self.bot.close()

    def issue(self, key=None, customer=C):
        with self.inv.draft(customer, "USD", key=key) as d:
            d.add_line("A1", "Coke", 2, 150, tax_bp=825)
            d.add_line("B2", "Pizza", 1, 900, tax_bp=0)
            return d.issue()

    def test_issue_numbers_lines_and_totals(self):
        n1, n2 = self.issue(), self.issue()
        self.assertNotEqual(n1, n2)
        self.assertTrue(n1.startswith("INV-"))
        inv = self.inv.get(n1)
        self.assertEqual((inv["customer"], inv["currency"], inv["status"]),
                         (C, "USD", "issued"))
        # 2 x 1.50 + 8.25% = 3.25 (tax 0.2475 rounded up); pizza 9.00
        self.assertEqual((inv["subtotal_minor"], inv["tax_minor"],
                          inv["total_minor"]), (1200, 25, 1225))
        self.assertIsNone(self.inv.get("INV-0000-999999"))

    def test_bad_drafts_and_lines_raise_with_the_reason(self):
        with self.assertRaises(wabot.InvalidArgument):
            self.inv.draft(C, "XXZ")
        with self.inv.draft(C, "USD") as d:
            with self.assertRaises(wabot.InvalidArgument) as e:
                d.add_line("A1", "Coke", 0, 150)
            self.assertTrue(e.exception.detail)
            with self.assertRaises(wabot.InvalidArgument):
                d.issue()            # no lines
        d.close()
        with self.assertRaises(wabot.StateError):
            d.add_line("A1", "Coke", 1, 1)

    def test_a_key_issues_once(self):
        n = self.issue(key="order-42")
        with self.assertRaises(wabot.Exists) as e:
            self.issue(key="order-42")
        self.assertEqual(e.exception.number, n)
        with self.inv.draft(C, "USD", key="order-42") as d:
            d.add_line("A1", "Coke", 1, 150)
            self.assertEqual(d.issue(exist_ok=True), n)
        self.assertEqual(self.inv.get(n)["key"], "order-42")

    def test_list_pages_filters_and_statuses(self):
        nums = [self.issue(customer=C if i % 2 == 0 else "+15550002")
                for i in range(5)]
        page, nxt = self.inv.list(limit=2)
        self.assertEqual([i["number"] for i in page], nums[::-1][:2])
        self.assertEqual(nxt, 2)
        every = [i["number"] for i in self.inv.iterate(page_size=2)]
        self.assertEqual(every, nums[::-1])
        mine = [i["number"] for i in self.inv.iterate(customer=C)]
        self.assertEqual(mine, [nums[4], nums[2], nums[0]])
        self.inv.set_status(nums[0], wabot.InvoiceStatus.SENT)
        self.inv.set_status(nums[0], wabot.InvoiceStatus.SENT)  # no-op
        self.inv.mark_paid(nums[0])
        self.inv.void(nums[1])
        with self.assertRaises(wabot.StateError) as e:
            self.inv.mark_paid(nums[1])     # VOID is final
        self.assertIn("void", e.exception.detail)
        paid, _ = self.inv.list(status=wabot.InvoiceStatus.PAID)
        self.assertEqual([i["number"] for i in paid], [nums[0]])
        with self.assertRaises(wabot.NotFound):
            self.inv.void("INV-0000-999999")
        self.assertEqual(wabot.InvoiceStatus.OVERDUE.label, "overdue")
        stats = self.inv.stats()
        self.assertEqual((stats["count"], stats["by_status"]["paid"],
                          stats["by_status"]["void"]), (5, 1, 1))
        self.assertEqual(stats["revenue"]["USD"], 1225)

    def test_overdue_after_the_payment_terms(self):
        n = self.issue()
        self.assertEqual(self.inv.mark_overdue(), 0)
        self.clock.advance(11 * DAY)
        self.assertEqual(self.inv.mark_overdue(), 1)
        self.assertEqual(self.inv.get(n)["status"], "overdue")

    def test_text_pdf_and_document_url(self):
        n = self.issue()
        text = self.inv.render_text(n)
        self.assertIn(n, text)
        self.assertIn("12.25", text)
        pdf = self.inv.render_pdf(n)
        self.assertTrue(pdf.startswith(b"%PDF-"))
        self.assertIn(b"%%EOF", pdf[-64:])
        url = self.inv.document_url(n)
        self.assertTrue(url.startswith("https://bot.example/invoices/doc/"))
        path = url[len("https://bot.example"):]
        r = self.bot.handle_http("GET", path)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, pdf)
        r = self.bot.handle_http("GET", path.replace(".pdf", "x.pdf"))
        self.assertEqual(r.status, 404)
        with plain_bot() as bare:
            n2 = bare.invoices().draft(C, "USD").add_line(
                "A", "A", 1, 1).issue()
            with self.assertRaises(wabot.StateError):
                bare.invoices().document_url(n2)   # no secret configured

    def test_queue_issues_and_sends_once_per_key(self):
        self.bot.handle_message(from_=C, text="hi", organization="acme")
        job = {"customer": C, "currency": "USD", "key": "order-7",
               "lines": [{"sku": "A1", "name": "Coke", "quantity": 1,
                          "unit_minor": 150}]}
        jid = self.inv.enqueue(job)
        self.assertEqual(jid, "invoice:acme:order-7")
        with self.assertRaises(wabot.Exists) as e:
            self.inv.enqueue(json.dumps(dict(job, org="acme")))
        self.assertEqual(e.exception.job_id, jid)
        with self.assertRaises(wabot.ParseError):
            self.inv.enqueue("{")
        self.bot.run_until_idle()
        invs, _ = self.inv.list()
        self.assertEqual([(i["key"], i["status"]) for i in invs],
                         [("order-7", "sent")])
        m = self.bot.sent.sent[-1]
        self.assertEqual(m.kind, "media")
        self.assertIn("/invoices/doc/acme/", m.media_url)


class TestHealth(unittest.TestCase):
    def test_readiness_report_and_probe_routes(self):
        with plain_bot() as bot:
            ready, report = bot.readiness()
            self.assertTrue(ready)
            self.assertEqual(report["status"], "ready")
            self.assertEqual(report["storage"]["status"], "ok")
            bot.add_health_routes()
            r = bot.handle_http("GET", "/healthz")
            self.assertEqual((r.status, json.loads(r.body)),
                             (200, {"status": "ok"}))
            r = bot.handle_http("GET", "/readyz")
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["status"], "ready")
            with self.assertRaises(wabot.Exists):
                bot.add_health_routes()
            bot.add_health_routes("/live", "/ready")
            self.assertEqual(bot.handle_http("GET", "/live").status, 200)


if __name__ == "__main__":
    unittest.main()
