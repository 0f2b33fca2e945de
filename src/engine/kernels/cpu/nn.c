/* nn.c - the normalisation kernels: BatchNormalization, InstanceNormalization, LayerNormalization
 * and LRN. The normalisations are memory-bound per-channel or per-row affine maps, so they are
 * plain C loops the compiler vectorises, parallel over channels or rows; statistics accumulate in
 * double so long rows keep float32 accuracy. */
#include <math.h>
#include <string.h>

#include "dnnl_util.h"

/* The normalisations compute in float32 or float64 only. */
static bool f32_or_f64(skiff_dtype_t dt)
{
    return dt == SKIFF_DTYPE_FLOAT32 || dt == SKIFF_DTYPE_FLOAT64;
}

/* ---- BatchNormalization ---- */

/* y[n, p, i] = x * a[p] + b[p] for P parameter units of `inner` elements. */
#define BN_APPLY(NAME, T)                                                                          \
    static void NAME(const T *x, T *y, const double *a, const double *b, int64_t n, int64_t P,     \
                     int64_t inner, int threads)                                                   \
    {                                                                                              \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) if (n * P * inner > 32768)") for (int64_t np =  \
                                                                                         0;        \
                                                                                     np < n * P;   \
                                                                                     np++)         \
        {                                                                                          \
            const T av = (T)a[np % P], bv = (T)b[np % P];                                          \
            const T *xi = x + np * inner;                                                          \
            T *yi = y + np * inner;                                                                \
            for (int64_t i = 0; i < inner; i++)                                                    \
                yi[i] = xi[i] * av + bv;                                                           \
        }                                                                                          \
    }
BN_APPLY(bn_apply_f32, float)
BN_APPLY(bn_apply_f64, double)

/* Per-unit mean and biased variance over n and inner. */
static void channel_stats(const skiff_tensor_t *X, int64_t n, int64_t P, int64_t inner,
                          double *mean, double *var, int threads)
{
    bool f32 = X->dtype == SKIFF_DTYPE_FLOAT32;
#pragma omp parallel for num_threads(threads) if (n * P * inner > 32768)
    for (int64_t p = 0; p < P; p++) {
        double s = 0, s2 = 0;
        for (int64_t b = 0; b < n; b++) {
            int64_t base = (b * P + p) * inner;
            double m = 0;
            if (f32) {
                const float *x = (const float *)X->data + base;
                for (int64_t i = 0; i < inner; i++)
                    m += x[i];
            } else {
                const double *x = (const double *)X->data + base;
                for (int64_t i = 0; i < inner; i++)
                    m += x[i];
            }
            s += m;
        }
        double cnt = (double)(n * inner);
        double mu = cnt > 0 ? s / cnt : 0;
        for (int64_t b = 0; b < n; b++) {
            int64_t base = (b * P + p) * inner;
            for (int64_t i = 0; i < inner; i++) {
                double d = (f32 ? ((const float *)X->data)[base + i]
                                : ((const double *)X->data)[base + i]) -
                           mu;
                s2 += d * d;
            }
        }
        mean[p] = mu;
        var[p] = cnt > 0 ? s2 / cnt : 0;
    }
}

