/* resize.c - ONNX Resize (opsets 10-19) and the deprecated Upsample (7-9).
 *
 * This file reads the node: its modes, axes, scales or sizes and roi, into
 * a skiff__resize_params; the resampling itself (tap tables, the nearest
 * gather, the planar float32 path and the generic one) is the vision
 * layer's (src/vision/resize.c), which the image steps share. The tap
 * tables and work areas live in the node's per-context cache, so repeated
 * runs do not allocate. */
#include <math.h>
#include <string.h>

#include "../../../vision/vision.h"
#include "../../engine_int.h"

static skiff_status_t *read_float_list(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                       const char *name, double *out, int cap, int *n)
{
    if (!skiff__dtype_is_float(t->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected float, got %s", name,
                           skiff_dtype_name(t->dtype));
    int64_t cnt = skiff_tensor_numel(t);
    if (t->ndim > 1 || cnt > cap)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a 1-D tensor of at most %d values", name, cap);
    for (int64_t i = 0; i < cnt; i++)
        out[i] = skiff__tensor_get_f64(t, i);
    *n = (int)cnt;
    return NULL;
}

/* Mode, coordinate transformation, nearest rounding and cubic settings from
 * the attributes; before opset 11 (and in Upsample) only the mode is read. */
static skiff_status_t *resize_modes(const skiff__kctx *ctx, bool v11, skiff__resize_params *p)
{
    const skiff__node *node = ctx->node;
    const char *mode = skiff__attr_str(node, "mode", "nearest");
    if (strcmp(mode, "nearest") == 0)
        p->mode = SKIFF_RESIZE_NEAREST;
    else if (strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0)
        p->mode = SKIFF_RESIZE_LINEAR;
    else if (strcmp(mode, "cubic") == 0 && v11)
        p->mode = SKIFF_RESIZE_CUBIC;
    else
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'mode': unsupported value '%s'",
                           mode);
    p->ct = SKIFF_RESIZE_CT_ASYMMETRIC;
    p->nm = SKIFF_RESIZE_NM_SIMPLE;
    p->cubic_a = -0.75;
    if (v11) {
        static const struct {
            const char *name;
            skiff__resize_coord ct;
        } cts[] = {
            {"half_pixel", SKIFF_RESIZE_CT_HALF_PIXEL},
            {"half_pixel_symmetric", SKIFF_RESIZE_CT_HALF_PIXEL_SYMMETRIC},
            {"pytorch_half_pixel", SKIFF_RESIZE_CT_PYTORCH_HALF_PIXEL},
            {"align_corners", SKIFF_RESIZE_CT_ALIGN_CORNERS},
            {"asymmetric", SKIFF_RESIZE_CT_ASYMMETRIC},
            {"tf_half_pixel_for_nn", SKIFF_RESIZE_CT_TF_HALF_PIXEL_FOR_NN},
            {"tf_crop_and_resize", SKIFF_RESIZE_CT_TF_CROP_AND_RESIZE},
        };
        static const struct {
            const char *name;
            skiff__resize_nearest nm;
        } nms[] = {
            {"round_prefer_floor", SKIFF_RESIZE_NM_ROUND_PREFER_FLOOR},
            {"round_prefer_ceil", SKIFF_RESIZE_NM_ROUND_PREFER_CEIL},
            {"floor", SKIFF_RESIZE_NM_FLOOR},
            {"ceil", SKIFF_RESIZE_NM_CEIL},
        };
        const char *ct = skiff__attr_str(node, "coordinate_transformation_mode", "half_pixel");
        size_t i;
        for (i = 0; i < sizeof(cts) / sizeof(cts[0]); i++)
            if (strcmp(ct, cts[i].name) == 0)
                break;
        if (i == sizeof(cts) / sizeof(cts[0]))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'coordinate_transformation_mode': unsupported value "
                               "'%s'",
                               ct);
        p->ct = cts[i].ct;
        const char *nm = skiff__attr_str(node, "nearest_mode", "round_prefer_floor");
        for (i = 0; i < sizeof(nms) / sizeof(nms[0]); i++)
            if (strcmp(nm, nms[i].name) == 0)
                break;
        if (i == sizeof(nms) / sizeof(nms[0]))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'nearest_mode': unsupported value '%s'", nm);
        p->nm = nms[i].nm;
        p->cubic_a = skiff__attr_float(node, "cubic_coeff_a", -0.75f);
        p->exclude_outside = skiff__attr_int(node, "exclude_outside", 0) != 0;
        p->extrap = skiff__attr_float(node, "extrapolation_value", 0.0f);
    }

    return NULL;
}

