/* dnnl_util.c - oneDNN plumbing shared by the nn kernels: one engine per
 * process, post-op attrs for fused activations, the per-context primitive
 * cache and the shared packed-weights store. See dnnl_util.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

#include "dnnl_util.h"

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void)
{
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success)
        g_engine = NULL;
}

dnnl_engine_t skiff__dnnl_engine(void)
{
    pthread_once(&g_engine_once, engine_init);
    return g_engine;
}

bool skiff__cpu_has_bf16(const char **why)
{
    /* oneDNN's view of the CPU, so that ONEDNN_MAX_CPU_ISA (a lower limit a
     * deployment sets) counts too: bf16 kernels need AVX512-BF16 or AMX */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    bool has = ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
               (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    if (!has && why)
        *why = getenv("ONEDNN_MAX_CPU_ISA") || getenv("DNNL_MAX_CPU_ISA")
                   ? "this CPU's instruction set, as limited by ONEDNN_MAX_CPU_ISA, has no "
                     "AVX512-BF16"
                   : "this CPU has no AVX512-BF16 (bf16 needs AVX512-BF16 or AMX)";
    return has;
}

skiff_status_t *skiff__dnnl_err(const skiff__kctx *ctx, dnnl_status_t s, const char *what)
{
    skiff_code_t code = s == dnnl_out_of_memory   ? SKIFF_CODE_RESOURCE_EXHAUSTED
                        : s == dnnl_unimplemented ? SKIFF_CODE_UNSUPPORTED
                                                  : SKIFF_CODE_INTERNAL;
    return skiff__kerr(ctx, code, "oneDNN %s failed: %s", what, dnnl_status2str(s));
}

#define DNNL_TRY(call)                                                                             \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success)                                                                    \
            return s_;                                                                             \
    } while (0)

static dnnl_status_t append_act(dnnl_post_ops_t po, const skiff__fused_act *a)
{
    switch (a->kind) {
    case SKIFF_ACT_NONE: return dnnl_success;
    case SKIFF_ACT_RELU: return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f);
    case SKIFF_ACT_LEAKYRELU:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, a->alpha, 0.f);
    case SKIFF_ACT_CLIP:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, a->alpha, a->beta);
    case SKIFF_ACT_SIGMOID:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_logistic, 0.f, 0.f);
    case SKIFF_ACT_TANH: return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_tanh, 0.f, 0.f);
    case SKIFF_ACT_LINEAR:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, a->alpha, a->beta);
    case SKIFF_ACT_HARDSWISH:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_hardswish, 0.f, 0.f);
    case SKIFF_ACT_GELU:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_erf, 0.f, 0.f);
    case SKIFF_ACT_GELU_TANH:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_tanh, 0.f, 0.f);
    case SKIFF_ACT_HARDSIGMOID:
        /* oneDNN 2.6 has no hardsigmoid: max(0, min(1, a*x + b)) as two steps. */
        DNNL_TRY(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, a->alpha, a->beta));
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, 0.f, 1.f);
    }
    return dnnl_unimplemented;
}

static dnnl_status_t attr_make(const skiff__fused_act *pre, const skiff__fused_act *acts, int n_act,
                               bool with_sum, float sum_scale, int32_t sum_zp,
                               dnnl_data_type_t sum_dt, dnnl_primitive_attr_t *out);

dnnl_status_t skiff__dnnl_attr(const skiff__fused_act *acts, int n_act, bool with_sum,
                               dnnl_primitive_attr_t *out)
{
    return attr_make(NULL, acts, n_act, with_sum, 1.f, 0, dnnl_data_type_undef, out);
}

dnnl_status_t skiff__dnnl_attr_qsum(const skiff__fused_act *pre, const skiff__fused_act *acts,
                                    int n_act, float sum_scale, int32_t sum_zp,
                                    dnnl_data_type_t sum_dt, dnnl_primitive_attr_t *out)
{
    return attr_make(pre, acts, n_act, true, sum_scale, sum_zp, sum_dt, out);
}