static skiff_status_t *batchnorm_run(skiff__kctx *ctx)
{
    const skiff__node *node = ctx->node;
    if (ctx->n_in < 5)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "expected 5 inputs, got %d", ctx->n_in);
    const skiff_tensor_t *X = ctx->in[0], *S = ctx->in[1], *Bt = ctx->in[2], *Mn = ctx->in[3],
                         *V = ctx->in[4];
    if (!X || !S || !Bt || !Mn || !V)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "all 5 inputs are required");
    if (!f32_or_f64(X->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': dtype %s is not implemented",
                           skiff_dtype_name(X->dtype));
    const skiff_tensor_t *params[4] = {S, Bt, Mn, V};
    static const char *pnames[4] = {"scale", "B", "input_mean", "input_var"};
    for (int i = 0; i < 4; i++)
        if (!f32_or_f64(params[i]->dtype))
            return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                               "input '%s': dtype %s is not implemented", pnames[i],
                               skiff_dtype_name(params[i]->dtype));
    if (X->ndim < 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected rank >= 2 (N, C, ...), got %d", X->ndim);
    bool training;
    if (node->opset >= 14)
        training = skiff__attr_int(node, "training_mode", 0) != 0;
    else
        training =
            node->n_out > 1 && (node->opset >= 7 || skiff__attr_int(node, "is_test", 0) == 0);
    if (training && node->opset < 14)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "training-mode outputs of BatchNormalization-%d (saved mean/var)",
                           node->opset);
    /* spatial=0 (opset < 9): one parameter per (C, D1, ...) element */
    bool spatial = node->opset >= 9 || skiff__attr_int(node, "spatial", 1) != 0;
    int64_t n = X->dims[0], C = X->dims[1], rest = 1;
    for (int i = 2; i < X->ndim; i++)
        rest *= X->dims[i];
    int64_t P = spatial ? C : C * rest, inner = spatial ? rest : 1;
    for (int i = 0; i < 4; i++) {
        bool ok = spatial ? params[i]->ndim == 1 && params[i]->dims[0] == C
                          : skiff_tensor_numel(params[i]) == P;
        if (!ok)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input '%s': expected %lld values, got %lld", pnames[i],
                               (long long)P, (long long)skiff_tensor_numel(params[i]));
    }
    float eps = skiff__attr_float(node, "epsilon", 1e-5f);
    float momentum = skiff__attr_float(node, "momentum", 0.9f);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    double *buf = skiff__malloc(sizeof(double) * 4 * (size_t)(P > 0 ? P : 1));
    if (!buf)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    double *a = buf, *b = buf + P, *mean = buf + 2 * P, *var = buf + 3 * P;
    if (training)
        channel_stats(X, n, P, inner, mean, var, ctx->threads);
    for (int64_t p = 0; p < P; p++) {
        double mu = training ? mean[p] : skiff__tensor_get_f64(Mn, p);
        double vr = training ? var[p] : skiff__tensor_get_f64(V, p);
        a[p] = skiff__tensor_get_f64(S, p) / sqrt(vr + (double)eps);
        b[p] = skiff__tensor_get_f64(Bt, p) - mu * a[p];
    }
    if (X->dtype == SKIFF_DTYPE_FLOAT32)
        bn_apply_f32(X->data, Y->data, a, b, n, P, inner, ctx->threads);
    else
        bn_apply_f64(X->data, Y->data, a, b, n, P, inner, ctx->threads);
    if (training) {
        /* running statistics: input * momentum + batch * (1 - momentum) */
        for (int o = 1; o < 3 && o < ctx->n_out; o++) {
            if (node->n_out <= o || node->out[o] < 0)
                continue;
            const skiff_tensor_t *src = o == 1 ? Mn : V;
            const double *cur = o == 1 ? mean : var;
            skiff_tensor_t *R = skiff__kctx_output(ctx, o, src->dtype, src->ndim, src->dims, &st);
            if (!R) {
                skiff__free(buf);
                return st;
            }
            for (int64_t p = 0; p < P; p++) {
                double v = skiff__tensor_get_f64(src, p) * momentum + cur[p] * (1.0 - momentum);
                if (R->dtype == SKIFF_DTYPE_FLOAT32)
                    ((float *)R->data)[p] = (float)v;
                else
                    ((double *)R->data)[p] = v;
            }
        }
    }
    skiff__free(buf);
    return skiff__nn_epilogue(ctx, Y);
}

/* ---- InstanceNormalization ---- */

