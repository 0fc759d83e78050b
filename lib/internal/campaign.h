/* The campaign module's descriptor (lib/campaign/module.c). Private. */
#ifndef WB_CAMPAIGN_H
#define WB_CAMPAIGN_H

#include "wabot/campaign.h"
#include "wabot/module.h"

extern const wabot_module_def wb_campaign_module;

/* The customers' admin routes (lib/campaign/admin_routes.c), mounted by
 * the module's create. */
int wb_campaign_admin_routes(wabot_ctx *ctx);
/* The campaigns' and reminders' admin routes
 * (lib/campaign/campaign_routes.c), mounted by the module's create. */
int wb_campaign_lifecycle_routes(wabot_ctx *ctx);

/* wabot_customer_import_json without writing: every row is checked and
 * the report says which would be refused ("created" and "updated" are 0).
 * For all-or-nothing imports (the admin route). Errors as the import's. */
int wb_customer_import_check_json(wabot_ctx *ctx, const char *org,
                                  const char *json, size_t len,
                                  char **report);

#endif