static dnnl_status_t attr_make(const skiff__fused_act *pre, const skiff__fused_act *acts, int n_act,
                               bool with_sum, float sum_scale, int32_t sum_zp,
                               dnnl_data_type_t sum_dt, dnnl_primitive_attr_t *out)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (s != dnnl_success)
        return s;
    s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && (with_sum || n_act > 0)) {
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success && pre)
            s = append_act(po, pre);
        if (s == dnnl_success && with_sum)
            s = sum_zp || sum_dt != dnnl_data_type_undef
                    ? dnnl_post_ops_append_sum_v3(po, sum_scale, sum_zp, sum_dt)
                    : dnnl_post_ops_append_sum(po, sum_scale);
        for (int i = 0; s == dnnl_success && i < n_act; i++)
            s = append_act(po, &acts[i]);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
        if (po)
            dnnl_post_ops_destroy(po);
    }
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return s;
    }
    *out = attr;
    return dnnl_success;
}

/* Element strides of a row-major or channels-last tensor, in logical dim
 * order. A zero dim strides as one, so the strides stay valid for oneDNN. */
static void layout_strides(int ndim, const int64_t *dims, bool cl, int64_t *st)
{
    int64_t acc = 1;
    if (cl && ndim >= 3) {
        st[1] = 1;
        acc = dims[1] > 0 ? dims[1] : 1;
        for (int i = ndim - 1; i >= 2; i--) {
            st[i] = acc;
            acc *= dims[i] > 0 ? dims[i] : 1;
        }
        st[0] = acc;
        return;
    }
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= dims[i] > 0 ? dims[i] : 1;
    }
}

static dnnl_status_t md_layout(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, bool cl)
{
    dnnl_dims_t d, strides = {0};
    if (ndim < 1 || ndim > DNNL_MAX_NDIMS)
        return dnnl_invalid_arguments;
    for (int i = 0; i < ndim; i++)
        d[i] = dims[i];
    layout_strides(ndim, dims, cl, strides);
    return dnnl_memory_desc_init_by_strides(md, ndim, d, dnnl_f32, strides);
}

dnnl_status_t skiff__dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims)
{
    return md_layout(md, ndim, dims, false);
}

dnnl_status_t skiff__dnnl_md_cl(dnnl_memory_desc_t *md, int ndim, const int64_t *dims)
{
    return md_layout(md, ndim, dims, true);
}

/* ---- fused activations in plain C ---- */

#define ACT_LOOP(T, EXPR)                                                                          \
    _Pragma("omp parallel for simd num_threads(threads) if (n > 65536)") for (int64_t i = 0;       \
                                                                              i < n; i++)          \
    {                                                                                              \
        T x = y[i];                                                                                \
        y[i] = (EXPR);                                                                             \
    }

void skiff__nn_apply_act(const skiff__node *node, float *y, int64_t n, int threads)
{
    for (int k = 0; k < node->n_act && k < SKIFF_MAX_ACTS; k++) {
        const float a = node->act[k].alpha, b = node->act[k].beta;
        switch (node->act[k].kind) {
        case SKIFF_ACT_NONE: break;
        case SKIFF_ACT_RELU: ACT_LOOP(float, x > 0.f ? x : 0.f) break;
        case SKIFF_ACT_LEAKYRELU: ACT_LOOP(float, x >= 0.f ? x : a * x) break;
        case SKIFF_ACT_CLIP: ACT_LOOP(float, x < a ? a : (x > b ? b : x)) break;
        case SKIFF_ACT_SIGMOID: ACT_LOOP(float, 1.f / (1.f + expf(-x))) break;
        case SKIFF_ACT_TANH: ACT_LOOP(float, tanhf(x)) break;
        case SKIFF_ACT_LINEAR: ACT_LOOP(float, a *x + b) break;
        case SKIFF_ACT_HARDSIGMOID: ACT_LOOP(float, fmaxf(0.f, fminf(1.f, a * x + b))) break;
        case SKIFF_ACT_HARDSWISH:
            ACT_LOOP(float, x *fmaxf(0.f, fminf(1.f, x * (1.f / 6.f) + 0.5f))) break;
        case SKIFF_ACT_GELU: ACT_LOOP(float, 0.5f * x * (1.f + erff(x * 0.70710678f))) break;
        case SKIFF_ACT_GELU_TANH:
            ACT_LOOP(float, 0.5f * x * (1.f + tanhf(0.79788456f * (x + 0.044715f * x * x * x))))
            break;
        }
    }
}

