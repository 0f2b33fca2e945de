/* rnn_recur.c - the recurrence of LSTM, GRU and RNN (see rnn.c): the time
 * loop, H(t-1)*R^T on register-blocked AVX2 / AVX-512 kernels over R^T
 * packed in panels, and the gate nonlinearities on vectorised exp/tanh.
 * Everything a timestep calls is in this file, so it inlines into the loop. */
#include <math.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#if defined(__x86_64__)
#include <immintrin.h> /* also for the AVX-512 kernel, built with a target attribute */
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define RNN_AVX2 1
#endif

#include "rnn_int.h"

/* ---- vectorised math ---------------------------------------------------- */

#ifdef RNN_AVX2
/* Cephes-style expf: |error| about 1 ulp over the clamped range. */
static inline __m256 exp8(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(88.3762626647949f);
    const __m256 lo = _mm256_set1_ps(-88.3762626647949f);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i n = _mm256_cvtps_epi32(fx);
    n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

static inline __m256 sigmoid8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

/* tanh: odd polynomial near zero (where 1 - 2/(e+1) would cancel), the
 * exponential form elsewhere. */
static inline __m256 tanh8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745E-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954E-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531E-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036E-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422E-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    __m256 e = exp8(_mm256_add_ps(ax, ax));
    __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    t = _mm256_or_ps(t, _mm256_and_ps(sign, x));
    __m256 small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
    return _mm256_blendv_ps(t, p, small);
}
#endif

static void v_sigmoid(float *x, int64_t n)
{
    int64_t i = 0;
#ifdef RNN_AVX2
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, sigmoid8(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void v_tanh(float *x, int64_t n)
{
    int64_t i = 0;
#ifdef RNN_AVX2
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, tanh8(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        x[i] = tanhf(x[i]);
}

static void act_apply(const rnn_act *a, float *x, int64_t n)
{
    const float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case ACT_SIGMOID: v_sigmoid(x, n); break;
    case ACT_TANH: v_tanh(x, n); break;
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case ACT_AFFINE:
        for (int64_t i = 0; i < n; i++)
            x[i] = al * x[i] + be;
        break;
    case ACT_LEAKYRELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] >= 0.0f ? x[i] : al * x[i];
        break;
    case ACT_THRESHOLDEDRELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > al ? x[i] : 0.0f;
        break;
    case ACT_SCALEDTANH:
        for (int64_t i = 0; i < n; i++)
            x[i] *= be;
        v_tanh(x, n);
        for (int64_t i = 0; i < n; i++)
            x[i] *= al;
        break;
    case ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = al * x[i] + be;
            v = v < 0.0f ? 0.0f : v;
            x[i] = v > 1.0f ? 1.0f : v;
        }
        break;
    case ACT_ELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] >= 0.0f ? x[i] : al * (expf(x[i]) - 1.0f);
        break;
    case ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case ACT_SOFTPLUS:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            /* log(1+e^v) without overflow for large v */
            x[i] = v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v));
        }
        break;
    }
}

static void v_clip(float *x, int64_t n, float c)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < -c ? -c : x[i];
        x[i] = v > c ? c : v;
    }
}

/* ---- the recurrent matrix product -------------------------------------- */

/* R^T is packed in panels of 64 columns: panel p holds [K][64] floats,
 * column j being row (col0 + 64p + j) of R, zero past the end. Each panel is
 * one contiguous stream the step kernel reads front to back, which measured
 * 1.45x faster than walking rows of a plain R^T (hidden 128, 4 gates). GRU
 * packs its z|r and h columns as two groups, because the h product needs
 * r * H(t-1) first. */
#define RNN_PANEL 64

static int64_t panels_floats(int64_t ncols, int64_t K)
{
    return (ncols + RNN_PANEL - 1) / RNN_PANEL * RNN_PANEL * K;
}

/* Floats of one direction's packing: the groups of its cell, back to back. */
int64_t skiff__rnn_packed_floats(cell_kind cell, int64_t H)
{
    if (cell == CELL_GRU)
        return panels_floats(2 * H, H) + panels_floats(H, H);
    return panels_floats((cell == CELL_LSTM ? 4 : 1) * H, H);
}

