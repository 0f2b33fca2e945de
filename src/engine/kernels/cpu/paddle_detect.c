/* paddle_detect.c - Paddle's detection ops (domain "paddle"), with Paddle's
 * semantics: prior_box, density_prior_box, box_coder, yolo_box and
 * multiclass_nms / multiclass_nms3. The Paddle loader
 * (paddle_ops_detect.c) maps each op and checks its attributes; the node
 * attributes are Paddle's, except that prior_box's aspect_ratios arrive
 * expanded (1 first, duplicates dropped, reciprocals added for flip) and
 * step_w/step_h arrive as one `step` pair.
 *
 * The prior-box ops read only their inputs' shapes. multiclass_nms follows
 * Paddle's algorithm step by step (per class: score threshold, top-k by
 * score, greedy NMS with the adaptive threshold; then keep_top_k across
 * classes), so the rows come out in the order Paddle writes them: by label,
 * and within a label by descending score. Its row count depends on the data:
 * the output is allocated once it is known. Box arithmetic is float32, as
 * Paddle's float kernels compute it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine_int.h"

/* A present float32 input of the given rank (rank < 0: any). */
static skiff_status_t *need_f32(const skiff__kctx *ctx, int i, const char *name, int rank,
                                const skiff_tensor_t **out)
{
    skiff_status_t *st = skiff__kctx_input(ctx, i, name, out);
    if (st)
        return st;
    if ((*out)->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, name, (*out)->dtype);
    if (rank >= 0 && (*out)->ndim != rank)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected rank %d, got rank %d",
                           name, rank, (*out)->ndim);
    return NULL;
}

/* A float list attribute with exactly `want` values (want < 0: any). */
static skiff_status_t *floats_attr(const skiff__kctx *ctx, const char *name, int want,
                                   const float **v, int *n)
{
    *n = skiff__attr_floats(ctx->node, name, v);
    if (*n < 0)
        *n = 0;
    if (want >= 0 && *n != want)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute %s: expected %d values, got %d",
                           name, want, *n);
    return NULL;
}

/* Input and Image of a prior-box op: NCHW tensors whose shapes give the
 * feature map (fh x fw) and the image (ih x iw). */
static skiff_status_t *prior_shapes(const skiff__kctx *ctx, int64_t *fh, int64_t *fw, int64_t *ih,
                                    int64_t *iw)
{
    const skiff_tensor_t *in, *img;
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "Input")) || (st = skiff__kctx_need(ctx, 1, "Image")))
        return st;
    in = ctx->in[0];
    img = ctx->in[1];
    if (in->ndim != 4 || img->ndim != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs Input and Image must be rank 4 (NCHW), got ranks %d and %d",
                           in->ndim, img->ndim);
    if (!skiff__dtype_is_float(in->dtype) || in->dtype == SKIFF_DTYPE_FLOAT16 ||
        in->dtype == SKIFF_DTYPE_BFLOAT16)
        return skiff__kctx_bad_dtype(ctx, "Input", in->dtype);
    *fh = in->dims[2];
    *fw = in->dims[3];
    *ih = img->dims[2];
    *iw = img->dims[3];
    if (*fh <= 0 || *fw <= 0 || *ih <= 0 || *iw <= 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "empty feature map (%lldx%lld) or image (%lldx%lld)", (long long)*fh,
                           (long long)*fw, (long long)*ih, (long long)*iw);
    return NULL;
}

/* Boxes and Variances of shape dims (the variances repeated per box). */
static skiff_status_t *prior_outputs(skiff__kctx *ctx, int ndim, const int64_t *dims,
                                     const float *var, skiff_tensor_t **boxes)
{
    skiff_status_t *st;
    skiff_dtype_t dt = ctx->in[0]->dtype;
    *boxes = skiff__kctx_output(ctx, 0, dt, ndim, dims, &st);
    if (!*boxes)
        return st;
    if (ctx->n_out < 2)
        return NULL;
    skiff_tensor_t *v = skiff__kctx_output(ctx, 1, dt, ndim, dims, &st);
    if (!v)
        return st;
    int64_t n = skiff_tensor_numel(v);
    for (int64_t i = 0; i < n; i++)
        skiff__store_f64(v->data, dt, i, var[i % 4]);
    return NULL;
}

/* ==== prior_box ============================================================= */

static void put_box(void *data, skiff_dtype_t dt, int64_t *at, double cx, double cy, double hw,
                    double hh, double iw, double ih, bool clip)
{
    double b[4] = {(cx - hw) / iw, (cy - hh) / ih, (cx + hw) / iw, (cy + hh) / ih};
    for (int k = 0; k < 4; k++) {
        double v = clip ? fmin(fmax(b[k], 0.0), 1.0) : b[k];
        skiff__store_f64(data, dt, (*at)++, v);
    }
}

