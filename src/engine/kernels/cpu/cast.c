/* cast.c - Cast and CastLike, and the dtype conversion every element-wise
 * kernel uses to widen float16 / bfloat16 operands to float32 and back.
 * Float to integer follows ONNX (NaN and out-of-range values saturate);
 * strings parse and print as numpy does. */
#include "elementwise.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- dtype conversion (Cast, and the widening of float16 / bfloat16) ------ */

#define CVT_LOOP(TS, TD)                                                                           \
    do {                                                                                           \
        const TS *s_ = src;                                                                        \
        TD *d_ = dst;                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            d_[i] = (TD)s_[i];                                                                     \
    } while (0)

/* Float to integer: C leaves NaN and out-of-range values undefined; here NaN
 * becomes 0 and the rest saturate at the type's bounds. LO and HI are the
 * bounds as doubles (HI exclusive: 2^63 for int64). */
#define CVT_LOOP_F2I(TS, TD, LO, HI, MINV, MAXV)                                                   \
    do {                                                                                           \
        const TS *s_ = src;                                                                        \
        TD *d_ = dst;                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double v_ = (double)s_[i];                                                             \
            d_[i] = v_ != v_ ? (TD)0 : v_ <= (LO) ? (MINV) : v_ >= (HI) ? (MAXV) : (TD)v_;         \
        }                                                                                          \
    } while (0)

/* Integer sources convert with C's rules (defined for every value). */
#define CVT_LOOP_I2I(TS, TD, LO, HI, MINV, MAXV) CVT_LOOP(TS, TD)

#define CVT_FROM(TS) CVT_FROM_WITH(TS, CVT_LOOP_I2I)
#define CVT_FROM_FLOAT(TS) CVT_FROM_WITH(TS, CVT_LOOP_F2I)

#define CVT_FROM_WITH(TS, TOINT)                                                                   \
    switch (ddt) {                                                                                 \
    case SKIFF_DTYPE_FLOAT32: CVT_LOOP(TS, float); return true;                                    \
    case SKIFF_DTYPE_FLOAT64: CVT_LOOP(TS, double); return true;                                   \
    case SKIFF_DTYPE_INT8: TOINT(TS, int8_t, -128.0, 127.0, INT8_MIN, INT8_MAX); return true;      \
    case SKIFF_DTYPE_INT16:                                                                        \
        TOINT(TS, int16_t, -32768.0, 32767.0, INT16_MIN, INT16_MAX);                               \
        return true;                                                                               \
    case SKIFF_DTYPE_INT32:                                                                        \
        TOINT(TS, int32_t, -2147483648.0, 2147483647.0, INT32_MIN, INT32_MAX);                     \
        return true;                                                                               \
    case SKIFF_DTYPE_INT64:                                                                        \
        TOINT(TS, int64_t, -9223372036854775808.0, 9223372036854775808.0, INT64_MIN, INT64_MAX);   \
        return true;                                                                               \
    case SKIFF_DTYPE_UINT8: TOINT(TS, uint8_t, 0.0, 255.0, 0, UINT8_MAX); return true;             \
    case SKIFF_DTYPE_UINT16: TOINT(TS, uint16_t, 0.0, 65535.0, 0, UINT16_MAX); return true;        \
    case SKIFF_DTYPE_UINT32: TOINT(TS, uint32_t, 0.0, 4294967295.0, 0, UINT32_MAX); return true;   \
    case SKIFF_DTYPE_UINT64:                                                                       \
        TOINT(TS, uint64_t, 0.0, 18446744073709551616.0, 0, UINT64_MAX);                           \
        return true;                                                                               \
    case SKIFF_DTYPE_BOOL: {                                                                       \
        const TS *s_ = src;                                                                        \
        uint8_t *d_ = dst;                                                                         \
        for (int64_t i = 0; i < n; i++)                                                            \
            d_[i] = s_[i] != 0;                                                                    \
        return true;                                                                               \
    }                                                                                              \
    case SKIFF_DTYPE_FLOAT16: {                                                                    \
        const TS *s_ = src;                                                                        \
        uint16_t *d_ = dst;                                                                        \
        for (int64_t i = 0; i < n; i++)                                                            \
            d_[i] = skiff__f32_to_f16((float)s_[i]);                                               \
        return true;                                                                               \
    }                                                                                              \
    case SKIFF_DTYPE_BFLOAT16: {                                                                   \
        const TS *s_ = src;                                                                        \
        uint16_t *d_ = dst;                                                                        \
        for (int64_t i = 0; i < n; i++)                                                            \
            d_[i] = skiff__f32_to_bf16((float)s_[i]);                                              \
        return true;                                                                               \
    }                                                                                              \
    default: return false;                                                                         \
    }

bool skiff__ew_cvt_ok(skiff_dtype_t dt)
{
    return skiff__dtype_is_numeric(dt) || dt == SKIFF_DTYPE_BOOL;
}

/* Converts n elements; false when either dtype is not numeric. Float to
 * integer conversions truncate toward zero (C semantics, as ONNX Cast). */
