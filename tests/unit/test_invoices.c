/* Invoices (include/wabot/invoice.h) on the memory backends: money and
 * rounding per currency exponent, numbering and its format, idempotent
 * issue, status changes, lists, statistics, the issued hook, the text and
 * PDF renderings, signed document URLs over the route handler, the
 * invoice-processing worker, and 8 threads issuing 1,000 invoices. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "invoice_helpers.h"
#include "testutil.h"

#define SECRET "test-secret-0123456789"
#define PUBLIC_URL "https://bot.example.com/base"

static tu_env env;

static void setup(void)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "invoices.secret", SECRET),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "public_url", PUBLIC_URL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "window_ms", "0"), WABOT_OK);
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
}

static void teardown(void)
{
    tu_env_free(&env);
}

/* ---- helpers -------------------------------------------------------- */

static wabot_invoice_draft *draft(const char *org, const char *currency)
{
    wabot_invoice_draft *d = wabot_invoice_draft_new(env.ctx, org,
                                                     "+15550001234", currency);
    ck_assert_msg(d != NULL, "draft: %s", wabot_ctx_errmsg(env.ctx));
    return d;
}

static void line(wabot_invoice_draft *d, const char *sku, int64_t qty,
                 int64_t unit, int32_t bp)
{
    int rc = wabot_invoice_draft_add_line(d, sku, sku, qty, unit, bp);
    ck_assert_msg(rc == WABOT_OK, "line %s: %s", sku,
                  wabot_ctx_errmsg(env.ctx));
}

/* Issue d (freed), return the number (caller frees with free()). */
static char *issue(wabot_invoice_draft *d)
{
    char *number = NULL;
    int rc = wabot_invoice_issue(d, &number);
    ck_assert_msg(rc == WABOT_OK, "issue: %s", wabot_ctx_errmsg(env.ctx));
    char *copy = strdup(number);
    wabot_ctx_mem_free(env.ctx, number);
    wabot_invoice_draft_free(d);
    return copy;
}

static json_t *get_json(const char *org, const char *number)
{
    char *text = NULL;
    ck_assert_int_eq(wabot_invoice_get(env.ctx, org, number, &text),
                     WABOT_OK);
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    wabot_ctx_mem_free(env.ctx, text);
    return j;
}

static long long jint(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    ck_assert_msg(json_is_integer(v), "no integer %s", name);
    return (long long)json_integer_value(v);
}

static json_t *stats(const char *org)
{
    char *text = NULL;
    ck_assert_int_eq(wabot_invoice_stats(env.ctx, org, &text), WABOT_OK);
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    wabot_ctx_mem_free(env.ctx, text);
    return j;
}

/* ---- money ---------------------------------------------------------- */

/* Tax is rounded half up per line in minor units: JPY (0 decimals) to the
 * yen, USD (2) to the cent, KWD (3) to the fils. */
