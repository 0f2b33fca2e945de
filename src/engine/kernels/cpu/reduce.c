/* reduce.c - reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/
 * SumSquare), ArgMax/ArgMin and CumSum.
 *
 * Every kernel works on a three-dimensional view [O, R, I] of its input:
 * O outer rows, the R elements being reduced (or scanned), and I inner lanes
 * that lie contiguously beside each other. With I == 1 a row is contiguous
 * and reduces with SIMD reductions; with I > 1 blocks of lanes are reduced
 * together so the inner loop is still unit-stride. Size-1 dims are dropped
 * and adjacent axes of the same kind merged first, so most reductions (last
 * axis, spatial axes of NCHW, all axes) are a single [O, R, I]. Reductions
 * over axes that are not adjacent first transpose the input so the kept axes
 * come first and the reduced axes last: [O, R, 1].
 *
 * Integer sums, products and squares accumulate in a 64-bit unsigned type:
 * wrap-around is defined there and gives the same low bits as a signed
 * accumulator would. float16/bfloat16 are widened to float32.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* No kernel reads errno or FP exception flags; these let GCC vectorise
 * sqrt and the float selects in max/min loops, and use FMA. */
#pragma GCC optimize("no-math-errno", "no-trapping-math", "fp-contract=fast")
#endif
#if defined(__clang__)
/* clang reports "omp simd" loops it leaves scalar (float min/max
 * reductions without fast-math) as warnings; they are still correct. */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

#include <math.h>
#include <string.h>

#include "../../engine_int.h"

#define NDT 17
#define PAR_MIN 32768
#define LANES 128

#define F32 SKIFF_DTYPE_FLOAT32
#define F64 SKIFF_DTYPE_FLOAT64

typedef enum {
    K_SUM,
    K_MEAN,
    K_MAX,
    K_MIN,
    K_PROD,
    K_L1,
    K_L2,
    K_LOGSUM,
    K_LSE,
    K_SUMSQ,
} rkind;

/* ---- widening of float16 / bfloat16 ---------------------------------------- */

static float *widen(const skiff_tensor_t *t, int64_t n)
{
    float *w = skiff__malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!w)
        return NULL;
    const uint16_t *s = t->data;
    if (t->dtype == SKIFF_DTYPE_FLOAT16)
        for (int64_t i = 0; i < n; i++)
            w[i] = skiff__f16_to_f32(s[i]);
    else
        for (int64_t i = 0; i < n; i++)
            w[i] = skiff__bf16_to_f32(s[i]);
    return w;
}

static void narrow(const float *w, skiff_dtype_t dt, void *dst, int64_t n)
{
    uint16_t *d = dst;
    if (dt == SKIFF_DTYPE_FLOAT16)
        for (int64_t i = 0; i < n; i++)
            d[i] = skiff__f32_to_f16(w[i]);
    else
        for (int64_t i = 0; i < n; i++)
            d[i] = skiff__f32_to_bf16(w[i]);
}

/* ---- reduction kernels ----------------------------------------------------- */

/* Partial result of reducing a run of elements: s the accumulated sum /
 * product, e the sum of exp(x - m) (LogSumExp), m the max / min. */
#define RSTATE(sfx, T, A)                                                                          \
    typedef struct {                                                                               \
        A s;                                                                                       \
        double e;                                                                                  \
        T m;                                                                                       \
    } rst_##sfx;

/* Per type: T element, A accumulator, ABS, TOD (accumulator to double),
 * LO/HI the identities of max/min, DIVR(s, r) the mean of r elements. */
