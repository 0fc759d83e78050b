/* Conversation state and session values inside a turn. Every change marks
 * the turn dirty; the pipeline saves only dirty conversations. */
#include <stdlib.h>
#include <string.h>

#include "json_alloc.h"
#include "pipeline.h"
#include "wabot/options.h"

static int ensure_session(wabot_turn *t)
{
    if (!t->session && !(t->session = json_object()))
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

static int bad_key(const wabot_turn *t, const char *key)
{
    return !t || !key || !*key;
}

const char *wabot_turn_state(const wabot_turn *t)
{
    return t && t->state ? t->state : "";
}

int wabot_turn_set_state(wabot_turn *t, const char *name)
{
    if (!t)
        return WABOT_ERR_INVAL;
    if (name && strlen(name) > 128)
        return wb_error(t->ctx, WABOT_ERR_TOO_LARGE,
                        "state name longer than 128 bytes");
    const char *cur = wabot_turn_state(t);
    const char *next = name ? name : "";
    if (strcmp(cur, next) == 0)
        return WABOT_OK;
    int rc = wb_str_replace(&t->ctx->alloc, &t->state, *next ? next : NULL);
    if (rc != WABOT_OK)
        return wb_error(t->ctx, rc, "out of memory");
    t->dirty = 1;
    return WABOT_OK;
}

const char *wabot_turn_session_str(const wabot_turn *t, const char *key)
{
    if (bad_key(t, key) || !t->session)
        return NULL;
    return json_string_value(json_object_get(t->session, key));
}

int64_t wabot_turn_session_int(const wabot_turn *t, const char *key,
                               int64_t dflt)
{
    if (bad_key(t, key) || !t->session)
        return dflt;
    json_t *v = json_object_get(t->session, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* Takes the reference to v. */
static int session_put(wabot_turn *t, const char *key, json_t *v)
{
    if (!v)
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
    if (ensure_session(t) != WABOT_OK ||
        json_object_set_new(t->session, key, v) != 0)
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
    t->dirty = 1;
    return WABOT_OK;
}

int wabot_turn_session_set_str(wabot_turn *t, const char *key,
                               const char *value)
{
    if (bad_key(t, key) || !value)
        return t ? wb_error(t->ctx, WABOT_ERR_INVAL,
                            "session key and value must not be NULL/empty")
                 : WABOT_ERR_INVAL;
    json_t *v = json_string(value);
    if (!v)
        return wb_error(t->ctx, WABOT_ERR_INVAL,
                        "session value is not valid UTF-8");
    return session_put(t, key, v);
}

int wabot_turn_session_set_int(wabot_turn *t, const char *key, int64_t value)
{
    if (bad_key(t, key))
        return t ? wb_error(t->ctx, WABOT_ERR_INVAL, "empty session key")
                 : WABOT_ERR_INVAL;
    return session_put(t, key, json_integer((json_int_t)value));
}

int wabot_turn_session_set_json(wabot_turn *t, const char *key,
                                const char *json, size_t len)
{
    if (bad_key(t, key) || !json)
        return t ? wb_error(t->ctx, WABOT_ERR_INVAL,
                            "session key and JSON must not be NULL/empty")
                 : WABOT_ERR_INVAL;
    json_error_t err;
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                           &err);
    if (!v)
        return wb_error(t->ctx, WABOT_ERR_PARSE, "invalid JSON: %s",
                        err.text);
    return session_put(t, key, v);
}

int wabot_turn_session_del(wabot_turn *t, const char *key)
{
    if (bad_key(t, key))
        return WABOT_ERR_INVAL;
    if (!t->session || json_object_del(t->session, key) != 0)
        return WABOT_ERR_NOT_FOUND;
    t->dirty = 1;
    return WABOT_OK;
}

int wabot_turn_session_clear(wabot_turn *t)
{
    if (!t)
        return WABOT_ERR_INVAL;
    if (t->session && json_object_size(t->session) > 0) {
        json_object_clear(t->session);
        t->dirty = 1;
    }
    return WABOT_OK;
}

char *wabot_turn_session_json(const wabot_turn *t)
{
    if (!t)
        return NULL;
    char *s = t->session ? json_dumps(t->session, JSON_COMPACT | JSON_SORT_KEYS)
                         : NULL;
    char *copy = wb_strdup(&t->ctx->alloc, s ? s : "{}");
    wb_json_free(s); /* json_dumps output */
    return copy;
}

/* ------------------------------------------------------------------ */
/* Options seen from a turn                                            */

int wabot_turn_option_int(const wabot_turn *t, const char *name,
                          int64_t *value)
{
    if (!t)
        return WABOT_ERR_INVAL;
    return wabot_ctx_option_int(t->ctx, t->org, name, value);
}

const char *wabot_turn_option_str(const wabot_turn *t, const char *name)
{
    return t ? wabot_ctx_option_str(t->ctx, t->org, name) : NULL;
}
