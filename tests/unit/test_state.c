/* State: conversations, customer profiles, key layout and the
 * per-customer lock table. White-box: uses the internal wb_* API the
 * pipeline uses, through a real context on memory storage. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "storage.h"
#include "testutil.h"

#define ORG "acme"
#define PHONE "+15551234567"
#define CONV_KEY "conv:{" ORG ":" PHONE "}"
#define CUST_KEY "cust:{" ORG ":" PHONE "}"

static tu_env E;

/* Warnings logged by the "state" module during the current test. */
static int g_state_warnings;

static void count_warnings(void *ud, wabot_log_level level,
                           const char *module, const char *msg)
{
    (void)ud, (void)msg;
    if (level == WABOT_LOG_WARN && strcmp(module, "state") == 0)
        __atomic_add_fetch(&g_state_warnings, 1, __ATOMIC_SEQ_CST);
}

static void env_setup_ttl(int64_t state_ttl_ms)
{
    g_state_warnings = 0;
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_options_set_log(o, count_warnings, NULL),
                     WABOT_OK);
    ck_assert_int_eq(
        wabot_options_set_int(o, WABOT_OPT_STATE_TTL_MS, state_ttl_ms),
        WABOT_OK);
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
}

static void env_setup(void)
{
    env_setup_ttl(60 * 60 * 1000);
}

static void env_teardown(void)
{
    tu_env_free(&E);
}

/* Raw storage helpers. */
static void raw_put(const char *key, const char *val)
{
    ck_assert_int_eq(
        wabot_storage_set(E.storage, key, val, strlen(val), 0, NULL),
        WABOT_OK);
}

static char *raw_get(const char *key, uint64_t *version)
{
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(E.storage, key, &val, NULL, version),
                     WABOT_OK);
    return val;
}

/* Save a conversation in state `state` with session {"n":n}. */
static uint64_t save_conv(const char *state, int n)
{
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_int_eq(wb_str_replace(&E.ctx->alloc, &c.state, state),
                     WABOT_OK);
    ck_assert_int_eq(json_object_set_new(c.session, "n", json_integer(n)),
                     0);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &c), WABOT_OK);
    uint64_t v = c.version;
    wb_conv_clear(E.ctx, &c);
    return v;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */

START_TEST(test_key_builders_format_keys)
{
    char buf[64];
    ck_assert_str_eq(wb_conv_key(buf, sizeof buf, "org", "+1555"),
                     "conv:{org:+1555}");
    ck_assert_str_eq(wb_cust_key(buf, sizeof buf, "org", "+1555"),
                     "cust:{org:+1555}");
    ck_assert_str_eq(wb_conv_key(buf, sizeof buf, "a:b", "c:d"),
                     "conv:{a:b:c:d}");
}
END_TEST

START_TEST(test_key_builders_return_null_when_too_small)
{
    char buf[16];
    /* "conv:{org:+1555}" is 16 bytes: no room for the NUL. */
    ck_assert_ptr_null(wb_conv_key(buf, sizeof buf, "org", "+1555"));
    ck_assert_ptr_nonnull(wb_conv_key(buf, sizeof buf, "org", "+155"));
    ck_assert_ptr_null(wb_cust_key(buf, sizeof buf, "org", "+1555"));
    ck_assert_ptr_null(wb_conv_key(buf, sizeof buf, NULL, "x"));
    ck_assert_ptr_null(wb_cust_key(NULL, 0, "o", "x"));
}
END_TEST

START_TEST(test_ids_with_colons_are_accepted)
{
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, "org:eu", "wa:+1555", &c),
                     WABOT_OK);
    ck_assert_int_eq(wb_conv_save(E.ctx, "org:eu", "wa:+1555", &c),
                     WABOT_OK);
    wb_conv_clear(E.ctx, &c);
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, "org:eu", "wa:+1555",
                                            &snap),
                     WABOT_OK);
    wabot_conversation_free(snap);
    free(raw_get("conv:{org:eu:wa:+1555}", NULL));
}
END_TEST

START_TEST(test_empty_or_control_character_ids_are_inval)
{
    static const char *const bad[] = {"", "a\nb", "tab\there", "del\x7f"};
    wb_conv c = {0};
    wabot_conversation *snap = NULL;
    wabot_customer *cust = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(wb_conv_load(E.ctx, bad[i], PHONE, &c),
                         WABOT_ERR_INVAL);
        ck_assert_str_ne(wabot_ctx_errmsg(E.ctx), "");
        ck_assert_int_eq(wb_conv_load(E.ctx, ORG, bad[i], &c),
                         WABOT_ERR_INVAL);
        ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, bad[i], &snap),
                         WABOT_ERR_INVAL);
        ck_assert_ptr_null(snap);
        ck_assert_int_eq(wabot_conversation_reset(E.ctx, bad[i], PHONE),
                         WABOT_ERR_INVAL);
        ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, bad[i], "n",
                                          TU_EPOCH_MS, NULL),
                         WABOT_ERR_INVAL);
        ck_assert_int_eq(wabot_customer_get(E.ctx, bad[i], PHONE, &cust),
                         WABOT_ERR_INVAL);
        ck_assert_int_eq(wabot_customer_set_opted_out(E.ctx, ORG, bad[i], 1),
                         WABOT_ERR_INVAL);
    }
    ck_assert_int_eq(wb_conv_load(E.ctx, NULL, PHONE, &c), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, NULL, &cust),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_storage_memory_count(E.storage), 0);
}
END_TEST

