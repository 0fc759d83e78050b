/* Invoices in storage: issuing with gap-free numbering, loading, status
 * changes, lists and statistics.
 *
 * Keys of organisation <org> (all carry the hash tag {<org>}, so each
 * change is one transaction in one Redis Cluster slot):
 *   inv:{org}:seq[:<year>]   the last number given (decimal text)
 *   inv:{org}:r:<number>     the invoice (record, schema 1, JSON)
 *   inv:{org}:k:<key>        number issued under an idempotency key
 *   inv:{org}:pdf:<number>   its rendered PDF (the worker stores it)
 *   inv:{org}:all            sorted index of numbers by issue time
 *   inv:{org}:c:<customer>   the same, per customer
 *   inv:{org}:s:<status>     the same, per status
 *   inv:{org}:due            open (ISSUED, SENT) invoices by due time
 *   inv:{org}:n:<status>     count of invoices in a status
 *   inv:{org}:cur            sorted index of the currencies used
 *   inv:{org}:billed:<CUR>   total of invoices not void
 *   inv:{org}:paid:<CUR>     total of paid invoices
 *
 * Numbering. The counter moves only in the transaction that writes the
 * invoice it numbers: read the counter and its version, then commit
 * "counter := n + 1 if still at that version" together with the new
 * invoice. A concurrent issuer's commit fails on the version and retries
 * with the next number, so no number is skipped (nothing takes a number
 * without writing its invoice) and none is given twice, whichever thread
 * or process issues. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commerce/invoice_internal.h"
#include "internal/state.h"
#include "internal/strbuf.h"
#include "wabot/storage.h"

#define KEY_MAX 512
#define SCHEMA 1
/* Issue attempts: each failed one means another issuer got a number. */
#define MAX_ISSUE_TRIES 100000
#define MAX_CHANGE_TRIES 1000

static const wabot_schema record_schema = {WABOT_SCHEMA_VERSION, SCHEMA, NULL,
                                           NULL};

static void key_of(char *buf, const char *org, const char *what,
                   const char *arg)
{
    snprintf(buf, KEY_MAX, "inv:{%s}:%s%s%s", org, what, arg ? ":" : "",
             arg ? arg : "");
}

static int year_of(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm.tm_year + 1900;
}

/* ------------------------------------------------------------------ */
/* Number format: literal [A-Za-z0-9_.-], {year}, {seq} or {seq:N}     */

static int literal_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* The token at fmt ('{'): 1 year, 2 seq (*width set), 0 unknown;
 * *tlen its length. */
static int token(const char *fmt, size_t *tlen, int *width)
{
    *width = 0;
    if (strncmp(fmt, "{year}", 6) == 0) {
        *tlen = 6;
        return 1;
    }
    if (strncmp(fmt, "{seq}", 5) == 0) {
        *tlen = 5;
        return 2;
    }
    if (strncmp(fmt, "{seq:", 5) == 0 && fmt[5] >= '1' && fmt[5] <= '9' &&
        fmt[6] == '}') {
        *width = fmt[5] - '0';
        *tlen = 7;
        return 2;
    }
    return 0;
}

int wb_inv_check_format(const char *value, char *why, size_t why_len)
{
    int seqs = 0;
    size_t tlen;
    int width;
    if (strlen(value) > 32) {
        snprintf(why, why_len, "at most 32 bytes");
        return WABOT_ERR_INVAL;
    }
    for (const char *p = value; *p != '\0';) {
        if (*p == '{') {
            int t = token(p, &tlen, &width);
            if (t == 0) {
                snprintf(why, why_len, "unknown token at \"%.10s\" (use "
                                       "{year}, {seq} or {seq:1..9})", p);
                return WABOT_ERR_INVAL;
            }
            seqs += t == 2;
            p += tlen;
        } else if (!literal_ok(*p++)) {
            snprintf(why, why_len, "only letters, digits, '_', '.', '-' "
                                   "and tokens");
            return WABOT_ERR_INVAL;
        }
    }
    if (seqs != 1) {
        snprintf(why, why_len, "must hold {seq} (or {seq:N}) exactly once");
        return WABOT_ERR_INVAL;
    }
    return WABOT_OK;
}