#define IN_PLANE(NAME, T)                                                                          \
    static void NAME(const T *x, T *y, const skiff_tensor_t *S, const skiff_tensor_t *B,           \
                     int64_t planes, int64_t C, int64_t inner, double eps, int threads)            \
    {                                                                                              \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) if (planes * inner > 32768)") for (int64_t pl = \
                                                                                          0;       \
                                                                                      pl < planes; \
                                                                                      pl++)        \
        {                                                                                          \
            const T *xi = x + pl * inner;                                                          \
            T *yi = y + pl * inner;                                                                \
            double s = 0, s2 = 0;                                                                  \
            for (int64_t i = 0; i < inner; i++)                                                    \
                s += xi[i];                                                                        \
            double mu = inner > 0 ? s / (double)inner : 0;                                         \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                double d = xi[i] - mu;                                                             \
                s2 += d * d;                                                                       \
            }                                                                                      \
            double var = inner > 0 ? s2 / (double)inner : 0;                                       \
            double a = skiff__tensor_get_f64(S, pl % C) / sqrt(var + eps);                         \
            double b = skiff__tensor_get_f64(B, pl % C) - mu * a;                                  \
            const T av = (T)a, bv = (T)b;                                                          \
            for (int64_t i = 0; i < inner; i++)                                                    \
                yi[i] = xi[i] * av + bv;                                                           \
        }                                                                                          \
    }
IN_PLANE(instnorm_f32, float)
IN_PLANE(instnorm_f64, double)