START_TEST(test_ids_too_long_for_a_key_are_inval)
{
    char big[1100];
    memset(big, '9', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, big, &c), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "too long"));
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, big, NULL, 1, NULL),
                     WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_null_arguments_are_inval)
{
    wabot_conversation *snap = NULL;
    wabot_customer *cust = NULL;
    ck_assert_int_eq(wabot_conversation_get(NULL, ORG, PHONE, &snap),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_conversation_reset(NULL, ORG, PHONE),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_customer_get(NULL, ORG, PHONE, &cust),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_customer_set_opted_out(NULL, ORG, PHONE, 1),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, NULL), WABOT_ERR_INVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Conversations                                                       */

START_TEST(test_conv_load_absent_is_empty_with_version_zero)
{
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_ptr_null(c.state);
    ck_assert(json_is_object(c.session));
    ck_assert_uint_eq(json_object_size(c.session), 0);
    ck_assert_uint_eq(c.version, 0);
    wb_conv_clear(E.ctx, &c);
}
END_TEST

START_TEST(test_conv_save_then_load_round_trips)
{
    uint64_t v = save_conv("ordering", 3);
    ck_assert_uint_gt(v, 0);
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_str_eq(c.state, "ordering");
    ck_assert_int_eq(json_integer_value(json_object_get(c.session, "n")), 3);
    ck_assert_uint_eq(c.version, v);
    wb_conv_clear(E.ctx, &c);
}
END_TEST

#define SCHEMA_1 "#schema 1\n"

/* On a process-local store the conversation is kept compact: a tag
 * byte, the state, a NUL, the session's JSON; it reads back through every
 * reader, a JSON record written before reads too, and a corrupt compact
 * record loads empty (rewritten by the next save). */
START_TEST(test_conv_on_a_local_store_is_compact)
{
    save_conv("menu", 7);
    size_t len = 0;
    char *raw = NULL;
    ck_assert_int_eq(wabot_storage_get(E.storage, CONV_KEY, &raw, &len, NULL),
                     WABOT_OK);
    static const char want[] = "\x10menu\0{\"n\":7}";
    ck_assert_uint_eq(len, sizeof want - 1);
    ck_assert_int_eq(memcmp(raw, want, len), 0);
    free(raw);
    wabot_conversation *pc = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &pc),
                     WABOT_OK);
    ck_assert_str_eq(wabot_conversation_state(pc), "menu");
    wabot_conversation_free(pc);
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_str_eq(c.state, "menu");
    ck_assert_int_eq(json_integer_value(json_object_get(c.session, "n")), 7);
    wb_conv_clear(E.ctx, &c);
    /* no state: the NUL right after the tag */
    save_conv("", 8);
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_ptr_null(c.state);
    ck_assert_int_eq(json_integer_value(json_object_get(c.session, "n")), 8);
    wb_conv_clear(E.ctx, &c);
    /* JSON written before (or by a shared store's writer) reads */
    raw_put(CONV_KEY, SCHEMA_1 "{\"state\":\"cart\",\"session\":{\"n\":2}}");
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_str_eq(c.state, "cart");
    wb_conv_clear(E.ctx, &c);
    /* corrupt: no NUL after the state, or a session that is no object */
    ck_assert_int_eq(g_state_warnings, 0);
    raw_put(CONV_KEY, "\x10menu");
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_ptr_null(c.state);
    wb_conv_clear(E.ctx, &c);
    ck_assert_int_eq(g_state_warnings, 1);
}
END_TEST

START_TEST(test_conv_stored_as_state_and_session_json)
{
    /* The JSON shared stores keep; the memory store stands in for one (a
     * local one keeps the compact form:
     * test_conv_on_a_local_store_is_compact). */
    E.storage->process_local = 0;
    save_conv("menu", 7);
    char *raw = raw_get(CONV_KEY, NULL);
    ck_assert_int_eq(strncmp(raw, SCHEMA_1, strlen(SCHEMA_1)), 0);
    json_t *j = json_loads(raw + strlen(SCHEMA_1), 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "menu");
    json_t *session = json_object_get(j, "session");
    ck_assert(json_is_object(session));
    ck_assert_int_eq(json_integer_value(json_object_get(session, "n")), 7);
    json_decref(j);
    free(raw);
}
END_TEST

START_TEST(test_conv_without_state_saves_and_loads_as_none)
{
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &c), WABOT_OK);
    wb_conv_clear(E.ctx, &c);
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_ptr_null(c.state);
    ck_assert_uint_gt(c.version, 0);
    wb_conv_clear(E.ctx, &c);
}
END_TEST

START_TEST(test_conv_save_with_stale_version_conflicts)
{
    wb_conv a = {0}, b = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &a), WABOT_OK);
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &b), WABOT_OK);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &a), WABOT_OK);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &b),
                     WABOT_ERR_CONFLICT);
    ck_assert_uint_eq(b.version, 0); /* untouched: the caller reloads */
    wb_conv_clear(E.ctx, &a);
    wb_conv_clear(E.ctx, &b);
}
END_TEST

START_TEST(test_conv_save_updates_version_for_next_save)
{
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &c), WABOT_OK);
    uint64_t v1 = c.version;
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_uint_gt(c.version, v1);
    wb_conv_clear(E.ctx, &c);
}
END_TEST

START_TEST(test_conv_expires_after_state_ttl)
{
    save_conv("menu", 1);
    tu_clock_advance(&E.clock, 60 * 60 * 1000 - 1);
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_OK);
    wabot_conversation_free(snap);
    tu_clock_advance(&E.clock, 1);
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(snap);
}
END_TEST

START_TEST(test_conv_with_zero_state_ttl_never_expires)
{
    tu_env_free(&E);
    env_setup_ttl(0);
    save_conv("menu", 1);
    tu_clock_advance(&E.clock, 365LL * 24 * 60 * 60 * 1000);
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_OK);
    ck_assert_str_eq(wabot_conversation_state(snap), "menu");
    wabot_conversation_free(snap);
}
END_TEST

START_TEST(test_conv_corrupt_value_loads_empty_keeps_version_and_warns)
{
    static const char *const corrupt[] = {
        "not json", "[1,2]", "{\"state\":5}", "{\"session\":[]}",
        "{\"state\":\"a\",\"state\":\"b\"}"};
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        raw_put(CONV_KEY, corrupt[i]);
        uint64_t stored = 0;
        free(raw_get(CONV_KEY, &stored));
        g_state_warnings = 0;
        wb_conv c = {0};
        ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
        ck_assert_ptr_null(c.state);
        ck_assert(json_is_object(c.session));
        ck_assert_uint_eq(json_object_size(c.session), 0);
        ck_assert_uint_eq(c.version, stored);
        ck_assert_int_eq(g_state_warnings, 1);
        wb_conv_clear(E.ctx, &c);
    }
}
END_TEST

/* Schema-1 records in the shape the encoder writes take a decode that
 * parses only the session: what it refuses or cannot cut out must still
 * get the full decode's answer. */
START_TEST(test_conv_schema1_record_duplicate_or_trailing_member_is_corrupt)
{
    static const char *const corrupt[] = {
        SCHEMA_1 "{\"state\":\"a\",\"session\":{},\"state\":\"b\"}",
        SCHEMA_1 "{\"state\":\"a\",\"session\":{\"n\":1,\"n\":2}}",
        SCHEMA_1 "{\"state\":\"a\",\"session\":[]}",
        SCHEMA_1 "{\"state\":\"a\",\"session\":{}"};
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        raw_put(CONV_KEY, corrupt[i]);
        g_state_warnings = 0;
        wb_conv c = {0};
        ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
        ck_assert_ptr_null(c.state);
        ck_assert_uint_eq(json_object_size(c.session), 0);
        ck_assert_int_eq(g_state_warnings, 1);
        wb_conv_clear(E.ctx, &c);
    }
}
END_TEST