int wb_inv_format_number(const char *fmt, int64_t seq, int64_t ms, char *buf)
{
    size_t n = 0, tlen;
    int width;
    char part[32];
    for (const char *p = fmt; *p != '\0';) {
        int t = *p == '{' ? token(p, &tlen, &width) : 0;
        if (t == 1)
            snprintf(part, sizeof part, "%04d", year_of(ms));
        else if (t == 2)
            snprintf(part, sizeof part, "%0*lld", width, (long long)seq);
        else {
            part[0] = *p;
            part[1] = '\0';
            tlen = 1;
        }
        size_t plen = strlen(part);
        if (n + plen > WB_INV_NUMBER_MAX)
            return -1;
        memcpy(buf + n, part, plen);
        n += plen;
        p += tlen;
    }
    buf[n] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ */
/* Issuing                                                             */

/* The counter's key: per year when the organisation resets yearly and
 * its format shows the year (without the year a reset would give a
 * number twice, so it is ignored then). */
static void seq_key(wabot_module *m, const char *org, const char *fmt,
                    int64_t now, char *buf)
{
    char year[16];
    snprintf(year, sizeof year, "%04d", year_of(now));
    int yearly = wb_inv_opt_int(m, org, WB_INV_OPT_YEARLY_RESET) != 0 &&
                 strstr(fmt, "{year}") != NULL;
    key_of(buf, org, "seq", yearly ? year : NULL);
}

static int read_counter(wabot_storage *s, const char *key, int64_t *value,
                        uint64_t *version)
{
    char *val = NULL;
    int rc = wabot_storage_get(s, key, &val, NULL, version);
    *value = 0;
    if (rc == WABOT_ERR_NOT_FOUND) {
        *version = 0;
        return WABOT_OK;
    }
    if (rc == WABOT_OK) {
        char *end;
        *value = strtoll(val, &end, 10);
        if (*end != '\0' || *value < 0)
            rc = WABOT_ERR_PARSE;
    }
    wabot_free(val);
    return rc;
}

static int encode(const wb_invoice *inv, char **rec, size_t *rec_len)
{
    size_t len;
    char *json = wb_invoice_to_json(inv, &len);
    if (!json)
        return WABOT_ERR_NOMEM;
    int rc = wabot_storage_record_encode(SCHEMA, json, len, rec, rec_len);
    wb_free(inv->alloc, json);
    return rc;
}

/* The operations of one issue attempt; returns the index of the key op
 * (or -1) through *key_op. */
static int build_issue(wabot_storage_txn *t, const wb_invoice *inv,
                       const char *seqk, uint64_t seq_version,
                       const char *rec, size_t rec_len, int *key_op)
{
    const char *org = inv->org;
    char k[KEY_MAX], num[24];
    snprintf(num, sizeof num, "%lld", (long long)inv->seq);
    int rc = wabot_storage_txn_cas(t, seqk, seq_version, num, strlen(num), 0);
    key_of(k, org, "r", inv->number);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_cas(t, k, 0, rec, rec_len, 0);
    *key_op = -1;
    if (rc == WABOT_OK && inv->key) {
        *key_op = (int)wabot_storage_txn_count(t);
        key_of(k, org, "k", inv->key);
        rc = wabot_storage_txn_cas(t, k, 0, inv->number,
                                   strlen(inv->number), 0);
    }
    size_t nlen = strlen(inv->number);
    const char *idx[3] = {"all", "c", "s"};
    const char *arg[3] = {NULL, inv->customer, "issued"};
    for (int i = 0; rc == WABOT_OK && i < 3; i++) {
        key_of(k, org, idx[i], arg[i]);
        rc = wabot_storage_txn_sorted_add(t, k, inv->number, nlen,
                                          inv->issued_ms);
    }
    key_of(k, org, "due", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, inv->number, nlen,
                                          inv->due_ms);
    key_of(k, org, "cur", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, inv->currency, 3, 0);
    key_of(k, org, "n", "issued");
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, 1, 0);
    key_of(k, org, "billed", inv->currency);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, inv->total_minor, 0);
    return rc;
}

