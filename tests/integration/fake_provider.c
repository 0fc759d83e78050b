/*
 * The fake provider server (fake_provider.h): libmicrohttpd with a thread
 * per connection, one mutex over the records, faults and outage flags.
 *
 * A request is decided the moment its body has arrived: outage, then the
 * oldest matching fault, then the provider's own rules. The decision is
 * recorded at once (so a send that is accepted counts even if its answer
 * is delayed and the client gives up, as with a real provider); only then
 * does the connection thread wait out a delay or hang.
 */
#include "fake_provider.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define FP_MAX_BODY (4u * 1024u * 1024u)
#define FP_WAIT_SLICE_MS 20
#define FP_IDLE_TIMEOUT_S 120u
#define FP_CONN_MEMORY (16u * 1024u) /* per connection: see daemon_start */

#define CT_TWILIO "application/json; charset=utf-8"
#define CT_META "application/json; charset=UTF-8"
#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

#define TWILIO_PREFIX "/2010-04-01/Accounts/"
#define TWILIO_SUFFIX "/Messages.json"

/* ==== Small helpers ================================================== */

static char *xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static char *xmemdup0(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Characters (UTF-8 code points), as the providers count lengths. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* SplitMix64's finaliser: a bijection, so distinct inputs never collide. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static char *base64_encode(const unsigned char *in, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* A phone number without "whatsapp:" and a leading '+' (for counting). */
static const char *phone_key(const char *to)
{
    if (starts_with(to, "whatsapp:"))
        to += strlen("whatsapp:");
    if (*to == '+')
        to++;
    return to;
}

/* Digits of a phone number into out, skipping the separators people type
 * (" -()."). The digit count, or -1 for any other character / overflow. */
static int phone_digits(const char *in, char *out, size_t outsz)
{
    size_t n = 0;
    in = phone_key(in);
    for (; *in != '\0'; in++) {
        if (strchr(" -().", *in) != NULL)
            continue;
        if (*in < '0' || *in > '9' || n + 1 >= outsz)
            return -1;
        out[n++] = *in;
    }
    out[n] = '\0';
    return (int)n;
}

static int valid_phone(const char *to, char *digits, size_t sz)
{
    int n = phone_digits(to, digits, sz);
    return n >= 7 && n <= 15;
}

/* ==== Growable buffer ================================================ */

typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

static int sb_add(strbuf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* ==== application/x-www-form-urlencoded ============================== */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *url_decode(const char *p, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '+') {
            out[o++] = ' ';
        } else if (p[i] == '%' && i + 2 < n &&
                   (hi = hexval((unsigned char)p[i + 1])) >= 0 &&
                   (lo = hexval((unsigned char)p[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void form_free(fp_form_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].value);
    }
    free(f);
}

static int form_add_pair(fp_form_field **f, size_t *n, const char *pair,
                         size_t len)
{
    const char *eq = memchr(pair, '=', len);
    size_t klen = eq ? (size_t)(eq - pair) : len;
    fp_form_field *g = realloc(*f, (*n + 1) * sizeof **f);
    if (g == NULL)
        return -1;
    *f = g;
    g[*n].name = url_decode(pair, klen);
    g[*n].value = eq ? url_decode(eq + 1, len - klen - 1) : xstrdup("");
    (*n)++;
    return g[*n - 1].name && g[*n - 1].value ? 0 : -1;
}

/* Every field of body, in order. 0, or -1 (out of memory). */
static int form_parse(const char *body, size_t len, fp_form_field **out,
                      size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && body[i] != '&')
            continue;
        if (i > start &&
            form_add_pair(out, out_n, body + start, i - start) != 0) {
            form_free(*out, *out_n);
            *out = NULL;
            *out_n = 0;
            return -1;
        }
        start = i + 1;
    }
    return 0;
}

static const char *form_get(const fp_form_field *f, size_t n,
                            const char *name, size_t index)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0 && index-- == 0)
            return f[i].value;
    return NULL;
}

static size_t form_count(const fp_form_field *f, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(f[i].name, name) == 0;
    return c;
}

