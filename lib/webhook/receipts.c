/* Delivery records: what the provider told us about each message we sent.
 *
 * One storage value per provider message id, "receipt:<id>":
 *   {"state":"delivered","code":"131026","outbound_id":"...","to":"+1...",
 *    "org":"default","correlation_id":"...","provider":"twilio",
 *    "updated_ms":...,
 *    "seen":["sent","delivered"]}
 * A field not known (or empty) is left out; records written before that
 * carry it as null or "" and read the same. On a process-local store the
 * record is kept in a compact form instead ("The compact form" below),
 * and a plain one in the store's receipt table, not as a key ("The table
 * form").
 * Every change is a read-modify-write with compare-and-set, so the send's
 * record and receipts racing each other (callbacks often arrive before
 * the send's HTTP answer is processed) all land. "seen" holds the states
 * reported so far: a receipt whose state is in it is a duplicate (the
 * provider retried) and changes nothing, not even a counter. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/delivery.h"
#include "internal/json_alloc.h"
#include "internal/message.h"
#include "internal/module.h"
#include "internal/metrics.h"
#include "internal/receipt_table.h"
#include "internal/receipts.h"
#include "internal/state.h"
#include "internal/storage.h"
#include "internal/strbuf.h"
#include "internal/webhook.h"
#include "wabot/module.h"
#include "wabot/security.h"
#include "wabot/state.h"

#define MODULE "receipts"
#define KEY_PREFIX "receipt:"
/* CAS attempts: only exhausted by pathological contention on one id. */
#define MAX_TRIES 32
#define CODE_MAX 32

/* ------------------------------------------------------------------ */
/* States                                                              */

static const char *const state_names[] = {
    [WABOT_DELIVERY_UNKNOWN] = "unknown",
    [WABOT_DELIVERY_QUEUED] = "queued",
    [WABOT_DELIVERY_SENT] = "sent",
    [WABOT_DELIVERY_DELIVERED] = "delivered",
    [WABOT_DELIVERY_READ] = "read",
    [WABOT_DELIVERY_FAILED] = "failed",
    [WABOT_DELIVERY_UNDELIVERED] = "undelivered",
};
#define N_STATES (sizeof state_names / sizeof state_names[0])

const char *wabot_delivery_state_name(wabot_delivery_state s)
{
    return (unsigned)s < N_STATES ? state_names[s] : "unknown";
}

static wabot_delivery_state state_by_name(const char *name)
{
    for (size_t i = 1; name != NULL && i < N_STATES; i++)
        if (strcmp(name, state_names[i]) == 0)
            return (wabot_delivery_state)i;
    return WABOT_DELIVERY_UNKNOWN;
}

/* How far along a message is. A failure outranks the in-flight states
 * (it ends them) but not delivered/read: a receipt proving delivery is
 * stronger evidence than a failure report arriving late or by mistake. */
static int rank(wabot_delivery_state s)
{
    switch (s) {
    case WABOT_DELIVERY_QUEUED: return 1;
    case WABOT_DELIVERY_SENT: return 2;
    case WABOT_DELIVERY_FAILED:
    case WABOT_DELIVERY_UNDELIVERED: return 3;
    case WABOT_DELIVERY_DELIVERED: return 4;
    case WABOT_DELIVERY_READ: return 5;
    default: return 0;
    }
}

static int is_failure(wabot_delivery_state s)
{
    return s == WABOT_DELIVERY_FAILED || s == WABOT_DELIVERY_UNDELIVERED;
}

/* Provider status names (Twilio MessageStatus, Meta statuses[].status).
 * Twilio's pre-send states are all "queued" for us; "receiving" and
 * "received" describe inbound messages and Meta's "deleted"/"warning" say
 * nothing about delivery: those are ignored. */
static wabot_delivery_state map_status(const char *status)
{
    static const struct {
        const char *name;
        wabot_delivery_state state;
    } map[] = {
        {"accepted", WABOT_DELIVERY_QUEUED},
        {"scheduled", WABOT_DELIVERY_QUEUED},
        {"queued", WABOT_DELIVERY_QUEUED},
        {"sending", WABOT_DELIVERY_QUEUED},
        {"sent", WABOT_DELIVERY_SENT},
        {"delivered", WABOT_DELIVERY_DELIVERED},
        {"partially_delivered", WABOT_DELIVERY_DELIVERED},
        {"read", WABOT_DELIVERY_READ},
        {"failed", WABOT_DELIVERY_FAILED},
        {"canceled", WABOT_DELIVERY_FAILED},
        {"undelivered", WABOT_DELIVERY_UNDELIVERED},
    };
    for (size_t i = 0; status != NULL && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(status, map[i].name) == 0)
            return map[i].state;
    return WABOT_DELIVERY_UNKNOWN;
}

/* Provider codes that mean "this customer does not want our marketing":
 * Meta 131050 (the user stopped marketing messages) and Twilio 21610 (the
 * recipient replied STOP). The customer is marked opted out, so campaigns
 * and reminders stop being sent to them. */
static int opt_out_code(const char *code)
{
    return code != NULL &&
           (strcmp(code, "131050") == 0 || strcmp(code, "21610") == 0);
}

/* ------------------------------------------------------------------ */
/* The record                                                          */

typedef struct rec {
    wabot_delivery_state state;
    char code[CODE_MAX];
    char *outbound_id, *to, *org; /* libc; NULL = unknown */
    char *correlation_id;         /* the sender's reference; NULL = none */
    wabot_provider provider;
    int64_t updated_ms;
    unsigned seen; /* bit per wabot_delivery_state */
} rec;

static void rec_clear(rec *r)
{
    free(r->outbound_id);
    free(r->to);
    free(r->org);
    free(r->correlation_id);
    memset(r, 0, sizeof *r);
}

