/* The Redis scheduler's key names and the enqueue script's arguments,
 * shared by lib/redis/scheduler.c and the turn fast path
 * (lib/redis/turn.c), which enqueues a turn's jobs inside its commit
 * script with the scheduler's own enqueue code. Private to lib/redis. */
#ifndef WB_REDIS_SCHEDULER_ARGS_H
#define WB_REDIS_SCHEDULER_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "jobs.h"
#include "redis.h"

/* "{queue}:" + the longest suffix ("completed", or "job:" + an id). */
#define BASE_MAX (WB_QUEUE_NAME_MAX + 4)
#define KEY_MAX (BASE_MAX + 4 + WB_JOB_ID_MAX + 1)
/* Decimal int64 / uint64 with sign and NUL; 16 hex digits and NUL. */
#define NUM_MAX 24

/* A queue's key names without the prefix (wb_redis_eval adds it), and
 * "{queue}:" itself, which the scripts need to build job keys. */
typedef struct qkeys {
    char base[BASE_MAX];
    char ready[BASE_MAX + 8];
    char delayed[BASE_MAX + 8];
    char active[BASE_MAX + 8];
    char completed[BASE_MAX + 12];
    char failed[BASE_MAX + 8];
    char seq[BASE_MAX + 4];
    char token[BASE_MAX + 8];
    char job[KEY_MAX];
} qkeys;

/* The enqueue script's KEYS (job ready delayed seq) and ARGV (id payload
 * state run_at run_hex priority fixed), pointing into the struct and job
 * (no prefix and "{queue}:": the script builds no key, so the server need
 * not make two argument objects per job for them). fixed: the fields
 * that never change, packed (scheduler_lua.h). The Lua loops that split
 * a batch use the count as text: keep the two in step. */
#define WB_REDIS_ENQUEUE_NKEYS 4
#define WB_REDIS_ENQUEUE_NARGS 7
#define WB_REDIS_ENQUEUE_NARGS_LUA "7"
typedef struct wb_redis_enqueue_args {
    qkeys k;
    char run_at[NUM_MAX], run_hex[NUM_MAX], priority[NUM_MAX];
    char fixed[6 * NUM_MAX];
    const char *keys[WB_REDIS_ENQUEUE_NKEYS];
    const char *args[WB_REDIS_ENQUEUE_NARGS];
    size_t lens[WB_REDIS_ENQUEUE_NARGS];
} wb_redis_enqueue_args;

/* Fill *a for enqueueing job (checked by the wrappers' rules) on queue. */
void wb_redis_enqueue_args_init(wb_redis_enqueue_args *a, const char *queue,
                                const wabot_job_record *job, int64_t now_ms);

#endif
