/* shape.c - data-movement kernels: views (Identity, Dropout, Reshape, Flatten,
 * Squeeze, Unsqueeze), joins and splits (Concat, Split), shape queries (Shape,
 * Size), generators (Constant, ConstantOfShape, Range, EyeLike), Trilu, and
 * the op table for the whole family. The layout ops (Transpose, Slice, Pad,
 * ...) are in layout.c and the indexed ops (Gather, Scatter, TopK, ...) in
 * gather.c; shape_int.h joins them.
 *
 * None of these kernels interprets element values except where the op is
 * defined on them (Range, Trilu's zeros, EyeLike's ones), so they work on any
 * dtype by moving bytes. Ops whose attributes became inputs over the opsets
 * read node->opset and accept both forms. */
#include <math.h>
#include <string.h>

#include "shape_int.h"

/* ---- shared helpers ------------------------------------------------------ */

skiff_status_t *skiff__shape_esize(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                   const char *what, size_t *out_size)
{
    size_t es = skiff_dtype_size(t->dtype);
    if (es == 0)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input '%s': unsupported element type %s",
                           what, skiff_dtype_name(t->dtype));
    *out_size = es;
    return NULL;
}

skiff_status_t *skiff__shape_own_strings(const skiff__kctx *ctx, skiff_tensor_t *t)
{
    if (t->dtype != SKIFF_DTYPE_STRING)
        return NULL;
    int64_t n = skiff_tensor_numel(t);
    char **p = t->data;
    for (int64_t i = 0; i < n; i++) {
        char *s = skiff__strdup(p[i] ? p[i] : "");
        if (!s) {
            for (int64_t j = i; j < n; j++)
                p[j] = NULL;
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                               "out of memory copying string elements");
        }
        p[i] = s;
    }
    return NULL;
}

skiff_status_t *skiff__shape_read_ints(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                       const char *what, int64_t *out, int cap, int *out_n)
{
    if (!skiff__dtype_is_int(t->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected an integer tensor, got %s", what,
                           skiff_dtype_name(t->dtype));
    if (t->ndim > 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected rank 0 or 1, got %d",
                           what, t->ndim);
    int64_t n = skiff_tensor_numel(t);
    if (n < 0 || n > cap)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected at most %d values, got %lld", what, cap,
                           (long long)n);
    for (int64_t i = 0; i < n; i++)
        out[i] = skiff__tensor_get_i64(t, i);
    *out_n = (int)n;
    return NULL;
}

