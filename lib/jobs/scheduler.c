/* The scheduler handle: wraps a job backend's vtable and checks every
 * argument before the backend sees it, so backends only implement
 * semantics. Also the job snapshot (wabot_job_info) backends fill. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jobs.h"
#include "versioned.h"

/* wabot_job_record as each version laid it out. */
static const size_t job_record_sizes[] = {sizeof(wabot_job_record)};

/* ------------------------------------------------------------------ */
/* Handle                                                              */

wabot_scheduler *wb_scheduler_wrap(const wabot_scheduler_vtable *vt,
                                   void *impl, const char *name)
{
    wabot_scheduler *s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    s->vt = vt;
    s->impl = impl;
    s->name = name;
    s->batch = NULL;
    s->failed = NULL;
    return s;
}

static int vtable_complete(const wabot_scheduler_vtable *vt)
{
    /* Members of version 1; a newer table only grows at the end. */
    return vt->enqueue != NULL && vt->reserve != NULL && vt->extend != NULL &&
           vt->complete != NULL && vt->fail != NULL && vt->release != NULL &&
           vt->cancel != NULL && vt->get != NULL && vt->counts != NULL &&
           vt->recover != NULL && vt->next_due != NULL && vt->trim != NULL &&
           vt->destroy != NULL;
}

wabot_scheduler *wabot_scheduler_new(const wabot_scheduler_vtable *vt,
                                     void *impl)
{
    if (vt == NULL || vt->version == 0 || !vtable_complete(vt))
        return wb_null("wabot_scheduler_new: NULL vtable, version 0 or a NULL operation");
    return wb_scheduler_wrap(vt, impl, "custom");
}

void wabot_scheduler_free(wabot_scheduler *s)
{
    if (s == NULL)
        return;
    s->vt->destroy(s->impl);
    free(s);
}

const char *wabot_scheduler_name(const wabot_scheduler *s)
{
    return s != NULL ? s->name : NULL;
}

/* ------------------------------------------------------------------ */
/* Small public helpers                                                */

const char *wabot_job_state_name(wabot_job_state s)
{
    switch (s) {
    case WABOT_JOB_WAITING: return "waiting";
    case WABOT_JOB_DELAYED: return "delayed";
    case WABOT_JOB_ACTIVE: return "active";
    case WABOT_JOB_COMPLETED: return "completed";
    case WABOT_JOB_FAILED: return "failed";
    }
    return "unknown";
}

void wabot_job_spec_init(wabot_job_spec *spec)
{
    if (spec == NULL)
        return;
    memset(spec, 0, sizeof *spec);
    spec->version = WABOT_JOB_SPEC_VERSION;
    spec->job_id = NULL;
    spec->run_at_ms = 0;
    spec->delay_ms = 0;
    spec->max_attempts = 5;
    spec->backoff = WABOT_BACKOFF_EXPONENTIAL;
    spec->backoff_ms = 1000;
    spec->backoff_max_ms = 3600000;
    spec->jitter_pct = 20;
    spec->priority = 0;
}

/* ------------------------------------------------------------------ */
/* Job snapshots                                                       */

wabot_job_info *wabot_job_info_new(void)
{
    return calloc(1, sizeof(wabot_job_info));
}

void wb_job_info_clear(wabot_job_info *info)
{
    free(info->strings);
    memset(info, 0, sizeof *info);
}

void wabot_job_info_free(wabot_job_info *info)
{
    if (info == NULL)
        return;
    free(info->strings);
    free(info);
}

/* Bytes needed for the three strings of rec, or 0 on overflow. */
static size_t strings_size(const wabot_job_record *rec, size_t id_len,
                           size_t err_len)
{
    size_t n = id_len + 1;
    if (rec->payload_len > SIZE_MAX - n - 1)
        return 0;
    n += rec->payload_len + 1;
    if (err_len > SIZE_MAX - n - 1)
        return 0;
    return n + err_len + 1;
}

/* Copy `len` bytes and a NUL to *at; returns the copy, advances *at. */
static char *append_bytes(char **at, const char *src, size_t len)
{
    char *dst = *at;
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
    *at = dst + len + 1;
    return dst;
}

