// Single-precision products whose left operand is mostly zeros (products.h): the first layer of a network fed with
// images or counts, X·W forward and Xᵀ·δ for the weights' gradient. MNIST's pixels are about 80% zeros, so the
// blocked kernel spends four fifths of those two products (about 40% of a small VAE's multiply-adds) on zeros.
//
// op(A) is gathered into rows of (column, value) pairs, its nonzeros only; then each row of C is the sum of its
// nonzeros' values times the matching rows of B, up to 64 columns at a time in vector registers. Every output is
// summed over op(A)'s columns in ascending order, whatever the number of threads. Like the reference BLAS, a zero
// of A never multiplies B: an infinity or NaN in a row of B that meets only zeros does not reach C.

#include "products.h"
#include "parts.h"
#include "vectors512.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// op(A)'s nonzeros by rows: row i holds entries starts[i] ..< starts[i + 1] of columns and values.
typedef struct {
    long *starts;
    int *columns;
    float *values;
    long entryCapacity, rowCapacity;
} sparse_rows;

// A thread's gathered rows of op(A) (and of A itself on the way to its transpose): each part of a product gathers
// the rows it needs on the thread that runs it, so that no thread reads what another has just written.
static _Thread_local sparse_rows gathered = {0, 0, 0, 0, 0}, stored = {0, 0, 0, 0, 0};

static void reserve(sparse_rows *s, long rows, long entries) {
    if (rows + 1 > s->rowCapacity) {
        free(s->starts);
        s->rowCapacity = rows + 1;
        s->starts = malloc(sizeof(long) * (size_t)s->rowCapacity);
        if (!s->starts) abort();
    }
    if (entries > s->entryCapacity) {
        free(s->columns);
        free(s->values);
        s->entryCapacity = entries;
        s->columns = malloc(sizeof(int) * (size_t)entries);
        s->values = malloc(sizeof(float) * (size_t)entries);
        if (!s->columns || !s->values) abort();
    }
}

// A product goes sparse when op(A) looks at most this dense (nonzeros / elements, judged from evenly spaced samples:
// the parts gather on their own threads, after the choice is made). At MNIST's 20% the VAE's two
// first-layer products take 0.5-0.6 of the AVX-512 blocked kernel's time on one thread, 0.6-0.9 on two (gathering
// included; the benchmark `first-layer`); the nonzeros' rows of B come from the second-level cache, one load for
// each multiply-add, so past about 30% the blocked kernel, which reuses what it loads, wins. Atomic: a setting made
// while other threads multiply is seen whole.
static _Atomic double sparse_density = 0.3;

double vk_sparse_density(void) { return sparse_density; }

// NaN and negative values turn the path off; values past 1 mean 1.
void vk_set_sparse_density(double density) {
    if (!(density > 0)) density = 0;
    if (density > 1) density = 1;
    sparse_density = density;
}

// 256 evenly spaced elements of A decide whether to go sparse.
enum { SAMPLES = 256 };

// compress_order[mask] lists the lanes set in an 8-bit mask in ascending order (then zeros): the shuffle that packs a
// vector's nonzeros to its front.
static uint8_t compress_order[256][8];
static pthread_once_t compress_once = PTHREAD_ONCE_INIT;

static void build_compress_order(void) {
    for (int mask = 0; mask < 256; mask++) {
        int n = 0;
        for (int lane = 0; lane < 8; lane++)
            if (mask >> lane & 1) compress_order[mask][n++] = (uint8_t)lane;
    }
}

