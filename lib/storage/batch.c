/* Pipelined batches of independent storage operations (storage.h): the
 * arguments are checked here, then the backend's batch runs them in one
 * round trip, or, for a backend without one, the vtable's single
 * operations run one after the other with the same results. */
#include <stdlib.h>
#include <string.h>

#include "storage.h"

static int bop_ok(const wb_storage_bop *op)
{
    if (op->key == NULL || op->key[0] == '\0' ||
        strnlen(op->key, WB_STORAGE_KEY_MAX + 1) > WB_STORAGE_KEY_MAX)
        return 0;
    switch (op->kind) {
    case WB_BOP_GET:
    case WB_BOP_DEL:
        return 1;
    case WB_BOP_SET:
    case WB_BOP_CAS:
        return op->ttl_ms >= 0 && (op->val != NULL || op->len == 0);
    default:
        return 0;
    }
}

/* One op through the vtable's single operation. */
static void run_single(wabot_storage *s, wb_storage_bop *op)
{
    const char *val = op->val != NULL ? op->val : "";
    switch (op->kind) {
    case WB_BOP_GET: {
        wabot_buf buf = {NULL, 0};
        op->status = s->vt->get(s->impl, op->key, &buf, &op->version);
        if (op->status == WABOT_OK && buf.data == NULL)
            op->status = WABOT_ERR_STORAGE; /* success without a value */
        if (op->status == WABOT_OK) {
            op->out = buf.data;
            op->out_len = buf.len;
        } else {
            free(buf.data);
            op->version = 0;
        }
        break;
    }
    case WB_BOP_SET:
        op->status = s->vt->set(s->impl, op->key, val, op->len, op->ttl_ms,
                                &op->version);
        break;
    case WB_BOP_CAS:
        op->status = s->vt->cas(s->impl, op->key, op->expected, val, op->len,
                                op->ttl_ms, &op->version);
        break;
    case WB_BOP_DEL:
        op->status = s->vt->del(s->impl, op->key);
        break;
    }
}

int wb_storage_batch(wabot_storage *s, size_t n, wb_storage_bop *ops)
{
    if (s == NULL || (n > 0 && ops == NULL))
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        ops[i].status = WABOT_ERR_INVAL;
        ops[i].version = 0;
        ops[i].out = NULL;
        ops[i].out_len = 0;
    }
    if (n > WABOT_STORAGE_BATCH_MAX)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "batch of %zu operations (most %d)", n,
                               WABOT_STORAGE_BATCH_MAX);
    for (size_t i = 0; i < n; i++)
        if (!bop_ok(&ops[i]))
            return wb_storage_fail(s, WABOT_ERR_INVAL,
                                   "batch op %zu: unknown kind, a key NULL, "
                                   "empty or longer than %d bytes, a NULL "
                                   "value with a length or a negative TTL",
                                   i, WB_STORAGE_KEY_MAX);
    if (n == 0)
        return WABOT_OK;
    if (s->batch != NULL) {
        int rc = s->batch(s->impl, n, ops);
        if (rc != WABOT_OK)
            for (size_t i = 0; i < n; i++) {
                free(ops[i].out);
                ops[i].out = NULL;
                ops[i].out_len = 0;
                ops[i].version = 0;
                ops[i].status = rc;
            }
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        run_single(s, &ops[i]);
    return WABOT_OK;
}

void wb_storage_bops_clear(size_t n, wb_storage_bop *ops)
{
    for (size_t i = 0; ops != NULL && i < n; i++) {
        free(ops[i].out);
        ops[i].out = NULL;
        ops[i].out_len = 0;
    }
}
