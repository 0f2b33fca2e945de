/* matmul_packed.c - Gemm and MatMul by a constant float32 matrix.
 *
 * Most Gemm and MatMul nodes in real models multiply activations by a
 * weight matrix that never changes. dnnl_sgemm (gemm.c) repacks that
 * matrix into its panel layout on every call; here a oneDNN matmul
 * primitive reads it packed once, at the first run, into the layout the
 * primitive prefers (kept in node->prep and shared by every context, as
 * the convolutions' weights are; the store then frees the model's copy, and
 * the sgemm path reads B through skiff__nn_gemm_b). The primitive is cached
 * per context and per row count, and applies what the passes fused into the
 * node:
 *   - a bias: Gemm's C or a fused sum that is one row [N] (the Add after a
 *     MatMul that torch and paddle2onnx export for every Linear layer);
 *   - a fused sum of the output's own shape, as a sum post-op (in place
 *     over the addend's buffer when it dies here);
 *   - the fused activations, as eltwise post-ops.
 * Anything else (alpha or beta other than 1, transposed A, a sum that
 * broadcasts along rows) stays on the sgemm path.
 * A node the precision pass marked bf16 packs B to bfloat16 and converts A
 * to it per run (a oneDNN reorder into the scratch, after the primitive's
 * own scratchpad); the product accumulates and lands in float32. */
#include <string.h>

#include "dnnl_util.h"

/* Weights below this many floats stay on the sgemm path. */
#define PACKED_MIN_WEIGHTS 4096

typedef struct gemm_prep {
    skiff__wpack wp;
} gemm_prep;

skiff_status_t *skiff__nn_gemm_prepare(skiff__node *node, const skiff__graph *graph)
{
    const skiff_tensor_t *w =
        node->n_in > 1 && node->in[1] >= 0 ? graph->values[node->in[1]].constant : NULL;
    if (!w || w->dtype != SKIFF_DTYPE_FLOAT32 || w->ndim != 2)
        return NULL; /* no prep: the sgemm path */
    gemm_prep *p = skiff__calloc(1, sizeof(*p));
    if (!p)
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    skiff__wpack_init(&p->wp);
    /* The store takes the matrix where the packed path is the one that
     * runs (what skiff__nn_gemm_packed accepts by the attributes); the
     * sgemm path reads it through skiff__nn_gemm_b then. */
    bool gemm = strcmp(node->op_type, "Gemm") == 0;
    bool take = w->dims[0] * w->dims[1] >= PACKED_MIN_WEIGHTS &&
                (!gemm || (skiff__attr_int(node, "transA", 0) == 0 &&
                           skiff__attr_float(node, "alpha", 1.f) == 1.f));
    skiff__wpack_source(&p->wp, node, graph, 1, take);
    node->prep = p;
    return NULL;
}

size_t skiff__nn_gemm_prep_bytes(void *prep, size_t *out_source)
{
    gemm_prep *p = prep;
    return skiff__wpack_bytes(&p->wp, out_source);
}

const void *skiff__nn_gemm_b(const skiff__kctx *ctx, const skiff_tensor_t *B, skiff_status_t **st)
{
    *st = NULL;
    gemm_prep *p = ctx->node->prep;
    if (B->data || !p || B->ndim != 2)
        return B->data;
    /* the store took B and may have released it for its packed copies:
     * the matrix as stored, derived once and kept (the rare path, when
     * a run's shapes leave the packed one) */
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {B->dims[0], B->dims[1]};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab);
    if (s != dnnl_success) {
        *st = skiff__dnnl_err(ctx, s, "weights descriptor");
        return NULL;
    }
    const void *b = skiff__wpack_get(&p->wp, &md, &md, st);
    if (!b && !*st)
        *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                          "input 'B': no room for another layout of the packed weights");
    return b;
}

void skiff__nn_gemm_prep_free(void *prep)
{
    gemm_prep *p = prep;
    if (!p)
        return;
    skiff__wpack_destroy(&p->wp);
    skiff__free(p);
}

typedef struct mm_entry {
    dnnl_primitive_t prim;
    dnnl_primitive_t src_reorder; /* A to bf16, or NULL */
    dnnl_memory_t m_src, m_src_lp, m_wei, m_bias, m_dst, m_scratch;
    void *wei_buf;
    size_t scratch_size, src_off, work_bytes; /* A's bf16 copy at src_off of the scratch */
    bool has_bias, has_sum;
} mm_entry;

