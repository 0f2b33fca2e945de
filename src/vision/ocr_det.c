/* ocr_det.c - the text detector's post-processing (PaddleOCR's
 * DBPostProcess) and the perspective crop of each detected box
 * (get_rotate_crop_image).
 *
 * DB: the probability map is binarised, each 8-connected component's outer
 * border is traced (Suzuki-Abe border following from the component's first
 * pixel in raster order, as cv2.findContours does), and every border gives a
 * minimum-area rectangle (rotating calipers over its convex hull), a score
 * (the mean probability under a rasterised polygon, drawn as cv2.fillPoly
 * draws: scanline fill plus 8-connected outline), a rounded offset ("unclip",
 * as pyclipper's JT_ROUND on integer points) and the offset polygon's
 * rectangle, scaled back to the source image. Components are reported in
 * the reverse of their raster order, the order cv2 lists RETR_LIST contours.
 * Holes (inner borders, which RETR_LIST also lists) are not traced: a hole's
 * box lies on low probability and falls under box_thresh in text maps.
 *
 * Crop: the homography from the output rectangle to the box's four points
 * is solved directly (8x8 Gaussian elimination), source coordinates are
 * quantised to 1/32 pixel as cv2.warpPerspective does, and cubic weights
 * (a = -0.75) with replicated borders resample each channel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"
#include "vision.h"

#define OOM(what) skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory", what)

typedef struct pt {
    double x, y;
} pt;

/* ---- contours ------------------------------------------------------------------------ */

/* Directions counter-clockwise on screen (y down): E NE N NW W SW S SE. */
static const int DX[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int DY[8] = {0, -1, -1, -1, 0, 1, 1, 1};

static int fg(const uint8_t *b, int64_t w, int64_t h, int64_t x, int64_t y)
{
    return x >= 0 && y >= 0 && x < w && y < h && b[y * w + x];
}

typedef struct ptbuf {
    pt *p;
    size_t n, cap;
} ptbuf;

static bool ptbuf_push(ptbuf *b, double x, double y)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        pt *q = skiff__realloc(b->p, nc * sizeof *q);
        if (!q)
            return false;
        b->p = q;
        b->cap = nc;
    }
    b->p[b->n++] = (pt){x, y};
    return true;
}

/* Appends a border point, dropping the middle of straight runs as
 * CHAIN_APPROX_SIMPLE does (the polygon and its hull are the same). */
static bool push_simple(ptbuf *b, double x, double y)
{
    if (b->n >= 2) {
        pt a = b->p[b->n - 2], m = b->p[b->n - 1];
        if ((m.x - a.x) * (y - m.y) - (m.y - a.y) * (x - m.x) == 0 &&
            (m.x - a.x) * (x - m.x) + (m.y - a.y) * (y - m.y) > 0) {
            b->p[b->n - 1] = (pt){x, y};
            return true;
        }
    }
    return ptbuf_push(b, x, y);
}

/* Suzuki-Abe outer border from (x0, y0), the first pixel of its component
 * in raster order (so its west neighbour is background). */
static bool trace_outer(const uint8_t *b, int64_t w, int64_t h, int64_t x0, int64_t y0, ptbuf *out)
{
    out->n = 0;
    int d1 = -1;
    for (int k = 0; k < 8; k++) { /* clockwise from west */
        int d = (4 - k + 8) & 7;
        if (fg(b, w, h, x0 + DX[d], y0 + DY[d])) {
            d1 = d;
            break;
        }
    }
    if (!ptbuf_push(out, (double)x0, (double)y0))
        return false;
    if (d1 < 0)
        return true;
    int64_t x1 = x0 + DX[d1], y1 = y0 + DY[d1];
    int64_t x3 = x0, y3 = y0;
    int back = d1; /* direction from (x3, y3) to the previous pixel (i2, j2) */
    for (size_t guard = 0; guard < (size_t)(4 * w * h + 8); guard++) {
        int d4 = -1;
        for (int k = 1; k <= 8; k++) { /* counter-clockwise after the previous pixel */
            int d = (back + k) & 7;
            if (fg(b, w, h, x3 + DX[d], y3 + DY[d])) {
                d4 = d;
                break;
            }
        }
        if (d4 < 0) /* cannot happen: the previous pixel is a neighbour */
            break;
        int64_t x4 = x3 + DX[d4], y4 = y3 + DY[d4];
        if (x4 == x0 && y4 == y0 && x3 == x1 && y3 == y1)
            break;
        if (!push_simple(out, (double)x4, (double)y4))
            return false;
        back = (d4 + 4) & 7;
        x3 = x4;
        y3 = y4;
    }
    /* the run through the start point may be straight too */
    while (out->n >= 3) {
        pt a = out->p[out->n - 2], m = out->p[out->n - 1], c = out->p[0];
        if ((m.x - a.x) * (c.y - m.y) - (m.y - a.y) * (c.x - m.x) == 0 &&
            (m.x - a.x) * (c.x - m.x) + (m.y - a.y) * (c.y - m.y) > 0)
            out->n--;
        else
            break;
    }
    return true;
}

