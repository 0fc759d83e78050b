/* A real redis-server for tests: started on a free loopback port in its
 * own temporary directory, stopped (and restarted, for outage tests) on
 * demand. Under CI=true a missing redis-server is a test failure, never a
 * skip (tests check rh_available() and exit 77 only outside CI). */
#ifndef WABOT_REDIS_HARNESS_H
#define WABOT_REDIS_HARNESS_H

#include <sys/types.h>

typedef struct rh_server {
    pid_t pid;
    int port;
    char dir[256];   /* working directory (AOF, RDB, log) */
    int aof;
} rh_server;

/* Path of redis-server, or NULL when it is not installed. */
const char *rh_binary(void);

/* 1 if redis-server can be run. When it cannot: under CI=true prints why
 * and returns 0 so the caller fails; otherwise returns 0 as well (callers
 * then report a skip with exit code 77). */
int rh_available(void);

/* Start a fresh server (aof: appendonly yes, appendfsync always) on a free
 * port; waits until it answers PING. 0 on success. */
int rh_start(rh_server *s, int aof);
/* A test program's start (no AOF): 0 with s running; 77 (a skip) when
 * redis-server is not installed and CI is not "true"; EXIT_FAILURE when
 * it is missing under CI=true or does not start (said on stderr).
 * main() returns a non-zero result as its exit status. */
int rh_main_start(rh_server *s);
/* Stop it (SIGTERM, wait). The directory stays for a restart. */
void rh_stop(rh_server *s);
/* Kill it hard (SIGKILL): an outage without a clean shutdown. */
void rh_kill(rh_server *s);
/* Start again on the same port and directory (AOF replayed). 0 on success. */
int rh_restart(rh_server *s);
/* Stop if running and remove the directory. */
void rh_destroy(rh_server *s);
/* Run a command with redis-cli against the server; returns its exit code
 * and copies up to outsz-1 bytes of its stdout into out (may be NULL). */
int rh_cli(const rh_server *s, const char *args, char *out, size_t outsz);

/* How many times the server ran `cmd` (lower case, e.g. "evalsha";
 * commands inside scripts count), from INFO commandstats; 0 if never. */
long long rh_cmd_calls(const rh_server *s, const char *cmd);

#endif