static char *dup_json_str(json_t *root, const char *key)
{
    const char *s = json_string_value(json_object_get(root, key));
    return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

static wabot_provider provider_by_name(const char *name)
{
    for (int p = WABOT_PROVIDER_UNKNOWN; p <= WABOT_PROVIDER_TEST; p++)
        if (name != NULL && strcmp(name, wabot_provider_name(p)) == 0)
            return (wabot_provider)p;
    return WABOT_PROVIDER_UNKNOWN;
}

/* ------------------------------------------------------------------ */
/* The compact form                                                     */
/*                                                                     */
/* On a process-local store (memory) no other program reads the record, */
/* so it is kept without JSON's names and quotes: 80 bytes less for a  */
/* plain send, kept receipt_ttl_ms (issue 12). After a marker byte,    */
/* nine fields separated by NUL bytes (none holds one: C strings):     */
/*   state code outbound_id to org correlation_id provider updated_ms seen */
/* with state, provider (enum values: append-only) and seen (a bit per  */
/* state) as decimal numbers. rec_decode reads either form.            */

#define COMPACT_MARK '\x01'
#define COMPACT_FIELDS 9
/* The compact form since the seventh session (issue 12): after the marker
 * byte, state, provider and seen as a byte each, updated_ms in 6 bytes
 * little-endian (0 .. 2^48), then the five text fields separated by NUL
 * bytes, the last one ending with the value: code outbound_id to org
 * correlation_id. 12 bytes less than COMPACT_MARK's decimal numbers for
 * a plain send (a 192-byte block instead of 208 with its key and
 * header). Both are read. */
#define BIN_MARK '\x02'
#define BIN_HEAD 10
#define BIN_TEXTS 5

static void put_text0(wb_strbuf *b, const char *s)
{
    if (s != NULL)
        wb_strbuf_append(b, s, strlen(s));
    wb_strbuf_putc(b, '\0');
}

static void put_int0(wb_strbuf *b, int64_t v)
{
    wb_strbuf_int(b, v);
    wb_strbuf_putc(b, '\0');
}

static char *rec_encode_bin(const rec *r, size_t *len)
{
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    char head[BIN_HEAD] = {BIN_MARK, (char)r->state, (char)r->provider,
                           (char)r->seen};
    uint64_t t = (uint64_t)r->updated_ms;
    for (int i = 0; i < 6; i++)
        head[4 + i] = (char)(t >> (8 * i));
    wb_strbuf_append(&b, head, sizeof head);
    put_text0(&b, r->code);
    put_text0(&b, r->outbound_id);
    put_text0(&b, r->to);
    put_text0(&b, r->org);
    if (r->correlation_id != NULL)
        wb_strbuf_append(&b, r->correlation_id, strlen(r->correlation_id));
    *len = b.len;
    return wb_strbuf_take(&b);
}

/* Whether the binary form holds r exactly (else COMPACT_MARK's). */
static int bin_fits(const rec *r)
{
    return r->updated_ms >= 0 && r->updated_ms < ((int64_t)1 << 48) &&
           (unsigned)r->state <= 0xff && (unsigned)r->provider <= 0xff &&
           r->seen <= 0xff;
}

static char *rec_encode_compact(const rec *r, size_t *len)
{
    if (bin_fits(r))
        return rec_encode_bin(r, len);
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_putc(&b, COMPACT_MARK);
    put_int0(&b, r->state);
    put_text0(&b, r->code);
    put_text0(&b, r->outbound_id);
    put_text0(&b, r->to);
    put_text0(&b, r->org);
    put_text0(&b, r->correlation_id);
    put_int0(&b, r->provider);
    put_int0(&b, r->updated_ms);
    wb_strbuf_int(&b, (int64_t)r->seen);
    *len = b.len;
    return wb_strbuf_take(&b);
}

/* A number field (f .. end), 0 when it is not one. */
static int64_t field_int(const char *f, const char *end)
{
    char num[24];
    size_t n = (size_t)(end - f);
    if (n == 0 || n >= sizeof num)
        return 0;
    memcpy(num, f, n);
    num[n] = '\0';
    char *stop;
    long long v = strtoll(num, &stop, 10);
    return *stop == '\0' ? (int64_t)v : 0;
}

/* A text field, NULL when empty (as JSON's null or ""). */
static char *field_text(const char *f, const char *end)
{
    return end > f ? strndup(f, (size_t)(end - f)) : NULL;
}

/* Split p .. end into n fields separated by NUL bytes (the last one ends
 * at end): 1, or 0 when there are fewer (corrupt). */
static int split_fields(const char *p, const char *end, size_t n,
                        const char **f, const char **e)
{
    for (size_t i = 0; i < n; i++) {
        const char *z = i + 1 < n ? memchr(p, '\0', (size_t)(end - p)) : end;
        if (z == NULL)
            return 0;
        f[i] = p;
        e[i] = z;
        p = z + (z < end);
    }
    return 1;
}

/* The five text fields, in both compact forms' order: code outbound_id
 * to org correlation_id. */
static void take_texts(rec *r, const char *const *f, const char *const *e)
{
    size_t clen = (size_t)(e[0] - f[0]);
    snprintf(r->code, sizeof r->code, "%.*s",
             (int)(clen < CODE_MAX ? clen : CODE_MAX - 1), f[0]);
    r->outbound_id = field_text(f[1], e[1]);
    r->to = field_text(f[2], e[2]);
    r->org = field_text(f[3], e[3]);
    r->correlation_id = field_text(f[4], e[4]);
}

static void rec_decode_compact(const char *val, size_t len, rec *r)
{
    const char *f[COMPACT_FIELDS], *e[COMPACT_FIELDS];
    if (!split_fields(val + 1, val + len, COMPACT_FIELDS, f, e))
        return; /* corrupt: an empty record */
    int64_t state = field_int(f[0], e[0]), prov = field_int(f[6], e[6]);
    r->state = state > 0 && (size_t)state < N_STATES
                   ? (wabot_delivery_state)state
                   : WABOT_DELIVERY_UNKNOWN;
    take_texts(r, f + 1, e + 1);
    r->provider = prov >= WABOT_PROVIDER_UNKNOWN && prov <= WABOT_PROVIDER_TEST
                      ? (wabot_provider)prov
                      : WABOT_PROVIDER_UNKNOWN;
    r->updated_ms = field_int(f[7], e[7]);
    r->seen = (unsigned)field_int(f[8], e[8]) & ((1u << N_STATES) - 2);
}

static void rec_decode_bin(const char *val, size_t len, rec *r)
{
    const unsigned char *u = (const unsigned char *)val;
    if (len < BIN_HEAD)
        return; /* corrupt: an empty record */
    const char *f[BIN_TEXTS], *e[BIN_TEXTS];
    if (!split_fields(val + BIN_HEAD, val + len, BIN_TEXTS, f, e))
        return;
    r->state = u[1] < N_STATES ? (wabot_delivery_state)u[1]
                               : WABOT_DELIVERY_UNKNOWN;
    r->provider = u[2] <= WABOT_PROVIDER_TEST ? (wabot_provider)u[2]
                                              : WABOT_PROVIDER_UNKNOWN;
    r->seen = u[3] & ((1u << N_STATES) - 2);
    uint64_t t = 0;
    for (int i = 0; i < 6; i++)
        t |= (uint64_t)u[4 + i] << (8 * i);
    r->updated_ms = (int64_t)t;
    take_texts(r, f, e);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

/* A corrupt value decodes as an empty record (rewritten by the next
 * change) rather than blocking every receipt of that message. */
static void rec_decode(const char *val, size_t len, rec *r)
{
    memset(r, 0, sizeof *r);
    if (len > 0 && val[0] == BIN_MARK) {
        rec_decode_bin(val, len, r);
        return;
    }
    if (len > 0 && val[0] == COMPACT_MARK) {
        rec_decode_compact(val, len, r);
        return;
    }
    json_t *root = json_loadb(val, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    r->state = state_by_name(json_string_value(json_object_get(root,
                                                               "state")));
    const char *code = json_string_value(json_object_get(root, "code"));
    snprintf(r->code, sizeof r->code, "%s", code != NULL ? code : "");
    r->outbound_id = dup_json_str(root, "outbound_id");
    r->to = dup_json_str(root, "to");
    r->org = dup_json_str(root, "org");
    r->correlation_id = dup_json_str(root, "correlation_id");
    r->provider = provider_by_name(json_string_value(
        json_object_get(root, "provider")));
    r->updated_ms = json_integer_value(json_object_get(root, "updated_ms"));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(root, "seen"), i, s) {
        wabot_delivery_state st = state_by_name(json_string_value(s));
        if (st != WABOT_DELIVERY_UNKNOWN)
            r->seen |= 1u << st;
    }
    json_decref(root);
}

/* A field that says something: an unknown (NULL) or empty one is left
 * out, which rec_decode reads as it read the null or "" written before
 * (issue 12: a record per send is kept receipt_ttl_ms). */
static void put_field(wb_strbuf *b, const char *name, const char *val)
{
    if (val == NULL || *val == '\0')
        return;
    wb_strbuf_putc(b, ',');
    wb_strbuf_json_str(b, name);
    wb_strbuf_putc(b, ':');
    wb_strbuf_json_str(b, val);
}

/* Compact JSON (libc memory), NULL on out of memory. Written directly:
 * one record per send on the hot path (what rec_decode reads; records
 * written before fields were left out read the same). The compact form
 * instead on a process-local store. */
static char *rec_encode(const wabot_ctx *ctx, const rec *r, size_t *len)
{
    if (ctx->storage->process_local)
        return rec_encode_compact(r, len);
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_puts(&b, "{\"state\":");
    wb_strbuf_json_str(&b, wabot_delivery_state_name(r->state));
    put_field(&b, "code", r->code);
    put_field(&b, "outbound_id", r->outbound_id);
    put_field(&b, "to", r->to);
    put_field(&b, "org", r->org);
    put_field(&b, "correlation_id", r->correlation_id);
    put_field(&b, "provider", wabot_provider_name(r->provider));
    wb_strbuf_puts(&b, ",\"updated_ms\":");
    wb_strbuf_int(&b, r->updated_ms);
    wb_strbuf_puts(&b, ",\"seen\":[");
    const char *sep = "";
    for (size_t i = 1; i < N_STATES; i++)
        if (r->seen & (1u << i)) {
            wb_strbuf_puts(&b, sep);
            wb_strbuf_json_str(&b, state_names[i]);
            sep = ",";
        }
    wb_strbuf_puts(&b, "]}");
    *len = b.len;
    return wb_strbuf_take(&b);
}

char *wb_receipt_key(char *buf, size_t n, const char *provider_id)
{
    if (buf == NULL || !wb_storage_key_part_ok(provider_id))
        return NULL;
    int w = WB_JOIN(buf, n, KEY_PREFIX, provider_id);
    return w >= 0 && w <= WB_STORAGE_KEY_MAX ? buf : NULL;
}

/* ------------------------------------------------------------------ */
/* The table form                                                       */
/*                                                                     */
/* A process-local store may keep a receipt table beside its keys      */
/* (lib/internal/receipt_table.h): a plain record (no code, its texts  */
/* in the shapes below) is a 64-byte slot, or a 128-byte one for a   */
/* Meta reply's long id, there instead of a storage key (issue 12). A  */
/* record that does not fit stays the storage key "receipt:<id>" in    */
/* the compact form, and one in the table moves there when a change    */
/* makes it not fit. A provider id's record is in one place at a time: */
/* every read and change of it holds the table's lock of that id       */
/* (rec_update).                                                       */

/* Outbound id shapes: a reply's is the inbound message's id + ":r" + k
 * (lib/outbound/replies.c), Twilio's inbound ids "SM"/"MM" + 32 hex,
 * Meta's "wamid." + base64 (padded or not); a built message's is "send-"
 * + 16 hex (lib/outbound/builder.c). Hex in lower case only: the shapes
 * must give back the very text. */
enum {
    OID_NONE = 0,
    OID_SM_REPLY = 1,   /* "SM" hex32 ":r" k */
    OID_MM_REPLY = 2,   /* "MM" hex32 ":r" k */
    OID_SEND = 3,       /* "send-" hex16 */
    OID_WAMID_REPLY = 4 /* "wamid." base64 "="{0,2} ":r" k: wide */
};

/* Correlation id shapes: a built message's is "corr-" + 16 hex
 * (lib/outbound/builder.c), a reply's too. */
enum { CORR_NONE = 0, CORR_GEN = 1 };

typedef struct rpack {
    uint64_t to;      /* "+" and these digits (first not 0); 0 = none */
    uint64_t upd_org; /* updated_ms (48 bits) | org number << 48 */
    uint8_t oid[16];  /* the outbound id's hex digits, two per byte */
    uint8_t corr[8];  /* the correlation id's hex digits */
    uint8_t oid_kind, oid_k, state, provider, seen, corr_kind, pad[2];
} rpack;

_Static_assert(sizeof(rpack) == WB_RTAB_PAYLOAD, "rpack fills the slot");

/* A record whose outbound id is a Meta reply's: the base64 digits, six
 * bits each, fill oid[] and then wide[2..] (WAMID_MAX of them); wide[0]
 * is their number and wide[1] the '=' after them. */
typedef struct rpackw {
    rpack p;
    uint8_t wide[WB_RTAB_PAYLOAD_WIDE - WB_RTAB_PAYLOAD];
} rpackw;

_Static_assert(sizeof(rpackw) == WB_RTAB_PAYLOAD_WIDE,
               "rpackw fills the wide slot");

#define WAMID_BYTES                                                        \
    (sizeof(((rpack *)0)->oid) + sizeof(((rpackw *)0)->wide) - 2)
#define WAMID_MAX (WAMID_BYTES * 8 / 6)

static const char hexdig[] = "0123456789abcdef";

/* A lower-case hex digit's value + 1 (0: not one), by byte. */
static const uint8_t hex1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16};

/* n hex digits of s into n/2 bytes; 0 when one is not lower-case hex. */
static int hex_pack(const char *s, size_t n, uint8_t *out)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i += 2) {
        unsigned hi = hex1[(unsigned char)s[i]],
                 lo = hex1[(unsigned char)s[i + 1]];
        bad |= (hi == 0) | (lo == 0);
        out[i / 2] = (uint8_t)((hi - 1) << 4 | ((lo - 1) & 15));
    }
    return !bad;
}

