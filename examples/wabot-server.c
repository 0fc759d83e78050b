/*
 * wabot-server: libwabot behind libmicrohttpd.
 *
 * The library owns everything between "an HTTP request arrived" and "the bot
 * answered"; this program owns only what a host must: the HTTP server,
 * configuration, logging and signals. Every request is handed whole (method,
 * raw target with its query, headers, body) to wabot_http_handle(), which is
 * thread-safe, so libmicrohttpd serves it from a pool of threads.
 *
 * Outbound messages go to the library's default console transport, which
 * prints one "[bot -> +E164] text" line per message on stdout.
 *
 * Run `wabot-server --help` for the configuration (environment variables).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <wabot.h>

#include "demo_bot.h"
#include "server_answers.h"
#include "server_backends.h"
#include "server_gate.h"
#include "server_options.h"
#include "server_stats.h"


#define EXIT_CONFIG 2 /* bad configuration: distinct from runtime failure */

#define DEFAULT_LISTEN "127.0.0.1:3000"
#define MAX_THREADS 256
#define DEFAULT_HEADER_TIMEOUT_S 10 /* a request's headers must be in */
#define DEFAULT_READ_TIMEOUT_S 30   /* longest silence on a connection */
#define DEFAULT_PER_CLIENT 64       /* connections per client address */
#define DEFAULT_CONN_MEMORY_KB 16   /* libmicrohttpd's pool per connection */
#define DEFAULT_DRAIN_S 10          /* SIGTERM: requests in flight finish */
#define DRAIN_POLL_MS 20
#define SIGNAL_CHECK_MS 100     /* longest a stop signal waits */
#define SHUTDOWN_GRACE_MS 5000  /* time to send what is due at shutdown */
#define HEALTHZ_PATH "/healthz"
#define READYZ_PATH "/readyz"

/* Each source line is one output line: keep both within 80 columns. */
static const char USAGE[] =
"Usage: wabot-server [-h|--help] [--version]\n"
"\n"
"Serves a libwabot bot over HTTP. WhatsApp webhooks (Twilio form posts\n"
"and Meta JSON) are handed to the library; the bot's outbound messages\n"
"are printed on stdout, one line per message: \"[bot -> +E164] text\".\n"
"Logs go to stderr. Once listening, it prints one line to stderr:\n"
"  wabot-server listening on http://HOST:PORT\n"
"\n"
"Environment:\n"
"  WABOT_LISTEN=HOST:PORT  address to listen on (default 127.0.0.1:3000);\n"
"                          port 0 picks a free port; [::1]:3000 for IPv6\n"
"  WABOT_THREADS=N         HTTP worker threads, 1..256 (default: one per\n"
"                          CPU, at least 2; 16 when REDIS_HOST is set)\n"
"  WABOT_OUTBOUND_CONCURRENCY=N  replies the delivery worker takes at once\n"
"                          (the library's outbound_concurrency): here 64 by\n"
"                          default (the library's is 16)\n"
"  WABOT_HTTP_HOST_CONNECTIONS=N  keep-alive connections to the provider\n"
"                          (http_host_connections): here 64 (library: 16)\n"
"  WABOT_HTTP_THREADS=N    threads sending to the provider (the library's\n"
"                          http_threads): here 2 by default on a machine\n"
"                          with 2 or more CPUs, 0 (on the loop thread) on one\n"
"  WABOT_LOG_LEVEL=LEVEL   debug, info, warn, error or none (default info)\n"
"  WABOT_HEADER_TIMEOUT_S=N  a connection's request headers must arrive\n"
"                          within N s of its opening (default 10)\n"
"  WABOT_READ_TIMEOUT_S=N  close a connection silent for N s (default 30)\n"
"  WABOT_MAX_CONNS_PER_CLIENT=N  connections per client address (64)\n"
"  WABOT_CONN_MEMORY_KB=N  memory per connection for the request line and\n"
"                          headers, 4..1024 KiB (default 16)\n"
"  WABOT_DRAIN_TIMEOUT_S=N on SIGTERM, wait up to N s for requests in\n"
"                          flight (default 10), then send what is due\n"
"  WABOT_BOT=NAME          shop (the order flow over a small catalog,\n"
"                          default), demo (the older scripted shop), echo\n"
"                          or counter\n"
"  WABOT_MODULES=A.so,B.so modules to load: each shared object exports\n"
"                          wabot_module_entry() (wabot/module.h)\n"
"  WABOT_LEGACY_URL=URL    the legacy bot beside this one: messages the\n"
"                          migration module does not route here are\n"
"                          forwarded to URL + the request's path, and its\n"
"                          answer relayed (doc/migration.md);\n"
"                          WABOT_LEGACY_TIMEOUT_MS (default 10000)\n"
"  WABOT_STATS_PATH=/PATH   serve GET /PATH: counters and outbound backlog\n"
"                          as JSON (off by default; for benchmarks)\n"
"  WABOT_INSECURE_SKIP_SIGNATURES=1\n"
"                          accept unsigned webhooks: local development\n"
"                          only; the server warns loudly when it is set\n"
"  TWILIO_AUTH_TOKEN, META_APP_SECRET, META_VERIFY_TOKEN, WABOT_PUBLIC_URL\n"
"                          webhook security (doc/security.md): without a\n"
"                          provider's secret its webhooks are refused (403)\n"
"\n"
"Endpoints: the two webhook paths, GET /healthz (liveness: 200\n"
"{\"status\":\"ok\"}) and GET /readyz (readiness: 200 or 503 with the\n"
"storage, breakers and backlog as JSON), all routes of the library.\n"
"SIGINT or SIGTERM stops the server cleanly.\n"
"Exit status: 0 after a clean stop, 1 if the server cannot start,\n"
"2 for a bad configuration.\n"
"--options-markdown prints doc/options.md (the library's option table).\n";

