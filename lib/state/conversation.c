/* Conversations: {"state":"<name>","session":{...}} at
 * "conv:{<org>:<customer>}" (the braces are the customer's Redis hash tag:
 * every key a turn commits shares it), written with compare-and-set on the
 * storage version so that concurrent writers (other threads, other
 * processes) can never silently overwrite each other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wabot/state.h"
#include "state.h"
#include "storage.h"
#include "strbuf.h"

#define MODULE "state"

struct wabot_conversation {
    char *state;   /* "" when none */
    char *session; /* compact JSON object text */
    uint64_t version;
};

char *wb_conv_key(char *buf, size_t n, const char *org, const char *customer)
{
    if (buf == NULL || org == NULL || customer == NULL)
        return NULL;
    int w = WB_JOIN(buf, n, "conv:{", org, ":", customer, "}");
    return w >= 0 && (size_t)w < n ? buf : NULL;
}

/* Validate the identifiers and build the key into key[WB_STORAGE_KEY_MAX+1].
 * Records a detail message on failure. */
static int conv_key(const wabot_ctx *ctx, const char *org,
                    const char *customer, char *key)
{
    if (!wb_storage_key_part_ok(org))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "organisation must be non-empty, without control "
                        "characters");
    if (!wb_storage_key_part_ok(customer))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "customer must be non-empty, without control "
                        "characters");
    if (wb_conv_key(key, WB_STORAGE_KEY_MAX + 1, org, customer) == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "organisation and customer are too long for a "
                        "storage key (%d bytes)",
                        WB_STORAGE_KEY_MAX);
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static int dump_cb(const char *buf, size_t size, void *data)
{
    wb_strbuf_append(data, buf, size);
    return 0;
}

/* Compact JSON text of `json` allocated with `a` (NULL = libc). */
static char *json_text(const wabot_allocator *a, const json_t *json,
                       size_t *len)
{
    wb_strbuf b;
    wb_strbuf_init(&b, a);
    if (json_dump_callback(json, dump_cb, &b, JSON_COMPACT) != 0) {
        wb_strbuf_free(&b);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return wb_strbuf_take(&b);
}

/* ------------------------------------------------------------------ */
/* Schema                                                              */

/* Schema 0 (before storage v2, no marker): {"state":..., "session":...}
 * where either member may be missing or null. Schema 1: both always
 * present, state a string ("" = none), session an object. */
#define CONV_SCHEMA 1

/* The compact form on a process-local store (memory): no other program
 * reads the record there, so it is CONV_TAG, the state's bytes, a NUL and
 * the session's JSON: 9 bytes for a session {"n":1} and no state instead
 * of 40 (issue 12: a conversation per customer). No schema marker: it
 * reads as schema 0, whose upgrade passes it on as it is; neither JSON nor
 * the marker starts with the tag. Shared stores keep the JSON. */
#define CONV_TAG 0x10

static int is_compact(const char *val, size_t len)
{
    return len > 0 && (unsigned char)val[0] == CONV_TAG;
}

static int conv_upgrade(void *ud, uint32_t from, const char *val, size_t len,
                        wabot_buf *out)
{
    (void)ud;
    (void)from; /* only 0 -> 1 exists */
    if (is_compact(val, len))
        return wabot_buf_set(out, val, len);
    json_t *r = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = WABOT_ERR_PARSE;
    if (r == NULL || !json_is_object(r))
        goto done;
    json_t *st = json_object_get(r, "state");
    json_t *se = json_object_get(r, "session");
    if ((st != NULL && !json_is_string(st) && !json_is_null(st)) ||
        (se != NULL && !json_is_object(se) && !json_is_null(se)))
        goto done;
    rc = WABOT_ERR_NOMEM;
    if ((!json_is_string(st) &&
         json_object_set_new(r, "state", json_string("")) != 0) ||
        (!json_is_object(se) &&
         json_object_set_new(r, "session", json_object()) != 0))
        goto done;
    size_t n = 0;
    char *text = json_text(NULL, r, &n);
    if (text != NULL) {
        rc = wabot_buf_set(out, text, n);
        free(text);
    }
done:
    json_decref(r);
    return rc;
}

static const wabot_schema conv_schema = {WABOT_SCHEMA_VERSION, CONV_SCHEMA,
                                         conv_upgrade, NULL};

/* The length of a state name written as it stands: printable ASCII
 * without quote or backslash (what a state name is in practice), which is
 * its own JSON literal and valid UTF-8. Stops at the first other byte. */
static size_t plain_run(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' &&
           s[i] != '\\')
        i++;
    return i;
}

