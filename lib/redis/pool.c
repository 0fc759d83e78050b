/* The Redis handle: configuration, a thread-safe pool of synchronous
 * hiredis connections, scripts by EVALSHA with a NOSCRIPT fallback, and the
 * mapping of failures to library statuses (lib/internal/redis.h).
 *
 * Pool: up to pool_size connections, idle ones on a stack. acquire() pops
 * an idle one, or connects a new one when fewer than pool_size are open,
 * or waits (bounded) for a release. A connection that failed is closed,
 * never reused: after a timeout a late reply could otherwise be read as
 * the answer to the next command.
 *
 * Outages: an idle connection is checked before it is handed out (a closed
 * server leaves it readable: EOF), so a restarted Redis costs no failed
 * call. A failed connect starts a backoff (50 ms doubling to 2 s, reset by
 * the next good connect) during which acquire() fails at once without
 * trying, so while Redis is down every call fails fast instead of each one
 * waiting for a connect of its own. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "errors.h"
#include "redis.h"
#include "strbuf.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define POOL_SIZE_MAX 1024
#define TIMEOUT_MAX_MS (24LL * 60 * 60 * 1000)
#define LAST_ERROR_MAX 256
/* argv entries built on the stack before a call needs the heap. */
#define STACK_ARGS 16
/* Scripts sent together: batches on the wire at once, calls in one. */
#define BATCHES_MAX 1
/* batch_run() hands the slot of a batch that comes back to the waiting
 * head of the queue; with more slots a head could be handed two. */
_Static_assert(BATCHES_MAX == 1, "batch_run() hands on one slot");
#define BATCH_CALLS_MAX 64

struct wabot_redis {
    wabot_redis_config cfg; /* strings point to the copies below */
    char *host, *password, *prefix;
    size_t prefix_len;
    struct timeval connect_tv, command_tv;
    int64_t wait_ms; /* longest wait for a free connection */

    pthread_mutex_t mu;
    pthread_cond_t cv;     /* a connection was released or closed */
    redisContext **idle;   /* stack of pool_size slots */
    int nidle;
    int open;              /* idle + in use + being connected */
    int64_t retry_at_ms;   /* monotonic: no connect attempt before */
    int64_t backoff_ms;    /* the next backoff */
    wb_redis_stats stats;  /* counters; open/idle filled on read */
    atomic_llong round_trips; /* commands and scripts sent */
    char last_error[LAST_ERROR_MAX];

    /* Scripts from several threads sent together (wb_redis_evaln):
     * callers queue here; at most BATCHES_MAX batches are on the wire at
     * once, the rest wait and leave together in the next one. */
    pthread_mutex_t bmu;
    struct batch_call *bhead, *btail;
    int batches_out;     /* batches on the wire now */
    int64_t batches;     /* batches sent (under bmu) */
    int64_t batch_calls; /* calls sent in them */
};

/* Guards the one-time write of a script's SHA-1. */
static pthread_mutex_t g_sha_mu = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

void wabot_redis_config_init(wabot_redis_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = WABOT_REDIS_CONFIG_VERSION;
    cfg->host = "127.0.0.1";
    cfg->port = 6379;
    cfg->password = NULL;
    cfg->db = 0;
    cfg->prefix = "wabot:";
    cfg->connect_timeout_ms = 1000;
    cfg->command_timeout_ms = 1000;
    /* a webhook server's HTTP threads (wabot-server: 4) and the loop
     * thread call at once; connections open on demand */
    cfg->pool_size = 8;
}

/* A whole decimal number in [lo, hi]; nothing else (no sign games, no
 * trailing text). */
static int parse_bounded(const char *s, long lo, long hi, int32_t *out)
{
    if (s == NULL || *s == '\0')
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = (int32_t)v;
    return 1;
}

int wabot_redis_config_from_env(wabot_redis_config *cfg)
{
    if (cfg == NULL)
        return WABOT_ERR_INVAL;
    wabot_redis_config_init(cfg);
    const char *host = getenv("REDIS_HOST");
    const char *port = getenv("REDIS_PORT");
    const char *password = getenv("REDIS_PASSWORD");
    const char *db = getenv("REDIS_DB");
    const char *prefix = getenv("WABOT_REDIS_PREFIX");
    const char *pool = getenv("REDIS_POOL_SIZE");
    int have_host = host != NULL && host[0] != '\0';
    if (have_host)
        cfg->host = host;
    if (port != NULL && port[0] != '\0' &&
        !parse_bounded(port, 1, 65535, &cfg->port))
        return WABOT_ERR_INVAL;
    if (db != NULL && db[0] != '\0' &&
        !parse_bounded(db, 0, INT32_MAX, &cfg->db))
        return WABOT_ERR_INVAL;
    if (pool != NULL && pool[0] != '\0' &&
        !parse_bounded(pool, 1, POOL_SIZE_MAX, &cfg->pool_size))
        return WABOT_ERR_INVAL;
    if (password != NULL && password[0] != '\0')
        cfg->password = password;
    if (prefix != NULL) /* "" is meaningful: keys exactly as named */
        cfg->prefix = prefix;
    return have_host ? 1 : 0;
}

