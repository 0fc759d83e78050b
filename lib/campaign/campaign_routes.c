/* The campaigns' and reminders' admin routes (doc/admin.md,
 * doc/openapi.json), mounted by the campaign module behind the admin
 * token, over the C API of include/wabot/campaign.h. The paths and
 * bodies are the replaced system's: the organisation travels in the body
 * ("organizationId") of a POST and in the query (?organizationId=) of the
 * other routes; without it, the context's default organisation.
 *   POST   {prefix}/campaigns                  201 + Location, the campaign
 *   GET    {prefix}/campaigns[?status=&cursor=&limit=]
 *   GET    {prefix}/campaigns/:id              with "progress"
 *   POST   {prefix}/campaigns/:id/pause|resume|cancel   200, the campaign
 *   POST   {prefix}/reminders                  201 + Location, the reminder
 *   GET    {prefix}/reminders[?customerId=|customerPhone=&status=&cursor=]
 *   GET    {prefix}/reminders/:id
 *   DELETE {prefix}/reminders/:id              204 (cancelled) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/admin.h"
#include "internal/ctx.h"
#include "wabot/campaign.h"
#include "wabot/storage.h"

#define PAGE_DEFAULT 50

static const char *org_query(wabot_ctx *ctx,
                             const wabot_http_server_request *req)
{
    const char *org =
        wabot_http_server_request_query_param(req, "organizationId", NULL);
    return org != NULL && *org ? org : ctx->cfg.default_org;
}

/* A library status as the error answer, the member at fault named. */
static int fail(wabot_ctx *ctx, wabot_http_response *resp, int rc)
{
    char field[72];
    return wb_admin_answer_status(ctx, resp, rc,
                                  wb_admin_errmsg_field(ctx, field,
                                                        sizeof field));
}

typedef int (*create_fn)(wabot_ctx *, const char *, size_t, char **);

/* POST of a JSON body to `create`: 201 with the object and Location
 * {path}/{id}. */
static int create(wabot_ctx *ctx, const wabot_http_server_request *req,
                  wabot_http_response *resp, create_fn fn)
{
    int rc = WABOT_OK;
    if (!wb_admin_json_content(req, resp, &rc))
        return rc;
    size_t len = 0;
    const char *body = wabot_http_server_request_body(req, &len);
    char *out = NULL;
    rc = fn(ctx, body, len, &out);
    if (rc != WABOT_OK)
        return fail(ctx, resp, rc);
    json_t *o = json_loads(out, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    char where[512];
    wb_admin_location(where, sizeof where,
                      wabot_http_server_request_path(req), id ? id : "");
    json_decref(o);
    rc = wb_admin_answer_owned(ctx, resp, 201, out);
    return rc == WABOT_OK
               ? wabot_http_response_add_header(resp, "Location", where)
               : rc;
}

/* ---- Campaigns ------------------------------------------------------ */

static int campaign_post(wabot_ctx *ctx, const wabot_http_server_request *req,
                         wabot_http_response *resp, void *ud)
{
    (void)ud;
    return create(ctx, req, resp, wabot_campaign_create_json);
}

static int campaigns_list(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    long limit = 0;
    int rc = WABOT_OK;
    if (!wb_admin_limit(req, resp, PAGE_DEFAULT, WABOT_STORAGE_PAGE_MAX,
                        &limit, &rc))
        return rc;
    char *out = NULL;
    rc = wabot_campaign_list_json(
        ctx, org_query(ctx, req),
        wabot_http_server_request_query_param(req, "status", NULL),
        wabot_http_server_request_query_param(req, "cursor", NULL),
        (size_t)limit, &out);
    if (rc != WABOT_OK)
        return fail(ctx, resp, rc);
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

/* The campaign `id` with its progress as member "progress". */
static int answer_campaign(wabot_ctx *ctx, const wabot_http_server_request *req,
                           wabot_http_response *resp, int status)
{
    const char *org = org_query(ctx, req);
    const char *id = wabot_http_server_request_param(req, "id");
    char *c = NULL, *p = NULL;
    int rc = wabot_campaign_get_json(ctx, org, id, &c);
    if (rc == WABOT_OK)
        rc = wabot_campaign_progress_json(ctx, org, id, &p);
    if (rc != WABOT_OK) {
        wabot_ctx_mem_free(ctx, c);
        return fail(ctx, resp, rc);
    }
    json_t *o = json_loads(c, 0, NULL), *pr = json_loads(p, 0, NULL);
    wabot_ctx_mem_free(ctx, c);
    wabot_ctx_mem_free(ctx, p);
    char *text = NULL;
    if (json_is_object(o) && pr != NULL &&
        json_object_set_new(o, "progress", pr) == 0) {
        pr = NULL;
        text = json_dumps(o, JSON_COMPACT);
    }
    json_decref(o);
    json_decref(pr);
    if (text == NULL)
        return WABOT_ERR_NOMEM;
    rc = wabot_http_response_set_json(resp, status, text);
    free(text);
    return rc;
}

static int campaign_get(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    return answer_campaign(ctx, req, resp, 200);
}

typedef int (*move_fn)(wabot_ctx *, const char *, const char *);

static int move(wabot_ctx *ctx, const wabot_http_server_request *req,
                wabot_http_response *resp, move_fn fn)
{
    int rc = fn(ctx, org_query(ctx, req),
                wabot_http_server_request_param(req, "id"));
    if (rc != WABOT_OK)
        return fail(ctx, resp, rc);
    return answer_campaign(ctx, req, resp, 200);
}

static int campaign_pause(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    return move(ctx, req, resp, wabot_campaign_pause);
}

static int campaign_resume(wabot_ctx *ctx,
                           const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)ud;
    return move(ctx, req, resp, wabot_campaign_resume);
}

static int campaign_cancel(wabot_ctx *ctx,
                           const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)ud;
    return move(ctx, req, resp, wabot_campaign_cancel);
}

