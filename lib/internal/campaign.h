/* The campaign module's descriptor (lib/campaign/module.c). Private. */
#ifndef WB_CAMPAIGN_H
#define WB_CAMPAIGN_H

#include "wabot/campaign.h"
#include "wabot/module.h"

extern const wabot_module_def wb_campaign_module;

#endif
