/* softmax.c - Softmax, LogSoftmax and Hardmax: along `axis` from opset 13,
 * over the dims from `axis` on (the input coerced to 2D) before. Parallel
 * over rows; float32 rows use the inline exp of elementwise.h so they
 * vectorise. */
#include "elementwise.h"

/* ---- Softmax, LogSoftmax, Hardmax --------------------------------------------- */

enum { SM_SOFT, SM_LOG, SM_HARD };
#define SM_LANES 64

/* One row x[0..L) (I == 1) and a block of w <= SM_LANES interleaved lanes
 * (stride I), per element type. Max-subtracted for stability; every pass is
 * a simple loop the compiler vectorises. */
#define D_SOFTMAX(s, T, EXPF, LOGF)                                                                \
    static void smrow_##s(const T *x, T *y, int64_t L, int kind)                                   \
    {                                                                                              \
        T m = -(T)INFINITY;                                                                        \
        if (kind == SM_HARD) {                                                                     \
            int64_t best = 0;                                                                      \
            for (int64_t i = 0; i < L; i++)                                                        \
                if (x[i] > x[best])                                                                \
                    best = i;                                                                      \
            for (int64_t i = 0; i < L; i++)                                                        \
                y[i] = i == best ? (T)1 : (T)0;                                                    \
            return;                                                                                \
        }                                                                                          \
        _Pragma("omp simd reduction(max : m)") for (int64_t i = 0; i < L; i++) m =                 \
            x[i] > m ? x[i] : m;                                                                   \
        T sum = 0;                                                                                 \
        if (kind == SM_SOFT) {                                                                     \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t i = 0; i < L; i++)                 \
            {                                                                                      \
                T e = EXPF(x[i] - m);                                                              \
                y[i] = e;                                                                          \
                sum += e;                                                                          \
            }                                                                                      \
            const T r = (T)1 / sum;                                                                \
            for (int64_t i = 0; i < L; i++)                                                        \
                y[i] *= r;                                                                         \
        } else {                                                                                   \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t i = 0; i < L; i++) sum +=          \
                EXPF(x[i] - m);                                                                    \
            const T sh = m + LOGF(sum > (T)0 ? sum : (T)1);                                        \
            for (int64_t i = 0; i < L; i++)                                                        \
                y[i] = x[i] - sh;                                                                  \
        }                                                                                          \
    }                                                                                              \
    static void smlanes_##s(const T *x, T *y, int64_t L, int64_t I, int64_t w, int kind)           \
    {                                                                                              \
        T m[SM_LANES], sum[SM_LANES];                                                              \
        int64_t best[SM_LANES];                                                                    \
        for (int64_t j = 0; j < w; j++) {                                                          \
            m[j] = x[j];                                                                           \
            sum[j] = 0;                                                                            \
            best[j] = 0;                                                                           \
        }                                                                                          \
        for (int64_t l = 1; l < L; l++) {                                                          \
            const T *xr = x + l * I;                                                               \
            if (kind == SM_HARD) {                                                                 \
                for (int64_t j = 0; j < w; j++)                                                    \
                    if (xr[j] > m[j]) {                                                            \
                        m[j] = xr[j];                                                              \
                        best[j] = l;                                                               \
                    }                                                                              \
            } else {                                                                               \
                for (int64_t j = 0; j < w; j++)                                                    \
                    m[j] = xr[j] > m[j] ? xr[j] : m[j];                                            \
            }                                                                                      \
        }                                                                                          \
        if (kind == SM_HARD) {                                                                     \
            for (int64_t l = 0; l < L; l++)                                                        \
                for (int64_t j = 0; j < w; j++)                                                    \
                    y[l * I + j] = best[j] == l ? (T)1 : (T)0;                                     \
            return;                                                                                \
        }                                                                                          \
        for (int64_t l = 0; l < L; l++) {                                                          \
            const T *xr = x + l * I;                                                               \
            T *yr = y + l * I;                                                                     \
            for (int64_t j = 0; j < w; j++) {                                                      \
                T e = EXPF(xr[j] - m[j]);                                                          \
                if (kind == SM_SOFT)                                                               \
                    yr[j] = e;                                                                     \
                sum[j] += e;                                                                       \
            }                                                                                      \
        }                                                                                          \
        for (int64_t j = 0; j < w; j++)                                                            \
            sum[j] = kind == SM_SOFT ? (T)1 / sum[j] : m[j] + LOGF(sum[j]);                        \
        for (int64_t l = 0; l < L; l++) {                                                          \
            const T *xr = x + l * I;                                                               \
            T *yr = y + l * I;                                                                     \
            if (kind == SM_SOFT)                                                                   \
                for (int64_t j = 0; j < w; j++)                                                    \
                    yr[j] *= sum[j];                                                               \
            else                                                                                   \
                for (int64_t j = 0; j < w; j++)                                                    \
                    yr[j] = xr[j] - sum[j];                                                        \
        }                                                                                          \
    }                                                                                              \
    static void softmax_##s(int threads, const T *x, T *y, int64_t O, int64_t L, int64_t I,        \
                            int kind)                                                              \
    {                                                                                              \
        const int64_t nblk = (I + SM_LANES - 1) / SM_LANES;                                        \
        const int64_t items = O * nblk;                                                            \
        const bool par = O * L * I >= PAR_MIN / 4 && items > 1 && threads > 1;                     \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) schedule(static) if (par)") for (int64_t it =   \
                                                                                        0;         \
                                                                                    it < items;    \
                                                                                    it++)          \
        {                                                                                          \
            const int64_t o = it / nblk, j0 = it % nblk * SM_LANES;                                \
            const T *xo = x + o * L * I + j0;                                                      \
            T *yo = y + o * L * I + j0;                                                            \
            if (I == 1)                                                                            \
                smrow_##s(xo, yo, L, kind);                                                        \
            else                                                                                   \
                smlanes_##s(xo, yo, L, I, I - j0 < SM_LANES ? I - j0 : SM_LANES, kind);            \
        }                                                                                          \
    }
