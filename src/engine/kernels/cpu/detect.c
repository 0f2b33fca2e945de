/* detect.c - the operators object detectors end in: NonMaxSuppression
 * (opset 10+) and RoiAlign (opset 10, and 16's coordinate modes).
 *
 * NonMaxSuppression is greedy per (batch, class): candidates above the
 * score threshold in descending score (equal scores by lower box index, so
 * the result is deterministic), a candidate kept when its IoU with every box
 * kept before it is at most iou_threshold, until max_output_boxes_per_class
 * are kept. The score test is strict (score > score_threshold) and a box of
 * zero area overlaps nothing, as in ONNX Runtime, against which exported
 * detectors are usually checked. With many candidates the kept boxes are
 * bucketed by x (nms_grid), so each candidate meets only its neighbours:
 * SSDlite's 27,000 shifted candidates took 3 s with a scan of every kept box
 * and take 45 ms so (tests/reference/nms_check.py checks both ways against
 * ONNX Runtime).
 *
 * RoiAlign samples each output bin on a grid (sampling_ratio per side, or
 * ceil(roi size / output size) when 0) by bilinear interpolation and averages
 * the samples ('avg') or keeps the largest ('max'). Bilinear weights are
 * separable, so per RoI the kernel tabulates the rows and columns it samples
 * (two small tables) and walks channels in parallel over them. In 'max' mode
 * a sample's value is the largest of its four weighted corner terms, the
 * definition ONNX Runtime and onnx's reference implementation use (not the
 * interpolated value). A sample more than one pixel outside the map counts
 * as zero. */
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../engine_int.h"

/* ==== NonMaxSuppression ======================================================= */

typedef struct nms_box {
    float y0, x0, y1, x1, area;
} nms_box;

typedef struct nms_cand {
    float score;
    int64_t idx;
} nms_cand;

/* Whether candidate a is taken before b: higher score first, NaN last,
 * then the lower box index (a total order). */
static inline bool cand_before(const nms_cand *a, const nms_cand *b)
{
    bool na = isnan(a->score), nb = isnan(b->score);
    if (na != nb)
        return nb;
    if (!na && a->score != b->score)
        return a->score > b->score;
    return a->idx < b->idx;
}

/* Sifts h[i] down the heap h[0..n) (the next candidate on top). A heap
 * rather than a sort: a class stops after max_output_boxes_per_class kept
 * boxes, usually long before its candidates run out. */