/* One attempt: WABOT_OK, WABOT_ERR_CONFLICT (another issuer won the
 * number: retry), EXISTS (the key was issued), or an error. */
static int issue_once(wabot_ctx *ctx, wabot_module *m, wb_invoice *inv)
{
    wabot_storage *s = ctx->storage;
    const char *fmt =
        wabot_module_option_str(m, inv->org, WB_INV_OPT_NUMBER_FORMAT);
    char seqk[KEY_MAX];
    int64_t now = wb_now(ctx), last;
    uint64_t version;
    if (inv->key && wb_invoice_find_key(ctx, inv->org, inv->key,
                                        inv->number) == WABOT_OK)
        return WABOT_ERR_EXISTS;
    seq_key(m, inv->org, fmt, now, seqk);
    int rc = read_counter(s, seqk, &last, &version);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "invoices: cannot read counter %s", seqk);
    inv->seq = last + 1;
    if (wb_inv_format_number(fmt, inv->seq, now, inv->number) != 0)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: number too long");
    inv->status = WABOT_INVOICE_ISSUED;
    inv->issued_ms = inv->updated_ms = now;
    inv->due_ms = now + wb_inv_opt_int(m, inv->org, WB_INV_OPT_NET_DAYS) *
                            86400000LL;
    char *rec = NULL;
    size_t rec_len = 0, failed = 0;
    int key_op = -1;
    wabot_storage_txn *t = wabot_storage_txn_new(s);
    rc = t ? encode(inv, &rec, &rec_len) : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = build_issue(t, inv, seqk, version, rec, rec_len, &key_op);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, &failed);
    wabot_free(rec);
    wabot_storage_txn_free(t);
    if (rc != WABOT_ERR_CONFLICT)
        return rc;
    if (failed == 0 || (int)failed == key_op)
        return WABOT_ERR_CONFLICT; /* the counter or the key moved */
    if (failed == 1) /* not EXISTS: that means "the key was issued" */
        return wb_error(ctx, WABOT_ERR_STATE,
                        "invoices: number %s exists already (was the "
                        "number format changed?)", inv->number);
    return wb_error(ctx, WABOT_ERR_INVAL,
                    "invoices: a total of %s would exceed int64",
                    inv->currency);
}

static int issue_retrying(wabot_ctx *ctx, wabot_module *m, wb_invoice *inv)
{
    for (int i = 0; i < MAX_ISSUE_TRIES; i++) {
        int rc = issue_once(ctx, m, inv);
        if (rc != WABOT_ERR_CONFLICT)
            return rc;
        sched_yield();
    }
    return wb_error(ctx, WABOT_ERR_BUSY,
                    "invoices: gave up after %d conflicting attempts",
                    MAX_ISSUE_TRIES);
}

/* Issuers of one organisation in this process take turns (the context's
 * lock table), so compare-and-set conflicts, each a wasted round trip or
 * three on Redis, only arise between processes. Correctness never depends
 * on the lock: the transaction alone keeps numbers gap-free. */