/* Non-empty value of a field, or NULL. */
static const char *form_nonempty(const fp_form_field *f, size_t n,
                                 const char *name)
{
    const char *v = form_get(f, n, name, 0);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int is_form(const char *content_type)
{
    static const char form_type[] = "application/x-www-form-urlencoded";
    if (content_type == NULL)
        return 0;
    content_type += strspn(content_type, " \t");
    return strncasecmp(content_type, form_type, sizeof form_type - 1) == 0;
}

/* ==== JSON helpers =================================================== */

/* The value at a dotted path ("a.b.0.c": numbers index arrays). */
static json_t *jpath(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    while (cur != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        char key[128];
        if (len >= sizeof key)
            return NULL;
        memcpy(key, p, len);
        key[len] = '\0';
        if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(key, &end, 10);
            cur = *end == '\0' && len > 0 ? json_array_get(cur, i) : NULL;
        } else {
            cur = json_object_get(cur, key);
        }
        p += len + (dot ? 1 : 0);
    }
    return cur;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int jstr_ok(json_t *o, const char *key, size_t max_chars)
{
    const char *v = jstr(o, key);
    return v != NULL && *v != '\0' && utf8_chars(v) <= max_chars;
}

/* Sets key to a string, or to null when v is NULL. */
static void jset_str(json_t *o, const char *key, const char *v)
{
    json_object_set_new(o, key, v ? json_string(v) : json_null());
}

/* ==== Server state =================================================== */

typedef struct fault_entry {
    struct fault_entry *next;
    fp_provider which;
    int times; /* -1: until cleared */
    fp_fault f; /* its strings are owned */
} fault_entry;

typedef struct record {
    fp_provider provider;
    char *method, *path, *query, *authorization, *content_type;
    char *body;
    size_t body_len;
    int status;
    fp_fault_kind fault;
    char *to, *message_id;
    int64_t at_ms;
} record;

struct fp_server {
    struct MHD_Daemon *mhd;
    int port;
    char base_url[64];
    char *twilio_sid, *twilio_token, *twilio_basic;
    char *meta_token, *meta_phone_id, *meta_version;
    int enable_control;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on stop and on every new record */
    int stopping;
    int down[3]; /* by fp_provider: FP_TWILIO, FP_META */
    fault_entry *faults;
    record *recs;
    size_t nrecs, caprecs;
    size_t nsent; /* records for which sent_to(rec, NULL): count_sent() */

    uint64_t seed;
    atomic_uint_fast64_t next_id;

    /* Status callbacks (fp_config.send_status_callbacks): a queue under
     * mu, posted by cb_thread. */
    int send_status_callbacks;
    struct status_cb *cbs, *cbs_tail;
    pthread_cond_t cb_cv;
    pthread_t cb_thread;
    int cb_started;
    atomic_size_t cbs_sent, cbs_failed;
};

/* A unique 64-bit number for ids: this server's seed plus a counter. */
static uint64_t unique64(fp_server *s)
{
    uint64_t n = atomic_fetch_add(&s->next_id, 1);
    return mix64(s->seed + n);
}

/* ==== Replies ======================================================== */

typedef struct fp_reply {
    int status;               /* 0: close without answering */
    char *body;               /* malloc'ed */
    char content_type[96];
    int retry_after_s;        /* > 0: Retry-After */
    int www_authenticate;     /* Twilio's 401 */
} fp_reply;

static void reply_set(fp_reply *r, int status, const char *ctype,
                      char *body)
{
    r->status = status;
    free(r->body);
    r->body = body;
    snprintf(r->content_type, sizeof r->content_type, "%s", ctype);
}

static void reply_json(fp_reply *r, int status, const char *ctype,
                       json_t *o)
{
    reply_set(r, status, ctype, o ? json_dumps(o, JSON_COMPACT) : NULL);
    json_decref(o);
}

static void reply_text(fp_reply *r, int status, const char *text)
{
    reply_set(r, status, CT_TEXT, xstrdup(text));
}

static enum MHD_Result reply_send(struct MHD_Connection *conn,
                                  const fp_reply *r)
{
    if (r->status == 0)
        return MHD_NO;
    const char *body = r->body ? r->body : "";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (r->content_type[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type);
    if (r->retry_after_s > 0) {
        char v[24];
        snprintf(v, sizeof v, "%d", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (r->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"Twilio API\"");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ==== Provider error bodies ========================================== */

typedef struct code_info {
    int code;
    int status;
    const char *message;
} code_info;

/* The Twilio codes the fake knows by name; others get "Error NNNNN". */
static const code_info twilio_codes[] = {
    {20003, 401, "Authenticate"},
    {20404, 404, "The requested resource was not found"},
    {20429, 429, "Too Many Requests"},
    {20500, 500, "Internal Server Error"},
    {20503, 503, "Service Unavailable"},
    {21211, 400, "Invalid 'To' Phone Number"},
    {21408, 400, "Permission to send an SMS has not been enabled for the "
                 "region indicated by the 'To' number"},
    {21602, 400, "Message body is required."},
    {21603, 400, "A 'From' phone number is required."},
    {21604, 400, "A 'To' phone number is required."},
    {21610, 400, "Attempt to send to unsubscribed recipient"},
    {21617, 400, "The concatenated message body exceeds the 1600 character "
                 "limit."},
    {21623, 400, "Number of media files exceeds allowed limit."},
    {63016, 400, "Failed to send freeform message because you are outside "
                 "the allowed window. If you are using WhatsApp, please use "
                 "a Message Template."},
    {63018, 400, "Rate limit exceeded for Channel"},
    {63024, 400, "Invalid message recipient"},
};

/* Meta (Graph / Cloud API) codes. */
static const code_info meta_codes[] = {
    {1, 400, "An unknown error occurred"},
    {2, 503, "Service temporarily unavailable"},
    {4, 429, "Application request limit reached"},
    {10, 403, "Permission denied"},
    {100, 400, "Invalid parameter"},
    {190, 401, "Invalid OAuth access token - Cannot parse access token"},
    {368, 403, "Temporarily blocked for policies violations"},
    {80007, 429, "Rate limit issues"},
    {130429, 429, "Rate limit hit"},
    {131000, 500, "Something went wrong"},
    {131008, 400, "Required parameter is missing"},
    {131009, 400, "Parameter value is not valid"},
    {131026, 400, "Message undeliverable"},
    {131047, 400, "Re-engagement message"},
    {131048, 400, "Spam rate limit hit"},
    {131049, 400, "This message was not delivered to maintain healthy "
                  "ecosystem engagement."},
    {131050, 400, "Unable to deliver the message. This recipient has chosen "
                  "to stop receiving marketing messages on WhatsApp from "
                  "your business."},
    {131056, 429, "(Business Account, Consumer Account) pair rate limit "
                  "hit"},
    {131057, 500, "Account in maintenance mode"},
};

static const code_info *code_find(const code_info *tab, size_t n, int code)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i].code == code)
            return &tab[i];
    return NULL;
}

static const code_info *twilio_code(int code)
{
    return code_find(twilio_codes,
                     sizeof twilio_codes / sizeof twilio_codes[0], code);
}

static const code_info *meta_code(int code)
{
    return code_find(meta_codes, sizeof meta_codes / sizeof meta_codes[0],
                     code);
}

/* {"code","message","more_info","status"} */
static void twilio_error(fp_reply *r, int status, int code,
                         const char *message)
{
    if (message == NULL) {
        const code_info *ci = twilio_code(code);
        message = ci ? ci->message : "Error";
    }
    char more[96];
    snprintf(more, sizeof more, "https://www.twilio.com/docs/errors/%d",
             code);
    json_t *o = json_object();
    json_object_set_new(o, "code", json_integer(code));
    json_object_set_new(o, "message", json_string(message));
    json_object_set_new(o, "more_info", json_string(more));
    json_object_set_new(o, "status", json_integer(status));
    reply_json(r, status, CT_TWILIO, o);
    r->www_authenticate = status == 401;
}

typedef struct meta_err {
    int status, code, subcode;
    const char *type;    /* NULL: OAuthException */
    const char *message; /* NULL: the code's title */
    const char *details; /* NULL: the message */
} meta_err;

static void fbtrace_id(fp_server *s, char out[12])
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t v = unique64(s);
    for (int i = 0; i < 11; i++) {
        out[i] = tab[v % 62];
        v /= 62;
    }
    out[11] = '\0';
}

/* {"error":{"message","type","code","error_data","error_subcode"?,
 * "fbtrace_id"}}; the message carries the "(#code)" prefix Meta uses. */
static void meta_error(fp_server *s, fp_reply *r, const meta_err *e)
{
    const char *title = e->message;
    if (title == NULL) {
        const code_info *ci = meta_code(e->code);
        title = ci ? ci->message : "Error";
    }
    char message[512], trace[12];
    if (e->code == 190 || starts_with(title, "(#"))
        snprintf(message, sizeof message, "%s", title);
    else
        snprintf(message, sizeof message, "(#%d) %s", e->code, title);
    fbtrace_id(s, trace);

    json_t *err = json_object();
    json_object_set_new(err, "message", json_string(message));
    json_object_set_new(err, "type",
                        json_string(e->type ? e->type : "OAuthException"));
    json_object_set_new(err, "code", json_integer(e->code));
    if (e->code != 190)
        json_object_set_new(err, "error_data",
                            json_pack("{s:s,s:s}", "messaging_product",
                                      "whatsapp", "details",
                                      e->details ? e->details : title));
    if (e->subcode != 0)
        json_object_set_new(err, "error_subcode", json_integer(e->subcode));
    json_object_set_new(err, "fbtrace_id", json_string(trace));
    reply_json(r, e->status, CT_META, json_pack("{s:o}", "error", err));
}

static void meta_invalid(fp_server *s, fp_reply *r, const char *details)
{
    meta_err e = {.status = 400, .code = 100, .details = details};
    meta_error(s, r, &e);
}

/* ==== A request being handled ======================================== */

typedef struct fp_call {
    fp_server *s;
    struct MHD_Connection *conn;
    const char *method, *path, *query;
    const char *authorization, *content_type;
    const char *body;
    size_t body_len;
    fp_provider provider;
    char account_sid[128]; /* Twilio path */
    char phone_id[128];    /* Meta path */
    fp_form_field *form;   /* Twilio body */
    size_t form_len;
    json_t *json;          /* Meta body */
    const char *to;        /* borrowed from form or json */
} fp_call;

/* The next '/'-free segment of *p into out; 0, or -1 if empty / too long. */
static int take_segment(const char **p, char *out, size_t outsz)
{
    size_t n = strcspn(*p, "/");
    if (n == 0 || n >= outsz)
        return -1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return 0;
}

static int route_twilio(fp_call *c)
{
    if (!starts_with(c->path, TWILIO_PREFIX))
        return 0;
    const char *p = c->path + strlen(TWILIO_PREFIX);
    if (take_segment(&p, c->account_sid, sizeof c->account_sid) != 0)
        return 0;
    return strcmp(p, TWILIO_SUFFIX) == 0;
}

static int version_ok(const char *v)
{
    if (*v++ != 'v' || *v < '0' || *v > '9')
        return 0;
    v += strspn(v, "0123456789");
    if (*v++ != '.' || *v < '0' || *v > '9')
        return 0;
    v += strspn(v, "0123456789");
    return *v == '\0';
}

static int route_meta(fp_call *c)
{
    char version[32];
    const char *p = c->path;
    if (*p++ != '/' || take_segment(&p, version, sizeof version) != 0)
        return 0;
    if (!version_ok(version) ||
        (c->s->meta_version && strcmp(version, c->s->meta_version) != 0))
        return 0;
    if (*p++ != '/' || take_segment(&p, c->phone_id, sizeof c->phone_id))
        return 0;
    return strcmp(p, "/messages") == 0;
}

static void route(fp_call *c)
{
    if (route_twilio(c))
        c->provider = FP_TWILIO;
    else if (route_meta(c))
        c->provider = FP_META;
    else
        c->provider = FP_OTHER;
}

/* Parse the body the provider expects and find the recipient. */
static void parse_body(fp_call *c)
{
    if (c->provider == FP_TWILIO) {
        if (is_form(c->content_type))
            form_parse(c->body, c->body_len, &c->form, &c->form_len);
        c->to = form_get(c->form, c->form_len, "To", 0);
    } else if (c->provider == FP_META) {
        c->json = json_loadb(c->body, c->body_len, 0, NULL);
        c->to = jstr(c->json, "to");
    }
}

/* ==== Twilio ========================================================= */

static void rfc2822_now(char *out, size_t sz)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, sz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static char *twilio_sid(fp_server *s)
{
    char *sid = malloc(35);
    if (sid != NULL)
        snprintf(sid, 35, "SM%016llx%016llx",
                 (unsigned long long)unique64(s),
                 (unsigned long long)mix64(unique64(s)));
    return sid;
}

static void twilio_uris(json_t *o, const char *account, const char *sid)
{
    char uri[256], media[256];
    snprintf(uri, sizeof uri, TWILIO_PREFIX "%s/Messages/%s.json", account,
             sid);
    snprintf(media, sizeof media, TWILIO_PREFIX "%s/Messages/%s/Media.json",
             account, sid);
    json_object_set_new(o, "uri", json_string(uri));
    json_object_set_new(o, "subresource_uris",
                        json_pack("{s:s}", "media", media));
}

/* Whether s is valid UTF-8 (what json_string() accepts). */
static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p++;
        int more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1
                 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (more < 0 || (more == 1 && c < 0xC2) || (c == 0xF4 && *p > 0x8F) ||
            c > 0xF4 || (c == 0xE0 && *p < 0xA0) || (c == 0xF0 && *p < 0x90) ||
            (c == 0xED && *p > 0x9F))
            return 0;
        for (int i = 0; i < more; i++)
            if ((*p++ & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

/* v as jansson's compact dump writes a string (null when v is NULL). */
static int sb_jstr(strbuf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    if (v == NULL)
        return sb_add(b, "null", 4);
    int rc = sb_add(b, "\"", 1);
    const char *run = v;
    for (const char *q = v;; q++) {
        unsigned char c = (unsigned char)*q;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc |= sb_add(b, run, (size_t)(q - run));
        if (c == '\0')
            break;
        char e[6] = {'\\', (char)c};
        size_t n = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        }
        rc |= sb_add(b, e, n);
        run = q + 1;
    }
    return rc | sb_add(b, "\"", 1);
}

/* A member "key":value after the object's "{" or a member before it. */
static int sb_member(strbuf *b, const char *key, const char *v)
{
    int rc = b->len > 1 ? sb_add(b, ",", 1) : 0;
    rc |= sb_jstr(b, key);
    rc |= sb_add(b, ":", 1);
    return rc | sb_jstr(b, v);
}

/* 201 with the Message resource Twilio returns on create. Written out
 * directly, byte for byte what the jansson document below dumps: the
 * fake runs beside the bot under test in the e2e benchmark, where
 * building and dumping that document was a quarter of its CPU
 * (doc/performance.md); the document stays for values that are not
 * valid UTF-8 (json_string refuses them, and the member goes). */
static void twilio_created_json(fp_call *c, fp_reply *r, const char *sid)
{
    const fp_form_field *f = c->form;
    size_t n = c->form_len;
    const char *service = form_nonempty(f, n, "MessagingServiceSid");
    const char *body = form_get(f, n, "Body", 0);
    char date[64], num_media[16];
    rfc2822_now(date, sizeof date);
    snprintf(num_media, sizeof num_media, "%zu",
             form_count(f, n, "MediaUrl"));

    json_t *o = json_object();
    json_object_set_new(o, "sid", json_string(sid));
    jset_str(o, "date_created", date);
    jset_str(o, "date_updated", date);
    jset_str(o, "date_sent", NULL);
    jset_str(o, "account_sid", c->account_sid);
    jset_str(o, "to", c->to);
    jset_str(o, "from", form_nonempty(f, n, "From"));
    jset_str(o, "messaging_service_sid", service);
    jset_str(o, "body", body ? body : "");
    jset_str(o, "status", service ? "accepted" : "queued");
    jset_str(o, "num_segments", service ? "0" : "1");
    jset_str(o, "num_media", num_media);
    jset_str(o, "direction", "outbound-api");
    jset_str(o, "api_version", "2010-04-01");
    jset_str(o, "price", NULL);
    jset_str(o, "price_unit", "USD");
    json_object_set_new(o, "error_code", json_null());
    jset_str(o, "error_message", NULL);
    twilio_uris(o, c->account_sid, sid);
    reply_json(r, 201, CT_TWILIO, o);
}

static void twilio_created(fp_call *c, fp_reply *r, const char *sid)
{
    const fp_form_field *f = c->form;
    size_t n = c->form_len;
    const char *service = form_nonempty(f, n, "MessagingServiceSid");
    const char *body = form_get(f, n, "Body", 0);
    const char *from = form_nonempty(f, n, "From");
    const char *acct = c->account_sid;
    const char *strs[] = {sid, acct, c->to, from, service, body};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (strs[i] && !utf8_ok(strs[i])) {
            twilio_created_json(c, r, sid);
            return;
        }
    char date[64], num_media[16], uri[256], media[256];
    rfc2822_now(date, sizeof date);
    snprintf(num_media, sizeof num_media, "%zu",
             form_count(f, n, "MediaUrl"));
    snprintf(uri, sizeof uri, TWILIO_PREFIX "%s/Messages/%s.json",
             acct ? acct : "", sid);
    snprintf(media, sizeof media, TWILIO_PREFIX "%s/Messages/%s/Media.json",
             acct ? acct : "", sid);
    strbuf b = {0};
    int rc = sb_add(&b, "{", 1);
    rc |= sb_member(&b, "sid", sid);
    rc |= sb_member(&b, "date_created", date);
    rc |= sb_member(&b, "date_updated", date);
    rc |= sb_member(&b, "date_sent", NULL);
    rc |= sb_member(&b, "account_sid", acct);
    rc |= sb_member(&b, "to", c->to);
    rc |= sb_member(&b, "from", from);
    rc |= sb_member(&b, "messaging_service_sid", service);
    rc |= sb_member(&b, "body", body ? body : "");
    rc |= sb_member(&b, "status", service ? "accepted" : "queued");
    rc |= sb_member(&b, "num_segments", service ? "0" : "1");
    rc |= sb_member(&b, "num_media", num_media);
    rc |= sb_member(&b, "direction", "outbound-api");
    rc |= sb_member(&b, "api_version", "2010-04-01");
    rc |= sb_member(&b, "price", NULL);
    rc |= sb_member(&b, "price_unit", "USD");
    rc |= sb_member(&b, "error_code", NULL);
    rc |= sb_member(&b, "error_message", NULL);
    rc |= sb_member(&b, "uri", uri);
    rc |= sb_add(&b, ",\"subresource_uris\":{\"media\":", 29);
    rc |= sb_jstr(&b, media);
    rc |= sb_add(&b, "}}", 2);
    if (rc != 0) {
        free(b.p);
        twilio_created_json(c, r, sid);
        return;
    }
    reply_set(r, 201, CT_TWILIO, b.p);
}

static int twilio_auth_ok(const fp_call *c)
{
    const char *a = c->authorization;
    if (a == NULL || strncasecmp(a, "Basic ", 6) != 0)
        return 0;
    a += 6;
    while (*a == ' ')
        a++;
    return strcmp(a, c->s->twilio_basic) == 0 &&
           strcmp(c->account_sid, c->s->twilio_sid) == 0;
}

/* The first rule the form breaks: its code, or 0 when it is valid. */
static int twilio_invalid(const fp_call *c)
{
    const fp_form_field *f = c->form;
    size_t n = c->form_len;
    char digits[32];
    if (c->to == NULL || *c->to == '\0')
        return 21604;
    if (!form_nonempty(f, n, "From") &&
        !form_nonempty(f, n, "MessagingServiceSid"))
        return 21603;
    const char *body = form_nonempty(f, n, "Body");
    if (!body && !form_nonempty(f, n, "MediaUrl") &&
        !form_nonempty(f, n, "ContentSid"))
        return 21602;
    if (!valid_phone(c->to, digits, sizeof digits))
        return 21211;
    if (body && utf8_chars(body) > 1600)
        return 21617;
    if (form_count(f, n, "MediaUrl") > 10)
        return 21623;
    return 0;
}

/* ==== Status callbacks =============================================== */

typedef struct status_cb {
    struct status_cb *next;
    char *url, *sid, *account, *from, *to;
} status_cb;

static void status_cb_free(status_cb *cb)
{
    free(cb->url);
    free(cb->sid);
    free(cb->account);
    free(cb->from);
    free(cb->to);
    free(cb);
}

/* Queue the callbacks of an accepted Twilio send (under no lock). */
static void status_cb_queue(fp_call *c, const char *sid)
{
    fp_server *s = c->s;
    const char *url = form_nonempty(c->form, c->form_len, "StatusCallback");
    if (!s->send_status_callbacks || url == NULL)
        return;
    status_cb *cb = calloc(1, sizeof *cb);
    if (cb == NULL)
        return;
    const char *from = form_nonempty(c->form, c->form_len, "From");
    cb->url = xstrdup(url);
    cb->sid = xstrdup(sid);
    cb->account = xstrdup(c->account_sid);
    cb->from = xstrdup(from ? from : "");
    cb->to = xstrdup(c->to ? c->to : "");
    if (!cb->url || !cb->sid || !cb->account || !cb->from || !cb->to) {
        status_cb_free(cb);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->cbs_tail)
        s->cbs_tail->next = cb;
    else
        s->cbs = cb;
    s->cbs_tail = cb;
    pthread_cond_signal(&s->cb_cv);
    pthread_mutex_unlock(&s->mu);
}

static void form_put(strbuf *b, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->len)
        sb_add(b, "&", 1);
    sb_add(b, key, strlen(key));
    sb_add(b, "=", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            sb_add(b, (const char *)p, 1);
        else
            sb_add(b, e, 3);
    }
}

/* POST body to an http://127.0.0.1:PORT/path URL; the HTTP status, or 0. */
static int post_loopback(const char *url, const char *signature,
                         const char *body)
{
    int port = 0, n = 0;
    if (sscanf(url, "http://127.0.0.1:%d%n", &port, &n) != 1 || port <= 0)
        return 0;
    const char *path = url[n] == '/' ? url + n : "/";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    strbuf req = {0};
    char head[512];
    snprintf(head, sizeof head,
             "Host: 127.0.0.1:%d\r\nContent-Type: "
             "application/x-www-form-urlencoded\r\nX-Twilio-Signature: %s"
             "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             port, signature, strlen(body));
    sb_add(&req, "POST ", 5);
    sb_add(&req, path, strlen(path));
    sb_add(&req, " HTTP/1.1\r\n", 11);
    sb_add(&req, head, strlen(head));
    sb_add(&req, body, strlen(body));
    int status = 0;
    if (req.p && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        size_t off = 0;
        while (off < req.len) {
            ssize_t w = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        char ans[64] = {0};
        if (off == req.len && recv(fd, ans, sizeof ans - 1, 0) > 12)
            sscanf(ans, "HTTP/1.%*d %d", &status);
    }
    free(req.p);
    close(fd);
    return status;
}

/* Twilio's signature: HMAC-SHA1 of the URL and the parameters (sorted
 * by name, here already in order) concatenated name+value, base64. */
static char *twilio_signature(const char *token, const char *url,
                              const char *const *kv, size_t n)
{
    strbuf d = {0};
    sb_add(&d, url, strlen(url));
    for (size_t i = 0; i < 2 * n; i++)
        sb_add(&d, kv[i], strlen(kv[i]));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *sig = NULL;
    if (d.p && HMAC(EVP_sha1(), token, (int)strlen(token),
                       (unsigned char *)d.p, d.len, mac, &len))
        sig = base64_encode(mac, len);
    free(d.p);
    return sig;
}

static void status_cb_post(fp_server *s, const status_cb *cb,
                           const char *status)
{
    const char *kv[] = {"AccountSid", cb->account, "From", cb->from,
                        "MessageSid", cb->sid, "MessageStatus", status,
                        "SmsSid", cb->sid, "SmsStatus", status,
                        "To", cb->to};
    size_t n = sizeof kv / sizeof kv[0] / 2;
    strbuf body = {0};
    for (size_t i = 0; i < n; i++)
        form_put(&body, kv[2 * i], kv[2 * i + 1]);
    char *sig = twilio_signature(s->twilio_token, cb->url, kv, n);
    int code = body.p && sig ? post_loopback(cb->url, sig, body.p) : 0;
    free(sig);
    free(body.p);
    if (code >= 200 && code < 300)
        atomic_fetch_add(&s->cbs_sent, 1);
    else
        atomic_fetch_add(&s->cbs_failed, 1);
}

static void *status_cb_main(void *arg)
{
    fp_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && s->cbs == NULL)
            pthread_cond_wait(&s->cb_cv, &s->mu);
        if (s->stopping)
            break;
        status_cb *cb = s->cbs;
        s->cbs = cb->next;
        if (s->cbs == NULL)
            s->cbs_tail = NULL;
        pthread_mutex_unlock(&s->mu);
        status_cb_post(s, cb, "sent");
        status_cb_post(s, cb, "delivered");
        status_cb_free(cb);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

size_t fp_status_callbacks_sent(fp_server *s)
{
    return atomic_load(&s->cbs_sent);
}

size_t fp_status_callbacks_failed(fp_server *s)
{
    return atomic_load(&s->cbs_failed);
}

static void twilio_handle(fp_call *c, fp_reply *r, char **message_id)
{
    if (!twilio_auth_ok(c)) {
        twilio_error(r, 401, 20003, NULL);
        return;
    }
    int code = twilio_invalid(c);
    if (code == 21211) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "The 'To' number %.180s is not a valid phone number.",
                 c->to);
        twilio_error(r, 400, code, msg);
        return;
    }
    if (code != 0) {
        twilio_error(r, 400, code, NULL);
        return;
    }
    *message_id = twilio_sid(c->s);
    if (*message_id == NULL) {
        twilio_error(r, 500, 20500, NULL);
        return;
    }
    twilio_created(c, r, *message_id);
    status_cb_queue(c, *message_id);
}

/* ==== Meta =========================================================== */

static const char *meta_check_text(json_t *m)
{
    json_t *text = json_object_get(m, "text");
    if (!json_is_object(text))
        return "Param text is required for type text";
    if (!jstr_ok(text, "body", 4096))
        return "Param text['body'] is required and must be 1-4096 "
               "characters";
    return NULL;
}

static const char *meta_check_template(json_t *m)
{
    json_t *t = json_object_get(m, "template");
    if (!json_is_object(t))
        return "Param template is required for type template";
    if (!jstr_ok(t, "name", 512))
        return "Param template['name'] is required";
    if (!jstr_ok(json_object_get(t, "language"), "code", 16))
        return "Param template['language']['code'] is required";
    json_t *comps = json_object_get(t, "components");
    if (comps != NULL && !json_is_array(comps))
        return "Param template['components'] must be an array";
    return NULL;
}

static const char *meta_check_buttons(json_t *action)
{
    json_t *buttons = json_object_get(action, "buttons");
    size_t n = json_array_size(buttons);
    if (!json_is_array(buttons) || n < 1 || n > 3)
        return "Param interactive['action']['buttons'] must have 1-3 items";
    for (size_t i = 0; i < n; i++) {
        json_t *b = json_array_get(buttons, i);
        json_t *reply = json_object_get(b, "reply");
        const char *type = jstr(b, "type");
        if (type == NULL || strcmp(type, "reply") != 0)
            return "Param interactive['action']['buttons'][]['type'] must "
                   "be reply";
        if (!jstr_ok(reply, "id", 256))
            return "Param interactive['action']['buttons'][]['reply']['id'] "
                   "must be 1-256 characters";
        if (!jstr_ok(reply, "title", 20))
            return "Param interactive['action']['buttons'][]['reply']"
                   "['title'] must be 1-20 characters";
    }
    return NULL;
}

static const char *meta_check_rows(json_t *rows, size_t *total)
{
    size_t n = json_array_size(rows);
    if (!json_is_array(rows) || n == 0)
        return "Param interactive['action']['sections'][]['rows'] is "
               "required";
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i);
        if (!jstr_ok(row, "id", 200) || !jstr_ok(row, "title", 24))
            return "Each row needs an id (1-200) and a title (1-24 "
                   "characters)";
    }
    *total += n;
    return NULL;
}

