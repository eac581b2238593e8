#ifndef VK_PARTS_H
#define VK_PARTS_H

// Work split into parts run on the caller's thread and a pool of workers (parts.c).

// Runs body(context, part) for part in 0 ..< parts: part 0 on the calling thread, the others on workers, and
// returns when all are done. When the workers are busy with another caller's job, or the pool has fewer workers,
// the caller runs the parts that have no worker itself. Each part runs exactly once.
void vk_run_parts(void (*body)(void *context, int part), void *context, int parts);

#endif
