/* The `migration` module: which system handles a customer's messages
 * (include/wabot/migration.h), the webhook diverter that sends the legacy
 * side's requests to the legacy bot, and the admin route that changes the
 * settings at runtime. */
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wabot/admin.h"
#include "wabot/migration.h"
#include "wabot/module.h"
#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/metrics.h"
#include "internal/webhook.h"
#include "wabot/storage.h"

enum { OPT_PERCENT, OPT_USE_NEW, OPT_ALLOW, OPT_DENY, OPT_SYNC };

static const wabot_option_def migration_options[] = {
    {WABOT_OPTION_DEF_VERSION, "percent", WABOT_OPTION_INT, 0, 100, 0, 100,
     NULL,
     "percentage of customers (by a stable hash of the number) handled by "
     "libwabot while a legacy bot runs beside it",
     "WABOT_MIGRATION_PERCENT", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "use_new_bot", WABOT_OPTION_BOOL, 0, 1, 0, 1,
     NULL,
     "all or nothing: off sends every customer not on the allow list to the "
     "legacy bot",
     "USE_NEW_WHATSAPP_BOT", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "allow", WABOT_OPTION_STRING, 0, 0, 0, 0, "",
     "numbers always handled by libwabot, comma-separated",
     "WABOT_MIGRATION_ALLOW", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "deny", WABOT_OPTION_STRING, 0, 0, 0, 0, "",
     "numbers always sent to the legacy bot, comma-separated (wins over "
     "allow)",
     "WABOT_MIGRATION_DENY", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "sync_interval", WABOT_OPTION_DURATION, 0,
     1000, 0, 3600000, NULL,
     "how often a process reads the migration settings other processes "
     "changed through the shared storage (0: at every webhook request)",
     "WABOT_MIGRATION_SYNC_INTERVAL", NULL, NULL},
};

/* The settings every process on one storage shares (doc/migration.md):
 * written on every change, read back at most every sync_interval. */
#define SETTINGS_KEY "migration:settings"

#define MAX_NUMBER 32 /* digits of a canonical number, and then some */

/* A sorted list of canonical numbers (digits only), replaced whole on
 * change (copy on write under the lock). */
typedef struct numlist {
    char (*v)[MAX_NUMBER + 1];
    size_t n;
} numlist;

typedef struct migration {
    atomic_int percent;
    atomic_int use_new;
    pthread_rwlock_t lock; /* the lists and the legacy handler */
    numlist allow, deny;
    wabot_legacy_fn legacy;
    void *legacy_ud;
    atomic_llong n_new, n_legacy, n_mixed, n_errors;
    wabot_ctx *ctx;
    int64_t sync_ms;
    atomic_llong next_sync_ms; /* the next read of the shared settings */
    uint64_t seen_version;     /* of the shared settings (under lock) */
} migration;

static migration *migration_of(const wabot_ctx *ctx)
{
    wabot_module *m = ctx != NULL ? wabot_ctx_module(ctx, "migration")
                                  : NULL;
    return m != NULL ? wabot_module_data(m) : NULL;
}

/* ------------------------------------------------------------------ */
/* Numbers and buckets                                                 */

/* The digits of a number ("whatsapp:+1 555-0100" -> "15550100"): the
 * same customer compares and hashes alike whatever the provider's
 * spelling. 0 when there are no digits or too many. */
static int canonical(const char *s, char out[MAX_NUMBER + 1])
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (n == MAX_NUMBER)
            return 0;
        out[n++] = *s;
    }
    out[n] = '\0';
    return n > 0;
}

int wabot_migration_bucket(const char *customer)
{
    char c[MAX_NUMBER + 1];
    if (customer == NULL)
        return -1;
    if (!canonical(customer, c))
        snprintf(c, sizeof c, "%.32s", customer); /* not a number: as is */
    unsigned char d[32];
    unsigned int dl = 0;
    if (!EVP_Digest(c, strlen(c), d, &dl, EVP_sha256(), NULL))
        return 0;
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h << 8 | d[i];
    return (int)(h % 100);
}

