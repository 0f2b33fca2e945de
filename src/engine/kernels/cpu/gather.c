/* gather.c - kernels driven by index or mask tensors: Gather, GatherElements,
 * GatherND, Scatter/ScatterElements, ScatterND, TopK, NonZero, OneHot,
 * Compress, ReverseSequence.
 *
 * Indices from the model are outside input: every kernel validates all of
 * them (negative ones count from the end) before writing anything, so a bad
 * index is an INVALID_ARG status and never an out-of-bounds access. Parallel
 * loops therefore never need to report errors. Scatters run sequentially in
 * index order, because with duplicate indices the last update wins. */
#include <math.h>
#include <string.h>

#include "shape_int.h"

static skiff_status_t *check_index_type(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                        const char *what)
{
    if (t->dtype != SKIFF_DTYPE_INT64 && t->dtype != SKIFF_DTYPE_INT32)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected int32 or int64 indices, got %s", what,
                           skiff_dtype_name(t->dtype));
    return NULL;
}

static inline int64_t idx_at(const skiff_tensor_t *t, int64_t i)
{
    return t->dtype == SKIFF_DTYPE_INT64 ? ((const int64_t *)t->data)[i]
                                         : ((const int32_t *)t->data)[i];
}

static inline int64_t norm_idx(int64_t v, int64_t n) { return v < 0 ? v + n : v; }

static skiff_status_t *bad_index(const skiff__kctx *ctx, int64_t v, int64_t n, int axis)
{
    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                       "input 'indices': index %lld out of range [%lld, %lld) for axis %d",
                       (long long)v, (long long)-n, (long long)n, axis);
}

static char *sstr(const skiff_tensor_t *t, char *buf, size_t cap)
{
    return skiff_shape_str(t->ndim, t->dims, buf, cap);
}

/* ---- Gather -------------------------------------------------------------- */

#define GATHER_LOOP(T)                                                                             \
    do {                                                                                           \
        _Pragma("omp parallel for num_threads(nt) if (nt > 1)") for (int64_t t = 0; t < total;     \
                                                                     t++)                          \
        {                                                                                          \
            int64_t o = t / N, j = t % N;                                                          \
            ((T *)dst)[t] = ((const T *)src)[o * n + norm_idx(idx_at(ind, j), n)];                 \
        }                                                                                          \
    } while (0)

