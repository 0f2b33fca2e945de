/* ocr.c - OCR and classification post-processing, with PaddleOCR's
 * algorithms and their details (which index wins a tie, the 10-pixel row
 * tolerance, the blank and space classes) so results match its Python code
 * string for string. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"
#include "vision.h"

void skiff__labels_free(skiff__labels *l)
{
    if (!l)
        return;
    skiff__free(l->s);
    skiff__free(l->mem);
    skiff__free(l);
}

skiff_status_t *skiff__labels_read(const char *path, bool blank_first, bool space_last,
                                   skiff__labels **out)
{
    *out = NULL;
    void *data = NULL;
    size_t size = 0;
    skiff_status_t *st = skiff__read_file(path, &data, &size);
    if (st)
        return st;
    skiff__labels *l = skiff__calloc(1, sizeof *l);
    char *mem = skiff__malloc(size + 3);
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += ((char *)data)[i] == '\n';
    char **s = skiff__malloc(sizeof(char *) * (lines + 4));
    if (!l || !mem || !s) {
        skiff__free(l);
        skiff__free(mem);
        skiff__free(s);
        skiff__free(data);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "labels '%s': out of memory", path);
    }
    memcpy(mem, data, size);
    skiff__free(data);
    mem[size] = '\0';
    mem[size + 1] = '\0';
    mem[size + 2] = ' ';
    int64_t n = 0;
    if (blank_first)
        s[n++] = mem + size; /* "" */
    size_t at = 0;
    while (at < size) {
        size_t e = at;
        while (e < size && mem[e] != '\n')
            e++;
        size_t end = e;
        if (end > at && mem[end - 1] == '\r')
            end--;
        mem[end] = '\0';
        s[n++] = mem + at;
        at = e + 1;
    }
    if (space_last) {
        mem[size + 1] = ' ';
        mem[size + 2] = '\0';
        s[n++] = mem + size + 1;
    }
    l->s = s;
    l->n = n;
    l->mem = mem;
    *out = l;
    return NULL;
}

static skiff_status_t *strings_new(int ndim, const int64_t *dims, skiff_tensor_t **out)
{
    *out = NULL;
    int64_t n = skiff_shape_numel(ndim, dims);
    skiff_tensor_t *t = skiff__calloc(1, sizeof *t);
    char **d = skiff__calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (!t || !d) {
        skiff__free(t);
        skiff__free(d);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    t->dtype = SKIFF_DTYPE_STRING;
    t->ndim = ndim;
    memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->data = d;
    t->nbytes = sizeof(char *) * (size_t)n;
    t->flags = SKIFF_TENSOR_OWNS_DATA;
    *out = t;
    return NULL;
}

skiff_status_t *skiff__ocr_ctc_decode(const skiff_tensor_t *probs, const skiff__labels *dict,
                                      skiff_tensor_t **out_text, skiff_tensor_t **out_score)
{
    *out_text = *out_score = NULL;
    if (!probs || probs->dtype != SKIFF_DTYPE_FLOAT32 || (probs->ndim != 2 && probs->ndim != 3))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "ctc: expected float32 [T, C] or [N, T, C] probabilities");
    int64_t N = probs->ndim == 3 ? probs->dims[0] : 1;
    int64_t T = probs->dims[probs->ndim - 2], C = probs->dims[probs->ndim - 1];
    if (C != dict->n)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "ctc: %lld classes, but the dictionary (with blank and space) "
                                "has %lld",
                                (long long)C, (long long)dict->n);
    int64_t dims[1] = {N};
    skiff_status_t *st = strings_new(1, dims, out_text);
    if (!st)
        st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 1, dims, out_score);
    char **txt = *out_text ? (*out_text)->data : NULL;
    for (int64_t b = 0; !st && b < N; b++) {
        const float *p = (const float *)probs->data + b * T * C;
        size_t len = 0;
        for (int pass = 0; pass < 2 && !st; pass++) {
            char *w = pass ? txt[b] : NULL;
            double sum = 0;
            int64_t kept = 0, prev = -1;
            for (int64_t t = 0; t < T; t++) {
                const float *row = p + t * C;
                int64_t best = 0;
                for (int64_t c = 1; c < C; c++)
                    if (row[c] > row[best])
                        best = c;
                if (best != 0 && best != prev) {
                    size_t l = strlen(dict->s[best]);
                    if (pass)
                        memcpy(w + len, dict->s[best], l);
                    len += l;
                    sum += row[best];
                    kept++;
                }
                prev = best;
            }
            if (!pass) {
                txt[b] = skiff__malloc(len + 1);
                if (!txt[b])
                    st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "ctc: out of memory");
                len = 0;
            } else {
                w[len] = '\0';
                ((float *)(*out_score)->data)[b] = kept ? (float)(sum / (double)kept) : 0.f;
            }
        }
    }
    if (st) {
        skiff_tensor_free(*out_text);
        skiff_tensor_free(*out_score);
        *out_text = *out_score = NULL;
    }
    return st;
}

