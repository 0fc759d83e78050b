/* How fast is the memory job backend?
 *
 * Pushes N jobs through enqueue, reserve and complete on the memory
 * scheduler, phase by phase (all enqueues, then all reserves, then all
 * completes, then one trim of the completed jobs), first on one thread and
 * then on two threads sharing the scheduler. Each run is a child process,
 * so its peak resident set size is its own. Prints jobs/s per phase and
 * the peak RSS. Then the steady state a worker sees: the same N jobs
 * flowing through in rounds of FLOW jobs (enqueue FLOW, reserve them,
 * complete them, trim the completed ones to the default retention of 1000),
 * so the queue stays small, on one thread and on two threads each with its
 * own rounds on the shared queue. Figures only: nothing here asserts on
 * time. Usage: bench_jobs [N] (default 1000000). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <wabot.h>
#include <wabot/jobs.h>

#define T0 1767225600000LL
#define QUEUE "outbound"
#define PAYLOAD "{\"to\":\"+14155550100\",\"text\":\"Your order is ready\"}"

typedef struct phase_arg {
    wabot_scheduler *s;
    uint64_t *tokens; /* by job index, filled by reserve */
    int from, to;     /* job index range of this thread */
    int errors;
    pthread_t tid;
} phase_arg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

/* A record of the default spec with the bench payload, due at T0, whose
 * id is the caller's buffer `id`. */
static void job_record_init(wabot_job_record *r, char *id)
{
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    memset(r, 0, sizeof *r);
    r->version = WABOT_JOB_RECORD_VERSION;
    r->id = id;
    r->payload = PAYLOAD;
    r->payload_len = sizeof PAYLOAD - 1;
    r->max_attempts = spec.max_attempts;
    r->backoff = spec.backoff;
    r->backoff_ms = spec.backoff_ms;
    r->backoff_max_ms = spec.backoff_max_ms;
    r->jitter_pct = spec.jitter_pct;
    r->created_ms = T0;
    r->run_at_ms = T0;
}

static void *enqueue_range(void *p)
{
    phase_arg *a = p;
    char id[32];
    wabot_job_record r;
    job_record_init(&r, id);
    for (int i = a->from; i < a->to; i++) {
        snprintf(id, sizeof id, "job-%d", i);
        if (wabot_scheduler_enqueue(a->s, QUEUE, &r, T0) != WABOT_OK)
            a->errors++;
    }
    return NULL;
}

/* Reserve as many jobs as this thread's share; remember each token. */
static void *reserve_range(void *p)
{
    phase_arg *a = p;
    wabot_job_info *out = wabot_job_info_new();
    for (int n = a->from; n < a->to; n++) {
        if (wabot_scheduler_reserve(a->s, QUEUE, T0, 60000, out) !=
            WABOT_OK) {
            a->errors++;
            continue;
        }
        const wabot_job_record *r = wabot_job_info_record(out);
        a->tokens[atoi(r->id + 4)] = r->token;
    }
    wabot_job_info_free(out);
    return NULL;
}

static void *complete_range(void *p)
{
    phase_arg *a = p;
    char id[32];
    for (int i = a->from; i < a->to; i++) {
        snprintf(id, sizeof id, "job-%d", i);
        if (wabot_scheduler_complete(a->s, QUEUE, id, a->tokens[i], T0 + 1) !=
            WABOT_OK)
            a->errors++;
    }
    return NULL;
}

/* Run fn on `threads` threads over [0, n); returns elapsed seconds. */
static double run_phase(void *(*fn)(void *), wabot_scheduler *s,
                        uint64_t *tokens, int n, int threads, int *errors)
{
    phase_arg args[8];
    double t = now_s();
    for (int k = 0; k < threads; k++) {
        args[k] = (phase_arg){.s = s,
                              .tokens = tokens,
                              .from = (int)((long)n * k / threads),
                              .to = (int)((long)n * (k + 1) / threads)};
        if (threads == 1)
            fn(&args[k]);
        else
            pthread_create(&args[k].tid, NULL, fn, &args[k]);
    }
    for (int k = 0; k < threads && threads > 1; k++)
        pthread_join(args[k].tid, NULL);
    for (int k = 0; k < threads; k++)
        *errors += args[k].errors;
    return now_s() - t;
}

static void print_phase(const char *name, int n, double secs)
{
    printf("  %-9s %9.0f jobs/s  (%.3f s)\n", name, n / secs, secs);
}

