/* elementwise.h - what the element-wise kernel files share (elementwise.c,
 * cast.c, softmax.c): dtype shorthands, the branch-free float32 math their
 * loops inline, and dtype conversion. Include it first: the pragmas below
 * must come before any function of the file. */
#ifndef SKIFF_KERNELS_ELEMENTWISE_H
#define SKIFF_KERNELS_ELEMENTWISE_H

/* These loops never read errno or FP exception flags; without the first two
 * options GCC keeps sqrt as a libm call (errno) and will not if-convert the
 * float selects in the polynomial forms, so neither would vectorise. ISO C
 * mode also turns off FMA contraction, which the polynomials want. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno", "no-trapping-math", "fp-contract=fast")
#endif
#if defined(__clang__)
/* clang reports "omp simd" loops it leaves scalar (float min/max
 * reductions without fast-math) as warnings; they are still correct. */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../engine_int.h"

#define NDT 17        /* dtype tables are indexed by the ONNX dtype number, 0..16 */
#define PAR_MIN 32768 /* loops with fewer elements stay on one thread */
#define BLK 16384     /* elements per parallel work item */

#define F32 SKIFF_DTYPE_FLOAT32
#define F64 SKIFF_DTYPE_FLOAT64
#define F16 SKIFF_DTYPE_FLOAT16
#define BF16 SKIFF_DTYPE_BFLOAT16
#define BOOL_ SKIFF_DTYPE_BOOL

/* ---- fast float32 math (inline: the loops that call them vectorise) ------- */

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* e^x = 2^n * e^r, |r| <= ln2/2, degree-5 polynomial for e^r (Cephes expf).
 * Written without branches or libm calls so loops calling it vectorise:
 * adding 1.5 * 2^23 rounds to an integer and leaves n in the low mantissa
 * bits, which replaces floorf and a float-to-int conversion. */
static inline float fast_expf(float x)
{
    const float hi = 88.72283905206835f, lo = -87.3365447504019f;
    const float magic = 12582912.0f;
    float xc = x < hi ? x : hi; /* NaN becomes hi here and is restored below */
    xc = xc > lo ? xc : lo;
    float t = xc * 1.44269504088896341f + magic;
    float fx = t - magic;
    uint32_t tb;
    memcpy(&tb, &t, sizeof(tb));
    uint32_t e = tb - 0x4B400000u; /* n, two's complement */
    float r = xc - fx * 0.693359375f + fx * 2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    /* n reaches 128 near the top of the range, where 2^n alone would
     * overflow: scale by 2^(n-1) and then by 2. */
    uint32_t k = (int32_t)e > 0 ? 1u : 0u;
    float res = y * bits_f32((e - k + 127u) << 23) * bits_f32((k + 127u) << 23);
    res = x > hi ? INFINITY : res;
    res = x < lo ? 0.0f : res;
    return x != x ? x : res;
}

/* Cephes tanhf: odd polynomial near 0 (where 1 - 2/(e^2x + 1) would lose
 * relative precision), the exp form elsewhere. */
static inline float fast_tanhf(float x)
{
    float ax = fabsf(x);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    p = p * z * x + x;
    float t = 1.0f - 2.0f / (fast_expf(2.0f * ax) + 1.0f);
    t = copysignf(t, x);
    return ax < 0.625f ? p : t;
}

/* Rational approximation of erf on [-4, 4] (Eigen's generic_fast_erf_float);
 * erf is +-1 in float32 beyond. */
static inline float fast_erff(float x)
{
    float xc = x > 4.0f ? 4.0f : x;
    xc = xc < -4.0f ? -4.0f : xc;
    float x2 = xc * xc;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    p = p * xc;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return p / q;
}

/* ---- dtype conversion (cast.c) --------------------------------------------- */

/* Whether skiff__ew_cvt converts from or to dt (numeric types and bool). */
bool skiff__ew_cvt_ok(skiff_dtype_t dt);
/* Converts n elements from src (sdt) to dst (ddt) as ONNX Cast does; false
 * when a dtype is not one skiff__ew_cvt_ok takes. */
bool skiff__ew_cvt(const void *src, skiff_dtype_t sdt, void *dst, skiff_dtype_t ddt, int64_t n);
/* The same, in blocks over `threads` threads for long arrays. */
void skiff__ew_cvt_par(int threads, const void *src, skiff_dtype_t sdt, void *dst,
                       skiff_dtype_t ddt, int64_t n);

/* n elements of esz bytes from skiff__malloc (at least one); NULL on
 * overflow or out of memory. */
static inline void *skiff__ew_tmp_alloc(int64_t n, size_t esz)
{
    size_t bytes;
    if (n < 0 || !skiff__mul_size((size_t)(n ? n : 1), esz, &bytes))
        return NULL;
    return skiff__malloc(bytes);
}

#endif
