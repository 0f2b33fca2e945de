/* sample.c - GridSample (opset 16: 4-D input, every mode and padding mode)
 * and MaxUnpool (opset 9+).
 *
 * GridSample reads, for each output pixel, a normalised location (x, y) in
 * [-1, 1] from the grid and interpolates the input there. The definition is
 * torch.nn.functional.grid_sample's, which the operator names:
 *   - unnormalise: align_corners: x' = (x + 1) / 2 * (W - 1); otherwise
 *     x' = ((x + 1) * W - 1) / 2 (extrema at the corner pixels' edges);
 *   - padding 'border' clamps a location to [0, W-1]; 'reflection' mirrors
 *     it at the borders (at the pixel centres with align_corners, at their
 *     outer edges without) until it is inside, then clamps; 'zeros' leaves
 *     it and reads 0 for every tap outside the input;
 *   - 'nearest' rounds half to even; 'bilinear' weighs the 2x2 taps;
 *     'bicubic' the 4x4 taps with the cubic convolution kernel (A = -0.75),
 *     applying the padding rule to each tap's location rather than to the
 *     sampled location.
 * Computed in double, for float16, float and double inputs.
 *
 * MaxUnpool scatters X into a zero tensor at the flat positions MaxPool
 * returned as its indices; its shape is output_shape when given, else
 * (in - 1) * stride - pads + kernel per spatial axis. */
#include <math.h>
#include <string.h>

#include "../../engine_int.h"

/* ==== GridSample =============================================================== */

typedef enum gs_mode { GS_BILINEAR, GS_NEAREST, GS_BICUBIC } gs_mode;
typedef enum gs_pad { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_pad;

typedef struct gs_params {
    gs_mode mode;
    gs_pad pad;
    bool align;
} gs_params;

static double gs_unnormalize(double v, int64_t size, bool align)
{
    return align ? (v + 1.0) / 2.0 * (double)(size - 1) : ((v + 1.0) * (double)size - 1.0) / 2.0;
}

/* Mirrors v into [lo2/2, hi2/2] (bounds given doubled, so half-pixel bounds
 * stay exact). */
static double gs_reflect(double v, double lo2, double hi2)
{
    if (lo2 == hi2)
        return 0.0;
    double mn = lo2 / 2.0, span = (hi2 - lo2) / 2.0;
    v = fabs(v - mn);
    double extra = fmod(v, span);
    double flips = floor(v / span);
    return fmod(flips, 2.0) == 0.0 ? extra + mn : span - extra + mn;
}

static double gs_clip(double v, int64_t size)
{
    double hi = (double)(size - 1);
    return v < 0.0 ? 0.0 : v > hi ? hi : v;
}

/* The padding rule for a location on an axis of `size` pixels. */
static double gs_pad_coord(double v, int64_t size, const gs_params *p)
{
    if (p->pad == GS_BORDER)
        return gs_clip(v, size);
    if (p->pad == GS_REFLECTION) {
        v = p->align ? gs_reflect(v, 0.0, 2.0 * (double)(size - 1))
                     : gs_reflect(v, -1.0, 2.0 * (double)size - 1.0);
        return gs_clip(v, size);
    }
    return v;
}

/* A sampling location as a pixel index: NaN and locations far outside
 * (where a cast to an integer would be undefined) become -1, outside. */
static inline int64_t gs_index(double v)
{
    if (!(v >= -1.0 && v < 4.0e18))
        return -1;
    return (int64_t)v;
}

/* Pixel (y, x) of one plane, 0 outside. */
static inline double gs_at(const skiff_tensor_t *X, int64_t base, int64_t H, int64_t W, int64_t y,
                           int64_t x)
{
    if (y < 0 || y >= H || x < 0 || x >= W)
        return 0.0;
    return skiff__tensor_get_f64(X, base + y * W + x);
}

static void gs_cubic_weights(double t, double w[4])
{
    const double A = -0.75;
    double x1 = t + 1.0, x2 = t, x3 = 1.0 - t, x4 = 2.0 - t;
    w[0] = ((A * x1 - 5.0 * A) * x1 + 8.0 * A) * x1 - 4.0 * A;
    w[1] = ((A + 2.0) * x2 - (A + 3.0)) * x2 * x2 + 1.0;
    w[2] = ((A + 2.0) * x3 - (A + 3.0)) * x3 * x3 + 1.0;
    w[3] = ((A * x4 - 5.0 * A) * x4 + 8.0 * A) * x4 - 4.0 * A;
}

/* One tap of the bicubic stencil: the padding rule on its location. */
static double gs_cubic_tap(const skiff_tensor_t *X, int64_t base, int64_t H, int64_t W, double y,
                           double x, const gs_params *p)
{
    y = gs_pad_coord(y, H, p);
    x = gs_pad_coord(x, W, p);
    return gs_at(X, base, H, W, gs_index(floor(y)), gs_index(floor(x)));
}

static double gs_sample(const skiff_tensor_t *X, int64_t base, int64_t H, int64_t W, double gx,
                        double gy, const gs_params *p)
{
    double x = gs_unnormalize(gx, W, p->align), y = gs_unnormalize(gy, H, p->align);
    if (p->mode == GS_BICUBIC) {
        double x0 = floor(x), y0 = floor(y), wx[4], wy[4], acc = 0.0;
        gs_cubic_weights(x - x0, wx);
        gs_cubic_weights(y - y0, wy);
        for (int i = 0; i < 4; i++) {
            double row = 0.0;
            for (int j = 0; j < 4; j++)
                row += wx[j] * gs_cubic_tap(X, base, H, W, y0 - 1.0 + i, x0 - 1.0 + j, p);
            acc += wy[i] * row;
        }
        return acc;
    }
    x = gs_pad_coord(x, W, p);
    y = gs_pad_coord(y, H, p);
    if (p->mode == GS_NEAREST)
        return gs_at(X, base, H, W, gs_index(nearbyint(y)), gs_index(nearbyint(x)));
    double x0 = floor(x), y0 = floor(y), lx = x - x0, ly = y - y0;
    /* Both taps of an axis are outside when x0 < -1 or x0 >= size (and for
     * NaN), so the integer casts below only see small values. */
    if (!(x0 >= -1.0 && x0 < (double)W && y0 >= -1.0 && y0 < (double)H))
        return 0.0;
    int64_t ix = (int64_t)x0, iy = (int64_t)y0;
    return (1.0 - ly) *
               ((1.0 - lx) * gs_at(X, base, H, W, iy, ix) + lx * gs_at(X, base, H, W, iy, ix + 1)) +
           ly * ((1.0 - lx) * gs_at(X, base, H, W, iy + 1, ix) +
                 lx * gs_at(X, base, H, W, iy + 1, ix + 1));
}

static skiff_status_t *gs_read_params(const skiff__kctx *ctx, gs_params *p)
{
    const char *m = skiff__attr_str(ctx->node, "mode", "bilinear");
    const char *pm = skiff__attr_str(ctx->node, "padding_mode", "zeros");
    int64_t ac = skiff__attr_int(ctx->node, "align_corners", 0);
    if (strcmp(m, "bilinear") == 0 || strcmp(m, "linear") == 0)
        p->mode = GS_BILINEAR;
    else if (strcmp(m, "nearest") == 0)
        p->mode = GS_NEAREST;
    else if (strcmp(m, "bicubic") == 0 || strcmp(m, "cubic") == 0)
        p->mode = GS_BICUBIC;
    else
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'mode': expected 'bilinear', 'nearest' or 'bicubic', got "
                           "'%s'",
                           m);
    if (strcmp(pm, "zeros") == 0)
        p->pad = GS_ZEROS;
    else if (strcmp(pm, "border") == 0)
        p->pad = GS_BORDER;
    else if (strcmp(pm, "reflection") == 0)
        p->pad = GS_REFLECTION;
    else
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'padding_mode': expected 'zeros', 'border' or "
                           "'reflection', got '%s'",
                           pm);
    if (ac != 0 && ac != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'align_corners': expected 0 or 1, got %lld", (long long)ac);
    p->align = ac == 1;
    return NULL;
}

