/* The C half of the bindings benchmark (tests/bindings/bench_turns.py):
 * N turns through one middleware and one keyword route (session counter
 * and a text reply) on memory storage, messages built beforehand, only
 * wabot_ctx_handle_message() timed. Prints one line:
 *   c <N> <seconds> <turns/s> <us/turn>
 * Usage: bench_turns [N]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <wabot.h>

static int counter(wabot_turn *t, void *ud)
{
    (*(long *)ud)++;
    return wabot_pipeline_next(t);
}

static int on_menu(wabot_turn *t, void *ud)
{
    (void)ud;
    int rc = wabot_turn_session_set_int(t, "n",
                                        wabot_turn_session_int(t, "n", 0) + 1);
    return rc != WABOT_OK ? rc : wabot_reply_text(t, "1. Coffee  2. Tea");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000, seen = 0;
    wabot_options *o = wabot_options_new();
    wabot_transport *rec = wabot_transport_recorder_new();
    wabot_options_set(o, "inbound_rate_count", "0");
    wabot_options_set_transport(o, rec);
    wabot_ctx *ctx = NULL;
    if (wabot_ctx_new(&ctx, o) != WABOT_OK)
        return 1;
    wabot_options_free(o);
    wabot_pipeline_use(ctx, "count", counter, &seen, NULL);
    wabot_route_keyword(ctx, NULL, "menu", on_menu, NULL, NULL);
    wabot_message **msgs = calloc((size_t)n, sizeof *msgs);
    char id[32], from[32];
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "b%ld", i);
        snprintf(from, sizeof from, "+1555%07ld", i % 100);
        msgs[i] = wabot_message_new(id, from, "");
        wabot_message_set_text(msgs[i], "menu");
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        if (wabot_ctx_handle_message(ctx, msgs[i]) != WABOT_OK)
            return 1;
    double dt = now_s() - t0;
    printf("c %ld %.3f %.0f %.2f\n", n, dt, (double)n / dt, dt * 1e6 / (double)n);
    for (long i = 0; i < n; i++)
        wabot_message_free(msgs[i]);
    free(msgs);
    wabot_ctx_free(ctx);
    wabot_transport_free(rec);
    return seen == n ? 0 : 1;
}
