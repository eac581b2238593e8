// Single-precision matrix products with AVX-512, for processors that have it (the VAE's products run here).
//
// The layout is the classic one of blocked GEMM. op(B) is packed, a block of KC rows at a time, into panels of NR
// columns (each row of a panel contiguous); op(A) is packed into panels of MR rows (each column of a panel
// contiguous). A micro-kernel multiplies one A panel by one B panel into MR × NR sums held in registers: for each
// of the KC steps it loads NR/16 vectors of B and broadcasts MR scalars of A into MR · NR/16 fused multiply-adds.
// The A panel (MR × KC) stays in the first-level cache while the B block streams from the second.
//
// Edges are handled by zero padding in the packed panels and masked stores, so every call runs the same kernel.
// With two or more threads the larger of the two output dimensions is split; each thread packs its own panels, so
// the threads share nothing but the inputs and never wait for each other before the end. Every output is summed in
// the same order whatever the number of threads, so results do not depend on it.

#include "CVariationalKernels.h"
#include "parts.h"

#include <immintrin.h>
#include <stdlib.h>

enum { MR = 8, NR = 48, KC = 256, NC = 1008, MC = 128 };

#define TARGET __attribute__((target("avx512f")))

// The first `live` of 16 lanes (none for live ≤ 0, all for live ≥ 16).
static inline __mmask16 lane_mask(long live) {
    return live >= 16 ? 0xFFFF : live <= 0 ? 0 : (__mmask16)((1u << live) - 1);
}

// MARK: - Packing

// dst[j·stride + i] = src[i·ld + j] for j < length ≤ 16 and the lanes i of storeMask (i < 16), where line i of src is
// read for i < lines and taken as zeros beyond: a 16 × 16 transpose in registers (pairs, then quadruples within
// 128-bit lanes, then the lanes themselves).
TARGET static inline void transpose_lines(const float *src, long ld, long lines, long length, float *dst, long stride,
                                          __mmask16 storeMask) {
    __mmask16 readMask = lane_mask(length);
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = i < lines ? _mm512_maskz_loadu_ps(readMask, src + i * ld) : _mm512_setzero_ps();
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {
        __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
        __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
        r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    // r[4g + e] now holds, in 128-bit lane L, lines 4g ..< 4g + 4 at position 4L + e.
    for (int e = 0; e < 4; e++) {
        __m512 s0 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0x44), s1 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0xEE);
        __m512 s2 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0x44), s3 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0xEE);
        __m512 out[4] = {_mm512_shuffle_f32x4(s0, s2, 0x88), _mm512_shuffle_f32x4(s0, s2, 0xDD),
                         _mm512_shuffle_f32x4(s1, s3, 0x88), _mm512_shuffle_f32x4(s1, s3, 0xDD)};
        for (int L = 0; L < 4; L++) {
            long j = 4 * L + e;
            if (j < length) _mm512_mask_storeu_ps(dst + j * stride, storeMask, out[L]);
        }
    }
}

// Rows i0 ..< i0 + rows of op(A), columns p0 ..< p0 + kc, into panels of MR rows: panel q holds, for each column p,
// the MR values of rows q·MR ..< q·MR + MR (zeros past the edge).
TARGET static void pack_a(int transA, const float *a, long lda, long i0, long rows, long p0, long kc, float *out) {
    for (long q = 0; q < rows; q += MR) {
        long live = rows - q < MR ? rows - q : MR;
        float *panel = out + q * kc;
        if (transA) {
            // op(A)(i, p) = a[p·lda + i]: each column's MR values are contiguous.
            __mmask16 mask = lane_mask(live);
            for (long p = 0; p < kc; p++) {
                __m512 v = _mm512_maskz_loadu_ps(mask, a + (p0 + p) * lda + i0 + q);
                _mm256_storeu_ps(panel + p * MR, _mm512_castps512_ps256(v));
            }
        } else {
            // Each row is contiguous along p: transpose 16 columns at a time, keeping MR lanes.
            const float *rows0 = a + (i0 + q) * lda + p0;
            for (long p = 0; p < kc; p += 16)
                transpose_lines(rows0 + p, lda, live, kc - p < 16 ? kc - p : 16, panel + p * MR, MR, (1u << MR) - 1);
        }
    }
}

// Rows p0 ..< p0 + kc of op(B), columns j0 ..< j0 + cols, into panels of NR columns: panel q holds, for each row p,
// the NR values of columns q·NR ..< q·NR + NR (zeros past the edge).
TARGET static void pack_b(int transB, const float *b, long ldb, long p0, long kc, long j0, long cols, float *out) {
    for (long q = 0; q < cols; q += NR) {
        long live = cols - q < NR ? cols - q : NR;
        float *panel = out + q * kc;
        if (!transB) {
            __mmask16 m0 = lane_mask(live), m1 = lane_mask(live - 16), m2 = lane_mask(live - 32);
            for (long p = 0; p < kc; p++) {
                const float *row = b + (p0 + p) * ldb + j0 + q;
                float *dst = panel + p * NR;
                _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps(m0, row));
                _mm512_storeu_ps(dst + 16, _mm512_maskz_loadu_ps(m1, row + 16));
                _mm512_storeu_ps(dst + 32, _mm512_maskz_loadu_ps(m2, row + 32));
            }
        } else {
            // op(B)(p, j) = b[j·ldb + p]: column j of op(B) is contiguous. Transpose 16 × 16 blocks.
            for (long c = 0; c < NR; c += 16) {
                long lines = live - c < 0 ? 0 : live - c < 16 ? live - c : 16;
                const float *columns = b + (j0 + q + c) * ldb + p0;
                for (long p = 0; p < kc; p += 16)
                    transpose_lines(columns + p, ldb, lines, kc - p < 16 ? kc - p : 16, panel + p * NR + c, NR, 0xFFFF);
            }
        }
    }
}