/* ---- rectangles ----------------------------------------------------------------------- */

static double cross(pt o, pt a, pt b)
{
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

static int pt_cmp(const void *a, const void *b)
{
    const pt *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}

/* Andrew's monotone chain; sorts p in place; hull into h (room for n+1). */
static size_t convex_hull(pt *p, size_t n, pt *h)
{
    qsort(p, n, sizeof *p, pt_cmp);
    if (n < 3) {
        memcpy(h, p, n * sizeof *p);
        return n;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        h[k++] = p[i];
    }
    for (size_t i = n - 1, t = k + 1; i-- > 0;) {
        while (k >= t && cross(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        h[k++] = p[i];
    }
    return k - 1;
}

/* The minimum-area rectangle of hull h (n points) as four corners in
 * PaddleOCR's get_mini_boxes order (top-left, top-right, bottom-right,
 * bottom-left) and its shorter side. */
static double min_area_box(const pt *h, size_t n, pt box[4])
{
    pt c[4];
    double best = HUGE_VAL, sside = 0;
    if (n == 0)
        return 0;
    if (n == 1) {
        c[0] = c[1] = c[2] = c[3] = h[0];
    } else {
        for (size_t i = 0; i < n; i++) {
            pt a = h[i], b = h[(i + 1) % n];
            double ex = b.x - a.x, ey = b.y - a.y, len = hypot(ex, ey);
            if (len == 0)
                continue;
            double ux = ex / len, uy = ey / len, vx = -uy, vy = ux;
            double u0 = HUGE_VAL, u1 = -HUGE_VAL, v0 = HUGE_VAL, v1 = -HUGE_VAL;
            for (size_t j = 0; j < n; j++) {
                double u = h[j].x * ux + h[j].y * uy, v = h[j].x * vx + h[j].y * vy;
                u0 = u < u0 ? u : u0;
                u1 = u > u1 ? u : u1;
                v0 = v < v0 ? v : v0;
                v1 = v > v1 ? v : v1;
            }
            double area = (u1 - u0) * (v1 - v0);
            if (area < best) {
                best = area;
                sside = fmin(u1 - u0, v1 - v0);
                double us[4] = {u0, u1, u1, u0}, vs[4] = {v0, v0, v1, v1};
                for (int k = 0; k < 4; k++)
                    c[k] = (pt){us[k] * ux + vs[k] * vx, us[k] * uy + vs[k] * vy};
            }
        }
        if (best == HUGE_VAL)
            c[0] = c[1] = c[2] = c[3] = h[0];
    }
    /* get_mini_boxes: sort by x, then the lower y of each pair first */
    for (int i = 1; i < 4; i++)
        for (int j = i; j > 0 && c[j].x < c[j - 1].x; j--) {
            pt t = c[j];
            c[j] = c[j - 1];
            c[j - 1] = t;
        }
    int i1 = c[1].y > c[0].y ? 0 : 1, i4 = 1 - i1;
    int i2 = c[3].y > c[2].y ? 2 : 3, i3 = 5 - i2;
    box[0] = c[i1];
    box[1] = c[i2];
    box[2] = c[i3];
    box[3] = c[i4];
    return sside;
}

/* ---- polygon score ------------------------------------------------------------------- */

/* cv2.line's 8-connected walk (LineIterator, drawn left to right): a step
 * along the major axis each pixel, a minor step while the error is negative. */
/* cv2's clipLine: ends outside [0, w-1] x [0, h-1] moved onto its edges
 * (rows first, then columns, truncating); false when nothing is left. */
static bool clip_line(int64_t w, int64_t h, int64_t *px1, int64_t *py1, int64_t *px2, int64_t *py2)
{
    int64_t x1 = *px1, y1 = *py1, x2 = *px2, y2 = *py2, right = w - 1, bottom = h - 1;
    int c1 = (x1 < 0) + (x1 > right) * 2 + (y1 < 0) * 4 + (y1 > bottom) * 8;
    int c2 = (x2 < 0) + (x2 > right) * 2 + (y2 < 0) * 4 + (y2 > bottom) * 8;
    if ((c1 & c2) == 0 && (c1 | c2) != 0) {
        if (c1 & 12) {
            int64_t a = c1 < 8 ? 0 : bottom;
            x1 += (int64_t)((double)(a - y1) * (double)(x2 - x1) / (double)(y2 - y1));
            y1 = a;
            c1 = (x1 < 0) + (x1 > right) * 2;
        }
        if (c2 & 12) {
            int64_t a = c2 < 8 ? 0 : bottom;
            x2 += (int64_t)((double)(a - y2) * (double)(x2 - x1) / (double)(y2 - y1));
            y2 = a;
            c2 = (x2 < 0) + (x2 > right) * 2;
        }
        if ((c1 & c2) == 0 && (c1 | c2) != 0) {
            if (c1) {
                int64_t a = c1 == 1 ? 0 : right;
                y1 += (int64_t)((double)(a - x1) * (double)(y2 - y1) / (double)(x2 - x1));
                x1 = a;
                c1 = 0;
            }
            if (c2) {
                int64_t a = c2 == 1 ? 0 : right;
                y2 += (int64_t)((double)(a - x2) * (double)(y2 - y1) / (double)(x2 - x1));
                x2 = a;
                c2 = 0;
            }
        }
    }
    *px1 = x1;
    *py1 = y1;
    *px2 = x2;
    *py2 = y2;
    return (c1 | c2) == 0;
}

static void mask_line(uint8_t *m, int64_t mw, int64_t mh, int64_t x0, int64_t y0, int64_t x1,
                      int64_t y1)
{
    if (!clip_line(mw, mh, &x0, &y0, &x1, &y1))
        return;
    if (x0 > x1) {
        int64_t t = x0;
        x0 = x1;
        x1 = t;
        t = y0;
        y0 = y1;
        y1 = t;
    }
    int64_t dx = x1 - x0, dy = llabs(y1 - y0), sy = y1 < y0 ? -1 : 1;
    bool vert = dy > dx;
    if (vert) {
        int64_t t = dx;
        dx = dy;
        dy = t;
    }
    int64_t err = dx - 2 * dy;
    for (int64_t i = 0; i <= dx; i++) {
        if (x0 >= 0 && y0 >= 0 && x0 < mw && y0 < mh)
            m[y0 * mw + x0] = 1;
        bool minor = err < 0;
        err += minor ? 2 * dx - 2 * dy : -2 * dy;
        if (vert) {
            y0 += sy;
            x0 += minor;
        } else {
            x0++;
            y0 += minor ? sy : 0;
        }
    }
}

static int dbl_cmp(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

/* Fills integer polygon q (n points, mask coordinates) into m [mh, mw] as
 * cv2.fillPoly: scanline spans between edge crossings (even-odd) in 16.16
 * fixed point, plus the outline. xs: room for n doubles. */
static void mask_poly(uint8_t *m, int64_t mw, int64_t mh, const int64_t (*q)[2], size_t n,
                      double *xs)
{
    for (int64_t y = 0; y < mh; y++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const int64_t *a = q[i], *b = q[(i + 1) % n];
            int64_t ya = a[1], yb = b[1];
            if (ya == yb)
                continue;
            const int64_t *lo = ya < yb ? a : b, *hi = ya < yb ? b : a;
            if (y < lo[1] || y >= hi[1])
                continue;
            /* cv2's 16.16 fixed point: the slope truncated, the spans. ends rounded */
            int64_t dx = (int64_t)(((hi[0] - lo[0]) * 65536) / (hi[1] - lo[1]));
            xs[k++] = (double)(lo[0] * 65536 + (y - lo[1]) * dx);
        }
        qsort(xs, k, sizeof *xs, dbl_cmp);
        for (size_t i = 0; i + 1 < k; i += 2) {
            int64_t xa = (int64_t)floor((xs[i] + 32768) / 65536),
                    xb = (int64_t)floor(xs[i + 1] / 65536);
            xa = xa < 0 ? 0 : xa;
            xb = xb >= mw ? mw - 1 : xb;
            for (int64_t x = xa; x <= xb; x++)
                m[y * mw + x] = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        mask_line(m, mw, mh, q[i][0], q[i][1], q[(i + 1) % n][0], q[(i + 1) % n][1]);
}

typedef struct work {
    uint8_t *mask;
    int64_t (*q)[2];
    double *xs;
    size_t qcap, mcap;
} work;

/* PaddleOCR's box_score_fast / box_score_slow: the mean of prob [h, w] under
 * polygon p (n points), in the polygon's clipped bounding box. */
static skiff_status_t *poly_score(const float *prob, int64_t w, int64_t h, const pt *p, size_t n,
                                  work *wk, double *out)
{
    double x0 = HUGE_VAL, x1 = -HUGE_VAL, y0 = HUGE_VAL, y1 = -HUGE_VAL;
    for (size_t i = 0; i < n; i++) {
        x0 = fmin(x0, p[i].x);
        x1 = fmax(x1, p[i].x);
        y0 = fmin(y0, p[i].y);
        y1 = fmax(y1, p[i].y);
    }
    int64_t xmin = (int64_t)fmin(fmax(floor(x0), 0), (double)(w - 1));
    int64_t xmax = (int64_t)fmin(fmax(ceil(x1), 0), (double)(w - 1));
    int64_t ymin = (int64_t)fmin(fmax(floor(y0), 0), (double)(h - 1));
    int64_t ymax = (int64_t)fmin(fmax(ceil(y1), 0), (double)(h - 1));
    int64_t mw = xmax - xmin + 1, mh = ymax - ymin + 1;
    size_t need = (size_t)(mw * mh);
    if (need > wk->mcap) {
        uint8_t *m = skiff__realloc(wk->mask, need);
        if (!m)
            return OOM("box score");
        wk->mask = m;
        wk->mcap = need;
    }
    if (n > wk->qcap) {
        int64_t(*q)[2] = skiff__realloc(wk->q, n * sizeof *q);
        double *xs = q ? skiff__realloc(wk->xs, n * sizeof *xs) : NULL;
        if (q)
            wk->q = q;
        if (!xs)
            return OOM("box score");
        wk->xs = xs;
        wk->qcap = n;
    }
    /* numpy's astype(int32), toward zero, after snapping to 1/1000 pixel: a
     * corner that is on a pixel stays there (cv2's float32 corners fall on
     * either side of it, which moves the fast score by up to ~1e-3) */
    for (size_t i = 0; i < n; i++) {
        wk->q[i][0] = (int64_t)(nearbyint((p[i].x - (double)xmin) * 1000) / 1000);
        wk->q[i][1] = (int64_t)(nearbyint((p[i].y - (double)ymin) * 1000) / 1000);
    }
    memset(wk->mask, 0, need);
    mask_poly(wk->mask, mw, mh, (const int64_t(*)[2])wk->q, n, wk->xs);
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t y = 0; y < mh; y++)
        for (int64_t x = 0; x < mw; x++)
            if (wk->mask[y * mw + x]) {
                sum += prob[(ymin + y) * w + xmin + x];
                cnt++;
            }
    *out = cnt ? sum / (double)cnt : 0;
    return NULL;
}

/* ---- unclip --------------------------------------------------------------------------- */

/* The box offset outward by dist with rounded corners, as pyclipper's
 * JT_ROUND offset (arc tolerance 0.25). With integer, as PaddleOCR hands
 * pyclipper its float corners: truncated to integers, vertices rounded to
 * integers; without, the corners and vertices as computed. Result into o. */
static bool unclip(const pt box[4], double dist, bool integer, ptbuf *o)
{
    pt q[4];
    for (int i = 0; i < 4; i++)
        q[i] = integer ? (pt){trunc(box[i].x), trunc(box[i].y)} : box[i];
    double area = 0;
    for (int i = 0; i < 4; i++)
        area += q[i].x * q[(i + 1) % 4].y - q[(i + 1) % 4].x * q[i].y;
    double sgn = area > 0 ? 1 : -1; /* outward normal side for this winding */
    double step = 0.25 < dist ? acos(1 - 0.25 / dist) : M_PI / 4;
    if (!(step > 1e-3))
        step = 1e-3;
    o->n = 0;
    for (int i = 0; i < 4; i++) {
        pt a = q[(i + 3) % 4], c = q[i], b = q[(i + 1) % 4];
        double e1x = c.x - a.x, e1y = c.y - a.y, e2x = b.x - c.x, e2y = b.y - c.y;
        double l1 = hypot(e1x, e1y), l2 = hypot(e2x, e2y);
        if (l1 == 0 || l2 == 0) {
            if (!ptbuf_push(o, c.x, c.y))
                return false;
            continue;
        }
        /* outward normals of the incoming and outgoing edges */
        double a1 = atan2(-sgn * e1x / l1, sgn * e1y / l1);
        double a2 = atan2(-sgn * e2x / l2, sgn * e2y / l2);
        double sweep = a2 - a1;
        while (sweep > M_PI)
            sweep -= 2 * M_PI;
        while (sweep < -M_PI)
            sweep += 2 * M_PI;
        int steps = (int)ceil(fabs(sweep) / step);
        for (int k = 0; k <= steps; k++) {
            double t = a1 + sweep * (steps ? (double)k / steps : 0);
            double x = c.x + dist * cos(t), y = c.y + dist * sin(t);
            if (!ptbuf_push(o, integer ? round(x) : x, integer ? round(y) : y))
                return false;
        }
    }
    return true;
}

/* ---- DBPostProcess --------------------------------------------------------------------- */

typedef struct det_box {
    float p[4][2];
    float score;
} det_box;

skiff_status_t *skiff__ocr_db_postprocess(const skiff_tensor_t *prob, const skiff_tensor_t *shape,
                                          const skiff__db_params *prm, skiff_tensor_t **out_boxes,
                                          skiff_tensor_t **out_scores)
{
    *out_boxes = *out_scores = NULL;
    if (prob->dtype != SKIFF_DTYPE_FLOAT32 || prob->ndim < 2 || prob->ndim > 4)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "input 0: expected float32 [1,1,H,W] probabilities, got %s %dd",
                                skiff_dtype_name(prob->dtype), prob->ndim);
    int64_t h = prob->dims[prob->ndim - 2], w = prob->dims[prob->ndim - 1];
    for (int i = 0; i + 2 < prob->ndim; i++)
        if (prob->dims[i] != 1)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "input 0: expected [1,1,H,W], dimension %d is %lld", i,
                                    (long long)prob->dims[i]);
    if (h < 1 || w < 1 || h > (1 << 15) || w > (1 << 15))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "input 0: expected a map of 1 to 32768 per side, got %lldx%lld",
                                (long long)w, (long long)h);
    if (shape->dtype != SKIFF_DTYPE_FLOAT32 || skiff_tensor_numel(shape) != 4)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "input 1: expected float32 [4] (src_h, src_w, ratio_h, ratio_w)");
    const float *sh = shape->data;
    double dh = sh[0], dw = sh[1];
    if (!(dh >= 1 && dw >= 1 && dh <= (1 << 20) && dw <= (1 << 20)) || dh != floor(dh) ||
        dw != floor(dw))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "input 1: expected a source size of 1 to 2^20 pixels, got %gx%g",
                                dw, dh);
    /* the map's part the image covers: all of it, or less where the input
     * was padded after DetResizeForTest (PadStride): src * ratio */
    int64_t vw = w, vh = h;
    if (sh[2] > 0 && sh[3] > 0 && isfinite(sh[2]) && isfinite(sh[3])) {
        double ew = nearbyint(dw * sh[3]), eh = nearbyint(dh * sh[2]);
        if (ew >= 1 && ew < (double)w)
            vw = (int64_t)ew;
        if (eh >= 1 && eh < (double)h)
            vh = (int64_t)eh;
    }
    const float *pm = prob->data;
    size_t npix = (size_t)(h * w);
    for (size_t i = 0; i < npix; i++)
        if (isnan(pm[i]))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "input 0: NaN probability at (%lld, %lld)",
                                    (long long)(i % (size_t)w), (long long)(i / (size_t)w));

    skiff_status_t *st = NULL;
    uint8_t *bm = skiff__malloc(npix), *seen = skiff__calloc(npix, 1);
    int64_t *stack = skiff__malloc(npix * sizeof *stack);
    ptbuf con = {0}, off = {0};
    pt *hull = NULL;
    size_t hcap = 0;
    work wk = {0};
    det_box *boxes = NULL;
    int64_t nbox = 0, bcap = 0, *starts = NULL, nstart = 0, scap = 0;
    if (!bm || !seen || !stack) {
        st = OOM("DBPostProcess");
        goto out;
    }
    for (size_t i = 0; i < npix; i++)
        bm[i] = pm[i] > prm->thresh;
    if (prm->use_dilation) { /* cv2.dilate with a 2x2 kernel: max over (x-1..x, y-1..y) */
        for (int64_t y = h; y-- > 0;)
            for (int64_t x = w; x-- > 0;) {
                uint8_t v = bm[y * w + x];
                if (x > 0)
                    v |= bm[y * w + x - 1];
                if (y > 0)
                    v |= bm[(y - 1) * w + x] | (x > 0 ? bm[(y - 1) * w + x - 1] : 0);
                bm[y * w + x] = v;
            }
    }
    /* components by first pixel in raster order (8-connected flood fill) */
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            if (!bm[y * w + x] || seen[y * w + x])
                continue;
            if (nstart == scap) {
                int64_t nc = scap ? scap * 2 : 64;
                int64_t *q = skiff__realloc(starts, (size_t)nc * sizeof *q);
                if (!q) {
                    st = OOM("DBPostProcess");
                    goto out;
                }
                starts = q;
                scap = nc;
            }
            starts[nstart++] = y * w + x;
            size_t sp = 0;
            stack[sp++] = y * w + x;
            seen[y * w + x] = 1;
            while (sp) {
                int64_t i = stack[--sp], cx = i % w, cy = i / w;
                for (int d = 0; d < 8; d++) {
                    int64_t nx = cx + DX[d], ny = cy + DY[d];
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                        continue;
                    int64_t j = ny * w + nx;
                    if (bm[j] && !seen[j]) {
                        seen[j] = 1;
                        stack[sp++] = j;
                    }
                }
            }
        }
    int64_t ncand = nstart < prm->max_candidates ? nstart : prm->max_candidates;
    for (int64_t c = 0; c < ncand; c++) {
        int64_t s0 = starts[nstart - 1 - c];
        if (!trace_outer(bm, w, h, s0 % w, s0 / w, &con)) {
            st = OOM("DBPostProcess");
            goto out;
        }
        size_t need = (con.n > 64 ? con.n : 64) + 1;
        if (need > hcap) {
            pt *q = skiff__realloc(hull, need * 2 * sizeof *q);
            if (!q) {
                st = OOM("DBPostProcess");
                goto out;
            }
            hull = q;
            hcap = need;
        }
        pt *tmp = hull + hcap; /* sorted copy of the contour for the hull */
        memcpy(tmp, con.p, con.n * sizeof *tmp);
        pt box[4];
        double sside = min_area_box(hull, convex_hull(tmp, con.n, hull), box);
        if (sside < (double)prm->min_size)
            continue;
        double score = 0;
        if (prm->slow)
            st = poly_score(pm, w, h, con.p, con.n, &wk, &score);
        else
            st = poly_score(pm, w, h, box, 4, &wk, &score);
        if (st)
            goto out;
        if (prm->box_thresh > score)
            continue;
        double area = 0, len = 0;
        for (int i = 0; i < 4; i++) {
            pt a = box[i], b = box[(i + 1) % 4];
            area += a.x * b.y - b.x * a.y;
            len += hypot(b.x - a.x, b.y - a.y);
        }
        double dist = len > 0 ? fabs(area) / 2 * prm->unclip_ratio / len : 0;
        if (!unclip(box, dist, prm->unclip_integer, &off)) {
            st = OOM("DBPostProcess");
            goto out;
        }
        if (off.n + 1 > hcap) {
            pt *q = skiff__realloc(hull, (off.n + 1) * 2 * sizeof *q);
            if (!q) {
                st = OOM("DBPostProcess");
                goto out;
            }
            hull = q;
            hcap = off.n + 1;
        }
        tmp = hull + hcap;
        memcpy(tmp, off.p, off.n * sizeof *tmp);
        pt ub[4];
        sside = min_area_box(hull, convex_hull(tmp, off.n, hull), ub);
        if (sside < (double)prm->min_size + 2)
            continue;
        if (nbox == bcap) {
            int64_t nc = bcap ? bcap * 2 : 32;
            det_box *q = skiff__realloc(boxes, (size_t)nc * sizeof *q);
            if (!q) {
                st = OOM("DBPostProcess");
                goto out;
            }
            boxes = q;
            bcap = nc;
        }
        det_box *b = &boxes[nbox++];
        for (int i = 0; i < 4; i++) {
            double x = nearbyint(ub[i].x / (double)vw * dw),
                   y = nearbyint(ub[i].y / (double)vh * dh);
            b->p[i][0] = (float)fmin(fmax(x, 0), dw - 1);
            b->p[i][1] = (float)fmin(fmax(y, 0), dh - 1);
        }
        b->score = (float)score;
    }
    int64_t bd[3] = {nbox, 4, 2}, sd[1] = {nbox};
    st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 3, bd, out_boxes);
    if (!st)
        st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 1, sd, out_scores);
    if (st) {
        skiff_tensor_free(*out_boxes);
        *out_boxes = NULL;
        goto out;
    }
    for (int64_t i = 0; i < nbox; i++) {
        memcpy((float *)(*out_boxes)->data + i * 8, boxes[i].p, 8 * sizeof(float));
        ((float *)(*out_scores)->data)[i] = boxes[i].score;
    }
