/* Options: a table drives the typed setters, the by-name setter and the
 * defaults, so adding an option is one line. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctx.h"
#include "inbound.h"
#include "options_table.h"

#define KIB 1024LL
#define MIB (1024LL * 1024LL)
#define DAY_MS (24LL * 3600LL * 1000LL)

#define STR_OPT(id, field, dflt)                                            \
    {id, &#id[10], 1, offsetof(wb_config, field), 0, 0, 0, dflt}
#define INT_OPT(id, field, dflt, lo, hi)                                    \
    {id, &#id[10], 0, offsetof(wb_config, field), dflt, lo, hi, NULL}

static const wb_option_def option_defs[] = {
    STR_OPT(WABOT_OPT_TWILIO_WEBHOOK_PATH, twilio_path, "/whatsapp/webhook"),
    STR_OPT(WABOT_OPT_META_WEBHOOK_PATH, meta_path, "/whatsapp-v2/webhook"),
    STR_OPT(WABOT_OPT_DEFAULT_ORGANIZATION, default_org, "default"),
    STR_OPT(WABOT_OPT_COMMAND_PREFIX, command_prefix, "/"),
    INT_OPT(WABOT_OPT_MAX_BODY_BYTES, max_body_bytes, MIB, 1, 64 * MIB),
    INT_OPT(WABOT_OPT_MAX_PARAMS, max_params, 256, 1, 100000),
    /* 16 KiB: a 4096-character WhatsApp text in 4-byte UTF-8 fits. */
    INT_OPT(WABOT_OPT_MAX_FIELD_BYTES, max_field_bytes, 16 * KIB, 1,
            64 * MIB),
    INT_OPT(WABOT_OPT_MAX_JSON_DEPTH, max_json_depth, 32, 2, 1000),
    INT_OPT(WABOT_OPT_MAX_BATCH_MESSAGES, max_batch_messages, 1000, 1, 100000),
    INT_OPT(WABOT_OPT_STATE_TTL_MS, state_ttl_ms, 30 * DAY_MS, 0,
            3650 * DAY_MS),
    INT_OPT(WABOT_OPT_STATE_MAX_RETRIES, state_max_retries, 5, 0, 100),
    INT_OPT(WABOT_OPT_LOG_LEVEL, log_level, WABOT_LOG_WARN, WABOT_LOG_DEBUG,
            WABOT_LOG_NONE),
    INT_OPT(WABOT_OPT_JOB_LEASE_MS, job_lease_ms, 30000, 100, DAY_MS),
    INT_OPT(WABOT_OPT_JOB_MAX_STALLS, job_max_stalls, 1, 0, 1000),
    INT_OPT(WABOT_OPT_JOB_POLL_MS, job_poll_ms, 1000, 10, 3600000),
    INT_OPT(WABOT_OPT_OUTBOUND_CONCURRENCY, outbound_concurrency, 16, 1,
            10000),
    INT_OPT(WABOT_OPT_OUTBOUND_MAX_ATTEMPTS, outbound_max_attempts, 5, 1,
            100),
    INT_OPT(WABOT_OPT_WINDOW_MS, window_ms, DAY_MS, 0, 365 * DAY_MS),
    INT_OPT(WABOT_OPT_RATE_SENDER_PER_S, rate_sender_per_s, 80, 0, 100000),
    INT_OPT(WABOT_OPT_RATE_PAIR_PERIOD_MS, rate_pair_period_ms, 6000, 0,
            DAY_MS),
    INT_OPT(WABOT_OPT_RATE_PAIR_BURST, rate_pair_burst, 10, 0, 1000),
    INT_OPT(WABOT_OPT_RATE_ORG_PER_S, rate_org_per_s, 0, 0, 1000000),
    INT_OPT(WABOT_OPT_BREAKER_WINDOW_MS, breaker_window_ms, 60000, 100,
            DAY_MS),
    INT_OPT(WABOT_OPT_BREAKER_FAILURE_PCT, breaker_failure_pct, 50, 1, 100),
    INT_OPT(WABOT_OPT_BREAKER_MIN_VOLUME, breaker_min_volume, 20, 1, 1000000),
    INT_OPT(WABOT_OPT_BREAKER_OPEN_MS, breaker_open_ms, 30000, 10, DAY_MS),
    INT_OPT(WABOT_OPT_BREAKER_PROBES, breaker_probes, 3, 1, 1000),
    INT_OPT(WABOT_OPT_TWILIO_INLINE_REPLIES, twilio_inline_replies, 0, 0, 1),
    /* webhook security and inbound hygiene (wabot/security.h) */
    STR_OPT(WABOT_OPT_TWILIO_AUTH_TOKEN, twilio_auth_token, ""),
    STR_OPT(WABOT_OPT_META_APP_SECRET, meta_app_secret, ""),
    STR_OPT(WABOT_OPT_META_VERIFY_TOKEN, meta_verify_token, ""),
    STR_OPT(WABOT_OPT_PUBLIC_URL, public_url, ""),
    INT_OPT(WABOT_OPT_VERIFY_SIGNATURES, verify_signatures, 1, 0, 1),
    INT_OPT(WABOT_OPT_TRUST_FORWARDED, trust_forwarded, 0, 0, 1),
    INT_OPT(WABOT_OPT_DEDUP, dedup, 1, 0, 1),
    STR_OPT(WABOT_OPT_DEDUP_KEY_FORMAT, dedup_key_format,
            WB_DEFAULT_DEDUP_KEY_FORMAT),
    INT_OPT(WABOT_OPT_DEDUP_TTL_MS, dedup_ttl_ms, DAY_MS, 1000,
            365 * DAY_MS),
    INT_OPT(WABOT_OPT_DEDUP_LEASE_MS, dedup_lease_ms, 60000, 100, DAY_MS),
    INT_OPT(WABOT_OPT_INBOUND_RATE_COUNT, inbound_rate_count, 30, 0,
            1000000),
    INT_OPT(WABOT_OPT_INBOUND_RATE_PERIOD_MS, inbound_rate_period_ms, 60000,
            1, DAY_MS),
    INT_OPT(WABOT_OPT_INBOUND_RATE_BURST, inbound_rate_burst, 20, 0,
            1000000),
    STR_OPT(WABOT_OPT_INBOUND_RATE_NOTICE, inbound_rate_notice,
            WB_DEFAULT_RATE_NOTICE),
    STR_OPT(WABOT_OPT_OPTOUT_KEYWORDS, optout_keywords,
            WB_DEFAULT_OPTOUT_KEYWORDS),
    STR_OPT(WABOT_OPT_OPTIN_KEYWORDS, optin_keywords,
            WB_DEFAULT_OPTIN_KEYWORDS),
    STR_OPT(WABOT_OPT_OPTOUT_REPLY, optout_reply, WB_DEFAULT_OPTOUT_REPLY),
    STR_OPT(WABOT_OPT_OPTIN_REPLY, optin_reply, WB_DEFAULT_OPTIN_REPLY),
    INT_OPT(WABOT_OPT_RECEIPT_TTL_MS, receipt_ttl_ms, 7 * DAY_MS, 60000,
            365 * DAY_MS),
};

