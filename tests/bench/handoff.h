/* How long a written cache line takes to reach another CPU: two threads
 * pinned to CPUs a and b pass a counter back and forth through one atomic
 * on its own line. On a virtual machine this moves with where the host
 * places the virtual CPUs (the same core complex or not), and every
 * figure of threads that share data moves with it: the benchmarks print
 * it beside theirs (doc/performance.md, "Two threads and where the host
 * puts them"). */
#ifndef BENCH_HANDOFF_H
#define BENCH_HANDOFF_H

/* Nanoseconds per one-way hand-off between CPUs a and b (rounds passes
 * each way), or a negative number when the threads could not be pinned
 * there (a CPU outside this process's set). */
double bench_handoff_ns(int a, int b, long rounds);

/* One line for a benchmark's header: "CPU 0 <-> 1 cache-line hand-off:
 * 52 ns" (the median of three), or nothing on one CPU. */
void bench_handoff_print(void);

#endif
