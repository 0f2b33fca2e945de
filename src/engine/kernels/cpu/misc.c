/* misc.c - kernels that fit no other family: Resize (opsets 10-18) and the
 * deprecated Upsample (7-9), Einsum, Mish, Shrink, Det,
 * MeanVarianceNormalization and LpNormalization.
 *
 * Resize is built on per-axis tap tables: for every output index along an
 * axis, the input indices and weights that produce it (1 tap for nearest, 2
 * for linear, 4 for cubic), worked out once per call in double precision with
 * the exact formulas of the ONNX reference, so rounding decisions (nearest
 * ties, integer source coordinates) match it. The tables drive three paths:
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
 *
 * Einsum contracts two float32 operands as a batched sgemm after classifying
 * labels into batch / M / N / K; other forms (one or three operands,
 * diagonals, broadcasting, other dtypes) use a direct loop over all labels. */
#include <math.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MISC_AVX2 1
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../engine_int.h"

/* ---- shared helpers ------------------------------------------------------- */

typedef struct misc_scratch {
    void *buf;
    size_t cap;
} misc_scratch;

static void scratch_free(void *p)
{
    misc_scratch *s = p;
    if (!s)
        return;
    skiff__free(s->buf);
    skiff__free(s);
}

/* Per-context scratch that only grows, so repeated runs do not allocate.
 * The first `keep` bytes survive a growth (tables built before the size of
 * the rest was known). */
static void *scratch_grow(skiff__kctx *ctx, size_t bytes, size_t keep, skiff_status_t **st)
{
    misc_scratch *s = ctx->cache ? *ctx->cache : NULL;
    if (!ctx->cache) {
        *st = skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "no kernel cache slot");
        return NULL;
    }
    if (!s) {
        if (!(s = skiff__calloc(1, sizeof(*s)))) {
            *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            return NULL;
        }
        *ctx->cache = s;
    }
    if (bytes == 0)
        bytes = 64;
    if (s->cap < bytes) {
        void *nb = skiff__aligned_alloc(bytes);
        if (!nb) {
            *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                              "out of memory for %zu bytes of scratch", bytes);
            return NULL;
        }
        if (keep && s->buf)
            memcpy(nb, s->buf, keep < s->cap ? keep : s->cap);
        skiff__free(s->buf);
        s->buf = nb;
        s->cap = bytes;
    }
    return s->buf;
}

static void *scratch_get(skiff__kctx *ctx, size_t bytes, skiff_status_t **st)
{
    return scratch_grow(ctx, bytes, 0, st);
}

/* Byte offsets for carving one scratch block into aligned pieces. */
typedef struct carve {
    size_t off;
    bool overflow;
} carve;

static size_t carve_take(carve *c, size_t n, size_t esize)
{
    size_t bytes, at = c->off;
    if (!skiff__mul_size(n, esize, &bytes) || bytes > SIZE_MAX - 64 - at) {
        c->overflow = true;
        return 0;
    }
    c->off = at + ((bytes + 63) & ~(size_t)63);
    return at;
}

/* Stores v as element i of a numeric buffer; integers round to nearest and
 * saturate, as an image pipeline expects of a uint8 resize. */
static void store_f64(void *data, skiff_dtype_t t, int64_t i, double v)
{
#define SAT(T, lo, hi)                                                                             \
    do {                                                                                           \
        double r = nearbyint(v);                                                                   \
        ((T *)data)[i] = r != r ? (T)0 : r < (lo) ? (T)(lo) : r > (hi) ? (T)(hi) : (T)r;           \
    } while (0)
    switch (t) {
    case SKIFF_DTYPE_FLOAT32: ((float *)data)[i] = (float)v; break;
    case SKIFF_DTYPE_FLOAT64: ((double *)data)[i] = v; break;
    case SKIFF_DTYPE_FLOAT16: ((uint16_t *)data)[i] = skiff__f32_to_f16((float)v); break;
    case SKIFF_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = skiff__f32_to_bf16((float)v); break;
    case SKIFF_DTYPE_INT8: SAT(int8_t, -128.0, 127.0); break;
    case SKIFF_DTYPE_UINT8: SAT(uint8_t, 0.0, 255.0); break;
    case SKIFF_DTYPE_INT16: SAT(int16_t, -32768.0, 32767.0); break;
    case SKIFF_DTYPE_UINT16: SAT(uint16_t, 0.0, 65535.0); break;
    case SKIFF_DTYPE_INT32: SAT(int32_t, -2147483648.0, 2147483647.0); break;
    case SKIFF_DTYPE_UINT32: SAT(uint32_t, 0.0, 4294967295.0); break;
    case SKIFF_DTYPE_INT64: SAT(int64_t, -9223372036854775808.0, 9223372036854774784.0); break;
    case SKIFF_DTYPE_UINT64: SAT(uint64_t, 0.0, 18446744073709549568.0); break;
    default: break;
    }
#undef SAT
}

/* ==== Resize / Upsample ====================================================== */

typedef enum rs_mode { RS_NEAREST, RS_LINEAR, RS_CUBIC } rs_mode;

typedef enum rs_coord {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
} rs_coord;

typedef enum rs_nearest {
    NM_ROUND_PREFER_FLOOR,
    NM_ROUND_PREFER_CEIL,
    NM_FLOOR,
    NM_CEIL,
    NM_SIMPLE, /* opset < 11 and Upsample: floor, or ceil when downsampling */
} rs_nearest;

typedef struct rs_params {
    rs_mode mode;
    rs_coord ct;
    rs_nearest nm;
    double cubic_a;
    bool exclude_outside;
    double extrap;
    int rank;
    int64_t in[SKIFF_MAX_DIMS], out[SKIFF_MAX_DIMS];
    double scale[SKIFF_MAX_DIMS];
    double roi_s[SKIFF_MAX_DIMS], roi_e[SKIFF_MAX_DIMS];
} rs_params;

/* One axis' tap table. */
typedef struct rs_axis {
    int ntap;
    int64_t *idx;           /* [out][ntap], clamped to [0, in) */
    double *w;              /* [out][ntap] */
    unsigned char *outside; /* [out]: tf_crop_and_resize extrapolates here */
    bool identity;          /* output == input along this axis */
    bool any_outside;
} rs_axis;

