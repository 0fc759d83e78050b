/* See server_backends.h. */
#include "server_backends.h"
#include "server_legacy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char SERVER_BACKENDS_HELP[] =
"Provider (outbound messages):\n"
"  WABOT_PROVIDER            console (default: print to stdout), twilio, meta\n"
"  WABOT_ORGANIZATION        organisation owning the number below (default:\n"
"                            WABOT_OPT_DEFAULT_ORGANIZATION)\n"
"  TWILIO_ACCOUNT_SID        Twilio account (AC...)\n"
"  TWILIO_AUTH_TOKEN         Twilio auth token (also verifies signatures)\n"
"  TWILIO_WHATSAPP_FROM      sender number, E.164 (or:)\n"
"  TWILIO_MESSAGING_SERVICE_SID  messaging service (MG...)\n"
"  TWILIO_STATUS_CALLBACK_URL    where Twilio posts delivery receipts\n"
"  TWILIO_API_BASE           default https://api.twilio.com\n"
"  META_ACCESS_TOKEN         Cloud API token\n"
"  META_PHONE_NUMBER_ID      the number's id\n"
"  META_BUSINESS_NUMBER      the number itself, E.164 (maps inbound to it)\n"
"  META_API_VERSION          default v21.0\n"
"  META_API_BASE             default https://graph.facebook.com\n"
"Shared state (several wabot-server processes on one Redis):\n"
"  REDIS_HOST                set: storage, jobs and rate limits live in Redis\n"
"  REDIS_PORT                default 6379\n"
"  REDIS_PASSWORD            AUTH password\n"
"  REDIS_DB                  database number, default 0\n"
"  WABOT_REDIS_PREFIX        key prefix, default \"wabot:\"\n";

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int missing(const char *provider, const char *var)
{
    fprintf(stderr, "wabot-server: WABOT_PROVIDER=%s needs %s\n", provider,
            var);
    return -1;
}

static int open_twilio(server_backends *b)
{
    wabot_twilio_config c;
    wabot_twilio_config_init(&c);
    c.account_sid = env("TWILIO_ACCOUNT_SID");
    c.auth_token = env("TWILIO_AUTH_TOKEN");
    c.from = env("TWILIO_WHATSAPP_FROM");
    c.messaging_service_sid = env("TWILIO_MESSAGING_SERVICE_SID");
    c.status_callback_url = env("TWILIO_STATUS_CALLBACK_URL");
    c.base_url = env("TWILIO_API_BASE");
    if (!c.account_sid)
        return missing("twilio", "TWILIO_ACCOUNT_SID");
    if (!c.auth_token)
        return missing("twilio", "TWILIO_AUTH_TOKEN");
    if (!c.from && !c.messaging_service_sid)
        return missing("twilio", "TWILIO_WHATSAPP_FROM or "
                       "TWILIO_MESSAGING_SERVICE_SID");
    b->transport = wabot_transport_twilio_new(&c);
    b->sender = c.from;
    if (!b->transport)
        fprintf(stderr, "wabot-server: the Twilio settings are invalid "
                "(numbers E.164, URLs http(s))\n");
    return b->transport ? 0 : -1;
}

static int open_meta(server_backends *b)
{
    wabot_meta_config c;
    wabot_meta_config_init(&c);
    c.access_token = env("META_ACCESS_TOKEN");
    c.phone_number_id = env("META_PHONE_NUMBER_ID");
    c.api_version = env("META_API_VERSION");
    c.base_url = env("META_API_BASE");
    if (!c.access_token)
        return missing("meta", "META_ACCESS_TOKEN");
    if (!c.phone_number_id)
        return missing("meta", "META_PHONE_NUMBER_ID");
    b->transport = wabot_transport_meta_new(&c);
    b->sender = env("META_BUSINESS_NUMBER");
    if (!b->transport)
        fprintf(stderr, "wabot-server: the Meta settings are invalid\n");
    return b->transport ? 0 : -1;
}

static int open_redis(server_backends *b, wabot_options *opts)
{
    wabot_redis_config c;
    wabot_redis_config_init(&c);
    int rc = wabot_redis_config_from_env(&c);
    if (rc < 0) {
        fprintf(stderr, "wabot-server: REDIS_PORT / REDIS_DB must be numbers\n");
        return -1;
    }
    if (rc == 0)
        return 0; /* REDIS_HOST not set: memory backends */
    const char *err = NULL;
    b->redis = wabot_redis_new(&c, &err);
    if (!b->redis) {
        fprintf(stderr, "wabot-server: cannot use Redis at %s:%d: %s\n",
                c.host, (int)c.port, err ? err : "unknown error");
        return -1;
    }
    b->storage = wabot_storage_redis_new(b->redis);
    b->scheduler = wabot_scheduler_redis_new(b->redis);
    b->limiter = wabot_limiter_redis_new(b->redis);
    if (!b->storage || !b->scheduler || !b->limiter) {
        fprintf(stderr, "wabot-server: out of memory\n");
        return -1;
    }
    wabot_options_set_storage(opts, b->storage);
    wabot_options_set_scheduler(opts, b->scheduler);
    wabot_options_set_limiter(opts, b->limiter);
    int64_t take = 0;
    wabot_options_get_int(opts, WABOT_OPT_OUTBOUND_CONCURRENCY, &take);
    fprintf(stderr, "wabot-server: storage, jobs and limits in Redis at "
            "%s:%d; the delivery worker takes %" PRId64 " replies at once\n",
            c.host, (int)c.port, take);
    return 0;
}

int server_backends_open(server_backends *b, wabot_options *opts)
{
    memset(b, 0, sizeof *b);
    const char *org = env("WABOT_ORGANIZATION");
    if (!org)
        wabot_options_get_str(opts, WABOT_OPT_DEFAULT_ORGANIZATION, &org);
    snprintf(b->org, sizeof b->org, "%s", org ? org : "default");
    const char *p = env("WABOT_PROVIDER");
    int rc = 0;
    if (!p || strcmp(p, "console") == 0)
        rc = 0;
    else if (strcmp(p, "twilio") == 0)
        rc = open_twilio(b);
    else if (strcmp(p, "meta") == 0)
        rc = open_meta(b);
    else {
        fprintf(stderr, "wabot-server: WABOT_PROVIDER=%s: expected console, "
                "twilio or meta\n", p);
        rc = -1;
    }
    if (rc == 0 && b->transport)
        wabot_options_set_transport(opts, b->transport);
    if (rc == 0)
        rc = open_redis(b, opts);
    return rc;
}

int server_backends_attach(server_backends *b, wabot_ctx *ctx)
{
    if (server_legacy_attach(ctx) != 0)
        return -1;
    if (!b->transport || !b->sender)
        return 0;
    if (wabot_ctx_add_sender(ctx, b->org, b->sender, b->transport) !=
        WABOT_OK) {
        fprintf(stderr, "wabot-server: sender %s: %s\n", b->sender,
                wabot_ctx_errmsg(ctx));
        return -1;
    }
    return 0;
}

void server_backends_close(server_backends *b)
{
    server_legacy_close();
    wabot_transport_free(b->transport);
    wabot_limiter_free(b->limiter);
    wabot_scheduler_free(b->scheduler);
    wabot_storage_free(b->storage);
    wabot_redis_free(b->redis);
    memset(b, 0, sizeof *b);
}
