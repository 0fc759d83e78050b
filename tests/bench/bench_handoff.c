/* The cache-line hand-off between each pair of this process's CPUs (see
 * handoff.h): bench_handoff [ROUNDS]. One line per pair, then the least
 * and the most; e2e.py runs it before each run. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "handoff.h"

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 100000;
    if (rounds < 1)
        rounds = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) {
        printf("one CPU: no hand-off to measure\n");
        return 0;
    }
    double lo = -1, hi = -1;
    int pairs = 0;
    for (int a = 0; a < CPU_SETSIZE; a++)
        for (int b = a + 1; b < CPU_SETSIZE && pairs < 64; b++) {
            if (!CPU_ISSET(a, &set) || !CPU_ISSET(b, &set))
                continue;
            double ns = bench_handoff_ns(a, b, rounds);
            if (ns < 0)
                continue;
            printf("CPU %d <-> %d: %.1f ns per one-way hand-off\n", a, b, ns);
            lo = lo < 0 || ns < lo ? ns : lo;
            hi = ns > hi ? ns : hi;
            pairs++;
        }
    if (pairs == 0) {
        printf("no pair of CPUs could be pinned\n");
        return 1;
    }
    printf("hand-off: least %.1f ns, most %.1f ns over %d pair(s)\n", lo, hi,
           pairs);
    return 0;
}
