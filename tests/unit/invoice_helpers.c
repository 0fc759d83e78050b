/* Helpers of the invoice tests (invoice_helpers.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "invoice_helpers.h"

typedef struct issuer {
    wabot_ctx *ctx;
    const char *org, *prefix;
    int total;
    atomic_int *next, *failures;
    int64_t *seqs;
} issuer;

int64_t inv_seq_of(const char *number)
{
    const char *dash = number ? strrchr(number, '-') : NULL;
    return dash ? strtoll(dash + 1, NULL, 10) : -1;
}

static int issue_one(issuer *s, int i)
{
    char key[64];
    snprintf(key, sizeof key, "%s-%d", s->prefix, i);
    wabot_invoice_draft *d =
        wabot_invoice_draft_new(s->ctx, s->org, "+15550001234", "USD");
    char *number = NULL;
    int rc = d ? wabot_invoice_draft_set_key(d, key) : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wabot_invoice_draft_add_line(d, "A1", "Coke", 1, 150, 0);
    if (rc == WABOT_OK)
        rc = wabot_invoice_issue(d, &number);
    if (rc == WABOT_OK)
        s->seqs[i] = inv_seq_of(number);
    else
        fprintf(stderr, "issue %s: %s (%s)\n", key, wabot_strerror(rc),
                wabot_ctx_errmsg(s->ctx));
    wabot_ctx_mem_free(s->ctx, number);
    wabot_invoice_draft_free(d);
    return rc;
}

static void *run(void *arg)
{
    issuer *s = arg;
    for (;;) {
        int i = atomic_fetch_add(s->next, 1);
        if (i >= s->total)
            return NULL;
        if (issue_one(s, i) != WABOT_OK)
            atomic_fetch_add(s->failures, 1);
    }
}

int inv_issue_concurrently(wabot_ctx *ctx, const char *org,
                           const char *key_prefix, int threads, int total,
                           int64_t *seqs)
{
    atomic_int next = 0, failures = 0;
    issuer s = {ctx, org, key_prefix, total, &next, &failures, seqs};
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    for (int t = 0; t < threads; t++)
        pthread_create(&tids[t], NULL, run, &s);
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    free(tids);
    return atomic_load(&failures);
}

int inv_seqs_gap_free(const int64_t *seqs, int n, char *why)
{
    char *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int i = 0; ok && i < n; i++) {
        if (seqs[i] < 1 || seqs[i] > n) {
            snprintf(why, 128, "number %lld out of 1..%d",
                     (long long)seqs[i], n);
            ok = 0;
        } else if (seen[seqs[i]]++) {
            snprintf(why, 128, "number %lld given twice", (long long)seqs[i]);
            ok = 0;
        }
    }
    free(seen);
    return ok; /* n distinct values in 1..n: every number, no gap */
}

char *inv_pdf_text(const char *pdf, size_t len, char *why)
{
    char path[] = "/tmp/wabot-invoice-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, pdf, len) != (ssize_t)len) {
        snprintf(why, 256, "cannot write %s", path);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "pdftotext -layout %s - 2>&1", path);
    FILE *p = popen(cmd, "r");
    char *out = calloc(1, 65536);
    size_t n = p ? fread(out, 1, 65535, p) : 0;
    out[n] = '\0';
    int st = p ? pclose(p) : -1;
    unlink(path);
    if (st != 0) {
        snprintf(why, 256, "pdftotext failed (%d): %.200s", st, out);
        free(out);
        return NULL;
    }
    return out;
}