#define N_OPTIONS (sizeof option_defs / sizeof option_defs[0])

const wb_option_def *wb_option_find(wabot_option id)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (option_defs[i].id == id)
            return &option_defs[i];
    return NULL;
}

static const wb_option_def *find_by_name(const char *name)
{
    if (strncasecmp(name, "WABOT_OPT_", 10) == 0)
        name += 10;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcasecmp(option_defs[i].name, name) == 0)
            return &option_defs[i];
    return NULL;
}

static char **str_slot(wb_config *c, const wb_option_def *d)
{
    return (char **)((char *)c + d->offset);
}

static int64_t *int_slot(wb_config *c, const wb_option_def *d)
{
    return (int64_t *)((char *)c + d->offset);
}

static int opt_error(wabot_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int opt_error(wabot_options *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->errmsg, sizeof o->errmsg, fmt, ap);
    va_end(ap);
    return WABOT_ERR_INVAL;
}

int wb_config_init(wb_config *c, const wabot_allocator *a)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const wb_option_def *d = &option_defs[i];
        if (d->is_str) {
            if (!(*str_slot(c, d) = wb_strdup(a, d->str_default))) {
                wb_config_free(c, a);
                return WABOT_ERR_NOMEM;
            }
        } else {
            *int_slot(c, d) = d->int_default;
        }
    }
    return WABOT_OK;
}

