// The 128-bit floating-point ceiling of this CPU, measured natively, for comparison with the
// WebAssembly figures in bench/README.md. Not part of the build or the tests; run by hand:
//
//   gcc -O2 -mavx2 -mfma -ffp-contract=off bench/native/peak.c -o /tmp/peak && /tmp/peak
//
// Two register-only loops with the GEMM micro-tile's shape (4 broadcast rows x 2 vectors = 8
// independent f32x4 accumulators; 12 here, so latency never limits): separate multiply and add
// (what baseline WebAssembly SIMD128 has) and fused multiply-add (what relaxed SIMD may give).
// Prints the best of several timed runs for each.
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define KEEP(v) __asm__ volatile("" : "+x"(v[0]), "+x"(v[1]), "+x"(v[2]), "+x"(v[3]), "+x"(v[4]), "+x"(v[5]), \
                                 "+x"(v[6]), "+x"(v[7]), "+x"(v[8]), "+x"(v[9]), "+x"(v[10]), "+x"(v[11]))

int main(void) {
  const long iters = 50000000;
  const __m128 a0 = _mm_set1_ps(1.0001f), a1 = _mm_set1_ps(0.9999f);
  const __m128 b0 = _mm_set1_ps(1.00001f), b1 = _mm_set1_ps(0.99999f);
  double bestMulAdd = 0, bestFma = 0;
  float sink = 0;
  for (int run = 0; run < 7; run++) {
    __m128 c[12], d[12];
    for (int j = 0; j < 12; j++) c[j] = d[j] = _mm_setzero_ps();
    double t = now();
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
      for (int j = 0; j < 12; j++) c[j] = _mm_add_ps(c[j], _mm_mul_ps((j & 1) ? a0 : a1, (j & 2) ? b0 : b1));
      KEEP(c);
    }
    double g = iters * 12 * 8 / (now() - t) / 1e9;
    if (g > bestMulAdd) bestMulAdd = g;
    t = now();
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
      for (int j = 0; j < 12; j++) d[j] = _mm_fmadd_ps((j & 1) ? a0 : a1, (j & 2) ? b0 : b1, d[j]);
      KEEP(d);
    }
    g = iters * 12 * 8 / (now() - t) / 1e9;
    if (g > bestFma) bestFma = g;
    for (int j = 0; j < 12; j++) sink += c[j][0] + d[j][0];
  }
  printf("128-bit mul+add: %.1f GFLOP/s\n128-bit FMA:     %.1f GFLOP/s\n(checksum %g)\n", bestMulAdd, bestFma,
         (double)sink);
  return 0;
}