static double rs_source_coord(const rs_params *p, int d, int64_t o)
{
    double x = (double)o, in = (double)p->in[d], sc = p->scale[d];
    /* The reference takes the resized length as scale * in, unrounded. */
    double outf = sc * in;
    switch (p->ct) {
    case CT_HALF_PIXEL: return (x + 0.5) / sc - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)p->out[d] / outf;
        double offset = in / 2.0 * (1.0 - adj);
        return offset + (x + 0.5) / sc - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL: return p->out[d] > 1 ? (x + 0.5) / sc - 0.5 : 0.0;
    case CT_ALIGN_CORNERS: return outf == 1.0 ? 0.0 : x * (in - 1.0) / (outf - 1.0);
    case CT_ASYMMETRIC: return x / sc;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / sc;
    case CT_TF_CROP_AND_RESIZE: {
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

static void rs_build_axis(const rs_params *p, int d, rs_axis *ax)
{
    const int64_t in = p->in[d], out = p->out[d];
    const int nt = ax->ntap;
    bool ident = in == out;
    ax->any_outside = false;
    for (int64_t o = 0; o < out; o++) {
        double x = rs_source_coord(p, d, o);
        bool outside = p->ct == CT_TF_CROP_AND_RESIZE && (x < 0.0 || x > (double)(in - 1));
        ax->outside[o] = outside;
        ax->any_outside |= outside;
        int64_t *idx = ax->idx + o * nt;
        double *w = ax->w + o * nt;
        if (p->mode == RS_NEAREST) {
            double f = floor(x), v;
            switch (p->nm) {
            case NM_ROUND_PREFER_FLOOR: v = x - f <= 0.5 ? f : f + 1.0; break;
            case NM_ROUND_PREFER_CEIL: v = x - f < 0.5 ? f : f + 1.0; break;
            case NM_FLOOR: v = f; break;
            case NM_CEIL: v = ceil(x); break;
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
        double c[4];
        int64_t base;
        if (p->mode == RS_LINEAR) {
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
            w[k] = c[k];
        }
        ident &= !outside && x == (double)o;
    }
    ax->identity = ident;
}

/* Nearest for any fixed-size dtype: gathers whole elements. ix32 is the last
 * axis' index table as int32 (vectorisable gathers); rep > 1 says the last
 * axis repeats every input element rep times in order (integer upsampling),
 * where plain broadcast stores beat a gather. */
static void rs_nearest_gather(const rs_params *p, const rs_axis *ax, const void *src, void *dst,
                              size_t es, const void *extrap_elem, const int32_t *ix32, int64_t rep,
                              int threads)
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
    const rs_axis *lx = &ax[rank - 1];
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

/* Tables of the planar float32 path, as int32/float structure-of-arrays so
 * the horizontal pass vectorises: tap k of output column x is ix[k][x]. */
typedef struct rs_plane_tabs {
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
} rs_plane_tabs;

/* Row kernels of the planar path; restrict lets them vectorise. */
static void rs_hrow_plain(float *restrict tr, const float *restrict ir, const rs_plane_tabs *tb,
                          int ntap, int64_t x0, int64_t x1)
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

static void rs_hrow(float *restrict tr, const float *restrict ir, const rs_plane_tabs *tb, int ntap,
                    int64_t n)
{
#ifdef MISC_AVX2
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
static void rs_plane_f32(const rs_params *p, const rs_axis *ay, const rs_axis *ax, const float *src,
                         float *dst, int64_t planes, float *tmp_all, size_t tmp_per_thread,
                         const rs_plane_tabs *tb, int threads)
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

/* Generic separable interpolation in double, last axis first. cur holds the
 * input converted to double; the result ends in *result. */
static double *rs_generic(const rs_params *p, const rs_axis *ax, double *a, double *b)
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

    rs_params p;
    memset(&p, 0, sizeof(p));
    p.rank = rank;
    for (int d = 0; d < rank; d++) {
        p.in[d] = X->dims[d];
        p.roi_s[d] = 0.0;
        p.roi_e[d] = 1.0;
    }
    const bool v11 = !upsample && node->opset >= 11;
    const char *mode = skiff__attr_str(node, "mode", "nearest");
    if (strcmp(mode, "nearest") == 0)
        p.mode = RS_NEAREST;
    else if (strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0)
        p.mode = RS_LINEAR;
    else if (strcmp(mode, "cubic") == 0 && v11)
        p.mode = RS_CUBIC;
    else
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'mode': unsupported value '%s'",
                           mode);
    p.ct = CT_ASYMMETRIC;
    p.nm = NM_SIMPLE;
    p.cubic_a = -0.75;
    if (v11) {
        static const struct {
            const char *name;
            rs_coord ct;
        } cts[] = {
            {"half_pixel", CT_HALF_PIXEL},
            {"half_pixel_symmetric", CT_HALF_PIXEL_SYMMETRIC},
            {"pytorch_half_pixel", CT_PYTORCH_HALF_PIXEL},
            {"align_corners", CT_ALIGN_CORNERS},
            {"asymmetric", CT_ASYMMETRIC},
            {"tf_half_pixel_for_nn", CT_TF_HALF_PIXEL_FOR_NN},
            {"tf_crop_and_resize", CT_TF_CROP_AND_RESIZE},
        };
        static const struct {
            const char *name;
            rs_nearest nm;
        } nms[] = {
            {"round_prefer_floor", NM_ROUND_PREFER_FLOOR},
            {"round_prefer_ceil", NM_ROUND_PREFER_CEIL},
            {"floor", NM_FLOOR},
            {"ceil", NM_CEIL},
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
        p.ct = cts[i].ct;
        const char *nm = skiff__attr_str(node, "nearest_mode", "round_prefer_floor");
        for (i = 0; i < sizeof(nms) / sizeof(nms[0]); i++)
            if (strcmp(nm, nms[i].name) == 0)
                break;
        if (i == sizeof(nms) / sizeof(nms[0]))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'nearest_mode': unsupported value '%s'", nm);
        p.nm = nms[i].nm;
        p.cubic_a = skiff__attr_float(node, "cubic_coeff_a", -0.75f);
        p.exclude_outside = skiff__attr_int(node, "exclude_outside", 0) != 0;
        p.extrap = skiff__attr_float(node, "extrapolation_value", 0.0f);
    }

    /* axes (opset 18): which dimensions scales/sizes/roi talk about */
    int axes[SKIFF_MAX_DIMS], naxes = rank;
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
            naxes = na;
        }
    }

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
        p.out[d] = p.in[d];
        p.scale[d] = 1.0;
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
            if (p.in[axes[i]] == 0 && sz[i] > 0)
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
                p.out[d] = sz[i];
                p.scale[d] = p.in[d] > 0 ? (double)sz[i] / (double)p.in[d] : 1.0;
            }
        } else {
            bool smaller = strcmp(policy, "not_larger") == 0;
            if (!smaller && strcmp(policy, "not_smaller") != 0)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'keep_aspect_ratio_policy': unsupported value '%s'",
                                   policy);
            double s = smaller ? INFINITY : 0.0;
            for (int i = 0; i < naxes; i++) {
                double r = p.in[axes[i]] > 0 ? (double)sz[i] / (double)p.in[axes[i]] : 1.0;
                s = smaller ? (r < s ? r : s) : (r > s ? r : s);
            }
            for (int i = 0; i < naxes; i++) {
                int d = axes[i];
                p.scale[d] = s;
                p.out[d] = (int64_t)floor(s * (double)p.in[d] + 0.5);
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
            double o = floor(scales[i] * (double)p.in[d]);
            if (o > (double)(INT64_C(1) << 40))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "'scales': entry %d gives an output too large", i);
            p.scale[d] = scales[i];
            p.out[d] = (int64_t)o;
        }
    }
    if (p.ct == CT_TF_CROP_AND_RESIZE) {
        if (roi_t && skiff_tensor_numel(roi_t) > 0) {
            double roi[2 * SKIFF_MAX_DIMS];
            int nroi = 0;
            if ((st = read_float_list(ctx, roi_t, "roi", roi, 2 * SKIFF_MAX_DIMS, &nroi)))
                return st;
            if (nroi != 2 * naxes)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'roi': expected %d values, got %d", 2 * naxes, nroi);
            for (int i = 0; i < naxes; i++) {
                p.roi_s[axes[i]] = roi[i];
                p.roi_e[axes[i]] = roi[naxes + i];
            }
        }
    }
    if (v11 && skiff__attr_int(node, "antialias", 0) != 0 && p.mode != RS_NEAREST)
        for (int d = 0; d < rank; d++)
            if (p.scale[d] < 1.0)
                return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                                   "attribute 'antialias': downscaling with antialias is not "
                                   "supported");

    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, rank, p.out, &st);
    if (!Y)
        return st;
    int64_t n_out = skiff_tensor_numel(Y), n_in = skiff_tensor_numel(X);
    if (n_out == 0)
        return NULL;
    for (int d = 0; d < rank; d++)
        if (p.in[d] == 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'X': cannot resize an empty axis %d to %lld", d,
                               (long long)p.out[d]);
    if (p.mode != RS_NEAREST && !skiff__dtype_is_numeric(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);

    /* scratch: tap tables, then path-specific buffers */
    const int ntap = p.mode == RS_NEAREST ? 1 : p.mode == RS_LINEAR ? 2 : 4;
    carve cv = {0, false};
    size_t o_idx[SKIFF_MAX_DIMS], o_w[SKIFF_MAX_DIMS], o_out[SKIFF_MAX_DIMS];
    for (int d = 0; d < rank; d++) {
        o_idx[d] = carve_take(&cv, (size_t)p.out[d] * ntap, sizeof(int64_t));
        o_w[d] = carve_take(&cv, (size_t)p.out[d] * ntap, sizeof(double));
        o_out[d] = carve_take(&cv, (size_t)p.out[d], 1);
    }
    size_t tables_end = cv.off;
    if (cv.overflow)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
    char *base = scratch_get(ctx, tables_end, &st);
    if (!base)
        return st;
    rs_axis ax[SKIFF_MAX_DIMS];
    for (int d = 0; d < rank; d++) {
        ax[d].ntap = ntap;
        ax[d].idx = (int64_t *)(base + o_idx[d]);
        ax[d].w = (double *)(base + o_w[d]);
        ax[d].outside = (unsigned char *)(base + o_out[d]);
        rs_build_axis(&p, d, &ax[d]);
    }
    const int threads = skiff__kctx_threads(ctx);

    if (p.mode == RS_NEAREST) {
        size_t es = skiff_dtype_size(X->dtype);
        unsigned char ev[16] = {0};
        store_f64(ev, skiff__dtype_is_numeric(X->dtype) ? X->dtype : SKIFF_DTYPE_UNDEFINED, 0,
                  p.extrap);
        const int64_t IW = p.in[rank - 1], OW = p.out[rank - 1];
        const rs_axis *lx = &ax[rank - 1];
        int32_t *ix32 = NULL;
        int64_t rep = 0;
        if (es == 4 && IW <= INT32_MAX) {
            size_t o_ix = carve_take(&cv, (size_t)OW, sizeof(int32_t));
            if (cv.overflow)
                return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
            if (!(base = scratch_grow(ctx, cv.off, tables_end, &st)))
                return st;
            for (int d = 0; d < rank; d++) {
                ax[d].idx = (int64_t *)(base + o_idx[d]);
                ax[d].outside = (unsigned char *)(base + o_out[d]);
            }
            ix32 = (int32_t *)(base + o_ix);
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
        rs_nearest_gather(&p, ax, X->data, Y->data, es, ev, ix32, rep, threads);
        return NULL;
    }

    bool planar = X->dtype == SKIFF_DTYPE_FLOAT32 && rank >= 2;
    for (int d = 0; planar && d < rank - 2; d++)
        planar = ax[d].identity;
    if (planar) {
        const int64_t IH = p.in[rank - 2], OH = p.out[rank - 2], OW = p.out[rank - 1];
        int64_t planes = 1;
        for (int d = 0; d < rank - 2; d++)
            planes *= p.in[d];
        size_t tmp_per;
        if (!skiff__mul_size((size_t)IH, (size_t)OW, &tmp_per))
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
        if (tmp_per < (size_t)p.in[rank - 1]) /* the vertical-first row */
            tmp_per = (size_t)p.in[rank - 1];
        size_t o_tmp = carve_take(&cv, tmp_per * (size_t)threads, sizeof(float));
        size_t o_wy = carve_take(&cv, (size_t)OH * ntap, sizeof(float));
        size_t o_ix[4], o_wx[4];
        size_t o_rel[4];
        for (int k = 0; k < ntap; k++) {
            o_ix[k] = carve_take(&cv, (size_t)OW, sizeof(int32_t));
            o_wx[k] = carve_take(&cv, (size_t)OW, sizeof(float));
            o_rel[k] = carve_take(&cv, (size_t)OW, sizeof(int32_t));
        }
        size_t o_bb = carve_take(&cv, (size_t)(OW / 8 + 1), sizeof(int32_t));
        size_t o_bw = carve_take(&cv, (size_t)(OW / 8 + 1), 1);
        size_t o_need = carve_take(&cv, (size_t)IH, 1);
        if (cv.overflow || p.in[rank - 1] > INT32_MAX)
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
        if (!(base = scratch_grow(ctx, cv.off, tables_end, &st)))
            return st;
        /* the tables may have moved with the buffer */
        for (int d = 0; d < rank; d++) {
            ax[d].idx = (int64_t *)(base + o_idx[d]);
            ax[d].w = (double *)(base + o_w[d]);
            ax[d].outside = (unsigned char *)(base + o_out[d]);
        }
        rs_plane_tabs tb;
        memset(&tb, 0, sizeof(tb));
        float *wyf = (float *)(base + o_wy);
        for (int64_t i = 0; i < OH * ntap; i++)
            wyf[i] = (float)ax[rank - 2].w[i];
        tb.wy = wyf;
        for (int k = 0; k < ntap; k++) {
            int32_t *ixk = (int32_t *)(base + o_ix[k]);
            float *wxk = (float *)(base + o_wx[k]);
            for (int64_t x = 0; x < OW; x++) {
                ixk[x] = (int32_t)ax[rank - 1].idx[x * ntap + k];
                wxk[x] = (float)ax[rank - 1].w[x * ntap + k];
            }
            tb.ix[k] = ixk;
            tb.wx[k] = wxk;
        }
        tb.need = (unsigned char *)(base + o_need);
        int32_t *bb = (int32_t *)(base + o_bb);
        const int64_t IW = p.in[rank - 1];
        for (int k = 0; k < ntap; k++)
            tb.rel[k] = (int32_t *)(base + o_rel[k]);
        unsigned char *bw = (unsigned char *)(base + o_bw);
        for (int64_t b = 0; b < OW / 8; b++) {
            int64_t x0 = b * 8, b0 = tb.ix[0][x0], span = 0;
            bool ok = true;
            for (int k = 0; k < ntap && ok; k++)
                for (int64_t x = x0; x < x0 + 8; x++) {
                    int64_t r = tb.ix[k][x] - b0 - k;
                    ok &= r >= 0 && r < 16;
                    span = r > span ? r : span;
                    ((int32_t *)tb.rel[k])[x] = ok ? (int32_t)r : 0;
                }
            bw[b] = span >= 8;
            ok &= b0 + ntap - 1 + (span >= 8 ? 16 : 8) <= IW; /* loads stay inside the row */
            bb[b] = ok ? (int32_t)b0 : -1;
        }
        tb.bbase = bb;
        tb.bwide = bw;
        rs_plane_f32(&p, &ax[rank - 2], &ax[rank - 1], X->data, Y->data, planes,
                     (float *)(base + o_tmp), tmp_per, &tb, threads);
        return NULL;
    }

    /* generic: double ping-pong buffers big enough for every pass */
    int64_t dims[SKIFF_MAX_DIMS], maxn = n_in > n_out ? n_in : n_out;
    for (int d = 0; d < rank; d++)
        dims[d] = p.in[d];
    for (int d = rank - 1; d >= 0; d--) {
        dims[d] = p.out[d];
        int64_t n = skiff_shape_numel(rank, dims);
        if (n < 0)
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "intermediate size overflows");
        maxn = n > maxn ? n : maxn;
    }
    size_t o_a = carve_take(&cv, (size_t)maxn, sizeof(double));
    size_t o_b = carve_take(&cv, (size_t)maxn, sizeof(double));
    if (cv.overflow)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
    if (!(base = scratch_grow(ctx, cv.off, tables_end, &st)))
        return st;
    for (int d = 0; d < rank; d++) {
        ax[d].idx = (int64_t *)(base + o_idx[d]);
        ax[d].w = (double *)(base + o_w[d]);
        ax[d].outside = (unsigned char *)(base + o_out[d]);
    }
    double *a = (double *)(base + o_a), *b = (double *)(base + o_b);
    for (int64_t i = 0; i < n_in; i++)
        a[i] = skiff__tensor_get_f64(X, i);
    double *r = rs_generic(&p, ax, a, b);
    for (int64_t i = 0; i < n_out; i++)
        store_f64(Y->data, Y->dtype, i, r[i]);
    return NULL;
}