static const char *meta_check_list(json_t *action)
{
    json_t *sections = json_object_get(action, "sections");
    size_t n = json_array_size(sections), rows = 0;
    if (!jstr_ok(action, "button", 20))
        return "Param interactive['action']['button'] must be 1-20 "
               "characters";
    if (!json_is_array(sections) || n < 1 || n > 10)
        return "Param interactive['action']['sections'] must have 1-10 "
               "items";
    for (size_t i = 0; i < n; i++) {
        const char *err = meta_check_rows(
            json_object_get(json_array_get(sections, i), "rows"), &rows);
        if (err != NULL)
            return err;
    }
    return rows <= 10 ? NULL : "A list message has at most 10 rows in all";
}

static const char *meta_check_interactive(json_t *m)
{
    static const char *const others[] = {"cta_url", "flow", "product",
                                         "product_list", "catalog_message",
                                         "location_request_message", NULL};
    json_t *in = json_object_get(m, "interactive");
    const char *type = jstr(in, "type");
    if (!json_is_object(in) || type == NULL)
        return "Param interactive['type'] is required";
    json_t *action = json_object_get(in, "action");
    int is_button = strcmp(type, "button") == 0;
    if (is_button || strcmp(type, "list") == 0) {
        if (!jstr_ok(json_object_get(in, "body"), "text", 1024))
            return "Param interactive['body']['text'] is required";
        if (!json_is_object(action))
            return "Param interactive['action'] is required";
        return is_button ? meta_check_buttons(action)
                         : meta_check_list(action);
    }
    for (size_t i = 0; others[i] != NULL; i++)
        if (strcmp(type, others[i]) == 0)
            return NULL;
    return "Param interactive['type'] is not a supported interactive type";
}

