/* pixel.c - the pixel steps on HWC images (uint8 or float32): resize as
 * cv2.resize computes it, the OCR detector's size rule, normalisation,
 * channel order, crops, padding, layout changes and batching.
 *
 * Resize follows OpenCV's arithmetic rather than ONNX's, because models
 * served here were trained on cv2-resized images: source coordinates in
 * float from double scales, per-tap weights rounded to 11-bit fixed point
 * for uint8 linear and cubic (horizontal sums in int, one rounding at the
 * end), area averaging with cv2's cell table, and the 2x linear shrink
 * that cv2 turns into an area average. The tap tables here are therefore
 * built with cv2's formulas (float coordinates, border replication) rather
 * than with skiff__vision_resize_axis, whose double-precision ONNX tables
 * can round a weight differently. The resampling itself is separable: each
 * thread owns a band of output rows and a small cache of horizontally
 * resampled input rows, so every input row is filtered once per band. */
#include <float.h>
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "vision.h"

#define COEF_BITS 11
#define COEF_SCALE (1 << COEF_BITS)

skiff_status_t *skiff__vision_tensor_alloc(skiff_dtype_t dt, int ndim, const int64_t *dims,
                                           skiff_tensor_t **out)
{
    *out = NULL;
    int64_t n = skiff_shape_numel(ndim, dims);
    size_t es = skiff_dtype_size(dt), bytes;
    if (n < 0 || !skiff__mul_size((size_t)n, es, &bytes))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "tensor size overflows");
    skiff_tensor_t *t = skiff__calloc(1, sizeof *t);
    void *d = skiff__malloc(bytes ? bytes : 1);
    if (!t || !d) {
        skiff__free(t);
        skiff__free(d);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for %zu bytes",
                                bytes);
    }
    t->dtype = dt;
    t->ndim = ndim;
    memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->data = d;
    t->nbytes = bytes;
    t->flags = SKIFF_TENSOR_OWNS_DATA;
    *out = t;
    return NULL;
}

skiff_status_t *skiff__vision_check_image(const skiff_tensor_t *t, const char *what)
{
    if (!t || t->ndim != 3 || t->dims[0] <= 0 || t->dims[1] <= 0 || t->dims[2] <= 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: expected an HWC image, got %s", what,
                                t ? "a tensor of another shape" : "nothing");
    if (t->dtype != SKIFF_DTYPE_UINT8 && t->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: expected uint8 or float32, got %s",
                                what, skiff_dtype_name(t->dtype));
    return NULL;
}

/* ---- tap tables ---------------------------------------------------------- */

typedef struct axis_tab {
    int ntap;
    int32_t *idx; /* [out][ntap], clamped into [0, in) */
    float *w;     /* [out][ntap] */
    int16_t *iw;  /* [out][ntap], w in COEF_BITS fixed point */
} axis_tab;

static void cubic_coeffs(float x, float c[4])
{
    const float A = -0.75f;
    c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = 1.f - c[0] - c[1] - c[2];
}

static int clampi(int64_t v, int64_t n) { return (int)(v < 0 ? 0 : v >= n ? n - 1 : v); }

/* Area resampling uses cells only when both axes shrink; otherwise cv2
 * runs linear resampling with its area-specific weights on both axes. */

/* Taps for one axis. Returns the tap count (area shrink: the most source
 * cells any output cell covers). */
static int area_ntap(double scale) { return (int)ceil(scale) + 1; }