/* ------------------------------------------------------------------ */
/* Logging                                                             */

/* Library log callback. One fprintf per line: stdio locks the stream, so
 * lines from different HTTP threads never interleave. */
static void log_to_stderr(void *ud, wabot_log_level level, const char *module,
                          const char *msg)
{
    (void)ud;
    fprintf(stderr, "[%s] %s: %s\n", wabot_log_level_name(level), module, msg);
}

/* libmicrohttpd's own errors, in the same format as the library's. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    log_to_stderr(NULL, WABOT_LOG_ERROR, "http", line);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

typedef struct config {
    struct sockaddr_storage addr;
    uint16_t port;                 /* as configured: 0 = any free port */
    char host[INET6_ADDRSTRLEN + 2]; /* numeric, IPv6 in brackets */
    unsigned threads;
    wabot_log_level log_level;
    const char *bot;
    size_t max_body;
    unsigned header_timeout_s, read_timeout_s, per_client, drain_s;
    unsigned conn_memory_kb;
} config;

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : dflt;
}

static int config_error(const char *var, const char *value, const char *why)
{
    fprintf(stderr, "wabot-server: %s=%s: %s\n", var, value, why);
    return -1;
}

/* Parse a decimal integer in [min, max]; the whole string must be used. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Put cfg->port into cfg->addr and the numeric address into cfg->host. */
static void set_port_and_host(config *cfg)
{
    char text[INET6_ADDRSTRLEN] = "?";
    if (cfg->addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (void *)&cfg->addr;
        a6->sin6_port = htons(cfg->port);
        inet_ntop(AF_INET6, &a6->sin6_addr, text, sizeof text);
        snprintf(cfg->host, sizeof cfg->host, "[%s]", text);
    } else {
        struct sockaddr_in *a4 = (void *)&cfg->addr;
        a4->sin_port = htons(cfg->port);
        inet_ntop(AF_INET, &a4->sin_addr, text, sizeof text);
        snprintf(cfg->host, sizeof cfg->host, "%s", text);
    }
}

/* HOST:PORT, where HOST is an address or a name, and IPv6 is [addr]:port. */
static int parse_listen(const char *spec, config *cfg)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof host)
        return config_error("WABOT_LISTEN", spec, "expected HOST:PORT");
    size_t hlen = (size_t)(colon - spec);
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    long port;
    if (parse_long(colon + 1, 0, 65535, &port) != 0)
        return config_error("WABOT_LISTEN", spec, "port must be 0..65535");

    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0)
        return config_error("WABOT_LISTEN", spec, gai_strerror(gai));
    memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    cfg->port = (uint16_t)port;
    set_port_and_host(cfg);
    return 0;
}