#define D_REDUCE(sfx, T, A, ABS, TOD, LO, HI, DIVR)                                                \
    RSTATE(sfx, T, A)                                                                              \
    static rst_##sfx rrow_##sfx(const T *x, int64_t n, rkind kind)                                 \
    {                                                                                              \
        rst_##sfx st = {0, 0, LO};                                                                 \
        A s = kind == K_PROD ? (A)1 : (A)0;                                                        \
        switch (kind) {                                                                            \
        case K_SUM:                                                                                \
        case K_MEAN:                                                                               \
        case K_LOGSUM: {                                                                           \
            _Pragma("omp simd reduction(+ : s)") for (int64_t i = 0; i < n; i++) s += (A)x[i];     \
            break;                                                                                 \
        }                                                                                          \
        case K_SUMSQ:                                                                              \
        case K_L2: {                                                                               \
            _Pragma("omp simd reduction(+ : s)") for (int64_t i = 0; i < n; i++) s +=              \
                (A)x[i] * (A)x[i];                                                                 \
            break;                                                                                 \
        }                                                                                          \
        case K_L1: {                                                                               \
            _Pragma("omp simd reduction(+ : s)") for (int64_t i = 0; i < n; i++) s +=              \
                (A)ABS(x[i]);                                                                      \
            break;                                                                                 \
        }                                                                                          \
        case K_PROD: {                                                                             \
            _Pragma("omp simd reduction(* : s)") for (int64_t i = 0; i < n; i++) s *= (A)x[i];     \
            break;                                                                                 \
        }                                                                                          \
        case K_MIN: {                                                                              \
            T m = HI;                                                                              \
            _Pragma("omp simd reduction(min : m)") for (int64_t i = 0; i < n; i++) m =             \
                x[i] < m ? x[i] : m;                                                               \
            st.m = m;                                                                              \
            break;                                                                                 \
        }                                                                                          \
        case K_MAX:                                                                                \
        case K_LSE: {                                                                              \
            T m = LO;                                                                              \
            _Pragma("omp simd reduction(max : m)") for (int64_t i = 0; i < n; i++) m =             \
                x[i] > m ? x[i] : m;                                                               \
            st.m = m;                                                                              \
            if (kind == K_LSE && n > 0) {                                                          \
                double e = 0;                                                                      \
                const double dm = (double)m;                                                       \
                if (isfinite(dm))                                                                  \
                    for (int64_t i = 0; i < n; i++)                                                \
                        e += exp((double)x[i] - dm);                                               \
                st.e = e;                                                                          \
            }                                                                                      \
            break;                                                                                 \
        }                                                                                          \
        }                                                                                          \
        st.s = s;                                                                                  \
        return st;                                                                                 \
    }                                                                                              \
    /* Folds b into a (chunks of one row reduced on different threads). */                         \
    static void rmerge_##sfx(rst_##sfx *a, const rst_##sfx *b, rkind kind)                         \
    {                                                                                              \
        if (kind == K_PROD)                                                                        \
            a->s *= b->s;                                                                          \
        else                                                                                       \
            a->s += b->s;                                                                          \
        if (kind == K_MIN) {                                                                       \
            a->m = b->m < a->m ? b->m : a->m;                                                      \
        } else if (kind == K_LSE) {                                                                \
            T m = b->m > a->m ? b->m : a->m;                                                       \
            double dm = (double)m;                                                                 \
            if (isfinite(dm))                                                                      \
                a->e = a->e * exp((double)a->m - dm) + b->e * exp((double)b->m - dm);              \
            a->m = m;                                                                              \
        } else {                                                                                   \
            a->m = b->m > a->m ? b->m : a->m;                                                      \
        }                                                                                          \
    }                                                                                              \
    static T rfinal_##sfx(const rst_##sfx *st, int64_t r, rkind kind)                              \
    {                                                                                              \
        switch (kind) {                                                                            \
        case K_SUM:                                                                                \
        case K_SUMSQ:                                                                              \
        case K_L1:                                                                                 \
        case K_PROD: return (T)st->s;                                                              \
        case K_MEAN: return DIVR(st->s, r);                                                        \
        case K_L2: return (T)sqrt(TOD(st->s));                                                     \
        case K_LOGSUM: return (T)log(TOD(st->s));                                                  \
        case K_MAX:                                                                                \
        case K_MIN: return st->m;                                                                  \
        case K_LSE: {                                                                              \
            double dm = (double)st->m;                                                             \
            return isfinite(dm) ? (T)(dm + log(st->e)) : st->m;                                    \
        }                                                                                          \
        }                                                                                          \
        return 0;                                                                                  \
    }                                                                                              \
    /* Reduces w lanes (x[r * I + j], j < w) into y[0..w). */                                      \
    static void rlanes_##sfx(const T *x, T *y, int64_t R, int64_t I, int64_t w, rkind kind)        \
    {                                                                                              \
        A acc[LANES];                                                                              \
        T m[LANES];                                                                                \
        double e[LANES];                                                                           \
        const T ident = kind == K_MIN ? HI : LO;                                                   \
        for (int64_t j = 0; j < w; j++) {                                                          \
            acc[j] = kind == K_PROD ? (A)1 : (A)0;                                                 \
            m[j] = ident;                                                                          \
            e[j] = 0;                                                                              \
        }                                                                                          \
        for (int64_t r = 0; r < R; r++) {                                                          \
            const T *xr = x + r * I;                                                               \
            switch (kind) {                                                                        \
            case K_SUM:                                                                            \
            case K_MEAN:                                                                           \
            case K_LOGSUM:                                                                         \
                for (int64_t j = 0; j < w; j++)                                                    \
                    acc[j] += (A)xr[j];                                                            \
                break;                                                                             \
            case K_SUMSQ:                                                                          \
            case K_L2:                                                                             \
                for (int64_t j = 0; j < w; j++)                                                    \
                    acc[j] += (A)xr[j] * (A)xr[j];                                                 \
                break;                                                                             \
            case K_L1:                                                                             \
                for (int64_t j = 0; j < w; j++)                                                    \
                    acc[j] += (A)ABS(xr[j]);                                                       \
                break;                                                                             \
            case K_PROD:                                                                           \
                for (int64_t j = 0; j < w; j++)                                                    \
                    acc[j] *= (A)xr[j];                                                            \
                break;                                                                             \
            case K_MIN:                                                                            \
                for (int64_t j = 0; j < w; j++)                                                    \
                    m[j] = xr[j] < m[j] ? xr[j] : m[j];                                            \
                break;                                                                             \
            case K_MAX:                                                                            \
            case K_LSE:                                                                            \
                for (int64_t j = 0; j < w; j++)                                                    \
                    m[j] = xr[j] > m[j] ? xr[j] : m[j];                                            \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
        if (kind == K_LSE)                                                                         \
            for (int64_t r = 0; r < R; r++) {                                                      \
                const T *xr = x + r * I;                                                           \
                for (int64_t j = 0; j < w; j++)                                                    \
                    if (isfinite((double)m[j]))                                                    \
                        e[j] += exp((double)xr[j] - (double)m[j]);                                 \
            }                                                                                      \
        for (int64_t j = 0; j < w; j++) {                                                          \
            rst_##sfx st = {acc[j], e[j], m[j]};                                                   \
            y[j] = rfinal_##sfx(&st, R, kind);                                                     \
        }                                                                                          \
    }                                                                                              \
    static void reduce_##sfx(int threads, const T *x, T *y, int64_t O, int64_t R, int64_t I,       \
                             rkind kind)                                                           \
    {                                                                                              \
        const int64_t total = O * R * I;                                                           \
        if (I == 1 && O < threads && total >= PAR_MIN) {                                           \
            /* Few long rows: split each row over the threads. */                                  \
            for (int64_t o = 0; o < O; o++) {                                                      \
                rst_##sfx part[64];                                                                \
                int nc = threads < 64 ? threads : 64;                                              \
                _Pragma("omp parallel for num_threads(nc) schedule(static)") for (int c = 0;       \
                                                                                  c < nc; c++)     \
                {                                                                                  \
                    int64_t lo = R * c / nc, hi = R * (c + 1) / nc;                                \
                    part[c] = rrow_##sfx(x + o * R + lo, hi - lo, kind);                           \
                }                                                                                  \
                for (int c = 1; c < nc; c++)                                                       \
                    rmerge_##sfx(&part[0], &part[c], kind);                                        \
                y[o] = rfinal_##sfx(&part[0], R, kind);                                            \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        const int64_t nb = I == 1 ? 1 : (I + LANES - 1) / LANES;                                   \
        const int64_t items = O * nb;                                                              \
        const bool par = total >= PAR_MIN && items > 1 && threads > 1;                             \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) schedule(static) if (par)") for (int64_t it =   \
                                                                                        0;         \
                                                                                    it < items;    \
                                                                                    it++)          \
        {                                                                                          \
            const int64_t o = it / nb, j0 = it % nb * LANES;                                       \
            if (I == 1) {                                                                          \
                rst_##sfx st = rrow_##sfx(x + o * R, R, kind);                                     \
                y[o] = rfinal_##sfx(&st, R, kind);                                                 \
            } else {                                                                               \
                rlanes_##sfx(x + o * R * I + j0, y + o * I + j0, R, I,                             \
                             I - j0 < LANES ? I - j0 : LANES, kind);                               \
            }                                                                                      \
        }                                                                                          \
    }

#define IABS_(v) ((v) < 0 ? 0u - (uint64_t)(v) : (uint64_t)(v))
#define UABS_(v) (v)
#define TOD_F(s) ((double)(s))
#define TOD_S(s) ((double)(int64_t)(s))
#define DIVR_F(s, r) ((s) / (r))
#define DIVR_S(s, r) ((r) ? (int64_t)(s) / (r) : 0)
#define DIVR_U(s, r) ((r) ? (s) / (uint64_t)(r) : 0)

D_REDUCE(f32, float, float, fabsf, TOD_F, -INFINITY, INFINITY, DIVR_F)
D_REDUCE(f64, double, double, fabs, TOD_F, -INFINITY, INFINITY, DIVR_F)
D_REDUCE(i8, int8_t, uint64_t, IABS_, TOD_S, INT8_MIN, INT8_MAX, DIVR_S)
D_REDUCE(i32, int32_t, uint64_t, IABS_, TOD_S, INT32_MIN, INT32_MAX, DIVR_S)
D_REDUCE(i64, int64_t, uint64_t, IABS_, TOD_S, INT64_MIN, INT64_MAX, DIVR_S)
D_REDUCE(u8, uint8_t, uint64_t, UABS_, TOD_F, 0, UINT8_MAX, DIVR_U)
D_REDUCE(u32, uint32_t, uint64_t, UABS_, TOD_F, 0, UINT32_MAX, DIVR_U)
D_REDUCE(u64, uint64_t, uint64_t, UABS_, TOD_F, 0, UINT64_MAX, DIVR_U)

typedef void (*reduce_fn)(int threads, const void *x, void *y, int64_t O, int64_t R, int64_t I,
                          rkind kind);

#define WRAP_REDUCE(sfx, T)                                                                        \
    static void reducev_##sfx(int threads, const void *x, void *y, int64_t O, int64_t R,           \
                              int64_t I, rkind kind)                                               \
    {                                                                                              \
        reduce_##sfx(threads, (const T *)x, (T *)y, O, R, I, kind);                                \
    }
WRAP_REDUCE(f32, float)
WRAP_REDUCE(f64, double)
WRAP_REDUCE(i8, int8_t)
WRAP_REDUCE(i32, int32_t)
WRAP_REDUCE(i64, int64_t)
WRAP_REDUCE(u8, uint8_t)
WRAP_REDUCE(u32, uint32_t)
WRAP_REDUCE(u64, uint64_t)

static const reduce_fn reduce_tab[NDT] = {
    [SKIFF_DTYPE_FLOAT32] = reducev_f32, [SKIFF_DTYPE_FLOAT64] = reducev_f64,
    [SKIFF_DTYPE_INT8] = reducev_i8,     [SKIFF_DTYPE_INT32] = reducev_i32,
    [SKIFF_DTYPE_INT64] = reducev_i64,   [SKIFF_DTYPE_UINT8] = reducev_u8,
    [SKIFF_DTYPE_UINT32] = reducev_u32,  [SKIFF_DTYPE_UINT64] = reducev_u64,
};

/* ---- layout: [O, R, I] or a transpose to [kept..., reduced...] ------------- */

/* Copies src (nd dims) into dst with axes permuted: dst axis k is src axis
 * perm[k]. */
static void permute_copy(int threads, const void *src, void *dst, size_t esz, int nd,
                         const int64_t *dims, const int *perm)
{
    int64_t sstr[SKIFF_MAX_DIMS] = {0}, ddims[SKIFF_MAX_DIMS], dstr[SKIFF_MAX_DIMS];
    int64_t acc = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sstr[i] = acc;
        acc *= dims[i];
    }
    for (int k = 0; k < nd; k++) {
        ddims[k] = dims[perm[k]];
        dstr[k] = sstr[perm[k]];
    }
    const int64_t total = acc;
    if (total <= 0)
        return;
    /* Rows of the last destination axis, split across threads. */
    const int64_t inner = ddims[nd - 1], rows = total / inner, is = dstr[nd - 1];
#pragma omp parallel for num_threads(threads) schedule(static) if (total >= PAR_MIN && threads > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t r = row, off = 0;
        for (int k = nd - 2; k >= 0; k--) {
            off += (r % ddims[k]) * dstr[k];
            r /= ddims[k];
        }
        char *d = (char *)dst + (size_t)(row * inner) * esz;
        const char *s = (const char *)src;
        switch (esz) {
        case 1:
            for (int64_t i = 0; i < inner; i++)
                ((uint8_t *)d)[i] = ((const uint8_t *)s)[off + i * is];
            break;
        case 2:
            for (int64_t i = 0; i < inner; i++)
                ((uint16_t *)d)[i] = ((const uint16_t *)s)[off + i * is];
            break;
        case 4:
            for (int64_t i = 0; i < inner; i++)
                ((uint32_t *)d)[i] = ((const uint32_t *)s)[off + i * is];
            break;
        default:
            for (int64_t i = 0; i < inner; i++)
                ((uint64_t *)d)[i] = ((const uint64_t *)s)[off + i * is];
            break;
        }
    }
}