static skiff_status_t *run_resize(skiff__kctx *ctx) { return resize_run_common(ctx, false); }

static skiff_status_t *run_upsample(skiff__kctx *ctx) { return resize_run_common(ctx, true); }

/* ==== Einsum ================================================================== */

#define EIN_LETTERS 52
#define EIN_MAX_LABELS (EIN_LETTERS + SKIFF_MAX_DIMS)
#define EIN_MAX_OPS 16

typedef struct ein_op {
    int n;                   /* rank */
    int lab[SKIFF_MAX_DIMS]; /* label of each axis */
} ein_op;

static int ein_letter(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return 26 + (c - 'a');
    return -1;
}

/* Parses one term into labels; ellipsis axes take labels EIN_LETTERS+... right
 * aligned to E (the largest ellipsis rank). rank < 0 for the output term. */
typedef struct ein_term {
    int nlet; /* letters before + after the ellipsis */
    int lab[SKIFF_MAX_DIMS + 1];
    int ell_pos; /* index in lab[] where "..." stands, -1 when absent */
} ein_term;

static bool ein_parse_term(const char *s, size_t len, ein_term *t)
{
    t->nlet = 0;
    t->ell_pos = -1;
    for (size_t i = 0; i < len;) {
        if (s[i] == '.') {
            if (i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.' || t->ell_pos >= 0)
                return false;
            t->ell_pos = t->nlet;
            i += 3;
            continue;
        }
        int l = ein_letter(s[i]);
        if (l < 0 || t->nlet >= SKIFF_MAX_DIMS)
            return false;
        t->lab[t->nlet++] = l;
        i++;
    }
    return true;
}

/* Expands a term to per-axis labels given its ellipsis rank k and E. */
static void ein_expand(const ein_term *t, int k, int E, ein_op *op)
{
    op->n = 0;
    for (int i = 0; i <= t->nlet; i++) {
        if (i == t->ell_pos)
            for (int e = 0; e < k; e++)
                op->lab[op->n++] = EIN_LETTERS + (E - k) + e;
        if (i < t->nlet)
            op->lab[op->n++] = t->lab[i];
    }
}

typedef struct ein_plan {
    int nops;
    ein_op ops[EIN_MAX_OPS];
    ein_op out;
    int64_t dim[EIN_MAX_LABELS];
    int count[EIN_MAX_LABELS]; /* axes across inputs carrying the label */
} ein_plan;

static skiff_status_t *ein_build(skiff__kctx *ctx, ein_plan *pl)
{
    const char *eq0 = skiff__attr_str(ctx->node, "equation", NULL);
    if (!eq0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'equation' is required");
    char eq[512];
    size_t n = 0;
    for (const char *c = eq0; *c; c++) {
        if (*c == ' ' || *c == '\t')
            continue;
        if (n + 1 >= sizeof(eq))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'equation' is too long");
        eq[n++] = *c;
    }
    eq[n] = 0;
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : n;
    int nops = 0;
    ein_term terms[EIN_MAX_OPS];
    for (size_t i = 0, start = 0; i <= lhs_len; i++) {
        if (i == lhs_len || eq[i] == ',') {
            if (nops >= EIN_MAX_OPS)
                return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "more than %d operands",
                                   EIN_MAX_OPS);
            if (!ein_parse_term(eq + start, i - start, &terms[nops]))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'equation': bad term %d in '%s'", nops, eq0);
            nops++;
            start = i + 1;
        }
    }
    if (nops != ctx->n_in)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'equation': %d terms for %d inputs", nops, ctx->n_in);
    pl->nops = nops;
    int E = 0, ek[EIN_MAX_OPS];
    for (int i = 0; i < nops; i++) {
        const skiff_tensor_t *t = ctx->in[i];
        if (!t)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input %d is missing", i);
        int k = t->ndim - terms[i].nlet;
        if (terms[i].ell_pos < 0 ? k != 0 : k < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input %d: rank %d does not match its term in '%s'", i, t->ndim,
                               eq0);
        ek[i] = k;
        E = k > E ? k : E;
    }
    for (int l = 0; l < EIN_MAX_LABELS; l++) {
        pl->dim[l] = -1;
        pl->count[l] = 0;
    }
    for (int i = 0; i < nops; i++) {
        ein_expand(&terms[i], ek[i], E, &pl->ops[i]);
        const skiff_tensor_t *t = ctx->in[i];
        for (int a = 0; a < t->ndim; a++) {
            int l = pl->ops[i].lab[a];
            int64_t dv = t->dims[a];
            pl->count[l]++;
            if (pl->dim[l] < 0 || pl->dim[l] == 1)
                pl->dim[l] = dv; /* a size-1 axis broadcasts */
            else if (dv != pl->dim[l] && dv != 1)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input %d axis %d: size %lld conflicts with %lld for the same "
                                   "label",
                                   i, a, (long long)dv, (long long)pl->dim[l]);
        }
    }
    if (arrow) {
        ein_term ot;
        const char *os = arrow + 2;
        if (!ein_parse_term(os, strlen(os), &ot))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'equation': bad output term in '%s'", eq0);
        if (ot.nlet + (ot.ell_pos >= 0 ? E : 0) > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank above %d", SKIFF_MAX_DIMS);
        ein_expand(&ot, ot.ell_pos >= 0 ? E : 0, E, &pl->out);
        bool seen[EIN_MAX_LABELS] = {false};
        for (int a = 0; a < pl->out.n; a++) {
            int l = pl->out.lab[a];
            if (pl->count[l] == 0 || seen[l])
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'equation': output label %d is unknown or repeated",
                                   a);
            seen[l] = true;
        }
    } else {
        /* implicit output: ellipsis axes, then labels used once, in order */
        pl->out.n = 0;
        for (int e = 0; e < E; e++)
            pl->out.lab[pl->out.n++] = EIN_LETTERS + e;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (pl->count[l] == 1) {
                if (pl->out.n >= SKIFF_MAX_DIMS)
                    return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank above %d",
                                       SKIFF_MAX_DIMS);
                pl->out.lab[pl->out.n++] = l;
            }
    }
    return NULL;
}