static int parse_log_level(const char *s, wabot_log_level *out)
{
    static const struct {
        const char *name;
        wabot_log_level level;
    } names[] = {
        {"debug", WABOT_LOG_DEBUG}, {"info", WABOT_LOG_INFO},
        {"warn", WABOT_LOG_WARN},   {"warning", WABOT_LOG_WARN},
        {"error", WABOT_LOG_ERROR}, {"none", WABOT_LOG_NONE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return config_error("WABOT_LOG_LEVEL", s,
                        "expected debug, info, warn, error or none");
}

/* N from the variable `var` (default dflt) in [min, max]. */
static int env_number(const char *var, long dflt, long min, long max,
                      unsigned *out)
{
    const char *v = getenv(var);
    long n = dflt;
    if (v && *v && parse_long(v, min, max, &n) != 0) {
        char why[64];
        snprintf(why, sizeof why, "expected %ld..%ld", min, max);
        return config_error(var, v, why);
    }
    *out = (unsigned)n;
    return 0;
}

/* The connection limits: slow or silent clients, too many connections
 * from one address, how long a stop may take. */
static int config_load_limits(config *cfg)
{
    if (env_number("WABOT_HEADER_TIMEOUT_S", DEFAULT_HEADER_TIMEOUT_S, 1,
                   3600, &cfg->header_timeout_s) != 0 ||
        env_number("WABOT_READ_TIMEOUT_S", DEFAULT_READ_TIMEOUT_S, 1, 3600,
                   &cfg->read_timeout_s) != 0 ||
        env_number("WABOT_MAX_CONNS_PER_CLIENT", DEFAULT_PER_CLIENT, 1,
                   100000, &cfg->per_client) != 0 ||
        env_number("WABOT_DRAIN_TIMEOUT_S", DEFAULT_DRAIN_S, 0, 3600,
                   &cfg->drain_s) != 0 ||
        env_number("WABOT_CONN_MEMORY_KB", DEFAULT_CONN_MEMORY_KB, 4, 1024,
                   &cfg->conn_memory_kb) != 0)
        return -1;
    return 0;
}

static int config_load(config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (parse_listen(env_or("WABOT_LISTEN", DEFAULT_LISTEN), cfg) != 0)
        return -1;

    /* With Redis a webhook's thread mostly waits for Redis's answers,
     * and more waiting threads make fuller batches (lib/redis/pool.c):
     * 16 delivered 10-20 % more replies than 4 on the 2-CPU machine of
     * doc/performance.md. In memory a webhook's thread never waits, so
     * one per CPU (at least 2): on 2 CPUs, 2 threads delivered 4-6 % more
     * replies than 4 at a lower p99 (11-12 ms against 14), the CPUs
     * shared by fewer runnable threads. */
    const char *redis_host = getenv("REDIS_HOST");
    char per_cpu[16];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(per_cpu, sizeof per_cpu, "%ld",
             cpus < 2 ? 2L : cpus > MAX_THREADS ? (long)MAX_THREADS : cpus);
    const char *threads = env_or("WABOT_THREADS",
                                 redis_host && *redis_host ? "16" : per_cpu);
    long n;
    if (parse_long(threads, 1, MAX_THREADS, &n) != 0)
        return config_error("WABOT_THREADS", threads, "expected 1..256");
    cfg->threads = (unsigned)n;

    if (parse_log_level(env_or("WABOT_LOG_LEVEL", "info"), &cfg->log_level))
        return -1;

    cfg->bot = env_or("WABOT_BOT", "shop");
    if (strcmp(cfg->bot, "shop") != 0 && strcmp(cfg->bot, "demo") != 0 &&
        strcmp(cfg->bot, "echo") != 0 &&
        strcmp(cfg->bot, "counter") != 0)
        return config_error("WABOT_BOT", cfg->bot,
                            "expected shop, demo, echo or counter");
    return config_load_limits(cfg);
}

/*
 * Every library option from its environment variable (the option table
 * names them: --help lists them) or WABOT_OPT_<NAME>. The library
 * validates names and values. Afterwards the server reads back
 * MAX_BODY_BYTES, which bounds how much of a request body it buffers.
 */
static int apply_option_env(wabot_options *opts, config *cfg)
{
    if (wabot_options_apply_env(opts, NULL) != WABOT_OK) {
        fprintf(stderr, "wabot-server: %s\n", wabot_options_errmsg(opts));
        return -1;
    }
    if (server_secret_files_apply(opts) != 0)
        return -1;
    int64_t max_body;
    wabot_options_get_int(opts, WABOT_OPT_MAX_BODY_BYTES, &max_body);
    cfg->max_body = (size_t)max_body;
    return 0;
}

/*
 * The providers' secrets and the public URL come from the option table's
 * variables (TWILIO_AUTH_TOKEN, ...). Refusing unsigned webhooks is the
 * library's default; WABOT_INSECURE_SKIP_SIGNATURES=1 (or the option
 * itself) is the way out, and it is announced where nobody can miss it.
 */
static void warn_insecure(void)
{
    fprintf(stderr,
            "[warn] server: "
            "**************************************************************\n"
            "[warn] server: WABOT_INSECURE_SKIP_SIGNATURES=1: webhook "
            "signatures are NOT verified.\n"
            "[warn] server: Anyone who can reach this server can pose as "
            "Twilio or Meta.\n"
            "[warn] server: Use it for local development only, never in "
            "production.\n"
            "[warn] server: "
            "**************************************************************\n");
}

/* 1 when the secret `opt` ended up empty. */
static int unset(const wabot_options *opts, wabot_option opt)
{
    const char *v = NULL;
    return wabot_options_get_str(opts, opt, &v) != WABOT_OK || v == NULL ||
           v[0] == '\0';
}

static int apply_security_env(wabot_options *opts)
{
    const char *insecure = env_or("WABOT_INSECURE_SKIP_SIGNATURES", "0");
    if (strcmp(insecure, "0") != 0 && strcmp(insecure, "1") != 0)
        return config_error("WABOT_INSECURE_SKIP_SIGNATURES", insecure,
                            "expected 1 (or 0)");
    if (strcmp(insecure, "1") == 0)
        wabot_options_set_int(opts, WABOT_OPT_VERIFY_SIGNATURES, 0);
    int64_t verify = 1;
    wabot_options_get_int(opts, WABOT_OPT_VERIFY_SIGNATURES, &verify);
    if (!verify) {
        warn_insecure();
        return 0;
    }
    if (unset(opts, WABOT_OPT_TWILIO_AUTH_TOKEN))
        fprintf(stderr, "[warn] server: TWILIO_AUTH_TOKEN is not set: "
                        "Twilio webhooks will be refused (403)\n");
    if (unset(opts, WABOT_OPT_META_APP_SECRET))
        fprintf(stderr, "[warn] server: META_APP_SECRET is not set: Meta "
                        "webhooks will be refused (403)\n");
    return 0;
}

/* ------------------------------------------------------------------ */
/* The library context                                                 */

/* The provider transport and Redis backends (server_backends.c): they
 * must outlive the context, so they live as long as main(). */
static server_backends backends;

/* The server's default for http_threads, before the environment's: the
 * sends' libcurl work on two threads of their own delivered the most
 * replies end to end on a 2-CPU machine (doc/performance.md, "Sender
 * threads"); with one CPU the hand-over would only cost. */
static void default_http_threads(wabot_options *opts)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    wabot_options_set_int(opts, WABOT_OPT_HTTP_THREADS, cpus >= 2 ? 2 : 0);
}

/* The server's defaults for outbound_concurrency and http_host_connections,
 * before the environment's: 64 replies at once over 64 keep-alive
 * connections (the library's defaults are 16 and 16). With 16 in flight
 * the sends waited on round trips, not CPU: in memory the backlog stayed
 * at its bound with the machine 84-90 % busy, and 64 over 64 connections
 * delivered 10-20 % more replies end to end (doc/performance.md, twelfth
 * session); with Redis each batch the delivery worker takes costs it a
 * few round trips, and with 16 at a time the sends fell behind 16 HTTP
 * threads' webhooks (ninth session). The NestJS bot this replaces sends
 * 50 at a time over up to 128 connections. */
static void default_outbound_concurrency(wabot_options *opts)
{
    wabot_options_set_int(opts, WABOT_OPT_OUTBOUND_CONCURRENCY, 64);
    wabot_options_set_int(opts, WABOT_OPT_HTTP_HOST_CONNECTIONS, 64);
}

static wabot_ctx *context_new(config *cfg, wabot_options *opts)
{
    wabot_ctx *ctx = NULL;
    default_http_threads(opts);
    default_outbound_concurrency(opts);
    /* The server's default level first; the environment may change it. */
    if (wabot_options_set_log(opts, log_to_stderr, NULL) != WABOT_OK ||
        wabot_options_set_int(opts, WABOT_OPT_LOG_LEVEL, cfg->log_level) !=
            WABOT_OK)
        fprintf(stderr, "wabot-server: cannot set up logging: %s\n",
                wabot_options_errmsg(opts));
    else if (apply_option_env(opts, cfg) == 0 &&
             apply_security_env(opts) == 0 &&
             server_backends_open(&backends, opts) == 0 &&
             wabot_ctx_new(&ctx, opts) != WABOT_OK)
        fprintf(stderr, "wabot-server: cannot create the context: %s\n",
                wabot_options_errmsg(opts));
    wabot_options_free(opts);
    if (ctx && server_backends_attach(&backends, ctx) != 0) {
        wabot_ctx_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static int install_bot(wabot_ctx *ctx, const char *bot)
{
    /* GET /healthz (liveness) and /readyz (readiness), the library's
     * routes like the webhooks: HEAD is answered too, other methods 405. */
    int hrc = wabot_health_routes_add(ctx, HEALTHZ_PATH, READYZ_PATH);
    if (hrc == WABOT_ERR_EXISTS) /* a webhook path was set to it */
        log_to_stderr(NULL, WABOT_LOG_WARN, "server", wabot_ctx_errmsg(ctx));
    else if (hrc != WABOT_OK)
        return hrc;
    if ((hrc = server_stats_install(ctx)) != WABOT_OK)
        return hrc;
    int rc = strcmp(bot, "echo") == 0      ? echo_bot_install(ctx)
             : strcmp(bot, "counter") == 0 ? counter_bot_install(ctx)
             : strcmp(bot, "demo") == 0    ? demo_bot_install(ctx)
                                           : shop_bot_install(ctx);
    if (rc != WABOT_OK)
        fprintf(stderr, "wabot-server: cannot install the %s bot: %s (%s)\n",
                bot, wabot_strerror(rc), wabot_ctx_errmsg(ctx));
    return rc;
}

/* ------------------------------------------------------------------ */
/* One HTTP request                                                    */

typedef struct server {
    wabot_ctx *ctx;
    size_t max_body;
    atomic_int in_flight; /* requests begun and not yet completed */
} server;

typedef struct request {
    char *target;     /* raw request target, query included */
    char *body;
    size_t len, cap;
    size_t declared;  /* Content-Length when given and within the limit */
    int headers_seen; /* the first access-handler call happened */
    int too_large;    /* body over the limit: discarded, answer 413 */
} request;

/* Called by MHD with the request line's raw target before it splits off
 * and decodes the query: signature checks need the exact bytes. The
 * returned object becomes the access handler's *con_cls. */
static void *request_new(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    request *req = calloc(1, sizeof *req);
    if (req != NULL && (req->target = strdup(uri)) == NULL) {
        free(req);
        req = NULL;
    }
    return req;
}

static void request_free(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    server *srv = cls;
    request *req = *con_cls;
    if (req == NULL)
        return;
    if (req->headers_seen) /* MHD reports completion once the handler ran */
        atomic_fetch_sub(&srv->in_flight, 1);
    free(req->target);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* Append a chunk, or mark the request too large (and drop what we have)
 * once the body passes the limit. */
static void request_append(request *req, const char *data, size_t n,
                           size_t max)
{
    if (req->too_large)
        return;
    if (n > max - req->len) {
        req->too_large = 1;
        free(req->body);
        req->body = NULL;
        req->len = req->cap = 0;
        return;
    }
    if (req->len + n > req->cap) {
        /* The declared length first: a webhook's body is a few hundred
         * bytes, and a fixed 4 KiB block was a large-bin request for
         * glibc, which consolidated its fast bins on every webhook. */
        size_t cap = req->cap ? req->cap * 2 : req->declared;
        if (cap < 512)
            cap = 512;
        while (cap < req->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *body = realloc(req->body, cap);
        if (body == NULL) { /* treat as too large rather than crash */
            req->too_large = 1;
            return;
        }
        req->body = body;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
}

/* `headers`: the library's response whose headers go along (NULL for
 * the server's own answers). */
static enum MHD_Result send_reply(struct MHD_Connection *c, unsigned status,
                                  const char *content_type, const char *body,
                                  size_t len,
                                  const wabot_http_response *headers)
{
    /* An answer this thread gave before, byte for byte: its response
     * object again (server_answers.c). */
    int plain = wabot_http_response_header_count(headers) == 0 &&
                content_type != NULL && content_type[0] != '\0' &&
                answers_cacheable(content_type, len);
    struct MHD_Response *kept =
        plain ? answers_find(status, content_type, body, len) : NULL;
    if (kept != NULL)
        return MHD_queue_response(c, status, kept);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (content_type != NULL && content_type[0] != '\0')
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    /* Names and values were checked by the library (no CR/LF). */
    for (size_t i = 0; i < wabot_http_response_header_count(headers); i++)
        MHD_add_response_header(r, wabot_http_response_header_name(headers, i),
                                wabot_http_response_header_value(headers, i));
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    if (!plain || answers_keep(status, content_type, body, len, r) != 0)
        MHD_destroy_response(r);
    return ret;
}

/* An error in the library's format: {"error":{"code":..,"message":..}}.
 * `code` and `message` are constants without characters to escape. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status,
                                  const char *code, const char *message)
{
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                     message);
    return send_reply(c, status, "application/json", body, (size_t)n, NULL);
}

static enum MHD_Result send_internal_error(struct MHD_Connection *c,
                                          const char *message)
{
    return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", message);
}

static enum MHD_Result send_too_large(struct MHD_Connection *c)
{
    return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                      "request body exceeds MAX_BODY_BYTES");
}

/* The declared Content-Length (0 when there is none). One over the
 * limit is refused before any of the body is read (and before "100
 * Continue" is sent); one within it sizes the body buffer. */
static unsigned long long declared_length(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl != NULL ? strtoull(cl, NULL, 10) : 0;
}

typedef struct header_list {
    wabot_http_header *items;
    size_t count, cap;
} header_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    (void)kind;
    header_list *hl = cls;
    if (hl->count == hl->cap)
        return MHD_NO;
    hl->items[hl->count].name = key;
    hl->items[hl->count].value = value != NULL ? value : "";
    hl->count++;
    return MHD_YES;
}

/* Hand the request to the library and send back what it answers. Header
 * strings are borrowed from MHD: valid for the whole request. */
static enum MHD_Result serve_library(const server *srv,
                                     struct MHD_Connection *c,
                                     const char *method, const request *req)
{
    /* A webhook has a dozen headers: no allocation for them. */
    wabot_http_header few[32];
    int n = MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL);
    size_t cap = n > 0 ? (size_t)n : 0;
    header_list hl = {cap <= 32 ? few : calloc(cap, sizeof *hl.items), 0,
                      cap};
    if (hl.items == NULL)
        return send_internal_error(c, "out of memory");
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &hl);

    wabot_http_response *resp = NULL;
    int rc = wabot_http_handle(srv->ctx, method, req->target, hl.items,
                               hl.count, req->len ? req->body : NULL, req->len,
                               &resp);
    if (hl.items != few)
        free(hl.items);
    if (rc != WABOT_OK) {
        log_to_stderr(NULL, WABOT_LOG_ERROR, "server", wabot_strerror(rc));
        return send_internal_error(c, "the request could not be handled");
    }
    size_t len;
    const char *body = wabot_http_response_body(resp, &len);
    enum MHD_Result ret =
        send_reply(c, (unsigned)wabot_http_response_status(resp),
                   wabot_http_response_content_type(resp), body, len, resp);
    wabot_http_response_free(resp);
    return ret;
}

/*
 * MHD calls this once when the headers are in, once per chunk of body,
 * and once more when the body is complete; only then is a response queued
 * (except for an oversized Content-Length, refused at once).
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)url; /* decoded and without the query: we use req->target */
    (void)version;
    server *srv = cls;
    request *req = *con_cls;
    if (req == NULL)
        return send_internal_error(c, "out of memory");

    if (!req->headers_seen) {
        req->headers_seen = 1;
        atomic_fetch_add(&srv->in_flight, 1);
        unsigned long long declared = declared_length(c);
        if (declared > (unsigned long long)srv->max_body)
            return send_too_large(c);
        req->declared = (size_t)declared;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        request_append(req, upload, *upload_size, srv->max_body);
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->too_large)
        return send_too_large(c);
    return serve_library(srv, c, method, req);
}

/* ------------------------------------------------------------------ */
/* Start, wait for a signal, stop                                      */

/* MHD serves the connections the gate (server_gate.c) hands it: it has
 * no listening socket of its own. */
static struct MHD_Daemon *daemon_start(server *srv, const config *cfg)
{
    /* The pool threads poll() their connections: libmicrohttpd 0.9.75's
     * epoll mode (Debian 12's) left a burst on 128 or 256 kept-alive
     * connections of one thread unanswered until the connection timeout
     * (it waits again, with the full timeout, when one wait filled its
     * 128-event buffer), and poll() costs no more at the connections a
     * thread has (doc/server.md). MHD_USE_ITC wakes them when the gate
     * adds a connection. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    if (cfg->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        /* First, or MHD logs the options' errors its own way. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
        MHD_OPTION_URI_LOG_CALLBACK, request_new, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, request_free, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->read_timeout_s,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_client,
        /* libmicrohttpd zeroes a connection's whole pool before each
         * request on it: its default 32 KiB per webhook was a memset
         * worth 2 % of the server's CPU under load, for a request line
         * and headers of about 1 KiB (the body is copied out as it
         * comes). */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->conn_memory_kb * 1024,
        MHD_OPTION_END);
}

/* Listen, start MHD and the gate in front of it; *port gets the bound
 * port. 0, or -1 after saying why. */
static int serve_start(server *srv, const config *cfg,
                       struct MHD_Daemon **d, server_gate **gate,
                       unsigned *port)
{
    int lfd = gate_listen(&cfg->addr, port);
    if (lfd < 0) {
        fprintf(stderr, "wabot-server: cannot listen on %s:%u: %s\n",
                cfg->host, (unsigned)cfg->port, strerror(errno));
        return -1;
    }
    gate_config gc = {(int)cfg->header_timeout_s * 1000, cfg->per_client,
                      cfg->max_body};
    *d = daemon_start(srv, cfg);
    *gate = *d ? gate_start(*d, lfd, &gc) : NULL;
    if (*gate)
        return 0;
    if (*d)
        MHD_stop_daemon(*d);
    else
        close(lfd);
    fprintf(stderr, "wabot-server: cannot start the HTTP server on %s:%u\n",
            cfg->host, (unsigned)cfg->port);
    return -1;
}

/* Replies still queued at exit: kept by Redis, lost with the memory
 * backend -- said loudly either way. */
static void report_backlog(wabot_ctx *ctx)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    if (wabot_queue_counts(ctx, WABOT_QUEUE_OUTBOUND, c,
                           WABOT_JOB_STATE_COUNT) != WABOT_OK)
        return;
    int64_t left = c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED] +
                   c[WABOT_JOB_ACTIVE];
    if (left > 0)
        fprintf(stderr, "[%s] server: %lld outbound messages still queued "
                "at exit: %s\n", backends.redis ? "warn" : "error",
                (long long)left, backends.redis
                                     ? "Redis keeps them for the next start"
                                     : "lost (memory backend)");
}