static const char *meta_check_media(json_t *m, const char *type)
{
    json_t *media = json_object_get(m, type);
    if (!json_is_object(media))
        return "The media object for the message type is required";
    if (!jstr_ok(media, "link", 2048) && !jstr_ok(media, "id", 256))
        return "Media needs a link or an id";
    return NULL;
}

static const char *meta_check_location(json_t *m)
{
    json_t *loc = json_object_get(m, "location");
    if (!json_is_number(json_object_get(loc, "latitude")) ||
        !json_is_number(json_object_get(loc, "longitude")))
        return "Param location needs latitude and longitude";
    return NULL;
}

static const char *meta_check_reaction(json_t *m)
{
    json_t *re = json_object_get(m, "reaction");
    if (!jstr_ok(re, "message_id", 512) || jstr(re, "emoji") == NULL)
        return "Param reaction needs message_id and emoji";
    return NULL;
}

static const char *meta_check_type(json_t *m, const char *type)
{
    static const char *const media[] = {"image", "document", "audio",
                                        "video", "sticker", NULL};
    if (strcmp(type, "text") == 0)
        return meta_check_text(m);
    if (strcmp(type, "template") == 0)
        return meta_check_template(m);
    if (strcmp(type, "interactive") == 0)
        return meta_check_interactive(m);
    if (strcmp(type, "location") == 0)
        return meta_check_location(m);
    if (strcmp(type, "reaction") == 0)
        return meta_check_reaction(m);
    for (size_t i = 0; media[i] != NULL; i++)
        if (strcmp(type, media[i]) == 0)
            return meta_check_media(m, type);
    return "Param type is not a supported message type";
}

