#ifndef VK_PRODUCTS_H
#define VK_PRODUCTS_H

// Single-precision matrix products in the project's own blocked kernels (products.c drives them; products512.c and
// products256.c supply the packing and the micro-kernel for AVX-512 and for AVX2 with FMA).
//
// The layout is the classic one of blocked GEMM. op(B) is packed, a block of KC rows at a time, into panels of nr
// columns (each row of a panel contiguous); op(A) is packed into panels of mr rows (each column of a panel
// contiguous). A micro-kernel multiplies one A panel by one B panel into mr × nr sums held in registers. The A panel
// (mr × KC) stays in the first-level cache while the B block streams from the second. Edges are handled by zero
// padding in the packed panels, so every call runs the same micro-kernel.

// KC and NC: the depth and width of a packed B block (NC a multiple of every set's nr). The packing buffer holds
// up to VK_MOST_PACKED_ROWS rows of A (a set's mc + mr) and VK_MOST_PACKED_COLUMNS columns of B (NC + a set's nr);
// each kernel file checks its sizes against these when it is compiled.
enum { VK_KC = 256, VK_NC = 1008, VK_MOST_PACKED_ROWS = 128 + 8, VK_MOST_PACKED_COLUMNS = VK_NC + 48 };

typedef struct {
    long mr, nr, mc;  // rows and columns of a micro-kernel's block; rows of op(A) packed at a time (a multiple of mr)
    // Rows i0 ..< i0 + rows of op(A), columns p0 ..< p0 + kc, into panels of mr rows: panel q holds, for each
    // column p, the mr values of rows q·mr ..< q·mr + mr (zeros past the edge).
    void (*pack_a)(int transA, const float *a, long lda, long i0, long rows, long p0, long kc, float *out);
    // Rows p0 ..< p0 + kc of op(B), columns j0 ..< j0 + cols, into panels of nr columns: panel q holds, for each
    // row p, the nr values of columns q·nr ..< q·nr + nr (zeros past the edge).
    void (*pack_b)(int transB, const float *b, long ldb, long p0, long kc, long j0, long cols, float *out);
    // C[0 ..< rows, 0 ..< cols] = alpha · (A panel · B panel) + beta · C, where beta == 0 never reads C. Row p of
    // the B panel starts at bp + p·bstride: nr for a packed panel, ldb for nr columns of op(B) read where they lie.
    void (*kernel)(long kc, const float *ap, const float *bp, long bstride, float *c, long ldc, long rows, long cols,
                   float alpha, float beta);
} vk_sgemm_kernels;

extern const vk_sgemm_kernels vk_avx512_sgemm_kernels;
extern const vk_sgemm_kernels vk_avx2_sgemm_kernels;

// C = alpha · op(A) · op(B) + beta · C on up to `threads` threads. Only products with m, n, k > 0 and alpha ≠ 0.
void vk_own_sgemm(const vk_sgemm_kernels *kernels, int transA, int transB, long m, long n, long k, float alpha,
                  const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc, int threads);

// The same product when op(A) is mostly zeros and B is not transposed (products_sparse.c): returns 1 when it has
// computed C, 0 (C untouched) when op(A) is too dense or the product too small or narrow for it to pay. `wide`: the
// processor has AVX-512 and its paths are wanted.
int vk_sparse_sgemm(int wide, int transA, long m, long n, long k, float alpha, const float *a, long lda, const float *b, long ldb,
                    float beta, float *c, long ldc, int threads);

#endif
