/* elementwise.c - element-wise kernels: arithmetic and comparisons with numpy
 * broadcasting, logic, unary math and activations, Clip and Where (Cast is
 * in cast.c, the Softmax family in softmax.c; elementwise.h has what they
 * share).
 *
 * Every binary and ternary op goes through one broadcast driver,
 * bcast_run(): it pads the operand shapes to the output rank, drops size-1
 * output dims and merges adjacent dims that are contiguous (or broadcast) in
 * every operand, then hands each innermost run to a typed loop whose operand
 * strides are 0 or 1. Same-shape, scalar and per-channel broadcasts all
 * collapse to a few long runs, so they need no code of their own; the typed
 * loops specialise the four stride patterns so the compiler vectorises each.
 *
 * Typed loops are generated per dtype by macros and looked up in tables
 * indexed by the ONNX dtype number. float16 and bfloat16 are storage types:
 * operands are widened to float32, computed there and narrowed back.
 *
 * exp, tanh and erf for float32 use branch-free polynomial forms (Cephes /
 * Eigen coefficients, a few ulp) so Softmax, Sigmoid, Tanh and Gelu loops
 * vectorise; float64 uses libm.
 */
#include "elementwise.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* Operand strides s[] are 0 (broadcast) or 1 (contiguous). */
typedef void (*bc_fn)(const void *const *in, const int64_t *s, void *out, int64_t n, const void *p);
typedef void (*un_fn)(const void *x, void *y, int64_t n, const void *p);

/* Parameters of unary loops; each op reads the fields it documents. */
typedef struct uparam {
    float alpha, beta, gamma;
    int flag0, flag1;
    double d;
    const void *lo, *hi; /* Clip bounds in the compute dtype, NULL when absent */
} uparam;

/* Points *data at t's elements as dtype `to`: t's own buffer when it already
 * is, else a converted copy in *owned (caller frees with skiff__free). */
static skiff_status_t *as_dtype(skiff__kctx *ctx, const skiff_tensor_t *t, const char *name,
                                skiff_dtype_t to, const void **data, void **owned)
{
    *owned = NULL;
    if (t->dtype == to) {
        *data = t->data;
        return NULL;
    }
    if (!skiff__ew_cvt_ok(t->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input '%s': dtype %s is not supported",
                           name, skiff_dtype_name(t->dtype));
    int64_t n = skiff_tensor_numel(t);
    if (n < 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': invalid shape", name);
    size_t bytes;
    if (!skiff__mul_size((size_t)(n ? n : 1), skiff_dtype_size(to), &bytes))
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "input '%s' is too large", name);
    void *buf = skiff__malloc(bytes);
    if (!buf)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory converting '%s'",
                           name);
    skiff__ew_cvt_par(skiff__kctx_threads(ctx), t->data, t->dtype, buf, to, n);
    *owned = buf;
    *data = buf;
    return NULL;
}

/* ---- broadcast driver ----------------------------------------------------- */

typedef struct bc_arg {
    int ndim;
    const int64_t *dims;
    const void *data;
    size_t esz;
} bc_arg;

#define BC_MAXIN 3

/* out = fn(a[0..k)) over the broadcast output shape (ond, od); every a[j]
 * must broadcast to it. out may alias an operand that has the output shape. */
static void bcast_run(int threads, int k, const bc_arg *a, void *out, size_t oesz, int ond,
                      const int64_t *od, bc_fn fn, const void *p)
{
    int64_t total = skiff_shape_numel(ond, od);
    if (total <= 0)
        return;
    int64_t st[BC_MAXIN][SKIFF_MAX_DIMS] = {{0}};
    for (int j = 0; j < k; j++) {
        int off = ond - a[j].ndim;
        int64_t acc = 1;
        for (int i = ond - 1; i >= 0; i--) {
            int64_t d = i >= off ? a[j].dims[i - off] : 1;
            st[j][i] = d == 1 ? 0 : acc;
            acc *= d;
        }
    }
    /* Collapse: skip size-1 dims, merge a dim into the one outside it when
     * every operand is contiguous (or broadcast) across the pair. */
    int64_t cd[SKIFF_MAX_DIMS] = {0}, cs[BC_MAXIN][SKIFF_MAX_DIMS] = {{0}};
    int m = 0;
    for (int i = 0; i < ond; i++) {
        if (od[i] == 1)
            continue;
        bool merge = m > 0;
        for (int j = 0; j < k && merge; j++)
            merge = cs[j][m - 1] == st[j][i] * od[i];
        if (merge) {
            cd[m - 1] *= od[i];
            for (int j = 0; j < k; j++)
                cs[j][m - 1] = st[j][i];
        } else {
            cd[m] = od[i];
            for (int j = 0; j < k; j++)
                cs[j][m] = st[j][i];
            m++;
        }
    }
    if (m == 0) {
        cd[0] = 1;
        m = 1;
    }
    const int64_t n = cd[m - 1];
    int64_t is[BC_MAXIN] = {0};
    for (int j = 0; j < k; j++)
        is[j] = cs[j][m - 1];
    /* Long runs are cut into blocks so a single huge row still spreads over
     * the threads. */
    const int64_t blk = n > BLK ? BLK : n;
    const int64_t nb = (n + blk - 1) / blk;
    const int64_t items = (total / n) * nb;
    int nt = total >= PAR_MIN ? threads : 1;
    if (nt > items)
        nt = (int)items;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < nt; t++) {
        int64_t s0 = items / nt * t + (t < items % nt ? t : items % nt);
        int64_t e0 = s0 + items / nt + (t < items % nt ? 1 : 0);
        if (s0 >= e0)
            continue;
        int64_t row = s0 / nb, b = s0 % nb;
        int64_t idx[SKIFF_MAX_DIMS] = {0};
        int64_t off[BC_MAXIN] = {0};
        int64_t r = row;
        for (int i = m - 2; i >= 0; i--) {
            idx[i] = r % cd[i];
            r /= cd[i];
            for (int j = 0; j < k; j++)
                off[j] += idx[i] * cs[j][i];
        }
        int64_t oo = row * n;
        const void *ptr[BC_MAXIN] = {NULL};
        for (int64_t it = s0; it < e0; it++) {
            int64_t lo = b * blk, len = n - lo < blk ? n - lo : blk;
            for (int j = 0; j < k; j++)
                ptr[j] = (const char *)a[j].data + (size_t)(off[j] + lo * is[j]) * a[j].esz;
            fn(ptr, is, (char *)out + (size_t)(oo + lo) * oesz, len, p);
            if (++b == nb) {
                b = 0;
                oo += n;
                for (int i = m - 2; i >= 0; i--) {
                    for (int j = 0; j < k; j++)
                        off[j] += cs[j][i];
                    if (++idx[i] < cd[i])
                        break;
                    for (int j = 0; j < k; j++)
                        off[j] -= cs[j][i] * cd[i];
                    idx[i] = 0;
                }
            }
        }
    }
}

