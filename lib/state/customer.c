/* Customer profiles: {"name":...,"last_inbound_ms":...,"opted_out":bool,
 * ...} at "cust:{<org>:<phone>}", without expiry (the opt-out must never be
 * forgotten). Every change is a read-modify-write retried on a version
 * conflict, so concurrent touches from several processes all land. The
 * campaign module's fields (tags, attributes, locale, ...: doc/campaigns.md)
 * live in the same record; every change here keeps the members it does
 * not know, so an inbound touch never loses them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wabot/state.h"
#include "state.h"
#include "storage.h"
#include "strbuf.h"

#define MODULE "state"
/* CAS attempts before giving up with WABOT_ERR_CONFLICT: only reached
 * under pathological contention on one customer. */
#define PROFILE_MAX_TRIES 32

struct wabot_customer {
    char *phone;
    char *name; /* "" when unknown */
    int64_t last_inbound_ms;
    int opted_out;
};

/* A profile while it is being read and changed; name is libc memory. */
typedef struct prof {
    char *name; /* NULL = unknown */
    int64_t last_inbound_ms;
    int opted_out;
    json_t *doc; /* the whole stored object (other members kept); NULL */
} prof;

char *wb_cust_key(char *buf, size_t n, const char *org, const char *phone)
{
    if (buf == NULL || org == NULL || phone == NULL)
        return NULL;
    int w = WB_JOIN(buf, n, "cust:{", org, ":", phone, "}");
    return w >= 0 && (size_t)w < n ? buf : NULL;
}

static int cust_key(const wabot_ctx *ctx, const char *org, const char *phone,
                    char *key)
{
    if (!wb_storage_key_part_ok(org))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "organisation must be non-empty, without control "
                        "characters");
    if (!wb_storage_key_part_ok(phone))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "phone must be non-empty, without control "
                        "characters");
    if (wb_cust_key(key, WB_STORAGE_KEY_MAX + 1, org, phone) == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "organisation and phone are too long for a storage "
                        "key (%d bytes)",
                        WB_STORAGE_KEY_MAX);
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Schema                                                              */

/* Schema 1 is schema 0 (before storage v2) with the marker: the JSON did
 * not change, so there is nothing to upgrade. */
#define PROFILE_SCHEMA 1
static const wabot_schema profile_schema = {WABOT_SCHEMA_VERSION,
                                            PROFILE_SCHEMA, NULL, NULL};

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static void prof_clear(prof *p)
{
    free(p->name);
    json_decref(p->doc);
    memset(p, 0, sizeof *p);
}

/* WABOT_OK, WABOT_ERR_PARSE (not a profile), WABOT_ERR_NOMEM. */
/* The compact form on process-local stores (below). */
static int is_compact(const char *val, size_t len);
static int prof_decode_compact(const char *val, size_t len, prof *p);