void skiff__nn_apply_act_f64(const skiff__node *node, double *y, int64_t n, int threads)
{
    for (int k = 0; k < node->n_act && k < SKIFF_MAX_ACTS; k++) {
        const double a = node->act[k].alpha, b = node->act[k].beta;
        switch (node->act[k].kind) {
        case SKIFF_ACT_NONE: break;
        case SKIFF_ACT_RELU: ACT_LOOP(double, x > 0. ? x : 0.) break;
        case SKIFF_ACT_LEAKYRELU: ACT_LOOP(double, x >= 0. ? x : a * x) break;
        case SKIFF_ACT_CLIP: ACT_LOOP(double, x < a ? a : (x > b ? b : x)) break;
        case SKIFF_ACT_SIGMOID: ACT_LOOP(double, 1. / (1. + exp(-x))) break;
        case SKIFF_ACT_TANH: ACT_LOOP(double, tanh(x)) break;
        case SKIFF_ACT_LINEAR: ACT_LOOP(double, a *x + b) break;
        case SKIFF_ACT_HARDSIGMOID: ACT_LOOP(double, fmax(0., fmin(1., a * x + b))) break;
        case SKIFF_ACT_HARDSWISH: ACT_LOOP(double, x *fmax(0., fmin(1., x / 6. + 0.5))) break;
        case SKIFF_ACT_GELU: ACT_LOOP(double, 0.5 * x * (1. + erf(x * 0.70710678118654752))) break;
        case SKIFF_ACT_GELU_TANH:
            ACT_LOOP(double, 0.5 * x * (1. + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))))
            break;
        }
    }
}

const skiff_tensor_t *skiff__nn_sum_tensor(const skiff__kctx *ctx, const skiff_tensor_t *y,
                                           bool *bcast, skiff_status_t **st)
{
    *st = NULL;
    *bcast = false;
    if (ctx->node->sum_input < 0)
        return NULL;
    const skiff_tensor_t *s = ctx->in[ctx->n_in];
    if (!s) {
        *st = skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "fused sum input is missing");
        return NULL;
    }
    bool same = s->ndim == y->ndim, fits = s->ndim <= y->ndim;
    for (int i = 0; i < y->ndim && (same || fits); i++) {
        int si = i - (y->ndim - s->ndim);
        int64_t d = si >= 0 ? s->dims[si] : 1;
        same = same && d == y->dims[i];
        fits = fits && (d == 1 || d == y->dims[i]);
    }
    /* float32 and bfloat16 mix: a bf16 convolution's sum post-op converts */
    bool floats = (s->dtype == SKIFF_DTYPE_FLOAT32 || s->dtype == SKIFF_DTYPE_BFLOAT16) &&
                  (y->dtype == SKIFF_DTYPE_FLOAT32 || y->dtype == SKIFF_DTYPE_BFLOAT16);
    if ((s->dtype != y->dtype && !floats) || !fits) {
        char a[96], b[96];
        *st = skiff__kerr(
            ctx, SKIFF_CODE_INVALID_ARG, "fused sum input: %s %s does not broadcast to %s %s",
            skiff_dtype_name(s->dtype), skiff_shape_str(s->ndim, s->dims, a, sizeof(a)),
            skiff_dtype_name(y->dtype), skiff_shape_str(y->ndim, y->dims, b, sizeof(b)));
        return NULL;
    }
    *bcast = !same;
    return s;
}

void skiff__transpose_batched(float *dst, const float *src, int64_t n, int64_t rows, int64_t cols,
                              int threads)
{
#pragma omp parallel for num_threads(threads) if (n * rows * cols > 65536)
    for (int64_t bj = 0; bj < n * cols; bj++) {
        const float *s = src + (bj / cols) * rows * cols + bj % cols;
        float *d = dst + bj * rows;
        for (int64_t i = 0; i < rows; i++)
            d[i] = s[i * cols];
    }
}

