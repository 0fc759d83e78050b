/*
 * libwabot core: version, status codes, options, the context, logging, clock,
 * allocator.
 *
 * Conventions that hold for every public function of libwabot:
 *  - Functions that can fail return an int: WABOT_OK (0) or a negative
 *    wabot_status. Codes are append-only and never renumbered.
 *  - One error style (doc/errors.md): a failed call returns a negative
 *    status (a constructor without a status result returns NULL) and
 *    leaves a human-readable detail message on the calling thread:
 *    wabot_errmsg() returns it, whatever the call was made on;
 *    wabot_ctx_errmsg(), wabot_storage_errmsg() and
 *    wabot_options_errmsg() return it only if it is about that object.
 *  - Every *_new has a *_free; *_free(NULL) is a no-op.
 *  - Who frees what the library returns as owned (one rule, stated again
 *    by every function that returns owned memory):
 *      1. an object with its own *_free (wabot_delivery, wabot_job_info,
 *         wabot_storage_items, wabot_http_response, ...) is freed with it;
 *      2. other memory (strings, JSON text, ids) returned by a function
 *         that takes a context, or an object that belongs to one (a turn,
 *         an outbound builder), comes from the context's allocator and is
 *         freed with wabot_ctx_mem_free(ctx, p), ctx being that context;
 *      3. other memory returned by a function without a context (storage
 *         wrappers, wabot_route_keyword_fold, wabot_outbound_to_json, ...)
 *         comes from libc and is freed with wabot_free(p).
 *    Borrowed pointers (const char * results) are never freed.
 *  - Strings are NUL-terminated UTF-8 unless a length is passed with them.
 *    JSON crosses the API as text (const char *, size_t).
 */
#ifndef WABOT_CORE_H
#define WABOT_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WABOT_BUILDING) && defined(__GNUC__)
#define WABOT_API __attribute__((visibility("default")))
#else
#define WABOT_API
#endif

#define WABOT_VERSION_MAJOR 0
#define WABOT_VERSION_MINOR 2
#define WABOT_VERSION_PATCH 0
/** 0xMMmmpp: major, minor, patch. */
#define WABOT_VERSION_NUM                                                     \
    ((WABOT_VERSION_MAJOR << 16) | (WABOT_VERSION_MINOR << 8) |               \
     WABOT_VERSION_PATCH)
#define WABOT_VERSION_STR "0.2.0"

/** Version of the library actually loaded (compare with WABOT_VERSION_NUM).
 *  Any thread; never fails. */
WABOT_API unsigned wabot_version_num(void);
/** "MAJOR.MINOR.PATCH" of the loaded library; static storage. Any thread. */
WABOT_API const char *wabot_version_str(void);

/**
 * Status codes. Negative values are errors. Append-only: a value once
 * published is never renumbered or reused.
 */
typedef enum wabot_status {
    WABOT_OK = 0,
    WABOT_ERR_INVAL = -1,       /**< invalid argument or wrong API use */
    WABOT_ERR_NOMEM = -2,       /**< allocation failed */
    WABOT_ERR_NOT_FOUND = -3,   /**< no such key / object */
    WABOT_ERR_EXISTS = -4,      /**< already exists (set-if-absent, duplicate) */
    WABOT_ERR_CONFLICT = -5,    /**< version mismatch in compare-and-set */
    WABOT_ERR_PARSE = -6,       /**< malformed input (body, JSON, form) */
    WABOT_ERR_TOO_LARGE = -7,   /**< input exceeds a configured limit */
    WABOT_ERR_UNSUPPORTED = -8, /**< operation or version not supported */
    WABOT_ERR_STORAGE = -9,     /**< storage backend failure */
    WABOT_ERR_TRANSPORT = -10,  /**< provider transport failure */
    WABOT_ERR_STATE = -11,      /**< call not valid in the object's state */
    WABOT_ERR_HANDLER = -12,    /**< a middleware or handler failed */
    WABOT_ERR_AUTH = -13,       /**< authentication / signature failure */
    WABOT_ERR_TIMEOUT = -14,    /**< an operation timed out */
    WABOT_ERR_BUSY = -15,       /**< resource busy; retry later */
    WABOT_ERR_RATE_LIMITED = -16, /**< throttled (provider 429/130429/131056/
                                       63018 or a local limit): retry after a
                                       delay; not a failure */
    WABOT_ERR_PERMANENT = -17,  /**< the provider refused for good (invalid
                                     number, blocked, ...): never retried */
    WABOT_ERR_WINDOW_CLOSED = -18, /**< free-form message outside the 24-hour
                                        customer-service window */
    WABOT_ERR_OPTED_OUT = -19,  /**< the customer opted out of this kind */
    WABOT_ERR_CIRCUIT_OPEN = -20 /**< the transport's circuit breaker is open */
} wabot_status;