/* axes (opset 18): which dimensions scales/sizes/roi talk about */
static skiff_status_t *resize_axes(const skiff__kctx *ctx, bool v11, int rank, int *axes,
                                   int *out_naxes)
{
    const skiff__node *node = ctx->node;
    *out_naxes = rank;
    for (int d = 0; d < rank; d++)
        axes[d] = d;
    if (v11) {
        const int64_t *av = NULL;
        int na = skiff__attr_ints(node, "axes", &av);
        if (na >= 0) {
            if (na > rank)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'axes': %d entries for rank %d", na, rank);
            bool seen[SKIFF_MAX_DIMS] = {false};
            for (int i = 0; i < na; i++) {
                if (!skiff__norm_axis(av[i], rank, &axes[i]) || seen[axes[i]])
                    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                       "attribute 'axes': bad or repeated axis %lld",
                                       (long long)av[i]);
                seen[axes[i]] = true;
            }
            *out_naxes = na;
        }
    }

    return NULL;
}

/* p->out and p->scale (and p->roi_*) from the scales or sizes input (the
 * scales attribute for Upsample-7), or an error naming what is wrong. */
static skiff_status_t *resize_out_shape(const skiff__kctx *ctx, bool upsample, bool v11,
                                        const int *axes, int naxes, skiff__resize_params *p)
{
    const skiff__node *node = ctx->node;
    const int rank = p->rank;
    double scales[SKIFF_MAX_DIMS];
    int nscales = 0;
    const skiff_tensor_t *sizes_t = NULL, *roi_t = NULL;
    skiff_status_t *st;
    if (upsample && node->opset < 9) {
        const float *f = NULL;
        int n = skiff__attr_floats(node, "scales", &f);
        if (n < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'scales' is required");
        if (n > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'scales': too many values");
        for (int i = 0; i < n; i++)
            scales[i] = f[i];
        nscales = n;
    } else if (!v11) {
        const skiff_tensor_t *s = skiff__kctx_opt(ctx, 1);
        if (!s)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'scales' is required");
        if ((st = read_float_list(ctx, s, "scales", scales, SKIFF_MAX_DIMS, &nscales)))
            return st;
    } else {
        roi_t = skiff__kctx_opt(ctx, 1);
        const skiff_tensor_t *s = skiff__kctx_opt(ctx, 2);
        sizes_t = skiff__kctx_opt(ctx, 3);
        if (s && skiff_tensor_numel(s) > 0) {
            if ((st = read_float_list(ctx, s, "scales", scales, SKIFF_MAX_DIMS, &nscales)))
                return st;
            if (sizes_t && skiff_tensor_numel(sizes_t) > 0)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "only one of 'scales' and 'sizes' may be given");
            sizes_t = NULL;
        } else if (!sizes_t || skiff_tensor_numel(sizes_t) == 0) {
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "one of 'scales' and 'sizes' must be given");
        }
    }

    for (int d = 0; d < rank; d++) {
        p->out[d] = p->in[d];
        p->scale[d] = 1.0;
    }
    if (sizes_t) {
        if (sizes_t->dtype != SKIFF_DTYPE_INT64 && sizes_t->dtype != SKIFF_DTYPE_INT32)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'sizes': expected int64, got %s",
                               skiff_dtype_name(sizes_t->dtype));
        if (skiff_tensor_numel(sizes_t) != naxes)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sizes': expected %d values, got %lld", naxes,
                               (long long)skiff_tensor_numel(sizes_t));
        int64_t sz[SKIFF_MAX_DIMS];
        for (int i = 0; i < naxes; i++) {
            sz[i] = skiff__tensor_get_i64(sizes_t, i);
            if (sz[i] < 0)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'sizes': entry %d is negative (%lld)", i,
                                   (long long)sz[i]);
            if (p->in[axes[i]] == 0 && sz[i] > 0)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'X': cannot resize an empty axis %d to %lld", axes[i],
                                   (long long)sz[i]);
        }
        const char *policy = node->opset >= 18
                                 ? skiff__attr_str(node, "keep_aspect_ratio_policy", "stretch")
                                 : "stretch";
        if (strcmp(policy, "stretch") == 0) {
            for (int i = 0; i < naxes; i++) {
                int d = axes[i];
                p->out[d] = sz[i];
                p->scale[d] = p->in[d] > 0 ? (double)sz[i] / (double)p->in[d] : 1.0;
            }
        } else {
            bool smaller = strcmp(policy, "not_larger") == 0;
            if (!smaller && strcmp(policy, "not_smaller") != 0)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'keep_aspect_ratio_policy': unsupported value '%s'",
                                   policy);
            double s = smaller ? INFINITY : 0.0;
            for (int i = 0; i < naxes; i++) {
                double r = p->in[axes[i]] > 0 ? (double)sz[i] / (double)p->in[axes[i]] : 1.0;
                s = smaller ? (r < s ? r : s) : (r > s ? r : s);
            }
            for (int i = 0; i < naxes; i++) {
                int d = axes[i];
                p->scale[d] = s;
                p->out[d] = (int64_t)floor(s * (double)p->in[d] + 0.5);
            }
        }
    } else {
        if (nscales != naxes)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "'scales': expected %d values for rank %d, got %d", naxes, rank,
                               nscales);
        for (int i = 0; i < naxes; i++) {
            int d = axes[i];
            if (!(scales[i] > 0.0) || !isfinite(scales[i]))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "'scales': entry %d must be positive, got %g", i, scales[i]);
            double o = floor(scales[i] * (double)p->in[d]);
            if (o > (double)(INT64_C(1) << 40))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "'scales': entry %d gives an output too large", i);
            p->scale[d] = scales[i];
            p->out[d] = (int64_t)o;
        }
    }
    if (p->ct == SKIFF_RESIZE_CT_TF_CROP_AND_RESIZE) {
        if (roi_t && skiff_tensor_numel(roi_t) > 0) {
            double roi[2 * SKIFF_MAX_DIMS];
            int nroi = 0;
            if ((st = read_float_list(ctx, roi_t, "roi", roi, 2 * SKIFF_MAX_DIMS, &nroi)))
                return st;
            if (nroi != 2 * naxes)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'roi': expected %d values, got %d", 2 * naxes, nroi);
            for (int i = 0; i < naxes; i++) {
                p->roi_s[axes[i]] = roi[i];
                p->roi_e[axes[i]] = roi[naxes + i];
            }
        }
    }
    int64_t aa = v11 ? skiff__attr_int(node, "antialias", 0) : 0;
    if (aa != 0 && aa != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'antialias': expected 0 or 1, got %lld", (long long)aa);
    p->antialias = aa == 1 && p->mode != SKIFF_RESIZE_NEAREST;

    return NULL;
}

