// Single-precision matrix products with AVX2 and FMA, for processors without AVX-512: the packing and the
// micro-kernel (products.h says how they fit together). The micro-kernel holds 6 × 16 sums in twelve of the sixteen
// vector registers: for each step of the inner dimension it loads two vectors of B and broadcasts six scalars of A
// into 12 fused multiply-adds.

#include "products.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

enum { MR = 6, NR = 16, MC = 120 };
_Static_assert(MC % MR == 0 && MC + MR <= VK_MOST_PACKED_ROWS && VK_NC % NR == 0 && VK_NC + NR <= VK_MOST_PACKED_COLUMNS,
               "the packing buffer (products.h) is too small for these panels");

#define TARGET __attribute__((target("avx2,fma")))

// MARK: - Packing

// The first `live` of 8 lanes, as a mask for maskload.
TARGET static inline __m256i lane_mask(long live) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(live < 0 ? 0 : live > 8 ? 8 : live)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The first six lanes of v to dst (a masked store is slow on some processors that have AVX2).
TARGET static inline void store6(float *dst, __m256 v) {
    _mm_storeu_ps(dst, _mm256_castps256_ps128(v));
    _mm_storel_pi((__m64 *)(dst + 4), _mm256_extractf128_ps(v, 1));
}

// dst[j·stride + i] = src[i·ld + j] for j < 8 and i < keep (6 or 8), where line i of src is read for i < lines and
// taken as zeros beyond: an 8 × 8 transpose in registers.
TARGET static inline void transpose8(const float *src, long ld, long lines, float *dst, long stride, int keep) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = i < lines ? _mm256_loadu_ps(src + i * ld) : _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) {
        __m256d t0 = _mm256_castps_pd(t[4 * g]), t1 = _mm256_castps_pd(t[4 * g + 1]);
        __m256d t2 = _mm256_castps_pd(t[4 * g + 2]), t3 = _mm256_castps_pd(t[4 * g + 3]);
        r[4 * g] = _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2));
        r[4 * g + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2));
        r[4 * g + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3));
        r[4 * g + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3));
    }
    // r[4g + e] holds, in 128-bit lane L, lines 4g ..< 4g + 4 at column 4L + e.
    for (int e = 0; e < 4; e++) {
        __m256 low = _mm256_permute2f128_ps(r[e], r[4 + e], 0x20), high = _mm256_permute2f128_ps(r[e], r[4 + e], 0x31);
        if (keep == 8) {
            _mm256_storeu_ps(dst + e * stride, low);
            _mm256_storeu_ps(dst + (4 + e) * stride, high);
        } else {
            store6(dst + e * stride, low);
            store6(dst + (4 + e) * stride, high);
        }
    }
}

TARGET static void pack_a(int transA, const float *a, long lda, long i0, long rows, long p0, long kc, float *out) {
    for (long q = 0; q < rows; q += MR) {
        long live = rows - q < MR ? rows - q : MR;
        float *panel = out + q * kc;
        if (transA) {
            // op(A)(i, p) = a[p·lda + i]: each column's values are contiguous.
            for (long p = 0; p < kc; p++) {
                const float *column = a + (p0 + p) * lda + i0 + q;
                if (live == MR) memcpy(panel + p * MR, column, sizeof(float) * MR);
                else for (long r = 0; r < MR; r++) panel[p * MR + r] = r < live ? column[r] : 0;
            }
        } else {
            // Each row is contiguous along p: transpose 8 columns at a time, keeping MR lanes.
            const float *rows0 = a + (i0 + q) * lda + p0;
            long p = 0;
            for (; p + 8 <= kc; p += 8) transpose8(rows0 + p, lda, live, panel + p * MR, MR, MR);
            for (; p < kc; p++)
                for (long r = 0; r < MR; r++) panel[p * MR + r] = r < live ? rows0[r * lda + p] : 0;
        }
    }
}

TARGET static void pack_b(int transB, const float *b, long ldb, long p0, long kc, long j0, long cols, float *out) {
    for (long q = 0; q < cols; q += NR) {
        long live = cols - q < NR ? cols - q : NR;
        float *panel = out + q * kc;
        if (!transB) {
            __m256i m0 = lane_mask(live), m1 = lane_mask(live - 8);
            for (long p = 0; p < kc; p++) {
                const float *row = b + (p0 + p) * ldb + j0 + q;
                float *dst = panel + p * NR;
                if (live == NR) {
                    _mm256_storeu_ps(dst, _mm256_loadu_ps(row));
                    _mm256_storeu_ps(dst + 8, _mm256_loadu_ps(row + 8));
                } else {
                    _mm256_storeu_ps(dst, _mm256_maskload_ps(row, m0));
                    _mm256_storeu_ps(dst + 8, _mm256_maskload_ps(row + 8, m1));
                }
            }
        } else {
            // op(B)(p, j) = b[j·ldb + p]: column j of op(B) is contiguous. Transpose 8 × 8 blocks.
            for (long c = 0; c < NR; c += 8) {
                long lines = live - c < 0 ? 0 : live - c < 8 ? live - c : 8;
                const float *columns = b + (j0 + q + c) * ldb + p0;
                long p = 0;
                for (; p + 8 <= kc; p += 8) transpose8(columns + p, ldb, lines, panel + p * NR + c, NR, 8);
                for (; p < kc; p++)
                    for (long j = 0; j < 8; j++) panel[p * NR + c + j] = j < lines ? columns[j * ldb + p] : 0;
            }
        }
    }
}

// MARK: - The micro-kernel

TARGET static void kernel(long kc, const float *restrict ap, const float *restrict bp, long bstride, float *c, long ldc,
                          long rows, long cols, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (long p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
        __m256 a;
#define ROW(R)                                    \
        a = _mm256_broadcast_ss(ap + R);          \
        c##R##0 = _mm256_fmadd_ps(a, b0, c##R##0); \
        c##R##1 = _mm256_fmadd_ps(a, b1, c##R##1);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        ap += MR;
        bp += bstride;
    }
    __m256 sums[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (rows == MR && cols == NR) {
        for (long r = 0; r < MR; r++) {
            float *row = c + r * ldc;
            for (int v = 0; v < 2; v++) {
                __m256 out = _mm256_mul_ps(va, sums[r][v]);
                if (beta != 0) out = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8 * v), out);
                _mm256_storeu_ps(row + 8 * v, out);
            }
        }
        return;
    }
    // An edge block: the same arithmetic, element by element, on the live part.
    float tile[MR][NR];
    for (long r = 0; r < MR; r++) {
        _mm256_storeu_ps(tile[r], sums[r][0]);
        _mm256_storeu_ps(tile[r] + 8, sums[r][1]);
    }
    for (long r = 0; r < rows; r++) {
        float *row = c + r * ldc;
        for (long j = 0; j < cols; j++) row[j] = beta != 0 ? fmaf(beta, row[j], alpha * tile[r][j]) : alpha * tile[r][j];
    }
}

const vk_sgemm_kernels vk_avx2_sgemm_kernels = {MR, NR, MC, pack_a, pack_b, kernel};