static skiff_status_t *run_prior_box(skiff__kctx *ctx)
{
    int64_t fh, fw, ih, iw;
    const float *mins, *maxs, *ars, *var, *step;
    int n_min, n_max, n_ar, n_var, n_step;
    skiff_status_t *st;
    if ((st = prior_shapes(ctx, &fh, &fw, &ih, &iw)) ||
        (st = floats_attr(ctx, "min_sizes", -1, &mins, &n_min)) ||
        (st = floats_attr(ctx, "max_sizes", -1, &maxs, &n_max)) ||
        (st = floats_attr(ctx, "aspect_ratios", -1, &ars, &n_ar)) ||
        (st = floats_attr(ctx, "variances", 4, &var, &n_var)) ||
        (st = floats_attr(ctx, "step", 2, &step, &n_step)))
        return st;
    if (n_min < 1 || n_ar < 1 || (n_max && n_max != n_min))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "%d min_sizes, %d max_sizes, %d aspect_ratios: need at least one "
                           "min size and ratio, and as many max sizes as min sizes or none",
                           n_min, n_max, n_ar);
    bool clip = skiff__attr_int(ctx->node, "clip", 0) != 0;
    bool mm_order = skiff__attr_int(ctx->node, "min_max_aspect_ratios_order", 0) != 0;
    double offset = skiff__attr_float(ctx->node, "offset", 0.5f);
    double sw = step[0], sh = step[1];
    if (sw == 0 || sh == 0) {
        sw = (double)(float)((float)iw / (float)fw);
        sh = (double)(float)((float)ih / (float)fh);
    }
    int n_one = 0;
    for (int r = 0; r < n_ar; r++)
        n_one += fabs(ars[r] - 1.0) < 1e-6;
    if (mm_order && n_one != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "aspect_ratios must hold 1 exactly once with "
                           "min_max_aspect_ratios_order, it holds it %d times",
                           n_one);
    int64_t np = (int64_t)n_ar * n_min + n_max;
    int64_t dims[4] = {fh, fw, np, 4};
    skiff_tensor_t *out;
    if ((st = prior_outputs(ctx, 4, dims, var, &out)))
        return st;
    skiff_dtype_t dt = out->dtype;
    int64_t at = 0;
    for (int64_t h = 0; h < fh; h++) {
        for (int64_t w = 0; w < fw; w++) {
            double cx = (float)((w + offset) * sw), cy = (float)((h + offset) * sh);
            for (int s = 0; s < n_min; s++) {
                double mn = mins[s];
                if (mm_order) {
                    put_box(out->data, dt, &at, cx, cy, mn / 2, mn / 2, iw, ih, clip);
                    if (n_max) {
                        double r = sqrt(mn * maxs[s]) / 2;
                        put_box(out->data, dt, &at, cx, cy, r, r, iw, ih, clip);
                    }
                    for (int r = 0; r < n_ar; r++) {
                        if (fabs(ars[r] - 1.0) < 1e-6)
                            continue;
                        double q = sqrt(ars[r]);
                        put_box(out->data, dt, &at, cx, cy, mn * q / 2, mn / q / 2, iw, ih, clip);
                    }
                } else {
                    for (int r = 0; r < n_ar; r++) {
                        double q = sqrt(ars[r]);
                        put_box(out->data, dt, &at, cx, cy, mn * q / 2, mn / q / 2, iw, ih, clip);
                    }
                    if (n_max) {
                        double r = sqrt(mn * maxs[s]) / 2;
                        put_box(out->data, dt, &at, cx, cy, r, r, iw, ih, clip);
                    }
                }
            }
        }
    }
    return NULL;
}

/* ==== density_prior_box ====================================================== */

