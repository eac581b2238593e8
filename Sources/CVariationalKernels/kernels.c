#define _GNU_SOURCE  // sincos, M_PI
#include "CVariationalKernels.h"
#include "parts.h"
#include "products.h"

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <immintrin.h>
#include <malloc.h>
#include <sched.h>

// Tensor storage comes and goes in blocks of hundreds of kilobytes. With glibc's defaults each such block is a
// fresh mmap whose pages fault in on first touch and are unmapped on free, which cost ~20% of a VAE step.
// Keeping large blocks on the heap (and not trimming it) lets freed blocks be reused: a buffer pool for free.
__attribute__((constructor)) static void keep_tensor_buffers_on_the_heap(void) {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

// MARK: - Zeros to copy small arrays from

static const double zero_doubles[VK_ZERO_BLOCK] = {0};
static const float zero_floats[VK_ZERO_BLOCK] = {0};
const double *vk_zero_doubles(void) { return zero_doubles; }
const float *vk_zero_floats(void) { return zero_floats; }

// MARK: - The tensor walk's visitor, one per thread

static _Thread_local void *active_visitor = 0;
void *vk_active_visitor(void) { return active_visitor; }
void vk_set_active_visitor(void *visitor) { active_visitor = visitor; }
// Initial-exec: a general-dynamic slot cost a call (__tls_get_addr) per access. One pointer fits the static TLS
// surplus glibc keeps, also when the library is a shared object loaded later.
static _Thread_local __attribute__((tls_model("initial-exec"))) void *gradient_sink = 0;
void *vk_gradient_sink(void) { return gradient_sink; }
void vk_set_gradient_sink(void *sink) { gradient_sink = sink; }

// MARK: - Loading OpenBLAS at run time

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int,
                         double, double *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);
typedef void (*dgemv_fn)(int, int, int, int, double, const double *, int, const double *, int, double,
                         double *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*config_fn)(void);

static int initialized = 0;
static int forced_portable = 0;
static sgemm_fn blas_sgemm = 0;
static dgemm_fn blas_dgemm = 0;
static sgemv_fn blas_sgemv = 0;
static dgemv_fn blas_dgemv = 0;
static set_threads_fn blas_set_threads = 0;
static config_fn blas_config = 0;
static int max_threads = 1;
static int current_threads = -1;
static int has_avx2 = 0;
static int has_avx512 = 0;

// The cores this process may run on: the online ones, fewer when its affinity mask (taskset, a container's
// cpuset) allows fewer. Two BLAS threads on one allowed core wait on each other: a VAE step took 9× as long.
static long available_cores(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        long allowed = CPU_COUNT(&set);
        if (allowed > 0 && (cores <= 0 || allowed < cores)) cores = allowed;
    }
    return cores;
}

int vk_initialize(void) {
    if (initialized) return blas_sgemm != 0;
    initialized = 1;
    has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    has_avx512 = __builtin_cpu_supports("avx512f");
    long cores = available_cores();
    max_threads = cores > 0 ? (int)cores : 1;
    // VARIATIONAL_THREADS, or else OpenBLAS's own OPENBLAS_NUM_THREADS, caps the threads.
    const char *threads = getenv("VARIATIONAL_THREADS");
    if (!threads) threads = getenv("OPENBLAS_NUM_THREADS");
    if (threads && atoi(threads) > 0 && atoi(threads) < max_threads) max_threads = atoi(threads);
    const char *choice = getenv("VARIATIONAL_KERNEL");
    if (choice && strcmp(choice, "portable") == 0) {
        has_avx2 = 0;  // portable throughout: no OpenBLAS, and plain C in place of the AVX-512, AVX2 and libmvec paths
        has_avx512 = 0;
        return 0;
    }
    if (choice && strcmp(choice, "avx2") == 0) has_avx512 = 0;  // the AVX2 paths on an AVX-512 machine (tests)
    const char *names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0", 0};
    void *handle = 0;
    for (int i = 0; names[i] && !handle; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!handle) return 0;
    blas_sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    blas_dgemm = (dgemm_fn)dlsym(handle, "cblas_dgemm");
    blas_sgemv = (sgemv_fn)dlsym(handle, "cblas_sgemv");
    blas_dgemv = (dgemv_fn)dlsym(handle, "cblas_dgemv");
    blas_set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
    blas_config = (config_fn)dlsym(handle, "openblas_get_config");
    if (!blas_sgemm || !blas_dgemm || !blas_sgemv || !blas_dgemv) {
        blas_sgemm = 0; blas_dgemm = 0; blas_sgemv = 0; blas_dgemv = 0;
        return 0;
    }
    return 1;
}

int vk_using_openblas(void) { vk_initialize(); return blas_sgemm != 0 && !forced_portable; }
const char *vk_blas_description(void) {
    vk_initialize();
    if (!blas_sgemm || forced_portable) return "";
    return blas_config ? blas_config() : "OpenBLAS";
}
int vk_max_threads(void) { vk_initialize(); return max_threads; }
void vk_set_max_threads(int threads) {
    vk_initialize();
    long cores = available_cores();
    if (threads < 1) threads = 1;
    if (cores > 0 && threads > cores) threads = (int)cores;
    max_threads = threads;
}
int vk_using_vector_math(void) { vk_initialize(); return has_avx2; }
int vk_own_float_products(void) {
    vk_initialize();
    return forced_portable ? 0 : has_avx512 ? 512 : has_avx2 ? 256 : 0;
}
int vk_using_avx512_vector_math(void) { vk_initialize(); return has_avx512; }
void vk_force_portable(int portable) { vk_initialize(); forced_portable = portable; }

// Small products stay on one thread: waking a second thread costs more than it saves below ~2 MFLOP.
static void choose_threads(double flops) {
    if (!blas_set_threads) return;
    int wanted = flops < 2.0e6 ? 1 : max_threads;
    if (wanted != current_threads) {
        blas_set_threads(wanted);
        current_threads = wanted;
    }
}

// MARK: - Portable GEMM: pack op(A) and op(B) into row-major panels, then a blocked i-k-j loop.