/* NULL when the body is a valid send, else the details of the first
 * problem. The digits of `to` go into wa_id. */
static const char *meta_invalid_body(fp_call *c, char *wa_id, size_t sz)
{
    json_t *m = c->json;
    if (!json_is_object(m))
        return "The request body must be a JSON object";
    const char *product = jstr(m, "messaging_product");
    if (product == NULL || strcmp(product, "whatsapp") != 0)
        return "The parameter messaging_product is required and must be "
               "whatsapp";
    if (c->to == NULL)
        return "The parameter to is required";
    if (!valid_phone(c->to, wa_id, sz))
        return "Param to must be a phone number";
    json_t *ctx = json_object_get(m, "context");
    if (ctx != NULL && !jstr_ok(ctx, "message_id", 512))
        return "Param context['message_id'] is required with context";
    json_t *type = json_object_get(m, "type");
    if (type != NULL && !json_is_string(type))
        return "Param type must be a string";
    return meta_check_type(m, type ? json_string_value(type) : "text");
}

static int meta_auth_ok(const fp_call *c)
{
    const char *a = c->authorization;
    if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
        return 0;
    a += 7;
    while (*a == ' ')
        a++;
    return strcmp(a, c->s->meta_token) == 0;
}

static int meta_phone_ok(const fp_call *c)
{
    if (c->s->meta_phone_id != NULL)
        return strcmp(c->phone_id, c->s->meta_phone_id) == 0;
    return strspn(c->phone_id, "0123456789") == strlen(c->phone_id);
}

/* "wamid." + base64 of bytes shaped like Meta's (recipient, a unique
 * hex id), so ids look real and never repeat. */
static char *meta_wamid(fp_server *s, const char *wa_id)
{
    unsigned char raw[96];
    size_t n = 0, dlen = strlen(wa_id);
    raw[n++] = 0x1c;
    raw[n++] = 0x18;
    raw[n++] = (unsigned char)dlen;
    memcpy(raw + n, wa_id, dlen);
    n += dlen;
    memcpy(raw + n, "\x15\x02\x00\x11\x18\x12", 6);
    n += 6;
    n += (size_t)snprintf((char *)raw + n, sizeof raw - n, "%016llX%02X",
                          (unsigned long long)unique64(s),
                          (unsigned)(unique64(s) & 0xff));
    raw[n++] = 0x00;
    char *b64 = base64_encode(raw, n);
    if (b64 == NULL)
        return NULL;
    char *id = malloc(strlen(b64) + 7);
    if (id != NULL)
        sprintf(id, "wamid.%s", b64);
    free(b64);
    return id;
}

static void meta_sent(fp_call *c, fp_reply *r, const char *wa_id,
                      const char *id)
{
    json_t *msg = json_pack("{s:s}", "id", id);
    const char *type = jstr(c->json, "type");
    if (type != NULL && strcmp(type, "template") == 0)
        json_object_set_new(msg, "message_status", json_string("accepted"));
    json_t *o = json_pack("{s:s,s:[{s:s,s:s}],s:[o]}", "messaging_product",
                          "whatsapp", "contacts", "input", c->to, "wa_id",
                          wa_id, "messages", msg);
    reply_json(r, 200, CT_META, o);
}

static void meta_unknown_phone(fp_call *c, fp_reply *r)
{
    char msg[400];
    snprintf(msg, sizeof msg,
             "Unsupported post request. Object with ID '%.100s' does not "
             "exist, cannot be loaded due to missing permissions, or does "
             "not support this operation",
             c->phone_id);
    meta_err e = {.status = 400, .code = 100, .subcode = 33,
                  .type = "GraphMethodException", .message = msg};
    meta_error(c->s, r, &e);
}

static void meta_handle(fp_call *c, fp_reply *r, char **message_id)
{
    char wa_id[32];
    if (!meta_auth_ok(c)) {
        meta_err e = {.status = 401, .code = 190};
        meta_error(c->s, r, &e);
        return;
    }
    if (!meta_phone_ok(c)) {
        meta_unknown_phone(c, r);
        return;
    }
    const char *details = meta_invalid_body(c, wa_id, sizeof wa_id);
    if (details != NULL) {
        meta_invalid(c->s, r, details);
        return;
    }
    *message_id = meta_wamid(c->s, wa_id);
    if (*message_id == NULL) {
        meta_err e = {.status = 500, .code = 131000};
        meta_error(c->s, r, &e);
        return;
    }
    meta_sent(c, r, wa_id, *message_id);
}

/* ==== Faults and outages ============================================= */

static int twilio_default_code(int status)
{
    switch (status) {
    case 401: return 20003;
    case 404: return 20404;
    case 429: return 20429;
    case 503: return 20503;
    default: return status >= 500 ? 20500 : 20000 + status;
    }
}

static int meta_default_code(int status)
{
    switch (status) {
    case 401: return 190;
    case 403: return 10;
    case 429: return 130429;
    case 503: return 2;
    default: return status >= 500 ? 1 : 100;
    }
}

/* The provider's error for code at status (0: the code's own status). */
static void provider_error(fp_server *s, fp_provider p, const fp_fault *f,
                           int status, int code, fp_reply *r)
{
    if (p == FP_TWILIO) {
        const code_info *ci = twilio_code(code);
        if (status == 0)
            status = ci ? ci->status : 400;
        twilio_error(r, status, code, f->message);
    } else {
        const code_info *ci = meta_code(code);
        if (status == 0)
            status = ci ? ci->status : 400;
        meta_err e = {.status = status, .code = code, .subcode = f->subcode,
                      .message = f->message, .details = f->details};
        meta_error(s, r, &e);
    }
    r->retry_after_s = f->retry_after_s;
}

static void fault_status(fp_server *s, fp_provider p, const fp_fault *f,
                         fp_reply *r)
{
    if (f->body != NULL) {
        reply_set(r, f->http_status,
                  f->content_type ? f->content_type : CT_TEXT,
                  xstrdup(f->body));
        r->retry_after_s = f->retry_after_s;
        return;
    }
    int code = f->code;
    if (code == 0)
        code = p == FP_TWILIO ? twilio_default_code(f->http_status)
                              : meta_default_code(f->http_status);
    provider_error(s, p, f, f->http_status, code, r);
}

/* Build the answer a fault gives; DELAY leaves r alone (normal answer). */
static void fault_reply(fp_server *s, fp_provider p, const fp_fault *f,
                        fp_reply *r)
{
    switch (f->kind) {
    case FP_FAULT_STATUS:
        fault_status(s, p, f, r);
        break;
    case FP_FAULT_RATE_LIMIT: {
        int code = f->code ? f->code : p == FP_TWILIO ? 20429 : 130429;
        provider_error(s, p, f, f->http_status ? f->http_status : 429, code,
                       r);
        break;
    }
    case FP_FAULT_PROVIDER_ERROR:
        provider_error(s, p, f, f->http_status, f->code, r);
        break;
    default: /* DELAY, HANG, DROP */
        break;
    }
}

static void fault_entry_free(fault_entry *e)
{
    free((char *)e->f.message);
    free((char *)e->f.details);
    free((char *)e->f.body);
    free((char *)e->f.content_type);
    free(e);
}

typedef struct fault_action {
    fp_fault_kind kind;
    int delay_ms;
} fault_action;

/* Take the oldest fault for p (under s->mu): fills r (unless DELAY, HANG
 * or DROP) and returns its action; kind NONE when there is none. */