static int cmp_num(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int listed(const numlist *l, const char *c)
{
    return l->n > 0 &&
           bsearch(c, l->v, l->n, sizeof *l->v, cmp_num) != NULL;
}

static void numlist_free(numlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* A list from a comma-separated string; WABOT_ERR_INVAL names the bad
 * entry. */
static int numlist_parse(const char *s, numlist *out, const char *what)
{
    *out = (numlist){NULL, 0};
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    out->v = calloc(cap, sizeof *out->v);
    if (out->v == NULL)
        return wb_detail(NULL, WABOT_ERR_NOMEM, "migration: out of memory");
    for (const char *p = s; *p != '\0';) {
        size_t n = strcspn(p, ",");
        char item[MAX_NUMBER * 2 + 1];
        snprintf(item, sizeof item, "%.*s", (int)(n < 64 ? n : 64), p);
        p += n + (p[n] == ',');
        if (strspn(item, " \t") == strlen(item))
            continue;
        if (n > 64 || !canonical(item, out->v[out->n])) {
            numlist_free(out);
            return wb_detail(NULL, WABOT_ERR_INVAL,
                             "migration.%s: \"%s\" is not a phone number",
                             what, item);
        }
        out->n++;
    }
    qsort(out->v, out->n, sizeof *out->v, cmp_num);
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Shared settings: the storage holds them for every process           */

typedef struct settings {
    int percent, use_new;
    numlist allow, deny;
} settings;

static void settings_free(settings *st)
{
    numlist_free(&st->allow);
    numlist_free(&st->deny);
}

static int numlist_copy(const numlist *l, numlist *out)
{
    *out = (numlist){calloc(l->n + 1, sizeof *l->v), l->n};
    if (out->v == NULL)
        return WABOT_ERR_NOMEM;
    if (l->n > 0)
        memcpy(out->v, l->v, l->n * sizeof *l->v);
    return WABOT_OK;
}

/* This process's settings, copied. */
static int settings_local(migration *mg, settings *st)
{
    pthread_rwlock_rdlock(&mg->lock);
    st->percent = atomic_load(&mg->percent);
    st->use_new = atomic_load(&mg->use_new);
    int rc = numlist_copy(&mg->allow, &st->allow);
    if (rc == WABOT_OK && (rc = numlist_copy(&mg->deny, &st->deny)) != 0)
        numlist_free(&st->allow);
    pthread_rwlock_unlock(&mg->lock);
    return rc;
}

/* Make `st` this process's settings (its lists are taken over). */
static void settings_install(migration *mg, settings *st, uint64_t version)
{
    pthread_rwlock_wrlock(&mg->lock);
    numlist_free(&mg->allow);
    numlist_free(&mg->deny);
    mg->allow = st->allow;
    mg->deny = st->deny;
    atomic_store(&mg->percent, st->percent);
    atomic_store(&mg->use_new, st->use_new);
    if (version > mg->seen_version)
        mg->seen_version = version;
    pthread_rwlock_unlock(&mg->lock);
    st->allow = st->deny = (numlist){NULL, 0};
}

static int list_from_json(wabot_ctx *ctx, json_t *a, const char *what,
                          numlist *out);

/* The stored text as settings; WABOT_ERR_PARSE when it is not what
 * settings_text wrote. */
static int settings_parse(wabot_ctx *ctx, const char *text, size_t len,
                          settings *st)
{
    json_t *o = json_loadb(text, len, 0, NULL);
    json_t *p = json_object_get(o, "percent");
    json_t *u = json_object_get(o, "use_new_bot");
    int rc = json_is_integer(p) && json_integer_value(p) >= 0 &&
                     json_integer_value(p) <= 100 && json_is_boolean(u)
                 ? WABOT_OK
                 : WABOT_ERR_PARSE;
    *st = (settings){0, 0, {NULL, 0}, {NULL, 0}};
    if (rc == WABOT_OK) {
        st->percent = (int)json_integer_value(p);
        st->use_new = json_is_true(u);
        rc = list_from_json(ctx, json_object_get(o, "allow"), "allow",
                            &st->allow);
    }
    if (rc == WABOT_OK &&
        (rc = list_from_json(ctx, json_object_get(o, "deny"), "deny",
                             &st->deny)) != WABOT_OK)
        numlist_free(&st->allow);
    json_decref(o);
    return rc == WABOT_OK ? WABOT_OK : WABOT_ERR_PARSE;
}

static json_t *list_json(const numlist *l);

static char *settings_text(const settings *st)
{
    json_t *o = json_pack("{s:i, s:b, s:o, s:o}", "percent", st->percent,
                          "use_new_bot", st->use_new, "allow",
                          list_json(&st->allow), "deny",
                          list_json(&st->deny));
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* Read the shared settings when due (force: now), and take them when
 * another process changed them. A storage failure keeps what this
 * process has (and is tried again at the next interval). */
static void sync_settings(migration *mg, int force)
{
    wabot_ctx *ctx = mg->ctx;
    int64_t now = wb_now(ctx);
    long long due = atomic_load(&mg->next_sync_ms);
    if (!force && (now < due || !atomic_compare_exchange_strong(
                                    &mg->next_sync_ms, &due,
                                    now + mg->sync_ms)))
        return; /* not due, or another thread reads them now */
    char *val = NULL;
    size_t len = 0;
    uint64_t ver = 0;
    if (wabot_storage_get(ctx->storage, SETTINGS_KEY, &val, &len, &ver) !=
        WABOT_OK)
        return;
    pthread_rwlock_rdlock(&mg->lock);
    int fresh = ver > mg->seen_version;
    pthread_rwlock_unlock(&mg->lock);
    settings st;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    if (fresh && settings_parse(ctx, val, len, &st) == WABOT_OK) {
        settings_install(mg, &st, ver);
        wb_log(ctx, WABOT_LOG_INFO, "migration",
               "settings changed elsewhere: %.200s", val);
    }
    wb_json_scope_leave(prev);
    wabot_free(val);
}

/* A change: `edit` applied to the shared settings (or this process's when
 * none are stored), written back with compare-and-set (a concurrent
 * change in another process is read and the edit applied again), then
 * installed here. */
typedef int (*edit_fn)(wabot_ctx *ctx, settings *st, void *arg);

static int shared_edit(wabot_ctx *ctx, migration *mg, edit_fn edit,
                       void *arg)
{
    wabot_storage *store = ctx->storage;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    int rc = WABOT_ERR_CONFLICT;
    for (int attempt = 0; attempt < 16 && rc == WABOT_ERR_CONFLICT;
         attempt++) {
        char *val = NULL;
        size_t len = 0;
        uint64_t ver = 0;
        settings st;
        int g = wabot_storage_get(store, SETTINGS_KEY, &val, &len, &ver);
        if (g == WABOT_OK && settings_parse(ctx, val, len, &st) == WABOT_OK)
            rc = WABOT_OK;
        else if (g == WABOT_OK || g == WABOT_ERR_NOT_FOUND)
            rc = settings_local(mg, &st); /* none (or unreadable): ours */
        else
            rc = wb_error(ctx, WABOT_ERR_STORAGE,
                          "migration: the shared settings could not be "
                          "read: %s", wabot_storage_errmsg(store));
        wabot_free(val);
        if (rc != WABOT_OK)
            break;
        rc = edit(ctx, &st, arg);
        char *text = rc == WABOT_OK ? settings_text(&st) : NULL;
        uint64_t nv = 0;
        if (rc == WABOT_OK && text == NULL)
            rc = wb_error(ctx, WABOT_ERR_NOMEM, "migration: out of memory");
        if (rc == WABOT_OK)
            rc = wabot_storage_cas(store, SETTINGS_KEY,
                                   g == WABOT_OK ? ver : 0, text,
                                   strlen(text), 0, &nv);
        wb_json_free(text);
        if (rc == WABOT_OK)
            settings_install(mg, &st, nv);
        else if (rc != WABOT_ERR_CONFLICT && rc != WABOT_ERR_INVAL &&
                 rc != WABOT_ERR_NOT_FOUND && rc != WABOT_ERR_NOMEM)
            rc = wb_error(ctx, WABOT_ERR_STORAGE,
                          "migration: the shared settings could not be "
                          "written: %s", wabot_storage_errmsg(store));
        settings_free(&st);
    }
    wb_json_scope_leave(prev);
    if (rc == WABOT_ERR_CONFLICT)
        rc = wb_error(ctx, rc, "migration: the settings changed "
                               "concurrently too often; try again");
    return rc;
}

/* ------------------------------------------------------------------ */
/* Deciding                                                            */

static wabot_system decide(migration *mg, const char *customer)
{
    char c[MAX_NUMBER + 1];
    if (canonical(customer, c)) {
        pthread_rwlock_rdlock(&mg->lock);
        int deny = listed(&mg->deny, c), allow = listed(&mg->allow, c);
        pthread_rwlock_unlock(&mg->lock);
        if (deny)
            return WABOT_SYSTEM_LEGACY;
        if (allow)
            return WABOT_SYSTEM_NEW;
    }
    if (!atomic_load(&mg->use_new))
        return WABOT_SYSTEM_LEGACY;
    return wabot_migration_bucket(customer) < atomic_load(&mg->percent)
               ? WABOT_SYSTEM_NEW
               : WABOT_SYSTEM_LEGACY;
}

wabot_system wabot_migration_decide(const wabot_ctx *ctx,
                                    const char *customer)
{
    migration *mg = migration_of(ctx);
    if (mg == NULL || customer == NULL)
        return WABOT_SYSTEM_NEW;
    return decide(mg, customer);
}

static int has_legacy(migration *mg)
{
    pthread_rwlock_rdlock(&mg->lock);
    int on = mg->legacy != NULL;
    pthread_rwlock_unlock(&mg->lock);
    return on;
}

/* The webhook's plan for a batch: each message by its sender, each status
 * by its recipient. For a mixed batch the legacy side's messages are
 * taken out (they reach the legacy bot with the forwarded body). */
static wb_divert_plan plan_batch(wabot_ctx *ctx, wb_webhook_batch *b,
                                 void *ud)
{
    migration *mg = ud;
    if (!has_legacy(mg))
        return WB_DIVERT_HERE;
    sync_settings(mg, 0);
    size_t here = 0, there = 0;
    unsigned char *side = calloc(b->n_msgs + 1, 1);
    if (side == NULL)
        return WB_DIVERT_HERE; /* out of memory: handle it all here */
    for (size_t i = 0; i < b->n_msgs; i++) {
        side[i] = decide(mg, wabot_message_from(b->msgs[i])) ==
                  WABOT_SYSTEM_NEW;
        side[i] ? here++ : there++;
    }
    for (size_t i = 0; i < b->n_statuses; i++) {
        const char *to = b->statuses[i].recipient;
        if (to != NULL && decide(mg, to) == WABOT_SYSTEM_NEW)
            here++;
        else if (to != NULL)
            there++;
    }
    atomic_fetch_add(&mg->n_new, (long long)here);
    atomic_fetch_add(&mg->n_legacy, (long long)there);
    wb_count(ctx, "migration.new", (int64_t)here);
    wb_count(ctx, "migration.legacy", (int64_t)there);
    wb_divert_plan plan = there == 0 ? WB_DIVERT_HERE
                          : here == 0 ? WB_DIVERT_LEGACY
                                      : WB_DIVERT_MIXED;
    if (plan == WB_DIVERT_MIXED) {
        atomic_fetch_add(&mg->n_mixed, 1);
        wb_count(ctx, "migration.mixed_batches", 1);
        size_t k = 0;
        for (size_t i = 0; i < b->n_msgs; i++) {
            if (side[i])
                b->msgs[k++] = b->msgs[i];
            else
                wabot_message_free(b->msgs[i]);
        }
        b->n_msgs = k;
    }
    free(side);
    return plan;
}

/* Hand the original request to the legacy bot; its answer is relayed.
 * A failing handler answers 502 (the provider redelivers). */
static int forward(wabot_ctx *ctx, const wb_request *r,
                   wabot_http_response **resp, void *ud)
{
    migration *mg = ud;
    pthread_rwlock_rdlock(&mg->lock);
    wabot_legacy_fn fn = mg->legacy;
    void *fn_ud = mg->legacy_ud;
    pthread_rwlock_unlock(&mg->lock);
    *resp = wb_response_new(ctx, 0, NULL, "", 0);
    if (*resp == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "migration: out of memory");
    wb_stopwatch sw = wb_stopwatch_start(ctx);
    int rc = fn != NULL ? fn(fn_ud, r->method, r->target, r->headers,
                             r->nheaders, r->body, r->len, *resp)
                        : WABOT_ERR_STATE;
    int ok = rc == WABOT_OK && wabot_http_response_status(*resp) >= 100;
    if (fn != NULL) /* the legacy side's latency, beside the new one's */
        wb_metrics_legacy_done(ctx, ok, sw);
    if (ok)
        return WABOT_OK;
    atomic_fetch_add(&mg->n_errors, 1);
    wb_count(ctx, "migration.legacy_errors", 1);
    wb_log(ctx, WABOT_LOG_WARN, "migration", "legacy bot failed: %s",
           rc != WABOT_OK ? wabot_strerror(rc) : "no answer");
    wabot_http_response_free(*resp);
    *resp = NULL;
    wb_reject rej;
    wb_reject_set(&rej, WABOT_ERR_TRANSPORT, 502, "legacy_unavailable",
                  "the legacy bot did not answer; redeliver later");
    return wb_webhook_reject(ctx, &rej, resp);
}

/* ------------------------------------------------------------------ */
/* Settings                                                            */

static int need(wabot_ctx *ctx, migration **out)
{
    *out = migration_of(ctx);
    if (*out == NULL)
        return wb_detail(ctx, ctx == NULL ? WABOT_ERR_INVAL : WABOT_ERR_STATE,
                         "migration: NULL context or no migration module");
    return WABOT_OK;
}

int wabot_migration_set_legacy(wabot_ctx *ctx, wabot_legacy_fn fn, void *ud)
{
    migration *mg;
    int rc = need(ctx, &mg);
    if (rc != WABOT_OK)
        return rc;
    pthread_rwlock_wrlock(&mg->lock);
    mg->legacy = fn;
    mg->legacy_ud = fn != NULL ? ud : NULL;
    pthread_rwlock_unlock(&mg->lock);
    return WABOT_OK;
}

static int edit_percent(wabot_ctx *ctx, settings *st, void *arg)
{
    (void)ctx;
    st->percent = *(const int *)arg;
    return WABOT_OK;
}

static int edit_use_new(wabot_ctx *ctx, settings *st, void *arg)
{
    (void)ctx;
    st->use_new = *(const int *)arg;
    return WABOT_OK;
}

int wabot_migration_set_percent(wabot_ctx *ctx, int percent)
{
    migration *mg;
    int rc = need(ctx, &mg);
    if (rc != WABOT_OK)
        return rc;
    if (percent < 0 || percent > 100)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "migration percent %d is outside 0..100", percent);
    rc = shared_edit(ctx, mg, edit_percent, &percent);
    if (rc == WABOT_OK)
        wb_log(ctx, WABOT_LOG_INFO, "migration", "percent set to %d",
               percent);
    return rc;
}

int wabot_migration_set_enabled(wabot_ctx *ctx, int use_new_bot)
{
    migration *mg;
    int rc = need(ctx, &mg);
    if (rc != WABOT_OK)
        return rc;
    int on = use_new_bot != 0;
    return shared_edit(ctx, mg, edit_use_new, &on);
}

/* Copy `l` with `c` added (add) or removed; *found tells whether it was
 * there. */
static int list_edit(const numlist *l, const char *c, int add, numlist *out,
                     int *found)
{
    *found = listed(l, c);
    size_t n = l->n + (add && !*found) - (!add && *found);
    *out = (numlist){calloc(n + 1, sizeof *l->v), 0};
    if (out->v == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], c) != 0)
            memcpy(out->v[out->n++], l->v[i], sizeof *l->v);
    if (add)
        memcpy(out->v[out->n++], c, strlen(c) + 1);
    qsort(out->v, out->n, sizeof *out->v, cmp_num);
    return WABOT_OK;
}

/* Put `c` on the allow list (to 1), the deny list (0) or neither (-1),
 * off the other(s); `was` tells whether it was on one. */
typedef struct pin_arg {
    const char *c;
    int to, was;
} pin_arg;

static int edit_pin(wabot_ctx *ctx, settings *st, void *arg)
{
    pin_arg *p = arg;
    numlist na, nd;
    int fa = 0, fd = 0;
    int rc = list_edit(&st->allow, p->c, p->to == 1, &na, &fa);
    if (rc == WABOT_OK &&
        (rc = list_edit(&st->deny, p->c, p->to == 0, &nd, &fd)) != WABOT_OK)
        numlist_free(&na);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "migration: out of memory");
    settings_free(st);
    st->allow = na;
    st->deny = nd;
    p->was = fa || fd;
    if (p->to < 0 && !p->was)
        return wb_error(ctx, WABOT_ERR_NOT_FOUND,
                        "migration: %s is on neither list", p->c);
    return WABOT_OK;
}

