/* quant.c - ONNX's linear quantization ops: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, MatMulInteger and QLinearMatMul.
 *
 * Reference kernels in plain C whose integer arithmetic is exact as the ONNX
 * spec states it:
 *   quantize    y = saturate(round_half_even(x / scale) + zero_point), with
 *               x / scale divided in float32 as the spec's reference does
 *               (float64 for int32 x); NaN quantizes to the zero point,
 *               as 0 would (C leaves the conversion of NaN undefined);
 *   dequantize  y = (x - zero_point) * scale, the difference taken exactly
 *               in integers and rounded to float once;
 *   matmul      sum_k (a - a_zp) (b - b_zp) in 32 bits; the products cannot
 *               overflow (|a - a_zp|, |b - b_zp| <= 255) and the sum wraps
 *               modulo 2^32, the one overflow the spec allows.
 * QLinearMatMul requantizes the int32 sum as the reference does:
 * round_half_even(sum * (a_scale * b_scale / y_scale)) + y_zp, the multiplier
 * in float32 and the product in float64, then saturates. Zero points and
 * scales of MatMulInteger / QLinearMatMul are per tensor, per row of 'a'
 * ([M] or [..., M, 1]) and per column of 'b' ([N] or [..., 1, N]); they are
 * expanded once per run into one value per row (column) of every matrix of
 * the operand, so the inner loops index plain arrays. */
#include <string.h>

#include "quant_int.h"

/* ---- shared: ranges, per-axis parameters ---- */

/* Saturates an integral float (or NaN) to [lo, hi]; NaN gives `nan_to`. */
static inline int32_t sat_f(float v, int32_t lo, int32_t hi, int32_t nan_to)
{
    if (v != v)
        return nan_to;
    return v <= (float)lo ? lo : v >= (float)hi ? hi : (int32_t)v;
}

/* The axis layout of a (De)QuantizeLinear: x viewed as [outer, ch, inner]
 * with one scale and zero point per index of ch (ch = 1 per tensor). */
typedef struct axis_view {
    int64_t outer, ch, inner;
} axis_view;

/* Checks scale (and zero point) for per-tensor or per-axis use and fills *v.
 * A scale of one element (rank 0 or 1) is per tensor; a 1-D scale of more is
 * per axis, from opset 13. */
static skiff_status_t *axis_params(const skiff__kctx *ctx, const skiff_tensor_t *X,
                                   const skiff_tensor_t *S, const skiff_tensor_t *Z,
                                   const char *s_name, const char *z_name, axis_view *v)
{
    int64_t ns = skiff_tensor_numel(S);
    char a[96], b[96];
    if (S->ndim > 1 || ns < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a scalar or a 1-D tensor, got shape %s", s_name,
                           skiff_shape_str(S->ndim, S->dims, a, sizeof(a)));
    if (Z && (Z->ndim != S->ndim || skiff_tensor_numel(Z) != ns))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected the shape of '%s' %s, got %s", z_name, s_name,
                           skiff_shape_str(S->ndim, S->dims, a, sizeof(a)),
                           skiff_shape_str(Z->ndim, Z->dims, b, sizeof(b)));
    int64_t n = skiff_tensor_numel(X);
    v->outer = 1;
    v->ch = 1;
    v->inner = n;
    if (ns == 1)
        return NULL;
    if (ctx->node->opset < 13)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a scalar before opset 13, got shape %s", s_name,
                           skiff_shape_str(S->ndim, S->dims, a, sizeof(a)));
    if (skiff__attr_int(ctx->node, "block_size", 0) != 0)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "blocked quantization is not implemented");
    int axis;
    int64_t ax = skiff__attr_int(ctx->node, "axis", 1);
    if (!skiff__norm_axis(ax, X->ndim, &axis))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'axis': %lld is out of range for rank %d of input 'x'",
                           (long long)ax, X->ndim);
    if (X->dims[axis] != ns)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected %lld values (dim %d of 'x' %s), got %lld", s_name,
                           (long long)X->dims[axis], axis,
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)), (long long)ns);
    for (int i = 0; i < axis; i++)
        v->outer *= X->dims[i];
    v->ch = ns;
    v->inner = 1;
    for (int i = axis + 1; i < X->ndim; i++)
        v->inner *= X->dims[i];
    return NULL;
}