int wabot_job_info_set(wabot_job_info *info, const wabot_job_record *rec)
{
    if (info == NULL || rec == NULL || rec->version == 0 || rec->id == NULL ||
        (rec->payload == NULL && rec->payload_len > 0))
        return WABOT_ERR_INVAL;
    size_t id_len = strlen(rec->id);
    size_t err_len = rec->last_error != NULL ? strlen(rec->last_error) : 0;
    size_t size = strings_size(rec, id_len, err_len);
    if (size == 0)
        return WABOT_ERR_INVAL;
    char *block = malloc(size);
    if (block == NULL)
        return WABOT_ERR_NOMEM; /* info keeps its previous record */

    /* Only the members this library knows; a newer record's extra members
     * are not copied, so the snapshot says it is a version-1 record. */
    wabot_job_record copy;
    wb_copy_versioned(&copy, sizeof copy, rec, rec->version,
                      job_record_sizes, WB_N_VERSIONS(job_record_sizes));
    char *at = block;
    copy.id = append_bytes(&at, rec->id, id_len);
    copy.payload = append_bytes(&at, rec->payload, rec->payload_len);
    copy.last_error = rec->last_error != NULL
                          ? append_bytes(&at, rec->last_error, err_len)
                          : NULL;
    free(info->strings);
    info->strings = block;
    info->rec = copy;
    return WABOT_OK;
}

const wabot_job_record *wabot_job_info_record(const wabot_job_info *info)
{
    if (info == NULL || info->strings == NULL)
        return NULL;
    return &info->rec;
}

/* ------------------------------------------------------------------ */
/* Argument checks shared by the wrappers                              */

static int queue_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
           c == '-';
}

int wb_queue_name_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (n >= WB_QUEUE_NAME_MAX || !queue_char_ok(*p))
            return 0;
    return 1;
}