static skiff_status_t *run_gridsample(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *G;
    skiff_status_t *st;
    gs_params p = {0};
    if ((st = skiff__kctx_input(ctx, 0, "X", &X)) || (st = skiff__kctx_input(ctx, 1, "grid", &G)) ||
        (st = gs_read_params(ctx, &p)))
        return st;
    char a[64], b[64];
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    if (!skiff__dtype_is_float(G->dtype))
        return skiff__kctx_bad_dtype(ctx, "grid", G->dtype);
    if (X->ndim != 4)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "input 'X': only 4-D (N, C, H, W) inputs are supported, got %s",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)));
    if (G->ndim != 4 || G->dims[0] != X->dims[0] || G->dims[3] != 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'grid': expected (%lld, H_out, W_out, 2) for X %s, got %s",
                           (long long)X->dims[0], skiff_shape_str(X->ndim, X->dims, a, sizeof(a)),
                           skiff_shape_str(G->ndim, G->dims, b, sizeof(b)));
    const int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], W = X->dims[3];
    const int64_t Ho = G->dims[1], Wo = G->dims[2];
    int64_t od[4] = {N, C, Ho, Wo};
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, 4, od, &st);
    if (!Y)
        return st;
    double taps = p.mode == GS_BICUBIC ? 16.0 : p.mode == GS_BILINEAR ? 4.0 : 1.0;
    if ((st = skiff__kctx_cost(ctx, (double)skiff_tensor_numel(Y) * taps)))
        return st;
    if (skiff_tensor_numel(Y) == 0)
        return NULL;
    if (H == 0 || W == 0) { /* nothing to sample: every tap is outside */
        for (int64_t i = 0; i < skiff_tensor_numel(Y); i++)
            skiff__store_f64(Y->data, Y->dtype, i, 0.0);
        return NULL;
    }
    const int64_t NC = N * C;
    int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && NC * Ho * Wo > 4096)
    for (int64_t nc = 0; nc < NC; nc++) {
        int64_t n = nc / C;
        for (int64_t i = 0; i < Ho * Wo; i++) {
            int64_t g = (n * Ho * Wo + i) * 2;
            double gx = skiff__tensor_get_f64(G, g), gy = skiff__tensor_get_f64(G, g + 1);
            double v = gs_sample(X, nc * H * W, H, W, gx, gy, &p);
            skiff__store_f64(Y->data, Y->dtype, nc * Ho * Wo + i, v);
        }
    }
    return NULL;
}