static fault_action fault_take(fp_server *s, fp_provider p, fp_reply *r)
{
    fault_action a = {FP_FAULT_NONE, 0};
    for (fault_entry **pp = &s->faults; *pp != NULL; pp = &(*pp)->next) {
        fault_entry *e = *pp;
        if (e->which != FP_ANY && e->which != p)
            continue;
        a.kind = e->f.kind;
        a.delay_ms = e->f.delay_ms;
        fault_reply(s, p, &e->f, r);
        if (e->times > 0 && --e->times == 0) {
            *pp = e->next;
            fault_entry_free(e);
        }
        break;
    }
    return a;
}

static void outage_reply(fp_server *s, fp_provider p, fp_reply *r)
{
    if (p == FP_TWILIO) {
        twilio_error(r, 503, 20503, NULL);
    } else {
        meta_err e = {.status = 503, .code = 2};
        meta_error(s, r, &e);
    }
}

/* ==== Recording ====================================================== */

static void record_clear(record *rec)
{
    free(rec->method);
    free(rec->path);
    free(rec->query);
    free(rec->authorization);
    free(rec->content_type);
    free(rec->body);
    free(rec->to);
    free(rec->message_id);
    memset(rec, 0, sizeof *rec);
}

static int sent_to(const record *rec, const char *key);

/* Takes message_id. 0, or -1 (out of memory: nothing recorded). */
static int record_add(fp_call *c, int status, fp_fault_kind fault,
                      char *message_id)
{
    record rec = {
        .provider = c->provider, .method = xstrdup(c->method),
        .path = xstrdup(c->path), .query = xstrdup(c->query),
        .authorization = xstrdup(c->authorization),
        .content_type = xstrdup(c->content_type),
        .body = xmemdup0(c->body, c->body_len), .body_len = c->body_len,
        .status = status, .fault = fault, .to = xstrdup(c->to),
        .message_id = message_id, .at_ms = mono_ms()};
    if (!rec.method || !rec.path || !rec.body) {
        record_clear(&rec);
        return -1;
    }
    fp_server *s = c->s;
    pthread_mutex_lock(&s->mu);
    if (s->nrecs == s->caprecs) {
        size_t cap = s->caprecs ? s->caprecs * 2 : 64;
        record *g = realloc(s->recs, cap * sizeof *g);
        if (g == NULL) {
            pthread_mutex_unlock(&s->mu);
            record_clear(&rec);
            return -1;
        }
        s->recs = g;
        s->caprecs = cap;
    }
    s->recs[s->nrecs++] = rec;
    s->nsent += sent_to(&rec, NULL);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ==== Deciding and answering a provider request ======================= */

static fault_action decide_faults(fp_call *c, fp_reply *r)
{
    fp_server *s = c->s;
    fault_action a = {FP_FAULT_NONE, 0};
    pthread_mutex_lock(&s->mu);
    if (s->down[c->provider]) {
        outage_reply(s, c->provider, r);
        a.kind = FP_FAULT_STATUS;
    } else {
        a = fault_take(s, c->provider, r);
    }
    pthread_mutex_unlock(&s->mu);
    return a;
}

/* Decide the answer to a send and record it. */
static fault_action decide_send(fp_call *c, fp_reply *r)
{
    char *message_id = NULL;
    fault_action a = decide_faults(c, r);
    int normal = a.kind == FP_FAULT_NONE || a.kind == FP_FAULT_DELAY;
    if (normal && c->provider == FP_TWILIO)
        twilio_handle(c, r, &message_id);
    else if (normal)
        meta_handle(c, r, &message_id);
    if (a.kind == FP_FAULT_HANG || a.kind == FP_FAULT_DROP)
        r->status = 0;
    record_add(c, r->status, a.kind, message_id);
    return a;
}

static int client_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
        return 1;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                      errno != EINTR);
}

static void cond_wait_ms(fp_server *s, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* Wait ms (-1: for ever). 1 when the time passed; 0 when the server began
 * stopping or the client went away first. */
static int wait_answer(fp_server *s, struct MHD_Connection *conn, int ms)
{
    int64_t end = ms < 0 ? INT64_MAX : mono_ms() + ms;
    for (;;) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            return 1;
        pthread_mutex_lock(&s->mu);
        if (!s->stopping)
            cond_wait_ms(s, left < FP_WAIT_SLICE_MS ? left : FP_WAIT_SLICE_MS);
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping || client_gone(conn))
            return 0;
    }
}

static enum MHD_Result answer_send(fp_call *c, fp_reply *r)
{
    if (strcmp(c->method, "POST") != 0) {
        reply_text(r, 405, "method not allowed");
        record_add(c, r->status, FP_FAULT_NONE, NULL);
        return reply_send(c->conn, r);
    }
    fault_action a = decide_send(c, r);
    if (a.delay_ms > 0 && !wait_answer(c->s, c->conn, a.delay_ms))
        return MHD_NO;
    if (a.kind == FP_FAULT_HANG) {
        wait_answer(c->s, c->conn, -1);
        return MHD_NO;
    }
    return reply_send(c->conn, r);
}

static enum MHD_Result answer_other(fp_call *c, fp_reply *r)
{
    if (starts_with(c->path, "/2010-04-01/"))
        twilio_error(r, 404, 20404, NULL);
    else
        reply_text(r, 404, "not found");
    record_add(c, r->status, FP_FAULT_NONE, NULL);
    return reply_send(c->conn, r);
}

/* ==== Control endpoints ============================================== */

static int provider_parse(const char *name, fp_provider *out)
{
    if (name == NULL || strcmp(name, "any") == 0)
        *out = FP_ANY;
    else if (strcmp(name, "twilio") == 0)
        *out = FP_TWILIO;
    else if (strcmp(name, "meta") == 0)
        *out = FP_META;
    else
        return -1;
    return 0;
}

static const char *const kind_names[] = {
    "none", "status", "rate_limit", "provider_error", "delay", "hang", "drop"};

static const char *kind_name(fp_fault_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof kind_names[0]
               ? kind_names[k]
               : "unknown";
}

static int kind_parse(const char *name, fp_fault_kind *out)
{
    for (size_t i = 1; name && i < sizeof kind_names / sizeof *kind_names;
         i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (fp_fault_kind)i;
            return 0;
        }
    return -1;
}

static int jint(json_t *o, const char *key, int def)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

/* A fault described in JSON; NULL, or what is wrong. */
static const char *fault_from_json(json_t *o, fp_provider *which,
                                   fp_fault *f, int *times)
{
    if (!json_is_object(o))
        return "the body must be a JSON object";
    if (provider_parse(jstr(o, "provider"), which) != 0)
        return "provider must be twilio, meta or any";
    if (kind_parse(jstr(o, "kind"), &f->kind) != 0)
        return "kind must be status, rate_limit, provider_error, delay, "
               "hang or drop";
    f->http_status = jint(o, "status", 0);
    f->code = jint(o, "code", 0);
    f->subcode = jint(o, "subcode", 0);
    f->retry_after_s = jint(o, "retry_after", 0);
    f->delay_ms = jint(o, "delay_ms", 0);
    f->message = jstr(o, "message");
    f->details = jstr(o, "details");
    f->body = jstr(o, "body");
    f->content_type = jstr(o, "content_type");
    *times = jint(o, "times", 1);
    return NULL;
}

static void control_ok(fp_reply *r)
{
    reply_json(r, 200, CT_JSON, json_pack("{s:b}", "ok", 1));
}

static void control_error(fp_reply *r, int status, const char *why)
{
    reply_json(r, status, CT_JSON, json_pack("{s:s}", "error", why));
}

static void control_fault(fp_call *c, fp_reply *r)
{
    fp_provider which;
    fp_fault f = {0};
    int times;
    json_t *o = json_loadb(c->body, c->body_len, 0, NULL);
    const char *err = fault_from_json(o, &which, &f, &times);
    if (err == NULL && fp_fault_push(c->s, which, &f, times) != 0)
        err = "invalid fault (times 0, missing status or code?)";
    if (err != NULL)
        control_error(r, 400, err);
    else
        control_ok(r);
    json_decref(o);
}

