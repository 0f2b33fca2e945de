/* resize.c - resampling by per-axis tap tables, shared by ONNX
 * Resize/Upsample (src/engine/kernels/cpu/resize.c) and the image steps.
 *
 * For every output index along an axis, the tap table holds the input
 * indices and weights that produce it (1 tap for nearest, 2 for linear, 4
 * for cubic; antialiased downscaling widens linear and cubic filters by
 * 1/scale, Resize-18), worked out once per call in double precision with the exact
 * formulas of the ONNX reference, so rounding decisions (nearest ties,
 * integer source coordinates) match it. The tables drive three paths:
 *   - nearest, any dtype: a byte gather along the last axis; an output row
 *     whose source row is the one of the row before is a memcpy of it, which
 *     makes integer-factor upsampling (FPN necks, PaddleOCR's detector) mostly
 *     memory copies;
 *   - linear/cubic float32 where only the last two axes change (NCHW images):
 *     a horizontal pass over the needed input rows, then a vertical blend
 *     (vertical first when downsampling, so the costly pass does less).
 *     The horizontal taps of 8 adjacent outputs usually fall within 8 (or
 *     16) adjacent inputs, so they are picked with register permutes
 *     rather than gather instructions, which measured slower than scalar
 *     code on this AMD host;
 *   - everything else: separable passes in double, last axis first (the order
 *     the reference interpolates in).
 * Nothing here allocates: callers pass the tables' and the work area's
 * memory, so a kernel can keep it in its per-context cache. */
#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VISION_AVX2 1
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vision.h"

static double rs_source_coord(const skiff__resize_params *p, int d, int64_t o)
{
    double x = (double)o, in = (double)p->in[d], sc = p->scale[d];
    /* The reference takes the resized length as scale * in, unrounded. */
    double outf = sc * in;
    switch (p->ct) {
    case SKIFF_RESIZE_CT_HALF_PIXEL: return (x + 0.5) / sc - 0.5;
    case SKIFF_RESIZE_CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)p->out[d] / outf;
        double offset = in / 2.0 * (1.0 - adj);
        return offset + (x + 0.5) / sc - 0.5;
    }
    case SKIFF_RESIZE_CT_PYTORCH_HALF_PIXEL: return p->out[d] > 1 ? (x + 0.5) / sc - 0.5 : 0.0;
    case SKIFF_RESIZE_CT_ALIGN_CORNERS: return outf == 1.0 ? 0.0 : x * (in - 1.0) / (outf - 1.0);
    case SKIFF_RESIZE_CT_ASYMMETRIC: return x / sc;
    case SKIFF_RESIZE_CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / sc;
    case SKIFF_RESIZE_CT_TF_CROP_AND_RESIZE: {
        double s = p->roi_s[d], e = p->roi_e[d];
        double v =
            outf == 1.0 ? (e - s) * (in - 1.0) / 2.0 : x * (e - s) * (in - 1.0) / (outf - 1.0);
        return v + s * (in - 1.0);
    }
    }
    return x;
}

static void cubic_coeffs(double r, double A, double c[4])
{
    double s = 1.0 - r;
    c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    c[2] = ((A + 2) * s - (A + 3)) * s * s + 1;
    c[3] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
}

/* The antialiased filter's radius in input pixels is r / scale. */
static bool rs_antialias(const skiff__resize_params *p, int d)
{
    return p->antialias && p->mode != SKIFF_RESIZE_NEAREST && p->scale[d] < 1.0;
}

static int64_t rs_aa_start(const skiff__resize_params *p, int d)
{
    double r = p->mode == SKIFF_RESIZE_LINEAR ? 1.0 : 2.0;
    return (int64_t)floor(-r / p->scale[d]) + 1;
}

int skiff__vision_resize_ntap(const skiff__resize_params *p, int d)
{
    if (p->mode == SKIFF_RESIZE_NEAREST)
        return 1;
    if (!rs_antialias(p, d))
        return p->mode == SKIFF_RESIZE_LINEAR ? 2 : 4;
    int64_t n = 2 - 2 * rs_aa_start(p, d);
    return n > (1 << 24) ? (1 << 24) : (int)n;
}

/* Antialiased taps (Resize-18): the linear (triangle) or cubic kernel
 * evaluated at scale * (i - r) for the nt taps i = start.., normalised to
 * sum 1. */