/* Scales (any float type) as float32 and zero points (NULL = 0) as int32,
 * into scratch: ch values each. */
static skiff_status_t *read_params(skiff__kctx *ctx, const skiff_tensor_t *S,
                                   const skiff_tensor_t *Z, int64_t ch, float **out_s,
                                   int32_t **out_z)
{
    size_t sb = skiff__page_up((size_t)ch * sizeof(float));
    char *mem = skiff__kctx_scratch(ctx, sb + (size_t)ch * sizeof(int32_t));
    if (!mem)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for %lld scales",
                           (long long)ch);
    float *s = (float *)mem;
    int32_t *z = (int32_t *)(mem + sb);
    for (int64_t c = 0; c < ch; c++) {
        s[c] = (float)skiff__tensor_get_f64(S, c);
        z[c] = Z ? (int32_t)skiff__tensor_get_i64(Z, c) : 0;
    }
    *out_s = s;
    *out_z = z;
    return NULL;
}

/* ---- QuantizeLinear ---- */

/* One run of n values of x (starting at element i0) with one scale. */
static void quantize_run(const skiff_tensor_t *X, int64_t i0, int64_t n, float s, int32_t z,
                         void *y, skiff_dtype_t ydt)
{
    int32_t lo, hi;
    qrange(ydt, &lo, &hi);
    switch (X->dtype) {
    case SKIFF_DTYPE_FLOAT32: {
        const float *x = (const float *)X->data + i0;
        /* the common case, in loops the compiler vectorizes: NaN gives z;
         * rounding, then clamping in float, is sat_f's */
        const float flo = (float)lo, fhi = (float)hi, fz = (float)z;
        if (ydt == SKIFF_DTYPE_UINT8) {
            uint8_t *o = (uint8_t *)y + i0;
            for (int64_t i = 0; i < n; i++) {
                float v = nearbyintf(x[i] / s) + fz;
                v = v == v ? v : fz;
                o[i] = (uint8_t)(int32_t)(v < flo ? flo : v > fhi ? fhi : v);
            }
        } else if (ydt == SKIFF_DTYPE_INT8) {
            int8_t *o = (int8_t *)y + i0;
            for (int64_t i = 0; i < n; i++) {
                float v = nearbyintf(x[i] / s) + fz;
                v = v == v ? v : fz;
                o[i] = (int8_t)(int32_t)(v < flo ? flo : v > fhi ? fhi : v);
            }
        } else {
            for (int64_t i = 0; i < n; i++)
                store_q(y, ydt, i0 + i, sat_f(nearbyintf(x[i] / s) + (float)z, lo, hi, z));
        }
        break;
    }
    case SKIFF_DTYPE_INT32: {
        const int32_t *x = (const int32_t *)X->data + i0;
        for (int64_t i = 0; i < n; i++)
            store_q(y, ydt, i0 + i,
                    sat_d(nearbyint((double)x[i] / (double)s) + (double)z, lo, hi, z));
        break;
    }
    default: /* float16, bfloat16 (opset 19): divided in float32 */
        for (int64_t i = 0; i < n; i++) {
            float xv = (float)skiff__tensor_get_f64(X, i0 + i);
            store_q(y, ydt, i0 + i, sat_f(nearbyintf(xv / s) + (float)z, lo, hi, z));
        }
        break;
    }
}