static const char *query_arg(fp_call *c, const char *name)
{
    return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void control_down(fp_call *c, fp_reply *r)
{
    fp_provider which;
    const char *on = query_arg(c, "on");
    if (provider_parse(query_arg(c, "provider"), &which) != 0) {
        control_error(r, 400, "provider must be twilio, meta or any");
        return;
    }
    fp_set_down(c->s, which, on == NULL || strcmp(on, "0") != 0);
    control_ok(r);
}

static void control_count(fp_call *c, fp_reply *r)
{
    const char *to = query_arg(c, "to");
    size_t count = to ? fp_count_to(c->s, to) : fp_count_sent(c->s);
    json_t *o = json_pack("{s:I,s:I}", "count", (json_int_t)count,
                          "requests", (json_int_t)fp_request_count(c->s));
    reply_json(r, 200, CT_JSON, o);
}

static void control_requests(fp_call *c, fp_reply *r)
{
    char *list = fp_requests_json(c->s);
    if (list == NULL)
        control_error(r, 500, "out of memory");
    else
        reply_set(r, 200, CT_JSON, list);
}

static void control_handle(fp_call *c, fp_reply *r)
{
    const char *what = c->path + strlen("/__fake/");
    int post = strcmp(c->method, "POST") == 0;
    int get = strcmp(c->method, "GET") == 0;
    if (post && strcmp(what, "fault") == 0) {
        control_fault(c, r);
    } else if (post && strcmp(what, "fault/clear") == 0) {
        fp_fault_clear(c->s);
        control_ok(r);
    } else if (post && strcmp(what, "down") == 0) {
        control_down(c, r);
    } else if (post && strcmp(what, "reset") == 0) {
        fp_reset(c->s);
        fp_fault_clear(c->s);
        fp_set_down(c->s, FP_ANY, 0);
        control_ok(r);
    } else if (get && strcmp(what, "requests") == 0) {
        control_requests(c, r);
    } else if (get && strcmp(what, "count") == 0) {
        control_count(c, r);
    } else {
        control_error(r, 404, "unknown control endpoint");
    }
}

/* ==== libmicrohttpd glue ============================================= */

typedef struct conn_state {
    char *uri; /* raw, with the query */
    strbuf body;
    int started;
    int too_large;
} conn_state;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    conn_state *st = calloc(1, sizeof *st);
    if (st != NULL)
        st->uri = xstrdup(uri);
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    conn_state *st = *con_cls;
    if (st == NULL)
        return;
    free(st->uri);
    free(st->body.p);
    free(st);
    *con_cls = NULL;
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result dispatch(fp_call *c, fp_reply *r)
{
    if (c->s->enable_control && starts_with(c->path, "/__fake/")) {
        control_handle(c, r);
        return reply_send(c->conn, r);
    }
    route(c);
    parse_body(c);
    return c->provider == FP_OTHER ? answer_other(c, r) : answer_send(c, r);
}

static enum MHD_Result handle(fp_server *s, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              conn_state *st)
{
    const char *q = st->uri ? strchr(st->uri, '?') : NULL;
    fp_call c = {.s = s, .conn = conn, .method = method, .path = url,
                 .query = q ? q + 1 : NULL,
                 .authorization = header(conn, "Authorization"),
                 .content_type = header(conn, "Content-Type"),
                 .body = st->body.p ? st->body.p : "",
                 .body_len = st->body.len};
    fp_reply r = {0};
    enum MHD_Result ret;
    if (st->too_large) {
        reply_text(&r, 413, "request body too large");
        ret = reply_send(conn, &r);
    } else {
        ret = dispatch(&c, &r);
    }
    free(r.body);
    form_free(c.form, c.form_len);
    json_decref(c.json);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    conn_state *st = *con_cls;
    if (st == NULL)
        return MHD_NO;
    if (!st->started) {
        st->started = 1;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (st->body.len + *upload_data_size > FP_MAX_BODY ||
            sb_add(&st->body, upload_data, *upload_data_size) != 0)
            st->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return handle(cls, conn, url, method, st);
}

/* ==== Public API ===================================================== */

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&seed, sizeof seed, 1, f) != 1)
            seed = 0;
        fclose(f);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return seed ^ mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
                        (uint64_t)ts.tv_sec);
}

static int config_copy(fp_server *s, const fp_config *cfg)
{
    s->twilio_sid = xstrdup(cfg->twilio_account_sid
                                ? cfg->twilio_account_sid
                                : FP_DEFAULT_TWILIO_SID);
    s->twilio_token = xstrdup(cfg->twilio_auth_token ? cfg->twilio_auth_token
                                                     : FP_DEFAULT_TWILIO_TOKEN);
    s->meta_token = xstrdup(cfg->meta_access_token ? cfg->meta_access_token
                                                   : FP_DEFAULT_META_TOKEN);
    s->meta_phone_id = xstrdup(cfg->meta_phone_number_id);
    s->meta_version = xstrdup(cfg->meta_api_version);
    s->enable_control = cfg->enable_control;
    s->send_status_callbacks = cfg->send_status_callbacks;
    if (!s->twilio_sid || !s->twilio_token || !s->meta_token ||
        (cfg->meta_phone_number_id && !s->meta_phone_id) ||
        (cfg->meta_api_version && !s->meta_version))
        return -1;
    size_t n = strlen(s->twilio_sid) + strlen(s->twilio_token) + 2;
    char *pair = malloc(n);
    if (pair == NULL)
        return -1;
    snprintf(pair, n, "%s:%s", s->twilio_sid, s->twilio_token);
    s->twilio_basic = base64_encode((unsigned char *)pair, strlen(pair));
    free(pair);
    return s->twilio_basic ? 0 : -1;
}

static int sync_init(fp_server *s)
{
    pthread_condattr_t ca;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0 || pthread_cond_init(&s->cb_cv, NULL) != 0) {
        if (rc == 0)
            pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    return 0;
}

static int daemon_start(fp_server *s, int port, int pool_threads)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned int pool = (unsigned int)(pool_threads > 0 ? pool_threads : 0);
    /* The pool's threads poll(): libmicrohttpd 0.9.75's epoll mode left
     * a burst on 128 or 256 kept-alive connections of one thread
     * unanswered for the connection timeout (after a wait that filled its
     * 128-event buffer it waits again with the full timeout; e2e.py with
     * 128 sender connections fell to 700 replies/s). */
    s->mhd = MHD_start_daemon(
        pool > 0 ? MHD_USE_POLL_INTERNAL_THREAD
                 : MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION,
        0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, FP_IDLE_TIMEOUT_S,
        MHD_OPTION_THREAD_POOL_SIZE, pool > 1 ? pool : 0,
        /* libmicrohttpd zeroes a connection's pool before each request on
         * it (32 KiB by default: 3 % of the fake's CPU in e2e.py); the
         * request line and headers need far less, bodies are copied out
         * as they come (wabot-server does the same). */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FP_CONN_MEMORY,
        MHD_OPTION_END);
    if (s->mhd == NULL)
        return -1;
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d",
             s->port);
    return s->port > 0 ? 0 : -1;
}