static void build_axis(skiff__interp interp, bool area_shrink, int64_t in, int64_t out,
                       double inv_scale, axis_tab *t)
{
    double scale = 1.0 / inv_scale;
    const int nt = t->ntap;
    for (int64_t o = 0; o < out; o++) {
        int32_t *idx = t->idx + o * nt;
        float *w = t->w + o * nt;
        for (int k = 0; k < nt; k++) {
            idx[k] = 0;
            w[k] = 0.f;
        }
        if (interp == SKIFF_INTERP_NEAREST) {
            idx[0] = clampi((int64_t)floor((double)o * (1.0 / inv_scale)), in);
            w[0] = 1.f;
        } else if (interp == SKIFF_INTERP_AREA && area_shrink) {
            double fs1 = (double)o * scale, fs2 = fs1 + scale;
            double cell = fmin(scale, (double)in - fs1);
            int64_t s1 = (int64_t)ceil(fs1), s2 = (int64_t)floor(fs2);
            if (s2 > in - 1)
                s2 = in - 1;
            if (s1 > s2)
                s1 = s2;
            int k = 0;
            if ((double)s1 - fs1 > 1e-3 && k < nt) {
                idx[k] = clampi(s1 - 1, in);
                w[k++] = (float)(((double)s1 - fs1) / cell);
            }
            for (int64_t s = s1; s < s2 && k < nt; s++) {
                idx[k] = clampi(s, in);
                w[k++] = (float)(1.0 / cell);
            }
            if (fs2 - (double)s2 > 1e-3 && k < nt) {
                idx[k] = clampi(s2, in);
                w[k++] = (float)(fmin(fmin(fs2 - (double)s2, 1.0), cell) / cell);
            }
            /* Unused taps repeat the last row with weight 0, so the taps
             * stay a run of consecutive rows (the row cache relies on it). */
            for (; k < nt; k++)
                idx[k] = k ? idx[k - 1] : clampi(s1, in);
        } else {
            float f;
            int64_t s;
            if (interp == SKIFF_INTERP_AREA) {
                s = (int64_t)floor((double)o * scale);
                f = (float)((double)(o + 1) - (double)(s + 1) * inv_scale);
                f = f <= 0 ? 0.f : f - floorf(f);
            } else {
                f = (float)(((double)o + 0.5) * scale - 0.5);
                s = (int64_t)floorf(f);
                f -= (float)s;
            }
            if (interp != SKIFF_INTERP_CUBIC) {
                if (s < 0) {
                    f = 0.f;
                    s = 0;
                }
                if (s >= in - 1) {
                    f = 0.f;
                    s = in - 1;
                }
                idx[0] = clampi(s, in);
                idx[1] = clampi(s + 1, in);
                w[0] = 1.f - f;
                w[1] = f;
            } else {
                float c[4];
                cubic_coeffs(f, c);
                for (int k = 0; k < 4; k++) {
                    idx[k] = clampi(s - 1 + k, in);
                    w[k] = c[k];
                }
            }
        }
        for (int k = 0; k < nt; k++) {
            float v = w[k] * COEF_SCALE;
            t->iw[o * nt + k] = (int16_t)lrintf(v < -32768.f  ? -32768.f
                                                : v > 32767.f ? 32767.f
                                                              : v);
        }
    }
}