static void unary_par(int threads, const void *x, size_t xe, void *y, size_t ye, int64_t n,
                      un_fn fn, const void *p)
{
    if (n <= 0)
        return;
    int64_t nc = (n + BLK - 1) / BLK;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= PAR_MIN && threads > 1)
    for (int64_t c = 0; c < nc; c++) {
        int64_t lo = c * BLK, len = n - lo < BLK ? n - lo : BLK;
        fn((const char *)x + (size_t)lo * xe, (char *)y + (size_t)lo * ye, len, p);
    }
}

/* ---- typed loops ------------------------------------------------------------ */

/* Binary loop; EXPR sees x (from a) and y (from b). */
#define BINFN(name, TA, TB, TO, EXPR)                                                              \
    static void name(const void *const *in_, const int64_t *s_, void *out_, int64_t n,             \
                     const void *p_)                                                               \
    {                                                                                              \
        const TA *a_ = in_[0];                                                                     \
        const TB *b_ = in_[1];                                                                     \
        TO *o_ = out_;                                                                             \
        (void)p_;                                                                                  \
        if (s_[0] && s_[1]) {                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TA x = a_[i];                                                                \
                const TB y = b_[i];                                                                \
                o_[i] = (TO)(EXPR);                                                                \
            }                                                                                      \
        } else if (s_[0]) {                                                                        \
            const TB y = b_[0];                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TA x = a_[i];                                                                \
                o_[i] = (TO)(EXPR);                                                                \
            }                                                                                      \
        } else if (s_[1]) {                                                                        \
            const TA x = a_[0];                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TB y = b_[i];                                                                \
                o_[i] = (TO)(EXPR);                                                                \
            }                                                                                      \
        } else {                                                                                   \
            const TA x = a_[0];                                                                    \
            const TB y = b_[0];                                                                    \
            const TO v_ = (TO)(EXPR);                                                              \
            for (int64_t i = 0; i < n; i++)                                                        \
                o_[i] = v_;                                                                        \
        }                                                                                          \
    }

/* Unary loop; EXPR sees x and the parameters alpha, beta, gamma. */
#define UNFN(name, TI, TO, EXPR)                                                                   \
    static void name(const void *xv, void *yv, int64_t n, const void *pv)                          \
    {                                                                                              \
        const TI *xp = xv;                                                                         \
        TO *yp = yv;                                                                               \
        const uparam *P = pv;                                                                      \
        const TI alpha = P ? (TI)P->alpha : 0, beta = P ? (TI)P->beta : 0;                         \
        const TI gamma = P ? (TI)P->gamma : 0;                                                     \
        (void)alpha, (void)beta, (void)gamma;                                                      \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const TI x = xp[i];                                                                    \
            yp[i] = (TO)(EXPR);                                                                    \
        }                                                                                          \
    }

/* Type lists: (suffix, type, unsigned wide type for wrap-around arithmetic).
 * Signed overflow is undefined in C, so integer add/sub/mul/neg wrap in the
 * unsigned type; 8/16-bit values go through uint32_t so int promotion cannot
 * overflow either. */
#define FLT_TYPES(D) D(f32, float, float) D(f64, double, double)
#define SINT_TYPES(D)                                                                              \
    D(i8, int8_t, uint32_t)                                                                        \
    D(i16, int16_t, uint32_t) D(i32, int32_t, uint32_t) D(i64, int64_t, uint64_t)
#define UINT_TYPES(D)                                                                              \
    D(u8, uint8_t, uint32_t)                                                                       \
    D(u16, uint16_t, uint32_t) D(u32, uint32_t, uint32_t) D(u64, uint64_t, uint64_t)

#define TAB_F(op) [SKIFF_DTYPE_FLOAT32] = op##_f32, [SKIFF_DTYPE_FLOAT64] = op##_f64,
#define TAB_S(op)                                                                                  \
    [SKIFF_DTYPE_INT8] = op##_i8, [SKIFF_DTYPE_INT16] = op##_i16, [SKIFF_DTYPE_INT32] = op##_i32,  \
    [SKIFF_DTYPE_INT64] = op##_i64,
#define TAB_U(op)                                                                                  \
    [SKIFF_DTYPE_UINT8] = op##_u8, [SKIFF_DTYPE_UINT16] = op##_u16,                                \
    [SKIFF_DTYPE_UINT32] = op##_u32, [SKIFF_DTYPE_UINT64] = op##_u64,
#define TAB_ALL(op) TAB_F(op) TAB_S(op) TAB_U(op)

static inline int64_t pymod_i64(int64_t x, int64_t y)
{
    if (y == 0 || y == -1)
        return 0;
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}

static inline double pymod_f64(double x, double y)
{
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}

static inline float pymod_f32(float x, float y)
{
    float r = fmodf(x, y);
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}

static inline int64_t ipow64(int64_t b, int64_t e)
{
    if (e < 0)
        return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, ub = (uint64_t)b;
    while (e) {
        if (e & 1)
            r *= ub;
        ub *= ub;
        e >>= 1;
    }
    return (int64_t)r;
}

