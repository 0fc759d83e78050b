/* The library's own options: one row each, the single source of the
 * setters, the listing (wabot-server --help, doc/options.md), the
 * environment names and the per-organisation rules. Module options come
 * from their descriptors (wabot/module.h). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "options.h"

#define KIB 1024LL
#define MIB (1024LL * 1024LL)
#define SEC 1000LL
#define DAY_MS (24LL * 3600LL * 1000LL)

/* String validators. The security options' rules live with the webhook
 * (lib/webhook/options_check.c); the others are short names and paths. */
static int check_short(const char *v, char *why, size_t n)
{
    if (strlen(v) > 256) {
        snprintf(why, n, "is longer than 256 bytes");
        return WABOT_ERR_INVAL;
    }
    return WABOT_OK;
}

static int check_path(const char *v, char *why, size_t n)
{
    if (v[0] != '/' || strpbrk(v, "?# \t\r\n")) {
        snprintf(why, n, "must be a path starting with '/' without query or "
                 "spaces: \"%s\"", v);
        return WABOT_ERR_INVAL;
    }
    return check_short(v, why, n);
}

/* A comma-separated list of outbound category names (wabot_out_category;
 * lib/delivery/reconcile.c reads it). */
static int check_categories(const char *v, char *why, size_t n)
{
    static const char *const names[] = {"reply", "notice", "reminder",
                                        "campaign"};
    int bad = 0;
    while (*v && !bad) {
        v += strspn(v, " \t,");
        size_t len = strcspn(v, ",");
        size_t k = len;
        while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
            k--;
        bad = k > 0;
        for (size_t i = 0; k > 0 && i < sizeof names / sizeof *names; i++)
            if (strlen(names[i]) == k && strncmp(v, names[i], k) == 0)
                bad = 0;
        v += len;
    }
    if (bad) {
        snprintf(why, n, "must list categories (reply, notice, reminder, "
                 "campaign) separated by commas: \"%.80s\"", v);
        return WABOT_ERR_INVAL;
    }
    return WABOT_OK;
}

#define SECURITY_CHECK(fn, id)                                               \
    static int fn(const char *v, char *why, size_t n)                        \
    {                                                                        \
        return wb_security_option_check(id, v, why, n);                      \
    }
SECURITY_CHECK(check_url, WABOT_OPT_PUBLIC_URL)
SECURITY_CHECK(check_key_format, WABOT_OPT_DEDUP_KEY_FORMAT)
SECURITY_CHECK(check_secret, WABOT_OPT_TWILIO_AUTH_TOKEN)
SECURITY_CHECK(check_text, WABOT_OPT_OPTOUT_REPLY)

#define check_for(id)                                                        \
    ((id) == WABOT_OPT_TWILIO_WEBHOOK_PATH ||                                \
             (id) == WABOT_OPT_META_WEBHOOK_PATH                             \
         ? check_path                                                        \
     : (id) == WABOT_OPT_PUBLIC_URL       ? check_url                        \
     : (id) == WABOT_OPT_DEDUP_KEY_FORMAT ? check_key_format                 \
     : (id) == WABOT_OPT_SEND_AT_MOST_ONCE ? check_categories                \
     : (id) == WABOT_OPT_TWILIO_AUTH_TOKEN ||                                \
             (id) == WABOT_OPT_META_APP_SECRET ||                            \
             (id) == WABOT_OPT_META_VERIFY_TOKEN                             \
         ? check_secret                                                      \
     : (id) >= WABOT_OPT_TWILIO_AUTH_TOKEN ? check_text                      \
                                           : check_short)

static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         "none", NULL};
/* wabot_backlog_policy */
static const char *const backlog_policies[] = {"reject", "wait", NULL};

/* id, group, field, type, flags, default, min, max, doc, env */
#define NUM(id, grp, field, type, flags, dflt, lo, hi, doc, env)             \
    {id, &#id[10], grp, offsetof(wb_config, field), type, flags, dflt, lo,    \
     hi, NULL, doc, env, NULL, NULL}
#define STR(id, grp, field, flags, dflt, doc, env)                            \
    {id, &#id[10], grp, offsetof(wb_config, field), WABOT_OPTION_STRING,      \
     flags, 0, 0, 0, dflt, doc, env, NULL, check_for(id)}