static skiff_status_t *run_density_prior_box(skiff__kctx *ctx)
{
    int64_t fh, fw, ih, iw;
    const float *sizes, *ratios, *var, *step;
    const int64_t *dens;
    int n_size, n_ratio, n_var, n_step;
    skiff_status_t *st;
    if ((st = prior_shapes(ctx, &fh, &fw, &ih, &iw)) ||
        (st = floats_attr(ctx, "fixed_sizes", -1, &sizes, &n_size)) ||
        (st = floats_attr(ctx, "fixed_ratios", -1, &ratios, &n_ratio)) ||
        (st = floats_attr(ctx, "variances", 4, &var, &n_var)) ||
        (st = floats_attr(ctx, "step", 2, &step, &n_step)))
        return st;
    int n_dens = skiff__attr_ints(ctx->node, "densities", &dens);
    if (n_dens != n_size || n_size < 1 || n_ratio < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "%d fixed_sizes, %d densities, %d fixed_ratios: need one density "
                           "per fixed size and at least one of each",
                           n_size, n_dens, n_ratio);
    int64_t np = 0;
    for (int s = 0; s < n_size; s++) {
        if (dens[s] < 1 || dens[s] > 1024)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "densities[%d] = %lld is not in [1, 1024]", s, (long long)dens[s]);
        np += n_ratio * dens[s] * dens[s];
    }
    bool clip = skiff__attr_int(ctx->node, "clip", 0) != 0;
    bool flat = skiff__attr_int(ctx->node, "flatten_to_2d", 0) != 0;
    float offset = skiff__attr_float(ctx->node, "offset", 0.5f);
    float sw = step[0], sh = step[1];
    if (sw == 0 || sh == 0) {
        sw = (float)iw / (float)fw;
        sh = (float)ih / (float)fh;
    }
    int64_t dims4[4] = {fh, fw, np, 4}, dims2[2] = {fh * fw * np, 4};
    skiff_tensor_t *out;
    if ((st = prior_outputs(ctx, flat ? 2 : 4, flat ? dims2 : dims4, var, &out)))
        return st;
    int step_avg = (int)((sw + sh) * 0.5);
    int64_t at = 0;
    for (int64_t h = 0; h < fh; h++) {
        for (int64_t w = 0; w < fw; w++) {
            float cx = ((float)w + offset) * sw, cy = ((float)h + offset) * sh;
            for (int s = 0; s < n_size; s++) {
                int d = (int)dens[s], shift = step_avg / d;
                for (int r = 0; r < n_ratio; r++) {
                    float q = sqrtf(ratios[r]);
                    float bw = sizes[s] * q, bh = sizes[s] / q;
                    float dcx = (float)(cx - step_avg / 2. + shift / 2.);
                    float dcy = (float)(cy - step_avg / 2. + shift / 2.);
                    for (int di = 0; di < d; di++) {
                        for (int dj = 0; dj < d; dj++) {
                            float x = dcx + (float)(dj * shift), y = dcy + (float)(di * shift);
                            double b[4] = {fmax((x - bw / 2.) / (double)iw, 0.),
                                           fmax((y - bh / 2.) / (double)ih, 0.),
                                           fmin((x + bw / 2.) / (double)iw, 1.),
                                           fmin((y + bh / 2.) / (double)ih, 1.)};
                            for (int k = 0; k < 4; k++)
                                skiff__store_f64(out->data, out->dtype, at++,
                                                 clip ? fmin(fmax(b[k], 0.), 1.) : b[k]);
                        }
                    }
                }
            }
        }
    }
    return NULL;
}

/* ==== box_coder ============================================================= */

/* The variance of prior j: PriorBoxVar's row, the `variance` attribute, or 1s. */
static const float *box_var(const float *pvar, const float *attr_var, int64_t j)
{
    static const float ones[4] = {1, 1, 1, 1};
    return pvar ? pvar + j * 4 : attr_var ? attr_var : ones;
}

static void encode_center_size(const float *prior, const float *pvar, const float *avar,
                               const float *target, int64_t n, int64_t m, float norm, float *out)
{
    for (int64_t i = 0; i < n; i++) {
        const float *t = target + i * 4;
        float tcx = (t[2] + t[0]) / 2, tcy = (t[3] + t[1]) / 2;
        float tw = t[2] - t[0] + norm, th = t[3] - t[1] + norm;
        for (int64_t j = 0; j < m; j++) {
            const float *p = prior + j * 4, *v = box_var(pvar, avar, j);
            float pw = p[2] - p[0] + norm, ph = p[3] - p[1] + norm;
            float pcx = p[0] + pw / 2, pcy = p[1] + ph / 2;
            float *o = out + (i * m + j) * 4;
            o[0] = (tcx - pcx) / pw;
            o[1] = (tcy - pcy) / ph;
            o[2] = logf(fabsf(tw / pw));
            o[3] = logf(fabsf(th / ph));
            if (pvar || avar)
                for (int k = 0; k < 4; k++)
                    o[k] /= v[k];
        }
    }
}

static void decode_center_size(const float *prior, const float *pvar, const float *avar,
                               const float *target, int64_t rows, int64_t cols, int axis,
                               float norm, float *out)
{
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < cols; j++) {
            int64_t pj = axis == 0 ? j : i;
            const float *p = prior + pj * 4, *v = box_var(pvar, avar, pj);
            const float *t = target + (i * cols + j) * 4;
            float pw = p[2] - p[0] + norm, ph = p[3] - p[1] + norm;
            float pcx = p[0] + pw / 2, pcy = p[1] + ph / 2;
            float cx = v[0] * t[0] * pw + pcx, cy = v[1] * t[1] * ph + pcy;
            float w = expf(v[2] * t[2]) * pw, h = expf(v[3] * t[3]) * ph;
            float *o = out + (i * cols + j) * 4;
            o[0] = cx - w / 2;
            o[1] = cy - h / 2;
            o[2] = cx + w / 2 - norm;
            o[3] = cy + h / 2 - norm;
        }
    }
}

