/* gemm.c - Gemm and MatMul.
 *
 * float32 goes to oneDNN's dnnl_sgemm: it needs no primitive creation, so
 * there is nothing to cache, and its JIT kernels pick their own blocking
 * per call. MatMul folds the batch into M when B is shared by every batch
 * (the common "activations x weights" case), so one big GEMM replaces many
 * small ones; otherwise small per-batch GEMMs run in parallel over the
 * batch. Other numeric types, and float32 products of at most
 * SMALL_GEMM_MACS multiply-adds, use plain loops in i-k-j order, which the
 * compiler vectorises along the output row. A constant float32 B takes the
 * packed-weights path first (matmul_packed.c). */
#include <string.h>

#include "dnnl_util.h"

/* ---- plain C loops: other types, and tiny float32 products ---- */

#define SMALL_GEMM_MACS 1024

/* The same loops without OpenMP: even a parallel region whose `if` is
 * false costs about a microsecond to enter, several times the product. */
static void gemm_small_f32(int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha,
                           const float *a, const float *b, float *y)
{
    for (int64_t i = 0; i < M; i++) {
        float *row = y + i * N;
        for (int64_t k = 0; k < K; k++) {
            float av = alpha * (ta ? a[k * M + i] : a[i * K + k]);
            for (int64_t j = 0; j < N; j++)
                row[j] += av * (tb ? b[j * K + k] : b[k * N + j]);
        }
    }
}