/* Packs rows [col0, col0+ncols) of one direction's R ([*, K] row-major). */
static void pack_group(const float *R, int64_t col0, int64_t ncols, int64_t K, float *out)
{
    int64_t np = (ncols + RNN_PANEL - 1) / RNN_PANEL;
    for (int64_t p = 0; p < np; p++) {
        float *o = out + p * RNN_PANEL * K;
        for (int64_t j = 0; j < RNN_PANEL; j++) {
            int64_t c = p * RNN_PANEL + j;
            if (c < ncols) {
                const float *r = R + (col0 + c) * K;
                for (int64_t k = 0; k < K; k++)
                    o[k * RNN_PANEL + j] = r[k];
            } else {
                for (int64_t k = 0; k < K; k++)
                    o[k * RNN_PANEL + j] = 0.0f;
            }
        }
    }
}

void skiff__rnn_pack_panels(cell_kind cell, const float *R, int dirs, int64_t H, float *out)
{
    int64_t per = skiff__rnn_packed_floats(cell, H), G = cell == CELL_LSTM  ? 4
                                                         : cell == CELL_GRU ? 3
                                                                            : 1;
    for (int d = 0; d < dirs; d++) {
        const float *Rd = R + (size_t)d * G * H * H;
        float *o = out + (size_t)d * per;
        if (cell == CELL_GRU) {
            pack_group(Rd, 0, 2 * H, H, o);
            pack_group(Rd, 2 * H, H, H, o + panels_floats(2 * H, H));
        } else {
            pack_group(Rd, 0, G * H, H, o);
        }
    }
}

/* C[0..64) += a[0..K) * panel[K][64] */
static void gemv_panel64(const float *a, const float *B, int64_t K, float *C)
{
#ifdef RNN_AVX2
    __m256 c0 = _mm256_loadu_ps(C), c1 = _mm256_loadu_ps(C + 8);
    __m256 c2 = _mm256_loadu_ps(C + 16), c3 = _mm256_loadu_ps(C + 24);
    __m256 c4 = _mm256_loadu_ps(C + 32), c5 = _mm256_loadu_ps(C + 40);
    __m256 c6 = _mm256_loadu_ps(C + 48), c7 = _mm256_loadu_ps(C + 56);
    for (int64_t k = 0; k < K; k++, B += RNN_PANEL) {
        __m256 av = _mm256_broadcast_ss(a + k);
        c0 = _mm256_fmadd_ps(av, _mm256_load_ps(B), c0);
        c1 = _mm256_fmadd_ps(av, _mm256_load_ps(B + 8), c1);
        c2 = _mm256_fmadd_ps(av, _mm256_load_ps(B + 16), c2);
        c3 = _mm256_fmadd_ps(av, _mm256_load_ps(B + 24), c3);
        c4 = _mm256_fmadd_ps(av, _mm256_load_ps(B + 32), c4);
        c5 = _mm256_fmadd_ps(av, _mm256_load_ps(B + 40), c5);
        c6 = _mm256_fmadd_ps(av, _mm256_load_ps(B + 48), c6);
        c7 = _mm256_fmadd_ps(av, _mm256_load_ps(B + 56), c7);
    }
    _mm256_storeu_ps(C, c0);
    _mm256_storeu_ps(C + 8, c1);
    _mm256_storeu_ps(C + 16, c2);
    _mm256_storeu_ps(C + 24, c3);
    _mm256_storeu_ps(C + 32, c4);
    _mm256_storeu_ps(C + 40, c5);
    _mm256_storeu_ps(C + 48, c6);
    _mm256_storeu_ps(C + 56, c7);
#else
    float acc[RNN_PANEL];
    memcpy(acc, C, sizeof(acc));
    for (int64_t k = 0; k < K; k++, B += RNN_PANEL)
        for (int j = 0; j < RNN_PANEL; j++)
            acc[j] += a[k] * B[j];
    memcpy(C, acc, sizeof(acc));
#endif
}

