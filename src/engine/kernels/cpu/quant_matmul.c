/* quant_matmul.c - int8 products by constant int8 weights on oneDNN (skiff
 * QMatMul, made by the int8 pass from a QDQ model's
 *   DequantizeLinear(a_q) -> MatMul(., DequantizeLinear(b_q)) [-> QuantizeLinear]
 * with --precision int8).
 *
 * and from a Gemm by int8 weights the same way (transB=1: b is [N, K]; its
 * float C the bias).
 *
 * Inputs in QLinearMatMul's order: a (uint8 or int8, [..., M, K]), a_scale,
 * a_zero_point, b (int8 [K, N], a constant), b_scale (one or N), b_zero_point
 * (zeros), and y_scale, y_zero_point when a QuantizeLinear follows (the
 * result is then quantized; without them it is float32); input 8, a Gemm's
 * C, a float32 bias [N]. The rows of a are
 * one matrix [R, K] for oneDNN's int8 matmul: the accumulator is exact
 * int32, the result is acc * a_scale * b_scale[n] (/ y_scale, + y_zero_point,
 * rounded to nearest even and saturated), as QLinearMatMul defines. b is
 * packed once (with oneDNN's zero-point compensation) through the weight
 * store; one primitive per row count, cached per context. */
#include <string.h>

#include "dnnl_util.h"
#include "quant_int.h"

typedef struct qmm_prep {
    skiff__wpack wp;
    int64_t K, N;
    dnnl_data_type_t a_dt, y_dt; /* y_dt f32 when the result stays float */
    int32_t az, yz;
    int n_scales; /* 1 or N */
    float *scales;
    bool tb;     /* b stored [N, K] (a Gemm's transB) */
    float *bias; /* [N] in the accumulator's units, or NULL */
} qmm_prep;

/* A constant uint8 or int8 scalar. */
static bool q8(const skiff_tensor_t *t) { return is_u8s8(t) && skiff_tensor_numel(t) == 1; }

const char *skiff__qmatmul_unfit(const skiff__node *n, const skiff__graph *g)
{
    const skiff_tensor_t *AS = const_in(g, n, 1), *AZ = const_in(g, n, 2), *B = const_in(g, n, 3);
    const skiff_tensor_t *BS = const_in(g, n, 4), *BZ = const_in(g, n, 5);
    if (!B || B->dtype != SKIFF_DTYPE_INT8 || B->ndim != 2)
        return "b is not a constant int8 matrix";
    /* a Gemm's attributes (a MatMul has none: the defaults) */
    if (skiff__attr_int(n, "transA", 0) != 0 || skiff__attr_float(n, "alpha", 1.f) != 1.f ||
        skiff__attr_float(n, "beta", 1.f) != 1.f)
        return "a Gemm with transA, or alpha or beta other than 1";
    int64_t N = B->dims[skiff__attr_int(n, "transB", 0) ? 0 : 1];
    if (n->n_in > 8 && n->in[8] >= 0) {
        const skiff_tensor_t *C = const_in(g, n, 8);
        if (!C || C->dtype != SKIFF_DTYPE_FLOAT32 || skiff_tensor_numel(C) != N || C->ndim > 2 ||
            C->dims[C->ndim - 1] != N)
            return "the bias is not a constant float32 row of one value per column";
    }
    if (!good_scales(AS, 1))
        return "a_scale is not a constant positive scalar";
    if (!q8(AZ))
        return "a_zero_point is not a constant uint8 or int8 scalar";
    if (!good_scales(BS, N))
        return "b_scale is not a constant positive scale (one, or one per column)";
    if (n->n_in > 5 && n->in[5] >= 0) {
        if (!BZ || BZ->dtype != SKIFF_DTYPE_INT8)
            return "b_zero_point is not a constant int8 tensor";
        for (int64_t i = 0; i < skiff_tensor_numel(BZ); i++)
            if (((const int8_t *)BZ->data)[i] != 0)
                return "b_zero_point is not 0 (asymmetric weights)";
    }
    bool y_q = n->n_in > 6 && n->in[6] >= 0;
    if (y_q) {
        const skiff_tensor_t *YS = const_in(g, n, 6), *YZ = const_in(g, n, 7);
        if (!good_scales(YS, 1) || !q8(YZ))
            return "y_scale or y_zero_point is not a constant scalar";
    }
    if (n->n_act || n->sum_input >= 0)
        return "fused activations or sum";
    return NULL;
}