// Gathers the rows of a (rows × columns, leading dimension lda) into s, in ascending columns within each row. Eight
// elements at a time: their nonzeros (NaN counts as one, −0 does not) are packed to the front of a vector and all
// eight lanes stored, the count advancing by the nonzeros only, so the entries past the count are scratch that the
// next store overwrites (room for a vector past the last possible entry).
__attribute__((target("avx2,popcnt"))) static void gather_rows(sparse_rows *s, const float *a, long lda, long rows,
                                                                long columns) {
    pthread_once(&compress_once, build_compress_order);
    reserve(s, rows, rows * columns + 8);
    const __m256 zero = _mm256_setzero_ps();
    long count = 0;
    for (long i = 0; i < rows; i++) {
        s->starts[i] = count;
        const float *row = a + i * lda;
        long p = 0;
        for (; p + 8 <= columns; p += 8) {
            __m256 v = _mm256_loadu_ps(row + p);
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ));
            __m256i order = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)compress_order[mask]));
            _mm256_storeu_ps(s->values + count, _mm256_permutevar8x32_ps(v, order));
            _mm256_storeu_si256((__m256i *)(s->columns + count), _mm256_add_epi32(order, _mm256_set1_epi32((int)p)));
            count += __builtin_popcount((unsigned)mask);
        }
        for (; p < columns; p++) {
            s->columns[count] = (int)p;
            s->values[count] = row[p];
            count += row[p] != 0;
        }
    }
    s->starts[rows] = count;
}

// The same with AVX-512, sixteen elements at a time, compressed in registers.
__attribute__((target("avx512f,popcnt"))) static void gather_rows512(sparse_rows *s, const float *a, long lda, long rows,
                                                                    long columns) {
    reserve(s, rows, rows * columns + 16);
    const __m512 zero = _mm512_setzero_ps();
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    long count = 0;
    for (long i = 0; i < rows; i++) {
        s->starts[i] = count;
        const float *row = a + i * lda;
        for (long p = 0; p < columns; p += 16) {
            __mmask16 live = vk_lane_mask16(columns - p);
            __m512 v = _mm512_maskz_loadu_ps(live, row + p);
            __mmask16 nonzero = _mm512_mask_cmp_ps_mask(live, v, zero, _CMP_NEQ_UQ);
            _mm512_storeu_ps(s->values + count, _mm512_maskz_compress_ps(nonzero, v));
            __m512i at = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)p));
            _mm512_storeu_si512(s->columns + count, _mm512_maskz_compress_epi32(nonzero, at));
            count += __builtin_popcount(nonzero);
        }
    }
    s->starts[rows] = count;
}

// The columns of a (rows × columns) as the rows of t (columns × rows, leading dimension rows), 16 × 16 blocks at a
// time.
__attribute__((target("avx512f"))) static void transpose512(const float *a, long lda, long rows, long columns, float *t) {
    for (long i0 = 0; i0 < rows; i0 += 16) {
        long lines = rows - i0 < 16 ? rows - i0 : 16;
        for (long j0 = 0; j0 < columns; j0 += 16)
            vk_transpose_lines512(a + i0 * lda + j0, lda, lines, columns - j0 < 16 ? columns - j0 : 16, t + j0 * rows + i0,
                                  rows, vk_lane_mask16(lines));
    }
}

// The transpose of `rows` (its columns become t's rows), in ascending columns within each row of t: a counting sort
// of the entries by column.
static void transpose_rows(sparse_rows *t, const sparse_rows *rows, long rowCount, long columnCount) {
    long entries = rows->starts[rowCount];
    reserve(t, columnCount, entries);
    memset(t->starts, 0, sizeof(long) * (size_t)(columnCount + 1));
    for (long e = 0; e < entries; e++) t->starts[rows->columns[e] + 1]++;
    for (long j = 0; j < columnCount; j++) t->starts[j + 1] += t->starts[j];
    // t->starts[j] serves as row j's cursor while placing, ending at row j + 1's start; shifted back afterwards.
    for (long i = 0; i < rowCount; i++) {
        for (long e = rows->starts[i]; e < rows->starts[i + 1]; e++) {
            long at = t->starts[rows->columns[e]]++;
            t->columns[at] = (int)i;
            t->values[at] = rows->values[e];
        }
    }
    for (long j = columnCount; j > 0; j--) t->starts[j] = t->starts[j - 1];
    t->starts[0] = 0;
}

// A thread's scratch for A's transpose on the way to gathering its rows (AVX-512).
static _Thread_local float *transposed = 0;
static _Thread_local long transposedCapacity = 0;