/** Static, never NULL, English description of a status code (unknown codes
 *  give "unknown status"). Any thread. */
WABOT_API const char *wabot_strerror(int status);

/* ------------------------------------------------------------------ */
/* Logging                                                             */

typedef enum wabot_log_level {
    WABOT_LOG_DEBUG = 0,
    WABOT_LOG_INFO = 1,
    WABOT_LOG_WARN = 2,
    WABOT_LOG_ERROR = 3,
    WABOT_LOG_NONE = 4 /**< as a threshold: log nothing */
} wabot_log_level;

/**
 * Log callback. `module` is the library module ("webhook", "pipeline", ...),
 * `msg` one line without a trailing newline. Both are valid only during the
 * call. May be called from any thread that calls into the library; must not
 * call back into the library.
 */
typedef void (*wabot_log_fn)(void *ud, wabot_log_level level,
                             const char *module, const char *msg);

/** Static lower-case name of a level ("debug", ...). */
WABOT_API const char *wabot_log_level_name(wabot_log_level level);

/* ------------------------------------------------------------------ */
/* Clock and allocator (versioned tables filled by the caller)          */

#define WABOT_CLOCK_VERSION 1
/**
 * A clock. now_ms returns wall-clock milliseconds since the Unix epoch.
 * Every component of a context reads time through it, so tests move time
 * instead of sleeping. Must be thread-safe.
 */
typedef struct wabot_clock {
    uint32_t version; /**< WABOT_CLOCK_VERSION */
    int64_t (*now_ms)(void *ud);
    void *ud;
} wabot_clock;

#define WABOT_ALLOCATOR_VERSION 1
/**
 * An allocator for the memory a context allocates. All three functions are
 * required and must be thread-safe. `free` receives NULL never; `realloc`
 * follows realloc(3). JSON documents the library builds with jansson use
 * jansson's own process-wide allocator unless the host opts in with
 * wabot_allocator_route_json().
 */
typedef struct wabot_allocator {
    uint32_t version; /**< WABOT_ALLOCATOR_VERSION */
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} wabot_allocator;

/**
 * Opt in, once per process, to routing jansson's allocations to the
 * allocator of the context whose library call is running on the thread
 * (wabot_ctx_handle_message, wabot_http_handle's turns, and the loop
 * functions of loop.h, where jobs and sends run); elsewhere, libc. Each
 * block records the allocator that made it and is freed by that one, on
 * whatever thread, also after the call returned.
 * Preconditions, because jansson's allocator is process-wide: call it at
 * program start before anything in the process (the host, another library)
 * has created a JSON value, and never change jansson's allocator after:
 * values allocated before would be freed with the wrong function. Memory
 * that jansson returns (json_dumps) must then be freed with jansson's free
 * function (json_get_alloc_funcs), not free(3). The `ud` of every context
 * allocator must outlive each JSON value built under it.
 * WABOT_OK when installed (or already installed); WABOT_ERR_STATE, and
 * nothing changed, when the host already set its own jansson allocator
 * (never replaced). Not thread-safe: call before starting threads.
 * See doc/abi.md, "JSON and the allocator hook".
 */
WABOT_API int wabot_allocator_route_json(void);

/* ------------------------------------------------------------------ */
/* Options                                                             */

typedef struct wabot_options wabot_options;
typedef struct wabot_ctx wabot_ctx;
typedef struct wabot_storage wabot_storage;
typedef struct wabot_transport wabot_transport;

/**
 * Scalar options. Each is either an integer option (set with
 * wabot_options_set_int) or a string option (wabot_options_set_str); using
 * the wrong setter or an unknown id gives WABOT_ERR_INVAL. Append-only.
 */
