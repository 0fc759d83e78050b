/*
 * wabot-event-host: libwabot inside a libevent loop, through the
 * header-only adapter <wabot/adapters/libevent.h>.
 *
 * A route answers "hi" and schedules a reminder 200 ms later on the
 * "reminders" queue, whose worker this host provides. One message is fed
 * in; the reply goes through the "outbound" queue to the console
 * transport ("[bot -> +E164] text" on stdout), sent by the loop. The
 * program stops once the reminder ran and nothing is left to send, frees
 * everything and exits 0 (1 on failure).
 */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <wabot.h>
#include <wabot/adapters/libevent.h>
#include <wabot/jobs.h>

#define REMINDER_DELAY_MS 200

typedef struct host {
    struct event_base *base;
    wabot_event wev;
    wabot_ctx *ctx;
    int reminders_sent;
} host;

/* Route "hi": reply now, remind later. Runs on the thread handling the
 * message; enqueueing from there wakes the loop if needed. */
static int on_hi(wabot_turn *turn, void *ud)
{
    (void)ud;
    const char *customer = wabot_message_from(wabot_turn_message(turn));
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.delay_ms = REMINDER_DELAY_MS;
    int rc = wabot_job_enqueue(wabot_turn_ctx(turn), WABOT_QUEUE_REMINDERS,
                               customer, strlen(customer), &spec, NULL);
    if (rc != WABOT_OK)
        return rc;
    return wabot_reply_text(turn, "Hello! I will remind you in a moment.");
}

/* The "reminders" worker: runs on the loop's thread when the job is due. */
static int send_reminder(wabot_job *job, void *ud)
{
    host *h = ud;
    printf("reminder sent to %s\n", wabot_job_payload(job, NULL));
    fflush(stdout);
    h->reminders_sent++;
    return WABOT_OK;
}

static int outbound_idle(wabot_ctx *ctx, int64_t *completed)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    if (wabot_queue_counts(ctx, WABOT_QUEUE_OUTBOUND, c,
                           WABOT_JOB_STATE_COUNT) != WABOT_OK)
        return 0;
    *completed = c[WABOT_JOB_COMPLETED];
    return c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED] +
               c[WABOT_JOB_ACTIVE] == 0;
}

/* A base with millisecond timers (the default clock is coarse). */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

static int setup(host *h, const wabot_loop_hooks *hooks)
{
    /* Hooks before the context: wabot_ctx_new already watches an fd. */
    wabot_options *opts = wabot_options_new();
    int rc = opts ? wabot_options_set_loop(opts, hooks) : WABOT_ERR_NOMEM;
    /* This host runs its own "reminders" worker, not the campaign
     * module's. */
    if (rc == WABOT_OK)
        rc = wabot_options_set(opts, "campaign.reminders_worker", "false");
    if (rc == WABOT_OK)
        rc = wabot_ctx_new(&h->ctx, opts);
    if (rc != WABOT_OK)
        fprintf(stderr, "wabot_ctx_new: %s\n",
                opts ? wabot_options_errmsg(opts) : wabot_strerror(rc));
    wabot_options_free(opts);
    if (rc != WABOT_OK)
        return -1;
    wabot_event_attach(&h->wev, h->ctx);
    if (wabot_route_keyword(h->ctx, NULL, "hi", on_hi, NULL, NULL) !=
            WABOT_OK ||
        wabot_worker_add(h->ctx, WABOT_QUEUE_REMINDERS, send_reminder, h,
                         NULL, 1) != WABOT_OK) {
        fprintf(stderr, "setup: %s\n", wabot_ctx_errmsg(h->ctx));
        return -1;
    }
    return 0;
}

static int feed_message(host *h)
{
    wabot_message *m = wabot_message_new("SM-event-1", "+14155550100",
                                         "+14155238886");
    int rc = m ? wabot_message_set_text(m, "Hi") : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wabot_ctx_handle_message(h->ctx, m);
    wabot_message_free(m);
    if (rc != WABOT_OK)
        fprintf(stderr, "handle: %s (%s)\n", wabot_strerror(rc),
                wabot_ctx_errmsg(h->ctx));
    return rc == WABOT_OK ? 0 : -1;
}

int main(void)
{
    host h;
    memset(&h, 0, sizeof h);
    wabot_loop_hooks hooks;
    if (!(h.base = new_base()))
        return 1;
    if (wabot_event_init(&h.wev, h.base, &hooks) != WABOT_OK) {
        event_base_free(h.base);
        return 1;
    }
    int ok = setup(&h, &hooks) == 0 && feed_message(&h) == 0;
    int64_t sent = 0;
    /* One loop iteration at a time, until our work is done. */
    while (ok && !(h.reminders_sent && outbound_idle(h.ctx, &sent)))
        if (event_base_loop(h.base, EVLOOP_ONCE) < 0)
            ok = 0;
    ok = ok && h.reminders_sent == 1 && sent == 1;

    /* Teardown order: context, adapter, base. */
    wabot_ctx_free(h.ctx);
    wabot_event_detach(&h.wev);
    event_base_free(h.base);
    printf("%s\n", ok ? "done" : "failed");
    return ok ? 0 : 1;
}
