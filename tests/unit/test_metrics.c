/* Metrics v2: family registration, series and updates, the series limit,
 * the Prometheus text and JSON made from one snapshot, the flat snapshot
 * view, named counters in both outputs, the turn and webhook latency
 * histograms on the fake clock. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

static const char *const no_labels[1] = {NULL};

static wabot_metric_def def_of(const char *name, const char *help, int type,
                               const char *const *labels, size_t n_labels,
                               const double *buckets, size_t n_buckets)
{
    wabot_metric_def d;
    memset(&d, 0, sizeof d);
    d.version = WABOT_METRIC_DEF_VERSION;
    d.name = name;
    d.help = help;
    d.type = type;
    d.labels = labels;
    d.n_labels = n_labels;
    d.buckets = buckets;
    d.n_buckets = n_buckets;
    return d;
}

static wabot_metric_family *reg(wabot_ctx *ctx, const wabot_metric_def *d)
{
    wabot_metric_family *f = NULL;
    int rc = wabot_metrics_register(ctx, d, &f);
    ck_assert_msg(rc == WABOT_OK, "register %s: %s (%s)", d->name,
                  wabot_strerror(rc), wabot_ctx_errmsg(ctx));
    return f;
}

static wabot_metric_series *series1(wabot_metric_family *f, const char *v)
{
    wabot_metric_series *s = NULL;
    ck_assert_int_eq(wabot_metrics_series(f, &v, 1, &s), WABOT_OK);
    return s;
}

/* The value of the sample line "key value" in Prometheus text; -1 if
 * there is no such line. */
static double prom_value(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

static double prom(wabot_ctx *ctx, const char *key)
{
    char *t = wabot_metrics_prometheus(ctx);
    ck_assert_ptr_nonnull(t);
    double v = prom_value(t, key);
    wabot_ctx_mem_free(ctx, t);
    return v;
}

static int expect_inval(wabot_ctx *ctx, const wabot_metric_def *d)
{
    wabot_metric_family *f = (wabot_metric_family *)1;
    int rc = wabot_metrics_register(ctx, d, &f);
    ck_assert_ptr_null(f);
    ck_assert_msg(rc == WABOT_ERR_INVAL, "%s: %s", d->name ? d->name : "-",
                  wabot_strerror(rc));
    ck_assert_str_ne(wabot_ctx_errmsg(ctx), "");
    return 1;
}

/* ---- registration -------------------------------------------------- */

START_TEST(test_register_enforces_prometheus_names_labels_and_buckets)
{
    tu_env e;
    tu_env_init(&e);
    static const double b[] = {0.1, 0.5};
    static const double bad_order[] = {0.5, 0.5};
    const double inf_bound[] = {0.1, INFINITY};
    const char *const names[] = {"", "9lives", "a-b", "a.b", "a b"};
    for (size_t i = 0; i < 5; i++) {
        wabot_metric_def d = def_of(names[i], "", WABOT_METRIC_COUNTER, NULL,
                                    0, NULL, 0);
        expect_inval(e.ctx, &d);
    }
    wabot_metric_def d = def_of(NULL, "", WABOT_METRIC_COUNTER, NULL, 0,
                                NULL, 0);
    expect_inval(e.ctx, &d);
    const char *const bad_labels[][2] = {
        {"__reserved", "x"}, {"a:b", "x"}, {"1a", "x"}, {"x", "x"}, {"", "x"}};
    for (size_t i = 0; i < 5; i++) {
        d = def_of("ok_total", "", WABOT_METRIC_COUNTER, bad_labels[i], 2,
                   NULL, 0);
        expect_inval(e.ctx, &d);
    }
    const char *const le[] = {"le"};
    d = def_of("h_seconds", "", WABOT_METRIC_HISTOGRAM, le, 1, b, 2);
    expect_inval(e.ctx, &d); /* le is the bucket label */
    d = def_of("h_seconds", "", WABOT_METRIC_HISTOGRAM, NULL, 0, NULL, 0);
    expect_inval(e.ctx, &d); /* a histogram needs bounds */
    d = def_of("h_seconds", "", WABOT_METRIC_HISTOGRAM, NULL, 0, bad_order, 2);
    expect_inval(e.ctx, &d);
    d = def_of("h_seconds", "", WABOT_METRIC_HISTOGRAM, NULL, 0, inf_bound, 2);
    expect_inval(e.ctx, &d); /* +Inf is implicit */
    d = def_of("g", "", WABOT_METRIC_GAUGE, NULL, 0, b, 2);
    expect_inval(e.ctx, &d); /* only histograms have buckets */
    d = def_of("g", "", 7, NULL, 0, NULL, 0);
    expect_inval(e.ctx, &d);
    d = def_of("g", "", WABOT_METRIC_GAUGE, NULL, 0, NULL, 0);
    d.version = 0;
    expect_inval(e.ctx, &d);
    d = def_of("g", "", WABOT_METRIC_GAUGE, NULL, 0, NULL, 0);
    d.max_series = WABOT_METRIC_MAX_SERIES + 1;
    expect_inval(e.ctx, &d);
    const char *const nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    d = def_of("g", "", WABOT_METRIC_GAUGE, nine, 9, NULL, 0);
    expect_inval(e.ctx, &d);
    /* Colons are fine in metric names, and 8 labels is the limit. */
    d = def_of("job:rate_5m:sum", "", WABOT_METRIC_GAUGE, nine, 8, NULL, 0);
    reg(e.ctx, &d);
    ck_assert_int_eq(wabot_metrics_register(NULL, &d, NULL), WABOT_ERR_INVAL);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_same_definition_gives_same_family_and_another_is_exists)
{
    tu_env e;
    tu_env_init(&e);
    static const double b[] = {0.1, 0.5};
    static const double b2[] = {0.1, 0.6};
    const char *const labels[] = {"route"};
    const char *const other[] = {"path"};
    wabot_metric_def d = def_of("lat_seconds", "Latency.",
                                WABOT_METRIC_HISTOGRAM, labels, 1, b, 2);
    wabot_metric_family *f = reg(e.ctx, &d);
    ck_assert_ptr_eq(reg(e.ctx, &d), f);
    wabot_metric_def variants[5];
    for (size_t i = 0; i < 5; i++)
        variants[i] = d;
    variants[0].help = "Other help.";
    variants[1].buckets = b2;
    variants[2].labels = other;
    variants[3].max_series = 5;
    variants[4].type = WABOT_METRIC_COUNTER;
    variants[4].buckets = NULL;
    variants[4].n_buckets = 0;
    for (size_t i = 0; i < 5; i++) {
        wabot_metric_family *g = (wabot_metric_family *)1;
        ck_assert_int_eq(wabot_metrics_register(e.ctx, &variants[i], &g),
                         WABOT_ERR_EXISTS);
        ck_assert_ptr_null(g);
        ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(e.ctx), "lat_seconds"));
    }
    tu_env_free(&e);
}
END_TEST

