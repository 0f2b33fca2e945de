/* quant_conv.c - ConvInteger and QLinearConv: reference integer convolutions.
 *
 * A direct loop over outputs, taps and the group's channels, with the
 * attribute and shape rules of Conv (conv_int.h). Each product is
 * (x - x_zp) (w - w_zp[m]): |x - x_zp|, |w - w_zp| <= 255, so no product
 * overflows, and the sum wraps modulo 2^32, the one overflow the spec allows.
 * Padding holds x_zp, whose terms are 0, so padded taps are skipped. w minus
 * its zero points is made once per run, as int32, in scratch. QLinearConv adds
 * the int32 bias and requantizes as QLinearMatMul does:
 * round_half_even(sum * (x_scale * w_scale[m] / y_scale)) + y_zp, the
 * multiplier in float32 and the product in float64, saturated to y's type.
 * Spatial ranks 1 to 3 run as 3-D with leading dims of 1. */
#include <string.h>

#include "conv_int.h"
#include "dnnl_util.h"
#include "quant_int.h"

typedef struct qconv_req {
    const float *ws; /* per output channel (M values) */
    float xs, ys;
    const int32_t *bias; /* NULL: none */
    int32_t zy, lo, hi;
    skiff_dtype_t ydt;
} qconv_req;

/* One input tensor's zero point or scale: one value, or (per_m) M values. */
static skiff_status_t *check_param(const skiff__kctx *ctx, const skiff_tensor_t *P,
                                   const char *name, int64_t M, bool per_m)
{
    int64_t n = skiff_tensor_numel(P);
    if (n == 1 && P->ndim <= 1)
        return NULL;
    if (per_m && P->ndim == 1 && n == M)
        return NULL;
    char a[96];
    if (per_m)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a scalar or [%lld] (one per output channel), "
                           "got shape %s",
                           name, (long long)M, skiff_shape_str(P->ndim, P->dims, a, sizeof(a)));
    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected a scalar, got shape %s",
                       name, skiff_shape_str(P->ndim, P->dims, a, sizeof(a)));
}

static inline int32_t q8_at(const skiff_tensor_t *t, int64_t i)
{
    return t->dtype == SKIFF_DTYPE_INT8 ? ((const int8_t *)t->data)[i]
                                        : ((const uint8_t *)t->data)[i];
}

/* The loop: y[n, m, o...] for every n, m; x, k, o, s, d, pb are 3-D. */
typedef struct qconv_dims {
    int64_t N, C, M, g, xs[3], ks[3], ys[3], st[3], dl[3], pb[3];
} qconv_dims;

static void qconv_compute(const qconv_dims *q, const skiff_tensor_t *X, int32_t xzp,
                          const int32_t *wq, const qconv_req *rq, void *y, int threads)
{
    const int64_t icg = q->C / q->g, ocg = q->M / q->g;
    const int64_t xsp = q->xs[0] * q->xs[1] * q->xs[2], ysp = q->ys[0] * q->ys[1] * q->ys[2];
    const int64_t kk = q->ks[0] * q->ks[1] * q->ks[2];
    const int64_t planes = q->N * q->M;
#pragma omp parallel for num_threads(threads) if (threads > 1 && planes * ysp * icg * kk > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const int64_t n = p / q->M, m = p % q->M, grp = m / ocg;
        const int32_t *wm = wq + m * icg * kk;
        for (int64_t o = 0; o < ysp; o++) {
            const int64_t o0 = o / (q->ys[1] * q->ys[2]), o1 = (o / q->ys[2]) % q->ys[1],
                          o2 = o % q->ys[2];
            uint32_t acc = 0;
            for (int64_t c = 0; c < icg; c++) {
                const int64_t xbase = (n * q->C + grp * icg + c) * xsp;
                const int32_t *wc = wm + c * kk;
                for (int64_t k0 = 0; k0 < q->ks[0]; k0++) {
                    int64_t i0 = o0 * q->st[0] - q->pb[0] + k0 * q->dl[0];
                    if (i0 < 0 || i0 >= q->xs[0])
                        continue;
                    for (int64_t k1 = 0; k1 < q->ks[1]; k1++) {
                        int64_t i1 = o1 * q->st[1] - q->pb[1] + k1 * q->dl[1];
                        if (i1 < 0 || i1 >= q->xs[1])
                            continue;
                        for (int64_t k2 = 0; k2 < q->ks[2]; k2++) {
                            int64_t i2 = o2 * q->st[2] - q->pb[2] + k2 * q->dl[2];
                            if (i2 < 0 || i2 >= q->xs[2])
                                continue;
                            int32_t xv =
                                q8_at(X, xbase + (i0 * q->xs[1] + i1) * q->xs[2] + i2) - xzp;
                            acc += (uint32_t)(xv * wc[(k0 * q->ks[1] + k1) * q->ks[2] + k2]);
                        }
                    }
                }
            }
            const int64_t yi = p * ysp + o;
            if (!rq) {
                ((int32_t *)y)[yi] = (int32_t)acc;
                continue;
            }
            if (rq->bias)
                acc += (uint32_t)rq->bias[m];
            float mult = rq->xs * rq->ws[m] / rq->ys;
            store_q(y, rq->ydt, yi, requant((int32_t)acc, mult, rq->zy, rq->lo, rq->hi));
        }
    }
}

