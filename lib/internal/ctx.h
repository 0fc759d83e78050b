/* The context and options internals. Private. */
#ifndef WB_CTX_H
#define WB_CTX_H

#include <pthread.h>
#include <stdarg.h>

#include "wabot/core.h"
#include "wabot/http.h"
#include "wabot/jobs.h"
#include "wabot/loop.h"
#include "wabot/resilience.h"
#include "wabot/pipeline.h"
#include "alloc.h"
#include "errors.h"

typedef struct wb_router wb_router;
typedef struct wb_metrics wb_metrics;
typedef struct wb_locktab wb_locktab;
typedef struct wb_runtime wb_runtime;
typedef struct wb_outbound_cfg wb_outbound_cfg;
typedef struct wb_schema wb_schema;
typedef struct wb_optval wb_optval;
typedef struct wb_orgopts wb_orgopts;
typedef struct wb_modules wb_modules;
typedef struct wb_http_routes wb_http_routes;

/* The library's option values as the context reads them on its hot paths
 * (global values; per-organisation overrides go through wb_opt_int/_str of
 * lib/internal/options.h). Filled from the option table at creation; the
 * strings are borrowed from the context's option values. */
typedef struct wb_config {
    char *twilio_path;
    char *meta_path;
    char *default_org;
    char *command_prefix;
    int64_t max_body_bytes;
    int64_t max_params;
    int64_t max_field_bytes;
    int64_t max_json_depth;
    int64_t max_batch_messages;
    int64_t state_ttl_ms;
    int64_t state_max_retries;
    int64_t log_level;
    int64_t job_lease_ms;
    int64_t job_max_stalls;
    int64_t job_poll_ms;
    int64_t outbound_concurrency;
    int64_t outbound_max_attempts;
    int64_t window_ms;
    int64_t rate_sender_per_s;
    int64_t rate_pair_period_ms;
    int64_t rate_pair_burst;
    int64_t rate_org_per_s;
    int64_t breaker_window_ms;
    int64_t breaker_failure_pct;
    int64_t breaker_min_volume;
    int64_t breaker_open_ms;
    int64_t breaker_probes;
    int64_t twilio_inline_replies;
    /* webhook security and inbound hygiene (lib/webhook, lib/pipeline) */
    char *twilio_auth_token;
    char *meta_app_secret;
    char *meta_verify_token;
    char *public_url;
    int64_t verify_signatures;
    int64_t trust_forwarded;
    int64_t dedup;
    char *dedup_key_format;
    int64_t dedup_ttl_ms;
    int64_t dedup_lease_ms;
    int64_t inbound_rate_count;
    int64_t inbound_rate_period_ms;
    int64_t inbound_rate_burst;
    char *inbound_rate_notice;
    char *optout_keywords;
    char *optin_keywords;
    char *optout_reply;
    char *optin_reply;
    int64_t receipt_ttl_ms;
    /* outbound backlog bound (lib/delivery/backlog.c) and send pool */
    int64_t outbound_backlog_max;
    int64_t outbound_backlog_policy;
    int64_t outbound_backlog_wait_ms;
    int64_t http_host_connections;
    int64_t http_threads;
    /* unknown outcomes of sends (lib/delivery/reconcile.c) */
    int64_t send_reconcile_grace_ms;
    char *send_at_most_once;
} wb_config;

struct wabot_options {
    wb_schema *schema;     /* shared, read-only */
    wb_optval *vals;       /* schema->n values (libc) */
    wb_orgopts *orgs;      /* per-organisation overrides */
    wabot_log_fn log_fn;
    void *log_ud;
    wabot_clock clock;
    int has_clock;
    wabot_allocator alloc;
    int has_alloc;
    wabot_storage *storage;
    wabot_transport *transport;
    wabot_scheduler *scheduler;
    wabot_http_client *http_client;
    wabot_limiter *limiter;
    wabot_loop_hooks loop;
    int has_loop;
    char errmsg[256];
};
/* Record a failure on options: the detail (formatted, or already in
 * o->errmsg for wb_options_fail) for wabot_options_errmsg() and this
 * thread's wabot_errmsg(). Both return rc. */
