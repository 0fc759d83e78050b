/*
 * wabot-demo: the `make demo` driver.
 *
 * Starts wabot-server (running the shop: the library's order flow over a
 * small catalog) on a free loopback port, plays a scripted customer
 * conversation as Twilio webhooks over real HTTP, and prints the
 * transcript: each customer message, then the bot lines the server printed
 * on its stdout (its console transport). The order ends with the invoice:
 * its text and the link of its PDF, which the demo then fetches from the
 * server (as a provider would) to show its size.
 *
 * The server verifies webhook signatures, as in production: the demo
 * hands it a fresh auth token (TWILIO_AUTH_TOKEN) and signs every request
 * with it the way Twilio does (X-Twilio-Signature: Base64 HMAC-SHA1 of the
 * URL followed by every parameter, sorted by name).
 *
 *   wabot-demo [PATH-TO-wabot-server]     (default: next to wabot-demo)
 *
 * Exit status 0 only if every webhook was answered 200, every message got at
 * least one bot line, and the server stopped cleanly with status 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define CUSTOMER_NAME "Maria"
#define CUSTOMER "whatsapp:+14155550100"
#define BUSINESS "whatsapp:+14155238886"
#define ACCOUNT_SID "AC0123456789abcdef0123456789abcdef"
#define WEBHOOK_PATH "/whatsapp/webhook"

#define LISTEN_PREFIX "wabot-server listening on http://"
#define BOT_PREFIX "[bot -> "
#define CONTINUATION "    "
#define START_TIMEOUT_MS 10000
#define FIRST_REPLY_TIMEOUT_MS 3000 /* the first bot line of an answer */
#define QUIET_MS 300                /* no new line for this long: done */
#define WORKER_TIMEOUT_MS 10000     /* the jobs a message queued */
#define STOP_TIMEOUT_MS 5000

/* One scripted customer message and what it shows. */
typedef struct step {
    const char *note;
    const char *text;
    const char *button_payload; /* NULL: a typed message */
    const char *wait_for; /* NULL, or a bot line to wait for (workers) */
} step;

static const step SCRIPT[] = {
    {"keyword route: case and punctuation are folded", "Hi!", NULL, NULL},
    {"the menu from the catalog, grouped by category", "menu", NULL, NULL},
    {"free text through the product matcher into the cart", "2 coke", NULL,
     NULL},
    {"more, in words (\"a\" is one)", "and a pizza please", NULL,
     NULL},
    {"a word the menu does not have gets a helpful answer", "1 unicorn",
     NULL, NULL},
    {"the cart lives in the conversation's session", "cart", NULL, NULL},
    {"confirm places the order; the order-processing worker takes the stock "
     "and confirms it, the invoice worker sends the invoice as a PDF",
     "confirm", NULL, "[media "},
};
#define SCRIPT_LEN (sizeof SCRIPT / sizeof SCRIPT[0])

/* ------------------------------------------------------------------ */
/* Time                                                                */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* The server child and its output                                     */

typedef struct line_reader {
    int fd; /* -1 after EOF */
    char buf[16384];
    size_t len;
} line_reader;

typedef struct child {
    pid_t pid;
    line_reader out; /* the bot's console lines */
    line_reader err; /* logs */
} child;

/* Pop one complete line (without the newline) into `line`. A line longer
 * than the buffer is returned in pieces rather than blocking forever. */
static int reader_pop(line_reader *r, char *line, size_t size)
{
    char *nl = memchr(r->buf, '\n', r->len);
    size_t n;
    if (nl != NULL)
        n = (size_t)(nl - r->buf);
    else if (r->len == sizeof r->buf || (r->fd < 0 && r->len > 0))
        n = r->len;
    else
        return 0;
    size_t copy = n < size - 1 ? n : size - 1;
    memcpy(line, r->buf, copy);
    line[copy] = '\0';
    size_t used = nl != NULL ? n + 1 : n;
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
    return 1;
}