START_TEST(test_series_needs_one_value_per_label)
{
    tu_env e;
    tu_env_init(&e);
    const char *const labels[] = {"method", "code"};
    wabot_metric_def d = def_of("req_total", "", WABOT_METRIC_COUNTER, labels,
                                2, NULL, 0);
    wabot_metric_family *f = reg(e.ctx, &d);
    const char *one[] = {"GET"};
    const char *with_null[] = {"GET", NULL};
    const char *two[] = {"GET", "200"};
    wabot_metric_series *s = (wabot_metric_series *)1;
    ck_assert_int_eq(wabot_metrics_series(f, one, 1, &s), WABOT_ERR_INVAL);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(e.ctx), "2 labels"));
    ck_assert_int_eq(wabot_metrics_series(f, with_null, 2, &s),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_series(f, NULL, 0, &s), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_counter_add_labels(f, one, 1, 1),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_series(f, two, 2, &s), WABOT_OK);
    wabot_metric_series *again = NULL;
    ck_assert_int_eq(wabot_metrics_series(f, two, 2, &again), WABOT_OK);
    ck_assert_ptr_eq(again, s);
    tu_env_free(&e);
}
END_TEST

/* ---- values -------------------------------------------------------- */

START_TEST(test_counter_gauge_and_histogram_values)
{
    tu_env e;
    tu_env_init(&e);
    static const double b[] = {1, 2};
    const char *const labels[] = {"k"};
    wabot_metric_def dc = def_of("c_total", "", WABOT_METRIC_COUNTER, labels,
                                 1, NULL, 0);
    wabot_metric_def dg = def_of("g", "", WABOT_METRIC_GAUGE, NULL, 0, NULL,
                                 0);
    wabot_metric_def dh = def_of("h", "", WABOT_METRIC_HISTOGRAM, labels, 1,
                                 b, 2);
    wabot_metric_family *fc = reg(e.ctx, &dc), *fg = reg(e.ctx, &dg),
                        *fh = reg(e.ctx, &dh);
    wabot_metric_series *c = series1(fc, "x"), *g = NULL;
    ck_assert_int_eq(wabot_metrics_series(fg, no_labels, 0, &g), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_counter_add(c, 2), WABOT_OK);
    const char *x = "x";
    ck_assert_int_eq(wabot_metrics_counter_add_labels(fc, &x, 1, 5), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_gauge_set(g, 10), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_gauge_add(g, -2.5), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_gauge_add_labels(fg, NULL, 0, 0.25),
                     WABOT_OK);
    const char *y = "y";
    ck_assert_int_eq(wabot_metrics_histogram_observe_labels(fh, &y, 1, 1.5),
                     WABOT_OK);
    ck_assert_int_eq(wabot_metrics_histogram_observe(series1(fh, "y"), 0.5),
                     WABOT_OK);
    /* An update of another type is refused and changes nothing. */
    ck_assert_int_eq(wabot_metrics_gauge_set(c, 99), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_counter_add(g, 1), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_histogram_observe(g, 1), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_counter_add(NULL, 1), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_gauge_set_labels(fc, &x, 1, 1),
                     WABOT_ERR_INVAL);
    ck_assert(prom(e.ctx, "c_total{k=\"x\"}") == 7);
    ck_assert(prom(e.ctx, "g") == 7.75);
    ck_assert(prom(e.ctx, "h_bucket{k=\"y\",le=\"1\"}") == 1);
    ck_assert(prom(e.ctx, "h_bucket{k=\"y\",le=\"2\"}") == 2);
    ck_assert(prom(e.ctx, "h_sum{k=\"y\"}") == 2);
    ck_assert(prom(e.ctx, "h_count{k=\"y\"}") == 2);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_value_equal_to_a_bound_goes_into_that_bucket)
{
    tu_env e;
    tu_env_init(&e);
    static const double b[] = {0.005, 0.01, 0.025};
    wabot_metric_def d = def_of("t_seconds", "", WABOT_METRIC_HISTOGRAM, NULL,
                                0, b, 3);
    wabot_metric_family *f = reg(e.ctx, &d);
    wabot_metric_series *s = NULL;
    ck_assert_int_eq(wabot_metrics_series(f, NULL, 0, &s), WABOT_OK);
    wabot_metrics_histogram_observe(s, 0.005);  /* == first bound */
    wabot_metrics_histogram_observe(s, 0.0051); /* just above it */
    wabot_metrics_histogram_observe(s, 0.025);  /* == last bound */
    wabot_metrics_histogram_observe(s, 1e9);    /* above every bound */
    wabot_metrics_histogram_observe(s, -3);     /* below every bound */
    ck_assert(prom(e.ctx, "t_seconds_bucket{le=\"0.005\"}") == 2);
    ck_assert(prom(e.ctx, "t_seconds_bucket{le=\"0.01\"}") == 3);
    ck_assert(prom(e.ctx, "t_seconds_bucket{le=\"0.025\"}") == 4);
    ck_assert(prom(e.ctx, "t_seconds_bucket{le=\"+Inf\"}") == 5);
    ck_assert(prom(e.ctx, "t_seconds_count") == 5);
    tu_env_free(&e);
}
END_TEST

