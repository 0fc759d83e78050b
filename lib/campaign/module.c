/* The `campaign` module: its options and feature flags
 * (include/wabot/campaign.h). */
#include <stddef.h>
#include <stdio.h>

#include "campaign/campaign_metrics.h"
#include "campaign/sent_counts.h"
#include "campaign/reminder.h"
#include "campaign/tz.h"
#include "campaign_store.h"
#include "internal/campaign.h"
#include "internal/ctx.h"

enum {
    OPT_ENABLED,
    OPT_REMINDERS_ENABLED,
    OPT_QUIET_HOURS,
    OPT_TIMEZONE,
    OPT_REMINDERS_WORKER,
    OPT_METRICS_REFRESH,
    OPT_METRICS_KEEP,
    OPT_REMINDERS_TTL
};

static int check_quiet_hours(const char *v, char *why, size_t n)
{
    int start, end;
    if (wb_quiet_parse(v, &start, &end))
        return WABOT_OK;
    snprintf(why, n, "expected HH:MM-HH:MM with different ends");
    return WABOT_ERR_INVAL;
}

static int check_timezone(const char *v, char *why, size_t n)
{
    if (wb_tz_name_ok(v))
        return WABOT_OK;
    snprintf(why, n, "expected an IANA zone name such as Europe/Lisbon");
    return WABOT_ERR_INVAL;
}

static const wabot_option_def campaign_options[] = {
    {WABOT_OPTION_DEF_VERSION, "enabled", WABOT_OPTION_BOOL,
     WABOT_OPTION_PER_ORG, 1, 0, 1, NULL,
     "campaigns are available (off: campaign calls refuse with "
     "WABOT_ERR_UNSUPPORTED)",
     "ENABLE_CAMPAIGNS", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "reminders_enabled", WABOT_OPTION_BOOL,
     WABOT_OPTION_PER_ORG, 1, 0, 1, NULL,
     "reminders are available (off: reminder calls refuse with "
     "WABOT_ERR_UNSUPPORTED)",
     "ENABLE_REMINDERS", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "quiet_hours", WABOT_OPTION_STRING,
     WABOT_OPTION_PER_ORG | WABOT_OPTION_EMPTY_OK, 0, 0, 0, "",
     "reminders due in these local hours (\"21:00-08:00\") wait for "
     "their end; empty: none",
     NULL, NULL, check_quiet_hours},
    {WABOT_OPTION_DEF_VERSION, "timezone", WABOT_OPTION_STRING,
     WABOT_OPTION_PER_ORG, 0, 0, 0, "UTC",
     "the organisation's IANA time zone, for quiet hours of customers "
     "without one",
     NULL, NULL, check_timezone},
    {WABOT_OPTION_DEF_VERSION, "reminders_worker", WABOT_OPTION_BOOL, 0, 1,
     0, 1, NULL,
     "the module runs the \"reminders\" queue's worker (off: the host "
     "registers its own worker on that queue, and module reminders do not "
     "fire in this process)",
     NULL, NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "metrics_refresh", WABOT_OPTION_DURATION, 0,
     15000, 0, 86400000, NULL,
     "how often the loop re-reads the stored campaigns for the "
     "wabot_campaigns and wabot_campaign_messages gauges (0 = never)",
     NULL, NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "metrics_keep", WABOT_OPTION_DURATION, 0,
     86400000, 0, 31536000000LL, NULL,
     "a campaign's wabot_campaign_messages series stay in /metrics this "
     "long after it completed or was cancelled",
     NULL, NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "reminders_ttl", WABOT_OPTION_DURATION,
     WABOT_OPTION_PER_ORG, 30LL * 86400000, 0, 3650LL * 86400000, NULL,
     "a SENT, FAILED or CANCELLED reminder is deleted this long after it "
     "ended (0 = kept for ever)",
     NULL, NULL, NULL},
};