skiff_status_t *skiff__ocr_topk(const skiff_tensor_t *x, int64_t k, bool softmax,
                                const skiff__labels *labels, skiff_tensor_t **out_idx,
                                skiff_tensor_t **out_score, skiff_tensor_t **out_label)
{
    *out_idx = *out_score = NULL;
    if (out_label)
        *out_label = NULL;
    if (!x || x->dtype != SKIFF_DTYPE_FLOAT32 || x->ndim < 1 || x->ndim > 2)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "topk: expected float32 [C] or [N, C]");
    int64_t N = x->ndim == 2 ? x->dims[0] : 1, C = x->dims[x->ndim - 1];
    if (C < 1 || k < 1 || k > C)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "topk: k %lld for %lld classes",
                                (long long)k, (long long)C);
    if (labels && labels->n < C)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "topk: %lld classes, %lld labels",
                                (long long)C, (long long)labels->n);
    int64_t dims[2] = {N, k};
    skiff_status_t *st = skiff__vision_tensor_alloc(SKIFF_DTYPE_INT64, 2, dims, out_idx);
    if (!st)
        st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 2, dims, out_score);
    if (!st && labels && out_label)
        st = strings_new(2, dims, out_label);
    float *prob = st ? NULL : skiff__malloc(sizeof(float) * (size_t)C);
    if (!st && !prob)
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "topk: out of memory");
    for (int64_t b = 0; !st && b < N; b++) {
        const float *row = (const float *)x->data + b * C;
        float mx = row[0];
        for (int64_t c = 0; c < C; c++)
            mx = row[c] > mx ? row[c] : mx;
        double sum = 0;
        for (int64_t c = 0; c < C; c++) {
            prob[c] = softmax ? expf(row[c] - mx) : row[c];
            sum += prob[c];
        }
        if (softmax)
            for (int64_t c = 0; c < C; c++)
                prob[c] = (float)(prob[c] / sum);
        for (int64_t j = 0; j < k; j++) {
            int64_t best = -1;
            for (int64_t c = 0; c < C; c++)
                if (!isnan(prob[c]) && (best < 0 || prob[c] > prob[best]))
                    best = c;
            if (best < 0)
                best = 0;
            ((int64_t *)(*out_idx)->data)[b * k + j] = best;
            ((float *)(*out_score)->data)[b * k + j] = prob[best];
            if (labels && out_label) {
                char *s = skiff__strdup(labels->s[best]);
                if (!s) {
                    st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "topk: out of memory");
                    break;
                }
                ((char **)(*out_label)->data)[b * k + j] = s;
            }
            prob[best] = NAN;
        }
    }
    skiff__free(prob);
    if (st) {
        skiff_tensor_free(*out_idx);
        skiff_tensor_free(*out_score);
        *out_idx = *out_score = NULL;
        if (out_label) {
            skiff_tensor_free(*out_label);
            *out_label = NULL;
        }
    }
    return st;
}