typedef struct race {
    wabot_metric_series *c, *g, *h;
    wabot_metric_family *labelled;
    int id;
} race;

#define RACE_THREADS 8
#define RACE_UPDATES 100000

static void *race_updates(void *p)
{
    race *r = p;
    const char *v = r->id % 2 ? "odd" : "even";
    for (int i = 0; i < RACE_UPDATES; i++) {
        wabot_metrics_counter_add(r->c, 1);
        wabot_metrics_gauge_add(r->g, 1.0);
        wabot_metrics_histogram_observe(r->h, 0.5);
        wabot_metrics_counter_add_labels(r->labelled, &v, 1, 1);
    }
    return NULL;
}

START_TEST(test_eight_threads_lose_no_update_on_one_series)
{
    tu_env e;
    tu_env_init(&e);
    static const double b[] = {0.25, 1};
    const char *const labels[] = {"parity"};
    wabot_metric_def dc = def_of("n_total", "", WABOT_METRIC_COUNTER, NULL, 0,
                                 NULL, 0);
    wabot_metric_def dg = def_of("level", "", WABOT_METRIC_GAUGE, NULL, 0,
                                 NULL, 0);
    wabot_metric_def dh = def_of("obs", "", WABOT_METRIC_HISTOGRAM, NULL, 0,
                                 b, 2);
    wabot_metric_def dl = def_of("by_parity_total", "", WABOT_METRIC_COUNTER,
                                 labels, 1, NULL, 0);
    race r[RACE_THREADS];
    pthread_t th[RACE_THREADS];
    race base = {NULL, NULL, NULL, reg(e.ctx, &dl), 0};
    wabot_metrics_series(reg(e.ctx, &dc), NULL, 0, &base.c);
    wabot_metrics_series(reg(e.ctx, &dg), NULL, 0, &base.g);
    wabot_metrics_series(reg(e.ctx, &dh), NULL, 0, &base.h);
    for (int i = 0; i < RACE_THREADS; i++) {
        r[i] = base;
        r[i].id = i;
        pthread_create(&th[i], NULL, race_updates, &r[i]);
    }
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    const double total = (double)RACE_THREADS * RACE_UPDATES;
    ck_assert(prom(e.ctx, "n_total") == total);
    ck_assert(prom(e.ctx, "level") == total);
    ck_assert(prom(e.ctx, "obs_bucket{le=\"1\"}") == total);
    ck_assert(prom(e.ctx, "obs_bucket{le=\"0.25\"}") == 0);
    ck_assert(prom(e.ctx, "obs_count") == total);
    ck_assert(prom(e.ctx, "obs_sum") == total / 2);
    ck_assert(prom(e.ctx, "by_parity_total{parity=\"odd\"}") == total / 2);
    ck_assert(prom(e.ctx, "by_parity_total{parity=\"even\"}") == total / 2);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_series_limit_counts_overflowed_updates)
{
    tu_env e;
    tu_env_init(&e);
    const char *const labels[] = {"user"};
    wabot_metric_def d = def_of("per_user_total", "", WABOT_METRIC_COUNTER,
                                labels, 1, NULL, 0);
    d.max_series = 2;
    wabot_metric_family *f = reg(e.ctx, &d);
    wabot_metric_series *a = series1(f, "a");
    series1(f, "b");
    const char *c = "c", *dd = "d";
    wabot_metric_series *over = NULL;
    ck_assert_int_eq(wabot_metrics_series(f, &c, 1, &over),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(over);
    ck_assert_ptr_ne(over, a);
    ck_assert_int_eq(wabot_metrics_counter_add(over, 5), WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_metrics_counter_add_labels(f, &dd, 1, 1),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_uint_eq(wabot_metrics_family_overflow(f), 2);
    ck_assert_int_eq(wabot_metrics_counter_add(a, 1), WABOT_OK);
    /* Existing series keep working; the dropped ones are not exported. */
    ck_assert(prom(e.ctx, "per_user_total{user=\"a\"}") == 1);
    ck_assert(prom(e.ctx, "per_user_total{user=\"c\"}") == -1);
    ck_assert(prom(e.ctx, "wabot_metrics_series_overflow_total"
                          "{family=\"per_user_total\"}") == 2);
    tu_env_free(&e);
}
END_TEST

/* wb_metrics_series_hide (lib/internal/metrics.h): modules whose label
 * values come and go (one campaign each) keep the exposition bounded. */
START_TEST(test_a_hidden_series_leaves_every_export_until_shown_again)
{
    tu_env e;
    tu_env_init(&e);
    const char *const labels[] = {"campaign"};
    wabot_metric_def d = def_of("app_campaign_messages", "", WABOT_METRIC_GAUGE,
                                labels, 1, NULL, 0);
    wabot_metric_family *f = reg(e.ctx, &d);
    wabot_metric_series *a = series1(f, "a"), *b = series1(f, "b");
    wabot_metrics_gauge_set(a, 3);
    wabot_metrics_gauge_set(b, 4);
    wb_metrics_series_hide(a, 1);
    ck_assert(prom(e.ctx, "app_campaign_messages{campaign=\"a\"}") == -1);
    ck_assert(prom(e.ctx, "app_campaign_messages{campaign=\"b\"}") == 4);
    wabot_metrics_snapshot *snap = NULL;
    ck_assert_int_eq(wabot_metrics_snapshot_take(e.ctx, &snap), WABOT_OK);
    size_t seen = 0;
    for (size_t i = 0; i < wabot_metrics_snapshot_count(snap); i++)
        seen += strcmp(wabot_metrics_snapshot_name(snap, i),
                       "app_campaign_messages") == 0;
    ck_assert_uint_eq(seen, 1);
    wabot_metrics_snapshot_free(snap);
    /* Every series hidden: the family leaves the text, as an empty one. */
    wb_metrics_series_hide(b, 1);
    char *text = wabot_metrics_prometheus(e.ctx);
    ck_assert_ptr_null(strstr(text, "app_campaign_messages"));
    wabot_ctx_mem_free(e.ctx, text);
    /* Updates while hidden are kept; shown again with the value. */
    wabot_metrics_gauge_set(a, 5);
    wb_metrics_series_hide(a, 0);
    ck_assert(prom(e.ctx, "app_campaign_messages{campaign=\"a\"}") == 5);
    wb_metrics_series_hide(NULL, 1); /* ignored */
    tu_env_free(&e);
}
END_TEST

/* ---- Prometheus text ----------------------------------------------- */

/* Three families with known values; registered out of name order. */
static void fixture(wabot_ctx *ctx)
{
    static const double b[] = {0.125, 0.5};
    const char *const req_labels[] = {"method", "code"};
    const char *const route[] = {"route"};
    wabot_metric_def dr = def_of("app_requests_total", "Requests served.",
                                 WABOT_METRIC_COUNTER, req_labels, 2, NULL, 0);
    wabot_metric_def dq = def_of("app_queue_depth", "Jobs waiting.",
                                 WABOT_METRIC_GAUGE, NULL, 0, NULL, 0);
    wabot_metric_def dl = def_of("app_latency_seconds", "Latency.",
                                 WABOT_METRIC_HISTOGRAM, route, 1, b, 2);
    wabot_metric_family *fr = reg(ctx, &dr), *fq = reg(ctx, &dq),
                        *fl = reg(ctx, &dl);
    const char *post[] = {"POST", "500"}, *get[] = {"GET", "200"};
    wabot_metrics_counter_add_labels(fr, post, 2, 1);
    wabot_metrics_counter_add_labels(fr, get, 2, 3);
    wabot_metrics_gauge_set_labels(fq, NULL, 0, 3.5);
    const char *a = "/a";
    wabot_metrics_histogram_observe_labels(fl, &a, 1, 0.0625);
    wabot_metrics_histogram_observe_labels(fl, &a, 1, 0.125);
    wabot_metrics_histogram_observe_labels(fl, &a, 1, 0.75);
}

START_TEST(test_prometheus_text_of_a_small_fixture_is_exact)
{
    tu_env e;
    tu_env_init(&e);
    fixture(e.ctx);
    char *t = wabot_metrics_prometheus(e.ctx);
    ck_assert_str_eq(t,
        "# HELP app_latency_seconds Latency.\n"
        "# TYPE app_latency_seconds histogram\n"
        "app_latency_seconds_bucket{route=\"/a\",le=\"0.125\"} 2\n"
        "app_latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 2\n"
        "app_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"
        "app_latency_seconds_sum{route=\"/a\"} 0.9375\n"
        "app_latency_seconds_count{route=\"/a\"} 3\n"
        "# HELP app_queue_depth Jobs waiting.\n"
        "# TYPE app_queue_depth gauge\n"
        "app_queue_depth 3.5\n"
        "# HELP app_requests_total Requests served.\n"
        "# TYPE app_requests_total counter\n"
        "app_requests_total{method=\"GET\",code=\"200\"} 3\n"
        "app_requests_total{method=\"POST\",code=\"500\"} 1\n");
    wabot_ctx_mem_free(e.ctx, t);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_prometheus_escapes_label_values_and_help)
{
    tu_env e;
    tu_env_init(&e);
    const char *const labels[] = {"v"};
    wabot_metric_def d = def_of("esc", "Say \"hi\"\nto C:\\", WABOT_METRIC_GAUGE,
                                labels, 1, NULL, 0);
    wabot_metric_family *f = reg(e.ctx, &d);
    const char *v = "a\\b\"c\nd";
    wabot_metrics_gauge_set_labels(f, &v, 1, -0.1);
    wabot_metric_def empty = def_of("quiet", NULL, WABOT_METRIC_GAUGE, labels,
                                    1, NULL, 0);
    reg(e.ctx, &empty); /* labelled, no series yet: left out */
    char *t = wabot_metrics_prometheus(e.ctx);
    ck_assert_str_eq(t, "# HELP esc Say \"hi\"\\nto C:\\\\\n"
                        "# TYPE esc gauge\n"
                        "esc{v=\"a\\\\b\\\"c\\nd\"} -0.1\n");
    wabot_ctx_mem_free(e.ctx, t);
    tu_env_free(&e);
}
END_TEST

/* Named counters are found again by the address of their name (checked
 * by its text): a buffer that holds one name, then another, counts each
 * under its own name. */
START_TEST(test_a_reused_name_buffer_counts_each_name_apart)
{
    tu_env e;
    tu_env_init(&e);
    char name[32];
    for (int round = 0; round < 3; round++) {
        strcpy(name, "reuse.first");
        ck_assert_int_eq(wabot_metrics_add(e.ctx, name, 1), WABOT_OK);
        ck_assert_int_eq(wabot_metrics_add(e.ctx, name, 1), WABOT_OK);
        strcpy(name, "reuse.second");
        ck_assert_int_eq(wabot_metrics_add(e.ctx, name, 5), WABOT_OK);
        ck_assert_int_eq(wabot_metrics_add(e.ctx, "reuse.first", 10),
                         WABOT_OK);
    }
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "reuse.first"), 36);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "reuse.second"), 15);
    tu_env_free(&e);
}
END_TEST

