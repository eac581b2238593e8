#ifndef C_VARIATIONAL_KERNELS_H
#define C_VARIATIONAL_KERNELS_H

#include <stddef.h>

// Kernels for the Tensor core. Matrices are row-major. Single-precision GEMM runs in the project's own AVX-512
// kernel where the processor has it; other GEMM/GEMV use OpenBLAS when it can be loaded at run time (dlopen), and
// a portable blocked kernel otherwise. Elementwise maths uses glibc's libmvec (AVX2 variants)
// when the processor supports them, and scalar libm otherwise.

/// Loads OpenBLAS unless the environment variable VARIATIONAL_KERNEL is "portable"; VARIATIONAL_THREADS caps
/// the threads large products may use (default: all cores). Idempotent.
/// Returns 1 when OpenBLAS is in use, 0 for the portable kernel.
int vk_initialize(void);

// A word read with acquire and written with release ordering: a tensor buffer's marks, which say whether its
// elements are still to be computed (TensorElements.swift), may be read on one thread while another computes them.
static inline long vk_load_acquire(const long *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
static inline void vk_store_release(long *word, long value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }

// VK_ZERO_BLOCK zeros of each type, for making small arrays by copying (see Array.zeros(count:)).
#define VK_ZERO_BLOCK 256
const double *vk_zero_doubles(void);
const float *vk_zero_floats(void);

// Standard normal draws by the Box–Muller transform, in place: each pair of uniforms (u₁, u₂) in (0, 1) at
// values[2i], values[2i + 1] becomes √(−2 log u₁)·(cos 2πu₂, sin 2πu₂). Vectorised through libmvec where the
// machine allows (within a few units in the last place of the scalar formula).
void vk_standard_normals(long pairs, double *values);

// The visitor of the tensor walk running on this thread (an opaque, unretained object pointer), or null.
void *vk_active_visitor(void);
void vk_set_active_visitor(void *visitor);
/// A slot of this thread for the inference layer's gradient sink (Latents.swift), nil when none is active.
void *vk_gradient_sink(void);
void vk_set_gradient_sink(void *sink);
/// 1 when OpenBLAS is in use.
int vk_using_openblas(void);
/// OpenBLAS's configuration string (version and core), or "" for the portable kernel.
const char *vk_blas_description(void);
/// The number of threads large products may use.
int vk_max_threads(void);
/// Caps the number of threads large products may use (1 ... cores).
void vk_set_max_threads(int threads);
/// Which of the project's own kernels single-precision products run in: 512 (AVX-512), 256 (AVX2 with FMA), or 0
/// (OpenBLAS or the portable kernel).
int vk_own_float_products(void);
/// Whether the logistic family (sigmoid, softplus, the cross-entropy, the Bernoulli density) runs its AVX-512 kernel.
int vk_using_avx512_vector_math(void);
/// 1 when libmvec's AVX2 variants are used for elementwise maths.
int vk_using_vector_math(void);
/// Runs body(context, part) for part in 0 ..< parts on the calling thread and on up to parts − 1 workers (parts.c),
/// and returns when all are done. Each part runs exactly once, on whichever thread claims it first; the caller runs
/// every part no worker takes (all of them when the workers are busy with another caller's job, as when a part
/// itself asks for parts). Parts must not depend on which thread runs them.
void vk_run_parts(void (*body)(void *context, int part), void *context, int parts);
/// Elementwise passes, updates and sums of fewer elements than this stay on the calling thread.
#define VK_PARALLEL_ELEMENTS 32768
/// The number of parts an elementwise pass over this many elements is worth splitting into: the threads for passes
/// of VK_PARALLEL_ELEMENTS or more, 1 for smaller ones (and when the portable kernel is forced).
int vk_parts_for(long elements);
/// Forces the portable GEMM/GEMV for this process (tests compare the two kernels).
void vk_force_portable(int portable);
/// The density (nonzeros / elements) up to which a single-precision product's left operand is summed over its
/// nonzeros only (products_sparse.c); 0 turns that path off, 1 tries it on any operand. 0.3 at first.
double vk_sparse_density(void);
void vk_set_sparse_density(double density);
/// Single-precision products whose rows of op(A) (on one thread) fit in this many of the kernel's row panels read a
/// non-transposed B where it lies instead of packing it (4 at first; 0 always packs). For benchmarks and tests.
void vk_set_direct_b_panels(int panels);
int vk_direct_b_panels(void);

void vk_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
              const float *b, long ldb, float beta, float *c, long ldc);
void vk_dgemm(int transA, int transB, long m, long n, long k, double alpha, const double *a, long lda,
              const double *b, long ldb, double beta, double *c, long ldc);
/// y = alpha * op(A) x + beta * y, with A an m-by-n row-major matrix.
void vk_sgemv(int transA, long m, long n, float alpha, const float *a, long lda, const float *x, float beta,
              float *y);