bool skiff__ew_cvt(const void *src, skiff_dtype_t sdt, void *dst, skiff_dtype_t ddt, int64_t n)
{
    switch (sdt) {
    case SKIFF_DTYPE_FLOAT32: CVT_FROM_FLOAT(float)
    case SKIFF_DTYPE_FLOAT64: CVT_FROM_FLOAT(double)
    case SKIFF_DTYPE_INT8: CVT_FROM(int8_t)
    case SKIFF_DTYPE_INT16: CVT_FROM(int16_t)
    case SKIFF_DTYPE_INT32: CVT_FROM(int32_t)
    case SKIFF_DTYPE_INT64: CVT_FROM(int64_t)
    case SKIFF_DTYPE_UINT8: CVT_FROM(uint8_t)
    case SKIFF_DTYPE_UINT16: CVT_FROM(uint16_t)
    case SKIFF_DTYPE_UINT32: CVT_FROM(uint32_t)
    case SKIFF_DTYPE_UINT64: CVT_FROM(uint64_t)
    case SKIFF_DTYPE_BOOL: CVT_FROM(uint8_t)
    case SKIFF_DTYPE_FLOAT16:
    case SKIFF_DTYPE_BFLOAT16: {
        if (!skiff__ew_cvt_ok(ddt))
            return false;
        /* Through float32 in stack-sized pieces. */
        const uint16_t *s = src;
        size_t dsz = skiff_dtype_size(ddt);
        float buf[256];
        for (int64_t lo = 0; lo < n; lo += 256) {
            int64_t len = n - lo < 256 ? n - lo : 256;
            if (sdt == SKIFF_DTYPE_FLOAT16)
                for (int64_t i = 0; i < len; i++)
                    buf[i] = skiff__f16_to_f32(s[lo + i]);
            else
                for (int64_t i = 0; i < len; i++)
                    buf[i] = skiff__bf16_to_f32(s[lo + i]);
            if (!skiff__ew_cvt(buf, F32, (char *)dst + (size_t)lo * dsz, ddt, len))
                return false;
        }
        return true;
    }
    default: return false;
    }
}

void skiff__ew_cvt_par(int threads, const void *src, skiff_dtype_t sdt, void *dst,
                       skiff_dtype_t ddt, int64_t n)
{
    size_t ss = skiff_dtype_size(sdt), ds = skiff_dtype_size(ddt);
    int64_t nc = (n + BLK - 1) / BLK;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= PAR_MIN && threads > 1)
    for (int64_t c = 0; c < nc; c++) {
        int64_t lo = c * BLK, len = n - lo < BLK ? n - lo : BLK;
        skiff__ew_cvt((const char *)src + (size_t)lo * ss, sdt, (char *)dst + (size_t)lo * ds, ddt,
                      len);
    }
}

/* ---- Cast --------------------------------------------------------------------- */

/* True when the decimal text `back` reads back to v in dtype dt. */
static bool same_in(double back, double v, skiff_dtype_t dt)
{
    switch (dt) {
    case SKIFF_DTYPE_FLOAT64: return back == v;
    case SKIFF_DTYPE_FLOAT16: return skiff__f32_to_f16((float)back) == skiff__f32_to_f16((float)v);
    case SKIFF_DTYPE_BFLOAT16:
        return skiff__f32_to_bf16((float)back) == skiff__f32_to_bf16((float)v);
    default: return (float)back == (float)v;
    }
}

/* Formats a float the way numpy's str() does, which is what the ONNX
 * reference Cast produces: the fewest digits that read back to the same
 * value in its own type, positional for 1e-4 <= |v| < 1e16 ("0.1", "1.0",
 * "123456790.0"), scientific otherwise ("1e-05", "1.5e+20"). */
static void format_float(double v, skiff_dtype_t dt, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(v) || v == 0) {
        snprintf(out, cap, "%s%s", signbit(v) ? "-" : "", v == 0 ? "0.0" : "inf");
        return;
    }
    int maxp = dt == F64 ? 17 : dt == F32 ? 9 : 5;
    char e[64];
    for (int p = 1; p <= maxp; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        if (same_in(strtod(e, NULL), v, dt))
            break;
    }
    /* e is [-]d[.ddd]e(+|-)XX: split into digits and exponent. */
    const char *s = e[0] == '-' ? e + 1 : e;
    char dig[32];
    int nd = 0, ex = 0, esign = 1;
    for (; *s && *s != 'e'; s++)
        if (*s != '.' && nd < (int)sizeof(dig))
            dig[nd++] = *s;
    if (*s == 'e')
        s++;
    if (*s == '-' || *s == '+')
        esign = *s++ == '-' ? -1 : 1;
    for (; *s >= '0' && *s <= '9'; s++)
        ex = ex * 10 + (*s - '0');
    ex *= esign;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    size_t o = 0;