/*
 * Graceful stop: no new connection (the gate closes the listening
 * socket and the connections still sending headers), the requests in
 * flight finish -- up to drain_s, while the loop keeps sending the
 * replies they queue -- then MHD stops (idle keep-alive connections
 * close; a request still being read is dropped unanswered, so its
 * sender retries) and what is due is sent, up to SHUTDOWN_GRACE_MS.
 * Every request answered 2xx had its turn run and its replies queued.
 */
static void serve_drain(server *srv, struct MHD_Daemon *d, server_gate *gate,
                        const config *cfg)
{
    gate_stop(gate);
    int64_t until = wabot_ctx_now_ms(srv->ctx) + (int64_t)cfg->drain_s * 1000;
    while (atomic_load(&srv->in_flight) > 0 &&
           wabot_ctx_now_ms(srv->ctx) < until)
        wabot_ctx_poll(srv->ctx, DRAIN_POLL_MS);
    MHD_stop_daemon(d);
    answers_clear();
    wabot_ctx_run_until_idle(srv->ctx,
                             wabot_ctx_now_ms(srv->ctx) + SHUTDOWN_GRACE_MS);
    report_backlog(srv->ctx);
}

/* Print the line tests and wabot-demo wait for, with the real port. */
static void announce(unsigned port, const config *cfg)
{
    fprintf(stderr, "wabot-server listening on http://%s:%u\n", cfg->host,
            port);
}