void skiff__shape_strides(int ndim, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

/* Saturating double -> integer so that out-of-range values never reach the
 * undefined behaviour of a C float-to-int conversion. */
static int64_t sat_i64(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    if (v <= lo)
        return (int64_t)lo;
    if (v >= hi)
        return v >= 9223372036854775807.0 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

void skiff__shape_set_f64(void *p, skiff_dtype_t dtype, double v)
{
    switch (dtype) {
    case SKIFF_DTYPE_FLOAT32: *(float *)p = (float)v; break;
    case SKIFF_DTYPE_FLOAT64: *(double *)p = v; break;
    case SKIFF_DTYPE_FLOAT16: *(uint16_t *)p = skiff__f32_to_f16((float)v); break;
    case SKIFF_DTYPE_BFLOAT16: *(uint16_t *)p = skiff__f32_to_bf16((float)v); break;
    case SKIFF_DTYPE_INT8: *(int8_t *)p = (int8_t)sat_i64(v, -128, 127); break;
    case SKIFF_DTYPE_INT16: *(int16_t *)p = (int16_t)sat_i64(v, -32768, 32767); break;
    case SKIFF_DTYPE_INT32: *(int32_t *)p = (int32_t)sat_i64(v, -2147483648.0, 2147483647.0); break;
    case SKIFF_DTYPE_INT64:
        *(int64_t *)p = sat_i64(v, -9223372036854775808.0, 9223372036854775807.0);
        break;
    case SKIFF_DTYPE_UINT8: *(uint8_t *)p = (uint8_t)sat_i64(v, 0, 255); break;
    case SKIFF_DTYPE_UINT16: *(uint16_t *)p = (uint16_t)sat_i64(v, 0, 65535); break;
    case SKIFF_DTYPE_UINT32: *(uint32_t *)p = (uint32_t)sat_i64(v, 0, 4294967295.0); break;
    case SKIFF_DTYPE_UINT64:
        *(uint64_t *)p = isnan(v) || v <= 0            ? 0
                         : v >= 18446744073709551615.0 ? UINT64_MAX
                                                       : (uint64_t)v;
        break;
    case SKIFF_DTYPE_BOOL: *(uint8_t *)p = v != 0; break;
    default: break;
    }
}

void skiff__shape_fill(void *dst, const void *elem, size_t es, int64_t n)
{
/* d[i] = the element, read as a T */
#define FILL_AS(T)                                                                                 \
    do {                                                                                           \
        T v_;                                                                                      \
        memcpy(&v_, elem, sizeof(T));                                                              \
        T *d_ = dst;                                                                               \
        for (int64_t i = 0; i < n; i++)                                                            \
            d_[i] = v_;                                                                            \
    } while (0)
    switch (es) {
    case 1: memset(dst, *(const uint8_t *)elem, (size_t)n); return;
    case 2: FILL_AS(uint16_t); return;
    case 4: FILL_AS(uint32_t); return;
    case 8: FILL_AS(uint64_t); return;
#undef FILL_AS
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy((char *)dst + (size_t)i * es, elem, es);
    }
}

static bool has_output(const skiff__kctx *ctx, int i)
{
    return i < ctx->n_out && (i >= ctx->node->n_out || ctx->node->out[i] >= 0);
}

static char *shape_str(int ndim, const int64_t *dims, char *buf, size_t cap)
{
    return skiff_shape_str(ndim, dims, buf, cap);
}

/* ---- Identity ------------------------------------------------------------ */

static skiff_status_t *run_identity(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    return skiff__kctx_alias(ctx, 0, 0, ctx->in[0]->ndim, ctx->in[0]->dims);
}

/* ---- Dropout ------------------------------------------------------------- */

/* MT19937 with numpy's legacy seeding and random_sample(), so training-mode
 * Dropout with a seed attribute draws the same mask numpy.random does. */
typedef struct mt19937 {
    uint32_t mt[624];
    int pos;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t s)
{
    for (int i = 0; i < 624; i++) {
        m->mt[i] = s;
        s = 1812433253u * (s ^ (s >> 30)) + (uint32_t)i + 1;
    }
    m->pos = 624;
}

static uint32_t mt_next(mt19937 *m)
{
    if (m->pos >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->mt[k] & 0x80000000u) | (m->mt[(k + 1) % 624] & 0x7fffffffu);
            m->mt[k] = m->mt[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
        }
        m->pos = 0;
    }
    uint32_t y = m->mt[m->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

static double mt_uniform(mt19937 *m)
{
    uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

/* Inference is the identity (opsets 7-11 have no training mode at run time;
 * from 12 the training_mode input decides). Training mode with a ratio above
 * zero really drops, reproducibly when the node has a seed attribute. */
static skiff_status_t *run_dropout(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    const skiff__node *node = ctx->node;
    double ratio = skiff__attr_float(node, "ratio", 0.5f);
    bool training = false;
    if (node->opset >= 12) {
        const skiff_tensor_t *r = skiff__kctx_opt(ctx, 1), *t = skiff__kctx_opt(ctx, 2);
        if (r) {
            if (skiff_tensor_numel(r) != 1)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'ratio': expected a scalar, got %lld elements",
                                   (long long)skiff_tensor_numel(r));
            ratio = skiff__tensor_get_f64(r, 0);
        }
        if (t) {
            if (skiff_tensor_numel(t) != 1)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'training_mode': expected a scalar, got %lld elements",
                                   (long long)skiff_tensor_numel(t));
            training = skiff__tensor_get_i64(t, 0) != 0;
        }
    }
    if (training && !(ratio >= 0 && ratio < 1))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "ratio must be in [0, 1), got %g", ratio);
    bool want_mask = has_output(ctx, 1);
    skiff_dtype_t mdt = node->opset >= 10 ? SKIFF_DTYPE_BOOL : x->dtype;
    int64_t n = skiff_tensor_numel(x);

    if (!training || ratio == 0) {
        if ((st = skiff__kctx_alias(ctx, 0, 0, x->ndim, x->dims)))
            return st;
        if (!want_mask)
            return NULL;
        skiff_tensor_t *m = skiff__kctx_output(ctx, 1, mdt, x->ndim, x->dims, &st);
        if (!m)
            return st;
        size_t es = skiff_dtype_size(mdt);
        if (es == 0 || mdt == SKIFF_DTYPE_STRING)
            return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "mask of type %s",
                               skiff_dtype_name(mdt));
        unsigned char one[8] = {0};
        skiff__shape_set_f64(one, mdt, 1.0);
        skiff__shape_fill(m->data, one, es, n);
        return NULL;
    }

    if (x->dtype != SKIFF_DTYPE_FLOAT32 && x->dtype != SKIFF_DTYPE_FLOAT64)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "training-mode dropout on %s (float32 and float64 are supported)",
                           skiff_dtype_name(x->dtype));
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, x->ndim, x->dims, &st);
    if (!y)
        return st;
    skiff_tensor_t *m = NULL;
    if (want_mask && !(m = skiff__kctx_output(ctx, 1, mdt, x->ndim, x->dims, &st)))
        return st;
    const skiff__attr *sa = skiff__attr_find(node, "seed");
    uint64_t seed = sa ? (uint64_t)skiff__attr_int(node, "seed", 0) : skiff__now_ns();
    mt19937 *rng = skiff__malloc(sizeof(*rng));
    if (!rng)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    mt_seed(rng, (uint32_t)seed);
    /* The draw is sequential (one generator), which is fine: training mode
     * is a conformance and debugging path, not a serving one. */
    size_t mes = skiff_dtype_size(mdt);
    if (x->dtype == SKIFF_DTYPE_FLOAT32) {
        float scale = 1.0f / (1.0f - (float)ratio);
        for (int64_t i = 0; i < n; i++) {
            bool keep = mt_uniform(rng) >= ratio;
            ((float *)y->data)[i] = keep ? ((const float *)x->data)[i] * scale : 0.0f;
            if (m)
                skiff__shape_set_f64((char *)m->data + (size_t)i * mes, mdt, keep);
        }
    } else {
        double scale = 1.0 / (1.0 - ratio);
        for (int64_t i = 0; i < n; i++) {
            bool keep = mt_uniform(rng) >= ratio;
            ((double *)y->data)[i] = keep ? ((const double *)x->data)[i] * scale : 0.0;
            if (m)
                skiff__shape_set_f64((char *)m->data + (size_t)i * mes, mdt, keep);
        }
    }
    skiff__free(rng);
    return NULL;
}