static void cand_sift(nms_cand *h, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, best = i;
        if (l < n && cand_before(&h[l], &h[best]))
            best = l;
        if (l + 1 < n && cand_before(&h[l + 1], &h[best]))
            best = l + 1;
        if (best == i)
            return;
        nms_cand t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

static nms_box nms_read_box(const float *p, bool center)
{
    nms_box b;
    if (center) {
        float xc = p[0], yc = p[1], w = p[2], h = p[3];
        b.x0 = xc - w / 2.0f;
        b.x1 = xc + w / 2.0f;
        b.y0 = yc - h / 2.0f;
        b.y1 = yc + h / 2.0f;
    } else {
        /* [y1, x1, y2, x2], either diagonal */
        b.y0 = p[0] < p[2] ? p[0] : p[2];
        b.y1 = p[0] < p[2] ? p[2] : p[0];
        b.x0 = p[1] < p[3] ? p[1] : p[3];
        b.x1 = p[1] < p[3] ? p[3] : p[1];
    }
    if (center) {
        float t;
        if (b.x0 > b.x1)
            t = b.x0, b.x0 = b.x1, b.x1 = t;
        if (b.y0 > b.y1)
            t = b.y0, b.y0 = b.y1, b.y1 = t;
    }
    b.area = (b.x1 - b.x0) * (b.y1 - b.y0);
    return b;
}

static bool nms_overlaps(const nms_box *a, const nms_box *b, float thr)
{
    if (a->area <= 0.0f || b->area <= 0.0f)
        return false;
    float ix0 = a->x0 > b->x0 ? a->x0 : b->x0, ix1 = a->x1 < b->x1 ? a->x1 : b->x1;
    float iy0 = a->y0 > b->y0 ? a->y0 : b->y0, iy1 = a->y1 < b->y1 ? a->y1 : b->y1;
    if (ix1 <= ix0 || iy1 <= iy0)
        return false;
    float inter = (ix1 - ix0) * (iy1 - iy0);
    float iou = inter / (a->area + b->area - inter);
    return iou > thr;
}

/* The kept boxes of one (batch, class), bucketed by x into cells at least as
 * wide as the widest candidate, so a box spans at most three cells and a
 * candidate is tested against the kept boxes of its own cells only. Exported
 * detectors run NMS once over every class with each class's boxes shifted
 * apart (torchvision's batched_nms): thousands of candidates, nearly all kept,
 * which a scan of every kept box makes quadratic. */
#define NMS_GRID_MIN 64     /* fewer candidates: scan the kept list */
#define NMS_GRID_CELLS 4096 /* at most this many cells (+1) */

typedef struct nms_grid {
    float x0, cellw;
    int64_t ncell;
    int64_t *head; /* [ncell]: first link of each cell, -1 for none */
    int64_t *link; /* [3 * keep][2]: (kept box index, next link) */
    int64_t nlink;
} nms_grid;

/* Sets up the grid over n candidates; false when a coordinate is not finite
 * (the caller scans the kept list instead). */
static bool nms_grid_init(nms_grid *g, const nms_box *bx, const nms_cand *cand, int64_t n)
{
    float lo = INFINITY, hi = -INFINITY, wmax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const nms_box *b = &bx[cand[i].idx];
        if (!isfinite(b->x0) || !isfinite(b->x1) || !isfinite(b->y0) || !isfinite(b->y1))
            return false;
        lo = b->x0 < lo ? b->x0 : lo;
        hi = b->x1 > hi ? b->x1 : hi;
        wmax = b->x1 - b->x0 > wmax ? b->x1 - b->x0 : wmax;
    }
    float span = hi - lo, cellw = wmax;
    if (!(span / (float)NMS_GRID_CELLS <= cellw))
        cellw = span / (float)NMS_GRID_CELLS;
    if (!(cellw > 0.0f) || !isfinite(cellw))
        return false;
    g->x0 = lo;
    g->cellw = cellw;
    g->ncell = (int64_t)(span / cellw) + 2;
    if (g->ncell > NMS_GRID_CELLS + 2)
        g->ncell = NMS_GRID_CELLS + 2;
    for (int64_t c = 0; c < g->ncell; c++)
        g->head[c] = -1;
    g->nlink = 0;
    return true;
}

static int64_t nms_cell(const nms_grid *g, float x)
{
    int64_t c = (int64_t)((x - g->x0) / g->cellw);
    return c < 0 ? 0 : c >= g->ncell ? g->ncell - 1 : c;
}

/* Whether box idx overlaps a kept box in its cells (more than thr). */
static bool nms_grid_drops(const nms_grid *g, const nms_box *bx, int64_t idx, float thr)
{
    const nms_box *b = &bx[idx];
    for (int64_t c = nms_cell(g, b->x0), c1 = nms_cell(g, b->x1); c <= c1; c++)
        for (int64_t l = g->head[c]; l >= 0; l = g->link[2 * l + 1])
            if (nms_overlaps(b, &bx[g->link[2 * l]], thr))
                return true;
    return false;
}

/* Files kept box idx under every cell it spans (at most three). */
static void nms_grid_add(nms_grid *g, const nms_box *bx, int64_t idx)
{
    const nms_box *b = &bx[idx];
    if (!(b->area > 0.0f))
        return; /* overlaps nothing: never needs finding */
    int64_t c0 = nms_cell(g, b->x0), c1 = nms_cell(g, b->x1);
    for (int64_t c = c0; c <= c1 && c < c0 + 3; c++) {
        g->link[2 * g->nlink] = idx;
        g->link[2 * g->nlink + 1] = g->head[c];
        g->head[c] = g->nlink++;
    }
}

/* Optional scalar input i (shape [] or [1]) of type dt, or *present = false. */
static skiff_status_t *nms_scalar(const skiff__kctx *ctx, int i, const char *name, skiff_dtype_t dt,
                                  double *v, bool *present)
{
    const skiff_tensor_t *t = skiff__kctx_opt(ctx, i);
    *present = false;
    if (!t)
        return NULL;
    if (skiff_tensor_numel(t) == 0)
        return NULL; /* an empty tensor stands for the default */
    if (t->dtype != dt)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected %s, got %s", name,
                           skiff_dtype_name(dt), skiff_dtype_name(t->dtype));
    if (skiff_tensor_numel(t) != 1 || t->ndim > 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a scalar, got %lld elements in %d dims", name,
                           (long long)skiff_tensor_numel(t), t->ndim);
    *v =
        dt == SKIFF_DTYPE_INT64 ? (double)skiff__tensor_get_i64(t, 0) : skiff__tensor_get_f64(t, 0);
    *present = true;
    return NULL;
}