/* Block the stop signals in this thread before MHD starts its threads, so
 * they inherit the mask and only sigwait() in main sees the signals: no
 * handler, no global flag. */
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    /* A reader that goes away must not kill us mid-write. */
    signal(SIGPIPE, SIG_IGN);
}

/*
 * The main thread is the library's loop thread: it runs due jobs (replies
 * through the outbound queue, retries, delayed work) while the HTTP pool
 * threads handle webhooks. wabot_ctx_poll() sleeps until the next deadline
 * or until a webhook thread queues something earlier (the library's wake-up
 * fd); the cap bounds how long a stop signal waits to be noticed.
 */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_loop(wabot_ctx *ctx, const sigset_t *stop)
{
    const struct timespec no_wait = {0, 0};
    int64_t checked = mono_ms();
    for (;;) {
        int rc = wabot_ctx_poll(ctx, SIGNAL_CHECK_MS);
        if (rc < 0)
            fprintf(stderr, "[error] loop: %s (%s)\n", wabot_strerror(rc),
                    wabot_ctx_errmsg(ctx));
        /* Under load the loop passes thousands of times a second: while
         * passes run jobs, look for a stop signal every SIGNAL_CHECK_MS,
         * not at every pass (a system call each). */
        int64_t now = mono_ms();
        if (rc > 0 && now - checked < SIGNAL_CHECK_MS)
            continue;
        checked = now;
        if (sigtimedwait(stop, NULL, &no_wait) > 0)
            return;
    }
}