#define PUT(c) (o + 1 < cap ? (void)(out[o++] = (char)(c)) : (void)0)
    if (v < 0)
        PUT('-');
    double a = fabs(v);
    if (a >= 1e-4 && a < 1e16) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++)
                PUT(i < nd ? dig[i] : '0');
            PUT('.');
            if (nd > ex + 1)
                for (int i = ex + 1; i < nd; i++)
                    PUT(dig[i]);
            else
                PUT('0');
        } else {
            PUT('0');
            PUT('.');
            for (int i = 0; i < -ex - 1; i++)
                PUT('0');
            for (int i = 0; i < nd; i++)
                PUT(dig[i]);
        }
        out[o] = '\0';
    } else {
        PUT(dig[0]);
        if (nd > 1) {
            PUT('.');
            for (int i = 1; i < nd; i++)
                PUT(dig[i]);
        }
        out[o] = '\0';
        snprintf(out + o, cap - o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
#undef PUT
}

/* Numbers to strings; bool has no agreed spelling and is refused. */
static skiff_status_t *cast_to_string(skiff__kctx *ctx, const skiff_tensor_t *x)
{
    skiff_dtype_t dt = x->dtype;
    if (!skiff__ew_cvt_ok(dt) || dt == BOOL_)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "cast from %s to string is not supported",
                           skiff_dtype_name(dt));
    skiff_status_t *st;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_STRING, x->ndim, x->dims, &st);
    if (!y)
        return st;
    int64_t n = skiff_tensor_numel(x);
    char **out = y->data;
    char buf[64];
    for (int64_t i = 0; i < n; i++) {
        if (skiff__dtype_is_float(dt))
            format_float(skiff__tensor_get_f64(x, i), dt, buf, sizeof(buf));
        else if (dt == SKIFF_DTYPE_UINT64)
            snprintf(buf, sizeof(buf), "%llu", (unsigned long long)((const uint64_t *)x->data)[i]);
        else
            snprintf(buf, sizeof(buf), "%lld", (long long)skiff__tensor_get_i64(x, i));
        if (!(out[i] = skiff__strdup(buf)))
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    return NULL;
}

static skiff_status_t *cast_to(skiff__kctx *ctx, skiff_dtype_t to)
{
    const skiff_tensor_t *x;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "input", &x);
    if (st)
        return st;
    if (x->dtype == to)
        return skiff__kctx_alias(ctx, 0, 0, x->ndim, x->dims);
    if (to == SKIFF_DTYPE_STRING)
        return cast_to_string(ctx, x);
    if (!skiff__ew_cvt_ok(to))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "cast from %s to %s is not supported",
                           skiff_dtype_name(x->dtype), skiff_dtype_name(to));
    bool from_str = x->dtype == SKIFF_DTYPE_STRING;
    if (!from_str && !skiff__ew_cvt_ok(x->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", x->dtype);
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, to, x->ndim, x->dims, &st);
    if (!y)
        return st;
    int64_t n = skiff_tensor_numel(x);
    if (!from_str) {
        skiff__ew_cvt_par(skiff__kctx_threads(ctx), x->data, x->dtype, y->data, to, n);
        return NULL;
    }
    /* Strings parse as numbers ("1.5", "-INF", "NaN"); integers parse
     * exactly when they can. */
    char *const *strs = x->data;
    size_t dsz = skiff_dtype_size(to);
    bool to_int = !skiff__dtype_is_float(to) && to != BOOL_;
    for (int64_t i = 0; i < n; i++) {
        const char *s = strs[i] ? strs[i] : "";
        void *d = (char *)y->data + (size_t)i * dsz;
        int64_t iv;
        if (to_int && skiff__parse_i64(s, &iv)) {
            skiff__ew_cvt(&iv, SKIFF_DTYPE_INT64, d, to, 1);
            continue;
        }
        char *end;
        double v = strtod(s, &end);
        if (end == s || *end != '\0')
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'input': element %lld (\"%.64s\") is not a number",
                               (long long)i, s);
        skiff__ew_cvt(&v, F64, d, to, 1);
    }
    return NULL;
}

static skiff_status_t *run_Cast(skiff__kctx *ctx)
{
    const skiff__attr *a = skiff__attr_find(ctx->node, "to");
    if (!a)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing attribute 'to'");
    skiff_dtype_t to = a->type == SKIFF_ATTR_STRING ? skiff__dtype_from_onnx_name(a->s)
                                                    : (skiff_dtype_t)a->i; /* opset < 6: names */
    if (to == SKIFF_DTYPE_UNDEFINED || skiff_dtype_size(to) == 0)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "attribute 'to': unknown dtype %lld",
                           (long long)a->i);
    return cast_to(ctx, to);
}

static skiff_status_t *run_CastLike(skiff__kctx *ctx)
{
    const skiff_tensor_t *t;
    skiff_status_t *st = skiff__kctx_input(ctx, 1, "target_type", &t);
    if (st)
        return st;
    return cast_to(ctx, t->dtype);
}

/* ---- table ---- */

const skiff__op skiff__ops_cast[] = {
    {.type = "Cast", .min_opset = 1, .run = run_Cast},
    {.type = "CastLike", .min_opset = 1, .run = run_CastLike},
    {.type = NULL},
};