static int prof_decode(const char *val, size_t len, prof *p)
{
    memset(p, 0, sizeof *p);
    if (is_compact(val, len))
        return prof_decode_compact(val, len, p);
    json_t *root = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = WABOT_ERR_PARSE;
    if (root == NULL || !json_is_object(root))
        goto out;
    json_t *name = json_object_get(root, "name");
    json_t *last = json_object_get(root, "last_inbound_ms");
    json_t *opted = json_object_get(root, "opted_out");
    if ((name != NULL && !json_is_string(name) && !json_is_null(name)) ||
        (last != NULL && !json_is_integer(last)) ||
        (opted != NULL && !json_is_boolean(opted)))
        goto out;
    if (json_is_string(name) && json_string_length(name) > 0) {
        p->name = strdup(json_string_value(name));
        if (p->name == NULL) {
            rc = WABOT_ERR_NOMEM;
            goto out;
        }
    }
    p->last_inbound_ms = last != NULL ? json_integer_value(last) : 0;
    if (p->last_inbound_ms < 0)
        p->last_inbound_ms = 0;
    p->opted_out = json_is_true(opted);
    p->doc = json_incref(root);
    rc = WABOT_OK;
out:
    json_decref(root);
    return rc;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    wb_strbuf_append(data, buf, size);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The compact form (process-local stores)                             */
/*                                                                     */
/* On a process-local store (memory) no other program reads a profile, */
/* so one in the flat shape (created_ms, name, last_inbound_ms,        */
/* opted_out and nothing else) is kept in binary instead of JSON under  */
/* the schema marker: 8 bytes and the name instead of ~100 (issue 12:  */
/* one per customer, for ever). A byte COMPACT_TAG | flags, created_ms  */
/* in 6 bytes little-endian, last_inbound_ms - created_ms zigzag as a   */
/* varint, then the name's bytes to the end. No schema marker: a value  */
/* without one is schema 0, whose payload is the whole value, and      */
/* neither JSON ('{') nor the marker ('#') starts with the tag. Every   */
/* reader here reads either form; shared stores (Redis, whose begin    */
/* script reads the JSON) keep JSON.                                   */

#define COMPACT_TAG 0x10
#define COMPACT_OPTED 0x01
#define COMPACT_NAMED 0x02
#define COMPACT_MS_MAX ((int64_t)1 << 48)

typedef struct prof_flat prof_flat;
static int compact_parse(const char *val, size_t len, prof_flat *f);

static int is_compact(const char *val, size_t len)
{
    return len > 0 && ((unsigned char)val[0] & 0xf0) == COMPACT_TAG;
}

static int compact_ok(int64_t created_ms)
{
    return created_ms >= 0 && created_ms < COMPACT_MS_MAX;
}

/* The compact record (libc memory; NULL on out of memory). */
static char *compact_encode(int64_t created_ms, const char *name,
                            size_t name_len, int64_t last_inbound_ms,
                            int opted_out, size_t *len)
{
    char *rec = malloc(1 + 6 + 10 + name_len + 1);
    if (rec == NULL)
        return NULL;
    size_t n = 0;
    rec[n++] = (char)(COMPACT_TAG | (opted_out ? COMPACT_OPTED : 0) |
                      (name != NULL ? COMPACT_NAMED : 0));
    for (int i = 0; i < 6; i++)
        rec[n++] = (char)((uint64_t)created_ms >> (8 * i));
    /* Wrapping arithmetic: any two int64 differ by a uint64. */
    uint64_t d = (uint64_t)last_inbound_ms - (uint64_t)created_ms;
    uint64_t z = (d << 1) ^ ((d >> 63) ? UINT64_MAX : 0);
    do {
        rec[n++] = (char)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
        z >>= 7;
    } while (z != 0);
    if (name != NULL)
        memcpy(rec + n, name, name_len);
    n += name != NULL ? name_len : 0;
    rec[n] = '\0';
    *len = n;
    return rec;
}

/* The stored record: compact JSON under the schema marker (libc memory),
 * or NULL on out of memory. */
static char *prof_encode(const wabot_ctx *ctx, const prof *p, size_t *len)
{
    json_t *created = p->doc != NULL ? json_object_get(p->doc, "created_ms")
                                     : NULL;
    /* The flat shape: no member but these four. */
    size_t known = (size_t)(created != NULL) +
                   (json_object_get(p->doc, "name") != NULL) +
                   (json_object_get(p->doc, "last_inbound_ms") != NULL) +
                   (json_object_get(p->doc, "opted_out") != NULL);
    if (ctx->storage->process_local && json_is_integer(created) &&
        compact_ok(json_integer_value(created)) &&
        json_object_size(p->doc) == known)
        return compact_encode(json_integer_value(created), p->name,
                              p->name != NULL ? strlen(p->name) : 0,
                              p->last_inbound_ms, p->opted_out, len);
    json_t *root = p->doc != NULL ? json_copy(p->doc) : json_object();
    if (root == NULL ||
        json_object_set_new(root, "name",
                            p->name != NULL ? json_string(p->name)
                                            : json_null()) != 0 ||
        json_object_set_new(root, "last_inbound_ms",
                            json_integer(p->last_inbound_ms)) != 0 ||
        json_object_set_new(root, "opted_out",
                            json_boolean(p->opted_out)) != 0) {
        json_decref(root);
        return NULL;
    }
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    int rc = json_dump_callback(root, dump_cb, &b, JSON_COMPACT);
    json_decref(root);
    if (rc != 0) {
        wb_strbuf_free(&b);
        return NULL;
    }
    char *record = NULL;
    rc = b.oom || b.data == NULL
             ? WABOT_ERR_NOMEM
             : wabot_storage_record_encode(PROFILE_SCHEMA, b.data, b.len,
                                           &record, len);
    wb_strbuf_free(&b);
    return rc == WABOT_OK ? record : NULL;
}

/* ------------------------------------------------------------------ */
/* The read-modify-write loop                                          */

/* Changes *p; returns 1 if anything changed, 0 if not, or a negative
 * status. */
typedef int (*prof_change_fn)(prof *p, const void *arg);

/* Read the profile (absent: empty, version 0). A corrupt stored value is
 * reported and read as empty with its version, so the write replaces it. */
static int prof_read(wabot_ctx *ctx, const char *key, prof *p,
                     uint64_t *version)
{
    char *val;
    size_t len;
    memset(p, 0, sizeof *p);
    *version = 0;
    int rc = wabot_storage_get_record(ctx->storage, key, &profile_schema,
                                      &val, &len, version);
    if (rc == WABOT_ERR_NOT_FOUND)
        return WABOT_OK;
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "reading profile %s: %s %s", key,
                        wabot_strerror(rc),
                        wabot_storage_errmsg(ctx->storage));
    rc = prof_decode(val, len, p);
    free(val);
    if (rc == WABOT_ERR_PARSE) {
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "profile %s is corrupt; rewriting it", key);
        return WABOT_OK;
    }
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "reading profile %s", key);
    return WABOT_OK;
}