int wb_invoice_store_issue(wabot_ctx *ctx, wabot_module *m, wb_invoice *inv)
{
    char lock[WB_INV_ID_MAX + 16];
    snprintf(lock, sizeof lock, "#invoices#%s", inv->org);
    if (wb_lock(ctx->locks, lock) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_NOMEM, "invoices: out of memory");
    int rc = issue_retrying(ctx, m, inv);
    wb_unlock(ctx->locks, lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */

static int decode_into(wb_invoice *inv, const char *val, size_t len)
{
    char *payload = NULL;
    size_t plen = 0;
    int rc = wabot_storage_record_decode(&record_schema, val, len, &payload,
                                         &plen, NULL);
    if (rc == WABOT_OK)
        rc = wb_invoice_from_json(inv, payload, plen);
    wabot_free(payload);
    return rc;
}

/* Load with the record's version (for a later compare-and-set). */
static int load_versioned(wabot_ctx *ctx, const char *org,
                          const char *number, wb_invoice *inv,
                          uint64_t *version)
{
    char k[KEY_MAX], *val = NULL;
    size_t len = 0;
    if (strlen(number) > WB_INV_NUMBER_MAX)
        return wb_error(ctx, WABOT_ERR_NOT_FOUND, "invoices: no invoice %s",
                        number);
    key_of(k, org, "r", number);
    int rc = wabot_storage_get(ctx->storage, k, &val, &len, version);
    if (rc == WABOT_OK)
        rc = decode_into(inv, val, len);
    wabot_free(val);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "invoices: no invoice %s in %s", number,
                        org);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "invoices: cannot read invoice %s: %s",
                        number, wabot_strerror(rc));
    return WABOT_OK;
}

int wb_invoice_load(wabot_ctx *ctx, const char *org, const char *number,
                    wb_invoice *inv)
{
    uint64_t version;
    return load_versioned(ctx, org, number, inv, &version);
}

int wb_invoice_find_key(wabot_ctx *ctx, const char *org, const char *key,
                        char *buf)
{
    char k[KEY_MAX], *val = NULL;
    size_t len = 0;
    key_of(k, org, "k", key);
    int rc = wabot_storage_get(ctx->storage, k, &val, &len, NULL);
    if (rc == WABOT_OK) {
        if (len > WB_INV_NUMBER_MAX)
            rc = WABOT_ERR_PARSE;
        else
            memcpy(buf, val, len + 1);
    }
    wabot_free(val);
    return rc;
}

int wb_invoice_store_pdf(wabot_ctx *ctx, const char *org, const char *number,
                         const char *pdf, size_t len)
{
    char k[KEY_MAX];
    key_of(k, org, "pdf", number);
    return wabot_storage_set(ctx->storage, k, pdf, len, 0, NULL);
}

int wb_invoice_load_pdf(wabot_ctx *ctx, const char *org, const char *number,
                        char **pdf, size_t *len)
{
    char k[KEY_MAX];
    key_of(k, org, "pdf", number);
    return wabot_storage_get(ctx->storage, k, pdf, len, NULL);
}

/* ------------------------------------------------------------------ */
/* Status changes                                                      */

static int allowed(wabot_invoice_status from, wabot_invoice_status to)
{
    switch (from) {
    case WABOT_INVOICE_ISSUED:
        return to != WABOT_INVOICE_ISSUED;
    case WABOT_INVOICE_SENT:
        return to == WABOT_INVOICE_PAID || to == WABOT_INVOICE_OVERDUE ||
               to == WABOT_INVOICE_VOID;
    case WABOT_INVOICE_OVERDUE:
        return to == WABOT_INVOICE_PAID || to == WABOT_INVOICE_VOID;
    default:
        return 0; /* PAID and VOID are final */
    }
}