static skiff_status_t *run_box_coder(skiff__kctx *ctx)
{
    const skiff_tensor_t *prior, *pvar = NULL, *target;
    skiff_status_t *st;
    if ((st = need_f32(ctx, 0, "PriorBox", 2, &prior)) ||
        (st = need_f32(ctx, 2, "TargetBox", -1, &target)))
        return st;
    if (skiff__kctx_opt(ctx, 1) && (st = need_f32(ctx, 1, "PriorBoxVar", 2, &pvar)))
        return st;
    int64_t m = prior->dims[0];
    if (prior->dims[1] != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'PriorBox': expected shape [M, 4], got [%lld, %lld]",
                           (long long)m, (long long)prior->dims[1]);
    if (pvar && (pvar->dims[0] != m || pvar->dims[1] != 4))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'PriorBoxVar': expected shape [%lld, 4] as PriorBox, got "
                           "[%lld, %lld]",
                           (long long)m, (long long)pvar->dims[0], (long long)pvar->dims[1]);
    const float *avar;
    int n_avar = skiff__attr_floats(ctx->node, "variance", &avar);
    if (n_avar <= 0)
        avar = NULL;
    else if (n_avar != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute variance: expected 4 values, got %d", n_avar);
    const char *code = skiff__attr_str(ctx->node, "code_type", "encode_center_size");
    float norm = skiff__attr_int(ctx->node, "box_normalized", 1) ? 0.0f : 1.0f;
    int64_t axis = skiff__attr_int(ctx->node, "axis", 0);
    skiff_tensor_t *out;
    if (!strcmp(code, "encode_center_size")) {
        if (target->ndim != 2 || target->dims[1] != 4)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'TargetBox': encode_center_size expects shape [N, 4], got "
                               "rank %d",
                               target->ndim);
        int64_t n = target->dims[0], dims[3] = {n, m, 4};
        if (!(out = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 3, dims, &st)))
            return st;
        encode_center_size(prior->data, pvar ? pvar->data : NULL, avar, target->data, n, m, norm,
                           out->data);
        return NULL;
    }
    if (strcmp(code, "decode_center_size") != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "code_type '%s' is not known", code);
    if (axis != 0 && axis != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld: expected 0 or 1",
                           (long long)axis);
    if (target->ndim != 3 || target->dims[2] != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'TargetBox': decode_center_size expects shape [N, M, 4], got "
                           "rank %d",
                           target->ndim);
    if (target->dims[axis == 0 ? 1 : 0] != m)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'TargetBox': dim %d is %lld, PriorBox has %lld boxes (axis %lld)",
                           axis == 0 ? 1 : 0, (long long)target->dims[axis == 0 ? 1 : 0],
                           (long long)m, (long long)axis);
    if (!(out = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 3, target->dims, &st)))
        return st;
    decode_center_size(prior->data, pvar ? pvar->data : NULL, avar, target->data, target->dims[0],
                       target->dims[1], (int)axis, norm, out->data);
    return NULL;
}

/* ==== yolo_box =============================================================== */

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

typedef struct yolo_params {
    const int64_t *anchors;
    int an_num, class_num, ratio;
    float conf_thresh, scale, bias, iou_factor;
    bool clip, iou_aware;
} yolo_params;

/* One image: x is its [an_num * (class_num + 5 (+1)), h, w] block. */
static void yolo_image(const yolo_params *p, const float *x, int64_t h, int64_t w, float img_h,
                       float img_w, float *boxes, float *scores)
{
    int64_t stride = h * w, an_stride = (int64_t)(p->class_num + 5) * stride;
    float in_h = (float)(p->ratio * h), in_w = (float)(p->ratio * w);
    /* with iou_aware, the an_num IoU maps come first */
    const float *iou = x, *body = p->iou_aware ? x + p->an_num * stride : x;
    for (int a = 0; a < p->an_num; a++) {
        const float *e = body + a * an_stride;
        for (int64_t k = 0; k < h; k++) {
            for (int64_t l = 0; l < w; l++) {
                int64_t hw = k * w + l, at = a * stride + hw;
                float conf = sigmoidf(e[4 * stride + hw]);
                if (p->iou_aware)
                    conf = powf(conf, 1.0f - p->iou_factor) *
                           powf(sigmoidf(iou[a * stride + hw]), p->iou_factor);
                if (conf < p->conf_thresh)
                    continue;
                float bx = ((float)l + sigmoidf(e[hw]) * p->scale + p->bias) * img_w / (float)w;
                float by =
                    ((float)k + sigmoidf(e[stride + hw]) * p->scale + p->bias) * img_h / (float)h;
                float bw = expf(e[2 * stride + hw]) * (float)p->anchors[2 * a] * img_w / in_w;
                float bh = expf(e[3 * stride + hw]) * (float)p->anchors[2 * a + 1] * img_h / in_h;
                float *b = boxes + at * 4;
                b[0] = bx - bw / 2;
                b[1] = by - bh / 2;
                b[2] = bx + bw / 2;
                b[3] = by + bh / 2;
                if (p->clip) {
                    b[0] = b[0] > 0 ? b[0] : 0;
                    b[1] = b[1] > 0 ? b[1] : 0;
                    b[2] = b[2] < img_w - 1 ? b[2] : img_w - 1;
                    b[3] = b[3] < img_h - 1 ? b[3] : img_h - 1;
                }
                float *s = scores + at * p->class_num;
                for (int c = 0; c < p->class_num; c++)
                    s[c] = conf * sigmoidf(e[(5 + c) * stride + hw]);
            }
        }
    }
}