START_TEST(test_tax_rounds_half_up_per_line_for_exponents_0_2_3)
{
    static const struct {
        const char *cur;
        int64_t qty, unit;
        int32_t bp;
        long long net, tax, total;
    } cases[] = {
        {"JPY", 1, 999, 800, 999, 80, 1079},     /* 79.92 -> 80 */
        {"JPY", 1, 125, 1000, 125, 13, 138},     /* 12.5 -> 13 */
        {"JPY", 1, 124, 1000, 124, 12, 136},     /* 12.4 -> 12 */
        {"USD", 1, 1999, 825, 1999, 165, 2164},  /* 164.9175 -> 165 */
        {"USD", 2, 25, 1000, 50, 5, 55},         /* exactly 5 */
        {"USD", 1, 5, 1000, 5, 1, 6},            /* 0.5 -> 1 */
        {"USD", 1, 4, 1000, 4, 0, 4},            /* 0.4 -> 0 */
        {"KWD", 1, 1234, 500, 1234, 62, 1296},   /* 61.7 -> 62 */
        {"KWD", 3, 1001, 1500, 3003, 450, 3453}, /* 450.45 -> 450 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wabot_invoice_draft *d = draft("acme", cases[i].cur);
        line(d, "X", cases[i].qty, cases[i].unit, cases[i].bp);
        char *n = issue(d);
        json_t *j = get_json("acme", n);
        json_t *l = json_array_get(json_object_get(j, "lines"), 0);
        ck_assert_msg(jint(l, "net_minor") == cases[i].net &&
                          jint(l, "tax_minor") == cases[i].tax &&
                          jint(l, "total_minor") == cases[i].total,
                      "case %zu (%s): net %lld tax %lld total %lld", i,
                      cases[i].cur, jint(l, "net_minor"),
                      jint(l, "tax_minor"), jint(l, "total_minor"));
        ck_assert_int_eq(jint(j, "total_minor"), cases[i].total);
        json_decref(j);
        free(n);
    }
}
END_TEST

/* Rounding per line: three lines of 0.5 cent tax each round up to 1, so
 * the invoice's tax is 3 (not round(1.5) = 2), and the totals are the sums
 * of the printed lines. */
START_TEST(test_invoice_totals_are_sums_of_rounded_lines)
{
    wabot_invoice_draft *d = draft("acme", "USD");
    line(d, "A", 1, 5, 1000);
    line(d, "B", 1, 5, 1000);
    line(d, "C", 1, 5, 1000);
    char *n = issue(d);
    json_t *j = get_json("acme", n);
    ck_assert_int_eq(jint(j, "subtotal_minor"), 15);
    ck_assert_int_eq(jint(j, "tax_minor"), 3);
    ck_assert_int_eq(jint(j, "total_minor"), 18);
    ck_assert_str_eq(json_string_value(json_object_get(j, "currency")),
                     "USD");
    ck_assert_int_eq(jint(j, "exponent"), 2);
    json_decref(j);
    free(n);
}
END_TEST

START_TEST(test_amounts_beyond_int64_are_invalid_with_a_message)
{
    wabot_invoice_draft *d = draft("acme", "USD");
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A", "A", 1000000,
                                                  INT64_MAX / 10, 0),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "int64"));
    /* Each line fits, the sum does not. */
    line(d, "B", 1, INT64_MAX / 2 + 1, 0);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "C", "C", 1,
                                                  INT64_MAX / 2 + 1, 0),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "int64"));
    /* Tax pushes a line over. */
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "D", "D", 1,
                                                  INT64_MAX / 2, 20000),
                     WABOT_ERR_INVAL);
    wabot_invoice_draft_free(d);
}
END_TEST

START_TEST(test_bad_input_gets_invalid_never_a_crash)
{
    ck_assert_ptr_null(
        wabot_invoice_draft_new(env.ctx, "acme", "+1555", "XXX"));
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "currency"));
    ck_assert_ptr_null(wabot_invoice_draft_new(env.ctx, "acme", "+1555", "ZZZ"));
    ck_assert_ptr_null(wabot_invoice_draft_new(env.ctx, "acme", "+1555", "usd"));
    /* The first and last codes of the table are known. */
    wabot_invoice_draft_free(
        draft("acme", "AED")); /* draft() asserts non-NULL */
    wabot_invoice_draft_free(draft("acme", "ZWL"));
    ck_assert_ptr_null(wabot_invoice_draft_new(env.ctx, "ac{me}", "+1555",
                                               "USD"));
    ck_assert_ptr_null(wabot_invoice_draft_new(env.ctx, "acme", NULL, "USD"));
    ck_assert_ptr_null(wabot_invoice_draft_new(NULL, "acme", "+1", "USD"));
    wabot_invoice_draft *d = draft("acme", "EUR");
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A", "A", 0, 1, 0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A", "A", -2, 1, 0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A", "A", 2000000, 1, 0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A", "A", 1, -1, 0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A", "A", 1, 1, -5),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "", "A", 1, 1, 0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_invoice_draft_set_key(d, ""), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_invoice_issue(d, NULL), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "no lines"));
    wabot_invoice_draft_free(d);
    wabot_invoice_draft_free(NULL);
    char *json = NULL;
    ck_assert_int_eq(wabot_invoice_get(env.ctx, "acme", "INV-1", &json),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(json);
}
END_TEST

/* The organisation's default tax rate applies to lines without one. */
START_TEST(test_org_default_tax_applies_when_a_line_has_none)
{
    ck_assert_int_eq(wabot_ctx_set_org_option(env.ctx, "taxed",
                                              "invoices.tax_bp", "2000"),
                     WABOT_OK);
    wabot_invoice_draft *d = draft("taxed", "USD");
    line(d, "A", 1, 1000, WABOT_INVOICE_TAX_DEFAULT);
    line(d, "B", 1, 1000, 0);
    char *n = issue(d);
    json_t *j = get_json("taxed", n);
    ck_assert_int_eq(jint(j, "tax_minor"), 200);
    json_decref(j);
    free(n);
}
END_TEST

/* ---- numbering ------------------------------------------------------ */

/* A one-line invoice of `unit` minor units in `cur`; its number. */
static char *simple(const char *org, int64_t unit, const char *cur)
{
    wabot_invoice_draft *d = draft(org, cur);
    line(d, "A", 1, unit, 0);
    return issue(d);
}