int wb_job_id_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (n >= WB_JOB_ID_MAX || *p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int target_ok(const wabot_scheduler *s, const char *queue)
{
    return s != NULL && wb_queue_name_ok(queue);
}

static int job_target_ok(const wabot_scheduler *s, const char *queue,
                         const char *id)
{
    return target_ok(s, queue) && wb_job_id_ok(id);
}

/* What a backend may rely on in an enqueued record. */
int wb_job_record_ok(const wabot_job_record *job)
{
    return job != NULL && job->version >= 1 && wb_job_id_ok(job->id) &&
           (job->payload != NULL || job->payload_len == 0) &&
           job->max_attempts >= 1 &&
           (job->backoff == WABOT_BACKOFF_FIXED ||
            job->backoff == WABOT_BACKOFF_EXPONENTIAL) &&
           job->backoff_ms >= 0 && job->backoff_max_ms >= 0 &&
           job->jitter_pct >= 0 && job->jitter_pct <= 100;
}

/* Run a backend call that fills `out`: out is cleared first, so on any
 * failure it holds no record, and a backend that claims success without
 * filling it is reported instead of handing back a stale snapshot. */
static int filled(wabot_job_info *out, int rc)
{
    if (rc == WABOT_OK && out->strings == NULL)
        rc = WABOT_ERR_STORAGE; /* backend bug */
    if (rc != WABOT_OK)
        wb_job_info_clear(out);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Wrappers                                                            */

int wabot_scheduler_enqueue(wabot_scheduler *s, const char *queue,
                            const wabot_job_record *job, int64_t now_ms)
{
    if (!target_ok(s, queue) || !wb_job_record_ok(job))
        return WABOT_ERR_INVAL;
    if (job->payload != NULL)
        return s->vt->enqueue(s->impl, queue, job, now_ms);
    /* Backends always receive a real payload pointer. The copy holds only
     * the members this library knows, hence its version. */
    wabot_job_record copy;
    wb_copy_versioned(&copy, sizeof copy, job, job->version,
                      job_record_sizes, WB_N_VERSIONS(job_record_sizes));
    copy.payload = "";
    return s->vt->enqueue(s->impl, queue, &copy, now_ms);
}

int wabot_scheduler_reserve(wabot_scheduler *s, const char *queue,
                            int64_t now_ms, int64_t lease_ms,
                            wabot_job_info *out)
{
    if (!target_ok(s, queue) || lease_ms <= 0 || out == NULL)
        return WABOT_ERR_INVAL;
    wb_job_info_clear(out);
    return filled(out, s->vt->reserve(s->impl, queue, now_ms, lease_ms, out));
}

int wabot_scheduler_extend(wabot_scheduler *s, const char *queue,
                           const char *id, uint64_t token, int64_t until_ms)
{
    if (!job_target_ok(s, queue, id))
        return WABOT_ERR_INVAL;
    return s->vt->extend(s->impl, queue, id, token, until_ms);
}

int wabot_scheduler_complete(wabot_scheduler *s, const char *queue,
                             const char *id, uint64_t token, int64_t now_ms)
{
    if (!job_target_ok(s, queue, id))
        return WABOT_ERR_INVAL;
    return s->vt->complete(s->impl, queue, id, token, now_ms);
}

int wabot_scheduler_fail(wabot_scheduler *s, const char *queue,
                         const char *id, uint64_t token, int64_t now_ms,
                         const char *reason, int64_t retry_at_ms)
{
    if (!job_target_ok(s, queue, id))
        return WABOT_ERR_INVAL;
    return s->vt->fail(s->impl, queue, id, token, now_ms, reason,
                       retry_at_ms);
}

int wabot_scheduler_release(wabot_scheduler *s, const char *queue,
                            const char *id, uint64_t token, int64_t now_ms,
                            int64_t run_at_ms)
{
    if (!job_target_ok(s, queue, id))
        return WABOT_ERR_INVAL;
    return s->vt->release(s->impl, queue, id, token, now_ms, run_at_ms);
}

int wabot_scheduler_cancel(wabot_scheduler *s, const char *queue,
                           const char *id)
{
    if (!job_target_ok(s, queue, id))
        return WABOT_ERR_INVAL;
    return s->vt->cancel(s->impl, queue, id);
}

int wabot_scheduler_get(wabot_scheduler *s, const char *queue,
                        const char *id, wabot_job_info *out)
{
    if (!job_target_ok(s, queue, id) || out == NULL)
        return WABOT_ERR_INVAL;
    wb_job_info_clear(out);
    return filled(out, s->vt->get(s->impl, queue, id, out));
}

int wabot_scheduler_counts(wabot_scheduler *s, const char *queue,
                           int64_t *counts, size_t n)
{
    if (!target_ok(s, queue) || (counts == NULL && n > 0))
        return WABOT_ERR_INVAL;
    int64_t none[1];
    if (counts == NULL)
        counts = none; /* backends always get a real array */
    /* States a backend does not know (or that do not exist yet) count 0. */
    for (size_t i = 0; i < n; i++)
        counts[i] = 0;
    return s->vt->counts(s->impl, queue, counts, n);
}

int wabot_scheduler_recover(wabot_scheduler *s, const char *queue,
                            int64_t now_ms, int32_t max_stalls,
                            int32_t *recovered)
{
    if (!target_ok(s, queue) || max_stalls < 0)
        return WABOT_ERR_INVAL;
    int32_t moved = 0;
    int rc = s->vt->recover(s->impl, queue, now_ms, max_stalls, &moved);
    if (recovered != NULL)
        *recovered = moved; /* also on failure: what did move stays moved */
    return rc;
}

int wabot_scheduler_next_due(wabot_scheduler *s, const char *queue,
                             int64_t now_ms, int64_t *due_ms)
{
    if (!target_ok(s, queue) || due_ms == NULL)
        return WABOT_ERR_INVAL;
    int64_t due = 0;
    int rc = s->vt->next_due(s->impl, queue, now_ms, &due);
    if (rc == WABOT_OK)
        *due_ms = due;
    return rc;
}

int wabot_scheduler_trim(wabot_scheduler *s, const char *queue,
                         int32_t state, int64_t keep_count,
                         int64_t finished_before_ms, int64_t *removed)
{
    if (!target_ok(s, queue) || keep_count < 0 ||
        (state != WABOT_JOB_COMPLETED && state != WABOT_JOB_FAILED))
        return WABOT_ERR_INVAL;
    int64_t n = 0;
    int rc = s->vt->trim(s->impl, queue, state, keep_count,
                         finished_before_ms, &n);
    if (removed != NULL)
        *removed = n;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */

int wb_scheduler_batched(const wabot_scheduler *s)
{
    return s != NULL && s->batch != NULL;
}

int wb_scheduler_reserve_many(wabot_scheduler *s, const char *queue,
                              int64_t now_ms, int64_t lease_ms,
                              int32_t max_stalls, size_t max,
                              wabot_job_info *const *out, size_t *got,
                              int32_t *recovered)
{
    *got = 0;
    *recovered = 0;
    if (!target_ok(s, queue) || lease_ms <= 0 || max == 0 || out == NULL)
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < max; i++)
        wb_job_info_clear(out[i]);
    if (s->batch != NULL) { /* one queue's poll: a round trip */
        wb_sched_poll p = {.queue = queue, .max = max, .out = out,
                           .poll = 1};
        int rc = s->batch->poll_many(s->impl, 1, &p, now_ms, lease_ms,
                                     max_stalls);
        if (rc == WABOT_OK)
            rc = p.rc;
        *got = rc == WABOT_OK && p.got <= max ? p.got : 0;
        *recovered = p.recovered;
        return rc;
    }
    wabot_scheduler_recover(s, queue, now_ms, max_stalls, recovered);
    while (*got < max) {
        int rc = wabot_scheduler_reserve(s, queue, now_ms, lease_ms,
                                         out[*got]);
        if (rc == WABOT_ERR_NOT_FOUND)
            break;
        if (rc != WABOT_OK)
            return *got ? WABOT_OK : rc;
        (*got)++;
    }
    return WABOT_OK;
}

int wb_scheduler_poll_many(wabot_scheduler *s, size_t n, wb_sched_poll *polls,
                           int64_t now_ms, int64_t lease_ms,
                           int32_t max_stalls)
{
    if (s == NULL || n == 0 || polls == NULL || lease_ms <= 0)
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        wb_sched_poll *p = &polls[i];
        p->got = 0;
        p->recovered = 0;
        p->has_due = 0;
        p->rc = target_ok(s, p->queue) && (p->max == 0 || p->out != NULL) &&
                        (p->n_complete == 0 ||
                         (p->ids && p->tokens && p->results)) &&
                        (p->poll || p->max == 0)
                    ? WABOT_OK
                    : WABOT_ERR_INVAL;
        for (size_t j = 0; p->rc == WABOT_OK && j < p->max; j++)
            wb_job_info_clear(p->out[j]);
        for (size_t j = 0; p->rc == WABOT_OK && j < p->n_complete; j++)
            p->results[j] = wb_job_id_ok(p->ids[j]) ? WABOT_OK
                                                    : WABOT_ERR_INVAL;
        if (p->rc != WABOT_OK)
            return WABOT_ERR_INVAL;
    }
    if (s->batch != NULL) {
        int rc = s->batch->poll_many(s->impl, n, polls, now_ms, lease_ms,
                                     max_stalls);
        for (size_t i = 0; i < n; i++) {
            if (rc != WABOT_OK || polls[i].rc != WABOT_OK ||
                polls[i].got > polls[i].max)
                polls[i].got = 0;
            for (size_t j = 0; rc != WABOT_OK && j < polls[i].n_complete; j++)
                polls[i].results[j] = rc;
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        wb_sched_poll *p = &polls[i];
        if (p->n_complete > 0)
            wb_scheduler_complete_many(s, p->queue, p->n_complete, p->ids,
                                       p->tokens, now_ms, p->results);
        if (!p->poll)
            continue;
        if (p->max > 0)
            p->rc = wb_scheduler_reserve_many(s, p->queue, now_ms, lease_ms,
                                              max_stalls, p->max, p->out,
                                              &p->got, &p->recovered);
        else
            wabot_scheduler_recover(s, p->queue, now_ms, max_stalls,
                                    &p->recovered);
        int rc = wabot_scheduler_next_due(s, p->queue, now_ms, &p->due_ms);
        p->has_due = rc == WABOT_OK;
        if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND && p->rc == WABOT_OK)
            p->rc = rc;
    }
    return WABOT_OK;
}

void wb_scheduler_enqueue_many(wabot_scheduler *s, const char *queue,
                               size_t n, const wabot_job_record *jobs,
                               int64_t now_ms, int *results)
{
    int ok = target_ok(s, queue);
    for (size_t i = 0; ok && i < n; i++)
        ok = wb_job_record_ok(&jobs[i]) && jobs[i].payload != NULL;
    if (ok && s->batch != NULL && s->batch->enqueue_many != NULL) {
        int rc = s->batch->enqueue_many(s->impl, queue, n, jobs, now_ms,
                                        results);
        for (size_t i = 0; rc != WABOT_OK && i < n; i++)
            results[i] = rc;
        return;
    }
    /* One by one: the wrapper's own checks answer for each record. */
    for (size_t i = 0; i < n; i++)
        results[i] = wabot_scheduler_enqueue(s, queue, &jobs[i], now_ms);
}

void wb_scheduler_complete_many(wabot_scheduler *s, const char *queue,
                                size_t n, const char *const *ids,
                                const uint64_t *tokens, int64_t now_ms,
                                int *results)
{
    int ok = target_ok(s, queue);
    for (size_t i = 0; i < n; i++)
        if (!ok || !wb_job_id_ok(ids[i]))
            results[i] = WABOT_ERR_INVAL;
    if (ok && s->batch != NULL) {
        int rc = s->batch->complete_many(s->impl, queue, n, ids, tokens,
                                         now_ms, results);
        for (size_t i = 0; rc != WABOT_OK && i < n; i++)
            results[i] = rc;
        return;
    }
    for (size_t i = 0; ok && i < n; i++)
        results[i] = wabot_scheduler_complete(s, queue, ids[i], tokens[i],
                                              now_ms);
}
