/* See redis_harness.h. */
#include "redis_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *find_in_path(const char *name)
{
    static char buf[512];
    const char *dirs[] = {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(buf, sizeof buf, "%s/%s", dirs[i], name);
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return NULL;
}

const char *rh_binary(void)
{
    return find_in_path("redis-server");
}

int rh_available(void)
{
    if (rh_binary() && find_in_path("redis-cli"))
        return 1;
    const char *ci = getenv("CI");
    fprintf(stderr, "redis-server/redis-cli not installed%s\n",
            ci && strcmp(ci, "true") == 0 ? " (required under CI=true)" : "");
    return 0;
}

int rh_main_start(rh_server *s)
{
    if (!rh_available()) {
        const char *ci = getenv("CI");
        return ci != NULL && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    if (rh_start(s, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return EXIT_FAILURE;
    }
    return 0;
}

static int free_port(void)
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

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int rh_cli(const rh_server *s, const char *args, char *out, size_t outsz)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "redis-cli -h 127.0.0.1 -p %d %s 2>/dev/null",
             s->port, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = 0;
    char tmp[256];
    while (fgets(tmp, sizeof tmp, p)) {
        size_t l = strlen(tmp);
        if (out && n + l < outsz) {
            memcpy(out + n, tmp, l);
            n += l;
        }
    }
    if (out && outsz)
        out[n < outsz ? n : outsz - 1] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

long long rh_cmd_calls(const rh_server *s, const char *cmd)
{
    char out[16384], want[64];
    if (rh_cli(s, "INFO commandstats", out, sizeof out) != 0)
        return -1;
    snprintf(want, sizeof want, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(out, want);
    return p ? atoll(p + strlen(want)) : 0;
}

static int wait_ping(const rh_server *s)
{
    char out[64];
    for (int i = 0; i < 200; i++) {
        if (rh_cli(s, "PING", out, sizeof out) == 0 && strstr(out, "PONG"))
            return 0;
        sleep_ms(25);
    }
    return -1;
}

static int spawn(rh_server *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (chdir(s->dir) != 0)
            _exit(127);
        execl(rh_binary(), "redis-server", "--port", port, "--bind",
              "127.0.0.1", "--dir", s->dir, "--save", "",
              "--appendonly", s->aof ? "yes" : "no", "--appendfsync",
              "always", "--daemonize", "no", "--logfile", "redis.log",
              "--maxmemory-policy", "noeviction", (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    if (wait_ping(s) != 0) {
        rh_kill(s);
        return -1;
    }
    return 0;
}

int rh_start(rh_server *s, int aof)
{
    memset(s, 0, sizeof *s);
    s->aof = aof;
    snprintf(s->dir, sizeof s->dir, "/tmp/wabot-redis-XXXXXX");
    if (!rh_binary() || !mkdtemp(s->dir))
        return -1;
    for (int tries = 0; tries < 5; tries++) {
        s->port = free_port();
        if (s->port > 0 && spawn(s) == 0)
            return 0;
    }
    return -1;
}

static void reap(rh_server *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
}

void rh_stop(rh_server *s)
{
    reap(s, SIGTERM);
}

void rh_kill(rh_server *s)
{
    reap(s, SIGKILL);
}

int rh_restart(rh_server *s)
{
    rh_stop(s);
    return spawn(s);
}

void rh_destroy(rh_server *s)
{
    rh_stop(s);
    if (s->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}
