/* What the campaign tests that drive wabot-server over its admin API
 * share (campaign-pause; campaign-crash): the admin calls, the customer
 * import, the campaign's progress, and the tally of what reached the
 * fake provider. Failures are check assertions. */
#ifndef CAMPAIGN_ADMIN_H
#define CAMPAIGN_ADMIN_H

#include <jansson.h>
#include <stddef.h>

#include "fake_provider.h"
#include "http_client.h"

/* Customer i is "+1555" followed by i in 7 digits; every `opt_out_every`th
 * (i % opt_out_every == opt_out_every - 1) is opted out. */
#define CA_PHONE_FMT "+1555%07d"

typedef struct ca_env {
    int port;           /* the server's */
    const char *token;  /* admin bearer token */
    const char *prefix; /* the admin routes' prefix ("/whatsapp-v2") */
    const char *org;
    http_client *http;
} ca_env;

/* An admin call: the answer's body parsed (json_decref it) and its status
 * checked against `want`; NULL when the status is `again` instead (not 0:
 * the caller may try again). */
json_t *ca_admin_try(const ca_env *e, const char *method, const char *path,
                     const char *body, long want, long again);
json_t *ca_admin(const ca_env *e, const char *method, const char *path,
                 const char *body, long want);
/* The integer at a dotted path ("progress.sent"); 0 when absent. */
json_int_t ca_num(json_t *o, const char *path);
/* Import customers 0..n-1 in chunks of 2,000 (a chunk answered 503 on a
 * loaded machine is posted again: an upsert). */
void ca_import(const ca_env *e, int n, int opt_out_every);
/* POST the replaced system's campaign body to all customers ("Hello
 * {{name}}", started at once); returns its id (malloc'ed). */
char *ca_campaign_start(const ca_env *e, int batch_size, int send_rate);
/* Reads answered 503 and asked again (ca_campaign, ca_outbound_pending):
 * the storage timed out under load. Tests print it. */
extern size_t ca_unavailable;

/* GET /campaigns/:id (json_decref it); a 503 is asked again. */
json_t *ca_campaign(const ca_env *e, const char *id);
/* Outbound jobs not finished (waiting, delayed, active). */
json_int_t ca_outbound_pending(const ca_env *e);
/* Every send the fake accepted, per customer index (counts[0..n-1]);
 * returns how many were addressed to no customer of ours. */
size_t ca_tally(fp_server *fp, int *counts, int n);

/* The tests' closing check: customer i (of n) got exactly one message at
 * the fake, none when opted out (i % opt_out_every == opt_out_every - 1),
 * nothing went elsewhere, and `progress` (the campaign's "progress"
 * object) says so: total n, queued and sent the reachable ones, the
 * opted-out skipped, 100 %. */
void ca_expect_exactly_once(fp_server *fp, int n, int opt_out_every,
                            json_t *progress);

#endif