/* The output type: y_zero_point's, else opset 21's output_dtype, else uint8. */
static skiff_status_t *quantize_out_type(const skiff__kctx *ctx, const skiff_tensor_t *Z,
                                         skiff_dtype_t *out)
{
    if (Z) {
        if (!is_q8(Z->dtype))
            return skiff__kctx_bad_dtype(ctx, "y_zero_point", Z->dtype);
        *out = Z->dtype;
        return NULL;
    }
    int64_t odt = skiff__attr_int(ctx->node, "output_dtype", 0);
    if (odt == 0) {
        *out = SKIFF_DTYPE_UINT8;
        return NULL;
    }
    if (odt != SKIFF_DTYPE_UINT8 && odt != SKIFF_DTYPE_INT8)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "attribute 'output_dtype': %lld is not implemented (uint8, int8 are)",
                           (long long)odt);
    *out = (skiff_dtype_t)odt;
    return NULL;
}

static skiff_status_t *run_quantize(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *S, *Z = skiff__kctx_opt(ctx, 2);
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "x", &X)) ||
        (st = skiff__kctx_input(ctx, 1, "y_scale", &S)))
        return st;
    if (X->dtype != SKIFF_DTYPE_FLOAT32 && X->dtype != SKIFF_DTYPE_INT32 &&
        !skiff__dtype_is_half(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "x", X->dtype);
    if (!is_scale_type(S->dtype))
        return skiff__kctx_bad_dtype(ctx, "y_scale", S->dtype);
    skiff_dtype_t ydt;
    axis_view v;
    if ((st = quantize_out_type(ctx, Z, &ydt)) ||
        (st = axis_params(ctx, X, S, Z, "y_scale", "y_zero_point", &v)))
        return st;
    if (v.ch > 1 && ctx->node->x_cl)
        return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "per-axis scales on a channels-last input");
    float *s;
    int32_t *z;
    if ((st = read_params(ctx, S, Z, v.ch, &s, &z)))
        return st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, ydt, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    /* Blocks of at most `block` values, each inside one run of one scale. */
    const int64_t block = 16384, per_run = (v.inner + block - 1) / block;
    const int64_t nb = v.outer * v.ch * per_run;
    int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && nb > 1 &&                         \
                                                  v.outer * v.ch * v.inner > block)
    for (int64_t b = 0; b < nb; b++) {
        int64_t run = b / per_run, off = (b % per_run) * block;
        int64_t n = v.inner - off < block ? v.inner - off : block;
        int64_t c = run % v.ch;
        quantize_run(X, run * v.inner + off, n, s[c], z[c], Y->data, ydt);
    }
    return NULL;
}

/* ---- DequantizeLinear ---- */

static skiff_status_t *run_dequantize(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *S, *Z = skiff__kctx_opt(ctx, 2);
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "x", &X)) ||
        (st = skiff__kctx_input(ctx, 1, "x_scale", &S)))
        return st;
    if (!is_q8(X->dtype) && X->dtype != SKIFF_DTYPE_INT32)
        return skiff__kctx_bad_dtype(ctx, "x", X->dtype);
    if (!is_scale_type(S->dtype))
        return skiff__kctx_bad_dtype(ctx, "x_scale", S->dtype);
    if (Z && Z->dtype != X->dtype)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'x_zero_point': expected dtype %s (that of 'x'), got %s",
                           skiff_dtype_name(X->dtype), skiff_dtype_name(Z->dtype));
    axis_view v;
    if ((st = axis_params(ctx, X, S, Z, "x_scale", "x_zero_point", &v)))
        return st;
    if (v.ch > 1 && ctx->node->x_cl)
        return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "per-axis scales on a channels-last input");
    float *s;
    int32_t *z;
    if ((st = read_params(ctx, S, Z, v.ch, &s, &z)))
        return st;
    /* y has the scale's type (float16/bfloat16 from opset 19). */
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, S->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    const int64_t runs = v.outer * v.ch;
    int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && runs * v.inner > 65536)
    for (int64_t r = 0; r < runs; r++) {
        const int64_t c = r % v.ch, i0 = r * v.inner;
        const float sc = s[c];
        const int64_t zc = z[c];
        float *yf = S->dtype == SKIFF_DTYPE_FLOAT32 ? Y->data : NULL;
        if (yf && X->dtype == SKIFF_DTYPE_UINT8) { /* the common cases, vectorized */
            const uint8_t *x = X->data;
            for (int64_t i = i0; i < i0 + v.inner; i++)
                yf[i] = (float)((int32_t)x[i] - (int32_t)zc) * sc;
            continue;
        }
        if (yf && X->dtype == SKIFF_DTYPE_INT8) {
            const int8_t *x = X->data;
            for (int64_t i = i0; i < i0 + v.inner; i++)
                yf[i] = (float)((int32_t)x[i] - (int32_t)zc) * sc;
            continue;
        }
        for (int64_t i = i0; i < i0 + v.inner; i++) {
            float y = (float)(skiff__tensor_get_i64(X, i) - zc) * sc;
            if (S->dtype == SKIFF_DTYPE_FLOAT32)
                ((float *)Y->data)[i] = y;
            else
                skiff__store_f64(Y->data, S->dtype, i, y);
        }
    }
    return NULL;
}

