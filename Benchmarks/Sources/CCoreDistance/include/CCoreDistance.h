#ifndef C_CORE_DISTANCE_H
#define C_CORE_DISTANCE_H

// How far apart cores 0 and 1 are (core_distance.c): a cache line's round trip between a thread on each, in ns, and
// the µs core 0 takes to read 8 MB it wrote itself and core 1 to read 8 MB core 0 has just written. Returns 0, or -1
// where the threads cannot be pinned to those cores.
int core_distance(double *round_trip_ns, double *local_read_us, double *remote_read_us);

#endif