int wabot_migration_pin(wabot_ctx *ctx, const char *customer,
                        wabot_system list)
{
    migration *mg;
    int rc = need(ctx, &mg);
    if (rc != WABOT_OK)
        return rc;
    char c[MAX_NUMBER + 1];
    if (customer == NULL || !canonical(customer, c) ||
        (list != WABOT_SYSTEM_NEW && list != WABOT_SYSTEM_LEGACY))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "migration: \"%.40s\" is not a phone number of 1 to "
                        "%d digits, or the list is unknown",
                        customer != NULL ? customer : "(null)", MAX_NUMBER);
    pin_arg p = {c, list == WABOT_SYSTEM_NEW, 0};
    return shared_edit(ctx, mg, edit_pin, &p);
}

int wabot_migration_unpin(wabot_ctx *ctx, const char *customer)
{
    migration *mg;
    int rc = need(ctx, &mg);
    if (rc != WABOT_OK)
        return rc;
    char c[MAX_NUMBER + 1];
    if (customer == NULL || !canonical(customer, c))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "migration: \"%.40s\" is not a phone number",
                        customer != NULL ? customer : "(null)");
    pin_arg p = {c, -1, 0};
    return shared_edit(ctx, mg, edit_pin, &p);
}

static json_t *list_json(const numlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

char *wabot_migration_json(wabot_ctx *ctx)
{
    migration *mg;
    if (need(ctx, &mg) != WABOT_OK)
        return NULL;
    sync_settings(mg, 1);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    pthread_rwlock_rdlock(&mg->lock);
    json_t *o = json_pack(
        "{s:b, s:i, s:o, s:o, s:b, s:{s:I, s:I}, s:I, s:I}", "use_new_bot",
        atomic_load(&mg->use_new), "percent", atomic_load(&mg->percent),
        "allow", list_json(&mg->allow), "deny", list_json(&mg->deny),
        "legacy_handler", mg->legacy != NULL, "decisions", "new",
        (json_int_t)atomic_load(&mg->n_new), "legacy",
        (json_int_t)atomic_load(&mg->n_legacy), "mixed_batches",
        (json_int_t)atomic_load(&mg->n_mixed), "legacy_errors",
        (json_int_t)atomic_load(&mg->n_errors));
    pthread_rwlock_unlock(&mg->lock);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    wb_json_scope_leave(prev);
    char *out = wb_strdup(&ctx->alloc, text);
    wb_json_free(text);
    if (out == NULL)
        wb_error(ctx, WABOT_ERR_NOMEM, "migration: out of memory");
    return out;
}

/* A JSON array of numbers as the comma-separated text numlist_parse
 * reads; NULL (detail set) when an item is not a string. */
static int list_from_json(wabot_ctx *ctx, json_t *a, const char *what,
                          numlist *out)
{
    if (!json_is_array(a))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "migration update: \"%s\" must be an array of phone "
                        "numbers", what);
    size_t i;
    json_t *v;
    size_t n = json_array_size(a);
    *out = (numlist){calloc(n + 1, sizeof *out->v), 0};
    if (out->v == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "migration: out of memory");
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || !canonical(json_string_value(v),
                                             out->v[out->n])) {
            numlist_free(out);
            return wb_error(ctx, WABOT_ERR_INVAL,
                            "migration update: %s[%zu] is not a phone number "
                            "of 1 to %d digits", what, i, MAX_NUMBER);
        }
        out->n++;
    }
    qsort(out->v, out->n, sizeof *out->v, cmp_num);
    return WABOT_OK;
}

