// The single-thread floating-point ceiling of this CPU, measured natively, for the "% of ceiling"
// columns of the WebAssembly benchmarks (bench/README.md). Not part of the build or the tests;
// `node --import tsx bench/peak.bench.ts` compiles and runs it beside the WASM probes, or by hand:
//
//   gcc -O2 -msse4.1 -ffp-contract=off bench/native/peak.c -o /tmp/peak && /tmp/peak [iterations]
//
// Each probe is the inner loop of a GEMM micro-tile: R rows of A, already broadcast to vectors and
// read from a 1 KB buffer in L1 at an offset that moves every iteration, times 2 vectors of B held in
// registers, into R x 2 independent accumulators (R = 4, 5, 6: 8, 10 or 12 chains, enough to hide the
// add or FMA latency on two ports). The A loads are what keep the multiplies honest: every product
// has an operand the compiler cannot know, so none can be hoisted out of the loop or folded, and the
// accumulators, never address-taken, stay in registers. Kinds:
//   - sse mul+add: 128-bit mulps then addps (SSE4.1, non-VEX encoding), the instruction mix of
//     baseline WASM SIMD128's f32x4.mul + f32x4.add;
//   - avx mul+add: the same with VEX-128 encoding (vmulps/vaddps xmm), which V8 emits on AVX CPUs;
//   - fma128: vfmadd231ps xmm, what relaxed SIMD's f32x4.relaxed_madd becomes on x64 with FMA3;
//   - fma256 (AVX2 + FMA) and fma512 (AVX-512F), when the CPU has them: the native width, for the
//     ratio to onnxruntime-node (MLAS picks the widest).
// GFLOP/s counts 2 flops per lane per multiply-accumulate. Best and median of 7 runs per probe; flops
// per cycle divide the best by the clock a chain of dependent integer adds measures (the clock of
// scalar code; wide vector code may run at a lower one on some Intel parts).
//
// Checked in the generated code (gcc 12.2.0, `gcc -O2 -msse4.1 -ffp-contract=off -S`): in every
// probe's loop the A rows come from the buffer, as `movaps` / `vmovaps` loads or memory operands of the
// multiply or FMA (the 128-bit probes read each row twice that way, once per B vector) or as
// `vbroadcastss` from memory (fma256, fma512); then exactly 2R multiplies and 2R adds (or 2R FMAs) on
// registers, the offset's add / shift / `and`, the counter and the branch. No store and no `%rsp`
// operand inside the loop, no multiply outside it. The sse probe with R = 6 uses all 16 xmm registers
// (12 accumulators, 2 of B, the loaded A and a copy for the destructive two-operand mulps) and still
// spills nothing. An earlier version, which kept the accumulators in an array read lane by lane after
// the loop, had gcc store all 256-bit accumulators to the stack every iteration: the vector sum at the
// end is what keeps them in registers. The previous probe (constant A and B) had its products hoisted
// out of the loop by gcc and by V8, and timed additions only.
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Thread CPU time, not wall time: on a shared machine the probe's thread is descheduled now and then,
// and those gaps are not the CPU's speed. (A busy hyperthread sibling still slows it; best of 7.)
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// A: 64 broadcast vectors (one float per 64-byte row, enough for 512-bit lanes), plus R rows of slack
// so that offset + r never leaves the buffer.
#define A_ROWS 64
static float A[(A_ROWS + 8) * 16] __attribute__((aligned(64)));

// One probe per (kind, R). `p` walks A one row per iteration; `& (A_ROWS - 1)` wraps it.
#define PROBE(NAME, TARGET, VEC, LOADA, MAC, ZERO, SET1, ADDV, LANE0, R)                                   \
  __attribute__((target(TARGET), noinline)) static float NAME(long iters, float b0s, float b1s) { \
    VEC acc[R][2];                                                                                  \
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = ZERO;                                       \
    const VEC b0 = SET1(b0s), b1 = SET1(b1s);                                                       \
    unsigned row = 0;                                                                               \
    for (long i = 0; i < iters; i++) {                                                              \
      const float *p = A + row * 16;                                                                \
      _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                         \
        const VEC a = LOADA(p + r * 16);                                                            \
        acc[r][0] = MAC(a, b0, acc[r][0]);                                                          \
        acc[r][1] = MAC(a, b1, acc[r][1]);                                                          \
      }                                                                                             \
      row = (row + 1) & (A_ROWS - 1);                                                               \
    }                                                                                               \
    VEC s = ZERO;                                                                                   \
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) s = ADDV(ADDV(s, acc[r][0]), acc[r][1]);    \
    return LANE0(s);                                                                                \
  }

#define SSE_MAC(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
#define FMA128_MAC(a, b, c) _mm_fmadd_ps(a, b, c)
#define FMA256_MAC(a, b, c) _mm256_fmadd_ps(a, b, c)
#define FMA512_MAC(a, b, c) _mm512_fmadd_ps(a, b, c)
#define LANE0_128(v) _mm_cvtss_f32(v)
#define LANE0_256(v) _mm256_cvtss_f32(v)
#define LANE0_512(v) _mm512_cvtss_f32(v)
#define BCAST256(p) _mm256_broadcast_ss(p)
#define BCAST512(p) _mm512_set1_ps(*(p))

