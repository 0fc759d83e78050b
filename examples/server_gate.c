/* The gate in front of libmicrohttpd (server_gate.h): accept, hold each
 * new connection until its first header block is whole and sound, then
 * hand it over. */
#define _GNU_SOURCE /* accept4 */
#include "server_gate.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER 16384 /* bytes of one header block */
#define MAX_WAITING 4096 /* connections held at once */
#define MAX_METHOD 16    /* longest method token accepted */

typedef struct waiting {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t deadline_ms;
} waiting;

struct server_gate {
    struct MHD_Daemon *d;
    gate_config cfg;
    int lfd, efd, wake;
    pthread_t thread;
    waiting *w; /* MAX_WAITING slots, n used */
    size_t n;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gate_listen(const struct sockaddr_storage *addr, unsigned *port)
{
    int family = addr->ss_family;
    socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)addr, len) != 0 ||
        listen(fd, 511) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    *port = ntohs(family == AF_INET6
                      ? ((struct sockaddr_in6 *)&bound)->sin6_port
                      : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

/* ------------------------------------------------------------------ */
/* Waiting connections                                                  */

static int same_client(const struct sockaddr_storage *a,
                       const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                       &((const struct sockaddr_in6 *)b)->sin6_addr,
                       sizeof(struct in6_addr));
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

static size_t clients_waiting(const server_gate *g,
                              const struct sockaddr_storage *addr)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += same_client(&g->w[i].addr, addr);
    return n;
}

static void forget(server_gate *g, size_t i)
{
    epoll_ctl(g->efd, EPOLL_CTL_DEL, g->w[i].fd, NULL);
    g->w[i] = g->w[--g->n];
}

/* Close, after reading what is there: closing with unread bytes would
 * reset the connection and could destroy an answer just written. */
static void drop(server_gate *g, size_t i)
{
    char sink[4096];
    int fd = g->w[i].fd;
    forget(g, i);
    shutdown(fd, SHUT_WR);
    while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
        ;
    close(fd);
}

/* One well-formed error answer, then the connection is dropped. */
static void refuse(server_gate *g, size_t i, unsigned status,
                   const char *reason, const char *code, const char *message)
{
    char body[256], head[256];
    int blen = snprintf(body, sizeof body,
                        "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                        code, message);
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n",
                        status, reason, blen);
    int fd = g->w[i].fd;
    if (send(fd, head, (size_t)hlen, MSG_NOSIGNAL | MSG_DONTWAIT) == hlen)
        send(fd, body, (size_t)blen, MSG_NOSIGNAL | MSG_DONTWAIT);
    drop(g, i);
}

static void accept_all(server_gate *g)
{
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(g->lfd, (struct sockaddr *)&addr, &len,
                         SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or an error the next accept may not have */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                 .data.fd = fd};
        if (g->n == MAX_WAITING ||
            clients_waiting(g, &addr) >= g->cfg.per_client ||
            epoll_ctl(g->efd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            continue;
        }
        g->w[g->n++] = (waiting){fd, addr, len,
                                 mono_ms() + g->cfg.header_timeout_ms};
    }
}

/* ------------------------------------------------------------------ */
/* Checks on the peeked bytes                                           */

typedef enum verdict { WAIT, PASS, GARBAGE, BAD_LENGTH, TOO_LARGE, HUGE }
    verdict;

/* A request line starts with a method token (upper-case letters) and a
 * blank, after at most a few empty lines. WAIT while what arrived can
 * still become one. */
static verdict request_line(const char *b, size_t n)
{
    size_t i = 0;
    while (i < n && i < 4 && (b[i] == '\r' || b[i] == '\n'))
        i++;
    size_t start = i;
    while (i < n && i - start < MAX_METHOD && isupper((unsigned char)b[i]))
        i++;
    if (i == n)
        return i - start < MAX_METHOD ? WAIT : GARBAGE;
    return i > start && b[i] == ' ' ? PASS : GARBAGE;
}

/* The Content-Length headers of the block b[0, n): each must be a plain
 * decimal, and none over max. */
static verdict content_length(const char *b, size_t n, size_t max)
{
    static const char name[] = "content-length:";
    for (const char *p = b; p && p < b + n;) {
        const char *eol = memchr(p, '\n', (size_t)(b + n - p));
        if ((size_t)(b + n - p) > sizeof name - 1 &&
            !strncasecmp(p, name, sizeof name - 1)) {
            const char *v = p + sizeof name - 1, *end = eol ? eol : b + n;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' ||
                               end[-1] == '\t'))
                end--;
            if (v == end)
                return BAD_LENGTH;
            uint64_t value = 0;
            int over = 0;
            for (const char *d = v; d < end; d++) {
                if (!isdigit((unsigned char)*d))
                    return BAD_LENGTH;
                if (value > (UINT64_MAX - 9) / 10)
                    over = 1;
                else
                    value = value * 10 + (uint64_t)(*d - '0');
            }
            if (over || value > max)
                return TOO_LARGE;
        }
        p = eol ? eol + 1 : NULL;
    }
    return PASS;
}