void skiff__nn_add_bcast(float *y, int ndim, const int64_t *dims, bool y_cl, const float *s,
                         int s_ndim, const int64_t *s_dims, bool s_cl, int threads)
{
    int64_t ys[SKIFF_MAX_DIMS], ss_own[SKIFF_MAX_DIMS], ss[SKIFF_MAX_DIMS];
    layout_strides(ndim, dims, y_cl, ys);
    layout_strides(s_ndim, s_dims, s_cl, ss_own);
    for (int i = 0; i < ndim; i++) {
        int si = i - (ndim - s_ndim);
        ss[i] = si >= 0 && s_dims[si] != 1 ? ss_own[si] : 0;
    }
    int64_t n = skiff_shape_numel(ndim, dims);
#pragma omp parallel for num_threads(threads) if (n > 65536)
    for (int64_t t = 0; t < n; t++) {
        int64_t rem = t, yo = 0, so = 0;
        for (int i = ndim - 1; i >= 0; i--) {
            int64_t c = rem % dims[i];
            rem /= dims[i];
            yo += c * ys[i];
            so += c * ss[i];
        }
        y[yo] += s[so];
    }
}

skiff_status_t *skiff__nn_epilogue(const skiff__kctx *ctx, skiff_tensor_t *y)
{
    skiff_status_t *st = NULL;
    bool bcast;
    const skiff_tensor_t *s = skiff__nn_sum_tensor(ctx, y, &bcast, &st);
    if (st)
        return st;
    int64_t n = skiff_tensor_numel(y);
    int threads = ctx->threads;
    if (y->dtype == SKIFF_DTYPE_FLOAT32) {
        if (s && bcast) {
            skiff__nn_add_bcast(y->data, y->ndim, y->dims, false, s->data, s->ndim, s->dims, false,
                                threads);
        } else if (s) {
            float *o = y->data;
            const float *a = s->data;
#pragma omp parallel for simd num_threads(threads) if (n > 65536)
            for (int64_t i = 0; i < n; i++)
                o[i] += a[i];
        }
        skiff__nn_apply_act(ctx->node, y->data, n, threads);
    } else if (y->dtype == SKIFF_DTYPE_FLOAT64 && !(s && bcast)) {
        if (s) {
            double *o = y->data;
            const double *a = s->data;
#pragma omp parallel for simd num_threads(threads) if (n > 65536)
            for (int64_t i = 0; i < n; i++)
                o[i] += a[i];
        }
        skiff__nn_apply_act_f64(ctx->node, y->data, n, threads);
    } else if (s || ctx->node->n_act > 0) {
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "fused %s on a %s output",
                           s ? "sum" : "activation", skiff_dtype_name(y->dtype));
    }
    return NULL;
}

/* ---- setup-time reorders ---- */

dnnl_status_t skiff__dnnl_reorder_once(const dnnl_memory_desc_t *src_md, const void *src,
                                       const dnnl_memory_desc_t *dst_md, void *dst)
{
    dnnl_engine_t eng = skiff__dnnl_engine();
    if (!eng)
        return dnnl_runtime_error;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, src_md, eng, dst_md, eng, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&prim, pd);
    if (s == dnnl_success)
        s = dnnl_memory_create(&ms, src_md, eng, (void *)src);
    if (s == dnnl_success)
        s = dnnl_memory_create(&md, dst_md, eng, dst);
    if (s == dnnl_success)
        s = dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        s = dnnl_primitive_execute(prim, stream, 2, args);
        if (s == dnnl_success)
            s = dnnl_stream_wait(stream);
    }
    if (stream)
        dnnl_stream_destroy(stream);
    if (md)
        dnnl_memory_destroy(md);
    if (ms)
        dnnl_memory_destroy(ms);
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return s;
}

/* ---- cache ---- */

bool skiff__key_add(skiff__shape_key *k, int64_t v)
{
    if (k->n >= SKIFF__KEY_MAX)
        return false;
    k->v[k->n++] = v;
    return true;
}

