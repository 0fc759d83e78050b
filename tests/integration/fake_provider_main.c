/*
 * fake-provider: the fake Twilio / Meta send API (fake_provider.h) as its
 * own process, for multi-process tests and benchmarks. Other processes
 * steer it through the /__fake/ control endpoints on the same port.
 *
 *   fake-provider [--port N] [--twilio-sid SID --twilio-token T]
 *                 [--meta-token T] [--meta-phone-id ID]
 *                 [--meta-version vNN.N] [--pool THREADS]
 *
 * --pool N serves every connection from N threads polling them (poll():
 * see fake_provider.c) instead of a thread per connection: the benchmark's setting (less CPU per request;
 * a delay fault then holds a pool thread).
 *
 * Prints "fake-provider listening on http://127.0.0.1:PORT" on stderr once
 * it accepts connections; SIGTERM or SIGINT stop it with exit status 0.
 */
#include "fake_provider.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: fake-provider [--port N] [--twilio-sid SID] "
          "[--twilio-token T]\n"
          "                     [--meta-token T] [--meta-phone-id ID] "
          "[--meta-version vNN.N]\n"
          "                     [--pool THREADS]\n",
          out);
}

static int parse_port(const char *v, int *port)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0 || n > 65535)
        return -1;
    *port = (int)n;
    return 0;
}

/* The option's value slot in cfg, or NULL for an unknown option. */
static const char **string_option(fp_config *cfg, const char *name)
{
    if (strcmp(name, "--twilio-sid") == 0)
        return &cfg->twilio_account_sid;
    if (strcmp(name, "--twilio-token") == 0)
        return &cfg->twilio_auth_token;
    if (strcmp(name, "--meta-token") == 0)
        return &cfg->meta_access_token;
    if (strcmp(name, "--meta-phone-id") == 0)
        return &cfg->meta_phone_number_id;
    if (strcmp(name, "--meta-version") == 0)
        return &cfg->meta_api_version;
    return NULL;
}

static int bad_option(const char *name, const char *value)
{
    fprintf(stderr, "fake-provider: bad option %s %s\n", name, value);
    return -1;
}

/* 0, 1 (--help), or -1 (bad arguments). */
static int parse_args(int argc, char **argv, fp_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
            return 1;
        if (i + 1 >= argc) {
            fprintf(stderr, "fake-provider: %s needs a value\n", name);
            return -1;
        }
        const char *value = argv[++i];
        const char **slot = string_option(cfg, name);
        if (slot != NULL) {
            *slot = value;
        } else if (strcmp(name, "--pool") == 0) {
            if (parse_port(value, &cfg->pool_threads) != 0 ||
                cfg->pool_threads > 64)
                return bad_option(name, value);
        } else if (strcmp(name, "--port") != 0 ||
                   parse_port(value, &cfg->port) != 0) {
            return bad_option(name, value);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    fp_config cfg = {.enable_control = 1};
    int rc = parse_args(argc, argv, &cfg);
    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }

    /* Block the stop signals before any thread exists, so every server
     * thread inherits the mask and only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    fp_server *s = fp_start(&cfg);
    if (s == NULL) {
        fprintf(stderr, "fake-provider: cannot listen on 127.0.0.1:%d\n",
                cfg.port);
        return 1;
    }
    fprintf(stderr, "fake-provider listening on %s\n", fp_base_url(s));
    fflush(stderr);

    int sig;
    sigwait(&stop, &sig);
    fp_stop(s);
    return 0;
}