/* Arithmetic */
#define D_FLT_ARITH(s, T, W)                                                                       \
    BINFN(add_##s, T, T, T, x + y)                                                                 \
    BINFN(sub_##s, T, T, T, x - y)                                                                 \
    BINFN(mul_##s, T, T, T, x *y)                                                                  \
    BINFN(div_##s, T, T, T, x / y)                                                                 \
    BINFN(max_##s, T, T, T, (x > y || isnan(x)) ? x : y)                                           \
    BINFN(min_##s, T, T, T, (x < y || isnan(x)) ? x : y)                                           \
    BINFN(mod_##s, T, T, T, pymod_##s(x, y))                                                       \
    BINFN(prelu_##s, T, T, T, x < 0 ? x * y : x)
#define D_INT_ARITH(s, T, W)                                                                       \
    BINFN(add_##s, T, T, T, (W)x + (W)y)                                                           \
    BINFN(sub_##s, T, T, T, (W)x - (W)y)                                                           \
    BINFN(mul_##s, T, T, T, (W)x *(W)y)                                                            \
    BINFN(max_##s, T, T, T, x > y ? x : y)                                                         \
    BINFN(min_##s, T, T, T, x < y ? x : y)
#define D_SINT_ARITH(s, T, W)                                                                      \
    D_INT_ARITH(s, T, W)                                                                           \
    BINFN(div_##s, T, T, T, y == 0 ? 0 : y == -1 ? (T)(0u - (W)x) : x / y)                         \
    BINFN(mod_##s, T, T, T, pymod_i64(x, y))                                                       \
    BINFN(fmod_##s, T, T, T, (y == 0 || y == -1) ? 0 : x % y)                                      \
    BINFN(prelu_##s, T, T, T, x < 0 ? (T)((W)x * (W)y) : x)                                        \
    BINFN(pow_##s, T, T, T, ipow64(x, y))
#define D_UINT_ARITH(s, T, W)                                                                      \
    D_INT_ARITH(s, T, W)                                                                           \
    BINFN(div_##s, T, T, T, y == 0 ? 0 : x / y)                                                    \
    BINFN(mod_##s, T, T, T, y == 0 ? 0 : x % y)                                                    \
    BINFN(prelu_##s, T, T, T, y ? x : x) /* never negative */                                      \
    BINFN(pow_##s, T, T, T, ipow64((int64_t)x, (int64_t)y))

FLT_TYPES(D_FLT_ARITH)
SINT_TYPES(D_SINT_ARITH)
UINT_TYPES(D_UINT_ARITH)
BINFN(fmod_f32, float, float, float, fmodf(x, y))
BINFN(fmod_f64, double, double, double, fmod(x, y))
#define fmod_u8 mod_u8
#define fmod_u16 mod_u16
#define fmod_u32 mod_u32
#define fmod_u64 mod_u64

/* Comparisons, bool out */
#define D_CMP(s, T, W)                                                                             \
    BINFN(eq_##s, T, T, uint8_t, x == y)                                                           \
    BINFN(gt_##s, T, T, uint8_t, x > y)                                                            \
    BINFN(ge_##s, T, T, uint8_t, x >= y)                                                           \
    BINFN(lt_##s, T, T, uint8_t, x < y)                                                            \
    BINFN(le_##s, T, T, uint8_t, x <= y)
FLT_TYPES(D_CMP)
SINT_TYPES(D_CMP)
UINT_TYPES(D_CMP)

BINFN(and_b, uint8_t, uint8_t, uint8_t, (x != 0) & (y != 0))
BINFN(or_b, uint8_t, uint8_t, uint8_t, (x != 0) | (y != 0))
BINFN(xor_b, uint8_t, uint8_t, uint8_t, (x != 0) ^ (y != 0))

/* Float Pow: exponents 2, 0.5, 1 and 3 as broadcast scalars are common
 * (x*x in norms, sqrt) and much cheaper than pow(). */
#define D_POWF(s, T, POW, SQRT)                                                                    \
    static void pow_##s(const void *const *in_, const int64_t *s_, void *out_, int64_t n,          \
                        const void *p_)                                                            \
    {                                                                                              \
        const T *a = in_[0], *b = in_[1];                                                          \
        T *o = out_;                                                                               \
        (void)p_;                                                                                  \
        if (s_[0] && !s_[1]) {                                                                     \
            const T y = b[0];                                                                      \
            if (y == 2)                                                                            \
                for (int64_t i = 0; i < n; i++)                                                    \
                    o[i] = a[i] * a[i];                                                            \
            else if (y == (T)0.5)                                                                  \
                for (int64_t i = 0; i < n; i++)                                                    \
                    o[i] = SQRT(a[i]);                                                             \
            else if (y == 1)                                                                       \
                for (int64_t i = 0; i < n; i++)                                                    \
                    o[i] = a[i];                                                                   \
            else if (y == 3)                                                                       \
                for (int64_t i = 0; i < n; i++)                                                    \
                    o[i] = a[i] * a[i] * a[i];                                                     \
            else                                                                                   \
                for (int64_t i = 0; i < n; i++)                                                    \
                    o[i] = POW(a[i], y);                                                           \
            return;                                                                                \
        }                                                                                          \
        const int64_t sa = s_[0], sb = s_[1];                                                      \
        for (int64_t i = 0; i < n; i++)                                                            \
            o[i] = POW(a[i * sa], b[i * sb]);                                                      \
    }
D_POWF(f32, float, powf, sqrtf)
D_POWF(f64, double, pow, sqrt)

static const bc_fn add_tab[NDT] = {TAB_ALL(add)};
static const bc_fn sub_tab[NDT] = {TAB_ALL(sub)};
static const bc_fn mul_tab[NDT] = {TAB_ALL(mul)};
static const bc_fn div_tab[NDT] = {TAB_ALL(div)};
static const bc_fn max_tab[NDT] = {TAB_ALL(max)};
static const bc_fn min_tab[NDT] = {TAB_ALL(min)};
static const bc_fn mod_tab[NDT] = {TAB_ALL(mod)};
static const bc_fn fmod_tab[NDT] = {TAB_ALL(fmod)};
static const bc_fn pow_tab[NDT] = {TAB_ALL(pow)};
static const bc_fn prelu_tab[NDT] = {TAB_ALL(prelu)};
static const bc_fn eq_tab[NDT] = {TAB_ALL(eq)[SKIFF_DTYPE_BOOL] = eq_u8};
static const bc_fn gt_tab[NDT] = {TAB_ALL(gt)};
static const bc_fn ge_tab[NDT] = {TAB_ALL(ge)};
static const bc_fn lt_tab[NDT] = {TAB_ALL(lt)};
static const bc_fn le_tab[NDT] = {TAB_ALL(le)};
static const bc_fn and_tab[NDT] = {[SKIFF_DTYPE_BOOL] = and_b};
static const bc_fn or_tab[NDT] = {[SKIFF_DTYPE_BOOL] = or_b};
static const bc_fn xor_tab[NDT] = {[SKIFF_DTYPE_BOOL] = xor_b};

/* Where, by element size: cond, x, y. */
#define D_WHERE(name, T)                                                                           \
    static void name(const void *const *in_, const int64_t *s_, void *out_, int64_t n,             \
                     const void *p_)                                                               \
    {                                                                                              \
        const uint8_t *c = in_[0];                                                                 \
        const T *x = in_[1], *y = in_[2];                                                          \
        T *o = out_;                                                                               \
        (void)p_;                                                                                  \
        if (s_[0] && s_[1] && s_[2]) {                                                             \
            for (int64_t i = 0; i < n; i++)                                                        \
                o[i] = c[i] ? x[i] : y[i];                                                         \
        } else {                                                                                   \
            const int64_t sc = s_[0], sx = s_[1], sy = s_[2];                                      \
            for (int64_t i = 0; i < n; i++)                                                        \
                o[i] = c[i * sc] ? x[i * sx] : y[i * sy];                                          \
        }                                                                                          \
    }
D_WHERE(where_1, uint8_t)
D_WHERE(where_2, uint16_t)
D_WHERE(where_4, uint32_t)
D_WHERE(where_8, uint64_t)

/* Float unary ops: one list expanded once for float32 and once for float64.
 * M(f) names the libm function of the current type; EXPF/TANH/ERF are the
 * fast float32 forms or libm for float64. */
#define CLAMP01(v) ((v) < (T)0 ? (T)0 : ((v) > (T)1 ? (T)1 : (v)))
#define FLOAT_UNARY_OPS(X)                                                                         \
    X(ceil_, M(ceil)(x))                                                                           \
    X(floor_, M(floor)(x))                                                                         \
    X(round_, M(nearbyint)(x))                                                                     \
    X(sqrt_, M(sqrt)(x))                                                                           \
    X(recip_, (T)1 / x)                                                                            \
    X(exp_, EXPF(x))                                                                               \
    X(log_, M(log)(x))                                                                             \
    X(sin_, M(sin)(x))                                                                             \
    X(cos_, M(cos)(x))                                                                             \
    X(tan_, M(tan)(x))                                                                             \
    X(asin_, M(asin)(x))                                                                           \
    X(acos_, M(acos)(x))                                                                           \
    X(atan_, M(atan)(x))                                                                           \
    X(sinh_, M(sinh)(x))                                                                           \
    X(cosh_, M(cosh)(x))                                                                           \
    X(asinh_, M(asinh)(x))                                                                         \
    X(acosh_, M(acosh)(x))                                                                         \
    X(atanh_, M(atanh)(x))                                                                         \
    X(erf_, ERF(x))                                                                                \
    X(abs_, M(fabs)(x))                                                                            \
    X(neg_, -x)                                                                                    \
    X(sign_, x > 0 ? (T)1 : (x < 0 ? (T)-1 : x))                                                   \
    X(relu_, x < 0 ? (T)0 : x)                                                                     \
    X(leakyrelu_, x < 0 ? alpha * x : x)                                                           \
    X(elu_, x < 0 ? alpha * M(expm1)(x) : x)                                                       \
    X(selu_, x > 0 ? gamma * x : gamma * alpha * M(expm1)(x))                                      \
    X(celu_, x > 0 ? x : alpha * M(expm1)(x / alpha))                                              \
    X(sigmoid_, (T)1 / ((T)1 + EXPF(-x)))                                                          \
    X(hardsigmoid_, CLAMP01(alpha *x + beta))                                                      \
    X(hardswish_, x *CLAMP01(x *(T)(1.0 / 6.0) + (T)0.5))                                          \
    X(softplus_, x > 0 ? x + M(log1p)(M(exp)(-x)) : M(log1p)(M(exp)(x)))                           \
    X(softsign_, x / ((T)1 + M(fabs)(x)))                                                          \
    X(thresholdedrelu_, x > alpha ? x : (T)0)                                                      \
    X(tanh_, TANH(x))                                                                              \
    X(gelu_, (T)0.5 * x * ((T)1 + ERF(x * (T)0.70710678118654752440)))                             \
    X(gelutanh_,                                                                                   \
      (T)0.5 * x * ((T)1 + TANH((T)0.79788456080286535588 * (x + (T)0.044715 * x * x * x))))

#define UNF_DEF(name, EXPR) UNFN(CAT(name, SFX), T, T, EXPR)

#define T float
#define SFX f32
#define M(fn) fn##f
#define EXPF fast_expf
#define TANH fast_tanhf
#define ERF fast_erff
FLOAT_UNARY_OPS(UNF_DEF)
#undef T
#undef SFX
#undef M
#undef EXPF
#undef TANH
#undef ERF

#define T double
#define SFX f64
#define M(fn) fn
#define EXPF exp
#define TANH tanh
#define ERF erf
FLOAT_UNARY_OPS(UNF_DEF)
#undef T
#undef SFX
#undef M
#undef EXPF
#undef TANH
#undef ERF

#define TABF(op)                                                                                   \
    {                                                                                              \
        [SKIFF_DTYPE_FLOAT32] = op##f32, [SKIFF_DTYPE_FLOAT64] = op##f64                           \
    }

/* Integer unary ops */
#define D_SINT_UN(s, T, W)                                                                         \
    UNFN(abs_##s, T, T, x < 0 ? (T)(0u - (W)x) : x)                                                \
    UNFN(neg_##s, T, T, (T)(0u - (W)x))                                                            \
    UNFN(sign_##s, T, T, (x > 0) - (x < 0))                                                        \
    UNFN(relu_##s, T, T, x < 0 ? 0 : x)
#define D_UINT_UN(s, T, W)                                                                         \
    UNFN(abs_##s, T, T, x)                                                                         \
    UNFN(sign_##s, T, T, x > 0)
SINT_TYPES(D_SINT_UN)
UINT_TYPES(D_UINT_UN)

/* Clip bounds come as pointers to values in the compute dtype. */
#define D_CLIP(s, T, LO, HI)                                                                       \
    static void clip_##s(const void *xv, void *yv, int64_t n, const void *pv)                      \
    {                                                                                              \
        const uparam *P = pv;                                                                      \
        const T lo = P->lo ? *(const T *)P->lo : LO;                                               \
        const T hi = P->hi ? *(const T *)P->hi : HI;                                               \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = x[i] < lo ? lo : x[i];                                                           \
            y[i] = v > hi ? hi : v;                                                                \
        }                                                                                          \
    }
D_CLIP(f32, float, -INFINITY, INFINITY)
D_CLIP(f64, double, -INFINITY, INFINITY)
D_CLIP(i8, int8_t, INT8_MIN, INT8_MAX)
D_CLIP(i16, int16_t, INT16_MIN, INT16_MAX)
D_CLIP(i32, int32_t, INT32_MIN, INT32_MAX)
D_CLIP(i64, int64_t, INT64_MIN, INT64_MAX)
D_CLIP(u8, uint8_t, 0, UINT8_MAX)
D_CLIP(u16, uint16_t, 0, UINT16_MAX)
D_CLIP(u32, uint32_t, 0, UINT32_MAX)
D_CLIP(u64, uint64_t, 0, UINT64_MAX)

/* Mean's final division by the input count (P->d). */
#define D_DIVN(s, T, W) UNFN(divn_##s, T, T, x / (T)P->d)
FLT_TYPES(D_DIVN)
SINT_TYPES(D_DIVN)
UINT_TYPES(D_DIVN)

UNFN(isnan_f32, float, uint8_t, isnan(x))
UNFN(isnan_f64, double, uint8_t, isnan(x))
UNFN(isinf_f32, float, uint8_t, isinf(x) && ((x > 0 && P->flag1) || (x < 0 && P->flag0)))
UNFN(isinf_f64, double, uint8_t, isinf(x) && ((x > 0 && P->flag1) || (x < 0 && P->flag0)))
UNFN(not_b, uint8_t, uint8_t, x == 0)

static const un_fn ceil_tab[NDT] = TABF(ceil_);
static const un_fn floor_tab[NDT] = TABF(floor_);
static const un_fn round_tab[NDT] = TABF(round_);
static const un_fn sqrt_tab[NDT] = TABF(sqrt_);
static const un_fn recip_tab[NDT] = TABF(recip_);
static const un_fn exp_tab[NDT] = TABF(exp_);
static const un_fn log_tab[NDT] = TABF(log_);
static const un_fn sin_tab[NDT] = TABF(sin_);
static const un_fn cos_tab[NDT] = TABF(cos_);
static const un_fn tan_tab[NDT] = TABF(tan_);
static const un_fn asin_tab[NDT] = TABF(asin_);
static const un_fn acos_tab[NDT] = TABF(acos_);
static const un_fn atan_tab[NDT] = TABF(atan_);
static const un_fn sinh_tab[NDT] = TABF(sinh_);
static const un_fn cosh_tab[NDT] = TABF(cosh_);
static const un_fn asinh_tab[NDT] = TABF(asinh_);
static const un_fn acosh_tab[NDT] = TABF(acosh_);
static const un_fn atanh_tab[NDT] = TABF(atanh_);
static const un_fn erf_tab[NDT] = TABF(erf_);
static const un_fn leakyrelu_tab[NDT] = TABF(leakyrelu_);
static const un_fn elu_tab[NDT] = TABF(elu_);
static const un_fn selu_tab[NDT] = TABF(selu_);
static const un_fn celu_tab[NDT] = TABF(celu_);
static const un_fn sigmoid_tab[NDT] = TABF(sigmoid_);
static const un_fn hardsigmoid_tab[NDT] = TABF(hardsigmoid_);
static const un_fn hardswish_tab[NDT] = TABF(hardswish_);
static const un_fn softplus_tab[NDT] = TABF(softplus_);
static const un_fn softsign_tab[NDT] = TABF(softsign_);
static const un_fn thresholdedrelu_tab[NDT] = TABF(thresholdedrelu_);
static const un_fn tanh_tab[NDT] = TABF(tanh_);
static const un_fn gelu_tab[NDT] = TABF(gelu_);
static const un_fn gelutanh_tab[NDT] = TABF(gelutanh_);
static const un_fn isnan_tab[NDT] = {[F32] = isnan_f32, [F64] = isnan_f64};
static const un_fn isinf_tab[NDT] = {[F32] = isinf_f32, [F64] = isinf_f64};
static const un_fn not_tab[NDT] = {[SKIFF_DTYPE_BOOL] = not_b};
static const un_fn abs_tab[NDT] = {[F32] = abs_f32, [F64] = abs_f64, TAB_S(abs) TAB_U(abs)};
static const un_fn neg_tab[NDT] = {[F32] = neg_f32, [F64] = neg_f64, TAB_S(neg)};
static const un_fn sign_tab[NDT] = {[F32] = sign_f32, [F64] = sign_f64, TAB_S(sign) TAB_U(sign)};
static const un_fn relu_tab[NDT] = {[F32] = relu_f32, [F64] = relu_f64, TAB_S(relu)};
static const un_fn clip_tab[NDT] = {TAB_ALL(clip)};
static const un_fn divn_tab[NDT] = {TAB_ALL(divn)};

/* ---- shared run helpers -------------------------------------------------- */

/* y = fn(x) elementwise; float16/bfloat16 go through float32 when the table
 * has a float32 loop. bool_out: the output is bool instead of x's dtype. */
static skiff_status_t *run_unary(skiff__kctx *ctx, const un_fn *tab, const uparam *p, bool bool_out)
{
    const skiff_tensor_t *x;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "X", &x);
    if (st)
        return st;
    skiff_dtype_t dt = x->dtype;
    bool wide = skiff__dtype_is_half(dt) && tab[F32];
    skiff_dtype_t cdt = wide ? F32 : dt;
    un_fn fn = (unsigned)cdt < NDT ? tab[cdt] : NULL;
    if (!fn)
        return skiff__kctx_bad_dtype(ctx, "X", dt);
    skiff_dtype_t odt = bool_out ? BOOL_ : dt;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, odt, x->ndim, x->dims, &st);
    if (!y)
        return st;
    int64_t n = skiff_tensor_numel(x);
    if (n == 0)
        return NULL;
    if (!wide) {
        unary_par(skiff__kctx_threads(ctx), x->data, skiff_dtype_size(dt), y->data,
                  skiff_dtype_size(odt), n, fn, p);
        return NULL;
    }
    float *tx = skiff__ew_tmp_alloc(n, sizeof(float));
    float *ty = bool_out ? NULL : skiff__ew_tmp_alloc(n, sizeof(float));
    if (!tx || (!bool_out && !ty)) {
        skiff__free(tx);
        skiff__free(ty);
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    skiff__ew_cvt_par(skiff__kctx_threads(ctx), x->data, dt, tx, F32, n);
    unary_par(skiff__kctx_threads(ctx), tx, sizeof(float), bool_out ? y->data : (void *)ty,
              bool_out ? 1 : sizeof(float), n, fn, p);
    if (!bool_out)
        skiff__ew_cvt_par(skiff__kctx_threads(ctx), ty, F32, y->data, dt, n);
    skiff__free(tx);
    skiff__free(ty);
    return NULL;
}

static skiff_status_t *bcast_err(skiff__kctx *ctx, const char *na, const skiff_tensor_t *a,
                                 const char *nb, const skiff_tensor_t *b)
{
    char sa[128], sb[128];
    skiff_shape_str(a->ndim, a->dims, sa, sizeof(sa));
    skiff_shape_str(b->ndim, b->dims, sb, sizeof(sb));
    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                       "inputs '%s' %s and '%s' %s are not broadcastable", na, sa, nb, sb);
}

/* Opset < 7 Add/Sub/Mul/Div/Pow/... broadcast B only with broadcast=1, and
 * align it at `axis` instead of at the end; returns B's dims padded so
 * numpy rules give that alignment. */
static bool legacy_bcast(const skiff__kctx *ctx, const skiff_tensor_t *a, const skiff_tensor_t *b,
                         int *nd, int64_t *dims)
{
    const skiff__node *node = ctx->node;
    if (node->opset >= 7 || skiff__attr_int(node, "broadcast", 0) == 0 ||
        !skiff__attr_find(node, "axis"))
        return false;
    int64_t axis = skiff__attr_int(node, "axis", 0);
    if (axis < 0)
        axis += a->ndim;
    if (axis < 0 || axis + b->ndim > a->ndim)
        return false;
    for (int i = 0; i < b->ndim; i++)
        dims[i] = b->dims[i];
    for (int i = b->ndim; i < a->ndim - (int)axis; i++)
        dims[i] = 1;
    *nd = a->ndim - (int)axis;
    return true;
}

/* out = fn(A, B) with numpy broadcasting; A and B must share a dtype. */
static skiff_status_t *run_binary(skiff__kctx *ctx, const bc_fn *tab, bool bool_out, const char *na,
                                  const char *nb)
{
    const skiff_tensor_t *a, *b;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, na, &a);
    if (st || (st = skiff__kctx_input(ctx, 1, nb, &b)))
        return st;
    skiff_dtype_t dt = a->dtype;
    if (b->dtype != dt)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': dtype %s differs from input '%s' (%s)", nb,
                           skiff_dtype_name(b->dtype), na, skiff_dtype_name(dt));
    int bnd = b->ndim;
    int64_t bdims[SKIFF_MAX_DIMS];
    memcpy(bdims, b->dims, sizeof(bdims));
    legacy_bcast(ctx, a, b, &bnd, bdims);
    int ond;
    int64_t od[SKIFF_MAX_DIMS];
    if (!skiff__broadcast_shape(a->ndim, a->dims, bnd, bdims, &ond, od))
        return bcast_err(ctx, na, a, nb, b);
    bool wide = skiff__dtype_is_half(dt) && tab[F32];
    skiff_dtype_t cdt = wide ? F32 : dt;
    bc_fn fn = (unsigned)cdt < NDT ? tab[cdt] : NULL;
    if (!fn)
        return skiff__kctx_bad_dtype(ctx, na, dt);
    skiff_dtype_t odt = bool_out ? BOOL_ : dt;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, odt, ond, od, &st);
    if (!y)
        return st;
    int64_t n = skiff_shape_numel(ond, od);
    if (n == 0)
        return NULL;
    if (!wide) {
        bc_arg args[2] = {{a->ndim, a->dims, a->data, skiff_dtype_size(dt)},
                          {bnd, bdims, b->data, skiff_dtype_size(dt)}};
        bcast_run(skiff__kctx_threads(ctx), 2, args, y->data, skiff_dtype_size(odt), ond, od, fn,
                  NULL);
        return NULL;
    }
    const void *da, *db;
    void *oa = NULL, *ob = NULL, *ty = NULL;
    if ((st = as_dtype(ctx, a, na, F32, &da, &oa)) || (st = as_dtype(ctx, b, nb, F32, &db, &ob)))
        goto out;
    if (!bool_out && !(ty = skiff__ew_tmp_alloc(n, sizeof(float)))) {
        st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    bc_arg args[2] = {{a->ndim, a->dims, da, 4}, {bnd, bdims, db, 4}};
    bcast_run(skiff__kctx_threads(ctx), 2, args, bool_out ? y->data : ty, bool_out ? 1 : 4, ond, od,
              fn, NULL);
    if (!bool_out)
        skiff__ew_cvt_par(skiff__kctx_threads(ctx), ty, F32, y->data, dt, n);
out:
    skiff__free(oa);
    skiff__free(ob);
    skiff__free(ty);
    return st;
}

/* Sum/Mean/Max/Min over any number of inputs, all broadcast together. */
static skiff_status_t *run_variadic(skiff__kctx *ctx, const bc_fn *tab, bool mean)
{
    int k = ctx->n_in;
    if (k < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "expected at least one input");
    char name[32];
    const skiff_tensor_t *x0;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "data_0", &x0);
    if (st)
        return st;
    int ond = x0->ndim;
    int64_t od[SKIFF_MAX_DIMS];
    memcpy(od, x0->dims, sizeof(od));
    for (int i = 1; i < k; i++) {
        const skiff_tensor_t *xi;
        snprintf(name, sizeof(name), "data_%d", i);
        if ((st = skiff__kctx_input(ctx, i, name, &xi)))
            return st;
        if (xi->dtype != x0->dtype)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input '%s': dtype %s differs from input 'data_0' (%s)", name,
                               skiff_dtype_name(xi->dtype), skiff_dtype_name(x0->dtype));
        int64_t nd[SKIFF_MAX_DIMS];
        int nn;
        if (!skiff__broadcast_shape(ond, od, xi->ndim, xi->dims, &nn, nd)) {
            skiff_tensor_t tmp = {.ndim = ond};
            memcpy(tmp.dims, od, sizeof(od));
            return bcast_err(ctx, "data_0..", &tmp, name, xi);
        }
        ond = nn;
        memcpy(od, nd, sizeof(od));
    }
    skiff_dtype_t dt = x0->dtype;
    bool wide = skiff__dtype_is_half(dt) && tab[F32];
    skiff_dtype_t cdt = wide ? F32 : dt;
    bc_fn fn = (unsigned)cdt < NDT ? tab[cdt] : NULL;
    if (!fn || (mean && !divn_tab[cdt]))
        return skiff__kctx_bad_dtype(ctx, "data_0", dt);
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, dt, ond, od, &st);
    if (!y)
        return st;
    int64_t n = skiff_shape_numel(ond, od);
    if (n == 0)
        return NULL;
    size_t esz = skiff_dtype_size(cdt);
    int nt = skiff__kctx_threads(ctx);
    if (k == 1) {
        memcpy(y->data, x0->data, (size_t)n * skiff_dtype_size(dt));
        return NULL;
    }
    void *acc = y->data;
    if (wide && !(acc = skiff__ew_tmp_alloc(n, sizeof(float))))
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 1; i < k && !st; i++) {
        const void *d0 = acc, *di;
        void *o0 = NULL, *oi = NULL;
        int n0 = ond;
        const int64_t *dims0 = od;
        if (i == 1) {
            st = as_dtype(ctx, x0, "data_0", cdt, &d0, &o0);
            n0 = x0->ndim;
            dims0 = x0->dims;
        }
        snprintf(name, sizeof(name), "data_%d", i);
        if (!st)
            st = as_dtype(ctx, ctx->in[i], name, cdt, &di, &oi);
        if (!st) {
            bc_arg args[2] = {{n0, dims0, d0, esz}, {ctx->in[i]->ndim, ctx->in[i]->dims, di, esz}};
            bcast_run(nt, 2, args, acc, esz, ond, od, fn, NULL);
        }
        skiff__free(o0);
        skiff__free(oi);
    }
    if (!st && mean) {
        uparam p = {.d = (double)k};
        unary_par(nt, acc, esz, acc, esz, n, divn_tab[cdt], &p);
    }
    if (!st && wide)
        skiff__ew_cvt_par(nt, acc, F32, y->data, dt, n);
    if (wide)
        skiff__free(acc);
    return st;
}

/* ---- op entry points: binary ------------------------------------------------ */

/* One entry point per binary op: its kernel table, and whether it compares
 * (bool output). */
#define BINARY_OP(name, tab, compares)                                                             \
    static skiff_status_t *run_##name(skiff__kctx *ctx)                                            \
    {                                                                                              \
        return run_binary(ctx, tab, compares, "A", "B");                                           \
    }
BINARY_OP(Add, add_tab, false)
BINARY_OP(Sub, sub_tab, false)
BINARY_OP(Mul, mul_tab, false)
BINARY_OP(Div, div_tab, false)
BINARY_OP(Equal, eq_tab, true)
BINARY_OP(Greater, gt_tab, true)
BINARY_OP(GreaterOrEqual, ge_tab, true)
BINARY_OP(Less, lt_tab, true)
BINARY_OP(LessOrEqual, le_tab, true)
BINARY_OP(And, and_tab, true)
BINARY_OP(Or, or_tab, true)
BINARY_OP(Xor, xor_tab, true)
static skiff_status_t *run_Max(skiff__kctx *ctx) { return run_variadic(ctx, max_tab, false); }
static skiff_status_t *run_Min(skiff__kctx *ctx) { return run_variadic(ctx, min_tab, false); }
static skiff_status_t *run_Sum(skiff__kctx *ctx) { return run_variadic(ctx, add_tab, false); }
static skiff_status_t *run_Mean(skiff__kctx *ctx) { return run_variadic(ctx, add_tab, true); }

static skiff_status_t *run_Mod(skiff__kctx *ctx)
{
    bool f = skiff__attr_int(ctx->node, "fmod", 0) != 0;
    return run_binary(ctx, f ? fmod_tab : mod_tab, false, "A", "B");
}

/* Pow: the result has the base's dtype. Float bases compute in their own
 * (or, for float16, float32) type; integer bases with integer exponents use
 * exact integer powers; integer bases with float exponents go through
 * double and truncate, as the ONNX reference does. */
static skiff_status_t *run_Pow(skiff__kctx *ctx)
{
    const skiff_tensor_t *a, *b;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "X", &a);
    if (st || (st = skiff__kctx_input(ctx, 1, "Y", &b)))
        return st;
    skiff_dtype_t dt = a->dtype;
    if (!skiff__ew_cvt_ok(dt) || dt == BOOL_)
        return skiff__kctx_bad_dtype(ctx, "X", dt);
    if (!skiff__ew_cvt_ok(b->dtype) || b->dtype == BOOL_)
        return skiff__kctx_bad_dtype(ctx, "Y", b->dtype);
    int bnd = b->ndim;
    int64_t bdims[SKIFF_MAX_DIMS];
    memcpy(bdims, b->dims, sizeof(bdims));
    legacy_bcast(ctx, a, b, &bnd, bdims);
    int ond;
    int64_t od[SKIFF_MAX_DIMS];
    if (!skiff__broadcast_shape(a->ndim, a->dims, bnd, bdims, &ond, od))
        return bcast_err(ctx, "X", a, "Y", b);
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, dt, ond, od, &st);
    if (!y)
        return st;
    int64_t n = skiff_shape_numel(ond, od);
    if (n == 0)
        return NULL;
    skiff_dtype_t cdt = skiff__dtype_is_half(dt)                                          ? F32
                        : (!skiff__dtype_is_float(dt) && skiff__dtype_is_float(b->dtype)) ? F64
                                                                                          : dt;
    const void *da, *db;
    void *oa = NULL, *ob = NULL, *ty = NULL;
    if ((st = as_dtype(ctx, a, "X", cdt, &da, &oa)) || (st = as_dtype(ctx, b, "Y", cdt, &db, &ob)))
        goto out;
    void *dst = y->data;
    if (cdt != dt && !(dst = ty = skiff__ew_tmp_alloc(n, skiff_dtype_size(cdt)))) {
        st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    size_t esz = skiff_dtype_size(cdt);
    bc_arg args[2] = {{a->ndim, a->dims, da, esz}, {bnd, bdims, db, esz}};
    bcast_run(skiff__kctx_threads(ctx), 2, args, dst, esz, ond, od, pow_tab[cdt], NULL);
    if (cdt != dt)
        skiff__ew_cvt_par(skiff__kctx_threads(ctx), ty, cdt, y->data, dt, n);
out:
    skiff__free(oa);
    skiff__free(ob);
    skiff__free(ty);
    return st;
}

/* PRelu: slope broadcasts to X (unidirectionally); the output is X's shape. */
static skiff_status_t *run_PRelu(skiff__kctx *ctx)
{
    const skiff_tensor_t *x, *s;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "X", &x);
    if (st || (st = skiff__kctx_input(ctx, 1, "slope", &s)))
        return st;
    int ond;
    int64_t od[SKIFF_MAX_DIMS];
    if (!skiff__broadcast_shape(x->ndim, x->dims, s->ndim, s->dims, &ond, od) || ond != x->ndim ||
        memcmp(od, x->dims, sizeof(int64_t) * (size_t)ond) != 0)
        return bcast_err(ctx, "X", x, "slope", s);
    return run_binary(ctx, prelu_tab, false, "X", "slope");
}

static skiff_status_t *run_Where(skiff__kctx *ctx)
{
    const skiff_tensor_t *c, *x, *yv;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "condition", &c);
    if (st || (st = skiff__kctx_input(ctx, 1, "X", &x)) ||
        (st = skiff__kctx_input(ctx, 2, "Y", &yv)))
        return st;
    if (c->dtype != BOOL_)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'condition': expected bool, got %s",
                           skiff_dtype_name(c->dtype));
    if (x->dtype != yv->dtype)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'Y': dtype %s differs from input 'X' (%s)",
                           skiff_dtype_name(yv->dtype), skiff_dtype_name(x->dtype));
    size_t esz = skiff_dtype_size(x->dtype);
    bc_fn fn = x->dtype == SKIFF_DTYPE_STRING ? NULL
               : esz == 1                     ? where_1
               : esz == 2                     ? where_2
               : esz == 4                     ? where_4
               : esz == 8                     ? where_8
                                              : NULL;
    if (!fn)
        return skiff__kctx_bad_dtype(ctx, "X", x->dtype);
    int n1, ond;
    int64_t d1[SKIFF_MAX_DIMS], od[SKIFF_MAX_DIMS];
    if (!skiff__broadcast_shape(c->ndim, c->dims, x->ndim, x->dims, &n1, d1))
        return bcast_err(ctx, "condition", c, "X", x);
    if (!skiff__broadcast_shape(n1, d1, yv->ndim, yv->dims, &ond, od))
        return bcast_err(ctx, "X", x, "Y", yv);
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, ond, od, &st);
    if (!y)
        return st;
    bc_arg args[3] = {{c->ndim, c->dims, c->data, 1},
                      {x->ndim, x->dims, x->data, esz},
                      {yv->ndim, yv->dims, yv->data, esz}};
    bcast_run(skiff__kctx_threads(ctx), 3, args, y->data, esz, ond, od, fn, NULL);
    return NULL;
}

/* ---- op entry points: unary ------------------------------------------------- */

#define RUN_UNARY(Op, tab)                                                                         \
    static skiff_status_t *run_##Op(skiff__kctx *ctx) { return run_unary(ctx, tab, NULL, false); }
RUN_UNARY(Abs, abs_tab)
RUN_UNARY(Neg, neg_tab)
RUN_UNARY(Ceil, ceil_tab)
RUN_UNARY(Floor, floor_tab)
RUN_UNARY(Round, round_tab)
RUN_UNARY(Sqrt, sqrt_tab)
RUN_UNARY(Reciprocal, recip_tab)
RUN_UNARY(Exp, exp_tab)
RUN_UNARY(Log, log_tab)
RUN_UNARY(Sin, sin_tab)
RUN_UNARY(Cos, cos_tab)
RUN_UNARY(Tan, tan_tab)
RUN_UNARY(Asin, asin_tab)
RUN_UNARY(Acos, acos_tab)
RUN_UNARY(Atan, atan_tab)
RUN_UNARY(Sinh, sinh_tab)
RUN_UNARY(Cosh, cosh_tab)
RUN_UNARY(Asinh, asinh_tab)
RUN_UNARY(Acosh, acosh_tab)
RUN_UNARY(Atanh, atanh_tab)
RUN_UNARY(Sign, sign_tab)
RUN_UNARY(Erf, erf_tab)
RUN_UNARY(Relu, relu_tab)
RUN_UNARY(Sigmoid, sigmoid_tab)
RUN_UNARY(HardSwish, hardswish_tab)
RUN_UNARY(Tanh, tanh_tab)
RUN_UNARY(Softplus, softplus_tab)
RUN_UNARY(Softsign, softsign_tab)
RUN_UNARY(Not, not_tab)

static skiff_status_t *run_IsNaN(skiff__kctx *ctx) { return run_unary(ctx, isnan_tab, NULL, true); }

static skiff_status_t *run_IsInf(skiff__kctx *ctx)
{
    uparam p = {.flag0 = (int)skiff__attr_int(ctx->node, "detect_negative", 1),
                .flag1 = (int)skiff__attr_int(ctx->node, "detect_positive", 1)};
    return run_unary(ctx, isinf_tab, &p, true);
}

static skiff_status_t *run_LeakyRelu(skiff__kctx *ctx)
{
    uparam p = {.alpha = skiff__attr_float(ctx->node, "alpha", 0.01f)};
    return run_unary(ctx, leakyrelu_tab, &p, false);
}

static skiff_status_t *run_Elu(skiff__kctx *ctx)
{
    uparam p = {.alpha = skiff__attr_float(ctx->node, "alpha", 1.0f)};
    return run_unary(ctx, elu_tab, &p, false);
}

static skiff_status_t *run_Selu(skiff__kctx *ctx)
{
    uparam p = {.alpha = skiff__attr_float(ctx->node, "alpha", 1.67326319217681884765625f),
                .gamma = skiff__attr_float(ctx->node, "gamma", 1.05070102214813232421875f)};
    return run_unary(ctx, selu_tab, &p, false);
}

static skiff_status_t *run_Celu(skiff__kctx *ctx)
{
    uparam p = {.alpha = skiff__attr_float(ctx->node, "alpha", 1.0f)};
    if (p.alpha == 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'alpha' must not be 0");
    return run_unary(ctx, celu_tab, &p, false);
}

static skiff_status_t *run_HardSigmoid(skiff__kctx *ctx)
{
    uparam p = {.alpha = skiff__attr_float(ctx->node, "alpha", 0.2f),
                .beta = skiff__attr_float(ctx->node, "beta", 0.5f)};
    return run_unary(ctx, hardsigmoid_tab, &p, false);
}

static skiff_status_t *run_ThresholdedRelu(skiff__kctx *ctx)
{
    uparam p = {.alpha = skiff__attr_float(ctx->node, "alpha", 1.0f)};
    return run_unary(ctx, thresholdedrelu_tab, &p, false);
}

/* Gelu, made by the fusion pass from the erf pattern (or ONNX opset 20). */
static skiff_status_t *run_Gelu(skiff__kctx *ctx)
{
    const char *ap = skiff__attr_str(ctx->node, "approximate", "none");
    if (strcmp(ap, "tanh") == 0)
        return run_unary(ctx, gelutanh_tab, NULL, false);
    if (strcmp(ap, "none") != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'approximate': expected \"none\" or \"tanh\", got \"%s\"",
                           ap);
    return run_unary(ctx, gelu_tab, NULL, false);
}

/* Reads a Clip bound into *store in the compute dtype; *set false when absent. */
static skiff_status_t *clip_bound(skiff__kctx *ctx, int idx, const char *name, skiff_dtype_t xdt,
                                  skiff_dtype_t cdt, uint64_t *store, bool *set)
{
    *set = false;
    if (ctx->node->opset < 11) {
        const skiff__attr *a = skiff__attr_find(ctx->node, name);
        if (!a)
            return NULL;
        double v = skiff__attr_float(ctx->node, name, 0);
        /* Saturate to the integer type, so min=-1 on uint16 means 0. */
        double lo = 0, hi = 0;
        switch (cdt) {
        case SKIFF_DTYPE_UINT8: hi = 255; break;
        case SKIFF_DTYPE_INT8: lo = -128, hi = 127; break;
        case SKIFF_DTYPE_UINT16: hi = 65535; break;
        case SKIFF_DTYPE_INT16: lo = -32768, hi = 32767; break;
        case SKIFF_DTYPE_UINT32: hi = 4294967295.0; break;
        case SKIFF_DTYPE_INT32: lo = -2147483648.0, hi = 2147483647.0; break;
        case SKIFF_DTYPE_UINT64: hi = 18446744073709549568.0; break;
        case SKIFF_DTYPE_INT64: lo = -9223372036854775808.0, hi = 9223372036854774784.0; break;
        default: break;
        }
        if (hi > lo)
            v = v != v ? 0 : v < lo ? lo : v > hi ? hi : v;
        if (!skiff__ew_cvt(&v, F64, store, cdt, 1))
            return skiff__kctx_bad_dtype(ctx, "input", xdt);
        *set = true;
        return NULL;
    }
    if (idx >= ctx->n_in || !ctx->in[idx])
        return NULL;
    const skiff_tensor_t *t = ctx->in[idx];
    if (skiff_tensor_numel(t) != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a scalar, got %lld elements", name,
                           (long long)skiff_tensor_numel(t));
    if (t->dtype != xdt)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': dtype %s differs from input 'input' (%s)", name,
                           skiff_dtype_name(t->dtype), skiff_dtype_name(xdt));
    if (!skiff__ew_cvt(t->data, t->dtype, store, cdt, 1))
        return skiff__kctx_bad_dtype(ctx, name, t->dtype);
    *set = true;
    return NULL;
}

static skiff_status_t *run_Clip(skiff__kctx *ctx)
{
    const skiff_tensor_t *x;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "input", &x);
    if (st)
        return st;
    skiff_dtype_t cdt = skiff__dtype_is_half(x->dtype) ? F32 : x->dtype;
    uint64_t lo = 0, hi = 0;
    bool has_lo, has_hi;
    if ((st = clip_bound(ctx, 1, "min", x->dtype, cdt, &lo, &has_lo)) ||
        (st = clip_bound(ctx, 2, "max", x->dtype, cdt, &hi, &has_hi)))
        return st;
    uparam p = {.lo = has_lo ? (const void *)&lo : NULL, .hi = has_hi ? (const void *)&hi : NULL};
    return run_unary(ctx, clip_tab, &p, false);
}

/* ---- table ------------------------------------------------------------------ */

#define OP(name)                                                                                   \
    {                                                                                              \
        .type = #name, .min_opset = 1, .run = run_##name                                           \
    }

const skiff__op skiff__ops_elementwise[] = {
    OP(Add),
    OP(Sub),
    OP(Mul),
    OP(Div),
    OP(Pow),
    OP(Mod),
    OP(Max),
    OP(Min),
    OP(Sum),
    OP(Mean),
    OP(Equal),
    OP(Greater),
    OP(GreaterOrEqual),
    OP(Less),
    OP(LessOrEqual),
    OP(And),
    OP(Or),
    OP(Xor),
    OP(Not),
    OP(Where),
    OP(Abs),
    OP(Neg),
    OP(Ceil),
    OP(Floor),
    OP(Round),
    OP(Sqrt),
    OP(Reciprocal),
    OP(Exp),
    OP(Log),
    OP(Sin),
    OP(Cos),
    OP(Tan),
    OP(Asin),
    OP(Acos),
    OP(Atan),
    OP(Sinh),
    OP(Cosh),
    OP(Asinh),
    OP(Acosh),
    OP(Atanh),
    OP(Sign),
    OP(Erf),
    OP(Relu),
    OP(LeakyRelu),
    OP(Elu),
    OP(Selu),
    OP(Celu),
    OP(Sigmoid),
    OP(HardSigmoid),
    OP(HardSwish),
    OP(Tanh),
    OP(Softplus),
    OP(Softsign),
    OP(ThresholdedRelu),
    OP(PRelu),
    OP(Clip),
    OP(Gelu),
    OP(IsNaN),
    OP(IsInf),
    {.type = NULL},
};
