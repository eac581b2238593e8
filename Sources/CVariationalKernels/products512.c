// Single-precision matrix products with AVX-512, for processors that have it: the packing and the micro-kernel
// (products.h says how they fit together). The micro-kernel holds 8 × 48 sums: for each step of the inner dimension
// it loads three vectors of B and broadcasts eight scalars of A into 24 fused multiply-adds.

#include "products.h"
#include "vectors512.h"

#include <immintrin.h>

enum { MR = 8, NR = 48, MC = 128 };
_Static_assert(MC % MR == 0 && MC + MR <= VK_MOST_PACKED_ROWS && VK_NC % NR == 0 && VK_NC + NR <= VK_MOST_PACKED_COLUMNS,
               "the packing buffer (products.h) is too small for these panels");

#define TARGET __attribute__((target("avx512f")))

// MARK: - Packing

TARGET static void pack_a(int transA, const float *a, long lda, long i0, long rows, long p0, long kc, float *out) {
    for (long q = 0; q < rows; q += MR) {
        long live = rows - q < MR ? rows - q : MR;
        float *panel = out + q * kc;
        if (transA) {
            // op(A)(i, p) = a[p·lda + i]: each column's MR values are contiguous.
            __mmask16 mask = vk_lane_mask16(live);
            for (long p = 0; p < kc; p++) {
                __m512 v = _mm512_maskz_loadu_ps(mask, a + (p0 + p) * lda + i0 + q);
                _mm256_storeu_ps(panel + p * MR, _mm512_castps512_ps256(v));
            }
        } else {
            // Each row is contiguous along p: transpose 16 columns at a time, keeping MR lanes.
            const float *rows0 = a + (i0 + q) * lda + p0;
            for (long p = 0; p < kc; p += 16)
                vk_transpose_lines512(rows0 + p, lda, live, kc - p < 16 ? kc - p : 16, panel + p * MR, MR, (1u << MR) - 1);
        }
    }
}

TARGET static void pack_b(int transB, const float *b, long ldb, long p0, long kc, long j0, long cols, float *out) {
    for (long q = 0; q < cols; q += NR) {
        long live = cols - q < NR ? cols - q : NR;
        float *panel = out + q * kc;
        if (!transB) {
            __mmask16 m0 = vk_lane_mask16(live), m1 = vk_lane_mask16(live - 16), m2 = vk_lane_mask16(live - 32);
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
                    vk_transpose_lines512(columns + p, ldb, lines, kc - p < 16 ? kc - p : 16, panel + p * NR + c, NR, 0xFFFF);
            }
        }
    }
}

// MARK: - The micro-kernel

// MR × 16·V sums of one A panel times the first 16·V columns of one B panel, into C (V = 1 or 2; the full panel
// is written out below). Every sum runs over p in ascending order, so a narrower variant gives the same bits as the
// full one on the same columns.
#define KERNEL(V)                                                                                                      \
    TARGET static void kernel##V(long kc, const float *restrict ap, const float *restrict bp, long bstride, float *c,  \
                                 long ldc, long rows, long cols, float alpha, float beta) {                            \
        __m512 sums[MR][V];                                                                                            \
        for (int r = 0; r < MR; r++)                                                                                   \
            for (int v = 0; v < V; v++) sums[r][v] = _mm512_setzero_ps();                                              \
        for (long p = 0; p < kc; p++) {                                                                                \
            __m512 b[V];                                                                                               \
            for (int v = 0; v < V; v++) b[v] = _mm512_loadu_ps(bp + 16 * v);                                           \
            for (int r = 0; r < MR; r++) {                                                                             \
                __m512 a = _mm512_set1_ps(ap[r]);                                                                      \
                for (int v = 0; v < V; v++) sums[r][v] = _mm512_fmadd_ps(a, b[v], sums[r][v]);                         \
            }                                                                                                          \
            ap += MR;                                                                                                  \
            bp += bstride;                                                                                             \
        }                                                                                                              \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                                  \
        for (long r = 0; r < rows; r++) {                                                                              \
            float *row = c + r * ldc;                                                                                  \
            for (int v = 0; v < V; v++) {                                                                              \
                __mmask16 mask = vk_lane_mask16(cols - 16 * v);                                                        \
                if (!mask) break;                                                                                      \
                __m512 out = _mm512_mul_ps(va, sums[r][v]);                                                            \
                if (beta != 0) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, row + 16 * v), out);             \
                _mm512_mask_storeu_ps(row + 16 * v, mask, out);                                                        \
            }                                                                                                          \
        }                                                                                                              \
    }
KERNEL(1)
KERNEL(2)
#undef KERNEL

// The full panel, written out.
TARGET static void kernel3(long kc, const float *restrict ap, const float *restrict bp, long bstride, float *c, long ldc,
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
        bp += bstride;
    }
    __m512 sums[MR][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32},
                          {c40, c41, c42}, {c50, c51, c52}, {c60, c61, c62}, {c70, c71, c72}};
    __mmask16 masks[3] = {vk_lane_mask16(cols), vk_lane_mask16(cols - 16), vk_lane_mask16(cols - 32)};
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

// A panel's last columns often fill only one or two of the three vectors (784 = 16·48 + 16, 400 = 8·48 + 16): the
// narrower variants skip the multiply-adds whose sums would be thrown away, a third or two thirds of that panel's
// work (`variational-benchmarks vae-gemms`).
TARGET static void kernel(long kc, const float *restrict ap, const float *restrict bp, long bstride, float *c, long ldc,
                          long rows, long cols, float alpha, float beta) {
    if (cols > 32) kernel3(kc, ap, bp, bstride, c, ldc, rows, cols, alpha, beta);
    else if (cols > 16) kernel2(kc, ap, bp, bstride, c, ldc, rows, cols, alpha, beta);
    else kernel1(kc, ap, bp, bstride, c, ldc, rows, cols, alpha, beta);
}

const vk_sgemm_kernels vk_avx512_sgemm_kernels = {MR, NR, MC, pack_a, pack_b, kernel};