static skiff_status_t *qmm_prepare(skiff__node *node, const skiff__graph *graph)
{
    const char *why = skiff__qmatmul_unfit(node, graph);
    if (why)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG, "int8 product: %s", why);
    const skiff_tensor_t *AS = const_in(graph, node, 1), *AZ = const_in(graph, node, 2);
    const skiff_tensor_t *B = const_in(graph, node, 3), *BS = const_in(graph, node, 4);
    bool y_q = node->n_in > 6 && node->in[6] >= 0;
    const skiff_tensor_t *YS = y_q ? const_in(graph, node, 6) : NULL;
    const skiff_tensor_t *YZ = y_q ? const_in(graph, node, 7) : NULL;
    qmm_prep *p = skiff__calloc(1, sizeof(*p));
    int64_t nbs = skiff_tensor_numel(BS);
    float *sc = p ? skiff__malloc(sizeof(float) * (size_t)nbs) : NULL;
    if (!p || !sc) {
        skiff__free(p);
        skiff__free(sc);
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    p->tb = skiff__attr_int(node, "transB", 0) != 0;
    p->K = B->dims[p->tb ? 1 : 0];
    p->N = B->dims[p->tb ? 0 : 1];
    p->a_dt = AZ->dtype == SKIFF_DTYPE_UINT8 ? dnnl_u8 : dnnl_s8;
    p->az = (int32_t)skiff__tensor_get_i64(AZ, 0);
    p->y_dt = !y_q ? dnnl_f32 : YZ->dtype == SKIFF_DTYPE_UINT8 ? dnnl_u8 : dnnl_s8;
    p->yz = y_q ? (int32_t)skiff__tensor_get_i64(YZ, 0) : 0;
    float as = ((const float *)AS->data)[0], ys = y_q ? ((const float *)YS->data)[0] : 1.f;
    for (int64_t i = 0; i < nbs; i++)
        sc[i] = as * ((const float *)BS->data)[i] / ys;
    p->n_scales = (int)nbs;
    p->scales = sc;
    const skiff_tensor_t *C = node->n_in > 8 && node->in[8] >= 0 ? const_in(graph, node, 8) : NULL;
    if (C) { /* oneDNN adds the bias before the output scale: in acc units */
        p->bias = skiff__malloc(sizeof(float) * (size_t)p->N);
        if (!p->bias) {
            skiff__free(sc);
            skiff__free(p);
            return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        for (int64_t j = 0; j < p->N; j++)
            p->bias[j] =
                ((const float *)C->data)[j] / (as * ((const float *)BS->data)[nbs > 1 ? j : 0]);
    }
    skiff__wpack_init(&p->wp);
    /* the int8 weights stay the model's: their packed layouts carry oneDNN's
     * compensation terms, not a layout another can be derived from */
    skiff__wpack_source(&p->wp, node, graph, 3, false);
    node->prep = p;
    return NULL;
}

static void qmm_prep_free(void *prep)
{
    qmm_prep *p = prep;
    if (!p)
        return;
    skiff__wpack_destroy(&p->wp);
    skiff__free(p->scales);
    skiff__free(p->bias);
    skiff__free(p);
}

static size_t qmm_prep_bytes(void *prep, size_t *out_source)
{
    qmm_prep *p = prep;
    return skiff__wpack_bytes(&p->wp, out_source);
}

typedef struct qmm_entry {
    dnnl_primitive_t prim;
    dnnl_memory_t m_a, m_b, m_y, m_bias, m_scratch, m_az, m_yz;
    void *wei_buf;
    size_t scratch_size;
} qmm_entry;

static void qmm_entry_free(void *e_)
{
    qmm_entry *e = e_;
    if (!e)
        return;
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    dnnl_memory_t mems[] = {e->m_a, e->m_b, e->m_y, e->m_bias, e->m_scratch, e->m_az, e->m_yz};
    for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    skiff__free(e->wei_buf);
    skiff__free(e);
}

#define TRY(call)                                                                                  \
    do {                                                                                           \
        s = (call);                                                                                \
        if (s != dnnl_success)                                                                     \
            goto done;                                                                             \
    } while (0)

static dnnl_status_t qmm_build(qmm_prep *p, int64_t R, qmm_entry *e, skiff_status_t **st)
{
    dnnl_engine_t eng = skiff__dnnl_engine();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t a, b_user, b_any, y, zmd, bias;
    dnnl_dims_t ad = {R, p->K}, bd = {p->K, p->N}, yd = {R, p->N}, one = {1}, cd = {1, p->N};
    dnnl_status_t s;
    *st = NULL;
    TRY(dnnl_memory_desc_init_by_tag(&a, 2, ad, p->a_dt, dnnl_ab));
    TRY(dnnl_memory_desc_init_by_tag(&b_user, 2, bd, dnnl_s8, p->tb ? dnnl_ba : dnnl_ab));
    TRY(dnnl_memory_desc_init_by_tag(&bias, 2, cd, dnnl_f32, dnnl_ab));
    TRY(dnnl_memory_desc_init_by_tag(&b_any, 2, bd, dnnl_s8, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&y, 2, yd, p->y_dt, dnnl_ab));
    TRY(dnnl_memory_desc_init_by_tag(&zmd, 1, one, dnnl_s32, dnnl_a));
    TRY(dnnl_primitive_attr_create(&attr));
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    TRY(dnnl_primitive_attr_set_output_scales(attr, p->n_scales, p->n_scales > 1 ? 1 << 1 : 0,
                                              p->scales));
    const int32_t rt = DNNL_RUNTIME_S32_VAL;
    if (p->az)
        TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &rt));
    if (p->yz && p->y_dt != dnnl_f32)
        TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &rt));
    dnnl_matmul_desc_t md;
    TRY(dnnl_matmul_desc_init(&md, &a, &b_any, p->bias ? &bias : NULL, &y));
    TRY(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    void *packed = skiff__wpack_or_private(&p->wp, false, wei_md, &b_user, &e->wei_buf, &s, st);
    if (!packed)
        goto done;
    TRY(dnnl_memory_create(&e->m_b, wei_md, eng, packed));
    TRY(dnnl_memory_create(&e->m_a, &a, eng, DNNL_MEMORY_NONE));
    TRY(dnnl_memory_create(&e->m_y, &y, eng, DNNL_MEMORY_NONE));
    if (p->bias)
        TRY(dnnl_memory_create(&e->m_bias, &bias, eng, p->bias));
    if (p->az)
        TRY(dnnl_memory_create(&e->m_az, &zmd, eng, (void *)&p->az));
    if (p->yz && p->y_dt != dnnl_f32)
        TRY(dnnl_memory_create(&e->m_yz, &zmd, eng, (void *)&p->yz));
    TRY(skiff__dnnl_prim_create(pd, &e->prim, &e->m_scratch, &e->scratch_size));
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return s;
}