typedef enum wabot_option {
    /* strings */
    WABOT_OPT_TWILIO_WEBHOOK_PATH = 1, /**< default "/whatsapp/webhook" */
    WABOT_OPT_META_WEBHOOK_PATH = 2,   /**< default "/whatsapp-v2/webhook" */
    WABOT_OPT_DEFAULT_ORGANIZATION = 3, /**< default "default" */
    WABOT_OPT_COMMAND_PREFIX = 4,      /**< default "/" */
    /* integers */
    WABOT_OPT_MAX_BODY_BYTES = 100,    /**< default 1 MiB (1..64 MiB) */
    WABOT_OPT_MAX_PARAMS = 101,        /**< form parameters, default 256 */
    WABOT_OPT_MAX_FIELD_BYTES = 102,   /**< one field's value (form field, JSON string), default 16384 */
    WABOT_OPT_MAX_JSON_DEPTH = 103,    /**< default 32 */
    WABOT_OPT_MAX_BATCH_MESSAGES = 104,/**< messages in one webhook, default 1000 */
    WABOT_OPT_STATE_TTL_MS = 105,      /**< conversation expiry, default 30 days; 0 = never */
    WABOT_OPT_STATE_MAX_RETRIES = 106, /**< turn re-runs on a version conflict, default 5 */
    WABOT_OPT_LOG_LEVEL = 107,         /**< wabot_log_level threshold, default WARN */
    WABOT_OPT_JOB_LEASE_MS = 108,      /**< job lease, default 30000 (renewed at half) */
    WABOT_OPT_JOB_MAX_STALLS = 109,    /**< lease expiries before a job fails, default 1 */
    WABOT_OPT_JOB_POLL_MS = 110,       /**< idle poll of a shared scheduler, default 1000 */
    WABOT_OPT_OUTBOUND_CONCURRENCY = 111, /**< jobs of the outbound queue taken at once, default 16 (with pacing on, at most WABOT_OPT_HTTP_HOST_CONNECTIONS in flight per transport) */
    WABOT_OPT_OUTBOUND_MAX_ATTEMPTS = 112, /**< attempts per reply, default 5 */
    WABOT_OPT_WINDOW_MS = 113,         /**< customer-service window, default 24 h; 0 = not enforced */
    WABOT_OPT_RATE_SENDER_PER_S = 114, /**< sends per second per business number, default 80; 0 = off */
    WABOT_OPT_RATE_PAIR_PERIOD_MS = 115, /**< one send per this per recipient, default 6000; 0 = off */
    WABOT_OPT_RATE_PAIR_BURST = 116,   /**< extra sends allowed at once per recipient, default 10 (Meta lets pairs borrow up to 45) */
    WABOT_OPT_RATE_ORG_PER_S = 117,    /**< sends per second per organisation, default 0 = off */
    WABOT_OPT_BREAKER_WINDOW_MS = 118, /**< rolling window, default 60000 */
    WABOT_OPT_BREAKER_FAILURE_PCT = 119, /**< failure rate that opens, default 50 */
    WABOT_OPT_BREAKER_MIN_VOLUME = 120, /**< calls in the window before it may open, default 20 */
    WABOT_OPT_BREAKER_OPEN_MS = 121,   /**< open before half-open, default 30000 */
    WABOT_OPT_BREAKER_PROBES = 122,    /**< half-open probes, default 3 */
    WABOT_OPT_TWILIO_INLINE_REPLIES = 123, /**< 1: answer Twilio webhooks with the turn's text/media replies as TwiML instead of API calls; default 0 */
    /* Webhook security and inbound hygiene: see wabot/security.h */
    WABOT_OPT_TWILIO_AUTH_TOKEN = 124, /**< string; "" (default): Twilio webhooks are refused (403) */
    WABOT_OPT_META_APP_SECRET = 125,   /**< string; "" (default): Meta webhooks are refused (403) */
    WABOT_OPT_META_VERIFY_TOKEN = 126, /**< string; "" (default): the GET handshake is refused (403) */
    WABOT_OPT_PUBLIC_URL = 127,        /**< string "scheme://host[:port][/prefix]"; "" (default): from the Host header */
    WABOT_OPT_VERIFY_SIGNATURES = 128, /**< 1 (default); 0 accepts unsigned webhooks (local development only) */
    WABOT_OPT_TRUST_FORWARDED = 129,   /**< 1: honour X-Forwarded-Proto/-Host; default 0 */
    WABOT_OPT_DEDUP = 130,             /**< 1 (default): inbound messages are deduplicated; 0 = off */
    WABOT_OPT_DEDUP_KEY_FORMAT = 131,  /**< string, default "dedup:{id}" */
    WABOT_OPT_DEDUP_TTL_MS = 132,      /**< how long a handled id is remembered, default 24 h */
    WABOT_OPT_DEDUP_LEASE_MS = 133,    /**< claim lease while a message is handled, default 60000 */
    WABOT_OPT_INBOUND_RATE_COUNT = 134, /**< messages per customer and period, default 30; 0 = no limit */
    WABOT_OPT_INBOUND_RATE_PERIOD_MS = 135, /**< default 60000 */
    WABOT_OPT_INBOUND_RATE_BURST = 136, /**< extra messages allowed at once, default 20 */
    WABOT_OPT_INBOUND_RATE_NOTICE = 137, /**< string sent once per limited period; "" = none */
    WABOT_OPT_OPTOUT_KEYWORDS = 138,   /**< string, comma-separated (default STOP, UNSUBSCRIBE, ...); "" = none */
    WABOT_OPT_OPTIN_KEYWORDS = 139,    /**< string, comma-separated (default START, UNSTOP, ...); "" = none */
    WABOT_OPT_OPTOUT_REPLY = 140,      /**< string: the opt-out confirmation; "" = none */
    WABOT_OPT_OPTIN_REPLY = 141,       /**< string: the opt-in confirmation; "" = none */
    WABOT_OPT_RECEIPT_TTL_MS = 142,    /**< how long delivery states are kept, default 7 days */
    /* The outbound backlog bound (doc/performance.md, "Backpressure") */
    WABOT_OPT_OUTBOUND_BACKLOG_MAX = 160, /**< replies queued or sending above which webhooks carrying messages are held back, default 20000; 0 = unbounded */
    WABOT_OPT_OUTBOUND_BACKLOG_POLICY = 161, /**< wabot_backlog_policy when the backlog is full, default WABOT_BACKLOG_WAIT (REJECT before; CHANGELOG) */
    WABOT_OPT_OUTBOUND_BACKLOG_WAIT_MS = 162, /**< WABOT_BACKLOG_WAIT: longest hold of a webhook, default 1000 */
    WABOT_OPT_HTTP_HOST_CONNECTIONS = 163, /**< connections per provider host in the send pool, default 16 */
    WABOT_OPT_HTTP_THREADS = 164, /**< threads the context's own libcurl client runs its transfers on, default 0 (on the loop thread); doc/http.md */
    /* Sends whose outcome is unknown after a crash (doc/reliability.md) */
    WABOT_OPT_SEND_RECONCILE_GRACE_MS = 170, /**< how long such a send waits for a receipt carrying its correlation before the policy decides, default 5000 */
    WABOT_OPT_SEND_AT_MOST_ONCE = 171 /**< string: comma-separated categories ("campaign,reminder") whose unknown-outcome sends are not sent again; "" (default): at-least-once for all */
} wabot_option;