/* Apply `change` atomically; on success *result holds the new profile. */
static int prof_update(wabot_ctx *ctx, const char *key,
                       prof_change_fn change, const void *arg, prof *result)
{
    for (int tries = 0; tries < PROFILE_MAX_TRIES; tries++) {
        prof p;
        uint64_t version;
        int rc = prof_read(ctx, key, &p, &version);
        if (rc != WABOT_OK)
            return rc;
        rc = change(&p, arg);
        if (rc < 0) {
            prof_clear(&p);
            return wb_error(ctx, rc, "updating profile %s", key);
        }
        if (rc == 0 && version != 0) { /* nothing to write */
            *result = p;
            return WABOT_OK;
        }
        size_t len = 0;
        char *text = prof_encode(ctx, &p, &len);
        if (text == NULL) {
            prof_clear(&p);
            return wb_error(ctx, WABOT_ERR_NOMEM, "encoding profile %s",
                            key);
        }
        rc = wabot_storage_cas(ctx->storage, key, version, text, len, 0,
                               NULL);
        free(text);
        if (rc == WABOT_OK) {
            *result = p;
            return WABOT_OK;
        }
        prof_clear(&p);
        if (rc != WABOT_ERR_CONFLICT)
            return wb_error(ctx, rc, "writing profile %s: %s", key,
                            wabot_strerror(rc));
    }
    return wb_error(ctx, WABOT_ERR_CONFLICT,
                    "profile %s changed concurrently %d times", key,
                    PROFILE_MAX_TRIES);
}

/* ------------------------------------------------------------------ */
/* The inbound touch without jansson                                   */

/* Every inbound message touches its customer's profile (last_inbound_ms),
 * and decoding and encoding it with jansson was a fifth of a webhook's
 * CPU. A profile only touched by inbound messages and opt-outs is stored
 * in exactly one shape, which prof_encode() writes and is read here:
 *   {"created_ms":C,"name":N,"last_inbound_ms":L,"opted_out":B}
 * C and L plain non-negative integers, N null or a non-empty string of
 * printable ASCII without '"' or '\\' (jansson writes those unescaped),
 * B true or false. Anything else (campaign members, other names, other
 * spacing) takes the general path, which keeps what it does not know. */
struct prof_flat {
    int64_t created_ms, last_inbound_ms;
    const char *name; /* into the record; NULL = null */
    size_t name_len;
    int opted_out;
};