/* ---- JSON and the flat snapshot ------------------------------------ */

START_TEST(test_json_has_families_in_the_documented_shape)
{
    tu_env e;
    tu_env_init(&e);
    fixture(e.ctx);
    wabot_metrics_add(e.ctx, "custom.seen", 4);
    char *s = wabot_metrics_json(e.ctx);
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "metrics JSON invalid: %s: %s", err.text, s);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "custom.seen")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "timestamp")),
                     TU_EPOCH_MS);
    json_t *fams = json_object_get(j, "families");
    /* The fixture's three (named counters are above, not families); the
     * library's modules add their own "wabot_" ones. */
    size_t own = 0;
    const char *fname;
    json_t *fam;
    json_object_foreach(fams, fname, fam)
        own += strncmp(fname, "wabot_", 6) != 0;
    ck_assert_uint_eq(own, 3);
    json_t *h = json_object_get(fams, "app_latency_seconds");
    ck_assert_str_eq(json_string_value(json_object_get(h, "type")),
                     "histogram");
    ck_assert_str_eq(json_string_value(json_object_get(h, "help")),
                     "Latency.");
    ck_assert_str_eq(json_string_value(
                         json_array_get(json_object_get(h, "labels"), 0)),
                     "route");
    ck_assert(json_real_value(json_array_get(json_object_get(h, "bounds"),
                                             1)) == 0.5);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "overflow")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "max_series")),
                     WABOT_METRIC_DEFAULT_SERIES);
    json_t *hs = json_array_get(json_object_get(h, "series"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(hs, "labels"), "route")), "/a");
    ck_assert_int_eq(json_integer_value(json_object_get(hs, "count")), 3);
    ck_assert(json_real_value(json_object_get(hs, "sum")) == 0.9375);
    json_t *buckets = json_object_get(hs, "buckets");
    ck_assert_uint_eq(json_array_size(buckets), 3);
    ck_assert_int_eq(json_integer_value(json_array_get(buckets, 0)), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(buckets, 2)), 3);
    json_t *g = json_array_get(json_object_get(
        json_object_get(fams, "app_queue_depth"), "series"), 0);
    ck_assert(json_real_value(json_object_get(g, "value")) == 3.5);
    json_t *c = json_object_get(json_object_get(fams, "app_requests_total"),
                                "series");
    ck_assert_uint_eq(json_array_size(c), 2);
    json_t *get = json_array_get(c, 0);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(get, "labels"), "method")), "GET");
    ck_assert_int_eq(json_integer_value(json_object_get(get, "value")), 3);
    json_decref(j);
    wabot_ctx_mem_free(e.ctx, s);
    tu_env_free(&e);
}
END_TEST