static void hex_unpack(const uint8_t *in, size_t n, char *s)
{
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = hexdig[in[i] >> 4];
        s[2 * i + 1] = hexdig[in[i] & 15];
    }
}

/* ":r" + k at s (n bytes), k 0..255 in decimal as wb_fmt_u64 writes it
 * (no leading zero): 1 with *k set, else 0. */
static int pack_k(const char *s, size_t n, uint8_t *k)
{
    if (n < 3 || n > 5 || s[0] != ':' || s[1] != 'r' ||
        (s[2] == '0' && n > 3))
        return 0;
    unsigned v = 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 255)
        return 0;
    *k = (uint8_t)v;
    return 1;
}

static const char b64dig[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Byte b of the wide record's digit bytes (oid[], then wide[2..]). */
static uint8_t *wamid_byte(const rpackw *w, size_t b)
{
    rpackw *m = (rpackw *)w; /* const for the reader, not the object */
    return b < sizeof m->p.oid ? &m->p.oid[b]
                               : &m->wide[2 + b - sizeof m->p.oid];
}

/* A Meta reply's id "wamid." base64 "="{0,2} ":r" k into w: 1, else 0. */
static int pack_wamid(const char *id, size_t n, rpackw *w)
{
    size_t c = n; /* the last ':' (base64 has none) */
    while (c > 6 && id[c - 1] != ':')
        c--;
    const char *colon = id + c - 1;
    if (n <= 6 || memcmp(id, "wamid.", 6) != 0 || c <= 6 ||
        !pack_k(colon, n - (c - 1), &w->p.oid_k))
        return 0;
    size_t digits = (size_t)(colon - id) - 6, pad = 0;
    while (pad < 2 && digits > 0 && id[6 + digits - 1] == '=') {
        digits--;
        pad++;
    }
    if (digits == 0 || digits > WAMID_MAX)
        return 0;
    memset(w->p.oid, 0, sizeof w->p.oid);
    memset(w->wide, 0, sizeof w->wide);
    for (size_t i = 0; i < digits; i++) {
        int v = b64_val((unsigned char)id[6 + i]);
        if (v < 0)
            return 0;
        size_t bit = i * 6;
        uint16_t two = (uint16_t)((unsigned)v << 10 >> (bit % 8));
        *wamid_byte(w, bit / 8) |= (uint8_t)(two >> 8);
        if (bit % 8 > 2)
            *wamid_byte(w, bit / 8 + 1) |= (uint8_t)two;
    }
    w->wide[0] = (uint8_t)digits;
    w->wide[1] = (uint8_t)pad;
    w->p.oid_kind = OID_WAMID_REPLY;
    return 1;
}

static char *unpack_wamid(const rpackw *w)
{
    size_t digits = w->wide[0], pad = w->wide[1];
    if (digits == 0 || digits > WAMID_MAX || pad > 2)
        return NULL;
    char id[6 + WAMID_MAX + 2 + 2 + 4];
    memcpy(id, "wamid.", 6);
    for (size_t i = 0; i < digits; i++) {
        size_t bit = i * 6;
        unsigned two = (unsigned)*wamid_byte(w, bit / 8) << 8;
        if (bit % 8 > 2)
            two |= *wamid_byte(w, bit / 8 + 1);
        id[6 + i] = b64dig[(two >> (10 - bit % 8)) & 63];
    }
    size_t at = 6 + digits;
    for (size_t i = 0; i < pad; i++)
        id[at++] = '=';
    id[at++] = ':';
    id[at++] = 'r';
    wb_fmt_u64(id + at, w->p.oid_k);
    return strdup(id);
}

/* The outbound id into w: its size (WB_RTAB_PAYLOAD, or
 * WB_RTAB_PAYLOAD_WIDE for a Meta reply's), 0 when it fits no shape. */
static size_t pack_oid(const char *id, rpackw *w)
{
    rpack *p = &w->p;
    if (id == NULL) {
        p->oid_kind = OID_NONE;
        return WB_RTAB_PAYLOAD;
    }
    size_t n = strlen(id);
    if (n == 5 + 16 && memcmp(id, "send-", 5) == 0 &&
        hex_pack(id + 5, 16, p->oid)) {
        p->oid_kind = OID_SEND;
        return WB_RTAB_PAYLOAD;
    }
    if (n > 6 && memcmp(id, "wamid.", 6) == 0)
        return pack_wamid(id, n, w) ? WB_RTAB_PAYLOAD_WIDE : 0;
    if (n < 2 + 32 + 3 || !hex_pack(id + 2, 32, p->oid) ||
        !pack_k(id + 34, n - 34, &p->oid_k))
        return 0;
    if (id[0] == 'S' && id[1] == 'M')
        p->oid_kind = OID_SM_REPLY;
    else if (id[0] == 'M' && id[1] == 'M')
        p->oid_kind = OID_MM_REPLY;
    else
        return 0;
    return WB_RTAB_PAYLOAD;
}

/* The outbound id of a payload of len bytes. */
static char *unpack_oid(const rpackw *w, size_t len)
{
    const rpack *p = &w->p;
    char id[64];
    switch (p->oid_kind) {
    case OID_SEND:
        memcpy(id, "send-", 5);
        hex_unpack(p->oid, 8, id + 5);
        id[21] = '\0';
        break;
    case OID_SM_REPLY:
    case OID_MM_REPLY:
        id[0] = p->oid_kind == OID_SM_REPLY ? 'S' : 'M';
        id[1] = 'M';
        hex_unpack(p->oid, 16, id + 2);
        id[34] = ':';
        id[35] = 'r';
        wb_fmt_u64(id + 36, p->oid_k); /* no printf: one per receipt */
        break;
    case OID_WAMID_REPLY:
        return len == WB_RTAB_PAYLOAD_WIDE ? unpack_wamid(w) : NULL;
    default: return NULL;
    }
    return strdup(id);
}

static int pack_corr(const char *id, rpack *p)
{
    p->corr_kind = CORR_NONE;
    if (id == NULL)
        return 1;
    if (strlen(id) != 5 + 16 || memcmp(id, "corr-", 5) != 0 ||
        !hex_pack(id + 5, 16, p->corr))
        return 0;
    p->corr_kind = CORR_GEN;
    return 1;
}

static char *unpack_corr(const rpack *p)
{
    if (p->corr_kind != CORR_GEN)
        return NULL;
    char id[24];
    memcpy(id, "corr-", 5);
    hex_unpack(p->corr, 8, id + 5);
    id[21] = '\0';
    return strdup(id);
}

/* "+" and 1..15 digits, the first not 0: the number of the digits. */
static int pack_to(const char *to, uint64_t *out)
{
    *out = 0;
    if (to == NULL)
        return 1;
    size_t n = strlen(to);
    if (n < 2 || n > 16 || to[0] != '+' || to[1] < '1' || to[1] > '9')
        return 0;
    uint64_t v = 0;
    for (size_t i = 1; i < n; i++) {
        if (to[i] < '0' || to[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(to[i] - '0');
    }
    *out = v;
    return 1;
}

static char *unpack_to(uint64_t v)
{
    if (v == 0)
        return NULL;
    char s[24];
    s[0] = '+';
    wb_fmt_u64(s + 1, v);
    return strdup(s);
}

/* The store's receipt table, where it is process-local (a store other
 * processes read keeps every record as a key, JSON). */
static wb_rtab *table_of(const wabot_ctx *ctx)
{
    return ctx->storage->process_local ? ctx->storage->receipts : NULL;
}

/* r as a table payload: its size (WB_RTAB_PAYLOAD, or
 * WB_RTAB_PAYLOAD_WIDE when it needs the wide slot), or 0 when it does
 * not fit (then the storage keeps it). */
static size_t rec_pack(wb_rtab *t, const rec *r, rpackw *w)
{
    rpack *p = &w->p;
    memset(p, 0, sizeof *p); /* w->wide: pack_wamid's, when it is used */
    size_t len = 0;
    if (r->code[0] != '\0' || !pack_corr(r->correlation_id, p) ||
        r->updated_ms < 0 || r->updated_ms >= ((int64_t)1 << 48) ||
        (unsigned)r->state > 0xff || (unsigned)r->provider > 0xff ||
        r->seen > 0xff || (len = pack_oid(r->outbound_id, w)) == 0 ||
        !pack_to(r->to, &p->to))
        return 0;
    unsigned org = r->org != NULL ? wb_rtab_org_id(t, r->org) : 0;
    if (r->org != NULL && org == 0)
        return 0;
    p->upd_org = (uint64_t)r->updated_ms | (uint64_t)org << 48;
    p->state = (uint8_t)r->state;
    p->provider = (uint8_t)r->provider;
    p->seen = (uint8_t)r->seen;
    return len;
}

/* The record a payload of len bytes holds: WABOT_OK or WABOT_ERR_NOMEM
 * (r cleared). */
static int rec_unpack(wb_rtab *t, const void *payload, size_t len, rec *r)
{
    const rpackw *w = payload; /* only w->p is read unless len is wide */
    const rpack *p = &w->p;
    memset(r, 0, sizeof *r);
    r->state = p->state < N_STATES ? (wabot_delivery_state)p->state
                                   : WABOT_DELIVERY_UNKNOWN;
    r->provider = (wabot_provider)p->provider;
    r->seen = p->seen;
    r->updated_ms = (int64_t)(p->upd_org & (((uint64_t)1 << 48) - 1));
    const char *org = wb_rtab_org(t, (unsigned)(p->upd_org >> 48));
    r->outbound_id = unpack_oid(w, len);
    r->to = unpack_to(p->to);
    r->org = org != NULL ? strdup(org) : NULL;
    r->correlation_id = unpack_corr(p);
    if ((p->oid_kind != OID_NONE && r->outbound_id == NULL) ||
        (p->corr_kind != CORR_NONE && r->correlation_id == NULL) ||
        (p->to != 0 && r->to == NULL) || (org != NULL && r->org == NULL)) {
        rec_clear(r);
        return WABOT_ERR_NOMEM;
    }
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Read-modify-write                                                    */

/* Changes *r. Returns 1 to write, 0 to leave the record as it is, or a
 * negative status. `absent` says the record did not exist. */
typedef int (*rec_change_fn)(rec *r, int absent, void *arg);

/* r encoded for its storage key after a change that answered rc, and
 * cleared: 1 with *text set (the caller frees it), rc itself when it is
 * not positive (0: nothing to write), or WABOT_ERR_NOMEM. */
static int rec_encode_cleared(wabot_ctx *ctx, rec *r, int rc, char **text,
                              size_t *len)
{
    *text = rc > 0 ? rec_encode(ctx, r, len) : NULL;
    rec_clear(r);
    if (rc <= 0)
        return rc;
    return *text != NULL ? 1 : WABOT_ERR_NOMEM;
}

/* The storage's record under key: get, change, compare-and-set, again on
 * a conflict. With a table cursor (its id locked), a record absent from
 * the storage that fits the table is created there instead. */
static int rec_update_stored(wabot_ctx *ctx, const char *key,
                             rec_change_fn change, void *arg, wb_rtab *t,
                             wb_rtab_cur *cur)
{
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        char *val = NULL;
        size_t len = 0;
        uint64_t version = 0;
        rec r;
        int rc = wabot_storage_get(ctx->storage, key, &val, &len, &version);
        if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
            return rc;
        int absent = rc == WABOT_ERR_NOT_FOUND;
        if (absent) {
            memset(&r, 0, sizeof r);
            version = 0;
        } else {
            rec_decode(val, len, &r);
        }
        free(val);
        rc = change(&r, absent, arg);
        rpackw p;
        size_t plen;
        if (rc > 0 && absent && t != NULL &&
            (plen = rec_pack(t, &r, &p)) != 0) {
            rec_clear(&r);
            return wb_rtab_put(t, cur, &p, plen, ctx->cfg.receipt_ttl_ms);
        }
        char *text;
        rc = rec_encode_cleared(ctx, &r, rc, &text, &len);
        if (rc <= 0)
            return rc;
        rc = wabot_storage_cas(ctx->storage, key, version, text, len,
                               ctx->cfg.receipt_ttl_ms, NULL);
        free(text);
        if (rc != WABOT_ERR_CONFLICT)
            return rc;
    }
    return WABOT_ERR_CONFLICT;
}

/* The table's record of the locked id (payload p): changed in place, or
 * moved to the storage key when the change makes it not fit (written
 * there first, then removed from the table: a failed write leaves the
 * record as it was). The id's lock keeps every other change out. */
static int rec_update_table(wabot_ctx *ctx, const char *key,
                            rec_change_fn change, void *arg, wb_rtab *t,
                            wb_rtab_cur *cur, const void *p, size_t plen)
{
    rec r;
    int rc = rec_unpack(t, p, plen, &r);
    if (rc != WABOT_OK)
        return rc;
    rc = change(&r, 0, arg);
    rpackw np;
    size_t nlen;
    if (rc > 0 && (nlen = rec_pack(t, &r, &np)) != 0) {
        rec_clear(&r);
        return wb_rtab_put(t, cur, &np, nlen, ctx->cfg.receipt_ttl_ms);
    }
    size_t len = 0;
    char *text;
    rc = rec_encode_cleared(ctx, &r, rc, &text, &len);
    if (rc <= 0)
        return rc;
    rc = wabot_storage_set(ctx->storage, key, text, len,
                           ctx->cfg.receipt_ttl_ms, NULL);
    free(text);
    if (rc == WABOT_OK)
        wb_rtab_remove(t, cur);
    return rc;
}

/* Change the record of provider id `id` (storage key `key`): 0 or more
 * (written or left), or a negative status. */
static int rec_update(wabot_ctx *ctx, const char *id, const char *key,
                      rec_change_fn change, void *arg)
{
    wb_rtab *t = table_of(ctx);
    if (t == NULL)
        return rec_update_stored(ctx, key, change, arg, NULL, NULL);
    wb_rtab_cur cur;
    wb_rtab_lock(t, id, &cur);
    size_t len = 0;
    const void *p = wb_rtab_get(t, &cur, &len);
    int rc = p != NULL
                 ? rec_update_table(ctx, key, change, arg, t, &cur, p, len)
                 : rec_update_stored(ctx, key, change, arg, t, &cur);
    wb_rtab_unlock(&cur);
    return rc;
}

static int set_if_unknown(char **slot, const char *value)
{
    if (*slot != NULL || value == NULL || *value == '\0')
        return WABOT_OK;
    *slot = strdup(value);
    return *slot != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* ------------------------------------------------------------------ */
/* The send                                                            */

/* What a successful send tells the record (from the outbound message, or
 * from the delivery module's "sent" event). */
typedef struct sent_arg {
    const char *outbound_id, *to, *org, *correlation_id;
    wabot_provider provider;
    int64_t now_ms;
} sent_arg;

static int sent_change(rec *r, int absent, void *p)
{
    const sent_arg *a = p;
    (void)absent;
    if (set_if_unknown(&r->outbound_id, a->outbound_id) ||
        set_if_unknown(&r->to, a->to) || set_if_unknown(&r->org, a->org) ||
        set_if_unknown(&r->correlation_id, a->correlation_id))
        return WABOT_ERR_NOMEM;
    if (r->provider == WABOT_PROVIDER_UNKNOWN)
        r->provider = a->provider;
    r->seen |= 1u << WABOT_DELIVERY_SENT;
    if (rank(WABOT_DELIVERY_SENT) > rank(r->state)) {
        r->state = WABOT_DELIVERY_SENT;
        r->updated_ms = a->now_ms;
    }
    return 1;
}

/* Write a send's record; a storage failure defers it (receipt_retry.c)
 * rather than losing the mapping receipts need. */
static void record_sent(wabot_ctx *ctx, sent_arg *a, const char *provider_id)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    if (wb_receipt_key(key, sizeof key, provider_id) == NULL) {
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "send of %s: provider id unusable as a key; receipts for it "
               "will be recorded as unknown", a->outbound_id);
        return;
    }
    a->now_ms = wb_now(ctx);
    int rc = rec_update(ctx, provider_id, key, sent_change, a);
    wb_receipt_retry *q = wb_receipt_retry_of(ctx);
    if (rc < 0 && q && wb_receipt_retryable(rc)) {
        wb_receipt_write w = {.kind = WB_RECEIPT_SENT,
                              .provider_id = (char *)provider_id,
                              .outbound_id = (char *)a->outbound_id,
                              .to = (char *)a->to,
                              .org = (char *)a->org,
                              .correlation_id = (char *)a->correlation_id,
                              .provider = a->provider,
                              .at_ms = a->now_ms};
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "send of %s as %s not recorded "
               "yet: %s; retried until the storage answers", a->outbound_id,
               provider_id, wabot_strerror(rc));
        wb_receipt_defer(q, &w);
    } else if (rc < 0) {
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "send of %s as %s not recorded: %s", a->outbound_id,
               provider_id, wabot_strerror(rc));
    }
}

