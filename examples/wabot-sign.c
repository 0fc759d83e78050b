/* wabot-sign: print the signature header a provider would send, so
 * requests to your own wabot-server can be made by hand (curl) with
 * signatures on, as in production.
 *
 *   wabot-sign twilio URL BODY   X-Twilio-Signature of a form BODY POSTed
 *                                to URL (key TWILIO_AUTH_TOKEN)
 *   wabot-sign meta BODY         X-Hub-Signature-256 of BODY
 *                                (key META_APP_SECRET)
 * BODY "-" reads the body from standard input. Prints the header's value
 * and a newline; exit 0, 1 on an error (message on stderr), 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wabot.h>

static const char USAGE[] =
    "usage: wabot-sign twilio URL BODY   (key: TWILIO_AUTH_TOKEN)\n"
    "       wabot-sign meta BODY         (key: META_APP_SECRET)\n"
    "BODY - reads the body from standard input.\n";

/* The body: the argument, or all of stdin for "-". Owned by the caller. */
static char *read_body(const char *arg, size_t *len)
{
    if (strcmp(arg, "-") != 0) {
        *len = strlen(arg);
        return strdup(arg);
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b != NULL) {
        size_t got = fread(b + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (nb == NULL) {
                free(b);
                return NULL;
            }
            b = nb;
        }
    }
    *len = n;
    return b;
}

static const char *key_from(const char *var)
{
    const char *k = getenv(var);
    if (k == NULL || *k == '\0') {
        fprintf(stderr, "wabot-sign: set %s to the secret the server uses\n",
                var);
        return NULL;
    }
    return k;
}

int main(int argc, char **argv)
{
    int twilio = argc == 4 && strcmp(argv[1], "twilio") == 0;
    int meta = argc == 3 && strcmp(argv[1], "meta") == 0;
    if (!twilio && !meta) {
        fputs(USAGE, argc > 1 && (strcmp(argv[1], "-h") == 0 ||
                                  strcmp(argv[1], "--help") == 0)
                         ? stdout
                         : stderr);
        return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    const char *key = key_from(twilio ? "TWILIO_AUTH_TOKEN" : "META_APP_SECRET");
    if (key == NULL)
        return 1;
    size_t len = 0;
    char *body = read_body(argv[twilio ? 3 : 2], &len);
    if (body == NULL) {
        fprintf(stderr, "wabot-sign: out of memory\n");
        return 1;
    }
    char sig[WABOT_META_SIGNATURE_SIZE]; /* the larger of the two */
    int rc = twilio ? wabot_twilio_signature_compute(key, argv[2], body, len,
                                                     sig, sizeof sig)
                    : wabot_meta_signature_compute(key, body, len, sig,
                                                   sizeof sig);
    free(body);
    if (rc != WABOT_OK) {
        fprintf(stderr, "wabot-sign: %s: %s\n", wabot_strerror(rc),
                wabot_errmsg());
        return 1;
    }
    puts(sig);
    return 0;
}