static const char *flat_lit(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if (p == NULL || (size_t)(end - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

static const char *flat_ms(const char *p, const char *end, int64_t *out)
{
    if (p == NULL || p == end || *p < '0' || *p > '9' ||
        (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9'))
        return NULL;
    int64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return NULL;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return p;
}

static int flat_char(char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static const char *flat_name(const char *p, const char *end, prof_flat *f)
{
    const char *q = flat_lit(p, end, "null");
    f->name = NULL;
    if (q != NULL || p == NULL || p == end || *p != '"')
        return q;
    const char *s = ++p;
    while (p < end && flat_char(*p))
        p++;
    if (p == end || *p != '"' || p == s)
        return NULL;
    f->name = s;
    f->name_len = (size_t)(p - s);
    return p + 1;
}

/* 1 if val is a compact record (fields in *f; the name points into
 * val), else 0 (corrupt). */
static int compact_parse(const char *val, size_t len, prof_flat *f)
{
    const unsigned char *u = (const unsigned char *)val;
    if (len < 8 || !is_compact(val, len) || (u[0] & 0x0c) != 0)
        return 0;
    uint64_t c = 0, z = 0;
    for (int i = 0; i < 6; i++)
        c |= (uint64_t)u[1 + i] << (8 * i);
    size_t n = 7;
    for (int shift = 0;; shift += 7) {
        if (n >= len || shift > 63)
            return 0;
        z |= (uint64_t)(u[n] & 0x7f) << shift;
        if (!(u[n++] & 0x80))
            break;
    }
    uint64_t d = (z >> 1) ^ ((z & 1) ? UINT64_MAX : 0);
    f->created_ms = (int64_t)c;
    f->last_inbound_ms = (int64_t)(c + d);
    f->opted_out = u[0] & COMPACT_OPTED;
    f->name = (u[0] & COMPACT_NAMED) && n < len ? val + n : NULL;
    f->name_len = f->name != NULL ? len - n : 0;
    return (u[0] & COMPACT_NAMED) ? f->name != NULL : n == len;
}

/* A compact record as prof_decode() gives any profile (doc: created_ms,
 * the other members being p's own fields). */
static int prof_decode_compact(const char *val, size_t len, prof *p)
{
    prof_flat f;
    if (!compact_parse(val, len, &f) || f.last_inbound_ms < 0)
        return WABOT_ERR_PARSE;
    if ((f.name != NULL && (p->name = strndup(f.name, f.name_len)) == NULL) ||
        (p->doc = json_object()) == NULL ||
        json_object_set_new(p->doc, "created_ms",
                            json_integer(f.created_ms)) != 0) {
        prof_clear(p);
        return WABOT_ERR_NOMEM;
    }
    p->last_inbound_ms = f.last_inbound_ms;
    p->opted_out = f.opted_out;
    return WABOT_OK;
}

/* 1 if val is a profile in the flat shape (fields in *f), JSON or
 * compact. */
/* "true" or "false" at p into *out; past it, or NULL. */
static const char *flat_bool(const char *p, const char *end, int *out)
{
    const char *q = flat_lit(p, end, "true");
    *out = q != NULL;
    return q != NULL ? q : flat_lit(p, end, "false");
}

static int flat_parse(const char *val, size_t len, prof_flat *f)
{
    if (is_compact(val, len))
        return compact_parse(val, len, f) && f->last_inbound_ms >= 0;
    const char *end = val + len;
    const char *p = flat_ms(flat_lit(val, end, "{\"created_ms\":"), end,
                            &f->created_ms);
    p = flat_name(flat_lit(p, end, ",\"name\":"), end, f);
    p = flat_ms(flat_lit(p, end, ",\"last_inbound_ms\":"), end,
                &f->last_inbound_ms);
    p = flat_bool(flat_lit(p, end, ",\"opted_out\":"), end, &f->opted_out);
    p = flat_lit(p, end, "}");
    return p != NULL && p == end;
}

/* The flat profile in the order Redis's begin script writes it
 * (lib/redis/turn.c): {"name":N,"last_inbound_ms":L,"opted_out":B}, with
 * ,"created_ms":C before the brace or not (then created_ms is -1). The
 * send path reads a profile per reply on Redis (opt-out and the service
 * window), and jansson's decode of it was ~19k instructions per reply
 * (doc/performance.md, ninth session); anything else takes that path. */
static int flat_parse_begin(const char *val, size_t len, prof_flat *f)
{
    const char *end = val + len;
    const char *p = flat_name(flat_lit(val, end, "{\"name\":"), end, f);
    p = flat_ms(flat_lit(p, end, ",\"last_inbound_ms\":"), end,
                &f->last_inbound_ms);
    const char *q =
        flat_bool(flat_lit(p, end, ",\"opted_out\":"), end, &f->opted_out);
    f->created_ms = -1;
    const char *c = flat_lit(q, end, ",\"created_ms\":");
    if (c != NULL)
        q = flat_ms(c, end, &f->created_ms);
    q = flat_lit(q, end, "}");
    return q != NULL && q == end;
}

/* The stored record of f (libc memory; NULL on out of memory): the bytes
 * prof_encode() writes for the same profile. */
static char *flat_encode(const wabot_ctx *ctx, const prof_flat *f,
                         size_t *len)
{
    if (ctx->storage->process_local && compact_ok(f->created_ms))
        return compact_encode(f->created_ms, f->name, f->name_len,
                              f->last_inbound_ms, f->opted_out, len);
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    /* Integers with wb_strbuf_int, not printf: this runs per message. */
    wb_strbuf_puts(&b, "{\"created_ms\":");
    wb_strbuf_int(&b, f->created_ms);
    wb_strbuf_puts(&b, ",\"name\":");
    if (f->name != NULL) {
        wb_strbuf_putc(&b, '"');
        wb_strbuf_append(&b, f->name, f->name_len);
        wb_strbuf_putc(&b, '"');
    } else {
        wb_strbuf_puts(&b, "null");
    }
    wb_strbuf_puts(&b, ",\"last_inbound_ms\":");
    wb_strbuf_int(&b, f->last_inbound_ms);
    wb_strbuf_puts(&b, f->opted_out ? ",\"opted_out\":true}"
                                    : ",\"opted_out\":false}");
    char *record = NULL;
    int rc = b.oom ? WABOT_ERR_NOMEM
                   : wabot_storage_record_encode(PROFILE_SCHEMA, b.data,
                                                 b.len, &record, len);
    wb_strbuf_free(&b);
    return rc == WABOT_OK ? record : NULL;
}

typedef struct touch_arg {
    const char *name; /* NULL or "" = keep */
    int64_t now_ms;
} touch_arg;

/* The touch of a profile stored in the flat shape, with the name it
 * already has (or none given): 1 done (*result filled), 0 take the
 * general path (absent, another shape, a new name, a concurrent write),
 * or a negative status (detail set). */
static int touch_flat(wabot_ctx *ctx, const char *key, const touch_arg *t,
                      prof *result)
{
    char *val;
    size_t len;
    uint64_t version;
    prof_flat f;
    memset(result, 0, sizeof *result);
    if (wabot_storage_get_record(ctx->storage, key, &profile_schema, &val,
                                 &len, &version) != WABOT_OK)
        return 0; /* the general path reads it again and reports */
    int flat = flat_parse(val, len, &f) &&
               (t->name == NULL ||
                (f.name != NULL && strlen(t->name) == f.name_len &&
                 memcmp(t->name, f.name, f.name_len) == 0));
    if (flat && f.name != NULL &&
        (result->name = strndup(f.name, f.name_len)) == NULL)
        flat = WABOT_ERR_NOMEM;
    free(val);
    if (flat <= 0) {
        prof_clear(result);
        return flat < 0 ? wb_error(ctx, flat, "reading profile %s", key) : 0;
    }
    result->opted_out = f.opted_out;
    result->last_inbound_ms = f.last_inbound_ms;
    if (t->now_ms <= f.last_inbound_ms)
        return 1; /* nothing to write */
    f.name = result->name;
    f.last_inbound_ms = result->last_inbound_ms = t->now_ms;
    char *text = flat_encode(ctx, &f, &len);
    int rc = text != NULL ? wabot_storage_cas(ctx->storage, key, version,
                                              text, len, 0, NULL)
                          : WABOT_ERR_NOMEM;
    free(text);
    if (rc == WABOT_OK)
        return 1;
    prof_clear(result);
    if (rc == WABOT_ERR_CONFLICT)
        return 0;
    return wb_error(ctx, rc, "writing profile %s: %s", key,
                    wabot_strerror(rc));
}

/* A new profile (no stored object) starts with its creation time. */
static int stamp_created(prof *p, int64_t now_ms)
{
    if (p->doc == NULL && (p->doc = json_object()) == NULL)
        return WABOT_ERR_NOMEM;
    if (json_object_get(p->doc, "created_ms") != NULL)
        return 0;
    if (json_object_set_new(p->doc, "created_ms", json_integer(now_ms)) != 0)
        return WABOT_ERR_NOMEM;
    return 1;
}

static int touch_change(prof *p, const void *arg)
{
    const touch_arg *t = arg;
    int changed = stamp_created(p, t->now_ms);
    if (changed < 0)
        return changed;
    if (t->now_ms > p->last_inbound_ms) {
        p->last_inbound_ms = t->now_ms;
        changed = 1;
    }
    if (t->name != NULL && (p->name == NULL || strcmp(p->name, t->name))) {
        char *copy = strdup(t->name);
        if (copy == NULL)
            return WABOT_ERR_NOMEM;
        free(p->name);
        p->name = copy;
        changed = 1;
    }
    return changed;
}

typedef struct opt_arg {
    int want;
    const char *source; /* "api", "keyword", "131050", "21610" */
    int64_t now_ms;
} opt_arg;

/* Set the flag; a change records its source and time. */
static int opt_change(prof *p, const void *arg)
{
    const opt_arg *o = arg;
    if (p->opted_out == o->want && p->doc != NULL)
        return 0; /* no write for no change */
    int rc = stamp_created(p, o->now_ms);
    if (rc < 0)
        return rc;
    if (p->opted_out != o->want &&
        (json_object_set_new(p->doc, "opt_source", json_string(o->source)) ||
         json_object_set_new(p->doc, "opt_changed_ms",
                             json_integer(o->now_ms))))
        return WABOT_ERR_NOMEM;
    p->opted_out = o->want;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Internal API                                                        */

/* 1 if jansson accepts s as a string (valid UTF-8). */
static int is_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

int wb_profile_touch(wabot_ctx *ctx, const char *org, const char *phone,
                     const char *name, int64_t now_ms, wb_profile *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (ctx == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "wb_profile_touch: NULL ctx");
    if (now_ms < 0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "inbound time %lld is negative", (long long)now_ms);
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = cust_key(ctx, org, phone, key);
    if (rc != WABOT_OK)
        return rc;
    touch_arg arg = {name != NULL && *name ? name : NULL, now_ms};
    if (arg.name != NULL && !is_utf8(arg.name)) {
        /* A garbled profile name must not cost the customer the turn. */
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "profile %s: name is not valid UTF-8; keeping the old one",
               key);
        arg.name = NULL;
    }

    prof p;
    rc = touch_flat(ctx, key, &arg, &p);
    if (rc == 0)
        rc = prof_update(ctx, key, touch_change, &arg, &p);
    else if (rc == 1)
        rc = WABOT_OK;
    if (rc != WABOT_OK)
        return rc;
    if (out != NULL) {
        out->last_inbound_ms = p.last_inbound_ms;
        out->opted_out = p.opted_out;
        if (p.name != NULL) {
            out->name = wb_strdup(&ctx->alloc, p.name);
            if (out->name == NULL)
                rc = wb_error(ctx, WABOT_ERR_NOMEM, "copying profile name");
        }
    }
    prof_clear(&p);
    return rc;
}

void wb_profile_clear(wabot_ctx *ctx, wb_profile *p)
{
    if (p == NULL)
        return;
    if (ctx != NULL)
        wb_free(&ctx->alloc, p->name);
    p->name = NULL;
}

/* Read the stored profile: WABOT_ERR_NOT_FOUND if none, WABOT_ERR_PARSE
 * if corrupt (logged), storage errors, INVAL; the detail is set. */
static int prof_load(wabot_ctx *ctx, const char *org, const char *phone,
                     prof *p)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = cust_key(ctx, org, phone, key);
    if (rc != WABOT_OK)
        return rc;
    char *val;
    size_t len;
    rc = wabot_storage_get_record(ctx->storage, key, &profile_schema, &val,
                                  &len, NULL);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "no profile %s", key);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "reading profile %s: %s %s", key,
                        wabot_strerror(rc),
                        wabot_storage_errmsg(ctx->storage));
    rc = prof_decode(val, len, p);
    free(val);
    if (rc == WABOT_ERR_PARSE) {
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "profile %s is corrupt", key);
        return wb_error(ctx, rc, "stored profile %s is corrupt; the next "
                                 "inbound message rewrites it", key);
    }
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "reading profile %s", key);
    return WABOT_OK;
}

typedef struct merge_arg {
    json_t *fields;
    int64_t now_ms;
    int created; /* out: the profile had no stored object */
} merge_arg;

/* Replace the members `fields` names (null deletes one); "name" and
 * "opted_out" go to their own fields, which prof_encode writes back. */
static int merge_change(prof *p, const void *arg)
{
    merge_arg *m = (merge_arg *)arg;
    m->created = p->doc == NULL;
    int rc = stamp_created(p, m->now_ms);
    if (rc < 0)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach(m->fields, k, v)
    {
        if (strcmp(k, "name") == 0) {
            char *copy = json_is_string(v) && json_string_length(v) > 0
                             ? strdup(json_string_value(v))
                             : NULL;
            if (json_is_string(v) && json_string_length(v) > 0 &&
                copy == NULL)
                return WABOT_ERR_NOMEM;
            free(p->name);
            p->name = copy;
        } else if (strcmp(k, "opted_out") == 0) {
            p->opted_out = json_is_true(v);
        } else if (json_is_null(v)) {
            json_object_del(p->doc, k);
        } else if (json_object_set(p->doc, k, v) != 0) {
            return WABOT_ERR_NOMEM;
        }
    }
    return 1;
}

/* The stored object as the caller sees it: a new reference with "name",
 * "last_inbound_ms" and "opted_out" set from p. NULL on NOMEM. */
static json_t *prof_doc(const prof *p)
{
    json_t *d = p->doc != NULL ? json_copy(p->doc) : json_object();
    if (d == NULL ||
        json_object_set_new(d, "name", json_string(p->name ? p->name : "")) ||
        json_object_set_new(d, "last_inbound_ms",
                            json_integer(p->last_inbound_ms)) ||
        json_object_set_new(d, "opted_out", json_boolean(p->opted_out))) {
        json_decref(d);
        return NULL;
    }
    return d;
}

int wb_profile_merge(wabot_ctx *ctx, const char *org, const char *phone,
                     json_t *fields, int64_t now_ms, int *created,
                     json_t **doc)
{
    if (doc != NULL)
        *doc = NULL;
    if (ctx == NULL || !json_is_object(fields))
        return wb_error(ctx, WABOT_ERR_INVAL, "wb_profile_merge: bad call");
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = cust_key(ctx, org, phone, key);
    if (rc != WABOT_OK)
        return rc;
    merge_arg arg = {fields, now_ms, 0};
    prof p;
    rc = prof_update(ctx, key, merge_change, &arg, &p);
    if (rc != WABOT_OK)
        return rc;
    if (created != NULL)
        *created = arg.created;
    if (doc != NULL && (*doc = prof_doc(&p)) == NULL)
        rc = wb_error(ctx, WABOT_ERR_NOMEM, "profile %s: out of memory", key);
    prof_clear(&p);
    return rc;
}

int wb_profile_doc(wabot_ctx *ctx, const char *org, const char *phone,
                   json_t **doc)
{
    *doc = NULL;
    prof p;
    int rc = prof_load(ctx, org, phone, &p);
    if (rc != WABOT_OK)
        return rc;
    *doc = prof_doc(&p);
    prof_clear(&p);
    return *doc != NULL ? WABOT_OK
                        : wb_error(ctx, WABOT_ERR_NOMEM,
                                   "profile of %s: out of memory", phone);
}

int wb_profile_delete(wabot_ctx *ctx, const char *org, const char *phone)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = cust_key(ctx, org, phone, key);
    if (rc != WABOT_OK)
        return rc;
    rc = wabot_storage_del(ctx->storage, key);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "no customer %s in organisation %s", phone,
                        org);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "deleting profile %s: %s", key,
                        wabot_strerror(rc));
    return WABOT_OK;
}