static skiff_status_t *instancenorm_run(skiff__kctx *ctx)
{
    if (ctx->n_in < 3 || !ctx->in[0] || !ctx->in[1] || !ctx->in[2])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs 'input', 'scale' and 'B' are required");
    const skiff_tensor_t *X = ctx->in[0], *S = ctx->in[1], *B = ctx->in[2];
    if (!f32_or_f64(X->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "input 'input': dtype %s is not implemented",
                           skiff_dtype_name(X->dtype));
    if (!f32_or_f64(S->dtype) || !f32_or_f64(B->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "inputs 'scale'/'B': dtype %s is not implemented",
                           skiff_dtype_name(f32_or_f64(S->dtype) ? B->dtype : S->dtype));
    if (X->ndim < 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'input': expected rank >= 2 (N, C, ...), got %d", X->ndim);
    int64_t C = X->dims[1];
    if (S->ndim != 1 || S->dims[0] != C || B->ndim != 1 || B->dims[0] != C)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs 'scale' and 'B': expected shape [%lld]", (long long)C);
    double eps = skiff__attr_float(ctx->node, "epsilon", 1e-5f);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    int64_t inner = 1;
    for (int i = 2; i < X->ndim; i++)
        inner *= X->dims[i];
    int64_t planes = X->dims[0] * C;
    if (X->dtype == SKIFF_DTYPE_FLOAT32)
        instnorm_f32(X->data, Y->data, S, B, planes, C, inner, eps, ctx->threads);
    else
        instnorm_f64(X->data, Y->data, S, B, planes, C, inner, eps, ctx->threads);
    return skiff__nn_epilogue(ctx, Y);
}

/* ---- LayerNormalization ---- */

/* Expands a parameter unidirectionally broadcast to dims[0..n) into out. */
static bool expand_param(const skiff_tensor_t *t, int n, const int64_t *dims, double *out,
                         int64_t total)
{
    if (t->ndim > n)
        return false;
    int off = n - t->ndim;
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] != 1 && t->dims[i] != dims[off + i])
            return false;
    for (int64_t j = 0; j < total; j++) {
        int64_t rem = j, idx = 0, mul = 1;
        for (int i = n - 1; i >= 0; i--) {
            int64_t c = rem % dims[i];
            rem /= dims[i];
            int ti = i - off;
            if (ti >= 0) {
                if (t->dims[ti] != 1)
                    idx += c * mul;
                mul *= t->dims[ti];
            }
        }
        out[j] = skiff__tensor_get_f64(t, idx);
    }
    return true;
}

#define LN_ROWS(NAME, T)                                                                           \
    static void NAME(const T *x, T *y, const double *sc, const double *bi, int64_t rows,           \
                     int64_t inner, double eps, double *mean_out, double *inv_out, int threads)    \
    {                                                                                              \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) if (rows * inner > 32768)") for (int64_t r = 0; \
                                                                                    r < rows; r++) \
        {                                                                                          \
            const T *xi = x + r * inner;                                                           \
            T *yi = y + r * inner;                                                                 \
            double s = 0, s2 = 0;                                                                  \
            for (int64_t i = 0; i < inner; i++)                                                    \
                s += xi[i];                                                                        \
            double mu = inner > 0 ? s / (double)inner : 0;                                         \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                double d = xi[i] - mu;                                                             \
                s2 += d * d;                                                                       \
            }                                                                                      \
            double inv = 1.0 / sqrt((inner > 0 ? s2 / (double)inner : 0) + eps);                   \
            for (int64_t i = 0; i < inner; i++)                                                    \
                yi[i] = (T)((xi[i] - mu) * inv * sc[i] + (bi ? bi[i] : 0.0));                      \
            mean_out[r] = mu;                                                                      \
            inv_out[r] = inv;                                                                      \
        }                                                                                          \
    }
LN_ROWS(ln_rows_f32, float)
LN_ROWS(ln_rows_f64, double)

static skiff_status_t *layernorm_run(skiff__kctx *ctx)
{
    const skiff__node *node = ctx->node;
    if (ctx->n_in < 2 || !ctx->in[0] || !ctx->in[1])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs 'X' and 'Scale' are required");
    const skiff_tensor_t *X = ctx->in[0], *S = ctx->in[1];
    const skiff_tensor_t *B = ctx->n_in > 2 ? ctx->in[2] : NULL;
    if (!f32_or_f64(X->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': dtype %s is not implemented",
                           skiff_dtype_name(X->dtype));
    if (!f32_or_f64(S->dtype) || (B && !f32_or_f64(B->dtype)))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "inputs 'Scale'/'B': dtype %s is not implemented",
                           skiff_dtype_name(!f32_or_f64(S->dtype) ? S->dtype : B->dtype));
    int axis;
    int64_t axis_attr = skiff__attr_int(node, "axis", -1);
    if (X->ndim < 1 || !skiff__norm_axis(axis_attr, X->ndim, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'axis' %lld is out of range for rank %d",
                           (long long)axis_attr, X->ndim);
    int64_t stash = skiff__attr_int(node, "stash_type", 1);
    skiff_dtype_t stat_dt = stash == 1 ? SKIFF_DTYPE_FLOAT32 : (skiff_dtype_t)stash;
    if (stat_dt != SKIFF_DTYPE_FLOAT32 && stat_dt != SKIFF_DTYPE_FLOAT64)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "attribute 'stash_type' %lld",
                           (long long)stash);
    double eps = skiff__attr_float(node, "epsilon", 1e-5f);
    int64_t rows = 1, inner = 1;
    for (int i = 0; i < X->ndim; i++)
        *(i < axis ? &rows : &inner) *= X->dims[i];
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    int64_t sd[SKIFF_MAX_DIMS];
    for (int i = 0; i < X->ndim; i++)
        sd[i] = i < axis ? X->dims[i] : 1;
    skiff_tensor_t *stats[2] = {NULL, NULL};
    for (int o = 1; o < 3; o++) {
        if (ctx->n_out > o && node->n_out > o && node->out[o] >= 0) {
            stats[o - 1] = skiff__kctx_output(ctx, o, stat_dt, X->ndim, sd, &st);
            if (!stats[o - 1])
                return st;
        }
    }
    size_t need = (size_t)(2 * inner + 2 * rows);
    double *buf = skiff__malloc(sizeof(double) * (need ? need : 1));
    if (!buf)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    double *sc = buf, *bi = buf + inner, *mean = buf + 2 * inner, *inv = mean + rows;
    int nin = X->ndim - axis;
    if (!expand_param(S, nin, X->dims + axis, sc, inner) ||
        (B && !expand_param(B, nin, X->dims + axis, bi, inner))) {
        skiff__free(buf);
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs 'Scale'/'B' do not broadcast to the normalised shape");
    }
    if (X->dtype == SKIFF_DTYPE_FLOAT32)
        ln_rows_f32(X->data, Y->data, sc, B ? bi : NULL, rows, inner, eps, mean, inv, ctx->threads);
    else
        ln_rows_f64(X->data, Y->data, sc, B ? bi : NULL, rows, inner, eps, mean, inv, ctx->threads);
    for (int k = 0; k < 2; k++) {
        if (!stats[k])
            continue;
        const double *src = k == 0 ? mean : inv;
        for (int64_t r = 0; r < rows; r++) {
            if (stat_dt == SKIFF_DTYPE_FLOAT32)
                ((float *)stats[k]->data)[r] = (float)src[r];
            else
                ((double *)stats[k]->data)[r] = src[r];
        }
    }
    skiff__free(buf);
    return skiff__nn_epilogue(ctx, Y);
}

/* ---- LRN ---- */

#define LRN_IMPL(NAME, T)                                                                          \
    static void NAME(const T *x, T *y, int64_t n, int64_t C, int64_t inner, int64_t size,          \
                     double alpha, double beta, double bias, int threads)                          \
    {                                                                                              \
        int64_t lo = (size - 1) / 2, hi = size - 1 - lo; /* floor / ceil of (size-1)/2 */          \
        const T an = (T)(alpha / (double)size);                                                    \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) if (n * C * inner > 32768)") for (int64_t nc =  \
                                                                                         0;        \
                                                                                     nc < n * C;   \
                                                                                     nc++)         \
        {                                                                                          \
            int64_t b = nc / C, c = nc % C;                                                        \
            int64_t c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi > C - 1 ? C - 1 : c + hi;            \
            T *yi = y + nc * inner;                                                                \
            for (int64_t i = 0; i < inner; i++)                                                    \
                yi[i] = 0;                                                                         \
            for (int64_t k = c0; k <= c1; k++) {                                                   \
                const T *xk = x + (b * C + k) * inner;                                             \
                for (int64_t i = 0; i < inner; i++)                                                \
                    yi[i] += xk[i] * xk[i];                                                        \
            }                                                                                      \
            const T *xi = x + nc * inner;                                                          \
            for (int64_t i = 0; i < inner; i++)                                                    \
                yi[i] = xi[i] / (T)pow((double)((T)bias + an * yi[i]), beta);                      \
        }                                                                                          \
    }
LRN_IMPL(lrn_f32, float)
LRN_IMPL(lrn_f64, double)

static skiff_status_t *lrn_run(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = ctx->n_in > 0 ? ctx->in[0] : NULL;
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (!f32_or_f64(X->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': dtype %s is not implemented",
                           skiff_dtype_name(X->dtype));
    if (X->ndim < 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected rank >= 2 (N, C, ...), got %d", X->ndim);
    int64_t size = skiff__attr_int(ctx->node, "size", 0);
    if (size < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'size': expected >= 1, got %lld",
                           (long long)size);
    double alpha = skiff__attr_float(ctx->node, "alpha", 1e-4f);
    double beta = skiff__attr_float(ctx->node, "beta", 0.75f);
    double bias = skiff__attr_float(ctx->node, "bias", 1.0f);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    int64_t inner = 1;
    for (int i = 2; i < X->ndim; i++)
        inner *= X->dims[i];
    if (X->dtype == SKIFF_DTYPE_FLOAT32)
        lrn_f32(X->data, Y->data, X->dims[0], X->dims[1], inner, size, alpha, beta, bias,
                ctx->threads);
    else
        lrn_f64(X->data, Y->data, X->dims[0], X->dims[1], inner, size, alpha, beta, bias,
                ctx->threads);
    return skiff__nn_epilogue(ctx, Y);
}

/* ---- table ---- */

const skiff__op skiff__ops_nn[] = {
    {.type = "BatchNormalization",
     .min_opset = 1,
     .run = batchnorm_run,
     .flags = SKIFF_OP_FUSES_ACT},
    {.type = "InstanceNormalization", .min_opset = 1, .run = instancenorm_run},
    /* opset 17 in ONNX; from 1 so a fusion pass may form it in older models */
    {.type = "LayerNormalization", .min_opset = 1, .run = layernorm_run},
    {.type = "LRN", .min_opset = 1, .run = lrn_run},
    {.type = NULL},
};