static skiff_status_t *run_gather(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "data")) || (st = skiff__kctx_need(ctx, 1, "indices")))
        return st;
    const skiff_tensor_t *x = ctx->in[0], *ind = ctx->in[1];
    if ((st = check_index_type(ctx, ind, "indices")))
        return st;
    if (x->ndim < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'data': expected rank >= 1, got 0");
    int axis;
    int64_t a64 = skiff__attr_int(ctx->node, "axis", 0);
    if (!skiff__norm_axis(a64, x->ndim, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                           (long long)a64, x->ndim);
    int r = x->ndim - 1 + ind->ndim;
    if (r > SKIFF_MAX_DIMS)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank %d above %d", r,
                           SKIFF_MAX_DIMS);
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x, "data", &es)))
        return st;
    int64_t n = x->dims[axis], N = skiff_tensor_numel(ind);
    for (int64_t j = 0; j < N; j++) {
        int64_t v = idx_at(ind, j);
        if (v < -n || v >= n)
            return bad_index(ctx, v, n, axis);
    }
    int64_t od[SKIFF_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < axis; i++)
        od[k++] = x->dims[i];
    for (int i = 0; i < ind->ndim; i++)
        od[k++] = ind->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        od[k++] = x->dims[i];
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, r, od, &st);
    if (!y)
        return st;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    int64_t total = outer * N;
    size_t row = (size_t)inner * es;
    if (total == 0 || row == 0)
        return NULL;
    int nt = (int64_t)row * total > 262144 ? skiff__kctx_threads(ctx) : 1;
    const char *src = x->data;
    char *dst = y->data;
    switch (row) {
    case 1: GATHER_LOOP(uint8_t); break;
    case 2: GATHER_LOOP(uint16_t); break;
    case 4: GATHER_LOOP(uint32_t); break;
    case 8: GATHER_LOOP(uint64_t); break;
    default:
#pragma omp parallel for num_threads(nt) if (nt > 1)
        for (int64_t t = 0; t < total; t++) {
            int64_t o = t / N, j = t % N;
            memcpy(dst + (size_t)t * row, src + (size_t)(o * n + norm_idx(idx_at(ind, j), n)) * row,
                   row);
        }
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- GatherElements ------------------------------------------------------ */

/* Checks the shared shape rule of GatherElements / ScatterElements: same
 * rank, and outside `axis` the index tensor fits inside the data. */
static skiff_status_t *check_elements_shape(const skiff__kctx *ctx, const skiff_tensor_t *x,
                                            const skiff_tensor_t *ind, int *axis)
{
    char b1[160], b2[160];
    if (ind->ndim != x->ndim || x->ndim < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'indices': shape %s must have the rank of data's %s (>= 1)",
                           sstr(ind, b1, sizeof(b1)), sstr(x, b2, sizeof(b2)));
    int64_t a64 = skiff__attr_int(ctx->node, "axis", 0);
    if (!skiff__norm_axis(a64, x->ndim, axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                           (long long)a64, x->ndim);
    for (int i = 0; i < x->ndim; i++)
        if (i != *axis && ind->dims[i] > x->dims[i])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'indices': shape %s exceeds data's %s on axis %d",
                               sstr(ind, b1, sizeof(b1)), sstr(x, b2, sizeof(b2)), i);
    int64_t n = x->dims[*axis], N = skiff_tensor_numel(ind);
    for (int64_t j = 0; j < N; j++) {
        int64_t v = idx_at(ind, j);
        if (v < -n || v >= n)
            return bad_index(ctx, v, n, *axis);
    }
    return NULL;
}

/* Data offset (in elements) of the start of index-row `row` (all coordinates
 * of `ind` but the last), ignoring the coordinate along `axis`. */
static int64_t row_base(const skiff_tensor_t *ind, const int64_t *xs, int axis, int64_t row)
{
    int64_t off = 0;
    for (int k = ind->ndim - 2; k >= 0; k--) {
        int64_t c = row % ind->dims[k];
        row /= ind->dims[k];
        if (k != axis)
            off += c * xs[k];
    }
    return off;
}

static skiff_status_t *run_gather_elements(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "data")) || (st = skiff__kctx_need(ctx, 1, "indices")))
        return st;
    const skiff_tensor_t *x = ctx->in[0], *ind = ctx->in[1];
    int axis = 0;
    size_t es = 0;
    if ((st = check_index_type(ctx, ind, "indices")) ||
        (st = skiff__shape_esize(ctx, x, "data", &es)) ||
        (st = check_elements_shape(ctx, x, ind, &axis)))
        return st;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, ind->ndim, ind->dims, &st);
    if (!y)
        return st;
    int64_t total = skiff_tensor_numel(ind);
    if (total == 0)
        return NULL;
    int r = x->ndim;
    int64_t xs[SKIFF_MAX_DIMS];
    skiff__shape_strides(r, x->dims, xs);
    int64_t L = ind->dims[r - 1], rows = total / L, n = x->dims[axis];
    int64_t sa = xs[axis], sl = axis == r - 1 ? 0 : 1;
    int nt = total > 32768 ? skiff__kctx_threads(ctx) : 1;
    const char *src = x->data;
    char *dst = y->data;
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t base = row_base(ind, xs, axis, row);
        for (int64_t j = 0; j < L; j++) {
            int64_t e = row * L + j;
            int64_t off = base + j * sl + norm_idx(idx_at(ind, e), n) * sa;
            skiff__shape_copy_elem(dst + (size_t)e * es, src + (size_t)off * es, es);
        }
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- GatherND ------------------------------------------------------------ */

/* Shared by GatherND and ScatterND: validates an index tuple tensor against
 * data and returns the per-tuple geometry. */
typedef struct nd_geom {
    int b;        /* batch dims */
    int64_t last; /* tuple length */
    int64_t B;    /* batch count */
    int64_t M;    /* tuples per batch */
    int64_t S;    /* elements per addressed slice */
    int64_t xbs;  /* data elements per batch */
    int64_t xs[SKIFF_MAX_DIMS];
} nd_geom;

static skiff_status_t *nd_check(const skiff__kctx *ctx, const skiff_tensor_t *x,
                                const skiff_tensor_t *ind, int b, nd_geom *g)
{
    char b1[160], b2[160];
    int r = x->ndim, q = ind->ndim;
    if (q < 1 || r < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "data %s and indices %s must both have rank >= 1",
                           sstr(x, b1, sizeof(b1)), sstr(ind, b2, sizeof(b2)));
    if (b < 0 || b >= q || b >= r)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "batch_dims %d invalid for ranks %d, %d", b,
                           r, q);
    int64_t last = ind->dims[q - 1];
    if (last < 1 || last > r - b)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'indices': last dimension %lld must be in [1, %d]",
                           (long long)last, r - b);
    for (int i = 0; i < b; i++)
        if (ind->dims[i] != x->dims[i])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "batch dimension %d differs: data %s, indices %s", i,
                               sstr(x, b1, sizeof(b1)), sstr(ind, b2, sizeof(b2)));
    g->b = b;
    g->last = last;
    g->B = 1;
    for (int i = 0; i < b; i++)
        g->B *= x->dims[i];
    g->M = 1;
    for (int i = b; i < q - 1; i++)
        g->M *= ind->dims[i];
    g->S = 1;
    for (int i = b + (int)last; i < r; i++)
        g->S *= x->dims[i];
    skiff__shape_strides(r, x->dims, g->xs);
    g->xbs = b > 0 ? g->xs[b - 1] : skiff_tensor_numel(x);
    int64_t ntup = g->B * g->M;
    for (int64_t t = 0; t < ntup; t++)
        for (int64_t k = 0; k < last; k++) {
            int64_t v = idx_at(ind, t * last + k), n = x->dims[b + k];
            if (v < -n || v >= n)
                return bad_index(ctx, v, n, b + (int)k);
        }
    return NULL;
}