static inline uint8_t sat_u8i(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

static inline uint8_t sat_u8f(float v)
{
    int i = (int)lrintf(v);
    return sat_u8i(i);
}

/* ---- resize ---------------------------------------------------------------- */

skiff_status_t *skiff__vision_resize_image(const skiff_tensor_t *src, int64_t out_w, int64_t out_h,
                                           skiff__interp interp, skiff_tensor_t **out)
{
    return skiff__vision_resize_image_scaled(src, out_w, out_h, 0.0, 0.0, interp, out);
}

skiff_status_t *skiff__vision_resize_image_scaled(const skiff_tensor_t *src, int64_t out_w,
                                                  int64_t out_h, double fx, double fy,
                                                  skiff__interp interp, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = skiff__vision_check_image(src, "resize");
    if (st)
        return st;
    if (out_w <= 0 || out_h <= 0 || out_w > (1 << 20) || out_h > (1 << 20))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "resize: bad output size %lldx%lld",
                                (long long)out_w, (long long)out_h);
    const int64_t ih = src->dims[0], iw = src->dims[1], C = src->dims[2];
    int64_t od[3] = {out_h, out_w, C};
    st = skiff__vision_tensor_alloc(src->dtype, 3, od, out);
    if (st)
        return st;
    const bool u8 = src->dtype == SKIFF_DTYPE_UINT8;
    /* cv2 maps output to source by the factors it was given (fx, fy), or by
     * the ratio of the sizes when it was given a size. */
    if (!(fx > 0.0) || !isfinite(fx))
        fx = (double)out_w / (double)iw;
    if (!(fy > 0.0) || !isfinite(fy))
        fy = (double)out_h / (double)ih;
    double sx = 1.0 / fx, sy = 1.0 / fy;
    /* cv2: linear at exactly 2x down in both axes is an area average. */
    if (interp == SKIFF_INTERP_LINEAR && fabs(sx - 2.0) < DBL_EPSILON &&
        fabs(sy - 2.0) < DBL_EPSILON)
        interp = SKIFF_INTERP_AREA;
    bool area_shrink = interp == SKIFF_INTERP_AREA && sx >= 1.0 && sy >= 1.0;
    int ntx, nty;
    switch (interp) {
    case SKIFF_INTERP_NEAREST: ntx = nty = 1; break;
    case SKIFF_INTERP_CUBIC: ntx = nty = 4; break;
    case SKIFF_INTERP_AREA:
        ntx = area_shrink ? area_ntap(sx) : 2;
        nty = area_shrink ? area_ntap(sy) : 2;
        break;
    default: ntx = nty = 2; break;
    }
    const bool fixed = u8 && (interp == SKIFF_INTERP_LINEAR || interp == SKIFF_INTERP_CUBIC ||
                              (interp == SKIFF_INTERP_AREA && !area_shrink));
    int threads = 1;
#ifdef _OPENMP
    if (out_w * out_h * C >= (1 << 16))
        threads = omp_get_max_threads();
    if (threads > out_h)
        threads = (int)out_h;
#endif
    /* One block: both tables, then each thread's row cache (nty rows of
     * out_w * C accumulators). */
    skiff__carve cv = {0};
    size_t o_xi = skiff__carve_take(&cv, (size_t)(out_w * ntx), 4);
    size_t o_xw = skiff__carve_take(&cv, (size_t)(out_w * ntx), 4);
    size_t o_xiw = skiff__carve_take(&cv, (size_t)(out_w * ntx), 2);
    size_t o_yi = skiff__carve_take(&cv, (size_t)(out_h * nty), 4);
    size_t o_yw = skiff__carve_take(&cv, (size_t)(out_h * nty), 4);
    size_t o_yiw = skiff__carve_take(&cv, (size_t)(out_h * nty), 2);
    size_t rowlen = (size_t)(out_w * C);
    size_t o_cache = skiff__carve_take(&cv, rowlen * (size_t)nty * (size_t)threads, 4);
    size_t o_tag = skiff__carve_take(&cv, (size_t)nty * (size_t)threads, 8);
    size_t o_slot = skiff__carve_take(&cv, (size_t)nty * (size_t)threads, sizeof(int));
    uint8_t *mem = cv.overflow ? NULL : skiff__aligned_alloc(cv.off);
    if (!mem) {
        skiff_tensor_free(*out);
        *out = NULL;
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "resize: out of memory");
    }
    axis_tab tx = {ntx, (int32_t *)(mem + o_xi), (float *)(mem + o_xw), (int16_t *)(mem + o_xiw)};
    axis_tab ty = {nty, (int32_t *)(mem + o_yi), (float *)(mem + o_yw), (int16_t *)(mem + o_yiw)};
    build_axis(interp, area_shrink, iw, out_w, fx, &tx);
    build_axis(interp, area_shrink, ih, out_h, fy, &ty);

    const uint8_t *s8 = src->data;
    const float *sf = src->data;
    uint8_t *d8 = (*out)->data;
    float *df = (*out)->data;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        int64_t y0 = out_h * tid / nth, y1 = out_h * (tid + 1) / nth;
        int32_t *icache = (int32_t *)(mem + o_cache) + rowlen * (size_t)nty * (size_t)tid;
        float *fcache = (float *)icache;
        int64_t *tag = (int64_t *)(mem + o_tag) + (size_t)nty * (size_t)tid;
        for (int k = 0; k < nty; k++)
            tag[k] = -1;
        for (int64_t y = y0; y < y1; y++) {
            const int32_t *yi = ty.idx + y * nty;
            if (interp == SKIFF_INTERP_NEAREST) {
                size_t es = u8 ? 1 : 4;
                const uint8_t *srow = (const uint8_t *)src->data + (size_t)(yi[0] * iw * C) * es;
                uint8_t *drow = (uint8_t *)(*out)->data + (size_t)(y * out_w * C) * es;
                size_t px = (size_t)C * es;
                for (int64_t x = 0; x < out_w; x++)
                    memcpy(drow + (size_t)x * px, srow + (size_t)tx.idx[x] * px, px);
                continue;
            }
            /* Horizontal pass into the cache, one slot per source row:
             * slot = row mod nty, so consecutive output rows reuse rows. */
            int *slot = (int *)(mem + o_slot) + (size_t)nty * (size_t)tid;
            for (int k = 0; k < nty; k++) {
                int64_t r = yi[k];
                int sl = (int)(r % nty);
                slot[k] = sl;
                /* The taps are consecutive rows (clamped ones repeat), so
                 * no two rows one output row needs share a slot. */
                if (tag[sl] == r)
                    continue;
                tag[sl] = r;
                if (fixed && ntx == 2) {
                    /* The common case (linear): two taps, unrolled. */
                    int32_t *dst = icache + rowlen * (size_t)sl;
                    const uint8_t *row = s8 + (size_t)(r * iw * C);
                    for (int64_t x = 0; x < out_w; x++) {
                        const uint8_t *a = row + tx.idx[2 * x] * C,
                                      *b = row + tx.idx[2 * x + 1] * C;
                        int32_t w0 = tx.iw[2 * x], w1 = tx.iw[2 * x + 1];
                        for (int64_t c = 0; c < C; c++)
                            dst[x * C + c] = a[c] * w0 + b[c] * w1;
                    }
                } else if (fixed) {
                    int32_t *dst = icache + rowlen * (size_t)sl;
                    const uint8_t *row = s8 + (size_t)(r * iw * C);
                    for (int64_t x = 0; x < out_w; x++) {
                        const int32_t *xi = tx.idx + x * ntx;
                        const int16_t *xw = tx.iw + x * ntx;
                        for (int64_t c = 0; c < C; c++) {
                            int32_t acc = 0;
                            for (int t = 0; t < ntx; t++)
                                acc += row[xi[t] * C + c] * xw[t];
                            dst[x * C + c] = acc;
                        }
                    }
                } else {
                    float *dst = fcache + rowlen * (size_t)sl;
                    for (int64_t x = 0; x < out_w; x++) {
                        const int32_t *xi = tx.idx + x * ntx;
                        const float *xw = tx.w + x * ntx;
                        for (int64_t c = 0; c < C; c++) {
                            float acc = 0.f;
                            if (u8) {
                                const uint8_t *row = s8 + (size_t)(r * iw * C);
                                for (int t = 0; t < ntx; t++)
                                    acc += (float)row[xi[t] * C + c] * xw[t];
                            } else {
                                const float *row = sf + (size_t)(r * iw * C);
                                for (int t = 0; t < ntx; t++)
                                    acc += row[xi[t] * C + c] * xw[t];
                            }
                            dst[x * C + c] = acc;
                        }
                    }
                }
            }
            if (fixed && nty == 2) {
                const int32_t *r0 = icache + rowlen * (size_t)slot[0];
                const int32_t *r1 = icache + rowlen * (size_t)slot[1];
                const int32_t w0 = ty.iw[2 * y], w1 = ty.iw[2 * y + 1];
                uint8_t *drow = d8 + (size_t)(y * out_w * C);
                for (size_t i = 0; i < rowlen; i++) {
                    int64_t acc = (int64_t)r0[i] * w0 + (int64_t)r1[i] * w1;
                    drow[i] = sat_u8i((int)((acc + (1 << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS)));
                }
            } else if (fixed) {
                const int16_t *yw = ty.iw + y * nty;
                uint8_t *drow = d8 + (size_t)(y * out_w * C);
                for (size_t i = 0; i < rowlen; i++) {
                    int64_t acc = 0;
                    for (int k = 0; k < nty; k++)
                        acc += (int64_t)icache[rowlen * (size_t)slot[k] + i] * yw[k];
                    drow[i] = sat_u8i((int)((acc + (1 << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS)));
                }
            } else {
                const float *yw = ty.w + y * nty;
                for (size_t i = 0; i < rowlen; i++) {
                    float acc = 0.f;
                    for (int k = 0; k < nty; k++)
                        acc += fcache[rowlen * (size_t)slot[k] + i] * yw[k];
                    if (u8)
                        d8[(size_t)(y * out_w * C) + i] = sat_u8f(acc);
                    else
                        df[(size_t)(y * out_w * C) + i] = acc;
                }
            }
        }
    }
    skiff__free(mem);
    return NULL;
}

