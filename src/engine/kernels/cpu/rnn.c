/* rnn.c - the ONNX recurrent ops: LSTM, GRU and RNN (opsets 1-14+, with the
 * opset-14 `layout` attribute).
 *
 * All three run the same way. The input projection X*W^T does not depend on
 * the recurrence, so it is done for every timestep at once with one oneDNN
 * sgemm per direction; only H(t-1)*R^T remains inside the time loop. For the
 * small batches of online serving that product is a matrix-vector product,
 * which a call into a BLAS spends more time dispatching than computing, so it
 * runs on a register-blocked AVX2 kernel over R^T (packed at load time when R
 * is a constant); batches of 8 to 64 rows use an eight-row AVX-512 kernel over
 * the same panels when the CPU has it (batch 8, hidden 128: 1.25 ms per
 * 100-step run against 1.9 ms through dnnl_sgemm), larger ones dnnl_sgemm.
 * Batch rows (and the two directions) never meet, so the threads split the
 * rows and each runs whole sequences for its own, with no barrier per step
 * (batch 8 on two threads: four rows each on a four-row kernel, 1.02 ms
 * against 1.25 ms on one thread); splitting each step's columns with a
 * barrier per step was tried and measured slower (1.6 ms). The gate
 * nonlinearities use
 * vectorised exp/tanh, because with hidden 128 the libm calls would otherwise
 * cost as much as the matrix work.
 *
 * sequence_lens is honoured per batch row: a row stops updating its state
 * after its length (its Y entries past the end are zero), and the reverse
 * direction of a row starts at its own last element, as ONNX Runtime does. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include <oneapi/dnnl/dnnl.h>

#if defined(__x86_64__)
#include <immintrin.h> /* also for the AVX-512 kernel, built with a target attribute */
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define RNN_AVX2 1
#endif

#include "../../engine_int.h"

typedef enum cell_kind { CELL_RNN, CELL_GRU, CELL_LSTM } cell_kind;

typedef enum act_kind {
    ACT_SIGMOID,
    ACT_TANH,
    ACT_RELU,
    ACT_AFFINE,
    ACT_LEAKYRELU,
    ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH,
    ACT_HARDSIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS,
} act_kind;

typedef struct rnn_act {
    act_kind kind;
    float alpha, beta;
} rnn_act;

#define RNN_MAX_ACTS 3 /* per direction: f, g, h for LSTM */

typedef struct rnn_cfg {
    cell_kind cell;
    int gates;      /* gate blocks in W/R: 1 RNN, 3 GRU, 4 LSTM */
    int dirs;       /* 1 or 2 */
    bool reverse;   /* single direction, processed back to front */
    int64_t hidden; /* hidden_size attribute, -1 when absent */
    int layout;     /* 0: [seq, batch, ...], 1: [batch, seq, ...] */
    bool has_clip;
    float clip;
    bool input_forget;
    bool lbr; /* GRU linear_before_reset */
    int nact; /* activations per direction */
    rnn_act act[2][RNN_MAX_ACTS];
} rnn_cfg;

/* Weights packed at load time from constant R and B. */
typedef struct rnn_prep {
    int64_t hidden, input_rows; /* R's shape the packing was made for */
    int dirs;
    float *rt;   /* [dirs][panel_floats]: R^T in 64-column panels (see pack_panels) */
    float *bias; /* [dirs][G*H]: Wb + Rb (GRU lbr: Wbh only for the h gate) */
    float *rbh;  /* [dirs][H]: GRU Rbh kept apart for linear_before_reset */
    bool have_bias;
} rnn_prep;

/* Per-context scratch, grown on demand so steady-state runs do not allocate. */
typedef struct rnn_cache {
    void *buf;
    size_t cap;
} rnn_cache;

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
static int64_t packed_floats(cell_kind cell, int64_t H)
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