#define INT WABOT_OPTION_INT
#define BOOL WABOT_OPTION_BOOL
#define DUR WABOT_OPTION_DURATION
#define BYTES WABOT_OPTION_BYTES
#define ORG WABOT_OPTION_PER_ORG
#define SECRET (WABOT_OPTION_SECRET | WABOT_OPTION_EMPTY_OK)
#define EMPTY WABOT_OPTION_EMPTY_OK

const wb_builtin_option wb_builtin_options[] = {
    STR(WABOT_OPT_TWILIO_WEBHOOK_PATH, "webhook", twilio_path, 0,
        "/whatsapp/webhook", "path of Twilio webhooks (POST)", NULL),
    STR(WABOT_OPT_META_WEBHOOK_PATH, "webhook", meta_path, 0,
        "/whatsapp-v2/webhook",
        "path of Meta webhooks (POST) and the verification handshake (GET)",
        "WHATSAPP_V2_WEBHOOK_PATH"),
    STR(WABOT_OPT_DEFAULT_ORGANIZATION, "core", default_org, 0, "default",
        "organisation of messages to numbers no sender is registered for",
        NULL),
    STR(WABOT_OPT_COMMAND_PREFIX, "router", command_prefix, 0, "/",
        "prefix of bot commands", NULL),
    NUM(WABOT_OPT_MAX_BODY_BYTES, "webhook", max_body_bytes, BYTES, 0, MIB, 1,
        64 * MIB, "largest request body; more is answered 413", NULL),
    NUM(WABOT_OPT_MAX_PARAMS, "webhook", max_params, INT, 0, 256, 1, 100000,
        "form parameters per request", NULL),
    /* 16 KiB: a 4096-character WhatsApp text in 4-byte UTF-8 fits. */
    NUM(WABOT_OPT_MAX_FIELD_BYTES, "webhook", max_field_bytes, BYTES, 0,
        16 * KIB, 1, 64 * MIB, "bytes in one form field or JSON string",
        NULL),
    NUM(WABOT_OPT_MAX_JSON_DEPTH, "webhook", max_json_depth, INT, 0, 32, 2,
        1000, "JSON nesting limit", NULL),
    NUM(WABOT_OPT_MAX_BATCH_MESSAGES, "webhook", max_batch_messages, INT, 0,
        1000, 1, 100000, "messages in one webhook", NULL),
    NUM(WABOT_OPT_STATE_TTL_MS, "state", state_ttl_ms, DUR, 0, 30 * DAY_MS,
        0, 3650 * DAY_MS, "conversation expiry (0 = never)", NULL),
    NUM(WABOT_OPT_STATE_MAX_RETRIES, "state", state_max_retries, INT, 0, 5,
        0, 100, "turn re-runs on a conversation version conflict", NULL),
    {WABOT_OPT_LOG_LEVEL, "LOG_LEVEL", "core", offsetof(wb_config, log_level),
     WABOT_OPTION_ENUM, 0, WABOT_LOG_WARN, WABOT_LOG_DEBUG, WABOT_LOG_NONE,
     NULL, "log threshold", NULL, log_levels, NULL},
    NUM(WABOT_OPT_JOB_LEASE_MS, "jobs", job_lease_ms, DUR, 0, 30 * SEC, 100,
        DAY_MS, "job lease, renewed at half", NULL),
    NUM(WABOT_OPT_JOB_MAX_STALLS, "jobs", job_max_stalls, INT, 0, 1, 0, 1000,
        "lease expiries before a job fails", NULL),
    NUM(WABOT_OPT_JOB_POLL_MS, "jobs", job_poll_ms, DUR, 0, 1 * SEC, 10,
        3600 * SEC, "idle poll of a shared scheduler", NULL),
    NUM(WABOT_OPT_OUTBOUND_CONCURRENCY, "outbound", outbound_concurrency, INT,
        0, 16, 1, 10000,
        "messages the delivery worker takes at once (with pacing on, at most "
        "http_host_connections of them in flight per transport)", NULL),
    NUM(WABOT_OPT_OUTBOUND_MAX_ATTEMPTS, "outbound", outbound_max_attempts,
        INT, 0, 5, 1, 100, "attempts per reply", NULL),
    NUM(WABOT_OPT_WINDOW_MS, "outbound", window_ms, DUR, ORG, DAY_MS, 0,
        365 * DAY_MS,
        "customer-service window for free-form messages (0 = not enforced)",
        NULL),
    NUM(WABOT_OPT_RATE_SENDER_PER_S, "outbound", rate_sender_per_s, INT, 0,
        80, 0, 100000, "sends per second per business number (0 = off)",
        NULL),
    NUM(WABOT_OPT_RATE_PAIR_PERIOD_MS, "outbound", rate_pair_period_ms, DUR,
        0, 6 * SEC, 0, DAY_MS, "one send per this per recipient (0 = off)",
        NULL),
    NUM(WABOT_OPT_RATE_PAIR_BURST, "outbound", rate_pair_burst, INT, 0, 10,
        0, 1000, "extra sends allowed at once per recipient", NULL),
    NUM(WABOT_OPT_RATE_ORG_PER_S, "outbound", rate_org_per_s, INT, 0, 0, 0,
        1000000, "sends per second per organisation (0 = off)", NULL),
    NUM(WABOT_OPT_BREAKER_WINDOW_MS, "breaker", breaker_window_ms, DUR, 0,
        60 * SEC, 100, DAY_MS, "circuit breaker's rolling window", NULL),
    NUM(WABOT_OPT_BREAKER_FAILURE_PCT, "breaker", breaker_failure_pct, INT,
        0, 50, 1, 100, "failure rate (percent) that opens the breaker", NULL),
    NUM(WABOT_OPT_BREAKER_MIN_VOLUME, "breaker", breaker_min_volume, INT, 0,
        20, 1, 1000000, "calls in the window before the breaker may open",
        NULL),
    NUM(WABOT_OPT_BREAKER_OPEN_MS, "breaker", breaker_open_ms, DUR, 0,
        30 * SEC, 10, DAY_MS, "time open before half-open", NULL),
    NUM(WABOT_OPT_BREAKER_PROBES, "breaker", breaker_probes, INT, 0, 3, 1,
        1000, "half-open probes", NULL),
    NUM(WABOT_OPT_TWILIO_INLINE_REPLIES, "webhook", twilio_inline_replies,
        BOOL, 0, 0, 0, 1,
        "answer Twilio webhooks with text/media replies as TwiML", NULL),
    STR(WABOT_OPT_TWILIO_AUTH_TOKEN, "security", twilio_auth_token, SECRET,
        "", "verifies X-Twilio-Signature; empty: Twilio webhooks get 403",
        "TWILIO_AUTH_TOKEN"),
    STR(WABOT_OPT_META_APP_SECRET, "security", meta_app_secret, SECRET, "",
        "verifies X-Hub-Signature-256; empty: Meta webhooks get 403",
        "META_APP_SECRET"),
    STR(WABOT_OPT_META_VERIFY_TOKEN, "security", meta_verify_token, SECRET,
        "", "answers Meta's GET handshake; empty: it gets 403",
        "META_VERIFY_TOKEN"),
    STR(WABOT_OPT_PUBLIC_URL, "security", public_url, EMPTY, "",
        "origin the providers call (scheme://host[:port][/prefix]); "
        "empty: from the Host header",
        NULL),
    NUM(WABOT_OPT_VERIFY_SIGNATURES, "security", verify_signatures, BOOL, 0,
        1, 0, 1, "verify webhook signatures (false: local development only)",
        NULL),
    NUM(WABOT_OPT_TRUST_FORWARDED, "security", trust_forwarded, BOOL, 0, 0,
        0, 1, "rebuild the signed URL from X-Forwarded-Proto/-Host", NULL),
    NUM(WABOT_OPT_DEDUP, "dedup", dedup, BOOL, 0, 1, 0, 1,
        "deduplicate inbound messages", NULL),
    STR(WABOT_OPT_DEDUP_KEY_FORMAT, "dedup", dedup_key_format, 0,
        WB_DEFAULT_DEDUP_KEY_FORMAT,
        "storage key of a handled message; {id}, {org}, {provider}", NULL),
    NUM(WABOT_OPT_DEDUP_TTL_MS, "dedup", dedup_ttl_ms, DUR, 0, DAY_MS,
        1 * SEC, 365 * DAY_MS, "how long a handled message id is remembered",
        NULL),
    NUM(WABOT_OPT_DEDUP_LEASE_MS, "dedup", dedup_lease_ms, DUR, 0, 5 * SEC,
        100, DAY_MS,
        "claim lease while a message is handled (renewed by the loop while "
        "its turn runs; a dead process's claims free after it)", NULL),
    NUM(WABOT_OPT_INBOUND_RATE_COUNT, "limits", inbound_rate_count, INT, ORG,
        30, 0, 1000000, "messages per customer and period (0 = no limit)",
        NULL),
    NUM(WABOT_OPT_INBOUND_RATE_PERIOD_MS, "limits", inbound_rate_period_ms,
        DUR, ORG, 60 * SEC, 1, DAY_MS, "period of the inbound limit", NULL),
    NUM(WABOT_OPT_INBOUND_RATE_BURST, "limits", inbound_rate_burst, INT, ORG,
        20, 0, 1000000, "extra messages allowed at once", NULL),
    STR(WABOT_OPT_INBOUND_RATE_NOTICE, "limits", inbound_rate_notice,
        ORG | EMPTY, WB_DEFAULT_RATE_NOTICE,
        "text sent once per limited period (empty: none)", NULL),
    STR(WABOT_OPT_OPTOUT_KEYWORDS, "optout", optout_keywords, ORG | EMPTY,
        WB_DEFAULT_OPTOUT_KEYWORDS,
        "comma-separated opt-out words, folded for case and accents", NULL),
    STR(WABOT_OPT_OPTIN_KEYWORDS, "optout", optin_keywords, ORG | EMPTY,
        WB_DEFAULT_OPTIN_KEYWORDS, "comma-separated opt-in words", NULL),
    STR(WABOT_OPT_OPTOUT_REPLY, "optout", optout_reply, ORG | EMPTY,
        WB_DEFAULT_OPTOUT_REPLY, "opt-out confirmation (empty: none)", NULL),
    STR(WABOT_OPT_OPTIN_REPLY, "optout", optin_reply, ORG | EMPTY,
        WB_DEFAULT_OPTIN_REPLY, "opt-in confirmation (empty: none)", NULL),
    NUM(WABOT_OPT_RECEIPT_TTL_MS, "receipts", receipt_ttl_ms, DUR, 0,
        7 * DAY_MS, 60 * SEC, 365 * DAY_MS, "how long delivery states are kept",
        NULL),
    NUM(WABOT_OPT_OUTBOUND_BACKLOG_MAX, "outbound", outbound_backlog_max, INT,
        0, 20000, 0, 1000000000,
        "replies queued or sending above which webhooks with messages are "
        "held back (0 = unbounded)", NULL),
    {WABOT_OPT_OUTBOUND_BACKLOG_POLICY, "OUTBOUND_BACKLOG_POLICY", "outbound",
     offsetof(wb_config, outbound_backlog_policy), WABOT_OPTION_ENUM, 0,
     WABOT_BACKLOG_WAIT, WABOT_BACKLOG_REJECT, WABOT_BACKLOG_WAIT, NULL,
     "backlog full: wait (hold the webhook up to outbound_backlog_wait_ms "
     "while the queue drains, then 503) or reject (503 + Retry-After at "
     "once, the provider redelivers)", NULL,
     backlog_policies, NULL},
    NUM(WABOT_OPT_OUTBOUND_BACKLOG_WAIT_MS, "outbound",
        outbound_backlog_wait_ms, DUR, 0, 1 * SEC, 0, 60 * SEC,
        "longest hold of a webhook while the backlog is full (policy wait)",
        NULL),
    NUM(WABOT_OPT_HTTP_HOST_CONNECTIONS, "outbound", http_host_connections,
        INT, 0, 16, 1, 1024,
        "keep-alive connections per provider host (HTTP/2 multiplexes)",
        NULL),
    NUM(WABOT_OPT_HTTP_THREADS, "outbound", http_threads, INT, 0, 0, 0, 16,
        "threads the built-in HTTP client runs its transfers on (0: on the "
        "loop thread); completions still run on the loop thread, "
        "http_host_connections is shared among them", NULL),
    NUM(WABOT_OPT_SEND_RECONCILE_GRACE_MS, "outbound",
        send_reconcile_grace_ms, DUR, 0, 5 * SEC, 0, DAY_MS,
        "a send whose outcome is unknown (its request timed out, or its "
        "process died mid-send) waits this long for a receipt carrying its "
        "correlation before the policy decides", NULL),
    STR(WABOT_OPT_SEND_AT_MOST_ONCE, "outbound", send_at_most_once, EMPTY,
        "", "comma-separated categories (reply, notice, reminder, campaign) "
        "whose sends of unknown outcome are not sent again (at-most-once); "
        "empty: at-least-once", NULL),
};

const size_t wb_n_builtin_options =
    sizeof wb_builtin_options / sizeof wb_builtin_options[0];