/* ---- the OCR detector's size rule ------------------------------------------ */

skiff_status_t *skiff__vision_det_resize_dims(int64_t h, int64_t w, int64_t limit_side_len,
                                              skiff__limit_type lt, int64_t *out_h, int64_t *out_w)
{
    double ratio = 1.0;
    int64_t mx = h > w ? h : w, mn = h < w ? h : w;
    if (h <= 0 || w <= 0 || limit_side_len <= 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "det_resize: bad size %lldx%lld",
                                (long long)w, (long long)h);
    if (lt == SKIFF_LIMIT_MAX) {
        if (mx > limit_side_len)
            ratio = (double)limit_side_len / (double)mx;
    } else if (lt == SKIFF_LIMIT_MIN) {
        if (mn < limit_side_len)
            ratio = (double)limit_side_len / (double)mn;
    } else {
        ratio = (double)limit_side_len / (double)mx;
    }
    /* int() truncates, then Python's round() ties to even (nearbyint). */
    double rh = (double)(int64_t)((double)h * ratio), rw = (double)(int64_t)((double)w * ratio);
    int64_t nh = (int64_t)nearbyint(rh / 32.0) * 32, nw = (int64_t)nearbyint(rw / 32.0) * 32;
    *out_h = nh < 32 ? 32 : nh;
    *out_w = nw < 32 ? 32 : nw;
    if (*out_h > (1 << 16) || *out_w > (1 << 16))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "det_resize: output %lldx%lld is too large (limit_side_len %lld)",
                                (long long)*out_w, (long long)*out_h, (long long)limit_side_len);
    return NULL;
}