START_TEST(test_conv_schema1_record_in_other_member_order_or_spacing_loads)
{
    static const char *const stored[] = {
        SCHEMA_1 "{\"session\":{\"n\":4},\"state\":\"pay\"}",
        SCHEMA_1 "{ \"state\" : \"pay\", \"session\" : {\"n\":4} }",
        SCHEMA_1 "{\"state\":\"p\\u0061y\",\"session\":{\"n\":4}}"};
    for (size_t i = 0; i < sizeof stored / sizeof stored[0]; i++) {
        raw_put(CONV_KEY, stored[i]);
        wb_conv c = {0};
        ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
        ck_assert_str_eq(c.state, "pay");
        ck_assert_int_eq(
            json_integer_value(json_object_get(c.session, "n")), 4);
        wb_conv_clear(E.ctx, &c);
    }
}
END_TEST

START_TEST(test_conv_state_with_quotes_controls_and_utf8_round_trips)
{
    static const char *const names[] = {"say \"hi\"\\\n\x01", "caf\xc3\xa9",
                                        "a b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        save_conv(names[i], (int)i);
        wb_conv c = {0};
        ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
        ck_assert_str_eq(c.state, names[i]);
        ck_assert_int_eq(
            json_integer_value(json_object_get(c.session, "n")), (int)i);
        wb_conv_clear(E.ctx, &c);
        wabot_conversation *snap = NULL;
        ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                         WABOT_OK);
        ck_assert_str_eq(wabot_conversation_state(snap), names[i]);
        wabot_conversation_free(snap);
    }
}
END_TEST

START_TEST(test_conv_state_not_utf8_is_refused)
{
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_int_eq(wb_str_replace(&E.ctx->alloc, &c.state, "bad\xff"),
                     WABOT_OK);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &c), WABOT_ERR_INVAL);
    wb_conv_clear(E.ctx, &c);
}
END_TEST

START_TEST(test_conv_save_after_corrupt_load_overwrites_it)
{
    raw_put(CONV_KEY, "\x01garbage");
    save_conv("recovered", 1);
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_OK);
    ck_assert_str_eq(wabot_conversation_state(snap), "recovered");
    wabot_conversation_free(snap);
}
END_TEST

START_TEST(test_conversation_get_absent_is_not_found)
{
    wabot_conversation *snap = (wabot_conversation *)&E;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(snap);
}
END_TEST

START_TEST(test_conversation_get_returns_snapshot)
{
    uint64_t v = save_conv("checkout", 42);
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_OK);
    ck_assert_str_eq(wabot_conversation_state(snap), "checkout");
    ck_assert_str_eq(wabot_conversation_session(snap), "{\"n\":42}");
    ck_assert_uint_eq(wabot_conversation_version(snap), v);
    wabot_conversation_free(snap);
}
END_TEST

START_TEST(test_conversation_snapshot_outlives_context)
{
    save_conv("checkout", 1);
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_OK);
    tu_env_free(&E);
    ck_assert_str_eq(wabot_conversation_state(snap), "checkout");
    ck_assert_str_eq(wabot_conversation_session(snap), "{\"n\":1}");
    wabot_conversation_free(snap);
    env_setup(); /* for the teardown */
}
END_TEST

START_TEST(test_conversation_get_corrupt_is_parse_error)
{
    raw_put(CONV_KEY, "{broken");
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_ERR_PARSE);
    ck_assert_ptr_null(snap);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "corrupt"));
    ck_assert_int_eq(g_state_warnings, 1);
}
END_TEST

START_TEST(test_conversation_accessors_tolerate_null)
{
    ck_assert_str_eq(wabot_conversation_state(NULL), "");
    ck_assert_str_eq(wabot_conversation_session(NULL), "{}");
    ck_assert_uint_eq(wabot_conversation_version(NULL), 0);
    wabot_conversation_free(NULL);
}
END_TEST

START_TEST(test_conversation_reset_deletes_it)
{
    save_conv("menu", 1);
    ck_assert_int_eq(wabot_conversation_reset(E.ctx, ORG, PHONE), WABOT_OK);
    wabot_conversation *snap = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &snap),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_conversation_reset(E.ctx, ORG, PHONE),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_conversation_reset_makes_inflight_save_conflict)
{
    save_conv("menu", 1);
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_int_eq(wabot_conversation_reset(E.ctx, ORG, PHONE), WABOT_OK);
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &c),
                     WABOT_ERR_CONFLICT);
    wb_conv_clear(E.ctx, &c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Customer profiles                                                   */

static wabot_customer *get_customer(void)
{
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(test_customer_get_absent_is_not_found)
{
    wabot_customer *c = (wabot_customer *)&E;
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, &c),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_profile_touch_creates_profile)
{
    wb_profile p = {0};
    ck_assert_int_eq(
        wb_profile_touch(E.ctx, ORG, PHONE, "Ada", TU_EPOCH_MS, &p),
        WABOT_OK);
    ck_assert_str_eq(p.name, "Ada");
    ck_assert_int_eq(p.last_inbound_ms, TU_EPOCH_MS);
    ck_assert_int_eq(p.opted_out, 0);
    wb_profile_clear(E.ctx, &p);
    ck_assert_ptr_null(p.name);

    wabot_customer *c = get_customer();
    ck_assert_str_eq(wabot_customer_phone(c), PHONE);
    ck_assert_str_eq(wabot_customer_name(c), "Ada");
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), TU_EPOCH_MS);
    ck_assert_int_eq(wabot_customer_opted_out(c), 0);
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_profile_touch_without_name_creates_nameless_profile)
{
    wb_profile p = {0};
    ck_assert_int_eq(
        wb_profile_touch(E.ctx, ORG, PHONE, NULL, TU_EPOCH_MS, &p),
        WABOT_OK);
    ck_assert_ptr_null(p.name);
    wabot_customer *c = get_customer();
    ck_assert_str_eq(wabot_customer_name(c), "");
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_profile_keeps_name_when_later_touch_has_none)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, NULL),
                     WABOT_OK);
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "", 2000, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "Ada");
    wb_profile_clear(E.ctx, &p);
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 3000, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "Ada");
    ck_assert_int_eq(p.last_inbound_ms, 3000);
    wb_profile_clear(E.ctx, &p);
}
END_TEST

