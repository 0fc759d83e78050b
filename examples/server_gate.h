/*
 * The gate in front of libmicrohttpd: wabot-server's own listening socket
 * and accept loop. A new connection reaches libmicrohttpd
 * (MHD_add_connection) only once its first request's header block has
 * arrived whole and passed the checks below; until then the gate holds it
 * without reading a byte (it peeks), so libmicrohttpd parses everything
 * itself afterwards.
 *
 *  - header timeout: the header block must be complete within
 *    header_timeout_ms of the connection's opening, else the connection
 *    is closed (slowloris: one header byte every few seconds);
 *  - garbage: a connection whose first bytes are no HTTP request line (a
 *    TLS ClientHello, random bytes) is closed at once;
 *  - Content-Length: a value that is not a plain decimal gets one 400, a
 *    value over max_body (any size, overflowing ones included) one 413,
 *    both well-formed JSON errors written by the gate, then the connection
 *    is closed (libmicrohttpd 0.9.75 writes its own error answers' header
 *    block twice);
 *  - per-client limit: at most per_client connections per client address
 *    wait in the gate (libmicrohttpd applies the same limit, with
 *    MHD_OPTION_PER_IP_CONNECTION_LIMIT, to those it serves);
 *  - a header block over 16 KiB: one 431, closed.
 *
 * One thread, epoll, level-triggered; a waiting connection's SO_RCVLOWAT
 * is set one past what was peeked, so it wakes the gate only when more
 * arrives. Later requests on a kept-alive connection are libmicrohttpd's
 * (its idle timeout and the server's own Content-Length check apply).
 */
#ifndef WABOT_SERVER_GATE_H
#define WABOT_SERVER_GATE_H

#include <stddef.h>
#include <sys/socket.h>

#include <microhttpd.h>

typedef struct server_gate server_gate;

typedef struct gate_config {
    int header_timeout_ms;
    unsigned per_client;
    size_t max_body;
} gate_config;

/* A listening socket on addr (SO_REUSEADDR, backlog 511); -1 on error
 * (errno set). *port gets the bound port. */
int gate_listen(const struct sockaddr_storage *addr, unsigned *port);

/* Start the gate's thread on listen_fd (owned from now on), handing
 * connections to d. NULL on error. */
server_gate *gate_start(struct MHD_Daemon *d, int listen_fd,
                        const gate_config *cfg);

/* Stop accepting: the listening socket and every connection still in
 * the gate are closed, the thread joined. NULL is a no-op. */
void gate_stop(server_gate *g);

#endif
