/* Child server process with line-by-line output capture (server_proc.h). */
#include "server_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

#define LISTEN_PREFIX "wabot-server listening on http://"

/* ------------------------------------------------------------------ */
/* Environment and exec                                                */

/* Whether `env` (NULL-terminated, may be NULL) sets entry's variable. */
static int sets_same_name(const char *entry, const char *const *env)
{
    size_t n = strcspn(entry, "=");
    for (; env != NULL && *env != NULL; env++)
        if (strncmp(*env, entry, n) == 0 && (*env)[n] == '=')
            return 1;
    return 0;
}

/* Built before fork(): after it, only async-signal-safe calls are allowed
 * in the child of a multithreaded process. */
static char **build_envp(const char *const *env)
{
    size_t n = 0, extra = 0;
    while (environ[n] != NULL)
        n++;
    while (env != NULL && env[extra] != NULL)
        extra++;
    char **envp = calloc(n + extra + 1, sizeof *envp);
    if (envp == NULL)
        return NULL;
    size_t k = 0;
    /* Inherited WABOT_* variables are dropped: only what the test passes
     * configures the server. */
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "WABOT_", 6) != 0 &&
            !sets_same_name(environ[i], env))
            envp[k++] = environ[i];
    /* As in a shell, the last setting of a variable wins. */
    for (size_t i = 0; i < extra; i++)
        if (!sets_same_name(env[i], env + i + 1))
            envp[k++] = (char *)env[i];
    return envp;
}

static char **build_argv(const char *path, const char *const *args)
{
    size_t n = 0;
    while (args != NULL && args[n] != NULL)
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (argv == NULL)
        return NULL;
    argv[0] = (char *)path;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    return argv;
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

static void child_exec(const char *path, char **argv, char **envp, int out,
                       int err, pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before prctl() */
        _exit(127);
#else
    (void)parent;
#endif
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execve(path, argv, envp);
    _exit(127);
}

/* ------------------------------------------------------------------ */
/* Reader thread                                                       */

static void lines_push(sp_lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **items = realloc(l->items, cap * sizeof *items);
        if (items == NULL)
            return;
        l->items = items;
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return;
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->items[l->n++] = copy;
}

/* Split what was read into lines; a line longer than the buffer is cut. */
static void lines_feed(sp_lines *l, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n' || l->partial_len == sizeof l->partial) {
            lines_push(l, l->partial, l->partial_len);
            l->partial_len = 0;
            if (data[i] == '\n')
                continue;
        }
        l->partial[l->partial_len++] = data[i];
    }
}

static void lines_end(sp_lines *l)
{
    if (l->partial_len > 0)
        lines_push(l, l->partial, l->partial_len);
    l->partial_len = 0;
    l->eof = 1;
}

static void read_stream(server_proc *p, int i)
{
    char buf[8192];
    ssize_t n = read(p->fds[i], buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    pthread_mutex_lock(&p->mu);
    if (n > 0) {
        lines_feed(&p->lines[i], buf, (size_t)n);
    } else {
        lines_end(&p->lines[i]);
        close(p->fds[i]);
        p->fds[i] = -1;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *reader_main(void *arg)
{
    server_proc *p = arg;
    while (p->fds[0] >= 0 || p->fds[1] >= 0) {
        struct pollfd pf[2] = {{p->fds[0], POLLIN, 0}, {p->fds[1], POLLIN, 0}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++)
            if (pf[i].fd >= 0 && pf[i].revents != 0)
                read_stream(p, i);
    }
    /* Both pipes closed: the child has exited or is about to. */
    int status = 0;
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&p->mu);
    p->exited = 1;
    p->wait_status = status;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Public functions                                                    */

int sp_spawn(server_proc *p, const char *path, const char *const *args,
             const char *const *env)
{
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->fds[0] = p->fds[1] = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);

    int out[2], err[2];
    char **envp = build_envp(env);
    char **argv = build_argv(path, args);
    if (envp == NULL || argv == NULL || pipe_cloexec(out) != 0)
        goto fail;
    if (pipe_cloexec(err) != 0) {
        close(out[0]);
        close(out[1]);
        goto fail;
    }
    pid_t parent = getpid();
    p->pid = fork();
    if (p->pid == 0)
        child_exec(path, argv, envp, out[1], err[1], parent);
    close(out[1]);
    close(err[1]);
    p->fds[0] = out[0];
    p->fds[1] = err[0];
    free(envp);
    free(argv);
    if (p->pid < 0 ||
        pthread_create(&p->reader, NULL, reader_main, p) != 0)
        return -1;
    p->reader_started = 1;
    return 0;
fail:
    free(envp);
    free(argv);
    return -1;
}

static struct timespec deadline_after(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static size_t count_matching(const sp_lines *l, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (needle == NULL || strstr(l->items[i], needle) != NULL)
            n++;
    return n;
}

int sp_threads_named(const server_proc *p, const char *comm)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[96], name[32] = "";
        snprintf(file, sizeof file, "/proc/%d/task/%.20s/comm", (int)p->pid,
                 e->d_name);
        FILE *f = fopen(file, "r");
        if (f == NULL)
            continue; /* the thread ended meanwhile */
        if (fgets(name, sizeof name, f) != NULL)
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
        n += strcmp(name, comm) == 0;
    }
    closedir(d);
    return n;
}

int sp_wait_threads_named(const server_proc *p, const char *comm, int want,
                          int timeout_ms)
{
    int n = sp_threads_named(p, comm);
    for (int waited = 0; n >= 0 && n < want && waited < timeout_ms;
         waited += 10) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        n = sp_threads_named(p, comm);
    }
    return n;
}

