// A pool of worker threads for work split into parts (products, optimiser updates).
//
// Each worker waits for a new job number, then claims and runs parts of that job until none is left. After a job it
// spins for a while before sleeping on a futex, because a training step's products and updates come in quick
// succession and a sleeping thread is slow to wake (up to hundreds of microseconds on this project's machine).

#include "parts.h"

#include <immintrin.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { MAX_WORKERS = 63, SPIN_ROUNDS = 20000 };

typedef struct {
    void (*body)(void *, int);
    void *context;
} job;

// The parts of a job are claimed one at a time, by the caller and by whichever workers are awake, through one
// atomic word: the job's number (32 bits), its count of parts and the next part to claim (16 bits each). A claim
// names its job, so a worker late for one job can never take a part of the next. The caller does not wait for a
// sleeping worker to wake: it claims what is left itself, and waits only for parts that are running.
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int workers_started = 0;
static job current_job;
static _Atomic uint64_t claims = 0;
static _Atomic uint32_t job_number = 0;  // what sleeping workers wait on
static _Atomic int parts_done = 0;
static _Atomic int sleepers = 0;

static void futex_wait(_Atomic uint32_t *address, uint32_t value) {
    syscall(SYS_futex, (uint32_t *)address, FUTEX_WAIT_PRIVATE, value, 0, 0, 0);
}
static void futex_wake_all(_Atomic uint32_t *address) {
    syscall(SYS_futex, (uint32_t *)address, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
}

// Claims and runs parts of job `number` until none is left.
static void run_claims(uint32_t number) {
    for (;;) {
        uint64_t word = atomic_load_explicit(&claims, memory_order_acquire);
        uint32_t parts = (uint32_t)(word >> 16) & 0xFFFF, next = (uint32_t)word & 0xFFFF;
        if ((uint32_t)(word >> 32) != number || next >= parts) return;
        if (!atomic_compare_exchange_weak_explicit(&claims, &word, word + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        current_job.body(current_job.context, (int)next);
        atomic_fetch_add_explicit(&parts_done, 1, memory_order_release);
    }
}

static void *worker(void *argument) {
    // The job number when it was made: a job posted before the thread first runs is still new to it.
    uint32_t seen = (uint32_t)(uintptr_t)argument;
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
        run_claims(now);
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
        uintptr_t argument = (uintptr_t)atomic_load(&job_number);
        int failed = pthread_create(&thread, &attributes, worker, (void *)argument);
        pthread_attr_destroy(&attributes);
        if (failed) return;
        workers_started++;
    }
}

void vk_run_parts(void (*body)(void *context, int part), void *context, int parts) {
    if (parts > 1 && parts <= 0xFFFF && pthread_mutex_trylock(&pool_lock) == 0) {
        int threads = vk_max_threads();  // parts beyond the threads are claimed by whichever thread is free
        start_workers((parts < threads ? parts : threads) - 1);
        if (workers_started > 0) {
            current_job = (job){body, context};
            atomic_store(&parts_done, 0);
            uint32_t number = atomic_load(&job_number) + 1;
            atomic_store(&claims, ((uint64_t)number << 32) | ((uint64_t)parts << 16));
            atomic_store(&job_number, number);  // sequentially consistent: ordered before the sleepers are read
            if (atomic_load(&sleepers) > 0) futex_wake_all(&job_number);
            run_claims(number);
            while (atomic_load_explicit(&parts_done, memory_order_acquire) < parts) _mm_pause();
            pthread_mutex_unlock(&pool_lock);
            return;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    for (int part = 0; part < parts; part++) body(context, part);
}