#define STATE_HEAD "{\"state\":\""
#define SESSION_HEAD "\",\"session\":"

/* conv_decode() of the shape wb_conv_encode() writes, with a plain state
 * name: only the session goes through jansson, the state is cut out of
 * val in place. 0 if val is not in that shape (the general decode then
 * decides; a duplicate member, say, leaves the session slice with trailing
 * text, which jansson refuses). */
static int conv_decode_own(char *val, size_t len, json_t **root,
                           const char **state, json_t **session)
{
    const size_t sh = sizeof STATE_HEAD - 1, eh = sizeof SESSION_HEAD - 1;
    if (len < sh || memcmp(val, STATE_HEAD, sh) != 0)
        return 0;
    size_t n = plain_run(val + sh, len - sh);
    char *tail = val + sh + n;
    size_t rest = len - sh - n;
    if (rest < eh + 1 || memcmp(tail, SESSION_HEAD, eh) != 0 ||
        val[len - 1] != '}')
        return 0;
    json_t *se = json_loadb(tail + eh, rest - eh - 1, JSON_REJECT_DUPLICATES,
                            NULL);
    if (!json_is_object(se)) {
        json_decref(se);
        return 0;
    }
    *tail = '\0'; /* the state's closing quote */
    *state = n > 0 ? val + sh : NULL;
    *session = *root = se;
    return 1;
}

/* Parse a stored conversation (schema CONV_SCHEMA). On success *state is
 * NULL or a non-empty string borrowed from *root or from val (which this
 * may change: the caller frees val after using *state) and *session an
 * object borrowed from *root; the caller decrefs *root. WABOT_ERR_PARSE if
 * the value is not a conversation. */
static int conv_decode(char *val, size_t len, json_t **root,
                       const char **state, json_t **session)
{
    if (is_compact(val, len)) {
        char *nul = memchr(val + 1, '\0', len - 1);
        json_t *se = nul != NULL ? json_loadb(nul + 1,
                                              len - (size_t)(nul + 1 - val),
                                              JSON_REJECT_DUPLICATES, NULL)
                                 : NULL;
        if (!json_is_object(se)) {
            json_decref(se);
            return WABOT_ERR_PARSE;
        }
        *state = nul > val + 1 ? val + 1 : NULL;
        *session = *root = se;
        return WABOT_OK;
    }
    if (conv_decode_own(val, len, root, state, session))
        return WABOT_OK;
    json_t *r = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL);
    if (r == NULL || !json_is_object(r))
        goto corrupt;
    json_t *st = json_object_get(r, "state");
    json_t *se = json_object_get(r, "session");
    if (!json_is_string(st) || !json_is_object(se))
        goto corrupt;
    *state = json_string_length(st) > 0 ? json_string_value(st) : NULL;
    *session = se;
    *root = r;
    return WABOT_OK;
corrupt:
    json_decref(r);
    return WABOT_ERR_PARSE;
}

/* ------------------------------------------------------------------ */
/* Internal API                                                        */

static int load_empty(wb_conv *out)
{
    out->state = NULL;
    out->session = json_object();
    return out->session != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* The rest of a load once the stored record is read: rc is the read's
 * status (NOT_FOUND: absent), val/len its payload at CONV_SCHEMA. */
static int conv_loaded(wabot_ctx *ctx, const char *key, int rc, char *val,
                       size_t len, uint64_t version, wb_conv *out)
{
    if (rc == WABOT_ERR_NOT_FOUND)
        return load_empty(out);
    if (rc != WABOT_OK && rc != WABOT_ERR_PARSE)
        return wb_error(ctx, rc, "loading conversation %s: %s %s", key,
                        wabot_strerror(rc),
                        wabot_storage_errmsg(ctx->storage));

    json_t *root = NULL, *session = NULL;
    const char *state = NULL;
    if (rc == WABOT_OK)
        rc = conv_decode(val, len, &root, &state, &session);
    /* Keep the stored version in every case: the next save then replaces
     * a corrupt value instead of failing on it forever. */
    out->version = version;
    if (rc == WABOT_ERR_PARSE) {
        free(val);
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "conversation %s is corrupt; starting it afresh", key);
        return load_empty(out);
    }
    out->session = session != NULL ? json_incref(session) : json_object();
    out->state = state != NULL ? wb_strdup(&ctx->alloc, state) : NULL;
    free(val); /* after the copy: state may point into it */
    json_decref(root);
    if (out->session == NULL || (state != NULL && out->state == NULL)) {
        wb_conv_clear(ctx, out);
        return wb_error(ctx, WABOT_ERR_NOMEM, "loading conversation");
    }
    return WABOT_OK;
}