/* Where the tap tables sit in the node's scratch: they come first and
 * survive when a path grows the buffer for its own work area. */
typedef struct tab_layout {
    size_t idx[SKIFF_MAX_DIMS], w[SKIFF_MAX_DIMS], out[SKIFF_MAX_DIMS], end;
} tab_layout;

static void point_axes(skiff__resize_axis *ax, int rank, char *base, const tab_layout *tl)
{
    for (int d = 0; d < rank; d++) {
        ax[d].idx = (int64_t *)(base + tl->idx[d]);
        ax[d].w = (double *)(base + tl->w[d]);
        ax[d].outside = (unsigned char *)(base + tl->out[d]);
    }
}

static skiff_status_t *resize_nearest(skiff__kctx *ctx, const skiff__resize_params *p,
                                      skiff__resize_axis *ax, const tab_layout *tl,
                                      const skiff_tensor_t *X, skiff_tensor_t *Y)
{
    const int rank = p->rank;
    size_t es = skiff_dtype_size(X->dtype);
    unsigned char ev[16] = {0};
    skiff__store_f64(ev, skiff__dtype_is_numeric(X->dtype) ? X->dtype : SKIFF_DTYPE_UNDEFINED, 0,
                     p->extrap);
    int32_t *ix32 = NULL;
    if (es == 4 && p->in[rank - 1] <= INT32_MAX) {
        skiff__carve cv = {tl->end, false};
        size_t o_ix = skiff__carve_take(&cv, (size_t)p->out[rank - 1], sizeof(int32_t));
        if (cv.overflow)
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
        skiff_status_t *st;
        char *base = skiff__kcache_buf(ctx, cv.off, tl->end, &st);
        if (!base)
            return st;
        point_axes(ax, rank, base, tl);
        ix32 = (int32_t *)(base + o_ix);
    }
    skiff__vision_resize_nearest(p, ax, X->data, Y->data, es, ev, ix32, skiff__kctx_threads(ctx));
    return NULL;
}