/* ---- DynamicQuantizeLinear ---- */

static skiff_status_t *run_dynamic_quantize(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "x", &X);
    if (st)
        return st;
    if (X->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, "x", X->dtype);
    const int64_t n = skiff_tensor_numel(X);
    const float *x = X->data;
    /* The range always holds 0, so min <= 0 <= max; NaNs are left out. */
    float mn = 0.0f, mx = 0.0f;
    int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && n > 65536) reduction(min          \
                                                                                      : mn)        \
    reduction(max                                                                                  \
              : mx)
    for (int64_t i = 0; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    /* As onnxruntime: an all-zero x (max == min) gets scale 1, not 0 / 0. */
    float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
    int32_t zp = sat_f(nearbyintf(0.0f - mn / scale), 0, 255, 0);
    const int64_t one = 1;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_UINT8, X->ndim, X->dims, &st);
    skiff_tensor_t *Ys = Y ? skiff__kctx_output(ctx, 1, SKIFF_DTYPE_FLOAT32, 0, &one, &st) : NULL;
    skiff_tensor_t *Yz = Ys ? skiff__kctx_output(ctx, 2, SKIFF_DTYPE_UINT8, 0, &one, &st) : NULL;
    if (!Yz)
        return st;
    *(float *)Ys->data = scale;
    *(uint8_t *)Yz->data = (uint8_t)zp;
    uint8_t *y = Y->data;
#pragma omp parallel for num_threads(threads) if (threads > 1 && n > 65536)
    for (int64_t i = 0; i < n; i++)
        y[i] = (uint8_t)sat_f(nearbyintf(x[i] / scale) + (float)zp, 0, 255, zp);
    return NULL;
}

/* ---- MatMulInteger, QLinearMatMul ---- */

/* The shapes of one integer matmul (numpy matmul rules, as MatMul). */
typedef struct qmm_shape {
    int64_t M, N, K;
    int nbatch;
    int64_t batch[SKIFF_MAX_DIMS];
    int64_t nbt;                                    /* output matrices */
    int64_t sa[SKIFF_MAX_DIMS], sb[SKIFF_MAX_DIMS]; /* matrix strides, 0 broadcast */
    int64_t n_mat_a, n_mat_b;                       /* matrices in A, B */
    int yn;
    int64_t yd[SKIFF_MAX_DIMS];
} qmm_shape;