static size_t find_sample(const wabot_metrics_snapshot *s, const char *name,
                          const char *label, const char *value)
{
    for (size_t i = 0; i < wabot_metrics_snapshot_count(s); i++) {
        if (strcmp(wabot_metrics_snapshot_name(s, i), name) != 0)
            continue;
        if (!label)
            return i;
        for (size_t j = 0; j < wabot_metrics_snapshot_label_count(s, i); j++)
            if (strcmp(wabot_metrics_snapshot_label_name(s, i, j), label) ==
                    0 &&
                strcmp(wabot_metrics_snapshot_label_value(s, i, j), value) ==
                    0)
                return i;
    }
    return (size_t)-1;
}

START_TEST(test_snapshot_lists_flat_samples_for_bindings)
{
    tu_env e;
    tu_env_init(&e);
    fixture(e.ctx);
    wabot_metrics_snapshot *s = NULL;
    ck_assert_int_eq(wabot_metrics_snapshot_take(e.ctx, &s), WABOT_OK);
    /* 3 buckets + sum + count, 1 gauge, 2 counter series */
    ck_assert_uint_eq(wabot_metrics_snapshot_count(s), 8);
    size_t i = find_sample(s, "app_latency_seconds_bucket", "le", "0.125");
    ck_assert_uint_ne(i, (size_t)-1);
    ck_assert(wabot_metrics_snapshot_value(s, i) == 2);
    ck_assert_uint_eq(wabot_metrics_snapshot_label_count(s, i), 2);
    ck_assert_str_eq(wabot_metrics_snapshot_label_name(s, i, 0), "route");
    ck_assert_str_eq(wabot_metrics_snapshot_label_value(s, i, 0), "/a");
    ck_assert_ptr_null(wabot_metrics_snapshot_label_name(s, i, 2));
    i = find_sample(s, "app_latency_seconds_sum", NULL, NULL);
    ck_assert(wabot_metrics_snapshot_value(s, i) == 0.9375);
    i = find_sample(s, "app_requests_total", "method", "POST");
    ck_assert(wabot_metrics_snapshot_value(s, i) == 1);
    ck_assert_ptr_null(wabot_metrics_snapshot_name(s, 8));
    ck_assert(wabot_metrics_snapshot_value(s, 8) == 0);
    wabot_metrics_snapshot_free(s);
    wabot_metrics_snapshot_free(NULL);
    ck_assert_uint_eq(wabot_metrics_snapshot_count(NULL), 0);
    tu_env_free(&e);
}
END_TEST