/* ---- Reshape ------------------------------------------------------------- */

static skiff_status_t *run_reshape(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    const skiff__node *node = ctx->node;
    int64_t shape[SKIFF_MAX_DIMS];
    int n = 0;
    if (node->opset < 5) {
        const int64_t *a;
        n = skiff__attr_ints(node, "shape", &a);
        if (n < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing attribute 'shape'");
        if (n > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "attribute 'shape': rank %d above %d",
                               n, SKIFF_MAX_DIMS);
        memcpy(shape, a, sizeof(int64_t) * (size_t)n);
    } else {
        if ((st = skiff__kctx_need(ctx, 1, "shape")))
            return st;
        if ((st = skiff__shape_read_ints(ctx, ctx->in[1], "shape", shape, SKIFF_MAX_DIMS, &n)))
            return st;
    }
    bool allowzero = skiff__attr_int(node, "allowzero", 0) != 0;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (shape[i] == -1) {
            if (infer >= 0)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'shape': more than one -1 dimension");
            infer = i;
            continue;
        }
        if (shape[i] == 0 && !allowzero) {
            if (i >= x->ndim)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'shape': 0 at index %d copies a dimension the rank-%d "
                                   "input does not have",
                                   i, x->ndim);
            shape[i] = x->dims[i];
        }
        if (shape[i] < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'shape': invalid dimension %lld",
                               (long long)shape[i]);
        if (__builtin_mul_overflow(known, shape[i], &known))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'shape': size overflows");
    }
    int64_t numel = skiff_tensor_numel(x);
    char b1[160], b2[160];
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "cannot reshape %s (%lld elements) to %s",
                               shape_str(x->ndim, x->dims, b1, sizeof(b1)), (long long)numel,
                               shape_str(n, shape, b2, sizeof(b2)));
        shape[infer] = numel / known;
    } else if (known != numel) {
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "cannot reshape %s (%lld elements) to %s",
                           shape_str(x->ndim, x->dims, b1, sizeof(b1)), (long long)numel,
                           shape_str(n, shape, b2, sizeof(b2)));
    }
    return skiff__kctx_alias(ctx, 0, 0, n, shape);
}

/* ---- Flatten ------------------------------------------------------------- */