START_TEST(test_numbers_follow_the_format_and_restart_each_year)
{
    char *a = simple("acme", 100, "USD"), *b = simple("acme", 100, "USD");
    ck_assert_str_eq(a, "INV-2026-000001");
    ck_assert_str_eq(b, "INV-2026-000002");
    /* Another organisation counts on its own, in its own format. */
    ck_assert_int_eq(wabot_ctx_set_org_option(env.ctx, "shop",
                                              "invoices.number_format",
                                              "S{seq:3}"),
                     WABOT_OK);
    char *c = simple("shop", 100, "USD");
    ck_assert_str_eq(c, "S001");
    /* A year later acme starts again at 1. */
    tu_clock_advance(&env.clock, 366LL * 86400000);
    char *e = simple("acme", 100, "USD");
    ck_assert_str_eq(e, "INV-2027-000001");
    /* Without yearly reset the count goes on. */
    ck_assert_int_eq(wabot_ctx_set_org_option(env.ctx, "shop",
                                              "invoices.yearly_reset", "0"),
                     WABOT_OK);
    char *f = simple("shop", 100, "USD");
    ck_assert_str_eq(f, "S002");
    free(a);
    free(b);
    free(c);
    free(e);
    free(f);
}
END_TEST

/* Switching yearly reset off moves to another counter: the next number
 * would repeat one given already. That is refused (STATE), never stored
 * twice nor reported as an issued key. */
START_TEST(test_a_number_given_already_is_never_given_again)
{
    ck_assert_int_eq(wabot_ctx_set_org_option(env.ctx, "fmt",
                                              "invoices.number_format",
                                              "A{year}-{seq}"),
                     WABOT_OK);
    char *first = simple("fmt", 100, "USD");
    ck_assert_str_eq(first, "A2026-1");
    ck_assert_int_eq(wabot_ctx_set_org_option(env.ctx, "fmt",
                                              "invoices.yearly_reset", "0"),
                     WABOT_OK);
    wabot_invoice_draft *d = draft("fmt", "USD");
    line(d, "A", 1, 100, 0);
    ck_assert_int_eq(wabot_invoice_draft_set_key(d, "k-2"), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_issue(d, NULL), WABOT_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "exists"));
    wabot_invoice_draft_free(d);
    json_t *s = stats("fmt");
    ck_assert_int_eq(jint(s, "count"), 1);
    json_decref(s);
    free(first);
}
END_TEST

START_TEST(test_number_format_option_rejects_bad_formats)
{
    static const struct {
        const char *format;
        int rc;
    } cases[] = {
        {"INV", WABOT_ERR_INVAL},           /* no {seq} */
        {"{seq}{seq}", WABOT_ERR_INVAL},    /* twice */
        {"INV/{seq}", WABOT_ERR_INVAL},     /* not a URL segment */
        {"{month}-{seq}", WABOT_ERR_INVAL}, /* unknown token */
        {"F{year}.{seq:4}", WABOT_OK},
    };
    wabot_options *o = wabot_options_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(wabot_options_set(o, "invoices.number_format",
                                        cases[i].format) == cases[i].rc,
                      "%s", cases[i].format);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_issuing_a_key_twice_gives_the_first_invoice)
{
    char *first = NULL, *again = NULL;
    wabot_invoice_draft *d = draft("acme", "USD");
    line(d, "A", 1, 100, 0);
    ck_assert_int_eq(wabot_invoice_draft_set_key(d, "order-42"), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_issue(d, &first), WABOT_OK);
    wabot_invoice_draft_free(d);
    d = draft("acme", "USD");
    line(d, "B", 5, 100, 0);
    ck_assert_int_eq(wabot_invoice_draft_set_key(d, "order-42"), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_issue(d, &again), WABOT_ERR_EXISTS);
    ck_assert_str_eq(first, again);
    wabot_invoice_draft_free(d);
    json_t *s = stats("acme");
    ck_assert_int_eq(jint(s, "count"), 1);
    json_decref(s);
    wabot_ctx_mem_free(env.ctx, first);
    wabot_ctx_mem_free(env.ctx, again);
}
END_TEST

START_TEST(test_eight_threads_issue_1000_invoices_numbered_1_to_1000)
{
    int64_t *seqs = calloc(1000, sizeof *seqs);
    ck_assert_int_eq(inv_issue_concurrently(env.ctx, "busy", "k", 8, 1000,
                                            seqs),
                     0);
    char why[128] = "";
    ck_assert_msg(inv_seqs_gap_free(seqs, 1000, why), "%s", why);
    json_t *s = stats("busy");
    ck_assert_int_eq(jint(s, "count"), 1000);
    json_decref(s);
    free(seqs);
}
END_TEST

/* ---- status --------------------------------------------------------- */