/* The phone of a profile key of `org` ("cust:{<org>:<phone>}"), or NULL
 * when the key is another organisation's whose name starts like `org`. */
static const char *key_phone(const char *key, size_t len, size_t plen,
                             char *buf, size_t n)
{
    if (len < plen + 3 || key[len - 1] != '}' || key[plen] != '+' ||
        len - plen - 1 >= n)
        return NULL;
    for (size_t i = plen + 1; i < len - 1; i++)
        if (key[i] < '0' || key[i] > '9')
            return NULL;
    memcpy(buf, key + plen, len - plen - 1);
    buf[len - plen - 1] = '\0';
    return buf;
}

/* Append the page's profiles (with "phone") to `arr`. */
static int page_docs(wabot_ctx *ctx, const wabot_storage_items *page,
                     size_t plen, json_t *arr)
{
    for (size_t i = 0; i < wabot_storage_items_count(page); i++) {
        size_t klen, vlen;
        const char *key = wabot_storage_items_key(page, i, &klen);
        const char *val = wabot_storage_items_value(page, i, &vlen);
        char phone[64];
        if (val == NULL || key_phone(key, klen, plen, phone, sizeof phone) ==
                               NULL)
            continue;
        char *payload;
        size_t len;
        prof p;
        if (wabot_storage_record_decode(&profile_schema, val, vlen, &payload,
                                        &len, NULL) != WABOT_OK)
            continue; /* corrupt: the next inbound message rewrites it */
        int rc = prof_decode(payload, len, &p);
        free(payload);
        if (rc == WABOT_ERR_PARSE)
            continue;
        json_t *d = rc == WABOT_OK ? prof_doc(&p) : NULL;
        prof_clear(&p);
        if (d == NULL || json_object_set_new(d, "phone", json_string(phone)) ||
            json_array_append_new(arr, d))
            return wb_error(ctx, WABOT_ERR_NOMEM, "listing customers");
    }
    return WABOT_OK;
}