static void pack_panels(cell_kind cell, const float *R, int dirs, int64_t H, float *out)
{
    int64_t per = packed_floats(cell, H), G = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
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

/* ---- configuration -------------------------------------------------------- */

static bool act_parse(const char *name, act_kind *out)
{
    static const struct {
        const char *name;
        act_kind kind;
    } names[] = {
        {"Sigmoid", ACT_SIGMOID},
        {"Tanh", ACT_TANH},
        {"Relu", ACT_RELU},
        {"Affine", ACT_AFFINE},
        {"LeakyRelu", ACT_LEAKYRELU},
        {"ThresholdedRelu", ACT_THRESHOLDEDRELU},
        {"ScaledTanh", ACT_SCALEDTANH},
        {"HardSigmoid", ACT_HARDSIGMOID},
        {"Elu", ACT_ELU},
        {"Softsign", ACT_SOFTSIGN},
        {"Softplus", ACT_SOFTPLUS},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].kind;
            return true;
        }
    return false;
}

/* Which of (alpha, beta) an activation takes, and their defaults. Parameters
 * are consumed from activation_alpha/beta in activation order, only by the
 * activations that take them (ONNX Runtime's reading of the spec). */
static void act_params(act_kind k, bool *ua, bool *ub, float *da, float *db)
{
    *ua = *ub = false;
    *da = *db = 0.0f;
    switch (k) {
    case ACT_AFFINE:
        *ua = *ub = true;
        *da = 1.0f;
        break;
    case ACT_LEAKYRELU:
        *ua = true;
        *da = 0.01f;
        break;
    case ACT_THRESHOLDEDRELU:
        *ua = true;
        *da = 1.0f;
        break;
    case ACT_SCALEDTANH:
        *ua = *ub = true;
        *da = 1.0f;
        *db = 1.0f;
        break;
    case ACT_HARDSIGMOID:
        *ua = *ub = true;
        *da = 0.2f;
        *db = 0.5f;
        break;
    case ACT_ELU:
        *ua = true;
        *da = 1.0f;
        break;
    default: break;
    }
}

static const char *cell_name(cell_kind c)
{
    return c == CELL_LSTM ? "LSTM" : c == CELL_GRU ? "GRU" : "RNN";
}

static skiff_status_t *cfg_parse(const skiff__node *node, cell_kind cell, rnn_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cell = cell;
    cfg->gates = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
    cfg->nact = cell == CELL_LSTM ? 3 : cell == CELL_GRU ? 2 : 1;

    const char *dir = skiff__attr_str(node, "direction", "forward");
    if (strcmp(dir, "forward") == 0) {
        cfg->dirs = 1;
    } else if (strcmp(dir, "reverse") == 0) {
        cfg->dirs = 1;
        cfg->reverse = true;
    } else if (strcmp(dir, "bidirectional") == 0) {
        cfg->dirs = 2;
    } else {
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'direction': expected forward, reverse or "
                               "bidirectional, got '%s'",
                               dir);
    }
    cfg->hidden = skiff__attr_int(node, "hidden_size", -1);
    if (skiff__attr_find(node, "hidden_size") && cfg->hidden <= 0)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'hidden_size': expected > 0, got %lld",
                               (long long)cfg->hidden);
    int64_t layout = node->opset >= 14 ? skiff__attr_int(node, "layout", 0) : 0;
    if (layout != 0 && layout != 1)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'layout': expected 0 or 1, got %lld", (long long)layout);
    cfg->layout = (int)layout;
    const skiff__attr *clip = skiff__attr_find(node, "clip");
    if (clip) {
        cfg->has_clip = true;
        cfg->clip = skiff__attr_float(node, "clip", 0.0f);
        if (!(cfg->clip > 0.0f))
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'clip': expected > 0, got %g", (double)cfg->clip);
    }
    cfg->input_forget = cell == CELL_LSTM && skiff__attr_int(node, "input_forget", 0) != 0;
    cfg->lbr = cell == CELL_GRU && skiff__attr_int(node, "linear_before_reset", 0) != 0;

    /* Defaults: LSTM f=Sigmoid g=h=Tanh; GRU f=Sigmoid g=Tanh; RNN Tanh. */
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < cfg->nact; i++) {
            cfg->act[d][i].kind = (i == 0 && cell != CELL_RNN) ? ACT_SIGMOID : ACT_TANH;
            cfg->act[d][i].alpha = cfg->act[d][i].beta = 0.0f;
        }

    const skiff__attr *acts = skiff__attr_find(node, "activations");
    if (acts && acts->type == SKIFF_ATTR_STRINGS && acts->n > 0) {
        int want = cfg->nact * cfg->dirs;
        /* Some exporters list one direction's functions for both directions. */
        if (acts->n != want && !(cfg->dirs == 2 && acts->n == cfg->nact))
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'activations': expected %d names for %s with %d "
                                   "direction(s), got %d",
                                   want, cell_name(cell), cfg->dirs, acts->n);
        const float *alphas = NULL, *betas = NULL;
        int na = skiff__attr_floats(node, "activation_alpha", &alphas);
        int nb = skiff__attr_floats(node, "activation_beta", &betas);
        int ia = 0, ib = 0;
        for (int k = 0; k < want; k++) {
            const char *nm = acts->strings[k % acts->n];
            rnn_act *a = &cfg->act[k / cfg->nact][k % cfg->nact];
            if (!nm || !act_parse(nm, &a->kind))
                return skiff__node_err(node, SKIFF_CODE_UNSUPPORTED,
                                       "attribute 'activations': unsupported activation '%s'",
                                       nm ? nm : "");
            bool ua, ub;
            float da, db;
            act_params(a->kind, &ua, &ub, &da, &db);
            a->alpha = ua && ia < na ? alphas[ia++] : da;
            a->beta = ub && ib < nb ? betas[ib++] : db;
        }
    } else {
        for (int d = 0; d < 2; d++)
            for (int i = 0; i < cfg->nact; i++) {
                bool ua, ub;
                act_params(cfg->act[d][i].kind, &ua, &ub, &cfg->act[d][i].alpha,
                           &cfg->act[d][i].beta);
            }
    }
    return NULL;
}