#define DEFINE_PORTABLE_GEMM(NAME, T)                                                                     \
    static void NAME(int transA, int transB, long m, long n, long k, T alpha, const T *a, long lda,     \
                     const T *b, long ldb, T beta, T *c, long ldc) {                                       \
        for (long i = 0; i < m; i++) {                                                                     \
            T *row = c + i * ldc;                                                                          \
            if (beta == 0) { for (long j = 0; j < n; j++) row[j] = 0; }                                    \
            else if (beta != 1) { for (long j = 0; j < n; j++) row[j] *= beta; }                           \
        }                                                                                                  \
        if (k == 0 || alpha == 0) return;                                                                  \
        T *pb = 0;                                                                                         \
        const T *bb = b;                                                                                   \
        long ldbb = ldb;                                                                                   \
        if (transB) {                                                                                      \
            pb = (T *)malloc(sizeof(T) * (size_t)(k * n));                                                 \
            for (long j = 0; j < n; j++)                                                                   \
                for (long p = 0; p < k; p++) pb[p * n + j] = b[j * ldb + p];                               \
            bb = pb; ldbb = n;                                                                             \
        }                                                                                                  \
        const long KB = 256, NB = 512, MB = 64;                                                            \
        for (long j0 = 0; j0 < n; j0 += NB) {                                                              \
            long j1 = j0 + NB < n ? j0 + NB : n;                                                           \
            for (long p0 = 0; p0 < k; p0 += KB) {                                                          \
                long p1 = p0 + KB < k ? p0 + KB : k;                                                       \
                for (long i0 = 0; i0 < m; i0 += MB) {                                                      \
                    long i1 = i0 + MB < m ? i0 + MB : m;                                                   \
                    for (long i = i0; i < i1; i++) {                                                       \
                        T *restrict crow = c + i * ldc;                                                    \
                        for (long p = p0; p < p1; p++) {                                                   \
                            T av = alpha * (transA ? a[p * lda + i] : a[i * lda + p]);                     \
                            if (av == 0) continue;                                                         \
                            const T *restrict brow = bb + p * ldbb;                                        \
                            for (long j = j0; j < j1; j++) crow[j] += av * brow[j];                        \
                        }                                                                                  \
                    }                                                                                      \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
        free(pb);                                                                                          \
    }

DEFINE_PORTABLE_GEMM(portable_sgemm, float)
DEFINE_PORTABLE_GEMM(portable_dgemm, double)

// Σ a[i]·b[i] with four running sums, so the additions pipeline (the plain-C twin of avx_dot4).
#define DEFINE_PORTABLE_DOT4(NAME, T)                                                                     \
    static inline T NAME(long n, const T *a, const T *b) {                                                \
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                                  \
        long i = 0;                                                                                        \
        for (; i + 4 <= n; i += 4) {                                                                       \
            s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3]; \
        }                                                                                                  \
        for (; i < n; i++) s0 += a[i] * b[i];                                                              \
        return (s0 + s1) + (s2 + s3);                                                                      \
    }

DEFINE_PORTABLE_DOT4(portable_sdot4, float)
DEFINE_PORTABLE_DOT4(portable_dot4, double)

#define DEFINE_PORTABLE_GEMV(NAME, T, DOT)                                                                \
    static void NAME(int transA, long m, long n, T alpha, const T *a, long lda, const T *x, T beta,       \
                     T *y) {                                                                               \
        if (!transA) {                                                                                     \
            for (long i = 0; i < m; i++) {                                                                 \
                y[i] = (beta == 0 ? 0 : beta * y[i]) + alpha * DOT(n, a + i * lda, x);                     \
            }                                                                                              \
        } else {                                                                                           \
            for (long j = 0; j < n; j++) y[j] = beta == 0 ? 0 : beta * y[j];                               \
            for (long i = 0; i < m; i++) {                                                                 \
                const T *row = a + i * lda;                                                                \
                T xi = alpha * x[i];                                                                       \
                for (long j = 0; j < n; j++) y[j] += xi * row[j];                                          \
            }                                                                                              \
        }                                                                                                  \
    }

DEFINE_PORTABLE_GEMV(portable_sgemv, float, portable_sdot4)
DEFINE_PORTABLE_GEMV(portable_dgemv, double, portable_dot4)

// The same products with AVX2 and FMA, for the small and thin products of models (a row of weights against a
// data matrix), where a library call costs more than the arithmetic. Without transposition each output is a dot
// product, four rows at a time so that four independent sums pipeline; transposed, each row of a adds x[i] times
// itself into y, four rows per pass over y.
typedef double vk_d4 __attribute__((vector_size(32), aligned(8)));
typedef float vk_s8 __attribute__((vector_size(32), aligned(4)));
typedef long vk_l4 __attribute__((vector_size(32), aligned(8)));  // integers of the same widths: masks, sign bits
typedef int vk_i8 __attribute__((vector_size(32), aligned(4)));
typedef double vk_d8 __attribute__((vector_size(64), aligned(8)));
typedef float vk_s16 __attribute__((vector_size(64), aligned(4)));
typedef long vk_l8 __attribute__((vector_size(64), aligned(8)));
typedef int vk_i16 __attribute__((vector_size(64), aligned(4)));

#define DEFINE_AVX_GEMV(NAME, T, V)                                                                           \
    __attribute__((target("avx2,fma"))) static void NAME(int transA, long m, long n, T alpha, const T *a,     \
                                                         long lda, const T *x, T beta, T *y) {                \
        enum { W = sizeof(V) / sizeof(T) };                                                                   \
        if (!transA) {                                                                                        \
            long i = 0;                                                                                       \
            for (; i < m; i += 4) {                                                                           \
                long rows = m - i < 4 ? m - i : 4;                                                            \
                const T *r[4];                                                                                \
                for (long k = 0; k < 4; k++) r[k] = a + (i + (k < rows ? k : 0)) * lda;                       \
                V s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                                                     \
                long j = 0;                                                                                   \
                for (; j + W <= n; j += W) {                                                                  \
                    V v = *(const V *)(x + j);                                                                \
                    s0 += *(const V *)(r[0] + j) * v;                                                         \
                    s1 += *(const V *)(r[1] + j) * v;                                                         \
                    s2 += *(const V *)(r[2] + j) * v;                                                         \
                    s3 += *(const V *)(r[3] + j) * v;                                                         \
                }                                                                                             \
                V sums[4] = {s0, s1, s2, s3};                                                                 \
                for (long k = 0; k < rows; k++) {                                                             \
                    T total = 0;                                                                              \
                    for (int lane = 0; lane < W; lane++) total += sums[k][lane];                              \
                    for (long t = j; t < n; t++) total += r[k][t] * x[t];                                     \
                    y[i + k] = (beta == 0 ? 0 : beta * y[i + k]) + alpha * total;                             \
                }                                                                                             \
            }                                                                                                 \
        } else {                                                                                              \
            for (long j = 0; j < n; j++) y[j] = beta == 0 ? 0 : beta * y[j];                                  \
            for (long i = 0; i < m; i += 4) {                                                                 \
                long rows = m - i < 4 ? m - i : 4;                                                            \
                T c[4] = {0, 0, 0, 0};                                                                        \
                const T *r[4];                                                                                \
                for (long k = 0; k < 4; k++) {                                                                \
                    r[k] = a + (i + (k < rows ? k : 0)) * lda;                                                \
                    if (k < rows) c[k] = alpha * x[i + k];                                                    \
                }                                                                                             \
                V c0 = c[0] - (V){0}, c1 = c[1] - (V){0}, c2 = c[2] - (V){0}, c3 = c[3] - (V){0};             \
                long j = 0;                                                                                   \
                for (; j + W <= n; j += W) {                                                                  \
                    V acc = *(V *)(y + j);                                                                    \
                    acc += c0 * *(const V *)(r[0] + j);                                                       \
                    acc += c1 * *(const V *)(r[1] + j);                                                       \
                    acc += c2 * *(const V *)(r[2] + j);                                                       \
                    acc += c3 * *(const V *)(r[3] + j);                                                       \
                    *(V *)(y + j) = acc;                                                                      \
                }                                                                                             \
                for (; j < n; j++) y[j] += c[0] * r[0][j] + c[1] * r[1][j] + c[2] * r[2][j] + c[3] * r[3][j]; \
            }                                                                                                 \
        }                                                                                                     \
    }

DEFINE_AVX_GEMV(avx_sgemv, float, vk_s8)
DEFINE_AVX_GEMV(avx_dgemv, double, vk_d4)

// The same products for a narrow matrix, n ≤ 4 vectors wide (16 doubles, 32 floats: a model's features), where the
// loops above spend more on tails and horizontal sums than on arithmetic. Each row is whole vectors, the last one
// loaded through a mask. Without transposition four rows' sums are reduced together by pairwise horizontal adds;
// transposed, y stays in registers for the whole pass over a.
#define DEFINE_NARROW_GEMV(NAME, T, V, I, W, MASKLOAD)                                                        \
    /* B vectors a row, a constant in each instance, so that the compiler keeps every vector in a register */  \
    __attribute__((target("avx2,fma"), always_inline)) static inline void NAME##_blocks(                       \
        const int B, int transA, long m, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {     \
        I lanes;                                                                                               \
        for (int k = 0; k < W; k++) lanes[k] = (B - 1) * W + k < n ? -1 : 0;                                   \
        V zero = {0};                                                                                          \
        if (!transA) {                                                                                         \
            V xs[4];                                                                                           \
            for (int b = 0; b < B; b++) xs[b] = b + 1 < B ? load_##V(x + b * W) : MASKLOAD(x + b * W, lanes);   \
            for (long i = 0; i < m; i += 4) {                                                                  \
                long rows = m - i < 4 ? m - i : 4;                                                             \
                V sums[4];                                                                                     \
                for (int k = 0; k < 4; k++) {                                                                  \
                    const T *r = a + (rows == 4 || k < rows ? i + k : i) * lda;                                \
                    V s = MASKLOAD(r + (B - 1) * W, lanes) * xs[B - 1];                                        \
                    for (int b = 0; b + 1 < B; b++) s += load_##V(r + b * W) * xs[b];                          \
                    sums[k] = s;                                                                               \
                }                                                                                              \
                T totals[4];                                                                                   \
                reduce4_##V(sums, totals);                                                                     \
                for (long k = 0; k < rows; k++) y[i + k] = (beta == 0 ? 0 : beta * y[i + k]) + alpha * totals[k]; \
            }                                                                                                  \
        } else {                                                                                               \
            /* two sets of sums, even and odd rows, so that consecutive rows do not wait on each other */     \
            V even[4] = {zero, zero, zero, zero}, odd[4] = {zero, zero, zero, zero};                           \
            long i = 0;                                                                                        \
            for (; i + 2 <= m; i += 2) {                                                                       \
                const T *r = a + i * lda;                                                                      \
                V c0 = zero + x[i], c1 = zero + x[i + 1];                                                      \
                for (int b = 0; b + 1 < B; b++) {                                                              \
                    even[b] += c0 * load_##V(r + b * W);                                                       \
                    odd[b] += c1 * load_##V(r + lda + b * W);                                                  \
                }                                                                                              \
                even[B - 1] += c0 * MASKLOAD(r + (B - 1) * W, lanes);                                          \
                odd[B - 1] += c1 * MASKLOAD(r + lda + (B - 1) * W, lanes);                                     \
            }                                                                                                  \
            if (i < m) {                                                                                       \
                V c = zero + x[i];                                                                             \
                for (int b = 0; b + 1 < B; b++) even[b] += c * load_##V(a + i * lda + b * W);                  \
                even[B - 1] += c * MASKLOAD(a + i * lda + (B - 1) * W, lanes);                                 \
            }                                                                                                  \
            for (int b = 0; b < B; b++) {                                                                      \
                T out[W];                                                                                      \
                V total = even[b] + odd[b];                                                                    \
                memcpy(out, &total, sizeof out);                                                               \
                for (long k = 0; k < W && b * W + k < n; k++)                                                  \
                    y[b * W + k] = (beta == 0 ? 0 : beta * y[b * W + k]) + alpha * out[k];                     \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    __attribute__((target("avx2,fma"))) static void NAME(int transA, long m, long n, T alpha, const T *a,      \
                                                         long lda, const T *x, T beta, T *y) {                 \
        switch ((n + W - 1) / W) {                                                                             \
        case 1: NAME##_blocks(1, transA, m, n, alpha, a, lda, x, beta, y); break;                              \
        case 2: NAME##_blocks(2, transA, m, n, alpha, a, lda, x, beta, y); break;                              \
        case 3: NAME##_blocks(3, transA, m, n, alpha, a, lda, x, beta, y); break;                              \
        default: NAME##_blocks(4, transA, m, n, alpha, a, lda, x, beta, y); break;                             \
        }                                                                                                      \
    }

__attribute__((target("avx2,fma"))) static inline vk_d4 load_vk_d4(const double *p) { vk_d4 v; memcpy(&v, p, sizeof v); return v; }
__attribute__((target("avx2,fma"))) static inline vk_s8 load_vk_s8(const float *p) { vk_s8 v; memcpy(&v, p, sizeof v); return v; }
__attribute__((target("avx2,fma"))) static inline vk_d4 maskload_d4(const double *p, vk_l4 mask) {
    return (vk_d4)_mm256_maskload_pd(p, (__m256i)mask);
}
__attribute__((target("avx2,fma"))) static inline vk_s8 maskload_s8(const float *p, vk_i8 mask) {
    return (vk_s8)_mm256_maskload_ps(p, (__m256i)mask);
}
// The four sums of four vectors, in one vector's worth of pairwise adds.
__attribute__((target("avx2,fma"))) static inline void reduce4_vk_d4(const vk_d4 *s, double *out) {
    __m256d h01 = _mm256_hadd_pd((__m256d)s[0], (__m256d)s[1]), h23 = _mm256_hadd_pd((__m256d)s[2], (__m256d)s[3]);
    __m256d low = _mm256_permute2f128_pd(h01, h23, 0x20), high = _mm256_permute2f128_pd(h01, h23, 0x31);
    _mm256_storeu_pd(out, _mm256_add_pd(low, high));
}
__attribute__((target("avx2,fma"))) static inline void reduce4_vk_s8(const vk_s8 *s, float *out) {
    __m256 h01 = _mm256_hadd_ps((__m256)s[0], (__m256)s[1]), h23 = _mm256_hadd_ps((__m256)s[2], (__m256)s[3]);
    __m256 h = _mm256_hadd_ps(h01, h23);  // lanes: 0 1 2 3 of the low halves, then of the high halves
    __m128 sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    _mm_storeu_ps(out, sums);
}

DEFINE_NARROW_GEMV(narrow_sgemv, float, vk_s8, vk_i8, 8, maskload_s8)
DEFINE_NARROW_GEMV(narrow_dgemv, double, vk_d4, vk_l4, 4, maskload_d4)

// The same products with AVX-512 for a thin matrix, a few rows against many columns (a model's weights against its
// data, D × N): what the likelihood of a regression runs through, forward and backward, at every step.
// Transposed, y (n) = Σᵢ x[i]·a[i, ·]: each block of 8 vectors of y is summed in registers down all m rows and
// stored once (the AVX2 loop above loads and stores y once per four rows). Without transposition, y (m) holds m dot
// products: 8 rows share each load of x, and fewer rows take more vectors of x a step, so that 8 independent sums
// keep both multiply-add units busy. The last columns are read through a mask.
#define DEFINE_THIN_GEMV(NAME, T, V, MASK, W, LOADU, MASKZ_LOADU, MASK_STOREU, FMADD, MUL, ADD, SET1, ZERO, REDUCE)        \
    __attribute__((target("avx512f"), always_inline)) static inline T NAME##_finish(T alpha, T beta, T old, T s) { \
        return (beta == 0 ? 0 : beta * old) + alpha * s;                                                          \
    }                                                                                                             \
    /* R rows, U vectors of x a step: R·U independent sums */                                                     \
    __attribute__((target("avx512f"), always_inline)) static inline void NAME##_rows(                             \
        const int R, const int U, const int F, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {  \
        V s[8][8];                                                                                                \
        for (int r = 0; r < R; r++)                                                                               \
            for (int u = 0; u < U; u++) s[r][u] = ZERO();                                                         \
        long j = 0;                                                                                               \
        for (; j + U * W <= n; j += U * W) {                                                                      \
            for (int u = 0; u < U; u++) {                                                                         \
                V v = LOADU(x + j + u * W);                                                                       \
                for (int r = 0; r < R; r++) s[r][u] = FMADD(LOADU(a + r * lda + j + u * W), v, s[r][u]);          \
                if (F) /* a line a row, eight lines ahead */                                                      \
                    for (int r = 0; r < R; r++) _mm_prefetch((const char *)(a + r * lda + j + u * W + 8 * W), _MM_HINT_T0); \
            }                                                                                                     \
        }                                                                                                         \
        for (; j + W <= n; j += W) {                                                                              \
            V v = LOADU(x + j);                                                                                   \
            for (int r = 0; r < R; r++) s[r][0] = FMADD(LOADU(a + r * lda + j), v, s[r][0]);                      \
        }                                                                                                         \
        if (j < n) {                                                                                              \
            MASK mask = (MASK)((1u << (n - j)) - 1);                                                              \
            V v = MASKZ_LOADU(mask, x + j);                                                                       \
            for (int r = 0; r < R; r++) s[r][0] = FMADD(MASKZ_LOADU(mask, a + r * lda + j), v, s[r][0]);          \
        }                                                                                                         \
        for (int r = 0; r < R; r++) {                                                                             \
            for (int u = 1; u < U; u++) s[r][0] = ADD(s[r][0], s[r][u]);                                              \
            y[r] = NAME##_finish(alpha, beta, y[r], REDUCE(s[r][0]));                                             \
        }                                                                                                         \
    }                                                                                                             \
    __attribute__((target("avx512f"), always_inline)) static inline void NAME##_dots(                             \
        const int F, long m, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {                   \
        long i = 0;                                                                                               \
        for (; i + 8 <= m; i += 8) NAME##_rows(8, 1, F, n, alpha, a + i * lda, lda, x, beta, y + i);              \
        if (m - i >= 4) { NAME##_rows(4, 2, F, n, alpha, a + i * lda, lda, x, beta, y + i); i += 4; }             \
        if (m - i >= 2) { NAME##_rows(2, 4, F, n, alpha, a + i * lda, lda, x, beta, y + i); i += 2; }             \
        if (m - i >= 1) NAME##_rows(1, 8, F, n, alpha, a + i * lda, lda, x, beta, y + i);                         \
    }                                                                                                             \
    __attribute__((target("avx512f"), always_inline)) static inline void NAME##_columns(                          \
        const int F, long m, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {                   \
        long j = 0;                                                                                               \
        for (; j + 8 * W <= n; j += 8 * W) {                                                                      \
            V s[8];                                                                                               \
            for (int u = 0; u < 8; u++) s[u] = ZERO();                                                            \
            for (long i = 0; i < m; i++) {                                                                        \
                V c = SET1(x[i]);                                                                                 \
                for (int u = 0; u < 8; u++) s[u] = FMADD(c, LOADU(a + i * lda + j + u * W), s[u]);                \
                if (F) /* the row's lines of the next block */                                                    \
                    for (int u = 0; u < 8; u++) _mm_prefetch((const char *)(a + i * lda + j + 8 * W + u * W), _MM_HINT_T0); \
            }                                                                                                     \
            for (int u = 0; u < 8; u++) {                                                                         \
                V out = MUL(SET1(alpha), s[u]);                                                                       \
                if (beta != 0) out = FMADD(SET1(beta), LOADU(y + j + u * W), out);                                \
                memcpy(y + j + u * W, &out, sizeof out);                                                          \
            }                                                                                                     \
        }                                                                                                         \
        for (; j < n; j += W) {                                                                                   \
            MASK mask = n - j >= W ? (MASK)-1 : (MASK)((1u << (n - j)) - 1);                                      \
            V s = ZERO();                                                                                         \
            for (long i = 0; i < m; i++) s = FMADD(SET1(x[i]), MASKZ_LOADU(mask, a + i * lda + j), s);            \
            V out = MUL(SET1(alpha), s);                                                                              \
            if (beta != 0) out = FMADD(SET1(beta), MASKZ_LOADU(mask, y + j), out);                                \
            MASK_STOREU(y + j, mask, out);                                                                        \
        }                                                                                                         \
    }                                                                                                             \
    /* A matrix larger than the first-level cache (48 KB here) streams from the second, whose lines the loops ask */ \
    /* for ahead: 10 × 1000 doubles, forward and backward, 1.11 and 1.06 µs → 0.93 and 0.97 µs; below it the */  \
    /* requests only cost (10 × 500: 246 → 294 ns forward). */                                                     \
    __attribute__((target("avx512f"))) static void NAME(int transA, long m, long n, T alpha, const T *a,          \
                                                        long lda, const T *x, T beta, T *y) {                     \
        int far = (unsigned long)m * (unsigned long)lda * sizeof(T) > 48 * 1024;                                  \
        if (!transA && far) NAME##_dots(1, m, n, alpha, a, lda, x, beta, y);                                      \
        else if (!transA) NAME##_dots(0, m, n, alpha, a, lda, x, beta, y);                                        \
        else if (far) NAME##_columns(1, m, n, alpha, a, lda, x, beta, y);                                         \
        else NAME##_columns(0, m, n, alpha, a, lda, x, beta, y);                                                  \
    }

DEFINE_THIN_GEMV(thin512_sgemv, float, __m512, __mmask16, 16, _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps,
                 _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_reduce_add_ps)
DEFINE_THIN_GEMV(thin512_dgemv, double, __m512d, __mmask8, 8, _mm512_loadu_pd, _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd,
                 _mm512_fmadd_pd, _mm512_mul_pd, _mm512_add_pd, _mm512_set1_pd, _mm512_setzero_pd, _mm512_reduce_add_pd)

// Below this many elements of a, a matrix-vector product stays on one thread in the kernel above.
enum { VK_SMALL_GEMV = 1 << 16 };

// Single-precision products run in the project's own kernels where the processor has AVX-512 or AVX2 with FMA
// (products.h; at the VAE's sizes faster than OpenBLAS 0.3.21 with AVX-512, as fast or faster with AVX2); double
// precision stays with OpenBLAS. A product with nothing to add (k = 0 or alpha = 0) only scales C by beta, which the
// other paths already do.
#define OWN_PRODUCT_s ((has_avx512 || has_avx2) && !forced_portable)
#define OWN_PRODUCT_d 0
#define OWN_PRODUCT(P) OWN_PRODUCT_##P

#define DEFINE_PRODUCTS(P, T)                                                                               \
    void vk_##P##gemm(int transA, int transB, long m, long n, long k, T alpha, const T *a, long lda,           \
                      const T *b, long ldb, T beta, T *c, long ldc) {                                          \
        vk_initialize();                                                                                       \
        if (m == 0 || n == 0) return;                                                                          \
        if (OWN_PRODUCT(P) && k > 0 && alpha != 0) {                                                           \
            vk_own_sgemm(has_avx512 ? &vk_avx512_sgemm_kernels : &vk_avx2_sgemm_kernels, transA, transB, m, n, \
                         k, (float)alpha, (const float *)a, lda, (const float *)b, ldb, (float)beta, (float *)c,  \
                         ldc, max_threads);                                                                     \
        } else if (blas_##P##gemm && !forced_portable) {                                                       \
            choose_threads(2.0 * m * n * k);                                                                   \
            blas_##P##gemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, (int)m, (int)n,       \
                           (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);                        \
        } else {                                                                                               \
            portable_##P##gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);                  \
        }                                                                                                      \
    }                                                                                                          \
    void vk_##P##gemv(int transA, long m, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {  \
        vk_initialize();                                                                                       \
        if (m == 0 || n == 0) {                                                                                \
            long len = transA ? n : m;                                                                         \
            for (long i = 0; i < len; i++) y[i] = beta == 0 ? 0 : beta * y[i];                                 \
            return;                                                                                            \
        }                                                                                                      \
        if (has_avx2 && (m * n <= VK_SMALL_GEMV || !blas_##P##gemv || forced_portable)) {                     \
            if (n <= 4 * (long)(32 / sizeof(T))) narrow_##P##gemv(transA, m, n, alpha, a, lda, x, beta, y);   \
            else if (has_avx512) thin512_##P##gemv(transA, m, n, alpha, a, lda, x, beta, y);                   \
            else avx_##P##gemv(transA, m, n, alpha, a, lda, x, beta, y);                                       \
        } else if (blas_##P##gemv && !forced_portable) {                                                       \
            choose_threads(2.0 * m * n);                                                                       \
            blas_##P##gemv(RowMajor, transA ? Trans : NoTrans, (int)m, (int)n, alpha, a, (int)lda, x, 1, beta, \
                           y, 1);                                                                              \
        } else {                                                                                               \
            portable_##P##gemv(transA, m, n, alpha, a, lda, x, beta, y);                                       \
        }                                                                                                      \
    }

DEFINE_PRODUCTS(s, float)
DEFINE_PRODUCTS(d, double)

// MARK: - exp in double precision

// Our own, at four and eight lanes with the same operations, so that every element gets the same bits on an AVX2
// machine as on an AVX-512 one, wherever it sits in its array. x = (16m + j)·log(2)/16 + r with j ∈ 0…15 and
// |r| ≤ log(2)/32, so exp(x) = 2^m · 2^(j/16) · exp(r): k = 16m + j is x·16/log 2 rounded to an integer (added to
// 1.5·2^52, whose last place is 1, it lands in the low bits), r = x − k·log(2)/16 in two fused steps (log(2)/16 as a
// high and a low part), exp(r) − 1 = r + r²(1/2! + r/3! + … + r⁵/7!) (the first term left out is below 2^-62
// relative), and 2^(j/16) is a high part and a low part from two 16-entry tables, so that
// exp(x) = 2^m · (h + (h·(exp(r) − 1) + l)). Scripts/exp_table.py makes the constants. The error is at most 0.56
// units in the last place (4.2 million inputs against expl) where libmvec's AVX-512 variant, used before, reaches
// 2.9; it takes 0.45–0.63 of libmvec's time on 496 elements (0.53 against 0.86 ns an element in one run; Zen 4,
// Scripts/exp_accuracy.c). Every multiply-add is written as one, so the compiler contracts nothing into a
// different rounding.
static const double exp_high[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
};
static const double exp_low[16] = {
    0x0.0p+0, 0x1.8a62e4adc610bp-54, -0x1.19041b9d78a76p-55, 0x1.9b07eb6c70573p-54,
    0x1.6f46ad23182e4p-55, 0x1.ada0911f09ebcp-55, 0x1.d4397afec42e2p-56, 0x1.6324c054647adp-54,
    -0x1.bdd3413b26456p-54, -0x1.41577ee04992fp-55, 0x1.6e9f156864b27p-54, 0x1.c7c46b071f2bep-56,
    0x1.7a1cd345dcc81p-54, 0x1.11065895048ddp-55, 0x1.2ed02d75b3707p-55, -0x1.e9c23179c2893p-54,
};
#define EXP_FMA __builtin_elementwise_fma

// e = 2^(j/16)·exp(r) ∈ [0.97, 1.96] and t, whose low bits hold k, for the lanes of x (V doubles, I integers).
#define EXP_REDUCED(V, I, LOOKUP, x, e, t)                                                             \
    const V shifter_ = (V){0} + 0x1.8p52;                                                              \
    V t = EXP_FMA(x, (V){0} + 0x1.71547652b82fep+4, shifter_), k_ = t - shifter_;                      \
    V r_ = EXP_FMA(-k_, (V){0} + 0x1.62e42fefa39efp-5, x);                                             \
    r_ = EXP_FMA(-k_, (V){0} + 0x1.abc9e3b39803fp-60, r_);                                             \
    V p_ = (V){0} + 0x1.a01a01a01a01ap-13;                                                             \
    p_ = EXP_FMA(p_, r_, (V){0} + 0x1.6c16c16c16c17p-10);                                              \
    p_ = EXP_FMA(p_, r_, (V){0} + 0x1.1111111111111p-7);                                               \
    p_ = EXP_FMA(p_, r_, (V){0} + 0x1.5555555555555p-5);                                               \
    p_ = EXP_FMA(p_, r_, (V){0} + 0x1.5555555555555p-3);                                               \
    p_ = EXP_FMA(p_, r_, (V){0} + 0x1.0000000000000p-1);                                               \
    V square_ = r_ * r_, q_ = EXP_FMA(square_, p_, r_);                                                \
    I j_ = (I)t & 15;                                                                                  \
    V high_ = LOOKUP(exp_high, j_), low_ = LOOKUP(exp_low, j_);                                        \
    V e = high_ + EXP_FMA(high_, q_, low_);

// exp of the lanes of x. Where every |x| < 704, 2^m·e is a normal number and is made by adding m to e's exponent.
// Elsewhere x is first clamped to [−746, 710] (NaN stays NaN) and 2^m applied in two normal factors, so that results
// past the largest double become ∞ and those below the normal range are rounded once, to a subnormal or to 0.
#define DEFINE_EXP(NAME, TARGET, V, I, LOOKUP, ALL)                                                    \
    __attribute__((target(TARGET), always_inline)) static inline V NAME(V x) {                         \
        const I magnitude = (I)((V){0} + INFINITY) | (I)((V){0} + 0x1.fffffffffffffp-1);               \
        if (ALL((V)((I)x & magnitude) < 704)) {                                                        \
            EXP_REDUCED(V, I, LOOKUP, x, e, t)                                                         \
            return (V)((I)e + ((((I)t - (I)shifter_) >> 4) << 52));                                    \
        }                                                                                              \
        const V lowest = (V){0} - 746, highest = (V){0} + 710;                                         \
        I below = x < lowest, above = x > highest;                                                     \
        V clamped = (V)(((I)x & ~(below | above)) | ((I)lowest & below) | ((I)highest & above));       \
        EXP_REDUCED(V, I, LOOKUP, clamped, e, t)                                                       \
        I m = ((I)t - (I)shifter_) >> 4, m1 = m >> 1, m2 = m - m1;                                     \
        return (e * (V)((m1 + 1023) << 52)) * (V)((m2 + 1023) << 52);                                  \
    }

#define EXP_LOOKUP4(table, j) ((vk_d4)_mm256_i64gather_pd((table), (__m256i)(j), 8))
#define EXP_LOOKUP8(table, j) \
    ((vk_d8)_mm512_permutex2var_pd(_mm512_loadu_pd(table), (__m512i)(j), _mm512_loadu_pd((table) + 8)))
#define EXP_ALL4(mask) (_mm256_movemask_pd((__m256d)(mask)) == 15)
#define EXP_ALL8(mask) (_mm512_cmplt_epi64_mask((__m512i)(mask), _mm512_setzero_si512()) == 0xff)
DEFINE_EXP(exp_d4, "avx2,fma", vk_d4, vk_l4, EXP_LOOKUP4, EXP_ALL4)
DEFINE_EXP(exp_d8, "avx512f", vk_d8, vk_l8, EXP_LOOKUP8, EXP_ALL8)

// A whole array four lanes at a time, the last partial vector from a padded copy, so that it goes through the same
// arithmetic. (With AVX-512, DEFINE_UNARY_AVX512 below takes whole vectors of eight and leaves the rest to this loop,
// as for the functions from libmvec: ElementwiseWidthTests, giving the kernel pieces of four, compares the widths.)
__attribute__((target("avx2,fma"))) static void avx_dexp(long n, const double *x, double *y) {
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        vk_d4 v;
        memcpy(&v, x + i, sizeof v);
        v = exp_d4(v);
        memcpy(y + i, &v, sizeof v);
    }
    if (i < n) {
        double padded[4] = {0};
        memcpy(padded, x + i, sizeof(double) * (size_t)(n - i));
        vk_d4 v;
        memcpy(&v, padded, sizeof v);
        v = exp_d4(v);
        memcpy(y + i, &v, sizeof(double) * (size_t)(n - i));
    }
}
// exp_d8 on the intrinsics' type, for DEFINE_UNARY_AVX512.
__attribute__((target("avx512f"), always_inline)) static inline __m512d exp_m512d(__m512d x) {
    return (__m512d)exp_d8((vk_d8)x);
}

// MARK: - Elementwise maths through libmvec's AVX2 variants

#define DECLARE_MVEC(F)                                                   \
    __attribute__((target("avx2,fma"))) __m256d _ZGVdN4v_##F(__m256d);    \
    __attribute__((target("avx2,fma"))) __m256 _ZGVdN8v_##F##f(__m256);

DECLARE_MVEC(exp)
DECLARE_MVEC(log)
DECLARE_MVEC(log1p)
DECLARE_MVEC(expm1)
DECLARE_MVEC(tanh)
DECLARE_MVEC(erf)

// Each function's AVX2 loop: four doubles (eight floats) at a time through libmvec, the tail through libm.
#define DEFINE_UNARY_AVX2_S(F)                                                                        \
    __attribute__((target("avx2,fma"))) static void avx_s##F(long n, const float *x, float *y) {    \
        long i = 0;                                                                                   \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _ZGVdN8v_##F##f(_mm256_loadu_ps(x + i)));  \
        for (; i < n; i++) y[i] = F##f(x[i]);                                                         \
    }
#define DEFINE_UNARY_AVX2(F)                                                                          \
    __attribute__((target("avx2,fma"))) static void avx_d##F(long n, const double *x, double *y) {  \
        long i = 0;                                                                                   \
        for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, _ZGVdN4v_##F(_mm256_loadu_pd(x + i)));     \
        for (; i < n; i++) y[i] = F(x[i]);                                                            \
    }                                                                                                 \
    DEFINE_UNARY_AVX2_S(F)

DEFINE_UNARY_AVX2_S(exp)
DEFINE_UNARY_AVX2(log)
DEFINE_UNARY_AVX2(log1p)
DEFINE_UNARY_AVX2(expm1)
DEFINE_UNARY_AVX2(tanh)
DEFINE_UNARY_AVX2(erf)

// Where libmvec's AVX-512 variant gives the same bits as its AVX2 one and takes less time, machines with AVX-512
// run it over whole vectors of eight doubles (sixteen floats) and leave the rest to the AVX2 loop, so that every
// element gets the value it gets on an AVX2 machine. exp and log in single precision agreed on every bit of
// 10,240,000 inputs each over their working ranges, in 0.72 and 0.76 of the time on 512 elements (Zen 4, a C
// harness); ElementwiseWidthTests checks it on every run, overflow and subnormal results included (exp in double
// agreed too, in 0.81 of the time, before it became our own above, whose two widths take the same loops). log in
// double, log1p, expm1, tanh and erf gave other bits in 0.2–60% of the elements (and erf took longer in double): they
// keep the AVX2 loop.
#define DEFINE_UNARY_AVX512(P, F, T, W, M, PFX, SUFFIX)                                                \
    __attribute__((target("avx512f"))) static void avx512_##P##F(long n, const T *x, T *y) {            \
        long i = 0;                                                                                     \
        for (; i + W <= n; i += W) PFX##_storeu_##SUFFIX(y + i, M(PFX##_loadu_##SUFFIX(x + i)));       \
        avx_##P##F(n - i, x + i, y + i);                                                                \
    }