START_TEST(test_status_changes_follow_the_lifecycle)
{
    char *n = simple("acme", 100, "USD");
    ck_assert_int_eq(wabot_invoice_set_status(env.ctx, "acme", n,
                                              WABOT_INVOICE_SENT),
                     WABOT_OK);
    ck_assert_int_eq(wabot_invoice_set_status(env.ctx, "acme", n,
                                              WABOT_INVOICE_ISSUED),
                     WABOT_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "sent"));
    ck_assert_int_eq(wabot_invoice_set_status(env.ctx, "acme", n,
                                              WABOT_INVOICE_OVERDUE),
                     WABOT_OK);
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", n), WABOT_OK);
    /* The same status again changes nothing; PAID is final. */
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", n), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_void(env.ctx, "acme", n),
                     WABOT_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "paid"));
    json_t *j = get_json("acme", n);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
                     "paid");
    json_decref(j);
    char *v = simple("acme", 100, "USD");
    ck_assert_int_eq(wabot_invoice_void(env.ctx, "acme", v), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", v),
                     WABOT_ERR_STATE);
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", "nope"),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_invoice_set_status(env.ctx, "acme", v, 99),
                     WABOT_ERR_INVAL);
    free(n);
    free(v);
}
END_TEST

/* Due after invoices.net_days (30 by default): the sweep marks the open
 * ones OVERDUE once, skips paid and void ones, and a second sweep finds
 * nothing. */
START_TEST(test_overdue_sweep_marks_open_invoices_past_due_once)
{
    char *a = simple("acme", 100, "USD"), *b = simple("acme", 100, "USD");
    char *c = simple("acme", 100, "USD"), *d = simple("acme", 100, "USD");
    ck_assert_int_eq(wabot_invoice_set_status(env.ctx, "acme", b,
                                              WABOT_INVOICE_SENT),
                     WABOT_OK);
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", c), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_void(env.ctx, "acme", d), WABOT_OK);
    int64_t marked = -1;
    tu_clock_advance(&env.clock, 30LL * 86400000); /* due now, not past */
    ck_assert_int_eq(wabot_invoice_mark_overdue(env.ctx, "acme", 100,
                                                &marked),
                     WABOT_OK);
    ck_assert_int_eq(marked, 0);
    tu_clock_advance(&env.clock, 1);
    ck_assert_int_eq(wabot_invoice_mark_overdue(env.ctx, "acme", 1, &marked),
                     WABOT_OK);
    ck_assert_int_eq(marked, 1); /* the limit */
    ck_assert_int_eq(wabot_invoice_mark_overdue(env.ctx, "acme", 100,
                                                &marked),
                     WABOT_OK);
    ck_assert_int_eq(marked, 1);
    ck_assert_int_eq(wabot_invoice_mark_overdue(env.ctx, "acme", 100,
                                                &marked),
                     WABOT_OK);
    ck_assert_int_eq(marked, 0);
    json_t *s = stats("acme");
    ck_assert_int_eq(jint(json_object_get(s, "by_status"), "overdue"), 2);
    json_decref(s);
    /* Overdue, then paid. */
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", a), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_mark_overdue(env.ctx, "acme", 0, NULL),
                     WABOT_ERR_INVAL);
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(test_stats_count_statuses_and_revenue_per_currency)
{
    char *a = simple("acme", 1000, "USD");
    char *b = simple("acme", 250, "USD");
    char *c = simple("acme", 700, "JPY");
    char *d = simple("acme", 5, "USD");
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", a), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme", c), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_void(env.ctx, "acme", d), WABOT_OK);
    json_t *s = stats("acme");
    json_t *by = json_object_get(s, "by_status");
    ck_assert_int_eq(jint(by, "issued"), 1);
    ck_assert_int_eq(jint(by, "paid"), 2);
    ck_assert_int_eq(jint(by, "void"), 1);
    ck_assert_int_eq(jint(by, "sent"), 0);
    ck_assert_int_eq(jint(s, "count"), 4);
    ck_assert_int_eq(jint(json_object_get(s, "invoiced"), "USD"), 1250);
    ck_assert_int_eq(jint(json_object_get(s, "invoiced"), "JPY"), 700);
    ck_assert_int_eq(jint(json_object_get(s, "revenue"), "USD"), 1000);
    ck_assert_int_eq(jint(json_object_get(s, "revenue"), "JPY"), 700);
    json_decref(s);
    /* This process's metrics say the same. */
    char *prom = wabot_metrics_prometheus(env.ctx);
    ck_assert_ptr_nonnull(strstr(
        prom, "wabot_invoices_issued_total{org=\"acme\",currency=\"USD\"} 3"));
    ck_assert_ptr_nonnull(strstr(
        prom, "wabot_invoice_status_changes_total{org=\"acme\",status=\"paid\"} 2"));
    wabot_ctx_mem_free(env.ctx, prom);
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

