/* The transport handle and the send operation.
 *
 * An op is shared by two parties: the library's call frame in
 * wb_transport_send() and the transport that completes it, which may do so
 * before send() returns or later from another thread. A reference count of
 * two lets whichever finishes last free it. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "transport.h"

struct wabot_transport {
    const wabot_transport_vtable *vt;
    void *impl;
    char *name;
};

struct wabot_send_op {
    wabot_ctx *ctx;
    const wabot_outbound *msg;
    wb_send_done_fn done;
    void *ud;
    int refs;      /* atomic */
    int completed; /* atomic: 0 -> 1 exactly once */
};

wabot_transport *wabot_transport_new(const wabot_transport_vtable *vt,
                                     void *impl, const char *name)
{
    if (!vt || vt->version == 0 || !vt->send)
        return wb_null("wabot_transport_new: NULL vtable, version 0 or no send");
    wabot_transport *t = calloc(1, sizeof *t);
    if (!t)
        return wb_null("wabot_transport_new: out of memory");
    t->vt = vt;
    t->impl = impl;
    t->name = strdup(name && *name ? name : "custom");
    if (!t->name) {
        free(t);
        return wb_null("wabot_transport_new: out of memory");
    }
    return t;
}

void wabot_transport_free(wabot_transport *t)
{
    if (!t)
        return;
    if (t->vt->destroy)
        t->vt->destroy(t->impl);
    free(t->name);
    free(t);
}

const char *wabot_transport_name(const wabot_transport *t)
{
    return t ? t->name : "";
}

void *wb_transport_impl(const wabot_transport *t,
                        const wabot_transport_vtable *vt)
{
    return t && t->vt == vt ? t->impl : NULL;
}

static void op_unref(wabot_send_op *op)
{
    if (__atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(op);
}

static int op_claim(wabot_send_op *op)
{
    int expected = 0;
    return op && __atomic_compare_exchange_n(&op->completed, &expected, 1, 0,
                                             __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE);
}

wabot_ctx *wabot_send_op_ctx(const wabot_send_op *op)
{
    return op ? op->ctx : NULL;
}

const char *wabot_send_op_organization(const wabot_send_op *op)
{
    const char *org = op ? wabot_outbound_organization(op->msg) : NULL;
    return org ? org : "";
}

void wabot_send_op_ok(wabot_send_op *op, const char *provider_id)
{
    if (!op_claim(op))
        return; /* second completion: ignored, the first one counts */
    wb_send_result r = {WABOT_OK, provider_id ? provider_id : "", 0, "", 0};
    op->done(op->ud, op->msg, &r);
    op_unref(op);
}

void wabot_send_op_fail(wabot_send_op *op, int status, int provider_code,
                        const char *message, int64_t retry_after_ms)
{
    if (!op_claim(op))
        return;
    wb_send_result r = {status < 0 ? status : WABOT_ERR_TRANSPORT, "",
                        provider_code, message ? message : "",
                        retry_after_ms > 0 ? retry_after_ms : 0};
    op->done(op->ud, op->msg, &r);
    op_unref(op);
}

wabot_ctx *wb_send_op_ctx(const wabot_send_op *op)
{
    return op ? op->ctx : NULL;
}

int wb_transport_send(wabot_ctx *ctx, wabot_transport *t,
                      const wabot_outbound *msg, wb_send_done_fn done,
                      void *ud)
{
    if (!t || !msg || !done)
        return WABOT_ERR_INVAL;
    wabot_send_op *op = calloc(1, sizeof *op);
    if (!op)
        return WABOT_ERR_NOMEM;
    op->ctx = ctx;
    op->msg = msg;
    op->done = done;
    op->ud = ud;
    op->refs = 2;
    int rc = t->vt->send(t->impl, msg, op);
    if (rc < 0 && op_claim(op)) {
        /* Refused and never completed: the completion reference goes too. */
        op_unref(op);
    } else if (rc < 0) {
        rc = WABOT_OK; /* completed despite refusing: the completion counts */
    }
    op_unref(op);
    return rc < 0 ? rc : WABOT_OK;
}