__attribute__((target("avx512f"))) __m512 _ZGVeN16v_expf(__m512);
__attribute__((target("avx512f"))) __m512 _ZGVeN16v_logf(__m512);
DEFINE_UNARY_AVX512(d, exp, double, 8, exp_m512d, _mm512, pd)
DEFINE_UNARY_AVX512(s, exp, float, 16, _ZGVeN16v_expf, _mm512, ps)
DEFINE_UNARY_AVX512(s, log, float, 16, _ZGVeN16v_logf, _mm512, ps)

// The entry points. WIDE_D, WIDE_S: the loop for machines with AVX-512 (the AVX2 one where there is none better).
#define DEFINE_UNARY(F, WIDE_D, WIDE_S)                                                               \
    void vk_d##F(long n, const double *x, double *y) {                                                \
        vk_initialize();                                                                              \
        if (has_avx2) { (has_avx512 ? WIDE_D : avx_d##F)(n, x, y); return; }                          \
        for (long i = 0; i < n; i++) y[i] = F(x[i]);                                                  \
    }                                                                                                 \
    void vk_s##F(long n, const float *x, float *y) {                                                  \
        vk_initialize();                                                                              \
        if (has_avx2) { (has_avx512 ? WIDE_S : avx_s##F)(n, x, y); return; }                          \
        for (long i = 0; i < n; i++) y[i] = F##f(x[i]);                                               \
    }

DEFINE_UNARY(exp, avx512_dexp, avx512_sexp)
DEFINE_UNARY(log, avx_dlog, avx512_slog)
DEFINE_UNARY(log1p, avx_dlog1p, avx_slog1p)
DEFINE_UNARY(expm1, avx_dexpm1, avx_sexpm1)
DEFINE_UNARY(tanh, avx_dtanh, avx_stanh)
DEFINE_UNARY(erf, avx_derf, avx_serf)

// MARK: - Standard normal draws by the Box–Muller transform

// values holds `pairs` pairs of uniforms (u₁, u₂) in (0, 1) and receives, in their place, r·cos θ and r·sin θ with
// r = √(−2 log u₁) and θ = 2π·u₂. Eight or four pairs at a time through libmvec: the even and odd elements of two
// vectors are the u₁'s and u₂'s (unpacklo/unpackhi within lanes), and the same two unpacks put the results back. The
// tail goes through a padded copy, so a pair's normals do not depend on where it sits in the array.
__attribute__((target("avx2,fma"))) __m256d _ZGVdN4v_sin(__m256d);
__attribute__((target("avx2,fma"))) __m256d _ZGVdN4v_cos(__m256d);
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_log(__m512d);
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_sin(__m512d);
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_cos(__m512d);

// One vector step of W pairs: PFX is the intrinsics' prefix (_mm256, _mm512), MVEC libmvec's (_ZGVdN4v_, _ZGVeN8v_).
#define DEFINE_BOX_MULLER(NAME, TARGET, V, PFX, W, MVEC)                                                        \
    __attribute__((target(TARGET))) static void NAME(double *v) {                                              \
        V a = PFX##_loadu_pd(v), b = PFX##_loadu_pd(v + W);                                                    \
        V u1 = PFX##_unpacklo_pd(a, b), u2 = PFX##_unpackhi_pd(a, b);                                         \
        V r = PFX##_sqrt_pd(PFX##_mul_pd(PFX##_set1_pd(-2.0), MVEC##log(u1)));                                \
        V theta = PFX##_mul_pd(PFX##_set1_pd(2 * M_PI), u2);                                                    \
        V even = PFX##_mul_pd(r, MVEC##cos(theta)), odd = PFX##_mul_pd(r, MVEC##sin(theta));                  \
        PFX##_storeu_pd(v, PFX##_unpacklo_pd(even, odd));                                                      \
        PFX##_storeu_pd(v + W, PFX##_unpackhi_pd(even, odd));                                                  \
    }
DEFINE_BOX_MULLER(box_muller512, "avx512f", __m512d, _mm512, 8, _ZGVeN8v_)
DEFINE_BOX_MULLER(box_muller256, "avx2,fma", __m256d, _mm256, 4, _ZGVdN4v_)

void vk_standard_normals(long pairs, double *values) {
    vk_initialize();
    long width = has_avx512 ? 8 : has_avx2 ? 4 : 0;  // pairs per vector step
    if (width == 0) {
        for (long i = 0; i < pairs; i++) {
            double r = sqrt(-2 * log(values[2 * i])), sine, cosine;
            sincos(2 * M_PI * values[2 * i + 1], &sine, &cosine);
            values[2 * i] = r * cosine;
            values[2 * i + 1] = r * sine;
        }
        return;
    }
    void (*step)(double *) = width == 8 ? box_muller512 : box_muller256;
    long i = 0;
    for (; i + width <= pairs; i += width) step(values + 2 * i);
    if (i < pairs) {
        double padded[16];
        long rest = 2 * (pairs - i);
        for (long j = 0; j < 16; j++) padded[j] = j < rest ? values[2 * i + j] : 0.5;
        step(padded);
        memcpy(values + 2 * i, padded, (size_t)rest * sizeof(double));
    }
}

// MARK: - The logistic family: sigmoid, softplus, the cross-entropy from logits, the Bernoulli log density

// All of them come from e = exp(−|l|) ∈ (0, 1], which cannot overflow:
//   σ(l) = r for l ≥ 0 and e·r below, with r = 1/(1 + e);
//   softplus(l) = max(l, 0) + log(1 + e);
//   the cross-entropy softplus(l) − x·l, with its gradient σ(l) − x;
//   log Bernoulli(x; σ(l)) = −cross-entropy, with its gradient x − σ(l), and −∞ and 0 where x is neither 0 nor 1,
//   counting such x (a caller needs a mask only when there are some).
// log(1 + e) is 2 atanh(s), s = e/(2 + e) ≤ 1/3, whose odd series is 2s (1 + q/3 + q²/5 + …) with q = s² ≤ 1/9;
// 2s is formed as e · 2/(2 + e), which keeps full relative accuracy down to the smallest subnormal e (e/(2 + e)
// would round it to 0). The series' tail g(q) = 1/3 + q/5 + q²/7 + … would need 16 terms to converge to the last bit
// (7 in single precision); a polynomial fitted to it over [0, 1/9] alone needs 10 (5), within 1/16 of a unit in the
// last place of 1 + q g(q) after its coefficients are rounded (Scripts/logistic_series.py makes and checks them).
// libmvec's general log1p costs about 18 instructions an element; this is a polynomial and a share of one division.
//
// One kernel computes them all, so that they agree bit for bit: labels may be null (x = 0), and y or g null when
// that output is not wanted. Every element takes the vector path, the tail of an array too (through a padded copy),
// so an element's value does not depend on where it sits in its array.


// Inlined by force: as calls, their 64-byte vectors went through the stack (5% of a logistic regression's step).
__attribute__((target("avx2,fma"), always_inline)) static inline vk_s8 exp_s8(vk_s8 x) { return (vk_s8)_ZGVdN8v_expf((__m256)x); }
__attribute__((target("avx512f"), always_inline)) static inline vk_s16 exp_s16(vk_s16 x) { return (vk_s16)_ZGVeN16v_expf((__m512)x); }

// g's fitted coefficients, lowest power first (Scripts/logistic_series.py).
static const double atanh_tail_d[10] = {
    0.33333333333333154, 0.20000000000078622, 0.14285714273926878, 0.11111111984868975, 0.09090871962356532,
    0.07693279963590306, 0.06650486768431797, 0.060530433042996656, 0.04170050051378867, 0.08509288835457403,
};
static const float atanh_tail_s[5] = {
    0.3333333730697632f, 0.19999438524246216f, 0.14308442175388336f, 0.10713828355073929f, 0.12150469422340393f,
};
#define ATANH_TAIL_TERMS(P) (int)(sizeof atanh_tail_##P / sizeof atanh_tail_##P[0])
// p = g(q) by Horner's rule, for one element or a vector of them: p starts at g's last coefficient.
#define ATANH_TAIL(P, p, q) for (int k_ = ATANH_TAIL_TERMS(P) - 2; k_ >= 0; k_--) p = p * q + atanh_tail_##P[k_]

// One element, for machines without AVX2: the same formulas, one lane at a time.
#define DEFINE_LOGISTIC_ELEMENT(P, T)                                                                  \
    static inline long logistic_element_##P(T v, T t, T *y, T *g, int logp) {                         \
        T e = (T)exp(-fabs((double)v)), a = 1 + e, b = 2 + e, inverse = 1 / (a * b);                  \
        T r = b * inverse, u = 2 * e * a * inverse, q = (T)0.25 * u * u;                              \
        T p = atanh_tail_##P[ATANH_TAIL_TERMS(P) - 1];                                                 \
        ATANH_TAIL(P, p, q);                                                                           \
        T vt = t != 0 ? v * t : 0; /* 0 where x = 0, also for an infinite l */                       \
        T ce = (v > 0 ? v : 0) - vt + u * (1 + q * p), grad = (v >= 0 ? r : e * r) - t;               \
        int valid = !logp | (t == 0) | (t == 1);                                                      \
        if (y) *y = !logp ? ce : valid ? -ce : -(T)INFINITY;                                          \
        if (g) *g = !logp ? grad : valid ? -grad : 0;                                                 \
        return !valid;                                                                                \
    }
DEFINE_LOGISTIC_ELEMENT(s, float)
DEFINE_LOGISTIC_ELEMENT(d, double)

// One vector's arithmetic: ce and grad from v (the logits), t (the labels) and e = exp(−|v|). The two divisions
// 1/(1 + e) and 2/(2 + e) share one.
#define LOGISTIC_LANES(P, T, V, I, v, t, e, ce, grad)                                                 \
    V ce, grad;                                                                                        \
    {                                                                                                  \
        V a = 1 + e, b = 2 + e, inverse = 1 / (a * b), r = b * inverse, u = 2 * e * a * inverse;      \
        V q = (T)0.25 * u * u, p = (V){0} + atanh_tail_##P[ATANH_TAIL_TERMS(P) - 1];                   \
        ATANH_TAIL(P, p, q);                                                                           \
        I positive = v > 0, nonnegative = v >= 0;                                                      \
        V vt = (V)((I)(v * t) & (t != 0)); /* 0 where x = 0, also for an infinite l */                  \
        ce = (V)((I)v & positive) - vt + u * (1 + q * p);                                              \
        grad = (V)(((I)r & nonnegative) | ((I)(e * r) & ~nonnegative)) - t;                            \
        if (logp) {                                                                                    \
            I valid = (t == 0) | (t == 1);                                                             \
            V minusInfinity = (V){0} - (T)INFINITY;                                                    \
            ce = (V)(((I)-ce & valid) | ((I)minusInfinity & ~valid));                                  \
            grad = (V)((I)-grad & valid);                                                              \
            invalidLanes += ~valid & 1; /* padded lanes have x = 0: valid */                           \
        }                                                                                              \
    }

// e = exp(−|l|) for the vectors of a chunk of `count` logits from `chunk` into es (W lanes a vector, sign its sign
// bit), those past `vectors` from the padded copy tail[0].
#define CHUNK_EXPONENTIALS(V, I, EXPV, chunk, vectors, count)                                          \
    for (long i = 0; i < (count); i += W) {                                                            \
        V v;                                                                                           \
        memcpy(&v, i < (vectors) ? (chunk) + i : tail[0], sizeof v);                                   \
        V e = EXPV((V)((I)v | sign));                                                                  \
        memcpy(es + i, &e, sizeof e);                                                                  \
    }

// W lanes of type V (I: integers of the same width, for the sign bit and the masks). The exponentials of a chunk
// come first, in a loop of their own, so that the loop after it has no calls; it then takes two vectors at a time,
// so that the processor overlaps their chains of dependent operations (the division, the series): 2–4% less time
// for 1,000 Bernoulli log densities than one at a time, with the same bits.
#define LOGISTIC_VECTORS(P, T, V, I, EXPV)                                                             \
    enum { W = sizeof(V) / sizeof(T) };                                                                \
    const I sign = (I)(-(V){0});                                                                       \
    I invalidLanes = {0};                                                                              \
    T es[CHUNK + W];                                                                                   \
    for (long s = 0; s < n; s += CHUNK) {                                                              \
        long len = n - s < CHUNK ? n - s : CHUNK, vectors = len / W * W, padded = (len + W - 1) / W * W; \
        /* the last partial vector from a padded copy: zeros past the end */                           \
        T tail[2][W];                                                                                  \
        memset(tail, 0, sizeof tail);                                                                  \
        memcpy(tail[0], l + s + vectors, sizeof(T) * (size_t)(len - vectors));                         \
        if (x) memcpy(tail[1], x + s + vectors, sizeof(T) * (size_t)(len - vectors));                  \
        CHUNK_EXPONENTIALS(V, I, EXPV, l + s, vectors, padded)                                        \
        long i = 0;                                                                                    \
        for (; i + 2 * W <= vectors; i += 2 * W) {                                                     \
            V v0, v1, t0 = {0}, t1 = {0}, e0, e1;                                                      \
            memcpy(&v0, l + s + i, sizeof v0);                                                         \
            memcpy(&v1, l + s + i + W, sizeof v1);                                                     \
            if (x) { memcpy(&t0, x + s + i, sizeof t0); memcpy(&t1, x + s + i + W, sizeof t1); }       \
            memcpy(&e0, es + i, sizeof e0);                                                            \
            memcpy(&e1, es + i + W, sizeof e1);                                                        \
            LOGISTIC_LANES(P, T, V, I, v0, t0, e0, ce0, grad0)                                         \
            LOGISTIC_LANES(P, T, V, I, v1, t1, e1, ce1, grad1)                                         \
            if (y) { memcpy(y + s + i, &ce0, sizeof ce0); memcpy(y + s + i + W, &ce1, sizeof ce1); }    \
            if (g) { memcpy(g + s + i, &grad0, sizeof grad0); memcpy(g + s + i + W, &grad1, sizeof grad1); } \
        }                                                                                              \
        for (; i < padded; i += W) {                                                                   \
            int whole = i < vectors;                                                                   \
            V v, t = {0}, e;                                                                           \
            memcpy(&v, whole ? l + s + i : tail[0], sizeof v);                                         \
            if (x) memcpy(&t, whole ? x + s + i : tail[1], sizeof t);                                  \
            memcpy(&e, es + i, sizeof e);                                                              \
            LOGISTIC_LANES(P, T, V, I, v, t, e, ce, grad)                                              \
            size_t bytes = whole ? sizeof ce : sizeof(T) * (size_t)(len - vectors);                    \
            if (y) memcpy(y + s + i, &ce, bytes);                                                      \
            if (g) memcpy(g + s + i, &grad, bytes);                                                    \
        }                                                                                              \
    }                                                                                                  \
    long invalid = 0;                                                                                  \
    for (int k = 0; k < W; k++) invalid += invalidLanes[k];                                            \
    return invalid;

#define CHUNK 256
#define DEFINE_LOGISTIC(P, T, V4, I4, EXP4, V8, I8, EXP8)                                              \
    __attribute__((target("avx2,fma"))) static long avx_##P##logistic(                                \
        long n, const T *l, const T *x, T *y, T *g, int logp) { LOGISTIC_VECTORS(P, T, V4, I4, EXP4) } \
    __attribute__((target("avx512f,avx512dq"))) static long avx512_##P##logistic(                     \
        long n, const T *l, const T *x, T *y, T *g, int logp) { LOGISTIC_VECTORS(P, T, V8, I8, EXP8) } \
    static long P##logistic(long n, const T *l, const T *x, T *y, T *g, int logp) {                   \
        vk_initialize();                                                                               \
        if (has_avx512) return avx512_##P##logistic(n, l, x, y, g, logp);                              \
        if (has_avx2) return avx_##P##logistic(n, l, x, y, g, logp);                                   \
        long invalid = 0;                                                                              \
        for (long i = 0; i < n; i++)                                                                   \
            invalid += logistic_element_##P(l[i], x ? x[i] : 0, y ? y + i : 0, g ? g + i : 0, logp);   \
        return invalid;                                                                                \
    }                                                                                                  \
    void vk_##P##sigmoid(long n, const T *x, T *y) { P##logistic(n, x, 0, 0, y, 0); }                  \
    void vk_##P##softplus(long n, const T *x, T *y) { P##logistic(n, x, 0, y, 0, 0); }                 \
    void vk_##P##sigmoid_cross_entropy(long n, const T *l, const T *x, T *y) { P##logistic(n, l, x, y, 0, 0); } \
    void vk_##P##sigmoid_cross_entropy_with_gradient(long n, const T *l, const T *x, T *y, T *g) {    \
        P##logistic(n, l, x, y, g, 0);                                                                 \
    }                                                                                                  \
    long vk_##P##bernoulli_log_density(long n, const T *x, const T *l, T *y, T *g) {                   \
        return P##logistic(n, l, x, y, g, 1);                                                          \
    }

