/* wabot-server's answers that repeat byte for byte (a webhook's empty
 * TwiML, "{}"): one libmicrohttpd response object per HTTP thread, queued
 * again for every request that gets the same answer, instead of a
 * response created, given its header, queued and destroyed per request. */
#ifndef WABOT_SERVER_ANSWERS_H
#define WABOT_SERVER_ANSWERS_H

#include <stddef.h>

#include <microhttpd.h>

/* The calling thread's response for exactly this answer (status, content
 * type, body, no other header), or NULL when it has none yet. Borrowed:
 * valid until this thread calls answers_keep again or answers_clear runs;
 * MHD_queue_response takes its own reference. */
struct MHD_Response *answers_find(unsigned status, const char *content_type,
                                  const char *body, size_t len);

/* Whether an answer is small and plain enough to keep. */
int answers_cacheable(const char *content_type, size_t len);

/* Keep r (created for this answer, with its Content-Type and no other
 * header) as the calling thread's answer, releasing the one it replaces;
 * the cache takes over the caller's reference. 0, or -1 (nothing taken:
 * the caller still owns r) when out of memory. */
int answers_keep(unsigned status, const char *content_type, const char *body,
                 size_t len, struct MHD_Response *r);

/* Release every thread's response; after MHD_stop_daemon (no HTTP thread
 * runs). */
void answers_clear(void);

#endif