void wb_receipt_sent(wabot_ctx *ctx, const wabot_outbound *o,
                     const char *provider_id)
{
    if (ctx == NULL || o == NULL)
        return;
    sent_arg a = {wabot_outbound_id(o), wabot_outbound_to(o),
                  wabot_outbound_organization(o),
                  wabot_outbound_correlation_id(o),
                  wabot_outbound_provider(o), 0};
    record_sent(ctx, &a, provider_id);
}

/* The receipts module's subscriber of "delivery.sent" (the event's
 * fields: lib/delivery/worker.c): recorded on the loop's next pass with
 * the other sends of that pass (wb_receipt_sent_many). */
static int on_delivery_sent(wabot_ctx *ctx, const void *event, void *ud)
{
    /* ud: this module (its queue is gone once the module is destroyed;
     * then the record is written at once). Not looked up by name: a
     * search of the module list per send. */
    wabot_module *m = ud;
    const wb_sent_event *ev = event;
    wb_receipt_write w = {
        .kind = WB_RECEIPT_SENT,
        .provider_id = (char *)(ev->provider_id ? ev->provider_id : ""),
        .outbound_id = (char *)(ev->outbound_id ? ev->outbound_id : ""),
        .to = (char *)ev->to,
        .org = (char *)ev->organization,
        .correlation_id = (char *)ev->correlation_id,
        .provider = ev->provider,
        .at_ms = wb_now(ctx)};
    wb_receipt_retry *q = wabot_module_data(m);
    if (q != NULL) {
        wb_receipt_sent_later(q, &w);
    } else {
        sent_arg a = {w.outbound_id, w.to, w.org, w.correlation_id,
                      w.provider, 0};
        record_sent(ctx, &a, w.provider_id);
    }
    return WABOT_OK;
}

