/* misc.c - kernels that fit no other family: Mish, Shrink, Det,
 * MeanVarianceNormalization and LpNormalization. Plain C loops in double,
 * for every float type. */
#include <math.h>
#include <string.h>

#include "../../engine_int.h"

/* ==== Mish, Shrink =========================================================== */

static skiff_status_t *run_mish(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    int64_t n = skiff_tensor_numel(X);
    if (X->dtype == SKIFF_DTYPE_FLOAT32) {
        const float *x = X->data;
        float *y = Y->data;
        int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && n > 32768)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float sp = v > 20.0f ? v : log1pf(expf(v));
            y[i] = v * tanhf(sp);
        }
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = skiff__tensor_get_f64(X, i);
        double sp = v > 40.0 ? v : log1p(exp(v));
        skiff__store_f64(Y->data, Y->dtype, i, v * tanh(sp));
    }
    return NULL;
}

static skiff_status_t *run_shrink(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input' is required");
    if (!skiff__dtype_is_numeric(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", X->dtype);
    const float bias = skiff__attr_float(ctx->node, "bias", 0.0f);
    const float lambd = skiff__attr_float(ctx->node, "lambd", 0.5f);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    int64_t n = skiff_tensor_numel(X);
    if (X->dtype == SKIFF_DTYPE_FLOAT32) {
        const float *x = X->data;
        float *y = Y->data;
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = v < -lambd ? v + bias : v > lambd ? v - bias : 0.0f;
        }
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = skiff__tensor_get_f64(X, i);
        double r = v < -(double)lambd ? v + bias : v > (double)lambd ? v - bias : 0.0;
        skiff__store_f64(Y->data, Y->dtype, i, r);
    }
    return NULL;
}

/* ==== Det ====================================================================== */

static skiff_status_t *run_det(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    if (X->ndim < 2 || X->dims[X->ndim - 1] != X->dims[X->ndim - 2])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected [*, M, M], got rank %d", X->ndim);
    const int64_t M = X->dims[X->ndim - 1];
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim - 2, X->dims, &st);
    if (!Y)
        return st;
    int64_t nb = skiff_tensor_numel(Y);
    double *a = skiff__kcache_buf(ctx, (size_t)(M * M > 0 ? M * M : 1) * sizeof(double), 0, &st);
    if (!a)
        return st;
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t i = 0; i < M * M; i++)
            a[i] = skiff__tensor_get_f64(X, b * M * M + i);
        /* LU with partial pivoting */
        double det = 1.0;
        for (int64_t c = 0; c < M && det != 0.0; c++) {
            int64_t piv = c;
            for (int64_t r = c + 1; r < M; r++)
                if (fabs(a[r * M + c]) > fabs(a[piv * M + c]))
                    piv = r;
            if (a[piv * M + c] == 0.0) {
                det = 0.0;
                break;
            }
            if (piv != c) {
                for (int64_t k = 0; k < M; k++) {
                    double t = a[c * M + k];
                    a[c * M + k] = a[piv * M + k];
                    a[piv * M + k] = t;
                }
                det = -det;
            }
            double pv = a[c * M + c];
            det *= pv;
            for (int64_t r = c + 1; r < M; r++) {
                double f = a[r * M + c] / pv;
                if (f == 0.0)
                    continue;
                for (int64_t k = c + 1; k < M; k++)
                    a[r * M + k] -= f * a[c * M + k];
            }
        }
        skiff__store_f64(Y->data, Y->dtype, b, det);
    }
    return NULL;
}

/* ==== MeanVarianceNormalization, LpNormalization =============================== */