/* An update's members (NULL / -1: unchanged). */
typedef struct patch {
    const numlist *allow, *deny;
    int percent, use_new;
} patch;

static int edit_patch(wabot_ctx *ctx, settings *st, void *arg)
{
    const patch *p = arg;
    numlist na = {NULL, 0}, nd = {NULL, 0};
    if ((p->allow != NULL && numlist_copy(p->allow, &na) != WABOT_OK) ||
        (p->deny != NULL && numlist_copy(p->deny, &nd) != WABOT_OK)) {
        numlist_free(&na);
        return wb_error(ctx, WABOT_ERR_NOMEM, "migration: out of memory");
    }
    if (p->allow != NULL) {
        numlist_free(&st->allow);
        st->allow = na;
    }
    if (p->deny != NULL) {
        numlist_free(&st->deny);
        st->deny = nd;
    }
    if (p->percent >= 0)
        st->percent = p->percent;
    if (p->use_new >= 0)
        st->use_new = p->use_new;
    return WABOT_OK;
}

int wabot_migration_update_json(wabot_ctx *ctx, const char *json, size_t len)
{
    migration *mg;
    int rc = need(ctx, &mg);
    if (rc != WABOT_OK)
        return rc;
    if (json == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "migration update: NULL json");
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return wb_error(ctx, WABOT_ERR_PARSE,
                        "migration update: not a JSON object (%s)",
                        o == NULL ? jerr.text : "another JSON type");
    }
    const char *key;
    json_t *v;
    numlist allow = {NULL, 0}, deny = {NULL, 0};
    int has_allow = 0, has_deny = 0, percent = -1, use_new = -1;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "percent") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 100) {
                rc = wb_error(ctx, WABOT_ERR_INVAL,
                              "migration update: \"percent\" must be an "
                              "integer 0..100");
                break;
            }
            percent = (int)json_integer_value(v);
        } else if (strcmp(key, "use_new_bot") == 0) {
            if (!json_is_boolean(v)) {
                rc = wb_error(ctx, WABOT_ERR_INVAL,
                              "migration update: \"use_new_bot\" must be "
                              "true or false");
                break;
            }
            use_new = json_is_true(v);
        } else if (strcmp(key, "allow") == 0 && !has_allow) {
            if ((rc = list_from_json(ctx, v, "allow", &allow)) != WABOT_OK)
                break;
            has_allow = 1;
        } else if (strcmp(key, "deny") == 0 && !has_deny) {
            if ((rc = list_from_json(ctx, v, "deny", &deny)) != WABOT_OK)
                break;
            has_deny = 1;
        } else {
            rc = wb_error(ctx, WABOT_ERR_INVAL,
                          "migration update: unknown member \"%.40s\" (use "
                          "percent, use_new_bot, allow, deny)", key);
            break;
        }
    }
    json_decref(o);
    if (rc != WABOT_OK) {
        numlist_free(&allow);
        numlist_free(&deny);
        return rc;
    }
    patch pt = {has_allow ? &allow : NULL, has_deny ? &deny : NULL, percent,
                use_new};
    rc = shared_edit(ctx, mg, edit_patch, &pt);
    numlist_free(&allow);
    numlist_free(&deny);
    if (rc == WABOT_OK)
        wb_log(ctx, WABOT_LOG_INFO, "migration", "settings updated: %.200s",
               json);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Admin route: GET and PUT {prefix}/migration                          */