static inline int64_t nd_offset(const skiff_tensor_t *x, const skiff_tensor_t *ind,
                                const nd_geom *g, int64_t t)
{
    int64_t off = (t / g->M) * g->xbs;
    for (int64_t k = 0; k < g->last; k++)
        off += norm_idx(idx_at(ind, t * g->last + k), x->dims[g->b + k]) * g->xs[g->b + k];
    return off;
}

static skiff_status_t *run_gather_nd(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "data")) || (st = skiff__kctx_need(ctx, 1, "indices")))
        return st;
    const skiff_tensor_t *x = ctx->in[0], *ind = ctx->in[1];
    size_t es = 0;
    if ((st = check_index_type(ctx, ind, "indices")) ||
        (st = skiff__shape_esize(ctx, x, "data", &es)))
        return st;
    nd_geom g;
    int b = (int)skiff__attr_int(ctx->node, "batch_dims", 0);
    if ((st = nd_check(ctx, x, ind, b, &g)))
        return st;
    int64_t od[SKIFF_MAX_DIMS];
    int r = 0;
    if (ind->ndim - 1 + x->ndim - b - (int)g.last > SKIFF_MAX_DIMS)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank above %d", SKIFF_MAX_DIMS);
    for (int i = 0; i < ind->ndim - 1; i++)
        od[r++] = ind->dims[i];
    for (int i = b + (int)g.last; i < x->ndim; i++)
        od[r++] = x->dims[i];
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, r, od, &st);
    if (!y)
        return st;
    int64_t ntup = g.B * g.M;
    size_t slice = (size_t)g.S * es;
    if (ntup == 0 || slice == 0)
        return NULL;
    int nt = (int64_t)slice * ntup > 262144 ? skiff__kctx_threads(ctx) : 1;
    const char *src = x->data;
    char *dst = y->data;
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t t = 0; t < ntup; t++)
        memcpy(dst + (size_t)t * slice, src + (size_t)nd_offset(x, ind, &g, t) * es, slice);
    return skiff__shape_own_strings(ctx, y);
}

/* ---- scatter reductions -------------------------------------------------- */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static skiff_status_t *read_reduction(const skiff__kctx *ctx, const skiff_tensor_t *x, int *red)
{
    const char *s = skiff__attr_str(ctx->node, "reduction", "none");
    if (strcmp(s, "none") == 0)
        *red = RED_NONE;
    else if (strcmp(s, "add") == 0)
        *red = RED_ADD;
    else if (strcmp(s, "mul") == 0)
        *red = RED_MUL;
    else if (strcmp(s, "max") == 0)
        *red = RED_MAX;
    else if (strcmp(s, "min") == 0)
        *red = RED_MIN;
    else
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'reduction': unknown '%s'", s);
    if (*red == RED_NONE)
        return NULL;
    if (skiff__dtype_is_numeric(x->dtype))
        return NULL;
    return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "reduction '%s' on %s", s,
                       skiff_dtype_name(x->dtype));
}

#define RED_LOOP(T, CT)                                                                            \
    do {                                                                                           \
        T *d_ = dst;                                                                               \
        const T *s_ = src;                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            CT a = (CT)d_[i], b = (CT)s_[i];                                                       \
            CT v = red == RED_ADD   ? a + b                                                        \
                   : red == RED_MUL ? a * b                                                        \
                   : red == RED_MAX ? (a > b ? a : b)                                              \
                                    : (a < b ? a : b);                                             \
            d_[i] = (T)v;                                                                          \
        }                                                                                          \
    } while (0)

/* Combines n contiguous update elements into dst. Integer add/mul wrap as
 * unsigned arithmetic does, never overflowing signed types. */
