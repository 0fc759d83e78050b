/* Which running instance of the store a fan-out's scan cursor belongs to.
 *
 * A Redis SCAN cursor is a position in one server process's hash table:
 * a restarted server (new table, new hash seed) reads an old cursor as
 * some other position, and a fan-out resumed with it would skip
 * customers. A fan-out therefore sweeps its audience once more after the
 * first pass, but only when the server may have changed under it: every
 * Redis process start draws a new random run_id (INFO server), so equal
 * run_ids before and after each page, and equal to the first page's,
 * mean every page was scanned by one process (fanout.c, needs_sweep).
 * One INFO per page of up to 1,000 recipients. */
#include <string.h>

#include "campaign_store.h"
#include "internal/ctx.h"
#include "internal/redis.h"

int wb_campaign_store_instance(wabot_ctx *ctx, char *buf, size_t n)
{
    wabot_redis *r = wb_redis_storage_handle(ctx->storage);
    if (r == NULL || n < WB_CAMPAIGN_INSTANCE_MAX + 1)
        return WABOT_ERR_UNSUPPORTED;
    const char *argv[2] = {"INFO", "server"};
    const size_t lens[2] = {4, 6};
    redisReply *rep = NULL;
    int rc = wb_redis_command(r, 2, argv, lens, &rep);
    if (rc != WABOT_OK)
        return rc;
    const char *p = rep->type == REDIS_REPLY_STRING && rep->str != NULL
                        ? strstr(rep->str, "\nrun_id:")
                        : NULL;
    size_t len = p != NULL ? strcspn(p + 8, "\r\n") : 0;
    if (len == 0 || len > WB_CAMPAIGN_INSTANCE_MAX)
        rc = WABOT_ERR_UNSUPPORTED; /* not a Redis that says: sweep */
    else {
        memcpy(buf, p + 8, len);
        buf[len] = '\0';
    }
    wb_redis_reply_free(rep);
    return rc;
}