// Gathers rows r0 ..< r1 of op(A) (m × k; A stored k × m when transposed) into the thread's `gathered`, as its rows
// 0 ..< r1 − r0. Transposed, AVX-512 gathers the rows of the transpose of A's columns r0 ..< r1; AVX2 gathers those
// columns of A's rows into `stored`, then sorts their entries by column. On the VAE's Xᵀ (784 × 128, 20% nonzero)
// the first takes 26 µs, the second 51 (one core; a C harness timing the whole gathering alone).
static const sparse_rows *gather(int wide, int transA, const float *a, long lda, long k, long r0, long r1) {
    long rows = r1 - r0;
    if (!transA) {
        if (wide) gather_rows512(&gathered, a + r0 * lda, lda, rows, k);
        else gather_rows(&gathered, a + r0 * lda, lda, rows, k);
    } else if (wide) {
        if (rows * k > transposedCapacity) {
            free(transposed);
            transposedCapacity = rows * k;
            transposed = malloc(sizeof(float) * (size_t)transposedCapacity);
            if (!transposed) abort();
        }
        transpose512(a + r0, lda, k, rows, transposed);
        gather_rows512(&gathered, transposed, k, rows, k);
    } else {
        gather_rows(&stored, a + r0, lda, k, rows);
        transpose_rows(&gathered, &stored, k, rows);
    }
    return &gathered;
}

typedef struct {
    const float *a, *b;
    long lda, ldb, m, n, k;
    float alpha, beta;
    float *c;
    long ldc;
    int wide, transA, splitRows, parts;
} sparse_product;

// Columns j ..< j + 8·V of C's rows i0 ..< i1, V vectors of sums held in registers across each row's nonzeros. When
// op(A) has more than 2·CHUNK columns, the rows of B (8·V floats each, V ≤ 8) are taken CHUNK at a time, so that
// those a row's nonzeros reach (CHUNK · 256 bytes = 24 KiB) come from the first-level cache rather than the second
// (the VAE's X·W₁, k = 784: 0.75 of the time on one thread; Xᵀ·δ, k = 128, has its B in that cache already); the
// sums then wait in `partial` between chunks, and each row's cursor says where its next chunk's nonzeros begin.
// Either way each sum runs over its row's nonzeros in ascending columns, so the bits are the same.
enum { CHUNK = 96 };

// Row i's sums, times alpha, plus beta times what C held (unread when beta is 0), into C.
#define SPARSE_STORE(V)                                                                                                \
    {                                                                                                                  \
        float *out = job->c + i * job->ldc + j;                                                                        \
        for (int v = 0; v < V; v++) {                                                                                  \
            __m256 r = _mm256_mul_ps(alpha, sum[v]);                                                                   \
            if (job->beta != 0) r = _mm256_fmadd_ps(beta, _mm256_loadu_ps(out + 8 * v), r);                            \
            _mm256_storeu_ps(out + 8 * v, r);                                                                          \
        }                                                                                                              \
    }