/* ==== MaxUnpool ================================================================ */

static skiff_status_t *unpool_shape(const skiff__kctx *ctx, const skiff_tensor_t *X,
                                    const skiff_tensor_t *S, int64_t *od)
{
    const int ns = X->ndim - 2;
    const int64_t *ks = NULL, *strides = NULL, *pads = NULL;
    int nk = skiff__attr_ints(ctx->node, "kernel_shape", &ks);
    int nst = skiff__attr_ints(ctx->node, "strides", &strides);
    int np = skiff__attr_ints(ctx->node, "pads", &pads);
    if (nk != ns)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'kernel_shape': expected %d values, got %d", ns,
                           nk < 0 ? 0 : nk);
    if (nst >= 0 && nst != ns)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'strides': expected %d values, got %d", ns, nst);
    if (np >= 0 && np != 2 * ns)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'pads': expected %d values, got %d", 2 * ns, np);
    od[0] = X->dims[0];
    od[1] = X->dims[1];
    for (int i = 0; i < ns; i++) {
        int64_t k = ks[i], s = nst > 0 ? strides[i] : 1;
        int64_t pb = np > 0 ? pads[i] : 0, pe = np > 0 ? pads[ns + i] : 0;
        if (k < 1 || s < 1 || pb < 0 || pe < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "axis %d: kernel %lld, stride %lld, pads %lld/%lld (expected "
                               "kernel and stride >= 1, pads >= 0)",
                               i, (long long)k, (long long)s, (long long)pb, (long long)pe);
        od[2 + i] = (X->dims[2 + i] - 1) * s - pb - pe + k;
        if (od[2 + i] < 0 || X->dims[2 + i] == 0)
            od[2 + i] = 0;
    }
    if (!S)
        return NULL;
    if (S->ndim != 1 || S->dims[0] != X->ndim || !skiff__dtype_is_int(S->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'output_shape': expected %d integers, got %s of %lld", X->ndim,
                           skiff_dtype_name(S->dtype), (long long)skiff_tensor_numel(S));
    for (int i = 0; i < X->ndim; i++) {
        int64_t v = skiff__tensor_get_i64(S, i);
        if ((i < 2 && v != X->dims[i]) || (i >= 2 && v < od[i]))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'output_shape': dim %d is %lld, expected %s%lld", i,
                               (long long)v, i < 2 ? "" : "at least ", (long long)od[i]);
        od[i] = v;
    }
    return NULL;
}

static skiff_status_t *run_maxunpool(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *I;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "X", &X)) || (st = skiff__kctx_input(ctx, 1, "I", &I)))
        return st;
    char a[64], b[64];
    if (X->dtype == SKIFF_DTYPE_STRING || skiff_dtype_size(X->dtype) == 0)
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    if (X->ndim < 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected (N, C, D1, ...), got %s",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)));
    bool same = I->ndim == X->ndim;
    for (int i = 0; same && i < X->ndim; i++)
        same = I->dims[i] == X->dims[i];
    if (I->dtype != SKIFF_DTYPE_INT64 || !same)
        return skiff__kerr(
            ctx, SKIFF_CODE_INVALID_ARG, "input 'I': expected int64 of X's shape %s, got %s %s",
            skiff_shape_str(X->ndim, X->dims, a, sizeof(a)), skiff_dtype_name(I->dtype),
            skiff_shape_str(I->ndim, I->dims, b, sizeof(b)));
    int64_t od[SKIFF_MAX_DIMS];
    if ((st = unpool_shape(ctx, X, skiff__kctx_opt(ctx, 2), od)))
        return st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, od, &st);
    if (!Y)
        return st;
    memset(Y->data, 0, Y->nbytes);
    const int64_t n = skiff_tensor_numel(X), total = skiff_tensor_numel(Y);
    const size_t es = skiff_dtype_size(X->dtype);
    const int64_t *idx = I->data;
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= total)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'I': element %lld is %lld, outside the output's %lld "
                               "elements",
                               (long long)i, (long long)idx[i], (long long)total);
        memcpy((char *)Y->data + (size_t)idx[i] * es, (const char *)X->data + (size_t)i * es, es);
    }
    return NULL;
}

const skiff__op skiff__ops_sample[] = {
    {.type = "GridSample", .min_opset = 16, .run = run_gridsample},
    {.type = "MaxUnpool", .min_opset = 9, .run = run_maxunpool},
    {.type = NULL},
};
