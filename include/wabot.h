/* libwabot: embeddable WhatsApp business bots. Umbrella header. */
#ifndef WABOT_H
#define WABOT_H

#include "wabot/core.h"
#include "wabot/options.h"
#include "wabot/module.h"
#include "wabot/message.h"
#include "wabot/pipeline.h"
#include "wabot/router.h"
#include "wabot/state.h"
#include "wabot/storage.h"
#include "wabot/transport.h"
#include "wabot/http_server.h"
#include "wabot/webhook.h"
#include "wabot/metrics.h"
#include "wabot/jobs.h"
#include "wabot/loop.h"
#include "wabot/http.h"
#include "wabot/resilience.h"
#include "wabot/send.h"
#include "wabot/out.h"
#include "wabot/security.h"
#include "wabot/delivery.h"
#include "wabot/redis.h"
#include "wabot/admin.h"
#include "wabot/campaign.h"
#include "wabot/migration.h"
#include "wabot/commerce.h"
#include "wabot/invoice.h"
#include "wabot/order.h"
#include "wabot/template.h"

#endif /* WABOT_H */