static skiff_status_t *run_nms(skiff__kctx *ctx)
{
    const skiff_tensor_t *B, *S;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "boxes", &B)) ||
        (st = skiff__kctx_input(ctx, 1, "scores", &S)))
        return st;
    char a[64], b[64];
    if (B->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, "boxes", B->dtype);
    if (S->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, "scores", S->dtype);
    if (B->ndim != 3 || B->dims[2] != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'boxes': expected [num_batches, spatial_dimension, 4], got %s",
                           skiff_shape_str(B->ndim, B->dims, a, sizeof(a)));
    if (S->ndim != 3 || S->dims[0] != B->dims[0] || S->dims[2] != B->dims[1])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'scores': expected [%lld, num_classes, %lld] for boxes %s, "
                           "got %s",
                           (long long)B->dims[0], (long long)B->dims[1],
                           skiff_shape_str(B->ndim, B->dims, a, sizeof(a)),
                           skiff_shape_str(S->ndim, S->dims, b, sizeof(b)));
    int64_t cpb = skiff__attr_int(ctx->node, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'center_point_box': expected 0 or 1, got %lld",
                           (long long)cpb);
    double max_out = 0.0, iou_thr = 0.0, score_thr = 0.0;
    bool has_max, has_iou, has_score;
    if ((st = nms_scalar(ctx, 2, "max_output_boxes_per_class", SKIFF_DTYPE_INT64, &max_out,
                         &has_max)) ||
        (st = nms_scalar(ctx, 3, "iou_threshold", SKIFF_DTYPE_FLOAT32, &iou_thr, &has_iou)) ||
        (st = nms_scalar(ctx, 4, "score_threshold", SKIFF_DTYPE_FLOAT32, &score_thr, &has_score)))
        return st;
    if (has_iou && !(iou_thr >= 0.0 && iou_thr <= 1.0))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'iou_threshold': expected a value in [0, 1], got %g", iou_thr);
    const int64_t nb = B->dims[0], ns = B->dims[1], nc = S->dims[1];
    int64_t keep = max_out <= 0.0 ? 0 : max_out >= (double)ns ? ns : (int64_t)max_out;
    int64_t cap = keep > 0 ? nb * nc * keep : 0; /* selected triples at most */
    if ((st = skiff__kctx_cost(ctx, (double)nb * (double)nc * (double)ns * (double)(keep + 1))))
        return st;
    /* Each (batch, class) is independent: threads take them in any order,
     * each with its own candidate heap and kept list, and write their
     * triples to the pair's own slot; the slots are packed in order after. */
    const int64_t pairs = nb * nc;
    int threads = skiff__kctx_threads(ctx);
    if (threads > pairs)
        threads = pairs > 0 ? (int)pairs : 1;
    const size_t cand_b = skiff__page_up((size_t)ns * sizeof(nms_cand));
    const size_t kept_b =
        skiff__page_up((size_t)keep * sizeof(int64_t) +
                       (size_t)(NMS_GRID_CELLS + 2) * sizeof(int64_t) + /* grid heads */
                       (size_t)keep * 6 * sizeof(int64_t));             /* grid links */
    const size_t box_b = skiff__page_up((size_t)(nb * ns) * sizeof(nms_box));
    const size_t cnt_b = skiff__page_up((size_t)pairs * sizeof(int64_t));
    size_t need =
        (cand_b + kept_b) * (size_t)threads + box_b + cnt_b + (size_t)cap * 3 * sizeof(int64_t);
    char *mem = skiff__kctx_scratch(ctx, need);
    if (!mem)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for %zu bytes", need);
    nms_box *boxes = (nms_box *)(mem + (cand_b + kept_b) * (size_t)threads);
    int64_t *cnt = (int64_t *)((char *)boxes + box_b);
    int64_t *res = (int64_t *)((char *)cnt + cnt_b); /* [pairs][keep][3] */
    const float thr = (float)iou_thr, sthr = (float)score_thr;
    if (keep == 0)
        memset(cnt, 0, (size_t)pairs * sizeof(int64_t));
    for (int64_t i = 0; keep > 0 && i < nb * ns; i++)
        boxes[i] = nms_read_box((const float *)B->data + i * 4, cpb == 1);
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1 && keep > 0)
    for (int64_t pc = 0; pc < (keep > 0 ? pairs : 0); pc++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        nms_cand *cand = (nms_cand *)(mem + (cand_b + kept_b) * (size_t)t);
        int64_t *kept = (int64_t *)((char *)cand + cand_b);
        const nms_box *bx0 = boxes + (pc / nc) * ns;
        const float *sp = (const float *)S->data + pc * ns;
        int64_t n = 0;
        for (int64_t i = 0; i < ns; i++)
            if (!has_score || sp[i] > sthr)
                cand[n++] = (nms_cand){.score = sp[i], .idx = i};
        for (int64_t i = n / 2; i-- > 0;)
            cand_sift(cand, n, i);
        int64_t nk = 0, *out = res + pc * keep * 3;
        nms_grid grid = {.head = kept + keep};
        grid.link = grid.head + NMS_GRID_CELLS + 2;
        bool use_grid = n >= NMS_GRID_MIN && nms_grid_init(&grid, bx0, cand, n);
        while (n > 0 && nk < keep) {
            const int64_t idx = cand[0].idx;
            cand[0] = cand[--n];
            cand_sift(cand, n, 0);
            bool drop = false;
            if (use_grid)
                drop = nms_grid_drops(&grid, bx0, idx, thr);
            for (int64_t j = 0; !use_grid && j < nk && !drop; j++)
                drop = nms_overlaps(&bx0[idx], &bx0[kept[j]], thr);
            if (drop)
                continue;
            if (use_grid)
                nms_grid_add(&grid, bx0, idx);
            out[nk * 3] = pc / nc;
            out[nk * 3 + 1] = pc % nc;
            out[nk * 3 + 2] = idx;
            kept[nk++] = idx;
        }
        cnt[pc] = nk;
    }
    int64_t nsel = 0;
    for (int64_t pc = 0; pc < pairs; pc++) {
        if (cnt[pc] && nsel != pc * keep)
            memmove(res + nsel * 3, res + pc * keep * 3, (size_t)cnt[pc] * 3 * sizeof(int64_t));
        nsel += cnt[pc];
    }
    int64_t od[2] = {nsel, 3};
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_INT64, 2, od, &st);
    if (!Y)
        return st;
    if (nsel)
        memcpy(Y->data, res, (size_t)nsel * 3 * sizeof(int64_t));
    return NULL;
}