DEFINE_LOGISTIC(s, float, vk_s8, vk_i8, exp_s8, vk_s16, vk_i16, exp_s16)
DEFINE_LOGISTIC(d, double, vk_d4, vk_l4, exp_d4, vk_d8, vk_l8, exp_d8)

int vk_parts_for(long elements) {
    vk_initialize();
    return elements >= VK_PARALLEL_ELEMENTS && !forced_portable ? max_threads : 1;
}

// The rows-by-columns passes below split into parts by rows, or by columns in groups of 16 where a part sums down
// the columns (the rectifier's backward pass sums in fixed blocks of rows instead): each element, and each column's
// sum, is computed as it would be on one thread, so the bits do not depend on the number of parts.
typedef struct {
    long rows, columns;
    const void *b, *v, *y;
    void *out, *bias_gradient;
    int parts;
} rows_job;

static void part_rows(const rows_job *job, int part, long *first, long *last) {
    *first = job->rows * part / job->parts;
    *last = job->rows * (part + 1) / job->parts;
}

// Part `part` of `parts` of `rows` rows, in whole blocks of `block` rows (the last block may be short).
static void part_in_blocks(long rows, long block, int part, int parts, long *first, long *last) {
    long blocks = (rows + block - 1) / block;
    *first = blocks * part / parts * block;
    *last = blocks * (part + 1) / parts * block;
    if (*last > rows) *last = rows;
}

static void part_columns(const rows_job *job, int part, long *first, long *last) {
    long groups = (job->columns + 15) / 16;
    *first = groups * part / job->parts * 16;
    *last = part == job->parts - 1 ? job->columns : groups * (part + 1) / job->parts * 16;
    if (*last > job->columns) *last = job->columns;
}

// y = a ∘ b elementwise for ∘ one of + − × ÷ (op 0 to 3), each operand either a whole array of n (stride 1) or one
// number met by every element (stride 0); y apart from both. The loops are plain, and compiled for AVX-512, AVX2 and
// plain C: each element is the one rounded operation whichever runs. A Swift loop is compiled for SSE2 only: a number
// added to 500, 73 ns in such a loop against 47 here (C harness, one core); 13 against 11 for 64.
#define BINARY_LOOPS(T, OP)                                                                            \
    if (as && bs) for (long i = 0; i < n; i++) y[i] = a[i] OP b[i];                                    \
    else if (as) { T c = b[0]; for (long i = 0; i < n; i++) y[i] = a[i] OP c; }                        \
    else { T c = a[0]; for (long i = 0; i < n; i++) y[i] = c OP b[i]; }