bool skiff__key_add_tensor(skiff__shape_key *k, const skiff_tensor_t *t)
{
    if (!t)
        return skiff__key_add(k, -1);
    if (!skiff__key_add(k, t->dtype) || !skiff__key_add(k, t->ndim))
        return false;
    for (int i = 0; i < t->ndim; i++)
        if (!skiff__key_add(k, t->dims[i]))
            return false;
    return true;
}

skiff__pcache *skiff__pcache_get(skiff__kctx *ctx, void (*entry_free)(void *), skiff_status_t **st)
{
    *st = NULL;
    skiff__pcache *have = ctx->cache ? *ctx->cache : NULL;
    if (have) {
        have->threads = ctx->threads;
        return have;
    }
    dnnl_engine_t eng = skiff__dnnl_engine();
    if (!eng) {
        *st = skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "oneDNN CPU engine unavailable");
        return NULL;
    }
    skiff__pcache *c = skiff__calloc(1, sizeof(*c));
    if (!c) {
        *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    dnnl_status_t s = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        skiff__free(c);
        *st = skiff__dnnl_err(ctx, s, "stream creation");
        return NULL;
    }
    c->entry_free = entry_free;
    c->threads = ctx->threads;
    if (ctx->cache)
        *ctx->cache = c;
    else
        c->temp = true;
    return c;
}

void *skiff__pcache_find(skiff__pcache *c, const skiff__shape_key *k)
{
    for (int i = 0; i < c->n; i++)
        if (c->ent_threads[i] == c->threads && c->keys[i].n == k->n &&
            memcmp(c->keys[i].v, k->v, sizeof(int64_t) * k->n) == 0)
            return c->entries[i];
    return NULL;
}

void skiff__pcache_put(skiff__pcache *c, const skiff__shape_key *k, void *entry)
{
    int slot;
    if (c->n < SKIFF__PCACHE_MAX) {
        slot = c->n++;
    } else {
        slot = c->next;
        c->next = (c->next + 1) % SKIFF__PCACHE_MAX;
        c->entry_free(c->entries[slot]);
    }
    c->keys[slot] = *k;
    c->ent_threads[slot] = c->threads;
    c->entries[slot] = entry;
}

void skiff__pcache_free(void *cache)
{
    skiff__pcache *c = cache;
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        c->entry_free(c->entries[i]);
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    skiff__free(c);
}

void skiff__pcache_release(skiff__pcache *c)
{
    if (c && c->temp)
        skiff__pcache_free(c);
}

dnnl_status_t skiff__dnnl_prim_create(const_dnnl_primitive_desc_t pd, dnnl_primitive_t *prim,
                                      dnnl_memory_t *m_scratch, size_t *scratch_size)
{
    *m_scratch = NULL;
    *scratch_size = 0;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t size = smd ? dnnl_memory_desc_get_size(smd) : 0;
    dnnl_status_t s = dnnl_primitive_create(prim, pd);
    if (s == dnnl_success && size) {
        s = dnnl_memory_create(m_scratch, smd, skiff__dnnl_engine(), DNNL_MEMORY_NONE);
        if (s != dnnl_success) {
            dnnl_primitive_destroy(*prim);
            *prim = NULL;
        } else {
            *scratch_size = size;
        }
    }
    return s;
}

dnnl_status_t skiff__dnnl_set_scratch(skiff__kctx *ctx, dnnl_memory_t m_scratch, size_t size)
{
    if (!m_scratch)
        return dnnl_success;
    void *buf = skiff__kctx_scratch(ctx, size);
    if (!buf)
        return dnnl_out_of_memory;
    return dnnl_memory_set_data_handle(m_scratch, buf);
}

/* ---- packed weights ---- */

void skiff__wpack_init(skiff__wpack *wp)
{
    memset(wp, 0, sizeof(*wp));
    pthread_mutex_init(&wp->mu, NULL);
}

void skiff__wpack_destroy(skiff__wpack *wp)
{
    if (!wp)
        return;
    for (int i = 0; i < wp->n; i++)
        skiff__free(wp->buf[i]);
    wp->n = 0;
    if (wp->own)
        skiff__free(wp->orig);
    wp->orig = NULL;
    pthread_mutex_destroy(&wp->mu);
}