/* Direct evaluation: loops over every label, output labels outermost. */
static void ein_general(const ein_plan *pl, const skiff__kctx *ctx, skiff_tensor_t *Y, void *acc,
                        bool integer)
{
    int labs[EIN_MAX_LABELS], nl = 0;
    bool in_out[EIN_MAX_LABELS] = {false};
    for (int a = 0; a < pl->out.n; a++) {
        labs[nl++] = pl->out.lab[a];
        in_out[pl->out.lab[a]] = true;
    }
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        if (pl->count[l] > 0 && !in_out[l])
            labs[nl++] = l;
    int64_t ldim[EIN_MAX_LABELS], ostr[EIN_MAX_LABELS];
    int64_t istr[EIN_MAX_OPS][EIN_MAX_LABELS];
    int64_t total = 1, n_out = skiff_tensor_numel(Y);
    for (int j = 0; j < nl; j++) {
        ldim[j] = pl->dim[labs[j]];
        total *= ldim[j];
        ostr[j] = 0;
    }
    {
        int64_t s = 1;
        for (int a = pl->out.n - 1; a >= 0; a--) {
            ostr[a] = s;
            s *= pl->dim[pl->out.lab[a]];
        }
    }
    for (int i = 0; i < pl->nops; i++) {
        const skiff_tensor_t *t = ctx->in[i];
        int64_t s = 1, astr[SKIFF_MAX_DIMS];
        for (int a = t->ndim - 1; a >= 0; a--) {
            astr[a] = s;
            s *= t->dims[a];
        }
        for (int j = 0; j < nl; j++) {
            istr[i][j] = 0;
            for (int a = 0; a < t->ndim; a++)
                if (pl->ops[i].lab[a] == labs[j] && !(t->dims[a] == 1 && ldim[j] != 1))
                    istr[i][j] += astr[a];
        }
    }
    double *accd = acc;
    int64_t *acci = acc;
    for (int64_t o = 0; o < n_out; o++) {
        if (integer)
            acci[o] = 0;
        else
            accd[o] = 0.0;
    }
    int64_t cnt[EIN_MAX_LABELS] = {0}, off[EIN_MAX_OPS] = {0}, oo = 0;
    for (int64_t it = 0; it < total; it++) {
        if (integer) {
            int64_t v = 1;
            for (int i = 0; i < pl->nops; i++)
                v *= skiff__tensor_get_i64(ctx->in[i], off[i]);
            acci[oo] += v;
        } else {
            double v = 1.0;
            for (int i = 0; i < pl->nops; i++)
                v *= skiff__tensor_get_f64(ctx->in[i], off[i]);
            accd[oo] += v;
        }
        for (int j = nl - 1; j >= 0; j--) {
            if (++cnt[j] < ldim[j]) {
                oo += ostr[j];
                for (int i = 0; i < pl->nops; i++)
                    off[i] += istr[i][j];
                break;
            }
            oo -= ostr[j] * (ldim[j] - 1);
            for (int i = 0; i < pl->nops; i++)
                off[i] -= istr[i][j] * (ldim[j] - 1);
            cnt[j] = 0;
        }
    }
    for (int64_t o = 0; o < n_out; o++)
        store_f64(Y->data, Y->dtype, o, integer ? (double)acci[o] : accd[o]);
    if (integer && Y->dtype == SKIFF_DTYPE_INT64)
        memcpy(Y->data, acci, (size_t)n_out * sizeof(int64_t)); /* exact beyond 2^53 */
}

