#ifndef VK_VECTORS512_H
#define VK_VECTORS512_H

// AVX-512 pieces shared by the products' packing and micro-kernels (products512.c) and the sparse path
// (products_sparse.c): lane masks and a 16 × 16 transpose of floats in registers.

#include <immintrin.h>

// The first `live` of 16 lanes (none for live ≤ 0, all for live ≥ 16).
static inline __mmask16 vk_lane_mask16(long live) {
    return live >= 16 ? 0xFFFF : live <= 0 ? 0 : (__mmask16)((1u << live) - 1);
}

// dst[j·stride + i] = src[i·ld + j] for j < length ≤ 16 and the lanes i of storeMask (i < 16), where line i of src is
// read for i < lines and taken as zeros beyond: a 16 × 16 transpose in registers (pairs, then quadruples within
// 128-bit lanes, then the lanes themselves).
__attribute__((target("avx512f"))) static inline void vk_transpose_lines512(const float *src, long ld, long lines, long length,
                                                                            float *dst, long stride, __mmask16 storeMask) {
    __mmask16 readMask = vk_lane_mask16(length);
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

#endif