static skiff_status_t *qmm_shapes(const skiff__kctx *ctx, const skiff_tensor_t *A,
                                  const skiff_tensor_t *B, const char *an, const char *bn,
                                  qmm_shape *q)
{
    char a[96], b[96];
    if (A->ndim < 1 || B->ndim < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs '%s' and '%s' must have rank >= 1, got %d and %d", an, bn,
                           A->ndim, B->ndim);
    q->M = A->ndim == 1 ? 1 : A->dims[A->ndim - 2];
    q->K = A->dims[A->ndim - 1];
    int64_t kb = B->ndim == 1 ? B->dims[0] : B->dims[B->ndim - 2];
    q->N = B->ndim == 1 ? 1 : B->dims[B->ndim - 1];
    if (q->K != kb)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs '%s' %s and '%s' %s: inner dims %lld and %lld differ", an,
                           skiff_shape_str(A->ndim, A->dims, a, sizeof(a)), bn,
                           skiff_shape_str(B->ndim, B->dims, b, sizeof(b)), (long long)q->K,
                           (long long)kb);
    int na = A->ndim > 2 ? A->ndim - 2 : 0, nb = B->ndim > 2 ? B->ndim - 2 : 0;
    if (!skiff__broadcast_shape(na, A->dims, nb, B->dims, &q->nbatch, q->batch))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "batch dims of '%s' %s and '%s' %s do not broadcast", an,
                           skiff_shape_str(A->ndim, A->dims, a, sizeof(a)), bn,
                           skiff_shape_str(B->ndim, B->dims, b, sizeof(b)));
    q->yn = 0;
    for (int i = 0; i < q->nbatch; i++)
        q->yd[q->yn++] = q->batch[i];
    if (A->ndim > 1)
        q->yd[q->yn++] = q->M;
    if (B->ndim > 1)
        q->yd[q->yn++] = q->N;
    if (q->yn > SKIFF_MAX_DIMS)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "output rank %d exceeds %d", q->yn,
                           SKIFF_MAX_DIMS);
    q->nbt = skiff_shape_numel(q->nbatch, q->batch);
    int64_t ma = 1, mb = 1;
    for (int i = q->nbatch - 1; i >= 0; i--) {
        int ia = i - (q->nbatch - na), ib = i - (q->nbatch - nb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        q->sa[i] = da == 1 ? 0 : ma;
        q->sb[i] = db == 1 ? 0 : mb;
        ma *= da;
        mb *= db;
    }
    q->n_mat_a = ma;
    q->n_mat_b = mb;
    return NULL;
}

/* Expands a zero point or scale of operand X to one value per row of every
 * matrix of X (rows: 'a', n_mat * M values) or per column (cols: 'b',
 * n_mat * N values). P may be per tensor (one element), 1-D per row
 * ([M]) / per column ([N]), or of X's rank with the reduced dim 1 and each
 * other dim X's or 1. Integers go to out_i, floats to out_f. */
static skiff_status_t *expand_param(const skiff__kctx *ctx, const skiff_tensor_t *P,
                                    const char *pname, const skiff_tensor_t *X, const char *xname,
                                    bool rows, int64_t n_mat, int64_t len, int32_t *out_i,
                                    float *out_f)
{
    /* X's shape as [matrices..., rows, cols] with the reduced dim set to 1. */
    int r = X->ndim < 2 ? 2 : X->ndim;
    int64_t xd[SKIFF_MAX_DIMS], pd[SKIFF_MAX_DIMS];
    for (int i = 0; i < r; i++)
        xd[i] = 1;
    for (int i = 0; i < X->ndim; i++)
        xd[r - X->ndim + i] = X->dims[i];
    if (X->ndim == 1 && !rows) { /* 1-D 'b' is a column [K, 1] */
        xd[r - 2] = X->dims[0];
        xd[r - 1] = 1;
    }
    xd[rows ? r - 1 : r - 2] = 1;
    bool ok = true;
    int64_t np = skiff_tensor_numel(P);
    for (int i = 0; i < r; i++)
        pd[i] = 1;
    if (np == 1) {
        /* per tensor */
    } else if (P->ndim == 1 && X->ndim >= 2 && P->dims[0] == len) {
        pd[rows ? r - 2 : r - 1] = len;
    } else if (P->ndim == X->ndim && X->ndim >= 2) {
        for (int i = 0; i < r; i++) {
            pd[i] = P->dims[i];
            ok = ok && (pd[i] == xd[i] || pd[i] == 1);
        }
    } else {
        ok = false;
    }
    if (!ok) {
        char a[96], b[96];
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': shape %s is neither a scalar nor per %s of '%s' %s "
                           "([%lld] or %s with 1 for the %s)",
                           pname, skiff_shape_str(P->ndim, P->dims, a, sizeof(a)),
                           rows ? "row" : "column", xname,
                           skiff_shape_str(X->ndim, X->dims, b, sizeof(b)), (long long)len,
                           rows ? "[..., M, 1]" : "[..., 1, N]", rows ? "columns" : "rows");
    }
    /* Walk X's matrices and their rows (cols) in order; P's index from its
     * own strides, 0 where P has 1. */
    int64_t ps[SKIFF_MAX_DIMS] = {0}, acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        ps[i] = pd[i] == 1 ? 0 : acc;
        acc *= pd[i];
    }
    const int vdim = rows ? r - 2 : r - 1; /* the dim that varies within a matrix */
    for (int64_t m = 0; m < n_mat; m++) {
        int64_t rem = m, off = 0;
        for (int i = r - 3; i >= 0; i--) {
            off += (rem % xd[i]) * ps[i];
            rem /= xd[i];
        }
        for (int64_t j = 0; j < len; j++) {
            int64_t pi = np == 1 ? 0 : off + j * ps[vdim];
            if (out_i)
                out_i[m * len + j] = (int32_t)skiff__tensor_get_i64(P, pi);
            else
                out_f[m * len + j] = (float)skiff__tensor_get_f64(P, pi);
        }
    }
    return NULL;
}

