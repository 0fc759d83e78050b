/* Shared by the fuzz targets and the replay driver: one lazily created
 * context (memory storage, recorder transport, fixed clock, small limits
 * so inputs reach every limit), a middleware that checks the invariants
 * of every parsed message, and a full wabot_http_handle() round trip.
 *
 * The parsers are what is fuzzed, so the context accepts unsigned
 * requests and skips dedup and the inbound rate limit (fuzz_signature.c
 * has a context of its own that verifies). The context is rebuilt every
 * FUZZ_RESET_EVERY inputs: the fixed clock never expires what the
 * pipeline and receipts store, and a long run must not grow without
 * bound. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wabot.h"

wabot_ctx *fuzz_ctx(void);
wabot_ctx *fuzz_ctx_secure(void);

#define FUZZ_RESET_EVERY 4096
#define FUZZ_TOKEN "fuzz-twilio-token"
#define FUZZ_SECRET "fuzz-app-secret"
#define FUZZ_VERIFY "fuzz-verify"
void fuzz_http(wabot_ctx *ctx, const char *target, const char *ctype,
               const uint8_t *data, size_t size);

static wabot_ctx *g_ctx;
static wabot_storage *g_storage;
static wabot_transport *g_rec;
static unsigned long g_uses;
static int g_secure;

#define FUZZ_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            abort(); /* an invariant broke: libFuzzer saves the input */     \
    } while (0)

static int64_t fixed_now(void *ud)
{
    (void)ud;
    return 1767225600000LL; /* 2026-01-01T00:00:00Z */
}

static void teardown(void)
{
    wabot_ctx_free(g_ctx);
    wabot_transport_free(g_rec);
    wabot_storage_free(g_storage);
    g_ctx = NULL;
    g_rec = NULL;
    g_storage = NULL;
}

static void check_str(const char *s)
{
    FUZZ_CHECK(s != NULL);
    (void)strlen(s); /* ASan: must be a readable NUL-terminated string */
}

/* Every message the parsers produce must satisfy the model's contract. */
static int check_message(wabot_turn *turn, void *ud)
{
    (void)ud;
    const wabot_message *m = wabot_turn_message(turn);
    const char *from = wabot_message_from(m);
    FUZZ_CHECK(from[0] == '+');
    FUZZ_CHECK(wabot_message_id(m)[0] != '\0');
    FUZZ_CHECK(wabot_message_provider(m) == WABOT_PROVIDER_TWILIO ||
               wabot_message_provider(m) == WABOT_PROVIDER_META);
    check_str(wabot_message_to(m));
    check_str(wabot_message_to_id(m));
    check_str(wabot_message_profile_name(m));
    check_str(wabot_message_text(m));
    check_str(wabot_message_payload(m));
    check_str(wabot_message_payload_title(m));
    check_str(wabot_message_location_name(m));
    check_str(wabot_message_location_address(m));
    check_str(wabot_msg_type_name(wabot_message_type(m)));
    for (size_t i = 0; i < wabot_message_media_count(m); i++) {
        check_str(wabot_message_media_url(m, i));
        check_str(wabot_message_media_type(m, i));
    }
    double lat, lon;
    if (wabot_message_location(m, &lat, &lon))
        FUZZ_CHECK(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180);
    return WABOT_OK; /* the router is not what is being fuzzed */
}

static void set_security(wabot_options *o, int secure)
{
    if (!secure) {
        FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0) ==
                   WABOT_OK);
        FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_DEDUP, 0) == WABOT_OK);
        FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_COUNT, 0) ==
                   WABOT_OK);
        return;
    }
    FUZZ_CHECK(wabot_options_set_str(o, WABOT_OPT_TWILIO_AUTH_TOKEN,
                                     FUZZ_TOKEN) == WABOT_OK);
    FUZZ_CHECK(wabot_options_set_str(o, WABOT_OPT_META_APP_SECRET,
                                     FUZZ_SECRET) == WABOT_OK);
    FUZZ_CHECK(wabot_options_set_str(o, WABOT_OPT_META_VERIFY_TOKEN,
                                     FUZZ_VERIFY) == WABOT_OK);
    FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_TRUST_FORWARDED, 1) ==
               WABOT_OK);
}

static wabot_ctx *get_ctx(int secure)
{
    if (g_ctx != NULL && (g_secure != secure ||
                          ++g_uses % FUZZ_RESET_EVERY == 0))
        teardown();
    if (g_ctx != NULL) {
        wabot_recorder_clear(g_rec);
        return g_ctx;
    }
    static int registered;
    if (!registered) {
        atexit(teardown);
        registered = 1;
    }
    g_secure = secure;
    wabot_clock clock = {WABOT_CLOCK_VERSION, fixed_now, NULL};
    g_storage = wabot_storage_memory_new(&clock);
    g_rec = wabot_recorder_new();
    wabot_options *o = wabot_options_new();
    FUZZ_CHECK(g_storage != NULL && g_rec != NULL && o != NULL);
    FUZZ_CHECK(wabot_options_set_clock(o, &clock) == WABOT_OK);
    FUZZ_CHECK(wabot_options_set_storage(o, g_storage) == WABOT_OK);
    FUZZ_CHECK(wabot_options_set_transport(o, g_rec) == WABOT_OK);
    FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_MAX_PARAMS, 64) == 0);
    FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_MAX_FIELD_BYTES, 2048) == 0);
    FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_MAX_JSON_DEPTH, 16) == 0);
    FUZZ_CHECK(wabot_options_set_int(o, WABOT_OPT_MAX_BATCH_MESSAGES, 32) ==
               0);
    set_security(o, secure);
    FUZZ_CHECK(wabot_ctx_new(&g_ctx, o) == WABOT_OK);
    wabot_options_free(o);
    FUZZ_CHECK(wabot_use(g_ctx, "fuzz-check", check_message, NULL, NULL) ==
               WABOT_OK);
    return g_ctx;
}

wabot_ctx *fuzz_ctx(void)
{
    return get_ctx(0);
}

wabot_ctx *fuzz_ctx_secure(void)
{
    return get_ctx(1);
}

/* An error answer must be JSON {"error":{"code":"...","message":"..."}}. */
static void check_error_body(const char *body, size_t len)
{
    json_error_t e;
    json_t *root = json_loadb(body, len, 0, &e);
    FUZZ_CHECK(root != NULL);
    json_t *err = json_object_get(root, "error");
    FUZZ_CHECK(json_is_string(json_object_get(err, "code")));
    FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
    json_decref(root);
}

void fuzz_http(wabot_ctx *ctx, const char *target, const char *ctype,
               const uint8_t *data, size_t size)
{
    wabot_http_header h[] = {{"Content-Type", ctype}};
    wabot_http_response *r = NULL;
    int rc = wabot_http_handle(ctx, "POST", target, h, 1,
                               size ? (const char *)data : NULL, size, &r);
    if (rc == WABOT_ERR_NOMEM)
        return;
    FUZZ_CHECK(rc == WABOT_OK && r != NULL);
    size_t len = 0;
    const char *body = wabot_http_response_body(r, &len);
    FUZZ_CHECK(body[len] == '\0');
    int status = wabot_http_response_status(r);
    FUZZ_CHECK(status == 200 || status == 400 || status == 413);
    if (status != 200)
        check_error_body(body, len);
    wabot_http_response_free(r);
}
