/* Recorder transport: the test kit. Keeps a copy of every message sent so
 * a host's tests can assert on what the bot said, and fails sends on
 * demand to exercise error paths. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "transport.h"

typedef struct recorder {
    pthread_mutex_t lock;
    wabot_outbound **msgs;
    size_t n, cap;
    unsigned long sent;
    size_t fail_count;
    int fail_status, fail_code;
    char *fail_message;
} recorder;

static int take_failure(recorder *r, int *status, int *code, char **message)
{
    if (r->fail_count == 0)
        return 0;
    r->fail_count--;
    *status = r->fail_status;
    *code = r->fail_code;
    *message = r->fail_message ? strdup(r->fail_message) : NULL;
    return 1;
}

static int record(recorder *r, const wabot_outbound *m, char *id, size_t idsz)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        wabot_outbound **msgs = realloc(r->msgs, cap * sizeof *msgs);
        if (!msgs)
            return WABOT_ERR_NOMEM;
        r->msgs = msgs;
        r->cap = cap;
    }
    wabot_outbound *copy = wb_outbound_dup(NULL, m);
    if (!copy)
        return WABOT_ERR_NOMEM;
    r->msgs[r->n++] = copy;
    snprintf(id, idsz, "rec-%lu", ++r->sent);
    return WABOT_OK;
}

static int recorder_send(void *impl, const wabot_outbound *m,
                         wabot_send_op *op)
{
    recorder *r = impl;
    int status = 0, code = 0;
    char *message = NULL, id[32];
    pthread_mutex_lock(&r->lock);
    int fail = take_failure(r, &status, &code, &message);
    int rc = fail ? WABOT_OK : record(r, m, id, sizeof id);
    pthread_mutex_unlock(&r->lock);
    /* Complete outside the lock: the completion may call back into us. */
    if (fail)
        wabot_send_op_fail(op, status, code, message, 0);
    else if (rc == WABOT_OK)
        wabot_send_op_ok(op, id);
    free(message);
    return rc;
}

static void recorder_destroy(void *impl)
{
    recorder *r = impl;
    for (size_t i = 0; i < r->n; i++)
        wb_outbound_free(r->msgs[i]);
    free(r->msgs);
    free(r->fail_message);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static const wabot_transport_vtable recorder_vt = {
    WABOT_TRANSPORT_VTABLE_VERSION, recorder_send, recorder_destroy};

wabot_transport *wabot_transport_recorder_new(void)
{
    recorder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    wabot_transport *t = wabot_transport_new(&recorder_vt, r, "recorder");
    if (!t)
        recorder_destroy(r);
    return t;
}

static recorder *as_recorder(const wabot_transport *t)
{
    return wb_transport_impl(t, &recorder_vt);
}

size_t wabot_transport_recorder_count(const wabot_transport *t)
{
    recorder *r = as_recorder(t);
    if (!r)
        return 0;
    pthread_mutex_lock(&r->lock);
    size_t n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

const wabot_outbound *wabot_transport_recorder_get(const wabot_transport *t,
                                                    size_t i)
{
    recorder *r = as_recorder(t);
    if (!r)
        return NULL;
    pthread_mutex_lock(&r->lock);
    const wabot_outbound *m = i < r->n ? r->msgs[i] : NULL;
    pthread_mutex_unlock(&r->lock);
    return m;
}

void wabot_transport_recorder_clear(wabot_transport *t)
{
    recorder *r = as_recorder(t);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        wb_outbound_free(r->msgs[i]);
    r->n = 0;
    pthread_mutex_unlock(&r->lock);
}

int wabot_transport_recorder_fail_next(wabot_transport *t, size_t count,
                                       int status, int provider_code,
                                       const char *message)
{
    recorder *r = as_recorder(t);
    if (!r || status >= 0)
        return WABOT_ERR_INVAL;
    char *copy = message ? strdup(message) : NULL;
    if (message && !copy)
        return WABOT_ERR_NOMEM;
    pthread_mutex_lock(&r->lock);
    free(r->fail_message);
    r->fail_message = copy;
    r->fail_count = count;
    r->fail_status = status;
    r->fail_code = provider_code;
    pthread_mutex_unlock(&r->lock);
    return WABOT_OK;
}