/* The requantization of QLinearMatMul; NULL for MatMulInteger. */
typedef struct qmm_requant {
    const float *sa, *sb; /* per row of A's matrices, per column of B's */
    float sy;
    int32_t zy, lo, hi;
    skiff_dtype_t ydt;
} qmm_requant;

/* Computes every output row: B (minus its zero points) as int32 in scratch
 * bq, then per row of A one pass over k, accumulating modulo 2^32. */
static void qmm_compute(const qmm_shape *q, const skiff_tensor_t *A, const int32_t *za,
                        const int32_t *bq, const qmm_requant *rq, void *y, int threads,
                        uint32_t *acc_all)
{
    const int64_t M = q->M, N = q->N, K = q->K, rows = q->nbt * M;
    const bool a_signed = A->dtype == SKIFF_DTYPE_INT8;
#pragma omp parallel for num_threads(threads) if (threads > 1 && rows * N * K > 65536)
    for (int64_t r = 0; r < rows; r++) {
        int64_t t = r / M, i = r % M, rem = t, ma = 0, mb = 0;
        for (int d = q->nbatch - 1; d >= 0; d--) {
            int64_t idx = rem % q->batch[d];
            rem /= q->batch[d];
            ma += idx * q->sa[d];
            mb += idx * q->sb[d];
        }
        uint32_t *acc = rq ? acc_all + r * N : (uint32_t *)y + r * N;
        memset(acc, 0, (size_t)N * sizeof(*acc));
        const int64_t arow = (ma * M + i) * K;
        const int32_t zai = za[ma * M + i];
        const int32_t *bm = bq + mb * K * N;
        for (int64_t k = 0; k < K; k++) {
            int32_t av = (a_signed ? (int32_t)((const int8_t *)A->data)[arow + k]
                                   : (int32_t)((const uint8_t *)A->data)[arow + k]) -
                         zai;
            if (av == 0)
                continue;
            const int32_t *brow = bm + k * N;
            for (int64_t j = 0; j < N; j++)
                acc[j] += (uint32_t)(av * brow[j]);
        }
        if (!rq)
            continue;
        const float sai = rq->sa[ma * M + i];
        const float *sbm = rq->sb + mb * N;
        for (int64_t j = 0; j < N; j++) {
            float mult = sai * sbm[j] / rq->sy;
            store_q(y, rq->ydt, r * N + j, requant((int32_t)acc[j], mult, rq->zy, rq->lo, rq->hi));
        }
    }
}

/* Shared by MatMulInteger (inputs A, B, a_zero_point?, b_zero_point?) and
 * QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp). */