static void gemv_panel(const float *a, const float *B, int64_t K, float *C, int64_t w)
{
    if (w == RNN_PANEL) {
        gemv_panel64(a, B, K, C);
        return;
    }
    /* the last, partial panel: its zero columns land in a local row */
    float tmp[RNN_PANEL];
    memcpy(tmp, C, (size_t)w * sizeof(float));
    memset(tmp + w, 0, (size_t)(RNN_PANEL - w) * sizeof(float));
    gemv_panel64(a, B, K, tmp);
    memcpy(C, tmp, (size_t)w * sizeof(float));
}

/* Eight rows at once: C[r][0..64) += A[r][0..K) * panel[K][64] for r < 8.
 * A step's product at batch 8 then reuses each panel row eight times from
 * registers instead of streaming the panel once per row. AVX-512 only (16
 * accumulators of 16 floats, two panel loads and a broadcast per row and k),
 * chosen at run time, since the build itself targets AVX2. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ROW8_FMA(r)                                                                                \
    do {                                                                                           \
        __m512 x_ = _mm512_set1_ps(A[(r)*lda + k]);                                                \
        c##r##0 = _mm512_fmadd_ps(x_, b0, c##r##0);                                                \
        c##r##1 = _mm512_fmadd_ps(x_, b1, c##r##1);                                                \
    } while (0)
#define ROW8_LOAD(r)                                                                               \
    __m512 c##r##0 = _mm512_loadu_ps(C + (r)*ldc), c##r##1 = _mm512_loadu_ps(C + (r)*ldc + 16)
#define ROW8_STORE(r)                                                                              \
    do {                                                                                           \
        _mm512_storeu_ps(C + (r)*ldc, c##r##0);                                                    \
        _mm512_storeu_ps(C + (r)*ldc + 16, c##r##1);                                               \
    } while (0)

__attribute__((target("avx512f"))) static void
rows8_panel(const float *A, int64_t lda, const float *P, int64_t K, float *C, int64_t ldc)
{
    for (int half = 0; half < 2; half++, P += 32, C += 32) {
        ROW8_LOAD(0);
        ROW8_LOAD(1);
        ROW8_LOAD(2);
        ROW8_LOAD(3);
        ROW8_LOAD(4);
        ROW8_LOAD(5);
        ROW8_LOAD(6);
        ROW8_LOAD(7);
        for (int64_t k = 0; k < K; k++) {
            __m512 b0 = _mm512_loadu_ps(P + k * RNN_PANEL);
            __m512 b1 = _mm512_loadu_ps(P + k * RNN_PANEL + 16);
            ROW8_FMA(0);
            ROW8_FMA(1);
            ROW8_FMA(2);
            ROW8_FMA(3);
            ROW8_FMA(4);
            ROW8_FMA(5);
            ROW8_FMA(6);
            ROW8_FMA(7);
        }
        ROW8_STORE(0);
        ROW8_STORE(1);
        ROW8_STORE(2);
        ROW8_STORE(3);
        ROW8_STORE(4);
        ROW8_STORE(5);
        ROW8_STORE(6);
        ROW8_STORE(7);
    }
}

/* Four rows over the whole 64-column panel: 16 accumulators, four panel
 * loads and four broadcasts per k (a thread's half of batch 8). */
#define ROW4(r)                                                                                    \
    do {                                                                                           \
        __m512 x_ = _mm512_set1_ps(A[(r)*lda + k]);                                                \
        c##r##0 = _mm512_fmadd_ps(x_, b0, c##r##0);                                                \
        c##r##1 = _mm512_fmadd_ps(x_, b1, c##r##1);                                                \
        c##r##2 = _mm512_fmadd_ps(x_, b2, c##r##2);                                                \
        c##r##3 = _mm512_fmadd_ps(x_, b3, c##r##3);                                                \
    } while (0)
#define ROW4_LOAD(r)                                                                               \
    __m512 c##r##0 = _mm512_loadu_ps(C + (r)*ldc), c##r##1 = _mm512_loadu_ps(C + (r)*ldc + 16),    \
           c##r##2 = _mm512_loadu_ps(C + (r)*ldc + 32),                                            \
           c##r##3 = _mm512_loadu_ps(C + (r)*ldc + 48)