/* Sends on a store with a receipt table: each a change under its id's
 * lock (no storage round trip to save; a plain send's record never
 * touches the storage). */
static void sent_many_table(wabot_ctx *ctx, size_t n,
                            const wb_receipt_write *const *w, int *rcs)
{
    for (size_t i = 0; i < n; i++) {
        char key[WB_STORAGE_KEY_MAX + 1];
        if (wb_receipt_key(key, sizeof key, w[i]->provider_id) == NULL) {
            wb_log(ctx, WABOT_LOG_WARN, MODULE,
                   "send of %s: provider id unusable as a key; receipts for "
                   "it will be recorded as unknown",
                   w[i]->outbound_id ? w[i]->outbound_id : "");
            rcs[i] = WABOT_ERR_INVAL;
            continue;
        }
        sent_arg a = {w[i]->outbound_id ? w[i]->outbound_id : "", w[i]->to,
                      w[i]->org, w[i]->correlation_id, w[i]->provider,
                      w[i]->at_ms};
        int rc = rec_update(ctx, w[i]->provider_id, key, sent_change, &a);
        rcs[i] = rc < 0 ? rc : WABOT_OK;
    }
}

size_t wb_receipt_sent_ops(wabot_ctx *ctx, size_t n,
                           const wb_receipt_write *const *w,
                           wb_receipt_keys *keys, wb_storage_bop *ops,
                           size_t *at, int *rcs)
{
    if (table_of(ctx) != NULL) {
        sent_many_table(ctx, n, w, rcs);
        return 0;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        rcs[i] = WABOT_OK;
        if (wb_receipt_key(keys[i], sizeof keys[i], w[i]->provider_id) ==
            NULL) {
            wb_log(ctx, WABOT_LOG_WARN, MODULE,
                   "send of %s: provider id unusable as a key; receipts for "
                   "it will be recorded as unknown",
                   w[i]->outbound_id ? w[i]->outbound_id : "");
            rcs[i] = WABOT_ERR_INVAL;
            continue;
        }
        /* the record as the send alone makes it */
        rec r;
        memset(&r, 0, sizeof r);
        sent_arg a = {w[i]->outbound_id ? w[i]->outbound_id : "", w[i]->to,
                      w[i]->org, w[i]->correlation_id, w[i]->provider,
                      w[i]->at_ms};
        size_t len = 0;
        int rc = sent_change(&r, 1, &a);
        char *text = rc > 0 ? rec_encode(ctx, &r, &len) : NULL;
        rec_clear(&r);
        if (text == NULL) {
            rcs[i] = WABOT_ERR_NOMEM;
            continue;
        }
        ops[m] = (wb_storage_bop){.kind = WB_BOP_CAS, .key = keys[i],
                                  .val = text, .len = len, .expected = 0,
                                  .ttl_ms = ctx->cfg.receipt_ttl_ms};
        at[m++] = i;
    }
    return m;
}