/* ---- lists ---------------------------------------------------------- */

static json_t *list(const char *customer, wabot_invoice_status st,
                    int64_t offset, int64_t limit)
{
    char *text = NULL;
    int rc = wabot_invoice_list(env.ctx, "acme", customer, st, offset, limit,
                                &text);
    ck_assert_msg(rc == WABOT_OK, "list: %s", wabot_ctx_errmsg(env.ctx));
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    wabot_ctx_mem_free(env.ctx, text);
    return j;
}

static const char *nth_number(json_t *j, size_t i)
{
    json_t *inv = json_array_get(json_object_get(j, "invoices"), i);
    return json_string_value(json_object_get(inv, "number"));
}

START_TEST(test_lists_filter_by_customer_and_status_newest_first)
{
    const char *custs[] = {"+15550000001", "+15550000002"};
    for (int i = 0; i < 6; i++) {
        wabot_invoice_draft *d = wabot_invoice_draft_new(
            env.ctx, "acme", custs[i % 2], "USD");
        line(d, "A", 1, 100, 0);
        free(issue(d));
        tu_clock_advance(&env.clock, 1000);
    }
    /* Customer 1 has 1, 3, 5; paying 3 leaves 1 and 5 issued. */
    ck_assert_int_eq(wabot_invoice_mark_paid(env.ctx, "acme",
                                             "INV-2026-000003"),
                     WABOT_OK);
    json_t *all = list(NULL, 0, 0, 4);
    ck_assert_int_eq(json_array_size(json_object_get(all, "invoices")), 4);
    ck_assert_str_eq(nth_number(all, 0), "INV-2026-000006");
    ck_assert_int_eq(jint(all, "next_offset"), 4);
    json_decref(all);
    json_t *rest = list(NULL, 0, 4, 4);
    ck_assert_int_eq(json_array_size(json_object_get(rest, "invoices")), 2);
    ck_assert_str_eq(nth_number(rest, 1), "INV-2026-000001");
    ck_assert_int_eq(jint(rest, "next_offset"), -1);
    json_decref(rest);
    json_t *c1 = list(custs[0], WABOT_INVOICE_ISSUED, 0, 1);
    ck_assert_str_eq(nth_number(c1, 0), "INV-2026-000005");
    ck_assert_int_eq(jint(c1, "next_offset"), 1);
    json_decref(c1);
    c1 = list(custs[0], WABOT_INVOICE_ISSUED, 1, 10);
    ck_assert_int_eq(json_array_size(json_object_get(c1, "invoices")), 1);
    ck_assert_str_eq(nth_number(c1, 0), "INV-2026-000001");
    json_decref(c1);
    json_t *paid = list(NULL, WABOT_INVOICE_PAID, 0, 10);
    ck_assert_int_eq(json_array_size(json_object_get(paid, "invoices")), 1);
    ck_assert_str_eq(nth_number(paid, 0), "INV-2026-000003");
    json_decref(paid);
    char *text = NULL;
    ck_assert_int_eq(wabot_invoice_list(env.ctx, "acme", NULL, 0, 0, 0,
                                        &text),
                     WABOT_ERR_INVAL);
}
END_TEST

/* ---- the hook ------------------------------------------------------- */

typedef struct seen_hook {
    int calls;
    char number[64];
    long long total;
} seen_hook;

static int on_issued(wabot_ctx *ctx, const char *hook, const char *json,
                     size_t len, void *ud)
{
    (void)ctx;
    seen_hook *s = ud;
    ck_assert_str_eq(hook, WABOT_INVOICE_HOOK_ISSUED);
    json_t *j = json_loadb(json, len, 0, NULL);
    ck_assert_ptr_nonnull(j);
    snprintf(s->number, sizeof s->number, "%s",
             json_string_value(json_object_get(j, "number")));
    s->total = jint(j, "total_minor");
    json_decref(j);
    s->calls++;
    return WABOT_OK;
}