/* dst (dims in dst order) = src viewed through strides given in dst order. */
static void permute_f32(float *dst, const float *src, int rank, const int64_t *dims,
                        const int64_t *sstr)
{
    int64_t total = skiff_shape_numel(rank, dims);
    if (rank == 0) {
        if (total == 1)
            dst[0] = src[0];
        return;
    }
    int64_t cnt[SKIFF_MAX_DIMS] = {0}, off = 0;
    const int64_t W = dims[rank - 1], ws = sstr[rank - 1];
    for (int64_t it = 0; it < total; it += W) {
        for (int64_t j = 0; j < W; j++)
            dst[it + j] = src[off + j * ws];
        for (int k = rank - 2; k >= 0; k--) {
            if (++cnt[k] < dims[k]) {
                off += sstr[k];
                break;
            }
            off -= sstr[k] * (dims[k] - 1);
            cnt[k] = 0;
        }
    }
}

/* Two float32 operands without diagonals or broadcasting: batched sgemm.
 * Returns false (having written nothing) when the equation is outside that
 * shape. */

/* Writes g1, g2, g3 one after the other into dst; returns the count. */
static int cat_labels(int *dst, const int *g1, int n1, const int *g2, int n2, const int *g3, int n3)
{
    int r = 0;
    for (int i = 0; i < n1; i++)
        dst[r++] = g1[i];
    for (int i = 0; i < n2; i++)
        dst[r++] = g2[i];
    for (int i = 0; i < n3; i++)
        dst[r++] = g3[i];
    return r;
}