void vk_dgemv(int transA, long m, long n, double alpha, const double *a, long lda, const double *x,
              double beta, double *y);

// Elementwise y[i] = f(x[i]); x and y may be the same buffer.
void vk_sexp(long n, const float *x, float *y);
void vk_dexp(long n, const double *x, double *y);
void vk_slog(long n, const float *x, float *y);
void vk_dlog(long n, const double *x, double *y);
void vk_slog1p(long n, const float *x, float *y);
void vk_dlog1p(long n, const double *x, double *y);
void vk_sexpm1(long n, const float *x, float *y);
void vk_dexpm1(long n, const double *x, double *y);
void vk_stanh(long n, const float *x, float *y);
void vk_dtanh(long n, const double *x, double *y);
void vk_serf(long n, const float *x, float *y);
void vk_derf(long n, const double *x, double *y);
void vk_ssigmoid(long n, const float *x, float *y);
void vk_dsigmoid(long n, const double *x, double *y);
void vk_ssoftplus(long n, const float *x, float *y);
void vk_dsoftplus(long n, const double *x, double *y);
/// y = a ∘ b elementwise, ∘ one of + − × ÷ (op 0 to 3), each of a and b a whole array of n (stride 1) or one number
/// (stride 0); y apart from both.
void vk_sbinary(int op, long n, const float *a, long as, const float *b, long bs, float *y);
void vk_dbinary(int op, long n, const double *a, long as, const double *b, long bs, double *y);

/// Bernoulli negative log-likelihood from logits: y = softplus(l) − x·l, without overflow.
void vk_ssigmoid_cross_entropy(long n, const float *logits, const float *labels, float *y);
void vk_dsigmoid_cross_entropy(long n, const double *logits, const double *labels, double *y);
/// The same y with its gradient with respect to the logits, g = σ(l) − x, sharing one exponential per element.
void vk_ssigmoid_cross_entropy_with_gradient(long n, const float *logits, const float *labels, float *y, float *g);
void vk_dsigmoid_cross_entropy_with_gradient(long n, const double *logits, const double *labels, double *y, double *g);
/// log Bernoulli(x; σ(l)) = x·l − softplus(l) into y and its gradient x − σ(l) into g; −∞ and 0 where x ∉ {0, 1}.
/// Returns the number of such x.
long vk_sbernoulli_log_density(long n, const float *labels, const float *logits, float *y, float *g);
long vk_dbernoulli_log_density(long n, const double *labels, const double *logits, double *y, double *g);
/// Σ log Bernoulli(x; σ(l)) over each of `rows` rows of n elements into sums (one logarithm a row instead of a series
/// an element), and the gradients x − σ(l) into g. Returns how many x are neither 0 nor 1 (the results are then not
/// the densities': take the elementwise kernel).
long vk_dbernoulli_log_density_sums(long rows, long n, const double *x, const double *l, double *sums, double *g);
/// Bernoulli GLM: returns Σᵢ yᵢ lᵢ − softplus(lᵢ), lᵢ = Σⱼ w[j] xT[j·ldx + i], and writes g[j] = Σᵢ (yᵢ − σ(lᵢ)) xT[j·ldx + i].
double vk_dlogistic_glm(long n, long d, const double *xT, long ldx, const double *y, const double *w, double *g);
/// y[j] = table[k[j]] for counts k[j] ∈ {0, …, size − 1}, NaN otherwise; returns how many are NaN.
long vk_slog_factorials(long n, const float *k, const double *table, long size, float *y);
long vk_dlog_factorials(long n, const double *k, const double *table, long size, double *y);
/// A Poisson likelihood with one row of counts k for every row of rates (rows × columns) and log k! per count (NaN
/// where k is not a count): the log densities kη − λ − log k! into y (−∞ where k is not a count).
void vk_spoisson_rows(long rows, long columns, const float *k, const float *lf, const float *eta, const float *rate, float *y);
void vk_dpoisson_rows(long rows, long columns, const double *k, const double *lf, const double *eta, const double *rate, double *y);
/// The log densities into y and their gradient in the log rate with v = 1 into g, at once, from the log rates alone.
void vk_spoisson_log_rate_rows(long rows, long columns, const float *k, const float *lf, const float *eta, float *y, float *g);
void vk_dpoisson_log_rate_rows(long rows, long columns, const double *k, const double *lf, const double *eta, double *y, double *g);
/// Their gradient in the rate times v into g, v·(k/λ − 1); 0 where k is not a count. (In the log rate, a likelihood's
/// gradient comes with its value from vk_Ppoisson_log_rate_rows.)
void vk_spoisson_gradient_rows(long rows, long columns, const float *k, const float *lf, const float *rate, const float *v,
                               float *g);
void vk_dpoisson_gradient_rows(long rows, long columns, const double *k, const double *lf, const double *rate,
                               const double *v, double *g);