skiff_status_t *skiff__ocr_nms(const skiff_tensor_t *boxes, const skiff_tensor_t *scores,
                               double iou_thr, double score_thr, int64_t max_out,
                               skiff_tensor_t **out)
{
    *out = NULL;
    if (!boxes || boxes->dtype != SKIFF_DTYPE_FLOAT32 || boxes->ndim != 2 || boxes->dims[1] != 4)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "nms: expected float32 boxes [N, 4]");
    int64_t n = boxes->dims[0];
    if (!scores || scores->dtype != SKIFF_DTYPE_FLOAT32 || skiff_tensor_numel(scores) != n)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "nms: expected float32 scores [%lld]",
                                (long long)n);
    const float *b = boxes->data, *s = scores->data;
    int64_t *order = skiff__malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t *keep = skiff__malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!order || !keep) {
        skiff__free(order);
        skiff__free(keep);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "nms: out of memory");
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (s[i] >= score_thr)
            order[m++] = i;
    /* Stable insertion sort by descending score (n is small: detections). */
    for (int64_t i = 1; i < m; i++) {
        int64_t v = order[i], j = i;
        while (j > 0 && s[order[j - 1]] < s[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    int64_t nk = 0;
    for (int64_t i = 0; i < m && (max_out <= 0 || nk < max_out); i++) {
        const float *a = b + order[i] * 4;
        double aa = fmax(0.0, a[2] - a[0]) * fmax(0.0, a[3] - a[1]);
        bool drop = false;
        for (int64_t j = 0; j < nk && !drop; j++) {
            const float *c = b + keep[j] * 4;
            double ca = fmax(0.0, c[2] - c[0]) * fmax(0.0, c[3] - c[1]);
            double iw = fmin(a[2], c[2]) - fmax(a[0], c[0]);
            double ih = fmin(a[3], c[3]) - fmax(a[1], c[1]);
            double inter = iw > 0 && ih > 0 ? iw * ih : 0.0;
            double uni = aa + ca - inter;
            drop = uni > 0 && inter / uni > iou_thr;
        }
        if (!drop)
            keep[nk++] = order[i];
    }
    int64_t dims[1] = {nk};
    skiff_status_t *st = skiff__vision_tensor_alloc(SKIFF_DTYPE_INT64, 1, dims, out);
    if (!st && nk)
        memcpy((*out)->data, keep, sizeof(int64_t) * (size_t)nk);
    skiff__free(order);
    skiff__free(keep);
    return st;
}

static skiff_status_t *check_quads(const skiff_tensor_t *t, const char *what)
{
    if (!t || t->dtype != SKIFF_DTYPE_FLOAT32 || t->ndim != 3 || t->dims[1] != 4 || t->dims[2] != 2)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: expected float32 boxes [N, 4, 2]",
                                what);
    return NULL;
}

skiff_status_t *skiff__ocr_sort_boxes(const skiff_tensor_t *boxes, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = check_quads(boxes, "sorted_boxes");
    if (st)
        return st;
    st = skiff_tensor_clone(boxes, out);
    if (st)
        return st;
    int64_t n = boxes->dims[0];
    float(*b)[8] = (*out)->data;
    float tmp[8];
    /* sorted(key=(y0, x0)): a stable insertion sort on the first point. */
    for (int64_t i = 1; i < n; i++) {
        memcpy(tmp, b[i], sizeof tmp);
        int64_t j = i;
        while (j > 0 && (b[j - 1][1] > tmp[1] || (b[j - 1][1] == tmp[1] && b[j - 1][0] > tmp[0]))) {
            memcpy(b[j], b[j - 1], sizeof tmp);
            j--;
        }
        memcpy(b[j], tmp, sizeof tmp);
    }
    /* Boxes on one row (first points within 10 pixels vertically) go left
     * to right. */
    for (int64_t i = 0; i + 1 < n; i++) {
        for (int64_t j = i; j >= 0; j--) {
            if (fabsf(b[j + 1][1] - b[j][1]) < 10.f && b[j + 1][0] < b[j][0]) {
                memcpy(tmp, b[j], sizeof tmp);
                memcpy(b[j], b[j + 1], sizeof tmp);
                memcpy(b[j + 1], tmp, sizeof tmp);
            } else {
                break;
            }
        }
    }
    return NULL;
}

skiff_status_t *skiff__ocr_filter_boxes(const skiff_tensor_t *boxes, int64_t h, int64_t w,
                                        skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = check_quads(boxes, "filter_boxes");
    if (st)
        return st;
    int64_t n = boxes->dims[0], dims[3] = {n, 4, 2};
    st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 3, dims, out);
    if (st)
        return st;
    const float(*b)[8] = boxes->data;
    float(*o)[8] = (*out)->data;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = b[i];
        /* order_points_clockwise: top-left has the least x+y, bottom-right the
         * most; of the other two, top-right has the least y-x. */
        int tl = 0, br = 0;
        for (int j = 1; j < 4; j++) {
            if (p[2 * j] + p[2 * j + 1] < p[2 * tl] + p[2 * tl + 1])
                tl = j;
            if (p[2 * j] + p[2 * j + 1] > p[2 * br] + p[2 * br + 1])
                br = j;
        }
        int rest[4], nr = 0;
        for (int j = 0; j < 4; j++)
            if (j != tl && j != br)
                rest[nr++] = j;
        if (tl == br)
            rest[nr++] = (tl + 1) % 4 == tl ? 0 : (tl + 2) % 4;
        int tr = rest[0], bl = nr > 1 ? rest[1] : rest[0];
        if (nr > 1 && p[2 * rest[1] + 1] - p[2 * rest[1]] < p[2 * rest[0] + 1] - p[2 * rest[0]]) {
            tr = rest[1];
            bl = rest[0];
        }
        int ord[4] = {tl, tr, br, bl};
        float q[8];
        for (int j = 0; j < 4; j++) {
            float x = p[2 * ord[j]], y = p[2 * ord[j] + 1];
            q[2 * j] = fminf(fmaxf(x, 0.f), (float)(w - 1));
            q[2 * j + 1] = fminf(fmaxf(y, 0.f), (float)(h - 1));
        }
        int rw = (int)hypotf(q[0] - q[2], q[1] - q[3]);
        int rh = (int)hypotf(q[0] - q[6], q[1] - q[7]);
        if (rw <= 3 || rh <= 3)
            continue;
        memcpy(o[k++], q, sizeof q);
    }
    (*out)->dims[0] = k;
    (*out)->nbytes = sizeof(float) * 8 * (size_t)k;
    return NULL;
}