START_TEST(test_profile_touch_replaces_name_when_given)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, NULL),
                     WABOT_OK);
    ck_assert_int_eq(
        wb_profile_touch(E.ctx, ORG, PHONE, "Ada L.", 1000, NULL), WABOT_OK);
    wabot_customer *c = get_customer();
    ck_assert_str_eq(wabot_customer_name(c), "Ada L.");
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_profile_last_inbound_only_moves_forward)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 5000, NULL),
                     WABOT_OK);
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 4000, &p),
                     WABOT_OK);
    ck_assert_int_eq(p.last_inbound_ms, 5000);
    wb_profile_clear(E.ctx, &p);
    wabot_customer *c = get_customer();
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), 5000);
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_profile_unchanged_touch_does_not_write)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 5000, NULL),
                     WABOT_OK);
    uint64_t v1 = 0, v2 = 0;
    free(raw_get(CUST_KEY, &v1));
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 4000, NULL),
                     WABOT_OK);
    free(raw_get(CUST_KEY, &v2));
    ck_assert_uint_eq(v1, v2);
}
END_TEST

START_TEST(test_profile_touch_rejects_negative_time)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, -1, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_storage_memory_count(E.storage), 0);
}
END_TEST

START_TEST(test_profile_touch_ignores_invalid_utf8_name)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, NULL),
                     WABOT_OK);
    wb_profile p = {0};
    ck_assert_int_eq(
        wb_profile_touch(E.ctx, ORG, PHONE, "bad\xff\xfe", 2000, &p),
        WABOT_OK);
    ck_assert_str_eq(p.name, "Ada");
    ck_assert_int_eq(p.last_inbound_ms, 2000);
    ck_assert_int_eq(g_state_warnings, 1);
    wb_profile_clear(E.ctx, &p);
}
END_TEST

START_TEST(test_profile_stored_as_json)
{
    /* The JSON shared stores keep (Redis's begin script reads it); the
     * memory store stands in for one (a local one keeps the compact
     * form: test_profile_on_a_local_store_is_compact). */
    E.storage->process_local = 0;
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1234, NULL),
                     WABOT_OK);
    char *raw = raw_get(CUST_KEY, NULL);
    ck_assert_int_eq(strncmp(raw, SCHEMA_1, strlen(SCHEMA_1)), 0);
    json_t *j = json_loads(raw + strlen(SCHEMA_1), 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "Ada");
    ck_assert_int_eq(
        json_integer_value(json_object_get(j, "last_inbound_ms")), 1234);
    ck_assert(json_is_false(json_object_get(j, "opted_out")));
    json_decref(j);
    free(raw);
}
END_TEST

/* An inbound touch of a profile in the one shape touches and opt-outs
 * leave is read and written without jansson (customer.c, touch_flat):
 * the bytes are the general path's, and any other shape still goes
 * through the general path. */
#define PHONE2 "+15557654321"
#define FLAT(c, n, l, o)                                                     \
    SCHEMA_1 "{\"created_ms\":" c ",\"name\":" n ",\"last_inbound_ms\":" l \
             ",\"opted_out\":" o "}"

START_TEST(test_profile_touch_writes_the_same_bytes_by_either_path)
{
    /* The JSON shared stores keep (Redis's begin script reads it); the
     * memory store stands in for one (a local one keeps the compact
     * form: test_profile_on_a_local_store_is_compact). */
    E.storage->process_local = 0;
    /* PHONE: created (general path), then touched (flat path). */
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 2000, NULL),
                     WABOT_OK);
    char *raw = raw_get(CUST_KEY, NULL);
    ck_assert_str_eq(raw, FLAT("1000", "\"Ada\"", "2000", "false"));
    free(raw);
    /* PHONE2: the name arrives with the second touch (general path). */
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE2, NULL, 1000, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE2, "Ada", 2000, NULL),
                     WABOT_OK);
    raw = raw_get("cust:{" ORG ":" PHONE2 "}", NULL);
    ck_assert_str_eq(raw, FLAT("1000", "\"Ada\"", "2000", "false"));
    free(raw);
}
END_TEST

START_TEST(test_profile_touch_reads_the_flat_shape_and_only_it)
{
    /* The JSON shared stores keep (Redis's begin script reads it); the
     * memory store stands in for one (a local one keeps the compact
     * form: test_profile_on_a_local_store_is_compact). */
    E.storage->process_local = 0;
    raw_put(CUST_KEY, FLAT("1", "null", "2", "true"));
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 5, &p),
                     WABOT_OK);
    ck_assert_ptr_null(p.name);
    ck_assert_int_eq(p.opted_out, 1);
    ck_assert_int_eq(p.last_inbound_ms, 5);
    wb_profile_clear(E.ctx, &p);
    char *raw = raw_get(CUST_KEY, NULL);
    ck_assert_str_eq(raw, FLAT("1", "null", "5", "true"));
    free(raw);
    /* Another member order: the general path, which keeps the order. */
    raw_put(CUST_KEY, SCHEMA_1 "{\"name\":\"Bo\",\"created_ms\":1,"
                               "\"last_inbound_ms\":5,\"opted_out\":false}");
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Bo", 9, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "Bo");
    ck_assert_int_eq(p.last_inbound_ms, 9);
    wb_profile_clear(E.ctx, &p);
    raw = raw_get(CUST_KEY, NULL);
    ck_assert_str_eq(raw, SCHEMA_1 "{\"name\":\"Bo\",\"created_ms\":1,"
                                   "\"last_inbound_ms\":9,\"opted_out\":false}");
    free(raw);
    /* An escaped name is not flat: decoded, and still compared right. */
    raw_put(CUST_KEY, FLAT("1", "\"A\\\"b\"", "5", "false"));
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "A\"b", 7, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "A\"b");
    wb_profile_clear(E.ctx, &p);
    raw = raw_get(CUST_KEY, NULL);
    ck_assert_str_eq(raw, FLAT("1", "\"A\\\"b\"", "7", "false"));
    free(raw);
}
END_TEST

/* Records written before storage v2 carry no schema marker (schema 0):
 * they still read, upgraded on the way in. A schema-0 conversation may
 * lack "session" or hold null members; schema 1 always has both, and a
 * schema-1 value without them is corrupt, so only the upgrade makes the
 * old value readable. */