/* The end of the header block in b[0, n), or 0 when it has not come. */
static size_t header_end(const char *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] == '\n' && b[i + 1] == '\n')
            return i + 2;
        if (i + 3 < n && !memcmp(b + i, "\r\n\r\n", 4))
            return i + 4;
    }
    return 0;
}

static verdict inspect(const char *b, size_t n, size_t max_body)
{
    verdict v = request_line(b, n);
    if (v != PASS)
        return v;
    size_t end = header_end(b, n);
    if (!end)
        return n >= MAX_HEADER ? HUGE : WAIT;
    return content_length(b, end, max_body);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */

static void hand_over(server_gate *g, size_t i)
{
    waiting w = g->w[i];
    forget(g, i);
    int one = 1;
    setsockopt(w.fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    /* MHD closes the socket itself when it refuses it (per-client
     * limit, out of resources). */
    MHD_add_connection(g->d, w.fd, (const struct sockaddr *)&w.addr,
                       w.addrlen);
}

static void readable(server_gate *g, int fd, uint32_t events)
{
    size_t i = 0;
    while (i < g->n && g->w[i].fd != fd)
        i++;
    if (i == g->n)
        return;
    static char buf[MAX_HEADER]; /* the gate's thread only */
    ssize_t r = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        drop(g, i);
        return;
    }
    switch (inspect(buf, (size_t)r, g->cfg.max_body)) {
    case WAIT: {
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            drop(g, i); /* the client stopped sending: it cannot finish */
            return;
        }
        /* Wake up again only when more than this has arrived. */
        int low = (int)r + 1;
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low);
        return;
    }
    case PASS:
        hand_over(g, i);
        return;
    case GARBAGE:
        drop(g, i);
        return;
    case BAD_LENGTH:
        refuse(g, i, 400, "Bad Request", "malformed_request",
               "Content-Length is not a decimal number");
        return;
    case TOO_LARGE:
        refuse(g, i, 413, "Content Too Large", "body_too_large",
               "request body exceeds MAX_BODY_BYTES");
        return;
    case HUGE:
        refuse(g, i, 431, "Request Header Fields Too Large",
               "headers_too_large", "request headers exceed 16 KiB");
        return;
    }
}

/* Close what ran out of time; the wait until the next deadline. */
static int sweep(server_gate *g)
{
    int64_t now = mono_ms(), next = -1;
    for (size_t i = 0; i < g->n;) {
        if (g->w[i].deadline_ms <= now) {
            drop(g, i);
            continue;
        }
        if (next < 0 || g->w[i].deadline_ms - now < next)
            next = g->w[i].deadline_ms - now;
        i++;
    }
    return (int)next;
}

static void *gate_main(void *arg)
{
    server_gate *g = arg;
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(g->efd, ev, 64, sweep(g));
        for (int k = 0; k < n; k++) {
            if (ev[k].data.fd == g->wake)
                return NULL;
            if (ev[k].data.fd == g->lfd)
                accept_all(g);
            else
                readable(g, ev[k].data.fd, ev[k].events);
        }
    }
}

server_gate *gate_start(struct MHD_Daemon *d, int listen_fd,
                        const gate_config *cfg)
{
    server_gate *g = calloc(1, sizeof *g);
    if (!g || !(g->w = calloc(MAX_WAITING, sizeof *g->w))) {
        free(g);
        close(listen_fd);
        return NULL;
    }
    g->d = d;
    g->cfg = *cfg;
    g->lfd = listen_fd;
    g->efd = epoll_create1(EPOLL_CLOEXEC);
    g->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event l = {.events = EPOLLIN, .data.fd = listen_fd};
    struct epoll_event w = {.events = EPOLLIN, .data.fd = g->wake};
    if (g->efd < 0 || g->wake < 0 ||
        epoll_ctl(g->efd, EPOLL_CTL_ADD, listen_fd, &l) != 0 ||
        epoll_ctl(g->efd, EPOLL_CTL_ADD, g->wake, &w) != 0 ||
        pthread_create(&g->thread, NULL, gate_main, g) != 0) {
        if (g->efd >= 0)
            close(g->efd);
        if (g->wake >= 0)
            close(g->wake);
        close(listen_fd);
        free(g->w);
        free(g);
        return NULL;
    }
#ifdef __linux__
    /* Named here, not by the thread itself: the name is there before the
     * server says it is ready (top -H, perf; a test reads it at once). */
    pthread_setname_np(g->thread, "wabot-gate");
#endif
    return g;
}

void gate_stop(server_gate *g)
{
    if (!g)
        return;
    uint64_t one = 1;
    if (write(g->wake, &one, sizeof one) < 0)
        perror("wabot-server: gate");
    pthread_join(g->thread, NULL);
    close(g->lfd);
    while (g->n)
        drop(g, g->n - 1);
    close(g->efd);
    close(g->wake);
    free(g->w);
    free(g);
}