/* ---- named counters ------------------------------------------------ */

START_TEST(test_named_counters_appear_in_json_and_prometheus)
{
    tu_env e;
    tu_env_init(&e);
    wabot_message *m = tu_text("SM1", "+14155550100", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    wabot_metrics_add(e.ctx, "my-app.orders", 2);
    wabot_metrics_add(e.ctx, "a.b", 1);
    wabot_metrics_add(e.ctx, "a_b", 5); /* same Prometheus name as a.b */
    wabot_metrics_add(e.ctx, "timestamp", 9);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.unhandled"), 1);
    ck_assert(prom(e.ctx, "wabot_messages_unhandled_total") == 1);
    ck_assert(prom(e.ctx, "wabot_messages_received_total") == 1);
    ck_assert(prom(e.ctx, "wabot_my_app_orders_total") == 2);
    ck_assert(prom(e.ctx, "wabot_a_b_total") == 1); /* the first one */
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "a_b"), 5);
    char *t = wabot_metrics_prometheus(e.ctx);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE wabot_messages_received_total "
                                    "counter\n"));
    const char *line = strstr(t, "\nwabot_a_b_total ");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_null(strstr(line + 1, "\nwabot_a_b_total "));
    wabot_ctx_mem_free(e.ctx, t);
    /* A family cannot take a named counter's name with another type. */
    wabot_metric_def d = def_of("wabot_my_app_orders_total", "",
                                WABOT_METRIC_GAUGE, NULL, 0, NULL, 0);
    wabot_metric_family *f = NULL;
    ck_assert_int_eq(wabot_metrics_register(e.ctx, &d, &f), WABOT_ERR_EXISTS);
    char *s = wabot_metrics_json(e.ctx);
    json_t *j = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j,
                                                        "messages.unhandled")),
                     1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "a_b")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "timestamp")),
                     TU_EPOCH_MS); /* the clock, not the counter */
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "timestamp"), 9);
    json_decref(j);
    wabot_ctx_mem_free(e.ctx, s);
    tu_env_free(&e);
}
END_TEST