static int build_change(wabot_storage_txn *t, const wb_invoice *inv,
                        wabot_invoice_status from, uint64_t version,
                        const char *rec, size_t rec_len)
{
    const char *org = inv->org, *num = inv->number;
    size_t nlen = strlen(num);
    char k[KEY_MAX];
    key_of(k, org, "r", num);
    int rc = wabot_storage_txn_cas(t, k, version, rec, rec_len, 0);
    key_of(k, org, "s", wabot_invoice_status_name(from));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_remove(t, k, num, nlen);
    key_of(k, org, "s", wabot_invoice_status_name(inv->status));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, num, nlen, inv->issued_ms);
    /* Only ISSUED and SENT invoices can still fall due. */
    key_of(k, org, "due", NULL);
    if (rc == WABOT_OK && inv->status != WABOT_INVOICE_SENT)
        rc = wabot_storage_txn_sorted_remove(t, k, num, nlen);
    key_of(k, org, "n", wabot_invoice_status_name(from));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, -1, 0);
    key_of(k, org, "n", wabot_invoice_status_name(inv->status));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, 1, 0);
    if (rc == WABOT_OK && inv->status == WABOT_INVOICE_PAID) {
        key_of(k, org, "paid", inv->currency);
        rc = wabot_storage_txn_incr(t, k, inv->total_minor, 0);
    }
    if (rc == WABOT_OK && inv->status == WABOT_INVOICE_VOID) {
        key_of(k, org, "billed", inv->currency);
        rc = wabot_storage_txn_incr(t, k, -inv->total_minor, 0);
    }
    return rc;
}

static int change_once(wabot_ctx *ctx, const char *org, const char *number,
                       wabot_invoice_status to)
{
    wb_invoice inv;
    uint64_t version = 0;
    wb_invoice_init(&inv, &ctx->alloc);
    int rc = load_versioned(ctx, org, number, &inv, &version);
    wabot_invoice_status from = inv.status;
    if (rc == WABOT_OK && from != to && !allowed(from, to))
        rc = wb_error(ctx, WABOT_ERR_STATE,
                      "invoices: %s is %s; it cannot become %s", number,
                      wabot_invoice_status_name(from),
                      wabot_invoice_status_name(to));
    if (rc != WABOT_OK || from == to) {
        wb_invoice_clear(&inv);
        return rc;
    }
    inv.status = to;
    inv.updated_ms = wb_now(ctx);
    char *rec = NULL;
    size_t rec_len = 0, failed = 0;
    wabot_storage_txn *t = wabot_storage_txn_new(ctx->storage);
    rc = t ? encode(&inv, &rec, &rec_len) : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = build_change(t, &inv, from, version, rec, rec_len);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, &failed);
    if (rc == WABOT_ERR_CONFLICT && failed != 0)
        rc = wb_error(ctx, WABOT_ERR_INVAL,
                      "invoices: a revenue total would exceed int64");
    wabot_free(rec);
    wabot_storage_txn_free(t);
    wb_invoice_clear(&inv);
    return rc;
}

int wb_invoice_change(wabot_ctx *ctx, const char *org, const char *number,
                      wabot_invoice_status to)
{
    for (int i = 0; i < MAX_CHANGE_TRIES; i++) {
        int rc = change_once(ctx, org, number, to);
        if (rc != WABOT_ERR_CONFLICT)
            return rc;
    }
    return wb_error(ctx, WABOT_ERR_BUSY,
                    "invoices: %s changed %d times under us", number,
                    MAX_CHANGE_TRIES);
}

int wb_invoice_mark_overdue(wabot_ctx *ctx, const char *org, int64_t limit,
                            int64_t *marked)
{
    char k[KEY_MAX];
    wabot_storage_items *due = NULL;
    key_of(k, org, "due", NULL);
    *marked = 0;
    int rc = wabot_storage_sorted_range(ctx->storage, k,
                                        WABOT_STORAGE_SCORE_MIN,
                                        wb_now(ctx) - 1, 0, limit, 0, &due);
    for (size_t i = 0; rc == WABOT_OK && i < wabot_storage_items_count(due);
         i++) {
        rc = wb_invoice_change(ctx, org, wabot_storage_items_key(due, i, NULL),
                               WABOT_INVOICE_OVERDUE);
        if (rc == WABOT_OK)
            (*marked)++;
        else if (rc == WABOT_ERR_STATE || rc == WABOT_ERR_NOT_FOUND)
            rc = WABOT_OK; /* paid or void meanwhile */
    }
    wabot_storage_items_free(due);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Lists                                                               */

/* Get the values of inv:{org}:<what>:<name> for every name (member) of
 * `names`, in one batch, into *got (caller frees). */
static int get_named(wabot_ctx *ctx, const char *org, const char *what,
                     const wabot_storage_items *names,
                     wabot_storage_items **got)
{
    size_t n = wabot_storage_items_count(names);
    char (*keys)[KEY_MAX] = wb_malloc(&ctx->alloc, n * KEY_MAX + 1);
    const char **kp = wb_malloc(&ctx->alloc, n * sizeof *kp + 1);
    int rc = keys && kp ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        key_of(keys[i], org, what, wabot_storage_items_key(names, i, NULL));
        kp[i] = keys[i];
    }
    if (rc == WABOT_OK)
        rc = wabot_storage_get_many(ctx->storage, n, kp, got);
    wb_free(&ctx->alloc, keys);
    wb_free(&ctx->alloc, kp);
    return rc;
}