/**
 * What a webhook carrying messages gets while the outbound backlog is at
 * WABOT_OPT_OUTBOUND_BACKLOG_MAX. Nothing of it is handled, so nothing is
 * lost: the provider delivers it again. Counted as
 * webhook.rejected.overloaded (and outbound.backlog_waits for each hold).
 * Append-only.
 */
typedef enum wabot_backlog_policy {
    /** 503 with Retry-After at once */
    WABOT_BACKLOG_REJECT = 0,
    /** hold the HTTP thread until the backlog drops below the bound, at
     *  most WABOT_OPT_OUTBOUND_BACKLOG_WAIT_MS, then 503 as REJECT (the
     *  default) */
    WABOT_BACKLOG_WAIT = 1
} wabot_backlog_policy;

/** New options with every default. Returns NULL only when out of memory.
 *  Options are not thread-safe; a context copies what it needs, so options
 *  may be freed right after wabot_ctx_new(). */
WABOT_API wabot_options *wabot_options_new(void);
WABOT_API void wabot_options_free(wabot_options *opts);

/** Set an integer option. WABOT_ERR_INVAL for an unknown id, a string
 *  option, or a value out of range (see wabot_options_errmsg()). */
WABOT_API int wabot_options_set_int(wabot_options *opts, wabot_option opt,
                                    int64_t value);
/** Set a string option (copied). NULL restores the default where one exists.
 *  WABOT_ERR_INVAL for an unknown id, an integer option, or a bad value. */
WABOT_API int wabot_options_set_str(wabot_options *opts, wabot_option opt,
                                    const char *value);
/**
 * Set an option by its name and textual value, for configuration files and
 * the environment: names are the enum names without the WABOT_OPT_ prefix,
 * case-insensitive ("max_body_bytes", "COMMAND_PREFIX"). Integer options
 * parse the value as a decimal integer.
 * WABOT_ERR_INVAL for an unknown name or an unparsable value.
 */
