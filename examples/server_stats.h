/* wabot-server's optional stats route (WABOT_STATS_PATH), for benchmarks
 * and dashboards: the library's counters and the outbound backlog. */
#ifndef WABOT_SERVER_STATS_H
#define WABOT_SERVER_STATS_H

#include <wabot.h>

/* Adds GET <path> when WABOT_STATS_PATH is set; WABOT_OK otherwise too. */
int server_stats_install(wabot_ctx *ctx);

#endif