/* A list being collected: matches counted in `seen`, those past `skip`
 * written to `b` up to `limit`; `more` once one more match exists. */
typedef struct list_state {
    wabot_invoice_status status; /* filter; 0 = none */
    int64_t skip, limit, seen, added;
    int more;
    wb_strbuf b;
} list_state;

static void take(list_state *ls, const wb_invoice *inv)
{
    if (ls->status != 0 && inv->status != ls->status)
        return;
    if (ls->seen++ < ls->skip)
        return;
    if (ls->added == ls->limit) {
        ls->more = 1;
        return;
    }
    char *json = wb_invoice_to_json(inv, NULL);
    wb_strbuf_puts(&ls->b, ls->added ? "," : "");
    wb_strbuf_puts(&ls->b, json ? json : "null");
    if (!json)
        ls->b.oom = 1;
    wb_free(inv->alloc, json);
    ls->added++;
}

/* Load the invoices named by a page of an index and take them. */
static int collect(wabot_ctx *ctx, const char *org,
                   const wabot_storage_items *page, list_state *ls)
{
    size_t n = wabot_storage_items_count(page);
    wabot_storage_items *got = NULL;
    int rc = get_named(ctx, org, "r", page, &got);
    for (size_t i = 0; rc == WABOT_OK && i < n && !ls->more; i++) {
        size_t len;
        const char *val = wabot_storage_items_value(got, i, &len);
        wb_invoice inv;
        wb_invoice_init(&inv, &ctx->alloc);
        if (val && decode_into(&inv, val, len) == WABOT_OK)
            take(ls, &inv);
        wb_invoice_clear(&inv);
    }
    wabot_storage_items_free(got);
    return rc;
}

#define LIST_PAGE 200

/* The index to walk: the customer's, else the status's, else all; only
 * a customer with a status needs filtering. */
static void list_index(const char *org, const char *customer,
                       wabot_invoice_status status, char *k)
{
    if (customer)
        key_of(k, org, "c", customer);
    else if (status)
        key_of(k, org, "s", wabot_invoice_status_name(status));
    else
        key_of(k, org, "all", NULL);
}

