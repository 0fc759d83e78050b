/* One kept response per HTTP thread (server_answers.h).
 *
 * A Twilio webhook is answered with the same empty TwiML thousands of
 * times a second; building it anew cost a response object, a copy of the
 * body, a header (three allocations), a mutex and their frees on every
 * request. libmicrohttpd's responses are reference counted under their own
 * mutex and may be queued on any number of connections, so one per thread
 * serves them all. Per thread, so that the lookup takes no lock. */
#include "server_answers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY 256
#define MAX_TYPE 64

typedef struct slot {
    struct slot *next; /* every thread's slot, for answers_clear */
    struct MHD_Response *r;
    unsigned status;
    size_t len;
    char type[MAX_TYPE];
    char body[MAX_BODY];
} slot;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot *all;
static unsigned long generation = 1; /* under lock; bumped by clear */

static _Thread_local slot *mine;
static _Thread_local unsigned long mine_generation;

/* The calling thread's slot, NULL when it has none (or clear freed it). */
static slot *own_slot(void)
{
    if (mine == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    int valid = mine_generation == generation;
    pthread_mutex_unlock(&lock);
    if (!valid)
        mine = NULL;
    return mine;
}

int answers_cacheable(const char *content_type, size_t len)
{
    return content_type != NULL && strlen(content_type) < MAX_TYPE &&
           len <= MAX_BODY;
}

struct MHD_Response *answers_find(unsigned status, const char *content_type,
                                  const char *body, size_t len)
{
    /* Checked without the lock: answers_clear runs once no HTTP thread
     * does (after MHD_stop_daemon), so a slot seen here stays. */
    slot *s = mine;
    if (s == NULL || s->r == NULL || s->status != status || s->len != len ||
        !answers_cacheable(content_type, len) ||
        strcmp(s->type, content_type) != 0 || memcmp(s->body, body, len) != 0)
        return NULL;
    return s->r;
}

int answers_keep(unsigned status, const char *content_type, const char *body,
                 size_t len, struct MHD_Response *r)
{
    if (!answers_cacheable(content_type, len))
        return -1;
    slot *s = own_slot();
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return -1;
        pthread_mutex_lock(&lock);
        s->next = all;
        all = s;
        mine_generation = generation;
        pthread_mutex_unlock(&lock);
        mine = s;
    }
    if (s->r != NULL) /* connections still sending it hold their own */
        MHD_destroy_response(s->r);
    s->r = r;
    s->status = status;
    s->len = len;
    strcpy(s->type, content_type);
    memcpy(s->body, body, len);
    return 0;
}

void answers_clear(void)
{
    pthread_mutex_lock(&lock);
    slot *s = all;
    all = NULL;
    generation++;
    pthread_mutex_unlock(&lock);
    while (s != NULL) {
        slot *next = s->next;
        if (s->r != NULL)
            MHD_destroy_response(s->r);
        free(s);
        s = next;
    }
}