static bool same_labels(const int *lab, int n, const int *ord, int n_ord)
{
    if (n != n_ord)
        return false;
    for (int i = 0; i < n; i++)
        if (lab[i] != ord[i])
            return false;
    return true;
}

static bool ein_try_gemm(skiff__kctx *ctx, const ein_plan *pl, skiff_tensor_t *Y,
                         skiff_status_t **st)
{
    if (pl->nops != 2 || ctx->in[0]->dtype != SKIFF_DTYPE_FLOAT32 ||
        ctx->in[1]->dtype != SKIFF_DTYPE_FLOAT32)
        return false;
    const ein_op *A = &pl->ops[0], *B = &pl->ops[1];
    int posA[EIN_MAX_LABELS], posB[EIN_MAX_LABELS], posO[EIN_MAX_LABELS];
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        posA[l] = posB[l] = posO[l] = -1;
    for (int a = 0; a < A->n; a++) {
        if (posA[A->lab[a]] >= 0 || ctx->in[0]->dims[a] != pl->dim[A->lab[a]])
            return false;
        posA[A->lab[a]] = a;
    }
    for (int a = 0; a < B->n; a++) {
        if (posB[B->lab[a]] >= 0 || ctx->in[1]->dims[a] != pl->dim[B->lab[a]])
            return false;
        posB[B->lab[a]] = a;
    }
    for (int a = 0; a < pl->out.n; a++)
        posO[pl->out.lab[a]] = a;
    /* label groups; batch, M and K in A's order, N in B's */
    int bl[SKIFF_MAX_DIMS], ml[SKIFF_MAX_DIMS], kl[SKIFF_MAX_DIMS], nl[SKIFF_MAX_DIMS];
    int nb = 0, nm = 0, nk = 0, nn = 0;
    int64_t batch = 1, M = 1, N = 1, K = 1;
    for (int a = 0; a < A->n; a++) {
        int l = A->lab[a];
        if (posB[l] >= 0 && posO[l] >= 0) {
            bl[nb++] = l;
            batch *= pl->dim[l];
        } else if (posB[l] >= 0) {
            kl[nk++] = l;
            K *= pl->dim[l];
        } else if (posO[l] >= 0) {
            ml[nm++] = l;
            M *= pl->dim[l];
        } else {
            return false; /* summed over A alone */
        }
    }
    for (int a = 0; a < B->n; a++) {
        int l = B->lab[a];
        if (posA[l] >= 0)
            continue;
        if (posO[l] < 0)
            return false; /* summed over B alone */
        nl[nn++] = l;
        N *= pl->dim[l];
    }
    const int64_t n_out = skiff_tensor_numel(Y);
    if (n_out == 0)
        return true;

    int64_t astr[SKIFF_MAX_DIMS], bstr[SKIFF_MAX_DIMS];
    {
        int64_t s = 1;
        for (int a = A->n - 1; a >= 0; a--) {
            astr[a] = s;
            s *= ctx->in[0]->dims[a];
        }
        s = 1;
        for (int a = B->n - 1; a >= 0; a--) {
            bstr[a] = s;
            s *= ctx->in[1]->dims[a];
        }
    }
    /* Is A laid out as [batch, M, K] or [batch, K, M]? B as [batch, K, N] or
     * [batch, N, K]? The output as [batch, M, N]? */
    int ordA[SKIFF_MAX_DIMS], ordB[SKIFF_MAX_DIMS], ordO[SKIFF_MAX_DIMS], tmp[SKIFF_MAX_DIMS];
    int na = cat_labels(ordA, bl, nb, ml, nm, kl, nk);
    int nbb = cat_labels(ordB, bl, nb, kl, nk, nl, nn);
    int no = cat_labels(ordO, bl, nb, ml, nm, nl, nn);
    bool a_plain = same_labels(A->lab, A->n, ordA, na);
    bool a_trans = same_labels(A->lab, A->n, tmp, cat_labels(tmp, bl, nb, kl, nk, ml, nm));
    bool b_plain = same_labels(B->lab, B->n, ordB, nbb);
    bool b_trans = same_labels(B->lab, B->n, tmp, cat_labels(tmp, bl, nb, nl, nn, kl, nk));
    bool o_plain = same_labels(pl->out.lab, pl->out.n, ordO, no);

    carve cv = {0, false};
    size_t o_a = a_plain || a_trans ? 0 : carve_take(&cv, (size_t)(batch * M * K), sizeof(float));
    size_t o_b = b_plain || b_trans ? 0 : carve_take(&cv, (size_t)(batch * K * N), sizeof(float));
    size_t o_c = o_plain ? 0 : carve_take(&cv, (size_t)n_out, sizeof(float));
    if (cv.overflow) {
        *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
        return true;
    }
    char *base = cv.off ? scratch_get(ctx, cv.off, st) : NULL;
    if (cv.off && !base)
        return true;
    const float *pa = ctx->in[0]->data, *pb = ctx->in[1]->data;
    bool ta = !a_plain, tb = !b_plain;
    if (!a_plain && !a_trans) {
        int64_t d[SKIFF_MAX_DIMS], s[SKIFF_MAX_DIMS];
        for (int i = 0; i < A->n; i++) {
            d[i] = pl->dim[ordA[i]];
            s[i] = astr[posA[ordA[i]]];
        }
        permute_f32((float *)(base + o_a), pa, A->n, d, s);
        pa = (const float *)(base + o_a);
        ta = false;
    }
    if (!b_plain && !b_trans) {
        int64_t d[SKIFF_MAX_DIMS], s[SKIFF_MAX_DIMS];
        for (int i = 0; i < B->n; i++) {
            d[i] = pl->dim[ordB[i]];
            s[i] = bstr[posB[ordB[i]]];
        }
        permute_f32((float *)(base + o_b), pb, B->n, d, s);
        pb = (const float *)(base + o_b);
        tb = false;
    }
    float *pc = o_plain ? (float *)Y->data : (float *)(base + o_c);
    if (K == 0) {
        memset(pc, 0, (size_t)batch * M * N * sizeof(float));
    } else {
        for (int64_t bi = 0; bi < batch; bi++) {
            const float *a = pa + bi * M * K, *b = pb + bi * K * N;
            float *c = pc + bi * M * N;
            if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, a, ta ? M : K, b,
                           tb ? K : N, 0.0f, c, N) != dnnl_success) {
                *st = skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "oneDNN sgemm failed");
                return true;
            }
        }
    }
    if (!o_plain) {
        /* C is [batch, M, N] in ordO; scatter into the output's order */
        int64_t cstr_l[EIN_MAX_LABELS] = {0}, s = 1;
        for (int i = pl->out.n - 1; i >= 0; i--) {
            cstr_l[ordO[i]] = s;
            s *= pl->dim[ordO[i]];
        }
        int64_t d[SKIFF_MAX_DIMS], st2[SKIFF_MAX_DIMS];
        for (int i = 0; i < pl->out.n; i++) {
            d[i] = pl->dim[pl->out.lab[i]];
            st2[i] = cstr_l[pl->out.lab[i]];
        }
        permute_f32(Y->data, pc, pl->out.n, d, st2);
    }
    return true;
}