static void apply_reduction(void *dst, const void *src, int64_t n, skiff_dtype_t dt, size_t es,
                            int red)
{
    if (red == RED_NONE) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    switch (dt) {
    case SKIFF_DTYPE_FLOAT32: RED_LOOP(float, float); break;
    case SKIFF_DTYPE_FLOAT64: RED_LOOP(double, double); break;
    case SKIFF_DTYPE_FLOAT16:
    case SKIFF_DTYPE_BFLOAT16: {
        uint16_t *d_ = dst;
        const uint16_t *s_ = src;
        bool h = dt == SKIFF_DTYPE_FLOAT16;
        for (int64_t i = 0; i < n; i++) {
            float a = h ? skiff__f16_to_f32(d_[i]) : skiff__bf16_to_f32(d_[i]);
            float b = h ? skiff__f16_to_f32(s_[i]) : skiff__bf16_to_f32(s_[i]);
            float v = red == RED_ADD   ? a + b
                      : red == RED_MUL ? a * b
                      : red == RED_MAX ? fmaxf(a, b)
                                       : fminf(a, b);
            d_[i] = h ? skiff__f32_to_f16(v) : skiff__f32_to_bf16(v);
        }
        break;
    }
    case SKIFF_DTYPE_INT8:
    case SKIFF_DTYPE_INT16:
    case SKIFF_DTYPE_INT32:
    case SKIFF_DTYPE_INT64:
        if (red == RED_MAX || red == RED_MIN) {
            switch (es) {
            case 1: RED_LOOP(int8_t, int8_t); break;
            case 2: RED_LOOP(int16_t, int16_t); break;
            case 4: RED_LOOP(int32_t, int32_t); break;
            default: RED_LOOP(int64_t, int64_t); break;
            }
            break;
        }
        /* add/mul as unsigned (two's-complement wrap) */
        __attribute__((fallthrough));
    default:
        switch (es) {
        case 1: RED_LOOP(uint8_t, uint32_t); break;
        case 2: RED_LOOP(uint16_t, uint32_t); break;
        case 4: RED_LOOP(uint32_t, uint64_t); break;
        default: RED_LOOP(uint64_t, uint64_t); break;
        }
    }
}

/* ---- Scatter / ScatterElements ------------------------------------------- */

static skiff_status_t *run_scatter_elements(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "data")) || (st = skiff__kctx_need(ctx, 1, "indices")) ||
        (st = skiff__kctx_need(ctx, 2, "updates")))
        return st;
    const skiff_tensor_t *x = ctx->in[0], *ind = ctx->in[1], *u = ctx->in[2];
    int axis = 0, red = RED_NONE;
    size_t es = 0;
    if ((st = check_index_type(ctx, ind, "indices")) ||
        (st = skiff__shape_esize(ctx, x, "data", &es)) ||
        (st = check_elements_shape(ctx, x, ind, &axis)) || (st = read_reduction(ctx, x, &red)))
        return st;
    char b1[160], b2[160];
    bool same = u->ndim == ind->ndim && u->dtype == x->dtype;
    for (int i = 0; same && i < u->ndim; i++)
        same = u->dims[i] == ind->dims[i];
    if (!same)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'updates': %s %s must match indices' shape %s and data's type %s",
                           skiff_dtype_name(u->dtype), sstr(u, b1, sizeof(b1)),
                           sstr(ind, b2, sizeof(b2)), skiff_dtype_name(x->dtype));
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, x->ndim, x->dims, &st);
    if (!y)
        return st;
    if (skiff_tensor_numel(x) > 0)
        memcpy(y->data, x->data, (size_t)skiff_tensor_numel(x) * es);
    int64_t total = skiff_tensor_numel(ind);
    if (total > 0) {
        int r = x->ndim;
        int64_t xs[SKIFF_MAX_DIMS];
        skiff__shape_strides(r, x->dims, xs);
        int64_t L = ind->dims[r - 1], rows = total / L, n = x->dims[axis];
        int64_t sa = xs[axis], sl = axis == r - 1 ? 0 : 1;
        char *dst = y->data;
        const char *src = u->data;
        for (int64_t row = 0; row < rows; row++) {
            int64_t base = row_base(ind, xs, axis, row);
            for (int64_t j = 0; j < L; j++) {
                int64_t e = row * L + j;
                int64_t off = base + j * sl + norm_idx(idx_at(ind, e), n) * sa;
                apply_reduction(dst + (size_t)off * es, src + (size_t)e * es, 1, x->dtype, es, red);
            }
        }
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- ScatterND ----------------------------------------------------------- */

static skiff_status_t *run_scatter_nd(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "data")) || (st = skiff__kctx_need(ctx, 1, "indices")) ||
        (st = skiff__kctx_need(ctx, 2, "updates")))
        return st;
    const skiff_tensor_t *x = ctx->in[0], *ind = ctx->in[1], *u = ctx->in[2];
    int red = RED_NONE;
    size_t es = 0;
    nd_geom g;
    if ((st = check_index_type(ctx, ind, "indices")) ||
        (st = skiff__shape_esize(ctx, x, "data", &es)) || (st = read_reduction(ctx, x, &red)) ||
        (st = nd_check(ctx, x, ind, 0, &g)))
        return st;
    /* updates: indices.shape[:-1] + data.shape[last:] */
    char b1[160], b2[160];
    int ur = ind->ndim - 1 + x->ndim - (int)g.last;
    bool ok = u->ndim == ur && u->dtype == x->dtype;
    for (int i = 0; ok && i < ind->ndim - 1; i++)
        ok = u->dims[i] == ind->dims[i];
    for (int i = (int)g.last; ok && i < x->ndim; i++)
        ok = u->dims[ind->ndim - 1 + i - g.last] == x->dims[i];
    if (!ok)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'updates': %s %s does not fit indices %s into data %s",
                           skiff_dtype_name(u->dtype), sstr(u, b1, sizeof(b1)),
                           sstr(ind, b2, sizeof(b2)), skiff_dtype_name(x->dtype));
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, x->ndim, x->dims, &st);
    if (!y)
        return st;
    if (skiff_tensor_numel(x) > 0)
        memcpy(y->data, x->data, (size_t)skiff_tensor_numel(x) * es);
    char *dst = y->data;
    const char *src = u->data;
    for (int64_t t = 0; t < g.M; t++)
        apply_reduction(dst + (size_t)nd_offset(x, ind, &g, t) * es, src + (size_t)(t * g.S) * es,
                        g.S, x->dtype, es, red);
    return skiff__shape_own_strings(ctx, y);
}