START_TEST(test_issued_hook_gets_each_new_invoice_once)
{
    seen_hook s = {0};
    ck_assert_int_eq(wabot_hook_subscribe(env.ctx, WABOT_INVOICE_HOOK_ISSUED,
                                          on_issued, &s, NULL),
                     WABOT_OK);
    wabot_invoice_draft *d = draft("acme", "USD");
    line(d, "A", 3, 100, 1000);
    ck_assert_int_eq(wabot_invoice_draft_set_key(d, "o-1"), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_issue(d, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_issue(d, NULL), WABOT_ERR_EXISTS);
    wabot_invoice_draft_free(d);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_str_eq(s.number, "INV-2026-000001");
    ck_assert_int_eq(s.total, 330);
}
END_TEST

/* ---- rendering ------------------------------------------------------ */

static char *sample(void)
{
    ck_assert_int_eq(wabot_ctx_set_org_option(env.ctx, "acme",
                                              "invoices.org_name",
                                              "Acme Café Ltd"),
                     WABOT_OK);
    wabot_invoice_draft *d = draft("acme", "USD");
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "COKE", "Coca-Cola", 2,
                                                  150, 825),
                     WABOT_OK);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "PZ", "Pizza Margherita",
                                                  1, 1299, 825),
                     WABOT_OK);
    return issue(d);
}

START_TEST(test_text_summary_shows_number_lines_totals_and_due_date)
{
    char *n = sample(), *text = NULL;
    ck_assert_int_eq(wabot_invoice_render_text(env.ctx, "acme", n, &text),
                     WABOT_OK);
    ck_assert_ptr_nonnull(strstr(text, "*Invoice INV-2026-000001*"));
    ck_assert_ptr_nonnull(strstr(text, "Acme Café Ltd"));
    ck_assert_ptr_nonnull(strstr(text, "2 x Coca-Cola: USD 3.00"));
    ck_assert_ptr_nonnull(strstr(text, "Subtotal: USD 15.99"));
    ck_assert_ptr_nonnull(strstr(text, "Tax: USD 1.32"));
    ck_assert_ptr_nonnull(strstr(text, "Total: USD 17.31"));
    ck_assert_ptr_nonnull(strstr(text, "Due: 2026-01-31"));
    wabot_ctx_mem_free(env.ctx, text);
    free(n);
}
END_TEST

static char *pdf_text(const char *pdf, size_t len)
{
    char why[256] = "";
    char *text = inv_pdf_text(pdf, len, why);
    ck_assert_msg(text != NULL, "%s", why);
    return text;
}

START_TEST(test_pdf_is_parseable_and_shows_number_and_total)
{
    char *n = sample(), *pdf = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_invoice_render_pdf(env.ctx, "acme", n, &pdf, &len),
                     WABOT_OK);
    ck_assert_uint_gt(len, 500);
    ck_assert_int_eq(memcmp(pdf, "%PDF-", 5), 0);
    char *text = pdf_text(pdf, len);
    ck_assert_msg(strstr(text, "INV-2026-000001") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "USD 17.31") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "Acme Café Ltd") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "Pizza Margherita") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "2026-01-31") != NULL, "%s", text);
    free(text);
    wabot_ctx_mem_free(env.ctx, pdf);
    free(n);
}
END_TEST

START_TEST(test_pdf_of_many_lines_flows_onto_more_pages)
{
    wabot_invoice_draft *d = draft("acme", "USD");
    char sku[16];
    for (int i = 0; i < 100; i++) {
        snprintf(sku, sizeof sku, "SKU%03d", i);
        line(d, sku, 1, 100, 0);
    }
    char *n = issue(d), *pdf = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_invoice_render_pdf(env.ctx, "acme", n, &pdf, &len),
                     WABOT_OK);
    char *text = pdf_text(pdf, len);
    ck_assert_ptr_nonnull(strstr(text, "SKU099"));
    ck_assert_ptr_nonnull(strstr(text, "USD 100.00"));
    ck_assert_ptr_nonnull(strchr(text, '\f')); /* a page break */
    free(text);
    wabot_ctx_mem_free(env.ctx, pdf);
    free(n);
}
END_TEST

typedef struct renderer {
    const char *number;
    int failures;
    size_t len;
} renderer;

static void *render_many(void *arg)
{
    renderer *r = arg;
    for (int i = 0; i < 10; i++) {
        char *pdf = NULL;
        size_t len = 0;
        if (wabot_invoice_render_pdf(env.ctx, "acme", r->number, &pdf,
                                     &len) != WABOT_OK ||
            (r->len && len != r->len))
            r->failures++;
        r->len = len;
        wabot_ctx_mem_free(env.ctx, pdf);
    }
    return NULL;
}

/* libharu keeps no shared state between documents: the route handler
 * may render from several threads at once. */
START_TEST(test_pdfs_render_from_several_threads_at_once)
{
    char *n = sample();
    renderer r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (renderer){n, 0, 0};
        pthread_create(&th[i], NULL, render_many, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(r[i].failures, 0);
        ck_assert_uint_eq(r[i].len, r[0].len);
    }
    free(n);
}
END_TEST

/* ---- document URLs -------------------------------------------------- */