int wb_profile_list(wabot_ctx *ctx, const char *org, const char *cursor,
                    size_t count, json_t *arr, char **next)
{
    *next = NULL;
    char prefix[WB_STORAGE_KEY_MAX + 1];
    if (!wb_storage_key_part_ok(org))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "organisation must be non-empty, without control "
                        "characters");
    int w = snprintf(prefix, sizeof prefix, "cust:{%s:", org);
    if (w < 0 || (size_t)w >= sizeof prefix)
        return wb_error(ctx, WABOT_ERR_INVAL, "organisation is too long");
    wabot_storage_items *page = NULL;
    int rc = wabot_storage_scan(ctx->storage, prefix, cursor, count,
                                WABOT_STORAGE_SCAN_VALUES, &page);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "listing customers of %s: %s %s", org,
                        wabot_strerror(rc),
                        wabot_storage_errmsg(ctx->storage));
    rc = page_docs(ctx, page, (size_t)w, arr);
    if (rc == WABOT_OK) {
        *next = wb_strdup(&ctx->alloc, wabot_storage_items_cursor(page));
        if (*next == NULL)
            rc = wb_error(ctx, WABOT_ERR_NOMEM, "listing customers");
    }
    wabot_storage_items_free(page);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

void wabot_customer_free(wabot_customer *c)
{
    if (c == NULL)
        return;
    free(c->phone);
    free(c->name);
    free(c);
}