static void server_free(fp_server *s)
{
    fp_fault_clear(s);
    for (size_t i = 0; i < s->nrecs; i++)
        record_clear(&s->recs[i]);
    free(s->recs);
    free(s->twilio_sid);
    free(s->twilio_token);
    free(s->twilio_basic);
    free(s->meta_token);
    free(s->meta_phone_id);
    free(s->meta_version);
    while (s->cbs) {
        status_cb *cb = s->cbs;
        s->cbs = cb->next;
        status_cb_free(cb);
    }
    pthread_cond_destroy(&s->cb_cv);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

fp_server *fp_start(const fp_config *cfg)
{
    fp_config defaults = {0};
    if (cfg == NULL)
        cfg = &defaults;
    fp_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    if (sync_init(s) != 0) {
        free(s);
        return NULL;
    }
    s->seed = random_seed();
    atomic_init(&s->next_id, 1);
    if (config_copy(s, cfg) != 0 || daemon_start(s, cfg->port, cfg->pool_threads) != 0 ||
        (s->send_status_callbacks &&
         pthread_create(&s->cb_thread, NULL, status_cb_main, s) != 0)) {
        if (s->mhd != NULL)
            MHD_stop_daemon(s->mhd);
        server_free(s);
        return NULL;
    }
    s->cb_started = s->send_status_callbacks;
    return s;
}

int fp_port(const fp_server *s)
{
    return s->port;
}

const char *fp_base_url(const fp_server *s)
{
    return s->base_url;
}

void fp_stop(fp_server *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_cond_broadcast(&s->cb_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->cb_started)
        pthread_join(s->cb_thread, NULL);
    MHD_stop_daemon(s->mhd);
    server_free(s);
}

static char *dup_or_null(const char *v, int *oom)
{
    char *d = xstrdup(v);
    if (v != NULL && d == NULL)
        *oom = 1;
    return d;
}

int fp_fault_push(fp_server *s, fp_provider which, const fp_fault *f,
                  int times)
{
    if (f == NULL || times == 0 || times < -1 || which > FP_META ||
        f->kind <= FP_FAULT_NONE || f->kind > FP_FAULT_DROP)
        return -1;
    if ((f->kind == FP_FAULT_STATUS && f->http_status < 100) ||
        (f->kind == FP_FAULT_PROVIDER_ERROR && f->code == 0))
        return -1;
    fault_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -1;
    int oom = 0;
    e->which = which;
    e->times = times;
    e->f = *f;
    e->f.message = dup_or_null(f->message, &oom);
    e->f.details = dup_or_null(f->details, &oom);
    e->f.body = dup_or_null(f->body, &oom);
    e->f.content_type = dup_or_null(f->content_type, &oom);
    if (oom) {
        fault_entry_free(e);
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    fault_entry **pp = &s->faults;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = e;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void fp_fault_clear(fp_server *s)
{
    pthread_mutex_lock(&s->mu);
    fault_entry *e = s->faults;
    s->faults = NULL;
    pthread_mutex_unlock(&s->mu);
    while (e != NULL) {
        fault_entry *next = e->next;
        fault_entry_free(e);
        e = next;
    }
}

void fp_set_down(fp_server *s, fp_provider which, int down)
{
    pthread_mutex_lock(&s->mu);
    if (which == FP_ANY || which == FP_TWILIO)
        s->down[FP_TWILIO] = down != 0;
    if (which == FP_ANY || which == FP_META)
        s->down[FP_META] = down != 0;
    pthread_mutex_unlock(&s->mu);
}

size_t fp_request_count(fp_server *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nrecs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int record_copy(const record *rec, fp_request *out)
{
    memset(out, 0, sizeof *out);
    out->provider = rec->provider;
    out->method = xstrdup(rec->method);
    out->path = xstrdup(rec->path);
    out->query = xstrdup(rec->query);
    out->authorization = xstrdup(rec->authorization);
    out->content_type = xstrdup(rec->content_type);
    out->body = xmemdup0(rec->body, rec->body_len);
    out->body_len = rec->body_len;
    out->status = rec->status;
    out->fault = rec->fault;
    out->to = xstrdup(rec->to);
    out->message_id = xstrdup(rec->message_id);
    out->at_ms = rec->at_ms;
    return out->method && out->path && out->body &&
                   (!rec->query || out->query) &&
                   (!rec->authorization || out->authorization) &&
                   (!rec->content_type || out->content_type) &&
                   (!rec->to || out->to) &&
                   (!rec->message_id || out->message_id)
               ? 0
               : -1;
}

int fp_request_get(fp_server *s, size_t i, fp_request *out)
{
    int rc = -1;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    if (i < s->nrecs)
        rc = record_copy(&s->recs[i], out);
    pthread_mutex_unlock(&s->mu);
    if (rc == 0 && is_form(out->content_type))
        rc = form_parse(out->body, out->body_len, &out->form, &out->form_len);
    if (rc == 0)
        out->json_ = json_loadb(out->body, out->body_len, 0, NULL);
    if (rc != 0)
        fp_request_free(out);
    return rc;
}

void fp_request_free(fp_request *req)
{
    if (req == NULL)
        return;
    free(req->method);
    free(req->path);
    free(req->query);
    free(req->authorization);
    free(req->content_type);
    free(req->body);
    free(req->to);
    free(req->message_id);
    form_free(req->form, req->form_len);
    json_decref(req->json_);
    memset(req, 0, sizeof *req);
}

const char *fp_request_form(const fp_request *req, const char *name,
                            size_t index)
{
    return form_get(req->form, req->form_len, name, index);
}

size_t fp_request_form_count(const fp_request *req, const char *name)
{
    return form_count(req->form, req->form_len, name);
}

const char *fp_request_json(const fp_request *req, const char *path)
{
    return json_string_value(jpath(req->json_, path));
}

size_t fp_request_json_len(const fp_request *req, const char *path)
{
    json_t *v = jpath(req->json_, path);
    if (json_is_array(v))
        return json_array_size(v);
    return json_is_object(v) ? json_object_size(v) : 0;
}

/* Meta's message types whose object carries a "link" (or an "id"). */
static const char *meta_media_type(const fp_request *req)
{
    static const char *const media[] = {"image", "document", "audio",
                                        "video", "sticker"};
    const char *type = fp_request_json(req, "type");
    for (size_t i = 0; type && i < sizeof media / sizeof *media; i++)
        if (strcmp(type, media[i]) == 0)
            return media[i];
    return NULL;
}

/* Meta's "<type>.<field>" of a media message, or NULL. */
static const char *meta_media_field(const fp_request *req, const char *field)
{
    const char *type = meta_media_type(req);
    char path[64];
    if (!type)
        return NULL;
    snprintf(path, sizeof path, "%s.%s", type, field);
    return fp_request_json(req, path);
}

const char *fp_request_media_url(const fp_request *req)
{
    if (req->provider == FP_TWILIO)
        return fp_request_form(req, "MediaUrl", 0);
    return req->provider == FP_META ? meta_media_field(req, "link") : NULL;
}

const char *fp_request_text(const fp_request *req)
{
    if (req->provider == FP_TWILIO)
        return fp_request_form(req, "Body", 0);
    if (req->provider != FP_META)
        return NULL;
    const char *type = fp_request_json(req, "type");
    if (!type || strcmp(type, "text") == 0)
        return fp_request_json(req, "text.body");
    if (strcmp(type, "interactive") == 0)
        return fp_request_json(req, "interactive.body.text");
    return meta_media_field(req, "caption");
}

static int sent_to(const record *rec, const char *key)
{
    return rec->message_id != NULL && rec->to != NULL &&
           (key == NULL || strcmp(phone_key(rec->to), key) == 0);
}

/* Without `to`, the running count: e2e.py asks every 100 ms while
 * hundreds of thousands of records pile up, and a scan under the lock
 * held the serving thread up. */
static size_t count_sent(fp_server *s, const char *to)
{
    const char *key = to ? phone_key(to) : NULL;
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    if (!key)
        n = s->nsent;
    else
        for (size_t i = 0; i < s->nrecs; i++)
            n += sent_to(&s->recs[i], key);
    pthread_mutex_unlock(&s->mu);
    return n;
}

size_t fp_count_to(fp_server *s, const char *to)
{
    return to ? count_sent(s, to) : 0;
}

size_t fp_count_sent(fp_server *s)
{
    return count_sent(s, NULL);
}

int fp_wait_requests(fp_server *s, size_t n, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    pthread_mutex_lock(&s->mu);
    while (s->nrecs < n && mono_ms() < end)
        cond_wait_ms(s, end - mono_ms());
    int ok = s->nrecs >= n;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void fp_reset(fp_server *s)
{
    pthread_mutex_lock(&s->mu);
    record *recs = s->recs;
    size_t n = s->nrecs;
    s->recs = NULL;
    s->nrecs = s->caprecs = s->nsent = 0;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++)
        record_clear(&recs[i]);
    free(recs);
}

static const char *provider_name(fp_provider p)
{
    switch (p) {
    case FP_TWILIO: return "twilio";
    case FP_META: return "meta";
    case FP_OTHER: return "other";
    default: return "any";
    }
}

static json_t *form_json(const char *body, size_t len)
{
    fp_form_field *f;
    size_t n;
    if (form_parse(body, len, &f, &n) != 0)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("[s,s]", f[i].name, f[i].value));
    form_free(f, n);
    return arr;
}

static json_t *record_json(const record *rec)
{
    json_t *o = json_object();
    jset_str(o, "provider", provider_name(rec->provider));
    jset_str(o, "method", rec->method);
    jset_str(o, "path", rec->path);
    jset_str(o, "query", rec->query);
    jset_str(o, "authorization", rec->authorization);
    jset_str(o, "content_type", rec->content_type);
    json_t *body = json_stringn(rec->body, rec->body_len);
    if (body == NULL) { /* not UTF-8: send it base64-encoded instead */
        char *b64 = base64_encode((const unsigned char *)rec->body,
                                  rec->body_len);
        jset_str(o, "body_base64", b64);
        free(b64);
    }
    json_object_set_new(o, "body", body ? body : json_null());
    json_object_set_new(o, "status", json_integer(rec->status));
    jset_str(o, "fault", kind_name(rec->fault));
    jset_str(o, "to", rec->to);
    jset_str(o, "message_id", rec->message_id);
    json_object_set_new(o, "at_ms", json_integer(rec->at_ms));
    if (is_form(rec->content_type))
        json_object_set_new(o, "form", form_json(rec->body, rec->body_len));
    json_t *parsed = json_loadb(rec->body, rec->body_len, 0, NULL);
    if (parsed != NULL)
        json_object_set_new(o, "json", json_incref(parsed));
    /* What a provider would fetch, read the way fp_request_media_url
     * reads it (a request copied out is that function's input). */
    fp_request view = {.provider = rec->provider, .json_ = parsed};
    if (is_form(rec->content_type) &&
        form_parse(rec->body, rec->body_len, &view.form, &view.form_len) != 0)
        view.form_len = 0;
    jset_str(o, "media_url", fp_request_media_url(&view));
    form_free(view.form, view.form_len);
    json_decref(parsed);
    return o;
}

char *fp_requests_json(fp_server *s)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nrecs; i++)
        json_array_append_new(arr, record_json(&s->recs[i]));
    pthread_mutex_unlock(&s->mu);
    char *out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return out;
}
