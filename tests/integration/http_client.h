/*
 * A small blocking HTTP client over libcurl for the integration tests.
 * One http_client per thread (a curl easy handle keeps its connection
 * alive between requests).
 */
#ifndef WABOT_TEST_HTTP_CLIENT_H
#define WABOT_TEST_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

typedef struct http_client http_client;

typedef struct http_result {
    long status;           /* 0 if no response arrived */
    char *body;            /* NUL-terminated; malloc'ed */
    size_t len;
    char content_type[128];
    char error[256];       /* curl's message when status is 0 */
    char headers[2048];    /* the final response's header lines, raw */
} http_result;

/* How the request body is sent. */
typedef enum http_body_mode {
    HTTP_BODY_LENGTH = 0,   /* Content-Length, no "Expect: 100-continue" */
    HTTP_BODY_EXPECT = 1,   /* Content-Length and "Expect: 100-continue" */
    HTTP_BODY_CHUNKED = 2   /* Transfer-Encoding: chunked (no length) */
} http_body_mode;

http_client *http_client_new(void);
void http_client_free(http_client *c);

/*
 * Send one request. `content_type` may be NULL (no header), `body` NULL
 * when len is 0. Returns 0 when a response arrived (any status), -1
 * otherwise (out->error says why). Free out with http_result_free().
 */
int http_request(http_client *c, const char *method, const char *url,
                 const char *content_type, const char *body, size_t len,
                 http_body_mode mode, http_result *out);

/* http_request() with extra request headers: "Name: value" strings,
 * NULL-terminated (may be NULL). */
int http_request_h(http_client *c, const char *method, const char *url,
                   const char *content_type, const char *const *extra,
                   const char *body, size_t len, http_body_mode mode,
                   http_result *out);

void http_result_free(http_result *r);

/* The value of the first response header called `name` (case-
 * insensitive, blanks around the value trimmed) into out[0..n); NULL if
 * there is none. */
const char *http_result_header(const http_result *r, const char *name,
                               char *out, size_t n);

/* Append key=value (URL-encoded, '&'-separated) to a malloc'ed form
 * string *form (may start NULL). 0 or -1. */
int http_form_add(char **form, const char *key, const char *value);

/* Open n connections to 127.0.0.1:port and, `rounds` times, send req (a
 * request that keeps the connection alive) on every one of them, then
 * wait for every answer, each one segment containing `expect`; a round
 * fails when ms pass without an answer.
 * With pid > 0 (the server's process, not this one) the requests go out
 * while that process is stopped (SIGSTOP, SIGCONT after), so that it
 * finds them all waiting at once. Returns 0; the 1-based round that
 * failed; or -1 when the connections cannot be opened. why gets the
 * reason. */
int http_bursts(int port, int n, const char *req, const char *expect,
                int rounds, int ms, pid_t pid, char *why, size_t wn);

#endif