/* ---- per-pixel --------------------------------------------------------------- */

skiff_status_t *skiff__vision_normalize(const skiff_tensor_t *src, float scale, const float *mean,
                                        const float *stdv, int nch, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = skiff__vision_check_image(src, "normalize");
    if (st)
        return st;
    const int64_t C = src->dims[2];
    if (nch != 1 && nch != C)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "normalize: %d mean/std values for an image of %lld channels", nch,
                                (long long)C);
    st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 3, src->dims, out);
    if (st)
        return st;
    const size_t npx = (size_t)(src->dims[0] * src->dims[1]);
    float *d = (*out)->data;
    if (src->dtype == SKIFF_DTYPE_UINT8) {
        /* Every uint8 value's result, computed the way numpy does it in
         * float32 ((x * scale - mean) / std), then looked up. */
        float lut[4][256];
        if (C <= 4) {
            for (int64_t c = 0; c < C; c++) {
                int m = nch == 1 ? 0 : (int)c;
                for (int v = 0; v < 256; v++)
                    lut[c][v] = ((float)v * scale - mean[m]) / stdv[m];
            }
        }
        const uint8_t *s = src->data;
#pragma omp parallel for schedule(static) if (npx > 65536)
        for (size_t p = 0; p < npx; p++) {
            for (int64_t c = 0; c < C; c++) {
                int m = nch == 1 ? 0 : (int)c;
                size_t i = p * (size_t)C + (size_t)c;
                d[i] = C <= 4 ? lut[c][s[i]] : ((float)s[i] * scale - mean[m]) / stdv[m];
            }
        }
    } else {
        const float *s = src->data;
#pragma omp parallel for schedule(static) if (npx > 65536)
        for (size_t p = 0; p < npx; p++) {
            for (int64_t c = 0; c < C; c++) {
                int m = nch == 1 ? 0 : (int)c;
                size_t i = p * (size_t)C + (size_t)c;
                d[i] = (s[i] * scale - mean[m]) / stdv[m];
            }
        }
    }
    return NULL;
}

skiff_status_t *skiff__vision_div(const skiff_tensor_t *src, float value, skiff_tensor_t **out)
{
    *out = NULL;
    if (!src || (src->dtype != SKIFF_DTYPE_UINT8 && src->dtype != SKIFF_DTYPE_FLOAT32))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "div: expected uint8 or float32");
    skiff_status_t *st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, src->ndim, src->dims, out);
    if (st)
        return st;
    size_t n = (size_t)skiff_tensor_numel(src);
    float *d = (*out)->data;
    for (size_t i = 0; i < n; i++)
        d[i] = (src->dtype == SKIFF_DTYPE_UINT8 ? (float)((const uint8_t *)src->data)[i]
                                                : ((const float *)src->data)[i]) /
               value;
    return NULL;
}