#define BINARY_BODY(T)                                                                                 \
    switch (op) {                                                                                      \
    case 0: BINARY_LOOPS(T, +) break;                                                                  \
    case 1: BINARY_LOOPS(T, -) break;                                                                  \
    case 2: BINARY_LOOPS(T, *) break;                                                                  \
    default: BINARY_LOOPS(T, /) break;                                                                 \
    }
#define DEFINE_BINARY(P, T)                                                                            \
    static void P##binary_portable(int op, long n, const T *restrict a, long as, const T *restrict b, long bs, \
                                   T *restrict y) { BINARY_BODY(T) }                                   \
    __attribute__((target("avx2"))) static void P##binary_avx2(int op, long n, const T *restrict a, long as, \
                                                                const T *restrict b, long bs, T *restrict y) { BINARY_BODY(T) } \
    __attribute__((target("avx512f"))) static void P##binary_avx512(int op, long n, const T *restrict a, long as, \
                                                                     const T *restrict b, long bs, T *restrict y) { BINARY_BODY(T) } \
    void vk_##P##binary(int op, long n, const T *a, long as, const T *b, long bs, T *y) {             \
        vk_initialize();                                                                               \
        if (has_avx512) P##binary_avx512(op, n, a, as, b, bs, y);                                      \
        else if (has_avx2) P##binary_avx2(op, n, a, as, b, bs, y);                                     \
        else P##binary_portable(op, n, a, as, b, bs, y);                                               \
    }
DEFINE_BINARY(s, float)
DEFINE_BINARY(d, double)

// Every row of y (rows × columns) a copy of b.
#define DEFINE_FILL_ROWS(P, T)                                                                         \
    static void P##fill_rows_part(void *context, int part) {                                           \
        const rows_job *job = context;                                                                 \
        long first, last;                                                                              \
        part_rows(job, part, &first, &last);                                                           \
        T *y = job->out;                                                                               \
        for (long r = first; r < last; r++) memcpy(y + r * job->columns, job->b, sizeof(T) * (size_t)job->columns); \
    }                                                                                                  \
    void vk_##P##fill_rows(long rows, long columns, const T *b, T *y) {                                \
        rows_job job = {rows, columns, b, 0, 0, y, 0, vk_parts_for(rows * columns)};                   \
        vk_run_parts(P##fill_rows_part, &job, job.parts);                                              \
    }
DEFINE_FILL_ROWS(s, float)
DEFINE_FILL_ROWS(d, double)

// Two arrays of `rows` rows of `width` bytes each side by side in rows of 2·width (stacking), or the reverse
// (splitting): a Gaussian encoder's two heads run as one product. The parts split the rows where the products split
// theirs (halves in panels of 8 rows) and the optimiser its updates, so that each core copies rows it wrote itself: a
// copy on the caller's thread took half of its rows from the other core's caches, one miss after another.
typedef struct {
    long rows, width;
    char *stacked, *left, *right;
    int split, parts;
} columns_job;

static void columns_part(void *context, int part) {
    const columns_job *job = context;
    long first, last, w = job->width;
    part_in_blocks(job->rows, 8, part, job->parts, &first, &last);
    for (long r = first; r < last; r++) {
        char *row = job->stacked + r * 2 * w;
        if (job->split) {
            memcpy(job->left + r * w, row, (size_t)w);
            memcpy(job->right + r * w, row + w, (size_t)w);
        } else {
            memcpy(row, job->left + r * w, (size_t)w);
            memcpy(row + w, job->right + r * w, (size_t)w);
        }
    }
}

// Below this many bytes in all the copy stays on one thread (a pair of 20-wide biases, a small model's heads).
enum { COLUMNS_PARALLEL_BYTES = 1 << 14 };

static void run_columns(columns_job job) {
    vk_initialize();
    if (2 * job.rows * job.width >= COLUMNS_PARALLEL_BYTES && job.rows >= 16 && !forced_portable) job.parts = max_threads;
    vk_run_parts(columns_part, &job, job.parts);
}

void vk_stack_columns(long rows, long width, const void *left, const void *right, void *stacked) {
    run_columns((columns_job){rows, width, stacked, (char *)left, (char *)right, 0, 1});
}

void vk_split_columns(long rows, long width, const void *stacked, void *left, void *right) {
    run_columns((columns_job){rows, width, (char *)stacked, left, right, 1, 1});
}

// The rectified layer's passes: y = max(y + b, 0) in place after the product, and backward δ = v where y > 0 (else
// 0) with the bias's gradient Σ over rows of δ. Plain loops over separate (restrict) arrays, which the compiler
// vectorises with a compare and a mask: a branch per element mispredicts on half of them.
//
// Backward splits by rows, as the products on either side of it write and read them, in blocks of RELU_BLOCK rows:
// each block sums its rows in order into partial sums of its own, and the blocks' sums are added in order at the end,
// so the gradient has the same bits on any number of parts (not those of a sum row by row from the first). Split by
// columns, so that each column's sum ran down all the rows on one thread, half of what a part read had been written on
// the other core: when the VM's two cores sat on different dies the pass took 106–123 µs in the VAE's step against
// 31–55 when they shared one.
enum { RELU_BLOCK = 16 };

#define DEFINE_RELU_ROWS(P, T)                                                                                     \
    static void P##bias_relu_part(void *context, int part) {                                                       \
        const rows_job *job = context;                                                                             \
        long first, last, columns = job->columns;                                                                  \
        part_rows(job, part, &first, &last);                                                                       \
        const T *restrict b = job->b;                                                                              \
        for (long r = first; r < last; r++) {                                                                      \
            T *restrict row = (T *)job->out + r * columns;                                                         \
            for (long k = 0; k < columns; k++) {                                                                   \
                T t = row[k] + b[k];                                                                               \
                row[k] = t > 0 ? t : 0;                                                                            \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
    void vk_##P##bias_relu(long rows, long columns, const T *restrict b, T *restrict y) {                          \
        rows_job job = {rows, columns, b, 0, 0, y, 0, vk_parts_for(rows * columns)};                               \
        vk_run_parts(P##bias_relu_part, &job, job.parts);                                                          \
    }                                                                                                              \
    static void P##relu_backward_part(void *context, int part) {                                                   \
        const rows_job *job = context;                                                                             \
        long first, last, columns = job->columns;                                                                  \
        part_in_blocks(job->rows, RELU_BLOCK, part, job->parts, &first, &last);                                    \
        for (long r0 = first; r0 < last; r0 += RELU_BLOCK) {                                                       \
            T *restrict sums = (T *)job->bias_gradient + r0 / RELU_BLOCK * columns;                                \
            for (long k = 0; k < columns; k++) sums[k] = 0;                                                        \
            long r1 = r0 + RELU_BLOCK < last ? r0 + RELU_BLOCK : last;                                             \
            for (long r = r0; r < r1; r++) {                                                                       \
                const T *restrict vr = (const T *)job->v + r * columns, *restrict yr = (const T *)job->y + r * columns; \
                T *restrict dr = (T *)job->out + r * columns;                                                      \
                for (long k = 0; k < columns; k++) {                                                               \
                    T up = vr[k], d = yr[k] > 0 ? up : 0; /* loaded either way, so the select vectorises */       \
                    dr[k] = d;                                                                                     \
                    sums[k] += d;                                                                                  \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
    void vk_##P##relu_backward(long rows, long columns, const T *restrict v, const T *restrict y, T *restrict delta, \
                               T *restrict bias_gradient) {                                                        \
        long blocks = (rows + RELU_BLOCK - 1) / RELU_BLOCK;                                                        \
        if (blocks == 0) {                                                                                         \
            for (long k = 0; k < columns; k++) bias_gradient[k] = 0;                                               \
            return;                                                                                                \
        }                                                                                                          \
        /* One block sums straight into the gradient; more into partial sums, added in order below. */            \
        T *partials = blocks == 1 ? bias_gradient : malloc(sizeof(T) * (size_t)(blocks * columns));               \
        if (!partials) abort();                                                                                    \
        int parts = vk_parts_for(rows * columns);                                                                  \
        rows_job job = {rows, columns, 0, v, y, delta, partials, parts < blocks ? parts : (int)blocks};            \
        vk_run_parts(P##relu_backward_part, &job, job.parts);                                                      \
        if (blocks == 1) return;                                                                                   \
        /* The blocks' sums as rows, summed down (from 0, which no bit notices: a block's sum is never −0). */     \
        vk_##P##column_sums(blocks, columns, partials, bias_gradient);                                             \
        free(partials);                                                                                            \
    }
DEFINE_RELU_ROWS(s, float)
DEFINE_RELU_ROWS(d, double)

// Σ over rows of x (rows × columns), each column summed in row order from 0; and each row of y times a number of its
// own. The same loops on any number of parts (columns in groups of 16 for the sums, rows for the scaling).
#define DEFINE_ROW_PASSES(P, T)                                                                                    \
    static void P##column_sums_part(void *context, int part) {                                                     \
        const rows_job *job = context;                                                                             \
        long first, last, columns = job->columns;                                                                  \
        part_columns(job, part, &first, &last);                                                                    \
        T *restrict sums = job->out;                                                                               \
        for (long k = first; k < last; k++) sums[k] = 0;                                                           \
        for (long r = 0; r < job->rows; r++) {                                                                     \
            const T *restrict xr = (const T *)job->v + r * columns;                                                \
            for (long k = first; k < last; k++) sums[k] += xr[k];                                                  \
        }                                                                                                          \
    }                                                                                                              \
    void vk_##P##column_sums(long rows, long columns, const T *restrict x, T *restrict sums) {                      \
        rows_job job = {rows, columns, 0, x, 0, sums, 0, vk_parts_for(rows * columns)};                            \
        vk_run_parts(P##column_sums_part, &job, job.parts);                                                        \
    }                                                                                                              \
    static void P##scale_rows_part(void *context, int part) {                                                      \
        const rows_job *job = context;                                                                             \
        long first, last, columns = job->columns;                                                                  \
        part_rows(job, part, &first, &last);                                                                       \
        const T *factors = job->b;                                                                                 \
        for (long r = first; r < last; r++) {                                                                      \
            T f = factors[r], *restrict row = (T *)job->out + r * columns;                                         \
            for (long k = 0; k < columns; k++) row[k] = f * row[k];                                                \
        }                                                                                                          \
    }                                                                                                              \
    void vk_##P##scale_rows(long rows, long columns, const T *factors, T *y) {                                     \
        rows_job job = {rows, columns, factors, 0, 0, y, 0, vk_parts_for(rows * columns)};                         \
        vk_run_parts(P##scale_rows_part, &job, job.parts);                                                         \
    }
DEFINE_ROW_PASSES(s, float)
DEFINE_ROW_PASSES(d, double)

// log k! from a table for counts below its size; NaN for anything else (the caller settles those).
#define DEFINE_LOG_FACTORIALS(P, T)                                                                            \
    long vk_##P##log_factorials(long n, const T *k, const double *table, long size, T *y) {                  \
        long missing = 0;                                                                                      \
        for (long j = 0; j < n; j++) {                                                                         \
            double x = (double)k[j];                                                                           \
            if (x >= 0 && x < (double)size && x == (double)(long)x) {                                          \
                y[j] = (T)table[(long)x];                                                                      \
            } else {                                                                                           \
                y[j] = (T)NAN;                                                                                 \
                missing++;                                                                                     \
            }                                                                                                  \
        }                                                                                                      \
        return missing;                                                                                        \
    }
DEFINE_LOG_FACTORIALS(s, float)
DEFINE_LOG_FACTORIALS(d, double)

// A Poisson likelihood whose counts k are one row of data met by every row of rates (rows × columns), with log k!
// given per count (NaN where k is not a count): the log densities kη − λ − log k! (−∞ where k is not a count; k·η
// counts 0 where k = 0, also for η = −∞), and the gradient in the rate, v·(k/λ − 1) (v·(−1) where k = 0), or in the
// log rate, v·(k − λ) (0 where k is not a count). Plain loops the compiler vectorises, once for any x86-64 and once
// for AVX2; products and sums are rounded one at a time (no fused multiply-add), so both give the same bits.
#define POISSON_VALUE_LOOP(T) {                                                                             \
    _Pragma("clang fp contract(off)")                                                                           \
    for (long r = 0; r < rows; r++) {                                                                          \
        const T *restrict e = eta + r * columns, *restrict l = rate + r * columns;                             \
        T *restrict out = y + r * columns;                                                                     \
        for (long j = 0; j < columns; j++) {                                                                   \
            T kj = k[j], f = lf[j], term = kj == 0 ? 0 : kj * e[j], value = term - l[j] - f;                   \
            out[j] = f != f ? -(T)INFINITY : value;                                                            \
        }                                                                                                      \
    } }
#define POISSON_GRADIENT_LOOP(T) {                                                                             \
    _Pragma("clang fp contract(off)")                                                                           \
    for (long r = 0; r < rows; r++) {                                                                          \
        const T *restrict l = rate + r * columns, *restrict u = v + r * columns;                               \
        T *restrict out = g + r * columns;                                                                     \
        for (long j = 0; j < columns; j++) {                                                                   \
            T kj = k[j], d = u[j] * (kj == 0 ? -1 : kj / l[j] - 1);                                            \
            out[j] = lf[j] != lf[j] ? 0 : d;                                                                   \
        }                                                                                                      \
    } }
#define DEFINE_POISSON_ROWS(P, T)                                                                               \
    __attribute__((target("avx2"))) static void avx_##P##poisson_rows(                                       \
        long rows, long columns, const T *restrict k, const T *restrict lf, const T *restrict eta,            \
        const T *restrict rate, T *restrict y) { POISSON_VALUE_LOOP(T) }                                       \
    void vk_##P##poisson_rows(long rows, long columns, const T *restrict k, const T *restrict lf,             \
                              const T *restrict eta, const T *restrict rate, T *restrict y) {                 \
        vk_initialize();                                                                                       \
        if (has_avx2) { avx_##P##poisson_rows(rows, columns, k, lf, eta, rate, y); return; }                   \
        POISSON_VALUE_LOOP(T)                                                                                  \
    }                                                                                                          \
    __attribute__((target("avx2"))) static void avx_##P##poisson_gradient_rows(                              \
        long rows, long columns, const T *restrict k, const T *restrict lf, const T *restrict rate,           \
        const T *restrict v, T *restrict g) { POISSON_GRADIENT_LOOP(T) }                                       \
    void vk_##P##poisson_gradient_rows(long rows, long columns, const T *restrict k, const T *restrict lf,    \
                                       const T *restrict rate, const T *restrict v, T *restrict g) {          \
        vk_initialize();                                                                                       \
        if (has_avx2) { avx_##P##poisson_gradient_rows(rows, columns, k, lf, rate, v, g); return; }             \
        POISSON_GRADIENT_LOOP(T)                                                                               \
    }
DEFINE_POISSON_ROWS(s, float)
DEFINE_POISSON_ROWS(d, double)

// Both at once in the log rate, with v = 1, from η alone: the value and the gradient a likelihood's pullback needs,
// in one pass, without an array of rates. The rates λ = e^η come a chunk of the whole array at a time from vk_Pexp,
// so that each element gets the exponential vk_Pexp gives it over the whole array (its vector loops start at the
// array's first element and leave the same last elements to the narrower loop); the chunk is then taken row segment
// by row segment, by the loops above. y and g come out as vk_Ppoisson_rows and vk_Ppoisson_gradient_rows with v = 1
// make them, bit for bit.
#define POISSON_LOG_RATE_CHUNK 256
// One row segment: the value as the value loop makes it, and the gradient as the gradient loop makes it with the
// upstream 1 (1·(k − λ) is k − λ exactly).
#define POISSON_LOG_RATE_SEGMENT(T) {                                                                          \
    _Pragma("clang fp contract(off)")                                                                           \
    for (long j = 0; j < columns; j++) {                                                                       \
        T kj = k[j], f = lf[j], term = kj == 0 ? 0 : kj * eta[j], value = term - rate[j] - f;                  \
        y[j] = f != f ? -(T)INFINITY : value;                                                                  \
        g[j] = f != f ? 0 : kj - rate[j];                                                                      \
    } }