/* The reduction view of x for the axes marked in red[]. When the reduced
 * axes are one adjacent block, O, R and I describe x itself and nperm is 0;
 * otherwise perm[0..nperm) over the merged dims md[] puts kept axes first
 * and the result is [O, R, 1] of the permuted copy. */
typedef struct rview {
    int64_t O, R, I;
    int nperm;
    int perm[SKIFF_MAX_DIMS];
    int64_t md[SKIFF_MAX_DIMS];
} rview;

static void make_view(const skiff_tensor_t *x, const bool *red, rview *v)
{
    int64_t md[SKIFF_MAX_DIMS];
    bool mr[SKIFF_MAX_DIMS];
    int m = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (x->dims[i] == 1)
            continue;
        if (m > 0 && mr[m - 1] == red[i]) {
            md[m - 1] *= x->dims[i];
        } else {
            md[m] = x->dims[i];
            mr[m] = red[i];
            m++;
        }
    }
    v->O = 1;
    v->R = 1;
    v->I = 1;
    v->nperm = 0;
    int nred = 0;
    for (int i = 0; i < m; i++)
        nred += mr[i];
    if (nred <= 1) {
        bool seen = false;
        for (int i = 0; i < m; i++) {
            if (mr[i]) {
                v->R = md[i];
                seen = true;
            } else if (seen) {
                v->I *= md[i];
            } else {
                v->O *= md[i];
            }
        }
        return;
    }
    int k = 0;
    for (int i = 0; i < m; i++)
        if (!mr[i]) {
            v->perm[k++] = i;
            v->O *= md[i];
        }
    for (int i = 0; i < m; i++)
        if (mr[i]) {
            v->perm[k++] = i;
            v->R *= md[i];
        }
    v->nperm = m;
    memcpy(v->md, md, sizeof(md));
}