static skiff_status_t *run_flatten(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int64_t axis = skiff__attr_int(ctx->node, "axis", 1);
    if (axis < -(int64_t)x->ndim || axis > x->ndim)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                           (long long)axis, x->ndim);
    if (axis < 0)
        axis += x->ndim;
    int64_t d[2] = {1, 1};
    for (int i = 0; i < x->ndim; i++)
        d[i < axis ? 0 : 1] *= x->dims[i];
    return skiff__kctx_alias(ctx, 0, 0, 2, d);
}

/* ---- Squeeze / Unsqueeze -------------------------------------------------- */

/* Axes come from the attribute before opset 13 and from input 1 after. */
static skiff_status_t *read_axes(skiff__kctx *ctx, int64_t *axes, int cap, int *n, bool *given)
{
    *given = false;
    *n = 0;
    if (ctx->node->opset < 13) {
        const int64_t *a;
        int k = skiff__attr_ints(ctx->node, "axes", &a);
        if (k < 0)
            return NULL;
        if (k > cap)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'axes': %d values, at most %d", k, cap);
        memcpy(axes, a, sizeof(int64_t) * (size_t)k);
        *n = k;
        *given = true;
        return NULL;
    }
    const skiff_tensor_t *t = skiff__kctx_opt(ctx, 1);
    if (!t)
        return NULL;
    *given = true;
    return skiff__shape_read_ints(ctx, t, "axes", axes, cap, n);
}

static skiff_status_t *run_squeeze(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int64_t axes[SKIFF_MAX_DIMS];
    int n;
    bool given;
    if ((st = read_axes(ctx, axes, SKIFF_MAX_DIMS, &n, &given)))
        return st;
    bool drop[SKIFF_MAX_DIMS] = {false};
    if (given) {
        for (int i = 0; i < n; i++) {
            int a;
            if (!skiff__norm_axis(axes[i], x->ndim, &a))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "axis %lld out of range for rank %d", (long long)axes[i],
                                   x->ndim);
            if (x->dims[a] != 1)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
            drop[a] = true;
        }
    } else {
        for (int i = 0; i < x->ndim; i++)
            drop[i] = x->dims[i] == 1;
    }
    int64_t d[SKIFF_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!drop[i])
            d[r++] = x->dims[i];
    return skiff__kctx_alias(ctx, 0, 0, r, d);
}

static skiff_status_t *run_unsqueeze(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int64_t axes[SKIFF_MAX_DIMS];
    int n;
    bool given;
    if ((st = read_axes(ctx, axes, SKIFF_MAX_DIMS, &n, &given)))
        return st;
    if (!given)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing 'axes'");
    int r = x->ndim + n;
    if (r > SKIFF_MAX_DIMS)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank %d above %d", r,
                           SKIFF_MAX_DIMS);
    bool ins[SKIFF_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        if (!skiff__norm_axis(axes[i], r, &a))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                               (long long)axes[i], r);
        if (ins[a])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %d repeated", a);
        ins[a] = true;
    }
    int64_t d[SKIFF_MAX_DIMS];
    for (int i = 0, j = 0; i < r; i++)
        d[i] = ins[i] ? 1 : x->dims[j++];
    return skiff__kctx_alias(ctx, 0, 0, r, d);
}

/* ---- Concat -------------------------------------------------------------- */

static skiff_status_t *run_concat(skiff__kctx *ctx)
{
    if (ctx->n_in < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "expected at least one input");
    skiff_status_t *st;
    for (int k = 0; k < ctx->n_in; k++)
        if ((st = skiff__kctx_need(ctx, k, "inputs")))
            return st;
    const skiff_tensor_t *x0 = ctx->in[0];
    const skiff__attr *aa = skiff__attr_find(ctx->node, "axis");
    if (!aa && ctx->node->opset >= 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing attribute 'axis'");
    int64_t axis64 = skiff__attr_int(ctx->node, "axis", 1);
    int axis;
    if (!skiff__norm_axis(axis64, x0->ndim, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                           (long long)axis64, x0->ndim);
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x0, "inputs", &es)))
        return st;
    int64_t od[SKIFF_MAX_DIMS];
    memcpy(od, x0->dims, sizeof(od));
    od[axis] = 0;
    char b1[160], b2[160];
    for (int k = 0; k < ctx->n_in; k++) {
        const skiff_tensor_t *x = ctx->in[k];
        if (x->dtype != x0->dtype)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input %d: expected type %s, got %s", k,
                               skiff_dtype_name(x0->dtype), skiff_dtype_name(x->dtype));
        bool ok = x->ndim == x0->ndim;
        for (int i = 0; ok && i < x->ndim; i++)
            ok = i == axis || x->dims[i] == x0->dims[i];
        if (!ok)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input %d: shape %s does not match input 0's %s outside axis %d", k,
                               shape_str(x->ndim, x->dims, b1, sizeof(b1)),
                               shape_str(x0->ndim, x0->dims, b2, sizeof(b2)), axis);
        od[axis] += x->dims[axis];
    }
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x0->dtype, x0->ndim, od, &st);
    if (!y)
        return st;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= od[i];
    for (int i = axis + 1; i < x0->ndim; i++)
        inner *= od[i];
    size_t row = (size_t)(od[axis] * inner) * es;
    if (row == 0 || outer == 0)
        return NULL;
    int nt = skiff__kctx_threads(ctx);
    int nin = ctx->n_in;
    const skiff_tensor_t *const *in = ctx->in;
    char *out = y->data;