// (Compiled for AVX-512 too, where it takes eight doubles at a time: each element's operations are the same, unfused.)
#define DEFINE_POISSON_LOG_RATE_ROWS(P, T)                                                                     \
    __attribute__((target("avx512f"))) static void avx512_##P##poisson_log_rate_segment(                      \
        long columns, const T *restrict k, const T *restrict lf, const T *restrict eta,                       \
        const T *restrict rate, T *restrict y, T *restrict g) POISSON_LOG_RATE_SEGMENT(T)                      \
    __attribute__((target("avx2"))) static void avx_##P##poisson_log_rate_segment(                            \
        long columns, const T *restrict k, const T *restrict lf, const T *restrict eta,                       \
        const T *restrict rate, T *restrict y, T *restrict g) POISSON_LOG_RATE_SEGMENT(T)                      \
    static void P##poisson_log_rate_segment(                                                                   \
        long columns, const T *restrict k, const T *restrict lf, const T *restrict eta,                       \
        const T *restrict rate, T *restrict y, T *restrict g) POISSON_LOG_RATE_SEGMENT(T)                      \
    void vk_##P##poisson_log_rate_rows(long rows, long columns, const T *k, const T *lf, const T *eta,       \
                                       T *y, T *g) {                                                          \
        vk_initialize();                                                                                       \
        T rate[POISSON_LOG_RATE_CHUNK];                                                                        \
        long n = rows * columns, j = 0;                                                                        \
        for (long s = 0; s < n; s += POISSON_LOG_RATE_CHUNK) {                                                 \
            long len = n - s < POISSON_LOG_RATE_CHUNK ? n - s : POISSON_LOG_RATE_CHUNK;                        \
            vk_##P##exp(len, eta + s, rate);                                                                   \
            for (long i = 0; i < len;) {                                                                       \
                long segment = len - i < columns - j ? len - i : columns - j;                                  \
                (has_avx512 ? avx512_##P##poisson_log_rate_segment                                             \
                 : has_avx2 ? avx_##P##poisson_log_rate_segment : P##poisson_log_rate_segment)(                  \
                    segment, k + j, lf + j, eta + s + i, rate + i, y + s + i, g + s + i);                      \
                i += segment;                                                                                  \
                j = j + segment == columns ? 0 : j + segment;                                                  \
            }                                                                                                  \
        }                                                                                                      \
    }
DEFINE_POISSON_LOG_RATE_ROWS(s, float)
DEFINE_POISSON_LOG_RATE_ROWS(d, double)

// MARK: - Normal log densities over rows

// A normal density for a value x, location m and scale σ (with log σ given) where each is either a whole
// rows × columns array (row stride `columns`) or one row of `columns` met by every row (row stride 0), as a
// likelihood's observations, locations per particle and scales are. The value −½z² − log σ − c with z = (x − m)/σ,
// and the gradient in m and σ times the upstream v: v·z/σ and v·(z² − 1)/σ, added in row order to zeros of the
// operand's own size (a row operand's sums run down the rows). The same expressions, rounded one operation at a time,
// and the same order of additions as the library's fused elementwise passes, so the same bits.
#define NORMAL_VALUE_LOOP(T) {                                                                                 \
    _Pragma("clang fp contract(off)")                                                                           \
    for (long r = 0; r < rows; r++) {                                                                          \
        const T *xr = x + r * xs, *mr = m + r * ms, *sr = s + r * ss, *lr = logs + r * ss;                    \
        T *out = y + r * columns;                                                                              \
        for (long j = 0; j < columns; j++) {                                                                   \
            T z = (xr[j] - mr[j]) / sr[j];                                                                     \
            out[j] = (T)-0.5 * z * z - lr[j] - c;                                                              \
        }                                                                                                      \
    } }
#define NORMAL_GRADIENT_LOOP(T) {                                                                              \
    _Pragma("clang fp contract(off)")                                                                           \
    for (long r = 0; r < rows; r++) {                                                                          \
        const T *xr = x + r * xs, *mr = m + r * ms, *sr = s + r * ss, *vr = v + r * columns;                  \
        T *gmr = gm ? gm + r * ms : 0, *gsr = gs ? gs + r * ss : 0;                                           \
        for (long j = 0; j < columns; j++) {                                                                   \
            T z = (xr[j] - mr[j]) / sr[j], g = vr[j];                                                          \
            if (gmr) gmr[j] += g * (z / sr[j]);                                                                \
            if (gsr) gsr[j] += g * ((z * z - 1) / sr[j]);                                                      \
        }                                                                                                      \
    } }
#define DEFINE_NORMAL_ROWS(P, T)                                                                                \
    __attribute__((target("avx2"))) static void avx_##P##normal_rows(                                         \
        long rows, long columns, const T *x, long xs, const T *m, long ms, const T *s, const T *logs, long ss,   \
        T c, T *y) NORMAL_VALUE_LOOP(T)                                                                        \
    void vk_##P##normal_rows(long rows, long columns, const T *x, long xs, const T *m, long ms, const T *s,     \
                             const T *logs, long ss, T c, T *y) {                                              \
        vk_initialize();                                                                                       \
        if (has_avx2) { avx_##P##normal_rows(rows, columns, x, xs, m, ms, s, logs, ss, c, y); return; }        \
        NORMAL_VALUE_LOOP(T)                                                                                   \
    }                                                                                                          \
    __attribute__((target("avx2"))) static void avx_##P##normal_gradient_rows(                                \
        long rows, long columns, const T *x, long xs, const T *m, long ms, const T *s, long ss, const T *v,    \
        T *gm, T *gs) NORMAL_GRADIENT_LOOP(T)                                                                  \
    void vk_##P##normal_gradient_rows(long rows, long columns, const T *x, long xs, const T *m, long ms,       \
                                      const T *s, long ss, const T *v, T *gm, T *gs) {                        \
        vk_initialize();                                                                                       \
        if (has_avx2) { avx_##P##normal_gradient_rows(rows, columns, x, xs, m, ms, s, ss, v, gm, gs); return; } \
        NORMAL_GRADIENT_LOOP(T)                                                                                \
    }
DEFINE_NORMAL_ROWS(s, float)
DEFINE_NORMAL_ROWS(d, double)

// MARK: - Sums of Bernoulli log densities

// A model's log likelihood is read as one sum per particle, Σᵢ log Bernoulli(xᵢ; σ(lᵢ)) = Σᵢ xᵢlᵢ − max(lᵢ, 0) −
// log uᵢ with uᵢ = fl(1 + eᵢ) ∈ [1, 2], eᵢ = exp(−|lᵢ|), less the rounding error of that sum through cᵢ/uᵢ,
// cᵢ = eᵢ − (uᵢ − 1) (exact, as |eᵢ| ≤ 1). Its logarithms need not be taken one by one: each lane multiplies its uᵢ
// into a compensated product (as the GLM below does), a chunk of 256 elements joins its lanes' products (below 2^256)
// into the row's, which a power of two brings back to [1, 2) each time, and the row takes one logarithm. What
// remains per element is one division, which also gives the gradient xᵢ − σ(lᵢ): about half the time of the
// elementwise densities, whose log(1 + e) is a series per element.
// A partial last vector is padded with l = −∞ and x = 0, which add exactly nothing (e = 0, u = 1), so that every
// element's gradient comes from the vector path wherever it sits. Labels other than 0 and 1 are counted, and the
// sums and gradients are then not those of the densities: the caller takes the elementwise kernel instead.

// A compensated product: p + q holds it with the rounding error of each multiplication (from a fused multiply-add)
// carried in q, so its logarithm log p + q/p is exact to the last digit however many factors it has.
typedef struct { double p, q; } product;

static inline void multiply(product *a, double p, double q) {
    double next = a->p * p;
    a->q = fma(a->p, p, -next) + a->p * q + a->q * p;
    a->p = next;
}

// A compensated product brought to [1, 2) by a power of two (exact), which is returned; NaN and ∞ are left.
static inline long renormalize(product *a) {
    unsigned long bits;
    memcpy(&bits, &a->p, sizeof bits);
    long biased = (long)((bits >> 52) & 0x7ff);
    if (biased == 0 || biased == 0x7ff) return 0;
    unsigned long inverse = (unsigned long)(2046 - biased) << 52;  // 2^-(biased − 1023)
    double s;
    memcpy(&s, &inverse, sizeof s);
    a->p *= s;
    a->q *= s;
    return biased - 1023;
}
// log 2 = ln2_high + ln2_low, ln2_high with its last 21 bits zero.
static const double ln2_high = 6.93147180369123816490e-01, ln2_low = 1.90821492927058770002e-10;

typedef double vk_d1 __attribute__((vector_size(8), aligned(8)));
typedef long vk_l1 __attribute__((vector_size(8), aligned(8)));
static inline vk_d1 exp_d1(vk_d1 x) { return (vk_d1){exp(x[0])}; }

#define BERNOULLI_SUM_ROW(V, I, EXPV)                                                                  \
    enum { W = sizeof(V) / sizeof(double) };                                                           \
    const I sign = (I)(-(V){0});                                                                       \
    double es[CHUNK], total = 0, carried = 0; /* the chunks' sums, compensated: rows of 10^5 elements */ \
    product run = {1, 0}; /* the chunks' products, times 2^-scale */                                   \
    long scale = 0;                                                                                    \
    I bad = {0};                                                                                       \
    for (long s = 0; s < n; s += CHUNK) {                                                              \
        long len = n - s < CHUNK ? n - s : CHUNK, vectors = len / W * W;                               \
        double tail[2][W];                                                                             \
        for (int k = 0; k < W; k++) { tail[0][k] = -(double)INFINITY; tail[1][k] = 0; }                \
        memcpy(tail[0], l + s + vectors, sizeof(double) * (size_t)(len - vectors));                   \
        memcpy(tail[1], x + s + vectors, sizeof(double) * (size_t)(len - vectors));                    \
        CHUNK_EXPONENTIALS(V, I, EXPV, l + s, vectors, len)                                           \
        V sum = {0}, p = (V){0} + 1, q = {0};                                                          \
        for (long i = 0; i < len; i += W) {                                                            \
            int whole = i < vectors;                                                                   \
            V v, t, e;                                                                                 \
            memcpy(&v, whole ? l + s + i : tail[0], sizeof v);                                         \
            memcpy(&t, whole ? x + s + i : tail[1], sizeof t);                                         \
            memcpy(&e, es + i, sizeof e);                                                              \
            V u = 1 + e, r = 1 / u, c = e - (u - 1);                                                   \
            I nonnegative = v >= 0;                                                                    \
            V vt = (V)((I)(v * t) & (t != 0)); /* 0 where x = 0, also for an infinite l */             \
            sum += vt - (V)((I)v & (v > 0)) - c * r;                                                   \
            V next = p * u;                                                                            \
            q = __builtin_elementwise_fma(p, u, -next) + q * u;                                        \
            p = next;                                                                                  \
            V grad = t - (V)(((I)r & nonnegative) | ((I)(e * r) & ~nonnegative));                     \
            if (whole) memcpy(g + s + i, &grad, sizeof grad);                                          \
            else memcpy(g + s + i, &grad, sizeof(double) * (size_t)(len - vectors));                   \
            bad |= (t != 0) & (t != 1);                                                                \
        }                                                                                              \
        product lanes = {p[0], q[0]};                                                                  \
        for (int k = 1; k < W; k++) multiply(&lanes, p[k], q[k]);                                      \
        double chunk = 0;                                                                              \
        for (int k = 0; k < W; k++) chunk += sum[k];                                                   \
        double next = total + chunk;                                                                   \
        if (isfinite(next)) carried += fabs(total) >= fabs(chunk) ? (total - next) + chunk : (chunk - next) + total; \
        total = next;                                                                                  \
        multiply(&run, lanes.p, lanes.q);                                                              \
        scale += renormalize(&run);                                                                    \
    }                                                                                                  \
    long invalid = 0;                                                                                  \
    for (int k = 0; k < W; k++) invalid += bad[k] & 1;                                                 \
    /* one logarithm a row: log(p + q) + scale·log 2, log 2 in two parts (the first times scale is exact) */ \
    *result = (total + carried) - ((scale * ln2_high + log(run.p)) + (run.q / run.p + scale * ln2_low)); \
    return invalid;

__attribute__((target("avx512f,avx512dq"))) static long avx512_bernoulli_sum_row(
    long n, const double *x, const double *l, double *result, double *g) { BERNOULLI_SUM_ROW(vk_d8, vk_l8, exp_d8) }
__attribute__((target("avx2,fma"))) static long avx_bernoulli_sum_row(
    long n, const double *x, const double *l, double *result, double *g) { BERNOULLI_SUM_ROW(vk_d4, vk_l4, exp_d4) }
static long portable_bernoulli_sum_row(long n, const double *x, const double *l, double *result, double *g) {
    BERNOULLI_SUM_ROW(vk_d1, vk_l1, exp_d1)
}

long vk_dbernoulli_log_density_sums(long rows, long n, const double *x, const double *l, double *sums, double *g) {
    vk_initialize();
    long invalid = 0;
    for (long r = 0; r < rows; r++) {
        const double *xr = x + r * n, *lr = l + r * n;
        double *gr = g + r * n;
        if (has_avx512) invalid += avx512_bernoulli_sum_row(n, xr, lr, sums + r, gr);
        else if (has_avx2) invalid += avx_bernoulli_sum_row(n, xr, lr, sums + r, gr);
        else invalid += portable_bernoulli_sum_row(n, xr, lr, sums + r, gr);
    }
    return invalid;
}

// MARK: - Bernoulli GLM log-likelihood with its gradient

// Σᵢ yᵢ lᵢ − softplus(lᵢ) with lᵢ = Σⱼ wⱼ xⱼᵢ, and g = Σᵢ (yᵢ − σ(lᵢ)) xᵢ, from the features stored transposed
// (xT is d×n with row stride ldx): every pass runs along contiguous rows, a chunk of observations at a time.
#define GLM_BODY                                                                                       \
    double total = 0;                                                                                  \
    double l[CHUNK], r[CHUNK];                                                                         \
    for (long j = 0; j < d; j++) g[j] = 0;                                                             \
    for (long s = 0; s < n; s += CHUNK) {                                                              \
        long len = n - s < CHUNK ? n - s : CHUNK;                                                      \
        for (long i = 0; i < len; i++) l[i] = 0;                                                       \
        long j = 0;                                                                                    \
        for (; j + 4 <= d; j += 4) { /* four features per pass over the logits */                      \
            const double *r0 = xT + j * ldx + s, *r1 = r0 + ldx, *r2 = r1 + ldx, *r3 = r2 + ldx;       \
            double w0 = w[j], w1 = w[j + 1], w2 = w[j + 2], w3 = w[j + 3];                             \
            for (long i = 0; i < len; i++) l[i] += (w0 * r0[i] + w1 * r1[i]) + (w2 * r2[i] + w3 * r3[i]); \
        }                                                                                              \
        for (; j < d; j++) {                                                                           \
            const double *row = xT + j * ldx + s, wj = w[j];                                           \
            for (long i = 0; i < len; i++) l[i] += wj * row[i];                                        \
        }                                                                                              \
        /* the cross-entropies' sum, and their gradients σ(l) − y (the negated residuals) into r */    \
        total -= ce_sum(len, l, y + s, r);                                                             \
        for (j = 0; j + 4 <= d; j += 4) dots4(len, xT + j * ldx + s, ldx, r, g + j);                   \
        for (; j < d; j++) g[j] += dot4(len, xT + j * ldx + s, r);                                     \
    }                                                                                                  \
    for (long j = 0; j < d; j++) g[j] = -g[j];                                                         \
    return total;

// Σ a[i]·b[i] with eight lanes in two AVX registers.
__attribute__((target("avx2,fma"))) static inline double avx_dot4(long n, const double *a, const double *b) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + 4), _mm256_loadu_pd(b + i + 4), s1);
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) total += a[i] * b[i];
    return total;
}