/* ---- Reduce* ---------------------------------------------------------------- */

/* Marks the reduced axes in red[]; *noop when the node asks to pass its
 * input through (empty axes with noop_with_empty_axes). */
static skiff_status_t *read_axes(skiff__kctx *ctx, int rank, bool from_input, bool *red, bool *noop)
{
    const skiff__node *node = ctx->node;
    int64_t buf[SKIFF_MAX_DIMS * 4];
    const int64_t *axes = NULL;
    int64_t n = 0;
    if (from_input) {
        const skiff_tensor_t *t = ctx->n_in > 1 ? ctx->in[1] : NULL;
        if (t) {
            if (t->dtype != SKIFF_DTYPE_INT64 && t->dtype != SKIFF_DTYPE_INT32)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'axes': expected int64, got %s",
                                   skiff_dtype_name(t->dtype));
            n = skiff_tensor_numel(t);
            if (n > (int64_t)(sizeof(buf) / sizeof(buf[0])))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'axes': %lld axes for a rank-%d input", (long long)n,
                                   rank);
            for (int64_t i = 0; i < n; i++)
                buf[i] = skiff__tensor_get_i64(t, i);
            axes = buf;
        }
    } else {
        int c = skiff__attr_ints(node, "axes", &axes);
        n = c < 0 ? 0 : c;
    }
    for (int i = 0; i < rank; i++)
        red[i] = n == 0;
    *noop = n == 0 && skiff__attr_int(node, "noop_with_empty_axes", 0) != 0;
    for (int64_t i = 0; i < n; i++) {
        int ax;
        if (!skiff__norm_axis(axes[i], rank, &ax))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "axis %lld is out of range for rank %d",
                               (long long)axes[i], rank);
        red[ax] = true;
    }
    return NULL;
}