static int answer_state(wabot_ctx *ctx, wabot_http_response *resp)
{
    char *json = wabot_migration_json(ctx);
    if (json == NULL)
        return WABOT_ERR_NOMEM;
    int rc = wabot_http_response_set_json(resp, 200, json);
    wabot_ctx_mem_free(ctx, json);
    return rc;
}

static int route_get(wabot_ctx *ctx, const wabot_http_server_request *req,
                     wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    return answer_state(ctx, resp);
}

static int route_put(wabot_ctx *ctx, const wabot_http_server_request *req,
                     wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    if (!wb_admin_json_content(req, resp, &rc))
        return rc;
    size_t len = 0;
    const char *body = wabot_http_server_request_body(req, &len);
    rc = wabot_migration_update_json(ctx, body, len);
    if (rc != WABOT_OK) /* 400 naming the member, 503 storage, 409 */
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    return answer_state(ctx, resp);
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

static int load_options(wabot_module *m, migration *mg)
{
    int64_t pct = 100, use = 1;
    wabot_module_option_int(m, NULL, OPT_PERCENT, &pct);
    wabot_module_option_int(m, NULL, OPT_USE_NEW, &use);
    atomic_store(&mg->percent, (int)pct);
    atomic_store(&mg->use_new, (int)use);
    const char *allow = wabot_module_option_str(m, NULL, OPT_ALLOW);
    const char *deny = wabot_module_option_str(m, NULL, OPT_DENY);
    int rc = numlist_parse(allow != NULL ? allow : "", &mg->allow, "allow");
    if (rc == WABOT_OK)
        rc = numlist_parse(deny != NULL ? deny : "", &mg->deny, "deny");
    return rc;
}

static void migration_free(migration *mg)
{
    numlist_free(&mg->allow);
    numlist_free(&mg->deny);
    pthread_rwlock_destroy(&mg->lock);
    free(mg);
}

static int migration_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    migration *mg = calloc(1, sizeof *mg);
    if (mg == NULL || pthread_rwlock_init(&mg->lock, NULL) != 0) {
        free(mg);
        return wb_error(ctx, WABOT_ERR_NOMEM, "migration: out of memory");
    }
    mg->ctx = ctx;
    mg->sync_ms = 1000;
    wabot_module_option_int(m, NULL, OPT_SYNC, &mg->sync_ms);
    int rc = load_options(m, mg);
    if (rc != WABOT_OK) {
        migration_free(mg);
        return wb_error(ctx, rc, "%s", wabot_errmsg());
    }
    wabot_module_set_data(m, mg);
    wb_webhook_diverter d = {plan_batch, forward, mg};
    rc = wb_webhook_set_diverter(m, &d);
    if (rc == WABOT_OK)
        rc = wabot_admin_route_add(ctx, "GET", "/migration", route_get, NULL,
                                   NULL);
    if (rc == WABOT_OK)
        rc = wabot_admin_route_add(ctx, "PUT", "/migration", route_put, NULL,
                                   NULL);
    if (rc != WABOT_OK) { /* a failed create gets no destroy */
        wabot_module_set_data(m, NULL);
        migration_free(mg);
    }
    return rc;
}

static void migration_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    migration *mg = wabot_module_data(m);
    if (mg != NULL)
        migration_free(mg);
}

static const char *const migration_requires[] = {"webhook", "admin", NULL};

const wabot_module_def wb_migration_module = {
    WABOT_MODULE_DEF_VERSION, "migration",
    "runs beside a legacy bot: which customers libwabot handles (percent, "
    "allow/deny lists), the rest forwarded to the legacy bot",
    migration_requires, migration_options,
    sizeof migration_options / sizeof migration_options[0], NULL,
    migration_create, migration_destroy};