/* The QLinearConv-only inputs: scales, y's zero point, bias. rq->ws is left
 * to the caller, which expands *out_ws into its scratch. */
static skiff_status_t *qlinear_inputs(skiff__kctx *ctx, int64_t M, const skiff_tensor_t *WZ,
                                      qconv_req *rq, const skiff_tensor_t **out_ws)
{
    const skiff_tensor_t *XS, *WS, *YS, *YZ, *B = skiff__kctx_opt(ctx, 8);
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 1, "x_scale", &XS)) ||
        (st = skiff__kctx_input(ctx, 4, "w_scale", &WS)) ||
        (st = skiff__kctx_input(ctx, 6, "y_scale", &YS)) ||
        (st = skiff__kctx_input(ctx, 7, "y_zero_point", &YZ)))
        return st;
    if (!is_scale_type(XS->dtype))
        return skiff__kctx_bad_dtype(ctx, "x_scale", XS->dtype);
    if (!is_scale_type(WS->dtype))
        return skiff__kctx_bad_dtype(ctx, "w_scale", WS->dtype);
    if (!is_scale_type(YS->dtype))
        return skiff__kctx_bad_dtype(ctx, "y_scale", YS->dtype);
    if (!is_q8(YZ->dtype))
        return skiff__kctx_bad_dtype(ctx, "y_zero_point", YZ->dtype);
    if ((st = check_param(ctx, XS, "x_scale", M, false)) ||
        (st = check_param(ctx, WS, "w_scale", M, true)) ||
        (st = check_param(ctx, YS, "y_scale", M, false)) ||
        (st = check_param(ctx, YZ, "y_zero_point", M, false)))
        return st;
    if (skiff_tensor_numel(WS) != skiff_tensor_numel(WZ))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs 'w_scale' and 'w_zero_point': expected the same shape, got "
                           "%lld and %lld values",
                           (long long)skiff_tensor_numel(WS), (long long)skiff_tensor_numel(WZ));
    if (B && B->dtype != SKIFF_DTYPE_INT32)
        return skiff__kctx_bad_dtype(ctx, "B", B->dtype);
    if (B && (B->ndim != 1 || B->dims[0] != M)) {
        char a[96];
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'B': expected shape [%lld], got %s",
                           (long long)M, skiff_shape_str(B->ndim, B->dims, a, sizeof(a)));
    }
    *out_ws = WS;
    rq->xs = (float)skiff__tensor_get_f64(XS, 0);
    rq->ys = (float)skiff__tensor_get_f64(YS, 0);
    rq->zy = (int32_t)skiff__tensor_get_i64(YZ, 0);
    rq->bias = B ? B->data : NULL;
    rq->ydt = YZ->dtype;
    qrange(YZ->dtype, &rq->lo, &rq->hi);
    return NULL;
}

/* ConvInteger: x, w, x_zero_point?, w_zero_point?. QLinearConv: x, x_scale,
 * x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B?. */