static void rs_aa_coeffs(const skiff__resize_params *p, int d, double r, int nt, double *c)
{
    const double s = p->scale[d], A = p->cubic_a;
    const int64_t start = rs_aa_start(p, d);
    double sum = 0.0;
    for (int k = 0; k < nt; k++) {
        double a = fabs(s * ((double)(start + k) - r)), v;
        if (p->mode == SKIFF_RESIZE_LINEAR)
            v = a < 1.0 ? 1.0 - a : 0.0;
        else if (a <= 1.0)
            v = ((A + 2.0) * a - (A + 3.0)) * a * a + 1.0;
        else if (a < 2.0)
            v = ((A * a - 5.0 * A) * a + 8.0 * A) * a - 4.0 * A;
        else
            v = 0.0;
        c[k] = v;
        sum += v;
    }
    if (sum != 0.0)
        for (int k = 0; k < nt; k++)
            c[k] /= sum;
}

void skiff__vision_resize_axis(const skiff__resize_params *p, int d, skiff__resize_axis *ax)
{
    const int64_t in = p->in[d], out = p->out[d];
    const int nt = ax->ntap;
    bool ident = in == out;
    ax->any_outside = false;
    for (int64_t o = 0; o < out; o++) {
        double x = rs_source_coord(p, d, o);
        bool outside =
            p->ct == SKIFF_RESIZE_CT_TF_CROP_AND_RESIZE && (x < 0.0 || x > (double)(in - 1));
        ax->outside[o] = outside;
        ax->any_outside |= outside;
        int64_t *idx = ax->idx + o * nt;
        double *w = ax->w + o * nt;
        if (p->mode == SKIFF_RESIZE_NEAREST) {
            double f = floor(x), v;
            switch (p->nm) {
            case SKIFF_RESIZE_NM_ROUND_PREFER_FLOOR: v = x - f <= 0.5 ? f : f + 1.0; break;
            case SKIFF_RESIZE_NM_ROUND_PREFER_CEIL: v = x - f < 0.5 ? f : f + 1.0; break;
            case SKIFF_RESIZE_NM_FLOOR: v = f; break;
            case SKIFF_RESIZE_NM_CEIL: v = ceil(x); break;
            default: v = p->scale[d] < 1.0 ? ceil(x) : f; break;
            }
            if (x == f)
                v = f;
            int64_t i = v < 0.0 ? 0 : v > (double)(in - 1) ? in - 1 : (int64_t)v;
            idx[0] = i;
            w[0] = 1.0;
            ident &= !outside && i == o;
            continue;
        }
        /* Like the reference: an integral x takes ratio 1 on the tap to the
         * left, so the taps are the same set the reference picks. */
        double xf = floor(x), r = x - xf;
        if (r == 0.0) {
            r = 1.0;
            xf -= 1.0;
        }
        double *c = w; /* the weights, clamped indices follow */
        int64_t base;
        if (rs_antialias(p, d)) {
            rs_aa_coeffs(p, d, r, nt, c);
            base = (int64_t)xf + rs_aa_start(p, d);
        } else if (p->mode == SKIFF_RESIZE_LINEAR) {
            c[0] = 1.0 - r;
            c[1] = r;
            base = (int64_t)xf;
        } else {
            cubic_coeffs(r, p->cubic_a, c);
            base = (int64_t)xf - 1;
        }
        if (p->exclude_outside) {
            double sum = 0.0;
            for (int k = 0; k < nt; k++) {
                int64_t i = base + k;
                if (i < 0 || i >= in)
                    c[k] = 0.0;
                sum += c[k];
            }
            if (sum != 0.0)
                for (int k = 0; k < nt; k++)
                    c[k] /= sum;
        }
        for (int k = 0; k < nt; k++) {
            int64_t i = base + k;
            idx[k] = i < 0 ? 0 : i >= in ? in - 1 : i;
        }
        ident &= !outside && x == (double)o;
    }
    ax->identity = ident;
}

/* ix32 is the last axis' index table as int32 (vectorisable gathers); rep > 1
 * says the last axis repeats every input element rep times in order (integer
 * upsampling), where plain broadcast stores beat a gather. */