/* ==== RoiAlign ================================================================= */

/* One sampled row (or column): its two neighbours and their weights; both
 * weights 0 for a sample outside the map. */
typedef struct roi_tap {
    int64_t lo, hi;
    float wlo, whi;
} roi_tap;

/* The samples of one axis: bins * grid taps. */
static void roi_taps(roi_tap *t, double start, double bin, int64_t bins, int64_t grid, int64_t size)
{
    for (int64_t p = 0; p < bins; p++) {
        for (int64_t g = 0; g < grid; g++) {
            double v = start + (double)p * bin + ((double)g + 0.5) * bin / (double)grid;
            roi_tap *o = &t[p * grid + g];
            if (v < -1.0 || v > (double)size) {
                *o = (roi_tap){0, 0, 0.0f, 0.0f};
                continue;
            }
            if (v < 0.0)
                v = 0.0;
            int64_t lo = (int64_t)v, hi;
            if (lo >= size - 1) {
                lo = hi = size - 1;
                v = (double)lo;
            } else {
                hi = lo + 1;
            }
            double l = v - (double)lo;
            *o = (roi_tap){lo, hi, (float)(1.0 - l), (float)l};
        }
    }
}

typedef struct roi_geom {
    int64_t oh, ow, gh, gw, H, W;
    bool max_mode;
} roi_geom;