static skiff_status_t *qconv_common(skiff__kctx *ctx, bool qlinear)
{
    const int iw = qlinear ? 3 : 1, ixz = 2, iwz = qlinear ? 5 : 3;
    const skiff_tensor_t *X, *W, *XZ = skiff__kctx_opt(ctx, ixz), *WZ = skiff__kctx_opt(ctx, iwz);
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "x", &X)) || (st = skiff__kctx_input(ctx, iw, "w", &W)))
        return st;
    if (qlinear && ((st = skiff__kctx_input(ctx, ixz, "x_zero_point", &XZ)) ||
                    (st = skiff__kctx_input(ctx, iwz, "w_zero_point", &WZ))))
        return st;
    if (!is_q8(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "x", X->dtype);
    if (!is_q8(W->dtype))
        return skiff__kctx_bad_dtype(ctx, "w", W->dtype);
    if (XZ && XZ->dtype != X->dtype)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'x_zero_point': expected dtype %s (that of 'x'), got %s",
                           skiff_dtype_name(X->dtype), skiff_dtype_name(XZ->dtype));
    if (WZ && WZ->dtype != W->dtype)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'w_zero_point': expected dtype %s (that of 'w'), got %s",
                           skiff_dtype_name(W->dtype), skiff_dtype_name(WZ->dtype));
    const int r = X->ndim;
    if (r < 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'x': expected rank >= 3 (N, C, spatial...), got %d", r);
    if (r > 2 + CONV_MAX_SP)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "input 'x': rank %d (only 1D, 2D and 3D convolutions)", r);
    if (W->ndim != r)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'w': expected rank %d, got %d", r,
                           W->ndim);
    const int nsp = r - 2;
    conv_attrs a;
    if ((st = skiff__conv_parse_attrs(ctx->node, nsp, false, &a)))
        return st;
    const int64_t N = X->dims[0], C = X->dims[1], g = a.group;
    int64_t M;
    if ((st = skiff__conv_weight_shape(ctx, "w", W, C, false, &a, &M)))
        return st;
    if ((XZ && (st = check_param(ctx, XZ, "x_zero_point", M, false))) ||
        (WZ && (st = check_param(ctx, WZ, "w_zero_point", M, true))))
        return st;
    qconv_req rq = {0};
    const skiff_tensor_t *WS = NULL;
    if (qlinear && (st = qlinear_inputs(ctx, M, WZ, &rq, &WS)))
        return st;
    int64_t yd[2 + CONV_MAX_SP] = {N, M}, full[CONV_MAX_SP] = {0};
    bool degenerate = false, crop = false;
    if ((st = skiff__conv_out_shape(ctx, X, false, &a, yd, full, &degenerate, &crop)))
        return st;
    const int64_t kprod = skiff_shape_numel(nsp, a.k), wn = skiff_tensor_numel(W);
    if ((st = skiff__kctx_cost(ctx,
                               (double)skiff_shape_numel(r, yd) * (double)(C / g) * (double)kprod)))
        return st;
    /* w minus its zero points, after the scales in scratch */
    size_t off = qlinear ? skiff__page_up((size_t)M * sizeof(float)) : 0;
    char *mem = skiff__kctx_scratch(ctx, off + (size_t)wn * sizeof(int32_t) + 64);
    if (!mem)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for the %lld-element int32 copy of 'w'", (long long)wn);
    int32_t *wq = (int32_t *)(mem + off);
    if (qlinear) {
        float *ws = (float *)mem;
        for (int64_t m = 0; m < M; m++)
            ws[m] = (float)skiff__tensor_get_f64(WS, skiff_tensor_numel(WS) == 1 ? 0 : m);
        rq.ws = ws;
    }
    const int64_t per_m = M > 0 ? wn / M : 0;
    for (int64_t i = 0; i < wn; i++) {
        int64_t m = i / per_m;
        wq[i] = q8_at(W, i) - (WZ ? q8_at(WZ, skiff_tensor_numel(WZ) == 1 ? 0 : m) : 0);
    }
    skiff_dtype_t ydt = qlinear ? rq.ydt : SKIFF_DTYPE_INT32;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, ydt, r, yd, &st);
    if (!Y)
        return st;
    if (Y->nbytes == 0)
        return NULL;
    qconv_dims q = {.N = N, .C = C, .M = M, .g = g};
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - nsp); /* spatial index, < 0 for the leading 1s */
        q.xs[i] = j >= 0 ? X->dims[2 + j] : 1;
        q.ks[i] = j >= 0 ? a.k[j] : 1;
        q.ys[i] = j >= 0 ? yd[2 + j] : 1;
        q.st[i] = j >= 0 ? a.s[j] : 1;
        q.dl[i] = j >= 0 ? a.d[j] : 1;
        q.pb[i] = j >= 0 ? a.pb[j] : 0;
    }
    int32_t xzp = XZ ? q8_at(XZ, 0) : 0;
    qconv_compute(&q, X, xzp, wq, qlinear ? &rq : NULL, Y->data, skiff__kctx_threads(ctx));
    return NULL;
}

static skiff_status_t *run_conv_integer(skiff__kctx *ctx) { return qconv_common(ctx, false); }

static skiff_status_t *run_qlinear_conv(skiff__kctx *ctx)
{
    return skiff__conv_q_ready(ctx->node) ? skiff__conv_q_run(ctx) : qconv_common(ctx, true);
}

const skiff__op skiff__ops_quant_conv[] = {
    {.type = "ConvInteger", .min_opset = 10, .run = run_conv_integer},
    {.type = "QLinearConv",
     .min_opset = 10,
     .prepare = skiff__qlinear_conv_prepare,
     .run = run_qlinear_conv,
     .prep_free = skiff__conv_prep_free,
     .cache_free = skiff__pcache_free},
    {.type = NULL},
};