START_TEST(test_conv_schema_0_value_is_upgraded_on_read)
{
    /* The JSON shared stores keep; the memory store stands in for one (a
     * local one keeps the compact form:
     * test_conv_on_a_local_store_is_compact). */
    E.storage->process_local = 0;
    raw_put(CONV_KEY, "{\"state\":\"menu\"}");
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_str_eq(c.state, "menu");
    ck_assert(json_is_object(c.session));
    ck_assert_int_eq(g_state_warnings, 0);
    /* The next save writes schema 1. */
    ck_assert_int_eq(wb_conv_save(E.ctx, ORG, PHONE, &c), WABOT_OK);
    wb_conv_clear(E.ctx, &c);
    char *raw = raw_get(CONV_KEY, NULL);
    ck_assert_int_eq(strncmp(raw, SCHEMA_1, strlen(SCHEMA_1)), 0);
    free(raw);

    raw_put(CONV_KEY, SCHEMA_1 "{\"state\":\"menu\"}");
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_ptr_null(c.state); /* corrupt: loads empty */
    ck_assert_int_eq(g_state_warnings, 1);
    wb_conv_clear(E.ctx, &c);
}
END_TEST

START_TEST(test_conv_public_get_reads_schema_0_value)
{
    raw_put(CONV_KEY, "{\"state\":null,\"session\":{\"a\":1}}");
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_str_eq(wabot_conversation_state(c), "");
    ck_assert_str_eq(wabot_conversation_session(c), "{\"a\":1}");
    wabot_conversation_free(c);
}
END_TEST

/* A record from a newer schema (a newer program version shares the
 * store) is neither read nor overwritten. */
START_TEST(test_conv_newer_schema_is_refused_and_kept)
{
    raw_put(CONV_KEY, "#schema 2\n{\"state\":\"x\",\"session\":{}}");
    wb_conv c = {0};
    ck_assert_int_eq(wb_conv_load(E.ctx, ORG, PHONE, &c),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "schema 2"));
    wb_conv_clear(E.ctx, &c);
    char *raw = raw_get(CONV_KEY, NULL);
    ck_assert_int_eq(strncmp(raw, "#schema 2\n", 10), 0);
    free(raw);
}
END_TEST

START_TEST(test_profile_schema_0_value_reads_and_is_rewritten_as_1)
{
    /* The JSON shared stores keep (Redis's begin script reads it); the
     * memory store stands in for one (a local one keeps the compact
     * form: test_profile_on_a_local_store_is_compact). */
    E.storage->process_local = 0;
    raw_put(CUST_KEY, "{\"name\":\"Ada\",\"last_inbound_ms\":5,"
                      "\"opted_out\":true}");
    wabot_customer *cu = NULL;
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, &cu), WABOT_OK);
    ck_assert_str_eq(wabot_customer_name(cu), "Ada");
    ck_assert_int_eq(wabot_customer_opted_out(cu), 1);
    wabot_customer_free(cu);
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 9, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "Ada");
    ck_assert_int_eq(p.opted_out, 1);
    wb_profile_clear(E.ctx, &p);
    char *raw = raw_get(CUST_KEY, NULL);
    ck_assert_int_eq(strncmp(raw, SCHEMA_1, strlen(SCHEMA_1)), 0);
    free(raw);
}
END_TEST

/* On a process-local store a profile in the flat shape is kept in the
 * compact form (customer.c): a tag byte, created_ms, the time since it,
 * the name; read back the same by every reader, through both touch paths,
 * and turned back into JSON when it grows members of other modules. */
START_TEST(test_profile_on_a_local_store_is_compact)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1234, NULL),
                     WABOT_OK);
    size_t len = 0;
    char *raw = NULL;
    ck_assert_int_eq(wabot_storage_get(E.storage, CUST_KEY, &raw, &len, NULL),
                     WABOT_OK);
    ck_assert_uint_eq(len, 1 + 6 + 1 + 3); /* tag, created, +0, "Ada" */
    ck_assert_int_eq((unsigned char)raw[0], 0x12);
    ck_assert_int_eq(memcmp(raw + len - 3, "Ada", 3), 0);
    free(raw);
    /* The flat path: read, touched, written compact again. */
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 987654321, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "Ada");
    ck_assert_int_eq(p.last_inbound_ms, 987654321);
    wb_profile_clear(E.ctx, &p);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_str_eq(wabot_customer_name(c), "Ada");
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), 987654321);
    ck_assert_int_eq(wabot_customer_opted_out(c), 0);
    wabot_customer_free(c);
    int opted = -1;
    int64_t last = -1;
    raw = raw_get(CUST_KEY, NULL);
    ck_assert_int_eq((unsigned char)raw[0] & 0xf0, 0x10);
    ck_assert_int_eq(wb_profile_policy_decode(raw, 1 + 6 + 4 + 3, &opted,
                                              &last),
                     WABOT_OK);
    free(raw);
    ck_assert_int_eq(opted, 0);
    ck_assert_int_eq(last, 987654321);
    /* An opt-out records its source: members the compact form has no
     * room for, so the record is JSON again, and keeps created_ms. */
    ck_assert_int_eq(wabot_customer_set_opted_out(E.ctx, ORG, PHONE, 1),
                     WABOT_OK);
    raw = raw_get(CUST_KEY, NULL);
    ck_assert_int_eq(strncmp(raw, SCHEMA_1, strlen(SCHEMA_1)), 0);
    json_t *j = json_loads(raw + strlen(SCHEMA_1), 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "created_ms")),
                     1234);
    ck_assert_str_eq(json_string_value(json_object_get(j, "opt_source")),
                     "api");
    ck_assert(json_is_true(json_object_get(j, "opted_out")));
    json_decref(j);
    free(raw);
}
END_TEST

/* A nameless customer opted out before any message (last_inbound_ms 0,
 * before created_ms): the time since created_ms is negative and still
 * reads back; a compact record cut short is corrupt, and rewritten. */
/* The send path's profile read (wb_profile_policy_decode) on every shape
 * a profile is stored in: Redis's begin script's JSON and prof_encode's,
 * with the schema marker or without, read without jansson; any other
 * JSON (escapes, other order, spacing, extra members) the general way,
 * to the same answer; what is not a profile refused either way. */