/// Normal log densities over rows: x, m and σ (with log σ) each a whole rows × columns array (row stride `columns`) or
/// one row met by every row (row stride 0); y = −½z² − log σ − c with z = (x − m)/σ, whole.
void vk_snormal_rows(long rows, long columns, const float *x, long xs, const float *m, long ms, const float *s,
                     const float *logs, long ss, float c, float *y);
void vk_dnormal_rows(long rows, long columns, const double *x, long xs, const double *m, long ms, const double *s,
                     const double *logs, long ss, double c, double *y);
/// Their gradient in m and σ times v (whole), added to gm and gs (each of its operand's layout; either may be null).
void vk_snormal_gradient_rows(long rows, long columns, const float *x, long xs, const float *m, long ms, const float *s,
                              long ss, const float *v, float *gm, float *gs);
void vk_dnormal_gradient_rows(long rows, long columns, const double *x, long xs, const double *m, long ms,
                              const double *s, long ss, const double *v, double *gm, double *gs);
/// Fills each of `rows` rows of y (length `columns`) with the vector b.
void vk_sfill_rows(long rows, long columns, const float *b, float *y);
void vk_dfill_rows(long rows, long columns, const double *b, double *y);
/// Row r of `stacked` (2·width bytes) becomes row r of `left` then row r of `right` (width bytes each), and the
/// reverse: split by rows as the products and the optimiser split theirs, so each core copies rows it wrote.
void vk_stack_columns(long rows, long width, const void *left, const void *right, void *stacked);
void vk_split_columns(long rows, long width, const void *stacked, void *left, void *right);

/// Rows of y (rows × columns) become max(y + b, 0), in place (NaN gives 0, as x > 0 ? x : 0 does).
void vk_sbias_relu(long rows, long columns, const float *b, float *y);
void vk_dbias_relu(long rows, long columns, const double *b, double *y);
/// δ = v where y > 0, 0 elsewhere, and bias_gradient[k] = Σ_r δ[r][k], summed in blocks of 16 rows (each in row order)
/// whose sums are added in order: the same bits on any number of threads (arrays must not overlap).
void vk_srelu_backward(long rows, long columns, const float *v, const float *y, float *delta, float *bias_gradient);
void vk_drelu_backward(long rows, long columns, const double *v, const double *y, double *delta, double *bias_gradient);
/// sums[k] = Σ_r x[r][k], each column summed in row order from 0 (whatever the number of threads).
void vk_scolumn_sums(long rows, long columns, const float *x, float *sums);
void vk_dcolumn_sums(long rows, long columns, const double *x, double *sums);
/// Row r of y (rows × columns) times factors[r], in place.
void vk_sscale_rows(long rows, long columns, const float *factors, float *y);
void vk_dscale_rows(long rows, long columns, const double *factors, double *y);

/// Σ x[i]² in double, the same value on any number of threads.
double vk_ssum_squares(long n, const float *x);
double vk_dsum_squares(long n, const double *x);
/// out[a] = Σ x[a][i]² for each of `count` arrays of n[a] elements, in one job: each the bits vk_Psum_squares gives it
/// alone.
void vk_ssums_of_squares(long count, const long *n, const float *const *x, double *out);
void vk_dsums_of_squares(long count, const long *n, const double *const *x, double *out);
/// out[r] = Σ x[r·columns + i] over the row, with 16 running sums (element i to sum i mod 16, the tail past the last whole
/// 16 to sum 0) added pairwise: the same bits on every path.
void vk_srow_sums(long rows, long columns, const float *x, float *out);
void vk_drow_sums(long rows, long columns, const double *x, double *out);
/// The pullback of θₚ = μ + L εₚ (the full-rank Gaussian family) for gradients g [s, d], each times w: into gm [d]
/// Σₚ gₚᵢ, into gl [d, d] Σₚ gₚᵢ εₚⱼ below the diagonal (zeros on and above it), into gr [d] Σₚ gₚᵢ εₚᵢ · slope[i].
void vk_dfull_rank_pullback(long s, long d, double w, const double *g, const double *e, const double *slope, double *gm,
                            double *gl, double *gr);
/// One Adam step over `count` flat parameters (parameter a: n[a] elements at p[a], g[a], m[a], v[a]) in one job across
/// the threads: m, v updated in place, p -= lr * (mhat / (sqrt(vhat) + eps) + weightDecay * p) with the bias
/// corrections folded into c1 = 1 / (1 - beta1^t) and c2 = 1 / (1 - beta2^t). Each element's bits do not depend on the
/// other parameters or on the number of threads.
void vk_sadam_batch(long count, const long *n, float *const *p, const float *const *g, float *const *m, float *const *v,
                    float lr, float beta1, float beta2, float eps, float c1, float c2, float weightDecay);
void vk_dadam_batch(long count, const long *n, double *const *p, const double *const *g, double *const *m,
                    double *const *v, double lr, double beta1, double beta2, double eps, double c1, double c2,
                    double weightDecay);

#endif