static skiff_status_t *run_einsum(skiff__kctx *ctx)
{
    if (ctx->n_in < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "expected at least one input");
    ein_plan pl;
    skiff_status_t *st = ein_build(ctx, &pl);
    if (st)
        return st;
    skiff_dtype_t dt = ctx->in[0]->dtype;
    for (int i = 0; i < pl.nops; i++) {
        if (!skiff__dtype_is_numeric(ctx->in[i]->dtype))
            return skiff__kctx_bad_dtype(ctx, "Inputs", ctx->in[i]->dtype);
        if (ctx->in[i]->dtype != dt)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input %d: dtype %s differs from input 0's %s", i,
                               skiff_dtype_name(ctx->in[i]->dtype), skiff_dtype_name(dt));
    }
    int64_t odims[SKIFF_MAX_DIMS];
    for (int a = 0; a < pl.out.n; a++)
        odims[a] = pl.dim[pl.out.lab[a]];
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, pl.out.n, odims, &st);
    if (!Y)
        return st;
    st = NULL;
    if (ein_try_gemm(ctx, &pl, Y, &st))
        return st;
    int64_t n_out = skiff_tensor_numel(Y);
    void *acc = scratch_get(ctx, (size_t)(n_out > 0 ? n_out : 1) * 8, &st);
    if (!acc)
        return st;
    ein_general(&pl, ctx, Y, acc, !skiff__dtype_is_float(dt));
    return NULL;
}

/* ==== Mish, Shrink =========================================================== */

static skiff_status_t *run_mish(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    int64_t n = skiff_tensor_numel(X);
    if (X->dtype == SKIFF_DTYPE_FLOAT32) {
        const float *x = X->data;
        float *y = Y->data;
        int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && n > 32768)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float sp = v > 20.0f ? v : log1pf(expf(v));
            y[i] = v * tanhf(sp);
        }
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = skiff__tensor_get_f64(X, i);
        double sp = v > 40.0 ? v : log1p(exp(v));
        store_f64(Y->data, Y->dtype, i, v * tanh(sp));
    }
    return NULL;
}