/* ---- weight packing ------------------------------------------------------- */

/* Folds B = [Wb, Rb] into one bias per gate; for GRU with
 * linear_before_reset the h gate's Rb must stay inside r * (...). */
static void pack_bias(const rnn_cfg *cfg, const float *B, int64_t H, float *bias, float *rbh)
{
    int64_t GH = cfg->gates * H;
    for (int d = 0; d < cfg->dirs; d++) {
        float *o = bias + (size_t)d * GH;
        float *rh = rbh ? rbh + (size_t)d * H : NULL;
        if (!B) {
            memset(o, 0, (size_t)GH * sizeof(float));
            if (rh)
                memset(rh, 0, (size_t)H * sizeof(float));
            continue;
        }
        const float *wb = B + (size_t)d * 2 * GH, *rb = wb + GH;
        for (int64_t j = 0; j < GH; j++)
            o[j] = wb[j] + rb[j];
        if (rh) {
            if (cfg->lbr) {
                for (int64_t j = 0; j < H; j++) {
                    o[2 * H + j] = wb[2 * H + j];
                    rh[j] = rb[2 * H + j];
                }
            } else {
                memset(rh, 0, (size_t)H * sizeof(float));
            }
        }
    }
}

static const skiff_tensor_t *const_input(const skiff__node *node, const skiff__graph *graph, int i)
{
    if (i >= node->n_in || node->in[i] < 0)
        return NULL;
    return graph->values[node->in[i]].constant;
}

static void prep_free(void *p)
{
    rnn_prep *pp = p;
    if (!pp)
        return;
    skiff__free(pp->rt);
    skiff__free(pp->bias);
    skiff__free(pp->rbh);
    skiff__free(pp);
}

static void cache_free(void *p)
{
    rnn_cache *c = p;
    if (!c)
        return;
    skiff__free(c->buf);
    skiff__free(c);
}