static int conv_load_start(wabot_ctx *ctx, const char *org,
                           const char *customer, wb_conv *out, char *key)
{
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "wb_conv_load: NULL argument");
    out->state = NULL;
    out->session = NULL;
    out->version = 0;
    return conv_key(ctx, org, customer, key);
}

int wb_conv_load(wabot_ctx *ctx, const char *org, const char *customer,
                 wb_conv *out)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = conv_load_start(ctx, org, customer, out, key);
    if (rc != WABOT_OK)
        return rc;
    char *val = NULL;
    size_t len = 0;
    uint64_t version = 0;
    rc = wabot_storage_get_record(ctx->storage, key, &conv_schema, &val,
                                  &len, &version);
    return conv_loaded(ctx, key, rc, val, len, version, out);
}

int wb_conv_load_stored(wabot_ctx *ctx, const char *org,
                        const char *customer, const char *record,
                        size_t rlen, uint64_t version, wb_conv *out)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = conv_load_start(ctx, org, customer, out, key);
    if (rc != WABOT_OK)
        return rc;
    char *val = NULL;
    size_t len = 0;
    uint32_t stored = 0;
    rc = record != NULL ? wabot_storage_record_decode(&conv_schema, record,
                                                      rlen, &val, &len,
                                                      &stored)
                        : WABOT_ERR_NOT_FOUND;
    if (rc == WABOT_ERR_UNSUPPORTED)
        return wb_error(ctx, rc, "conversation %s was written with schema "
                        "%u, newer than %u", key, (unsigned)stored,
                        (unsigned)CONV_SCHEMA);
    return conv_loaded(ctx, key, rc, val, len, version, out);
}

/* What json_string() accepts, without allocating for the usual ASCII
 * name. */
static int state_is_utf8(const char *s)
{
    size_t n = strlen(s);
    if (plain_run(s, n) == n)
        return 1;
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

int wb_conv_encode(wabot_ctx *ctx, const char *org, const char *customer,
                   const wb_conv *c, char *key, char **record, size_t *len)
{
    int rc = conv_key(ctx, org, customer, key);
    if (rc != WABOT_OK)
        return rc;
    if (c->session != NULL && !json_is_object(c->session))
        return wb_error(ctx, WABOT_ERR_INVAL, "session is not an object");
    const char *state = c->state != NULL ? c->state : "";
    if (!state_is_utf8(state))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "state name is not valid UTF-8");
    /* {"state":...,"session":...} written around jansson's dump of the
     * session alone (what dumping the whole object gives, without
     * building it: this runs per turn). */
    int compact = ctx->storage->process_local;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    if (compact) {
        wb_strbuf_putc(&b, CONV_TAG);
        wb_strbuf_append(&b, state, strlen(state) + 1); /* with its NUL */
    } else {
        wb_strbuf_puts(&b, "{\"state\":");
        wb_strbuf_json_str(&b, state);
        wb_strbuf_puts(&b, ",\"session\":");
    }
    if (c->session == NULL)
        wb_strbuf_puts(&b, "{}");
    else if (json_dump_callback(c->session, dump_cb, &b, JSON_COMPACT) != 0)
        b.oom = 1;
    if (!compact)
        wb_strbuf_putc(&b, '}');
    if (b.oom) {
        wb_strbuf_free(&b);
        return wb_error(ctx, WABOT_ERR_NOMEM, "encoding conversation %s",
                        key);
    }
    if (compact) {
        /* libc memory, as wabot_storage_record_encode() gives */
        *record = malloc(b.len + 1);
        if (*record != NULL) {
            memcpy(*record, b.data, b.len);
            (*record)[b.len] = '\0';
            *len = b.len;
        }
        wb_strbuf_free(&b);
        return *record != NULL ? WABOT_OK
                               : wb_error(ctx, WABOT_ERR_NOMEM,
                                          "encoding conversation %s", key);
    }
    rc = wabot_storage_record_encode(CONV_SCHEMA, b.data, b.len, record, len);
    wb_strbuf_free(&b);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "encoding conversation %s", key);
    return WABOT_OK;
}