/* ---- TopK ---------------------------------------------------------------- */

/* Rows are converted to one of four key types, then selected with a heap of
 * k indices whose root is the worst kept element: O(n log k). The order is
 * total (ties go to the lower index; NaN ranks above every number, as in
 * numpy's sort), so results are deterministic and sorted best first. */
#define FGT(a, b) ((isnan(a) && !isnan(b)) || (a) > (b))
#define FEQ(a, b) ((a) == (b) || (isnan(a) && isnan(b)))
#define IGT(a, b) ((a) > (b))
#define IEQ(a, b) ((a) == (b))

#define DEFINE_SELECT(NAME, K, GT, EQ)                                                             \
    static inline bool NAME##_better(const K *key, int64_t a, int64_t b, bool largest)             \
    {                                                                                              \
        K ka = key[a], kb = key[b];                                                                \
        if (EQ(ka, kb))                                                                            \
            return a < b;                                                                          \
        return largest ? GT(ka, kb) : GT(kb, ka);                                                  \
    }                                                                                              \
    static void NAME##_sift(const K *key, int64_t *h, int64_t size, int64_t p, bool largest)       \
    {                                                                                              \
        for (;;) {                                                                                 \
            int64_t w = p, c = 2 * p + 1;                                                          \
            if (c < size && NAME##_better(key, h[w], h[c], largest))                               \
                w = c;                                                                             \
            if (c + 1 < size && NAME##_better(key, h[w], h[c + 1], largest))                       \
                w = c + 1;                                                                         \
            if (w == p)                                                                            \
                return;                                                                            \
            int64_t t = h[p];                                                                      \
            h[p] = h[w];                                                                           \
            h[w] = t;                                                                              \
            p = w;                                                                                 \
        }                                                                                          \
    }                                                                                              \
    static void NAME(const void *keyv, int64_t n, int64_t k, bool largest, int64_t *h)             \
    {                                                                                              \
        const K *key = keyv;                                                                       \
        int64_t size = 0;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            if (size < k) {                                                                        \
                int64_t c = size++;                                                                \
                h[c] = i;                                                                          \
                while (c > 0) {                                                                    \
                    int64_t p = (c - 1) / 2;                                                       \
                    if (!NAME##_better(key, h[p], h[c], largest))                                  \
                        break;                                                                     \
                    int64_t t = h[p];                                                              \
                    h[p] = h[c];                                                                   \
                    h[c] = t;                                                                      \
                    c = p;                                                                         \
                }                                                                                  \
            } else if (NAME##_better(key, i, h[0], largest)) {                                     \
                h[0] = i;                                                                          \
                NAME##_sift(key, h, size, 0, largest);                                             \
            }                                                                                      \
        }                                                                                          \
        for (int64_t end = size - 1; end > 0; end--) {                                             \
            int64_t t = h[0];                                                                      \
            h[0] = h[end];                                                                         \
            h[end] = t;                                                                            \
            NAME##_sift(key, h, end, 0, largest);                                                  \
        }                                                                                          \
    }

DEFINE_SELECT(select_f32, float, FGT, FEQ)
DEFINE_SELECT(select_f64, double, FGT, FEQ)
DEFINE_SELECT(select_i64, int64_t, IGT, IEQ)
DEFINE_SELECT(select_u64, uint64_t, IGT, IEQ)

typedef void (*select_fn)(const void *key, int64_t n, int64_t k, bool largest, int64_t *h);

/* Loads row elements src[j * stride] (j < n) as keys. */
static void load_keys(void *key, const char *src, skiff_dtype_t dt, int64_t n, int64_t stride)
{
    switch (dt) {
#define LOAD(T, K, CONV)                                                                           \
    for (int64_t j = 0; j < n; j++)                                                                \
        ((K *)key)[j] = CONV(((const T *)src)[j * stride]);                                        \
    break;
#define ID(v) (v)
    case SKIFF_DTYPE_FLOAT32: LOAD(float, float, ID)
    case SKIFF_DTYPE_FLOAT16: LOAD(uint16_t, float, skiff__f16_to_f32)
    case SKIFF_DTYPE_BFLOAT16: LOAD(uint16_t, float, skiff__bf16_to_f32)
    case SKIFF_DTYPE_FLOAT64: LOAD(double, double, ID)
    case SKIFF_DTYPE_INT8: LOAD(int8_t, int64_t, ID)
    case SKIFF_DTYPE_INT16: LOAD(int16_t, int64_t, ID)
    case SKIFF_DTYPE_INT32: LOAD(int32_t, int64_t, ID)
    case SKIFF_DTYPE_INT64: LOAD(int64_t, int64_t, ID)
    case SKIFF_DTYPE_UINT8: LOAD(uint8_t, uint64_t, ID)
    case SKIFF_DTYPE_UINT16: LOAD(uint16_t, uint64_t, ID)
    case SKIFF_DTYPE_UINT32: LOAD(uint32_t, uint64_t, ID)
    case SKIFF_DTYPE_UINT64: LOAD(uint64_t, uint64_t, ID)
#undef LOAD
#undef ID
    default: break;
    }
}

static skiff_status_t *run_topk(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "X");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    const skiff__node *node = ctx->node;
    select_fn sel;
    switch (x->dtype) {
    case SKIFF_DTYPE_FLOAT32:
    case SKIFF_DTYPE_FLOAT16:
    case SKIFF_DTYPE_BFLOAT16: sel = select_f32; break;
    case SKIFF_DTYPE_FLOAT64: sel = select_f64; break;
    case SKIFF_DTYPE_INT8:
    case SKIFF_DTYPE_INT16:
    case SKIFF_DTYPE_INT32:
    case SKIFF_DTYPE_INT64: sel = select_i64; break;
    case SKIFF_DTYPE_UINT8:
    case SKIFF_DTYPE_UINT16:
    case SKIFF_DTYPE_UINT32:
    case SKIFF_DTYPE_UINT64: sel = select_u64; break;
    default:
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': unsupported element type %s",
                           skiff_dtype_name(x->dtype));
    }
    if (x->ndim < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': expected rank >= 1, got 0");
    int axis;
    int64_t a64 = skiff__attr_int(node, "axis", -1);
    if (!skiff__norm_axis(a64, x->ndim, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                           (long long)a64, x->ndim);
    int64_t k;
    if (node->opset < 10) {
        if (!skiff__attr_find(node, "k"))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing attribute 'k'");
        k = skiff__attr_int(node, "k", 0);
    } else {
        if ((st = skiff__kctx_need(ctx, 1, "K")))
            return st;
        const skiff_tensor_t *tk = ctx->in[1];
        if (skiff_tensor_numel(tk) != 1 || tk->ndim > 1 ||
            (tk->dtype != SKIFF_DTYPE_INT64 && tk->dtype != SKIFF_DTYPE_INT32))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'K': expected one int64 value");
        k = skiff__tensor_get_i64(tk, 0);
    }
    int64_t n = x->dims[axis];
    if (k < 0 || k > n)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "k = %lld outside [0, %lld] for axis %d",
                           (long long)k, (long long)n, axis);
    bool largest = skiff__attr_int(node, "largest", 1) != 0;
    int64_t od[SKIFF_MAX_DIMS];
    memcpy(od, x->dims, sizeof(od));
    od[axis] = k;
    skiff_tensor_t *yv = skiff__kctx_output(ctx, 0, x->dtype, x->ndim, od, &st);
    if (!yv)
        return st;
    skiff_tensor_t *yi = skiff__kctx_output(ctx, 1, SKIFF_DTYPE_INT64, x->ndim, od, &st);
    if (!yi)
        return st;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    int64_t rows = outer * inner;
    if (rows == 0 || k == 0)
        return NULL;
    size_t es = skiff_dtype_size(x->dtype);
    int nt = rows * n > 32768 ? skiff__kctx_threads(ctx) : 1;
    if (nt > rows)
        nt = (int)rows;
    /* per-thread scratch: n keys (8 bytes) and k heap slots */
    size_t per = (size_t)(n + k);
    int64_t *scratch = skiff__malloc(per * (size_t)nt * sizeof(int64_t));
    if (!scratch)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for TopK scratch");
    const char *src = x->data;
    char *vdst = yv->data;
    int64_t *idst = yi->data;
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
    for (int c = 0; c < nt; c++) {
        int64_t *key = scratch + per * (size_t)c, *h = key + n;
        int64_t b = rows * c / nt, e = rows * (c + 1) / nt;
        for (int64_t row = b; row < e; row++) {
            int64_t o = row / inner, i = row % inner;
            const char *rs = src + (size_t)(o * n * inner + i) * es;
            load_keys(key, rs, x->dtype, n, inner);
            sel(key, n, k, largest, h);
            int64_t ob = o * k * inner + i;
            for (int64_t j = 0; j < k; j++) {
                idst[ob + j * inner] = h[j];
                skiff__shape_copy_elem(vdst + (size_t)(ob + j * inner) * es,
                                       rs + (size_t)(h[j] * inner) * es, es);
            }
        }
    }
    skiff__free(scratch);
    return NULL;
}

/* ---- NonZero ------------------------------------------------------------- */

static bool elem_nonzero(const char *p, skiff_dtype_t dt, size_t es)
{
    switch (dt) {
    case SKIFF_DTYPE_FLOAT32: return *(const float *)p != 0.0f;
    case SKIFF_DTYPE_FLOAT64: return *(const double *)p != 0.0;
    case SKIFF_DTYPE_FLOAT16:
    case SKIFF_DTYPE_BFLOAT16: return (*(const uint16_t *)p & 0x7fff) != 0;
    default:
        for (size_t i = 0; i < es; i++)
            if (p[i])
                return true;
        return false;
    }
}

static skiff_status_t *run_nonzero(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "X");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x, "X", &es)))
        return st;
    if (x->dtype == SKIFF_DTYPE_STRING)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': string tensors");
    int64_t n = skiff_tensor_numel(x), nnz = 0;
    const char *src = x->data;
    for (int64_t i = 0; i < n; i++)
        nnz += elem_nonzero(src + (size_t)i * es, x->dtype, es);
    /* a scalar is treated as shape [1], as numpy does */
    int r = x->ndim > 0 ? x->ndim : 1;
    int64_t dims1 = 1;
    const int64_t *xd = x->ndim > 0 ? x->dims : &dims1;
    int64_t od[2] = {r, nnz};
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_INT64, 2, od, &st);
    if (!y)
        return st;
    int64_t *out = y->data, c[SKIFF_MAX_DIMS] = {0}, j = 0;
    for (int64_t i = 0; i < n; i++) {
        if (elem_nonzero(src + (size_t)i * es, x->dtype, es)) {
            for (int k = 0; k < r; k++)
                out[k * nnz + j] = c[k];
            j++;
        }
        for (int k = r - 1; k >= 0; k--) {
            if (++c[k] < xd[k])
                break;
            c[k] = 0;
        }
    }
    return NULL;
}