void wb_receipt_sent_done(wabot_ctx *ctx, const wb_receipt_write *const *w,
                          size_t m, wb_storage_bop *ops, const size_t *at,
                          int *rcs)
{
    for (size_t k = 0; k < m; k++) {
        size_t i = at[k];
        rcs[i] = ops[k].status;
        if (rcs[i] == WABOT_ERR_CONFLICT) /* a receipt came first: merge */
            rcs[i] = wb_receipt_write_do(ctx, w[i]);
        free((char *)ops[k].val);
        ops[k].val = NULL;
    }
}

void wb_receipt_sent_many(wabot_ctx *ctx, size_t n,
                          const wb_receipt_write *const *w, int *rcs)
{
    wb_storage_bop *ops = calloc(n, sizeof *ops);
    wb_receipt_keys *keys = malloc(n * sizeof *keys);
    size_t *at = malloc(n * sizeof *at);
    if (ops == NULL || keys == NULL || at == NULL) {
        for (size_t i = 0; i < n; i++)
            rcs[i] = WABOT_ERR_NOMEM;
    } else {
        size_t m = wb_receipt_sent_ops(ctx, n, w, keys, ops, at, rcs);
        if (m > 0)
            (void)wb_storage_batch(ctx->storage, m, ops); /* status per op */
        wb_receipt_sent_done(ctx, w, m, ops, at, rcs);
    }
    free(ops);
    free(keys);
    free(at);
}

