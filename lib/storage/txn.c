/* The transaction builder: ops are checked and copied as they are added,
 * so commit only has to check what spans ops (one hash tag) and hand the
 * backend an array of pointers to versioned op structs. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "storage.h"

/* Most transactions hold a few ops (a turn's commit: 2 to 5): their arrays
 * live in the handle, and only the first op past TXN_INLINE_OPS moves them
 * to arrays sized for WABOT_STORAGE_TXN_MAX_OPS. */
#define TXN_INLINE_OPS 8

struct wabot_storage_txn {
    wabot_storage *s;
    wabot_storage_op *ops; /* each op's key and value: one owned copy,
                              the value right after the key's NUL */
    const wabot_storage_op **ptrs;
    uint64_t *versions;
    int64_t *numbers;
    size_t n;
    int big; /* the arrays are the MAX_OPS ones (freed with the handle) */
    wabot_storage_op ops_in[TXN_INLINE_OPS];
    const wabot_storage_op *ptrs_in[TXN_INLINE_OPS];
    uint64_t versions_in[TXN_INLINE_OPS];
    int64_t numbers_in[TXN_INLINE_OPS];
};

wabot_storage_txn *wabot_storage_txn_new(wabot_storage *s)
{
    if (s == NULL)
        return wb_null("wabot_storage_txn_new: NULL storage");
    wabot_storage_txn *t = malloc(sizeof *t);
    if (t == NULL)
        return wb_null("wabot_storage_txn_new: out of memory");
    /* Only the header: the arrays are written before they are read. */
    t->s = s;
    t->n = 0;
    t->big = 0;
    t->ops = t->ops_in;
    t->ptrs = t->ptrs_in;
    t->versions = t->versions_in;
    t->numbers = t->numbers_in;
    return t;
}

static void free_arrays(wabot_storage_op *ops, const wabot_storage_op **ptrs,
                        uint64_t *versions, int64_t *numbers)
{
    free(ops);
    free(ptrs);
    free(versions);
    free(numbers);
}

/* Move the arrays out of the handle into MAX_OPS-sized ones (the ops
 * move, so their pointers are taken again). */
static int go_big(wabot_storage_txn *t)
{
    wabot_storage_op *ops = calloc(WABOT_STORAGE_TXN_MAX_OPS, sizeof *ops);
    const wabot_storage_op **ptrs =
        calloc(WABOT_STORAGE_TXN_MAX_OPS, sizeof *ptrs);
    uint64_t *versions = calloc(WABOT_STORAGE_TXN_MAX_OPS, sizeof *versions);
    int64_t *numbers = calloc(WABOT_STORAGE_TXN_MAX_OPS, sizeof *numbers);
    if (ops == NULL || ptrs == NULL || versions == NULL || numbers == NULL) {
        free_arrays(ops, ptrs, versions, numbers);
        return WABOT_ERR_NOMEM;
    }
    memcpy(ops, t->ops, t->n * sizeof *ops);
    for (size_t i = 0; i < t->n; i++)
        ptrs[i] = &ops[i];
    t->ops = ops;
    t->ptrs = ptrs;
    t->versions = versions;
    t->numbers = numbers;
    t->big = 1;
    return WABOT_OK;
}

void wabot_storage_txn_free(wabot_storage_txn *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free((char *)t->ops[i].key); /* the value shares its block */
    if (t->big)
        free_arrays(t->ops, t->ptrs, t->versions, t->numbers);
    free(t);
}

size_t wabot_storage_txn_count(const wabot_storage_txn *t)
{
    return t != NULL ? t->n : 0;
}

void wb_storage_hash_tag(const char *key, const char **tag, size_t *len)
{
    const char *open = strchr(key, '{');
    const char *close = open != NULL ? strchr(open + 1, '}') : NULL;
    if (close != NULL && close > open + 1) {
        *tag = open + 1;
        *len = (size_t)(close - open - 1);
        return;
    }
    *tag = key;
    *len = strlen(key);
}

static int is_value_op(uint32_t kind)
{
    return kind <= WABOT_STORAGE_OP_INCR;
}

