/* The library's mutexes (lib/core/mutex.c). */
#ifndef WB_MUTEX_H
#define WB_MUTEX_H

#include <pthread.h>

/* pthread_mutex_init() for a mutex that many threads take for a few
 * hundred instructions at a time (a queue, a storage shard): where the C
 * library has one (glibc's PTHREAD_MUTEX_ADAPTIVE_NP), a mutex that
 * spins a little while its holder runs on another CPU before it sleeps
 * in the kernel, else a default mutex. Returns pthread_mutex_init()'s
 * answer (0 on success). */
int wb_mutex_init(pthread_mutex_t *mu);

#endif