out:
    skiff__free(bm);
    skiff__free(seen);
    skiff__free(stack);
    skiff__free(con.p);
    skiff__free(off.p);
    skiff__free(hull);
    skiff__free(wk.mask);
    skiff__free(wk.q);
    skiff__free(wk.xs);
    skiff__free(boxes);
    skiff__free(starts);
    return st;
}

/* ---- GetRotateCropImage --------------------------------------------------------------- */

/* Solves the homography taking (0,0), (w,0), (w,h), (0,h) to p[0..3]:
 * hm[8] with hm[8] = 1. False when the points are degenerate. */
static bool homography(const double p[4][2], double w, double h, double hm[9])
{
    const double s[4][2] = {{0, 0}, {w, 0}, {w, h}, {0, h}};
    double a[8][9];
    for (int i = 0; i < 4; i++) {
        double x = s[i][0], y = s[i][1], u = p[i][0], v = p[i][1];
        double r0[9] = {x, y, 1, 0, 0, 0, -x * u, -y * u, u};
        double r1[9] = {0, 0, 0, x, y, 1, -x * v, -y * v, v};
        memcpy(a[2 * i], r0, sizeof r0);
        memcpy(a[2 * i + 1], r1, sizeof r1);
    }
    for (int c = 0; c < 8; c++) {
        int piv = c;
        for (int r = c + 1; r < 8; r++)
            if (fabs(a[r][c]) > fabs(a[piv][c]))
                piv = r;
        if (!(fabs(a[piv][c]) > 1e-12))
            return false;
        if (piv != c)
            for (int k = 0; k < 9; k++) {
                double t = a[c][k];
                a[c][k] = a[piv][k];
                a[piv][k] = t;
            }
        for (int r = 0; r < 8; r++) {
            if (r == c)
                continue;
            double f = a[r][c] / a[c][c];
            for (int k = c; k < 9; k++)
                a[r][k] -= f * a[c][k];
        }
    }
    for (int i = 0; i < 8; i++)
        hm[i] = a[i][8] / a[i][i];
    hm[8] = 1;
    for (int i = 0; i < 9; i++)
        if (!isfinite(hm[i]))
            return false;
    return true;
}