static wabot_http_response *get(const char *target)
{
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(env.ctx, "GET", target, NULL, 0, NULL,
                                       0, &r),
                     WABOT_OK);
    return r;
}

/* The URL's target (path) under PUBLIC_URL. */
static char *doc_target(const char *number)
{
    char *url = NULL;
    int rc = wabot_invoice_document_url(env.ctx, "acme", number, &url);
    ck_assert_msg(rc == WABOT_OK, "url: %s", wabot_ctx_errmsg(env.ctx));
    ck_assert_int_eq(strncmp(url, PUBLIC_URL "/invoices/doc/acme/",
                             strlen(PUBLIC_URL "/invoices/doc/acme/")),
                     0);
    char *t = strdup(url + strlen(PUBLIC_URL));
    wabot_ctx_mem_free(env.ctx, url);
    return t;
}

START_TEST(test_signed_url_serves_the_pdf_until_it_expires)
{
    char *n = sample(), *t = doc_target(n);
    ck_assert_ptr_nonnull(strstr(t, "/INV-2026-000001.pdf"));
    wabot_http_response *r = get(t);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    ck_assert_str_eq(wabot_http_response_content_type(r), "application/pdf");
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_int_eq(memcmp(body, "%PDF-", 5), 0);
    char *text = pdf_text(body, len);
    ck_assert_ptr_nonnull(strstr(text, "USD 17.31"));
    free(text);
    wabot_http_response_free(r);
    /* 7 days by default: one minute short still works, after it 404. */
    tu_clock_advance(&env.clock, 7LL * 86400000 - 60000);
    r = get(t);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    wabot_http_response_free(r);
    tu_clock_advance(&env.clock, 61000);
    r = get(t);
    tu_assert_json_error(r, 404, "not_found");
    wabot_http_response_free(r);
    free(t);
    free(n);
}
END_TEST

START_TEST(test_altered_urls_answer_404)
{
    char *n = sample(), *t = doc_target(n);
    char *other = simple("acme", 100, "USD");
    /* The target: /invoices/doc/acme/<exp>/<sig>/<number>.pdf */
    char *sig = strrchr(t, '/') - 64;
    char bad[512];
    wabot_http_response *r;
    /* one hex digit of the signature changed */
    snprintf(bad, sizeof bad, "%s", t);
    bad[sig - t] = sig[0] == 'a' ? 'b' : 'a';
    r = get(bad);
    tu_assert_json_error(r, 404, "not_found");
    wabot_http_response_free(r);
    /* another invoice's number under this signature */
    snprintf(bad, sizeof bad, "%.*s%s.pdf", (int)(strrchr(t, '/') - t + 1),
             t, other);
    r = get(bad);
    tu_assert_json_error(r, 404, "not_found");
    wabot_http_response_free(r);
    /* a later expiry under the same signature */
    char *exp = sig - 1;
    while (exp[-1] != '/')
        exp--;
    snprintf(bad, sizeof bad, "%.*s9%s", (int)(exp - t), t, exp);
    r = get(bad);
    tu_assert_json_error(r, 404, "not_found");
    wabot_http_response_free(r);
    /* another organisation */
    snprintf(bad, sizeof bad, "/invoices/doc/acmf%s",
             t + strlen("/invoices/doc/acme"));
    r = get(bad);
    tu_assert_json_error(r, 404, "not_found");
    wabot_http_response_free(r);
    free(t);
    free(n);
    free(other);
}
END_TEST

START_TEST(test_document_urls_need_a_secret)
{
    tu_env_free(&env);
    tu_env_init(&env); /* no secret, no public URL */
    char *n = simple("acme", 100, "USD"), *url = NULL;
    ck_assert_int_eq(wabot_invoice_document_url(env.ctx, "acme", n, &url),
                     WABOT_ERR_STATE);
    ck_assert_ptr_null(url);
    free(n);
}
END_TEST

/* ---- the worker ----------------------------------------------------- */

static const char payload[] =
    "{\"org\":\"acme\",\"customer\":\"+15550001234\",\"currency\":\"USD\","
    "\"key\":\"order-7\",\"lines\":[{\"sku\":\"COKE\",\"name\":\"Coke\","
    "\"quantity\":2,\"unit_minor\":150,\"tax_bp\":1000}]}";