int wb_config_copy(wb_config *dst, const wb_config *src,
                   const wabot_allocator *a)
{
    *dst = *src;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const wb_option_def *d = &option_defs[i];
        if (d->is_str)
            *str_slot(dst, d) = NULL;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const wb_option_def *d = &option_defs[i];
        if (!d->is_str)
            continue;
        const char *s = *(char *const *)((const char *)src + d->offset);
        if (!(*str_slot(dst, d) = wb_strdup(a, s))) {
            wb_config_free(dst, a);
            return WABOT_ERR_NOMEM;
        }
    }
    return WABOT_OK;
}

void wb_config_free(wb_config *c, const wabot_allocator *a)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const wb_option_def *d = &option_defs[i];
        if (d->is_str) {
            wb_free(a, *str_slot(c, d));
            *str_slot(c, d) = NULL;
        }
    }
}

wabot_options *wabot_options_new(void)
{
    wabot_options *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    if (wb_config_init(&o->cfg, NULL) != WABOT_OK) {
        free(o);
        return NULL;
    }
    return o;
}

void wabot_options_free(wabot_options *o)
{
    if (!o)
        return;
    wb_config_free(&o->cfg, NULL);
    free(o);
}

const char *wabot_options_errmsg(const wabot_options *o)
{
    return o ? o->errmsg : "options is NULL";
}

static int validate_str(wabot_options *o, const wb_option_def *d,
                        const char *v)
{
    if (wb_security_option(d->id)) {
        char why[160];
        if (wb_security_option_check(d->id, v, why, sizeof why) != WABOT_OK)
            return opt_error(o, "%s %s", d->name, why);
        return WABOT_OK;
    }
    if (d->id == WABOT_OPT_TWILIO_WEBHOOK_PATH ||
        d->id == WABOT_OPT_META_WEBHOOK_PATH) {
        if (v[0] != '/' || strpbrk(v, "?# \t\r\n"))
            return opt_error(o, "%s must be a path starting with '/' "
                             "without query or spaces: \"%s\"", d->name, v);
    } else if (v[0] == '\0') {
        return opt_error(o, "%s must not be empty", d->name);
    }
    if (strlen(v) > 256)
        return opt_error(o, "%s is longer than 256 bytes", d->name);
    return WABOT_OK;
}