/* ---- Reminders ------------------------------------------------------ */

static int reminder_post(wabot_ctx *ctx, const wabot_http_server_request *req,
                         wabot_http_response *resp, void *ud)
{
    (void)ud;
    return create(ctx, req, resp, wabot_reminder_create_json);
}

static int reminders_list(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    long limit = 0;
    int rc = WABOT_OK;
    if (!wb_admin_limit(req, resp, PAGE_DEFAULT, 1000, &limit, &rc))
        return rc;
    /* Reminders are kept per customer phone: customerPhone, or a
     * customerId that is one. */
    const char *customer =
        wabot_http_server_request_query_param(req, "customerPhone", NULL);
    if (customer == NULL)
        customer =
            wabot_http_server_request_query_param(req, "customerId", NULL);
    char *out = NULL;
    rc = wabot_reminder_list_json(
        ctx, org_query(ctx, req), customer,
        wabot_http_server_request_query_param(req, "status", NULL),
        wabot_http_server_request_query_param(req, "cursor", NULL),
        (size_t)limit, &out);
    if (rc != WABOT_OK)
        return fail(ctx, resp, rc);
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

static int reminder_get(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    char *out = NULL;
    int rc = wabot_reminder_get_json(ctx, org_query(ctx, req),
                                     wabot_http_server_request_param(req, "id"),
                                     &out);
    if (rc != WABOT_OK)
        return fail(ctx, resp, rc);
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

static int reminder_delete(wabot_ctx *ctx,
                           const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = wabot_reminder_cancel(ctx, org_query(ctx, req),
                                   wabot_http_server_request_param(req, "id"));
    if (rc != WABOT_OK)
        return fail(ctx, resp, rc);
    return wabot_http_response_set_status(resp, 204);
}

int wb_campaign_lifecycle_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"POST", "/campaigns", campaign_post},
        {"GET", "/campaigns", campaigns_list},
        {"GET", "/campaigns/:id", campaign_get},
        {"POST", "/campaigns/:id/pause", campaign_pause},
        {"POST", "/campaigns/:id/resume", campaign_resume},
        {"POST", "/campaigns/:id/cancel", campaign_cancel},
        {"POST", "/reminders", reminder_post},
        {"GET", "/reminders", reminders_list},
        {"GET", "/reminders/:id", reminder_get},
        {"DELETE", "/reminders/:id", reminder_delete},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
