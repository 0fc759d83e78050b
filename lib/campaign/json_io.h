/* JSON across the campaign module's C API: parse what the caller gives,
 * hand back text in the context's memory. Private. */
#ifndef WB_CAMPAIGN_JSON_IO_H
#define WB_CAMPAIGN_JSON_IO_H

#include <jansson.h>

#include "wabot/core.h"

/* Parse `len` bytes into *out: an object (want_array 0) or an array.
 * WABOT_ERR_PARSE otherwise, the detail starting with `what`. Call inside
 * a wb_json_scope of the context. */
int wb_campaign_json_in(wabot_ctx *ctx, const char *json, size_t len,
                        int want_array, const char *what, json_t **out);

/* Compact text of o in the context's memory (wabot_ctx_mem_free) into
 * *out; o is not consumed. WABOT_OK or NOMEM (detail set). */
int wb_campaign_json_out(wabot_ctx *ctx, const json_t *o, char **out);

/* The campaign fan-out's view of one audience page (audience.c): as
 * wabot_audience_resolve_json, on a parsed audience, into *page (decref):
 * "recipients" are the customers' stored objects (with "phone"), and
 * "opted_out_phones" lists the opted-out ones of the page. Call inside a
 * wb_json_scope of the context. */
int wb_audience_page(wabot_ctx *ctx, const char *org, json_t *audience,
                     const char *cursor, size_t count, json_t **page);

#endif
