#ifndef VK_PARTS_H
#define VK_PARTS_H

// Work split into parts run on the caller's thread and a pool of workers (parts.c).

// Runs body(context, part) for part in 0 ..< parts on the calling thread and on up to parts − 1 workers, and returns
// when all are done. Each part runs exactly once, on whichever thread claims it first; the caller runs every part
// no worker takes (all of them when the workers are busy with another caller's job). Parts must not depend on
// which thread runs them.
void vk_run_parts(void (*body)(void *context, int part), void *context, int parts);

#endif