skiff_status_t *skiff__vision_swap_channels(const skiff_tensor_t *src, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = skiff__vision_check_image(src, "bgr2rgb");
    if (st)
        return st;
    if (src->dims[2] < 3)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "bgr2rgb: image has %lld channels",
                                (long long)src->dims[2]);
    st = skiff_tensor_clone(src, out);
    if (st)
        return st;
    size_t es = skiff_dtype_size(src->dtype), C = (size_t)src->dims[2];
    size_t npx = (size_t)(src->dims[0] * src->dims[1]);
    uint8_t *d = (*out)->data, tmp[4];
    for (size_t p = 0; p < npx; p++) {
        uint8_t *px = d + p * C * es;
        memcpy(tmp, px, es);
        memcpy(px, px + 2 * es, es);
        memcpy(px + 2 * es, tmp, es);
    }
    return NULL;
}

/* ---- geometry ------------------------------------------------------------------ */

skiff_status_t *skiff__vision_crop(const skiff_tensor_t *src, int64_t x0, int64_t y0, int64_t w,
                                   int64_t h, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = skiff__vision_check_image(src, "crop");
    if (st)
        return st;
    if (x0 < 0 || y0 < 0 || w <= 0 || h <= 0 || x0 + w > src->dims[1] || y0 + h > src->dims[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "crop: %lldx%lld at (%lld,%lld) does not fit a %lldx%lld image",
                                (long long)w, (long long)h, (long long)x0, (long long)y0,
                                (long long)src->dims[1], (long long)src->dims[0]);
    int64_t dims[3] = {h, w, src->dims[2]};
    st = skiff__vision_tensor_alloc(src->dtype, 3, dims, out);
    if (st)
        return st;
    size_t px = (size_t)src->dims[2] * skiff_dtype_size(src->dtype);
    for (int64_t y = 0; y < h; y++)
        memcpy((uint8_t *)(*out)->data + (size_t)(y * w) * px,
               (const uint8_t *)src->data + (size_t)((y0 + y) * src->dims[1] + x0) * px,
               (size_t)w * px);
    return NULL;
}

skiff_status_t *skiff__vision_pad(const skiff_tensor_t *src, int64_t top, int64_t bottom,
                                  int64_t left, int64_t right, float value, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = skiff__vision_check_image(src, "pad");
    if (st)
        return st;
    if (top < 0 || bottom < 0 || left < 0 || right < 0 || top + bottom > (1 << 16) ||
        left + right > (1 << 16))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "pad: bad padding %lld,%lld,%lld,%lld",
                                (long long)top, (long long)bottom, (long long)left,
                                (long long)right);
    const int64_t H = src->dims[0], W = src->dims[1], C = src->dims[2];
    int64_t dims[3] = {H + top + bottom, W + left + right, C};
    st = skiff__vision_tensor_alloc(src->dtype, 3, dims, out);
    if (st)
        return st;
    size_t n = (size_t)skiff_tensor_numel(*out);
    if (src->dtype == SKIFF_DTYPE_UINT8)
        memset((*out)->data, sat_u8f(value), n);
    else
        for (size_t i = 0; i < n; i++)
            ((float *)(*out)->data)[i] = value;
    size_t px = (size_t)C * skiff_dtype_size(src->dtype);
    for (int64_t y = 0; y < H; y++)
        memcpy((uint8_t *)(*out)->data + (size_t)((y + top) * dims[1] + left) * px,
               (const uint8_t *)src->data + (size_t)(y * W) * px, (size_t)W * px);
    return NULL;
}

skiff_status_t *skiff__vision_pad_edge(const skiff_tensor_t *src, int64_t top, int64_t bottom,
                                       int64_t left, int64_t right, skiff_tensor_t **out)
{
    skiff_status_t *st = skiff__vision_pad(src, top, bottom, left, right, 0.0f, out);
    if (st || src->dims[0] == 0 || src->dims[1] == 0)
        return st;
    const int64_t H = src->dims[0], W = src->dims[1], OW = (*out)->dims[1];
    size_t px = (size_t)src->dims[2] * skiff_dtype_size(src->dtype);
    uint8_t *d = (*out)->data;
    /* each image row's first and last pixel outward, then the first and
     * last rows (padding included) up and down, as cv2.BORDER_REPLICATE */
    for (int64_t y = top; y < top + H; y++) {
        uint8_t *row = d + (size_t)(y * OW) * px;
        for (int64_t x = 0; x < left; x++)
            memcpy(row + (size_t)x * px, row + (size_t)left * px, px);
        for (int64_t x = left + W; x < OW; x++)
            memcpy(row + (size_t)x * px, row + (size_t)(left + W - 1) * px, px);
    }
    size_t row_bytes = (size_t)OW * px;
    for (int64_t y = 0; y < top; y++)
        memcpy(d + (size_t)y * row_bytes, d + (size_t)top * row_bytes, row_bytes);
    for (int64_t y = top + H; y < (*out)->dims[0]; y++)
        memcpy(d + (size_t)y * row_bytes, d + (size_t)(top + H - 1) * row_bytes, row_bytes);
    return NULL;
}

