#define _GNU_SOURCE
#include "CCoreDistance.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUNDS = 200000, BYTES = 8 << 20 };

static _Atomic long turn __attribute__((aligned(64)));
static unsigned char *buffer;
static double remote_us;
static volatile long checksum;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int pin(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Reads one byte of every cache line; the µs it took.
static double read_all(void) {
    double start = now();
    long sum = 0;
    for (long i = 0; i < BYTES; i += 64) sum += buffer[i];
    checksum += sum;
    return (now() - start) * 1e6;
}

static void *other(void *unused) {
    (void)unused;
    if (pin(1) != 0) {
        atomic_store(&turn, -3);
        return 0;
    }
    for (long i = 1; i <= ROUNDS; i++) {
        while (atomic_load(&turn) != 2 * i - 1) {
            if (atomic_load(&turn) == -3) return 0;
        }
        atomic_store(&turn, 2 * i);
    }
    while (atomic_load(&turn) != -1) {}
    remote_us = read_all();
    return 0;
}

static int measure(double *round_trip_ns, double *local_read_us, double *remote_read_us) {
    buffer = malloc(BYTES);
    if (!buffer) return -1;
    memset(buffer, 1, BYTES);
    atomic_store(&turn, 0);
    pthread_t thread;
    if (pin(0) != 0 || pthread_create(&thread, 0, other, 0) != 0) {
        free(buffer);
        return -1;
    }
    double start = now();
    for (long i = 1; i <= ROUNDS; i++) {
        atomic_store(&turn, 2 * i - 1);
        long seen;
        while ((seen = atomic_load(&turn)) != 2 * i) {
            if (seen == -3) {
                pthread_join(thread, 0);
                free(buffer);
                return -1;
            }
        }
    }
    *round_trip_ns = (now() - start) / ROUNDS * 1e9;
    memset(buffer, 2, BYTES);
    *local_read_us = read_all();
    atomic_store(&turn, -1);
    pthread_join(thread, 0);
    *remote_read_us = remote_us;
    free(buffer);
    return 0;
}

int core_distance(double *round_trip_ns, double *local_read_us, double *remote_read_us) {
    // The calling thread goes back to the cores it had, so that later benchmarks in the process are not pinned.
    cpu_set_t saved;
    if (pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) != 0) return -1;
    int status = measure(round_trip_ns, local_read_us, remote_read_us);
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return status;
}