static int bench(int n, int threads)
{
    wabot_scheduler *s = wabot_scheduler_memory_new();
    uint64_t *tokens = calloc((size_t)n, sizeof *tokens);
    if (s == NULL || tokens == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int errors = 0;
    printf("%d job(s), %d thread(s):\n", n, threads);
    double t_enq = run_phase(enqueue_range, s, tokens, n, threads, &errors);
    print_phase("enqueue", n, t_enq);
    double t_res = run_phase(reserve_range, s, tokens, n, threads, &errors);
    print_phase("reserve", n, t_res);
    double t_com = run_phase(complete_range, s, tokens, n, threads, &errors);
    print_phase("complete", n, t_com);
    printf("  %-9s %9.0f jobs/s  (all three phases)\n", "total",
           n / (t_enq + t_res + t_com));
    printf("  peak RSS after complete: %.1f MiB\n", peak_rss_kib() / 1024.0);

    int64_t removed = 0;
    double t = now_s();
    wabot_scheduler_trim(s, QUEUE, WABOT_JOB_COMPLETED, 0, 0, &removed);
    print_phase("trim", (int)removed, now_s() - t);

    if (errors != 0 || removed != n)
        fprintf(stderr, "  UNEXPECTED: %d error(s), %lld trimmed\n", errors,
                (long long)removed);
    free(tokens);
    wabot_scheduler_free(s);
    return errors != 0;
}

/* Run bench(n, threads) in a child so each run's peak RSS is its own. */
static int bench_in_child(int n, int threads)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return bench(n, threads);
    if (pid == 0) {
        int rc = bench(n, threads);
        printf("  peak RSS of this run: %.1f MiB\n", peak_rss_kib() / 1024.0);
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 1;
    return WEXITSTATUS(status);
}

#define FLOW 100     /* jobs per round of the steady-state run */
#define RETAIN 1000 /* completed jobs kept (the library's default) */

typedef struct flow_arg {
    wabot_scheduler *s;
    int from, to;
    int errors;
    pthread_t tid;
} flow_arg;

/* Jobs [from, to) through enqueue, reserve and complete in rounds of FLOW,
 * trimming the completed list to RETAIN after each round. */
static void *flow_range(void *p)
{
    flow_arg *a = p;
    char id[32];
    wabot_job_record r;
    job_record_init(&r, id);
    wabot_job_info *out = wabot_job_info_new();
    char (*ids)[32] = malloc(FLOW * sizeof *ids);
    uint64_t tokens[FLOW];
    for (int base = a->from; base < a->to; base += FLOW) {
        int n = a->to - base < FLOW ? a->to - base : FLOW;
        for (int i = 0; i < n; i++) {
            snprintf(id, sizeof id, "job-%d", base + i);
            a->errors += wabot_scheduler_enqueue(a->s, QUEUE, &r, T0) != 0;
        }
        /* With two threads a reserve may take the other's job: complete
         * whatever was reserved, by the id and token reserve gave. */
        for (int i = 0; i < n; i++) {
            if (wabot_scheduler_reserve(a->s, QUEUE, T0, 60000, out) != 0) {
                a->errors++;
                tokens[i] = 0;
                continue;
            }
            const wabot_job_record *got = wabot_job_info_record(out);
            snprintf(ids[i], sizeof ids[i], "%s", got->id);
            tokens[i] = got->token;
        }
        for (int i = 0; i < n; i++)
            if (tokens[i] != 0)
                a->errors += wabot_scheduler_complete(a->s, QUEUE, ids[i],
                                                      tokens[i], T0 + 1) != 0;
        int64_t removed = 0;
        wabot_scheduler_trim(a->s, QUEUE, WABOT_JOB_COMPLETED, RETAIN, 0,
                             &removed);
    }
    free(ids);
    wabot_job_info_free(out);
    return NULL;
}

static int bench_flow(int n, int threads)
{
    wabot_scheduler *s = wabot_scheduler_memory_new();
    if (s == NULL)
        return 1;
    flow_arg args[8];
    double t = now_s();
    for (int k = 0; k < threads; k++) {
        args[k] = (flow_arg){.s = s,
                             .from = (int)((long)n * k / threads),
                             .to = (int)((long)n * (k + 1) / threads)};
        pthread_create(&args[k].tid, NULL, flow_range, &args[k]);
    }
    int errors = 0;
    for (int k = 0; k < threads; k++) {
        pthread_join(args[k].tid, NULL);
        errors += args[k].errors;
    }
    double secs = now_s() - t;
    printf("%d job(s) in rounds of %d, %d thread(s): %9.0f jobs/s "
           "(enqueue + reserve + complete, %.3f s)\n",
           n, FLOW, threads, n / secs, secs);
    if (errors != 0)
        fprintf(stderr, "  UNEXPECTED: %d error(s)\n", errors);
    wabot_scheduler_free(s);
    return errors != 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [jobs]\n", argv[0]);
        return 2;
    }
    int rc = bench_in_child(n, 1);
    rc |= bench_in_child(n, 2);
    rc |= bench_flow(n, 1);
    rc |= bench_flow(n, 2);
    return rc;
}