/* ---- OneHot -------------------------------------------------------------- */

static skiff_status_t *run_onehot(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "indices")) || (st = skiff__kctx_need(ctx, 1, "depth")) ||
        (st = skiff__kctx_need(ctx, 2, "values")))
        return st;
    const skiff_tensor_t *ind = ctx->in[0], *td = ctx->in[1], *tv = ctx->in[2];
    if (skiff_tensor_numel(td) != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'depth': expected one value, got %lld",
                           (long long)skiff_tensor_numel(td));
    if (skiff_tensor_numel(tv) != 2 || tv->ndim != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'values': expected [off, on]");
    if (ind->dtype == SKIFF_DTYPE_STRING || skiff_dtype_size(ind->dtype) == 0)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'indices': type %s",
                           skiff_dtype_name(ind->dtype));
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, tv, "values", &es)))
        return st;
    double dd = skiff__tensor_get_f64(td, 0);
    if (!(dd >= 1 && dd <= 1e9))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'depth': %g is not a valid depth",
                           dd);
    int64_t depth = (int64_t)dd;
    int r = ind->ndim + 1;
    if (r > SKIFF_MAX_DIMS)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank %d above %d", r,
                           SKIFF_MAX_DIMS);
    int axis;
    int64_t a64 = skiff__attr_int(ctx->node, "axis", -1);
    if (!skiff__norm_axis(a64, r, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                           (long long)a64, r);
    int64_t od[SKIFF_MAX_DIMS];
    for (int i = 0, j = 0; i < r; i++)
        od[i] = i == axis ? depth : ind->dims[j++];
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, tv->dtype, r, od, &st);
    if (!y)
        return st;
    int64_t total = skiff_tensor_numel(y);
    if (total == 0)
        return NULL;
    const char *off = tv->data, *on = off + es;
    skiff__shape_fill(y->data, off, es, total);
    int64_t inner = 1;
    for (int i = axis; i < ind->ndim; i++)
        inner *= ind->dims[i];
    int64_t n = skiff_tensor_numel(ind);
    char *dst = y->data;
    for (int64_t e = 0; e < n; e++) {
        int64_t v = skiff__tensor_get_i64(ind, e);
        if (v < 0)
            v += depth;
        if (v < 0 || v >= depth)
            continue;
        int64_t o = e / inner, i = e % inner;
        memcpy(dst + (size_t)((o * depth + v) * inner + i) * es, on, es);
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- Compress ------------------------------------------------------------ */

static skiff_status_t *run_compress(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "input")) || (st = skiff__kctx_need(ctx, 1, "condition")))
        return st;
    const skiff_tensor_t *x = ctx->in[0], *cond = ctx->in[1];
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x, "input", &es)))
        return st;
    if (cond->ndim != 1 || cond->dtype == SKIFF_DTYPE_STRING || skiff_dtype_size(cond->dtype) == 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'condition': expected a 1-D bool tensor, got rank %d %s",
                           cond->ndim, skiff_dtype_name(cond->dtype));
    const skiff__attr *aa = skiff__attr_find(ctx->node, "axis");
    int axis = -1;
    int64_t outer = 1, inner = 1, dim;
    if (aa) {
        int64_t a64 = skiff__attr_int(ctx->node, "axis", 0);
        if (!skiff__norm_axis(a64, x->ndim, &axis))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld out of range for rank %d",
                               (long long)a64, x->ndim);
        dim = x->dims[axis];
        for (int i = 0; i < axis; i++)
            outer *= x->dims[i];
        for (int i = axis + 1; i < x->ndim; i++)
            inner *= x->dims[i];
    } else {
        dim = skiff_tensor_numel(x);
    }
    int64_t nc = cond->dims[0] < dim ? cond->dims[0] : dim, cnt = 0;
    for (int64_t i = 0; i < nc; i++)
        cnt += skiff__tensor_get_f64(cond, i) != 0;
    int64_t od[SKIFF_MAX_DIMS];
    int r = 1;
    if (aa) {
        memcpy(od, x->dims, sizeof(od));
        od[axis] = cnt;
        r = x->ndim;
    } else {
        od[0] = cnt;
    }
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, r, od, &st);
    if (!y)
        return st;
    size_t row = (size_t)inner * es;
    const char *src = x->data;
    char *dst = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < nc; i++)
            if (skiff__tensor_get_f64(cond, i) != 0) {
                memcpy(dst, src + (size_t)(o * dim + i) * row, row);
                dst += row;
            }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- ReverseSequence ----------------------------------------------------- */