static int set_str(wabot_options *o, const wb_option_def *d, const char *v)
{
    if (!v)
        v = d->str_default;
    int rc = validate_str(o, d, v);
    if (rc != WABOT_OK)
        return rc;
    if (wb_str_replace(NULL, str_slot(&o->cfg, d), v) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    o->errmsg[0] = '\0';
    return WABOT_OK;
}

static int set_int(wabot_options *o, const wb_option_def *d, int64_t v)
{
    if (v < d->int_min || v > d->int_max)
        return opt_error(o, "%s must be between %lld and %lld, got %lld",
                         d->name, (long long)d->int_min,
                         (long long)d->int_max, (long long)v);
    *int_slot(&o->cfg, d) = v;
    o->errmsg[0] = '\0';
    return WABOT_OK;
}

int wabot_options_set_int(wabot_options *o, wabot_option opt, int64_t value)
{
    if (!o)
        return WABOT_ERR_INVAL;
    const wb_option_def *d = wb_option_find(opt);
    if (!d)
        return opt_error(o, "unknown option id %d", (int)opt);
    if (d->is_str)
        return opt_error(o, "%s is a string option: use "
                         "wabot_options_set_str", d->name);
    return set_int(o, d, value);
}

int wabot_options_set_str(wabot_options *o, wabot_option opt,
                          const char *value)
{
    if (!o)
        return WABOT_ERR_INVAL;
    const wb_option_def *d = wb_option_find(opt);
    if (!d)
        return opt_error(o, "unknown option id %d", (int)opt);
    if (!d->is_str)
        return opt_error(o, "%s is an integer option: use "
                         "wabot_options_set_int", d->name);
    return set_str(o, d, value);
}

int wabot_options_get_int(const wabot_options *o, wabot_option opt,
                          int64_t *value)
{
    const wb_option_def *d = wb_option_find(opt);
    if (!o || !value || !d || d->is_str)
        return WABOT_ERR_INVAL;
    *value = *(const int64_t *)((const char *)&o->cfg + d->offset);
    return WABOT_OK;
}

int wabot_options_get_str(const wabot_options *o, wabot_option opt,
                          const char **value)
{
    const wb_option_def *d = wb_option_find(opt);
    if (!o || !value || !d || !d->is_str)
        return WABOT_ERR_INVAL;
    *value = *(char *const *)((const char *)&o->cfg + d->offset);
    return WABOT_OK;
}

static int parse_level(const char *v, int64_t *out)
{
    for (int l = WABOT_LOG_DEBUG; l <= WABOT_LOG_NONE; l++) {
        if (strcasecmp(v, wabot_log_level_name((wabot_log_level)l)) == 0) {
            *out = l;
            return 1;
        }
    }
    return 0;
}

int wabot_options_set(wabot_options *o, const char *name, const char *value)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!name || !value)
        return opt_error(o, "name and value must not be NULL");
    const wb_option_def *d = find_by_name(name);
    if (!d)
        return opt_error(o, "unknown option \"%s\"", name);
    if (d->is_str)
        return set_str(o, d, value);
    int64_t v;
    if (d->id == WABOT_OPT_LOG_LEVEL && parse_level(value, &v))
        return set_int(o, d, v);
    char *end;
    errno = 0;
    long long n = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0')
        return opt_error(o, "%s needs a decimal integer, got \"%s\"",
                         d->name, value);
    return set_int(o, d, n);
}

int wabot_options_set_log(wabot_options *o, wabot_log_fn fn, void *ud)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->log_fn = fn;
    o->log_ud = ud;
    return WABOT_OK;
}

int wabot_options_set_clock(wabot_options *o, const wabot_clock *clock)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!clock) {
        o->has_clock = 0;
        return WABOT_OK;
    }
    if (clock->version == 0 || !clock->now_ms)
        return opt_error(o, "clock needs version >= 1 and now_ms");
    o->clock = *clock;
    o->has_clock = 1;
    return WABOT_OK;
}

int wabot_options_set_allocator(wabot_options *o, const wabot_allocator *a)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!a) {
        o->has_alloc = 0;
        return WABOT_OK;
    }
    if (a->version == 0 || !a->malloc || !a->realloc || !a->free)
        return opt_error(o, "allocator needs version >= 1 and malloc, "
                         "realloc and free");
    o->alloc = *a;
    o->has_alloc = 1;
    return WABOT_OK;
}

int wabot_options_set_storage(wabot_options *o, wabot_storage *s)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->storage = s;
    return WABOT_OK;
}

int wabot_options_set_scheduler(wabot_options *o, wabot_scheduler *s)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->scheduler = s;
    return WABOT_OK;
}

int wabot_options_set_http_client(wabot_options *o, wabot_http_client *c)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->http_client = c;
    return WABOT_OK;
}

int wabot_options_set_limiter(wabot_options *o, wabot_limiter *l)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->limiter = l;
    return WABOT_OK;
}

int wabot_options_set_transport(wabot_options *o, wabot_transport *t)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->transport = t;
    return WABOT_OK;
}