// out[k] += Σᵢ a[k·lda + i] · b[i] for four rows k of a at once: b is read once, four independent sums.
__attribute__((target("avx2,fma"))) static inline void avx_dots4(long n, const double *a, long lda, const double *b,
                                                                double *out) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_loadu_pd(b + i);
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), v, s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + lda + i), v, s1);
        s2 = _mm256_fmadd_pd(_mm256_loadu_pd(a + 2 * lda + i), v, s2);
        s3 = _mm256_fmadd_pd(_mm256_loadu_pd(a + 3 * lda + i), v, s3);
    }
    __m256d sums[4] = {s0, s1, s2, s3};
    for (int k = 0; k < 4; k++) {
        double lanes[4];
        _mm256_storeu_pd(lanes, sums[k]);
        double total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for (long t = i; t < n; t++) total += a[k * lda + t] * b[t];
        out[k] += total;
    }
}

static inline void portable_dots4(long n, const double *a, long lda, const double *b, double *out) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (long i = 0; i < n; i++) {
        s0 += a[i] * b[i];
        s1 += a[lda + i] * b[i];
        s2 += a[2 * lda + i] * b[i];
        s3 += a[3 * lda + i] * b[i];
    }
    out[0] += s0; out[1] += s1; out[2] += s2; out[3] += s3;
}

// Σᵢ of the cross-entropies max(lᵢ, 0) − lᵢyᵢ + log(1 + eᵢ), eᵢ = exp(−|lᵢ|), with their gradients σ(lᵢ) − yᵢ
// into g, for n ≤ CHUNK. The n logarithms are one: Σ log(1 + eᵢ) = log Π uᵢ with uᵢ = fl(1 + eᵢ) ∈ [1, 2], a product
// below 2^CHUNK, plus Σ cᵢ/uᵢ for the rounding error cᵢ = eᵢ − (uᵢ − 1) of each sum (exact, as |eᵢ| ≤ 1), so small
// eᵢ keep their digits as they would in log1p. The product is compensated (`product` above).

static inline double ce_term(double v, double t, double e, product *logs, double *g) {
    double u = 1 + e, r = 1 / u, c = e - (u - 1);
    multiply(logs, u, 0);
    *g = (v >= 0 ? r : e * r) - t;
    return (v > 0 ? v : 0) - v * t + c * r;
}

static double portable_ce_sum(long n, const double *l, const double *y, double *g) {
    double total = 0;
    product logs = {1, 0};
    for (long i = 0; i < n; i++) total += ce_term(l[i], y[i], exp(-fabs(l[i])), &logs, g + i);
    return total + (log(logs.p) + logs.q / logs.p);
}

__attribute__((target("avx2,fma"))) static double avx_ce_sum(long n, const double *l, const double *y, double *g) {
    const __m256d one = _mm256_set1_pd(1), zero = _mm256_setzero_pd(), minus = _mm256_set1_pd(-0.0);
    // The exponentials first, in a loop of their own: the loop below then has no calls, and the processor overlaps
    // its divisions from one iteration to the next (10% faster than calling exp inside it).
    double es[CHUNK];
    long i = 0;
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(es + i, (__m256d)exp_d4((vk_d4)_mm256_or_pd(_mm256_loadu_pd(l + i), minus)));
    __m256d sum = zero, p = one, q = zero;
    for (i = 0; i + 4 <= n; i += 4) {
        __m256d v = _mm256_loadu_pd(l + i), t = _mm256_loadu_pd(y + i), e = _mm256_loadu_pd(es + i);
        __m256d u = _mm256_add_pd(one, e), r = _mm256_div_pd(one, u), c = _mm256_sub_pd(e, _mm256_sub_pd(u, one));
        sum = _mm256_add_pd(sum, _mm256_fmadd_pd(c, r, _mm256_fnmadd_pd(v, t, _mm256_max_pd(v, zero))));
        __m256d next = _mm256_mul_pd(p, u);
        q = _mm256_fmadd_pd(q, u, _mm256_fmsub_pd(p, u, next));
        p = next;
        __m256d sigma = _mm256_blendv_pd(_mm256_mul_pd(e, r), r, _mm256_cmp_pd(v, zero, _CMP_GE_OQ));
        _mm256_storeu_pd(g + i, _mm256_sub_pd(sigma, t));
    }
    double lanes[4], ps[4], qs[4];
    _mm256_storeu_pd(lanes, sum);
    _mm256_storeu_pd(ps, p);
    _mm256_storeu_pd(qs, q);
    double total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    product logs = {ps[0], qs[0]};
    for (int k = 1; k < 4; k++) multiply(&logs, ps[k], qs[k]);
    for (; i < n; i++) total += ce_term(l[i], y[i], exp(-fabs(l[i])), &logs, g + i);
    return total + (log(logs.p) + logs.q / logs.p);
}

#define dot4 avx_dot4
#define dots4 avx_dots4
#define ce_sum avx_ce_sum
__attribute__((target("avx2,fma"))) static double avx_dlogistic_glm(
    long n, long d, const double *xT, long ldx, const double *y, const double *w, double *g) {
    GLM_BODY
}

#undef dot4
#undef dots4
#undef ce_sum
#define dot4 portable_dot4
#define dots4 portable_dots4
#define ce_sum portable_ce_sum
static double portable_dlogistic_glm(long n, long d, const double *xT, long ldx, const double *y, const double *w,
                                     double *g) {
    GLM_BODY
}

#undef dot4
#undef dots4
#undef ce_sum

double vk_dlogistic_glm(long n, long d, const double *xT, long ldx, const double *y, const double *w, double *g) {
    vk_initialize();
    return has_avx2 ? avx_dlogistic_glm(n, d, xT, ldx, y, w, g) : portable_dlogistic_glm(n, d, xT, ldx, y, w, g);
}

// MARK: - The full-rank Gaussian family's sampling pullback

// θₚ = μ + L εₚ for particles p < s of d coordinates, L = strict lower part of F plus diag(softplus(ρ)). For upstream
// gradients g [s, d], each times w: μ gets Σₚ gₚᵢ, F below its diagonal Σₚ gₚᵢ εₚⱼ (j < i; zero on and above it), ρ
// Σₚ gₚᵢ εₚᵢ times slope[i] = softplus′(ρᵢ). Particle by particle, each row of F's gradient a run of multiply-adds
// the compiler vectorises (from the Swift loop it took twice the time).
void vk_dfull_rank_pullback(long s, long d, double w, const double *restrict g, const double *restrict e,
                            const double *restrict slope, double *restrict gm, double *restrict gl, double *restrict gr) {
    memset(gm, 0, sizeof(double) * (size_t)d);
    memset(gl, 0, sizeof(double) * (size_t)(d * d));
    memset(gr, 0, sizeof(double) * (size_t)d);
    for (long p = 0; p < s; p++) {
        const double *gp = g + p * d, *ep = e + p * d;
        // μ's and ρ's sums in a loop of their own, which vectorises across i (inside the next one they were a
        // load, an add and a store in a chain for each element).
        for (long i = 0; i < d; i++) {
            double gi = gp[i] * w;
            gm[i] += gi;
            gr[i] += gi * ep[i];
        }
        for (long i = 1; i < d; i++) {
            double gi = gp[i] * w, *row = gl + i * d;
            for (long j = 0; j < i; j++) row[j] += gi * ep[j];
        }
    }
    for (long i = 0; i < d; i++) gr[i] *= slope[i];
}

// MARK: - Fused Adam, and the sum of squares of a gradient (its norm), split across the threads for large tensors

// Elements [first, last) of one Adam update. Compiled three times: as plain C, for AVX2 with FMA and for AVX-512,
// where the compiler vectorises it eight or sixteen floats (four or eight doubles) at a time.
#define ADAM_LOOP(T, SQRT)                                                                                \
    for (long i = first; i < last; i++) {                                                                 \
        T gi = u->g[i];                                                                                   \
        T mi = u->beta1 * u->m[i] + (1 - u->beta1) * gi;                                                  \
        T vi = u->beta2 * u->v[i] + (1 - u->beta2) * gi * gi;                                             \
        u->m[i] = mi;                                                                                     \
        u->v[i] = vi;                                                                                     \
        u->p[i] -= u->lr * ((mi * u->c1) / (SQRT(vi * u->c2) + u->eps) + u->weightDecay * u->p[i]);       \
    }
// The same in the vector paths, with the elements past the last whole vector (each a division and a square root,
// one after the other) read and written through a mask and updated as one more vector: a small model's parameters are
// mostly such a tail (updates of 6, 21 and 55 doubles: 29, 62 and 100 ns before, 22, 47 and 77 after; C harness,
// alternating, one core). The vector's arithmetic is the loop's expression on vector types, so it rounds as the loop
// does, lane by lane (the same multiply-adds are fused).
#define ADAM_MASKED_TAIL(T, SQRT, V, MASK, LOAD, STORE)                                                   \
    long whole = first + (last - first) / (long)(sizeof(V) / sizeof(T)) * (long)(sizeof(V) / sizeof(T)); \
    { long last = whole; ADAM_LOOP(T, SQRT) }                                                             \
    if (whole < last) {                                                                                   \
        MASK;                                                                                             \
        ADAM_VECTOR(V, LOAD, STORE, STORE, whole)                                                         \
    }
// One vector of elements from `at`: LOAD and STORE read and write the moments' and the gradient's lanes, STORE_P
// writes the parameter's.
#define ADAM_VECTOR(V, LOAD, STORE, STORE_P, at)                                                          \
    {                                                                                                     \
        V gi = LOAD(u->g + (at)), m = LOAD(u->m + (at)), v = LOAD(u->v + (at)), p = LOAD(u->p + (at));   \
        V mi = u->beta1 * m + (1 - u->beta1) * gi;                                                        \
        V vi = u->beta2 * v + (1 - u->beta2) * gi * gi;                                                   \
        p -= u->lr * ((mi * u->c1) / (__builtin_elementwise_sqrt(vi * u->c2) + u->eps) + u->weightDecay * p); \
        STORE(u->m + (at), mi);                                                                           \
        STORE(u->v + (at), vi);                                                                           \
        STORE_P(u->p + (at), p);                                                                          \
    }
// A large parameter's new values go to memory past the caches (streaming stores), whole aligned vectors at a time
// with the vector expression above (the same bits), its first and last elements through the masked path. Both cores'
// products read every weight, so each line an update wrote the ordinary way was first taken back from the other
// core's caches: after a gradient's products (a C harness: each core writing its half of the gradient, then reading
// all of the parameters, then the update of 652,824 floats), the update took 248–271 µs against 101 µs with streaming
// stores, and the cycle of all three 396 against 260 µs; when the VM's two cores sat on different dies of the host
// (a cache line's round trip 325–342 ns instead of 60–100) 1,372–1,405 µs against 105–108, the cycle 1,554–1,613
// against 296–342. Small parameters stay in the caches, where the next step reads them, and so does everything when
// the update runs on one thread (then the products did too, and nothing was shared).
enum { ADAM_STREAMED_ELEMENTS = 1 << 16 };
#define ADAM_STREAMED(T, V, ALIGNMENT, MASKED, LOADU, STOREU, STREAM)                                     \
    long aligned = first;                                                                                 \
    while (aligned < last && (uintptr_t)(u->p + aligned) % (ALIGNMENT) != 0) aligned++;                   \
    long whole = aligned + (last - aligned) / (long)(sizeof(V) / sizeof(T)) * (long)(sizeof(V) / sizeof(T)); \
    MASKED(u, first, aligned);                                                                            \
    for (long i = aligned; i < whole; i += (long)(sizeof(V) / sizeof(T))) ADAM_VECTOR(V, LOADU, STOREU, STREAM, i) \
    MASKED(u, whole, last);                                                                               \
    _mm_sfence(); /* the streamed stores are seen before the part is reported done */
#define ADAM_LOADU512_d(x) (vk_d8)_mm512_loadu_pd(x)
#define ADAM_STOREU512_d(x, y) _mm512_storeu_pd(x, (__m512d)(y))
#define ADAM_STREAM512_d(x, y) _mm512_stream_pd(x, (__m512d)(y))
#define ADAM_LOADU512_s(x) (vk_s16)_mm512_loadu_ps(x)
#define ADAM_STOREU512_s(x, y) _mm512_storeu_ps(x, (__m512)(y))
#define ADAM_STREAM512_s(x, y) _mm512_stream_ps(x, (__m512)(y))
#define ADAM_LOADU256_d(x) (vk_d4)_mm256_loadu_pd(x)
#define ADAM_STOREU256_d(x, y) _mm256_storeu_pd(x, (__m256d)(y))
#define ADAM_STREAM256_d(x, y) _mm256_stream_pd(x, (__m256d)(y))
#define ADAM_LOADU256_s(x) (vk_s8)_mm256_loadu_ps(x)
#define ADAM_STOREU256_s(x, y) _mm256_storeu_ps(x, (__m256)(y))
#define ADAM_STREAM256_s(x, y) _mm256_stream_ps(x, (__m256)(y))
#define ADAM_MASK512(T) __mmask16 mask = (__mmask16)((1u << (last - whole)) - 1)
#define ADAM_LOAD512_d(x) (vk_d8)_mm512_maskz_loadu_pd((__mmask8)mask, x)
#define ADAM_STORE512_d(x, y) _mm512_mask_storeu_pd(x, (__mmask8)mask, (__m512d)(y))
#define ADAM_LOAD512_s(x) (vk_s16)_mm512_maskz_loadu_ps(mask, x)
#define ADAM_STORE512_s(x, y) _mm512_mask_storeu_ps(x, mask, (__m512)(y))
#define ADAM_MASK256_d(T) vk_l4 mask = (vk_l4){0, 1, 2, 3} < (last - whole)
#define ADAM_MASK256_s(T) vk_i8 mask = (vk_i8){0, 1, 2, 3, 4, 5, 6, 7} < (int)(last - whole)
#define ADAM_LOAD256_d(x) (vk_d4)_mm256_maskload_pd(x, (__m256i)mask)
#define ADAM_STORE256_d(x, y) _mm256_maskstore_pd(x, (__m256i)mask, (__m256d)(y))
#define ADAM_LOAD256_s(x) (vk_s8)_mm256_maskload_ps(x, (__m256i)mask)
#define ADAM_STORE256_s(x, y) _mm256_maskstore_ps(x, (__m256i)mask, (__m256)(y))
#define ADAM_V512_d vk_d8
#define ADAM_V512_s vk_s16
#define ADAM_V256_d vk_d4
#define ADAM_V256_s vk_s8