static void reader_fill(line_reader *r)
{
    ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
    if (n > 0) {
        r->len += (size_t)n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(r->fd);
        r->fd = -1;
    }
}

#define STOPPED_LINE "wabot-server stopped"

/* The server's log lines are shown as they come, so a warning is seen. */
static void show_logs(line_reader *err)
{
    char line[1024];
    while (reader_pop(err, line, sizeof line))
        if (strcmp(line, STOPPED_LINE) != 0)
            fprintf(stderr, "  server log: %s\n", line);
}

/*
 * Wait until `want` (the child's out or err reader) has a complete line,
 * reading both pipes meanwhile so the child never blocks on a full one.
 * Returns 1 with the line, 0 at the deadline or when `want` hit EOF.
 */
static int next_line(child *ch, line_reader *want, char *line, size_t size,
                     long long deadline)
{
    for (;;) {
        if (reader_pop(want, line, size))
            return 1;
        if (want != &ch->err)
            show_logs(&ch->err);
        long long left = deadline - now_ms();
        if (want->fd < 0 || left <= 0)
            return 0;
        struct pollfd p[2] = {{ch->out.fd, POLLIN, 0}, {ch->err.fd, POLLIN, 0}};
        if (ch->out.len == sizeof ch->out.buf)
            p[0].fd = -1; /* full: drain it before reading more */
        if (poll(p, 2, (int)left) < 0 && errno != EINTR)
            return 0;
        if (p[0].revents != 0)
            reader_fill(&ch->out);
        if (p[1].revents != 0)
            reader_fill(&ch->err);
    }
}

/* pipe2() is not POSIX; nothing else in this process forks, so setting
 * close-on-exec right after pipe() leaves no window that matters. */
static int pipe_cloexec(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return 0;
}

/* The auth token shared with the server: fresh for every run. */
static char auth_token[33];

static int make_auth_token(void)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(auth_token + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* The address the server listens on and its public URL: a free loopback
 * port picked here, so the invoice links can name it before the start. */
static char listen_addr[64], public_url[80];

static int pick_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    if (port > 0) {
        snprintf(listen_addr, sizeof listen_addr, "127.0.0.1:%d", port);
        snprintf(public_url, sizeof public_url, "http://127.0.0.1:%d", port);
    }
    return port;
}

static void spawn_exec(const char *path, int out, int err)
{
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    setenv("TWILIO_AUTH_TOKEN", auth_token, 1);
    setenv("META_APP_SECRET", auth_token, 1); /* unused; silences a warning */
    /* The signed URL is the one we call: from the Host header. */
    unsetenv("WABOT_INSECURE_SKIP_SIGNATURES");
    setenv("WABOT_LISTEN", listen_addr, 1);
    /* The invoice's PDF link points here (signed with a fresh secret). */
    setenv("WABOT_PUBLIC_URL", public_url, 1);
    setenv("WABOT_INVOICES_SECRET", auth_token, 1);
    setenv("WABOT_INVOICES_ORG_NAME", "Wabot Shop", 1);
    setenv("WABOT_BOT", "shop", 1);
    /* Maria types faster than WhatsApp's per-recipient pace (about one
     * business message per 6 s, with a burst): the demo lifts that limit
     * so the transcript does not wait. */
    setenv("WABOT_OPT_RATE_PAIR_PERIOD_MS", "0", 1);
    setenv("WABOT_LOG_LEVEL", "warn", 0); /* the user may ask for more */
    setenv("WABOT_ADMIN_TOKEN", auth_token, 1); /* the dashboard's token */
    execl(path, path, (char *)NULL);
    fprintf(stderr, "wabot-demo: cannot run %s: %s\n", path, strerror(errno));
    _exit(127);
}