static skiff_status_t *resize_planar(skiff__kctx *ctx, const skiff__resize_params *p,
                                     skiff__resize_axis *ax, const tab_layout *tl,
                                     const skiff_tensor_t *X, skiff_tensor_t *Y)
{
    const int rank = p->rank, threads = skiff__kctx_threads(ctx);
    size_t work = skiff__vision_resize_plane_size(p, threads);
    skiff__carve cv = {tl->end, false};
    size_t o_work = skiff__carve_take(&cv, work, 1);
    if (work == 0 || cv.overflow)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
    skiff_status_t *st;
    char *base = skiff__kcache_buf(ctx, cv.off, tl->end, &st);
    if (!base)
        return st;
    point_axes(ax, rank, base, tl); /* the tables may have moved with the buffer */
    skiff__vision_resize_plane(p, &ax[rank - 2], &ax[rank - 1], X->data, Y->data, base + o_work,
                               threads);
    return NULL;
}

static skiff_status_t *resize_generic(skiff__kctx *ctx, const skiff__resize_params *p,
                                      skiff__resize_axis *ax, const tab_layout *tl,
                                      const skiff_tensor_t *X, skiff_tensor_t *Y)
{
    const int rank = p->rank;
    const int64_t n_in = skiff_tensor_numel(X), n_out = skiff_tensor_numel(Y);
    skiff__carve cv = {tl->end, false};
    skiff_status_t *st;
    /* double ping-pong buffers big enough for every pass */
    int64_t dims[SKIFF_MAX_DIMS], maxn = n_in > n_out ? n_in : n_out;
    for (int d = 0; d < rank; d++)
        dims[d] = p->in[d];
    for (int d = rank - 1; d >= 0; d--) {
        dims[d] = p->out[d];
        int64_t n = skiff_shape_numel(rank, dims);
        if (n < 0)
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "intermediate size overflows");
        maxn = n > maxn ? n : maxn;
    }
    size_t o_a = skiff__carve_take(&cv, (size_t)maxn, sizeof(double));
    size_t o_b = skiff__carve_take(&cv, (size_t)maxn, sizeof(double));
    if (cv.overflow)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
    char *base = skiff__kcache_buf(ctx, cv.off, tl->end, &st);
    if (!base)
        return st;
    point_axes(ax, rank, base, tl);
    double *a = (double *)(base + o_a), *b = (double *)(base + o_b);
    for (int64_t i = 0; i < n_in; i++)
        a[i] = skiff__tensor_get_f64(X, i);
    double *r = skiff__vision_resize_generic(p, ax, a, b);
    for (int64_t i = 0; i < n_out; i++)
        skiff__store_f64(Y->data, Y->dtype, i, r[i]);
    return NULL;
}

