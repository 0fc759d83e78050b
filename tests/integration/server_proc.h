/*
 * Run a server program as a child process and watch its output.
 *
 * A reader thread collects the child's stdout and stderr line by line, so
 * the child never blocks on a full pipe and tests can wait for a line with
 * a deadline (condition variable, no sleeps). When both pipes close, the
 * thread reaps the child and records its exit status.
 *
 * The child gets SIGKILL if the thread that started it dies (Linux
 * PR_SET_PDEATHSIG), so a failing Check test never leaves a server behind.
 */
#ifndef WABOT_TEST_SERVER_PROC_H
#define WABOT_TEST_SERVER_PROC_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum sp_stream { SP_STDOUT = 0, SP_STDERR = 1 } sp_stream;

typedef struct sp_lines {
    char **items;
    size_t n, cap;
    char partial[65536]; /* bytes after the last newline */
    size_t partial_len;
    int eof;
} sp_lines;

typedef struct server_proc {
    pid_t pid;
    int port; /* from the "listening on" line (sp_start) */
    int fds[2];
    pthread_t reader;
    int reader_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sp_lines lines[2];
    int exited;      /* the child was reaped */
    int wait_status; /* its waitpid() status */
} server_proc;

/*
 * Start `path` with arguments `args` (NULL-terminated; may be NULL) and the
 * caller's environment, minus every inherited WABOT_* variable, plus `env`
 * ("NAME=VALUE" strings, NULL-terminated; may be NULL; when a name appears
 * twice, the later one wins). 0 or -1.
 */
int sp_spawn(server_proc *p, const char *path, const char *const *args,
             const char *const *env);

/* sp_spawn() without arguments, then wait (up to timeout_ms) for
 * "wabot-server listening on http://HOST:PORT" on stderr and set p->port.
 * 0, or -1 (the child is then killed and reaped; sp_free still needed). */
int sp_start(server_proc *p, const char *path, const char *const *env,
             int timeout_ms);

/* Wait until at least `count` lines of `s` contain `needle` (NULL: any
 * line). Returns 1, or 0 at the deadline / when the stream ended first. */
/* How many of the running child's threads are named `comm` (Linux:
 * /proc/<pid>/task/<tid>/comm, e.g. libmicrohttpd's "MHD-worker"), or -1
 * when /proc cannot be read. */
int sp_threads_named(const server_proc *p, const char *comm);

/* sp_threads_named() once at least `want` threads are named `comm` or
 * timeout_ms passed: a thread names itself after it starts, which may be
 * after the server said it is ready (a loaded machine). */
int sp_wait_threads_named(const server_proc *p, const char *comm, int want,
                          int timeout_ms);

int sp_wait_lines(server_proc *p, sp_stream s, const char *needle,
                  size_t count, int timeout_ms);

/* Lines of `s` containing `needle` (NULL: all lines), so far. */
size_t sp_count_lines(server_proc *p, sp_stream s, const char *needle);

/* Lines of `s` equal to `line`, so far. */
size_t sp_count_exact(server_proc *p, sp_stream s, const char *line);

/* Everything `s` printed so far, lines joined with '\n' (malloc'ed). */
char *sp_text(server_proc *p, sp_stream s);

/* Wait for the child to exit; 0 with *status (waitpid status), or -1 at
 * the deadline. */
int sp_wait_exit(server_proc *p, int timeout_ms, int *status);

/* kill(sig), then sp_wait_exit(). */
int sp_stop(server_proc *p, int sig, int timeout_ms, int *status);

/* Kill the child if still running, join the reader, free everything. */
void sp_free(server_proc *p);

/* A loopback TCP port nothing listens on now (for a server the test
 * starts on it, or whose own URL must name it in advance); -1 if none. */
int sp_free_port(void);

/* Sleep ms milliseconds (tests that poll something outside the process
 * with a deadline). */
void sp_sleep_ms(long ms);

#endif