static void cubic_w(double t, float wts[4])
{
    const double A = -0.75;
    wts[0] = (float)(((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A);
    wts[1] = (float)(((A + 2) * t - (A + 3)) * t * t + 1);
    wts[2] = (float)(((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1);
    wts[3] = 1.f - wts[0] - wts[1] - wts[2];
}

typedef struct crop_plan {
    double m[9]; /* output (x, y, 1) -> source, homogeneous */
    int64_t wh, ww;
    bool rot;
} crop_plan;

static int64_t clampi(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Moves the corners of box p (top-left, top-right, bottom-right, bottom-left)
 * outward by m along the box's own edge directions, then clips them to
 * [0, xmax] x [0, ymax]. */
static void widen(double p[4][2], double m, double xmax, double ymax)
{
    double ux = p[1][0] - p[0][0], uy = p[1][1] - p[0][1];
    double vx = p[3][0] - p[0][0], vy = p[3][1] - p[0][1];
    double lu = hypot(ux, uy), lv = hypot(vx, vy);
    if (lu == 0 || lv == 0)
        return;
    ux *= m / lu;
    uy *= m / lu;
    vx *= m / lv;
    vy *= m / lv;
    static const int su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
    for (int k = 0; k < 4; k++) {
        p[k][0] = fmin(fmax(p[k][0] + su[k] * ux + sv[k] * vx, 0), xmax);
        p[k][1] = fmin(fmax(p[k][1] + su[k] * uy + sv[k] * vy, 0), ymax);
    }
}

skiff_status_t *skiff__ocr_rotate_crop(const skiff_tensor_t *img, const skiff_tensor_t *boxes,
                                       double margin, skiff_tensor_t **out_crops,
                                       skiff_tensor_t **out_sizes)
{
    *out_crops = *out_sizes = NULL;
    if (img->dtype != SKIFF_DTYPE_UINT8 || img->ndim != 3 || img->dims[0] < 1 || img->dims[1] < 1 ||
        img->dims[2] < 1 || img->dims[2] > 4)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "input 0: expected a uint8 HWC image with 1 to 4 channels");
    int64_t n = boxes->ndim == 3 ? boxes->dims[0] : -1;
    if (boxes->dtype != SKIFF_DTYPE_FLOAT32 || n < 0 || boxes->dims[1] != 4 || boxes->dims[2] != 2)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "input 1: expected float32 [N,4,2] boxes");
    const int64_t H = img->dims[0], W = img->dims[1], C = img->dims[2];
    const float *bp = boxes->data;
    int64_t *sz = skiff__malloc(sizeof(int64_t) * 2 * (size_t)(n ? n : 1));
    crop_plan *hms = skiff__malloc(sizeof *hms * (size_t)(n ? n : 1));
    if (!sz || !hms) {
        skiff__free(sz);
        skiff__free(hms);
        return OOM("GetRotateCropImage");
    }
    skiff_status_t *st = NULL;
    int64_t mh = 0, mw = 0;
    for (int64_t i = 0; i < n && !st; i++) {
        double p[4][2];
        for (int k = 0; k < 4; k++) {
            p[k][0] = bp[i * 8 + k * 2];
            p[k][1] = bp[i * 8 + k * 2 + 1];
            if (!(p[k][0] >= -1 && p[k][0] <= (double)W && p[k][1] >= -1 && p[k][1] <= (double)H))
                st =
                    skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                     "input 1: box %lld point %d (%g, %g) is outside the "
                                     "%lldx%lld image",
                                     (long long)i, k, p[k][0], p[k][1], (long long)W, (long long)H);
        }
        if (st)
            break;
        if (margin > 0)
            widen(p, margin, (double)W - 1, (double)H - 1);
        double cw = fmax(hypot(p[0][0] - p[1][0], p[0][1] - p[1][1]),
                         hypot(p[2][0] - p[3][0], p[2][1] - p[3][1]));
        double ch = fmax(hypot(p[0][0] - p[3][0], p[0][1] - p[3][1]),
                         hypot(p[1][0] - p[2][0], p[1][1] - p[2][1]));
        int64_t iw = (int64_t)cw, ih = (int64_t)ch;
        if (iw < 1 || ih < 1 || iw > (1 << 16) || ih > (1 << 16) ||
            !homography(p, (double)iw, (double)ih, hms[i].m)) {
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "input 1: box %lld is degenerate (%lldx%lld)", (long long)i,
                                  (long long)iw, (long long)ih);
            break;
        }
        bool rot = (double)ih / (double)iw >= 1.5;
        hms[i].rot = rot;
        hms[i].wh = ih;
        hms[i].ww = iw;
        sz[i * 2] = rot ? iw : ih;
        sz[i * 2 + 1] = rot ? ih : iw;
        mh = sz[i * 2] > mh ? sz[i * 2] : mh;
        mw = sz[i * 2 + 1] > mw ? sz[i * 2 + 1] : mw;
    }
    int64_t cd[4] = {n, mh, mw, C}, sd[2] = {n, 2};
    if (!st)
        st = skiff__vision_tensor_alloc(SKIFF_DTYPE_UINT8, 4, cd, out_crops);
    if (!st)
        st = skiff__vision_tensor_alloc(SKIFF_DTYPE_INT64, 2, sd, out_sizes);
    if (st) {
        skiff_tensor_free(*out_crops);
        *out_crops = NULL;
        skiff__free(sz);
        skiff__free(hms);
        return st;
    }
    uint8_t *dst = (*out_crops)->data;
    memset(dst, 0, (*out_crops)->nbytes);
    memcpy((*out_sizes)->data, sz, sizeof(int64_t) * 2 * (size_t)n);
    const uint8_t *src = img->data;
    float tab[32][4];
    for (int k = 0; k < 32; k++)
        cubic_w(k / 32.0, tab[k]);
    for (int64_t i = 0; i < n; i++) {
        const double *m = hms[i].m;
        const bool rot = hms[i].rot;
        const int64_t wh = hms[i].wh, ww = hms[i].ww; /* the warped size, before rotation */
        uint8_t *o = dst + i * mh * mw * C;
        for (int64_t y = 0; y < wh; y++)
            for (int64_t x = 0; x < ww; x++) {
                double X = m[0] * x + m[1] * y + m[2], Y = m[3] * x + m[4] * y + m[5],
                       Z = m[6] * x + m[7] * y + m[8];
                Z = Z ? 32.0 / Z : 0;
                double fx = X * Z, fy = Y * Z;
                fx = fmin(fmax(fx, -1e9), 1e9);
                fy = fmin(fmax(fy, -1e9), 1e9);
                int64_t qx = (int64_t)nearbyint(fx), qy = (int64_t)nearbyint(fy);
                int64_t sx = qx >> 5, sy = qy >> 5;
                const float *wx = tab[qx & 31], *wy = tab[qy & 31];
                /* rot90 counter-clockwise: (y, x) -> (ww - 1 - x, y) */
                int64_t ty = rot ? ww - 1 - x : y, tx = rot ? y : x;
                uint8_t *d = o + (ty * mw + tx) * C;
                for (int64_t c = 0; c < C; c++) {
                    float acc = 0;
                    for (int r = 0; r < 4; r++) {
                        int64_t yy = clampi(sy - 1 + r, 0, H - 1);
                        const uint8_t *row = src + yy * W * C;
                        float racc = 0;
                        for (int k = 0; k < 4; k++)
                            racc += wx[k] * row[clampi(sx - 1 + k, 0, W - 1) * C + c];
                        acc += wy[r] * racc;
                    }
                    long v = lrintf(acc);
                    d[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
    }
    skiff__free(sz);
    skiff__free(hms);
    return NULL;
}