static void nearest_run(const skiff__resize_params *p, const skiff__resize_axis *ax,
                        const void *src, void *dst, size_t es, const void *extrap_elem,
                        const int32_t *ix32, int64_t rep, int threads)
{
    const int rank = p->rank;
    const int64_t W = p->out[rank - 1], IW = p->in[rank - 1];
    int64_t rows = 1;
    for (int d = 0; d < rank - 1; d++)
        rows *= p->out[d];
    int64_t istr[SKIFF_MAX_DIMS];
    istr[rank - 1] = 1;
    for (int d = rank - 2; d >= 0; d--)
        istr[d] = istr[d + 1] * p->in[d + 1];
    const skiff__resize_axis *lx = &ax[rank - 1];
    int nchunks = 1;
    if (threads > 1 && rows * W >= 32768)
        nchunks = threads * 4 < rows ? threads * 4 : (int)rows;

#pragma omp parallel for num_threads(threads) if (nchunks > 1) schedule(dynamic, 1)
    for (int ch = 0; ch < nchunks; ch++) {
        int64_t r0 = rows * ch / nchunks, r1 = rows * (ch + 1) / nchunks;
        int64_t od[SKIFF_MAX_DIMS];
        int64_t rem = r0;
        for (int d = rank - 2; d >= 0; d--) {
            od[d] = rem % p->out[d];
            rem /= p->out[d];
        }
        int64_t prev_base = -1;
        for (int64_t r = r0; r < r1; r++) {
            int64_t base = 0;
            bool outside = false;
            for (int d = 0; d < rank - 1; d++) {
                base += ax[d].idx[od[d]] * istr[d];
                outside |= ax[d].outside[od[d]] != 0;
            }
            char *orow = (char *)dst + (size_t)r * W * es;
            if (outside) {
                for (int64_t j = 0; j < W; j++)
                    memcpy(orow + j * es, extrap_elem, es);
                prev_base = -1;
            } else if (base == prev_base) {
                /* same source row as the row before (vertical upsampling) */
                memcpy(orow, orow - (size_t)W * es, (size_t)W * es);
            } else {
                if (es == 4 && rep == 2) {
                    const float *s = (const float *)src + base;
                    float *o = (float *)orow;
                    for (int64_t i = 0; i < IW; i++) {
                        o[2 * i] = s[i];
                        o[2 * i + 1] = s[i];
                    }
                } else if (es == 4 && rep > 2) {
                    const float *s = (const float *)src + base;
                    float *o = (float *)orow;
                    for (int64_t i = 0; i < IW; i++) {
                        const float v = s[i];
                        float *oi = o + i * rep;
                        for (int64_t k = 0; k < rep; k++)
                            oi[k] = v;
                    }
                } else if (es == 4 && ix32) {
                    const float *s = (const float *)src + base;
                    float *o = (float *)orow;
                    for (int64_t j = 0; j < W; j++)
                        o[j] = s[ix32[j]];
                } else {
                    const int64_t *ix = lx->idx;
/* o[j] = s[ix[j]] along the row, with elements of type T */
#define PICK_ROW(T)                                                                                \
    do {                                                                                           \
        const T *s_ = (const T *)src + base;                                                       \
        T *o_ = (T *)orow;                                                                         \
        for (int64_t j = 0; j < W; j++)                                                            \
            o_[j] = s_[ix[j]];                                                                     \
    } while (0)
                    switch (es) {
                    case 1: PICK_ROW(uint8_t); break;
                    case 2: PICK_ROW(uint16_t); break;
                    case 4: PICK_ROW(uint32_t); break;
                    case 8: PICK_ROW(uint64_t); break;
#undef PICK_ROW
                    default:
                        for (int64_t j = 0; j < W; j++)
                            memcpy(orow + j * es, (const char *)src + (base + ix[j]) * es, es);
                        break;
                    }
                }
                if (lx->any_outside)
                    for (int64_t j = 0; j < W; j++)
                        if (lx->outside[j])
                            memcpy(orow + j * es, extrap_elem, es);
                prev_base = lx->any_outside ? -1 : base;
            }
            for (int d = rank - 2; d >= 0; d--) {
                if (++od[d] < p->out[d])
                    break;
                od[d] = 0;
            }
        }
    }
}

