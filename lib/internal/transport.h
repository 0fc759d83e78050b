/* Transport internals. Private. */
#ifndef WB_TRANSPORT_H
#define WB_TRANSPORT_H

#include "wabot/transport.h"
#include "alloc.h"

typedef struct wb_send_result {
    int status;            /* WABOT_OK or negative */
    const char *provider_id;
    int provider_code;
    const char *message;
    int64_t retry_after_ms;
} wb_send_result;

/* Called exactly once per send (possibly before wb_transport_send returns,
 * possibly from another thread). The result is valid during the call. */
typedef void (*wb_send_done_fn)(void *ud, const wabot_outbound *msg,
                                const wb_send_result *r);

/* Send msg (borrowed until done runs). Returns WABOT_OK when the op was
 * accepted (done will run / has run), or a negative status when the
 * transport refused it (done does NOT run). */
int wb_transport_send(wabot_ctx *ctx, wabot_transport *t,
                      const wabot_outbound *msg, wb_send_done_fn done,
                      void *ud);
/* The context a send belongs to (built-in transports use its HTTP client). */
wabot_ctx *wb_send_op_ctx(const wabot_send_op *op);



/* The impl of t if it was created with vt (to recognise built-ins), else
 * NULL. */
void *wb_transport_impl(const wabot_transport *t,
                        const wabot_transport_vtable *vt);
#endif