static skiff_status_t *run_reduce(skiff__kctx *ctx, rkind kind)
{
    const skiff_tensor_t *x;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "data", &x);
    if (st)
        return st;
    const skiff__node *node = ctx->node;
    bool from_input = node->opset >= 18 || (kind == K_SUM && node->opset >= 13);
    bool red[SKIFF_MAX_DIMS] = {false};
    bool noop;
    if ((st = read_axes(ctx, x->ndim, from_input, red, &noop)))
        return st;
    if (noop)
        return skiff__kctx_alias(ctx, 0, 0, x->ndim, x->dims);
    skiff_dtype_t dt = x->dtype;
    bool wide = skiff__dtype_is_half(dt);
    skiff_dtype_t cdt = wide ? F32 : dt;
    reduce_fn fn = (unsigned)cdt < NDT ? reduce_tab[cdt] : NULL;
    if (!fn)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'data': dtype %s is not supported",
                           skiff_dtype_name(dt));
    bool keep = skiff__attr_int(node, "keepdims", 1) != 0;
    int ond = 0;
    int64_t od[SKIFF_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        if (!red[i])
            od[ond++] = x->dims[i];
        else if (keep)
            od[ond++] = 1;
    }
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, dt, ond, od, &st);
    if (!y)
        return st;
    int64_t on = skiff_shape_numel(ond, od), n = skiff_tensor_numel(x);
    if (on == 0)
        return NULL;
    rview v;
    make_view(x, red, &v);
    int nt = skiff__kctx_threads(ctx);
    size_t esz = skiff_dtype_size(cdt);
    const void *src = x->data;
    void *wbuf = NULL, *tbuf = NULL, *ybuf = NULL;
    if (wide) {
        if (!(wbuf = widen(x, n)) || !(ybuf = skiff__malloc((size_t)on * sizeof(float))))
            goto oom;
        src = wbuf;
    }
    if (v.nperm) {
        if (!(tbuf = skiff__malloc((size_t)(n ? n : 1) * esz)))
            goto oom;
        permute_copy(nt, src, tbuf, esz, v.nperm, v.md, v.perm);
        src = tbuf;
    }
    fn(nt, src, wide ? ybuf : y->data, v.O, v.R, v.I, kind);
    if (wide)
        narrow(ybuf, dt, y->data, on);
    skiff__free(wbuf);
    skiff__free(tbuf);
    skiff__free(ybuf);
    return NULL;