static const char *config_problem(const wabot_redis_config *c)
{
    if (c == NULL)
        return "Redis config is NULL";
    if (c->version == 0)
        return "Redis config version is 0 (use wabot_redis_config_init)";
    if (c->host != NULL && c->host[0] == '\0')
        return "Redis host is empty";
    if (c->port < 1 || c->port > 65535)
        return "Redis port out of range (1..65535)";
    if (c->db < 0)
        return "Redis db is negative";
    if (c->connect_timeout_ms < 1 || c->connect_timeout_ms > TIMEOUT_MAX_MS)
        return "Redis connect timeout out of range";
    if (c->command_timeout_ms < 1 || c->command_timeout_ms > TIMEOUT_MAX_MS)
        return "Redis command timeout out of range";
    if (c->pool_size < 1 || c->pool_size > POOL_SIZE_MAX)
        return "Redis pool size out of range (1..1024)";
    return NULL;
}

static struct timeval ms_to_tv(int64_t ms)
{
    struct timeval tv;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    return tv;
}

static char *dup_or_null(const char *s, int *failed)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

/* ------------------------------------------------------------------ */
/* Time and errors                                                     */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_last_error(wabot_redis *r, const char *what,
                           const char *detail)
{
    pthread_mutex_lock(&r->mu);
    snprintf(r->last_error, sizeof r->last_error, "%s%s%s", what,
             detail != NULL ? ": " : "", detail != NULL ? detail : "");
    pthread_mutex_unlock(&r->mu);
    /* This thread's detail too, tagged with the handle: what
     * wabot_storage_errmsg() of a Redis storage reports (the shared
     * last_error may be another thread's by then). */
    wb_detail(r, 0, "%s%s%s", what, detail != NULL ? ": " : "",
              detail != NULL ? detail : "");
}

void wb_redis_last_error(wabot_redis *r, char *buf, size_t bufsz)
{
    if (buf == NULL || bufsz == 0)
        return;
    buf[0] = '\0';
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    snprintf(buf, bufsz, "%s", r->last_error);
    pthread_mutex_unlock(&r->mu);
}

int wb_redis_fail(wabot_redis *r, const char *what)
{
    set_last_error(r, what, NULL);
    return WABOT_ERR_STORAGE;
}

/* hiredis reports a read or write past SO_RCVTIMEO/SO_SNDTIMEO as an I/O
 * error with EAGAIN, and a connect past its timeout with ETIMEDOUT. */
static int status_of_context(const redisContext *c, int saved_errno)
{
    if (c->err == REDIS_ERR_OOM)
        return WABOT_ERR_NOMEM;
    if (c->err == REDIS_ERR_IO &&
        (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
         saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS))
        return WABOT_ERR_TIMEOUT;
    return WABOT_ERR_STORAGE;
}

static int context_failure(wabot_redis *r, const redisContext *c,
                           int saved_errno)
{
    int rc = status_of_context(c, saved_errno);
    set_last_error(r, rc == WABOT_ERR_TIMEOUT ? "Redis timeout"
                                              : "Redis I/O error",
                   c->errstr[0] != '\0' ? c->errstr : NULL);
    return rc;
}

int wb_redis_context_status(wabot_redis *r, const redisContext *c)
{
    if (c == NULL)
        return WABOT_ERR_NOMEM;
    return context_failure(r, c, errno);
}

int wb_redis_reply_status(wabot_redis *r, const redisReply *rep)
{
    if (rep == NULL)
        return WABOT_ERR_STORAGE;
    if (rep->type != REDIS_REPLY_ERROR)
        return WABOT_OK;
    set_last_error(r, "Redis error reply", rep->str);
    return WABOT_ERR_STORAGE;
}

int wb_redis_reply_int(const redisReply *rep, long long *out)
{
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
        return 0;
    *out = rep->integer;
    return 1;
}

int wb_redis_reply_is_nil(const redisReply *rep)
{
    return rep != NULL && rep->type == REDIS_REPLY_NIL;
}

/* ------------------------------------------------------------------ */
/* Sending without SIGPIPE                                             */

/* hiredis writes with write(), which raises SIGPIPE on a connection the
 * server has reset. A library must neither die of it nor change the
 * process's disposition, so the signal is blocked in this thread for the
 * command and, if the command raised it, consumed before unblocking. If
 * the thread already had SIGPIPE blocked, a pending one may be the
 * host's: it is left alone. */