#pragma omp parallel for num_threads(nt) if ((size_t)outer * row > 262144 && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
        char *dst = out + (size_t)o * row;
        for (int k = 0; k < nin; k++) {
            size_t chunk = (size_t)(in[k]->dims[axis] * inner) * es;
            if (chunk) {
                memcpy(dst, (const char *)in[k]->data + (size_t)o * chunk, chunk);
                dst += chunk;
            }
        }
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- Split --------------------------------------------------------------- */

static skiff_status_t *run_split(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    const skiff__node *node = ctx->node;
    int nout = ctx->n_out;
    if (nout < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "expected at least one output");
    int axis;
    int64_t axis64 = skiff__attr_int(node, "axis", 0);
    if (!skiff__norm_axis(axis64, x->ndim, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                           (long long)axis64, x->ndim);
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x, "input", &es)))
        return st;
    int64_t *split = skiff__malloc(sizeof(int64_t) * (size_t)nout);
    if (!split)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    int n = -1;
    const skiff_tensor_t *ts = node->opset >= 13 || ctx->n_in > 1 ? skiff__kctx_opt(ctx, 1) : NULL;
    if (ts) {
        st = skiff__shape_read_ints(ctx, ts, "split", split, nout, &n);
        if (st)
            goto done;
        if (skiff_tensor_numel(ts) != nout) {
            st =
                skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'split': %lld sizes for %d outputs",
                            (long long)skiff_tensor_numel(ts), nout);
            goto done;
        }
    } else if (node->opset < 13) {
        const int64_t *a;
        n = skiff__attr_ints(node, "split", &a);
        if (n >= 0) {
            if (n != nout) {
                st = skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                 "attribute 'split': %d sizes for %d outputs", n, nout);
                goto done;
            }
            memcpy(split, a, sizeof(int64_t) * (size_t)n);
        }
    }
    int64_t dim = x->dims[axis];
    if (n < 0) {
        /* Equal parts; opset 18's num_outputs allows a smaller last part. */
        if (dim % nout == 0) {
            for (int k = 0; k < nout; k++)
                split[k] = dim / nout;
        } else if (node->opset >= 18) {
            int64_t c = (dim + nout - 1) / nout;
            for (int k = 0; k < nout; k++) {
                int64_t left = dim - c * k;
                split[k] = left < 0 ? 0 : left < c ? left : c;
            }
        } else {
            st = skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                             "axis %d of size %lld does not split into %d equal parts", axis,
                             (long long)dim, nout);
            goto done;
        }
    }
    int64_t total = 0;
    for (int k = 0; k < nout; k++) {
        if (split[k] < 0) {
            st = skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "split size %lld is negative",
                             (long long)split[k]);
            goto done;
        }
        total += split[k];
    }
    if (total != dim) {
        st = skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                         "split sizes add up to %lld, axis %d has size %lld", (long long)total,
                         axis, (long long)dim);
        goto done;
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    size_t in_row = (size_t)(dim * inner) * es;
    int nt = skiff__kctx_threads(ctx);
    int64_t off = 0;
    for (int k = 0; k < nout; k++) {
        int64_t d[SKIFF_MAX_DIMS];
        memcpy(d, x->dims, sizeof(d));
        d[axis] = split[k];
        if (!has_output(ctx, k)) {
            off += split[k];
            continue;
        }
        skiff_tensor_t *y = skiff__kctx_output(ctx, k, x->dtype, x->ndim, d, &st);
        if (!y)
            goto done;
        size_t chunk = (size_t)(split[k] * inner) * es;
        const char *src = (const char *)x->data + (size_t)(off * inner) * es;
        char *dst = y->data;
        if (chunk && outer) {
#pragma omp parallel for num_threads(nt) if ((size_t)outer * chunk > 262144 && outer > 1)
            for (int64_t o = 0; o < outer; o++)
                memcpy(dst + (size_t)o * chunk, src + (size_t)o * in_row, chunk);
        }
        if ((st = skiff__shape_own_strings(ctx, y)))
            goto done;
        off += split[k];
    }