#define SPARSE_COLUMNS(V)                                                                                              \
    __attribute__((target("avx2,fma"))) static void sparse_columns##V(const sparse_product *job, const sparse_rows *s, \
                                                                       long i0, long i1, long j, long *cursor,        \
                                                                       float *partial) {                              \
        const long *starts = s->starts - i0; /* s holds rows i0 ..< i1 as its rows from 0 */                          \
        const int *columns = s->columns;                                                                               \
        const float *values = s->values, *b = job->b + j;                                                              \
        long ldb = job->ldb, k = job->k;                                                                               \
        __m256 alpha = _mm256_set1_ps(job->alpha), beta = _mm256_set1_ps(job->beta);                                   \
        if (k <= 2 * CHUNK) {                                                                                          \
            for (long i = i0; i < i1; i++) {                                                                           \
                __m256 sum[V];                                                                                         \
                for (int v = 0; v < V; v++) sum[v] = _mm256_setzero_ps();                                              \
                for (long e = starts[i]; e < starts[i + 1]; e++) {                                                     \
                    __m256 x = _mm256_set1_ps(values[e]);                                                              \
                    const float *row = b + columns[e] * ldb;                                                           \
                    for (int v = 0; v < V; v++) sum[v] = _mm256_fmadd_ps(x, _mm256_loadu_ps(row + 8 * v), sum[v]);    \
                }                                                                                                      \
                SPARSE_STORE(V)                                                                                        \
            }                                                                                                          \
            return;                                                                                                    \
        }                                                                                                              \
        for (long p0 = 0; p0 < k; p0 += CHUNK) {                                                                       \
            long p1 = p0 + CHUNK < k ? p0 + CHUNK : k;                                                                 \
            for (long i = i0; i < i1; i++) {                                                                           \
                __m256 sum[V];                                                                                         \
                float *kept = partial + (i - i0) * 64;                                                                 \
                for (int v = 0; v < V; v++) sum[v] = p0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(kept + 8 * v);    \
                long e = p0 == 0 ? starts[i] : cursor[i - i0], end = starts[i + 1];                                    \
                for (; e < end && columns[e] < p1; e++) {                                                              \
                    __m256 x = _mm256_set1_ps(values[e]);                                                              \
                    const float *row = b + columns[e] * ldb;                                                           \
                    for (int v = 0; v < V; v++) sum[v] = _mm256_fmadd_ps(x, _mm256_loadu_ps(row + 8 * v), sum[v]);    \
                }                                                                                                      \
                if (p1 < k) {                                                                                          \
                    cursor[i - i0] = e;                                                                                \
                    for (int v = 0; v < V; v++) _mm256_storeu_ps(kept + 8 * v, sum[v]);                               \
                    continue;                                                                                          \
                }                                                                                                      \
                SPARSE_STORE(V)                                                                                        \
            }                                                                                                          \
        }                                                                                                              \
    }
SPARSE_COLUMNS(1)
SPARSE_COLUMNS(2)
SPARSE_COLUMNS(3)
SPARSE_COLUMNS(4)
SPARSE_COLUMNS(5)
SPARSE_COLUMNS(6)
SPARSE_COLUMNS(7)
SPARSE_COLUMNS(8)

static void (*const sparse_columns[9])(const sparse_product *, const sparse_rows *, long, long, long, long *, float *) = {
    0, sparse_columns1, sparse_columns2, sparse_columns3, sparse_columns4,
    sparse_columns5, sparse_columns6, sparse_columns7, sparse_columns8};

// C[i0 ..< i1, j0 ..< j1]: the whole vectors of 8 columns in blocks of at most 8 (a 64-column block of B stays in
// the second-level cache across the rows) and of nearly equal widths, so that no block is left with too few
// independent sums to keep the multiply-adds busy; then the last columns one at a time.
__attribute__((target("avx2,fma"))) static void sparse_block(const sparse_product *job, const sparse_rows *s, long i0,
                                                               long i1, long j0, long j1) {
    long vectors = (j1 - j0) / 8, blocks = (vectors + 7) / 8, j = j0;
    long *cursor = 0;
    float *partial = 0;
    if (job->k > 2 * CHUNK && vectors > 0) {
        cursor = malloc(sizeof(long) * (size_t)(i1 - i0));
        partial = malloc(sizeof(float) * 64 * (size_t)(i1 - i0));
        if (!cursor || !partial) abort();
    }
    for (long block = 0; block < blocks; block++) {
        long width = vectors * (block + 1) / blocks - vectors * block / blocks;
        sparse_columns[width](job, s, i0, i1, j, cursor, partial);
        j += 8 * width;
    }
    free(cursor);
    free(partial);
    const long *starts = s->starts - i0;
    const int *columns = s->columns;
    const float *values = s->values, *b = job->b;
    long ldb = job->ldb, ldc = job->ldc;
    float alpha = job->alpha, beta = job->beta;
    for (; j < j1; j++) {
        for (long i = i0; i < i1; i++) {
            float sum = 0;
            for (long e = starts[i]; e < starts[i + 1]; e++) sum = fmaf(values[e], b[columns[e] * ldb + j], sum);
            float *out = job->c + i * ldc + j;
            *out = beta != 0 ? fmaf(beta, *out, alpha * sum) : alpha * sum;
        }
    }
}