START_TEST(test_worker_issues_and_sends_the_document_once)
{
    char *id = NULL;
    ck_assert_int_eq(wabot_invoice_enqueue(env.ctx, payload,
                                           strlen(payload), &id),
                     WABOT_OK);
    ck_assert_str_eq(id, "invoice:acme:order-7");
    wabot_ctx_mem_free(env.ctx, id);
    ck_assert_int_eq(wabot_invoice_enqueue(env.ctx, payload,
                                           strlen(payload), NULL),
                     WABOT_ERR_EXISTS);
    tu_drain(env.ctx);
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_transport_recorder_count(env.rec), 1);
    const wabot_outbound *o = wabot_transport_recorder_get(env.rec, 0);
    ck_assert_str_eq(wabot_outbound_to(o), "+15550001234");
    const char *url = wabot_outbound_media_url(o);
    ck_assert_ptr_nonnull(url);
    ck_assert_ptr_nonnull(strstr(url, "/INV-2026-000001.pdf"));
    ck_assert_ptr_nonnull(strstr(wabot_outbound_text(o), "USD 3.30"));
    /* The URL serves the PDF the worker stored. */
    wabot_http_response *r = get(url + strlen(PUBLIC_URL));
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    wabot_http_response_free(r);
    json_t *j = get_json("acme", "INV-2026-000001");
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "sent");
    json_decref(j);
    /* The same order through the API now: no second invoice. */
    wabot_invoice_draft *d = draft("acme", "USD");
    line(d, "COKE", 2, 150, 1000);
    ck_assert_int_eq(wabot_invoice_draft_set_key(d, "order-7"), WABOT_OK);
    ck_assert_int_eq(wabot_invoice_issue(d, NULL), WABOT_ERR_EXISTS);
    wabot_invoice_draft_free(d);
}
END_TEST

START_TEST(test_enqueue_rejects_bad_payloads)
{
    ck_assert_int_eq(wabot_invoice_enqueue(env.ctx, "nope", 4, NULL),
                     WABOT_ERR_PARSE);
    const char *no_key = "{\"customer\":\"+1555\",\"currency\":\"USD\","
                         "\"lines\":[{\"sku\":\"A\",\"name\":\"A\","
                         "\"quantity\":1,\"unit_minor\":1}]}";
    ck_assert_int_eq(wabot_invoice_enqueue(env.ctx, no_key, strlen(no_key),
                                           NULL),
                     WABOT_ERR_INVAL);
    const char *bad_qty = "{\"customer\":\"+1555\",\"currency\":\"USD\","
                          "\"key\":\"k\",\"lines\":[{\"sku\":\"A\",\"name\":"
                          "\"A\",\"quantity\":0,\"unit_minor\":1}]}";
    ck_assert_int_eq(wabot_invoice_enqueue(env.ctx, bad_qty, strlen(bad_qty),
                                           NULL),
                     WABOT_ERR_INVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("invoices");
    TCase *tc = tcase_create("invoices");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tax_rounds_half_up_per_line_for_exponents_0_2_3);
    tcase_add_test(tc, test_invoice_totals_are_sums_of_rounded_lines);
    tcase_add_test(tc, test_amounts_beyond_int64_are_invalid_with_a_message);
    tcase_add_test(tc, test_bad_input_gets_invalid_never_a_crash);
    tcase_add_test(tc, test_org_default_tax_applies_when_a_line_has_none);
    tcase_add_test(tc, test_numbers_follow_the_format_and_restart_each_year);
    tcase_add_test(tc, test_number_format_option_rejects_bad_formats);
    tcase_add_test(tc, test_a_number_given_already_is_never_given_again);
    tcase_add_test(tc, test_issuing_a_key_twice_gives_the_first_invoice);
    tcase_add_test(tc,
                   test_eight_threads_issue_1000_invoices_numbered_1_to_1000);
    tcase_add_test(tc, test_status_changes_follow_the_lifecycle);
    tcase_add_test(tc, test_stats_count_statuses_and_revenue_per_currency);
    tcase_add_test(tc, test_overdue_sweep_marks_open_invoices_past_due_once);
    tcase_add_test(tc, test_lists_filter_by_customer_and_status_newest_first);
    tcase_add_test(tc, test_issued_hook_gets_each_new_invoice_once);
    tcase_add_test(tc,
                   test_text_summary_shows_number_lines_totals_and_due_date);
    tcase_add_test(tc, test_pdf_is_parseable_and_shows_number_and_total);
    tcase_add_test(tc, test_pdf_of_many_lines_flows_onto_more_pages);
    tcase_add_test(tc, test_pdfs_render_from_several_threads_at_once);
    tcase_add_test(tc, test_signed_url_serves_the_pdf_until_it_expires);
    tcase_add_test(tc, test_altered_urls_answer_404);
    tcase_add_test(tc, test_document_urls_need_a_secret);
    tcase_add_test(tc, test_worker_issues_and_sends_the_document_once);
    tcase_add_test(tc, test_enqueue_rejects_bad_payloads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