/* The checks one op needs on its own and against the ops before it. */
static int op_check(wabot_storage_txn *t, const wabot_storage_op *op)
{
    wabot_storage *s = t->s;
    if (t->n == WABOT_STORAGE_TXN_MAX_OPS)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "transaction: more than %d operations",
                               WABOT_STORAGE_TXN_MAX_OPS);
    if (op->key == NULL || op->key[0] == '\0' ||
        strnlen(op->key, WB_STORAGE_KEY_MAX + 1) > WB_STORAGE_KEY_MAX)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "transaction op %zu: key NULL, empty or "
                               "longer than %d bytes",
                               t->n, WB_STORAGE_KEY_MAX);
    if ((op->val == NULL && op->len > 0) || op->ttl_ms < 0)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "transaction op %zu: NULL value with a length "
                               "or a negative TTL", t->n);
    int sorted = !is_value_op(op->kind);
    if (sorted && op->len > WABOT_STORAGE_MEMBER_MAX)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "transaction op %zu: member longer than %d "
                               "bytes", t->n, WABOT_STORAGE_MEMBER_MAX);
    if (op->kind == WABOT_STORAGE_OP_SORTED_ADD &&
        !WB_STORAGE_SCORE_OK(op->number))
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "transaction op %zu: score outside "
                               "[-2^53, 2^53]", t->n);
    if (sorted)
        return WABOT_OK;
    for (size_t i = 0; i < t->n; i++)
        if (is_value_op(t->ops[i].kind) &&
            strcmp(t->ops[i].key, op->key) == 0)
            return wb_storage_fail(s, WABOT_ERR_INVAL,
                                   "transaction op %zu: key \"%s\" already "
                                   "has a value operation (op %zu)",
                                   t->n, op->key, i);
    return WABOT_OK;
}

