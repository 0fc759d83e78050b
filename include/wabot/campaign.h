/*
 * Campaigns and reminders (the `campaign` module; doc/campaigns.md).
 *
 * This is the module's foundation: its feature flags. Message templating
 * is in wabot/template.h. Customers, audiences, campaigns and reminders
 * build on it (issue 14).
 *
 * Both features can be switched off per context or per organisation:
 *   campaign.enabled            env ENABLE_CAMPAIGNS   (default on)
 *   campaign.reminders_enabled  env ENABLE_REMINDERS   (default on)
 * A call into a disabled feature refuses with WABOT_ERR_UNSUPPORTED and a
 * detail in wabot_errmsg() naming the option and its variable.
 */
#ifndef WABOT_CAMPAIGN_H
#define WABOT_CAMPAIGN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A feature of the campaign module. Append-only. */
typedef enum wabot_campaign_feature {
    WABOT_CAMPAIGN_FEATURE_CAMPAIGNS = 0, /**< campaign.enabled */
    WABOT_CAMPAIGN_FEATURE_REMINDERS = 1  /**< campaign.reminders_enabled */
} wabot_campaign_feature;

/**
 * Whether `feature` is on for organisation `org` (NULL: the context-wide
 * setting). Any thread, no allocation. Returns WABOT_OK when on;
 * WABOT_ERR_UNSUPPORTED when switched off (the detail names the option);
 * WABOT_ERR_STATE when the context has no campaign module;
 * WABOT_ERR_INVAL for a NULL context or an unknown feature.
 */
WABOT_API int wabot_campaign_feature_check(const wabot_ctx *ctx,
                                           const char *org,
                                           wabot_campaign_feature feature);

#ifdef __cplusplus
}
#endif

#endif