static skiff_status_t *run_yolo_box(skiff__kctx *ctx)
{
    const skiff_tensor_t *x, *isz;
    skiff_status_t *st;
    if ((st = need_f32(ctx, 0, "X", 4, &x)) || (st = skiff__kctx_input(ctx, 1, "ImgSize", &isz)))
        return st;
    yolo_params p = {
        .class_num = (int)skiff__attr_int(ctx->node, "class_num", 0),
        .ratio = (int)skiff__attr_int(ctx->node, "downsample_ratio", 32),
        .conf_thresh = skiff__attr_float(ctx->node, "conf_thresh", 0.01f),
        .scale = skiff__attr_float(ctx->node, "scale_x_y", 1.0f),
        .iou_factor = skiff__attr_float(ctx->node, "iou_aware_factor", 0.5f),
        .clip = skiff__attr_int(ctx->node, "clip_bbox", 1) != 0,
        .iou_aware = skiff__attr_int(ctx->node, "iou_aware", 0) != 0,
    };
    int n_anchor = skiff__attr_ints(ctx->node, "anchors", &p.anchors);
    if (n_anchor < 2 || n_anchor % 2 || p.class_num < 1 || p.ratio < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "anchors (%d values), class_num %d, downsample_ratio %d: need anchor "
                           "pairs and positive class_num and downsample_ratio",
                           n_anchor, p.class_num, p.ratio);
    p.an_num = n_anchor / 2;
    p.bias = -0.5f * (p.scale - 1.0f);
    int64_t n = x->dims[0], h = x->dims[2], w = x->dims[3];
    int64_t want = (int64_t)p.an_num * (p.class_num + 5 + (p.iou_aware ? 1 : 0));
    if (x->dims[1] != want)
        return skiff__kerr(
            ctx, SKIFF_CODE_INVALID_ARG,
            "input 'X': %lld channels, expected %lld for %d anchors and %d classes%s",
            (long long)x->dims[1], (long long)want, p.an_num, p.class_num,
            p.iou_aware ? " (iou_aware)" : "");
    if (isz->ndim != 2 || isz->dims[0] != n || isz->dims[1] != 2 ||
        !skiff__dtype_is_int(isz->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'ImgSize': expected an integer tensor of shape [%lld, 2]",
                           (long long)n);
    int64_t box_num = p.an_num * h * w;
    int64_t bd[3] = {n, box_num, 4}, sd[3] = {n, box_num, p.class_num};
    skiff_tensor_t *boxes = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 3, bd, &st);
    if (!boxes)
        return st;
    skiff_tensor_t *scores = skiff__kctx_output(ctx, 1, SKIFF_DTYPE_FLOAT32, 3, sd, &st);
    if (!scores)
        return st;
    memset(boxes->data, 0, boxes->nbytes);
    memset(scores->data, 0, scores->nbytes);
    int64_t img_elems = x->dims[1] * h * w;
    for (int64_t i = 0; i < n; i++)
        yolo_image(&p, (const float *)x->data + i * img_elems, h, w,
                   (float)skiff__tensor_get_i64(isz, 2 * i),
                   (float)skiff__tensor_get_i64(isz, 2 * i + 1),
                   (float *)boxes->data + i * box_num * 4,
                   (float *)scores->data + i * box_num * p.class_num);
    return NULL;
}

/* ==== multiclass_nms, multiclass_nms3 ====================================== */

typedef struct nms_params {
    int64_t background, top_k, keep_top_k;
    float score_thresh, nms_thresh, eta;
    bool normalized;
} nms_params;

/* One image's boxes and scores: box (c, j) at boxes + j * box_js + c *
 * box_cs, score (c, j) at scores + j * sc_js + c * sc_cs. Scores [N, C, M]
 * share one set of boxes among classes; Scores [M, C] with BBoxes [M, C, 4]
 * (the RoisNum form) give each class its own. */
typedef struct nms_view {
    const float *boxes, *scores;
    int64_t box_js, box_cs, sc_js, sc_cs, m;
    bool per_class; /* the RoisNum form: each class's indices in ascending order */
} nms_view;

typedef struct nms_cand {
    float score;
    int32_t idx;
    int32_t label;
    int64_t ord;
} nms_cand;

