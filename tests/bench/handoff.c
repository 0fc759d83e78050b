#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "handoff.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct pingpong {
    _Alignas(64) _Atomic long turn;
    _Alignas(64) long rounds;
    int cpu;
    _Atomic int pinned; /* 1 pinned, -1 could not */
} pingpong;

static int pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -1;
}

/* Odd turns are the other thread's: it waits for one, answers with the
 * next even one. */
static void *answer(void *arg)
{
    pingpong *p = arg;
    atomic_store(&p->pinned, pin(p->cpu) == 0 ? 1 : -1);
    if (atomic_load(&p->pinned) < 0)
        return NULL;
    for (long i = 1; i < 2 * p->rounds; i += 2) {
        while (atomic_load_explicit(&p->turn, memory_order_acquire) != i)
            ;
        atomic_store_explicit(&p->turn, i + 1, memory_order_release);
    }
    return NULL;
}

double bench_handoff_ns(int a, int b, long rounds)
{
    cpu_set_t saved;
    if (sched_getaffinity(0, sizeof saved, &saved) != 0)
        return -1;
    pingpong *p = aligned_alloc(64, sizeof *p);
    if (p == NULL)
        return -1;
    atomic_init(&p->turn, 0);
    p->rounds = rounds;
    p->cpu = b;
    atomic_init(&p->pinned, 0);
    double ns = -1;
    pthread_t th;
    if (pin(a) == 0 && pthread_create(&th, NULL, answer, p) == 0) {
        while (atomic_load(&p->pinned) == 0)
            ;
        if (atomic_load(&p->pinned) > 0) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (long i = 0; i < 2 * rounds; i += 2) {
                while (atomic_load_explicit(&p->turn, memory_order_acquire) !=
                       i)
                    ;
                atomic_store_explicit(&p->turn, i + 1, memory_order_release);
            }
            while (atomic_load_explicit(&p->turn, memory_order_acquire) !=
                   2 * rounds)
                ;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
                  (double)(t1.tv_nsec - t0.tv_nsec)) /
                 (double)(2 * rounds);
        }
        pthread_join(th, NULL);
    }
    sched_setaffinity(0, sizeof saved, &saved);
    free(p);
    return ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_handoff_print(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2)
        return;
    int cpu[2], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &set))
            cpu[n++] = c;
    double v[3];
    for (int i = 0; i < 3; i++)
        v[i] = bench_handoff_ns(cpu[0], cpu[1], 50000);
    qsort(v, 3, sizeof v[0], cmp_double);
    if (v[1] >= 0)
        printf("CPU %d <-> %d cache-line hand-off: %.0f ns (threads that "
               "share data slow down with it)\n",
               cpu[0], cpu[1], v[1]);
}