done:
    skiff__free(split);
    return st;
}

/* ---- Shape / Size -------------------------------------------------------- */

static skiff_status_t *run_shape(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int64_t r = x->ndim;
    int64_t start = skiff__attr_int(ctx->node, "start", 0);
    int64_t end = skiff__attr_int(ctx->node, "end", r);
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_INT64, 1, &n, &st);
    if (!y)
        return st;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)y->data)[i] = x->dims[start + i];
    return NULL;
}

static skiff_status_t *run_size(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_INT64, 0, NULL, &st);
    if (!y)
        return st;
    *(int64_t *)y->data = skiff_tensor_numel(ctx->in[0]);
    return NULL;
}

/* ---- Constant ------------------------------------------------------------ */

static skiff_status_t *run_constant(skiff__kctx *ctx)
{
    const skiff__node *node = ctx->node;
    skiff_status_t *st;
    for (int i = 0; i < node->n_attrs; i++) {
        const skiff__attr *a = &node->attrs[i];
        skiff_tensor_t *y;
        if (strcmp(a->name, "value") == 0 && a->type == SKIFF_ATTR_TENSOR && a->t) {
            const skiff_tensor_t *t = a->t;
            size_t es = 0;
            if ((st = skiff__shape_esize(ctx, t, "value", &es)))
                return st;
            if (!(y = skiff__kctx_output(ctx, 0, t->dtype, t->ndim, t->dims, &st)))
                return st;
            size_t nb = (size_t)skiff_tensor_numel(t) * es;
            if (nb)
                memcpy(y->data, t->data, nb);
            return skiff__shape_own_strings(ctx, y);
        }
        if (strcmp(a->name, "value_float") == 0) {
            if (!(y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 0, NULL, &st)))
                return st;
            *(float *)y->data = a->type == SKIFF_ATTR_INT ? (float)a->i : a->f;
            return NULL;
        }
        if (strcmp(a->name, "value_int") == 0) {
            if (!(y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_INT64, 0, NULL, &st)))
                return st;
            *(int64_t *)y->data = a->i;
            return NULL;
        }
        if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0) {
            bool fl = a->name[6] == 'f';
            int64_t n = a->n;
            if (!(y = skiff__kctx_output(ctx, 0, fl ? SKIFF_DTYPE_FLOAT32 : SKIFF_DTYPE_INT64, 1,
                                         &n, &st)))
                return st;
            if (n)
                memcpy(y->data, fl ? (const void *)a->floats : (const void *)a->ints,
                       (size_t)n * (fl ? sizeof(float) : sizeof(int64_t)));
            return NULL;
        }
        if (strcmp(a->name, "value_string") == 0) {
            if (!(y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_STRING, 0, NULL, &st)))
                return st;
            *(const char **)y->data = a->s;
            return skiff__shape_own_strings(ctx, y);
        }
        if (strcmp(a->name, "value_strings") == 0) {
            int64_t n = a->n;
            if (!(y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_STRING, 1, &n, &st)))
                return st;
            if (n)
                memcpy(y->data, a->strings, (size_t)n * sizeof(char *));
            return skiff__shape_own_strings(ctx, y);
        }
        if (strcmp(a->name, "sparse_value") == 0)
            return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "attribute 'sparse_value'");
    }
    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "no value attribute");
}

/* ---- ConstantOfShape ----------------------------------------------------- */

