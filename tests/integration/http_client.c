/* Blocking HTTP client for the integration tests (http_client.h). */
#include "http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define REQUEST_TIMEOUT_MS 20000L

struct http_client {
    CURL *curl;
};

http_client *http_client_new(void)
{
    http_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void http_client_free(http_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

void http_result_free(http_result *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    http_result *r = ud;
    size_t add = size * n;
    char *body = realloc(r->body, r->len + add + 1);
    if (body == NULL)
        return 0;
    memcpy(body + r->len, data, add);
    r->len += add;
    body[r->len] = '\0';
    r->body = body;
    return add;
}

/* Keep the raw lines of the last header block (a 100 Continue comes
 * first). */
static void keep_header_line(http_result *r, const char *data, size_t len)
{
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        r->headers[0] = '\0';
    size_t used = strlen(r->headers);
    if (len < sizeof r->headers - used) {
        memcpy(r->headers + used, data, len);
        r->headers[used + len] = '\0';
    }
}

const char *http_result_header(const http_result *r, const char *name,
                               char *out, size_t n)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            size_t vlen = len - nlen - 1;
            while (vlen > 0 && isspace((unsigned char)*v)) {
                v++;
                vlen--;
            }
            while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
                vlen--;
            snprintf(out, n, "%.*s", (int)vlen, v);
            return out;
        }
        line += len + (end != NULL);
    }
    return NULL;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    http_result *r = ud;
    size_t len = size * n;
    keep_header_line(r, data, len);
    static const char name[] = "content-type:";
    size_t nlen = sizeof name - 1;
    if (len > nlen && strncasecmp(data, name, nlen) == 0) {
        const char *v = data + nlen;
        size_t vlen = len - nlen;
        while (vlen > 0 && isspace((unsigned char)*v)) {
            v++;
            vlen--;
        }
        while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
            vlen--;
        if (vlen >= sizeof r->content_type)
            vlen = sizeof r->content_type - 1;
        memcpy(r->content_type, v, vlen);
        r->content_type[vlen] = '\0';
    }
    return len;
}

/* Feeds a chunked upload from memory. */
typedef struct upload {
    const char *data;
    size_t len, off;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    upload *u = ud;
    size_t room = size * n, left = u->len - u->off;
    size_t take = left < room ? left : room;
    memcpy(buf, u->data + u->off, take);
    u->off += take;
    return take;
}

static struct curl_slist *body_headers(const char *content_type,
                                       http_body_mode mode)
{
    struct curl_slist *h = NULL;
    char ct[160];
    if (content_type != NULL) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    /* curl decides on its own when to ask for 100-continue; tests say. */
    h = curl_slist_append(h, mode == HTTP_BODY_EXPECT
                                 ? "Expect: 100-continue"
                                 : "Expect:");
    if (mode == HTTP_BODY_CHUNKED)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    return h;
}

static void set_body(CURL *curl, const char *body, size_t len,
                     http_body_mode mode, upload *u)
{
    if (mode == HTTP_BODY_CHUNKED) {
        u->data = body;
        u->len = len;
        u->off = 0;
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, u);
        return;
    }
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
}

int http_request(http_client *c, const char *method, const char *url,
                 const char *content_type, const char *body, size_t len,
                 http_body_mode mode, http_result *out)
{
    return http_request_h(c, method, url, content_type, NULL, body, len,
                          mode, out);
}

int http_request_h(http_client *c, const char *method, const char *url,
                   const char *content_type, const char *const *extra,
                   const char *body, size_t len, http_body_mode mode,
                   http_result *out)
{
    memset(out, 0, sizeof *out);
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);

    upload u;
    struct curl_slist *headers = NULL;
    int has_body = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
    if (has_body) {
        headers = body_headers(content_type, mode);
        set_body(curl, body, len, mode, &u);
    }
    for (; extra != NULL && *extra != NULL; extra++)
        headers = curl_slist_append(headers, *extra);
    if (headers != NULL)
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L); /* no body to wait for */
    else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);

    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
        out->status = 0;
        return -1;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->body == NULL)
        out->body = calloc(1, 1);
    return 0;
}