#define DEFINE_ADAM(P, T, SQRT)                                                                                 \
    typedef struct {                                                                                            \
        long n;                                                                                                 \
        T *restrict p;                                                                                          \
        const T *restrict g;                                                                                    \
        T *restrict m, *restrict v;                                                                             \
        T lr, beta1, beta2, eps, c1, c2, weightDecay;                                                           \
    } P##adam_update;                                                                                           \
    static void P##adam_range(const P##adam_update *u, long first, long last) { ADAM_LOOP(T, SQRT) }          \
    __attribute__((target("avx512f"))) static void P##adam_range512(const P##adam_update *u, long first,     \
                                                                    long last) {                              \
        ADAM_MASKED_TAIL(T, SQRT, ADAM_V512_##P, ADAM_MASK512(T), ADAM_LOAD512_##P, ADAM_STORE512_##P)          \
    }                                                                                                           \
    __attribute__((target("avx2,fma"))) static void P##adam_range256(const P##adam_update *u, long first,    \
                                                                    long last) {                              \
        ADAM_MASKED_TAIL(T, SQRT, ADAM_V256_##P, ADAM_MASK256_##P(T), ADAM_LOAD256_##P, ADAM_STORE256_##P)      \
    }                                                                                                           \
    __attribute__((target("avx512f"))) static void P##adam_streamed512(const P##adam_update *u, long first,  \
                                                                       long last) {                           \
        ADAM_STREAMED(T, ADAM_V512_##P, 64, P##adam_range512, ADAM_LOADU512_##P, ADAM_STOREU512_##P,         \
                      ADAM_STREAM512_##P)                                                                       \
    }                                                                                                           \
    __attribute__((target("avx2,fma"))) static void P##adam_streamed256(const P##adam_update *u, long first, \
                                                                       long last) {                           \
        ADAM_STREAMED(T, ADAM_V256_##P, 32, P##adam_range256, ADAM_LOADU256_##P, ADAM_STOREU256_##P,         \
                      ADAM_STREAM256_##P)                                                                       \
    }                                                                                                           \
    static void P##adam_elements(const P##adam_update *u, long first, long last, int streamed) {                \
        if (has_avx512) {                                                                                       \
            if (streamed) P##adam_streamed512(u, first, last);                                                  \
            else P##adam_range512(u, first, last);                                                              \
        } else if (has_avx2) {                                                                                  \
            if (streamed) P##adam_streamed256(u, first, last);                                                  \
            else P##adam_range256(u, first, last);                                                              \
        } else P##adam_range(u, first, last);                                                                   \
    }                                                                                                           \
    /* Many parameters in one job, each split into parts at multiples of 64 of its elements, as a job of its */ \
    /* own was: part k updates part k of each, the rows of a weight that part k of the products computed the */   \
    /* gradient of (split as one run of all the parameters, one core updated whole weights whose gradients */     \
    /* both had written). Each element is updated as it would be alone (vector lanes and the tail round as the */ \
    /* loop does), so the bits do not depend on the parts. */                                                    \
    typedef struct {                                                                                            \
        long count;                                                                                             \
        const long *n;                                                                                          \
        T *const *p, *const *m, *const *v;                                                                      \
        const T *const *g;                                                                                      \
        P##adam_update settings; /* the hyperparameters (its n and pointers unused) */                          \
        int parts;                                                                                              \
    } P##adam_batch;                                                                                            \
    static void P##adam_batch_part(void *context, int part) {                                                   \
        const P##adam_batch *job = context;                                                                     \
        for (long a = 0; a < job->count; a++) {                                                                 \
            long n = job->n[a];                                                                                 \
            long lo = n * part / job->parts / 64 * 64;                                                          \
            long hi = part == job->parts - 1 ? n : n * (part + 1) / job->parts / 64 * 64;                       \
            if (lo >= hi) continue;                                                                             \
            P##adam_update u = job->settings;                                                                   \
            u.n = job->n[a];                                                                                    \
            u.p = job->p[a];                                                                                    \
            u.g = job->g[a];                                                                                    \
            u.m = job->m[a];                                                                                    \
            u.v = job->v[a];                                                                                    \
            P##adam_elements(&u, lo, hi, job->parts > 1 && n >= ADAM_STREAMED_ELEMENTS);                        \
        }                                                                                                       \
    }                                                                                                           \
    void vk_##P##adam_batch(long count, const long *n, T *const *p, const T *const *g, T *const *m, T *const *v, \
                            T lr, T beta1, T beta2, T eps, T c1, T c2, T weightDecay) {                         \
        vk_initialize();                                                                                        \
        P##adam_batch job = {count, n, p, m, v, g, {0, 0, 0, 0, 0, lr, beta1, beta2, eps, c1, c2, weightDecay}, 1}; \
        long total = 0;                                                                                         \
        for (long a = 0; a < count; a++) total += n[a];                                                         \
        job.parts = vk_parts_for(total);                                                                        \
        vk_run_parts(P##adam_batch_part, &job, job.parts);                                                      \
    }

DEFINE_ADAM(s, float, sqrtf)
DEFINE_ADAM(d, double, sqrt)

// Σ x² in double over fixed chunks, the chunks' sums added in order: the same value on any number of threads.
// Within a chunk, 32 running sums (element i goes to sum i mod 32; the tail past the last whole 32 to sum 0) are
// added pairwise at the end. Both paths, portable and AVX2, round each product and each sum separately (no fused
// multiply-add), so they give the same bits: 32 sums let the vector path run eight independent additions at a time
// (a gradient's norm is read before every update; with 8 sums the additions' latency bound it).
enum { SQUARES_CHUNK = 1 << 13, SQUARES_LANES = 32 };

static double squares_total(double *s) {
    for (int width = SQUARES_LANES / 2; width >= 1; width /= 2)
        for (int l = 0; l < width; l++) s[l] = s[l] + s[l + width];
    return s[0];
}

// Four elements of either type as doubles, for the vector path.
__attribute__((target("avx2"))) static inline __m256d sload4(const float *x) { return _mm256_cvtps_pd(_mm_loadu_ps(x)); }
__attribute__((target("avx2"))) static inline __m256d dload4(const double *x) { return _mm256_loadu_pd(x); }

// The portable path and the AVX2 path of one element type. In the AVX2 path accumulator k's lane l is running sum
// l + 4k; the tail past the last whole 32 goes to sum 0 in both. AVX2 also runs on AVX-512 processors: eight
// accumulators of four doubles took 0.070 ns an element there against 0.087 for four of eight, and the portable
// loop 0.18 (one core, 2 MB of floats).
#define DEFINE_SQUARES_PATHS(P, T)                                                                              \
    static double P##squares_portable(const T *x, long count) {                                                 \
        _Pragma("clang fp contract(off)") double s[SQUARES_LANES] = {0};                                        \
        long i = 0;                                                                                             \
        for (; i + SQUARES_LANES <= count; i += SQUARES_LANES)                                                  \
            for (int l = 0; l < SQUARES_LANES; l++) {                                                           \
                double square = (double)x[i + l] * (double)x[i + l];                                            \
                s[l] = s[l] + square;                                                                           \
            }                                                                                                   \
        for (; i < count; i++) {                                                                                \
            double square = (double)x[i] * (double)x[i];                                                        \
            s[0] = s[0] + square;                                                                               \
        }                                                                                                       \
        return squares_total(s);                                                                                \
    }                                                                                                           \
    __attribute__((target("avx2"))) static double P##squares256(const T *x, long count) {                      \
        _Pragma("clang fp contract(off)") __m256d a[8];                                                         \
        for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_pd();                                                 \
        long i = 0;                                                                                             \
        for (; i + SQUARES_LANES <= count; i += SQUARES_LANES)                                                  \
            for (int k = 0; k < 8; k++) {                                                                       \
                __m256d v = P##load4(x + i + 4 * k);                                                            \
                a[k] = _mm256_add_pd(a[k], _mm256_mul_pd(v, v));                                                \
            }                                                                                                   \
        double s[SQUARES_LANES];                                                                                \
        for (int k = 0; k < 8; k++) _mm256_storeu_pd(s + 4 * k, a[k]);                                          \
        for (; i < count; i++) {                                                                                \
            double square = (double)x[i] * (double)x[i];                                                        \
            s[0] = s[0] + square;                                                                               \
        }                                                                                                       \
        return squares_total(s);                                                                                \
    }

DEFINE_SQUARES_PATHS(s, float)
DEFINE_SQUARES_PATHS(d, double)

// The sums of squares of many arrays in one job, vk_Psum_squares being one array's: part k sums part k of each array's
// chunks (the share of it that part k of a product wrote), and each array's chunk sums are then added in order from
// 0, so the bits do not depend on the parts or on the other arrays.
#define DEFINE_SUM_SQUARES(P, T)                                                                                \
    static double P##squares_range(const T *x, long count) {                                                    \
        if (has_avx2 && !forced_portable) return P##squares256(x, count);                                       \
        return P##squares_portable(x, count);                                                                   \
    }                                                                                                           \
    typedef struct {                                                                                            \
        long count;                                                                                             \
        const long *n;                                                                                          \
        const T *const *x;                                                                                      \
        double *sums; /* array a's chunk sums from its first chunk's index on */                                \
        int parts;                                                                                              \
    } P##squares_batch;                                                                                         \
    static void P##squares_batch_part(void *context, int part) {                                                \
        const P##squares_batch *job = context;                                                                  \
        for (long a = 0, base = 0; a < job->count; a++) {                                                       \
            long chunks = (job->n[a] + SQUARES_CHUNK - 1) / SQUARES_CHUNK;                                      \
            for (long c = chunks * part / job->parts; c < chunks * (part + 1) / job->parts; c++) {              \
                long start = c * SQUARES_CHUNK;                                                                 \
                long count = job->n[a] - start < SQUARES_CHUNK ? job->n[a] - start : SQUARES_CHUNK;             \
                job->sums[base + c] = P##squares_range(job->x[a] + start, count);                               \
            }                                                                                                   \
            base += chunks;                                                                                     \
        }                                                                                                       \
    }                                                                                                           \
    void vk_##P##sums_of_squares(long count, const long *n, const T *const *x, double *out) {                   \
        vk_initialize();                                                                                        \
        long chunks = 0, total = 0;                                                                             \
        for (long a = 0; a < count; a++) {                                                                      \
            chunks += (n[a] + SQUARES_CHUNK - 1) / SQUARES_CHUNK;                                               \
            total += n[a];                                                                                      \
        }                                                                                                       \
        double local[256];                                                                                      \
        double *sums = chunks <= 256 ? local : malloc(sizeof(double) * (size_t)chunks);                         \
        if (!sums) abort();                                                                                     \
        P##squares_batch job = {count, n, x, sums, 1};                                                          \
        if (total >= VK_PARALLEL_ELEMENTS && !forced_portable && chunks > 1) job.parts = max_threads;           \
        vk_run_parts(P##squares_batch_part, &job, job.parts);                                                   \
        for (long a = 0, c = 0; a < count; a++) {                                                               \
            double sum = 0;                                                                                     \
            for (long s = 0; s < n[a]; s += SQUARES_CHUNK, c++) sum += sums[c];                                 \
            out[a] = sum;                                                                                       \
        }                                                                                                       \
        if (sums != local) free(sums);                                                                          \
    }                                                                                                           \
    double vk_##P##sum_squares(long n, const T *x) {                                                            \
        double sum;                                                                                             \
        vk_##P##sums_of_squares(1, &n, &x, &sum);                                                               \
        return sum;                                                                                             \
    }

DEFINE_SUM_SQUARES(s, float)
DEFINE_SUM_SQUARES(d, double)

// Row sums: 16 running sums per row (element i goes to sum i mod 16; the tail past the last whole 16 to sum 0, in
// order), added pairwise at the end, in the row's own type. The portable path and the AVX2 path make the same
// additions in the same order, so they give the same bits. Sixteen sums let the vector path keep four (double) or
// two (float) independent additions in flight where one chain of 250 dependent additions bound a row of 1,000.
enum { ROW_SUM_LANES = 16 };

#define DEFINE_ROW_SUMS(P, T, V, W, LOAD, ADD, STORE, ZERO)                                                     \
    static T P##row_total(T *s) {                                                                               \
        for (int width = ROW_SUM_LANES / 2; width >= 1; width /= 2)                                             \
            for (int l = 0; l < width; l++) s[l] = s[l] + s[l + width];                                         \
        return s[0];                                                                                            \
    }                                                                                                           \
    static T P##row_sum_portable(const T *x, long count) {                                                      \
        T s[ROW_SUM_LANES] = {0};                                                                               \
        long i = 0;                                                                                             \
        for (; i + ROW_SUM_LANES <= count; i += ROW_SUM_LANES)                                                  \
            for (int l = 0; l < ROW_SUM_LANES; l++) s[l] = s[l] + x[i + l];                                     \
        for (; i < count; i++) s[0] = s[0] + x[i];                                                              \
        return P##row_total(s);                                                                                 \
    }                                                                                                           \
    __attribute__((target("avx2"))) static T P##row_sum256(const T *x, long count) {                           \
        enum { K = ROW_SUM_LANES / W };                                                                         \
        V a[K];                                                                                                 \
        for (int k = 0; k < K; k++) a[k] = ZERO();                                                              \
        long i = 0;                                                                                             \
        for (; i + ROW_SUM_LANES <= count; i += ROW_SUM_LANES)                                                  \
            for (int k = 0; k < K; k++) a[k] = ADD(a[k], LOAD(x + i + W * k));                                  \
        T s[ROW_SUM_LANES];                                                                                     \
        for (int k = 0; k < K; k++) STORE(s + W * k, a[k]);                                                     \
        for (; i < count; i++) s[0] = s[0] + x[i];                                                              \
        return P##row_total(s);                                                                                 \
    }                                                                                                           \
    void vk_##P##row_sums(long rows, long columns, const T *x, T *out) {                                        \
        vk_initialize();                                                                                        \
        int vector = has_avx2 && !forced_portable;                                                              \
        for (long r = 0; r < rows; r++)                                                                         \
            out[r] = vector ? P##row_sum256(x + r * columns, columns) : P##row_sum_portable(x + r * columns, columns); \
    }

DEFINE_ROW_SUMS(s, float, __m256, 8, _mm256_loadu_ps, _mm256_add_ps, _mm256_storeu_ps, _mm256_setzero_ps)
DEFINE_ROW_SUMS(d, double, __m256d, 4, _mm256_loadu_pd, _mm256_add_pd, _mm256_storeu_pd, _mm256_setzero_pd)