START_TEST(test_profile_policy_decode_reads_every_stored_shape)
{
    static const struct {
        const char *val;
        int rc, opted;
        int64_t last;
    } cases[] = {
        {"#schema 1\n{\"name\":null,\"last_inbound_ms\":42,\"opted_out\":false}",
         WABOT_OK, 0, 42},
        {"#schema 1\n{\"name\":\"Ada\",\"last_inbound_ms\":1796603862160,"
         "\"opted_out\":true,\"created_ms\":1796603862000}",
         WABOT_OK, 1, 1796603862160},
        {"{\"name\":\"Ada\",\"last_inbound_ms\":7,\"opted_out\":false}",
         WABOT_OK, 0, 7},
        {"#schema 1\n{\"created_ms\":5,\"name\":\"Bo\",\"last_inbound_ms\":9,"
         "\"opted_out\":true}",
         WABOT_OK, 1, 9},
        /* the general path: an escape, another order, spacing, members */
        {"#schema 1\n{\"name\":\"a\\/b\",\"last_inbound_ms\":11,"
         "\"opted_out\":true}",
         WABOT_OK, 1, 11},
        {"#schema 1\n{\"opted_out\":true,\"last_inbound_ms\":12}", WABOT_OK, 1,
         12},
        {"#schema 1\n{ \"name\": null, \"last_inbound_ms\": 13, "
         "\"opted_out\": false }",
         WABOT_OK, 0, 13},
        {"#schema 1\n{\"name\":null,\"last_inbound_ms\":14,\"opted_out\":false,"
         "\"opt_source\":\"STOP\"}",
         WABOT_OK, 0, 14},
        /* not profiles */
        {"#schema 1\n{\"name\":null,\"last_inbound_ms\":\"15\","
         "\"opted_out\":false}",
         WABOT_ERR_PARSE, -1, -1},
        {"#schema 1\n{\"name\":null,\"last_inbound_ms\":016,"
         "\"opted_out\":false}",
         WABOT_ERR_PARSE, -1, -1},
        {"#schema 1\n{\"name\":null,\"last_inbound_ms\":17,\"opted_out\":false",
         WABOT_ERR_PARSE, -1, -1},
        {"#schema 1\n[]", WABOT_ERR_PARSE, -1, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int opted = -1;
        int64_t last = -1;
        int rc = wb_profile_policy_decode(cases[i].val, strlen(cases[i].val),
                                          &opted, &last);
        ck_assert_msg(rc == cases[i].rc, "case %zu: %d", i, rc);
        if (rc != WABOT_OK)
            continue;
        ck_assert_msg(opted == cases[i].opted, "case %zu: opted %d", i, opted);
        ck_assert_msg(last == cases[i].last, "case %zu: last %lld", i,
                      (long long)last);
    }
}
END_TEST

START_TEST(test_compact_profile_reads_back_a_time_before_its_creation)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 5000, NULL),
                     WABOT_OK);
    char *raw = raw_get(CUST_KEY, NULL);
    ck_assert_int_eq((unsigned char)raw[0], 0x10);
    free(raw);
    /* created 5000, last 0: the compact form with a negative delta */
    static const char neg[] = "\x11\x88\x13\x00\x00\x00\x00\x8f\x4e";
    ck_assert_int_eq(wabot_storage_set(E.storage, CUST_KEY, neg,
                                       sizeof neg - 1, 0, NULL),
                     WABOT_OK);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, &c), WABOT_OK);
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), 0);
    ck_assert_int_eq(wabot_customer_opted_out(c), 1);
    ck_assert_str_eq(wabot_customer_name(c), "");
    wabot_customer_free(c);
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, NULL, 6000, &p),
                     WABOT_OK);
    ck_assert_int_eq(p.opted_out, 1);
    ck_assert_int_eq(p.last_inbound_ms, 6000);
    wb_profile_clear(E.ctx, &p);
    raw_put(CUST_KEY, "\x12\x88\x13");
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, &c),
                     WABOT_ERR_PARSE);
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Bo", 7000, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "Bo");
    wb_profile_clear(E.ctx, &p);
}
END_TEST

START_TEST(test_profile_has_no_ttl)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1, NULL),
                     WABOT_OK);
    tu_clock_advance(&E.clock, 10LL * 365 * 24 * 60 * 60 * 1000);
    wabot_customer *c = get_customer();
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_opted_out_set_creates_profile)
{
    ck_assert_int_eq(wabot_customer_set_opted_out(E.ctx, ORG, PHONE, 1),
                     WABOT_OK);
    wabot_customer *c = get_customer();
    ck_assert_int_eq(wabot_customer_opted_out(c), 1);
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), 0);
    ck_assert_str_eq(wabot_customer_name(c), "");
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_opted_out_set_and_clear)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_customer_set_opted_out(E.ctx, ORG, PHONE, 7),
                     WABOT_OK);
    wabot_customer *c = get_customer();
    ck_assert_int_eq(wabot_customer_opted_out(c), 1);
    ck_assert_str_eq(wabot_customer_name(c), "Ada");
    wabot_customer_free(c);
    ck_assert_int_eq(wabot_customer_set_opted_out(E.ctx, ORG, PHONE, 0),
                     WABOT_OK);
    c = get_customer();
    ck_assert_int_eq(wabot_customer_opted_out(c), 0);
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), 1000);
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_profile_touch_preserves_opted_out)
{
    ck_assert_int_eq(wabot_customer_set_opted_out(E.ctx, ORG, PHONE, 1),
                     WABOT_OK);
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, &p),
                     WABOT_OK);
    ck_assert_int_eq(p.opted_out, 1);
    wb_profile_clear(E.ctx, &p);
}
END_TEST

START_TEST(test_profile_touch_rewrites_corrupt_profile)
{
    raw_put(CUST_KEY, "{\"name\":42}");
    wb_profile p = {0};
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, &p),
                     WABOT_OK);
    ck_assert_str_eq(p.name, "Ada");
    ck_assert_int_eq(g_state_warnings, 1);
    wb_profile_clear(E.ctx, &p);
    wabot_customer *c = get_customer();
    ck_assert_str_eq(wabot_customer_name(c), "Ada");
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_customer_get_corrupt_is_parse_error)
{
    raw_put(CUST_KEY, "[]");
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(E.ctx, ORG, PHONE, &c),
                     WABOT_ERR_PARSE);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "corrupt"));
}
END_TEST

START_TEST(test_customer_accessors_tolerate_null)
{
    ck_assert_str_eq(wabot_customer_phone(NULL), "");
    ck_assert_str_eq(wabot_customer_name(NULL), "");
    ck_assert_int_eq(wabot_customer_last_inbound_ms(NULL), 0);
    ck_assert_int_eq(wabot_customer_opted_out(NULL), 0);
    wabot_customer_free(NULL);
}
END_TEST

START_TEST(test_customer_snapshot_outlives_context)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1000, NULL),
                     WABOT_OK);
    wabot_customer *c = get_customer();
    tu_env_free(&E);
    ck_assert_str_eq(wabot_customer_name(c), "Ada");
    ck_assert_str_eq(wabot_customer_phone(c), PHONE);
    wabot_customer_free(c);
    env_setup();
}
END_TEST

/* Concurrent touches and an opt-out on one profile: every change lands. */
#define TOUCH_THREADS 8
#define TOUCHES 200

