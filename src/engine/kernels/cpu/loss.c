/* loss.c - the losses a model evaluated with its loss ends in:
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12+).
 *
 * Both gather, per sample n and spatial position d, the (log-)probability of
 * the target class: loss[n,d] = -w[t] * logp[n, t, d] with t = target[n,d]
 * and w[t] = 1 without weights. A target equal to ignore_index contributes
 * nothing, to the loss nor to the 'mean' denominator, which is the sum of
 * the gathered weights. Sums run in double whatever the input type, so a
 * float16 loss over many samples does not drift. */
#include <math.h>
#include <string.h>

#include "../../engine_int.h"

typedef enum loss_reduction { RED_NONE, RED_SUM, RED_MEAN } loss_reduction;

typedef struct loss_attrs {
    loss_reduction red;
    bool has_ignore;
    int64_t ignore;
} loss_attrs;

static skiff_status_t *read_loss_attrs(const skiff__kctx *ctx, loss_attrs *a)
{
    const char *r = skiff__attr_str(ctx->node, "reduction", "mean");
    if (strcmp(r, "none") == 0)
        a->red = RED_NONE;
    else if (strcmp(r, "sum") == 0)
        a->red = RED_SUM;
    else if (strcmp(r, "mean") == 0)
        a->red = RED_MEAN;
    else
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'reduction': expected 'none', 'sum' or 'mean', got '%s'", r);
    const skiff__attr *ig = skiff__attr_find(ctx->node, "ignore_index");
    a->has_ignore = ig && ig->type == SKIFF_ATTR_INT;
    a->ignore = a->has_ignore ? ig->i : 0;
    return NULL;
}

/* Checks the shapes: scores/input (N, C, d1..dk), target (N, d1..dk) of an
 * integer type, weight (C) of the input's type. Sets n, c and inner (the
 * product of d1..dk). */
static skiff_status_t *check_loss_inputs(const skiff__kctx *ctx, const char *xname,
                                         const skiff_tensor_t *x, const skiff_tensor_t *t,
                                         const skiff_tensor_t *w, int64_t *n, int64_t *c,
                                         int64_t *inner)
{
    char a[64], b[64];
    if (!skiff__dtype_is_float(x->dtype))
        return skiff__kctx_bad_dtype(ctx, xname, x->dtype);
    if (x->ndim < 2 || x->dims[1] < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected (N, C >= 1, ...), got %s", xname,
                           skiff_shape_str(x->ndim, x->dims, a, sizeof(a)));
    if (t->dtype != SKIFF_DTYPE_INT32 && t->dtype != SKIFF_DTYPE_INT64)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'target': expected int32 or int64, got %s",
                           skiff_dtype_name(t->dtype));
    bool ok = t->ndim == x->ndim - 1 && t->dims[0] == x->dims[0];
    for (int i = 1; ok && i < t->ndim; i++)
        ok = t->dims[i] == x->dims[i + 1];
    if (!ok)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'target': expected shape (N, d1..dk) of '%s' %s, got %s", xname,
                           skiff_shape_str(x->ndim, x->dims, a, sizeof(a)),
                           skiff_shape_str(t->ndim, t->dims, b, sizeof(b)));
    if (w && (w->dtype != x->dtype || w->ndim != 1 || w->dims[0] != x->dims[1]))
        return skiff__kerr(
            ctx, SKIFF_CODE_INVALID_ARG, "input 'weight': expected %s [%lld], got %s %s",
            skiff_dtype_name(x->dtype), (long long)x->dims[1], skiff_dtype_name(w->dtype),
            skiff_shape_str(w->ndim, w->dims, b, sizeof(b)));
    *n = x->dims[0];
    *c = x->dims[1];
    *inner = 1;
    for (int i = 2; i < x->ndim; i++)
        *inner *= x->dims[i];
    return NULL;
}

/* The gathered loss. logp(i) reads the log-probability at flat index i of
 * the (N, C, inner) input: either the input itself (NLL) or the log-softmax
 * computed into a double buffer (SCE). */
typedef struct logp_src {
    const skiff_tensor_t *x; /* read through skiff__tensor_get_f64 when lp is NULL */
    const double *lp;
} logp_src;

static inline double logp_at(const logp_src *s, int64_t i)
{
    return s->lp ? s->lp[i] : skiff__tensor_get_f64(s->x, i);
}

