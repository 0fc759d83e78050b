/* wabot-server's backends from the environment: the provider transport
 * (console, Twilio or Meta) and, when REDIS_HOST is set, Redis storage,
 * jobs and rate limits shared by every wabot-server on that Redis. */
#ifndef WABOT_SERVER_BACKENDS_H
#define WABOT_SERVER_BACKENDS_H

#include <wabot.h>

typedef struct server_backends {
    wabot_transport *transport; /* NULL: the library's console transport */
    const char *sender;         /* business number to register, or NULL */
    char org[128];              /* organisation of `sender` */
    wabot_redis *redis;
    wabot_storage *storage;
    wabot_scheduler *scheduler;
    wabot_limiter *limiter;
} server_backends;

/* Help text for the variables read here. */
extern const char SERVER_BACKENDS_HELP[];

/* Read the environment, create the backends and put them into opts.
 * 0, or -1 after printing what is wrong (bad configuration). */
int server_backends_open(server_backends *b, wabot_options *opts);
/* Register the sender number with the context (after wabot_ctx_new). */
int server_backends_attach(server_backends *b, wabot_ctx *ctx);
/* Free (after wabot_ctx_free). */
void server_backends_close(server_backends *b);

#endif