bool skiff__wpack_source(skiff__wpack *wp, const skiff__node *node, const skiff__graph *graph,
                         int input, bool take_ok)
{
    if (input >= node->n_in || node->in[input] < 0)
        return false;
    const skiff__value *v = &graph->values[node->in[input]];
    skiff_tensor_t *t = v->constant;
    /* float32, or (kept, never taken) the int8 weights of an int8 convolution */
    if (!t || !t->data ||
        (t->dtype != SKIFF_DTYPE_FLOAT32 && (take_ok || t->dtype != SKIFF_DTYPE_INT8)))
        return false;
    wp->orig = t->data;
    wp->orig_bytes = t->nbytes;
    /* n_consumers counts every input slot of every live node and a graph
     * output once, so 1 means this slot alone reads it */
    wp->own =
        take_ok && v->n_consumers == 1 && !v->is_output && (t->flags & SKIFF_TENSOR_OWNS_DATA);
    if (wp->own)
        t->data = NULL;
    return true;
}

/* The store's copy laid out as `want`, or NULL; wp->mu held. */
static void *wpack_find_locked(const skiff__wpack *wp, const dnnl_memory_desc_t *want)
{
    for (int i = 0; i < wp->n; i++)
        if (dnnl_memory_desc_equal(&wp->md[i], want))
            return wp->buf[i];
    return NULL;
}