int wabot_customer_get(wabot_ctx *ctx, const char *org, const char *phone,
                       wabot_customer **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_customer_get: NULL argument");
    prof p;
    int rc = prof_load(ctx, org, phone, &p);
    if (rc != WABOT_OK)
        return rc;

    wabot_customer *c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->phone = strdup(phone);
        c->name = p.name != NULL ? p.name : strdup("");
        p.name = NULL;
        c->last_inbound_ms = p.last_inbound_ms;
        c->opted_out = p.opted_out;
        if (c->phone == NULL || c->name == NULL) {
            wabot_customer_free(c);
            c = NULL;
        }
    }
    prof_clear(&p);
    if (c == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "reading profile of %s", phone);
    *out = c;
    return WABOT_OK;
}

const char *wabot_customer_phone(const wabot_customer *c)
{
    return c != NULL ? c->phone : "";
}

const char *wabot_customer_name(const wabot_customer *c)
{
    return c != NULL ? c->name : "";
}

int64_t wabot_customer_last_inbound_ms(const wabot_customer *c)
{
    return c != NULL ? c->last_inbound_ms : 0;
}

int wabot_customer_opted_out(const wabot_customer *c)
{
    return c != NULL ? c->opted_out : 0;
}

int wb_profile_set_opt(wabot_ctx *ctx, const char *org, const char *phone,
                       int opted_out, const char *source)
{
    if (ctx == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_customer_set_opted_out: NULL context");
    char key[WB_STORAGE_KEY_MAX + 1];
    int rc = cust_key(ctx, org, phone, key);
    if (rc != WABOT_OK)
        return rc;
    opt_arg arg = {opted_out != 0, source != NULL ? source : "api",
                   wb_now(ctx)};
    prof p;
    rc = prof_update(ctx, key, opt_change, &arg, &p);
    if (rc == WABOT_OK)
        prof_clear(&p);
    return rc;
}

int wabot_customer_set_opted_out(wabot_ctx *ctx, const char *org,
                                 const char *phone, int opted_out)
{
    return wb_profile_set_opt(ctx, org, phone, opted_out, "api");
}

/* ------------------------------------------------------------------ */
/* The send path's batched read (state.h)                              */

int wb_profile_key(wabot_ctx *ctx, const char *org, const char *phone,
                   char *key)
{
    return cust_key(ctx, org, phone, key);
}

int wb_profile_policy_decode(const char *val, size_t len, int *opted_out,
                             int64_t *last_inbound_ms)
{
    /* a schema without upgrades: the payload is read where it is stored */
    size_t skip = 0;
    prof_flat f;
    if (val != NULL &&
        wb_storage_record_split(val, len, &skip) <= PROFILE_SCHEMA &&
        (flat_parse(val + skip, len - skip, &f) ||
         flat_parse_begin(val + skip, len - skip, &f))) {
        *opted_out = f.opted_out;
        *last_inbound_ms = f.last_inbound_ms;
        return WABOT_OK;
    }
    char *payload;
    size_t plen;
    int rc = wabot_storage_record_decode(&profile_schema, val, len, &payload,
                                         &plen, NULL);
    if (rc != WABOT_OK)
        return rc;
    prof p;
    rc = prof_decode(payload, plen, &p);
    free(payload);
    if (rc == WABOT_OK) {
        *opted_out = p.opted_out;
        *last_inbound_ms = p.last_inbound_ms;
    }
    prof_clear(&p);
    return rc;
}