int wb_options_error(wabot_options *o, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int wb_options_fail(wabot_options *o, int rc);


typedef struct wb_middleware {
    char *name;
    wabot_middleware_fn fn;
    void *ud;
    wabot_destroy_fn destroy;
} wb_middleware;

struct wabot_ctx {
    wabot_allocator alloc; /* always filled (libc wrappers by default) */
    wabot_clock clock;     /* always filled */
    wabot_log_fn log_fn;
    void *log_ud;
    wb_config cfg;         /* global values; strings borrowed from optvals */
    wb_schema *schema;     /* the options' schema (shared reference) */
    wb_optval *optvals;    /* global values, strings owned */
    wb_orgopts *orgopts;   /* per-organisation overrides */
    wb_modules *modules;   /* the module registry (lib/core/module.c) */
    char *failpoint;       /* WABOT_FAILPOINT, or NULL (failpoint.c) */
    wabot_storage *storage;
    int own_storage;
    wabot_transport *transport;
    int own_transport;
    wb_middleware *mws;    /* turn stage: modules', then the host's */
    size_t n_mws, cap_mws;
    wb_middleware *admit;  /* admit stage (WABOT_STAGE_ADMIT): modules' */
    size_t n_admit, cap_admit;
    wabot_error_fn err_fn;
    void *err_ud;
    wabot_destroy_fn err_destroy;
    wb_router *router;
    /* The step after the last middleware (the router's dispatch), set by
     * the subsystem that provides it, so the pipeline names no router;
     * NULL: the turn ends there, unhandled. */
    int (*turn_end)(wabot_turn *t);
    wb_metrics *metrics;
    wb_locktab *locks;
    wb_runtime *rt;        /* jobs, workers, loop (lib/loop, lib/jobs) */
    wabot_http_client *http; /* borrowed from options, or NULL until the
                                first request creates the curl client */
    int own_http;
    wabot_limiter *limiter;
    int own_limiter;
    wb_outbound_cfg *out;  /* senders, breakers, window templates */
    wb_http_routes *http_routes; /* wabot_http_handle's routes */
    /* lib/delivery/backlog.c: a shared scheduler's last backlog count,
     * when it was read (CLOCK_MONOTONIC ms), and 1 while a thread asks
     * for it (atomics) */
    int64_t backlog_seen, backlog_at;
    int backlog_asking;
};

/* Append a middleware to the turn stage (admit 0: ctx->mws) or the admit
 * stage (admit 1: ctx->admit); name is copied, destroy runs with ud when
 * the context is freed. WABOT_OK or NOMEM (detail recorded). */
int wb_ctx_add_middleware(wabot_ctx *ctx, int admit, const char *name,
                          wabot_middleware_fn fn, void *ud,
                          wabot_destroy_fn destroy);

/* Record a detail message for wabot_ctx_errmsg() on this thread and return
 * `status` (so callers can `return wb_error(ctx, WABOT_ERR_INVAL, ...)`).
 * ctx may be NULL (the message is then kept for NULL). */
int wb_error(const wabot_ctx *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clear this thread's detail message for ctx. */
void wb_error_clear(const wabot_ctx *ctx);


/* Log at `level` if the context's threshold allows. */
void wb_log(const wabot_ctx *ctx, wabot_log_level level, const char *module,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int wb_log_enabled(const wabot_ctx *ctx, wabot_log_level level);

static inline int64_t wb_now(const wabot_ctx *ctx)
{
    return ctx->clock.now_ms(ctx->clock.ud);
}

/* Crash tests (lib/core/failpoint.c): kill the process at point `name`
 * when WABOT_FAILPOINT names it. */
void wb_failpoints_init(wabot_ctx *ctx);
void wb_failpoints_free(wabot_ctx *ctx);
void wb_failpoint(const wabot_ctx *ctx, const char *name);

/* System clock: ms since the epoch (CLOCK_REALTIME). */
int64_t wb_system_now_ms(void *ud);

#endif