/* The padded width of resize_norm_img for a batch whose widest aspect ratio
 * is ratio: img_h * max(img_w / img_h, ratio), capped at max_w. */
static int64_t rec_width(double ratio, int64_t img_h, int64_t img_w, int64_t max_w, int64_t mult)
{
    double max_ratio = (double)img_w / (double)img_h;
    if (ratio > max_ratio)
        max_ratio = ratio;
    int64_t W = (int64_t)((double)img_h * max_ratio);
    if (mult > 1) /* more right padding: fewer distinct widths for the recogniser */
        W = (W + mult - 1) / mult * mult;
    if (max_w > 0 && W > max_w)
        W = max_w;
    return W < 1 ? 1 : W;
}

/* resize_norm_img of one HWC image into d, float32 [C, img_h, W] zeroed by
 * the caller. */
static skiff_status_t *rec_resize_into(const skiff_tensor_t *img, int64_t img_h, int64_t W,
                                       float *d)
{
    int64_t h = img->dims[0], w = img->dims[1], C = img->dims[2];
    int64_t rw = (int64_t)ceil((double)img_h * ((double)w / (double)h));
    if (rw > W)
        rw = W;
    if (rw < 1)
        rw = 1;
    skiff_tensor_t *r = NULL;
    skiff_status_t *st = skiff__vision_resize_image(img, rw, img_h, SKIFF_INTERP_LINEAR, &r);
    if (st)
        return st;
    for (int64_t y = 0; y < img_h; y++)
        for (int64_t x = 0; x < rw; x++)
            for (int64_t c = 0; c < C; c++) {
                size_t si = (size_t)((y * rw + x) * C + c);
                float v = r->dtype == SKIFF_DTYPE_UINT8 ? (float)((uint8_t *)r->data)[si]
                                                        : ((float *)r->data)[si];
                d[(c * img_h + y) * W + x] = (v / 255.f - 0.5f) / 0.5f;
            }
    skiff_tensor_free(r);
    return NULL;
}