static skiff_status_t *run_reverse_sequence(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "input")) ||
        (st = skiff__kctx_need(ctx, 1, "sequence_lens")))
        return st;
    const skiff_tensor_t *x = ctx->in[0], *sl = ctx->in[1];
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x, "input", &es)))
        return st;
    if (x->ndim < 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input': expected rank >= 2, got %d",
                           x->ndim);
    int64_t ta = skiff__attr_int(ctx->node, "time_axis", 0);
    int64_t ba = skiff__attr_int(ctx->node, "batch_axis", 1);
    if (!((ta == 0 && ba == 1) || (ta == 1 && ba == 0)))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "time_axis %lld and batch_axis %lld must be 0 and 1 in some order",
                           (long long)ta, (long long)ba);
    int64_t T = x->dims[ta], B = x->dims[ba];
    if (sl->ndim != 1 || sl->dims[0] != B ||
        (sl->dtype != SKIFF_DTYPE_INT64 && sl->dtype != SKIFF_DTYPE_INT32))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'sequence_lens': expected int64 [%lld]", (long long)B);
    for (int64_t b = 0; b < B; b++) {
        int64_t v = idx_at(sl, b);
        if (v < 0 || v > T)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sequence_lens': length %lld outside [0, %lld]", (long long)v,
                               (long long)T);
    }
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, x->ndim, x->dims, &st);
    if (!y)
        return st;
    int64_t inner = 1;
    for (int i = 2; i < x->ndim; i++)
        inner *= x->dims[i];
    size_t row = (size_t)inner * es;
    int64_t st_t = ta == 0 ? B * inner : inner, st_b = ta == 0 ? inner : T * inner;
    const char *src = x->data;
    char *dst = y->data;
    if (row) {
        for (int64_t b = 0; b < B; b++) {
            int64_t len = idx_at(sl, b);
            for (int64_t t = 0; t < T; t++) {
                int64_t s = t < len ? len - 1 - t : t;
                memcpy(dst + (size_t)(t * st_t + b * st_b) * es,
                       src + (size_t)(s * st_t + b * st_b) * es, row);
            }
        }
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- table ---- */

const skiff__op skiff__ops_gather[] = {
    {.type = "Gather", .min_opset = 1, .run = run_gather},
    {.type = "GatherElements", .min_opset = 11, .run = run_gather_elements},
    {.type = "GatherND", .min_opset = 11, .run = run_gather_nd},
    {.type = "Scatter", .min_opset = 9, .run = run_scatter_elements},
    {.type = "ScatterElements", .min_opset = 11, .run = run_scatter_elements},
    {.type = "ScatterND", .min_opset = 11, .run = run_scatter_nd},
    {.type = "TopK", .min_opset = 1, .run = run_topk},
    {.type = "NonZero", .min_opset = 9, .run = run_nonzero},
    {.type = "OneHot", .min_opset = 9, .run = run_onehot},
    {.type = "Compress", .min_opset = 9, .run = run_compress},
    {.type = "ReverseSequence", .min_opset = 10, .run = run_reverse_sequence},
    {.type = NULL},
};