static int cand_by_score(const void *a, const void *b)
{
    const nms_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int cand_by_label(const void *a, const void *b)
{
    const nms_cand *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static float box_area(const float *b, bool normalized)
{
    if (b[2] < b[0] || b[3] < b[1])
        return 0.0f;
    float w = b[2] - b[0], h = b[3] - b[1];
    return normalized ? w * h : (w + 1) * (h + 1);
}

static float iou(const float *a, const float *b, bool normalized)
{
    if (b[0] > a[2] || b[2] < a[0] || b[1] > a[3] || b[3] < a[1])
        return 0.0f;
    float norm = normalized ? 0.0f : 1.0f;
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]) + norm;
    float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]) + norm;
    float inter = iw * ih;
    return inter / (box_area(a, normalized) + box_area(b, normalized) - inter);
}

/* Paddle's NMSFast for class c: the candidates above the score threshold by
 * descending score (ties by index), the first top_k of them, then greedy
 * suppression with the adaptive threshold. The kept indices go to sel, in
 * the order kept; returns their count. */
static int64_t nms_class(const nms_params *p, const nms_view *v, int64_t c, nms_cand *cand,
                         int32_t *sel)
{
    int64_t n = 0;
    const float *sc = v->scores + c * v->sc_cs;
    for (int64_t j = 0; j < v->m; j++) {
        float s = sc[j * v->sc_js];
        if (s > p->score_thresh)
            cand[n++] = (nms_cand){.score = s, .idx = (int32_t)j, .ord = j};
    }
    qsort(cand, (size_t)n, sizeof(*cand), cand_by_score);
    if (p->top_k > -1 && p->top_k < n)
        n = p->top_k;
    const float *bx = v->boxes + c * v->box_cs;
    float thresh = p->nms_thresh;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *b = bx + cand[i].idx * v->box_js;
        bool keep = true;
        for (int64_t k = 0; k < kept && keep; k++)
            keep = iou(b, bx + sel[k] * v->box_js, p->normalized) <= thresh;
        if (!keep)
            continue;
        sel[kept++] = cand[i].idx;
        if (p->eta < 1 && thresh > 0.5f)
            thresh *= p->eta;
    }
    if (v->per_class)
        qsort(sel, (size_t)kept, sizeof(*sel), cmp_i32);
    return kept;
}

/* Scratch sizes for one image of m boxes and nc classes. */
typedef struct nms_work {
    nms_cand *cand; /* m, then reused for keep_top_k: nc * k */
    int32_t *sel;   /* nc * k */
    int64_t k;      /* most boxes a class keeps */
} nms_work;

/* One image: its detections as (label, index) pairs in Paddle's output
 * order, into out (room for nc * k); returns their count. */
static int64_t nms_image(const nms_params *p, const nms_view *v, int64_t nc, nms_work *w,
                         int32_t *out)
{
    int64_t total = 0;
    for (int64_t c = 0; c < nc; c++) {
        if (c == p->background)
            continue;
        int64_t kept = nms_class(p, v, c, w->cand, w->sel + total);
        for (int64_t i = 0; i < kept; i++) {
            out[2 * (total + i)] = (int32_t)c;
            out[2 * (total + i) + 1] = w->sel[total + i];
        }
        total += kept;
    }
    if (p->keep_top_k <= -1 || total <= p->keep_top_k)
        return total;
    /* keep_top_k across classes: by score, ties in (label, kept order);
     * then back to label order, each label's boxes by that rank (or by
     * index in the RoisNum form). */
    nms_cand *all = w->cand;
    for (int64_t i = 0; i < total; i++) {
        int32_t c = out[2 * i], j = out[2 * i + 1];
        all[i] = (nms_cand){
            .score = v->scores[c * v->sc_cs + j * v->sc_js], .idx = j, .label = c, .ord = i};
    }
    qsort(all, (size_t)total, sizeof(*all), cand_by_score);
    total = p->keep_top_k;
    for (int64_t i = 0; i < total; i++)
        all[i].ord = v->per_class ? all[i].idx : i;
    qsort(all, (size_t)total, sizeof(*all), cand_by_label);
    for (int64_t i = 0; i < total; i++) {
        out[2 * i] = all[i].label;
        out[2 * i + 1] = all[i].idx;
    }
    return total;
}

/* The images' views: Scores [N, C, M] with BBoxes [N, M, 4], or Scores
 * [M, C] with BBoxes [M, C, 4] split by RoisNum. */