static int add_op(wabot_storage_txn *t, const wabot_storage_op *op)
{
    if (t == NULL)
        return WABOT_ERR_INVAL;
    int rc = op_check(t, op);
    if (rc != WABOT_OK)
        return rc;
    if (t->n == TXN_INLINE_OPS && !t->big && go_big(t) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    /* Key and value in one block: "key\0value\0". */
    size_t klen = strlen(op->key);
    char *copy = malloc(klen + 1 + op->len + 1);
    if (copy == NULL)
        return WABOT_ERR_NOMEM;
    memcpy(copy, op->key, klen + 1);
    if (op->len > 0)
        memcpy(copy + klen + 1, op->val, op->len);
    copy[klen + 1 + op->len] = '\0';
    wabot_storage_op *o = &t->ops[t->n];
    *o = *op; /* our own struct: the whole of this library's version */
    o->version = WABOT_STORAGE_OP_VERSION;
    o->key = copy;
    o->val = copy + klen + 1;
    t->ptrs[t->n] = o;
    t->n++;
    return WABOT_OK;
}

int wabot_storage_txn_set(wabot_storage_txn *t, const char *key,
                          const char *val, size_t len, int64_t ttl_ms)
{
    wabot_storage_op op = {0};
    op.kind = WABOT_STORAGE_OP_SET;
    op.key = key;
    op.val = val;
    op.len = len;
    op.ttl_ms = ttl_ms;
    return add_op(t, &op);
}

int wabot_storage_txn_cas(wabot_storage_txn *t, const char *key,
                          uint64_t expected, const char *val, size_t len,
                          int64_t ttl_ms)
{
    wabot_storage_op op = {0};
    op.kind = WABOT_STORAGE_OP_CAS;
    op.key = key;
    op.expected = expected;
    op.val = val;
    op.len = len;
    op.ttl_ms = ttl_ms;
    return add_op(t, &op);
}

int wabot_storage_txn_del(wabot_storage_txn *t, const char *key)
{
    wabot_storage_op op = {0};
    op.kind = WABOT_STORAGE_OP_DEL;
    op.key = key;
    return add_op(t, &op);
}

int wabot_storage_txn_del_if(wabot_storage_txn *t, const char *key,
                             uint64_t expected)
{
    wabot_storage_op op = {0};
    op.kind = WABOT_STORAGE_OP_DEL_IF;
    op.key = key;
    op.expected = expected;
    return add_op(t, &op);
}

int wabot_storage_txn_incr(wabot_storage_txn *t, const char *key,
                           int64_t delta, int64_t ttl_ms)
{
    wabot_storage_op op = {0};
    op.kind = WABOT_STORAGE_OP_INCR;
    op.key = key;
    op.number = delta;
    op.ttl_ms = ttl_ms;
    return add_op(t, &op);
}

int wabot_storage_txn_sorted_add(wabot_storage_txn *t, const char *key,
                                 const char *member, size_t len,
                                 int64_t score)
{
    wabot_storage_op op = {0};
    op.kind = WABOT_STORAGE_OP_SORTED_ADD;
    op.key = key;
    op.val = member;
    op.len = len;
    op.number = score;
    return add_op(t, &op);
}

int wabot_storage_txn_sorted_remove(wabot_storage_txn *t, const char *key,
                                    const char *member, size_t len)
{
    wabot_storage_op op = {0};
    op.kind = WABOT_STORAGE_OP_SORTED_REMOVE;
    op.key = key;
    op.val = member;
    op.len = len;
    return add_op(t, &op);
}

/* Every key must be the first op's key or share its hash tag. */
static int one_slot(const wabot_storage_txn *t)
{
    const char *tag0, *tag;
    size_t len0, len;
    wb_storage_hash_tag(t->ops[0].key, &tag0, &len0);
    for (size_t i = 1; i < t->n; i++) {
        if (strcmp(t->ops[i].key, t->ops[0].key) == 0)
            continue;
        wb_storage_hash_tag(t->ops[i].key, &tag, &len);
        if (len != len0 || memcmp(tag, tag0, len) != 0)
            return wb_storage_fail(t->s, WABOT_ERR_INVAL,
                                   "transaction: key \"%s\" (op %zu) does "
                                   "not share the hash tag of \"%s\" (op 0); "
                                   "name the keys of one transaction with "
                                   "one {tag}",
                                   t->ops[i].key, i, t->ops[0].key);
    }
    return WABOT_OK;
}

int wabot_storage_txn_commit(wabot_storage_txn *t, size_t *failed)
{
    if (t == NULL)
        return WABOT_ERR_INVAL;
    memset(t->versions, 0, t->n * sizeof *t->versions);
    memset(t->numbers, 0, t->n * sizeof *t->numbers);
    if (t->n == 0)
        return WABOT_OK;
    int rc = one_slot(t);
    if (rc != WABOT_OK)
        return rc;
    wabot_storage *s = t->s;
    if (s->vt->version < 2 || s->vt->txn == NULL)
        return wb_storage_fail(s, WABOT_ERR_UNSUPPORTED,
                               "storage backend \"%s\" implements vtable "
                               "version %u without txn; transactions need a "
                               "version-2 backend",
                               s->name, (unsigned)s->vt->version);
    size_t bad = 0;
    rc = s->vt->txn(s->impl, t->n, t->ptrs, t->versions, t->numbers, &bad);
    if (rc == WABOT_ERR_CONFLICT) {
        if (failed != NULL)
            *failed = bad;
        return wb_storage_fail(s, rc, "transaction: op %zu (key \"%s\") "
                                      "failed its condition; nothing was "
                                      "written",
                               bad, bad < t->n ? t->ops[bad].key : "?");
    }
    if (rc != WABOT_OK) {
        memset(t->versions, 0, t->n * sizeof *t->versions);
        memset(t->numbers, 0, t->n * sizeof *t->numbers);
    }
    return rc;
}

uint64_t wabot_storage_txn_version(const wabot_storage_txn *t, size_t i)
{
    return t != NULL && i < t->n ? t->versions[i] : 0;
}

int64_t wabot_storage_txn_result(const wabot_storage_txn *t, size_t i)
{
    return t != NULL && i < t->n ? t->numbers[i] : 0;
}