D_SOFTMAX(f32, float, fast_expf, logf)
D_SOFTMAX(f64, double, exp, log)

static skiff_status_t *run_softmax(skiff__kctx *ctx, int kind)
{
    const skiff_tensor_t *x;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "input", &x);
    if (st)
        return st;
    skiff_dtype_t dt = x->dtype;
    if (dt != F32 && dt != F64 && !skiff__dtype_is_half(dt))
        return skiff__kctx_bad_dtype(ctx, "input", dt);
    int r = x->ndim;
    bool legacy = ctx->node->opset < 13;
    int64_t axis = skiff__attr_int(ctx->node, "axis", legacy ? 1 : -1);
    int64_t O = 1, L = 1, I = 1;
    if (r > 0) {
        /* Before opset 13 the input is coerced to 2D at `axis` and the
         * whole trailing block is normalised; axis may equal the rank. */
        if (axis < -(int64_t)r || axis > r || (!legacy && axis == r))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'axis' %lld is out of range for rank %d", (long long)axis,
                               r);
        int ax = (int)(axis < 0 ? axis + r : axis);
        for (int i = 0; i < ax; i++)
            O *= x->dims[i];
        if (legacy) {
            for (int i = ax; i < r; i++)
                L *= x->dims[i];
        } else {
            L = x->dims[ax];
            for (int i = ax + 1; i < r; i++)
                I *= x->dims[i];
        }
    }
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, dt, x->ndim, x->dims, &st);
    if (!y)
        return st;
    int64_t n = O * L * I;
    if (n == 0)
        return NULL;
    int nt = skiff__kctx_threads(ctx);
    if (dt == F64) {
        softmax_f64(nt, x->data, y->data, O, L, I, kind);
        return NULL;
    }
    if (dt == F32) {
        softmax_f32(nt, x->data, y->data, O, L, I, kind);
        return NULL;
    }
    float *t = skiff__ew_tmp_alloc(n, sizeof(float));
    if (!t)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    skiff__ew_cvt_par(nt, x->data, dt, t, F32, n);
    softmax_f32(nt, t, t, O, L, I, kind);
    skiff__ew_cvt_par(nt, t, F32, y->data, dt, n);
    skiff__free(t);
    return NULL;
}

static skiff_status_t *run_Softmax(skiff__kctx *ctx) { return run_softmax(ctx, SM_SOFT); }
static skiff_status_t *run_LogSoftmax(skiff__kctx *ctx) { return run_softmax(ctx, SM_LOG); }
static skiff_status_t *run_Hardmax(skiff__kctx *ctx) { return run_softmax(ctx, SM_HARD); }

/* ---- table ---- */

const skiff__op skiff__ops_softmax[] = {
    {.type = "Softmax", .min_opset = 1, .run = run_Softmax},
    {.type = "LogSoftmax", .min_opset = 1, .run = run_LogSoftmax},
    {.type = "Hardmax", .min_opset = 1, .run = run_Hardmax},
    {.type = NULL},
};