static int parse_args(int argc, char **argv, const wabot_options *opts)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            fputs(SERVER_BACKENDS_HELP, stdout);
            server_options_help(stdout, opts);
            return 0;
        }
        if (strcmp(argv[i], "--options-markdown") == 0) {
            server_options_markdown(stdout, opts);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("wabot-server (libwabot %s)\n", wabot_version_str());
            return 0;
        }
        fprintf(stderr, "wabot-server: unknown argument '%s'\n\n%s", argv[i],
                USAGE);
        return EXIT_CONFIG;
    }
    return -1; /* run the server */
}

/* Options with the modules of WABOT_MODULES: --help lists their options
 * too. NULL after printing why. */
static wabot_options *options_new(void)
{
    wabot_options *opts = wabot_options_new();
    if (opts == NULL) {
        fprintf(stderr, "wabot-server: out of memory\n");
        return NULL;
    }
    if (server_modules_load(opts, getenv("WABOT_MODULES")) != 0) {
        wabot_options_free(opts);
        return NULL;
    }
    return opts;
}

int main(int argc, char **argv)
{
    wabot_options *opts = options_new();
    if (opts == NULL)
        return EXIT_CONFIG;
    int rc = parse_args(argc, argv, opts);
    if (rc >= 0) {
        wabot_options_free(opts);
        return rc;
    }
    /* Bot lines must reach a pipe reader as they happen, not at exit. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    config cfg;
    if (config_load(&cfg) != 0) {
        wabot_options_free(opts);
        return EXIT_CONFIG;
    }
    server srv = {context_new(&cfg, opts), cfg.max_body, 0};
    if (srv.ctx == NULL) {
        server_backends_close(&backends);
        return EXIT_CONFIG;
    }
    if (install_bot(srv.ctx, cfg.bot) != WABOT_OK) {
        wabot_ctx_free(srv.ctx);
    server_backends_close(&backends);
        return EXIT_FAILURE;
    }

    sigset_t stop;
    block_stop_signals(&stop);
    struct MHD_Daemon *d = NULL;
    server_gate *gate = NULL;
    unsigned port = 0;
    if (serve_start(&srv, &cfg, &d, &gate, &port) != 0) {
        wabot_ctx_free(srv.ctx);
        server_backends_close(&backends);
        return EXIT_FAILURE;
    }
    announce(port, &cfg);

    run_loop(srv.ctx, &stop);
    /* No new work reaches the context after this returns; what is due
     * has been sent (the memory backends die with the process;
     * Redis-backed queues keep the rest anyway). */
    serve_drain(&srv, d, gate, &cfg);
    wabot_ctx_free(srv.ctx);
    server_backends_close(&backends);
    fprintf(stderr, "wabot-server stopped\n");
    return EXIT_SUCCESS;
}