static skiff_status_t *nms_inputs(const skiff__kctx *ctx, const skiff_tensor_t **bb,
                                  const skiff_tensor_t **sc, const skiff_tensor_t **rois,
                                  int64_t *n_img, int64_t *nc, int64_t *m_max)
{
    skiff_status_t *st;
    if ((st = need_f32(ctx, 0, "BBoxes", 3, bb)) || (st = need_f32(ctx, 1, "Scores", -1, sc)))
        return st;
    const int64_t *bd = (*bb)->dims, *sd = (*sc)->dims;
    if (bd[2] != 4)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "input 'BBoxes': boxes of %lld coordinates (only 4: [x1, y1, x2, y2])",
                           (long long)bd[2]);
    *rois = NULL;
    if ((*sc)->ndim == 3) {
        if (bd[0] != sd[0] || bd[1] != sd[2])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "BBoxes [%lld, %lld, 4] and Scores [%lld, %lld, %lld] disagree: "
                               "expected BBoxes [N, M, 4] and Scores [N, C, M]",
                               (long long)bd[0], (long long)bd[1], (long long)sd[0],
                               (long long)sd[1], (long long)sd[2]);
        *n_img = sd[0];
        *nc = sd[1];
        *m_max = sd[2];
        return NULL;
    }
    if ((*sc)->ndim != 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'Scores': expected rank 2 or 3, got %d", (*sc)->ndim);
    const skiff_tensor_t *r = skiff__kctx_opt(ctx, 2);
    if (!r)
        return skiff__kerr(
            ctx, SKIFF_CODE_UNSUPPORTED,
            "Scores of rank 2 need the RoisNum input (LoD inputs are not supported)");
    if (bd[0] != sd[0] || bd[1] != sd[1])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "BBoxes [%lld, %lld, 4] and Scores [%lld, %lld] disagree: expected "
                           "BBoxes [M, C, 4] and Scores [M, C]",
                           (long long)bd[0], (long long)bd[1], (long long)sd[0], (long long)sd[1]);
    if (r->ndim != 1 || !skiff__dtype_is_int(r->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'RoisNum': expected a 1-D integer tensor");
    int64_t sum = 0, mx = 0;
    for (int64_t i = 0; i < r->dims[0]; i++) {
        int64_t k = skiff__tensor_get_i64(r, i);
        if (k < 0 || k > sd[0] - sum)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'RoisNum': counts do not add up to the %lld boxes",
                               (long long)sd[0]);
        sum += k;
        mx = k > mx ? k : mx;
    }
    if (sum != sd[0])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'RoisNum': counts add up to %lld, BBoxes has %lld boxes",
                           (long long)sum, (long long)sd[0]);
    *rois = r;
    *n_img = r->dims[0];
    *nc = sd[1];
    *m_max = mx;
    return NULL;
}

static nms_view image_view(const skiff_tensor_t *bb, const skiff_tensor_t *sc,
                           const skiff_tensor_t *rois, int64_t i, int64_t *start)
{
    const float *b = bb->data, *s = sc->data;
    if (!rois) {
        int64_t nc = sc->dims[1], m = sc->dims[2];
        *start = i * m;
        return (nms_view){.boxes = b + i * m * 4,
                          .scores = s + i * nc * m,
                          .box_js = 4,
                          .sc_js = 1,
                          .sc_cs = m,
                          .m = m};
    }
    int64_t nc = sc->dims[1];
    *start = 0;
    for (int64_t k = 0; k < i; k++)
        *start += skiff__tensor_get_i64(rois, k);
    return (nms_view){.boxes = b + *start * nc * 4,
                      .scores = s + *start * nc,
                      .box_js = nc * 4,
                      .box_cs = 4,
                      .sc_js = nc,
                      .sc_cs = 1,
                      .m = skiff__tensor_get_i64(rois, i),
                      .per_class = true};
}

/* Out [No, 6] (label, score, x1, y1, x2, y2), rows by image; for
 * multiclass_nms3 also Index [No, 1] (the box's index across the batch)
 * and NmsRoisNum [N] (rows per image). With no detection at all,
 * multiclass_nms gives Paddle's single row [-1] ([1, 1]); multiclass_nms3
 * gives [0, 6]. */
static skiff_status_t *write_nms(skiff__kctx *ctx, const skiff_tensor_t *bb,
                                 const skiff_tensor_t *sc, const skiff_tensor_t *rois,
                                 int64_t n_img, const int32_t *res, const int64_t *counts,
                                 int64_t rows)
{
    bool v3 = strcmp(ctx->node->op_type, "multiclass_nms3") == 0;
    skiff_status_t *st;
    int64_t od[2] = {rows, 6};
    if (rows == 0 && !v3) {
        od[1] = 1;
        od[0] = 1;
    }
    skiff_tensor_t *out = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 2, od, &st);
    if (!out)
        return st;
    if (rows == 0 && !v3)
        ((float *)out->data)[0] = -1;
    int32_t *index = NULL, *nums = NULL;
    if (v3 && ctx->n_out > 1) {
        int64_t id[2] = {rows, 1};
        skiff_tensor_t *t = skiff__kctx_output(ctx, 1, SKIFF_DTYPE_INT32, 2, id, &st);
        if (!t)
            return st;
        index = t->data;
    }
    if (v3 && ctx->n_out > 2) {
        skiff_tensor_t *t = skiff__kctx_output(ctx, 2, SKIFF_DTYPE_INT32, 1, &n_img, &st);
        if (!t)
            return st;
        nums = t->data;
    }
    float *o = out->data;
    int64_t r = 0;
    for (int64_t i = 0; i < n_img; i++) {
        int64_t start;
        nms_view v = image_view(bb, sc, rois, i, &start);
        int64_t nc = sc->dims[1];
        if (nums)
            nums[i] = (int32_t)counts[i];
        for (int64_t k = 0; k < counts[i]; k++, r++) {
            int32_t c = res[2 * r], j = res[2 * r + 1];
            const float *b = v.boxes + j * v.box_js + c * v.box_cs;
            float *row = o + r * 6;
            row[0] = (float)c;
            row[1] = v.scores[j * v.sc_js + c * v.sc_cs];
            memcpy(row + 2, b, 4 * sizeof(float));
            if (index)
                index[r] = (int32_t)(rois ? (start + j) * nc + c : start + j);
        }
    }
    return NULL;
}