#define ROW4_STORE(r)                                                                              \
    do {                                                                                           \
        _mm512_storeu_ps(C + (r)*ldc, c##r##0);                                                    \
        _mm512_storeu_ps(C + (r)*ldc + 16, c##r##1);                                               \
        _mm512_storeu_ps(C + (r)*ldc + 32, c##r##2);                                               \
        _mm512_storeu_ps(C + (r)*ldc + 48, c##r##3);                                               \
    } while (0)

__attribute__((target("avx512f"))) static void
rows4_panel(const float *A, int64_t lda, const float *P, int64_t K, float *C, int64_t ldc)
{
    ROW4_LOAD(0);
    ROW4_LOAD(1);
    ROW4_LOAD(2);
    ROW4_LOAD(3);
    for (int64_t k = 0; k < K; k++, P += RNN_PANEL) {
        __m512 b0 = _mm512_loadu_ps(P), b1 = _mm512_loadu_ps(P + 16);
        __m512 b2 = _mm512_loadu_ps(P + 32), b3 = _mm512_loadu_ps(P + 48);
        ROW4(0);
        ROW4(1);
        ROW4(2);
        ROW4(3);
    }
    ROW4_STORE(0);
    ROW4_STORE(1);
    ROW4_STORE(2);
    ROW4_STORE(3);
}

static bool have_avx512(void)
{
    static _Atomic int cached = -1;
    int v = cached;
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") ? 1 : 0;
        cached = v;
    }
    return v == 1;
}
#else
static bool have_avx512(void) { return false; }
static void rows8_panel(const float *A, int64_t lda, const float *P, int64_t K, float *C,
                        int64_t ldc)
{
    for (int r = 0; r < 8; r++)
        gemv_panel64(A + r * lda, P, K, C + r * ldc);
}
static void rows4_panel(const float *A, int64_t lda, const float *P, int64_t K, float *C,
                        int64_t ldc)
{
    for (int r = 0; r < 4; r++)
        gemv_panel64(A + r * lda, P, K, C + r * ldc);
}
#endif

/* C[m][0..64) += A[m] * panel for M rows: blocks of eight, then of four, on
 * AVX-512, the rest one row at a time. The panel is a full one (64
 * columns). */
static void rows_panel(const float *A, int64_t lda, int64_t M, const float *P, int64_t K, float *C,
                       int64_t ldc)
{
    int64_t m = 0;
    if (have_avx512()) {
        for (; m + 8 <= M; m += 8)
            rows8_panel(A + m * lda, lda, P, K, C + m * ldc, ldc);
        for (; m + 4 <= M; m += 4)
            rows4_panel(A + m * lda, lda, P, K, C + m * ldc, ldc);
    }
    for (; m < M; m++)
        gemv_panel64(A + m * lda, P, K, C + m * ldc);
}

/* C[M][N] += A[M][K] * R[col0 .. col0+N)^T, where `panels` is that column
 * group packed by pack_group and `Rrows` points at row col0 of R (row stride
 * K), which the BLAS path reads transposed. */
static void rnn_gemm(int threads, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *panels, const float *Rrows, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0 || K <= 0)
        return;
    /* Up to a few dozen rows the register-blocked panels beat a BLAS call;
     * beyond, or without AVX-512, R is reused over enough rows for
     * dnnl_sgemm. */
    if (M >= 4 && have_avx512() && M <= 64 && N % RNN_PANEL == 0) {
        for (int64_t p = 0; p < N / RNN_PANEL; p++)
            rows_panel(A, lda, M, panels + p * RNN_PANEL * K, K, C + p * RNN_PANEL, ldc);
        return;
    }
    if (M >= 8 &&
        dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, lda, Rrows, K, 1.0f, C, ldc) == dnnl_success)
        return;
    int64_t np = (N + RNN_PANEL - 1) / RNN_PANEL;
    int nt = threads > 1 && M * N * K >= (1 << 20) ? threads : 1;
    if (nt > np)
        nt = (int)np;
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < np; p++) {
            int64_t j0 = p * RNN_PANEL, w = N - j0 < RNN_PANEL ? N - j0 : RNN_PANEL;
            for (int64_t m = 0; m < M; m++)
                gemv_panel(A + m * lda, panels + p * RNN_PANEL * K, K, C + m * ldc + j0, w);
        }
        return;
    }
    /* no parallel region at all: entering one, even for one thread, costs
     * more than a step's product at hidden 128 */
    for (int64_t p = 0; p < np; p++) {
        int64_t j0 = p * RNN_PANEL, w = N - j0 < RNN_PANEL ? N - j0 : RNN_PANEL;
        for (int64_t m = 0; m < M; m++)
            gemv_panel(A + m * lda, panels + p * RNN_PANEL * K, K, C + m * ldc + j0, w);
    }
}