void skiff__vision_resize_nearest(const skiff__resize_params *p, const skiff__resize_axis *ax,
                                  const void *src, void *dst, size_t es, const void *extrap_elem,
                                  int32_t *ix32, int threads)
{
    const int64_t IW = p->in[p->rank - 1], OW = p->out[p->rank - 1];
    const skiff__resize_axis *lx = &ax[p->rank - 1];
    int64_t rep = 0;
    if (ix32) {
        for (int64_t j = 0; j < OW; j++)
            ix32[j] = (int32_t)lx->idx[j];
        /* integer upsampling: output j reads input j / f */
        if (IW > 0 && OW % IW == 0 && OW / IW > 1 && !lx->any_outside) {
            rep = OW / IW;
            for (int64_t j = 0; j < OW && rep; j++)
                if (lx->idx[j] != j / rep)
                    rep = 0;
        }
    }
    nearest_run(p, ax, src, dst, es, extrap_elem, ix32, rep, threads);
}

/* Tables of the planar float32 path, as int32/float structure-of-arrays so
 * the horizontal pass vectorises: tap k of output column x is ix[k][x]. */
typedef struct skiff__resize_plane_tabs {
    const int32_t *ix[4];
    const float *wx[4];
    /* Blocks of 8 output columns whose taps k all fall in the 8 (bwide: 16)
     * inputs starting at bbase[b] + k: rel[k][x] = ix[k][x] - bbase[b] - k,
     * and the block is computed with in-register permutes instead of gathers
     * (slow on some CPUs). bbase[b] < 0 marks a block for the plain loop. */
    const int32_t *rel[4];
    const int32_t *bbase;
    const unsigned char *bwide;
    const float *wy;     /* [OH][nty] */
    unsigned char *need; /* input rows the vertical pass reads */
} skiff__resize_plane_tabs;

/* Row kernels of the planar path; restrict lets them vectorise. */
static void rs_hrow_plain(float *restrict tr, const float *restrict ir,
                          const skiff__resize_plane_tabs *tb, int ntap, int64_t x0, int64_t x1)
{
    const int32_t *restrict i0 = tb->ix[0], *restrict i1 = tb->ix[1];
    const float *restrict w0 = tb->wx[0], *restrict w1 = tb->wx[1];
    if (ntap == 2) {
        for (int64_t x = x0; x < x1; x++)
            tr[x] = w0[x] * ir[i0[x]] + w1[x] * ir[i1[x]];
        return;
    }
    const int32_t *restrict i2 = tb->ix[2], *restrict i3 = tb->ix[3];
    const float *restrict w2 = tb->wx[2], *restrict w3 = tb->wx[3];
    for (int64_t x = x0; x < x1; x++)
        tr[x] = w0[x] * ir[i0[x]] + w1[x] * ir[i1[x]] + w2[x] * ir[i2[x]] + w3[x] * ir[i3[x]];
}

static void rs_hrow(float *restrict tr, const float *restrict ir,
                    const skiff__resize_plane_tabs *tb, int ntap, int64_t n)
{
#ifdef VISION_AVX2
    int64_t nb = n / 8;
    for (int64_t b = 0; b < nb; b++) {
        int64_t x0 = b * 8;
        int32_t base = tb->bbase[b];
        if (base < 0) {
            rs_hrow_plain(tr, ir, tb, ntap, x0, x0 + 8);
            continue;
        }
        __m256 acc = _mm256_setzero_ps();
        if (!tb->bwide[b]) {
            for (int k = 0; k < ntap; k++) {
                __m256 v = _mm256_loadu_ps(ir + base + k);
                __m256i r = _mm256_loadu_si256((const __m256i *)(tb->rel[k] + x0));
                acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(v, r),
                                      _mm256_loadu_ps(tb->wx[k] + x0), acc);
            }
        } else {
            /* downsampling up to 2x: taps span two vectors; permutevar uses
             * the low 3 bits, the blend picks the vector */
            const __m256i seven = _mm256_set1_epi32(7);
            for (int k = 0; k < ntap; k++) {
                __m256 v0 = _mm256_loadu_ps(ir + base + k), v1 = _mm256_loadu_ps(ir + base + k + 8);
                __m256i r = _mm256_loadu_si256((const __m256i *)(tb->rel[k] + x0));
                __m256 hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(r, seven));
                __m256 g = _mm256_blendv_ps(_mm256_permutevar8x32_ps(v0, r),
                                            _mm256_permutevar8x32_ps(v1, r), hi);
                acc = _mm256_fmadd_ps(g, _mm256_loadu_ps(tb->wx[k] + x0), acc);
            }
        }
        _mm256_storeu_ps(tr + x0, acc);
    }
    rs_hrow_plain(tr, ir, tb, ntap, nb * 8, n);