int sp_wait_lines(server_proc *p, sp_stream s, const char *needle,
                  size_t count, int timeout_ms)
{
    struct timespec dl = deadline_after(timeout_ms);
    pthread_mutex_lock(&p->mu);
    int ok;
    for (;;) {
        ok = count_matching(&p->lines[s], needle) >= count;
        if (ok || p->lines[s].eof ||
            pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (!ok) /* one last look: the wake-up may have brought the line */
        ok = count_matching(&p->lines[s], needle) >= count;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

size_t sp_count_lines(server_proc *p, sp_stream s, const char *needle)
{
    pthread_mutex_lock(&p->mu);
    size_t n = count_matching(&p->lines[s], needle);
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t sp_count_exact(server_proc *p, sp_stream s, const char *line)
{
    pthread_mutex_lock(&p->mu);
    size_t n = 0;
    for (size_t i = 0; i < p->lines[s].n; i++)
        if (strcmp(p->lines[s].items[i], line) == 0)
            n++;
    pthread_mutex_unlock(&p->mu);
    return n;
}

char *sp_text(server_proc *p, sp_stream s)
{
    pthread_mutex_lock(&p->mu);
    const sp_lines *l = &p->lines[s];
    size_t len = 1;
    for (size_t i = 0; i < l->n; i++)
        len += strlen(l->items[i]) + 1;
    char *text = malloc(len);
    if (text != NULL) {
        text[0] = '\0';
        for (size_t i = 0; i < l->n; i++) {
            strcat(text, l->items[i]);
            strcat(text, "\n");
        }
    }
    pthread_mutex_unlock(&p->mu);
    return text;
}

/* The port from the "listening on" line, or -1 if there is none yet. */
static int find_port(server_proc *p)
{
    int port = -1;
    pthread_mutex_lock(&p->mu);
    const sp_lines *l = &p->lines[SP_STDERR];
    for (size_t i = 0; i < l->n && port < 0; i++) {
        if (strncmp(l->items[i], LISTEN_PREFIX, strlen(LISTEN_PREFIX)) != 0)
            continue;
        const char *colon = strrchr(l->items[i], ':');
        port = colon != NULL ? atoi(colon + 1) : -1;
    }
    pthread_mutex_unlock(&p->mu);
    return port;
}

int sp_start(server_proc *p, const char *path, const char *const *env,
             int timeout_ms)
{
    if (sp_spawn(p, path, NULL, env) != 0)
        return -1;
    if (sp_wait_lines(p, SP_STDERR, LISTEN_PREFIX, 1, timeout_ms))
        p->port = find_port(p);
    if (p->port > 0)
        return 0;
    char *err = sp_text(p, SP_STDERR);
    fprintf(stderr, "server did not start; its stderr:\n%s", err ? err : "");
    free(err);
    int status;
    sp_stop(p, SIGKILL, timeout_ms, &status);
    return -1;
}

int sp_wait_exit(server_proc *p, int timeout_ms, int *status)
{
    struct timespec dl = deadline_after(timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (!p->exited &&
           pthread_cond_timedwait(&p->cv, &p->mu, &dl) != ETIMEDOUT)
        ;
    int exited = p->exited;
    if (exited && status != NULL)
        *status = p->wait_status;
    pthread_mutex_unlock(&p->mu);
    return exited ? 0 : -1;
}

int sp_stop(server_proc *p, int sig, int timeout_ms, int *status)
{
    if (p->pid <= 0)
        return -1;
    pthread_mutex_lock(&p->mu);
    int exited = p->exited;
    pthread_mutex_unlock(&p->mu);
    if (!exited)
        kill(p->pid, sig);
    return sp_wait_exit(p, timeout_ms, status);
}

void sp_free(server_proc *p)
{
    if (p->reader_started) {
        int status;
        if (sp_wait_exit(p, 0, &status) != 0)
            sp_stop(p, SIGKILL, 10000, &status);
        pthread_join(p->reader, NULL);
        p->reader_started = 0;
    }
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < p->lines[s].n; i++)
            free(p->lines[s].items[i]);
        free(p->lines[s].items);
        p->lines[s].items = NULL;
        p->lines[s].n = p->lines[s].cap = 0;
        if (p->fds[s] >= 0)
            close(p->fds[s]);
        p->fds[s] = -1;
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

int sp_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

void sp_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