skiff_status_t *skiff__ocr_rec_resize(const skiff_tensor_t *img, int64_t img_h, int64_t img_w,
                                      int64_t max_w, int64_t mult, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = skiff__vision_check_image(img, "rec_resize");
    if (st)
        return st;
    int64_t W = rec_width((double)img->dims[1] / (double)img->dims[0], img_h, img_w, max_w, mult);
    int64_t dims[3] = {img->dims[2], img_h, W};
    st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 3, dims, out);
    if (st)
        return st;
    memset((*out)->data, 0, (*out)->nbytes);
    st = rec_resize_into(img, img_h, W, (*out)->data);
    if (st) {
        skiff_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

/* Checks a batch of crops, [N, H, W, C] uint8 or float32, against its sizes,
 * int64 [N, 2] (height, width), each within the slot and at least 1x1. */
static skiff_status_t *check_crops(const skiff_tensor_t *crops, const skiff_tensor_t *sizes)
{
    if (crops->ndim != 4 ||
        (crops->dtype != SKIFF_DTYPE_UINT8 && crops->dtype != SKIFF_DTYPE_FLOAT32) ||
        crops->dims[3] < 1 || crops->dims[3] > 4)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "input 0: expected crops [N,H,W,C] uint8 or float32 with 1-4 "
                                "channels, got %s of %d dims",
                                skiff_dtype_name(crops->dtype), crops->ndim);
    if (sizes->dtype != SKIFF_DTYPE_INT64 || sizes->ndim != 2 || sizes->dims[1] != 2 ||
        sizes->dims[0] != crops->dims[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "sizes: expected int64 [%lld,2] (height, width of each crop), got "
                                "%s of %d dims",
                                (long long)crops->dims[0], skiff_dtype_name(sizes->dtype),
                                sizes->ndim);
    const int64_t *sz = sizes->data;
    for (int64_t i = 0; i < crops->dims[0]; i++)
        if (sz[2 * i] < 1 || sz[2 * i] > crops->dims[1] || sz[2 * i + 1] < 1 ||
            sz[2 * i + 1] > crops->dims[2])
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "sizes: crop %lld is %lldx%lld, outside its %lldx%lld slot",
                                    (long long)i, (long long)sz[2 * i + 1], (long long)sz[2 * i],
                                    (long long)crops->dims[2], (long long)crops->dims[1]);
    return NULL;
}

/* Crop i of a checked batch as an HWC tensor view (borrowed from crops). */
static skiff_tensor_t crop_view(const skiff_tensor_t *crops, int64_t i)
{
    size_t slot = crops->nbytes / (size_t)crops->dims[0];
    skiff_tensor_t v = {.dtype = crops->dtype,
                        .ndim = 3,
                        .dims = {crops->dims[1], crops->dims[2], crops->dims[3]},
                        .data = (uint8_t *)crops->data + (size_t)i * slot,
                        .nbytes = slot};
    return v;
}

skiff_status_t *skiff__ocr_rec_resize_batch(const skiff_tensor_t *crops,
                                            const skiff_tensor_t *sizes, int64_t img_h,
                                            int64_t img_w, int64_t max_w, int64_t mult,
                                            skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = check_crops(crops, sizes);
    if (st)
        return st;
    int64_t n = crops->dims[0], C = crops->dims[3];
    const int64_t *sz = sizes->data;
    double ratio = 0;
    for (int64_t i = 0; i < n; i++)
        if ((double)sz[2 * i + 1] / (double)sz[2 * i] > ratio)
            ratio = (double)sz[2 * i + 1] / (double)sz[2 * i];
    int64_t W = rec_width(ratio, img_h, img_w, max_w, mult);
    int64_t dims[4] = {n, C, img_h, W};
    st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 4, dims, out);
    if (st)
        return st;
    memset((*out)->data, 0, (*out)->nbytes);
    for (int64_t i = 0; !st && i < n; i++) {
        skiff_tensor_t view = crop_view(crops, i), *c = NULL;
        st = skiff__vision_crop(&view, 0, 0, sz[2 * i + 1], sz[2 * i], &c);
        if (!st)
            st = rec_resize_into(c, img_h, W, (float *)(*out)->data + (size_t)(i * C * img_h * W));
        skiff_tensor_free(c);
    }
    if (st) {
        skiff_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

skiff_status_t *skiff__ocr_rotate180(const skiff_tensor_t *img, skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = skiff__vision_check_image(img, "rotate180");
    if (st)
        return st;
    st = skiff__vision_tensor_alloc(img->dtype, 3, img->dims, out);
    if (st)
        return st;
    size_t npx = (size_t)(img->dims[0] * img->dims[1]);
    size_t px = (size_t)img->dims[2] * skiff_dtype_size(img->dtype);
    for (size_t i = 0; i < npx; i++)
        memcpy((uint8_t *)(*out)->data + i * px, (const uint8_t *)img->data + (npx - 1 - i) * px,
               px);
    return NULL;
}

skiff_status_t *skiff__ocr_rotate180_batch(const skiff_tensor_t *crops, const skiff_tensor_t *sizes,
                                           const skiff_tensor_t *probs, double thresh,
                                           skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st = check_crops(crops, sizes);
    if (st)
        return st;
    int64_t n = crops->dims[0];
    if (probs->dtype != SKIFF_DTYPE_FLOAT32 || probs->ndim != 2 || probs->dims[0] != n ||
        probs->dims[1] != 2)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "probabilities: expected float32 [%lld,2] (\"0\", \"180\"), got "
                                "%s of %d dims",
                                (long long)n, skiff_dtype_name(probs->dtype), probs->ndim);
    st = skiff_tensor_clone(crops, out);
    if (st)
        return st;
    const float *p = probs->data;
    const int64_t *sz = sizes->data;
    size_t px = (size_t)crops->dims[3] * skiff_dtype_size(crops->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (!(p[2 * i + 1] > p[2 * i] && p[2 * i + 1] > thresh))
            continue;
        skiff_tensor_t src = crop_view(crops, i), dst = crop_view(*out, i);
        int64_t h = sz[2 * i], w = sz[2 * i + 1], stride = crops->dims[2];
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                memcpy((uint8_t *)dst.data + (size_t)(y * stride + x) * px,
                       (const uint8_t *)src.data +
                           (size_t)((h - 1 - y) * stride + (w - 1 - x)) * px,
                       px);
    }
    return NULL;
}