/* ---- the LSTM cell ------------------------------------------------------ */

/* One batch row's LSTM update for hidden units [j0, j1): g holds the row's
 * gate pre-activations (i, o, f, c blocks of H), c its cell state (updated in
 * place), h receives the new hidden state, tb is scratch of H floats. */
static void lstm_units(const rnn_cfg *cfg, const rnn_act *act, float *g, float *c, float *h,
                       float *tb, const float *Pd, int64_t H, int64_t j0, int64_t j1)
{
    const int64_t n = j1 - j0;
    float *gi = g + j0, *go = g + H + j0, *gf = g + 2 * H + j0, *gc = g + 3 * H + j0;
    c += j0;
    h += j0;
    tb += j0;
    if (Pd)
        for (int64_t j = 0; j < n; j++) {
            gi[j] += Pd[j0 + j] * c[j];
            gf[j] += Pd[2 * H + j0 + j] * c[j];
        }
    if (cfg->has_clip) {
        v_clip(gi, n, cfg->clip);
        v_clip(gf, n, cfg->clip);
        v_clip(gc, n, cfg->clip);
    }
    act_apply(&act[0], gi, n);
    if (cfg->input_forget)
        for (int64_t j = 0; j < n; j++)
            gf[j] = 1.0f - gi[j];
    else
        act_apply(&act[0], gf, n);
    act_apply(&act[1], gc, n);
    for (int64_t j = 0; j < n; j++)
        c[j] = gf[j] * c[j] + gi[j] * gc[j];
    if (Pd)
        for (int64_t j = 0; j < n; j++)
            go[j] += Pd[H + j0 + j] * c[j];
    if (cfg->has_clip)
        v_clip(go, n, cfg->clip);
    act_apply(&act[0], go, n);
    memcpy(tb, c, (size_t)n * sizeof(float));
    act_apply(&act[2], tb, n);
    for (int64_t j = 0; j < n; j++)
        h[j] = go[j] * tb[j];
}

/* The time loop of direction d for batch rows [b0, b1). Rows and directions
 * share nothing (gates, rec and tmp are per direction, indexed by row), so
 * disjoint calls may run at once. */