static skiff_status_t *qmm_run(skiff__kctx *ctx)
{
    qmm_prep *p = ctx->node->prep;
    const skiff_tensor_t *A = ctx->n_in > 0 ? ctx->in[0] : NULL;
    if (!A)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'a' is required");
    skiff_dtype_t adt = p->a_dt == dnnl_u8 ? SKIFF_DTYPE_UINT8 : SKIFF_DTYPE_INT8;
    if (A->dtype != adt)
        return skiff__kctx_bad_dtype(ctx, "a", A->dtype);
    if (A->ndim < 1 || A->dims[A->ndim - 1] != p->K) {
        char b[96];
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'a': %s does not end in b's %lld rows",
                           skiff_shape_str(A->ndim, A->dims, b, sizeof(b)), (long long)p->K);
    }
    int64_t yd[SKIFF_MAX_DIMS];
    int yn = A->ndim == 1 ? 1 : A->ndim;
    for (int i = 0; i + 1 < A->ndim; i++)
        yd[i] = A->dims[i];
    yd[yn - 1] = p->N;
    skiff_dtype_t ydt = p->y_dt == dnnl_f32  ? SKIFF_DTYPE_FLOAT32
                        : p->y_dt == dnnl_u8 ? SKIFF_DTYPE_UINT8
                                             : SKIFF_DTYPE_INT8;
    skiff_status_t *st = NULL;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, ydt, yn, yd, &st);
    if (!Y)
        return st;
    int64_t R = 1; /* the rows: every dim of a but the last */
    for (int i = 0; i + 1 < A->ndim; i++)
        R *= A->dims[i];
    if (R == 0 || p->N == 0)
        return NULL;
    if (p->K == 0 && p->bias)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "int8 Gemm with no columns in 'a'");
    if (p->K == 0) { /* an empty sum: the result of 0 */
        float z = (float)p->yz;
        for (int64_t i = 0; i < R * p->N; i++) {
            if (ydt == SKIFF_DTYPE_FLOAT32)
                ((float *)Y->data)[i] = 0.f;
            else if (ydt == SKIFF_DTYPE_UINT8)
                ((uint8_t *)Y->data)[i] = (uint8_t)z;
            else
                ((int8_t *)Y->data)[i] = (int8_t)z;
        }
        return NULL;
    }
    if ((st = skiff__kctx_cost(ctx, (double)R * (double)p->K * (double)p->N)))
        return st;
    skiff__shape_key key = {0};
    if (!skiff__key_add(&key, R))
        return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "cache key overflow");
    skiff__pcache *cache = skiff__pcache_get(ctx, qmm_entry_free, &st);
    if (!cache)
        return st;
    qmm_entry *e = skiff__pcache_find(cache, &key);
    if (!e) {
        e = skiff__calloc(1, sizeof(*e));
        if (!e) {
            skiff__pcache_release(cache);
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        dnnl_status_t s = qmm_build(p, R, e, &st);
        if (s != dnnl_success) {
            qmm_entry_free(e);
            skiff__pcache_release(cache);
            return st ? st : skiff__dnnl_err(ctx, s, "int8 matmul setup");
        }
        skiff__pcache_put(cache, &key, e);
    }
    dnnl_status_t s = skiff__dnnl_set_scratch(ctx, e->m_scratch, e->scratch_size);
    if (s == dnnl_success)
        s = dnnl_memory_set_data_handle(e->m_a, A->data);
    if (s == dnnl_success)
        s = dnnl_memory_set_data_handle(e->m_y, Y->data);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[7];
        int n = 0;
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->m_a};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->m_b};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->m_y};
        if (e->m_bias)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->m_bias};
        if (e->m_scratch)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->m_scratch};
        if (e->m_az)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, e->m_az};
        if (e->m_yz)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, e->m_yz};
        s = dnnl_primitive_execute(e->prim, cache->stream, n, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(cache->stream);
    skiff__pcache_release(cache);
    return s == dnnl_success ? NULL : skiff__dnnl_err(ctx, s, "int8 matmul");
}

const skiff__op skiff__ops_quant_matmul[] = {
    {.type = "QMatMul",
     .domain = SKIFF_DOMAIN_SKIFF,
     .min_opset = 1,
     .prepare = qmm_prepare,
     .run = qmm_run,
     .prep_free = qmm_prep_free,
     .prep_bytes = qmm_prep_bytes,
     .cache_free = skiff__pcache_free},
    {.type = NULL},
};