#define PROBES(KIND, TARGET, VEC, LOADA, MAC, ZERO, SET1, ADDV, LANE0) \
  PROBE(KIND##_4, TARGET, VEC, LOADA, MAC, ZERO, SET1, ADDV, LANE0, 4) \
  PROBE(KIND##_5, TARGET, VEC, LOADA, MAC, ZERO, SET1, ADDV, LANE0, 5) \
  PROBE(KIND##_6, TARGET, VEC, LOADA, MAC, ZERO, SET1, ADDV, LANE0, 6)

PROBES(sse, "sse4.1", __m128, _mm_load_ps, SSE_MAC, _mm_setzero_ps(), _mm_set1_ps, _mm_add_ps, LANE0_128)
PROBES(avx, "avx", __m128, _mm_load_ps, SSE_MAC, _mm_setzero_ps(), _mm_set1_ps, _mm_add_ps, LANE0_128)
PROBES(fma128, "avx2,fma", __m128, _mm_load_ps, FMA128_MAC, _mm_setzero_ps(), _mm_set1_ps, _mm_add_ps,
       LANE0_128)
PROBES(fma256, "avx2,fma", __m256, BCAST256, FMA256_MAC, _mm256_setzero_ps(), _mm256_set1_ps, _mm256_add_ps,
       LANE0_256)
PROBES(fma512, "avx512f", __m512, BCAST512, FMA512_MAC, _mm512_setzero_ps(), _mm512_set1_ps, _mm512_add_ps,
       LANE0_512)

typedef float (*probe_fn)(long, float, float);
struct probe {
  const char *kind;
  const char *needs;
  int lanes;
  probe_fn fn[3];
};

// The core clock while it runs scalar code: a chain of dependent 1-cycle integer adds, in GHz. Used to
// turn GFLOP/s into flops per cycle (a VM's /proc/cpuinfo MHz is the nominal clock, not the turbo one).
static double clock_ghz(void) {
  const long iters = 5000000;
  unsigned x = 0;
  double t = now();
  for (long i = 0; i < iters; i++) __asm__ volatile(".rept 100\n\taddl $1, %0\n\t.endr" : "+r"(x));
  return (double)iters * 100 / (now() - t) / 1e9;
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

int main(int argc, char **argv) {
  const long iters = argc > 1 ? atol(argv[1]) : 20000000;
  // Values near 1 keep the sums finite and away from denormals for any iteration count used here.
  for (int i = 0; i < (A_ROWS + 8) * 16; i++) A[i] = 0.5f + (float)(i % 97) / 194.0f;
  __builtin_cpu_init();
  const struct probe probes[] = {
      {"sse mul+add", "sse4.1", 4, {sse_4, sse_5, sse_6}},
      {"avx mul+add", "avx", 4, {avx_4, avx_5, avx_6}},
      {"fma128", "fma", 4, {fma128_4, fma128_5, fma128_6}},
      {"fma256", "fma", 8, {fma256_4, fma256_5, fma256_6}},
      {"fma512", "avx512f", 16, {fma512_4, fma512_5, fma512_6}},
  };
  double ghz = 0;
  for (int run = 0; run < 5; run++) {
    double g = clock_ghz();
    if (g > ghz) ghz = g;
  }
  printf("clock (dependent integer adds, best of 5): %.2f GHz\n", ghz);
  printf("| probe | chains | best GFLOP/s | median GFLOP/s | best flop/cycle |\n|---|---:|---:|---:|---:|\n");
  float sink = 0;
  for (unsigned k = 0; k < sizeof probes / sizeof probes[0]; k++) {
    const struct probe *p = &probes[k];
    int ok = strcmp(p->needs, "sse4.1") == 0   ? __builtin_cpu_supports("sse4.1")
             : strcmp(p->needs, "avx") == 0    ? __builtin_cpu_supports("avx")
             : strcmp(p->needs, "fma") == 0    ? __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                                               : __builtin_cpu_supports("avx512f");
    if (!ok) {
      printf("| %s | - | not supported | | |\n", p->kind);
      continue;
    }
    for (int ri = 0; ri < 3; ri++) {
      const int rows = 4 + ri;
      double g[7];
      sink += p->fn[ri](iters / 10, 0.999f, 0.998f);  // warm-up (clock ramp-up, page-in)
      for (int run = 0; run < 7; run++) {
        double t = now();
        sink += p->fn[ri](iters, 0.999f, 0.998f);
        g[run] = (double)iters * rows * 2 * p->lanes * 2 / (now() - t) / 1e9;
      }
      qsort(g, 7, sizeof g[0], cmp);
      printf("| %s | %d | %.1f | %.1f | %.1f |\n", p->kind, rows * 2, g[6], g[3], g[6] / ghz);
    }
  }
  printf("(checksum %g)\n", (double)sink);
  return 0;
}