static skiff_status_t *resize_run_common(skiff__kctx *ctx, bool upsample)
{
    const skiff__node *node = ctx->node;
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    const int rank = X->ndim;
    if (rank < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': expected rank >= 1, got 0");
    if (X->dtype == SKIFF_DTYPE_STRING || skiff_dtype_size(X->dtype) == 0)
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);

    skiff__resize_params p;
    memset(&p, 0, sizeof(p));
    p.rank = rank;
    for (int d = 0; d < rank; d++) {
        p.in[d] = X->dims[d];
        p.roi_s[d] = 0.0;
        p.roi_e[d] = 1.0;
    }
    const bool v11 = !upsample && node->opset >= 11;
    int axes[SKIFF_MAX_DIMS], naxes;
    skiff_status_t *st;
    if ((st = resize_modes(ctx, v11, &p)) || (st = resize_axes(ctx, v11, rank, axes, &naxes)) ||
        (st = resize_out_shape(ctx, upsample, v11, axes, naxes, &p)))
        return st;

    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, rank, p.out, &st);
    if (!Y)
        return st;
    if (skiff_tensor_numel(Y) == 0)
        return NULL;
    for (int d = 0; d < rank; d++)
        if (p.in[d] == 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'X': cannot resize an empty axis %d to %lld", d,
                               (long long)p.out[d]);
    if (p.mode != SKIFF_RESIZE_NEAREST && !skiff__dtype_is_numeric(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);

    /* scratch: tap tables, then path-specific buffers */
    skiff__carve cv = {0, false};
    tab_layout tl;
    int ntap[SKIFF_MAX_DIMS];
    bool wide = false; /* antialiased downscaling: other tap counts than the plane path's */
    double taps = 0.0;
    for (int d = 0; d < rank; d++) {
        ntap[d] = skiff__vision_resize_ntap(&p, d);
        wide |= ntap[d] != (p.mode == SKIFF_RESIZE_NEAREST  ? 1
                            : p.mode == SKIFF_RESIZE_LINEAR ? 2
                                                            : 4);
        taps += (double)p.out[d] * ntap[d];
        tl.idx[d] = skiff__carve_take(&cv, (size_t)p.out[d] * ntap[d], sizeof(int64_t));
        tl.w[d] = skiff__carve_take(&cv, (size_t)p.out[d] * ntap[d], sizeof(double));
        tl.out[d] = skiff__carve_take(&cv, (size_t)p.out[d], 1);
    }
    if (wide && (st = skiff__kctx_cost(ctx, taps * (double)skiff_tensor_numel(X) /
                                                (double)(p.in[rank - 1] > 0 ? p.in[rank - 1] : 1))))
        return st;
    tl.end = cv.off;
    if (cv.overflow)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
    char *base = skiff__kcache_buf(ctx, tl.end, 0, &st);
    if (!base)
        return st;
    skiff__resize_axis ax[SKIFF_MAX_DIMS];
    point_axes(ax, rank, base, &tl);
    for (int d = 0; d < rank; d++) {
        ax[d].ntap = ntap[d];
        skiff__vision_resize_axis(&p, d, &ax[d]);
    }

    if (p.mode == SKIFF_RESIZE_NEAREST)
        return resize_nearest(ctx, &p, ax, &tl, X, Y);
    bool planar = X->dtype == SKIFF_DTYPE_FLOAT32 && rank >= 2 && !wide;
    for (int d = 0; planar && d < rank - 2; d++)
        planar = ax[d].identity;
    if (planar)
        return resize_planar(ctx, &p, ax, &tl, X, Y);
    return resize_generic(ctx, &p, ax, &tl, X, Y);
}

static skiff_status_t *run_resize(skiff__kctx *ctx) { return resize_run_common(ctx, false); }

static skiff_status_t *run_upsample(skiff__kctx *ctx) { return resize_run_common(ctx, true); }

/* ---- table ---- */

const skiff__op skiff__ops_resize[] = {
    {.type = "Resize", .min_opset = 10, .run = run_resize, .cache_free = skiff__kcache_buf_free},
    {.type = "Upsample", .min_opset = 7, .run = run_upsample, .cache_free = skiff__kcache_buf_free},
    {.type = NULL},
};