/* ---- library latency histograms ------------------------------------ */

typedef struct slow_turn {
    tu_clock *clock;
    int64_t ms;
    int fail;
} slow_turn;

static int slow_handler(wabot_turn *t, void *ud)
{
    slow_turn *st = ud;
    tu_clock_advance(st->clock, st->ms);
    return st->fail ? WABOT_ERR_HANDLER : wabot_reply_text(t, "done");
}

static void turn(tu_env *e, const char *id)
{
    wabot_message *m = tu_text(id, "+14155550100", "hi");
    wabot_ctx_handle_message(e->ctx, m);
    wabot_message_free(m);
}

#define TURN_BUCKET(outcome, le)                                              \
    "wabot_turn_duration_seconds_bucket{outcome=\"" outcome "\",le=\"" le    \
    "\"}"

START_TEST(test_turn_latency_histogram_moves_with_the_fake_clock)
{
    tu_env e;
    tu_env_init(&e);
    ck_assert(prom(e.ctx, TURN_BUCKET("handled", "+Inf")) == -1);
    slow_turn st = {&e.clock, 25, 0};
    wabot_route_fallback(e.ctx, NULL, slow_handler, &st, NULL);
    turn(&e, "SM1"); /* 25 ms: exactly the 0.025 bound */
    ck_assert(prom(e.ctx, TURN_BUCKET("handled", "0.01")) == 0);
    ck_assert(prom(e.ctx, TURN_BUCKET("handled", "0.025")) == 1);
    st.ms = 30;
    turn(&e, "SM2");
    ck_assert(prom(e.ctx, TURN_BUCKET("handled", "0.025")) == 1);
    ck_assert(prom(e.ctx, TURN_BUCKET("handled", "0.05")) == 2);
    ck_assert(fabs(prom(e.ctx, "wabot_turn_duration_seconds_sum"
                               "{outcome=\"handled\"}") - 0.055) < 1e-12);
    st.ms = 2000;
    st.fail = 1;
    turn(&e, "SM3");
    ck_assert(prom(e.ctx, TURN_BUCKET("failed", "1")) == 0);
    ck_assert(prom(e.ctx, TURN_BUCKET("failed", "2.5")) == 1);
    ck_assert(prom(e.ctx, "wabot_turn_duration_seconds_count"
                          "{outcome=\"handled\"}") == 2);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_unhandled_turn_and_webhook_request_are_timed)
{
    tu_env e;
    tu_env_init(&e);
    turn(&e, "SM1"); /* no route: unhandled */
    ck_assert(prom(e.ctx, TURN_BUCKET("unhandled", "0.001")) == 1);
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(e.ctx, "GET", "/nowhere", NULL, 0,
                                       NULL, 0, &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 404);
    wabot_http_response_free(r);
    ck_assert(prom(e.ctx, "wabot_webhook_request_duration_seconds_count"
                          "{status=\"4xx\"}") == 1);
    ck_assert(prom(e.ctx, "wabot_webhook_request_duration_seconds_bucket"
                          "{status=\"4xx\",le=\"0.001\"}") == 1);
    tu_env_free(&e);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_register_enforces_prometheus_names_labels_and_buckets);
    tcase_add_test(tc, test_same_definition_gives_same_family_and_another_is_exists);
    tcase_add_test(tc, test_series_needs_one_value_per_label);
    tcase_add_test(tc, test_counter_gauge_and_histogram_values);
    tcase_add_test(tc, test_value_equal_to_a_bound_goes_into_that_bucket);
    tcase_add_test(tc, test_eight_threads_lose_no_update_on_one_series);
    tcase_add_test(tc, test_series_limit_counts_overflowed_updates);
    tcase_add_test(tc, test_a_hidden_series_leaves_every_export_until_shown_again);
    tcase_add_test(tc, test_prometheus_text_of_a_small_fixture_is_exact);
    tcase_add_test(tc, test_prometheus_escapes_label_values_and_help);
    tcase_add_test(tc, test_json_has_families_in_the_documented_shape);
    tcase_add_test(tc, test_snapshot_lists_flat_samples_for_bindings);
    tcase_add_test(tc, test_named_counters_appear_in_json_and_prometheus);
    tcase_add_test(tc, test_a_reused_name_buffer_counts_each_name_apart);
    tcase_add_test(tc, test_turn_latency_histogram_moves_with_the_fake_clock);
    tcase_add_test(tc, test_unhandled_turn_and_webhook_request_are_timed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(metrics_suite());
}