static int spawn_server(const char *path, child *ch)
{
    int out[2], err[2];
    if (pipe_cloexec(out) != 0)
        return -1;
    if (pipe_cloexec(err) != 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    ch->pid = fork();
    if (ch->pid == 0)
        spawn_exec(path, out[1], err[1]);
    close(out[1]);
    close(err[1]);
    ch->out.fd = out[0];
    ch->err.fd = err[0];
    ch->out.len = ch->err.len = 0;
    if (ch->pid < 0) {
        close(out[0]);
        close(err[0]);
        return -1;
    }
    return 0;
}

/* Read log lines until the server says where it listens; returns the port
 * or -1. */
static int wait_for_port(child *ch)
{
    char line[1024];
    long long deadline = now_ms() + START_TIMEOUT_MS;
    while (next_line(ch, &ch->err, line, sizeof line, deadline)) {
        if (strncmp(line, LISTEN_PREFIX, strlen(LISTEN_PREFIX)) == 0) {
            const char *colon = strrchr(line, ':');
            return colon != NULL ? atoi(colon + 1) : -1;
        }
        fprintf(stderr, "  server log: %s\n", line);
    }
    return -1;
}

/* SIGTERM, then wait for both pipes to close and reap the exit status.
 * Returns the exit status, or -1 if it did not exit normally in time. */
static int stop_server(child *ch)
{
    kill(ch->pid, SIGTERM);
    char line[1024];
    long long deadline = now_ms() + STOP_TIMEOUT_MS;
    while (next_line(ch, &ch->out, line, sizeof line, deadline))
        printf("(late) %s\n", line);
    while (next_line(ch, &ch->err, line, sizeof line, deadline))
        if (strcmp(line, STOPPED_LINE) != 0)
            fprintf(stderr, "  server log: %s\n", line);
    if (ch->out.fd >= 0 || ch->err.fd >= 0) {
        fprintf(stderr, "wabot-demo: the server did not stop; killing it\n");
        kill(ch->pid, SIGKILL);
    }
    int status;
    if (waitpid(ch->pid, &status, 0) != ch->pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ------------------------------------------------------------------ */
/* The customer: Twilio webhooks over HTTP                             */

typedef struct customer {
    CURL *curl;
    char url[128];
    unsigned long next_id;
} customer;

static size_t discard_body(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

/* The parameters of one webhook, kept to sign them as well as send them. */
#define MAX_PARAMS 16
typedef struct param {
    const char *key, *value;
} param;

typedef struct params {
    param items[MAX_PARAMS];
    size_t n;
} params;

static void param_add(params *p, const char *key, const char *value)
{
    if (p->n < MAX_PARAMS)
        p->items[p->n++] = (param){key, value};
}

static int param_cmp(const void *a, const void *b)
{
    const param *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* X-Twilio-Signature: Base64(HMAC-SHA1(token, url + key1 + value1 + ...))
 * with the parameters sorted by name, then value. */
static int twilio_signature(const char *url, params *p, char out[29])
{
    char data[4096];
    size_t used = (size_t)snprintf(data, sizeof data, "%s", url);
    qsort(p->items, p->n, sizeof p->items[0], param_cmp);
    for (size_t i = 0; i < p->n && used < sizeof data; i++)
        used += (size_t)snprintf(data + used, sizeof data - used, "%s%s",
                                 p->items[i].key, p->items[i].value);
    if (used >= sizeof data)
        return -1;
    unsigned char mac[20];
    unsigned int len = 0;
    if (HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token),
             (const unsigned char *)data, used, mac, &len) == NULL)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, mac, (int)len);
    return 0;
}

/* Append "&key=value" (URL-encoded) to the form in `buf`. */
static int form_add(CURL *curl, char *buf, size_t size, const char *key,
                    const char *value)
{
    char *esc = curl_easy_escape(curl, value, 0);
    if (esc == NULL)
        return -1;
    size_t used = strlen(buf);
    int n = snprintf(buf + used, size - used, "%s%s=%s", used ? "&" : "", key,
                     esc);
    curl_free(esc);
    return (n < 0 || (size_t)n >= size - used) ? -1 : 0;
}

/* Twilio's MessageSid: "SM" and 32 hex digits, unique per message. */
static void make_message_sid(customer *c, char *sid, size_t size)
{
    snprintf(sid, size, "SM%08lx%08lx%016lx", (unsigned long)time(NULL),
             (unsigned long)getpid(), ++c->next_id);
}

/* The form body and its signature. `sid` must outlive `p`. */
static int build_form(customer *c, const step *s, char *sid, char *form,
                      size_t size, char sig[29])
{
    params p = {.n = 0};
    make_message_sid(c, sid, 40);
    param_add(&p, "MessageSid", sid);
    param_add(&p, "AccountSid", ACCOUNT_SID);
    param_add(&p, "From", CUSTOMER);
    param_add(&p, "To", BUSINESS);
    param_add(&p, "Body", s->text);
    param_add(&p, "ProfileName", CUSTOMER_NAME);
    param_add(&p, "NumMedia", "0");
    if (s->button_payload != NULL) {
        param_add(&p, "ButtonPayload", s->button_payload);
        param_add(&p, "ButtonText", s->text);
    }
    form[0] = '\0';
    int rc = 0;
    for (size_t i = 0; i < p.n; i++)
        rc |= form_add(c->curl, form, size, p.items[i].key,
                       p.items[i].value);
    return rc | twilio_signature(c->url, &p, sig);
}

/* POST one message; returns the HTTP status, or -1 if there was none. */
static long send_message(customer *c, const step *s)
{
    char form[2048], sid[40], sig[29], header[64];
    if (build_form(c, s, sid, form, sizeof form, sig) != 0)
        return -1;
    snprintf(header, sizeof header, "X-Twilio-Signature: %s", sig);
    struct curl_slist *headers = curl_slist_append(NULL, header);
    if (headers == NULL)
        return -1;
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        fprintf(stderr, "wabot-demo: POST %s: %s\n", c->url,
                curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* ------------------------------------------------------------------ */
/* The transcript                                                      */

/* Print the bot's lines for one message; returns how many messages the
 * bot sent. The console transport prints "[bot -> +E164] text" and indents
 * the continuation lines of a message by four spaces. */
/* The link of the last document the bot sent ("[media URL] caption"). */
static char document_url[1024];

static int print_bot_lines(child *ch, const char *wait_for)
{
    char line[4096];
    int messages = 0;
    long long deadline = now_ms() + (wait_for ? WORKER_TIMEOUT_MS
                                              : FIRST_REPLY_TIMEOUT_MS);
    while (next_line(ch, &ch->out, line, sizeof line, deadline)) {
        const char *end = strstr(line, "] ");
        if (strncmp(line, BOT_PREFIX, strlen(BOT_PREFIX)) == 0 && end) {
            printf("bot:   %s\n", end + 2);
            messages++;
            if (strncmp(end + 2, "[media ", 7) == 0)
                sscanf(end + 2 + 7, "%1023[^] ]", document_url);
        } else {
            const char *text = line;
            if (strncmp(text, CONTINUATION, strlen(CONTINUATION)) == 0)
                text += strlen(CONTINUATION);
            printf("       %s\n", text);
        }
        if (wait_for && strstr(line, wait_for))
            wait_for = NULL; /* what the workers send has come */
        deadline = now_ms() + (wait_for ? WORKER_TIMEOUT_MS : QUIET_MS);
    }
    return messages;
}

typedef struct tally {
    size_t sent, ok, answered;
    int bot_lines;
    int document_ok;
    int campaign_ok, reminder_ok;
} tally;

/* A response body: its first bytes (NUL-terminated) and its length. */
typedef struct answer {
    char text[8192];
    size_t kept, len;
} answer;

static size_t keep_body(char *data, size_t size, size_t n, void *ud)
{
    answer *a = ud;
    size_t got = size * n;
    size_t room = sizeof a->text - 1 - a->kept;
    size_t take = got < room ? got : room;
    memcpy(a->text + a->kept, data, take);
    a->kept += take;
    a->text[a->kept] = '\0';
    a->len += got;
    return got;
}

/* GET the invoice's PDF as the provider would and show its size. */
static int fetch_document(customer *c)
{
    if (!document_url[0]) {
        printf("\n(no document link in the transcript)\n");
        return 0;
    }
    static answer b;
    b.kept = b.len = 0;
    curl_easy_setopt(c->curl, CURLOPT_URL, document_url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c->curl);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    int pdf = rc == CURLE_OK && status == 200 && b.len > 5 &&
              memcmp(b.text, "%PDF-", 5) == 0;
    printf("\n  -- the provider fetches the document at its signed link\n"
           "GET %s\n       HTTP %ld, %zu bytes%s\n", document_url, status,
           b.len, pdf ? ", a PDF document" : " (not a PDF)");
    return pdf;
}

static void play_script(customer *c, child *ch, tally *t)
{
    for (size_t i = 0; i < SCRIPT_LEN; i++) {
        const step *s = &SCRIPT[i];
        if (s->note != NULL)
            printf("\n  -- %s\n", s->note);
        if (s->button_payload != NULL)
            printf("%s: [%s] (button, payload %s)\n", CUSTOMER_NAME, s->text,
                   s->button_payload);
        else
            printf("%s: %s\n", CUSTOMER_NAME, s->text);
        fflush(stdout);

        long status = send_message(c, s);
        t->sent++;
        if (status == 200)
            t->ok++;
        else
            printf("       (HTTP %ld)\n", status);
        int lines = print_bot_lines(ch, s->wait_for);
        if (lines > 0)
            t->answered++;
        else
            printf("       (no answer)\n");
        t->bot_lines += lines;
    }
}


/* ------------------------------------------------------------------ */
/* A campaign and a reminder over the admin API                        */

#define ADMIN_PREFIX "/whatsapp-v2"
#define MARIA_PHONE "+14155550100"

/* One admin call with the token; the answer's body in *a. Returns the
 * HTTP status, or -1. */
static long admin_call(customer *c, int port, const char *method,
                       const char *path, const char *json, answer *a)
{
    char url[256], auth[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d" ADMIN_PREFIX "%s", port,
             path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", auth_token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    if (h != NULL && json != NULL)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (h == NULL)
        return -1;
    a->kept = a->len = 0;
    a->text[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json);
    if (json == NULL)
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, a);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, NULL);
    curl_slist_free_all(h);
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "wabot-demo: %s %s: %s\n", method, url,
                curl_easy_strerror(rc));
    return status;
}

/* The string or number after "name": in a JSON text (no nesting
 * awareness: the first occurrence), into out. */
static const char *json_field(const char *text, const char *name, char *out,
                              size_t n)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(text, key);
    out[0] = '\0';
    if (p == NULL)
        return out;
    p += strlen(key);
    if (*p == '"')
        p++;
    size_t len = strcspn(p, "\",}");
    if (len >= n)
        len = n - 1;
    memcpy(out, p, len);
    out[len] = '\0';
    return out;
}

/* Poll `path` until its "status" is `want` (10 s at most); the last
 * answer stays in *a. */
static int wait_status(customer *c, int port, const char *path,
                       const char *want, answer *a)
{
    char status[32];
    long long deadline = now_ms() + WORKER_TIMEOUT_MS;
    do {
        if (admin_call(c, port, "GET", path, NULL, a) == 200 &&
            strcmp(json_field(a->text, "status", status, sizeof status),
                   want) == 0)
            return 1;
        poll(NULL, 0, 100);
    } while (now_ms() < deadline);
    return 0;
}

/* Three regulars (Maria, Joao who never wrote, Ana who opted out), a
 * campaign to them: Maria gets it, the others are skipped and counted. */
static int show_campaign(customer *c, child *ch, int port)
{
    answer a;
    printf("\n  -- a campaign over the admin API: three customers tagged "
           "\"regulars\" are imported\n"
           "     (Joao never wrote: outside the 24-hour window; Ana opted "
           "out)\n");
    long st = admin_call(c, port, "POST", "/customers/default/import",
                         "[{\"phone\":\"" MARIA_PHONE "\",\"tags\":"
                         "[\"regulars\"]},{\"phone\":\"+14155550101\","
                         "\"name\":\"Joao\",\"tags\":[\"regulars\"]},"
                         "{\"phone\":\"+14155550102\",\"name\":\"Ana\","
                         "\"tags\":[\"regulars\"],\"opted_out\":true}]",
                         &a);
    printf("POST %s/customers/default/import -> HTTP %ld\n", ADMIN_PREFIX,
           st);
    const char *body =
        "{\"organizationId\":\"default\",\"name\":\"Weekend offer\","
        "\"message\":\"Hi {{name|there}}! This weekend two pizzas for the "
        "price of one.\",\"type\":\"PROMOTIONAL\",\"targetAudience\":"
        "{\"type\":\"tags\",\"any\":[\"regulars\"]},\"startImmediately\":true}";
    st = admin_call(c, port, "POST", "/campaigns", body, &a);
    char id[64], path[128];
    json_field(a.text, "id", id, sizeof id);
    printf("POST %s/campaigns %s\n       -> HTTP %ld, campaign %s\n",
           ADMIN_PREFIX, body, st, id);
    if (st != 201)
        return 0;
    int lines = print_bot_lines(ch, "two pizzas");
    snprintf(path, sizeof path, "/campaigns/%s", id);
    int done = wait_status(c, port, path, "COMPLETED", &a);
    char sent[16], opted[16], window[16];
    json_field(a.text, "sent", sent, sizeof sent);
    json_field(a.text, "opted_out", opted, sizeof opted);
    json_field(a.text, "window_closed", window, sizeof window);
    printf("GET %s%s -> %s: sent %s, skipped opted_out %s, "
           "window_closed %s\n",
           ADMIN_PREFIX, path, done ? "COMPLETED" : "not completed", sent,
           opted, window);
    return done && lines == 1 && strcmp(sent, "1") == 0 &&
           strcmp(opted, "1") == 0 && strcmp(window, "1") == 0;
}

/* A reminder for Maria two seconds ahead: the reminders queue sends it
 * when due. */
static int show_reminder(customer *c, child *ch, int port)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t due = now.tv_sec + 2;
    struct tm tm;
    gmtime_r(&due, &tm);
    char when[40], body[512];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(body, sizeof body,
             "{\"organizationId\":\"default\",\"customerPhone\":\""
             MARIA_PHONE "\",\"type\":\"ORDER_PICKUP\",\"message\":\"Hi "
             "{{name|there}}, your order is ready for pickup.\","
             "\"scheduledFor\":\"%s\"}",
             when);
    printf("\n  -- a reminder over the admin API, due in two seconds\n");
    answer a;
    long st = admin_call(c, port, "POST", "/reminders", body, &a);
    char id[80], path[128], status[32];
    json_field(a.text, "id", id, sizeof id);
    printf("POST %s/reminders %s\n       -> HTTP %ld, reminder %s %s\n",
           ADMIN_PREFIX, body, st, id,
           json_field(a.text, "status", status, sizeof status));
    if (st != 201)
        return 0;
    long long posted = now_ms();
    int lines = print_bot_lines(ch, "ready for pickup");
    printf("       (%.1f s after the POST)\n", (now_ms() - posted) / 1000.0);
    snprintf(path, sizeof path, "/reminders/%s", id);
    int sent = wait_status(c, port, path, "SENT", &a);
    printf("GET %s%s -> %s\n", ADMIN_PREFIX, path, sent ? "SENT" : a.text);
    return sent && lines == 1;
}