static redisReply *command_nosigpipe(redisContext *c, int argc,
                                     const char **argv,
                                     const size_t *argvlen, int *saved_errno)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    int blocked = pthread_sigmask(SIG_BLOCK, &pipe_set, &old) == 0;
    errno = 0;
    redisReply *rep = redisCommandArgv(c, argc, argv, argvlen);
    *saved_errno = errno;
    if (!blocked)
        return rep;
    if (rep == NULL && !sigismember(&old, SIGPIPE)) {
        sigset_t pending;
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
            const struct timespec now = {0, 0};
            while (sigtimedwait(&pipe_set, NULL, &now) < 0 && errno == EINTR)
                ;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rep;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */

/* One command during the handshake; WABOT_OK if the reply is not an
 * error. `what` names it in the last error. */
static int handshake(wabot_redis *r, redisContext *c, int argc,
                     const char **argv, const char *what)
{
    int saved_errno;
    redisReply *rep = command_nosigpipe(c, argc, argv, NULL, &saved_errno);
    if (rep == NULL)
        return context_failure(r, c, saved_errno);
    int rc = WABOT_OK;
    if (rep->type == REDIS_REPLY_ERROR) {
        set_last_error(r, what, rep->str);
        rc = WABOT_ERR_STORAGE;
    }
    wb_redis_reply_free(rep);
    return rc;
}

/* A new connection with the command timeout set, authenticated and on the
 * configured database; NULL with *err set. Called without the lock. */
static redisContext *connect_one(wabot_redis *r, int *err,
                                 const char **stage)
{
    redisContext *c;
    if (r->host[0] == '/')
        c = redisConnectUnixWithTimeout(r->host, r->connect_tv);
    else
        c = redisConnectWithTimeout(r->host, r->cfg.port, r->connect_tv);
    int saved_errno = errno;
    *stage = "connect";
    if (c == NULL) {
        *err = WABOT_ERR_NOMEM;
        set_last_error(r, "Redis connect", "out of memory");
        return NULL;
    }
    if (c->err) {
        *err = status_of_context(c, saved_errno);
        set_last_error(r, "Redis connect", c->errstr);
        redisFree(c);
        return NULL;
    }
    wb_redis_block_replies(c);
    int rc = WABOT_OK;
    if (redisSetTimeout(c, r->command_tv) != REDIS_OK)
        rc = context_failure(r, c, errno);
    if (rc == WABOT_OK && r->password != NULL) {
        *stage = "auth";
        const char *argv[] = {"AUTH", r->password};
        rc = handshake(r, c, 2, argv, "Redis AUTH");
    }
    if (rc == WABOT_OK && r->cfg.db != 0) {
        *stage = "select";
        char db[16];
        snprintf(db, sizeof db, "%" PRId32, r->cfg.db);
        const char *argv[] = {"SELECT", db};
        rc = handshake(r, c, 2, argv, "Redis SELECT");
    }
    if (rc != WABOT_OK) {
        *err = rc;
        redisFree(c);
        return NULL;
    }
    return c;
}

/* An idle connection is unusable when the server closed it (readable:
 * EOF or reset) or it holds a failure. Nothing is pending on a healthy
 * idle connection, so readable always means dead. */
static int idle_conn_dead(const redisContext *c)
{
    if (c->err)
        return 1;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    return n != 0; /* readable, hung up, or poll failed */
}

/* ------------------------------------------------------------------ */
/* The pool                                                            */

static void cond_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Close a connection that counted as open (lock held). */
static void close_locked(wabot_redis *r, redisContext *c)
{
    redisFree(c);
    r->open--;
    r->stats.broken++;
    pthread_cond_signal(&r->cv);
}

/* Make a new connection in a slot already reserved (open incremented),
 * under the backoff. Lock held on entry and exit; dropped while
 * connecting. */
static redisContext *connect_reserved(wabot_redis *r, int *err)
{
    pthread_mutex_unlock(&r->mu);
    const char *stage;
    int rc = WABOT_OK;
    redisContext *c = connect_one(r, &rc, &stage);
    pthread_mutex_lock(&r->mu);
    if (c != NULL) {
        r->stats.connects++;
        r->backoff_ms = BACKOFF_MIN_MS;
        r->retry_at_ms = 0;
        return c;
    }
    r->open--;
    r->stats.connect_errors++;
    r->retry_at_ms = mono_ms() + r->backoff_ms;
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                        : r->backoff_ms * 2;
    pthread_cond_signal(&r->cv);
    *err = rc;
    return NULL;
}

static redisContext *acquire_locked(wabot_redis *r, int *err)
{
    struct timespec deadline;
    cond_deadline(&deadline, r->wait_ms);
    for (;;) {
        while (r->nidle > 0) {
            redisContext *c = r->idle[--r->nidle];
            if (!idle_conn_dead(c))
                return c;
            close_locked(r, c); /* then connect in its place */
        }
        if (r->open < r->cfg.pool_size) {
            if (mono_ms() < r->retry_at_ms) {
                /* last_error still says why the last connect failed. */
                r->stats.fast_failures++;
                *err = WABOT_ERR_STORAGE;
                return NULL;
            }
            r->open++;
            return connect_reserved(r, err);
        }
        if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) == ETIMEDOUT &&
            r->nidle == 0 && r->open >= r->cfg.pool_size) {
            snprintf(r->last_error, sizeof r->last_error,
                     "Redis pool: all %d connections busy", r->open);
            *err = WABOT_ERR_BUSY;
            return NULL;
        }
    }
}

redisContext *wb_redis_acquire(wabot_redis *r, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    *err = WABOT_OK;
    if (r == NULL) {
        *err = WABOT_ERR_INVAL;
        return NULL;
    }
    pthread_mutex_lock(&r->mu);
    redisContext *c = acquire_locked(r, err);
    pthread_mutex_unlock(&r->mu);
    return c;
}