int wabot_campaign_feature_check(const wabot_ctx *ctx, const char *org,
                                 wabot_campaign_feature feature)
{
    static const struct {
        size_t option;
        const char *what, *name, *env;
    } features[] = {
        {OPT_ENABLED, "campaigns", "campaign.enabled", "ENABLE_CAMPAIGNS"},
        {OPT_REMINDERS_ENABLED, "reminders", "campaign.reminders_enabled",
         "ENABLE_REMINDERS"},
    };
    if (ctx == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: NULL context");
    if ((unsigned)feature >= sizeof features / sizeof features[0])
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: unknown feature %d",
                        (int)feature);
    const wabot_module *m = wabot_ctx_module(ctx, "campaign");
    if (m == NULL)
        return wb_error(ctx, WABOT_ERR_STATE,
                        "campaign: the context has no campaign module");
    int64_t on = 1;
    wabot_module_option_int(m, org, features[feature].option, &on);
    if (!on)
        return wb_error(ctx, WABOT_ERR_UNSUPPORTED,
                        "%s are disabled%s%s (%s, env %s)",
                        features[feature].what,
                        org != NULL ? " for organisation " : "",
                        org != NULL ? org : "", features[feature].name,
                        features[feature].env);
    return WABOT_OK;
}

/* The campaigns' fan-out worker, the reminders, and the admin routes of
 * customers (admin_routes.c), campaigns and reminders
 * (campaign_routes.c). */
/* The module's data. */
typedef struct campaign_data {
    wb_campaign_metrics *metrics;
    wb_sent_counts *sent;
} campaign_data;

static campaign_data *data_of(const wabot_ctx *ctx)
{
    const wabot_module *m = ctx ? wabot_ctx_module(ctx, "campaign") : NULL;
    return m ? wabot_module_data(m) : NULL;
}

wb_campaign_metrics *wb_campaign_metrics_of(const wabot_ctx *ctx)
{
    campaign_data *d = data_of(ctx);
    return d ? d->metrics : NULL;
}

wb_sent_counts *wb_campaign_sent_counts(const wabot_ctx *ctx)
{
    campaign_data *d = data_of(ctx);
    return d ? d->sent : NULL;
}

int64_t wb_reminders_ttl_ms(const wabot_ctx *ctx, const char *org)
{
    const wabot_module *m = wabot_ctx_module(ctx, "campaign");
    int64_t ttl = 0;
    if (m != NULL)
        wabot_module_option_int(m, org, OPT_REMINDERS_TTL, &ttl);
    return ttl;
}

static void campaign_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    campaign_data *d = wabot_module_data(m);
    if (d == NULL)
        return;
    wb_sent_counts_free(d->sent);
    wb_campaign_metrics_free(d->metrics);
    wb_free(&wabot_module_ctx(m)->alloc, d);
    wabot_module_set_data(m, NULL);
}

static int create_parts(wabot_module *m)
{
    int64_t refresh = 0, keep = 0;
    wabot_module_option_int(m, NULL, OPT_METRICS_REFRESH, &refresh);
    wabot_module_option_int(m, NULL, OPT_METRICS_KEEP, &keep);
    wabot_ctx *ctx = wabot_module_ctx(m);
    campaign_data *d = wb_calloc(&ctx->alloc, 1, sizeof *d);
    if (d == NULL)
        return WABOT_ERR_NOMEM;
    wabot_module_set_data(m, d);
    d->metrics = wb_campaign_metrics_new(ctx, refresh, keep);
    d->sent = d->metrics != NULL ? wb_sent_counts_new(ctx) : NULL;
    if (d->sent == NULL)
        return WABOT_ERR_NOMEM;
    int rc = wb_campaign_fanout_register(m);
    if (rc == WABOT_OK)
        rc = wb_reminders_create(m);
    if (rc == WABOT_OK)
        rc = wb_campaign_admin_routes(ctx);
    return rc == WABOT_OK ? wb_campaign_lifecycle_routes(ctx) : rc;
}

/* A module whose create fails is not destroyed: its data goes here. */
static int campaign_create(wabot_module *m, void *ud)
{
    int rc = create_parts(m);
    if (rc != WABOT_OK)
        campaign_destroy(m, ud);
    return rc;
}

static const char *const campaign_requires[] = {"admin", NULL};

const wabot_module_def wb_campaign_module = {
    WABOT_MODULE_DEF_VERSION, "campaign",
    "campaigns and reminders: customers, audiences, message templates",
    campaign_requires, campaign_options,
    sizeof campaign_options / sizeof campaign_options[0], NULL,
    campaign_create, campaign_destroy};
