/* wabot-server's legacy bot forward (server_legacy.c). */
#ifndef SERVER_LEGACY_H
#define SERVER_LEGACY_H

#include <wabot.h>

/* With WABOT_LEGACY_URL set, forward the messages the migration module
 * does not route here to that URL (WABOT_LEGACY_TIMEOUT_MS, default
 * 10000). 0 on success or when unset, -1 (message printed) on a bad
 * setting. */
int server_legacy_attach(wabot_ctx *ctx);
void server_legacy_close(void);

#endif