int wb_conv_save(wabot_ctx *ctx, const char *org, const char *customer,
                 wb_conv *c)
{
    if (ctx == NULL || c == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "wb_conv_save: NULL argument");
    char key[WB_STORAGE_KEY_MAX + 1];
    char *record = NULL;
    size_t rlen = 0;
    int rc = wb_conv_encode(ctx, org, customer, c, key, &record, &rlen);
    if (rc != WABOT_OK)
        return rc;
    uint64_t version = 0;
    rc = wabot_storage_cas(ctx->storage, key, c->version, record, rlen,
                           ctx->cfg.state_ttl_ms, &version);
    wabot_free(record);
    if (rc == WABOT_OK) {
        c->version = version;
        return WABOT_OK;
    }
    if (rc == WABOT_ERR_CONFLICT)
        return wb_error(ctx, rc, "conversation %s changed since it was "
                                 "loaded", key);
    return wb_error(ctx, rc, "saving conversation %s: %s", key,
                    wabot_strerror(rc));
}

void wb_conv_clear(wabot_ctx *ctx, wb_conv *c)
{
    if (c == NULL)
        return;
    if (ctx != NULL)
        wb_free(&ctx->alloc, c->state);
    json_decref(c->session);
    c->state = NULL;
    c->session = NULL;
    c->version = 0;
}

/* ------------------------------------------------------------------ */
/* Public snapshots                                                    */

void wabot_conversation_free(wabot_conversation *c)
{
    if (c == NULL)
        return;
    free(c->state);
    free(c->session);
    free(c);
}

static wabot_conversation *snapshot(const char *state, const json_t *session,
                                    uint64_t version)
{
    wabot_conversation *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->version = version;
    c->state = strdup(state != NULL ? state : "");
    if (session != NULL)
        c->session = json_text(NULL, session, NULL);
    else
        c->session = strdup("{}");
    if (c->state == NULL || c->session == NULL) {
        wabot_conversation_free(c);
        return NULL;
    }
    return c;
}

int wabot_conversation_get(wabot_ctx *ctx, const char *org,
                           const char *customer, wabot_conversation **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_conversation_get: NULL argument");
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = conv_key(ctx, org, customer, key);
    if (rc != WABOT_OK)
        return rc;

    char *val;
    size_t len;
    uint64_t version;
    rc = wabot_storage_get_record(ctx->storage, key, &conv_schema, &val,
                                  &len, &version);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "no conversation %s", key);
    if (rc != WABOT_OK && rc != WABOT_ERR_PARSE)
        return wb_error(ctx, rc, "reading conversation %s: %s %s", key,
                        wabot_strerror(rc),
                        wabot_storage_errmsg(ctx->storage));

    json_t *root = NULL, *session = NULL;
    const char *state = NULL;
    if (rc == WABOT_OK)
        rc = conv_decode(val, len, &root, &state, &session);
    if (rc == WABOT_ERR_PARSE) {
        free(val);
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "conversation %s is corrupt",
               key);
        return wb_error(ctx, rc, "stored conversation %s is corrupt; the "
                                 "next turn starts it afresh", key);
    }
    *out = snapshot(state, session, version);
    free(val); /* after the copy: state may point into it */
    json_decref(root);
    if (*out == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "reading conversation %s", key);
    return WABOT_OK;
}

const char *wabot_conversation_state(const wabot_conversation *c)
{
    return c != NULL ? c->state : "";
}

const char *wabot_conversation_session(const wabot_conversation *c)
{
    return c != NULL ? c->session : "{}";
}

uint64_t wabot_conversation_version(const wabot_conversation *c)
{
    return c != NULL ? c->version : 0;
}

int wabot_conversation_reset(wabot_ctx *ctx, const char *org,
                             const char *customer)
{
    if (ctx == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_conversation_reset: NULL context");
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = conv_key(ctx, org, customer, key);
    if (rc != WABOT_OK)
        return rc;
    /* No lock needed: a turn in flight saves with CAS against the version
     * it loaded, which no longer exists, so it re-runs on the empty
     * conversation. */
    rc = wabot_storage_del(ctx->storage, key);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "no conversation %s", key);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "deleting conversation %s: %s", key,
                        wabot_strerror(rc));
    return WABOT_OK;
}
