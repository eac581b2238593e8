// A pool of worker threads for work split into parts (products, optimiser updates).
//
// Each worker waits for a new job number, runs its part, and counts itself done. After a job it spins for a while
// before sleeping on a futex, because a training step's products and updates come in quick succession and a sleeping
// thread takes tens of microseconds to wake.

#include "parts.h"

#include <immintrin.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { MAX_WORKERS = 63,  // (a worker's index fits in 8 bits)
       SPIN_ROUNDS = 20000 };

typedef struct {
    void (*body)(void *, int);
    void *context;
    int parts;
} job;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int workers_started = 0;
static job current_job;
static _Atomic uint32_t job_number = 0;
static _Atomic int parts_left = 0;
static _Atomic int sleepers = 0;

static void futex_wait(_Atomic uint32_t *address, uint32_t value) {
    syscall(SYS_futex, (uint32_t *)address, FUTEX_WAIT_PRIVATE, value, 0, 0, 0);
}
static void futex_wake_all(_Atomic uint32_t *address) {
    syscall(SYS_futex, (uint32_t *)address, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
}

static void *worker(void *argument) {
    // The part it runs (1, 2, …; the caller runs part 0), and the job number when it was made: a job posted
    // before the thread first runs is still new to it.
    int index = (int)((uintptr_t)argument & 0xFF);
    uint32_t seen = (uint32_t)((uintptr_t)argument >> 8);
    for (;;) {
        uint32_t now;
        int spins = 0;
        while ((now = atomic_load_explicit(&job_number, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ROUNDS) {
                _mm_pause();
            } else {
                atomic_fetch_add(&sleepers, 1);
                if (atomic_load(&job_number) == seen) futex_wait(&job_number, seen);
                atomic_fetch_sub(&sleepers, 1);
                spins = 0;
            }
        }
        seen = now;
        if (index < current_job.parts) current_job.body(current_job.context, index);
        atomic_fetch_sub_explicit(&parts_left, 1, memory_order_release);
    }
    return 0;
}

// Starts workers until there are `wanted` (the pool lock is held).
static void start_workers(int wanted) {
    if (wanted > MAX_WORKERS) wanted = MAX_WORKERS;
    while (workers_started < wanted) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        uintptr_t argument = ((uintptr_t)atomic_load(&job_number) << 8) | (uintptr_t)(workers_started + 1);
        int failed = pthread_create(&thread, &attributes, worker, (void *)argument);
        pthread_attr_destroy(&attributes);
        if (failed) return;
        workers_started++;
    }
}

void vk_run_parts(void (*body)(void *context, int part), void *context, int parts) {
    int count = parts;
    if (count > 1 && pthread_mutex_trylock(&pool_lock) == 0) {
        start_workers(count - 1);
        int shared = workers_started + 1 < count ? workers_started + 1 : count;  // parts 0 ..< shared run in parallel
        if (shared > 1) {
            current_job = (job){body, context, shared};
            atomic_store(&parts_left, workers_started);
            atomic_fetch_add(&job_number, 1);  // sequentially consistent: ordered before the sleepers are read
            if (atomic_load(&sleepers) > 0) futex_wake_all(&job_number);
            body(context, 0);
            for (int part = shared; part < count; part++) body(context, part);
            while (atomic_load_explicit(&parts_left, memory_order_acquire) > 0) _mm_pause();
            pthread_mutex_unlock(&pool_lock);
            return;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    for (int part = 0; part < count; part++) body(context, part);
}
