/* The outbox sweep on a real redis-server (lib/pipeline/outbox.c, "The
 * pending index"): a turn's outbox record is listed in the index before
 * its commit, so when the process dies between the commit and the relay,
 * another process's sweep finds the record by reading the index -- not by
 * scanning a keyspace full of other keys. The dying process is a forked
 * child that reaches the failpoint outbox.after_commit (SIGKILL). Each
 * test uses its own key prefix on one shared server.
 *
 * The contexts use a memory scheduler, so turns take the generic path
 * (the turn fast path writes no outbox record at all). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outbox.h" /* wb_outbox_sweep (lib/internal) */
#include "redis_harness.h"
#include "testutil.h"
#include "wabot.h"
#include "wabot/redis.h"

#define INDEX "outbox-pending"
#define GRACE_MS 30000
#define FROM "+15550000001"

static rh_server srv;
static int prefix_no;
static char prefix[48];

typedef struct env {
    wabot_redis *r;
    wabot_storage *st;
    wabot_scheduler *sc;
    wabot_limiter *li;
    wabot_transport *rec;
    wabot_ctx *ctx;
    tu_clock clock;
} env;

static int answer(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, "noted");
}

/* A context on the test's prefix; the clock starts at start_ms. */
static void env_init(env *e, int64_t start_ms)
{
    memset(e, 0, sizeof *e);
    tu_clock_init(&e->clock, start_ms);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = srv.port;
    cfg.prefix = prefix;
    const char *why = NULL;
    e->r = wabot_redis_new(&cfg, &why);
    ck_assert_msg(e->r != NULL, "wabot_redis_new: %s", why ? why : "?");
    e->st = wabot_storage_redis_new(e->r);
    e->sc = wabot_scheduler_memory_new();
    e->li = wabot_limiter_memory_new();
    e->rec = wabot_recorder_new();
    wabot_options *o = wabot_options_new();
    wabot_options_set_storage(o, e->st);
    wabot_options_set_scheduler(o, e->sc);
    wabot_options_set_limiter(o, e->li);
    wabot_options_set_transport(o, e->rec);
    wabot_clock k = tu_clock_wabot(&e->clock);
    wabot_options_set_clock(o, &k);
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0);
    wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, 0);
    ck_assert_int_eq(wabot_ctx_new(&e->ctx, o), WABOT_OK);
    wabot_options_free(o);
    wabot_route_fallback(e->ctx, NULL, answer, e, NULL);
}

static void env_free(env *e)
{
    wabot_ctx_free(e->ctx);
    wabot_transport_free(e->rec);
    wabot_limiter_free(e->li);
    wabot_scheduler_free(e->sc);
    wabot_storage_free(e->st);
    wabot_redis_free(e->r);
}

static int handle(env *e, const char *id)
{
    wabot_message *m = tu_text(id, FROM, "hello");
    int rc = wabot_ctx_handle_message(e->ctx, m);
    wabot_message_free(m);
    return rc;
}

static void new_prefix(void)
{
    /* unique under Check's fork mode too */
    snprintf(prefix, sizeof prefix, "s%ld.%d:", (long)getpid(), ++prefix_no);
}

/* A process handles message `id` and dies (SIGKILL) right after its turn
 * committed, before the record was relayed. */
static void die_after_commit(const char *id)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("WABOT_FAILPOINT", "outbox.after_commit", 1);
        env e;
        env_init(&e, TU_EPOCH_MS);
        handle(&e, id);
        _exit(3); /* not reached: the failpoint kills the process */
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "the child did not die at the failpoint (status %d)", st);
}

static int64_t listed(env *e)
{
    int64_t n = -1;
    ck_assert_int_eq(wabot_storage_sorted_count(e->st, INDEX,
                                                WABOT_STORAGE_SCORE_MIN,
                                                WABOT_STORAGE_SCORE_MAX, &n),
                     WABOT_OK);
    return n;
}

static int record_exists(env *e, const char *id)
{
    char key[128];
    snprintf(key, sizeof key, "outbox:{default:%s}:%s", FROM, id);
    char *v = NULL;
    int rc = wabot_storage_get(e->st, key, &v, NULL, NULL);
    free(v);
    return rc == WABOT_OK;
}