/* One channel plane of one RoI. */
static void roi_plane(const float *x, float *y, const roi_tap *ty, const roi_tap *tx,
                      const roi_geom *g)
{
    const double inv = 1.0 / (double)(g->gh * g->gw > 0 ? g->gh * g->gw : 1);
    for (int64_t ph = 0; ph < g->oh; ph++) {
        for (int64_t pw = 0; pw < g->ow; pw++) {
            double acc = 0.0;
            float mx = 0.0f;
            bool first = true;
            for (int64_t iy = 0; iy < g->gh; iy++) {
                const roi_tap *r = &ty[ph * g->gh + iy];
                const float *rl = x + r->lo * g->W, *rh = x + r->hi * g->W;
                for (int64_t ix = 0; ix < g->gw; ix++) {
                    const roi_tap *c = &tx[pw * g->gw + ix];
                    float w1 = r->wlo * c->wlo, w2 = r->wlo * c->whi;
                    float w3 = r->whi * c->wlo, w4 = r->whi * c->whi;
                    float v1 = w1 * rl[c->lo], v2 = w2 * rl[c->hi];
                    float v3 = w3 * rh[c->lo], v4 = w4 * rh[c->hi];
                    if (g->max_mode) {
                        float v = fmaxf(fmaxf(v1, v2), fmaxf(v3, v4));
                        mx = first || v > mx ? v : mx;
                        first = false;
                    } else {
                        acc += (double)v1 + (double)v2 + (double)v3 + (double)v4;
                    }
                }
            }
            y[ph * g->ow + pw] = g->max_mode ? mx : (float)(acc * inv);
        }
    }
}

typedef struct roi_attrs {
    int64_t oh, ow, ratio;
    double scale;
    bool max_mode, half_pixel;
} roi_attrs;

static skiff_status_t *roi_read_attrs(const skiff__kctx *ctx, roi_attrs *a)
{
    const skiff__node *node = ctx->node;
    a->oh = skiff__attr_int(node, "output_height", 1);
    a->ow = skiff__attr_int(node, "output_width", 1);
    a->ratio = skiff__attr_int(node, "sampling_ratio", 0);
    a->scale = skiff__attr_float(node, "spatial_scale", 1.0f);
    if (a->oh < 1 || a->ow < 1 || a->oh > (1 << 20) || a->ow > (1 << 20))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attributes 'output_height', 'output_width': expected 1..%d, got "
                           "%lld, %lld",
                           1 << 20, (long long)a->oh, (long long)a->ow);
    if (a->ratio < 0 || a->ratio > 1024)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'sampling_ratio': expected 0..1024, got %lld",
                           (long long)a->ratio);
    if (!isfinite(a->scale))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'spatial_scale': expected a finite value, got %g", a->scale);
    const char *mode = skiff__attr_str(node, "mode", "avg");
    if (strcmp(mode, "avg") != 0 && strcmp(mode, "max") != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'mode': expected 'avg' or 'max', got '%s'", mode);
    a->max_mode = strcmp(mode, "max") == 0;
    /* Opset 10 had no attribute and behaved as output_half_pixel. */
    const char *ct = skiff__attr_str(node, "coordinate_transformation_mode",
                                     node->opset >= 16 ? "half_pixel" : "output_half_pixel");
    if (strcmp(ct, "half_pixel") != 0 && strcmp(ct, "output_half_pixel") != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'coordinate_transformation_mode': expected 'half_pixel' "
                           "or 'output_half_pixel', got '%s'",
                           ct);
    a->half_pixel = strcmp(ct, "half_pixel") == 0;
    return NULL;
}

static skiff_status_t *roi_check(const skiff__kctx *ctx, const skiff_tensor_t *X,
                                 const skiff_tensor_t *R, const skiff_tensor_t *I)
{
    char a[64];
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    if (X->ndim != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected 4 dims (N, C, H, W), got %s",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)));
    if (!skiff__dtype_is_float(R->dtype))
        return skiff__kctx_bad_dtype(ctx, "rois", R->dtype);
    if (R->ndim != 2 || R->dims[1] != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'rois': expected [num_rois, 4], got %s",
                           skiff_shape_str(R->ndim, R->dims, a, sizeof(a)));
    if (I->dtype != SKIFF_DTYPE_INT64 && I->dtype != SKIFF_DTYPE_INT32)
        return skiff__kctx_bad_dtype(ctx, "batch_indices", I->dtype);
    if (I->ndim != 1 || I->dims[0] != R->dims[0])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'batch_indices': expected [%lld], got %s", (long long)R->dims[0],
                           skiff_shape_str(I->ndim, I->dims, a, sizeof(a)));
    return NULL;
}