static const char *const receipts_requires[] = {"delivery", NULL};
static const char *const receipts_hooks[] = {"status", NULL};

static int receipts_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    wb_receipt_retry *q = wb_receipt_retry_new(ctx);
    if (!q)
        return WABOT_ERR_NOMEM;
    wabot_module_set_data(m, q);
    int rc = wb_hook_subscribe_event(ctx, "delivery.sent", on_delivery_sent,
                                     m);
    if (rc != WABOT_OK)
        return rc;
    wb_delivery_rider r;
    wb_receipt_rider(q, &r);
    return wb_delivery_set_rider(ctx, &r);
}

static void receipts_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    (void)wb_delivery_set_rider(wabot_module_ctx(m), NULL);
    wb_receipt_retry_free(wabot_module_data(m));
    wabot_module_set_data(m, NULL);
}

wb_receipt_retry *wb_receipt_retry_of(const wabot_ctx *ctx)
{
    wabot_module *m = ctx ? wabot_ctx_module(ctx, MODULE) : NULL;
    return m ? wabot_module_data(m) : NULL;
}

const wabot_module_def wb_receipts_module = {
    WABOT_MODULE_DEF_VERSION, MODULE,
    "delivery records: each successful send (delivery.sent), then the "
    "providers' status callbacks",
    receipts_requires, NULL, 0, receipts_hooks, receipts_create,
    receipts_destroy};

/* ------------------------------------------------------------------ */
/* Receipts                                                            */

typedef struct apply_arg {
    const wb_status_update *u;
    wabot_delivery_state state;
    /* results */
    int duplicate, stale, unknown;
    char org[256], to[32]; /* whom an opt-out code is about */
    char corr[129];        /* the send's correlation id, for receipts.status */
    int delivered_before;  /* the delivered bit was set before this one */
} apply_arg;

static void note_customer(apply_arg *a, const rec *r)
{
    if (r->org != NULL)
        snprintf(a->org, sizeof a->org, "%s", r->org);
    if (r->to != NULL)
        snprintf(a->to, sizeof a->to, "%s", r->to);
    snprintf(a->corr, sizeof a->corr, "%s",
             r->correlation_id != NULL ? r->correlation_id : "");
}

static int apply_change(rec *r, int absent, void *p)
{
    apply_arg *a = p;
    const wb_status_update *u = a->u;
    unsigned bit = 1u << a->state;
    note_customer(a, r);
    if (r->seen & bit) {
        a->duplicate = 1;
        return 0;
    }
    if (absent && set_if_unknown(&r->outbound_id, u->send_key) != WABOT_OK)
        return WABOT_ERR_NOMEM; /* the sender died before recording it */
    a->unknown = r->outbound_id == NULL;
    a->delivered_before = (r->seen & (1u << WABOT_DELIVERY_DELIVERED)) != 0;
    if (absent) {
        char e164[32];
        r->provider = u->provider;
        if (u->recipient != NULL &&
            wb_e164_normalize(u->recipient, e164, sizeof e164) == WABOT_OK &&
            set_if_unknown(&r->to, e164) != WABOT_OK)
            return WABOT_ERR_NOMEM;
    }
    r->seen |= bit;
    if (rank(a->state) > rank(r->state)) {
        r->state = a->state;
        snprintf(r->code, sizeof r->code, "%s",
                 is_failure(a->state) && u->error_code ? u->error_code : "");
        r->updated_ms = u->timestamp_ms;
    } else {
        a->stale = 1;
    }
    note_customer(a, r);
    return 1;
}

/* Permanent opt-out codes mark the customer (the record's organisation
 * and recipient, or the default organisation and the receipt's
 * recipient for a message this process did not record). */
static void mark_opted_out(wabot_ctx *ctx, const apply_arg *a)
{
    const char *org = a->org[0] ? a->org : ctx->cfg.default_org;
    if (a->to[0] == '\0') {
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "receipt %s: error %s means opted out, but the recipient "
               "is unknown", a->u->id, a->u->error_code);
        return;
    }
    int rc = wb_profile_set_opt(ctx, org, a->to, 1, a->u->error_code);
    if (rc == WABOT_OK)
        wb_count(ctx, "receipts.opted_out", 1);
    else
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "receipt %s: cannot mark %s opted out: %s", a->u->id, a->to,
               wabot_strerror(rc));
}

static void count_applied(wabot_ctx *ctx, const apply_arg *a)
{
    char name[48];
    if (a->duplicate) {
        wb_count(ctx, "receipts.duplicates", 1);
        return;
    }
    snprintf(name, sizeof name, "receipts.%s",
             wabot_delivery_state_name(a->state));
    wb_count(ctx, name, 1);
    if (a->stale)
        wb_count(ctx, "receipts.stale", 1);
    if (a->unknown)
        wb_count(ctx, "receipts.unknown", 1);
}

/* Tell "receipts.status" subscribers (campaign progress) about a state
 * this message had not reported before:
 *   {"provider_id","state","correlation_id","organization","to",
 *    "delivered_before"} */
static void emit_status(wabot_ctx *ctx, const apply_arg *a)
{
    if (wabot_hook_subscriber_count(ctx, "receipts.status") == 0)
        return;
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "provider_id",
                           a->u->id, "state",
                           wabot_delivery_state_name(a->state),
                           "correlation_id", a->corr, "organization", a->org,
                           "to", a->to, "delivered_before",
                           a->delivered_before);
    char *json = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    wabot_module *m = wabot_ctx_module(ctx, MODULE);
    int rc = json != NULL && m != NULL
                 ? wabot_hook_emit(m, "status", json, strlen(json))
                 : WABOT_ERR_NOMEM;
    if (rc < 0)
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "receipt %s: a receipts.status subscriber failed: %s",
               a->u->id, wabot_strerror(rc));
    wb_json_free(json);
}