#else
    rs_hrow_plain(tr, ir, tb, ntap, 0, n);
#endif
}

static void rs_vrow2(float *restrict o, const float *restrict a, const float *restrict b, float w0,
                     float w1, int64_t n)
{
    for (int64_t x = 0; x < n; x++)
        o[x] = w0 * a[x] + w1 * b[x];
}

static void rs_vrow4(float *restrict o, const float *restrict a, const float *restrict b,
                     const float *restrict c, const float *restrict d, const float *w, int64_t n)
{
    const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    for (int64_t x = 0; x < n; x++)
        o[x] = w0 * a[x] + w1 * b[x] + w2 * c[x] + w3 * d[x];
}

/* float32 linear/cubic where only the last two axes change. */
static void plane_run(const skiff__resize_params *p, const skiff__resize_axis *ay,
                      const skiff__resize_axis *ax, const float *src, float *dst, int64_t planes,
                      float *tmp_all, size_t tmp_per_thread, const skiff__resize_plane_tabs *tb,
                      int threads)
{
    const int rank = p->rank;
    const int64_t IH = p->in[rank - 2], IW = p->in[rank - 1];
    const int64_t OH = p->out[rank - 2], OW = p->out[rank - 1];
    const int ntx = ax->ntap, nty = ay->ntap;
    const float ev = (float)p->extrap;
    unsigned char *need = tb->need;
    memset(need, 0, (size_t)IH);
    for (int64_t o = 0; o < OH * nty; o++)
        if (nty != 2 || ay->w[o] != 0.0) /* 2 taps skip a zero-weight row */
            need[ay->idx[o]] = 1;
    int nt = threads > 1 && planes > 1 && planes * OH * OW >= 32768 ? threads : 1;
    if (nt > planes)
        nt = (int)planes;
    /* Resampling along a row gathers, along a column it streams: do the
     * gathers over whichever set of rows is smaller (upsampling in H:
     * horizontal first, over the input rows; downsampling: vertical first). */
    int64_t need_rows = 0;
    for (int64_t y = 0; y < IH; y++)
        need_rows += need[y];
    const bool vfirst =
        !ax->identity && !ay->identity && OH * IW + OH * OW * 4 < need_rows * OW * 4 + OH * OW;

#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        int tid = 0;
#ifdef _OPENMP
        tid = nt > 1 ? omp_get_thread_num() : 0;
#endif
        float *tmp = tmp_all + (size_t)tid * tmp_per_thread;
        const float *in = src + (size_t)pl * IH * IW;
        float *out = dst + (size_t)pl * OH * OW;
        if (vfirst) {
            /* per output row: blend input rows into tmp[IW], then resample it */
            for (int64_t y = 0; y < OH; y++) {
                float *orow = out + y * OW;
                if (ay->outside[y]) {
                    for (int64_t x = 0; x < OW; x++)
                        orow[x] = ev;
                    continue;
                }
                const int64_t *iy = ay->idx + y * nty;
                const float *w = tb->wy + y * nty;
                const float *row = tmp;
                if (ay->identity)
                    row = in + y * IW;
                else if (nty == 2)
                    rs_vrow2(tmp, in + iy[0] * IW, in + iy[1] * IW, w[0], w[1], IW);
                else
                    rs_vrow4(tmp, in + iy[0] * IW, in + iy[1] * IW, in + iy[2] * IW,
                             in + iy[3] * IW, w, IW);
                if (ax->identity)
                    memcpy(orow, row, (size_t)OW * sizeof(float));
                else
                    rs_hrow(orow, row, tb, ntx, OW);
                if (ax->any_outside)
                    for (int64_t x = 0; x < OW; x++)
                        if (ax->outside[x])
                            orow[x] = ev;
            }
            continue;
        }
        /* horizontal pass into tmp[IH][OW] (skipped when W is unchanged) */
        const float *rows = in;
        int64_t rstride = IW;
        if (!ax->identity) {
            for (int64_t y = 0; y < IH; y++) {
                if (!need[y])
                    continue;
                rs_hrow(tmp + y * OW, in + y * IW, tb, ntx, OW);
            }
            rows = tmp;
            rstride = OW;
        }
        /* vertical pass */
        for (int64_t y = 0; y < OH; y++) {
            float *orow = out + y * OW;
            if (ay->outside[y]) {
                for (int64_t x = 0; x < OW; x++)
                    orow[x] = ev;
                continue;
            }
            const int64_t *iy = ay->idx + y * nty;
            const float *w = tb->wy + y * nty;
            if (ay->identity) {
                memcpy(orow, rows + y * rstride, (size_t)OW * sizeof(float));
            } else if (nty == 2) {
                const float *a = rows + iy[0] * rstride, *b = rows + iy[1] * rstride;
                const float w0 = w[0], w1 = w[1];
                if (w0 == 0.0f)
                    memcpy(orow, b, (size_t)OW * sizeof(float));
                else if (w1 == 0.0f)
                    memcpy(orow, a, (size_t)OW * sizeof(float));
                else
                    rs_vrow2(orow, a, b, w0, w1, OW);
            } else {
                rs_vrow4(orow, rows + iy[0] * rstride, rows + iy[1] * rstride,
                         rows + iy[2] * rstride, rows + iy[3] * rstride, w, OW);
            }
            if (ax->any_outside)
                for (int64_t x = 0; x < OW; x++)
                    if (ax->outside[x])
                        orow[x] = ev;
        }
    }
}