static skiff_status_t *run_multiclass_nms(skiff__kctx *ctx)
{
    const skiff_tensor_t *bb, *sc, *rois;
    int64_t n_img = 0, nc = 0, m_max = 0;
    skiff_status_t *st = nms_inputs(ctx, &bb, &sc, &rois, &n_img, &nc, &m_max);
    if (st)
        return st;
    if (skiff_tensor_numel(bb) > INT32_MAX || skiff_tensor_numel(sc) > INT32_MAX)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "more than 2^31 boxes or scores");
    nms_params p = {
        .background = skiff__attr_int(ctx->node, "background_label", 0),
        .top_k = skiff__attr_int(ctx->node, "nms_top_k", -1),
        .keep_top_k = skiff__attr_int(ctx->node, "keep_top_k", -1),
        .score_thresh = skiff__attr_float(ctx->node, "score_threshold", 0.0f),
        .nms_thresh = skiff__attr_float(ctx->node, "nms_threshold", 0.3f),
        .eta = skiff__attr_float(ctx->node, "nms_eta", 1.0f),
        .normalized = skiff__attr_int(ctx->node, "normalized", 1) != 0,
    };
    nms_work w = {.k = p.top_k > -1 && p.top_k < m_max ? p.top_k : m_max};
    /* per image: candidates (m, or nc * k for keep_top_k), kept indices
     * (nc * k) and (label, index) pairs (nc * k); then every image's pairs */
    size_t per = (size_t)nc * (size_t)w.k, ncand = per > (size_t)m_max ? per : (size_t)m_max;
    size_t keep = p.keep_top_k > -1 && (size_t)p.keep_top_k < per ? (size_t)p.keep_top_k : per;
    if (per > ((size_t)1 << 31) || keep * (size_t)n_img > ((size_t)1 << 31))
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "%lld classes x %lld boxes x %lld images: too many detections to hold",
                           (long long)nc, (long long)w.k, (long long)n_img);
    /* the greedy pass compares each candidate with the boxes its class kept */
    if ((st = skiff__kctx_cost(ctx, (double)n_img * (double)nc *
                                        ((double)m_max + (double)w.k * (double)w.k))))
        return st;
    size_t b_cand = skiff__page_up(ncand * sizeof(nms_cand)),
           b_sel = skiff__page_up(per * sizeof(int32_t) + 1),
           b_pair = skiff__page_up(2 * per * sizeof(int32_t) + 1),
           b_res = 2 * keep * (size_t)n_img * sizeof(int32_t) + (size_t)n_img * sizeof(int64_t) + 8;
    char *mem = skiff__kctx_scratch(ctx, b_cand + b_sel + b_pair + b_res);
    if (!mem)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    w.cand = (nms_cand *)mem;
    w.sel = (int32_t *)(mem + b_cand);
    int32_t *pairs = (int32_t *)(mem + b_cand + b_sel);
    int64_t *counts = (int64_t *)(mem + b_cand + b_sel + b_pair);
    int32_t *res = (int32_t *)(counts + n_img);
    int64_t rows = 0;
    for (int64_t i = 0; i < n_img; i++) {
        int64_t start;
        nms_view v = image_view(bb, sc, rois, i, &start);
        counts[i] = v.m ? nms_image(&p, &v, nc, &w, pairs) : 0;
        memcpy(res + 2 * rows, pairs, (size_t)counts[i] * 2 * sizeof(int32_t));
        rows += counts[i];
    }
    return write_nms(ctx, bb, sc, rois, n_img, res, counts, rows);
}

const skiff__op skiff__ops_paddle_detect[] = {
    {.type = "prior_box", .domain = SKIFF_DOMAIN_PADDLE, .min_opset = 1, .run = run_prior_box},
    {.type = "density_prior_box",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_density_prior_box},
    {.type = "box_coder", .domain = SKIFF_DOMAIN_PADDLE, .min_opset = 1, .run = run_box_coder},
    {.type = "yolo_box", .domain = SKIFF_DOMAIN_PADDLE, .min_opset = 1, .run = run_yolo_box},
    {.type = "multiclass_nms",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_multiclass_nms},
    {.type = "multiclass_nms3",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_multiclass_nms},
    {.type = NULL},
};