void wb_redis_release(wabot_redis *r, redisContext *c, int broken)
{
    if (r == NULL || c == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    if (broken || c->err) {
        close_locked(r, c);
    } else {
        r->idle[r->nidle++] = c;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------------ */
/* Handle                                                              */

static void redis_destroy(wabot_redis *r)
{
    for (int i = 0; i < r->nidle; i++)
        redisFree(r->idle[i]);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->bmu);
    free(r->idle);
    free(r->host);
    free(r->password);
    free(r->prefix);
    free(r);
}

static int init_sync(wabot_redis *r)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&r->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok)
        return -1;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        pthread_cond_destroy(&r->cv);
        return -1;
    }
    if (pthread_mutex_init(&r->bmu, NULL) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        return -1;
    }
    return 0;
}

static wabot_redis *redis_alloc(const wabot_redis_config *cfg)
{
    wabot_redis *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    int failed = 0;
    /* Only the version-1 members are read: a newer config is accepted. */
    r->cfg.version = WABOT_REDIS_CONFIG_VERSION;
    r->cfg.port = cfg->port;
    r->cfg.db = cfg->db;
    r->cfg.connect_timeout_ms = cfg->connect_timeout_ms;
    r->cfg.command_timeout_ms = cfg->command_timeout_ms;
    r->cfg.pool_size = cfg->pool_size;
    r->host = dup_or_null(cfg->host != NULL ? cfg->host : "127.0.0.1",
                          &failed);
    r->password = cfg->password != NULL && cfg->password[0] != '\0'
                      ? dup_or_null(cfg->password, &failed)
                      : NULL;
    r->prefix = dup_or_null(cfg->prefix != NULL ? cfg->prefix : "wabot:",
                            &failed);
    r->idle = calloc((size_t)cfg->pool_size, sizeof *r->idle);
    if (failed || r->idle == NULL || init_sync(r) != 0) {
        free(r->idle);
        free(r->host);
        free(r->password);
        free(r->prefix);
        free(r);
        return NULL;
    }
    r->cfg.host = r->host;
    r->cfg.password = r->password;
    r->cfg.prefix = r->prefix;
    r->prefix_len = strlen(r->prefix);
    r->connect_tv = ms_to_tv(cfg->connect_timeout_ms);
    r->command_tv = ms_to_tv(cfg->command_timeout_ms);
    r->wait_ms = cfg->connect_timeout_ms + cfg->command_timeout_ms;
    r->backoff_ms = BACKOFF_MIN_MS;
    return r;
}

static const char *describe_connect_failure(int rc, const char *stage)
{
    if (rc == WABOT_ERR_NOMEM)
        return "out of memory";
    if (strcmp(stage, "auth") == 0)
        return "Redis AUTH failed";
    if (strcmp(stage, "select") == 0)
        return "Redis SELECT failed";
    if (rc == WABOT_ERR_TIMEOUT)
        return "Redis connect timed out";
    return "cannot connect to Redis";
}

wabot_redis *wabot_redis_new(const wabot_redis_config *cfg, const char **err)
{
    const char *dummy;
    if (err == NULL)
        err = &dummy;
    *err = config_problem(cfg);
    if (*err != NULL)
        return wb_null("wabot_redis_new: %s", *err);
    wabot_redis *r = redis_alloc(cfg);
    if (r == NULL) {
        *err = "out of memory";
        return wb_null("wabot_redis_new: %s", *err);
    }
    /* One connection now, so a wrong address or password shows at once. */
    int rc = WABOT_OK;
    const char *stage = "connect";
    redisContext *c = connect_one(r, &rc, &stage);
    if (c == NULL) {
        *err = describe_connect_failure(rc, stage);
        redis_destroy(r);
        return wb_null("wabot_redis_new: %s", *err);
    }
    /* A server that wants a password accepts the connection and refuses
     * the first command: find out now. */
    const char *ping[] = {"PING"};
    if (handshake(r, c, 1, ping, "Redis PING") != WABOT_OK) {
        *err = strstr(r->last_error, "NOAUTH") != NULL
                   ? "Redis AUTH failed"
                   : "Redis did not answer PING";
        redisFree(c);
        redis_destroy(r);
        return wb_null("wabot_redis_new: %s", *err);
    }
    r->stats.connects = 1;
    r->open = 1;
    r->idle[r->nidle++] = c;
    *err = NULL;
    return r;
}

void wabot_redis_free(wabot_redis *r)
{
    if (r == NULL)
        return;
    redis_destroy(r);
}

const wabot_redis_config *wb_redis_config_of(const wabot_redis *r)
{
    return &r->cfg;
}

int64_t wabot_redis_round_trips(const wabot_redis *r)
{
    return r ? (int64_t)atomic_load_explicit(&((wabot_redis *)r)->round_trips,
                                             memory_order_relaxed)
             : 0;
}

void wb_redis_stats_of(wabot_redis *r, wb_redis_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    out->open = r->open;
    out->idle = r->nidle;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&r->bmu);
    out->batches = r->batches;
    out->batch_calls = r->batch_calls;
    pthread_mutex_unlock(&r->bmu);
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */

const char *wb_redis_prefix(const wabot_redis *r)
{
    return r->prefix;
}

size_t wb_redis_prefix_len(const wabot_redis *r)
{
    return r->prefix_len;
}

int wb_redis_key(const wabot_redis *r, const char *key, char *buf,
                 size_t bufsz)
{
    size_t klen = strlen(key);
    if (r->prefix_len + klen >= bufsz || r->prefix_len + klen > INT_MAX)
        return WABOT_ERR_TOO_LARGE;
    memcpy(buf, r->prefix, r->prefix_len);
    memcpy(buf + r->prefix_len, key, klen + 1);
    return (int)(r->prefix_len + klen);
}