WABOT_API int wabot_options_set(wabot_options *opts, const char *name,
                                const char *value);
/** Read an option's current value (the default if never set): integer
 *  options into *value; string options as a pointer valid until the option
 *  changes or the options are freed. WABOT_ERR_INVAL for an unknown id or
 *  the wrong kind. */
WABOT_API int wabot_options_get_int(const wabot_options *opts,
                                    wabot_option opt, int64_t *value);
WABOT_API int wabot_options_get_str(const wabot_options *opts,
                                    wabot_option opt, const char **value);
/** Detail message of the last failed call on these options ("" if none).
 *  Valid until the next call on opts. */
WABOT_API const char *wabot_options_errmsg(const wabot_options *opts);

/** Log callback (the threshold is WABOT_OPT_LOG_LEVEL; messages below it
 *  are not even formatted).
 *  fn NULL: no logging (the default). */
WABOT_API int wabot_options_set_log(wabot_options *opts, wabot_log_fn fn,
                                    void *ud);
/** Use `clock` (copied; ud must outlive the context). NULL: system clock.
 *  WABOT_ERR_INVAL if version is 0 or now_ms is NULL. */
WABOT_API int wabot_options_set_clock(wabot_options *opts,
                                      const wabot_clock *clock);
/** Use `alloc` (copied; ud must outlive the context). NULL: libc.
 *  WABOT_ERR_INVAL if version is 0 or a function is NULL. */
WABOT_API int wabot_options_set_allocator(wabot_options *opts,
                                          const wabot_allocator *alloc);
/** Storage backend for conversation state and library keys. Borrowed: it
 *  must outlive every context using it. NULL: the context creates and owns
 *  a memory backend. */
WABOT_API int wabot_options_set_storage(wabot_options *opts,
                                        wabot_storage *storage);
/** Transport for outbound messages. Borrowed: it must outlive every context
 *  using it. NULL: the context creates and owns a console transport
 *  writing to stdout. */
WABOT_API int wabot_options_set_transport(wabot_options *opts,
                                          wabot_transport *transport);

/* ------------------------------------------------------------------ */
/* Context                                                             */

/**
 * Create a context from `opts` (NULL: all defaults). On success *out owns a
 * new context. On failure *out is NULL and, when opts is not NULL,
 * wabot_options_errmsg(opts) says why. Errors: WABOT_ERR_INVAL, NOMEM.
 */
WABOT_API int wabot_ctx_new(wabot_ctx **out, wabot_options *opts);
/** Free a context, its routes and middlewares (their destructors run), and
 *  the backends it created itself. No other thread may be using it. */
WABOT_API void wabot_ctx_free(wabot_ctx *ctx);

/**
 * Detail message of the last failed call made with `ctx` on the calling
 * thread; "" if there is none. Valid until the next call into the library
 * from this thread.
 */
WABOT_API const char *wabot_ctx_errmsg(const wabot_ctx *ctx);

/**
 * Detail message of the last failed libwabot call on the calling thread,
 * whatever object it was made on (a context, a storage handle, options, or
 * a constructor that returned NULL); "" if no call has failed on this
 * thread yet. The per-object accessors (wabot_ctx_errmsg(), ...) return
 * the same message when it is about their object. Borrowed: valid until
 * the next call into the library from this thread. Any thread; never fails.
 */
WABOT_API const char *wabot_errmsg(void);

/** Current time in ms since the epoch from the context's clock. Any thread. */
WABOT_API int64_t wabot_ctx_now_ms(const wabot_ctx *ctx);

/** The storage / transport the context uses (borrowed, valid for the
 *  context's lifetime). Any thread. */
WABOT_API wabot_storage *wabot_ctx_storage(const wabot_ctx *ctx);
WABOT_API wabot_transport *wabot_ctx_transport(const wabot_ctx *ctx);

/** Free memory (strings, JSON text, ids) that a function taking `ctx`, or
 *  an object of `ctx` (a turn, an outbound builder), returned as owned:
 *  rule 2 at the top of this header. It goes back to the context's
 *  allocator, so `ctx` must be the context that returned it and still be
 *  alive. NULL ptr is a no-op. Any thread. */
WABOT_API void wabot_ctx_mem_free(const wabot_ctx *ctx, void *ptr);

/** Free memory that a function without a context returned as owned
 *  (libc's free): rule 3 at the top of this header. NULL is a no-op.
 *  Any thread. */
WABOT_API void wabot_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_CORE_H */