static skiff_status_t *gather_loss(skiff__kctx *ctx, const loss_attrs *a, const logp_src *src,
                                   const skiff_tensor_t *t, const skiff_tensor_t *w, int64_t n,
                                   int64_t c, int64_t inner, skiff_dtype_t dt)
{
    skiff_status_t *st;
    skiff_tensor_t *y;
    if (a->red == RED_NONE)
        y = skiff__kctx_output(ctx, 0, dt, t->ndim, t->dims, &st);
    else
        y = skiff__kctx_output(ctx, 0, dt, 0, NULL, &st);
    if (!y)
        return st;
    double sum = 0.0, wsum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t d = 0; d < inner; d++) {
            int64_t k = i * inner + d;
            int64_t cls = skiff__tensor_get_i64(t, k);
            double l = 0.0, wt = 0.0;
            if (!(a->has_ignore && cls == a->ignore)) {
                if (cls < 0 || cls >= c)
                    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                       "input 'target': class %lld at element %lld is outside "
                                       "[0, %lld)",
                                       (long long)cls, (long long)k, (long long)c);
                wt = w ? skiff__tensor_get_f64(w, cls) : 1.0;
                l = -wt * logp_at(src, (i * c + cls) * inner + d);
            }
            if (a->red == RED_NONE)
                skiff__store_f64(y->data, dt, k, l);
            sum += l;
            wsum += wt;
        }
    }
    if (a->red == RED_SUM)
        skiff__store_f64(y->data, dt, 0, sum);
    else if (a->red == RED_MEAN)
        skiff__store_f64(y->data, dt, 0, sum / wsum);
    return NULL;
}

static skiff_status_t *run_nll(skiff__kctx *ctx)
{
    const skiff_tensor_t *x, *t;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "input", &x)) ||
        (st = skiff__kctx_input(ctx, 1, "target", &t)))
        return st;
    const skiff_tensor_t *w = skiff__kctx_opt(ctx, 2);
    loss_attrs a = {0};
    int64_t n, c, inner;
    if ((st = read_loss_attrs(ctx, &a)) ||
        (st = check_loss_inputs(ctx, "input", x, t, w, &n, &c, &inner)))
        return st;
    logp_src src = {.x = x, .lp = NULL};
    return gather_loss(ctx, &a, &src, t, w, n, c, inner, x->dtype);
}

static skiff_status_t *run_sce(skiff__kctx *ctx)
{
    const skiff_tensor_t *x, *t;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "scores", &x)) ||
        (st = skiff__kctx_input(ctx, 1, "labels", &t)))
        return st;
    const skiff_tensor_t *w = skiff__kctx_opt(ctx, 2);
    loss_attrs a = {0};
    int64_t n, c, inner;
    if ((st = read_loss_attrs(ctx, &a)) ||
        (st = check_loss_inputs(ctx, "scores", x, t, w, &n, &c, &inner)))
        return st;
    int64_t total = skiff_tensor_numel(x);
    double *lp = skiff__kctx_scratch(ctx, (size_t)total * sizeof(double));
    if (!lp)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for %lld log-probabilities", (long long)total);
    /* log_softmax over the class axis (1) */
    for (int64_t i = 0; i < n; i++) {
        for (int64_t d = 0; d < inner; d++) {
            int64_t base = i * c * inner + d;
            double mx = -INFINITY;
            for (int64_t k = 0; k < c; k++) {
                double v = skiff__tensor_get_f64(x, base + k * inner);
                lp[base + k * inner] = v;
                if (v > mx)
                    mx = v;
            }
            /* c >= 1 (checked), so the class at the maximum adds exp(0) = 1
             * and the sum is at least 1 (NaN when every score is -inf or a
             * score is NaN, which the log passes on) */
            double s = exp(lp[base] - mx);
            for (int64_t k = 1; k < c; k++)
                s += exp(lp[base + k * inner] - mx);
            double ls = log(s) + mx;
            for (int64_t k = 0; k < c; k++)
                lp[base + k * inner] -= ls;
        }
    }
    logp_src src = {.x = NULL, .lp = lp};
    if ((st = gather_loss(ctx, &a, &src, t, w, n, c, inner, x->dtype)))
        return st;
    if (ctx->n_out > 1 && ctx->node->out[1] >= 0) {
        skiff_tensor_t *lo = skiff__kctx_output(ctx, 1, x->dtype, x->ndim, x->dims, &st);
        if (!lo)
            return st;
        for (int64_t i = 0; i < total; i++)
            skiff__store_f64(lo->data, x->dtype, i, lp[i]);
    }
    return NULL;
}

const skiff__op skiff__ops_loss[] = {
    {.type = "NegativeLogLikelihoodLoss", .min_opset = 12, .run = run_nll},
    {.type = "SoftmaxCrossEntropyLoss", .min_opset = 12, .run = run_sce},
    {.type = NULL},
};