static skiff_status_t *run_roialign(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *R, *I;
    skiff_status_t *st;
    roi_attrs at = {0};
    if ((st = skiff__kctx_input(ctx, 0, "X", &X)) || (st = skiff__kctx_input(ctx, 1, "rois", &R)) ||
        (st = skiff__kctx_input(ctx, 2, "batch_indices", &I)) || (st = roi_check(ctx, X, R, I)) ||
        (st = roi_read_attrs(ctx, &at)))
        return st;
    const int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], W = X->dims[3];
    const int64_t nr = R->dims[0];
    int64_t od[4] = {nr, C, at.oh, at.ow};
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, 4, od, &st);
    if (!Y)
        return st;
    if (skiff_tensor_numel(Y) == 0)
        return NULL;
    if (H == 0 || W == 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': empty feature map");
    const bool f32 = X->dtype == SKIFF_DTYPE_FLOAT32;
    const int64_t plane = H * W, oplane = at.oh * at.ow;
    /* float32 copies of other input types, and of the output */
    size_t xbytes = f32 ? 0 : skiff__page_up((size_t)skiff_tensor_numel(X) * sizeof(float));
    size_t ybytes = f32 ? 0 : skiff__page_up((size_t)(C * oplane) * sizeof(float));
    const double off = at.half_pixel ? 0.5 : 0.0;
    for (int64_t r = 0; r < nr; r++) {
        int64_t bi = skiff__tensor_get_i64(I, r);
        if (bi < 0 || bi >= N)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'batch_indices': element %lld is %lld, outside [0, %lld)",
                               (long long)r, (long long)bi, (long long)N);
        double c4[4];
        for (int k = 0; k < 4; k++) {
            c4[k] = skiff__tensor_get_f64(R, r * 4 + k);
            if (!isfinite(c4[k]))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'rois': RoI %lld has a non-finite coordinate",
                                   (long long)r);
        }
        double x0 = c4[0] * at.scale - off, y0 = c4[1] * at.scale - off;
        double rw = c4[2] * at.scale - off - x0, rh = c4[3] * at.scale - off - y0;
        if (!at.half_pixel) {
            rw = rw > 1.0 ? rw : 1.0;
            rh = rh > 1.0 ? rh : 1.0;
        }
        double bh = rh / (double)at.oh, bw = rw / (double)at.ow;
        double gh = at.ratio > 0 ? (double)at.ratio : ceil(bh),
               gw = at.ratio > 0 ? (double)at.ratio : ceil(bw);
        gh = gh < 1.0 ? 1.0 : gh;
        gw = gw < 1.0 ? 1.0 : gw;
        double taps = (double)at.oh * gh + (double)at.ow * gw;
        if (taps > (double)(1 << 26))
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                               "RoI %lld needs %.3g sampling points per side", (long long)r, taps);
        if ((st = skiff__kctx_cost(ctx, (double)C * (double)oplane * gh * gw * 4.0 * (double)nr)))
            return st;
        roi_geom g = {at.oh, at.ow, (int64_t)gh, (int64_t)gw, H, W, at.max_mode};
        size_t tbytes = skiff__page_up((size_t)(g.oh * g.gh + g.ow * g.gw) * sizeof(roi_tap));
        char *mem = skiff__kctx_scratch(ctx, tbytes + xbytes + ybytes);
        if (!mem)
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for %zu bytes",
                               tbytes + xbytes + ybytes);
        roi_tap *ty = (roi_tap *)mem, *tx = ty + g.oh * g.gh;
        roi_taps(ty, y0, bh, g.oh, g.gh, H);
        roi_taps(tx, x0, bw, g.ow, g.gw, W);
        const float *xs;
        float *ys = f32 ? (float *)Y->data + r * C * oplane : (float *)(mem + tbytes + xbytes);
        if (f32) {
            xs = (const float *)X->data + bi * C * plane;
        } else {
            /* The scratch moves when it grows, so convert for each RoI. */
            float *xc = (float *)(mem + tbytes);
            for (int64_t i = 0; i < C * plane; i++)
                xc[i] = (float)skiff__tensor_get_f64(X, bi * C * plane + i);
            xs = xc;
        }
        int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && C > 1)
        for (int64_t c = 0; c < C; c++)
            roi_plane(xs + c * plane, ys + c * oplane, ty, tx, &g);
        if (!f32)
            for (int64_t i = 0; i < C * oplane; i++)
                skiff__store_f64(Y->data, Y->dtype, r * C * oplane + i, ys[i]);
    }
    return NULL;
}

const skiff__op skiff__ops_detect[] = {
    {.type = "NonMaxSuppression", .min_opset = 10, .run = run_nms},
    {.type = "RoiAlign", .min_opset = 10, .run = run_roialign},
    {.type = NULL},
};