char *wb_redis_key_dup(const wabot_redis *r, const char *key)
{
    size_t klen = strlen(key);
    char *k = malloc(r->prefix_len + klen + 1);
    if (k == NULL)
        return NULL;
    memcpy(k, r->prefix, r->prefix_len);
    memcpy(k + r->prefix_len, key, klen + 1);
    return k;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

/* Send one command on c. On WABOT_OK *out is a reply, possibly an error
 * reply; otherwise the connection is broken (*out NULL). */
static int send_argv(wabot_redis *r, redisContext *c, int argc,
                     const char **argv, const size_t *argvlen,
                     redisReply **out)
{
    int saved_errno;
    *out = command_nosigpipe(c, argc, argv, argvlen, &saved_errno);
    atomic_fetch_add_explicit(&r->round_trips, 1, memory_order_relaxed);
    if (*out == NULL)
        return context_failure(r, c, saved_errno);
    return WABOT_OK;
}

int wb_redis_command_on(wabot_redis *r, redisContext *c, int argc,
                        const char **argv, const size_t *argvlen,
                        redisReply **out)
{
    *out = NULL;
    if (r == NULL || c == NULL || argc < 1)
        return WABOT_ERR_INVAL;
    return send_argv(r, c, argc, argv, argvlen, out);
}

int wb_redis_command(wabot_redis *r, int argc, const char **argv,
                     const size_t *argvlen, redisReply **out)
{
    *out = NULL;
    int rc;
    redisContext *c = wb_redis_acquire(r, &rc);
    if (c == NULL)
        return rc;
    redisReply *rep;
    rc = send_argv(r, c, argc, argv, argvlen, &rep);
    wb_redis_release(r, c, rc != WABOT_OK);
    if (rc != WABOT_OK)
        return rc;
    rc = wb_redis_reply_status(r, rep);
    if (rc != WABOT_OK) {
        wb_redis_reply_free(rep);
        return rc;
    }
    *out = rep;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Scripts                                                             */

/* SCRIPT LOAD on c; caches the SHA-1 the server answers with. */
static int script_load(wabot_redis *r, redisContext *c,
                       wb_redis_script *s)
{
    const char *argv[] = {"SCRIPT", "LOAD", s->source};
    redisReply *rep;
    int rc = send_argv(r, c, 3, argv, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR) {
        set_last_error(r, s->name, rep->str);
        rc = WABOT_ERR_STORAGE;
    } else if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        rc = wb_redis_fail(r, "SCRIPT LOAD: unexpected reply");
    } else {
        pthread_mutex_lock(&g_sha_mu);
        if (!atomic_load_explicit(&s->sha_ready, memory_order_relaxed)) {
            memcpy(s->sha, rep->str, 40);
            s->sha[40] = '\0';
            atomic_store_explicit(&s->sha_ready, 1, memory_order_release);
        }
        pthread_mutex_unlock(&g_sha_mu);
        pthread_mutex_lock(&r->mu);
        r->stats.script_loads++;
        pthread_mutex_unlock(&r->mu);
    }
    wb_redis_reply_free(rep);
    return rc;
}

static int is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && rep->str != NULL &&
           strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* EVALSHA argv[] on c; loads the script first if its SHA-1 is unknown,
 * and once more on NOSCRIPT. argv[1] is filled here. */
static int evalsha(wabot_redis *r, redisContext *c, wb_redis_script *s,
                   int argc, const char **argv, const size_t *argvlen,
                   redisReply **out)
{
    int rc;
    if (!atomic_load_explicit(&s->sha_ready, memory_order_acquire) &&
        (rc = script_load(r, c, s)) != WABOT_OK)
        return rc;
    for (int attempt = 0;; attempt++) {
        argv[1] = s->sha;
        rc = send_argv(r, c, argc, argv, argvlen, out);
        if (rc != WABOT_OK || !is_noscript(*out) || attempt == 1)
            return rc;
        wb_redis_reply_free(*out);
        *out = NULL;
        if ((rc = script_load(r, c, s)) != WABOT_OK)
            return rc;
    }
}

/* argv for EVALSHA: "EVALSHA", sha, numkeys, prefixed keys..., args...;
 * the prefixed keys live in one block. */
typedef struct eval_argv {
    const char **argv;
    size_t *lens;
    int argc;
    char *keybuf;
    const char *stack_argv[STACK_ARGS];
    size_t stack_lens[STACK_ARGS];
    char numkeys[24];
} eval_argv;

static void eval_argv_free(eval_argv *a)
{
    if (a->argv != a->stack_argv)
        free((void *)a->argv);
    if (a->lens != a->stack_lens)
        free(a->lens);
    free(a->keybuf);
}

/* The command's argv: EVALSHA, the script's SHA-1 (filled when sending),
 * the key count, the keys (each with the handle's prefix), the arguments;
 * or, with `command` non-NULL, that plain command on the keys (prefixed)
 * then the arguments. */
static int eval_argv_build(const wabot_redis *r, eval_argv *a,
                           const char *command, size_t nkeys,
                           const char **keys, const size_t *keylens,
                           size_t nargs, const char **args,
                           const size_t *arglens)
{
    size_t head = command != NULL ? 1 : 3;
    size_t argc = head + nkeys + nargs;
    a->argv = a->stack_argv;
    a->lens = a->stack_lens;
    a->keybuf = NULL;
    if (argc > STACK_ARGS) {
        a->argv = malloc(argc * sizeof *a->argv);
        a->lens = malloc(argc * sizeof *a->lens);
        if (a->argv == NULL || a->lens == NULL)
            return WABOT_ERR_NOMEM;
    }
    size_t total = 0;
    for (size_t i = 0; i < nkeys; i++)
        total += r->prefix_len +
                 (keylens != NULL ? keylens[i] : strlen(keys[i]));
    if (nkeys > 0 && (a->keybuf = malloc(total + 1)) == NULL)
        return WABOT_ERR_NOMEM;
    a->argc = (int)argc;
    if (command != NULL) {
        a->argv[0] = command;
        a->lens[0] = strlen(command);
    } else {
        a->argv[0] = "EVALSHA";
        a->lens[0] = 7;
        a->argv[1] = NULL; /* the SHA-1, filled when sending */
        a->lens[1] = 40;
        a->argv[2] = a->numkeys;
        a->lens[2] = wb_fmt_u64(a->numkeys, nkeys);
    }
    char *p = a->keybuf;
    for (size_t i = 0; i < nkeys; i++) {
        size_t klen = keylens != NULL ? keylens[i] : strlen(keys[i]);
        memcpy(p, r->prefix, r->prefix_len);
        memcpy(p + r->prefix_len, keys[i], klen);
        a->argv[head + i] = p;
        a->lens[head + i] = r->prefix_len + klen;
        p += r->prefix_len + klen;
    }
    for (size_t i = 0; i < nargs; i++) {
        a->argv[head + nkeys + i] = args[i];
        a->lens[head + nkeys + i] =
            arglens != NULL ? arglens[i] : strlen(args[i]);
    }
    return argc > INT_MAX ? WABOT_ERR_TOO_LARGE : WABOT_OK;
}

/* Digits of v in decimal. */
static size_t dec_len(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Write "<c><v>\r\n" at p; returns the end. */
static char *resp_head(char *p, char c, size_t v)
{
    *p++ = c;
    p += wb_fmt_u64(p, v); /* its NUL is overwritten next */
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Append one command to c's output buffer in the protocol's form (an
 * array of bulk strings): what redisAppendCommandArgv() does, without
 * hiredis's generic sdscatfmt() and its allocations, which took a tenth
 * of the client's instructions per webhook (doc/performance.md, ninth
 * session). One buffer, on the stack when the command is small. */
static int resp_append(redisContext *c, int argc, const char *const *argv,
                       const size_t *lens)
{
    size_t total = 1 + dec_len((size_t)argc) + 2;
    for (int i = 0; i < argc; i++)
        total += 1 + dec_len(lens[i]) + 2 + lens[i] + 2;
    char stack[4096];
    /* + WB_FMT_U64_SIZE: room for the NUL wb_fmt_u64 writes */
    char *buf = total + WB_FMT_U64_SIZE <= sizeof stack
                    ? stack
                    : malloc(total + WB_FMT_U64_SIZE);
    if (buf == NULL)
        return REDIS_ERR;
    char *p = resp_head(buf, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = resp_head(p, '$', lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    int rc = redisAppendFormattedCommand(c, buf, total);
    if (buf != stack)
        free(buf);
    return rc;
}

/* Append every call to c's output buffer, then read the replies in
 * order: one write, one round trip. out[i] gets call i's reply. On a
 * failure *got replies were read (valid, the caller's to free) and the
 * connection is broken. SIGPIPE handled as in command_nosigpipe(). */
static int pipeline_io(wabot_redis *r, redisContext *c, size_t n,
                       eval_argv *const *a, redisReply **out, size_t *got)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    int blocked = pthread_sigmask(SIG_BLOCK, &pipe_set, &old) == 0;
    int rc = WABOT_OK, saved_errno = 0;
    for (size_t i = 0; i < n && rc == WABOT_OK; i++)
        if (resp_append(c, a[i]->argc, a[i]->argv, a[i]->lens) != REDIS_OK)
            rc = WABOT_ERR_NOMEM;
    *got = 0;
    for (; *got < n && rc == WABOT_OK; ++*got) {
        void *rep = NULL;
        errno = 0;
        if (redisGetReply(c, &rep) != REDIS_OK || rep == NULL) {
            saved_errno = errno;
            rc = context_failure(r, c, saved_errno);
            break;
        }
        out[*got] = rep;
    }
    if (blocked && rc != WABOT_OK && !sigismember(&old, SIGPIPE)) {
        sigset_t pending;
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
            const struct timespec now = {0, 0};
            while (sigtimedwait(&pipe_set, NULL, &now) < 0 && errno == EINTR)
                ;
        }
    }
    if (blocked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    atomic_fetch_add_explicit(&r->round_trips, 1, memory_order_relaxed);
    return rc;
}

/* pipeline_io() that frees what it read when it fails. */
static int pipeline_send(wabot_redis *r, redisContext *c, size_t n,
                         eval_argv *const *a, redisReply **out)
{
    size_t got;
    int rc = pipeline_io(r, c, n, a, out, &got);
    for (size_t i = 0; rc != WABOT_OK && i < got; i++) {
        wb_redis_reply_free(out[i]);
        out[i] = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Scripts from several threads, sent together                          */

/* A script call from a thread with nothing else to do until its reply
 * (wb_redis_evaln). Calls queue on the handle; the one at the head of
 * the queue, when fewer than BATCHES_MAX batches are on the wire, takes
 * the queue (up to BATCH_CALLS_MAX calls) and sends it as one pipeline on
 * one connection, then hands each caller its reply. While a batch is on
 * the wire the calls that arrive wait and leave together in the next:
 * under load the server reads, runs and answers several scripts per
 * read and write (a round trip costs it more than a short script:
 * doc/performance.md), and each caller still sees its own call alone.
 * Scripts are atomic one by one, so calls of different threads are
 * independent; a thread has one call out at a time, so its own calls
 * keep their order. A lone call leaves at once. */
typedef struct batch_call {
    struct batch_call *next;
    wb_redis_script *script;
    eval_argv *a;
    redisReply *reply; /* WABOT_OK: the reply (possibly an error reply) */
    int rc;
    /* Posted exactly once in the call's life, by another thread: "lead
     * the next batch" or "your reply is in" (done). The woken thread
     * needs no lock to see which: a waiter taking bmu again after a
     * condition variable's wake-up would wait a second time, behind the
     * leader still waking the others, and on a virtual machine each wait
     * is a costly switch (doc/performance.md). */
    sem_t go;
    atomic_int done;
} batch_call;

/* Send the n calls from first on one connection; sets each call's rc and
 * reply (not done). Called without bmu. */
static void batch_send(wabot_redis *r, batch_call *first, size_t n)
{
    eval_argv *a[BATCH_CALLS_MAX];
    redisReply *out[BATCH_CALLS_MAX];
    int rc;
    redisContext *c = wb_redis_acquire(r, &rc);
    size_t i = 0;
    for (batch_call *k = first; k != NULL; k = k->next, i++) {
        a[i] = k->a;
        if (k->script == NULL)
            continue; /* a plain command */
        if (c != NULL && rc == WABOT_OK &&
            !atomic_load_explicit(&k->script->sha_ready,
                                  memory_order_acquire))
            rc = script_load(r, c, k->script);
        k->a->argv[1] = k->script->sha;
    }
    size_t got = 0;
    if (c != NULL && rc == WABOT_OK)
        rc = pipeline_io(r, c, n, a, out, &got);
    int broken = rc != WABOT_OK;
    i = 0;
    for (batch_call *k = first; k != NULL; k = k->next, i++) {
        k->reply = i < got ? out[i] : NULL;
        k->rc = i < got ? WABOT_OK : rc;
        if (k->rc != WABOT_OK || k->script == NULL || !is_noscript(k->reply))
            continue;
        /* The server forgot the script between the load and now. */
        wb_redis_reply_free(k->reply);
        k->reply = NULL;
        k->rc = evalsha(r, c, k->script, k->a->argc, k->a->argv,
                        k->a->lens, &k->reply);
        broken |= k->rc != WABOT_OK;
    }
    if (c != NULL)
        wb_redis_release(r, c, broken);
}

/* Wait for me->go; a signal's interruption is not the post. */
static void batch_wait(batch_call *me)
{
    while (sem_wait(&me->go) != 0)
        ;
}

/* Queue me, wait for its turn or lead a batch; me->rc and me->reply are
 * set on return. Every call is posted at most once: the caller at the
 * head of the queue when a batch comes back is told to lead (and then
 * nobody else touches it: only the head takes the queue), and each call
 * a batch carried is told it is done. A call is never both. A call that
 * finds the queue empty and no batch out leads at once, unposted. */
static int batch_run(wabot_redis *r, batch_call *me)
{
    if (sem_init(&me->go, 0, 0) != 0)
        return WABOT_ERR_NOMEM;
    atomic_init(&me->done, 0);
    me->next = NULL;
    pthread_mutex_lock(&r->bmu);
    if (r->btail != NULL)
        r->btail->next = me;
    else
        r->bhead = me;
    r->btail = me;
    int lead = r->bhead == me && r->batches_out < BATCHES_MAX;
    if (lead)
        r->batches_out++;
    pthread_mutex_unlock(&r->bmu);
    if (!lead) {
        batch_wait(me);
        if (atomic_load_explicit(&me->done, memory_order_acquire)) {
            sem_destroy(&me->go);
            return me->rc;
        }
        /* Told to lead: batches_out already counts this batch. */
    }
    pthread_mutex_lock(&r->bmu);
    batch_call *last = me;
    size_t n = 1;
    while (last->next != NULL && n < BATCH_CALLS_MAX) {
        last = last->next;
        n++;
    }
    r->bhead = last->next;
    if (r->bhead == NULL)
        r->btail = NULL;
    last->next = NULL;
    r->batches++;
    r->batch_calls += (int64_t)n;
    pthread_mutex_unlock(&r->bmu);

    batch_send(r, me, n);

    pthread_mutex_lock(&r->bmu);
    batch_call *next_leader = r->bhead;
    if (next_leader == NULL) /* a batch slot free again */
        r->batches_out--;
    /* else the slot passes to the head, which stays the head: only the
     * head takes the queue, and it waits for the post below. */
    pthread_mutex_unlock(&r->bmu);
    for (batch_call *k = me->next, *next; k != NULL; k = next) {
        next = k->next; /* k is gone once it is posted */
        atomic_store_explicit(&k->done, 1, memory_order_release);
        sem_post(&k->go);
    }
    if (next_leader != NULL)
        sem_post(&next_leader->go);
    sem_destroy(&me->go);
    return me->rc;
}

/* One call (a script, or with `command` set that plain command) queued
 * with the other threads' calls (batch_run); *rep is its reply, an error
 * reply included, on WABOT_OK. */
static int call_one(wabot_redis *r, wb_redis_script *script,
                    const char *command, size_t nkeys, const char **keys,
                    const size_t *keylens, size_t nargs, const char **args,
                    const size_t *arglens, redisReply **rep)
{
    eval_argv a;
    int rc = eval_argv_build(r, &a, command, nkeys, keys, keylens, nargs,
                             args, arglens);
    if (rc != WABOT_OK) {
        eval_argv_free(&a);
        return rc;
    }
    batch_call me = {.script = script, .a = &a};
    rc = batch_run(r, &me);
    eval_argv_free(&a);
    if (rc == WABOT_OK)
        *rep = me.reply;
    return rc;
}

int wb_redis_evaln(wabot_redis *r, wb_redis_script *script, size_t nkeys,
                   const char **keys, const size_t *keylens, size_t nargs,
                   const char **args, const size_t *arglens,
                   redisReply **out)
{
    *out = NULL;
    if (r == NULL || script == NULL)
        return WABOT_ERR_INVAL;
    redisReply *rep = NULL;
    int rc = call_one(r, script, NULL, nkeys, keys, keylens, nargs, args,
                      arglens, &rep);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR) {
        set_last_error(r, script->name, rep->str);
        wb_redis_reply_free(rep);
        return WABOT_ERR_STORAGE;
    }
    *out = rep;
    return WABOT_OK;
}

int wb_redis_plain(wabot_redis *r, const char *command, size_t nkeys,
                   const char **keys, size_t nargs, const char **args,
                   const size_t *arglens, redisReply **out)
{
    *out = NULL;
    if (r == NULL || command == NULL)
        return WABOT_ERR_INVAL;
    return call_one(r, NULL, command, nkeys, keys, NULL, nargs, args,
                    arglens, out);
}

int wb_redis_eval_pipeline(wabot_redis *r, wb_redis_script *script,
                           size_t n, const wb_redis_call *calls,
                           redisReply **out)
{
    if (r == NULL || n == 0 || calls == NULL || out == NULL)
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (script == NULL && calls[i].script == NULL &&
            calls[i].command == NULL)
            return WABOT_ERR_INVAL;
    eval_argv *a = calloc(n, sizeof *a);
    eval_argv **pa = calloc(n, sizeof *pa);
    int rc = a != NULL && pa != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
    size_t built = 0;
    for (; built < n && rc == WABOT_OK; built++) {
        const wb_redis_call *k = &calls[built];
        rc = eval_argv_build(r, &a[built], k->command, k->nkeys,
                             (const char **)k->keys,
                             k->keylens, k->nargs, (const char **)k->args,
                             k->arglens);
        pa[built] = &a[built];
        if (rc != WABOT_OK)
            built++; /* a partly built argv is freed too */
    }
    redisContext *c = rc == WABOT_OK ? wb_redis_acquire(r, &rc) : NULL;
    for (size_t i = 0; c != NULL && rc == WABOT_OK && i < n; i++) {
        if (calls[i].command != NULL)
            continue; /* a plain command */
        wb_redis_script *s = calls[i].script ? calls[i].script : script;
        if (!atomic_load_explicit(&s->sha_ready, memory_order_acquire))
            rc = script_load(r, c, s);
        a[i].argv[1] = s->sha;
    }
    if (c != NULL && rc == WABOT_OK)
        rc = pipeline_send(r, c, n, pa, out);
    /* NOSCRIPT: the server forgot the script between the load and now */
    for (size_t i = 0; c != NULL && rc == WABOT_OK && i < n; i++) {
        if (calls[i].command != NULL || !is_noscript(out[i]))
            continue;
        wb_redis_reply_free(out[i]);
        out[i] = NULL;
        rc = evalsha(r, c, calls[i].script ? calls[i].script : script,
                     a[i].argc, a[i].argv, a[i].lens, &out[i]);
        for (size_t j = 0; rc != WABOT_OK && j < n; j++) {
            if (out[j] != NULL)
                wb_redis_reply_free(out[j]);
            out[j] = NULL;
        }
    }
    if (c != NULL)
        wb_redis_release(r, c, rc != WABOT_OK);
    for (size_t i = 0; a != NULL && i < built; i++)
        eval_argv_free(&a[i]);
    free(a);
    free(pa);
    return rc;
}

int wb_redis_eval(wabot_redis *r, wb_redis_script *script, size_t nkeys,
                  const char **keys, size_t nargs, const char **args,
                  const size_t *arglens, redisReply **out)
{
    return wb_redis_evaln(r, script, nkeys, keys, NULL, nargs, args,
                          arglens, out);
}