static int is_unreserved(unsigned char ch)
{
    return isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

int http_form_add(char **form, const char *key, const char *value)
{
    size_t old = *form != NULL ? strlen(*form) : 0;
    size_t need = old + 1 + 3 * (strlen(key) + strlen(value)) + 2;
    char *s = realloc(*form, need);
    if (s == NULL)
        return -1;
    char *p = s + old;
    if (old > 0)
        *p++ = '&';
    const char *parts[2] = {key, value};
    for (int i = 0; i < 2; i++) {
        const unsigned char *q = (const unsigned char *)parts[i];
        for (; *q != '\0'; q++) {
            if (is_unreserved(*q))
                *p++ = (char)*q;
            else
                p += sprintf(p, "%%%02X", *q);
        }
        if (i == 0)
            *p++ = '=';
    }
    *p = '\0';
    *form = s;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Bursts on many kept-alive connections                                */

/* Whether process pid is stopped (Linux: state T in /proc/pid/stat). */
static int is_stopped(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/* Stop pid and wait until it is; 0 or -1. */
static int stop_process(pid_t pid)
{
    if (kill(pid, SIGSTOP) != 0)
        return -1;
    for (int i = 0; i < 5000; i++) {
        if (is_stopped(pid))
            return 0;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return -1;
}

/* One round: req on every connection (while pid, when > 0, is stopped,
 * so that they are all waiting when it runs again), then every answer
 * (one segment holding `expect`), none more than ms after the one
 * before. 0, or -1 with why. */
static int burst_once(const int *fds, int n, const char *req,
                      const char *expect, int ms, pid_t pid, char *why,
                      size_t wn)
{
    size_t len = strlen(req);
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    if (!pf) {
        snprintf(why, wn, "out of memory");
        return -1;
    }
    int rc = 0;
    if (pid > 0 && stop_process(pid) != 0) {
        snprintf(why, wn, "cannot stop process %d", (int)pid);
        rc = -1;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        pf[i] = (struct pollfd){fds[i], POLLIN, 0};
        if (send(fds[i], req, len, MSG_NOSIGNAL) != (ssize_t)len) {
            snprintf(why, wn, "send on connection %d failed", i);
            rc = -1;
        }
    }
    if (pid > 0)
        kill(pid, SIGCONT);
    int left = n;
    while (left > 0 && rc == 0) {
        if (poll(pf, (nfds_t)n, ms) <= 0) {
            snprintf(why, wn, "%d of %d answers missing, none for %d ms",
                     left, n, ms);
            rc = -1;
            break;
        }
        for (int i = 0; i < n && rc == 0; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & POLLIN))
                continue;
            char b[4096];
            ssize_t r = recv(pf[i].fd, b, sizeof b - 1, 0);
            if (r <= 0) {
                snprintf(why, wn, "connection %d closed", i);
                rc = -1;
                break;
            }
            b[r] = '\0';
            if (!strstr(b, expect)) {
                snprintf(why, wn, "connection %d answered %.60s", i, b);
                rc = -1;
                break;
            }
            pf[i].fd = -1;
            left--;
        }
    }
    free(pf);
    return rc;
}

int http_bursts(int port, int n, const char *req, const char *expect,
                int rounds, int ms, pid_t pid, char *why, size_t wn)
{
    if (n <= 0) {
        snprintf(why, wn, "no connections");
        return -1;
    }
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) {
        snprintf(why, wn, "out of memory");
        return -1;
    }
    int opened = 0, failed = 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (; opened < n; opened++) {
        fds[opened] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[opened] < 0 ||
            connect(fds[opened], (struct sockaddr *)&a, sizeof a) != 0) {
            if (fds[opened] >= 0)
                close(fds[opened]);
            snprintf(why, wn, "connection %d: %s", opened, strerror(errno));
            failed = -1;
            break;
        }
    }
    for (int r = 0; r < rounds && failed == 0; r++) {
        char w[200];
        if (burst_once(fds, n, req, expect, ms, pid, w, sizeof w) != 0) {
            snprintf(why, wn, "round %d of %d: %s", r + 1, rounds, w);
            failed = r + 1;
        }
    }
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    return failed;
}
