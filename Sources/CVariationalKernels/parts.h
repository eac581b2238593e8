#ifndef VK_PARTS_H
#define VK_PARTS_H

// Work split into parts run on the caller's thread and a pool of workers (parts.c): vk_run_parts, declared with the
// kernels' public functions.
#include "CVariationalKernels.h"

#endif
