/* Mutexes (lib/internal/mutex.h).
 *
 * Under load the memory job queue's mutex and the storage shards' are
 * taken by every webhook thread and the loop thread for a few hundred
 * instructions each time. A default glibc mutex that finds its holder
 * busy sleeps in the kernel at once (a futex call to wait, another to
 * wake it), and on a virtual machine those calls cost more than the
 * critical section: bench_webhook's two threads spent ~10 % of their
 * samples in futex calls under the queue's mutex (doc/performance.md).
 * An adaptive mutex first spins for a bounded number of rounds, which
 * covers a holder running on another CPU. */
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
#include <pthread.h>

#include "mutex.h"

int wb_mutex_init(pthread_mutex_t *mu)
{
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) == 0) {
        int rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
        if (rc == 0)
            rc = pthread_mutex_init(mu, &a);
        pthread_mutexattr_destroy(&a);
        if (rc == 0)
            return 0;
    }
#endif
    return pthread_mutex_init(mu, NULL);
}