static skiff_status_t *run_shrink(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input' is required");
    if (!skiff__dtype_is_numeric(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", X->dtype);
    const float bias = skiff__attr_float(ctx->node, "bias", 0.0f);
    const float lambd = skiff__attr_float(ctx->node, "lambd", 0.5f);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    int64_t n = skiff_tensor_numel(X);
    if (X->dtype == SKIFF_DTYPE_FLOAT32) {
        const float *x = X->data;
        float *y = Y->data;
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = v < -lambd ? v + bias : v > lambd ? v - bias : 0.0f;
        }
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = skiff__tensor_get_f64(X, i);
        double r = v < -(double)lambd ? v + bias : v > (double)lambd ? v - bias : 0.0;
        store_f64(Y->data, Y->dtype, i, r);
    }
    return NULL;
}

/* ==== Det ====================================================================== */

static skiff_status_t *run_det(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    if (X->ndim < 2 || X->dims[X->ndim - 1] != X->dims[X->ndim - 2])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected [*, M, M], got rank %d", X->ndim);
    const int64_t M = X->dims[X->ndim - 1];
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim - 2, X->dims, &st);
    if (!Y)
        return st;
    int64_t nb = skiff_tensor_numel(Y);
    double *a = scratch_get(ctx, (size_t)(M * M > 0 ? M * M : 1) * sizeof(double), &st);
    if (!a)
        return st;
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t i = 0; i < M * M; i++)
            a[i] = skiff__tensor_get_f64(X, b * M * M + i);
        /* LU with partial pivoting */
        double det = 1.0;
        for (int64_t c = 0; c < M && det != 0.0; c++) {
            int64_t piv = c;
            for (int64_t r = c + 1; r < M; r++)
                if (fabs(a[r * M + c]) > fabs(a[piv * M + c]))
                    piv = r;
            if (a[piv * M + c] == 0.0) {
                det = 0.0;
                break;
            }
            if (piv != c) {
                for (int64_t k = 0; k < M; k++) {
                    double t = a[c * M + k];
                    a[c * M + k] = a[piv * M + k];
                    a[piv * M + k] = t;
                }
                det = -det;
            }
            double pv = a[c * M + c];
            det *= pv;
            for (int64_t r = c + 1; r < M; r++) {
                double f = a[r * M + c] / pv;
                if (f == 0.0)
                    continue;
                for (int64_t k = c + 1; k < M; k++)
                    a[r * M + k] -= f * a[c * M + k];
            }
        }
        store_f64(Y->data, Y->dtype, b, det);
    }
    return NULL;
}

/* ==== MeanVarianceNormalization, LpNormalization =============================== */

static skiff_status_t *run_mvn(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    const int rank = X->ndim;
    bool red[SKIFF_MAX_DIMS] = {false};
    const int64_t *av = NULL;
    int na = skiff__attr_ints(ctx->node, "axes", &av);
    if (na < 0) {
        static const int64_t dflt[3] = {0, 2, 3};
        av = dflt;
        na = 3;
    }
    for (int i = 0; i < na; i++) {
        int a;
        if (!skiff__norm_axis(av[i], rank, &a))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'axes': axis %lld out of range for rank %d",
                               (long long)av[i], rank);
        red[a] = true;
    }
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, rank, X->dims, &st);
    if (!Y)
        return st;
    const int64_t n = skiff_tensor_numel(X);
    if (n == 0)
        return NULL;
    /* group of each element = its index over the kept axes */
    int64_t ngroups = 1, gstr[SKIFF_MAX_DIMS];
    for (int d = rank - 1; d >= 0; d--) {
        gstr[d] = red[d] ? 0 : ngroups;
        if (!red[d])
            ngroups *= X->dims[d];
    }
    const double cnt = (double)(n / ngroups);
    double *acc = scratch_get(ctx, (size_t)ngroups * 2 * sizeof(double), &st);
    if (!acc)
        return st;
    double *mean = acc, *sd = acc + ngroups;
    memset(acc, 0, (size_t)ngroups * 2 * sizeof(double));
    int64_t idx[SKIFF_MAX_DIMS] = {0}, g = 0;
    for (int pass = 0; pass < 3; pass++) {
        memset(idx, 0, sizeof(idx));
        g = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = skiff__tensor_get_f64(X, i);
            if (pass == 0) {
                mean[g] += v;
            } else if (pass == 1) {
                double dlt = v - mean[g];
                sd[g] += dlt * dlt;
            } else {
                /* the ONNX function: (X - mean) / (sqrt(var) + 1e-9) */
                store_f64(Y->data, Y->dtype, i, (v - mean[g]) / (sd[g] + 1e-9));
            }
            for (int d = rank - 1; d >= 0; d--) {
                if (++idx[d] < X->dims[d]) {
                    g += gstr[d];
                    break;
                }
                g -= gstr[d] * (X->dims[d] - 1);
                idx[d] = 0;
            }
        }
        if (pass == 0)
            for (int64_t k = 0; k < ngroups; k++)
                mean[k] /= cnt;
        else if (pass == 1)
            for (int64_t k = 0; k < ngroups; k++)
                sd[k] = sqrt(sd[k] / cnt);
    }
    return NULL;
}

static skiff_status_t *run_lpnorm(skiff__kctx *ctx)
{
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0);
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input' is required");
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", X->dtype);
    int64_t pv = skiff__attr_int(ctx->node, "p", 2);
    if (pv != 1 && pv != 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'p': expected 1 or 2, got %lld",
                           (long long)pv);
    int axis;
    int rank = X->ndim;
    if (rank == 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input': expected rank >= 1");
    int64_t ax = skiff__attr_int(ctx->node, "axis", -1);
    if (!skiff__norm_axis(ax, rank, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'axis': %lld out of range for rank %d", (long long)ax, rank);
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, rank, X->dims, &st);
    if (!Y)
        return st;
    int64_t outer = 1, inner = 1, len = X->dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= X->dims[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= X->dims[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t b = o * len * inner + i;
            double s = 0.0;
            for (int64_t k = 0; k < len; k++) {
                double v = skiff__tensor_get_f64(X, b + k * inner);
                s += pv == 1 ? fabs(v) : v * v;
            }
            double norm = pv == 1 ? s : sqrt(s);
            for (int64_t k = 0; k < len; k++) {
                double v = skiff__tensor_get_f64(X, b + k * inner);
                store_f64(Y->data, Y->dtype, b + k * inner, norm != 0.0 ? v / norm : 0.0);
            }
        }
    return NULL;
}

const skiff__op skiff__ops_misc[] = {
    {.type = "Resize", .min_opset = 10, .run = run_resize, .cache_free = scratch_free},
    {.type = "Upsample", .min_opset = 7, .run = run_upsample, .cache_free = scratch_free},
    {.type = "Einsum", .min_opset = 12, .run = run_einsum, .cache_free = scratch_free},
    {.type = "Mish", .min_opset = 18, .run = run_mish},
    {.type = "Shrink", .min_opset = 9, .run = run_shrink},
    {.type = "Det", .min_opset = 11, .run = run_det, .cache_free = scratch_free},
    {.type = "MeanVarianceNormalization",
     .min_opset = 9,
     .run = run_mvn,
     .cache_free = scratch_free},
    {.type = "LpNormalization", .min_opset = 1, .run = run_lpnorm},
    {.type = NULL},
};