static skiff_status_t *qmm_common(skiff__kctx *ctx, bool qlinear)
{
    const int ia = 0, ib = qlinear ? 3 : 1;
    const char *an = qlinear ? "a" : "A", *bn = qlinear ? "b" : "B";
    const char *zan = "a_zero_point";
    const skiff_tensor_t *A, *B;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, ia, an, &A)) || (st = skiff__kctx_input(ctx, ib, bn, &B)))
        return st;
    const skiff_tensor_t *ZA = skiff__kctx_opt(ctx, 2);
    const skiff_tensor_t *ZB = skiff__kctx_opt(ctx, qlinear ? 5 : 3);
    const skiff_tensor_t *SA = NULL, *SB = NULL, *SY = NULL, *ZY = NULL;
    if (qlinear) {
        if ((st = skiff__kctx_input(ctx, 1, "a_scale", &SA)) ||
            (st = skiff__kctx_input(ctx, 2, "a_zero_point", &ZA)) ||
            (st = skiff__kctx_input(ctx, 4, "b_scale", &SB)) ||
            (st = skiff__kctx_input(ctx, 5, "b_zero_point", &ZB)) ||
            (st = skiff__kctx_input(ctx, 6, "y_scale", &SY)) ||
            (st = skiff__kctx_input(ctx, 7, "y_zero_point", &ZY)))
            return st;
        if (!is_scale_type(SA->dtype))
            return skiff__kctx_bad_dtype(ctx, "a_scale", SA->dtype);
        if (!is_scale_type(SB->dtype))
            return skiff__kctx_bad_dtype(ctx, "b_scale", SB->dtype);
        if (!is_scale_type(SY->dtype))
            return skiff__kctx_bad_dtype(ctx, "y_scale", SY->dtype);
        if (!is_q8(ZY->dtype))
            return skiff__kctx_bad_dtype(ctx, "y_zero_point", ZY->dtype);
        if (skiff_tensor_numel(SY) != 1 || skiff_tensor_numel(ZY) != 1)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "inputs 'y_scale' and 'y_zero_point': expected one value each, "
                               "got %lld and %lld",
                               (long long)skiff_tensor_numel(SY),
                               (long long)skiff_tensor_numel(ZY));
    }
    if (!is_q8(A->dtype))
        return skiff__kctx_bad_dtype(ctx, an, A->dtype);
    if (!is_q8(B->dtype))
        return skiff__kctx_bad_dtype(ctx, bn, B->dtype);
    if (ZA && ZA->dtype != A->dtype)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected dtype %s (that of '%s'), got %s", zan,
                           skiff_dtype_name(A->dtype), an, skiff_dtype_name(ZA->dtype));
    if (ZB && ZB->dtype != B->dtype)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'b_zero_point': expected dtype %s (that of '%s'), got %s",
                           skiff_dtype_name(B->dtype), bn, skiff_dtype_name(ZB->dtype));
    qmm_shape q;
    if ((st = qmm_shapes(ctx, A, B, an, bn, &q)))
        return st;
    if ((st = skiff__kctx_cost(ctx, (double)q.nbt * (double)q.M * (double)q.N * (double)q.K)))
        return st;
    /* scratch: B as int32, per-row / per-column params, and (QLinear) the
     * int32 sums before requantization */
    const int64_t nra = q.n_mat_a * q.M, ncb = q.n_mat_b * q.N, nbq = skiff_tensor_numel(B);
    const int64_t nacc = qlinear ? q.nbt * q.M * q.N : 0;
    size_t o_za = skiff__page_up((size_t)nbq * 4), o_zb = o_za + skiff__page_up((size_t)nra * 4);
    size_t o_sa = o_zb + skiff__page_up((size_t)ncb * 4);
    size_t o_sb = o_sa + (qlinear ? skiff__page_up((size_t)nra * 4) : 0);
    size_t o_acc = o_sb + (qlinear ? skiff__page_up((size_t)ncb * 4) : 0);
    char *mem = skiff__kctx_scratch(ctx, o_acc + (size_t)nacc * 4 + 64);
    if (!mem)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for the %lld-element int32 copy of '%s'", (long long)nbq,
                           bn);
    int32_t *bq = (int32_t *)mem, *za = (int32_t *)(mem + o_za), *zb = (int32_t *)(mem + o_zb);
    float *sa = (float *)(mem + o_sa), *sb = (float *)(mem + o_sb);
    memset(za, 0, (size_t)nra * 4);
    memset(zb, 0, (size_t)ncb * 4);
    if ((ZA && (st = expand_param(ctx, ZA, zan, A, an, true, q.n_mat_a, q.M, za, NULL))) ||
        (ZB &&
         (st = expand_param(ctx, ZB, "b_zero_point", B, bn, false, q.n_mat_b, q.N, zb, NULL))))
        return st;
    if (qlinear &&
        ((st = expand_param(ctx, SA, "a_scale", A, an, true, q.n_mat_a, q.M, NULL, sa)) ||
         (st = expand_param(ctx, SB, "b_scale", B, bn, false, q.n_mat_b, q.N, NULL, sb))))
        return st;
    if (qlinear && (skiff_tensor_numel(SA) != skiff_tensor_numel(ZA) ||
                    skiff_tensor_numel(SB) != skiff_tensor_numel(ZB)))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "each scale and its zero point must have the same shape: 'a_scale' "
                           "%lld / 'a_zero_point' %lld, 'b_scale' %lld / 'b_zero_point' %lld "
                           "values",
                           (long long)skiff_tensor_numel(SA), (long long)skiff_tensor_numel(ZA),
                           (long long)skiff_tensor_numel(SB), (long long)skiff_tensor_numel(ZB));
    skiff_dtype_t ydt = qlinear ? ZY->dtype : SKIFF_DTYPE_INT32;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, ydt, q.yn, q.yd, &st);
    if (!Y)
        return st;
    if (Y->nbytes == 0)
        return NULL;
    /* B minus its per-column zero point, once. */
    for (int64_t m = 0; m < q.n_mat_b; m++)
        for (int64_t k = 0; k < q.K; k++)
            for (int64_t j = 0; j < q.N; j++) {
                int64_t e = (m * q.K + k) * q.N + j;
                int32_t bv = B->dtype == SKIFF_DTYPE_INT8 ? ((const int8_t *)B->data)[e]
                                                          : ((const uint8_t *)B->data)[e];
                bq[e] = bv - zb[m * q.N + j];
            }
    qmm_requant rq = {.sa = sa, .sb = sb, .ydt = ydt};
    if (qlinear) {
        rq.sy = (float)skiff__tensor_get_f64(SY, 0);
        rq.zy = (int32_t)skiff__tensor_get_i64(ZY, 0);
        qrange(ydt, &rq.lo, &rq.hi);
    }
    qmm_compute(&q, A, za, bq, qlinear ? &rq : NULL, Y->data, skiff__kctx_threads(ctx),
                (uint32_t *)(mem + o_acc));
    return NULL;
}

static skiff_status_t *run_matmul_integer(skiff__kctx *ctx) { return qmm_common(ctx, false); }

static skiff_status_t *run_qlinear_matmul(skiff__kctx *ctx) { return qmm_common(ctx, true); }

#define QDQ_CL (SKIFF_OP_CL_X | SKIFF_OP_CL_Y | SKIFF_OP_CL_SAME | SKIFF_OP_CL_SCALAR)

const skiff__op skiff__ops_quant[] = {
    /* elementwise with one scale: either layout (the int8 convolutions'
     * channels-last tensors pass through without reorders) */
    {.type = "QuantizeLinear", .min_opset = 10, .run = run_quantize, .flags = QDQ_CL},
    {.type = "DequantizeLinear", .min_opset = 10, .run = run_dequantize, .flags = QDQ_CL},
    {.type = "DynamicQuantizeLinear", .min_opset = 11, .run = run_dynamic_quantize},
    {.type = "MatMulInteger", .min_opset = 10, .run = run_matmul_integer},
    {.type = "QLinearMatMul", .min_opset = 10, .run = run_qlinear_matmul},
    {.type = NULL},
};