static skiff_status_t *prepare_cell(skiff__node *node, const skiff__graph *graph, cell_kind cell)
{
    rnn_cfg cfg;
    skiff_status_t *st = cfg_parse(node, cell, &cfg);
    if (st)
        return st;
    const skiff_tensor_t *R = const_input(node, graph, 2);
    bool has_b_input = node->n_in > 3 && node->in[3] >= 0;
    const skiff_tensor_t *B = has_b_input ? const_input(node, graph, 3) : NULL;
    if (!R || R->dtype != SKIFF_DTYPE_FLOAT32 || R->ndim != 3 || R->dims[0] != cfg.dirs)
        return NULL; /* packed at run time instead; run() reports shape errors */
    int64_t H = R->dims[2], GH = R->dims[1];
    if (H <= 0 || GH != cfg.gates * H || (cfg.hidden > 0 && cfg.hidden != H))
        return NULL;
    rnn_prep *p = skiff__calloc(1, sizeof(*p));
    if (!p)
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory packing R");
    p->hidden = H;
    p->input_rows = GH;
    p->dirs = cfg.dirs;
    size_t n_rt;
    if (!skiff__mul_size((size_t)cfg.dirs, (size_t)packed_floats(cell, H), &n_rt) ||
        !(p->rt = skiff__aligned_alloc(n_rt * sizeof(float)))) {
        prep_free(p);
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory packing R");
    }
    pack_panels(cell, R->data, cfg.dirs, H, p->rt);
    bool b_ok = !has_b_input || (B && B->dtype == SKIFF_DTYPE_FLOAT32 && B->ndim == 2 &&
                                 B->dims[0] == cfg.dirs && B->dims[1] == 2 * GH);
    if (b_ok) {
        p->bias = skiff__aligned_alloc((size_t)cfg.dirs * GH * sizeof(float));
        p->rbh = skiff__aligned_alloc((size_t)cfg.dirs * H * sizeof(float));
        if (!p->bias || !p->rbh) {
            prep_free(p);
            return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory packing B");
        }
        pack_bias(&cfg, has_b_input ? B->data : NULL, H, p->bias, p->rbh);
        p->have_bias = true;
    }
    node->prep = p;
    return NULL;
}

static skiff_status_t *prepare_lstm(skiff__node *node, const skiff__graph *graph)
{
    return prepare_cell(node, graph, CELL_LSTM);
}
static skiff_status_t *prepare_gru(skiff__node *node, const skiff__graph *graph)
{
    return prepare_cell(node, graph, CELL_GRU);
}
static skiff_status_t *prepare_rnn(skiff__node *node, const skiff__graph *graph)
{
    return prepare_cell(node, graph, CELL_RNN);
}

/* ---- run -------------------------------------------------------------------- */

static bool want_output(const skiff__kctx *ctx, int i)
{
    return i < ctx->n_out && i < ctx->node->n_out && ctx->node->out[i] >= 0;
}

static skiff_status_t *check_shape(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                   const char *name, int ndim, const int64_t *dims)
{
    char got[128], want[128];
    if (t->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input '%s': expected float32, got %s",
                           name, skiff_dtype_name(t->dtype));
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->dims[i] == dims[i];
    if (ok)
        return NULL;
    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected shape %s, got %s", name,
                       skiff_shape_str(ndim, dims, want, sizeof(want)),
                       skiff_shape_str(t->ndim, t->dims, got, sizeof(got)));
}

/* Carves 64-byte-aligned pieces out of the cache buffer. */
typedef struct carve {
    size_t off;
    bool overflow;
} carve;

static size_t carve_take(carve *c, size_t n_elems, size_t esize)
{
    size_t bytes, at = c->off;
    if (!skiff__mul_size(n_elems, esize, &bytes) || bytes > SIZE_MAX - 64 - at) {
        c->overflow = true;
        return 0;
    }
    c->off = at + ((bytes + 63) & ~(size_t)63);
    return at;
}

typedef struct recur_args {
    const rnn_cfg *cfg;
    cell_kind cell;
    int64_t H, GH, seq, batch;
    int dirs;
    const int64_t *lens;
    const float *rt;
    int64_t per_dir;
    const float *R, *bias, *rbh, *xw, *P;
    float *hs, *cs, *gates, *rec, *tmp, *Y;
    int64_t max_len;
} recur_args;

/* The time loop of direction d for batch rows [b0, b1). Rows and directions
 * share nothing (gates, rec and tmp are per direction, indexed by row), so
 * disjoint calls may run at once. */