static void *toucher(void *arg)
{
    long id = (long)(intptr_t)arg;
    long errors = 0;
    for (long i = 0; i < TOUCHES; i++) {
        int64_t t = 1000 + i * TOUCH_THREADS + id;
        if (wb_profile_touch(E.ctx, ORG, PHONE, NULL, t, NULL) != WABOT_OK)
            errors++;
    }
    return (void *)(intptr_t)errors;
}

START_TEST(test_concurrent_touches_keep_latest_time_and_opt_out)
{
    ck_assert_int_eq(wb_profile_touch(E.ctx, ORG, PHONE, "Ada", 1, NULL),
                     WABOT_OK);
    pthread_t th[TOUCH_THREADS];
    for (long i = 0; i < TOUCH_THREADS; i++)
        ck_assert_int_eq(
            pthread_create(&th[i], NULL, toucher, (void *)(intptr_t)i), 0);
    ck_assert_int_eq(wabot_customer_set_opted_out(E.ctx, ORG, PHONE, 1),
                     WABOT_OK);
    for (int i = 0; i < TOUCH_THREADS; i++) {
        void *errors;
        pthread_join(th[i], &errors);
        ck_assert_int_eq((intptr_t)errors, 0);
    }
    wabot_customer *c = get_customer();
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c),
                     1000 + (TOUCHES - 1) * TOUCH_THREADS +
                         (TOUCH_THREADS - 1));
    ck_assert_int_eq(wabot_customer_opted_out(c), 1);
    ck_assert_str_eq(wabot_customer_name(c), "Ada");
    wabot_customer_free(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Lock table                                                          */

#define LOCK_THREADS 8
#define LOCK_ROUNDS 2000

typedef struct lock_run {
    wb_locktab *tab;
    int inside;      /* threads inside the critical section (atomic) */
    int max_inside;  /* highest value seen (atomic) */
    long total;      /* plain increments, protected only by the lock */
} lock_run;

static void *lock_worker(void *arg)
{
    lock_run *r = arg;
    for (int i = 0; i < LOCK_ROUNDS; i++) {
        if (wb_lock(r->tab, "org\x1f+1555") != WABOT_OK)
            return (void *)1;
        int n = __atomic_add_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
        int seen = __atomic_load_n(&r->max_inside, __ATOMIC_SEQ_CST);
        while (n > seen &&
               !__atomic_compare_exchange_n(&r->max_inside, &seen, n, 0,
                                            __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST))
            ;
        r->total++; /* a lost update here would show a broken lock */
        __atomic_sub_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
        wb_unlock(r->tab, "org\x1f+1555");
    }
    return NULL;
}

START_TEST(test_lock_serialises_holders_of_one_key)
{
    lock_run r = {0};
    r.tab = wb_locktab_new(NULL);
    ck_assert_ptr_nonnull(r.tab);
    pthread_t th[LOCK_THREADS];
    for (int i = 0; i < LOCK_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, lock_worker, &r), 0);
    for (int i = 0; i < LOCK_THREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        ck_assert_ptr_null(rv);
    }
    ck_assert_int_eq(r.max_inside, 1);
    ck_assert_int_eq(r.total, (long)LOCK_THREADS * LOCK_ROUNDS);
    wb_locktab_free(r.tab);
}
END_TEST

typedef struct other_key {
    wb_locktab *tab;
    int done;
} other_key;

static void *lock_other_key(void *arg)
{
    other_key *o = arg;
    if (wb_lock(o->tab, "b") == WABOT_OK) {
        wb_unlock(o->tab, "b");
        o->done = 1;
    }
    return NULL;
}

START_TEST(test_lock_on_other_key_does_not_block)
{
    other_key o = {wb_locktab_new(NULL), 0};
    ck_assert_ptr_nonnull(o.tab);
    ck_assert_int_eq(wb_lock(o.tab, "a"), WABOT_OK);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, lock_other_key, &o), 0);
    /* If "b" waited for "a", this join would never return (timeout). */
    pthread_join(th, NULL);
    ck_assert_int_eq(o.done, 1);
    wb_unlock(o.tab, "a");
    wb_locktab_free(o.tab);
}
END_TEST

/* An allocator that counts live blocks. */
static int g_live_blocks;
static void *count_malloc(size_t n, void *ud)
{
    (void)ud;
    __atomic_add_fetch(&g_live_blocks, 1, __ATOMIC_SEQ_CST);
    return malloc(n);
}
static void *count_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    if (p == NULL)
        __atomic_add_fetch(&g_live_blocks, 1, __ATOMIC_SEQ_CST);
    return realloc(p, n);
}
static void count_free(void *p, void *ud)
{
    (void)ud;
    __atomic_sub_fetch(&g_live_blocks, 1, __ATOMIC_SEQ_CST);
    free(p);
}

START_TEST(test_lock_entry_freed_when_last_holder_unlocks)
{
    g_live_blocks = 0;
    wabot_allocator a = {WABOT_ALLOCATOR_VERSION, count_malloc,
                         count_realloc, count_free, NULL};
    wb_locktab *t = wb_locktab_new(&a);
    ck_assert_ptr_nonnull(t);
    memset(&a, 0, sizeof a); /* the table keeps its own copy */
    int base = g_live_blocks;
    ck_assert_int_eq(wb_lock(t, "x"), WABOT_OK);
    ck_assert_int_eq(wb_lock(t, "y"), WABOT_OK);
    ck_assert_int_eq(g_live_blocks, base + 2);
    wb_unlock(t, "x");
    ck_assert_int_eq(g_live_blocks, base + 1);
    wb_unlock(t, "y");
    ck_assert_int_eq(g_live_blocks, base);
    wb_unlock(t, "y"); /* not held: ignored */
    ck_assert_int_eq(wb_lock(t, "x"), WABOT_OK); /* lockable again */
    wb_unlock(t, "x");
    wb_locktab_free(t);
    ck_assert_int_eq(g_live_blocks, 0);
}
END_TEST

/* Keys spread over the table's shards: each is held and released on its
 * own, and keys left locked are freed with the table. */