static void mm_entry_free(void *p)
{
    mm_entry *e = p;
    if (!e)
        return;
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    if (e->src_reorder)
        dnnl_primitive_destroy(e->src_reorder);
    dnnl_memory_t mems[] = {e->m_src, e->m_src_lp, e->m_wei, e->m_bias, e->m_dst, e->m_scratch};
    for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    skiff__free(e->wei_buf);
    skiff__free(e);
}

typedef struct mm_shape {
    int64_t M, N, K;
    bool tb; /* B is stored [N, K] */
    bool has_bias, with_sum;
} mm_shape;

#define TRY(call)                                                                                  \
    do {                                                                                           \
        s = (call);                                                                                \
        if (s != dnnl_success)                                                                     \
            goto done;                                                                             \
    } while (0)

static dnnl_status_t mm_build(const mm_shape *sh, const skiff__node *node, gemm_prep *prep,
                              bool fuse_acts, mm_entry *e, skiff_status_t **st)
{
    dnnl_engine_t eng = skiff__dnnl_engine();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src, src_lp, wei_user, wei_any, bias, dst;
    dnnl_data_type_t dt = node->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t sd = {sh->M, sh->K}, ss = {sh->K, 1};
    dnnl_dims_t wd = {sh->K, sh->N}, ws = {sh->tb ? 1 : sh->N, sh->tb ? sh->K : 1};
    dnnl_dims_t bd = {1, sh->N}, bs = {sh->N, 1};
    dnnl_dims_t dd = {sh->M, sh->N}, ds = {sh->N, 1};
    dnnl_status_t s;
    *st = NULL;
    TRY(dnnl_memory_desc_init_by_strides(&src, 2, sd, dnnl_f32, ss));
    TRY(dnnl_memory_desc_init_by_strides(&wei_user, 2, wd, dnnl_f32, ws));
    TRY(dnnl_memory_desc_init_by_strides(&src_lp, 2, sd, dt, ss));
    TRY(dnnl_memory_desc_init_by_tag(&wei_any, 2, wd, dt, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_strides(&bias, 2, bd, dnnl_f32, bs));
    TRY(dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, ds));
    int n_act = fuse_acts ? node->n_act : 0;
    TRY(skiff__dnnl_attr(node->act, n_act, sh->with_sum, &attr));
    dnnl_matmul_desc_t md;
    TRY(dnnl_matmul_desc_init(&md, &src_lp, &wei_any, sh->has_bias ? &bias : NULL, &dst));
    TRY(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    TRY(dnnl_memory_create(&e->m_src, &src, eng, DNNL_MEMORY_NONE));
    if (dt != dnnl_f32) {
        dnnl_primitive_desc_t rpd;
        TRY(dnnl_reorder_primitive_desc_create(&rpd, &src, eng, &src_lp, eng, NULL));
        s = dnnl_primitive_create(&e->src_reorder, rpd);
        dnnl_primitive_desc_destroy(rpd);
        if (s != dnnl_success)
            goto done;
        TRY(dnnl_memory_create(&e->m_src_lp, &src_lp, eng, DNNL_MEMORY_NONE));
    }
    TRY(dnnl_memory_create(&e->m_dst, &dst, eng, DNNL_MEMORY_NONE));
    if (sh->has_bias)
        TRY(dnnl_memory_create(&e->m_bias, &bias, eng, DNNL_MEMORY_NONE));
    /* B as stored when the primitive reads it so (the store then lends its
     * source), else packed; through the store either way, which may hold
     * B only packed */
    void *packed =
        skiff__wpack_or_private(&prep->wp, false, wei_md, &wei_user, &e->wei_buf, &s, st);
    if (!packed)
        goto done;
    TRY(dnnl_memory_create(&e->m_wei, wei_md, eng, packed));
    e->has_bias = sh->has_bias;
    e->has_sum = sh->with_sum;
    TRY(skiff__dnnl_prim_create(pd, &e->prim, &e->m_scratch, &e->scratch_size));
    e->src_off = skiff__page_up(e->m_scratch ? e->scratch_size : 0);
    e->work_bytes = e->src_off + (e->src_reorder ? dnnl_memory_desc_get_size(&src_lp) : 0);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return s;
}

/* A [N] or [1, N] vector: usable as the matmul's bias. */
static bool is_row(const skiff_tensor_t *t, int64_t N)
{
    return t && t->dtype == SKIFF_DTYPE_FLOAT32 && skiff_tensor_numel(t) == N && t->ndim >= 1 &&
           t->ndim <= 2 && t->dims[t->ndim - 1] == N;
}

skiff_status_t *skiff__nn_gemm_packed(skiff__kctx *ctx, const skiff_tensor_t *A,
                                      const skiff_tensor_t *B, const skiff_tensor_t *C, int64_t M,
                                      int64_t N, int64_t K, bool tb, int yn, const int64_t *yd,
                                      bool *done)
{
    *done = false;
    const skiff__node *node = ctx->node;
    gemm_prep *prep = node->prep;
    /* Small matrices gain nothing from packing, and a primitive per row
     * count would cost more than the product when dynamic batching varies
     * the rows (the uci model: 13x1) */
    if (!prep || A->dtype != SKIFF_DTYPE_FLOAT32 || B->dtype != SKIFF_DTYPE_FLOAT32 ||
        B->ndim != 2 || (C && !is_row(C, N)) || M <= 0 || N <= 0 || K <= 0 ||
        K * N < PACKED_MIN_WEIGHTS)
        return NULL;
    /* the fused sum: bias when it is one row and C is absent, a sum post-op
     * when it has the output's shape, else the C epilogue after */
    const skiff_tensor_t *S = NULL;
    bool s_bias = false, s_post = false;
    if (node->sum_input >= 0) {
        S = ctx->in[ctx->n_in];
        if (!S || S->dtype != SKIFF_DTYPE_FLOAT32)
            return NULL;
        bool same = S->ndim == yn;
        for (int i = 0; same && i < yn; i++)
            same = S->dims[i] == yd[i];
        s_post = same;
        s_bias = !same && !C && is_row(S, N);
        if (!s_post && !s_bias)
            return NULL;
    }
    *done = true;
    skiff_status_t *st = NULL;
    skiff_tensor_t *Y =
        s_post ? skiff__kctx_output_over(ctx, 0, ctx->n_in, SKIFF_DTYPE_FLOAT32, yn, yd, &st)
               : skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, yn, yd, &st);
    if (!Y)
        return st;
    mm_shape sh = {M, N, K, tb, C || s_bias, s_post};
    skiff__shape_key key = {0};
    skiff__key_add(&key, M);
    skiff__key_add(&key, N);
    skiff__key_add(&key, K);
    skiff__key_add(&key, sh.has_bias);
    if (!skiff__key_add(&key, sh.with_sum))
        return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "cache key overflow");
    skiff__pcache *cache = skiff__pcache_get(ctx, mm_entry_free, &st);
    if (!cache)
        return st;
    mm_entry *e = skiff__pcache_find(cache, &key);
    if (!e) {
        e = skiff__calloc(1, sizeof(*e));
        if (!e) {
            skiff__pcache_release(cache);
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        dnnl_status_t s = mm_build(&sh, node, prep, true, e, &st);
        if (s != dnnl_success) {
            mm_entry_free(e);
            skiff__pcache_release(cache);
            return st ? st : skiff__dnnl_err(ctx, s, "matmul setup");
        }
        skiff__pcache_put(cache, &key, e);
    }
    if (s_post && S->data != Y->data)
        memcpy(Y->data, S->data, Y->nbytes);
    const void *bias = C ? C->data : s_bias ? S->data : NULL;
    char *work = e->work_bytes ? skiff__kctx_scratch(ctx, e->work_bytes) : NULL;
    dnnl_status_t s = e->work_bytes && !work ? dnnl_out_of_memory : dnnl_success;
    if (s == dnnl_success && e->m_scratch)
        s = dnnl_memory_set_data_handle(e->m_scratch, work);
    if (s == dnnl_success)
        s = dnnl_memory_set_data_handle(e->m_src, A->data);
    if (s == dnnl_success && e->src_reorder) {
        s = dnnl_memory_set_data_handle(e->m_src_lp, work + e->src_off);
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, e->m_src}, {DNNL_ARG_TO, e->m_src_lp}};
        if (s == dnnl_success)
            s = dnnl_primitive_execute(e->src_reorder, cache->stream, 2, ra);
    }
    if (s == dnnl_success && e->has_bias)
        s = dnnl_memory_set_data_handle(e->m_bias, (void *)bias);
    if (s == dnnl_success)
        s = dnnl_memory_set_data_handle(e->m_dst, Y->data);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[5];
        int n = 0;
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->src_reorder ? e->m_src_lp : e->m_src};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->m_wei};
        if (e->has_bias)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->m_bias};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->m_dst};
        if (e->m_scratch)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->m_scratch};
        s = dnnl_primitive_execute(e->prim, cache->stream, n, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(cache->stream);
    skiff__pcache_release(cache);
    return s == dnnl_success ? NULL : skiff__dnnl_err(ctx, s, "matmul");
}