static skiff_status_t *run_mvn(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    const int rank = X->ndim;
    bool red[SKIFF_MAX_DIMS] = {false};
    const int64_t *av = NULL;
    int na = skiff__attr_ints(ctx->node, "axes", &av);
    if (na < 0) {
        static const int64_t dflt[3] = {0, 2, 3};
        av = dflt;
        na = 3;
    }
    for (int i = 0; i < na; i++) {
        int a;
        if (!skiff__norm_axis(av[i], rank, &a))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'axes': axis %lld out of range for rank %d",
                               (long long)av[i], rank);
        red[a] = true;
    }
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, rank, X->dims, &st);
    if (!Y)
        return st;
    const int64_t n = skiff_tensor_numel(X);
    if (n == 0)
        return NULL;
    /* group of each element = its index over the kept axes */
    int64_t ngroups = 1, gstr[SKIFF_MAX_DIMS];
    for (int d = rank - 1; d >= 0; d--) {
        gstr[d] = red[d] ? 0 : ngroups;
        if (!red[d])
            ngroups *= X->dims[d];
    }
    const double cnt = (double)(n / ngroups);
    double *acc = skiff__kcache_buf(ctx, (size_t)ngroups * 2 * sizeof(double), 0, &st);
    if (!acc)
        return st;
    double *mean = acc, *sd = acc + ngroups;
    memset(acc, 0, (size_t)ngroups * 2 * sizeof(double));
    int64_t idx[SKIFF_MAX_DIMS] = {0}, g = 0;
    for (int pass = 0; pass < 3; pass++) {
        memset(idx, 0, sizeof(idx));
        g = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = skiff__tensor_get_f64(X, i);
            if (pass == 0) {
                mean[g] += v;
            } else if (pass == 1) {
                double dlt = v - mean[g];
                sd[g] += dlt * dlt;
            } else {
                /* the ONNX function: (X - mean) / (sqrt(var) + 1e-9) */
                skiff__store_f64(Y->data, Y->dtype, i, (v - mean[g]) / (sd[g] + 1e-9));
            }
            for (int d = rank - 1; d >= 0; d--) {
                if (++idx[d] < X->dims[d]) {
                    g += gstr[d];
                    break;
                }
                g -= gstr[d] * (X->dims[d] - 1);
                idx[d] = 0;
            }
        }
        if (pass == 0)
            for (int64_t k = 0; k < ngroups; k++)
                mean[k] /= cnt;
        else if (pass == 1)
            for (int64_t k = 0; k < ngroups; k++)
                sd[k] = sqrt(sd[k] / cnt);
    }
    return NULL;
}

static skiff_status_t *run_lpnorm(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", X->dtype);
    int64_t pv = skiff__attr_int(ctx->node, "p", 2);
    if (pv != 1 && pv != 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'p': expected 1 or 2, got %lld",
                           (long long)pv);
    int axis;
    int rank = X->ndim;
    if (rank == 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input': expected rank >= 1");
    int64_t ax = skiff__attr_int(ctx->node, "axis", -1);
    if (!skiff__norm_axis(ax, rank, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'axis': %lld out of range for rank %d", (long long)ax, rank);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, rank, X->dims, &st);
    if (!Y)
        return st;
    int64_t outer = 1, inner = 1, len = X->dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= X->dims[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= X->dims[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t b = o * len * inner + i;
            double s = 0.0;
            for (int64_t k = 0; k < len; k++) {
                double v = skiff__tensor_get_f64(X, b + k * inner);
                s += pv == 1 ? fabs(v) : v * v;
            }
            double norm = pv == 1 ? s : sqrt(s);
            for (int64_t k = 0; k < len; k++) {
                double v = skiff__tensor_get_f64(X, b + k * inner);
                skiff__store_f64(Y->data, Y->dtype, b + k * inner, norm != 0.0 ? v / norm : 0.0);
            }
        }
    return NULL;
}

const skiff__op skiff__ops_misc[] = {
    {.type = "Mish", .min_opset = 18, .run = run_mish},
    {.type = "Shrink", .min_opset = 9, .run = run_shrink},
    {.type = "Det", .min_opset = 11, .run = run_det, .cache_free = skiff__kcache_buf_free},
    {.type = "MeanVarianceNormalization",
     .min_opset = 9,
     .run = run_mvn,
     .cache_free = skiff__kcache_buf_free},
    {.type = "LpNormalization", .min_opset = 1, .run = run_lpnorm},
    {.type = NULL},
};