skiff_status_t *skiff__vision_permute(const skiff_tensor_t *src, const int *perm, int n,
                                      skiff_tensor_t **out)
{
    *out = NULL;
    if (!src || n != src->ndim || n < 1)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "permute: %d axes for a tensor of %d", n,
                                src ? src->ndim : 0);
    int seen = 0;
    int64_t dims[SKIFF_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || (seen >> perm[i] & 1))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "permute: axis %d is bad or repeated",
                                    perm[i]);
        seen |= 1 << perm[i];
        dims[i] = src->dims[perm[i]];
    }
    size_t es = skiff_dtype_size(src->dtype);
    if (!es || src->dtype == SKIFF_DTYPE_STRING)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "permute: unsupported dtype %s",
                                skiff_dtype_name(src->dtype));
    skiff_status_t *st = skiff__vision_tensor_alloc(src->dtype, n, dims, out);
    if (st)
        return st;
    int64_t sstride[SKIFF_MAX_DIMS] = {0}, ostr[SKIFF_MAX_DIMS] = {0};
    int64_t acc = 1;
    for (int i = n - 1; i >= 0; i--) {
        sstride[i] = acc;
        acc *= src->dims[i];
    }
    for (int i = 0; i < n; i++)
        ostr[i] = sstride[perm[i]];
    int64_t total = skiff_tensor_numel(src);
    const uint8_t *s = src->data;
    uint8_t *d = (*out)->data;
    if (es == 4 && n == 3 && perm[0] == 2 && perm[1] == 0 && perm[2] == 1) {
        /* HWC -> CHW, the common case: one pass per channel. */
        const int64_t H = src->dims[0], W = src->dims[1], C = src->dims[2];
        for (int64_t c = 0; c < C; c++) {
            float *dc = (float *)d + c * H * W;
            const float *sc = (const float *)s + c;
            for (int64_t i = 0; i < H * W; i++)
                dc[i] = sc[i * C];
        }
        return NULL;
    }
    int64_t idx[SKIFF_MAX_DIMS] = {0};
    int64_t off = 0;
    for (int64_t o = 0; o < total; o++) {
        memcpy(d + (size_t)o * es, s + (size_t)off * es, es);
        for (int i = n - 1; i >= 0; i--) {
            if (++idx[i] < dims[i]) {
                off += ostr[i];
                break;
            }
            off -= ostr[i] * (dims[i] - 1);
            idx[i] = 0;
        }
    }
    return NULL;
}

skiff_status_t *skiff__vision_stack(const skiff_tensor_t *const *imgs, int n, float pad_value,
                                    skiff_tensor_t **out)
{
    *out = NULL;
    if (n < 1)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "stack: no inputs");
    int64_t C = 0, H = 0, W = 0;
    for (int i = 0; i < n; i++) {
        const skiff_tensor_t *t = imgs[i];
        if (!t || t->ndim != 3 || t->dtype != SKIFF_DTYPE_FLOAT32)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "stack: input %d: expected a float32 CHW tensor", i);
        if (i && t->dims[0] != C)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "stack: input %d has %lld channels, input 0 has %lld", i,
                                    (long long)t->dims[0], (long long)C);
        C = t->dims[0];
        H = t->dims[1] > H ? t->dims[1] : H;
        W = t->dims[2] > W ? t->dims[2] : W;
    }
    int64_t dims[4] = {n, C, H, W};
    skiff_status_t *st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 4, dims, out);
    if (st)
        return st;
    float *d = (*out)->data;
    size_t total = (size_t)skiff_tensor_numel(*out);
    for (size_t i = 0; i < total; i++)
        d[i] = pad_value;
    for (int i = 0; i < n; i++) {
        const skiff_tensor_t *t = imgs[i];
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < t->dims[1]; y++)
                memcpy(d + ((i * C + c) * H + y) * W,
                       (const float *)t->data + (c * t->dims[1] + y) * t->dims[2],
                       sizeof(float) * (size_t)t->dims[2]);
    }
    return NULL;
}