// Part `part`: a range of rows, or of columns in whole groups of 8, from the rows of op(A) it gathers itself (all of
// them for a range of columns). Gathered once by the caller and read by the workers, the nonzeros crossed from one
// core's caches to the other's at every product, and the next gathering waited for the lines the workers had read:
// on two threads the VAE's X·W₁ took 291–631 µs against 408–422 on one (`variational-benchmarks first-layer-parts`),
// and gathering X 3.5 times as long as on one (rdtsc around each phase).
static void sparse_part(void *context, int part) {
    const sparse_product *job = context;
    long i0 = 0, i1 = job->m, j0 = 0, j1 = job->n;
    if (job->splitRows) {
        i0 = job->m * part / job->parts;
        i1 = job->m * (part + 1) / job->parts;
    } else {
        long groups = (job->n + 7) / 8;
        j0 = groups * part / job->parts * 8;
        j1 = groups * (part + 1) / job->parts * 8;
        if (j1 > job->n) j1 = job->n;
    }
    if (i0 >= i1 || j0 >= j1) return;
    sparse_block(job, gather(job->wide, job->transA, job->a, job->lda, job->k, i0, i1), i0, i1, j0, j1);
}

int vk_sparse_sgemm(int wide, int transA, long m, long n, long k, float alpha, const float *a, long lda, const float *b, long ldb,
                    float beta, float *c, long ldc, int threads) {
    // Few columns leave the vectors idle; a small product is over before gathering pays. Below 64 columns the
    // blocked kernel wins even on sparse operands: a Gaussian encoder's two heads as one product, 128 × 40 × 400 with
    // a quarter of the hidden units nonzero, 41 µs blocked against 56 µs here (and Aᵀ·B 40 against 53); at 64
    // columns the two are level (65 against 61, 63 against 59; `variational-benchmarks vae-gemms`, two threads).
    if (n < 64 || (double)m * n * k < (1 << 16)) return 0;
    long rows = transA ? k : m, columns = transA ? m : k, elements = rows * columns, zeros = 0;
    for (long t = 0; t < SAMPLES; t++) {
        long at = (long)((double)t * (double)(elements - 1) / (SAMPLES - 1));
        zeros += a[at / columns * lda + at % columns] == 0;
    }
    double density = sparse_density;
    if (density <= 0 || zeros < (long)((1 - density) * SAMPLES)) return 0;
    // Split by rows wherever each part gets 8 or more: a part then gathers only its own rows, and writes the rows the
    // passes after the product (bias, rectifier) and the next product take on the same core. Each part reads all of
    // B instead of its half, which costs less than that: the VAE's X·W₁ (128 × 400 × 784, split by columns before)
    // traced in the step (rdtsc around each job, two rounds of 600 steps, fast state) 261, 262 µs by columns against
    // 245, 245 by rows, and the first layer's weight gradient after it 193, 194 against 159, 161 (it splits by rows
    // either way); isolated (a C harness, 16 to 128 rows) the two splits are level within the machine's noise.
    int splitRows = m > n || m >= 8 * (long)threads;
    sparse_product job = {a, b, lda, ldb, m, n, k, alpha, beta, c, ldc, wide, transA, splitRows, threads};
    long units = job.splitRows ? m : (n + 7) / 8;
    if (job.parts > units) job.parts = (int)units;
    // The nonzeros the samples suggest, times the columns of B: under 2^17 multiply-adds stay on one thread.
    if ((double)(SAMPLES - zeros) / SAMPLES * (double)elements * (double)n < (1 << 17)) job.parts = 1;
    vk_run_parts(sparse_part, &job, job.parts);
    return 1;
}