START_TEST(test_lock_many_keys_held_at_once_across_shards)
{
    g_live_blocks = 0;
    wabot_allocator a = {WABOT_ALLOCATOR_VERSION, count_malloc,
                         count_realloc, count_free, NULL};
    wb_locktab *t = wb_locktab_new(&a);
    ck_assert_ptr_nonnull(t);
    int base = g_live_blocks;
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "org\x1f+1555%04d", i);
        ck_assert_int_eq(wb_lock(t, key), WABOT_OK);
    }
    ck_assert_int_eq(g_live_blocks, base + 200);
    for (int i = 0; i < 200; i += 2) {
        snprintf(key, sizeof key, "org\x1f+1555%04d", i);
        wb_unlock(t, key);
    }
    ck_assert_int_eq(g_live_blocks, base + 100);
    for (int i = 0; i < 200; i += 2) { /* released ones are free again */
        snprintf(key, sizeof key, "org\x1f+1555%04d", i);
        ck_assert_int_eq(wb_lock(t, key), WABOT_OK);
        wb_unlock(t, key);
    }
    ck_assert_int_eq(g_live_blocks, base + 100);
    wb_locktab_free(t); /* the 100 still held go with it */
    ck_assert_int_eq(g_live_blocks, 0);
}
END_TEST

START_TEST(test_lock_rejects_null_arguments)
{
    wb_locktab *t = wb_locktab_new(NULL);
    ck_assert_int_eq(wb_lock(NULL, "k"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_lock(t, NULL), WABOT_ERR_INVAL);
    wb_unlock(t, NULL);
    wb_unlock(NULL, "k");
    wb_locktab_free(t);
    wb_locktab_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ */

int main(void)
{
    Suite *s = suite_create("state");

    TCase *tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, env_setup, env_teardown);
    tcase_add_test(tc, test_key_builders_format_keys);
    tcase_add_test(tc, test_key_builders_return_null_when_too_small);
    tcase_add_test(tc, test_ids_with_colons_are_accepted);
    tcase_add_test(tc, test_empty_or_control_character_ids_are_inval);
    tcase_add_test(tc, test_ids_too_long_for_a_key_are_inval);
    tcase_add_test(tc, test_null_arguments_are_inval);
    suite_add_tcase(s, tc);

    tc = tcase_create("conversation");
    tcase_add_checked_fixture(tc, env_setup, env_teardown);
    tcase_add_test(tc, test_conv_load_absent_is_empty_with_version_zero);
    tcase_add_test(tc, test_conv_save_then_load_round_trips);
    tcase_add_test(tc, test_conv_stored_as_state_and_session_json);
    tcase_add_test(tc, test_conv_on_a_local_store_is_compact);
    tcase_add_test(tc, test_conv_schema_0_value_is_upgraded_on_read);
    tcase_add_test(tc, test_conv_public_get_reads_schema_0_value);
    tcase_add_test(tc, test_conv_newer_schema_is_refused_and_kept);
    tcase_add_test(tc, test_conv_without_state_saves_and_loads_as_none);
    tcase_add_test(tc, test_conv_save_with_stale_version_conflicts);
    tcase_add_test(tc, test_conv_save_updates_version_for_next_save);
    tcase_add_test(tc, test_conv_expires_after_state_ttl);
    tcase_add_test(tc, test_conv_with_zero_state_ttl_never_expires);
    tcase_add_test(tc,
                   test_conv_corrupt_value_loads_empty_keeps_version_and_warns);
    tcase_add_test(tc, test_conv_save_after_corrupt_load_overwrites_it);
    tcase_add_test(
        tc, test_conv_schema1_record_duplicate_or_trailing_member_is_corrupt);
    tcase_add_test(
        tc, test_conv_schema1_record_in_other_member_order_or_spacing_loads);
    tcase_add_test(tc,
                   test_conv_state_with_quotes_controls_and_utf8_round_trips);
    tcase_add_test(tc, test_conv_state_not_utf8_is_refused);
    tcase_add_test(tc, test_conversation_get_absent_is_not_found);
    tcase_add_test(tc, test_conversation_get_returns_snapshot);
    tcase_add_test(tc, test_conversation_snapshot_outlives_context);
    tcase_add_test(tc, test_conversation_get_corrupt_is_parse_error);
    tcase_add_test(tc, test_conversation_accessors_tolerate_null);
    tcase_add_test(tc, test_conversation_reset_deletes_it);
    tcase_add_test(tc, test_conversation_reset_makes_inflight_save_conflict);
    suite_add_tcase(s, tc);

    tc = tcase_create("customer");
    tcase_add_checked_fixture(tc, env_setup, env_teardown);
    tcase_add_test(tc, test_customer_get_absent_is_not_found);
    tcase_add_test(tc, test_profile_touch_creates_profile);
    tcase_add_test(tc, test_profile_touch_without_name_creates_nameless_profile);
    tcase_add_test(tc, test_profile_keeps_name_when_later_touch_has_none);
    tcase_add_test(tc, test_profile_touch_replaces_name_when_given);
    tcase_add_test(tc, test_profile_last_inbound_only_moves_forward);
    tcase_add_test(tc, test_profile_unchanged_touch_does_not_write);
    tcase_add_test(tc, test_profile_touch_rejects_negative_time);
    tcase_add_test(tc, test_profile_touch_ignores_invalid_utf8_name);
    tcase_add_test(tc, test_profile_stored_as_json);
    tcase_add_test(tc, test_profile_touch_writes_the_same_bytes_by_either_path);
    tcase_add_test(tc, test_profile_touch_reads_the_flat_shape_and_only_it);
    tcase_add_test(tc, test_profile_schema_0_value_reads_and_is_rewritten_as_1);
    tcase_add_test(tc, test_profile_has_no_ttl);
    tcase_add_test(tc, test_profile_on_a_local_store_is_compact);
    tcase_add_test(tc, test_profile_policy_decode_reads_every_stored_shape);
    tcase_add_test(tc,
                   test_compact_profile_reads_back_a_time_before_its_creation);
    tcase_add_test(tc, test_opted_out_set_creates_profile);
    tcase_add_test(tc, test_opted_out_set_and_clear);
    tcase_add_test(tc, test_profile_touch_preserves_opted_out);
    tcase_add_test(tc, test_profile_touch_rewrites_corrupt_profile);
    tcase_add_test(tc, test_customer_get_corrupt_is_parse_error);
    tcase_add_test(tc, test_customer_accessors_tolerate_null);
    tcase_add_test(tc, test_customer_snapshot_outlives_context);
    tcase_add_test(tc, test_concurrent_touches_keep_latest_time_and_opt_out);
    suite_add_tcase(s, tc);

    tc = tcase_create("locktab");
    tcase_add_test(tc, test_lock_serialises_holders_of_one_key);
    tcase_add_test(tc, test_lock_on_other_key_does_not_block);
    tcase_add_test(tc, test_lock_entry_freed_when_last_holder_unlocks);
    tcase_add_test(tc, test_lock_rejects_null_arguments);
    tcase_add_test(tc, test_lock_many_keys_held_at_once_across_shards);
    suite_add_tcase(s, tc);

    return tu_run_suite(s);
}