int wb_invoice_list(wabot_ctx *ctx, const char *org, const char *customer,
                    wabot_invoice_status status, int64_t offset,
                    int64_t limit, char **json)
{
    char k[KEY_MAX];
    list_index(org, customer, status, k);
    int filter = customer != NULL && status != 0;
    list_state ls = {filter ? status : 0, filter ? offset : 0, limit, 0, 0,
                     0, {0}};
    /* Without a filter the index's own offset skips (O(log n)). */
    int64_t pos = filter ? 0 : offset;
    wb_strbuf_init(&ls.b, &ctx->alloc);
    wb_strbuf_puts(&ls.b, "{\"invoices\":[");
    int rc;
    for (;;) {
        wabot_storage_items *page = NULL;
        rc = wabot_storage_sorted_range(ctx->storage, k,
                                        WABOT_STORAGE_SCORE_MIN,
                                        WABOT_STORAGE_SCORE_MAX, pos,
                                        LIST_PAGE, WABOT_STORAGE_RANGE_DESC,
                                        &page);
        size_t n = wabot_storage_items_count(page);
        if (rc == WABOT_OK)
            rc = collect(ctx, org, page, &ls);
        wabot_storage_items_free(page);
        if (rc != WABOT_OK || n < LIST_PAGE || ls.more)
            break;
        pos += LIST_PAGE;
    }
    if (rc != WABOT_OK) {
        wb_strbuf_free(&ls.b);
        return wb_error(ctx, rc, "invoices: cannot list: %s",
                        wabot_strerror(rc));
    }
    wb_strbuf_printf(&ls.b, "],\"next_offset\":%lld}",
                     (long long)(ls.more ? offset + limit : -1));
    *json = wb_strbuf_take(&ls.b);
    return *json ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */

/* Append "name":{"CUR":n,...} from the counters <what>:<CUR>. */
static int money_counters(wabot_ctx *ctx, const char *org,
                          const wabot_storage_items *curs, const char *what,
                          wb_strbuf *b)
{
    size_t n = wabot_storage_items_count(curs);
    wabot_storage_items *got = NULL;
    int rc = get_named(ctx, org, what, curs, &got);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        const char *v = wabot_storage_items_value(got, i, NULL);
        wb_strbuf_printf(b, "%s\"%s\":%lld", i ? "," : "",
                         wabot_storage_items_key(curs, i, NULL),
                         v ? strtoll(v, NULL, 10) : 0LL);
    }
    wabot_storage_items_free(got);
    return rc;
}

static int status_counts(wabot_ctx *ctx, const char *org, wb_strbuf *b)
{
    char keys[5][KEY_MAX];
    const char *kp[5];
    for (int s = 0; s < 5; s++) {
        key_of(keys[s], org, "n", wabot_invoice_status_name(s + 1));
        kp[s] = keys[s];
    }
    wabot_storage_items *got = NULL;
    int rc = wabot_storage_get_many(ctx->storage, 5, kp, &got);
    long long total = 0;
    wb_strbuf_puts(b, ",\"by_status\":{");
    for (int s = 0; rc == WABOT_OK && s < 5; s++) {
        const char *v = wabot_storage_items_value(got, (size_t)s, NULL);
        long long c = v ? strtoll(v, NULL, 10) : 0;
        total += c;
        wb_strbuf_printf(b, "%s\"%s\":%lld", s ? "," : "",
                         wabot_invoice_status_name(s + 1), c);
    }
    wb_strbuf_printf(b, "},\"count\":%lld", total);
    wabot_storage_items_free(got);
    return rc;
}

int wb_invoice_stats(wabot_ctx *ctx, const char *org, char **json)
{
    char k[KEY_MAX];
    wabot_storage_items *curs = NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    wb_strbuf_puts(&b, "{\"org\":");
    wb_strbuf_json_str(&b, org);
    int rc = status_counts(ctx, org, &b);
    key_of(k, org, "cur", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_sorted_range(ctx->storage, k,
                                        WABOT_STORAGE_SCORE_MIN,
                                        WABOT_STORAGE_SCORE_MAX, 0,
                                        WABOT_STORAGE_PAGE_MAX, 0, &curs);
    wb_strbuf_puts(&b, ",\"invoiced\":{");
    if (rc == WABOT_OK)
        rc = money_counters(ctx, org, curs, "billed", &b);
    wb_strbuf_puts(&b, "},\"revenue\":{");
    if (rc == WABOT_OK)
        rc = money_counters(ctx, org, curs, "paid", &b);
    wb_strbuf_puts(&b, "}}");
    wabot_storage_items_free(curs);
    if (rc != WABOT_OK) {
        wb_strbuf_free(&b);
        return wb_error(ctx, rc, "invoices: cannot read statistics: %s",
                        wabot_strerror(rc));
    }
    *json = wb_strbuf_take(&b);
    return *json ? WABOT_OK : WABOT_ERR_NOMEM;
}