/* The planar path's work area, carved in this order: per-thread row
 * buffers, then the float32/int32 tables. */
typedef struct plane_layout {
    size_t tmp_per, o_tmp, o_wy, o_ix[4], o_wx[4], o_rel[4], o_bb, o_bw, o_need, size;
} plane_layout;

static bool plane_layout_of(const skiff__resize_params *p, int ntap, int threads, plane_layout *l)
{
    const int rank = p->rank;
    const int64_t IH = p->in[rank - 2], OH = p->out[rank - 2], OW = p->out[rank - 1];
    skiff__carve cv = {0, false};
    if (!skiff__mul_size((size_t)IH, (size_t)OW, &l->tmp_per))
        return false;
    if (l->tmp_per < (size_t)p->in[rank - 1]) /* the vertical-first row */
        l->tmp_per = (size_t)p->in[rank - 1];
    l->o_tmp = skiff__carve_take(&cv, l->tmp_per * (size_t)threads, sizeof(float));
    l->o_wy = skiff__carve_take(&cv, (size_t)OH * ntap, sizeof(float));
    for (int k = 0; k < ntap; k++) {
        l->o_ix[k] = skiff__carve_take(&cv, (size_t)OW, sizeof(int32_t));
        l->o_wx[k] = skiff__carve_take(&cv, (size_t)OW, sizeof(float));
        l->o_rel[k] = skiff__carve_take(&cv, (size_t)OW, sizeof(int32_t));
    }
    l->o_bb = skiff__carve_take(&cv, (size_t)(OW / 8 + 1), sizeof(int32_t));
    l->o_bw = skiff__carve_take(&cv, (size_t)(OW / 8 + 1), 1);
    l->o_need = skiff__carve_take(&cv, (size_t)IH, 1);
    l->size = cv.off;
    return !cv.overflow && p->in[rank - 1] <= INT32_MAX;
}

size_t skiff__vision_resize_plane_size(const skiff__resize_params *p, int threads)
{
    plane_layout l = {0};
    int ntap = p->mode == SKIFF_RESIZE_CUBIC ? 4 : 2;
    return plane_layout_of(p, ntap, threads, &l) ? l.size : 0;
}

/* float32 tables of the two planar axes, and the blocks the permute path
 * can take (see skiff__resize_plane_tabs). */