oom:
    skiff__free(wbuf);
    skiff__free(tbuf);
    skiff__free(ybuf);
    return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

#define RUN_REDUCE(Op, kind)                                                                       \
    static skiff_status_t *run_##Op(skiff__kctx *ctx) { return run_reduce(ctx, kind); }
RUN_REDUCE(ReduceSum, K_SUM)
RUN_REDUCE(ReduceMean, K_MEAN)
RUN_REDUCE(ReduceMax, K_MAX)
RUN_REDUCE(ReduceMin, K_MIN)
RUN_REDUCE(ReduceProd, K_PROD)
RUN_REDUCE(ReduceL1, K_L1)
RUN_REDUCE(ReduceL2, K_L2)
RUN_REDUCE(ReduceLogSum, K_LOGSUM)
RUN_REDUCE(ReduceLogSumExp, K_LSE)
RUN_REDUCE(ReduceSumSquare, K_SUMSQ)

/* ---- ArgMax / ArgMin ----------------------------------------------------------- */

/* Index of the max (or min) along R for each (o, i); ties go to the first
 * index, or the last with select_last_index. */
#define D_ARG(sfx, T)                                                                              \
    static void arg_##sfx(int threads, const void *xv, int64_t *y, int64_t O, int64_t R,           \
                          int64_t I, bool is_min, bool last)                                       \
    {                                                                                              \
        const T *x = xv;                                                                           \
        const int64_t nb = (I + LANES - 1) / LANES;                                                \
        const int64_t items = O * nb;                                                              \
        const bool par = O * R * I >= PAR_MIN && items > 1 && threads > 1;                         \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) schedule(static) if (par)") for (int64_t it =   \
                                                                                        0;         \
                                                                                    it < items;    \
                                                                                    it++)          \
        {                                                                                          \
            const int64_t o = it / nb, j0 = it % nb * LANES;                                       \
            const int64_t w = I - j0 < LANES ? I - j0 : LANES;                                     \
            const T *xo = x + o * R * I + j0;                                                      \
            T best[LANES];                                                                         \
            int64_t bi[LANES];                                                                     \
            for (int64_t j = 0; j < w; j++) {                                                      \
                best[j] = xo[j];                                                                   \
                bi[j] = 0;                                                                         \
            }                                                                                      \
            for (int64_t r = 1; r < R; r++) {                                                      \
                const T *xr = xo + r * I;                                                          \
                if (!is_min && !last) {                                                            \
                    for (int64_t j = 0; j < w; j++)                                                \
                        if (xr[j] > best[j]) {                                                     \
                            best[j] = xr[j];                                                       \
                            bi[j] = r;                                                             \
                        }                                                                          \
                } else if (!is_min) {                                                              \
                    for (int64_t j = 0; j < w; j++)                                                \
                        if (xr[j] >= best[j]) {                                                    \
                            best[j] = xr[j];                                                       \
                            bi[j] = r;                                                             \
                        }                                                                          \
                } else if (!last) {                                                                \
                    for (int64_t j = 0; j < w; j++)                                                \
                        if (xr[j] < best[j]) {                                                     \
                            best[j] = xr[j];                                                       \
                            bi[j] = r;                                                             \
                        }                                                                          \
                } else {                                                                           \
                    for (int64_t j = 0; j < w; j++)                                                \
                        if (xr[j] <= best[j]) {                                                    \
                            best[j] = xr[j];                                                       \
                            bi[j] = r;                                                             \
                        }                                                                          \
                }                                                                                  \
            }                                                                                      \
            for (int64_t j = 0; j < w; j++)                                                        \
                y[o * I + j0 + j] = bi[j];                                                         \
        }                                                                                          \
    }
