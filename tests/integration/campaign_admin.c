/* The campaign tests' admin calls (campaign_admin.h). */
#include "campaign_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "server_proc.h"

#define CHUNK 2000 /* customers per import request */
#define READ_TRIES 50 /* a read answered 503 (storage timeout) */

size_t ca_unavailable;

/* A read: 503 (the storage timed out on a loaded machine) is counted and
 * asked again after 100 ms, up to READ_TRIES times. */
static json_t *read_again(const ca_env *e, const char *path)
{
    json_t *j = NULL;
    for (int tries = 0; j == NULL; tries++) {
        j = ca_admin_try(e, "GET", path, NULL, 200,
                         tries < READ_TRIES ? 503 : 0);
        if (j == NULL) {
            ca_unavailable++;
            sp_sleep_ms(100);
        }
    }
    return j;
}

json_t *ca_admin_try(const ca_env *e, const char *method, const char *path,
                     const char *body, long want, long again)
{
    char url[512], auth[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s%s", e->port, e->prefix,
             path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", e->token);
    const char *hdr[] = {auth, NULL};
    http_result r;
    int rc = http_request_h(e->http, method, url,
                            body ? "application/json" : NULL, hdr, body,
                            body ? strlen(body) : 0, HTTP_BODY_LENGTH, &r);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, r.error);
    if (again != 0 && r.status == again) {
        http_result_free(&r);
        return NULL;
    }
    ck_assert_msg(r.status == want, "%s %s: %ld %s", method, path, r.status,
                  r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_msg(j != NULL, "%s %s: not JSON: %s", method, path, r.body);
    http_result_free(&r);
    return j;
}

json_t *ca_admin(const ca_env *e, const char *method, const char *path,
                 const char *body, long want)
{
    return ca_admin_try(e, method, path, body, want, 0);
}

json_int_t ca_num(json_t *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf, *dot; o != NULL; p = dot + 1) {
        dot = strchr(p, '.');
        if (dot == NULL)
            return json_integer_value(json_object_get(o, p));
        *dot = '\0';
        o = json_object_get(o, p);
    }
    return 0;
}

void ca_import(const ca_env *e, int n, int opt_out_every)
{
    char path[200];
    snprintf(path, sizeof path, "/customers/%s/import", e->org);
    for (int at = 0; at < n; at += CHUNK) {
        json_t *rows = json_array();
        for (int i = at; i < n && i < at + CHUNK; i++) {
            char phone[32], name[32];
            snprintf(phone, sizeof phone, CA_PHONE_FMT, i);
            snprintf(name, sizeof name, "C%d", i);
            json_t *row = json_pack("{s:s,s:s}", "phone", phone, "name", name);
            if (i % opt_out_every == opt_out_every - 1)
                json_object_set_new(row, "opted_out", json_true());
            json_array_append_new(rows, row);
        }
        char *text = json_dumps(rows, JSON_COMPACT);
        json_decref(rows);
        json_t *rep = NULL;
        for (int tries = 0; rep == NULL; tries++)
            rep = ca_admin_try(e, "POST", path, text, 200,
                               tries < 5 ? 503 : 0);
        ck_assert_int_eq(ca_num(rep, "failed"), 0);
        json_decref(rep);
        free(text);
    }
}

char *ca_campaign_start(const ca_env *e, int batch_size, int send_rate)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"organizationId\":\"%s\",\"name\":\"Test\","
             "\"message\":\"Hello {{name}}\",\"type\":\"PROMOTIONAL\","
             "\"targetAudience\":{\"type\":\"all\"},"
             "\"startImmediately\":true,\"batchSize\":%d,\"sendRate\":%d}",
             e->org, batch_size, send_rate);
    json_t *c = ca_admin(e, "POST", "/campaigns", body, 201);
    char *id = strdup(json_string_value(json_object_get(c, "id")));
    json_decref(c);
    ck_assert_ptr_nonnull(id);
    return id;
}

json_t *ca_campaign(const ca_env *e, const char *id)
{
    char path[200];
    snprintf(path, sizeof path, "/campaigns/%s?organizationId=%s", id,
             e->org);
    return read_again(e, path);
}

json_int_t ca_outbound_pending(const ca_env *e)
{
    json_t *q = read_again(e, "/jobs/outbound");
    json_int_t n = ca_num(q, "waiting") + ca_num(q, "delayed") +
                   ca_num(q, "active");
    json_decref(q);
    return n;
}

size_t ca_tally(fp_server *fp, int *counts, int n)
{
    size_t strays = 0;
    memset(counts, 0, (size_t)n * sizeof *counts);
    size_t total = fp_request_count(fp);
    for (size_t k = 0; k < total; k++) {
        fp_request r;
        if (fp_request_get(fp, k, &r) != 0)
            continue;
        int i = -1;
        if (r.message_id != NULL && r.to != NULL) {
            if (sscanf(r.to, "whatsapp:+1555%7d", &i) == 1 && i >= 0 && i < n)
                counts[i]++;
            else
                strays++;
        }
        fp_request_free(&r);
    }
    return strays;
}

void ca_expect_exactly_once(fp_server *fp, int n, int opt_out_every,
                            json_t *progress)
{
    const int opted = n / opt_out_every, reachable = n - opted;
    int *counts = calloc((size_t)n, sizeof *counts);
    ck_assert_ptr_nonnull(counts);
    ck_assert_uint_eq(ca_tally(fp, counts, n), 0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(counts[i] == (i % opt_out_every == opt_out_every - 1
                                        ? 0
                                        : 1),
                      "customer %d got %d messages", i, counts[i]);
    free(counts);
    ck_assert_uint_eq(fp_count_sent(fp), (size_t)reachable);
    ck_assert_int_eq(ca_num(progress, "total"), n);
    ck_assert_int_eq(ca_num(progress, "queued"), reachable);
    ck_assert_int_eq(ca_num(progress, "sent"), reachable);
    ck_assert_int_eq(ca_num(progress, "skipped.opted_out"), opted);
    ck_assert_int_eq(ca_num(progress, "percent"), 100);
}