static void recur(const recur_args *ra, int d, int64_t b0, int64_t b1, int threads)
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

static skiff_status_t *run_cell(skiff__kctx *ctx, cell_kind cell)
{
    rnn_cfg cfg;
    skiff_status_t *st = cfg_parse(ctx->node, cell, &cfg);
    if (st)
        return st;
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0), *W = skiff__kctx_opt(ctx, 1),
                         *R = skiff__kctx_opt(ctx, 2);
    const skiff_tensor_t *B = skiff__kctx_opt(ctx, 3), *SL = skiff__kctx_opt(ctx, 4),
                         *H0 = skiff__kctx_opt(ctx, 5);
    const skiff_tensor_t *C0 = cell == CELL_LSTM ? skiff__kctx_opt(ctx, 6) : NULL;
    const skiff_tensor_t *P = cell == CELL_LSTM ? skiff__kctx_opt(ctx, 7) : NULL;
    if (!X || !W || !R)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs X, W and R are required");
    if (X->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': dtype %s is not supported",
                           skiff_dtype_name(X->dtype));
    if (X->ndim != 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': expected rank 3, got %d",
                           X->ndim);
    if (R->ndim != 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'R': expected rank 3, got %d",
                           R->ndim);
    const int dirs = cfg.dirs, G = cfg.gates;
    const int64_t seq = cfg.layout ? X->dims[1] : X->dims[0];
    const int64_t batch = cfg.layout ? X->dims[0] : X->dims[1];
    const int64_t I = X->dims[2];
    const int64_t H = cfg.hidden > 0 ? cfg.hidden : R->dims[2];
    if (H <= 0 || H > (INT64_C(1) << 24))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "hidden size %lld is out of range",
                           (long long)H);
    const int64_t GH = G * H;
    {
        int64_t wd[3] = {dirs, GH, I}, rd[3] = {dirs, GH, H};
        if ((st = check_shape(ctx, W, "W", 3, wd)) || (st = check_shape(ctx, R, "R", 3, rd)))
            return st;
        int64_t bd[2] = {dirs, 2 * GH};
        if (B && (st = check_shape(ctx, B, "B", 2, bd)))
            return st;
        int64_t hd[3] = {dirs, batch, H};
        if (cfg.layout) {
            hd[0] = batch;
            hd[1] = dirs;
        }
        if (H0 && (st = check_shape(ctx, H0, "initial_h", 3, hd)))
            return st;
        if (C0 && (st = check_shape(ctx, C0, "initial_c", 3, hd)))
            return st;
        int64_t pd[2] = {dirs, 3 * H};
        if (P && (st = check_shape(ctx, P, "P", 2, pd)))
            return st;
    }
    if (SL) {
        if (SL->dtype != SKIFF_DTYPE_INT32 && SL->dtype != SKIFF_DTYPE_INT64)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sequence_lens': expected int32, got %s",
                               skiff_dtype_name(SL->dtype));
        if (SL->ndim != 1 || SL->dims[0] != batch)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sequence_lens': expected shape [%lld], got rank %d",
                               (long long)batch, SL->ndim);
    }

    if ((st = skiff__kctx_cost(ctx, (double)dirs * (double)seq * (double)batch * (double)GH *
                                        ((double)I + (double)H))))
        return st;

    /* outputs */
    skiff_tensor_t *Y = NULL, *Yh = NULL, *Yc = NULL;
    if (want_output(ctx, 0)) {
        int64_t d[4] = {seq, dirs, batch, H};
        if (cfg.layout) {
            d[0] = batch;
            d[1] = seq;
            d[2] = dirs;
        }
        if (!(Y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 4, d, &st)))
            return st;
    }
    int64_t hdims[3] = {dirs, batch, H};
    if (cfg.layout) {
        hdims[0] = batch;
        hdims[1] = dirs;
    }
    if (want_output(ctx, 1) &&
        !(Yh = skiff__kctx_output(ctx, 1, SKIFF_DTYPE_FLOAT32, 3, hdims, &st)))
        return st;
    if (cell == CELL_LSTM && want_output(ctx, 2) &&
        !(Yc = skiff__kctx_output(ctx, 2, SKIFF_DTYPE_FLOAT32, 3, hdims, &st)))
        return st;

    /* packed weights: from prepare when R (and B) were constants of this shape */
    const rnn_prep *pp = ctx->node->prep;
    bool use_prep_rt = pp && pp->rt && pp->hidden == H && pp->input_rows == GH && pp->dirs == dirs;
    bool use_prep_bias = use_prep_rt && pp->have_bias;

    /* scratch */
    const int64_t SB = seq * batch;
    carve cv = {0, false};
    size_t o_len = carve_take(&cv, (size_t)batch, sizeof(int64_t));
    size_t o_xw = carve_take(&cv, (size_t)dirs * (size_t)SB * (size_t)GH, sizeof(float));
    const int64_t per_dir = packed_floats(cell, H);
    size_t o_rt = use_prep_rt ? 0 : carve_take(&cv, (size_t)dirs * per_dir, sizeof(float));
    size_t o_bias = use_prep_bias ? 0 : carve_take(&cv, (size_t)dirs * GH, sizeof(float));
    size_t o_rbh = use_prep_bias ? 0 : carve_take(&cv, (size_t)dirs * H, sizeof(float));
    size_t o_h = carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    size_t o_c = carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    size_t o_g = carve_take(&cv, (size_t)dirs * batch * GH, sizeof(float));
    size_t o_rec = carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    size_t o_tmp = carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    const int threads = ctx->threads > 0 ? ctx->threads : 1;
    if (cv.overflow)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
    rnn_cache *cache = *ctx->cache;
    if (!cache) {
        if (!(cache = skiff__calloc(1, sizeof(*cache))))
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        *ctx->cache = cache;
    }
    /* At least a cache line, so that empty shapes (a zero dim) still get
     * valid pointers below. */
    size_t need = cv.off ? cv.off : 64;
    if (cache->cap < need) {
        skiff__free(cache->buf);
        cache->cap = 0;
        if (!(cache->buf = skiff__aligned_alloc(need)))
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                               "out of memory for %zu bytes of scratch", need);
        cache->cap = need;
    }
    char *base = cache->buf;
    int64_t *lens = (int64_t *)(base + o_len);
    float *xw = (float *)(base + o_xw);
    const float *rt = use_prep_rt ? pp->rt : (float *)(base + o_rt);
    const float *bias = use_prep_bias ? pp->bias : (float *)(base + o_bias);
    const float *rbh = use_prep_bias ? pp->rbh : (float *)(base + o_rbh);
    float *hs = (float *)(base + o_h), *cs = (float *)(base + o_c);
    float *gates = (float *)(base + o_g), *rec = (float *)(base + o_rec);
    float *tmp = (float *)(base + o_tmp);
    if (!use_prep_rt)
        pack_panels(cell, R->data, dirs, H, (float *)(base + o_rt));
    if (!use_prep_bias)
        pack_bias(&cfg, B ? B->data : NULL, H, (float *)(base + o_bias), (float *)(base + o_rbh));

    int64_t max_len = 0;
    bool ragged = false;
    for (int64_t b = 0; b < batch; b++) {
        int64_t L = SL ? skiff__tensor_get_i64(SL, b) : seq;
        if (L < 0 || L > seq)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sequence_lens': entry %lld is %lld, outside [0, %lld]",
                               (long long)b, (long long)L, (long long)seq);
        lens[b] = L;
        max_len = L > max_len ? L : max_len;
        ragged |= L != seq;
    }

    /* initial state, stored [dir][batch][H] whatever the layout */
    for (int d = 0; d < dirs; d++)
        for (int64_t b = 0; b < batch; b++) {
            size_t so = ((size_t)d * batch + b) * H;
            size_t io = cfg.layout ? ((size_t)b * dirs + d) * H : so;
            if (H0)
                memcpy(hs + so, (const float *)H0->data + io, (size_t)H * sizeof(float));
            else
                memset(hs + so, 0, (size_t)H * sizeof(float));
            if (C0)
                memcpy(cs + so, (const float *)C0->data + io, (size_t)H * sizeof(float));
            else
                memset(cs + so, 0, (size_t)H * sizeof(float));
        }
    if (Y && ragged)
        memset(Y->data, 0, Y->nbytes);

    /* input projection for every timestep at once */
    for (int d = 0; d < dirs && SB > 0; d++) {
        float *xwd = xw + (size_t)d * SB * GH;
        if (I == 0) {
            memset(xwd, 0, (size_t)SB * GH * sizeof(float));
            continue;
        }
        const float *Wd = (const float *)W->data + (size_t)d * GH * I;
        if (dnnl_sgemm('N', 'T', SB, GH, I, 1.0f, X->data, I, Wd, I, 0.0f, xwd, GH) != dnnl_success)
            return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "oneDNN sgemm failed for X*W^T");
    }

    recur_args ra = {
        .cfg = &cfg,
        .cell = cell,
        .H = H,
        .GH = GH,
        .seq = seq,
        .batch = batch,
        .dirs = dirs,
        .lens = lens,
        .rt = rt,
        .per_dir = per_dir,
        .R = R->data,
        .bias = bias,
        .rbh = rbh,
        .xw = xw,
        .hs = hs,
        .cs = cs,
        .gates = gates,
        .rec = rec,
        .tmp = tmp,
        .max_len = max_len,
        .P = P ? P->data : NULL,
        .Y = Y ? Y->data : NULL,
    };
    /* Batch rows (and directions) are independent through time: each thread
     * runs whole sequences for its own rows, with no barrier per step. */
    int nchunks = (int)(batch < threads / dirs ? batch : threads / dirs);
    if (nchunks < 1)
        nchunks = 1;
    int items = dirs * nchunks;
    if (items > 1 && threads > 1) {
#pragma omp parallel for num_threads(items < threads ? items : threads) schedule(static)
        for (int it = 0; it < items; it++) {
            int d = it / nchunks, c = it % nchunks;
            recur(&ra, d, batch * c / nchunks, batch * (c + 1) / nchunks, 1);
        }
    } else {
        for (int d = 0; d < dirs; d++)
            recur(&ra, d, 0, batch, threads);
    }

    for (int d = 0; d < dirs; d++)
        for (int64_t b = 0; b < batch; b++) {
            size_t so = ((size_t)d * batch + b) * H;
            size_t oo = cfg.layout ? ((size_t)b * dirs + d) * H : so;
            /* A row of length 0 has no final state: zeros, as ONNX Runtime
             * answers (not the initial state). */
            if (lens[b] == 0) {
                if (Yh)
                    memset((float *)Yh->data + oo, 0, (size_t)H * sizeof(float));
                if (Yc)
                    memset((float *)Yc->data + oo, 0, (size_t)H * sizeof(float));
                continue;
            }
            if (Yh)
                memcpy((float *)Yh->data + oo, hs + so, (size_t)H * sizeof(float));
            if (Yc)
                memcpy((float *)Yc->data + oo, cs + so, (size_t)H * sizeof(float));
        }
    return NULL;
}

static skiff_status_t *run_lstm(skiff__kctx *ctx) { return run_cell(ctx, CELL_LSTM); }
static skiff_status_t *run_gru(skiff__kctx *ctx) { return run_cell(ctx, CELL_GRU); }
static skiff_status_t *run_rnn(skiff__kctx *ctx) { return run_cell(ctx, CELL_RNN); }

const skiff__op skiff__ops_rnn[] = {
    {.type = "LSTM",
     .min_opset = 1,
     .prepare = prepare_lstm,
     .run = run_lstm,
     .prep_free = prep_free,
     .cache_free = cache_free},
    {.type = "GRU",
     .min_opset = 1,
     .prepare = prepare_gru,
     .run = run_gru,
     .prep_free = prep_free,
     .cache_free = cache_free},
    {.type = "RNN",
     .min_opset = 1,
     .prepare = prepare_rnn,
     .run = run_rnn,
     .prep_free = prep_free,
     .cache_free = cache_free},
    {.type = NULL},
};