D_ARG(f32, float)
D_ARG(f64, double)
D_ARG(i8, int8_t)
D_ARG(i16, int16_t)
D_ARG(i32, int32_t)
D_ARG(i64, int64_t)
D_ARG(u8, uint8_t)
D_ARG(u16, uint16_t)
D_ARG(u32, uint32_t)
D_ARG(u64, uint64_t)

typedef void (*arg_fn)(int threads, const void *x, int64_t *y, int64_t O, int64_t R, int64_t I,
                       bool is_min, bool last);
static const arg_fn arg_tab[NDT] = {
    [SKIFF_DTYPE_FLOAT32] = arg_f32, [SKIFF_DTYPE_FLOAT64] = arg_f64,
    [SKIFF_DTYPE_INT8] = arg_i8,     [SKIFF_DTYPE_INT16] = arg_i16,
    [SKIFF_DTYPE_INT32] = arg_i32,   [SKIFF_DTYPE_INT64] = arg_i64,
    [SKIFF_DTYPE_UINT8] = arg_u8,    [SKIFF_DTYPE_UINT16] = arg_u16,
    [SKIFF_DTYPE_UINT32] = arg_u32,  [SKIFF_DTYPE_UINT64] = arg_u64,
};

static skiff_status_t *run_arg(skiff__kctx *ctx, bool is_min)
{
    const skiff_tensor_t *x;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "data", &x);
    if (st)
        return st;
    const skiff__node *node = ctx->node;
    int64_t axis = skiff__attr_int(node, "axis", 0);
    bool keep = skiff__attr_int(node, "keepdims", 1) != 0;
    bool last = skiff__attr_int(node, "select_last_index", 0) != 0;
    int ax;
    if (!skiff__norm_axis(axis, x->ndim, &ax))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'axis' %lld is out of range for rank %d", (long long)axis,
                           x->ndim);
    skiff_dtype_t dt = x->dtype;
    bool wide = skiff__dtype_is_half(dt);
    arg_fn fn = wide ? arg_f32 : (unsigned)dt < NDT ? arg_tab[dt] : NULL;
    if (!fn)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'data': dtype %s is not supported",
                           skiff_dtype_name(dt));
    int64_t O = 1, R = x->dims[ax], I = 1;
    for (int i = 0; i < ax; i++)
        O *= x->dims[i];
    for (int i = ax + 1; i < x->ndim; i++)
        I *= x->dims[i];
    int ond = 0;
    int64_t od[SKIFF_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        if (i != ax)
            od[ond++] = x->dims[i];
        else if (keep)
            od[ond++] = 1;
    }
    if (R == 0 && O * I > 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'data': axis %d has size 0, there is no %s", ax,
                           is_min ? "minimum" : "maximum");
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_INT64, ond, od, &st);
    if (!y)
        return st;
    if (O * I == 0)
        return NULL;
    if (!wide) {
        fn(skiff__kctx_threads(ctx), x->data, y->data, O, R, I, is_min, last);
        return NULL;
    }
    float *w = widen(x, skiff_tensor_numel(x));
    if (!w)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    fn(skiff__kctx_threads(ctx), w, y->data, O, R, I, is_min, last);
    skiff__free(w);
    return NULL;
}

static skiff_status_t *run_ArgMax(skiff__kctx *ctx) { return run_arg(ctx, false); }
static skiff_status_t *run_ArgMin(skiff__kctx *ctx) { return run_arg(ctx, true); }

/* ---- CumSum ----------------------------------------------------------------------- */

/* Running sums along L of [O, L, I]; W is the type additions happen in
 * (unsigned for integers, so overflow wraps instead of being undefined). */
#define D_CUMSUM(sfx, T, W)                                                                        \
    static void cumsum_##sfx(int threads, const void *xv, void *yv, int64_t O, int64_t L,          \
                             int64_t I, bool excl, bool rev)                                       \
    {                                                                                              \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        const int64_t bw = I == 1 ? 1 : 1024;                                                      \
        const int64_t nb = (I + bw - 1) / bw;                                                      \
        const int64_t items = O * nb;                                                              \
        const bool par = O * L * I >= PAR_MIN && items > 1 && threads > 1;                         \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) schedule(static) if (par)") for (int64_t it =   \
                                                                                        0;         \
                                                                                    it < items;    \
                                                                                    it++)          \
        {                                                                                          \
            const int64_t o = it / nb, j0 = it % nb * bw;                                          \
            const int64_t w = I - j0 < bw ? I - j0 : bw;                                           \
            const T *xo = x + o * L * I + j0;                                                      \
            T *yo = y + o * L * I + j0;                                                            \
            const int64_t step = rev ? -1 : 1;                                                     \
            int64_t l = rev ? L - 1 : 0;                                                           \
            for (int64_t j = 0; j < w; j++)                                                        \
                yo[l * I + j] = excl ? (T)0 : xo[l * I + j];                                       \
            for (int64_t k = 1; k < L; k++) {                                                      \
                const int64_t prev = l;                                                            \
                l += step;                                                                         \
                const T *xa = xo + (excl ? prev : l) * I;                                          \
                const T *yp = yo + prev * I;                                                       \
                T *yc = yo + l * I;                                                                \
                for (int64_t j = 0; j < w; j++)                                                    \
                    yc[j] = (T)((W)yp[j] + (W)xa[j]);                                              \
            }                                                                                      \
        }                                                                                          \
    }