// MARK: - The micro-kernel

// C[0 ..< rows, 0 ..< cols] = alpha · (A panel · B panel) + beta · C, where beta == 0 never reads C.
TARGET static void kernel(long kc, const float *restrict ap, const float *restrict bp, float *c, long ldc,
                          long rows, long cols, float alpha, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    __m512 c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    __m512 c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    for (long p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), b2 = _mm512_loadu_ps(bp + 32);
        __m512 a;
#define ROW(R)                                    \
        a = _mm512_set1_ps(ap[R]);                \
        c##R##0 = _mm512_fmadd_ps(a, b0, c##R##0); \
        c##R##1 = _mm512_fmadd_ps(a, b1, c##R##1); \
        c##R##2 = _mm512_fmadd_ps(a, b2, c##R##2);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
        ap += MR;
        bp += NR;
    }
    __m512 sums[MR][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32},
                          {c40, c41, c42}, {c50, c51, c52}, {c60, c61, c62}, {c70, c71, c72}};
    __mmask16 masks[3] = {lane_mask(cols), lane_mask(cols - 16), lane_mask(cols - 32)};
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (long r = 0; r < rows; r++) {
        float *row = c + r * ldc;
        for (int v = 0; v < 3; v++) {
            if (!masks[v]) break;
            __m512 out = _mm512_mul_ps(va, sums[r][v]);
            if (beta != 0) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(masks[v], row + 16 * v), out);
            _mm512_mask_storeu_ps(row + 16 * v, masks[v], out);
        }
    }
}

// MARK: - One thread's share: C[i0 ..< i1, j0 ..< j1]

typedef struct {
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

TARGET static void run_block(const product *job, long i0, long i1, long j0, long j1) {
    if (!pack_buffer) {
        pack_buffer = aligned_alloc(64, sizeof(float) * (size_t)(KC * (MC + MR) + KC * (NC + NR)));
        if (!pack_buffer) abort();
    }
    float *packedA = pack_buffer, *packedB = pack_buffer + KC * (MC + MR);
    for (long jc = j0; jc < j1; jc += NC) {
        long nc = j1 - jc < NC ? j1 - jc : NC;
        for (long pc = 0; pc < job->k; pc += KC) {
            long kc = job->k - pc < KC ? job->k - pc : KC;
            float beta = pc == 0 ? job->beta : 1;
            pack_b(job->transB, job->b, job->ldb, pc, kc, jc, nc, packedB);
            for (long ic = i0; ic < i1; ic += MC) {
                long mc = i1 - ic < MC ? i1 - ic : MC;
                pack_a(job->transA, job->a, job->lda, ic, mc, pc, kc, packedA);
                for (long ir = 0; ir < mc; ir += MR) {
                    const float *ap = packedA + ir * kc;
                    long rows = mc - ir < MR ? mc - ir : MR;
                    for (long jr = 0; jr < nc; jr += NR) {
                        long cols = nc - jr < NR ? nc - jr : NR;
                        kernel(kc, ap, packedB + jr * kc, job->c + (ic + ir) * job->ldc + jc + jr, job->ldc, rows,
                               cols, job->alpha, beta);
                    }
                }
            }
        }
    }
}

// Part `part` of `job->parts`: a range of rows or of columns, in whole panels.
static void run_part(void *context, int part) {
    const product *job = context;
    long unit = job->splitRows ? MR : NR, extent = job->splitRows ? job->m : job->n;
    long panels = (extent + unit - 1) / unit;
    long first = panels * part / job->parts * unit, last = panels * (part + 1) / job->parts * unit;
    if (last > extent) last = extent;
    if (first >= last) return;
    if (job->splitRows) run_block(job, first, last, 0, job->n);
    else run_block(job, 0, job->m, first, last);
}

// MARK: - Entry

// Below this many multiply-adds a product runs on one thread: the second thread's share would take about as long
// as waking it.
enum { PARALLEL_WORK = 1 << 18 };

// The caller (vk_sgemm) sends only products with m, n, k > 0 and alpha ≠ 0; C scaled by beta alone goes elsewhere.
void vk_avx512_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                     const float *b, long ldb, float beta, float *c, long ldc, int threads) {
    product job = {transA, transB, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c, 0, 1};
    long rowPanels = (m + MR - 1) / MR, columnPanels = (n + NR - 1) / NR;
    job.splitRows = rowPanels > columnPanels;
    long panels = job.splitRows ? rowPanels : columnPanels;
    int parts = threads;
    if (parts > panels) parts = (int)panels;
    if ((double)m * n * k < PARALLEL_WORK) parts = 1;
    job.parts = parts;
    vk_run_parts(run_part, &job, parts);
}