static bool same_dims(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b)
{
    if (a->ndims != b->ndims)
        return false;
    for (int i = 0; i < a->ndims; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

/* Fills dst, laid out as `want`, with the weights; wp->mu held. From the
 * source while it is held; after its release from a packed copy: one with
 * want's dims and type reorders straight into it, else a copy (float32 if
 * there is one) goes back to the model's layout first, which is the
 * source's bytes again (every view of it is dense over the same bytes). */
static dnnl_status_t wpack_fill_locked(const skiff__wpack *wp, const dnnl_memory_desc_t *want,
                                       const dnnl_memory_desc_t *user_md, void *dst)
{
    if (wp->orig)
        return skiff__dnnl_reorder_once(user_md, wp->orig, want, dst);
    if (wp->n == 0)
        return dnnl_runtime_error; /* released with no copy: cannot happen */
    /* only blocked copies are read back, and only blocked layouts are
     * reordered to from them: oneDNN reorders into its Winograd layout
     * from the model's layout alone, and never out of it */
    for (int i = 0; i < wp->n; i++)
        if (wp->md[i].format_kind == dnnl_blocked && want->format_kind == dnnl_blocked &&
            same_dims(&wp->md[i], want) && wp->md[i].data_type == want->data_type)
            return skiff__dnnl_reorder_once(&wp->md[i], wp->buf[i], want, dst);
    int from = -1;
    for (int i = 0; i < wp->n; i++)
        if (wp->md[i].format_kind == dnnl_blocked &&
            (from < 0 || (wp->md[i].data_type == dnnl_f32 && wp->md[from].data_type != dnnl_f32)))
            from = i;
    if (from < 0)
        return dnnl_runtime_error; /* released with no blocked copy: cannot happen */
    if (dnnl_memory_desc_equal(want, user_md))
        return skiff__dnnl_reorder_once(&wp->md[from], wp->buf[from], &wp->umd[from], dst);
    void *tmp = skiff__aligned_alloc(wp->orig_bytes ? wp->orig_bytes : 64);
    if (!tmp)
        return dnnl_out_of_memory;
    dnnl_status_t s = skiff__dnnl_reorder_once(&wp->md[from], wp->buf[from], &wp->umd[from], tmp);
    if (s == dnnl_success)
        s = skiff__dnnl_reorder_once(user_md, tmp, want, dst);
    skiff__free(tmp);
    return s;
}

/* Frees a source the store owns once a packed copy that can be read back
 * (a blocked one) stands in for it and no primitive reads it as stored;
 * wp->mu held. */
static void wpack_release_locked(skiff__wpack *wp)
{
    bool readable = false;
    for (int i = 0; i < wp->n; i++)
        readable = readable || wp->md[i].format_kind == dnnl_blocked;
    if (wp->own && wp->orig && !wp->lent && readable) {
        skiff__free(wp->orig);
        wp->orig = NULL;
        skiff__heap_trim();
    }
}

static void wpack_add_locked(skiff__wpack *wp, const dnnl_memory_desc_t *md,
                             const dnnl_memory_desc_t *user_md, void *buf)
{
    wp->md[wp->n] = *md;
    wp->umd[wp->n] = *user_md;
    wp->buf[wp->n] = buf;
    wp->n++;
    wpack_release_locked(wp);
}

static skiff_status_t *fill_err(dnnl_status_t s, size_t size)
{
    if (s == dnnl_out_of_memory)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                "out of memory packing %zu bytes of weights", size);
    return skiff_status_new(SKIFF_CODE_INTERNAL, "oneDNN weights reorder failed: %s",
                            dnnl_status2str(s));
}

void *skiff__wpack_get(skiff__wpack *wp, const dnnl_memory_desc_t *want,
                       const dnnl_memory_desc_t *user_md, skiff_status_t **st)
{
    *st = NULL;
    pthread_mutex_lock(&wp->mu);
    void *found = wpack_find_locked(wp, want);
    if (!found && wp->orig && dnnl_memory_desc_equal(want, user_md)) {
        wp->lent = true;
        found = wp->orig;
    } else if (!found && wp->n < SKIFF__WPACK_MAX) {
        size_t size = dnnl_memory_desc_get_size(want);
        void *buf = skiff__aligned_alloc(size ? size : 64);
        dnnl_status_t s = buf ? wpack_fill_locked(wp, want, user_md, buf) : dnnl_out_of_memory;
        if (s != dnnl_success) {
            skiff__free(buf);
            *st = fill_err(s, size);
        } else {
            wpack_add_locked(wp, want, user_md, buf);
            found = buf;
        }
    }
    pthread_mutex_unlock(&wp->mu);
    return found;
}

void *skiff__wpack_adopt(skiff__wpack *wp, const dnnl_memory_desc_t *md,
                         const dnnl_memory_desc_t *user_md, void **buf)
{
    pthread_mutex_lock(&wp->mu);
    void *use = wpack_find_locked(wp, md);
    if (use) {
        skiff__free(*buf);
        *buf = NULL;
    } else {
        use = *buf;
        if (wp->n < SKIFF__WPACK_MAX) {
            wpack_add_locked(wp, md, user_md, *buf);
            *buf = NULL;
        }
    }
    pthread_mutex_unlock(&wp->mu);
    return use;
}

void *skiff__wpack_or_private(skiff__wpack *wp, bool private_pack, const dnnl_memory_desc_t *want,
                              const dnnl_memory_desc_t *user_md, void **own, dnnl_status_t *s,
                              skiff_status_t **st)
{
    *s = dnnl_success;
    *st = NULL;
    if (!private_pack) {
        void *packed = skiff__wpack_get(wp, want, user_md, st);
        if (*st)
            *s = dnnl_runtime_error;
        if (packed || *st)
            return packed;
    }
    /* a candidate on trial reads the store's copy where it has this layout
     * (the blocked kernel's usually is, from an earlier shape): packing it
     * again cost a reorder of every weight per trial. Otherwise it packs
     * its own, from the source or a copy under the mutex, so that another
     * context cannot release the source meanwhile. */
    size_t size = dnnl_memory_desc_get_size(want);
    pthread_mutex_lock(&wp->mu);
    void *found = wpack_find_locked(wp, want);
    if (!found) {
        *own = skiff__aligned_alloc(size ? size : 64);
        *s = *own ? wpack_fill_locked(wp, want, user_md, *own) : dnnl_out_of_memory;
        found = *s == dnnl_success ? *own : NULL;
    }
    pthread_mutex_unlock(&wp->mu);
    return found;
}

size_t skiff__wpack_bytes(skiff__wpack *wp, size_t *out_source)
{
    size_t packed = 0;
    pthread_mutex_lock(&wp->mu);
    for (int i = 0; i < wp->n; i++)
        packed += dnnl_memory_desc_get_size(&wp->md[i]);
    if (out_source)
        *out_source = wp->own && wp->orig ? wp->orig_bytes : 0;
    pthread_mutex_unlock(&wp->mu);
    return packed;
}