D_CUMSUM(f32, float, float)
D_CUMSUM(f64, double, double)
D_CUMSUM(i32, int32_t, uint32_t)
D_CUMSUM(i64, int64_t, uint64_t)
D_CUMSUM(u32, uint32_t, uint32_t)
D_CUMSUM(u64, uint64_t, uint64_t)

typedef void (*cumsum_fn)(int threads, const void *x, void *y, int64_t O, int64_t L, int64_t I,
                          bool excl, bool rev);
static const cumsum_fn cumsum_tab[NDT] = {
    [SKIFF_DTYPE_FLOAT32] = cumsum_f32, [SKIFF_DTYPE_FLOAT64] = cumsum_f64,
    [SKIFF_DTYPE_INT32] = cumsum_i32,   [SKIFF_DTYPE_INT64] = cumsum_i64,
    [SKIFF_DTYPE_UINT32] = cumsum_u32,  [SKIFF_DTYPE_UINT64] = cumsum_u64,
};

static skiff_status_t *run_CumSum(skiff__kctx *ctx)
{
    const skiff_tensor_t *x, *a;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "x", &x);
    if (st || (st = skiff__kctx_input(ctx, 1, "axis", &a)))
        return st;
    if ((a->dtype != SKIFF_DTYPE_INT64 && a->dtype != SKIFF_DTYPE_INT32) ||
        skiff_tensor_numel(a) != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'axis': expected an int32/int64 scalar, got %s with %lld "
                           "elements",
                           skiff_dtype_name(a->dtype), (long long)skiff_tensor_numel(a));
    int64_t axis = skiff__tensor_get_i64(a, 0);
    int ax;
    if (!skiff__norm_axis(axis, x->ndim, &ax))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'axis': %lld is out of range "
                           "for rank %d",
                           (long long)axis, x->ndim);
    skiff_dtype_t dt = x->dtype;
    bool wide = skiff__dtype_is_half(dt);
    cumsum_fn fn = wide ? cumsum_f32 : (unsigned)dt < NDT ? cumsum_tab[dt] : NULL;
    if (!fn)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'x': dtype %s is not supported",
                           skiff_dtype_name(dt));
    bool excl = skiff__attr_int(ctx->node, "exclusive", 0) != 0;
    bool rev = skiff__attr_int(ctx->node, "reverse", 0) != 0;
    int64_t O = 1, L = x->dims[ax], I = 1;
    for (int i = 0; i < ax; i++)
        O *= x->dims[i];
    for (int i = ax + 1; i < x->ndim; i++)
        I *= x->dims[i];
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, dt, x->ndim, x->dims, &st);
    if (!y)
        return st;
    int64_t n = O * L * I;
    if (n == 0)
        return NULL;
    if (!wide) {
        fn(skiff__kctx_threads(ctx), x->data, y->data, O, L, I, excl, rev);
        return NULL;
    }
    float *w = widen(x, n), *wy = skiff__malloc((size_t)n * sizeof(float));
    if (!w || !wy) {
        skiff__free(w);
        skiff__free(wy);
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    fn(skiff__kctx_threads(ctx), w, wy, O, L, I, excl, rev);
    narrow(wy, dt, y->data, n);
    skiff__free(w);
    skiff__free(wy);
    return NULL;
}

/* ---- table ------------------------------------------------------------------ */

#define OP(name)                                                                                   \
    {                                                                                              \
        .type = #name, .min_opset = 1, .run = run_##name                                           \
    }

const skiff__op skiff__ops_reduce[] = {
    OP(ReduceSum), OP(ReduceMean), OP(ReduceMax),    OP(ReduceMin),       OP(ReduceProd),
    OP(ReduceL1),  OP(ReduceL2),   OP(ReduceLogSum), OP(ReduceLogSumExp), OP(ReduceSumSquare),
    OP(ArgMax),    OP(ArgMin),     OP(CumSum),       {.type = NULL},
};