static skiff_status_t *run_constant_of_shape(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    int64_t d[SKIFF_MAX_DIMS];
    int n;
    if ((st = skiff__shape_read_ints(ctx, ctx->in[0], "input", d, SKIFF_MAX_DIMS, &n)))
        return st;
    for (int i = 0; i < n; i++)
        if (d[i] < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'input': negative dimension %lld", (long long)d[i]);
    const skiff__attr *a = skiff__attr_find(ctx->node, "value");
    float zero = 0;
    skiff_dtype_t dt = SKIFF_DTYPE_FLOAT32;
    const void *elem = &zero;
    if (a && a->type == SKIFF_ATTR_TENSOR && a->t) {
        if (skiff_tensor_numel(a->t) != 1)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'value': expected one element, got %lld",
                               (long long)skiff_tensor_numel(a->t));
        dt = a->t->dtype;
        elem = a->t->data;
    }
    size_t es = skiff_dtype_size(dt);
    if (es == 0)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "attribute 'value': type %s",
                           skiff_dtype_name(dt));
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, dt, n, d, &st);
    if (!y)
        return st;
    skiff__shape_fill(y->data, elem, es, skiff_tensor_numel(y));
    return skiff__shape_own_strings(ctx, y);
}

/* ---- Range --------------------------------------------------------------- */

static skiff_status_t *run_range(skiff__kctx *ctx)
{
    static const char *names[3] = {"start", "limit", "delta"};
    skiff_status_t *st;
    for (int i = 0; i < 3; i++) {
        if ((st = skiff__kctx_need(ctx, i, names[i])))
            return st;
        if (skiff_tensor_numel(ctx->in[i]) != 1)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input '%s': expected a scalar, got %lld elements", names[i],
                               (long long)skiff_tensor_numel(ctx->in[i]));
        if (ctx->in[i]->dtype != ctx->in[0]->dtype)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': type %s differs from %s",
                               names[i], skiff_dtype_name(ctx->in[i]->dtype),
                               skiff_dtype_name(ctx->in[0]->dtype));
    }
    skiff_dtype_t dt = ctx->in[0]->dtype;
    int64_t n;
    skiff_tensor_t *y;
    if (dt == SKIFF_DTYPE_FLOAT32 || dt == SKIFF_DTYPE_FLOAT64 || dt == SKIFF_DTYPE_FLOAT16 ||
        dt == SKIFF_DTYPE_BFLOAT16) {
        double s = skiff__tensor_get_f64(ctx->in[0], 0), l = skiff__tensor_get_f64(ctx->in[1], 0),
               dl = skiff__tensor_get_f64(ctx->in[2], 0);
        if (dl == 0 || !isfinite(s) || !isfinite(l) || !isfinite(dl))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "start/limit/delta must be finite and delta nonzero");
        double c = ceil((l - s) / dl);
        if (c > 1e12)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "range of %g elements is too large", c);
        n = c > 0 ? (int64_t)c : 0;
        if (!(y = skiff__kctx_output(ctx, 0, dt, 1, &n, &st)))
            return st;
        if (dt == SKIFF_DTYPE_FLOAT32) {
            /* float arithmetic as numpy.arange does, so values match bit for bit */
            float fs = (float)s, fd = (float)dl;
            for (int64_t i = 0; i < n; i++)
                ((float *)y->data)[i] = fs + (float)i * fd;
        } else {
            size_t es = skiff_dtype_size(dt);
            for (int64_t i = 0; i < n; i++)
                skiff__shape_set_f64((char *)y->data + (size_t)i * es, dt, s + (double)i * dl);
        }
        return NULL;
    }
    if (!skiff__dtype_is_int(dt) || dt == SKIFF_DTYPE_UINT64)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "type %s", skiff_dtype_name(dt));
    int64_t s = skiff__tensor_get_i64(ctx->in[0], 0), l = skiff__tensor_get_i64(ctx->in[1], 0),
            dl = skiff__tensor_get_i64(ctx->in[2], 0);
    if (dl == 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "delta must be nonzero");
    /* 128-bit span: limit - start can overflow int64 */
    __int128 span = (__int128)l - s;
    __int128 cnt = dl > 0 ? (span > 0 ? (span + dl - 1) / dl : 0)
                          : (span < 0 ? (-span + (-(__int128)dl) - 1) / (-(__int128)dl) : 0);
    if (cnt > ((__int128)1 << 40))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "range is too large");
    n = (int64_t)cnt;
    if (!(y = skiff__kctx_output(ctx, 0, dt, 1, &n, &st)))
        return st;
    size_t es = skiff_dtype_size(dt);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = s + i * dl;
        switch (es) {
        case 1: ((uint8_t *)y->data)[i] = (uint8_t)v; break;
        case 2: ((uint16_t *)y->data)[i] = (uint16_t)v; break;
        case 4: ((uint32_t *)y->data)[i] = (uint32_t)v; break;
        default: ((int64_t *)y->data)[i] = v; break;
        }
    }
    return NULL;
}