static void plane_tabs(const skiff__resize_params *p, const skiff__resize_axis *ay,
                       const skiff__resize_axis *ax, const plane_layout *l, char *base,
                       skiff__resize_plane_tabs *tb)
{
    const int rank = p->rank, ntap = ax->ntap;
    const int64_t OH = p->out[rank - 2], OW = p->out[rank - 1], IW = p->in[rank - 1];
    memset(tb, 0, sizeof(*tb));
    float *wyf = (float *)(base + l->o_wy);
    for (int64_t i = 0; i < OH * ntap; i++)
        wyf[i] = (float)ay->w[i];
    tb->wy = wyf;
    for (int k = 0; k < ntap; k++) {
        int32_t *ixk = (int32_t *)(base + l->o_ix[k]);
        float *wxk = (float *)(base + l->o_wx[k]);
        for (int64_t x = 0; x < OW; x++) {
            ixk[x] = (int32_t)ax->idx[x * ntap + k];
            wxk[x] = (float)ax->w[x * ntap + k];
        }
        tb->ix[k] = ixk;
        tb->wx[k] = wxk;
    }
    tb->need = (unsigned char *)(base + l->o_need);
    int32_t *bb = (int32_t *)(base + l->o_bb);
    int32_t *rel[4] = {NULL};
    for (int k = 0; k < ntap; k++)
        tb->rel[k] = rel[k] = (int32_t *)(base + l->o_rel[k]);
    unsigned char *bw = (unsigned char *)(base + l->o_bw);
    for (int64_t b = 0; b < OW / 8; b++) {
        int64_t x0 = b * 8, b0 = tb->ix[0][x0], span = 0;
        bool ok = true;
        for (int k = 0; k < ntap && ok; k++)
            for (int64_t x = x0; x < x0 + 8; x++) {
                int64_t r = tb->ix[k][x] - b0 - k;
                ok &= r >= 0 && r < 16;
                span = r > span ? r : span;
                rel[k][x] = ok ? (int32_t)r : 0;
            }
        bw[b] = span >= 8;
        ok &= b0 + ntap - 1 + (span >= 8 ? 16 : 8) <= IW; /* loads stay inside the row */
        bb[b] = ok ? (int32_t)b0 : -1;
    }
    tb->bbase = bb;
    tb->bwide = bw;
}

void skiff__vision_resize_plane(const skiff__resize_params *p, const skiff__resize_axis *ay,
                                const skiff__resize_axis *ax, const float *src, float *dst,
                                void *work, int threads)
{
    const int rank = p->rank;
    plane_layout l = {0};
    plane_layout_of(p, ax->ntap, threads, &l);
    int64_t planes = 1;
    for (int d = 0; d < rank - 2; d++)
        planes *= p->in[d];
    skiff__resize_plane_tabs tb;
    plane_tabs(p, ay, ax, &l, work, &tb);
    plane_run(p, ay, ax, src, dst, planes, (float *)((char *)work + l.o_tmp), l.tmp_per, &tb,
              threads);
}

double *skiff__vision_resize_generic(const skiff__resize_params *p, const skiff__resize_axis *ax,
                                     double *a, double *b)
{
    int64_t dims[SKIFF_MAX_DIMS];
    for (int d = 0; d < p->rank; d++)
        dims[d] = p->in[d];
    for (int d = p->rank - 1; d >= 0; d--) {
        if (ax[d].identity)
            continue;
        int64_t outer = 1, inner = 1;
        for (int k = 0; k < d; k++)
            outer *= dims[k];
        for (int k = d + 1; k < p->rank; k++)
            inner *= dims[k];
        const int64_t in = dims[d], out = p->out[d];
        const int nt = ax[d].ntap;
        for (int64_t o0 = 0; o0 < outer; o0++) {
            const double *s = a + o0 * in * inner;
            double *t = b + o0 * out * inner;
            for (int64_t o = 0; o < out; o++) {
                double *tr = t + o * inner;
                if (ax[d].outside[o]) {
                    for (int64_t i = 0; i < inner; i++)
                        tr[i] = p->extrap;
                    continue;
                }
                const int64_t *ix = ax[d].idx + o * nt;
                const double *w = ax[d].w + o * nt;
                for (int64_t i = 0; i < inner; i++)
                    tr[i] = 0.0;
                for (int k = 0; k < nt; k++) {
                    const double *sr = s + ix[k] * inner;
                    const double wk = w[k];
                    for (int64_t i = 0; i < inner; i++)
                        tr[i] += wk * sr[i];
                }
            }
        }
        dims[d] = out;
        double *sw = a;
        a = b;
        b = sw;
    }
    return a;
}