/* Keys of other kinds, as a live store holds (dedup marks and the like):
 * what a scan would have to walk. */
static void fill_keyspace(env *e, int n)
{
    for (int i = 0; i < n; i++) {
        char key[48];
        snprintf(key, sizeof key, "dedup:SMother%d", i);
        ck_assert_int_eq(wabot_storage_set(e->st, key, "done", 4, 0, NULL),
                         WABOT_OK);
    }
}

START_TEST(test_a_turn_a_dead_process_committed_is_swept_from_the_index)
{
    new_prefix();
    die_after_commit("m1");
    env e;
    env_init(&e, TU_EPOCH_MS);
    fill_keyspace(&e, 2000);
    ck_assert(record_exists(&e, "m1"));
    ck_assert_int_eq(listed(&e), 1);
    long long scans = rh_cmd_calls(&srv, "scan");
    /* Young: its turn may still be relaying it. */
    ck_assert_int_eq(wb_outbox_sweep(e.ctx, GRACE_MS, 1000), 0);
    ck_assert(record_exists(&e, "m1"));
    tu_clock_advance(&e.clock, GRACE_MS + 1000);
    ck_assert_int_eq(wb_outbox_sweep(e.ctx, GRACE_MS, 1000), 1);
    ck_assert(!record_exists(&e, "m1"));
    ck_assert_int_eq(listed(&e), 0);
    /* Read from the index: not one SCAN step over the 2000 other keys. */
    ck_assert_int_eq(rh_cmd_calls(&srv, "scan"), scans);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_int_eq(wb_outbox_sweep(e.ctx, GRACE_MS, 1000), 0);
    env_free(&e);
}
END_TEST

/* A turn that relays its own record takes its entry out; an entry whose
 * record is gone (a commit that never came) is dropped by the sweep. */
START_TEST(test_entries_leave_the_index_with_their_records)
{
    new_prefix();
    env e;
    env_init(&e, TU_EPOCH_MS);
    ck_assert_int_eq(handle(&e, "m2"), WABOT_OK);
    ck_assert(!record_exists(&e, "m2"));
    ck_assert_int_eq(listed(&e), 0);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    const char *ghost = "outbox:{default:+15550000002}:never";
    ck_assert_int_eq(wabot_storage_sorted_add(e.st, INDEX, ghost,
                                              strlen(ghost), TU_EPOCH_MS),
                     WABOT_OK);
    tu_clock_advance(&e.clock, GRACE_MS + 1000);
    ck_assert_int_eq(wb_outbox_sweep(e.ctx, GRACE_MS, 1000), 0);
    ck_assert_int_eq(listed(&e), 0);
    env_free(&e);
}
END_TEST

/* A record written before the index existed (an older version) is not
 * listed: the sweep of the index misses it, the module's first sweep --
 * a scan of every outbox: key -- relays it. */
START_TEST(test_the_first_sweep_scans_for_records_the_index_misses)
{
    new_prefix();
    die_after_commit("m3");
    env e;
    env_init(&e, TU_EPOCH_MS);
    const char *key = "outbox:{default:" FROM "}:m3";
    ck_assert_int_eq(wabot_storage_sorted_remove(e.st, INDEX, key,
                                                 strlen(key)),
                     WABOT_OK);
    tu_clock_advance(&e.clock, GRACE_MS + 1000);
    ck_assert_int_eq(wb_outbox_sweep(e.ctx, GRACE_MS, 1000), 0);
    ck_assert(record_exists(&e, "m3"));
    ck_assert_int_eq(wb_outbox_sweep_all(e.ctx, GRACE_MS, 1000), 1);
    ck_assert(!record_exists(&e, "m3"));
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    env_free(&e);
}
END_TEST

int main(void)
{
    if (!rh_available())
        return getenv("CI") ? 1 : 77;
    if (rh_start(&srv, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return 1;
    }
    Suite *s = suite_create("redis-outbox-sweep");
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc,
                   test_a_turn_a_dead_process_committed_is_swept_from_the_index);
    tcase_add_test(tc, test_entries_leave_the_index_with_their_records);
    tcase_add_test(tc, test_the_first_sweep_scans_for_records_the_index_misses);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    rh_destroy(&srv);
    return rc;
}