void skiff__rnn_recur(const recur_args *ra, int d, int64_t b0, int64_t b1, int threads)
{
    const rnn_cfg *cfgp = ra->cfg;
    const cell_kind cell = ra->cell;
    const int64_t H = ra->H, GH = ra->GH, seq = ra->seq, batch = ra->batch, nb = b1 - b0;
    const int dirs = ra->dirs;
    const int64_t *lens = ra->lens;
    const float clipv = cfgp->clip;
    const bool rev = cfgp->reverse || d == 1;
    const rnn_act *act = cfgp->act[d];
    const float *rtd = ra->rt + (size_t)d * ra->per_dir;
    const float *rtd_h = rtd + panels_floats(2 * H, H); /* GRU h group */
    const float *Rd = ra->R + (size_t)d * GH * H;
    const float *biasd = ra->bias + (size_t)d * GH;
    const float *rbhd = ra->rbh + (size_t)d * H;
    const float *xwd = ra->xw + (size_t)d * seq * batch * GH;
    float *hd = ra->hs + (size_t)d * batch * H, *cd = ra->cs + (size_t)d * batch * H;
    float *gates = ra->gates + (size_t)d * batch * GH, *rec = ra->rec + (size_t)d * batch * H;
    float *tmp = ra->tmp + (size_t)d * batch * H;
    const float *Pd = ra->P ? ra->P + (size_t)d * 3 * H : NULL;
    for (int64_t s = 0; s < ra->max_len; s++) {
        /* gates = X*W^T + bias for each row at its own timestep */
        for (int64_t b = b0; b < b1; b++) {
            float *g = gates + (size_t)b * GH;
            if (s >= lens[b]) {
                memcpy(g, biasd, (size_t)GH * sizeof(float));
                continue;
            }
            int64_t t = rev ? lens[b] - 1 - s : s;
            int64_t row = cfgp->layout ? b * seq + t : t * batch + b;
            const float *x = xwd + (size_t)row * GH;
            for (int64_t j = 0; j < GH; j++)
                g[j] = x[j] + biasd[j];
        }
        float *hb = hd + (size_t)b0 * H, *gb = gates + (size_t)b0 * GH;
        if (cell == CELL_GRU) {
            rnn_gemm(threads, nb, 2 * H, H, hb, H, rtd, Rd, gb, GH);
            if (cfgp->lbr) {
                for (int64_t b = b0; b < b1; b++)
                    memcpy(rec + (size_t)b * H, rbhd, (size_t)H * sizeof(float));
                rnn_gemm(threads, nb, H, H, hb, H, rtd_h, Rd + 2 * H * H, rec + (size_t)b0 * H, H);
            }
        } else {
            rnn_gemm(threads, nb, GH, H, hb, H, rtd, Rd, gb, GH);
        }

        if (cell == CELL_GRU) {
            for (int64_t b = b0; b < b1; b++) {
                float *g = gates + (size_t)b * GH, *tb = tmp + (size_t)b * H;
                const float *hp = hd + (size_t)b * H;
                if (s >= lens[b]) {
                    memset(tb, 0, (size_t)H * sizeof(float));
                    continue;
                }
                if (cfgp->has_clip)
                    v_clip(g, 2 * H, clipv);
                act_apply(&act[0], g, 2 * H); /* z and r */
                if (!cfgp->lbr)
                    for (int64_t j = 0; j < H; j++)
                        tb[j] = g[H + j] * hp[j];
            }
            if (!cfgp->lbr)
                rnn_gemm(threads, nb, H, H, tmp + (size_t)b0 * H, H, rtd_h, Rd + 2 * H * H,
                         gb + 2 * H, GH);
        }

        for (int64_t b = b0; b < b1; b++) {
            if (s >= lens[b])
                continue;
            float *g = gates + (size_t)b * GH;
            float *h = hd + (size_t)b * H;
            if (cell == CELL_LSTM) {
                lstm_units(cfgp, act, g, cd + (size_t)b * H, h, tmp + (size_t)b * H, Pd, H, 0, H);
            } else if (cell == CELL_GRU) {
                float *z = g, *r = g + H, *gh = g + 2 * H;
                if (cfgp->lbr) {
                    const float *rc = rec + (size_t)b * H;
                    for (int64_t j = 0; j < H; j++)
                        gh[j] += r[j] * rc[j];
                }
                if (cfgp->has_clip)
                    v_clip(gh, H, clipv);
                act_apply(&act[1], gh, H);
                for (int64_t j = 0; j < H; j++)
                    h[j] = (1.0f - z[j]) * gh[j] + z[j] * h[j];
            } else {
                if (cfgp->has_clip)
                    v_clip(g, H, clipv);
                act_apply(&act[0], g, H);
                memcpy(h, g, (size_t)H * sizeof(float));
            }
            if (ra->Y) {
                int64_t t = rev ? lens[b] - 1 - s : s;
                size_t yo = cfgp->layout ? (((size_t)b * seq + t) * dirs + d) * H
                                         : (((size_t)t * dirs + d) * batch + b) * H;
                memcpy(ra->Y + yo, h, (size_t)H * sizeof(float));
            }
        }
    }
}