/* Apply u to its record: WABOT_OK (also for an update that says nothing
 * we track), or the storage's failure. */
static int apply_update(wabot_ctx *ctx, const wb_status_update *u)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    apply_arg a;
    memset(&a, 0, sizeof a);
    a.u = u;
    a.state = map_status(u->status);
    if (a.state == WABOT_DELIVERY_UNKNOWN ||
        wb_receipt_key(key, sizeof key, u->id) == NULL) {
        wb_count(ctx, "receipts.ignored", 1);
        return WABOT_OK;
    }
    /* Any receipt proves the provider took the send it echoes: a later
     * attempt of it after a crash is then not sent again. */
    int rc = u->send_key ? wb_send_ack(ctx, u->send_key, u->id) : WABOT_OK;
    if (rc < 0)
        return rc;
    rc = rec_update(ctx, u->id, key, apply_change, &a);
    if (rc < 0)
        return rc;
    count_applied(ctx, &a);
    if (!a.duplicate)
        emit_status(ctx, &a);
    if (!a.duplicate && is_failure(a.state) && opt_out_code(u->error_code))
        mark_opted_out(ctx, &a);
    return WABOT_OK;
}

/* A receipt the storage could not take waits in memory (receipt_retry.c):
 * the provider will not send it again. */
int wb_receipt_apply(wabot_ctx *ctx, const wb_status_update *u)
{
    int rc = apply_update(ctx, u);
    wb_receipt_retry *q = wb_receipt_retry_of(ctx);
    if (rc >= 0 || !q || !wb_receipt_retryable(rc))
        return rc;
    wb_receipt_write w = {.kind = WB_RECEIPT_STATUS,
                          .provider_id = u->id,
                          .status = u->status,
                          .recipient = u->recipient,
                          .error_code = u->error_code,
                          .outbound_id = u->send_key,
                          .provider = u->provider,
                          .at_ms = u->timestamp_ms};
    wb_log(ctx, WABOT_LOG_WARN, MODULE, "receipt %s (%s) not recorded yet: "
           "%s; retried until the storage answers", u->id, u->status,
           wabot_strerror(rc));
    wb_receipt_defer(q, &w);
    return WABOT_OK;
}

int wb_receipt_write_do(wabot_ctx *ctx, const wb_receipt_write *w)
{
    if (w->kind == WB_RECEIPT_STATUS) {
        wb_status_update u = {w->provider, w->provider_id, w->status,
                              w->recipient, w->error_code, w->at_ms,
                              w->outbound_id /* the echoed send key */};
        return apply_update(ctx, &u);
    }
    char key[WB_STORAGE_KEY_MAX + 1];
    if (wb_receipt_key(key, sizeof key, w->provider_id) == NULL)
        return WABOT_ERR_INVAL;
    sent_arg a = {w->outbound_id ? w->outbound_id : "", w->to, w->org,
                  w->correlation_id, w->provider, w->at_ms};
    return rec_update(ctx, w->provider_id, key, sent_change, &a);
}

/* ------------------------------------------------------------------ */
/* Public read API                                                     */

struct wabot_delivery {
    wabot_delivery_state state;
    wabot_provider provider;
    int64_t updated_ms;
    char *provider_id, *code, *outbound_id, *to, *org; /* never NULL */
    char *correlation_id;                                /* never NULL */
};

void wabot_delivery_free(wabot_delivery *d)
{
    if (d == NULL)
        return;
    free(d->provider_id);
    free(d->code);
    free(d->outbound_id);
    free(d->to);
    free(d->org);
    free(d->correlation_id);
    free(d);
}

static char *or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

static wabot_delivery *snapshot(const rec *r, const char *provider_id)
{
    wabot_delivery *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->state = r->state;
    d->provider = r->provider;
    d->updated_ms = r->updated_ms;
    d->provider_id = or_empty(provider_id);
    d->code = or_empty(r->code);
    d->outbound_id = or_empty(r->outbound_id);
    d->to = or_empty(r->to);
    d->org = or_empty(r->org);
    d->correlation_id = or_empty(r->correlation_id);
    if (!d->provider_id || !d->code || !d->outbound_id || !d->to ||
        !d->org || !d->correlation_id) {
        wabot_delivery_free(d);
        return NULL;
    }
    return d;
}

/* The record of provider id `id` (storage key `key`), from the table or
 * the storage: WABOT_OK, WABOT_ERR_NOT_FOUND or the storage's status. */
static int rec_read(wabot_ctx *ctx, const char *id, const char *key, rec *r)
{
    wb_rtab *t = table_of(ctx);
    if (t != NULL) {
        wb_rtab_cur cur;
        wb_rtab_lock(t, id, &cur);
        size_t len = 0;
        const void *p = wb_rtab_get(t, &cur, &len);
        int rc = p != NULL ? rec_unpack(t, p, len, r) : WABOT_ERR_NOT_FOUND;
        wb_rtab_unlock(&cur);
        if (rc != WABOT_ERR_NOT_FOUND)
            return rc;
    }
    char *val = NULL;
    size_t len = 0;
    int rc = wabot_storage_get(ctx->storage, key, &val, &len, NULL);
    if (rc != WABOT_OK)
        return rc;
    rec_decode(val, len, r);
    free(val);
    return WABOT_OK;
}

int wabot_delivery_get(wabot_ctx *ctx, const char *provider_id,
                       wabot_delivery **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_delivery_get: NULL argument");
    char key[WB_STORAGE_KEY_MAX + 1];
    if (wb_receipt_key(key, sizeof key, provider_id) == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "provider id must be non-empty, short, without "
                        "control characters");
    rec r;
    int rc = rec_read(ctx, provider_id, key, &r);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "no delivery record for %s: %s",
                        provider_id, wabot_strerror(rc));
    *out = snapshot(&r, provider_id);
    rec_clear(&r);
    return *out != NULL ? WABOT_OK
                        : wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
}

wabot_delivery_state wabot_delivery_state_of(const wabot_delivery *d)
{
    return d != NULL ? d->state : WABOT_DELIVERY_UNKNOWN;
}

const char *wabot_delivery_error_code(const wabot_delivery *d)
{
    return d != NULL ? d->code : "";
}

const char *wabot_delivery_outbound_id(const wabot_delivery *d)
{
    return d != NULL ? d->outbound_id : "";
}

const char *wabot_delivery_provider_id(const wabot_delivery *d)
{
    return d != NULL ? d->provider_id : "";
}

const char *wabot_delivery_correlation_id(const wabot_delivery *d)
{
    return d != NULL ? d->correlation_id : "";
}

const char *wabot_delivery_to(const wabot_delivery *d)
{
    return d != NULL ? d->to : "";
}

const char *wabot_delivery_organization(const wabot_delivery *d)
{
    return d != NULL ? d->org : "";
}

wabot_provider wabot_delivery_provider(const wabot_delivery *d)
{
    return d != NULL ? d->provider : WABOT_PROVIDER_UNKNOWN;
}

int64_t wabot_delivery_updated_ms(const wabot_delivery *d)
{
    return d != NULL ? d->updated_ms : 0;
}