/* ------------------------------------------------------------------ */

/* wabot-server from argv[1], or the one installed next to this program. */
static void find_server(int argc, char **argv, char *path, size_t size)
{
    if (argc > 1) {
        snprintf(path, size, "%s", argv[1]);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = '\0';
    else
        snprintf(self, sizeof self, "%s", argv[0]);
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        slash[1] = '\0';
    else
        self[0] = '\0';
    /* A path too long for the buffer leaves "" (exec then fails with a
     * clear message) instead of a truncated path to something else. */
    int w = snprintf(path, size, "%swabot-server", self[0] ? self : "./");
    if (w < 0 || (size_t)w >= size)
        path[0] = '\0';
}

static int run_demo(const char *server_path, child *ch, tally *t)
{
    int port = wait_for_port(ch);
    if (port <= 0) {
        fprintf(stderr, "wabot-demo: %s did not start\n", server_path);
        return -1;
    }
    customer c = {curl_easy_init(), "", 0};
    if (c.curl == NULL)
        return -1;
    snprintf(c.url, sizeof c.url, "http://127.0.0.1:%d%s", port, WEBHOOK_PATH);

    printf("libwabot demo: %s orders from the shop bot on WhatsApp.\n"
           "Each message is a Twilio webhook POSTed to %s,\n"
           "signed with X-Twilio-Signature as Twilio signs it;\n"
           "the bot's answers are the lines wabot-server prints.\n",
           CUSTOMER_NAME, c.url);
    play_script(&c, ch, t);
    t->document_ok = fetch_document(&c);
    t->campaign_ok = show_campaign(&c, ch, port);
    t->reminder_ok = show_reminder(&c, ch, port);
    /* The dashboard (doc/dashboard.md): WABOT_DEMO_DASHBOARD=1 keeps the
     * server up, replaying the chat every few seconds, until Ctrl-C. */
    const char *keep = getenv("WABOT_DEMO_DASHBOARD");
    printf("\nDashboard: http://127.0.0.1:%d/whatsapp-v2/dashboard  "
           "token: %s\n%s\n", port, auth_token, keep != NULL && *keep == '1'
           ? "(traffic keeps flowing; Ctrl-C stops the demo)"
           : "(to watch it there: WABOT_DEMO_DASHBOARD=1 make demo)");
    while (keep != NULL && *keep == '1' && sleep(3) == 0)
        play_script(&c, ch, t);
    curl_easy_cleanup(c.curl);
    return 0;
}

int main(int argc, char **argv)
{
    char server_path[PATH_MAX];
    find_server(argc, argv, server_path, sizeof server_path);
    signal(SIGPIPE, SIG_IGN);
    /* Keep the transcript and the server's log lines in order when both
     * go to one pipe (make demo | less). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return EXIT_FAILURE;
    if (make_auth_token() != 0) {
        fprintf(stderr, "wabot-demo: no randomness for the auth token\n");
        return EXIT_FAILURE;
    }

    child ch;
    if (pick_port() <= 0) {
        fprintf(stderr, "wabot-demo: no free loopback port\n");
        return EXIT_FAILURE;
    }
    if (spawn_server(server_path, &ch) != 0) {
        fprintf(stderr, "wabot-demo: cannot start %s: %s\n", server_path,
                strerror(errno));
        return EXIT_FAILURE;
    }
    tally t = {0, 0, 0, 0, 0, 0, 0};
    int ran = run_demo(server_path, &ch, &t);
    int exit_status = stop_server(&ch);
    curl_global_cleanup();

    int ok = ran == 0 && t.ok == SCRIPT_LEN && t.answered == SCRIPT_LEN &&
             t.document_ok && t.campaign_ok && t.reminder_ok &&
             exit_status == 0;
    printf("\n%zu messages: %zu answered HTTP 200, %zu got a reply "
           "(%d bot messages); wabot-server exited with status %d.\n",
           t.sent, t.ok, t.answered, t.bot_lines, exit_status);
    printf("Demo %s.\n", ok ? "OK" : "FAILED");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
