// The blocked driver of the project's own single-precision products (products.h): which blocks are packed when, and
// how the work is split between threads.
//
// With two or more threads the larger of the two output dimensions is split; each thread packs its own panels, so
// the threads share nothing but the inputs and never wait for each other before the end. Every output is summed in
// the same order whatever the number of threads, so results do not depend on it.

#include "products.h"
#include "parts.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct {
    const vk_sgemm_kernels *kernels;
    int transA, transB;
    long m, n, k;
    float alpha, beta;
    const float *a, *b;
    long lda, ldb, ldc;
    float *c;
    int splitRows;  // 1: the parts divide the rows, 0: the columns
    int parts;
} product;

static _Thread_local float *pack_buffer = 0;

// Up to this many panels of op(A) rows on a thread (a small batch times a weight matrix), op(B) is read where it
// lies when it is not transposed: each B panel then serves only a few micro-kernels, and copying it first costs more
// than reading it unpacked from the second-level cache. Benchmark `unpacked`, one core, in place against packed:
// 0.83–0.87 of the time with 20 rows, 0.87–0.92 with 32; with 48 rows 0.89–0.90 on 784 columns but 1.00 on 1,000, and
// with more rows the packed copy wins by far as B widens (1,000 columns: 1.10 with 64 rows, 1.26 with 96, 1.38 with
// 128). vk_set_direct_b_panels changes it.
static _Atomic int direct_b_panels = 4;
void vk_set_direct_b_panels(int panels) { atomic_store_explicit(&direct_b_panels, panels < 0 ? 0 : panels, memory_order_relaxed); }
int vk_direct_b_panels(void) { return atomic_load_explicit(&direct_b_panels, memory_order_relaxed); }

// One thread's share: C[i0 ..< i1, j0 ..< j1].
static void run_block(const product *job, long i0, long i1, long j0, long j1) {
    const vk_sgemm_kernels *ks = job->kernels;
    if (!pack_buffer) {
        pack_buffer = aligned_alloc(64, sizeof(float) * (size_t)(VK_KC * (VK_MOST_PACKED_ROWS + VK_MOST_PACKED_COLUMNS)));
        if (!pack_buffer) abort();
    }
    float *packedA = pack_buffer, *packedB = pack_buffer + VK_KC * VK_MOST_PACKED_ROWS;
    // Not for rows a multiple of 1 KB apart: the panel's rows would fall into a few sets of the caches.
    int direct = !job->transB && i1 - i0 <= ks->mr * vk_direct_b_panels() && job->ldb % 256 != 0;
    for (long jc = j0; jc < j1; jc += VK_NC) {
        long nc = j1 - jc < VK_NC ? j1 - jc : VK_NC;
        // Columns before `whole` are read in place (direct) or packed; a last, partial panel is always packed.
        long whole = direct ? nc / ks->nr * ks->nr : 0;
        for (long pc = 0; pc < job->k; pc += VK_KC) {
            long kc = job->k - pc < VK_KC ? job->k - pc : VK_KC;
            float beta = pc == 0 ? job->beta : 1;
            if (whole < nc) ks->pack_b(job->transB, job->b, job->ldb, pc, kc, jc + whole, nc - whole, packedB + whole * kc);
            for (long ic = i0; ic < i1; ic += ks->mc) {
                long mc = i1 - ic < ks->mc ? i1 - ic : ks->mc;
                ks->pack_a(job->transA, job->a, job->lda, ic, mc, pc, kc, packedA);
                for (long ir = 0; ir < mc; ir += ks->mr) {
                    const float *ap = packedA + ir * kc;
                    long rows = mc - ir < ks->mr ? mc - ir : ks->mr;
                    for (long jr = 0; jr < nc; jr += ks->nr) {
                        long cols = nc - jr < ks->nr ? nc - jr : ks->nr;
                        int inPlace = jr < whole;
                        const float *bp = inPlace ? job->b + pc * job->ldb + jc + jr : packedB + jr * kc;
                        ks->kernel(kc, ap, bp, inPlace ? job->ldb : ks->nr, job->c + (ic + ir) * job->ldc + jc + jr,
                                   job->ldc, rows, cols, job->alpha, beta);
                    }
                }
            }
        }
    }
}

// Part `part` of `job->parts`: a range of rows or of columns, in whole panels.
static void run_part(void *context, int part) {
    const product *job = context;
    long unit = job->splitRows ? job->kernels->mr : job->kernels->nr, extent = job->splitRows ? job->m : job->n;
    long panels = (extent + unit - 1) / unit;
    long first = panels * part / job->parts * unit, last = panels * (part + 1) / job->parts * unit;
    if (last > extent) last = extent;
    if (first >= last) return;
    if (job->splitRows) run_block(job, first, last, 0, job->n);
    else run_block(job, 0, job->m, first, last);
}

// Below this many multiply-adds a product runs on one thread: the second thread's share would take about as long
// as waking it.
enum { PARALLEL_WORK = 1 << 18 };

// The share of a micro-kernel's lanes a dimension fills: extent over whole blocks of `unit`.
static double filled(long extent, long unit) { return (double)extent / (double)(unit * ((extent + unit - 1) / unit)); }

static void blocked(const vk_sgemm_kernels *kernels, int transA, int transB, long m, long n, long k, float alpha,
                    const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc, int threads);

void vk_own_sgemm(const vk_sgemm_kernels *kernels, int transA, int transB, long m, long n, long k, float alpha,
                  const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc, int threads) {
    if (!transB && vk_sparse_sgemm(kernels == &vk_avx512_sgemm_kernels, transA, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads)) return;
    // A narrow C (few columns, many rows) fills few of the micro-kernel's columns: 20 of AVX-512's 48. Its
    // transpose Cᵀ = op(B)ᵀ·op(A)ᵀ swaps the roles, its 20 rows filling 20 of 24 in panels of 8. When C is only
    // written (beta = 0), the transpose goes to a scratch block and from there into C: every output is the same sum
    // in the same order as the direct product's (the same bits).
    if (beta == 0 && filled(n, kernels->mr) * filled(m, kernels->nr) > 1.25 * filled(m, kernels->mr) * filled(n, kernels->nr)) {
        float *t = malloc(sizeof(float) * (size_t)(m * n));
        if (t) {
            blocked(kernels, !transB, !transA, n, m, k, alpha, b, ldb, a, lda, 0, t, m, threads);
            for (long i = 0; i < m; i++)
                for (long j = 0; j < n; j++) c[i * ldc + j] = t[j * m + i];
            free(t);
            return;
        }
    }
    blocked(kernels, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

static void blocked(const vk_sgemm_kernels *kernels, int transA, int transB, long m, long n, long k, float alpha,
                    const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc, int threads) {
    product job = {kernels, transA, transB, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c, 0, 1};
    long rowPanels = (m + kernels->mr - 1) / kernels->mr, columnPanels = (n + kernels->nr - 1) / kernels->nr;
    job.splitRows = rowPanels > columnPanels;
    long panels = job.splitRows ? rowPanels : columnPanels;
    int parts = threads;
    if (parts > panels) parts = (int)panels;
    if ((double)m * n * k < PARALLEL_WORK) parts = 1;
    job.parts = parts;
    vk_run_parts(run_part, &job, parts);
}