/* ---- EyeLike ------------------------------------------------------------- */

static skiff_status_t *run_eye_like(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    if (x->ndim != 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input': expected rank 2, got %d",
                           x->ndim);
    skiff_dtype_t dt = (skiff_dtype_t)skiff__attr_int(ctx->node, "dtype", x->dtype);
    size_t es = skiff_dtype_size(dt);
    if (es == 0 || dt == SKIFF_DTYPE_STRING)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output type %s", skiff_dtype_name(dt));
    int64_t k = skiff__attr_int(ctx->node, "k", 0);
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, dt, 2, x->dims, &st);
    if (!y)
        return st;
    int64_t rows = x->dims[0], cols = x->dims[1];
    size_t nb = (size_t)(rows * cols) * es;
    if (nb)
        memset(y->data, 0, nb);
    unsigned char one[8] = {0};
    skiff__shape_set_f64(one, dt, 1.0);
    for (int64_t i = 0; i < rows; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < cols)
            memcpy((char *)y->data + (size_t)(i * cols + j) * es, one, es);
    }
    return NULL;
}

/* ---- Trilu --------------------------------------------------------------- */

static skiff_status_t *run_trilu(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    if (x->ndim < 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input': expected rank >= 2, got %d",
                           x->ndim);
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x, "input", &es)))
        return st;
    int64_t k = 0;
    const skiff_tensor_t *tk = skiff__kctx_opt(ctx, 1);
    if (tk) {
        if (skiff_tensor_numel(tk) != 1 || !skiff__dtype_is_int(tk->dtype))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'k': expected an integer scalar");
        k = skiff__tensor_get_i64(tk, 0);
    }
    bool upper = skiff__attr_int(ctx->node, "upper", 1) != 0;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, x->ndim, x->dims, &st);
    if (!y)
        return st;
    int64_t rows = x->dims[x->ndim - 2], cols = x->dims[x->ndim - 1];
    int64_t nrows = rows && cols ? skiff_tensor_numel(x) / cols : 0;
    int nt = skiff__kctx_threads(ctx);
    const char *src = x->data;
    char *dst = y->data;
    /* Clamp k so i + k never overflows. */
    if (k > cols)
        k = cols;
    if (k < -rows)
        k = -rows;
#pragma omp parallel for num_threads(nt) if (nrows * cols > 32768)
    for (int64_t r = 0; r < nrows; r++) {
        int64_t i = r % rows;
        /* kept columns: upper j >= i + k, lower j <= i + k */
        int64_t lo = upper ? i + k : 0, hi = upper ? cols : i + k + 1;
        lo = lo < 0 ? 0 : lo > cols ? cols : lo;
        hi = hi < lo ? lo : hi > cols ? cols : hi;
        char *d = dst + (size_t)(r * cols) * es;
        const char *s = src + (size_t)(r * cols) * es;
        if (lo)
            memset(d, 0, (size_t)lo * es);
        if (hi > lo)
            memcpy(d + (size_t)lo * es, s + (size_t)lo * es, (size_t)(hi - lo) * es);
        if (cols > hi)
            memset(d + (size_t)hi * es, 0, (size_t)(cols - hi) * es);
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- the table ----------------------------------------------------------- */

const skiff__op skiff__ops_shape[] = {
    {.type = "Identity", .min_opset = 1, .run = run_identity, .flags = SKIFF_OP_TAKES_SEQ},
    {.type = "Dropout", .min_opset = 1, .run = run_dropout},
    {.type = "Reshape", .min_opset = 1, .run = run_reshape},
    {.type = "Flatten", .min_opset = 1, .run = run_flatten},
    {.type = "Squeeze", .min_opset = 1, .run = run_squeeze},
    {.type = "Unsqueeze", .min_opset = 1, .run = run_unsqueeze},
    {.type = "Concat", .min_opset = 1, .run = run_concat},
    {.type = "Split", .min_opset = 1, .run = run_split},
    {.type = "Shape", .min_opset = 1, .run = run_shape},
    {.type = "Size", .min_opset = 1, .run = run_size},
    {.type = "Constant", .min_opset = 1, .run = run_constant},
    {.type = "ConstantOfShape", .min_opset = 9, .run = run_constant_of_shape},
    {.type = "Range", .min_opset = 11, .run = run_range},
    {.type = "EyeLike", .min_opset = 9, .run = run_eye_like},
    {.type = "Trilu", .min_opset = 14, .run = run_trilu},
    {.type = NULL},
};