#define GEMM_PLAIN(T, ACC)                                                                         \
    static void gemm_plain_##T(int64_t M, int64_t N, int64_t K, bool ta, bool tb, ACC alpha,       \
                               const T *a, const T *b, T *y, int threads)                          \
    {                                                                                              \
        _Pragma("omp parallel for num_threads(threads) if (M * N * K > 32768)") for (int64_t i =   \
                                                                                         0;        \
                                                                                     i < M; i++)   \
        {                                                                                          \
            T *row = y + i * N;                                                                    \
            for (int64_t k = 0; k < K; k++) {                                                      \
                ACC av = alpha * (ACC)(ta ? a[k * M + i] : a[i * K + k]);                          \
                if (tb) {                                                                          \
                    for (int64_t j = 0; j < N; j++)                                                \
                        row[j] += (T)(av * (ACC)b[j * K + k]);                                     \
                } else {                                                                           \
                    const T *brow = b + k * N;                                                     \
                    for (int64_t j = 0; j < N; j++)                                                \
                        row[j] += (T)(av * (ACC)brow[j]);                                          \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

typedef double f64;
GEMM_PLAIN(f64, double)
GEMM_PLAIN(int32_t, int64_t)
GEMM_PLAIN(int64_t, int64_t)
GEMM_PLAIN(uint32_t, uint64_t)
GEMM_PLAIN(uint64_t, uint64_t)

/* y (zeroed or holding beta*C) += alpha * op(a) x op(b) */
static skiff_status_t *gemm_any(const skiff__kctx *ctx, skiff_dtype_t dt, int64_t M, int64_t N,
                                int64_t K, bool ta, bool tb, float alpha, const void *a,
                                const void *b, void *y, int threads)
{
    if (M == 0 || N == 0 || K == 0)
        return NULL;
    switch (dt) {
    case SKIFF_DTYPE_FLOAT32: {
        /* A tiny product (a linear regression's 13 x 1) costs less in plain
         * loops than dnnl_sgemm's dispatch, about 2,000 instructions. */
        if (M * N * K <= SMALL_GEMM_MACS) {
            gemm_small_f32(M, N, K, ta, tb, alpha, a, b, y);
            return NULL;
        }
        dnnl_status_t s = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, a, ta ? M : K,
                                     b, tb ? K : N, 1.f, y, N);
        return s == dnnl_success ? NULL : skiff__dnnl_err(ctx, s, "sgemm");
    }
    case SKIFF_DTYPE_FLOAT64: gemm_plain_f64(M, N, K, ta, tb, alpha, a, b, y, threads); return NULL;
    case SKIFF_DTYPE_INT32:
        gemm_plain_int32_t(M, N, K, ta, tb, (int64_t)alpha, a, b, y, threads);
        return NULL;
    case SKIFF_DTYPE_INT64:
        gemm_plain_int64_t(M, N, K, ta, tb, (int64_t)alpha, a, b, y, threads);
        return NULL;
    case SKIFF_DTYPE_UINT32:
        gemm_plain_uint32_t(M, N, K, ta, tb, (uint64_t)alpha, a, b, y, threads);
        return NULL;
    case SKIFF_DTYPE_UINT64:
        gemm_plain_uint64_t(M, N, K, ta, tb, (uint64_t)alpha, a, b, y, threads);
        return NULL;
    default:
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "dtype %s is not implemented",
                           skiff_dtype_name(dt));
    }
}

static bool gemm_dtype_ok(skiff_dtype_t dt)
{
    return dt == SKIFF_DTYPE_FLOAT32 || dt == SKIFF_DTYPE_FLOAT64 || dt == SKIFF_DTYPE_INT32 ||
           dt == SKIFF_DTYPE_INT64 || dt == SKIFF_DTYPE_UINT32 || dt == SKIFF_DTYPE_UINT64;
}

/* ---- Gemm ---- */

/* Y[i,j] = beta * C[broadcast(i,j)] */
#define FILL_C(T)                                                                                  \
    do {                                                                                           \
        T *yy = Y->data;                                                                           \
        const T *cc = Cc->data;                                                                    \
        T bt = (T)beta;                                                                            \
        for (int64_t i = 0; i < M; i++)                                                            \
            for (int64_t j = 0; j < N; j++)                                                        \
                yy[i * N + j] = bt * cc[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];               \
    } while (0)

static skiff_status_t *gemm_run(skiff__kctx *ctx)
{
    const skiff__node *node = ctx->node;
    const skiff_tensor_t *A = ctx->n_in > 0 ? ctx->in[0] : NULL;
    const skiff_tensor_t *Bm = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const skiff_tensor_t *Cc = ctx->n_in > 2 && node->n_in > 2 ? ctx->in[2] : NULL;
    if (!A || !Bm)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs 'A' and 'B' are required");
    if (!gemm_dtype_ok(A->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'A': dtype %s is not implemented",
                           skiff_dtype_name(A->dtype));
    if (Bm->dtype != A->dtype || (Cc && Cc->dtype != A->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs must share dtype %s, got %s",
                           skiff_dtype_name(A->dtype),
                           skiff_dtype_name(Bm->dtype != A->dtype ? Bm->dtype : Cc->dtype));
    if (A->ndim != 2 || Bm->ndim != 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs 'A' and 'B': expected rank 2, got %d and %d", A->ndim, Bm->ndim);
    bool ta = skiff__attr_int(node, "transA", 0) != 0;
    bool tb = skiff__attr_int(node, "transB", 0) != 0;
    float alpha = skiff__attr_float(node, "alpha", 1.f);
    float beta = skiff__attr_float(node, "beta", 1.f);
    int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    int64_t Kb = tb ? Bm->dims[1] : Bm->dims[0], N = tb ? Bm->dims[0] : Bm->dims[1];
    if (K != Kb)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inner dims differ: op(A) is [%lld,%lld], op(B) is [%lld,%lld]",
                           (long long)M, (long long)K, (long long)Kb, (long long)N);
    int64_t cm = 1, cn = 1;
    if (Cc) {
        if (Cc->ndim > 2)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'C': expected rank <= 2, got %d",
                               Cc->ndim);
        cn = Cc->ndim >= 1 ? Cc->dims[Cc->ndim - 1] : 1;
        cm = Cc->ndim == 2 ? Cc->dims[0] : 1;
        if ((cn != 1 && cn != N) || (cm != 1 && cm != M))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'C': shape does not broadcast to [%lld,%lld]", (long long)M,
                               (long long)N);
        if (cm * cn == 0 && M * N != 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'C': empty");
    }
    int64_t yd[2] = {M, N};
    skiff_status_t *st = skiff__kctx_cost(ctx, (double)M * (double)N * (double)K);
    if (st)
        return st;
    if (!ta && alpha == 1.f && (!Cc || beta == 1.f || beta == 0.f)) {
        bool done;
        st = skiff__nn_gemm_packed(ctx, A, Bm, beta == 0.f ? NULL : Cc, M, N, K, tb, 2, yd, &done);
        if (done)
            return st;
    }
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, A->dtype, 2, yd, &st);
    if (!Y)
        return st;
    if (M * N == 0)
        return NULL;
    const void *bd = skiff__nn_gemm_b(ctx, Bm, &st);
    if (st)
        return st;
    if (Cc && beta != 0.f) {
        switch (A->dtype) {
        case SKIFF_DTYPE_FLOAT32: FILL_C(float); break;
        case SKIFF_DTYPE_FLOAT64: FILL_C(double); break;
        case SKIFF_DTYPE_INT32: FILL_C(int32_t); break;
        case SKIFF_DTYPE_INT64: FILL_C(int64_t); break;
        case SKIFF_DTYPE_UINT32: FILL_C(uint32_t); break;
        case SKIFF_DTYPE_UINT64: FILL_C(uint64_t); break;
        default: break;
        }
    } else {
        memset(Y->data, 0, Y->nbytes);
    }
    st = gemm_any(ctx, A->dtype, M, N, K, ta, tb, alpha, A->data, bd, Y->data, ctx->threads);
    if (st)
        return st;
    return skiff__nn_epilogue(ctx, Y);
}

/* ---- MatMul ---- */

static skiff_status_t *matmul_run(skiff__kctx *ctx)
{
    const skiff_tensor_t *A = ctx->n_in > 0 ? ctx->in[0] : NULL;
    const skiff_tensor_t *Bm = ctx->n_in > 1 ? ctx->in[1] : NULL;
    if (!A || !Bm)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs 'A' and 'B' are required");
    if (!gemm_dtype_ok(A->dtype))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'A': dtype %s is not implemented",
                           skiff_dtype_name(A->dtype));
    if (Bm->dtype != A->dtype)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'B': expected dtype %s, got %s",
                           skiff_dtype_name(A->dtype), skiff_dtype_name(Bm->dtype));
    if (A->ndim < 1 || Bm->ndim < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs must have rank >= 1, got %d and %d",
                           A->ndim, Bm->ndim);
    /* 1-D operands: A becomes [1,K], B becomes [K,1]; the dim is removed after */
    int64_t M = A->ndim == 1 ? 1 : A->dims[A->ndim - 2];
    int64_t K = A->dims[A->ndim - 1];
    int64_t Kb = Bm->ndim == 1 ? Bm->dims[0] : Bm->dims[Bm->ndim - 2];
    int64_t N = Bm->ndim == 1 ? 1 : Bm->dims[Bm->ndim - 1];
    if (K != Kb) {
        char a[96], b[96];
        return skiff__kerr(
            ctx, SKIFF_CODE_INVALID_ARG, "shapes %s and %s: inner dims %lld and %lld differ",
            skiff_shape_str(A->ndim, A->dims, a, sizeof(a)),
            skiff_shape_str(Bm->ndim, Bm->dims, b, sizeof(b)), (long long)K, (long long)Kb);
    }
    int na = A->ndim > 2 ? A->ndim - 2 : 0, nb = Bm->ndim > 2 ? Bm->ndim - 2 : 0;
    int nbatch;
    int64_t batch[SKIFF_MAX_DIMS];
    if (!skiff__broadcast_shape(na, A->dims, nb, Bm->dims, &nbatch, batch)) {
        char a[96], b[96];
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "batch dims of %s and %s do not broadcast",
                           skiff_shape_str(A->ndim, A->dims, a, sizeof(a)),
                           skiff_shape_str(Bm->ndim, Bm->dims, b, sizeof(b)));
    }
    int64_t yd[SKIFF_MAX_DIMS + 2];
    int yn = 0;
    for (int i = 0; i < nbatch; i++)
        yd[yn++] = batch[i];
    if (A->ndim > 1)
        yd[yn++] = M;
    if (Bm->ndim > 1)
        yd[yn++] = N;
    if (yn > SKIFF_MAX_DIMS)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "output rank %d exceeds %d", yn,
                           SKIFF_MAX_DIMS);
    skiff_status_t *st = skiff__kctx_cost(ctx, (double)skiff_shape_numel(nbatch, batch) *
                                                   (double)M * (double)N * (double)K);
    if (st)
        return st;
    int64_t nbt = skiff_shape_numel(nbatch, batch);
    size_t es = skiff_dtype_size(A->dtype);
    /* per-batch element offsets of A and B, broadcast dims stride 0 */
    int64_t sa[SKIFF_MAX_DIMS], sb[SKIFF_MAX_DIMS];
    int64_t acc_a = M * K, acc_b = K * N;
    bool b_shared = true, a_full = true;
    for (int i = nbatch - 1; i >= 0; i--) {
        int ia = i - (nbatch - na), ib = i - (nbatch - nb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? Bm->dims[ib] : 1;
        sa[i] = da == 1 ? 0 : acc_a;
        sb[i] = db == 1 ? 0 : acc_b;
        acc_a *= da;
        acc_b *= db;
        if (db != 1)
            b_shared = false;
        if (da != batch[i])
            a_full = false;
    }
    if (b_shared && a_full && Bm->ndim == 2) {
        bool done;
        st = skiff__nn_gemm_packed(ctx, A, Bm, NULL, M * nbt, N, K, false, yn, yd, &done);
        if (done)
            return st;
    }
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, A->dtype, yn, yd, &st);
    if (!Y)
        return st;
    if (Y->nbytes == 0)
        return NULL;
    const void *bd = skiff__nn_gemm_b(ctx, Bm, &st);
    if (st)
        return st;
    memset(Y->data, 0, Y->nbytes);
    if (b_shared && a_full) {
        /* every batch multiplies by the same B: one GEMM with M * batches rows */
        st = gemm_any(ctx, A->dtype, M * nbt, N, K, false, false, 1.f, A->data, bd, Y->data,
                      ctx->threads);
    } else {
        bool par = nbt >= 2 && M * N * K <= 256 * 256 * 64;
        int threads = ctx->threads;
        const char *ab = A->data, *bb = bd;
        char *ybase = Y->data;
        skiff_status_t *err = NULL;
#pragma omp parallel for num_threads(threads) if (par) schedule(dynamic)
        for (int64_t t = 0; t < nbt; t++) {
            int64_t rem = t, oa = 0, ob = 0;
            for (int i = nbatch - 1; i >= 0; i--) {
                int64_t idx = rem % batch[i];
                rem /= batch[i];
                oa += idx * sa[i];
                ob += idx * sb[i];
            }
            skiff_status_t *e = gemm_any(ctx, A->dtype, M, N, K, false, false, 1.f, ab + oa * es,
                                         bb + ob * es, ybase + t * M * N * es, par ? 1 : threads);
            if (e) {
#pragma omp critical(skiff_matmul_err)
                {
                    if (!err)
                        err = e;
                    else
                        skiff_status_free(e);
                }
            }
        }
        st = err;
    }
    if (st)
        return st;
    return skiff__nn_epilogue(ctx, Y);
}

/* ---- table ---- */

/* prepare and prep_free are the packed-weights path's (matmul_packed.c). */
#define FUSES (SKIFF_OP_FUSES_ACT | SKIFF_OP_FUSES_SUM)

const skiff__op skiff__ops_gemm[] = {
    {.type = "Gemm",
     .min_opset = 1,
     .prepare = skiff__nn_gemm_prepare,
     .run = gemm_run,
     .prep_free = skiff__nn_gemm_prep_free,
     .prep_bytes = skiff__nn_gemm_prep_bytes,
     .cache_free = skiff__pcache_free,
     .flags = FUSES},
    {.type = "MatMul",
     .min_opset = 1,
     .prepare = skiff__nn_gemm_prepare,
     .run = matmul_run,
     .prep_free = skiff__nn_gemm_prep_free,
     .prep_bytes = skiff__nn_gemm_prep_bytes,
     .cache_free = skiff__pcache_free,
     .flags = FUSES},
    {.type = NULL},
};
