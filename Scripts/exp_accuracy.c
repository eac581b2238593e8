// The accuracy and speed of the kernels' exp in double precision (Sources/CVariationalKernels/kernels.c) against
// expl and against libmvec's AVX-512 exp, which the kernels used before. Needs a machine with AVX-512. Build and run
// from the package's root:
//   clang -O3 -fno-math-errno -I Sources/CVariationalKernels/include -I Sources/CVariationalKernels \
//       Scripts/exp_accuracy.c Sources/CVariationalKernels/{parts,products,products256,products512,products_sparse}.c \
//       -o /tmp/exp_accuracy -lmvec -lm -ldl -lpthread && taskset -c 0 /tmp/exp_accuracy
#include "../Sources/CVariationalKernels/kernels.c"
#include <float.h>
#include <stdio.h>
#include <time.h>

__attribute__((target("avx512f"))) __m512d _ZGVeN8v_exp(__m512d);
__attribute__((target("avx512f"), noinline)) static void libmvec_exp(long n, const double *x, double *y) {
    for (long i = 0; i + 8 <= n; i += 8) _mm512_storeu_pd(y + i, _ZGVeN8v_exp(_mm512_loadu_pd(x + i)));
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// The largest error in units of the last place of the exact value (expl, 64-bit significand), over normal results.
static double worst_units(long n, const double *x, const double *y, double *at) {
    double worst = 0;
    for (long i = 0; i < n; i++) {
        long double exact = expl((long double)x[i]);
        if (exact > DBL_MAX || exact < DBL_MIN) continue;
        double unit = nextafter((double)exact, INFINITY) - (double)exact;
        double units = (double)(fabsl((long double)y[i] - exact) / unit);
        if (units > worst) { worst = units; *at = x[i]; }
    }
    return worst;
}

int main(void) {
    long n = 1L << 22;
    double *x = malloc(sizeof(double) * n), *ours = malloc(sizeof(double) * n), *theirs = malloc(sizeof(double) * n);
    srand(1);
    for (long i = 0; i < n; i++)  // half in [−3, 3], half over the whole range of normal results
        x[i] = i < n / 2 ? -3 + 6 * (rand() / (double)RAND_MAX) : -708 + 1417 * (rand() / (double)RAND_MAX);
    avx512_dexp(n, x, ours);
    libmvec_exp(n, x, theirs);
    double at_ours = 0, at_theirs = 0;
    double worst_ours = worst_units(n, x, ours, &at_ours), worst_theirs = worst_units(n, x, theirs, &at_theirs);
    printf("largest error, units in the last place: ours %.3f (x = %.17g), libmvec %.3f (x = %.17g)\n", worst_ours,
           at_ours, worst_theirs, at_theirs);
    long m = 496, repeats = 20000;
    for (int round = 0; round < 5; round++) {
        double t0 = seconds();
        for (long r = 0; r < repeats; r++) avx512_dexp(m, x, ours);
        double t1 = seconds();
        for (long r = 0; r < repeats; r++) libmvec_exp(m, x, theirs);
        double t2 = seconds();
        printf("round %d, %ld elements: ours %.3f ns an element, libmvec %.3f (ratio %.2f)\n", round + 1, m,
               1e9 * (t1 - t0) / repeats / m, 1e9 * (t2 - t1) / repeats / m, (t1 - t0) / (t2 - t1));
    }
    return 0;
}