/* ---- text lines ---------------------------------------------------------------------- */

typedef struct line_item {
    double top, bottom, left, right, score;
    int64_t idx;
    bool turned;
} line_item;

typedef struct text_line {
    double top, bottom, left, right, score;
    int64_t first, n, turned; /* members: items[first..] linked through next */
} text_line;

static double vertical_overlap(double t0, double b0, double t1, double b1)
{
    double h = fmin(b0 - t0, b1 - t1), ov = fmin(b0, b1) - fmax(t0, t1);
    return h > 0 ? ov / h : (ov >= 0 ? 1 : 0);
}

static int item_by_centre(const void *a, const void *b)
{
    const line_item *p = a, *q = b;
    double cp = p->top + p->bottom, cq = q->top + q->bottom;
    if (cp != cq)
        return cp < cq ? -1 : 1;
    if (p->left != q->left)
        return p->left < q->left ? -1 : 1;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

/* Only blanks (ASCII whitespace): a box the recogniser read nothing in. */
static bool blank(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

skiff_status_t *skiff__ocr_merge_lines(const skiff_tensor_t *boxes, const skiff_tensor_t *texts,
                                       const skiff_tensor_t *scores, const skiff_tensor_t *cls,
                                       const skiff__line_params *prm, skiff_tensor_t **out_text,
                                       skiff_tensor_t **out_boxes, skiff_tensor_t **out_scores)
{
    *out_text = *out_boxes = *out_scores = NULL;
    skiff_status_t *st = check_quads(boxes, "input 0");
    if (st)
        return st;
    int64_t n = boxes->dims[0];
    if (texts->dtype != SKIFF_DTYPE_STRING || skiff_tensor_numel(texts) != n)
        return skiff_status_new(
            SKIFF_CODE_INVALID_ARG, "input 1: expected %lld strings (one per box), got %s of %lld",
            (long long)n, skiff_dtype_name(texts->dtype), (long long)skiff_tensor_numel(texts));
    if (scores->dtype != SKIFF_DTYPE_FLOAT32 || skiff_tensor_numel(scores) != n)
        return skiff_status_new(
            SKIFF_CODE_INVALID_ARG, "input 2: expected float32 [%lld] scores, got %s of %lld",
            (long long)n, skiff_dtype_name(scores->dtype), (long long)skiff_tensor_numel(scores));
    if (cls && (cls->dtype != SKIFF_DTYPE_FLOAT32 || cls->ndim != 2 || cls->dims[0] < n ||
                cls->dims[1] != 2))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "input 3: expected float32 [%lld, 2] classifier probabilities "
                                "(\"0\", \"180\")",
                                (long long)n);
    const float(*b)[8] = boxes->data;
    const float *sc = scores->data, *pr = cls ? cls->data : NULL;
    char *const *tx = texts->data;
    line_item *it = skiff__malloc(sizeof *it * (size_t)(n ? n : 1));
    text_line *ln = skiff__malloc(sizeof *ln * (size_t)(n ? n : 1));
    int64_t *next = skiff__malloc(sizeof *next * (size_t)(n ? n : 1));
    if (!it || !ln || !next) {
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "text lines: out of memory");
        goto out;
    }
    int64_t m = 0, turned = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(sc[i] >= prm->drop_score) || blank(tx[i]))
            continue;
        line_item *q = &it[m++];
        q->top = q->left = HUGE_VAL;
        q->bottom = q->right = -HUGE_VAL;
        for (int k = 0; k < 4; k++) {
            q->left = fmin(q->left, b[i][2 * k]);
            q->right = fmax(q->right, b[i][2 * k]);
            q->top = fmin(q->top, b[i][2 * k + 1]);
            q->bottom = fmax(q->bottom, b[i][2 * k + 1]);
        }
        q->score = sc[i];
        q->idx = i;
        q->turned = pr && pr[2 * i + 1] > pr[2 * i] && pr[2 * i + 1] > prm->cls_thresh;
        turned += q->turned;
    }
    /* top to bottom by centre; a box joins the line it overlaps most
     * (vertically, as a share of the lower of the two heights) when that
     * share reaches prm->overlap, else starts a line */
    qsort(it, (size_t)m, sizeof *it, item_by_centre);
    int64_t nl = 0;
    for (int64_t i = 0; i < m; i++) {
        int64_t best = -1;
        double bo = prm->overlap;
        for (int64_t l = 0; l < nl; l++) {
            double o = vertical_overlap(it[i].top, it[i].bottom, ln[l].top, ln[l].bottom);
            if (o >= bo && (best < 0 || o > bo)) {
                best = l;
                bo = o;
            }
        }
        next[i] = -1;
        if (best < 0) {
            ln[nl++] = (text_line){it[i].top, it[i].bottom, it[i].left, it[i].right, it[i].score, i,
                                   1,         it[i].turned};
            continue;
        }
        text_line *L = &ln[best];
        /* members kept in order along the line: by left edge */
        int64_t *at = &L->first;
        while (*at >= 0 && it[*at].left <= it[i].left)
            at = &next[*at];
        next[i] = *at;
        *at = i;
        L->top = fmin(L->top, it[i].top);
        L->bottom = fmax(L->bottom, it[i].bottom);
        L->left = fmin(L->left, it[i].left);
        L->right = fmax(L->right, it[i].right);
        L->score += it[i].score;
        L->n++;
        L->turned += it[i].turned;
    }
    /* a page the classifier found upside down reads bottom to top, and each
     * line it found upside down right to left */
    bool page_turned = 2 * turned > m;
    int64_t dims[1] = {nl}, bd[3] = {nl, 4, 2};
    st = strings_new(1, dims, out_text);
    if (!st)
        st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 3, bd, out_boxes);
    if (!st)
        st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 1, dims, out_scores);
    size_t sep = strlen(prm->sep);
    for (int64_t k = 0; !st && k < nl; k++) {
        const text_line *L = &ln[page_turned ? nl - 1 - k : k];
        bool rtl = 2 * L->turned > L->n;
        size_t len = 0;
        int64_t order[64], *mem = order, cnt = 0;
        if (L->n > 64 && !(mem = skiff__malloc(sizeof *mem * (size_t)L->n))) {
            st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "text lines: out of memory");
            break;
        }
        for (int64_t j = L->first; j >= 0; j = next[j]) {
            mem[cnt++] = j;
            len += strlen(tx[it[j].idx]) + sep;
        }
        char *s = skiff__malloc(len + 1);
        if (!s) {
            if (mem != order)
                skiff__free(mem);
            st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "text lines: out of memory");
            break;
        }
        size_t at = 0;
        for (int64_t c = 0; c < cnt; c++) {
            const char *t = tx[it[mem[rtl ? cnt - 1 - c : c]].idx];
            size_t l = strlen(t);
            if (c) {
                memcpy(s + at, prm->sep, sep);
                at += sep;
            }
            memcpy(s + at, t, l);
            at += l;
        }
        s[at] = '\0';
        if (mem != order)
            skiff__free(mem);
        ((char **)(*out_text)->data)[k] = s;
        float *q = (float *)(*out_boxes)->data + k * 8;
        const float xy[8] = {(float)L->left,  (float)L->top,    (float)L->right, (float)L->top,
                             (float)L->right, (float)L->bottom, (float)L->left,  (float)L->bottom};
        memcpy(q, xy, sizeof xy);
        ((float *)(*out_scores)->data)[k] = (float)(L->score / (double)L->n);
    }
out:
    if (st) {
        skiff_tensor_free(*out_text);
        skiff_tensor_free(*out_boxes);
        skiff_tensor_free(*out_scores);
        *out_text = *out_boxes = *out_scores = NULL;
    }
    skiff__free(it);
    skiff__free(ln);
    skiff__free(next);
    return st;
}
